# ---
# jupyter:
#   jupytext:
#     formats: py:percent
#     text_representation:
#       extension: .py
#       format_name: percent
#   kernelspec:
#     display_name: Python 3
#     language: python
#     name: python3
# ---

# %% [markdown]
# # Lab 02 — Search strategies: write one, race it over many seeds
#
# Paper: the ERA thesis (`../shared/papers/era-thesis.txt`, §4.1: six strategies, regularized evolution best after final training at 6.7% error); our numbers are computed below, beside it.
#
# A search strategy in this project is an **ask/tell** object (`lib/resnas/search/base.py`): `ask()` returns a
# configuration to evaluate, `tell(config, fitness)` hands back its fitness, which is **minimised** (the test
# error in %; `math.inf` marks a failed evaluation). The strategy never sees training, and the evaluator never
# sees the strategy; `resnas.search.run_search(strategy, objective, budget)` drives the loop. Read
# `random_search.py` (the whole strategy is `space.sample`) and `evolution.py` (regularized evolution, Real et
# al. 2019: a tournament of two, the oldest member dies) before you start.
#
# The benchmark is a **table**: the CIFAR-10 test accuracy of all 15,625 NAS-Bench-201 cells
# (`resnas.tabular_cells`; AnalogNAS-Bench's own 200-epoch runs, not NAS-Bench-201's — best cell 94.07%). A
# query is a look-up, so a search of 150 queries takes milliseconds and we can afford many seeds: one search
# says almost nothing about a strategy, the spread over seeds does.
#
# **You will** (1) turn a trace of accuracies into a best-so-far curve, (2) write a strategy from a template,
# (3) race it against random search and regularized evolution over many seeds and read the result with an
# interval. Each exercise is followed by a self-check cell; run it after every attempt.

# %% tags=["parameters"]
solved = False  # True: the teacher's solutions fill the TODOs
seed = 0
seeds = 30  # searches per strategy (seed s is shared by all strategies: common random numbers)
budget = 150  # table queries per search
population = 20  # regularized evolution's population
n_initial = 10  # random cells before your strategy starts mutating

# %%
import math

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import seaborn as sns
from IPython.display import display

from resnas import labs
from resnas.labs import search_strategies as check
from resnas.search import RandomSearch, RegularizedEvolution, run_search
from resnas.search.base import AskTell
from resnas.spaces.cells import NB201
from resnas.tabular_cells import TabularEvaluator

ev = TabularEvaluator()  # the table, sha256-checked
print(f"{NB201.size():,} cells; best {ev.best_accuracy:.2f}%, median {np.median(ev.accuracy):.2f}%")

# %% [markdown]
# ## Exercise 1 — the best-so-far curve
# A search is judged by the best accuracy it has found after each query. Given the accuracies of the cells a
# search asked for, in order, return the best among the first *k* of them, for every *k*.

# %%
def best_so_far(accuracies):
    # TODO: one value per query: the highest accuracy among queries 1..k (hint: numpy has an accumulating max)
    raise NotImplementedError("TODO exercise 1: best_so_far")


best_so_far = labs.solution(check.LAB, best_so_far, solved)

# %%
check.check_best_so_far(best_so_far)

# %% [markdown]
# ## Exercise 2 — a strategy from a template
# Greedy mutation: ask for `n_initial` random cells; after that, always propose one mutation
# (`self.space.mutate(cell, self.rng)`, one edge gets another operation) of the **best cell told so far**.
# `_propose()` is what `ask()` calls (the `AskTell` mixin adds `ask(n)` for batches); `tell()` receives every
# result. Remember: fitness is minimised, and a failure arrives as `math.inf`. Draw every random choice from
# `self.rng`, so a seed repeats a run.

