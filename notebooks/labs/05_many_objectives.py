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
# # Lab 05 — Many objectives: dominance, decomposition and MOEA/D
#
# A network is judged on more than accuracy: its size, its latency, its loss. With several objectives there is
# no single best network but a *Pareto front* of trade-offs. MO-ResNet searches it with MOEA/D (Zhang & Li 2007),
# which *decomposes* the problem into many single-objective subproblems, one per weight vector, each scored by the
# weighted Chebyshev function.
#
# You will write dominance, the non-dominated filter, the Chebyshev function, the ZDT1 benchmark and the IGD
# indicator by hand; see why Chebyshev decomposition reaches parts of a front a weighted sum cannot; then race
# the library's MOEA/D (`resnas.search.moead`) against pymoo's on ZDT1. Every objective is minimised.

# %% tags=["parameters"]
solved = False  # True: the teacher's solutions fill the TODOs
seed = 0
n_points = 400  # random ZDT1 points in part 2
n_weights = 15  # weight vectors in part 3
seeds = 3  # MOEA/D runs per algorithm in part 4
pop = 30  # population size, also the number of weight vectors, in part 4
n_gen = 60  # generations in part 4

# %%
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from IPython.display import display
from pymoo.problems import get_problem

from resnas import labs
from resnas.labs import many_objectives as checks
from resnas.search.moead_benchmark import summarise, zdt_igd_table

LAB = "05_many_objectives"

# %% [markdown]
# ## 1. Pareto dominance
# Point `a` dominates `b` when `a` is no worse than `b` in every objective and strictly better in at least one.
# Write `dominates(a, b)` for numpy vectors, returning True or False.

# %%
def dominates(a, b):
    # TODO: return True when a dominates b (objectives minimised)
    raise NotImplementedError("TODO exercise 1: dominates")


dominates = labs.solution(LAB, dominates, solved)

# %%
checks.check_dominates(dominates)

# %% [markdown]
# ## 2. The non-dominated points
# Write `pareto_mask(F)`: for objective rows `F` (n, m), a boolean array, True for each row no other row
# dominates. Then write `zdt1(X)`: the ZDT1 benchmark on rows `X` (n, n_var) in [0, 1]:
# $f_1 = x_1$, $g = 1 + 9\,\mathrm{mean}(x_2..x_n)$, $f_2 = g\,(1 - \sqrt{f_1 / g})$. Its Pareto front is
# $f_2 = 1 - \sqrt{f_1}$, reached when $x_2 = \dots = x_n = 0$.

# %%
def pareto_mask(F):
    # TODO: return a boolean array, True where no other row of F dominates the row
    raise NotImplementedError("TODO exercise 2: pareto_mask")


pareto_mask = labs.solution(LAB, pareto_mask, solved)

# %%
checks.check_pareto_mask(pareto_mask)

# %%
def zdt1(X):
    # TODO: return an (n, 2) array of (f1, f2) per row of X
    raise NotImplementedError("TODO exercise 3: zdt1")


zdt1 = labs.solution(LAB, zdt1, solved)

# %%
checks.check_zdt1(zdt1)

# %% [markdown]
# Random points are far from the front: in 30 dimensions `g` averages 28 uniform numbers, so it sits near 5.5.
# Sampling the distance variables from a narrow band near 0 brings them closer; the non-dominated ones are the
# sample's own front.

# %%
rng = np.random.default_rng(seed)
X = rng.random((n_points, 30))
X[:, 1:] *= rng.random((n_points, 1)) * 0.3
F = zdt1(X)
front = pareto_mask(F)
true = get_problem("zdt1").pareto_front()
fig, ax = plt.subplots(figsize=(5, 3.5))
ax.scatter(*F[~front].T, s=6, c="lightgrey", label="dominated")
ax.scatter(*F[front].T, s=14, c="C1", label=f"non-dominated ({front.sum()})")
ax.plot(*true.T, c="k", lw=1, label="ZDT1 Pareto front")
ax.set(xlabel="$f_1$", ylabel="$f_2$", title=f"{n_points} random ZDT1 points")
ax.legend()
plt.show()

