"""ECToNAS experiments (ectonas.txt): the pooling-adaptation trials of Appendix A.2.1 (Table 4) and the
ablation of §4 (Tables 1-2, Figures 5-6) on CPU-sized data.

Both train with `resnas.train.continue_training` (plain SGD, lr 0.1, as the paper) through a seeded `trainer`
closure, the protocol `resnas.search.ectonas` expects, on the device a profile names (`device: auto` is CUDA when
present). Between trainings every network is kept on the CPU, where the morphisms run. These runs bypass the
`Evaluator`, so each writes where it ran itself: a `device` column in its rows and a `run.json`
(`write_run_info`) with the machine fingerprint.
"""
from __future__ import annotations

import copy
import dataclasses
import json
import os
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from resnas import morph
from resnas.data import DATASETS, Bundle, load
from resnas.params import param, require
from resnas.search import ectonas as search
from resnas.spaces.sequential import ConvLayer, SeqGenome

# ----------------------------------------------------------------------------------------- the paper's numbers

# Table 4 (MNIST, minimal network, 100 seeds): validation accuracy (%) after inserting a pool, before and after
# one epoch of retraining. The paper's "structured" method is our adapt='paper' (mean / largest-magnitude).
PAPER_TABLE4 = pd.DataFrame([
    ("structured", "avg", 89.1, 96.0), ("structured", "max", 13.4, 29.7),
    ("random", "avg", 53.8, 95.6), ("random", "max", 49.3, 95.0),
], columns=["paper_method", "pool", "paper_none", "paper_1_epoch"])
# Which of the paper's two methods each of our adapt modes corresponds to (its random cutting is ambiguous).
PAPER_METHOD = {"paper": "structured", "random": "random", "random_cut": "random"}
PAPER_TABLE4_BASELINE = 98.6

# Tables 1 and 2: test accuracy (%) mean, sd, and final parameter count (thousands) of every data set, aggregated
# over the six starting topologies (the "overall" rows are left out). Digits has no row in the paper; MNIST is
# the nearest analogue and is shown beside it. The paper's baseline ('B') is its 200-epoch plain training.
_TABLE1 = {  # data set: (E, B, R) accuracy and sd, then (E, B, R) parameters (K)
    "cifar10": ((54.2, 3.4), (46.3, 4.7), (47.1, 3.5), (100, 77, 74)),
    "cifar100": ((20.6, 3.1), (16.0, 1.9), (14.8, 3.8), (97, 78, 80)),
    "eurosat": ((78.1, 10.5), (70.8, 20.0), (67.6, 15.2), (301, 303, 283)),
    "fashion_mnist": ((87.2, 1.5), (86.8, 1.4), (85.3, 2.7), (43, 28, 29)),
    "mnist": ((98.3, 1.6), (97.6, 2.2), (96.0, 3.4), (43, 28, 29)),
    "svhn": ((77.2, 5.1), (66.4, 13.0), (66.6, 10.2), (68, 77, 77)),
}
_TABLE2 = {  # data set: (α = 0.5, α = 0) accuracy and sd, then their parameters (K); α = 1 is Table 1's E
    "cifar10": ((49.8, 5.1), (50.0, 5.1), (8, 8)),
    "cifar100": ((18.2, 3.3), (15.0, 2.6), (7, 8)),
    "eurosat": ((71.3, 7.1), (70.7, 8.7), (36, 17)),
    "fashion_mnist": ((83.7, 2.3), (83.9, 2.6), (6, 6)),
    "mnist": ((94.7, 3.2), (94.8, 3.2), (6, 6)),
    "svhn": ((69.7, 9.2), (70.5, 11.7), (14, 9)),
}
PAPER_TABLE12 = pd.DataFrame(
    [(d, m, *acc, k) for d, (e, b, r, ks) in _TABLE1.items()
     for m, acc, k in zip(("greedy", "baseline", "random"), (e, b, r), ks)]
    + [(d, m, *acc, k) for d, (half, zero, ks) in _TABLE2.items()
       for m, acc, k in zip(("balanced_0.5", "balanced_0"), (half, zero), ks)],
    columns=["paper_dataset", "mode", "paper_test_acc", "paper_test_sd", "paper_params_k"])
PAPER_ANALOGUE = {**{d: d for d in _TABLE1}, "digits": "mnist"}
PAPER_EPOCHS_SAVED = 0.8  # "up to around 80%" of training time against retraining every candidate

# Table 3 (modified adult data set, 75 runs per cell): final topology counts per starting type and greediness.
PAPER_TABLE3 = pd.DataFrame([
    ("greedy", "cnn", 70, 5, 6.7), ("greedy", "ffnn", 0, 75, 0.0),
    ("balanced_0.5", "cnn", 75, 0, 0.0), ("balanced_0.5", "ffnn", 67, 8, 89.3),
    ("balanced_0", "cnn", 75, 0, 0.0), ("balanced_0", "ffnn", 74, 1, 98.6),
], columns=["mode", "start", "paper_final_cnn", "paper_final_ffnn", "paper_crossing_pct"])

# Table 5 (the modified Adult set, aggregated over the six starting topologies): test accuracy (%) and final
# parameter count (thousands). The test split is imbalanced (about 76% '<=50K').
PAPER_TABLE5 = pd.DataFrame([
    ("baseline", 84.4, 0.4, 5.5), ("greedy", 84.8, 0.7, 7.6), ("balanced_0.5", 83.6, 1.2, 1.5),
    ("balanced_0", 83.5, 1.3, 1.4), ("random", 83.7, 1.2, 6.5),
], columns=["mode", "paper_test_acc", "paper_test_sd", "paper_params_k"])

SEARCH_MODES = ("greedy", "balanced_0.5", "balanced_0", "random")
# Plain training of the starting topology, no search: 'baseline' is the paper's (a fixed `baseline_epochs`, the
# paper: 200); 'baseline_equal_epochs' is our addition, as many epochs as the greedy run spent in all.
BASELINE_MODES = ("baseline", "baseline_equal_epochs")
MODES = SEARCH_MODES + BASELINE_MODES
DEVICES = ("auto", "cpu", "cuda")

# The paper's search protocol: the budget (epochs per run, warm-up included) and seeds from §4 and Appendix C.2;
# warm-up, rounds per phase and epochs per round from the authors' code (spec/ectonas.md, "Loop").
PAPER_PROTOCOL = {"budget": 1000.0, "warmup_epochs": 10.0, "rounds": 3, "epochs_per_round": 5.0}
PAPER_SEEDS = (42, 13, 28)  # "Random seed: 42 (extra experiments run on seeds 13 and 28)", Appendix C.2
PAPER_RUNS_PER_SEED = 10  # "We perform 10 runs on each starting topology", §4, on each seed
PAPER_BASELINE_EPOCHS = 200.0  # "standard training for 200 epochs performed on the same starting topologies", §4
PAPER_FINAL_EPOCHS = "100 to 160"  # epochs the paper's final networks received (§4)
PAPER_DATASETS = ("cifar10", "cifar100", "eurosat", "fashion_mnist", "mnist", "svhn")  # abstract, §4


# ------------------------------------------------------------------------------------------------- helpers


def train_on(model, bundle: Bundle, epochs: float, lr: float, batch_size: int, seed: int, device: str) -> float:
    """`continue_training` on `device`, the model handed back on the CPU: the morphisms (and the ERA offspring's
    example input) work on CPU tensors, and these networks are small enough that the copy costs nothing."""
    from resnas import train

    try:
        return train.continue_training(model, bundle, epochs, lr=lr, batch_size=batch_size, seed=seed,
                                       device=device)
    finally:
        model.to("cpu")


