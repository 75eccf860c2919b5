"""Cell search on a table: every strategy raced over many seeds on the 15,625 NAS-Bench-201 cells, judged by
their CIFAR-10 test accuracy from the offline table (`resnas.tabular_cells`), with zero training.

The notebook `cell_search` calls these functions; everything it computes is reachable by tests.

Regret of a search after q queries = the table's best accuracy (94.07%) - the best accuracy among the cells it
asked for in its first q queries (percentage points; a repeated cell counts as a query, as it would cost one
on a real benchmark without an archive). Strategy seed s is the same for every strategy (common random
numbers: random search, evolution and the GA draw the same first cells), so seeds pair strategies.
"""
from __future__ import annotations

import os
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass

import numpy as np
import pandas as pd

from resnas.params import param
from resnas.search import STRATEGIES

STRATEGY_NAMES = ("random", "regularized_evolution", "genetic", "local", "bayesian")
LABELS = {"random": "Random search", "local": "Local search", "bayesian": "Bayesian optimisation (TPE)",
          "evolution": "Evolution", "regularized_evolution": "Regularized evolution",
          "crossover_evolution": "Crossover evolution", "genetic": "GENAS table GA (ours)"}
TABLE_NOTE = ("Accuracies are AnalogNAS-Bench's own single 200-epoch CIFAR-10 runs of the NAS-Bench-201 cells "
              "(best cell 94.07%), not NAS-Bench-201's runs (best 94.37%).")

# NAS-Bench-201's CIFAR-10 test accuracies (%) as published (spec/genas.md): another table's training runs, so
# only their distance to that table's optimum (94.37) compares with our regrets.
NB201_OPTIMUM = 94.37
NB201_ANCHORS = pd.DataFrame([
    ("NAS-Bench-201 optimum", 94.37), ("DARTS (weight sharing; collapses to skip connections)", 54.30),
    ("GDAS", 93.51), ("RSPS (random search with parameter sharing)", 87.66), ("EvNAS", 92.18),
], columns=["method", "test_accuracy"])


@dataclass(frozen=True)
class Params:
    strategies: list[str] = param(list(STRATEGY_NAMES), choices=tuple(STRATEGIES))
    seeds: int = param(50, ge=1, le=100_000, help="searches per strategy: seeds 0..seeds-1, shared by all")
    budget: int = param(200, ge=2, le=100_000, help="table queries per search")
    checkpoints: list[int] = param([100, 200], ge=1, help="query counts of the regret table (each <= budget)")
    top_fraction: float = param(0.01, ge=1e-4, le=1.0, help="'the best 1%': queries until a search finds one")
    population: int = param(20, ge=2, help="regularized evolution: population (tournament of 2, oldest removed)")
    ga_population: int = param(20, ge=2, help="GA: population per generation")
    ga_tournament: int = param(3, ge=1, help="GA: tournament size for each parent")
    ga_elite: int = param(2, ge=0, help="GA: best members kept unchanged from one generation to the next")
    ga_crossover: float = param(0.5, ge=0.0, le=1.0, help="GA: probability a child is a crossover of two parents")
    local_samples: int = param(20, ge=1, help="local search: random samples before walking")
    local_starts: int = param(5, ge=1, help="local search: walks from the best samples")
    bayes_initial: int = param(10, ge=1, help="Bayesian optimisation: random trials before TPE models")
    n_boot: int = param(2000, ge=100, help="bootstrap resamples (over seeds) for the intervals")
    confidence: float = param(0.95, ge=0.5, le=0.999)
    processes: int = param(1, ge=1, le=256, help="searches run in this many processes (results do not change)")

    def __post_init__(self):
        late = [c for c in self.checkpoints if c > self.budget]
        if late:
            raise ValueError(f"checkpoints={list(self.checkpoints)} include {late}; "
                             f"allowed: at most budget={self.budget}")
        if self.ga_elite >= self.ga_population or self.ga_tournament > self.ga_population:
            raise ValueError(f"ga_elite={self.ga_elite}, ga_tournament={self.ga_tournament}; allowed: elite < "
                             f"ga_population={self.ga_population} and tournament <= ga_population")


