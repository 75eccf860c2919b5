"""ERA (era-thesis.txt): a search study over the 8-parameter ResNet space, and final training of what it found.

The notebooks `era_search` and `era_final` call these functions; everything they compute is reachable by tests.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pandas as pd

from resnas.data import DATASETS
from resnas.evaluate import BACKENDS
from resnas.params import check_low_lr_epochs, check_val_size, param, require

STRATEGY_NAMES = ("random", "local", "bayesian", "evolution", "regularized_evolution", "crossover_evolution")
LABELS = {"random": "Random Search", "local": "Local Search", "bayesian": "Bayesian Optimization",
          "evolution": "Evolution", "regularized_evolution": "Regularized Evolution",
          "crossover_evolution": "Crossover Evolution"}
# The two forms of Bayesian optimisation (resnas.search.bayesian): the SearchParams choice -> (strategy, label).
# The thesis ran the random-forest form (HyperMapper); tables name the form ours ran.
BAYESIAN = {"rf_ei": ("bayesian_rf", "RF-EI"), "tpe": ("bayesian", "TPE")}


def strategy_label(name: str, bayesian: str | None = None) -> str:
    """The table label of a strategy, e.g. 'Bayesian Optimization (RF-EI)' for name='bayesian', bayesian='rf_ei'."""
    return f"{LABELS[name]} ({BAYESIAN[bayesian][1]})" if name == "bayesian" and bayesian else LABELS[name]


def _thesis_key(model: pd.Series) -> pd.Series:
    """Our model label -> the thesis table's: both forms of Bayesian optimisation sit beside the thesis's row."""
    return model.replace({strategy_label("bayesian", b): LABELS["bayesian"] for b in BAYESIAN})

# The thesis's Tables 1 and 2 (CIFAR-10; layers, parameters, error %), for side-by-side comparison.
THESIS_TABLE1 = pd.DataFrame([
    ("ResNet-110 (baseline)", 110, 1.7e6, 7.5), ("Wide ResNet-110", 110, 6.9e6, 7.1),
    ("Random Search", 47, 0.92e6, 8.5), ("Local Search", 74, 1.4e6, 8.4),
    ("Bayesian Optimization", 52, 12.3e6, 7.3), ("Evolution", 41, 6.8e6, 7.0),
    ("Regularized Evolution", 80, 15.0e6, 6.7), ("Crossover Evolution", 36, 6.6e6, 8.5),
], columns=["model", "thesis_layers", "thesis_params", "thesis_test_error"])
THESIS_TABLE2 = pd.DataFrame([
    ("ResNet-110 (baseline)", 110, 1.7e6, 10.4), ("Wide ResNet-110", 110, 6.9e6, 19.9),
    ("Random Search", 47, 0.92e6, 11.7), ("Local Search", 74, 1.4e6, 10.7),
    ("Bayesian Optimization", 52, 12.3e6, 8.2), ("Evolution", 41, 6.8e6, 8.8),
    ("Regularized Evolution", 80, 15.0e6, 8.3), ("Crossover Evolution", 36, 6.6e6, 10.6),
], columns=["model", "thesis_layers", "thesis_params", "thesis_val_error"])


@dataclass(frozen=True)
class SearchParams:
    dataset: str = param("fashion_mnist", choices=DATASETS)
    val_size: float = param(0.1, gt=0.0, help="validation images: a fraction in (0, 1), or a count (thesis: 5000)")
    train_per_class: int | None = param(None, ge=1)
    val_per_class: int | None = param(None, ge=1)
    epochs: int = param(20, ge=1, le=1000, help="search fidelity (thesis: 20)")
    low_lr_epochs: int = param(3, ge=0, help="last epochs at lr/10 (thesis text: 3; its code: 2)")
    batch_size: int = param(128, ge=1, le=4096)
    lr: float = param(0.1, ge=1e-6, le=10.0)
    strategies: list[str] = param(list(STRATEGY_NAMES), choices=STRATEGY_NAMES)
    seeds: list[int] = param([0], ge=0, help="one search per strategy and seed")
    budget: int = param(200, ge=2, help="evaluations per search (thesis: 200)")
    population: int = param(50, ge=2, help="evolution population (thesis: 50)")
    local_samples: int = param(50, ge=1, help="random samples before local search (thesis: 50)")
    local_starts: int = param(10, ge=1, help="local searches from the best samples (thesis: 10)")
    filters: list[int] = param([1, 2, 4, 8, 16, 32], choices=(1, 2, 4, 8, 16, 32, 64),
                               help="initial-filter choices: thesis text [1..32]; its code added 64")
    max_depth: int = param(18, ge=1, le=18, help="largest section depth (thesis: 18)")
    max_params: int | None = param(None, ge=1, help="candidates above this fail (CPU profiles)")
    window: int = param(50, ge=1, help="window of the 'mean of the last N' curve (thesis: 50)")
    references: list[str] = param(["resnet110", "wide_resnet110"],
                                  choices=("resnet20", "resnet56", "resnet110", "wide_resnet110"), min_items=0,
                                  help="hand-designed networks also evaluated at search fidelity (Table 2)")
    train_seed: int = param(0, ge=0, help="training seed shared by every evaluation of the study")
    backend: str = param("inprocess", choices=BACKENDS, help="where trainings run; dask/ray: resnas.cluster")
    workers: int = param(1, ge=1, le=64, help="trainings at once; with backend process/dask/ray, also the "
                                                "candidates each search keeps in flight (resnas.search.run_search)")
    device: str = param("auto", choices=("auto", "cpu", "cuda"))
    bayesian: str = param("rf_ei", choices=tuple(BAYESIAN),
                          help="'rf_ei': random forest + expected improvement (SMAC3), the thesis's HyperMapper form; "
                               "'tpe': Optuna's TPE")

    def __post_init__(self):
        check_val_size(self.val_size, self.dataset)
        check_low_lr_epochs(self.low_lr_epochs, self.epochs)
        require(self.window <= self.budget, f"window={self.window} must not exceed budget={self.budget} (it "
                                            f"averages the last evaluations of a search); allowed: 1 to {self.budget}")
        evolutions = [s for s in self.strategies if s.endswith("evolution")]
        if evolutions:
            # The initial population is drawn without repeats: a larger one than the space holds never ends,
            # and one as large as the budget leaves no evaluation for a child (evolution = random search).
            distinct = make_space(self).distinct_size()
            require(self.population <= distinct,
                    f"population={self.population} exceeds the {distinct} distinct networks of the space (filters="
                    f"{list(self.filters)}, max_depth={self.max_depth}) that {', '.join(evolutions)} draw without "
                    f"repeats; allowed: 2 to {distinct}")
            require(self.population < self.budget,
                    f"population={self.population} must be below budget={self.budget} so that {evolutions[0]} "
                    f"makes a child; allowed: 2 to {self.budget - 1}")
        if "local" in self.strategies:
            require(self.local_starts <= self.local_samples,
                    f"local_starts={self.local_starts} must not exceed local_samples={self.local_samples} (starts "
                    f"are the best samples); allowed: 1 to {self.local_samples}")
            require(self.local_samples < self.budget,
                    f"local_samples={self.local_samples} must be below budget={self.budget} so that local search "
                    f"takes a step; allowed: 1 to {self.budget - 1}")


@dataclass(frozen=True)
class FinalParams:
    search_results: str = param("", help="folder of an era_search run (default: results/<profile>/era_search)")
    dataset: str = param("fashion_mnist", choices=DATASETS)
    train_per_class: int | None = param(None, ge=1)
    test_per_class: int | None = param(None, ge=1)
    epochs: int = param(164, ge=1, le=1000, help="thesis A.3: 164, rate /10 at 50% and 75%")
    batch_size: int = param(128, ge=1, le=4096)
    lr: float = param(0.1, ge=1e-6, le=10.0)
    references: list[str] = param(["resnet110", "wide_resnet110"],
                                  choices=("resnet20", "resnet56", "resnet110", "wide_resnet110"), min_items=0)
    seeds: list[int] = param([0], ge=0, help="repeated final trainings per network")
    max_params: int | None = param(None, ge=1)
    backend: str = param("inprocess", choices=BACKENDS, help="where trainings run; dask/ray: resnas.cluster")
    workers: int = param(1, ge=1, le=64)
    device: str = param("auto", choices=("auto", "cpu", "cuda"))





# ---------------------------------------------------------------------------------------------- search study
def make_space(p: SearchParams):
    """The ERA space of a study's `filters` and `max_depth` (era_search's, or ranking_predictor's)."""
    from resnas.runlog import log_event
    from resnas.spaces.era import EraSpace

    log_event("space", space="era", filters=list(p.filters), max_depth=p.max_depth)
    return EraSpace(filters_choices=tuple(p.filters), max_depth=p.max_depth)


