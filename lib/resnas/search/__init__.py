"""Search strategies as ask/tell objects that know nothing about training.

    strategy = STRATEGIES["regularized_evolution"](space=SPACE, seed=0, population_size=50)
    cfg = strategy.ask()            # a configuration to evaluate
    cfgs = strategy.ask(4)          # or a batch of at most 4, evaluated at once (resnas.search.base)
    strategy.tell(cfg, fitness)     # its fitness, minimised; math.inf marks a failed evaluation

`run_search(strategy, objective, budget)` drives one with any objective (the evaluator in the notebooks, a
synthetic function in the tests), one evaluation at a time or `workers` at once. Strategies never see training;
the evaluator never sees a strategy. Strategies see a space only through its public interface
(`resnas.spaces.base.SearchSpace`), so each runs on every space: the ERA ResNets and the cell spaces alike.
"""
from __future__ import annotations

import math
from concurrent.futures import FIRST_COMPLETED, Executor, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from typing import Any, Callable

from resnas.search.bayesian import BayesianOptimization, RandomForestBO
from resnas.search.evolution import CrossoverEvolution, Evolution, RegularizedEvolution
from resnas.search.genetic import GeneticAlgorithm
from resnas.search.local_search import LocalSearch
from resnas.search.random_search import RandomSearch

STRATEGIES: dict[str, Callable] = {
    "random": RandomSearch,
    "local": LocalSearch,
    "bayesian": BayesianOptimization,
    "evolution": Evolution,
    "regularized_evolution": RegularizedEvolution,
    "crossover_evolution": CrossoverEvolution,
    "genetic": GeneticAlgorithm,
    "bayesian_rf": RandomForestBO,
}
TELL_ORDERS = ("asked", "finished")


def make_strategy(name: str, **kwargs):
    if name not in STRATEGIES:
        raise ValueError(f"strategy={name!r} is unknown; allowed: {', '.join(STRATEGIES)}")
    return STRATEGIES[name](**kwargs)


@dataclass(frozen=True)
class Trial:
    index: int  # position in the order the strategy was told the results
    config: Any
    fitness: float
    info: dict = field(default_factory=dict)
    asked: int = -1  # position in the order the strategy asked for the configurations (= index unless told as
    # they finished)


@dataclass(frozen=True)
class BatchObjective:
    """An objective evaluated a batch at a time: `map(configs)` returns one result per configuration, in order
    (a fitness, or (fitness, info)). `Evaluator.map` is one: it runs the batch on its workers (packing a GPU) and
    commits each record to the archive as it finishes, so an interrupted batch keeps what finished."""

    map: Callable[[list], list]


def run_search(strategy, objective, budget: int, progress: bool = True, desc: str | None = None, *,
               workers: int = 1, tell_order: str = "asked", executor: Executor | None = None) -> list[Trial]:
    """Ask, evaluate, tell until `budget` results are told. Returns every trial in the order told.

    `objective` is a callable `objective(config)` returning a fitness (minimised) or (fitness, info), or a
    `BatchObjective`. A NaN or infinite fitness is told as +inf, the fitness every strategy ranks last.

    `workers=1` with a callable and no executor is the serial loop (ask one, evaluate it, tell it). Otherwise up
    to `workers` configurations are in flight at once: the strategy is asked for a batch (`ask(n)`) to fill the
    free slots, and asked again as results are told. A callable runs on `executor` (default: a pool of
    `workers` threads, so it must be thread-safe); a `BatchObjective` gets everything waiting in one `map` call,
    and its results come back together.

    `tell_order='asked'` (default) tells the results in the order the configurations were asked, one at a time,
    asking for one more after each: the sequence of asks and tells, and so the trajectory, is the same however
    long each evaluation takes, so a run repeats itself exactly. `tell_order='finished'` tells each result as
    soon as it is in (several that finish together in the order asked) and refills all free slots at once: no
    worker waits for a slow evaluation, but the trajectory depends on timing. With one worker both are the
    serial loop. A parallel trajectory differs from the serial one by design (a configuration asked while
    others are in flight cannot use their results); each strategy's docstring says how."""
    if isinstance(workers, bool) or not isinstance(workers, int) or workers < 1:
        raise ValueError(f"workers={workers!r} is not a number of workers; allowed: an integer >= 1")
    if tell_order not in TELL_ORDERS:
        raise ValueError(f"tell_order={tell_order!r} is unknown; allowed: {', '.join(TELL_ORDERS)}")
    batch = isinstance(objective, BatchObjective)
    if not batch and not callable(objective):
        raise ValueError(f"objective={objective!r} is neither a callable nor a BatchObjective")
    bar = None
    if progress:
        from resnas.progress import tqdm
        bar = tqdm(total=budget, desc=desc or type(strategy).__name__, unit="eval", leave=False)
    try:
        if workers == 1 and executor is None and not batch:
            return _serial(strategy, objective, budget, bar)
        if batch:
            return _parallel(strategy, _Rounds(objective.map), budget, workers, tell_order, bar)
        own = executor is None
        pool = ThreadPoolExecutor(workers) if own else executor
        try:
            return _parallel(strategy, _Pool(objective, pool), budget, workers, tell_order, bar)
        finally:
            if own:
                pool.shutdown(wait=True, cancel_futures=True)
    finally:
        if bar is not None:
            bar.close()


