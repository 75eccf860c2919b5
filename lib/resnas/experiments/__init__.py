"""One module per experiment notebook: its `Params` dataclass and the functions its notebook calls.

`EXPERIMENTS` maps a notebook (`notebooks/<name>.py`) to its module and its folder under
`results/<profile>/`, in the order `make JOBS=1 reproduce` runs them. `needs` names the notebooks whose results
it reads: with several jobs, `make reproduce` starts a notebook only after those have finished.
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
    params: str = "Params"  # the dataclass in that module
    needs: tuple[str, ...] = ()  # notebooks whose results/<profile>/ folders or stores this one reads

    def params_class(self):
        return getattr(importlib.import_module(f"resnas.experiments.{self.module}"), self.params)


EXPERIMENTS: dict[str, Experiment] = {e.notebook: e for e in [
    Experiment("00_quickstart", "quickstart", "quickstart", "Quickstart: two small ResNets and the archive"),
    Experiment("era_table", "era_table", "era_table", "ERA table: an exhaustively trained ERA subspace"),
    Experiment("era_search", "era", "era_search", "ERA: six search strategies on the 8-parameter ResNet space",
               "SearchParams"),
    Experiment("era_final", "era", "era_final", "ERA: final training of the best found networks", "FinalParams",
               needs=("era_search",)),
    Experiment("fidelity_correlation", "fidelity", "fidelity_correlation",
               "Fidelity: rank correlation across training budgets", needs=("era_search",)),
    Experiment("ranking_predictor", "ranking", "ranking_predictor",
               "RNAS: a learned ranking predictor on the ERA space", needs=("era_search", "fidelity_correlation")),
    Experiment("mo_resnet", "mo_resnet", "mo_resnet", "MO-ResNet: MOEA/D with Chebyshev decomposition, α sweeps"),
    Experiment("pooling_trials", "ectonas", "pooling_trials", "ECToNAS: pooling trials (Table 4)", "PoolingParams"),
    Experiment("ectonas_ablation", "ectonas", "ectonas_ablation",
               "ECToNAS: greedy, balanced, random and baseline (Tables 1–2, Figures 5–6)", "AblationParams"),
    Experiment("cross_topology", "ectonas", "cross_topology", "ECToNAS: CNN ↔ MLP crossings on tabular data (Table 3)",
               "AblationParams"),
    Experiment("cell_search", "cell_search", "cell_search",
               "Cell search: five strategies on a CIFAR-10 table of the NAS-Bench-201 cells"),
    Experiment("genas", "genas", "genas", "GENAS: evolution + gradient-guided local search on a decoupled cell supernet"),
]}


def get_experiment(notebook: str) -> Experiment:
    if notebook not in EXPERIMENTS:
        raise ValueError(f"notebook={notebook!r} is unknown; allowed: {', '.join(EXPERIMENTS)}")
    return EXPERIMENTS[notebook]
