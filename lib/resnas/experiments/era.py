"""ERA (era-thesis.txt): a search study over the 8-parameter ResNet space, and final training of what it found.

The notebooks `era_search` and `era_final` call these functions; everything they compute is reachable by tests.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pandas as pd

from resnas.claims import Claim
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
# Where a study's evaluations come from: 'train' trains every network (through the archive); 'table' looks it up
# in a tabular benchmark (resnas.tabular, issue 14), training nothing.
LANES = ("train", "table")
# Hand-designed references: ResNet-14 (depth 2 per section) is the deepest plain ResNet inside the table's
# subspace (sections of at most 2 blocks), the table lane's stand-in for ResNet-110.
REFERENCES = ("resnet14", "resnet20", "resnet56", "resnet110", "wide_resnet110")


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
    references: list[str] = param(["resnet110", "wide_resnet110"], choices=REFERENCES, min_items=0,
                                  help="hand-designed networks also evaluated at search fidelity (Table 2)")
    train_seed: int = param(0, ge=0, help="training seed shared by every evaluation of the study")
    backend: str = param("inprocess", choices=BACKENDS, help="where trainings run; dask/ray: resnas.cluster")
    workers: int = param(1, ge=1, le=64, help="trainings at once; with backend process/dask/ray, also the "
                                                "candidates each search keeps in flight (resnas.search.run_search)")
    device: str = param("auto", choices=("auto", "cpu", "cuda"))
    bayesian: str = param("rf_ei", choices=tuple(BAYESIAN),
                          help="'rf_ei': random forest + expected improvement (SMAC3), the thesis's HyperMapper form; "
                               "'tpe': Optuna's TPE")
    lane: str = param("train", choices=LANES,
                      help="'train': every evaluation trains a network; 'table': looked up in `table` at "
                           "`table_epochs`, nothing trained (the training parameters must then be the table's)")
    table: str = param("era_fmnist14", help="lane 'table': the table's name in lib/resnas/tables/ (resnas.tabular)")
    table_epochs: int = param(6, ge=1, le=1000, help="lane 'table': the table budget searched, its E (the search "
                                                      "fidelity: table E=6 epochs <-> thesis 20)")

    def __post_init__(self):
        check_val_size(self.val_size, self.dataset)
        check_low_lr_epochs(self.low_lr_epochs, self.epochs)
        if self.lane == "table":
            check_table_lane(self)
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
    references: list[str] = param(["resnet110", "wide_resnet110"], choices=REFERENCES, min_items=0)
    seeds: list[int] = param([0], ge=0, help="repeated final trainings per network")
    max_params: int | None = param(None, ge=1)
    backend: str = param("inprocess", choices=BACKENDS, help="where trainings run; dask/ray: resnas.cluster")
    workers: int = param(1, ge=1, le=64)
    device: str = param("auto", choices=("auto", "cpu", "cuda"))
    lane: str = param("train", choices=LANES,
                      help="'train': Table 1, the final training of each strategy's pick (thesis A.3); 'table': "
                           "the real-training check of a table-lane search: the table's best networks, the "
                           "strategies' picks and a few others retrained with new seeds at the table's recipe")
    table: str = param("era_fmnist14", help="lane 'table': the table the search looked up")
    table_epochs: int = param(6, ge=1, le=1000, help="lane 'table': the table budget retrained (the search's E)")
    check_top: int = param(4, ge=1, le=50, help="lane 'table': the table's best networks retrained")
    check_quantiles: list[float] = param([0.75, 0.5, 0.25], gt=0.0, lt=1.0, min_items=0,
                                         help="lane 'table': networks at these quantiles of the table's accuracy "
                                              "(ranked from the worst), to show the ranking beyond the top")
    check_pool: int = param(5, ge=1, le=100, help="lane 'table': at a quantile, the cheapest (stored training time) "
                                                  "of this many nearest networks is retrained")
    check_seeds: list[int] = param([2], ge=0, help="lane 'table': the new training seeds (none of the table's)")

    def __post_init__(self):
        if self.lane == "table":
            from resnas.tabular import table_identity

            identity = table_identity(self.table)
            require(bool(identity), f"lane='table': table={self.table!r} is not installed; allowed: an installed "
                                    f"table (e.g. 'era_fmnist14') or lane='train'")
            budgets = sorted({int(identity["recipe"]["epochs"]), int(identity["long_epochs"])})
            require(self.table_epochs in budgets, f"lane='table': table_epochs={self.table_epochs} is not a budget "
                                                  f"of table {self.table!r}; allowed: {budgets}")
            old = sorted(set(self.check_seeds) & set(identity["seeds"]))
            require(not old, f"lane='table': check_seeds={list(self.check_seeds)} includes the table's own seed(s) "
                             f"{old}: the check retrains with new seeds; allowed: seeds other than "
                             f"{identity['seeds']}")
            require(len(self.check_seeds) >= 1, "lane='table': check_seeds is empty; allowed: one or more new seeds")
            check_references_in_table(self.references, identity)


# ---------------------------------------------------------------------------------------------- search study
def check_references_in_table(references, identity: dict) -> None:
    """A reference network must lie inside the table's subspace (lane 'table' looks it up or retrains it there)."""
    from resnas.tabular import subspace_of

    space = subspace_of(identity)
    for ref in references:
        try:
            space.validate(reference_config(ref))
        except ValueError:
            raise ValueError(f"lane='table': references={list(references)}: {ref} lies outside the table's "
                             f"subspace (sections of at most {space.max_depth} blocks, filters "
                             f"{list(space.filters_choices)}); allowed: resnet14 or none") from None


