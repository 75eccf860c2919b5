"""The one progress bar every long loop uses: tqdm's widget in JupyterLab, its text bar elsewhere.

A notebook executed by papermill (`make reproduce`, `make <notebook>`) runs in a kernel too, where `tqdm.auto`
would draw a widget that papermill's console log cannot show; the pipeline sets `RESNAS_PROGRESS=text` for
those kernels so the console keeps its bars with ETA."""
from __future__ import annotations

import os

ENV = "RESNAS_PROGRESS"

if os.environ.get(ENV) == "text":
    from tqdm.std import tqdm
else:
    from tqdm.auto import tqdm

__all__ = ["tqdm", "ENV"]
