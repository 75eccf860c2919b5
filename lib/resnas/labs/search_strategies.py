"""Lab 02 (search strategies): self-checks for the student's best-so-far curve and ask/tell strategy, and the
race of strategies over many seeds on the CIFAR-10 table of the NAS-Bench-201 cells (`resnas.tabular_cells`).

The strategy exercise is a greedy mutation search: `n_initial` random cells, then always one mutation
(`space.mutate`) of the best cell told so far. Fitness is minimised (test error, %), as every strategy in
`resnas.search` minimises it; a failed evaluation is told as math.inf.
"""
from __future__ import annotations


import math

import numpy as np
import pandas as pd

from resnas.labs import NotDone, WrongAnswer, attempt, correct, expect
from resnas.labs import exercise as _exercise

LAB = "02_search_strategies"




# ---------------------------------------------------------------------------------------------- exercise 1
@_exercise(1)
def check_best_so_far(best_so_far) -> str:
    """`best_so_far(accuracies)` -> the best accuracy among the first k queries, for every k (accuracy is
    maximised). Rejects a running value, a running worst, a curve shifted by one query, one of another length."""
    trace = np.array([61.2, 70.5, 66.0, 88.1, 88.1, 79.4, 90.3, 10.0, 85.0])
    given = trace.copy()
    out = attempt(1, best_so_far, given)
    expect(np.array_equal(given, trace), "best_so_far changed the accuracies it was given (in place); compute the "
                                         "curve into a new array")
    try:
        curve = np.asarray(out, dtype=float).ravel()
    except (TypeError, ValueError):
        raise WrongAnswer(f"best_so_far returned {type(out).__name__}; it should return one number per query "
                          "(an array as long as its input)") from None
    expect(len(curve) == len(trace), f"best_so_far returned {len(curve)} values for {len(trace)} queries; one value "
                                     "per query: the best among the first k queries, for k = 1 .. n")
    drops = np.flatnonzero(np.diff(curve) < 0)
    if len(drops):
        k = int(drops[0]) + 2  # 1-based query at which the curve goes down
        if np.array_equal(curve, trace):
            hint = "Did you return each query's own accuracy (a running value) instead of the best so far?"
        elif np.allclose(curve, np.minimum.accumulate(trace)):
            hint = ("It follows the worst accuracy seen; accuracy is maximised (it is the test error, the fitness, "
                    "that strategies minimise).")
        else:
            hint = "A running mean drops too; keep the best seen so far."
        raise WrongAnswer(f"your curve goes down at query {k} (from {curve[k - 2]:g} to {curve[k - 1]:g}): a "
                          f"best-so-far curve never drops, since a worse query cannot undo a better one. {hint}")
    expect(curve[0] == trace[0], f"at query 1 your curve says {curve[0]:g}, but after one query the best so far is "
                                 "that query's own accuracy. Is your curve shifted by one query (the best *before* "
                                 "query k instead of up to and including it)?")
    wrong = np.flatnonzero(~np.isclose(curve, np.maximum.accumulate(trace)))
    if len(wrong):
        k = int(wrong[0]) + 1
        raise WrongAnswer(f"at query {k} your curve says {curve[k - 1]:g}, which is not the best of the first {k} "
                          "accuracies. Accuracy is maximised here: the curve follows the highest accuracy seen, "
                          "query by query, including query k itself.")
    return correct("a best-so-far curve: it starts at the first query's accuracy and never drops")


# ---------------------------------------------------------------------------------------------- exercise 2
def _cell_check(space, cfg, what: str):
    from resnas.spaces.cells import Nb201Cell

    if not isinstance(cfg, Nb201Cell):
        raise WrongAnswer(f"{what} returned {type(cfg).__name__} ({cfg!r:.60}); a strategy proposes configurations "
                          "of its space, e.g. `self.space.sample(self.rng)` or `self.space.mutate(cell, self.rng)`")
    space.index(cfg)  # a malformed cell raises here


def _differs(a, b) -> int:
    return sum(x != y for x, y in zip(a.ops, b.ops))