def make_space(p: SearchParams):
    """The ERA space of a study's `filters` and `max_depth` (era_search's, or ranking_predictor's); on lane
    'table', the table's subspace (its group sizes too), whose networks the table holds or will hold."""
    from resnas.runlog import log_event
    from resnas.spaces.era import EraSpace

    log_event("space", space="era", filters=list(p.filters), max_depth=p.max_depth)
    if getattr(p, "lane", "train") == "table":
        from resnas.tabular import subspace_of, table_identity

        return subspace_of(table_identity(p.table))
    return EraSpace(filters_choices=tuple(p.filters), max_depth=p.max_depth)


# The table lane's training parameters, checked against the table's identity (resnas.tabular.table_identity).
_TABLE_KEYS = ("filters", "max_depth", "dataset", "val_size", "train_per_class", "val_per_class", "epochs",
               "low_lr_epochs", "batch_size", "lr", "max_params")


def table_lane_values(identity: dict, table_epochs: int) -> dict:
    """What a lane-'table' study's training parameters must be: the table's subspace, data and recipe at
    `table_epochs` (its short budget E or its long one)."""
    data, rec = identity["data"], identity["recipe"]
    return {"filters": list(identity["filters"]), "max_depth": int(identity["max_depth"]), "dataset": data["name"],
            "val_size": data["val_size"], "train_per_class": data["train_per_class"],
            "val_per_class": data["val_per_class"], "epochs": table_epochs,
            "low_lr_epochs": rec["low_lr_epochs"] if table_epochs == rec["epochs"] else identity["long_low_lr_epochs"],
            "batch_size": rec["batch_size"], "lr": rec["lr"], "max_params": rec["max_params"]}


def check_table_lane(p: SearchParams) -> None:
    """lane='table': the table is installed, `table_epochs` is one of its budgets, and the study's training
    parameters (subspace, data, recipe) are the table's, so that `lane=train` on the same profile trains the
    very study the table answers (one parameter away). A parameter that disagrees is an error naming it and the
    table's value: never silently ignored. References must lie inside the table's subspace."""
    from resnas.tabular import table_identity

    identity = table_identity(p.table)
    require(bool(identity), f"lane='table': table={p.table!r} is not installed (neither lib/resnas/tables/"
                            f"{p.table}.parquet nor its parts); allowed: an installed table (e.g. 'era_fmnist14') "
                            f"or lane='train'")
    budgets = sorted({int(identity["recipe"]["epochs"]), int(identity["long_epochs"])})
    require(p.table_epochs in budgets, f"lane='table': table_epochs={p.table_epochs} is not a budget of table "
                                       f"{p.table!r}; allowed: {budgets}")
    want = table_lane_values(identity, p.table_epochs)
    for key in _TABLE_KEYS:
        have = getattr(p, key)
        have = list(have) if isinstance(have, (list, tuple)) else have
        require(have == want[key], f"lane='table': {key}={have!r} disagrees with table {p.table!r}, whose {key} is "
                                   f"{want[key]!r}; allowed: {want[key]!r} (the table's, so that lane='train' trains "
                                   f"the same study), or lane='train'")
    check_references_in_table(p.references, identity)


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
    whose trajectories are those of a one-at-a-time search; always on lane 'table', where nothing trains)."""
    return 1 if p.backend == "inprocess" or getattr(p, "lane", "train") == "table" else p.workers


def run_study(p: SearchParams, evaluator, progress: bool = True, space=None) -> pd.DataFrame:
    """Every strategy x seed as its own search. `evaluator`: one evaluator for every search (lane 'train': one
    archive, so no network is trained twice), or a function `seed -> evaluator` (lane 'table': each seed its
    own `TabularObjective`, `TableLane.at`). `space`: the space searched (default `make_space(p)`).
    Returns the tidy trial table: strategy, model (its table label, naming the form of Bayesian optimisation),
    seed, index, config, fitness (validation error %), layers, params, train_seconds, elapsed (cumulative
    training seconds of that search, as if it had run alone; on the table: the stored ones), cached.

    With `search_workers(p)` > 1 each search keeps that many candidates in flight: it asks for a batch, the
    evaluator trains it at once (packing the GPU) and commits each record as it finishes, and the results are
    told in the order asked, so the study repeats itself exactly (the parallel forms: resnas.search)."""
    from resnas.search import BatchObjective, run_search

    def result(rec):
        return rec.fitness, {"params": rec.params, "train_seconds": rec.wall_time, "cached": rec.cached,
                             "status": rec.status, "flops": rec.flops, "key": rec.key}

    workers = search_workers(p)
    space = make_space(p) if space is None else space
    per_seed = not hasattr(evaluator, "evaluate")  # a function seed -> evaluator
    rows = []
    for seed in p.seeds:
        ev = evaluator(seed) if per_seed else evaluator
        objective = lambda cfg, ev=ev: result(ev.evaluate("era", cfg))  # noqa: E731
        batch = BatchObjective(lambda cfgs, ev=ev: [result(r) for r in ev.map([("era", c) for c in cfgs],
                                                                               progress=False)])
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


class TableLane:
    """The table lane's evaluators (issue 14): search seed s asks `at(s)`, a `TabularObjective` with seed=s, which
    answers each network from its s-th stored training modulo the trainings it has. So searches repeated over
    seeds see the table's seed noise where it has a second seed, and the strategies of one seed see the same
    run of a network (common random numbers, as one archive gives them on lane 'train'). Nothing is trained.

    The objectives share one lookup, built once, and its cache of answers keyed by (network, stored run), which
    is all an answer depends on (`TabularObjective.with_seed`): fifty seeds cost one table's worth of lookups."""

    def __init__(self, p: SearchParams, table: pd.DataFrame | None = None):
        from resnas.tabular import TabularObjective, load_table, table_space

        self.table = load_table(p.table) if table is None else table
        self.epochs = p.table_epochs
        self.objective = TabularObjective(self.table, epochs=p.table_epochs)
        self.space = table_space(self.objective)
        rows = self.table[self.table.budget == p.table_epochs]
        self.runs = rows.groupby("config").seed.nunique().to_dict()  # stored trainings per network

    @property
    def lookups(self) -> int:
        """Distinct stored runs read from the table (the rest were answered from the shared cache)."""
        return self.objective.answered

    @property
    def networks(self) -> int:
        return len(self.space.members)

    @property
    def subspace_networks(self) -> int:
        return self.space.base.distinct_size()

    def status(self) -> str:
        """'N of M networks' (and 'partial' while a generation is in progress)."""
        n, m = self.networks, self.subspace_networks
        return f"{n} of {m} networks" + ("" if n >= m else " (partial table: a generation in progress)")

    def holds(self, config) -> bool:
        return config.canonical().to_json() in self.runs

    def at(self, seed: int) -> "TableSeed":
        return TableSeed(self, seed)

    def optimum(self, seed: int) -> float:
        """The lowest validation error (%) any network of the table gives at `seed` (its stored runs)."""
        view = self.at(seed)
        return min(view.evaluate("era", c).fitness for c in self.space.ordered)