def make_trainer(bundle: Bundle, seed: int, lr: float = 0.1, batch_size: int = 32, device: str = "auto"):
    """`trainer(model, epochs) -> val acc` for the search: `continue_training` with a fresh seed per call (the
    i-th call uses seed * 1_000_003 + i), so a whole run is repeatable on the CPU."""
    calls = [0]

    def trainer(model, epochs: float) -> float:
        calls[0] += 1
        return train_on(model, bundle, epochs, lr, batch_size, seed * 1_000_003 + calls[0], device)

    return trainer


@torch.no_grad()
def accuracy(model, bundle: Bundle, eval_from: Bundle | None = None, device: str = "auto") -> float:
    """Accuracy on `bundle`'s evaluation split, or on `eval_from`'s evaluation images normalised as `bundle`'s
    training images (the test split of a search that trained on `bundle`). The model goes back to the CPU."""
    from resnas.train import _DeviceData, evaluate_model, pick_device

    if eval_from is not None:
        bundle = dataclasses.replace(bundle, x_eval=eval_from.x_eval, y_eval=eval_from.y_eval)
    dev = pick_device(device)
    try:
        model.to(dev)
        return evaluate_model(model, _DeviceData(bundle, dev), 1024, False)[1]
    finally:
        model.to("cpu")


def device_type(device: str) -> str:
    """Where `device` ('auto', 'cpu', 'cuda') runs on this machine: 'cpu' or 'cuda'."""
    from resnas.train import pick_device

    return pick_device(device).type


def run_info(device: str) -> dict:
    """Where a run ran: the device asked for, the one it resolved to, and the machine fingerprint (torch,
    CUDA, processor or GPU name, threads) that `Evaluator` records for the other experiments."""
    from resnas.evaluate import fingerprint

    # ECToNAS trains through its own loop (continue_training), always in fp32, whatever 'auto' means here
    return {"device": device, "device_type": device_type(device), "fingerprint": fingerprint(device, "fp32")}


def write_run_info(folder: str | os.PathLike, device: str) -> Path:
    """`run_info` as `<folder>/run.json`, written atomically."""
    path = Path(folder) / "run.json"
    tmp = path.with_name(f".{path.name}.tmp{os.getpid()}")
    tmp.write_text(json.dumps(run_info(device), indent=1))
    os.replace(tmp, path)
    return path


def _bundles(dataset: str, train_per_class, val_per_class, test_per_class, seed: int) -> tuple[Bundle, Bundle]:
    kw = dict(name=dataset, train_per_class=train_per_class, val_per_class=val_per_class,
              test_per_class=test_per_class, seed=seed)
    return load(split="val", **kw), load(split="test", **kw)


# -------------------------------------------------------------------------------------------- pooling trials

# morph's adapt modes, plus 'random_cut': keep a random subset (in order) of the first dense layer's input
# columns, ignoring where they sit on the map. The paper's "randomly cutting away existing connections" reads
# like this; morph's 'random' is milder (one random position of each pooled window).
ADAPTS = (*morph.ADAPTS, "random_cut")


def insert_pool(model, cell: int, pool: str, adapt: str, seed: int):
    """`morph.set_pooling` on `cell`, or with adapt='random_cut' the same architecture with randomly kept
    columns of the first dense layer."""
    gen = torch.Generator().manual_seed(seed)
    if adapt != "random_cut":
        return morph.set_pooling(model, cell, pool, adapt=adapt, generator=gen)[0]
    new = morph.set_pooling(model, cell, pool, adapt="structured")[0]
    old_w = morph._linears(model)[0].weight.detach()
    new_layer = morph._linears(new)[0]
    keep = torch.randperm(old_w.shape[1], generator=gen)[:new_layer.in_features].sort().values
    with torch.no_grad():
        new_layer.weight.copy_(old_w[:, keep])
    return new


@dataclass(frozen=True)
class PoolingParams:
    dataset: str = param("fashion_mnist", choices=DATASETS)
    train_per_class: int | None = param(100, ge=1)
    val_per_class: int | None = param(50, ge=1)
    channels: list[int] = param([4, 8], ge=1, le=256, help="the two conv cells (no pool) of the minimal net")
    dense: list[int] = param([32], ge=1, le=4096, help="hidden dense layers")
    pretrain_epochs: int = param(10, ge=1, le=1000, help="the paper: 25")
    retrain_epochs: float = param(1.0, ge=0.01, le=100)
    seeds: int = param(20, ge=1, le=1000, help="data split, initialisation and training seeds (paper: 100)")
    pools: list[str] = param(["avg", "max"], choices=("avg", "max"))
    adapts: list[str] = param(["structured", "paper", "random", "random_cut"], choices=ADAPTS)
    cell: int = param(0, ge=0, help="the cell that gets the pool (0: between the two convs, as the paper)")
    lr: float = param(0.1, ge=1e-6, le=10.0)
    batch_size: int = param(32, ge=1, le=4096)
    threads: int = param(1, ge=1, le=64, help="torch CPU threads (tiny nets: 1 is fastest)")
    device: str = param("auto", choices=DEVICES, help="where networks train and are evaluated (auto: CUDA if present)")

    def __post_init__(self):
        require(self.cell < len(self.channels),
                f"cell={self.cell} does not exist: the net has {len(self.channels)} conv cells (channels="
                f"{list(self.channels)}); allowed: 0 to {len(self.channels) - 1}")


def pooling_trial(p: PoolingParams, seed: int) -> list[dict]:
    """One seed: train the minimal net, then for every (pool, adapt) insert the pool into cell `p.cell`, adapt
    the first dense layer's weights, and record validation accuracy before and after retraining."""
    bundle = load(name=p.dataset, train_per_class=p.train_per_class, val_per_class=p.val_per_class, seed=seed)
    genome = SeqGenome(bundle.input_shape[0], bundle.input_shape[1],
                       tuple(ConvLayer(c, None) for c in p.channels), tuple(p.dense), bundle.num_classes)
    torch.manual_seed(seed)
    model = morph.build(genome)
    base = train_on(model, bundle, p.pretrain_epochs, p.lr, p.batch_size, seed, p.device)
    rows = []
    for pool in p.pools:
        for adapt in p.adapts:
            pooled = insert_pool(model, p.cell, pool, adapt, seed)
            before = accuracy(pooled, bundle, device=p.device)
            after = train_on(pooled, bundle, p.retrain_epochs, p.lr, p.batch_size, seed + 1, p.device)
            rows.append({"seed": seed, "pool": pool, "adapt": adapt, "baseline": 100 * base,
                         "none": 100 * before, "retrained": 100 * after,
                         "params_before": morph.count_params(model), "params_after": morph.count_params(pooled),
                         "device": device_type(p.device)})
    return rows


def pooling_trials(p: PoolingParams, progress: bool = False) -> pd.DataFrame:
    seeds = range(p.seeds)
    if progress:
        from tqdm.auto import tqdm
        seeds = tqdm(seeds, desc="seeds")
    return pd.DataFrame([r for s in seeds for r in pooling_trial(p, s)])


def table4(trials: pd.DataFrame) -> pd.DataFrame:
    """Mean and sd per (adapt, pool), with the paper's Table 4 beside (for adapt 'paper' and 'random')."""
    g = trials.groupby(["adapt", "pool"])
    out = g.agg(none=("none", "mean"), none_sd=("none", "std"), retrained=("retrained", "mean"),
                retrained_sd=("retrained", "std"), baseline=("baseline", "mean"), runs=("seed", "size")).reset_index()
    out["paper_method"] = out.adapt.map(PAPER_METHOD)
    out = out.merge(PAPER_TABLE4, on=["paper_method", "pool"], how="left")
    out["paper_baseline"] = PAPER_TABLE4_BASELINE
    order = {a: i for i, a in enumerate(ADAPTS)}
    return out.sort_values(["adapt", "pool"], key=lambda s: s.map(order) if s.name == "adapt" else s,
                           ignore_index=True)


