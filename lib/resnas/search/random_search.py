"""Random search: every configuration drawn uniformly from the space. `ask(n)` is n independent draws, so a
batch, and the whole trajectory, does not depend on how many evaluations run at once."""
from __future__ import annotations

import numpy as np

from resnas.search.base import AskTell


class RandomSearch(AskTell):
    def __init__(self, space, seed: int = 0):
        self.space, self.rng = space, np.random.default_rng(seed)

    def _propose(self):
        return self.space.sample(self.rng)

    def tell(self, config, fitness: float) -> None:
        pass  # random search learns nothing
