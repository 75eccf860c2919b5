"""The paper smoke run: every notebook on a profile's parameters and code paths, on FakeData, budgets cut.

`make smoke PROFILE=paper` (`python -m resnas.smoke --profile paper`) runs each notebook through the real
pipeline with `RESNAS_FAKE_DATA=1` (torchvision FakeData of each data set's real shape and class count,
`resnas.data`) and the overrides in `SMOKE_OVERRIDES`, which only cut budgets: fewer seeds, candidates,
generations and epochs. What decides which code runs (data set, backend, worker count, device, preset, search
space, filter choices, topologies) is never overridden, and `PROTECTED` enforces that.

Trust nothing the parameters say: each notebook writes `$RESNAS_RUN_LOG` (`resnas.runlog`) as it runs: every
data set it loaded with its shape, every evaluator with its backend, worker count and device, every training
with its device, space and process id. `verify` compares that log with the profile's parameters; a notebook
whose log does not show the paper's backend, workers, device, preset and shapes fails the smoke run even if it
finished. Results go to `results/smoke/<profile>/` (archives included), never beside real results: FakeData
records must not be served to a real run.

A GPU user must never lose hours to a crash a CPU could find in a minute: run this first.
"""
from __future__ import annotations

import argparse
import os
import shutil
import sys
import time
from pathlib import Path

import pandas as pd

from resnas.experiments import EXPERIMENTS, get_experiment
from resnas.runlog import ENV as RUN_LOG_ENV
from resnas.runlog import read_events

ROOT = Path(__file__).resolve().parents[2]

# Keys a smoke override may never touch: they choose the code path, not the budget.
PROTECTED = frozenset({"dataset", "datasets", "backend", "workers", "device", "preset", "filters", "max_depth",
                       "topologies", "space", "channels", "dense", "batch_size", "references", "modes",
                       "strategies", "encodings", "losses", "adapts", "pools", "order"})

# One image per class in every split, for every notebook whose Params has the key (`overrides_for`): FakeData
# keeps each set's shape and class count, and an epoch becomes one batch, so a notebook that trains hundreds of
# networks (ECToNAS: 6 data sets x 6 topologies x 4 modes) takes seconds. A notebook's own entry wins.
TINY_SPLITS = {"train_per_class": 1, "val_per_class": 1, "test_per_class": 1}
WHOLE_SPLITS = {"train_per_class": None, "val_per_class": None}  # the profile's own (paper: the whole split)

# Budget cuts per notebook (on top of the profile's file). Why each value: the smallest budget that still runs
# every phase of the notebook (a search's random phase and its guided phase, an evolution's first child,
# MOEA/D's first generation, ECToNAS's warm-up and one bracket round, the retraining of a front). `threads` is
# torch's CPU thread count, not a code path: the paper's 4 would oversubscribe 2 cores for one-batch epochs.
SMOKE_OVERRIDES: dict[str, dict] = {
    "00_quickstart": {"epochs": 1},
    # era_search, fidelity_correlation and ranking_predictor run at one image per class too: their accuracies are
    # constant there, rank correlations NaN, and their figures say "no finite values to draw" (`plots.relplot`).
    "era_search": {"seeds": [0], "budget": 4, "population": 2, "local_samples": 2, "local_starts": 1,
                   "epochs": 1, "low_lr_epochs": 0, "window": 2, "max_params": 3_000_000},
    "era_final": {"epochs": 1, "seeds": [0], "max_params": 8_000_000},
    # fidelity_correlation: 4 networks (3 in the thesis text's space, so the combined in-space correlations run; f64
    # outside it). Every Evaluator (anytime, budget 1, the retraining; budget 2 is the anytime run's key, served)
    # starts its own pool of 4 workers. Spawned, each imported torch and torchvision (~5 CPU-s a worker, most of
    # the notebook's 113 CPU-s); now they fork from one forkserver (resnas.evaluate.worker_context) in milliseconds.
    # retrain_sample 3: correlations need >= 3 networks.
    "fidelity_correlation": {"width_blocks": 1, "width_filters": [8, 64], "depth_blocks": [1, 2], "fidelities": [1, 2],
                             "n_boot": 20, "retrain_sample": 3, "retrain_epochs": 2},
    "ranking_predictor": {"epochs": 1, "low_lr_epochs": 0, "n_architectures": 8, "seeds": [0, 1],
                          "search_seeds": [0, 1], "fractions": [0.5, 1.0], "predictor_epochs": 3,
                          "evolution_steps": 6, "population": 3, "n_score": 50, "top": 1, "nb201_repeats": 1,
                          "nb201_labelled": 20, "nb201_test": 20},
    "mo_resnet": {"population": 3, "generations": 1, "neighbours": 2, "alphas": [0.0, 0.2], "epochs": 1,
                  "retrain_epochs": 1, "retrain_seeds": [0], "retrain_max": 1, "zdt_seeds": [0],
                  "zdt_generations": 2, "zdt_population": 8},
    "pooling_trials": {"pretrain_epochs": 1, "seeds": 2, "threads": 1},
    "ectonas_ablation": {"seeds": [42], "runs_per_seed": 1, "budget": 3.0, "warmup_epochs": 1.0, "rounds": 1,
                         "epochs_per_round": 0.5, "baseline_epochs": 1.0, "era_budget": 2.0,
                         "max_generations": 1, "threads": 1},
    "cross_topology": {"seeds": [42], "runs_per_seed": 1, "budget": 3.0, "warmup_epochs": 1.0, "rounds": 1,
                       "epochs_per_round": 0.5, "baseline_epochs": 1.0, "max_generations": 1},
    "cell_search": {"seeds": 2, "budget": 20, "checkpoints": [10, 20], "n_boot": 100},
    # Generations 5 -> 2, and the paper's hybrid_n5 runs as hybrid_n2 so that its local search still runs (in
    # generation 2, after the first children): the period is a budget, the local-search code is the same. The DARTS
    # supernet (8 cells, every operation on every edge in the gradient arm and the coupled one) costs ~1.7 s a step
    # at 4 images, one thread (2026-12-03; the gradient arm took 17 s of the notebook's 92 s at 5 generations).
    "genas": {"seeds": [0], "arms": ["hybrid_n2", "evolution", "random", "gradient"], "population": 3,
              "generations": 2, "tournament": 2, "elite": 1, "local_top_k": 1,
              "local_steps": 1, "train_images": 4, "val_batch_size": 4, "recalibrate_batches": 1,
              "correlation_cells": 4, "correlation_val_images": 4, "standalone_epochs": 1,
              "standalone_train_per_class": 1, "final_epochs": 1, "n_boot": 100},
    "era_table": {"networks": 4, "epochs": 1, "long_epochs": 2, "long_networks": 1, "check_networks": 1},
}