# ------------------------------------------------------------------------------------------------- ablation


@dataclass(frozen=True)
class AblationParams:
    datasets: list[str] = param(["fashion_mnist", "digits"], choices=DATASETS)
    train_per_class: int | None = param(50, ge=1)
    val_per_class: int | None = param(30, ge=1)
    test_per_class: int | None = param(100, ge=1)
    topologies: list[str] = param(["small_cnn", "small_ffnn"], choices=search.TOPOLOGIES)
    seeds: list[int] = param([42, 13, 28], ge=0, help="each seed draws the data split (the paper: 42, 13, 28)")
    runs_per_seed: int = param(1, ge=1, le=100, help="runs per data set, topology and seed on that seed's split "
                               "(the paper: 10); run 0 uses the seed itself, run r a seed derived from (seed, r)")
    modes: list[str] = param(list(MODES), choices=MODES)
    baseline_epochs: float = param(12.0, gt=0.0, help="epochs of the 'baseline' mode's plain training (the paper: "
                                   "200, a fifth of its 1,000-epoch budget)")
    budget: float = param(60.0, ge=1.0, help="epochs, warm-up included (paper: 1000)")
    warmup_epochs: float = param(5.0, ge=0.0, help="paper: 10")
    rounds: int = param(3, ge=1, le=20)
    epochs_per_round: float = param(1.0, ge=0.01, le=100, help="paper: 5")
    n_winners: int = param(2, ge=1, le=20)
    max_generations: int | None = param(None, ge=1)
    lr: float = param(0.1, ge=1e-6, le=10.0)
    batch_size: int = param(32, ge=1, le=4096)
    example_dataset: str = param("", help="the data set of Figure 6's single run (default: the first)")
    example_topology: str = param("", help="its starting topology (default: the last, an FFNN in the defaults)")
    threads: int = param(1, ge=1, le=64)
    era_budget: float = param(0.0, ge=0.0, help="epochs of a greedy run on an ERA ResNet-8 (0: skip)")
    device: str = param("auto", choices=DEVICES, help="where networks train and are evaluated (auto: CUDA if present)")

    def __post_init__(self):
        require(self.example_dataset in ("", *self.datasets),
                f"example_dataset={self.example_dataset!r} is not among datasets; allowed: '' (the first), "
                f"{', '.join(self.datasets)}")
        require(self.example_topology in ("", *self.topologies),
                f"example_topology={self.example_topology!r} is not among topologies; allowed: '' (the last), "
                f"{', '.join(self.topologies)}")
        require(any(m in SEARCH_MODES for m in self.modes),
                f"modes={list(self.modes)} has no search, only the baselines it is compared with; allowed: at "
                f"least one of {', '.join(SEARCH_MODES)}")
        require(self.warmup_epochs < self.budget,
                f"warmup_epochs={self.warmup_epochs:g} must be below budget={self.budget:g} (the budget includes "
                f"the warm-up); allowed: 0 to below {self.budget:g}")
        require(self.era_budget == 0 or self.era_budget > self.warmup_epochs,
                f"era_budget={self.era_budget:g} must be 0 (skip the ERA run) or above warmup_epochs="
                f"{self.warmup_epochs:g}; allowed: 0, or more than {self.warmup_epochs:g}")

    def config(self, mode: str) -> search.EctoConfig:
        alpha = {"greedy": 1.0, "random": 1.0, "balanced_0.5": 0.5, "balanced_0": 0.0}[mode]
        return search.EctoConfig(budget=self.budget, alpha=alpha, random_mode=mode == "random",
                                 warmup_epochs=self.warmup_epochs, rounds=self.rounds,
                                 epochs_per_round=self.epochs_per_round, n_winners=self.n_winners,
                                 max_generations=self.max_generations)


def run_seed(seed: int, run: int) -> int:
    """The seed of run `run` under `seed` (network initialisation, training order, the search's draws): `seed`
    itself for run 0, so one run per seed is what it always was; for run r > 0 a 31-bit seed from numpy's
    SeedSequence of (seed, r)."""
    if run == 0:
        return seed
    return int(np.random.SeedSequence([seed, run]).generate_state(1)[0] >> 1)


def plain_training(start, trainer, epochs: dict[str, float]) -> dict[str, tuple[torch.nn.Module, list]]:
    """One plain training of a copy of `start` (one `trainer` call per epoch, no search), read off at each
    entry of `epochs` ({mode: epochs}): per mode, a copy of the network when the training reached that count and
    the validation curve [(epochs, val acc)] up to it. Shorter counts are prefixes of the longer ones, so the
    paper's fixed-length baseline and the equal-epochs baseline cost one training of the longer. Every count is
    trained exactly; an epoch that a shorter, fractional count falls inside is trained in two parts."""
    model = copy.deepcopy(start)
    curve, done, out = [], 0.0, {}
    for mode, target in sorted(epochs.items(), key=lambda kv: kv[1]):
        if target > done + 1e-9:
            curve += [(done + e, acc) for e, acc in search.baseline(model, trainer, target - done)]
            done = target
        out[mode] = (copy.deepcopy(model), list(curve))
    return out


def ablation(p: AblationParams, progress: bool = False) -> dict[str, pd.DataFrame]:
    """Every (data set, topology, seed, run, mode). Returns tables: 'runs' (one row per run), 'traces' (per
    generation and winner), 'curves' (the final network's lineage: epochs received, validation accuracy).
    The data split follows the seed (all runs of a seed share it); the rest follows `run_seed(seed, run)`.
    Two baselines train the starting topology plainly, read off one training (`plain_training`): 'baseline',
    the paper's, for `baseline_epochs`; 'baseline_equal_epochs' for as many epochs as the greedy run (or the
    first search mode) of the same data set, topology, seed and run spent in total."""
    runs, traces, curves = [], [], []
    where = device_type(p.device)
    jobs = [(d, t, s, r) for d in p.datasets for t in p.topologies for s in p.seeds for r in range(p.runs_per_seed)]
    if progress:
        from tqdm.auto import tqdm
        jobs = tqdm(jobs, desc="runs")
    for dataset, topology, seed, run in jobs:
        bundle, test = _bundles(dataset, p.train_per_class, p.val_per_class, p.test_per_class, seed)
        rseed = run_seed(seed, run)
        genome = search.start_genome(topology, *bundle.input_shape[:2], bundle.num_classes)
        torch.manual_seed(rseed)
        start = morph.build(genome)
        key = {"dataset": dataset, "topology": topology, "seed": seed, "run": run}
        spent = None
        for mode in [m for m in p.modes if m in SEARCH_MODES]:
            t0 = time.perf_counter()
            res = search.run(start, make_trainer(bundle, rseed, p.lr, p.batch_size, p.device), p.config(mode), rseed)
            if spent is None or mode == "greedy":
                spent = res.total_epochs
            best = res.best
            runs.append({**key, "mode": mode, "test_acc": 100 * accuracy(best.model, bundle, test, p.device),
                         "val_acc": 100 * best.score(), "params": best.params,
                         "start_params": morph.count_params(start), "epochs_total": res.total_epochs,
                         "epochs_final": best.epochs, "scratch_epochs": res.scratch_epochs,
                         "epochs_saved": res.epochs_saved, "generations": res.generations,
                         "candidates": len(res.candidates), "start_cells": len(genome.cells),
                         "final_cells": len(best.model.convs),
                         "architecture": search.describe(morph.genome_of(best.model)),
                         "seconds": time.perf_counter() - t0, "device": where})
            traces += [{**key, "mode": mode, **row} for row in res.trace]
            curves += [{**key, "mode": mode, "epoch": e, "val_acc": 100 * v} for e, v in best.curve]
        lengths = {"baseline": p.baseline_epochs, "baseline_equal_epochs": spent}
        wanted = {m: lengths[m] for m in BASELINE_MODES if m in p.modes}
        if not wanted:
            continue
        t0 = time.perf_counter()
        plain = plain_training(start, make_trainer(bundle, rseed, p.lr, p.batch_size, p.device), wanted)
        seconds = time.perf_counter() - t0  # one training serves both: each row carries its whole time
        for mode, (model, curve) in plain.items():
            epochs = wanted[mode]
            runs.append({**key, "mode": mode, "test_acc": 100 * accuracy(model, bundle, test, p.device),
                         "val_acc": 100 * np.mean([v for _, v in curve[-3:]]), "params": morph.count_params(model),
                         "start_params": morph.count_params(start), "epochs_total": epochs, "epochs_final": epochs,
                         "scratch_epochs": epochs, "epochs_saved": 0.0, "generations": 0, "candidates": 1,
                         "start_cells": len(genome.cells), "final_cells": len(genome.cells),
                         "architecture": search.describe(genome), "seconds": seconds, "device": where})
            curves += [{**key, "mode": mode, "epoch": e, "val_acc": 100 * v} for e, v in curve]
    return {"runs": pd.DataFrame(runs), "traces": pd.DataFrame(traces), "curves": pd.DataFrame(curves)}