class TableSeed:
    """One seed's view of a `TableLane`: `evaluate` / `map` as `resnas.evaluate.Evaluator`, answered by the
    lane's `TabularObjective.with_seed(seed)` (sharing its lookup and its cache of answers)."""

    def __init__(self, lane: TableLane, seed: int):
        self.lane, self.seed = lane, seed
        self.objective = lane.objective.with_seed(seed)  # the lookup is shared; only the seed differs

    def evaluate(self, space, config):
        return self.objective.evaluate(space, config)

    __call__ = evaluate

    def map(self, items, progress: bool | None = None, desc: str = ""):
        return [self.evaluate(s, c) for s, c in items]


def table_study(p: SearchParams, table: pd.DataFrame | None = None, progress: bool = False):
    """Lane 'table': `run_study` over the table's networks (`TableSpace`), each search seed answered by its own
    `TabularObjective` (`TableLane.at`). Returns (trials, lane)."""
    if p.lane != "table":
        raise ValueError(f"lane={p.lane!r}: table_study runs lane 'table'; allowed: lane='table' (lane 'train': "
                         f"run_study with an Evaluator)")
    lane = TableLane(p, table)
    return run_study(p, lane.at, progress=progress, space=lane.space), lane


def compact_trials(trials: pd.DataFrame) -> pd.DataFrame:
    """A table-lane trial table as published: without the columns a lookup makes redundant (key: config and
    seed; cached: always; status, flops; model: the strategy's label) and with floats rounded (errors to 4
    decimals, seconds to 2)."""
    out = trials.drop(columns=[c for c in ("key", "cached", "status", "flops", "model") if c in trials])
    return out.round({"fitness": 4, "train_seconds": 2, "elapsed": 2})


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


def reference_rows(evaluator, references, holds=None) -> pd.DataFrame:
    """The hand-designed references evaluated at the search fidelity, in `best_per_search`'s shape. `holds`
    (lane 'table': `TableLane.holds`): a reference it refuses (not yet in a partial table) is left out."""
    rows = []
    for name in references:
        cfg = reference_config(name)
        if holds is not None and not holds(cfg):
            continue
        rec = evaluator.evaluate("era", cfg)
        rows.append({"model": REFERENCE_LABELS[name], "strategy": "reference", "seed": 0, "config": cfg.to_json(),
                     "val_error": rec.fitness, "layers": cfg.layers, "params": rec.params, "found_at": -1})
    return pd.DataFrame(rows)


def mean_interval(values, n_resamples: int = 2000, seed: int = 0) -> tuple[float, float]:
    """95% percentile-bootstrap interval of the mean of `values` (NaN with fewer than 2 finite values)."""
    v = np.asarray(values, dtype=float)
    v = v[np.isfinite(v)]
    if len(v) < 2:
        return float("nan"), float("nan")
    means = v[np.random.default_rng(seed).integers(len(v), size=(n_resamples, len(v)))].mean(axis=1)
    return float(np.percentile(means, 2.5)), float(np.percentile(means, 97.5))


def table2(best: pd.DataFrame) -> pd.DataFrame:
    """Our search-fidelity results beside the thesis's Table 2: mean ± sd over seeds when several, and the 95%
    bootstrap interval of that mean (val_error_low, val_error_high; NaN with one search)."""
    agg = best.groupby("model", sort=False).agg(layers=("layers", "first"), params=("params", "first"),
                                               val_error=("val_error", "mean"),
                                               val_error_sd=("val_error", "std"), searches=("seed", "count"))
    ci = {m: mean_interval(g.val_error) for m, g in best.groupby("model", sort=False)}
    agg["val_error_low"] = [ci[m][0] for m in agg.index]
    agg["val_error_high"] = [ci[m][1] for m in agg.index]
    agg = agg.reset_index()
    return agg.assign(thesis_key=_thesis_key(agg.model)).merge(
        THESIS_TABLE2.rename(columns={"model": "thesis_key"}), on="thesis_key", how="left").drop(columns="thesis_key")


def strategy_ranking(best: pd.DataFrame, optimum: dict) -> pd.DataFrame:
    """The table lane's headline: per strategy, the mean over search seeds of its best validation error and its
    regret (best found - the table's best at that seed's stored runs, `optimum`: seed -> error %), each with a
    95% bootstrap interval, and the share of searches that found the table's best network. Sorted by regret."""
    ok = best[best.strategy.isin(STRATEGY_NAMES)].copy()
    ok["regret"] = ok.val_error - ok.seed.map(optimum)
    rows = []
    for (model, strategy), g in ok.groupby(["model", "strategy"], sort=False):
        lo, hi = mean_interval(g.val_error)
        rlo, rhi = mean_interval(g.regret)
        rows.append({"model": model, "strategy": strategy, "searches": len(g), "val_error": g.val_error.mean(),
                     "val_error_low": lo, "val_error_high": hi, "regret": g.regret.mean(), "regret_low": rlo,
                     "regret_high": rhi, "found_best_share": float((g.regret <= 1e-9).mean())})
    return pd.DataFrame(rows).sort_values(["regret", "model"]).reset_index(drop=True)