# %%
class GreedyMutation(AskTell):
    def __init__(self, space, seed=0, n_initial=10):
        self.space, self.rng, self.n_initial = space, np.random.default_rng(seed), n_initial
        self.asked = 0  # how many configurations were proposed so far
        self.best, self.best_fitness = None, math.inf  # the best cell told so far

    def _propose(self):
        # TODO: a random cell while fewer than n_initial were proposed (or nothing was told yet), then one
        # mutation of self.best
        raise NotImplementedError("TODO exercise 2: GreedyMutation._propose")

    def tell(self, config, fitness):
        # TODO: remember config as the best when its fitness is lower than any told before
        raise NotImplementedError("TODO exercise 2: GreedyMutation.tell")


GreedyMutation = labs.solution(check.LAB, GreedyMutation, solved)

# %%
check.check_strategy(GreedyMutation)

# %% [markdown]
# One search, to see the protocol at work (the objective answers `(fitness, info)`):

# %%
trials = run_search(GreedyMutation(NB201, seed=seed, n_initial=n_initial), ev.objective("nb201"), budget,
                    progress=False)
print(f"{len(trials)} queries, best {100 - min(t.fitness for t in trials):.2f}% "
      f"({sum(t.fitness == min(x.fitness for x in trials) for t in trials)} queries hit it)")

# %% [markdown]
# ## The race
# Every strategy × seed is its own search of `budget` queries (a repeated cell costs a query, as it would without
# an archive). Regret = the table's best accuracy − the best accuracy found so far (percentage points).

# %%
factories = {
    "random search": lambda s: RandomSearch(NB201, seed=s),
    "regularized evolution": lambda s: RegularizedEvolution(NB201, seed=s, population_size=population),
    "greedy mutation (yours)": lambda s: GreedyMutation(NB201, seed=s, n_initial=n_initial),
}
race = check.race(factories, seeds, budget, ev)
race["best_so_far"] = race.groupby(["strategy", "seed"]).test_accuracy.transform(best_so_far)
race["regret"] = (ev.best_accuracy - race.best_so_far).round(4)  # the table has 4 decimals
final = race[race["query"] == budget]
display(final.groupby("strategy").regret.describe()[["mean", "25%", "50%", "75%", "max"]].round(2))

# %%
fig, ax = plt.subplots(figsize=(7, 4))
sns.lineplot(data=race, x="query", y="regret", hue="strategy", estimator="median", errorbar=("pi", 50), ax=ax)
ax.set_yscale("symlog", linthresh=0.1)  # linear near 0: a search that found the best cell stays on the plot
ax.set_ylim(bottom=0)
ax.set(ylabel="regret (pp): median, band = middle 50% of seeds",
       title=f"{seeds} searches per strategy on the CIFAR-10 cell table")
plt.show()

# %% [markdown]
# ## A verdict with an interval
# Seeds pair the strategies (seed *s* draws the same first cells everywhere), so compare them seed by seed: the
# mean paired difference in final regret with a 95% bootstrap interval over seeds, and a Wilcoxon signed-rank
# test. An interval that straddles 0 is not a win, however the medians look.

# %%
verdicts = pd.DataFrame([check.paired_verdict(final, a, b) for a, b in [
    ("greedy mutation (yours)", "random search"), ("greedy mutation (yours)", "regularized evolution"),
    ("regularized evolution", "random search")]])
display(verdicts.round(3))
for v in verdicts.itertuples():
    print(f"{v.a} − {v.b}: {v.mean_difference:+.2f} pp [{v.ci_low:+.2f}, {v.ci_high:+.2f}] → {v.verdict}")

# %% [markdown]
# ## Questions
# 1. Where do the curves separate? How large is random search's final regret in percentage points, and what
#    does the table's accuracy distribution (best vs median cell) say about why it is not larger?
# 2. Greedy mutation never leaves a local optimum. Change `_propose` to restart from a random cell after *m*
#    queries without improvement; does the interval move?
# 3. Rerun with `seeds = 5`. What happens to the intervals and to the verdicts?