def era_run(p: AblationParams, dataset: str, seed: int) -> dict[str, pd.DataFrame]:
    """Greedy ECToNAS from an ERA ResNet-8 (basic, one block per section, 4 filters): identity blocks, width
    doubling and residual-aware pruning as its operations, the same loop, budget and brackets. Returns the
    trace and a one-row summary (test accuracy, parameters at start and end)."""
    from resnas.spaces.era import EraConfig, EraNet

    bundle, test = _bundles(dataset, p.train_per_class, p.val_per_class, p.test_per_class, seed)
    torch.manual_seed(seed)
    start = EraNet(EraConfig("basic", (0, 1, 1, 1), 4, 2, 32), bundle.input_shape[0], bundle.num_classes)
    cfg = dataclasses.replace(p.config("greedy"), budget=p.era_budget)
    example = torch.zeros(1, *bundle.input_shape)
    res = search.run(start, make_trainer(bundle, seed, p.lr, p.batch_size, p.device), cfg, seed,
                     make_offspring=search.era_offspring(example))
    summary = pd.DataFrame([{"dataset": dataset, "seed": seed, "start": str(start.config),
                             "final": next(r["architecture"] for r in res.trace if r["id"] == res.best.id),
                             "test_acc": 100 * accuracy(res.best.model, bundle, test, p.device),
                             "params_start": morph.count_params(start), "params_final": res.best.params,
                             "epochs_total": res.total_epochs, "epochs_saved": res.epochs_saved,
                             "device": device_type(p.device)}])
    return {"trace": pd.DataFrame(res.trace), "summary": summary}


def tables12(runs: pd.DataFrame) -> pd.DataFrame:
    """Tables 1-2 in shape: per data set and mode, test accuracy mean and sd and the final parameter count,
    with the paper's numbers (its nearest data set) beside."""
    g = runs.groupby(["dataset", "mode"])
    out = g.agg(test_acc=("test_acc", "mean"), test_sd=("test_acc", "std"), params=("params", "mean"),
                start_params=("start_params", "mean"), epochs_final=("epochs_final", "mean"),
                epochs_total=("epochs_total", "mean"), epochs_saved=("epochs_saved", "mean"),
                runs=("seed", "size")).reset_index()
    out["paper_dataset"] = out.dataset.map(PAPER_ANALOGUE)
    out = out.merge(PAPER_TABLE12, on=["paper_dataset", "mode"], how="left")
    order = {m: i for i, m in enumerate(MODES)}
    return out.sort_values(["dataset", "mode"], key=lambda s: s.map(order) if s.name == "mode" else s,
                           ignore_index=True)


def plain_curve(curves: pd.DataFrame, key: dict) -> pd.DataFrame:
    """The longest plain-training curve of one run (`key`: data set, topology, seed, run): both baselines are
    read off one training, so the shorter is a prefix of the longer. Empty without a baseline."""
    rows = _of_run(curves, key)
    rows = rows[rows["mode"].isin(BASELINE_MODES)]
    if rows.empty:
        return rows
    ends = rows.groupby("mode").epoch.max()
    longest = max(ends.index, key=lambda m: (ends[m], -BASELINE_MODES.index(m)))
    return rows[rows["mode"] == longest].sort_values("epoch")


def cutoff_table(runs: pd.DataFrame, curves: pd.DataFrame) -> pd.DataFrame:
    """Figure 5's fairer comparison: per run, the final network's validation accuracy against plain training's
    at the same number of epochs received (the longest baseline curve's last point at or before that), at the
    end of the paper's fixed-length baseline and at the end of the equal-epochs baseline."""
    rows = []
    for r in runs[runs["mode"].isin(SEARCH_MODES)].itertuples():
        key = {"dataset": r.dataset, "topology": r.topology, "seed": r.seed, "run": r.run}
        plain = plain_curve(curves, key)
        upto = plain[plain.epoch <= r.epochs_final + 1e-9]
        ends = {m: _of_run(curves, {**key, "mode": m}).sort_values("epoch").val_acc for m in BASELINE_MODES}
        rows.append({"dataset": r.dataset, "topology": r.topology, "seed": r.seed, "run": r.run, "mode": r.mode,
                     "epochs_final": r.epochs_final, "val_acc": r.val_acc,
                     "baseline_val_at_same_epochs": upto.val_acc.iloc[-1] if len(upto) else np.nan,
                     "baseline_val_at_end": ends["baseline"].iloc[-1] if len(ends["baseline"]) else np.nan,
                     "baseline_equal_epochs_val_at_end": (ends["baseline_equal_epochs"].iloc[-1]
                                                          if len(ends["baseline_equal_epochs"]) else np.nan)})
    out = pd.DataFrame(rows)
    return out.groupby(["dataset", "mode"], sort=False).agg(
        epochs_final=("epochs_final", "mean"), val_acc=("val_acc", "mean"),
        baseline_val_at_same_epochs=("baseline_val_at_same_epochs", "mean"),
        baseline_val_at_end=("baseline_val_at_end", "mean"),
        baseline_equal_epochs_val_at_end=("baseline_equal_epochs_val_at_end", "mean"),
        runs=("seed", "size")).reset_index()


def binned_curves(curves: pd.DataFrame) -> pd.DataFrame:
    """Curves on whole epochs (a fractional record counts towards the epoch it ends in; per run, the last record
    of each epoch), for averaging over runs."""
    c = curves.assign(epoch=np.ceil(curves.epoch - 1e-9).astype(int))
    return c.groupby(["dataset", "topology", "seed", "run", "mode", "epoch"], as_index=False).val_acc.last()


def lineage(trace: pd.DataFrame) -> pd.DataFrame:
    """The final network's ancestry in one run's trace: from the last generation's best winner (rank 0) back
    through its parents to the start, oldest first."""
    by_id = trace.set_index("id")
    last = trace[trace.generation == trace.generation.max()].sort_values("rank").iloc[0]
    chain, node = [], last.id
    while node in by_id.index:
        row = by_id.loc[node]
        chain.append(row)
        if pd.isna(row.parent_id):
            break
        node = int(row.parent_id)
    return pd.DataFrame(chain[::-1]).reset_index(names="id")


def table5(runs: pd.DataFrame) -> pd.DataFrame:
    """Table 5 in shape (the tabular set): per mode, test accuracy mean and sd and the final parameter count in
    thousands, with the paper's beside."""
    g = runs.groupby("mode").agg(test_acc=("test_acc", "mean"), test_sd=("test_acc", "std"),
                                 params_k=("params", lambda p: p.mean() / 1000), runs=("seed", "size")).reset_index()
    order = {m: i for i, m in enumerate(MODES)}
    return g.merge(PAPER_TABLE5, on="mode", how="left").sort_values("mode", key=lambda s: s.map(order),
                                                                      ignore_index=True)


