"""The paper smoke run (what `make smoke PROFILE=paper` runs), split in two halves that share nothing, one test file
each, so that `make test`'s two pytest-xdist processes (`--dist loadfile`: a file stays on one process) run them
side by side: the ERA chain (era_final, fidelity_correlation and ranking_predictor read era_search's results) with
the quickstart and the cross-topology study, and the rest.

`smoke.TINY_SPLITS` makes most epochs one batch, so start-up, not training, is most of it. Measured in the suite
(`CI=true bash .ci/run` on fresh clones, 2 quiet cores, 2026-12-03), the two halves' seconds:
- before GENAS's supernet ran in channels_last with the cells' pooling modules: ERA chain 136, the rest 338;
- after, with ectonas_ablation in the first half: 200 and 221; with GENAS's smoke cut to 2 generations as well:
  198 and 128 (the ERA chain ~118 of the first), hence this split: 121 and 185 (suite 8.1 min, 11.1 with set-up);
  158 and 201 an hour later, on a slower machine (suite 9.1 min).
Alone at one thread (wall seconds, 2026-12-03): genas 74 (157 before), ectonas_ablation 70-73, cross_topology 26,
mo_resnet 21, cell_search 21, 00_quickstart 19, pooling_trials 16. A kernel start with its imports is ~10 CPU-s
of every notebook.
"""
from pathlib import Path

import pandas as pd

from resnas import smoke

SMOKE_HALVES = {"era": ["era_table", "era_search", "era_final", "fidelity_correlation", "ranking_predictor",
                        "00_quickstart", "cross_topology"],
                "rest": ["mo_resnet", "pooling_trials", "ectonas_ablation", "cell_search", "genas"]}


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