def _fitness(out) -> tuple[float, dict]:
    fitness, info = out if isinstance(out, tuple) else (out, {})
    return (float(fitness) if math.isfinite(fitness) else math.inf), info


def _serial(strategy, objective, budget, bar) -> list[Trial]:
    """The reference loop: one configuration asked, evaluated and told at a time."""
    trials: list[Trial] = []
    best = math.inf
    for i in range(budget):
        cfg = strategy.ask()
        fitness, info = _fitness(objective(cfg))
        strategy.tell(cfg, fitness)
        trials.append(Trial(i, cfg, fitness, info, i))
        best = min(best, fitness)
        if bar is not None:
            bar.update(1)
            bar.set_postfix(best=f"{best:.3g}")
    return trials


class _Pool:
    """Each configuration runs `objective` on the executor as soon as it is started."""

    def __init__(self, objective, executor: Executor):
        self.objective, self.executor, self.running = objective, executor, {}

    def start(self, index: int, cfg) -> None:
        self.running[self.executor.submit(self.objective, cfg)] = index

    def collect(self) -> list:
        """Wait for at least one evaluation; (ask index, result) of every one finished, in ask order."""
        done, _ = wait(self.running, return_when=FIRST_COMPLETED)
        return [(i, f.result()) for i, f in sorted(((self.running.pop(f), f) for f in done), key=lambda x: x[0])]


class _Rounds:
    """Configurations wait until results are needed, then all of them go to one `map` call."""

    def __init__(self, map_fn: Callable[[list], list]):
        self.map, self.waiting = map_fn, []

    def start(self, index: int, cfg) -> None:
        self.waiting.append((index, cfg))

    def collect(self) -> list:
        batch, self.waiting = self.waiting, []
        results = list(self.map([cfg for _, cfg in batch]))
        if len(results) != len(batch):
            raise ValueError(f"BatchObjective.map returned {len(results)} results for {len(batch)} configurations")
        return [(i, out) for (i, _), out in zip(batch, results)]


def _parallel(strategy, runner, budget: int, workers: int, tell_order: str, bar) -> list[Trial]:
    trials: list[Trial] = []
    pending: dict[int, Any] = {}  # ask index -> configuration, in flight or finished but not yet told
    results: dict[int, Any] = {}  # ask index -> result not yet told (tell_order='asked')
    asked, best = 0, math.inf

    def refill():
        nonlocal asked
        free = min(workers - len(pending), budget - asked)
        if free <= 0:
            return
        batch = strategy.ask(free)
        if len(batch) > free:
            raise RuntimeError(f"{type(strategy).__name__}.ask({free}) returned {len(batch)} configurations")
        for cfg in batch:
            pending[asked] = cfg
            runner.start(asked, cfg)
            asked += 1

    def tell(index, out):
        nonlocal best
        cfg = pending.pop(index)
        fitness, info = _fitness(out)
        strategy.tell(cfg, fitness)
        trials.append(Trial(len(trials), cfg, fitness, info, index))
        best = min(best, fitness)
        if bar is not None:
            bar.update(1)
            bar.set_postfix(best=f"{best:.3g}")

    refill()
    while len(trials) < budget:
        if not pending:
            raise RuntimeError(f"{type(strategy).__name__} proposed nothing while nothing was being evaluated")
        if tell_order == "asked":
            first = min(pending)
            while first not in results:
                results.update(runner.collect())
            tell(first, results.pop(first))
        else:
            for index, out in runner.collect():
                tell(index, out)
        refill()
    return trials
