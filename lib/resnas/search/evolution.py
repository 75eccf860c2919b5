"""Steady-state evolution over any space with `sample`, `mutate` and `crossover` (thesis §3.5, Algorithm 2).

- `Evolution`: draw a tournament of 2; the worse is removed; a mutated copy of the better is added.
- `RegularizedEvolution` (Real et al. 2019): the same tournament, but the *oldest* member is removed.
- `CrossoverEvolution`: a tournament of 3; the best two are crossed uniformly, the child mutated; the
  oldest is removed.

The initial population is `population_size` random distinct configurations, all evaluated. A child is redrawn
(a few times) when it was evaluated before (or is being evaluated), as the thesis code preferred new children.

Serial form (one evaluation at a time, `ask()` then `tell()`): the thesis's steady-state loop. Each child is
bred from a population that already holds every earlier child.

Parallel form (`ask(n)`, several children in flight; `resnas.search.run_search` with `workers > 1`): the
asynchronous steady state of Real et al. (2019), who ran regularized evolution on many workers this way. Each
free worker gets a child of a tournament over the population *as it is now*: members still being evaluated
are not in it, so a child cannot descend from a sibling that has not finished. Each finished child is told
and removes one member as in the serial loop: the oldest, or the loser of the tournament it was bred from;
if another child's tell already removed that loser, the loser of a fresh tournament (same size, drawn when
the child is told) goes instead, so the population keeps its size. While the whole initial population is
still being evaluated there is nothing to breed from: `ask(n)` then returns fewer configurations (none) and
the caller waits for results. With one evaluation in flight the parallel form is the serial one exactly.
"""
from __future__ import annotations

import math
from collections import Counter, deque

import numpy as np

from resnas.search.base import AskTell


class Evolution(AskTell):
    tournament = 2
    remove = "worst"  # or "oldest"
    cross = False

    def __init__(self, space, seed: int = 0, population_size: int = 50, max_retries: int = 10):
        self.space, self.rng = space, np.random.default_rng(seed)
        self.population_size, self.max_retries = population_size, max_retries
        self.population: deque = deque()  # (config, fitness), oldest first
        self.seen: set = set()
        self.initial: list = []
        while len(self.initial) < population_size:  # distinct initial members (retry duplicates)
            cfg = space.sample(self.rng)
            if cfg not in self.initial or len(self.initial) >= 10 * population_size:
                self.initial.append(cfg)
        self.waiting: Counter = Counter()  # asked, not yet told
        self.victims: dict = {}  # child -> the members to remove when it is told (one per pending ask), or None

    def _propose(self):
        if self.initial:
            cfg = self.initial.pop(0)
            return self._asked(cfg, None)
        if not self.population:  # the whole initial population is still being evaluated
            return None
        if len(self.population) < 2:  # a population of one: mutate it
            return self._asked(self._new_child([self.population[0][0]]), None)
        drawn = self._tournament()
        victim = drawn[-1] if self.remove == "worst" else None
        parents = [m[0] for m in drawn[:2]] if self.cross else [drawn[0][0]]
        return self._asked(self._new_child(parents), victim)

    def _tournament(self) -> list:
        """`tournament` distinct members drawn at random, best first."""
        idx = self.rng.choice(len(self.population), size=min(self.tournament, len(self.population)),
                              replace=False)
        return sorted((self.population[i] for i in idx), key=lambda m: m[1])

    def _asked(self, cfg, victim):
        self.waiting[cfg] += 1
        self.victims.setdefault(cfg, []).append(victim)
        return cfg

    def _new_child(self, parents):
        child = None
        for _ in range(self.max_retries):
            base = self.space.crossover(parents[0], parents[1], self.rng) if len(parents) > 1 else parents[0]
            child = self.space.mutate(base, self.rng)
            if child not in self.seen and child not in self.waiting:
                break
        return child

    def tell(self, config, fitness: float) -> None:
        fitness = fitness if math.isfinite(fitness) else math.inf
        self.seen.add(config)
        victim = None
        if self.victims.get(config):  # told in the order asked: the first pending ask of this configuration
            victim = self.victims[config].pop(0)
            self.waiting[config] -= 1
            if not self.victims[config]:
                del self.victims[config], self.waiting[config]
        growing = len(self.population) < self.population_size and victim is None
        self.population.append((config, fitness))
        if growing:
            return
        if self.remove == "oldest":
            self.population.popleft()
        elif victim is not None:
            if victim not in self.population:  # parallel form only: another child's tell removed it already
                others = self.population.copy()
                others.pop()  # never the child just told
                victim = sorted((others[i] for i in self.rng.choice(
                    len(others), size=min(self.tournament, len(others)), replace=False)), key=lambda m: m[1])[-1]
            self.population.remove(victim)

    def best(self):
        return min(self.population, key=lambda m: m[1])


class RegularizedEvolution(Evolution):
    remove = "oldest"


class CrossoverEvolution(Evolution):
    tournament = 3
    remove = "oldest"
    cross = True