def make_strategy(name: str, space, seed: int, p: SearchParams):
    from resnas.search import STRATEGIES

    kwargs = {"space": space, "seed": seed}
    if name in ("evolution", "regularized_evolution", "crossover_evolution"):
        kwargs["population_size"] = p.population
    if name == "local":
        kwargs.update(n_samples=p.local_samples, n_starts=p.local_starts)
    if name == "bayesian":  # the form chosen by p.bayesian: SMAC3's RF-EI or Optuna's TPE
        name = BAYESIAN[p.bayesian][0]
    return STRATEGIES[name](**kwargs)


def search_workers(p: SearchParams) -> int:
    """Candidates a search keeps in flight: `workers` where trainings run in parallel, else 1 (the serial loop,
    whose trajectories are those of a one-at-a-time search)."""
    return 1 if p.backend == "inprocess" else p.workers


def run_study(p: SearchParams, evaluator, progress: bool = True) -> pd.DataFrame:
    """Every strategy x seed as its own search, all through one evaluator (so no network is trained twice).
    Returns the tidy trial table: strategy, model (its table label, naming the form of Bayesian optimisation),
    seed, index, config, fitness (validation error %), layers, params, train_seconds, elapsed (cumulative
    training seconds of that search, as if it had run alone), cached.

    With `search_workers(p)` > 1 each search keeps that many candidates in flight: it asks for a batch, the
    evaluator trains it at once (packing the GPU) and commits each record as it finishes, and the results are
    told in the order asked, so the study repeats itself exactly (the parallel forms: resnas.search)."""
    from resnas.search import BatchObjective, run_search

    def result(rec):
        return rec.fitness, {"params": rec.params, "train_seconds": rec.wall_time, "cached": rec.cached,
                             "status": rec.status, "flops": rec.flops, "key": rec.key}

    def objective(cfg):
        return result(evaluator.evaluate("era", cfg))

    batch = BatchObjective(lambda cfgs: [result(r) for r in evaluator.map([("era", c) for c in cfgs],
                                                                             progress=False)])
    workers = search_workers(p)
    space = make_space(p)
    rows = []
    for seed in p.seeds:
        for name in p.strategies:
            trials = run_search(make_strategy(name, space, seed, p), objective if workers == 1 else batch, p.budget,
                                progress=progress, workers=workers)
            elapsed = 0.0
            for t in trials:
                elapsed += t.info["train_seconds"]
                rows.append({"strategy": name, "model": strategy_label(name, p.bayesian), "seed": seed,
                             "index": t.index, "config": t.config.to_json(), "fitness": t.fitness,
                             "layers": t.config.layers, **t.info, "elapsed": elapsed})
    return pd.DataFrame(rows)


