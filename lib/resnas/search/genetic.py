"""A generational genetic algorithm with elitism: the loop GENAS's table operators run in (spec/genas.md).

GENAS's abstract names a population of tables, crossover and mutation on them; its lineage (EvNAS, SaDENAS)
runs them in a generational loop with tournament selection and elitism. That loop, ours in its details:
- the first generation is `population_size` random distinct configurations;
- each later generation keeps the `elite` best members of the last one and adds `population_size - elite`
  children; a child's two parents are each the best of a tournament of `tournament` members drawn without
  replacement; with probability `crossover_rate` the child is their `space.crossover` (rows, or DARTS node
  blocks), else a copy of the first parent; it is then always passed through `space.mutate`, so it differs
  from the parent it came from;
- a child that was evaluated before (or is already waiting) is redrawn up to `max_retries` times.
It sees the space only through `sample`, `crossover` and `mutate` (resnas.spaces.base), so it runs on every
space; a failed evaluation (inf) is never an elite or a tournament winner while a finite member exists.

Parallel form (`ask(n)`): a generation is the natural batch. Its children are asked as fast as workers free
up; the next generation is bred only when every child of this one has been told, so `ask(n)` returns fewer
configurations (none) while the last children of a generation are out. Told in the order asked
(`run_search`'s default) the trajectory is the serial one for any number of workers; told as they finish, a
generation keeps its members in finishing order, which changes the members later tournaments draw.
"""
from __future__ import annotations

import math

import numpy as np

from resnas.search.base import AskTell


class GeneticAlgorithm(AskTell):
    def __init__(self, space, seed: int = 0, population_size: int = 20, tournament: int = 3, elite: int = 2,
                 crossover_rate: float = 0.5, max_retries: int = 10):
        if population_size < 2:
            raise ValueError(f"population_size={population_size} is too small; allowed: >= 2")
        if not 0 <= elite < population_size:
            raise ValueError(f"elite={elite} is out of range; allowed: 0 to {population_size - 1} "
                             "(population_size - 1)")
        if not 1 <= tournament <= population_size:
            raise ValueError(f"tournament={tournament} is out of range; allowed: 1 to {population_size}")
        if not 0 <= crossover_rate <= 1:
            raise ValueError(f"crossover_rate={crossover_rate} is out of range; allowed: 0 to 1")
        self.space, self.rng = space, np.random.default_rng(seed)
        self.population_size, self.tournament, self.elite = population_size, tournament, elite
        self.crossover_rate, self.max_retries = crossover_rate, max_retries
        self.seen: set = set()
        self.population: list = []  # (config, fitness) of the current generation
        self.children: list = []  # (config, fitness) told so far in the generation being evaluated
        self.queue: list = []
        while len(self.queue) < population_size:  # distinct first generation (retry duplicates)
            cfg = space.sample(self.rng)
            if cfg not in self.queue or len(self.queue) >= 10 * population_size:
                self.queue.append(cfg)
        self.first = True  # the first generation is being evaluated
        self.generation = 0
        self.outstanding = 0  # asked, not yet told

    def _propose(self):
        if not self.queue:
            if self.outstanding:  # this generation is not complete: its survivors are not known yet
                return None
            self._breed()
        self.outstanding += 1
        return self.queue.pop(0)

    def tell(self, config, fitness: float) -> None:
        fitness = fitness if math.isfinite(fitness) else math.inf
        self.seen.add(config)
        self.outstanding = max(0, self.outstanding - 1)
        self.children.append((config, fitness))
        expected = self.population_size if self.first else self.population_size - self.elite
        if len(self.children) >= expected:
            keep = sorted(self.population, key=lambda m: m[1])[: self.elite] if not self.first else []
            self.population, self.children, self.first = keep + self.children, [], False
            self.generation += 1

    def _pick(self, members) -> object:
        idx = self.rng.choice(len(members), size=min(self.tournament, len(members)), replace=False)
        return min((members[i] for i in idx), key=lambda m: m[1])[0]

    def _breed(self) -> None:
        """Queue the next generation's children (called once every child of the last one was told)."""
        members = self.population or self.children
        if not members:  # asked for more than the first generation before any tell
            self.queue.append(self.space.sample(self.rng))
            return
        waiting: set = set()
        for _ in range(self.population_size - self.elite):
            child = None
            for _ in range(self.max_retries):
                first = self._pick(members)
                base = first
                if self.rng.random() < self.crossover_rate:
                    base = self.space.crossover(first, self._pick(members), self.rng)
                child = self.space.mutate(base, self.rng)
                if child not in self.seen and child not in waiting:
                    break
            waiting.add(child)
            self.queue.append(child)

    def best(self):
        return min(self.population + self.children, key=lambda m: m[1])
