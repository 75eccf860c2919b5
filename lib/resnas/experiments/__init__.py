"""One module per experiment notebook: its `Params` dataclass and the functions its notebook calls.

`EXPERIMENTS` maps a notebook (`notebooks/<name>.py`) to its module and its folder under
`results/<profile>/`, in the order `make reproduce` runs them (later notebooks may read earlier results).
"""
from __future__ import annotations

import importlib
from dataclasses import dataclass


@dataclass(frozen=True)
class Experiment:
    notebook: str  # notebooks/<notebook>.py and params/<profile>/<notebook>.yaml
    module: str  # resnas.experiments.<module> defines Params
    folder: str  # results/<profile>/<folder>/
    title: str

    def params_class(self):
        return importlib.import_module(f"resnas.experiments.{self.module}").Params


EXPERIMENTS: dict[str, Experiment] = {e.notebook: e for e in [
    Experiment("00_quickstart", "quickstart", "quickstart", "Quickstart: two small ResNets and the archive"),
]}


def get_experiment(notebook: str) -> Experiment:
    if notebook not in EXPERIMENTS:
        raise ValueError(f"notebook={notebook!r} is unknown; allowed: {', '.join(EXPERIMENTS)}")
    return EXPERIMENTS[notebook]