def crossings(runs: pd.DataFrame) -> pd.DataFrame:
    """Table 3 in shape: per mode and starting type (CNN: any conv cell), how many final networks are CNNs or
    FFNNs and the share that crossed, with the paper's counts (on its tabular data set) beside."""
    r = runs[runs["mode"].isin(SEARCH_MODES)]
    r = r.assign(start=np.where(r.start_cells > 0, "cnn", "ffnn"), final=np.where(r.final_cells > 0, "cnn", "ffnn"))
    out = r.groupby(["mode", "start"]).agg(final_cnn=("final", lambda f: int((f == "cnn").sum())),
                                          final_ffnn=("final", lambda f: int((f == "ffnn").sum())),
                                          runs=("final", "size")).reset_index()
    crossed = np.where(out.start == "cnn", out.final_ffnn, out.final_cnn)
    out["crossing_pct"] = 100.0 * crossed / out.runs
    out = out.merge(PAPER_TABLE3, on=["mode", "start"], how="left")
    order = {m: i for i, m in enumerate(MODES)}
    return out.sort_values(["mode", "start"], key=lambda s: s.map(order) if s.name == "mode" else s,
                           ignore_index=True)


# ------------------------------------------------------------------------------------- what notebooks print


def _num(x: float) -> str:
    return f"{x:,.0f}" if float(x).is_integer() else f"{x:,.2f}".rstrip("0")


def _setting(label: str, ours, paper, unit: str = "") -> str:
    """'warm-up 10 epochs (as the paper)' or 'warm-up 5 epochs (the paper: 10)'."""
    return f"{label} {_num(ours)}{unit} " + ("(as the paper)" if ours == paper else f"(the paper: {_num(paper)})")


def protocol_note(p: AblationParams) -> str:
    """The search protocol a profile runs, each setting beside the paper's, what still differs from the paper,
    and how far the results can be read against its numbers. Written from the parameters, so it stays true on
    every profile."""
    def per_class(n):
        return "full splits" if n is None else f"{n:,} per class"

    sizes = {per_class(n) for n in (p.train_per_class, p.val_per_class, p.test_per_class)}
    sizes = sizes.pop() if len(sizes) == 1 else (f"training {per_class(p.train_per_class)}, validation "
                                                 f"{per_class(p.val_per_class)}, test {per_class(p.test_per_class)}")
    paper = PAPER_PROTOCOL
    search_line = "; ".join([
        _setting("budget", p.budget, paper["budget"], " epochs per run, warm-up included"),
        _setting("warm-up", p.warmup_epochs, paper["warmup_epochs"], " epochs"),
        _setting("rounds per phase", p.rounds, paper["rounds"]),
        _setting("epochs per round", p.epochs_per_round, paper["epochs_per_round"]),
        _setting("learning rate", p.lr, 0.1)])
    differs = []
    missing = [d for d in PAPER_DATASETS if d not in p.datasets]
    if missing:
        differs.append(f"data sets ({len(PAPER_DATASETS) - len(missing)} of the paper's {len(PAPER_DATASETS)}; "
                       f"not run: {', '.join(missing)})")
    if any(n is not None for n in (p.train_per_class, p.val_per_class, p.test_per_class)):
        differs.append("subsets instead of full data sets")
    if len(set(p.topologies)) < len(search.TOPOLOGIES):
        differs.append(f"{len(set(p.topologies))} of the six starting topologies")
    if tuple(p.seeds) != PAPER_SEEDS:
        differs.append(f"seeds {', '.join(map(str, p.seeds))} (the paper: {', '.join(map(str, PAPER_SEEDS))})")
    if p.runs_per_seed != PAPER_RUNS_PER_SEED:
        differs.append(f"{_runs(p.runs_per_seed)} per seed (the paper: {PAPER_RUNS_PER_SEED})")
    if "baseline" in p.modes and p.baseline_epochs != PAPER_BASELINE_EPOCHS:
        differs.append(f"a {_num(p.baseline_epochs)}-epoch baseline (the paper: {_num(PAPER_BASELINE_EPOCHS)})")
    if "baseline" not in p.modes:
        differs.append("no baseline of the paper's kind (mode 'baseline' not run)")
    if p.budget < paper["budget"] or p.epochs_per_round < paper["epochs_per_round"]:
        reading = (f"The search budget is below the paper's, so the final networks receive fewer epochs than the "
                   f"paper's {PAPER_FINAL_EPOCHS}: read the comparisons as a shape, not a number.")
    elif p.budget > paper["budget"] or p.epochs_per_round > paper["epochs_per_round"]:
        reading = "The search budget is above the paper's: the final networks may receive more epochs than its."
    else:
        reading = (f"The search budget is the paper's, so the final networks should receive about its "
                   f"{PAPER_FINAL_EPOCHS} epochs.")
    return (f"**Protocol.** Data: {', '.join(p.datasets)} ({sizes}). Starting topologies: "
            f"{', '.join(p.topologies)}. {_runs(p.runs_per_seed).capitalize()} per data set, topology, seed and "
            f"mode, on the seed's data split; seeds {', '.join(map(str, p.seeds))} (the paper: "
            f"{PAPER_RUNS_PER_SEED} runs per starting topology on seed 42, repeated on 13 and 28). "
            f"Search: {search_line}. {reading} {baseline_note(p)} "
            + (f"Still different from the paper: {'; '.join(differs)}." if differs else
               "Data sets, data sizes, topologies, runs, seeds and the baseline are the paper's."))


def _runs(n: int) -> str:
    return "one run" if n == 1 else f"{n:,} runs"


def baseline_note(p: AblationParams) -> str:
    """The baselines a profile runs, from its parameters: the paper's fixed-length plain training and our
    equal-epochs one, with their lengths against the search budget and the paper's."""
    ratio = PAPER_BASELINE_EPOCHS / PAPER_PROTOCOL["budget"]
    parts = []
    if "baseline" in p.modes:
        length = (f"{_num(p.baseline_epochs)} epochs, as the paper's" if p.baseline_epochs == PAPER_BASELINE_EPOCHS
                  else f"{_num(p.baseline_epochs)} epochs (the paper: {_num(PAPER_BASELINE_EPOCHS)}, "
                       f"{ratio:.0%} of its {_num(PAPER_PROTOCOL['budget'])}-epoch budget; here "
                       f"{p.baseline_epochs / p.budget:.0%} of {_num(p.budget)})")
        parts.append(f"'baseline' (the paper's) trains the starting topology plainly, without search, for {length}")
    if "baseline_equal_epochs" in p.modes:
        ref = "greedy" if "greedy" in p.modes else next(m for m in p.modes if m in SEARCH_MODES)
        parts.append(f"'baseline_equal_epochs' (our addition, not in the paper) trains it for as many epochs as the "
                     f"{ref} run of the same start spent in all (its epochs_total), so that plain training and "
                     f"search get the same compute")
    if not parts:
        return "Baselines: none run."
    shared = (" Both are read off one training (the shorter is a prefix of the longer)." if len(parts) == 2
              else "")
    return "Baselines: " + "; ".join(parts) + "." + shared


def figure6_key(p: AblationParams) -> dict:
    """Figure 6's run: `example_dataset` (default: the first data set), `example_topology` (default: the last
    topology, an FFNN in the defaults, as the paper's large FFNN), the first seed's run 0, and the balanced mode
    α = 0.5 as the paper's (else the first search mode)."""
    dataset = p.example_dataset or p.datasets[0]  # AblationParams checks both are run and a search mode exists
    topology = p.example_topology or p.topologies[-1]
    searched = [m for m in p.modes if m in SEARCH_MODES]
    mode = "balanced_0.5" if "balanced_0.5" in searched else searched[0]
    return {"dataset": dataset, "topology": topology, "seed": p.seeds[0], "run": 0, "mode": mode}


