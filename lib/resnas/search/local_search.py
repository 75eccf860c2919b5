"""Multi-start best-improvement local search (thesis A.2.2, HyperMapper's local search).

Phase 1 draws `n_samples` random configurations. Phase 2 starts a local search from each of the `n_starts`
best: evaluate the whole neighbourhood of the current point, move to its best member if that improves, stop at
a local minimum, then go on from the next start. When all starts are exhausted it restarts from fresh random
samples, so it can always be asked for more. Repeated neighbours cost nothing: the evaluator's archive answers.

Parallel form (`ask(n)`): a batch is the next random samples, or the next members of the neighbourhood being
walked (a whole neighbourhood is evaluated before a step anyway, so its members are independent). A decision
that needs results (which samples start the walks, which neighbour to move to) waits until everything asked
has been told: `ask(n)` returns fewer configurations then, possibly none. A neighbour already asked and not
yet told is not asked again. So the proposals are the serial algorithm's whatever the number of workers: told
in the order asked (`run_search`'s default) the trajectory is the serial one exactly; told as they finish,
only ties between equal fitnesses may break differently.
"""
from __future__ import annotations

import math
from collections import Counter, deque

import numpy as np

from resnas.search.base import AskTell


class LocalSearch(AskTell):
    def __init__(self, space, seed: int = 0, n_samples: int = 50, n_starts: int = 10):
        self.space, self.rng = space, np.random.default_rng(seed)
        self.n_samples, self.n_starts = n_samples, n_starts
        self.seen: dict = {}  # config -> fitness
        self.queue: deque = deque(space.sample(self.rng) for _ in range(n_samples))
        self.phase = "sample"
        self.starts: list = []
        self.current = None  # (config, fitness) of the point being improved
        self.pending: list = []  # neighbourhood of the current point still to be asked
        self.waiting: Counter = Counter()  # asked, not yet told

    def _propose(self):
        while True:
            if self.queue:
                return self._asked(self.queue.popleft())
            if self.pending:
                cfg = self.pending.pop(0)
                if cfg in self.seen or cfg in self.waiting:  # known or being evaluated: no need to ask again
                    continue
                return self._asked(cfg)
            if self.waiting:  # the next decision needs the results still out
                return None
            self._advance()

    def _asked(self, cfg):
        self.waiting[cfg] += 1
        return cfg

    def tell(self, config, fitness: float) -> None:
        self.seen[config] = fitness if math.isfinite(fitness) else math.inf
        if self.waiting[config] > 1:
            self.waiting[config] -= 1
        else:
            self.waiting.pop(config, None)

    def _advance(self) -> None:
        """Called when nothing is queued: finish phase 1, take a step, or move to the next start."""
        if self.phase == "sample":
            ranked = sorted(self.seen.items(), key=lambda kv: kv[1])
            self.starts = [c for c, _ in ranked[: self.n_starts]]
            self.phase = "local"
            self.current = None
        if self.current is not None:
            # the whole neighbourhood of the current point is evaluated: best improvement or stop
            neighbours = self.space.neighbours(self.current[0])
            # no neighbour at all (a sparse space, e.g. a partial table): the point is its own local optimum
            best = min(neighbours, key=lambda c: self.seen.get(c, math.inf)) if neighbours else None
            if best is not None and self.seen.get(best, math.inf) < self.current[1]:
                self._start(best)
                return
            self.current = None
        if not self.starts:  # every start reached its local minimum: restart from new random samples
            self.phase = "sample"
            self.queue.extend(self.space.sample(self.rng) for _ in range(self.n_samples))
            return
        self._start(self.starts.pop(0))

    def _start(self, cfg) -> None:
        self.current = (cfg, self.seen.get(cfg, math.inf))
        self.pending = list(self.space.neighbours(cfg))