def overrides_for(notebook: str, params_class=None) -> dict:
    """The smoke overrides of `notebook` (`TINY_SPLITS`, then its `SMOKE_OVERRIDES`), restricted to the keys its
    Params has (a key the class lacks is dropped, not invented). Raises if an override touches a PROTECTED key."""
    cut = {**TINY_SPLITS, **SMOKE_OVERRIDES.get(notebook, {})}
    bad = sorted(set(cut) & PROTECTED)
    if bad:
        raise ValueError(f"SMOKE_OVERRIDES[{notebook!r}] touches {bad}: those choose the code path; allowed: "
                         "budget keys only (seeds, epochs, budget, population, generations, ...)")
    if params_class is not None:
        import dataclasses

        known = {f.name for f in dataclasses.fields(params_class)}
        cut = {k: v for k, v in cut.items() if k in known}
    return cut


def _datasets(p) -> list[str]:
    names = list(getattr(p, "datasets", []) or [])
    if getattr(p, "dataset", None):
        names.append(p.dataset)
    return sorted(set(names))


def verify(notebook: str, params, events: list[dict]) -> list[str]:
    """What the run log shows that the profile's parameters did not ask for (an empty list: all as asked)."""
    from resnas.data import FAKE_SHAPES
    from resnas.train import pick_device

    problems = []
    loads = [e for e in events if e["event"] == "data"]
    wanted = _datasets(params)
    seen = sorted({e["dataset"] for e in loads})
    if wanted and seen != wanted:
        problems.append(f"data sets loaded {seen}, parameters name {wanted}")
    for e in loads:
        shape, classes = FAKE_SHAPES[e["dataset"]]
        if not e["fake"]:
            problems.append(f"{e['dataset']} was real data, not FakeData")
        if tuple(e["input_shape"]) != tuple(shape) or e["classes"] != classes:
            problems.append(f"{e['dataset']} ran at {e['input_shape']} with {e['classes']} classes, not {shape} "
                            f"with {classes}")
    trains = [e for e in events if e["event"] == "train"]
    if not trains and notebook != "cell_search":
        problems.append("no training ran")
    if hasattr(params, "device"):
        want = pick_device(params.device).type
        devices = sorted({e["device"].split(":")[0] for e in trains})
        if devices and devices != [want]:
            problems.append(f"trained on {devices}, device={params.device!r} resolves to {want!r}")
    evaluators = [e for e in events if e["event"] == "evaluator"]
    if hasattr(params, "backend"):
        backends = sorted({(e["backend"], e["workers"]) for e in evaluators})
        if backends != [(params.backend, params.workers)]:
            problems.append(f"evaluators ran {backends}, parameters ask for {(params.backend, params.workers)}")
        if params.backend == "process" and params.workers > 1:
            kernels = {e["pid"] for e in evaluators}
            workers = {e["pid"] for e in trains} - kernels
            if len(workers) < 2:
                problems.append(f"backend=process with {params.workers} workers trained in {len(workers)} worker "
                                "process(es): nothing ran concurrently")
    if hasattr(params, "preset"):
        spaces = sorted({e["space"] for e in events if e["event"] == "job"})
        if spaces != [params.preset]:
            problems.append(f"networks of spaces {spaces} trained, preset={params.preset!r}")
    if hasattr(params, "filters"):
        eras = [e for e in events if e["event"] == "space" and e.get("space") == "era"]
        if not eras or any(tuple(e["filters"]) != tuple(params.filters) for e in eras):
            problems.append(f"ERA space filters {[e.get('filters') for e in eras]}, parameters {list(params.filters)}")
    return problems


