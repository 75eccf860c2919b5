"""Teacher's solutions for lab 02 (search strategies). Withheld from the student handout (`make handout`). Paper: the ERA thesis (../shared/papers/era-thesis.txt, §4.1: six strategies, regularized evolution best after final training at 6.7% error)."""
import numpy as np

from resnas.search.base import AskTell


def best_so_far(accuracies):
    # the running maximum: query k keeps the best accuracy among queries 1..k
    return np.maximum.accumulate(np.asarray(accuracies, dtype=float))


class GreedyMutation(AskTell):
    """`n_initial` random cells, then always one mutation of the best cell told so far (fitness minimised)."""

    def __init__(self, space, seed=0, n_initial=10):
        self.space, self.rng, self.n_initial = space, np.random.default_rng(seed), n_initial
        self.asked = 0
        self.best, self.best_fitness = None, float("inf")

    def _propose(self):
        self.asked += 1
        if self.asked <= self.n_initial or self.best is None:
            return self.space.sample(self.rng)
        return self.space.mutate(self.best, self.rng)

    def tell(self, config, fitness):
        if fitness < self.best_fitness:  # inf (a failure) never wins
            self.best, self.best_fitness = config, fitness