def _of_run(frame: pd.DataFrame, key: dict) -> pd.DataFrame:
    mask = np.ones(len(frame), dtype=bool)
    for col, value in key.items():
        mask &= (frame[col] == value).to_numpy()
    return frame[mask]


def figure6_run(p: AblationParams, traces: pd.DataFrame, curves: pd.DataFrame) -> tuple[dict, pd.DataFrame,
                                                                                          pd.DataFrame]:
    """(key, lineage, baseline curve) of Figure 6's run: the final network's ancestry in that run's trace and
    plain training's validation curve on the same data set, topology, seed and run (the longer baseline; empty
    without a baseline)."""
    key = figure6_key(p)
    trace = _of_run(traces, key)
    if trace.empty:
        raise ValueError(f"no trace of Figure 6's run {key}: were the traces made with these parameters?")
    base = plain_curve(curves, {k: v for k, v in key.items() if k != "mode"})
    return key, lineage(trace), base


def epochs_saved_note(runs: pd.DataFrame) -> str:
    """The search runs' training saved by inheritance against retraining every candidate from scratch, beside
    the paper's claim, and the epochs the final networks received."""
    search_runs = runs[runs["mode"].isin(SEARCH_MODES)]
    if search_runs.empty:
        return "**Epochs saved.** No search run: nothing to compare."
    return (f"**Epochs saved.** Every candidate inherits its parent's training; retraining each candidate from "
            f"scratch to the epochs it received would have cost {search_runs.scratch_epochs.mean():,.0f} epochs per "
            f"run on average against {search_runs.epochs_total.mean():,.0f} spent: "
            f"{100 * search_runs.epochs_saved.mean():.0f}% saved (the paper: up to about "
            f"{100 * PAPER_EPOCHS_SAVED:.0f}%). The final networks received {search_runs.epochs_final.mean():.1f} "
            f"epochs on average (the paper's: {PAPER_FINAL_EPOCHS} of {PAPER_PROTOCOL['budget']:,.0f}).")


def accuracy_note(t12: pd.DataFrame, datasets, modes) -> str:
    """Per data set and mode (in the order asked): mean test accuracy and final parameters, from `tables12`."""
    g = t12.set_index(["dataset", "mode"])
    lines = []
    for d in datasets:
        parts = [f"{m} {g.loc[(d, m), 'test_acc']:.1f}% / {g.loc[(d, m), 'params'] / 1000:.1f}K"
                 for m in modes if (d, m) in g.index]
        lines.append(f"{d}: " + ", ".join(parts))
    return "**Test accuracy / final parameters (means).** " + "; ".join(lines) + "."


def majority_pct(labels) -> float:
    """The accuracy (%) of always answering the most frequent class of `labels`."""
    counts = np.bincount(np.asarray(labels, dtype=np.int64))
    return 100.0 * counts.max() / counts.sum()


def tabular_data_note(p: AblationParams, test_labels) -> str:
    """cross_topology's data line: test rows, the majority-class accuracy, and what the searches train on."""
    training = ("the full training split (class imbalance kept)" if p.train_per_class is None else
                f"class-balanced subsets of {p.train_per_class:,} rows per class")
    return (f"**Data.** Adult as 1×10×10 images: {len(test_labels):,} test rows, of which "
            f"{majority_pct(test_labels):.1f}% are the most frequent class (the accuracy of always answering it; "
            f"'<=50K' on the full test split); "
            f"training on {training}.")


# ------------------------------------------------------------------------------------------------- claims
# The ledger rows (issue 16) of the three ECToNAS notebooks: each claim as the paper states it, where, and how we
# decide it. Budgets and data differ from the paper's on the CPU profiles: `protocol_distance` and
# `baseline_mapping` write the row's distance and budget mapping from the parameters, so they stay true on every
# profile. Pure helpers turn the notebooks' tidy tables into per-run arrays (tested on small frames).
from resnas.claims import Claim  # noqa: E402  (the claims section depends on nothing above it)

NONGREEDY_MODES = ("balanced_0.5", "balanced_0")
# Within this many test-accuracy points of the baseline counts as "at least as well" (non-inferiority margin):
# about one of the paper's own per-data-set sds on (Fashion-)MNIST (1.4-2.2, Table 1), where its non-greedy
# rows sit ~3 points below the baseline and it still says "in almost all cases".
NONINFERIOR_MARGIN = 2.0
# "around 80%" of training saved: a saving within 10 points of it, or above, counts as around 80% or more.
EPOCHS_SAVED_MARGIN = 10.0

CLAIMS: dict[str, Claim] = {c.id: c for c in [
    Claim(id="ectonas.greedy_beats_baseline", paper="ECToNAS", where="ectonas.txt:151",
          quote="On the test set, ECToNAS outperforms the baseline in all cases",
          statement="Greedy ECToNAS (alpha = 1) reaches a higher test accuracy than plain training of the same "
                    "starting topology for the paper's fixed baseline length (a fifth of the search budget), "
                    "paired per data set, starting topology, seed and run (Table 1).",
          paper_figure="Table 1, E vs B: 54.2% vs 46.3% (CIFAR-10) ... 98.3% vs 97.6% (MNIST); overall 69.3% vs 64.0%",
          kind="greater", unit="test accuracy difference, greedy - baseline (points)",
          mapping="paper's baseline 200 epochs of a 1,000-epoch search budget (a fifth)"),
    Claim(id="ectonas.nongreedy_compresses", paper="ECToNAS", where="ectonas.txt:174",
          quote="the non-greedy settings yield drastically compressed networks (achieving compression rates "
                "between 80% and 90%)",
          statement="The non-greedy settings (alpha = 0.5 and 0) end with at least 80% fewer parameters than the "
                    "starting topology (per run, averaged over the two settings; Table 2 against Table 1's B "
                    "column, which is the starting size).",
          paper_figure="Table 2: overall 13 K (alpha 0.5) and 9 K (alpha 0) against 99 K (start) / 109 K (greedy)",
          kind="greater", null=80.0, unit="parameter reduction against the starting topology (%)"),
    Claim(id="ectonas.nongreedy_noninferior_baseline", paper="ECToNAS", where="ectonas.txt:174",
          quote="still in almost all cases manage to score at least as well as the baseline",
          statement="The non-greedy settings (alpha = 0.5 and 0, averaged per run) score at least as well as the "
                    f"paper's plain-training baseline, within a margin of {NONINFERIOR_MARGIN:g} test-accuracy "
                    "points (non-inferiority), paired per data set, topology, seed and run (Tables 1-2).",
          paper_figure="Table 2 vs Table 1 B: overall 64.6% / 64.1% vs 64.0%; (Fashion-)MNIST about 3 points below",
          kind="noninferior", margin=NONINFERIOR_MARGIN,
          unit="test accuracy difference, non-greedy - baseline (points)",
          mapping="paper's baseline 200 epochs of a 1,000-epoch search budget (a fifth)"),
    Claim(id="ectonas.greedy_beats_nongreedy", paper="ECToNAS", where="ectonas.txt:174",
          quote="beats the non-greedy versions wrt. final test accuracies by around 5-10 percentage points",
          statement="Greedy ECToNAS reaches a higher test accuracy than the non-greedy settings (alpha = 0.5 and "
                    "0, averaged per run), paired per data set, topology, seed and run; the paper puts the gap at "
                    "around 5-10 points (tested: above 0).",
          paper_figure="Table 2: overall 69.3% vs 64.6% / 64.1%",
          kind="greater", unit="test accuracy difference, greedy - non-greedy (points)"),
    Claim(id="ectonas.epochs_saved", paper="ECToNAS", where="ectonas.txt:164",
          quote="ECToNAS can save up to around 80% of training time",
          statement="Inheriting weights saves around 80% of the epochs that retraining every candidate from "
                    "scratch would cost (the introduction, :20: 'by around 80%'): per search run (greedy and "
                    f"non-greedy), the saving is non-inferior to 80% within {EPOCHS_SAVED_MARGIN:g} points.",
          paper_figure="up to around 80%",
          kind="noninferior", null=80.0, margin=EPOCHS_SAVED_MARGIN,
          unit="epochs saved against retraining every candidate from scratch (%)"),
    Claim(id="ectonas.structured_avg_pool_keeps_accuracy", paper="ECToNAS", where="ectonas.txt:294-298",
          quote="the proposed method works really well in case of average pooling",
          statement="Right after inserting a 2x2 average pool, before any retraining, the paper's structured "
                    "weight adaptation (window mean) keeps a higher validation accuracy than randomly cutting away "
                    "connections, paired per seed (Table 4).",
          paper_figure="Table 4, average pooling, no retraining: 89.1% (structured) vs 53.8% (random)",
          kind="greater", unit="validation accuracy after an avg pool, structured - random cut (points)"),
    Claim(id="ectonas.structured_max_pool_fails", paper="ECToNAS", where="ectonas.txt:294-298",
          quote="fails in case of max pooling, where it surprisingly achieves significantly worse results than "
                "just randomly cutting away connections",
          statement="Right after inserting a 2x2 max pool, before any retraining, the paper's structured weight "
                    "adaptation (largest-magnitude weight) keeps a lower validation accuracy than randomly cutting "
                    "away connections, paired per seed (Table 4).",
          paper_figure="Table 4, max pooling, no retraining: 13.4% (structured) vs 49.3% (random)",
          kind="less", unit="validation accuracy after a max pool, structured - random cut (points)"),
    Claim(id="ectonas.balanced_mlp_becomes_cnn", paper="ECToNAS", where="ectonas.txt:210-216",
          quote="in most cases do cross towards CNN for the same reason",
          statement="On the tabular Adult data (10x10 'images'), balanced ECToNAS (alpha = 0.5 and 0, pooled) ends "
                    "with a CNN in more than half of the runs that start from an MLP (Table 3): a share, with a "
                    "binomial (Clopper-Pearson) interval, tested against one half.",
          paper_figure="Table 3: 67 of 75 (alpha 0.5) and 74 of 75 (alpha 0) MLP starts crossed, 141 of 150",
          kind="greater", null=0.5, unit="share of MLP starts that end as a CNN, balanced modes"),
]}