def run(profile: str = "paper", notebooks: list[str] | None = None, results: Path | None = None,
        say=print) -> pd.DataFrame:
    """Run the smoke of `profile` into `results` (default results/smoke/<profile>/, emptied first); return one
    row per notebook: status, seconds, what ran, problems. Raises nothing for a failed notebook: its row says."""
    from resnas.data import FAKE_ENV
    from resnas.params import load_profile
    from resnas.pipeline import NotebookFailed, run_notebook, validate_profile

    validate_profile(profile)
    notebooks = notebooks or list(EXPERIMENTS)
    results = Path(results or ROOT / "results" / "smoke" / profile).resolve()
    shutil.rmtree(results, ignore_errors=True)
    logs = results / "logs"
    logs.mkdir(parents=True)
    saved = {k: os.environ.get(k) for k in (FAKE_ENV, RUN_LOG_ENV)}
    rows = []
    try:
        os.environ[FAKE_ENV] = "1"
        for nb in notebooks:
            exp = get_experiment(nb)
            cut = overrides_for(nb, exp.params_class())
            # the driver's own work (validating the parameters builds the search space, which logs it) belongs to no
            # notebook: with the previous notebook's log still set it would land there
            os.environ.pop(RUN_LOG_ENV, None)
            params = load_profile(exp.params_class(), nb, profile, overrides=cut)
            log = logs / f"{nb}.jsonl"
            os.environ[RUN_LOG_ENV] = str(log)
            say(f"[smoke {profile}] {nb} ...")
            t0 = time.perf_counter()
            status, error = "ok", ""
            try:
                run_notebook(nb, profile, results=results, overrides=cut)
            except NotebookFailed as exc:
                status, error = "failed", str(exc)
            events = read_events(log)
            problems = verify(nb, params, events) if status == "ok" else []
            rows.append({"notebook": nb, "status": status if not problems else "wrong path",
                         "seconds": round(time.perf_counter() - t0, 1), **_ran(events),
                         "problems": "; ".join(problems) or error})
            say(f"[smoke {profile}] {nb} {rows[-1]['status']} in {rows[-1]['seconds']:.0f}s "
                f"{rows[-1]['problems'][:300]}")
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
    table = pd.DataFrame(rows)
    table.to_csv(results / "smoke.csv", index=False)
    return table


def _ran(events: list[dict]) -> dict:
    """A one-line description of what the log shows (for the smoke table)."""
    shapes = sorted({f"{e['dataset']} {'x'.join(map(str, e['input_shape']))}/{e['classes']}"
                     for e in events if e["event"] == "data"})
    backends = sorted({f"{e['backend']}x{e['workers']}" for e in events if e["event"] == "evaluator"})
    trains = [e for e in events if e["event"] == "train"]
    return {"data": ", ".join(shapes), "backends": ", ".join(backends),
            "devices": ", ".join(sorted({e["device"] for e in trains})),
            "spaces": ", ".join(sorted({e["space"] for e in events if e["event"] == "job"})),
            "trainings": len(trains), "processes": len({e["pid"] for e in trains})}


def main(argv=None) -> int:
    from resnas.report import markdown_table

    ap = argparse.ArgumentParser(prog="python -m resnas.smoke", description=__doc__.splitlines()[0])
    ap.add_argument("--profile", default="paper")
    ap.add_argument("notebooks", nargs="*")
    args = ap.parse_args(argv)
    table = run(args.profile, args.notebooks or None)
    print(markdown_table(table.drop(columns=["problems"])))
    bad = table[table.status != "ok"]
    for r in bad.itertuples():
        print(f"{r.notebook}: {r.status}: {r.problems}", file=sys.stderr)
    return 1 if len(bad) else 0


if __name__ == "__main__":
    sys.exit(main())