def samples_by_time(trials: pd.DataFrame, bins: int = 12) -> pd.DataFrame:
    """Figure 4 over many seeds: every finite evaluation with `minutes`, the centre of its bin of elapsed
    training time (equal bins from 0 to the median over searches of their total time, later ones in the last
    bin), so a plot can draw each strategy's median error per bin with a band over the samples of all seeds."""
    ok = _finite(trials).copy()
    horizon = float(trials.groupby(["strategy", "seed"]).elapsed.max().median()) / 60
    edges = np.linspace(0, horizon, bins + 1)
    idx = np.clip(np.digitize(ok.elapsed / 60, edges) - 1, 0, bins - 1)
    ok["minutes"] = (edges[idx] + edges[idx + 1]) / 2
    return ok


# ---------------------------------------------------------------------------------------------- final training
REFERENCE_LABELS = {"resnet14": "ResNet-14", "resnet20": "ResNet-20", "resnet56": "ResNet-56",
                    "resnet110": "ResNet-110 (baseline)",
                    "wide_resnet110": "Wide ResNet-110"}


def reference_config(name: str):
    from resnas.spaces.era import EraConfig

    depth = {"resnet14": 2, "resnet20": 3, "resnet56": 9, "resnet110": 18, "wide_resnet110": 18}[name]
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


# ---------------------------------------------------------------------------------------------- claims (#16)
# The thesis's claims about its searches (era_search) and its final trainings (era_final), each decided per
# seed by `resnas.claims` in the notebook's claims section. `where` and `quote` point into
# ../shared/papers/era-thesis.txt; a test checks every quote against the text.
CLAIMS = {c.id: c for c in (
    Claim("era.guided_better_on_average", "ERA", "era-thesis.txt:439",
          "the guided searches on average finds better solutions",
          "At search fidelity, the networks the guided searches (local search, Bayesian optimisation, the three "
          "evolutions) evaluate have a lower mean validation error than those random search evaluates, under "
          "the same evaluation budget (thesis Figure 5b: running mean of each search).",
          "Figure 5b (curves, no number)", "less",
          "mean validation error of all evaluations, guided (mean of the five searches) - random (points)"),
    Claim("era.gap_grows_late", "ERA", "era-thesis.txt:439",
          "the difference is bigger between the guided searches and random search in the later parts of the "
          "procedure",
          "The gap in mean validation error between random search and the guided searches (random - guided) is "
          "larger in the second half of each search's evaluations than in the first (thesis Figure 5c: mean of "
          "the last N).",
          "Figure 5c (curves, no number)", "greater",
          "gap (random - guided mean error, points) in the second half - gap in the first half"),
    Claim("era.bo_best_at_search_fidelity", "ERA", "era-thesis.txt:428",
          "Bayesian optimization finds the best architecture",
          "At search fidelity, Bayesian optimisation's best network has a lower validation error than the best "
          "network of every other strategy (thesis: it slightly outperforms evolution and regularized evolution).",
          "Table 2: 8.2% (Bayesian optimisation) vs 8.3% (regularized evolution) validation error", "less",
          "best validation error, Bayesian optimisation - best of the other five strategies (points)"),
    Claim("era.fewer_high_error_after_random_phase", "ERA", "era-thesis.txt:426",
          "after the random sampling phase, the guided searches finds fewer solutions with very high error "
          "compared to the random search",
          "After its random sampling phase (evolutions: the initial population; local search: its random "
          "samples; Bayesian optimisation: its random initial design), a guided search evaluates a smaller share "
          "of very-high-error networks than random search does over the same evaluations. 'Very high error': "
          "above the 75th percentile of that seed's random-search errors (our definition, from the data).",
          "Figure 4 (scatter, no number)", "less",
          "share of evaluations above the random search's 75th-percentile error after the random phase, "
          "guided (mean of the searches) - random (points)"),
    Claim("era.regevo_best_final", "ERA", "era-thesis.txt:412-421",
          "Regularized Evolution 80 15.0M 6.7",
          "After full training, the network regularized evolution found has a lower test error than the network "
          "of every other strategy (thesis Table 1: the lowest of all six).",
          "Table 1: 6.7% vs 7.0% (evolution), the next best search", "less",
          "test error, regularized evolution's pick - best of the other five strategies' picks (points)"),
    Claim("era.regevo_beats_resnet110", "ERA", "era-thesis.txt:410",
          "the three architectures that outperforms ResNet-110, Bayesian optimization, evolution and regularized "
          "evolution",
          "After full training, the network regularized evolution found has a lower test error than ResNet-110 "
          "(on CPU profiles: the profile's reference network, see mapping).",
          "Table 1: 6.7% vs 7.5% test error", "less", "test error, regularized evolution's pick - reference (points)"),
    Claim("era.bo_beats_resnet110", "ERA", "era-thesis.txt:410",
          "the three architectures that outperforms ResNet-110, Bayesian optimization, evolution and regularized "
          "evolution",
          "After full training, the network Bayesian optimisation found has a lower test error than ResNet-110 "
          "(on CPU profiles: the profile's reference network, see mapping).",
          "Table 1: 7.3% vs 7.5% test error", "less", "test error, Bayesian optimisation's pick - reference (points)"),
    Claim("era.evolution_beats_resnet110", "ERA", "era-thesis.txt:410",
          "the three architectures that outperforms ResNet-110, Bayesian optimization, evolution and regularized "
          "evolution",
          "After full training, the network (plain) evolution found has a lower test error than ResNet-110 (on "
          "CPU profiles: the profile's reference network, see mapping).",
          "Table 1: 7.0% vs 7.5% test error", "less", "test error, evolution's pick - reference (points)"),
)}
SEARCH_CLAIMS = ("era.guided_better_on_average", "era.gap_grows_late", "era.bo_best_at_search_fidelity",
                 "era.fewer_high_error_after_random_phase")