# %% [markdown]
# ## 3. Decomposition: Chebyshev against a weighted sum
# Each MOEA/D subproblem has a weight vector λ and scores a point by
# $g(f \mid \lambda, z^*) = \max_k \lambda_k |f_k - z^*_k|$, with $z^*$ the ideal point (the best value of each
# objective seen so far). Write `chebyshev(F, weight, ideal)`: that score for every row of `F`.

# %%
def chebyshev(F, weight, ideal):
    # TODO: return one value per row of F
    raise NotImplementedError("TODO exercise 4: chebyshev")


chebyshev = labs.solution(LAB, chebyshev, solved)

# %%
checks.check_chebyshev(chebyshev)

# %% [markdown]
# Which front point does each of `n_weights` subproblems prefer? On ZDT1 (convex front) and ZDT2 (concave
# front, $f_2 = 1 - f_1^2$), let every weight vector pick its best point of the true front, by Chebyshev and by
# a weighted sum.

# %%
picks = []
fig, axes = plt.subplots(1, 2, figsize=(9, 3.5))
for ax, name in zip(axes, ["zdt1", "zdt2"]):
    P = get_problem(name).pareto_front(n_pareto_points=200)
    ax.plot(*P.T, c="k", lw=1)
    for label, scalarise, marker in [("Chebyshev", chebyshev, "o"), ("weighted sum", checks.weighted_sum, "x")]:
        idx = checks.decomposition_picks(P, n_weights, scalarise)
        ax.scatter(*P[idx].T, marker=marker, s=50, label=f"{label}: {len(set(idx))} distinct points")
        picks.append({"front": name, "scalarisation": label, "distinct points": len(set(idx)),
                      "weight vectors": n_weights})
    ax.set(title=f"{name.upper()}: what {n_weights} subproblems pick", xlabel="$f_1$", ylabel="$f_2$")
    ax.legend(fontsize=8)
plt.show()
display(pd.DataFrame(picks))

# %% [markdown]
# On the concave ZDT2 front a weighted sum can only ever pick its two ends, whatever the weights: the
# Chebyshev function reaches every part of the front, which is why MOEA/D uses it.
#
# ## 4. MOEA/D against pymoo
# To compare two searches we need one number for a whole front. IGD (inverted generational distance) averages,
# over points of the true front, the distance to the nearest point found: small when the found front is both
# close and spread out. Write `igd(F, reference)`.

# %%
def igd(F, reference):
    # TODO: return the mean over reference points of the Euclidean distance to the nearest row of F
    raise NotImplementedError("TODO exercise 5: igd")


igd = labs.solution(LAB, igd, solved)

# %%
checks.check_igd(igd)

# %% [markdown]
# The library's MOEA/D (the MO-ResNet paper's generational update order) and pymoo's (the original, loop-wise
# one) on ZDT1, same weight vectors, neighbourhood, operators and evaluations, `seeds` runs each.
# (`resnas.search.moead_benchmark.zdt_igd_table`, which the `mo_resnet` notebook runs at a larger budget.)

# %%
table = zdt_igd_table(seeds=tuple(range(seeds)), n_gen=n_gen, pop=pop, problems=("zdt1",), orders=("generational",))
display(table.pivot(index="seed", columns="algorithm", values="igd").round(4))
display(summarise(table).round(4))
fronts = checks.final_fronts("zdt1", seed, n_gen, pop)
mine = {alg: igd(F, true) for alg, F in fronts.items()}
fig, ax = plt.subplots(figsize=(5, 3.5))
ax.plot(*true.T, c="k", lw=1, label="Pareto front")
for alg, F in fronts.items():
    ax.scatter(*F[pareto_mask(F)].T, s=14, label=f"{alg} (your IGD {mine[alg]:.3f})")
ax.set(xlabel="$f_1$", ylabel="$f_2$", title=f"ZDT1 after {pop * (n_gen + 1)} evaluations, seed {seed}")
ax.legend(fontsize=8)
plt.show()

# %% [markdown]
# ## What to take away
# - Dominance gives a partial order; the front is what it leaves undominated, and IGD scores a whole front.
# - Chebyshev decomposition turns one multi-objective search into `pop` single-objective ones that can reach a
#   concave front; a weighted sum cannot.
# - With a handful of seeds, the IGD table shows the spread between runs; whether one MOEA/D beats the other
#   needs more seeds than this lab runs (raise `seeds`), and neither has converged at this budget (IGD 0 is the
#   true front).
