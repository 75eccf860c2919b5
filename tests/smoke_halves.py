"""The paper smoke run (what `make smoke PROFILE=paper` runs), split in two halves that share nothing, one test file
each, so that `make test`'s two pytest-xdist processes (`--dist loadfile`: a file stays on one process) run them
side by side: the ERA chain (era_final, fidelity_correlation and ranking_predictor read era_search's results) and
the rest.

`smoke.TINY_SPLITS` makes most epochs one batch, so start-up, not training, is most of it. Measured in the suite
(`CI=true bash .ci/run` on a fresh clone, 2 quiet cores, 2026-12-03, pool workers forked from a forkserver): the ERA
half 136 s, the rest 338 s (4.8 and 6.1 min for the two halves before, with spawned workers; 225 and 402 s in a
second run an hour later, on a machine ~30% slower throughout). Per notebook, one at a time at one thread (user+sys,
each with ~10 CPU-s of its own driver start), measured with spawned workers, so the pool-heavy ones now cost less:
ectonas_ablation 155 (5,917 one-batch trainer calls), fidelity 113 (three pools of 4 workers), era_search +
era_final 90, ranking_predictor 66, cross_topology 44, mo_resnet 35, cell_search 31, pooling_trials 30,
00_quickstart 27, era_table 20. The rest half alone at one thread with the forkserver (wall seconds, 2026-12-03):
genas 157, ectonas_ablation 121, cross_topology 26, mo_resnet 21, cell_search 21, 00_quickstart 19, pooling_trials
16. A kernel start is ~12 CPU-s.
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