FINAL_CLAIMS = ("era.regevo_best_final", "era.regevo_beats_resnet110", "era.bo_beats_resnet110",
                "era.evolution_beats_resnet110")
GUIDED = tuple(s for s in STRATEGY_NAMES if s != "random")
HIGH_ERROR_QUANTILE = 0.75  # "very high error": above this quantile of the random search's errors (per seed)


def protocol(dataset: str, same_budget: bool) -> str:
    """How far a profile is from the thesis's protocol (CIFAR-10 at the thesis's budgets)."""
    same_data = dataset == "cifar10"
    return {(True, True): "same data and budget", (True, False): "proxy budget",
            (False, True): "proxy data", (False, False): "proxy data and budget"}[(same_data, same_budget)]


def search_mapping(p: SearchParams, table_status: str = "") -> str:
    seeds = f"{len(p.seeds)} seed{'s' if len(p.seeds) != 1 else ''}"
    if getattr(p, "lane", "train") == "table":
        return (f"thesis 200 evaluations x 20 epochs on CIFAR-10 (13.3M configurations) -> {p.budget} lookups in "
                f"table {p.table} (table E={p.table_epochs} epochs <-> thesis 20; {p.dataset}, "
                f"{p.train_per_class * 10:,} train / {p.val_per_class * 10:,} val images"
                + (f"; {table_status}" if table_status else "") + f"), {seeds}; Bayesian optimisation: "
                f"{BAYESIAN[p.bayesian][1]}")
    return (f"thesis 200 evaluations x 20 epochs on CIFAR-10 -> {p.budget} evaluations x {p.epochs} epochs on "
            f"{p.dataset}, {seeds}")


def search_protocol(p: SearchParams) -> str:
    return protocol(p.dataset, p.epochs == 20 and p.budget == 200)


def random_phase(strategy: str, p: SearchParams) -> int:
    """Evaluations a strategy draws at random before its guidance starts: the evolutions' initial population,
    local search's random samples, Bayesian optimisation's initial design (its constructor's default, which
    `make_strategy` keeps), none for random search."""
    import inspect

    if strategy.endswith("evolution"):
        return p.population
    if strategy == "local":
        return p.local_samples
    if strategy == "bayesian":
        from resnas.search.bayesian import BayesianOptimization, RandomForestBO

        cls = RandomForestBO if p.bayesian == "rf_ei" else BayesianOptimization
        return int(inspect.signature(cls.__init__).parameters["n_initial"].default)
    return 0


def _finite(trials: pd.DataFrame) -> pd.DataFrame:
    return trials[np.isfinite(trials.fitness.astype(float))]


def guided_vs_random(trials: pd.DataFrame) -> pd.DataFrame:
    """Per seed: mean validation error (%) of random search's evaluations and of the guided searches' (each
    search's mean, averaged over the guided strategies present), over the whole search ('all') and over its
    first and second halves by evaluation index ('early', 'late'). Failed candidates (inf) have no error and
    are left out, as in `search_curves`. Seeds without random search or any guided search are dropped."""
    rows = []
    for seed, g in trials.groupby("seed"):
        half = (g["index"].max() + 1) / 2
        for part, sub in (("all", g), ("early", g[g["index"] < half]), ("late", g[g["index"] >= half])):
            means = _finite(sub).groupby("strategy").fitness.mean()
            guided = means.reindex([s for s in GUIDED if s in means.index])
            if "random" in means.index and len(guided):
                rows.append({"seed": seed, "part": part, "random": means["random"], "guided": guided.mean(),
                             "guided_searches": len(guided)})
    return pd.DataFrame(rows, columns=["seed", "part", "random", "guided", "guided_searches"])


def gap_growth(per_seed: pd.DataFrame) -> pd.DataFrame:
    """Per seed (from `guided_vs_random`): the gap random - guided in each half and its growth (late - early)."""
    wide = per_seed.assign(gap=per_seed.random - per_seed.guided).pivot(index="seed", columns="part", values="gap")
    wide = wide.dropna(subset=[c for c in ("early", "late") if c in wide]) if {"early", "late"} <= set(wide) else \
        wide.iloc[0:0].assign(early=np.nan, late=np.nan)
    return pd.DataFrame({"seed": wide.index, "gap_early": wide.early.values, "gap_late": wide.late.values,
                         "growth": (wide.late - wide.early).values})


def best_vs_others(best: pd.DataFrame, strategy: str, value: str = "val_error") -> pd.DataFrame:
    """Per seed: `strategy`'s best (lowest) `value` against the lowest of the other strategies'. `best`: one row
    per search (strategy, seed) as `best_per_search` writes it; references are ignored."""
    ok = best[best.strategy.isin(STRATEGY_NAMES)]
    wide = ok.pivot_table(index="seed", columns="strategy", values=value, aggfunc="min")
    if strategy not in wide or wide.shape[1] < 2:
        return pd.DataFrame(columns=["seed", "own", "best_other"])
    others = wide.drop(columns=strategy).min(axis=1)
    out = pd.DataFrame({"seed": wide.index, "own": wide[strategy].values, "best_other": others.values})
    return out.dropna().reset_index(drop=True)