def search_curves(trials: pd.DataFrame, window: int = 50) -> pd.DataFrame:
    """Per search, after each evaluation: best so far (Fig. 5a), running mean of all (5b), mean of the last
    `window` (5c). Failed candidates (inf) are left out of the means, as they have no error to average."""
    out = []
    for (strategy, seed), g in trials.sort_values("index").groupby(["strategy", "seed"], sort=False):
        f = g.fitness.replace(math.inf, np.nan)
        out.append(pd.DataFrame({
            "strategy": strategy, "seed": seed, "index": g["index"].values,
            "best_so_far": f.cummin().values,
            "running_mean": f.expanding().mean().values,
            f"mean_last_{window}": f.rolling(window, min_periods=1).mean().values,
        }))
    return pd.concat(out, ignore_index=True)


def best_per_search(trials: pd.DataFrame) -> pd.DataFrame:
    """The best candidate of each search (Table 2's rows)."""
    ok = trials[np.isfinite(trials.fitness)]
    idx = ok.groupby(["strategy", "seed"]).fitness.idxmin()
    best = ok.loc[idx, ["strategy", "seed", "config", "fitness", "layers", "params", "index"]]
    best = best.rename(columns={"fitness": "val_error", "index": "found_at"})
    # run_study's label (it names the form of Bayesian optimisation); older trial tables have none
    best.insert(0, "model", (ok.loc[idx, "model"] if "model" in ok else best.strategy.map(LABELS)).values)
    return best.reset_index(drop=True)


def reference_rows(evaluator, references) -> pd.DataFrame:
    """The hand-designed references evaluated at the search fidelity, in `best_per_search`'s shape."""
    rows = []
    for name in references:
        cfg = reference_config(name)
        rec = evaluator.evaluate("era", cfg)
        rows.append({"model": REFERENCE_LABELS[name], "strategy": "reference", "seed": 0, "config": cfg.to_json(),
                     "val_error": rec.fitness, "layers": cfg.layers, "params": rec.params, "found_at": -1})
    return pd.DataFrame(rows)