def protocol_distance(same_data: bool, same_budget: bool) -> str:
    """A ledger row's distance from the paper's protocol."""
    if same_data and same_budget:
        return "same data and budget"
    return "proxy budget" if same_data else ("proxy data" if same_budget else "proxy data and budget")


def _full(*sizes) -> bool:
    return all(n is None for n in sizes)


def ablation_protocol(p: AblationParams, tabular: bool = False) -> str:
    """The distance of an ablation (or, `tabular`, cross_topology's Adult) profile from the paper's: its data
    (all six image sets, or Adult, in full) and its search budget (budget, warm-up, rounds, epochs per round)."""
    wanted = {"adult"} if tabular else set(PAPER_DATASETS)
    same_data = wanted <= set(p.datasets) and _full(p.train_per_class, p.val_per_class, p.test_per_class)
    same_budget = all(getattr(p, k) == v for k, v in PAPER_PROTOCOL.items())
    return protocol_distance(same_data, same_budget)


def baseline_mapping(p: AblationParams) -> str:
    """How the paper's 200-epoch baseline of a 1,000-epoch budget maps onto this profile's."""
    return (f"paper's baseline {PAPER_BASELINE_EPOCHS:g} of {PAPER_PROTOCOL['budget']:,.0f} search epochs (a "
            f"fifth) -> {p.baseline_epochs:g} of {p.budget:g} ({p.baseline_epochs / p.budget:.0%})")


def pooling_protocol(p: PoolingParams) -> str:
    """Pooling trials: the paper's data is full MNIST, its budget 25 pre-training epochs and one of retraining."""
    same_data = p.dataset == "mnist" and _full(p.train_per_class, p.val_per_class)
    return protocol_distance(same_data, p.pretrain_epochs == 25 and p.retrain_epochs == 1.0)


RUN_KEY = ["dataset", "topology", "seed", "run"]


def per_start(runs: pd.DataFrame, modes, value: str = "test_acc") -> pd.Series:
    """`value` per starting run (data set, topology, seed, run), averaged over `modes` (a name or a list);
    a start that lacks one of the modes is left out, so every value covers the same modes."""
    modes = [modes] if isinstance(modes, str) else list(modes)
    sub = runs[runs["mode"].isin(modes)]
    wide = sub.pivot_table(index=RUN_KEY, columns="mode", values=value, aggfunc="mean")
    wide = wide.reindex(columns=modes).dropna()
    return wide.mean(axis=1)


def paired_starts(runs: pd.DataFrame, a, b, value: str = "test_acc") -> tuple[np.ndarray, np.ndarray]:
    """(a, b): `value` of modes `a` and `b` (each a name or list, averaged) on the same starting runs, aligned."""
    both = pd.concat([per_start(runs, a, value).rename("a"), per_start(runs, b, value).rename("b")],
                     axis=1, join="inner")
    return both["a"].to_numpy(float), both["b"].to_numpy(float)


def compression_pct(runs: pd.DataFrame, modes=NONGREEDY_MODES) -> np.ndarray:
    """Per starting run: the final network's parameter reduction against the starting topology (%), averaged
    over `modes`."""
    r = runs.assign(reduction=100.0 * (1.0 - runs["params"] / runs["start_params"]))
    return per_start(r, modes, "reduction").to_numpy(float)


def epochs_saved_pct(runs: pd.DataFrame, modes=("greedy", *NONGREEDY_MODES)) -> np.ndarray:
    """Per search run of `modes`: the epochs saved against retraining every candidate from scratch (%)."""
    return 100.0 * runs.loc[runs["mode"].isin(modes), "epochs_saved"].to_numpy(float)


def seconds_of(runs: pd.DataFrame, modes) -> float:
    """Mean seconds per starting run of `modes` together (NaN without a `seconds` column). The two baselines
    share one training whose whole time each row carries: counted once."""
    modes = [modes] if isinstance(modes, str) else list(modes)
    if "seconds" not in runs or runs.empty:
        return float("nan")
    if any(m in BASELINE_MODES for m in modes):
        modes = [m for m in modes if m not in BASELINE_MODES] + [next(m for m in modes if m in BASELINE_MODES)]
    return float(sum(per_start(runs, m, "seconds").mean() for m in modes))


def pool_pair(trials: pd.DataFrame, pool: str, a: str = "paper", b: str = "random_cut",
              value: str = "none") -> tuple[np.ndarray, np.ndarray]:
    """(a, b): `value` (validation accuracy right after the pool, 'none', or after retraining) of adaptations
    `a` and `b` for one pool type, aligned by seed."""
    sub = trials[trials["pool"] == pool].pivot_table(index="seed", columns="adapt", values=value)
    for name in (a, b):
        if name not in sub:
            raise ValueError(f"adapt {name!r} was not run for pool {pool!r}; ran: {', '.join(sub.columns)}")
    sub = sub[[a, b]].dropna()
    return sub[a].to_numpy(float), sub[b].to_numpy(float)


