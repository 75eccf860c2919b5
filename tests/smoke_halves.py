"""The paper smoke run (what `make smoke PROFILE=paper` runs), split in two halves that share nothing, one test file
each, so that `make test`'s two pytest-xdist processes (`--dist loadfile`: a file stays on one process) run them
side by side: the ERA chain (era_final, fidelity_correlation and ranking_predictor read era_search's results) with
ECToNAS's ablation, and the rest.

`smoke.TINY_SPLITS` makes most epochs one batch, so start-up, not training, is most of it. Measured in the suite
(`CI=true bash .ci/run` on a fresh clone of 9fa50c3, 2 quiet cores, 2026-12-03): the first half (the ERA chain and
ectonas_ablation) 200 s, the rest 221 s. Before, with ectonas_ablation in the rest and GENAS's supernet in the
default layout with PyTorch's pools: 136 and 338 s. Alone at one thread (wall seconds, 2026-12-03): genas 92 (157
before), ectonas_ablation 70-73, cross_topology 26, mo_resnet 21, cell_search 21, 00_quickstart 19, pooling_trials
16; the ERA chain's five ~130 in the suite. A kernel start with its imports is ~10 CPU-s of every notebook.
"""
from pathlib import Path

import pandas as pd

from resnas import smoke

SMOKE_HALVES = {"era": ["era_table", "era_search", "era_final", "fidelity_correlation", "ranking_predictor",
                        "ectonas_ablation"],
                "rest": ["00_quickstart", "mo_resnet", "pooling_trials", "cross_topology", "cell_search", "genas"]}


def run_half(half: str, folder: Path) -> pd.DataFrame:
    """Run one half of the smoke on the paper profile into `folder`; every notebook must have run as the paper's
    data shapes, backend, workers, device, preset and filter choices say (from its run log). Returns its rows."""
    notebooks = SMOKE_HALVES[half]
    table = smoke.run("paper", notebooks=notebooks, results=folder, say=lambda *a: None)
    assert list(table.notebook) == notebooks
    bad = table[table.status != "ok"]
    assert bad.empty, bad[["notebook", "status", "problems"]].to_string()
    assert pd.read_csv(folder / "smoke.csv").status.eq("ok").all()
    return table.set_index("notebook")