def high_error_shares(trials: pd.DataFrame, phases: dict, quantile: float = HIGH_ERROR_QUANTILE) -> pd.DataFrame:
    """Per seed and guided strategy: the share (%) of its evaluations after its random phase (`phases`:
    strategy -> evaluations drawn at random first) whose validation error exceeds the `quantile` of that seed's
    random-search errors, beside random search's share over the same evaluation indices. Failed candidates
    count as evaluations without a very high error (they have no error). A strategy with no evaluation after
    its random phase (a budget no larger than it) has no row."""
    rows = []
    for seed, g in trials.groupby("seed"):
        rnd = g[g.strategy == "random"]
        if rnd.empty or not np.isfinite(rnd.fitness).any():
            continue
        threshold = float(np.quantile(_finite(rnd).fitness, quantile))
        for strategy in GUIDED:
            after = phases.get(strategy, 0)
            own = g[(g.strategy == strategy) & (g["index"] >= after)]
            ref = rnd[rnd["index"] >= after]
            if own.empty or ref.empty:
                continue
            rows.append({"seed": seed, "strategy": strategy, "after": after, "threshold": threshold,
                         "n": len(own), "share": 100 * float((own.fitness > threshold).mean()),
                         "random_share": 100 * float((ref.fitness > threshold).mean())})
    return pd.DataFrame(rows, columns=["seed", "strategy", "after", "threshold", "n", "share", "random_share"])


def high_error_per_seed(shares: pd.DataFrame) -> pd.DataFrame:
    """`high_error_shares` averaged over the guided strategies of each seed: seed, guided, random (%)."""
    g = shares.groupby("seed").agg(guided=("share", "mean"), random=("random_share", "mean"),
                                   strategies=("strategy", "nunique"))
    return g.reset_index()


def seconds_per_seed(trials: pd.DataFrame) -> float:
    """A seed's cost: the training seconds of its searches, each as if it had run alone (the last `elapsed`
    of every search, summed), mean over seeds. An upper bound: the shared archive trains a repeat once."""
    last = trials.sort_values("index").groupby(["seed", "strategy"]).elapsed.last()
    return float(last.groupby("seed").sum().mean()) if len(last) else float("nan")


def search_claim_rows(trials: pd.DataFrame, p: SearchParams, table_status: str = "") -> list[dict]:
    """The four search claims decided on this study's searches (unit: seeds, paired: every strategy of a seed
    shares its random stream). With one seed every row is inconclusive: one run has no spread. On lane 'table'
    the seconds per run are the stored training times (what training the searches would cost), and
    `table_status` ('N of 768 networks') goes into the mapping."""
    from dataclasses import replace

    from resnas.claims import decide

    mapping, proto = search_mapping(p, table_status), search_protocol(p)
    c = {k: replace(CLAIMS[k], mapping=mapping, protocol=proto) for k in SEARCH_CLAIMS}
    sec = seconds_per_seed(trials)
    means = guided_vs_random(trials)
    all_ = means[means.part == "all"]
    rows = [decide(c["era.guided_better_on_average"], all_.guided.to_numpy(), all_.random.to_numpy(), paired=True,
                   n_unit="seeds", seconds_per_run=sec,
                   note=f"guided: mean over {int(all_.guided_searches.max()) if len(all_) else 0} searches per seed")]
    growth = gap_growth(means)
    rows.append(decide(c["era.gap_grows_late"], growth.growth.to_numpy(), n_unit="seeds", seconds_per_run=sec,
                       note="halves by evaluation index; gap early " + ", ".join(f"{v:.2f}" for v in growth.gap_early)
                            + "; late " + ", ".join(f"{v:.2f}" for v in growth.gap_late)))
    bo = best_vs_others(best_per_search(trials), "bayesian")
    rows.append(decide(c["era.bo_best_at_search_fidelity"], bo.own.to_numpy(), bo.best_other.to_numpy(),
                       paired=True, n_unit="seeds", seconds_per_run=sec,
                       note=f"Bayesian optimisation: {BAYESIAN[p.bayesian][1]} form"))
    phases = {s: random_phase(s, p) for s in GUIDED if s in p.strategies}
    shares = high_error_shares(trials, phases)
    per_seed = high_error_per_seed(shares)
    left = sorted(set(phases) - set(shares.strategy))
    rows.append(decide(c["era.fewer_high_error_after_random_phase"], per_seed.guided.to_numpy(),
                       per_seed.random.to_numpy(), paired=True, n_unit="seeds", seconds_per_run=sec,
                       note=f"very high error: above {', '.join(f'{v:.1f}' for v in shares.threshold.unique())}% "
                            f"(the random search's {HIGH_ERROR_QUANTILE:.0%} quantile per seed); random phases "
                            + ", ".join(f"{s} {n}" for s, n in phases.items())
                            + (f"; left out (no evaluation after the random phase): {', '.join(left)}" if left else "")))
    return rows


def final_mapping(p: FinalParams, baseline: str) -> str:
    return (f"thesis A.3: 164 epochs on CIFAR-10 -> {p.epochs} epochs on {p.dataset}; ResNet-110 -> {baseline}; "
            f"{len(p.seeds)} training seed{'s' if len(p.seeds) != 1 else ''}")


def final_baseline(finals: pd.DataFrame) -> str:
    """The reference standing in for ResNet-110: itself where it was trained, else the deepest reference."""
    refs = finals[finals.model.isin(REFERENCE_LABELS.values())]
    if REFERENCE_LABELS["resnet110"] in set(refs.model):
        return REFERENCE_LABELS["resnet110"]
    plain = refs[refs.model != REFERENCE_LABELS["wide_resnet110"]]
    pool = plain if len(plain) else refs
    return str(pool.sort_values("layers").model.iloc[-1]) if len(pool) else ""


def final_wide(finals: pd.DataFrame) -> pd.DataFrame:
    """Test error (%) per training seed (rows) and strategy name or reference label (columns); failed trainings
    (inf) become NaN. The Bayesian label names its form; the column is 'bayesian' for either."""
    to_strategy = {strategy_label(s, b): s for s in STRATEGY_NAMES for b in (None, *BAYESIAN)}
    f = finals.assign(column=finals.model.map(lambda m: to_strategy.get(m, m)),
                      test_error=finals.test_error.replace([np.inf, -np.inf], np.nan))
    return f.pivot_table(index="seed", columns="column", values="test_error", aggfunc="mean", dropna=False)