@_exercise(2)
def check_strategy(strategy_class, space=None) -> str:
    """`strategy_class(space, seed, n_initial)` keeps the ask/tell protocol (`resnas.search.base`): ask() returns
    a cell of the space, tell(cell, fitness) takes a number (math.inf for a failure); after `n_initial` random
    cells each proposal is one mutation of the best (lowest-fitness) cell told so far; a seed fixes the run.
    Rejects a strategy that keeps the worst cell, ignores tell, mutates the last cell told, or draws from an
    unseeded generator."""
    from resnas.search import run_search
    from resnas.spaces.cells import NB201

    space = space or NB201
    try:
        strategy = strategy_class(space=space, seed=0, n_initial=5)
    except TypeError as exc:
        raise WrongAnswer(f"{strategy_class.__name__}(space=..., seed=0, n_initial=5) failed ({exc}); keep the "
                          "template's __init__ signature") from None
    n_initial = 5
    # the initial random cells, told with distinct fitnesses so the best and the worst are known
    fitness = [40.0, 12.5, 75.0, 30.0, 55.0]
    initial = []
    for i in range(n_initial):
        cfg = attempt(2, strategy.ask)
        _cell_check(space, cfg, f"ask() (call {i + 1})")
        initial.append(cfg)
    for cfg, f in zip(initial, fitness):
        attempt(2, strategy.tell, cfg, f)
    best, worst = initial[int(np.argmin(fitness))], initial[int(np.argmax(fitness))]
    if best == worst:
        raise WrongAnswer("the first 5 proposals repeat one cell; draw the initial cells with "
                          "`self.space.sample(self.rng)`")
    last = initial[-1]
    for k in range(4):
        cfg = attempt(2, strategy.ask)
        _cell_check(space, cfg, f"ask() after the initial cells (call {k + 1})")
        d = _differs(cfg, best)
        if d != 1:
            if _differs(cfg, worst) == 1 and best != worst:
                raise WrongAnswer("after the initial cells your strategy mutates the cell with the *highest* fitness; "
                                  "fitness is minimised (it is the test error in %): keep the lowest one told")
            if _differs(cfg, last) == 1:
                raise WrongAnswer("after the initial cells your strategy mutates the last cell told, not the best "
                                  "one told so far; remember the best (lowest-fitness) cell in tell()")
            raise WrongAnswer(f"after the {n_initial} initial cells, proposal {k + 1} differs from the best cell told "
                              f"so far in {d} edges; it should be one mutation of it (`self.space.mutate(best, "
                              f"self.rng)`, exactly one edge changed)")
        attempt(2, strategy.tell, cfg, 90.0 if k else math.inf)  # worse than the best; inf: a failed evaluation
        last = cfg
    # a better cell told later becomes the new parent
    cfg = attempt(2, strategy.ask)
    attempt(2, strategy.tell, cfg, 1.0)
    for k in range(3):
        nxt = attempt(2, strategy.ask)
        expect(_differs(nxt, cfg) == 1, "after a better cell is told (lower fitness), the next proposals should "
                                        "mutate that new best cell; your strategy still mutates an older one. "
                                        "Update the best in tell() whenever a lower fitness arrives")
        attempt(2, strategy.tell, nxt, 50.0)

    # a seed fixes the run; another seed gives another run (no global or unseeded generator)
    def trajectory(seed):
        s = strategy_class(space=space, seed=seed, n_initial=5)
        return [t.config for t in run_search(s, lambda c: float(space.index(c) % 97), 25, progress=False)]

    a, b, c = trajectory(1), trajectory(1), trajectory(2)
    expect(a == b, "two runs with the same seed proposed different cells; draw every random choice from "
                   "`self.rng = np.random.default_rng(seed)`, not from np.random or random")
    expect(a != c, "runs with seeds 1 and 2 proposed the same cells; seed your generator with the `seed` argument")
    return correct("ask returns cells of the space, tell accepts fitnesses (inf too), each proposal mutates the best "
                   "cell told so far, and a seed repeats a run")


# ---------------------------------------------------------------------------------------------- the race
def race(factories: dict, seeds: int, budget: int, evaluator=None) -> pd.DataFrame:
    """Every strategy x seed as its own search of `budget` table queries. `factories`: {name: f(seed) -> a
    strategy}; seed s is shared by all strategies (common random numbers), so seeds pair them. The tidy trial
    table: strategy, seed, query (1-based), test_accuracy (%)."""
    from resnas.search import run_search
    from resnas.tabular_cells import TabularEvaluator

    if seeds < 2 or budget < 1:
        raise ValueError(f"seeds={seeds}, budget={budget}; allowed: seeds >= 2 (an interval needs a spread), "
                         "budget >= 1")
    ev = evaluator or TabularEvaluator()
    objective = ev.objective("nb201")
    frames = []
    for name, make in factories.items():
        for seed in range(seeds):
            trials = run_search(make(seed), objective, budget, progress=False)
            frames.append(pd.DataFrame({"strategy": name, "seed": seed, "query": np.arange(1, budget + 1),
                                        "test_accuracy": [t.info["test_accuracy"] for t in trials]}))
    return pd.concat(frames, ignore_index=True)


def paired_verdict(final: pd.DataFrame, a: str, b: str, confidence: float = 0.95, n_boot: int = 5000,
                   seed: int = 0) -> dict:
    """Final regret of strategy `a` minus that of `b`, paired by seed (columns strategy, seed, regret): the mean
    difference with its percentile bootstrap interval over seeds (scipy.stats.bootstrap) and the Wilcoxon
    signed-rank p-value. Negative: `a` ends closer to the table's best."""
    from scipy import stats

    w = final.pivot_table(index="seed", columns="strategy", values="regret")
    missing = [s for s in (a, b) if s not in w.columns]
    if missing:
        raise ValueError(f"strategies {missing} are not in the table; allowed: {', '.join(map(str, w.columns))}")
    d = (w[a] - w[b]).dropna().to_numpy()
    if len(d) < 2:
        raise ValueError(f"{len(d)} paired seeds; allowed: at least 2")
    if np.all(d == d[0]):
        lo = hi = float(d[0])
        p = 1.0
    else:
        res = stats.bootstrap((d,), np.mean, n_resamples=n_boot, confidence_level=confidence, method="percentile",
                              random_state=np.random.default_rng(seed))
        lo, hi = float(res.confidence_interval.low), float(res.confidence_interval.high)
        p = float(stats.wilcoxon(d).pvalue) if np.any(d != 0) else 1.0
    mean = float(d.mean())
    if hi < 0:
        verdict = f"{a} ends closer to the best cell than {b}"
    elif lo > 0:
        verdict = f"{b} ends closer to the best cell than {a}"
    else:
        verdict = f"no difference between {a} and {b} is resolved at this many seeds"
    return {"a": a, "b": b, "seeds": len(d), "mean_difference": mean, "ci_low": lo, "ci_high": hi,
            "confidence": confidence, "wilcoxon_p": p, "a_better_in": int((d < 0).sum()),
            "b_better_in": int((d > 0).sum()), "verdict": verdict}
