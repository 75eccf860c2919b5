"""The ask/tell contract every strategy keeps, single and batched.

    cfg = strategy.ask()          # one configuration (the serial loop)
    cfgs = strategy.ask(n)        # a list of at most n configurations, all to be evaluated at once
    strategy.tell(cfg, fitness)   # once per configuration asked, in any order; math.inf marks a failure

A strategy implements `_propose()`: the next configuration given everything told so far and everything asked
but not yet told, or None when it cannot go on before some of those results are in (local search at the end
of a neighbourhood, the generational GA at the end of a generation, an evolution whose whole initial
population is still being evaluated). `ask(n)` stops at the first None and returns what it has (possibly an
empty list); `ask()` raises then, because a serial caller never leaves anything untold.

`ask(n)` is the same as n calls of `ask()` without tells in between: a strategy's batch is its own sequence of
proposals with the untold ones treated as pending, so `ask(1)` followed by `tell` repeats the serial
trajectory exactly.
"""
from __future__ import annotations


class AskTell:
    """Mixin: `ask()` and `ask(n)` from the strategy's `_propose()`."""

    def _propose(self):
        raise NotImplementedError

    def ask(self, n: int | None = None):
        if n is None:
            cfg = self._propose()
            if cfg is None:
                raise RuntimeError(f"{type(self).__name__} cannot propose before the configurations it asked for "
                                   "are told; tell them first (or ask a batch with ask(n))")
            return cfg
        if isinstance(n, bool) or not isinstance(n, int) or n < 1:
            raise ValueError(f"n={n!r} is not a batch size; allowed: an integer >= 1")
        batch = []
        while len(batch) < n:
            cfg = self._propose()
            if cfg is None:
                break
            batch.append(cfg)
        return batch
