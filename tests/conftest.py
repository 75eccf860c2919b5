import os
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
# Tests share the repository's data cache (decoded arrays) but never its results.
os.environ.setdefault("RESNAS_DATA", str(ROOT / "data"))


@pytest.fixture(scope="session")
def root() -> Path:
    return ROOT