def make_strategy(name: str, seed: int, p: Params, space=None):
    from resnas.spaces.cells import NB201

    kwargs = {"space": space or NB201, "seed": seed}
    if name in ("evolution", "regularized_evolution", "crossover_evolution"):
        kwargs["population_size"] = p.population
    elif name == "genetic":
        kwargs.update(population_size=p.ga_population, tournament=p.ga_tournament, elite=p.ga_elite,
                      crossover_rate=p.ga_crossover)
    elif name == "local":
        kwargs.update(n_samples=p.local_samples, n_starts=p.local_starts)
    elif name == "bayesian":
        kwargs["n_initial"] = p.bayes_initial
    return STRATEGIES[name](**kwargs)


# ---------------------------------------------------------------------------------------------- the race
_EVALUATOR = None  # one table per worker process


def _search(job) -> dict:
    """One search: (strategy, seed, params) -> the table codes and accuracies it asked for, in order."""
    global _EVALUATOR
    from resnas.search import run_search
    from resnas.tabular_cells import TabularEvaluator

    name, seed, p, evaluator = job
    if evaluator is None:
        _EVALUATOR = _EVALUATOR or TabularEvaluator()
        evaluator = _EVALUATOR
    trials = run_search(make_strategy(name, seed, p), evaluator.objective("nb201"), p.budget, progress=False)
    return {"strategy": name, "seed": seed, "code": [t.info["key"] for t in trials],
            "test_accuracy": [t.info["test_accuracy"] for t in trials]}


