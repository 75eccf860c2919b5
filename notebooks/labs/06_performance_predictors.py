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
# # Lab 06 — Performance predictors: regress the accuracy, or learn the order?
#
# Paper: RNAS (`../shared/papers/rnas.txt`, Table 2: pairwise 0.8136 vs MSE 0.6090 Kendall tau at 0.1% of NAS-Bench-101); our numbers are computed below, beside it.
#
# A predictor scores architectures without training them, so a search can look at thousands. What a search
# needs from it is the **order** (which of two cells is better), not the accuracy itself. RNAS (spec/rnas.md;
# `resnas.predictor`, `notebooks/ranking_predictor.py`) therefore trains its predictor with a **pairwise ranking
# loss** instead of the mean squared error, and reports Kendall's τ on held-out architectures as the training
# set shrinks.
#
# Here the architectures are the 15,625 NAS-Bench-201 cells with their CIFAR-10 accuracies from the offline
# table (`resnas.tabular_cells`: AnalogNAS-Bench's own runs, not NAS-Bench-201's), encoded as the adjacency ×
# operation tensor `resnas.predictor.cell_encoding` (80 numbers per cell). The scorer is a small perceptron
# (`resnas.labs.performance_predictors.fit_scorer`), the same for both losses, trained on the same cells.
#
# **You will** write (1) the pairwise hinge loss and (2) Kendall's τ-b, then see where τ separates the losses.

# %% tags=["parameters"]
solved = False  # True: the teacher's solutions fill the TODOs
seed = 0
pool = 1000  # labelled cells available for training (the fractions are of this pool)
test = 2000  # held-out cells the predictors are judged on
fractions = [0.02, 0.05, 0.1, 0.25]  # of the pool: 20 to 250 training cells
seeds = 5  # repetitions (another subsample and initialisation each; both losses share them)
epochs = 150  # full-batch Adam steps per fit
margin = 0.1  # the pairwise loss's margin (labels are scaled to [0, 1])

# %%
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import seaborn as sns
import torch
from IPython.display import display

from resnas import labs
from resnas.labs import performance_predictors as check
from resnas.predictor import kendall_tau
from resnas.spaces.cells import NB201
from resnas.tabular_cells import TabularEvaluator

torch.set_num_threads(1)  # many tiny full-batch fits: threads cost more than they give
ev = TabularEvaluator()
cells = list(NB201.enumerate())
x = check.encode_cells(cells)  # (15625, 80)
y = ev.accuracy  # CIFAR-10 test accuracy (%), in the same (index) order
pool_idx, test_idx = check.split(len(cells), pool, test, seed)
print(f"x {x.shape}; pool {len(pool_idx)} cells, test {len(test_idx)} cells; "
      f"{(y[test_idx] == 10.0).sum()} test cells sit at chance (10%), tied")

# %% [markdown]
# ## Exercise 1 — the pairwise hinge loss
# For scores `s` (the predictor's output) and labels `y` (accuracies scaled to [0, 1]): the mean, over ordered
# pairs (i, j) with y_i ≠ y_j, of max(0, margin − (s_i − s_j)·sign(y_i − y_j)). A pair ordered like its labels
# costs nothing once its score gap reaches the margin; a pair with equal labels has no order to learn. Use torch
# operations on `scores` only (broadcasting `scores[:, None] - scores[None, :]` gives every pair), so that
# gradients flow.

# %%
def pairwise_hinge(scores, labels, margin=0.1):
    # TODO: the mean over pairs with different labels of max(0, margin - (s_i - s_j) * sign(y_i - y_j))
    raise NotImplementedError("TODO exercise 1: pairwise_hinge")


pairwise_hinge = labs.solution(check.LAB, pairwise_hinge, solved)

# %%
check.check_pairwise_loss(pairwise_hinge)

# %% [markdown]
# ## Exercise 2 — Kendall's τ-b
# Over all unordered pairs: concordant pairs (both series order them alike) minus discordant ones, divided by
# √(pairs not tied in a × pairs not tied in b). The 341 cut-off cells all sit at exactly 10%: ties matter here.

# %%
def kendall(a, b):
    # TODO: Kendall's tau-b of two equally long series (numpy: np.sign of all pairwise differences)
    raise NotImplementedError("TODO exercise 2: kendall")


kendall = labs.solution(check.LAB, kendall, solved)

# %%
check.check_kendall(kendall)

# %% [markdown]
# One fit with each loss on 10% of the pool, judged on the held-out cells with your τ and with scipy's:

# %%
train = np.random.default_rng(seed).permutation(pool_idx)[: int(0.1 * pool)]
for name, loss in {"mse": check.mse_loss, "pairwise": pairwise_hinge}.items():
    net = check.fit_scorer(x[train], y[train], loss, epochs=epochs, margin=margin, seed=seed)
    s = check.scores(net, x[test_idx])
    print(f"{name:9s} tau on {len(test_idx)} held-out cells: yours {kendall(s, y[test_idx]):.4f}, "
          f"scipy {kendall_tau(s, y[test_idx]):.4f}")

# %% [markdown]
# ## Where does τ separate the losses?
# Every fraction × seed trains both losses on the same cells (paired), judged by τ on the same held-out cells.

# %%
study = check.fraction_study(x, y, pool_idx, test_idx, fractions,
                             {"mse": check.mse_loss, "pairwise": pairwise_hinge}, range(seeds), epochs, margin)
gap = check.paired_gap(study, "pairwise", "mse")
display(study.groupby(["n_train", "loss"]).tau.agg(["mean", "std", "min", "max"]).unstack("loss").round(3))
display(gap.round(3))

# %%
fig, ax = plt.subplots(figsize=(7, 4))
sns.lineplot(data=study, x="n_train", y="tau", hue="loss", style="loss", markers=True, errorbar=("ci", 95),
             n_boot=1000, seed=seed, ax=ax)
ax.set_xscale("log")
sizes = sorted(study.n_train.unique())
ax.set_xticks(sizes, [str(n) for n in sizes])
ax.minorticks_off()
ax.set(xlabel=f"training cells (of a pool of {pool})", ylabel=f"Kendall τ on {test} held-out cells",
       title=f"MSE vs pairwise loss, {seeds} seeds (95% bootstrap band)")
plt.show()

# %%
for r in gap.itertuples():
    where = ("pairwise ahead" if r.ci_low > 0 else "MSE ahead" if r.ci_high < 0 else "not resolved")
    print(f"{r.n_train:4d} cells: tau(pairwise) - tau(mse) = {r.mean_gap:+.3f} [{r.ci_low:+.3f}, {r.ci_high:+.3f}]"
          f" ({where}; {r.pairwise_better}/{r.seeds} seeds favour pairwise)")

# %% [markdown]
# ## Questions
# 1. At which training sizes does the interval of the gap exclude 0, and in whose favour? Does the answer match
#    RNAS's claim that ranking losses matter most when labels are scarce?
# 2. With `seeds = 5` the intervals are wide. What would you change first to resolve the smallest gap, and what
#    does it cost?
# 3. After min-max scaling most labels sit above 0.9 (the 341 cut-off cells at 10% pull the minimum down). Why
#    does that hurt the MSE fit's ranking of the good cells more than the pairwise loss? (Raising `epochs` does
#    not close the gap: try it on one fraction.)
# 4. Swap the two differences' pair orders in your loss (`scores[None, :] - scores[:, None]`) and rerun one fit:
#    what τ do you get, and why is that the clearest symptom of the bug?
