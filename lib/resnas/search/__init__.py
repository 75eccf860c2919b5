"""Search strategies as ask/tell objects that know nothing about training.

    strategy = STRATEGIES["regularized_evolution"](space=SPACE, seed=0, population_size=50)
    cfg = strategy.ask()            # a configuration to evaluate
    strategy.tell(cfg, fitness)     # its fitness, minimised; math.inf marks a failed evaluation

`run_search(strategy, objective, budget)` drives one with any objective (the evaluator in the notebooks, a
synthetic function in the tests). Strategies never see training; the evaluator never sees a strategy.
Strategies see a space only through its public interface (`resnas.spaces.base.SearchSpace`), so each runs on
every space: the ERA ResNets and the cell spaces alike.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Callable

from resnas.search.bayesian import BayesianOptimization
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
}


def make_strategy(name: str, **kwargs):
    if name not in STRATEGIES:
        raise ValueError(f"strategy={name!r} is unknown; allowed: {', '.join(STRATEGIES)}")
    return STRATEGIES[name](**kwargs)


@dataclass(frozen=True)
class Trial:
    index: int
    config: Any
    fitness: float
    info: dict = field(default_factory=dict)


def run_search(strategy, objective: Callable, budget: int, progress: bool = True, desc: str | None = None
               ) -> list[Trial]:
    """Ask, evaluate, tell, `budget` times. `objective(config)` returns a fitness (minimised) or
    (fitness, info). Returns every trial in order."""
    trials: list[Trial] = []
    bar = None
    if progress:
        from tqdm.auto import tqdm
        bar = tqdm(total=budget, desc=desc or type(strategy).__name__, unit="eval", leave=False)
    best = math.inf
    for i in range(budget):
        cfg = strategy.ask()
        out = objective(cfg)
        fitness, info = out if isinstance(out, tuple) else (out, {})
        fitness = float(fitness) if math.isfinite(fitness) else math.inf
        strategy.tell(cfg, fitness)
        trials.append(Trial(i, cfg, fitness, info))
        best = min(best, fitness)
        if bar is not None:
            bar.update(1)
            bar.set_postfix(best=f"{best:.3g}")
    if bar is not None:
        bar.close()
    return trials