def run_race(p: Params, evaluator=None) -> pd.DataFrame:
    """Every strategy x seed as its own search on the table. The tidy trial table: strategy, seed, query
    (1-based), code (the cell's table key), test_accuracy (%). `p.processes` > 1 spreads the searches over
    processes; every search depends on its seed only, so the table is the same."""
    jobs = [(name, seed, p, None if p.processes > 1 else evaluator) for name in p.strategies
            for seed in range(p.seeds)]
    if p.processes > 1:
        from resnas.evaluate import _init_worker, worker_context

        with ProcessPoolExecutor(p.processes, mp_context=worker_context(), initializer=_init_worker,
                                 initargs=(1, dict(os.environ), os.getpid())) as pool:
            results = list(pool.map(_search, jobs, chunksize=max(1, len(jobs) // (4 * p.processes))))
    else:
        results = [_search(job) for job in jobs]
    frames = [pd.DataFrame({"strategy": r["strategy"], "seed": r["seed"], "query": np.arange(1, p.budget + 1),
                            "code": r["code"], "test_accuracy": r["test_accuracy"]}) for r in results]
    return pd.concat(frames, ignore_index=True)


def with_regret(trials: pd.DataFrame, best_accuracy: float) -> pd.DataFrame:
    """Adds best_so_far (%) and regret (pp) after each query of each search."""
    out = trials.sort_values(["strategy", "seed", "query"], kind="stable").copy()
    out["best_so_far"] = out.groupby(["strategy", "seed"], sort=False).test_accuracy.cummax()
    out["regret"] = (best_accuracy - out.best_so_far).round(4)  # the table has 4 decimals: no float noise
    return out


def regret_curves(trials: pd.DataFrame) -> pd.DataFrame:
    """Per strategy and query: median, quartiles and mean of the regret over seeds (from `with_regret`)."""
    g = trials.groupby(["strategy", "query"], sort=False).regret
    out = pd.DataFrame({"median": g.median(), "q25": g.quantile(0.25), "q75": g.quantile(0.75), "mean": g.mean(),
                        "searches": g.size()})
    return out.reset_index()


def bootstrap_median(values, n_boot: int, confidence: float, seed: int = 0) -> tuple[float, float, float]:
    """(median, low, high): the median over searches and its percentile bootstrap interval (resampling the
    searches; scipy.stats.bootstrap, seeded)."""
    from scipy import stats

    x = np.asarray(values, dtype=float)
    med = float(np.median(x))
    if len(x) < 2 or np.all(x == x[0]):
        return med, med, med  # no spread to resample
    res = stats.bootstrap((x,), np.median, n_resamples=n_boot, confidence_level=confidence, method="percentile",
                          random_state=np.random.default_rng(seed), vectorized=True)
    return med, float(res.confidence_interval.low), float(res.confidence_interval.high)


def regret_table(trials: pd.DataFrame, checkpoints, n_boot: int = 2000, confidence: float = 0.95) -> pd.DataFrame:
    """Per strategy and checkpoint: median regret over seeds with its bootstrap interval, mean regret and the
    share of searches that had found the table's best cell."""
    rows = []
    for (strategy, q), g in trials[trials["query"].isin(checkpoints)].groupby(["strategy", "query"], sort=False):
        med, lo, hi = bootstrap_median(g.regret.values, n_boot, confidence)
        rows.append({"strategy": strategy, "method": LABELS.get(strategy, strategy), "queries": q,
                     "median_regret": med, "ci_low": lo, "ci_high": hi, "mean_regret": g.regret.mean(),
                     "found_best": float(np.mean(g.regret <= 1e-9)), "searches": len(g)})
    return pd.DataFrame(rows).sort_values(["queries", "median_regret", "mean_regret"], ignore_index=True)


def queries_to_top(trials: pd.DataFrame, threshold: float) -> pd.DataFrame:
    """Per search: the query at which it first asked for a cell with accuracy >= `threshold` (inf: never)."""
    hit = trials[trials.test_accuracy >= threshold].groupby(["strategy", "seed"]).query.min()
    searches = trials.groupby(["strategy", "seed"]).size().index
    return hit.astype(float).reindex(searches, fill_value=np.inf).rename("queries_to_top").reset_index()


def search_outcomes(trials: pd.DataFrame, checkpoints, threshold: float) -> pd.DataFrame:
    """One row per search: its regret at every checkpoint (`regret_at_<q>`), its best accuracy at the end and
    the query that first reached `threshold` (inf: never): everything the summaries are computed from."""
    at = trials[trials["query"].isin(checkpoints)].pivot_table(index=["strategy", "seed"], columns="query",
                                                               values="regret")
    at.columns = [f"regret_at_{q}" for q in at.columns]
    final = trials.groupby(["strategy", "seed"]).best_so_far.last().rename("final_best_accuracy")
    reach = queries_to_top(trials, threshold).set_index(["strategy", "seed"])
    return at.join(final).join(reach).reset_index()


def queries_summary(per_search: pd.DataFrame, budget: int, n_boot: int = 2000, confidence: float = 0.95
                    ) -> pd.DataFrame:
    """Per strategy: median queries to the best-fraction cells with its interval, and the share that got there
    within the budget. A median or bound above the budget is reported as inf (more than `budget` queries)."""
    rows = []
    for strategy, g in per_search.groupby("strategy", sort=False):
        # a search that never got there counts as budget + 1 (all we know is "more"); back to inf afterwards
        censored = np.where(np.isfinite(g.queries_to_top.values), g.queries_to_top.values, budget + 1)
        med, lo, hi = (v if v <= budget else np.inf for v in bootstrap_median(censored, n_boot, confidence))
        rows.append({"strategy": strategy, "method": LABELS.get(strategy, strategy), "median_queries": med,
                     "ci_low": lo, "ci_high": hi, "reached": float(np.isfinite(g.queries_to_top).mean()),
                     "searches": len(g), "budget": budget})
    return pd.DataFrame(rows).sort_values(["median_queries", "reached"], ascending=[True, False], ignore_index=True)


def anchors(trials: pd.DataFrame, best_accuracy: float, budget: int, reference_cells: dict) -> pd.DataFrame:
    """Our searches at full budget (median best accuracy over seeds) and this table's reference cells, beside
    NAS-Bench-201's published CIFAR-10 figures; `regret` is each row's distance to its own table's optimum."""
    ours = trials[trials["query"] == budget].groupby("strategy", sort=False).best_so_far.median()
    rows = [{"method": f"{LABELS.get(s, s)}, {budget} queries (median)", "test_accuracy": acc,
             "regret": best_accuracy - acc, "table": "AnalogNAS-Bench runs (ours)"} for s, acc in ours.items()]
    rows += [{"method": name, "test_accuracy": acc, "regret": best_accuracy - acc,
              "table": "AnalogNAS-Bench runs (ours)"} for name, acc in reference_cells.items()]
    rows += [{"method": r.method, "test_accuracy": r.test_accuracy, "regret": NB201_OPTIMUM - r.test_accuracy,
              "table": "NAS-Bench-201 runs (published; another table)"} for r in NB201_ANCHORS.itertuples()]
    return pd.DataFrame(rows)


def reference_cells(evaluator) -> dict:
    """This table's landmarks: its best cell, NAS-Bench-201's ResNet cell, the all-skip cell."""
    from resnas.spaces.cells import RESNET_LIKE
    from resnas.tabular_cells import cell_of_code

    return {"this table's best cell (2,2,0,2,3,2)": evaluator.best_accuracy,
            "ResNet-like cell": evaluator.evaluate("nb201", RESNET_LIKE).test_accuracy,
            "all skip connections": evaluator.evaluate("nb201", cell_of_code("0,0,0,0,0,0")).test_accuracy}


def closing_note(table: pd.DataFrame, confidence: float, seeds: int) -> str:
    """Each strategy's median regret at every checkpoint with its interval, in one paragraph."""
    parts = []
    for strategy, g in table.sort_values("queries").groupby("strategy", sort=False):
        cells = "; ".join(f"{r.queries} queries {r.median_regret:.2f} [{r.ci_low:.2f}, {r.ci_high:.2f}]"
                          for r in g.itertuples())
        parts.append(f"{LABELS.get(strategy, strategy)}: {cells}")
    return (f"Median regret (percentage points below the table's best cell) over {seeds} seeds, with "
            f"{confidence:.0%} bootstrap intervals — " + " | ".join(parts) + ". " + TABLE_NOTE)


# ---------------------------------------------------------------------------------------------- figure
def plot_race(curves: pd.DataFrame, per_search: pd.DataFrame, budget: int, top_fraction: float):
    """Left: median regret with its interquartile band per strategy against queries (symlog: zero regret
    stays on the plot). Right: share of searches that have found a top-`top_fraction` cell by each query."""
    import matplotlib.pyplot as plt

    fig, (ax, bx) = plt.subplots(1, 2, figsize=(11, 3.8))
    queries = np.arange(1, budget + 1)
    for strategy, g in curves.groupby("strategy", sort=False):
        label = LABELS.get(strategy, strategy)
        line, = ax.plot(g["query"], g["median"], label=label)
        ax.fill_between(g["query"], g["q25"], g["q75"], color=line.get_color(), alpha=0.2, linewidth=0)
        reach = per_search[per_search.strategy == strategy].queries_to_top.values
        bx.plot(queries, (reach[None, :] <= queries[:, None]).mean(axis=1), label=label, color=line.get_color())
    ax.set_yscale("symlog", linthresh=0.05)
    ax.set(xlabel="queries", ylabel="regret (pp, median and quartiles)", title="Regret against the table's best")
    bx.set(xlabel="queries", ylabel="share of searches", ylim=(0, 1.02),
           title=f"Found a cell in the best {top_fraction:.0%}")
    ax.legend(fontsize=8)
    fig.suptitle("CIFAR-10 table of the NAS-Bench-201 cells: AnalogNAS-Bench's own runs, not NAS-Bench-201's",
                 fontsize=9)
    fig.tight_layout()
    return fig