def crossing_counts(runs: pd.DataFrame, start: str = "ffnn", modes=NONGREEDY_MODES) -> tuple[int, int]:
    """(crossed, runs): of the search runs in `modes` that start as `start` ('ffnn': no conv cell, or 'cnn'),
    how many end as the other type."""
    r = runs[runs["mode"].isin(modes)]
    starts_cnn = r["start_cells"] > 0
    r = r[starts_cnn] if start == "cnn" else r[~starts_cnn]
    crossed = (r["final_cells"] == 0) if start == "cnn" else (r["final_cells"] > 0)
    return int(crossed.sum()), int(len(r))


def binomial_share(k: int, n: int, null: float, power: float = 0.8, alpha: float = 0.025) -> dict:
    """A share k/n claimed to be above `null`: estimate, exact (Clopper-Pearson) 95% interval, the one-sided
    binomial p for 'above null' (p_holds) and 'below null' (p_contradicts), and the runs a one-sided test at
    `alpha` would need for `power` at the observed share (normal approximation; at a share of 1 the exact
    test's smallest n; NaN when the share is at or below the null, where more runs would not show the claim,
    or n = 0). `alpha` and `power` are the ledger's (`resnas.claims`: one-sided 2.5%, 80%)."""
    from scipy import stats

    if n == 0:
        nan = float("nan")
        return {"estimate": nan, "low": nan, "high": nan, "n": 0, "p_holds": nan, "p_contradicts": nan,
                "runs_needed": nan}
    share = k / n
    ci = stats.binomtest(k, n, null).proportion_ci(0.95, method="exact")
    p_hi = stats.binomtest(k, n, null, alternative="greater").pvalue
    p_lo = stats.binomtest(k, n, null, alternative="less").pvalue
    needed = float("nan")
    if null < share < 1:
        za, zb = stats.norm.ppf(1 - alpha), stats.norm.ppf(power)
        needed = float(np.ceil(((za * np.sqrt(null * (1 - null)) + zb * np.sqrt(share * (1 - share)))
                                / (share - null)) ** 2))
    elif share == 1 and 0 < null < 1:  # every run crossed: the exact test holds once null ** n < alpha
        needed = float(np.ceil(np.log(alpha) / np.log(null)))
    return {"estimate": share, "low": float(ci.low), "high": float(ci.high), "n": n, "p_holds": float(p_hi),
            "p_contradicts": float(p_lo), "runs_needed": needed}


def _undecided(claim: Claim, why: str, n_unit: str) -> dict:
    """A row for a claim this profile has no data for (a mode or adaptation not run): inconclusive, saying why."""
    from resnas.claims import decide_estimate

    nan = float("nan")
    return decide_estimate(claim, nan, nan, nan, 0, test="not run", p_holds=nan, n_unit=n_unit, note=why)


def _missing(wanted, have) -> list[str]:
    return [m for m in wanted if m not in set(have)]


def ablation_claim_rows(p: AblationParams, runs: pd.DataFrame) -> list[dict]:
    """ectonas_ablation's ledger rows: greedy vs the paper's baseline, the non-greedy settings' compression,
    non-inferiority to the baseline and distance to greedy, and the epochs saved. A unit is one starting run
    (data set, topology, seed, run) for the paired rows, one search run for the saving."""
    import dataclasses

    from resnas.claims import decide

    protocol, mapping = ablation_protocol(p), baseline_mapping(p)
    claim = {k: dataclasses.replace(CLAIMS[k], protocol=protocol) for k in CLAIMS}
    for k in ("ectonas.greedy_beats_baseline", "ectonas.nongreedy_noninferior_baseline"):
        claim[k] = dataclasses.replace(claim[k], mapping=mapping)
    nongreedy = [m for m in NONGREEDY_MODES if m in p.modes]
    unit = "starting runs"
    rows = []

    def paired(key, a, b, note):
        a, b = ([a] if isinstance(a, str) else list(a)), ([b] if isinstance(b, str) else list(b))
        gone = _missing(a + b, p.modes)
        if gone or not a or not b:
            return _undecided(claim[key], f"mode(s) {', '.join(gone) or 'non-greedy'} not run on this profile", unit)
        x, y = paired_starts(runs, a, b)
        return decide(claim[key], x, y, paired=True, n_unit=unit, seconds_per_run=seconds_of(runs, a + b),
                      note=note)

    rows.append(paired("ectonas.greedy_beats_baseline", "greedy", "baseline",
                       f"baseline = {p.baseline_epochs:g} epochs of plain training"))
    key = "ectonas.nongreedy_compresses"
    rows.append(decide(claim[key], compression_pct(runs, nongreedy), n_unit=unit,
                       seconds_per_run=seconds_of(runs, nongreedy), note=f"modes {', '.join(nongreedy)}")
                if nongreedy else _undecided(claim[key], "no non-greedy mode run on this profile", unit))
    rows.append(paired("ectonas.nongreedy_noninferior_baseline", nongreedy, "baseline",
                       f"modes {', '.join(nongreedy)} averaged per run"))
    rows.append(paired("ectonas.greedy_beats_nongreedy", "greedy", nongreedy,
                       f"modes {', '.join(nongreedy)} averaged per run"))
    key, searched = "ectonas.epochs_saved", [m for m in ("greedy", *NONGREEDY_MODES) if m in p.modes]
    saved = epochs_saved_pct(runs, searched)
    rows.append(decide(claim[key], saved, n_unit="search runs",
                       seconds_per_run=float(runs.loc[runs["mode"].isin(searched), "seconds"].mean()),
                       note=f"modes {', '.join(searched)}; every search run a unit")
                if searched else _undecided(claim[key], "no greedy or non-greedy search run", "search runs"))
    return rows


def pooling_claim_rows(p: PoolingParams, trials: pd.DataFrame, seconds_per_seed: float = float("nan")) -> list[dict]:
    """pooling_trials' ledger rows: the paper's structured adaptation against a random cut right after an average
    and a max pool, paired per seed (a seed: its own data split, network and training)."""
    import dataclasses

    from resnas.claims import decide

    rows = []
    for key, pool in (("ectonas.structured_avg_pool_keeps_accuracy", "avg"),
                      ("ectonas.structured_max_pool_fails", "max")):
        claim = dataclasses.replace(CLAIMS[key], protocol=pooling_protocol(p))
        gone = _missing(["paper", "random_cut"], p.adapts) + _missing([pool], p.pools)
        if gone:
            rows.append(_undecided(claim, f"{', '.join(gone)} not run on this profile", "seeds"))
            continue
        a, b = pool_pair(trials, pool, "paper", "random_cut")
        rows.append(decide(claim, a, b, paired=True, n_unit="seeds", seconds_per_run=seconds_per_seed,
                           note="structured = the paper's window mean / largest magnitude (adapt 'paper'); "
                                "random = a random subset of the dense layer's inputs (adapt 'random_cut')"))
    return rows


def crossing_claim_rows(p: AblationParams, runs: pd.DataFrame) -> list[dict]:
    """cross_topology's ledger row: the share of MLP starts that balanced ECToNAS turns into CNNs on Adult."""
    import dataclasses

    from resnas.claims import decide_estimate

    claim = dataclasses.replace(CLAIMS["ectonas.balanced_mlp_becomes_cnn"], protocol=ablation_protocol(p, True))
    modes = [m for m in NONGREEDY_MODES if m in p.modes]
    k, n = crossing_counts(runs, "ffnn", modes)
    if not n:
        return [_undecided(claim, "no balanced run from an MLP start on this profile", "runs")]
    s = binomial_share(k, n, claim.null)
    secs = runs.loc[runs["mode"].isin(modes) & (runs["start_cells"] == 0), "seconds"].mean()
    return [decide_estimate(claim, s["estimate"], s["low"], s["high"], n, test="exact binomial (one-sided)",
                            p_holds=s["p_holds"], p_contradicts=s["p_contradicts"], n_unit="runs",
                            runs_needed=s["runs_needed"], seconds_per_run=float(secs),
                            note=f"{k} of {n} MLP starts ended as a CNN (modes {', '.join(modes)})")]