def final_pairs(finals: pd.DataFrame, baseline: str) -> dict:
    """The per-seed arrays (a, b) of each final-training claim: regularized evolution against the best other
    strategy, and each of regularized evolution, Bayesian optimisation and evolution against `baseline`.
    A comparison whose arms were not trained gives empty arrays; seeds missing either arm are dropped."""
    wide = final_wide(finals)

    def pair(a: pd.Series | None, b: pd.Series | None):
        if a is None or b is None:
            return np.array([]), np.array([])
        ok = a.notna() & b.notna()
        return a[ok].to_numpy(), b[ok].to_numpy()

    col = lambda name: wide[name] if name in wide else None  # noqa: E731
    others = [s for s in STRATEGY_NAMES if s != "regularized_evolution" and s in wide]
    best_other = wide[others].min(axis=1, skipna=False) if others else None
    return {"era.regevo_best_final": pair(col("regularized_evolution"), best_other),
            "era.regevo_beats_resnet110": pair(col("regularized_evolution"), col(baseline)),
            "era.bo_beats_resnet110": pair(col("bayesian"), col(baseline)),
            "era.evolution_beats_resnet110": pair(col("evolution"), col(baseline))}


def final_claim_rows(finals: pd.DataFrame, p: FinalParams) -> list[dict]:
    """The four Table 1 claims decided on the final trainings (unit: training seeds, paired: every network of
    a seed shares it). The candidates are each strategy's best over the search seeds, so a seed here is a
    repeat of the final training, not of the search. Lane 'table': `finals` from `check_finals` (each strategy's
    most frequent pick retrained at the table's recipe with the new seeds; the error is the validation split's)."""
    from dataclasses import replace

    from resnas.claims import decide

    baseline = final_baseline(finals)
    if p.lane == "table":
        mapping = (f"thesis A.3: 164 epochs on CIFAR-10, test error -> a new training at table {p.table}'s recipe "
                   f"(E={p.table_epochs} epochs <-> thesis 20), validation error; each strategy's most frequent "
                   f"pick over its search seeds; ResNet-110 -> {baseline}; {len(p.check_seeds)} new training "
                   f"seed{'s' if len(p.check_seeds) != 1 else ''}")
        proto = "proxy data and budget"
    else:
        mapping, proto = final_mapping(p, baseline), protocol(p.dataset, p.epochs == 164)
    sec = float(finals.groupby("seed").train_seconds.sum().mean()) if len(finals) else float("nan")
    rows = []
    for key, (a, b) in final_pairs(finals, baseline).items():
        claim = replace(CLAIMS[key], mapping=mapping, protocol=proto)
        rows.append(decide(claim, a, b, paired=True, n_unit="seeds (final trainings)", seconds_per_run=sec,
                           note="" if len(a) else "an arm of this comparison was not trained on this profile"))
    return rows


# ---------------------------------------------------------------------------------------------- real-training check
# Lane 'table' of era_final (issue 14): are the table's best networks still the best when trained again with a new
# seed? The table's best, each strategy's pick and a few networks down the ranking, retrained at the table's recipe.
def table_summary(table: pd.DataFrame, epochs: int, long_epochs: int | None = None) -> pd.DataFrame:
    """One row per network of `table` at budget `epochs`: val_acc (the mean over its stored runs' last epochs),
    runs, seconds (mean stored training time), rank (1 = best; ties broken by config), long_val_acc (the last
    epoch at `long_epochs`, NaN where the table has no such run), layers."""
    last = table[table.epoch == table.budget]
    short = last[last.budget == epochs]
    out = short.groupby("config").agg(val_acc=("val_acc", "mean"), runs=("seed", "nunique"),
                                      seconds=("wall_time", "mean"), layers=("layers", "first"),
                                      params=("params", "first")).reset_index()
    out = out.sort_values(["val_acc", "config"], ascending=[False, True]).reset_index(drop=True)
    out["rank"] = np.arange(1, len(out) + 1)
    if long_epochs is not None:
        long = last[last.budget == long_epochs].groupby("config").val_acc.mean()
        out["long_val_acc"] = out.config.map(long)
    return out


def modal_picks(best: pd.DataFrame) -> pd.DataFrame:
    """Each strategy's pick over its search seeds: the network its searches most often found best (ties: the
    lower mean error), with how many of its searches found it. (`final_candidates` takes the best over seeds
    instead: with fifty seeds on a table nearly every strategy's best is the table's best, which says nothing.)"""
    rows = []
    ok = best[best.strategy.isin(STRATEGY_NAMES)]
    for (model, strategy), g in ok.groupby(["model", "strategy"], sort=False):
        counts = g.groupby("config").agg(n=("seed", "count"), err=("val_error", "mean")).reset_index()
        top = counts.sort_values(["n", "err", "config"], ascending=[False, True, True]).iloc[0]
        rows.append({"model": model, "strategy": strategy, "config": top.config, "searches": int(top.n),
                     "of": len(g)})
    return pd.DataFrame(rows, columns=["model", "strategy", "config", "searches", "of"])