def table2(best: pd.DataFrame) -> pd.DataFrame:
    """Our search-fidelity results beside the thesis's Table 2 (mean ± sd over seeds when several)."""
    agg = best.groupby("model", sort=False).agg(layers=("layers", "first"), params=("params", "first"),
                                               val_error=("val_error", "mean"),
                                               val_error_sd=("val_error", "std"), searches=("seed", "count"))
    agg = agg.reset_index()
    return agg.assign(thesis_key=_thesis_key(agg.model)).merge(
        THESIS_TABLE2.rename(columns={"model": "thesis_key"}), on="thesis_key", how="left").drop(columns="thesis_key")


# ---------------------------------------------------------------------------------------------- final training
REFERENCE_LABELS = {"resnet20": "ResNet-20", "resnet56": "ResNet-56", "resnet110": "ResNet-110 (baseline)",
                    "wide_resnet110": "Wide ResNet-110"}


def reference_config(name: str):
    from resnas.spaces.era import EraConfig

    depth = {"resnet20": 3, "resnet56": 9, "resnet110": 18, "wide_resnet110": 18}[name]
    filters = 32 if name == "wide_resnet110" else 16
    return EraConfig("basic", (0, depth, depth, depth), filters, 2, 32).canonical()


def final_candidates(best: pd.DataFrame, references: tuple[str, ...]) -> pd.DataFrame:
    """The networks to train fully: the best of each strategy (best over its seeds) plus the references."""
    from resnas.spaces.era import EraConfig

    rows = []
    for model, g in best.groupby("model", sort=False):
        top = g.sort_values("val_error").iloc[0]
        rows.append({"model": model, "config": top.config, "search_val_error": top.val_error})
    for ref in references:
        rows.append({"model": REFERENCE_LABELS[ref], "config": reference_config(ref).to_json(),
                     "search_val_error": np.nan})
    df = pd.DataFrame(rows)
    df["layers"] = [EraConfig.from_json(c).layers for c in df.config]
    return df


def final_spec_recipe(p: FinalParams):
    """Final training as the thesis's A.3: all training images (train + validation), evaluated on the test split
    every epoch (plotted; nothing is selected on it, the last epoch's error is reported), SGD with the rate /10 at
    50% and 75% of the epochs."""
    from resnas.data import DataSpec
    from resnas.train import TrainRecipe

    spec = DataSpec(name=p.dataset, split="test", train_per_class=p.train_per_class, test_per_class=p.test_per_class)
    recipe = TrainRecipe(epochs=p.epochs, batch_size=p.batch_size, lr=p.lr, schedule="step", milestones=(0.5, 0.75),
                         max_params=p.max_params)
    return spec, recipe


def final_trainings(p: FinalParams, candidates: pd.DataFrame, evaluator_at) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Train every candidate once per seed in `p.seeds`; `evaluator_at(seed)` gives an Evaluator (or anything with
    its `map`). Returns (finals: one row per model and seed with its last-epoch test error %, curves: every
    epoch's test error % and training loss per model and seed)."""
    from resnas.evaluate import history_frame

    rows, curves = [], []
    for seed in p.seeds:
        records = evaluator_at(seed).map([("era", c) for c in candidates.config])
        for cand, rec in zip(candidates.itertuples(), records):
            rows.append({"model": cand.model, "seed": seed, "layers": cand.layers, "params": rec.params,
                         "status": rec.status, "test_error": rec.fitness, "search_val_error": cand.search_val_error,
                         "train_seconds": rec.wall_time})
            if rec.history:
                curves.append(history_frame([rec]).assign(model=cand.model, seed=seed))
    curves = (pd.concat(curves, ignore_index=True) if curves
              else pd.DataFrame(columns=["key", "epoch", "val_acc", "model", "seed"], dtype=float))
    curves["test_error"] = 100 * (1 - curves["val_acc"])  # split='test': the engine's eval split is the test set
    return pd.DataFrame(rows), curves


def table1(finals: pd.DataFrame) -> pd.DataFrame:
    """Final test error (mean ± sd over seeds) beside the thesis's Table 1."""
    agg = finals.groupby("model", sort=False).agg(layers=("layers", "first"), params=("params", "first"),
                                                 test_error=("test_error", "mean"),
                                                 test_error_sd=("test_error", "std"), runs=("seed", "count"))
    agg = agg.reset_index()
    return agg.assign(thesis_key=_thesis_key(agg.model)).merge(
        THESIS_TABLE1.rename(columns={"model": "thesis_key"}), on="thesis_key", how="left").drop(columns="thesis_key")
