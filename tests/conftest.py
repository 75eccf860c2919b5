import os
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
# Tests share the repository's data cache (decoded arrays) but never its results.
os.environ.setdefault("RESNAS_DATA", str(ROOT / "data"))


@pytest.fixture(scope="session")
def root() -> Path:
    return ROOT


# `make test` runs the suite in two pytest-xdist processes (`-n 2 --dist loadfile`): each test file stays whole on
# one process (its module fixtures, e.g. test_notebooks' shared results folder, are built once); the paper smoke
# run is two files (tests/smoke_halves.py), so its halves run side by side.
if os.environ.get("PYTEST_XDIST_WORKER"):
    # one torch thread per core share: two processes with a thread per core each would oversubscribe the cores
    # (resnas.threads, which imports no torch: the variable must be set before torch's OpenMP runtime loads);
    # kernels and pool workers inherit it
    from resnas.threads import usable_cores, worker_threads

    _workers = int(os.environ.get("PYTEST_XDIST_WORKER_COUNT", "1"))
    os.environ.setdefault("OMP_NUM_THREADS", str(worker_threads(_workers, usable_cores())))


def pytest_collection_modifyitems(config, items):
    if os.environ.get("PYTEST_XDIST_WORKER"):
        # the long files (notebooks: the ci runs, the smoke halves) first, so that no process starts one of them
        # while the other has nothing left: with --no-loadscope-reorder (the Makefile's) xdist hands out files in
        # collection order, not its default of most tests first, which put the one-test smoke halves last;
        # stable, so a file's own order holds
        items.sort(key=lambda item: not item.get_closest_marker("notebook"))
