"""Random search: every configuration drawn uniformly from the space."""
from __future__ import annotations

import numpy as np


class RandomSearch:
    def __init__(self, space, seed: int = 0):
        self.space, self.rng = space, np.random.default_rng(seed)

    def ask(self):
        return self.space.sample(self.rng)

    def tell(self, config, fitness: float) -> None:
        pass  # random search learns nothing