def check_candidates(summary: pd.DataFrame, picks: pd.DataFrame, top: int, quantiles, pool: int,
                     references=()) -> pd.DataFrame:
    """The networks the check retrains, one row each with its roles: 'table top k' (the `top` best of
    `summary`), each strategy's pick ('pick: <model>'), at each quantile q of the ranking (q = 0.5: the median
    network; counted from the worst) the cheapest by stored time of the `pool` networks nearest to it
    ('quantile q'), and the references ('reference: <label>'; retrained even where a partial table lacks them,
    with no table accuracy, so they count for Table 1 but not for the agreement)."""
    roles: dict[str, list[str]] = {}

    def add(config, role):
        roles.setdefault(config, []).append(role)

    for r in summary.head(top).itertuples():
        add(r.config, f"table top {r.rank}")
    for r in picks.itertuples():
        add(r.config, f"pick: {r.model}")
    n = len(summary)
    for q in quantiles:
        centre = int(round((1 - q) * (n - 1)))  # rank index of the q-quantile (ranked from the best)
        lo = max(0, min(centre - pool // 2, n - pool))
        near = summary.iloc[lo:lo + pool]
        add(near.sort_values(["seconds", "config"]).config.iloc[0], f"quantile {q:g}")
    for ref in references:
        add(reference_config(ref).to_json(), f"reference: {REFERENCE_LABELS[ref]}")
    out = pd.DataFrame({"config": list(roles), "roles": ["; ".join(v) for v in roles.values()]})
    out = out.merge(summary, on="config", how="left").rename(columns={"val_acc": "table_val_acc", "rank": "table_rank"})
    if out.seconds.isna().any():  # a reference a partial table lacks: retrained all the same (Table 1 needs it)
        from resnas.spaces.era import EraConfig

        missing = out.seconds.isna()
        out.loc[missing, "layers"] = [EraConfig.from_json(c).layers for c in out.config[missing]]
    return out


def check_spec_recipe(identity: dict, epochs: int):
    """The data and recipe the table was generated with (`resnas.experiments.era_table`'s), checked against the
    table's identity: a retraining that differed in anything but the seed would check nothing."""
    from resnas.experiments import era_table

    tp = era_table.Params()
    if era_table.table_identity(tp) != identity:
        raise ValueError("the table's identity differs from resnas.experiments.era_table.Params()'s defaults: the "
                         "check cannot rebuild its data and recipe; allowed: a table generated with them")
    return era_table.data_spec(tp), era_table.recipe(tp, epochs)


def check_trainings(candidates: pd.DataFrame, evaluator_at, seeds) -> pd.DataFrame:
    """Retrain every candidate once per seed (`evaluator_at(seed)`: an Evaluator at the table's data and recipe).
    One row per network and seed: config, roles, seed, val_acc (the retrained last epoch), val_error (%),
    seconds, status, table_val_acc, table_rank."""
    from resnas.spaces.era import EraConfig

    rows = []
    for seed in seeds:
        ev = evaluator_at(seed)
        records = ev.map([("era", EraConfig.from_json(c)) for c in candidates.config])
        for cand, rec in zip(candidates.itertuples(), records):
            rows.append({"config": cand.config, "roles": cand.roles, "seed": seed,
                         "val_acc": rec.final_val_acc if rec.ok else np.nan, "val_error": rec.fitness,
                         "params": rec.params, "seconds": rec.wall_time, "status": rec.status,
                         "table_val_acc": cand.table_val_acc,
                         "table_rank": cand.table_rank})
    return pd.DataFrame(rows)


def check_agreement(check: pd.DataFrame, top: int, n_resamples: int = 2000, seed: int = 0) -> dict:
    """Does the retraining keep the table's ranking? Over the networks retrained (mean over the new seeds):
    Spearman's rho between the table's and the retrained accuracy with a 95% bootstrap interval over networks;
    Kendall's tau; how many of the table's `top` best (among these networks) are among the retrained `top`
    best; the retrained rank of the table's best; and the mean |retrained - table| accuracy gap."""
    from scipy import stats

    per = check.groupby("config").agg(table=("table_val_acc", "first"), now=("val_acc", "mean")).dropna()
    n = len(per)
    out = {"networks": n, "spearman": np.nan, "spearman_low": np.nan, "spearman_high": np.nan, "kendall": np.nan,
           "top": min(top, n), "top_overlap": 0, "best_rank_now": np.nan, "mean_abs_gap": np.nan}
    if n < 3:
        return out
    import warnings

    t, a = per.table.to_numpy(), per.now.to_numpy()
    idx = np.random.default_rng(seed).integers(n, size=(n_resamples, n))
    with warnings.catch_warnings():  # a resample of one repeated network is constant: no rho, dropped below
        warnings.simplefilter("ignore", stats.ConstantInputWarning)
        rho = float(stats.spearmanr(t, a).statistic)
        boot = np.array([stats.spearmanr(t[i], a[i]).statistic for i in idx])
    boot = boot[np.isfinite(boot)]
    table_top = set(per.table.sort_values(ascending=False, kind="stable").index[:top])
    now_top = set(per.now.sort_values(ascending=False, kind="stable").index[:top])
    best = per.table.idxmax()
    out.update(spearman=rho, spearman_low=float(np.percentile(boot, 2.5)) if len(boot) else np.nan,
               spearman_high=float(np.percentile(boot, 97.5)) if len(boot) else np.nan,
               kendall=float(stats.kendalltau(t, a).statistic), top_overlap=len(table_top & now_top),
               best_rank_now=int((per.now > per.now[best]).sum() + 1), mean_abs_gap=float(np.abs(t - a).mean()))
    return out


def check_finals(check: pd.DataFrame, picks: pd.DataFrame, references=()) -> pd.DataFrame:
    """The check's retrainings in `final_trainings`' shape, for Table 1 and its claims: one row per strategy
    (its pick) or reference and training seed, test_error = the retrained validation error (%)."""
    rows = []
    by_config = {c: g for c, g in check.groupby("config")}
    arms = [(r.model, r.config) for r in picks.itertuples()]
    arms += [(REFERENCE_LABELS[ref], reference_config(ref).to_json()) for ref in references]
    from resnas.spaces.era import EraConfig

    for model, config in arms:
        for r in by_config.get(config, pd.DataFrame()).itertuples():
            rows.append({"model": model, "seed": r.seed, "layers": EraConfig.from_json(config).layers,
                         "params": r.params, "status": r.status, "test_error": r.val_error,
                         "search_val_error": 100 * (1 - r.table_val_acc), "train_seconds": r.seconds})
    return pd.DataFrame(rows, columns=["model", "seed", "layers", "params", "status", "test_error",
                                       "search_val_error", "train_seconds"])
