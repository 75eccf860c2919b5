"""Steady-state evolution over any space with `sample`, `mutate` and `crossover` (thesis §3.5, Algorithm 2).

- `Evolution`: draw a tournament of 2; the worse is removed; a mutated copy of the better is added.
- `RegularizedEvolution` (Real et al. 2019): the same tournament, but the *oldest* member is removed.
- `CrossoverEvolution`: a tournament of 3; the best two are crossed uniformly, the child mutated; the
  oldest is removed.

The initial population is `population_size` random distinct configurations, all evaluated. A child is redrawn
(a few times) when it was evaluated before, as the thesis code preferred new children.
"""
from __future__ import annotations

import math
from collections import deque

import numpy as np


class Evolution:
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
        self.victim = None  # the member to remove when the pending child is told

    def ask(self):
        if self.initial:
            return self.initial.pop(0)
        if len(self.population) < 2:  # a population of one: mutate it
            return self._new_child([self.population[0][0]])
        idx = self.rng.choice(len(self.population), size=min(self.tournament, len(self.population)),
                              replace=False)
        drawn = sorted((self.population[i] for i in idx), key=lambda m: m[1])
        self.victim = drawn[-1] if self.remove == "worst" else None
        parents = [m[0] for m in drawn[:2]] if self.cross else [drawn[0][0]]
        return self._new_child(parents)

    def _new_child(self, parents):
        child = None
        for _ in range(self.max_retries):
            base = self.space.crossover(parents[0], parents[1], self.rng) if len(parents) > 1 else parents[0]
            child = self.space.mutate(base, self.rng)
            if child not in self.seen:
                break
        return child

    def tell(self, config, fitness: float) -> None:
        fitness = fitness if math.isfinite(fitness) else math.inf
        self.seen.add(config)
        growing = len(self.population) < self.population_size and self.victim is None
        self.population.append((config, fitness))
        if growing:
            return
        if self.remove == "oldest":
            self.population.popleft()
        elif self.victim is not None:
            self.population.remove(self.victim)
        self.victim = None

    def best(self):
        return min(self.population, key=lambda m: m[1])


class RegularizedEvolution(Evolution):
    remove = "oldest"


class CrossoverEvolution(Evolution):
    tournament = 3
    remove = "oldest"
    cross = True
