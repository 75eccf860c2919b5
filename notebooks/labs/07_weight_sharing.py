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
# # Lab 07 — Weight sharing: can a supernet rank cells it never trained alone?
#
# Paper: GENAS (`../shared/papers/genas-abstract.txt`: decoupled evaluation of supernet subnets); our numbers are computed below, beside it.
#
# Training every candidate is what makes NAS expensive. A **supernet** holds every operation of every edge once;
# a candidate cell is a path through it and *inherits* its weights, so judging a cell costs one validation pass.
# GENAS (spec/genas.md; `resnas.supernet`, `resnas.search.genas`, `notebooks/genas.py`) trains its supernet one
# path per batch and evaluates subnets **decoupled**: exactly the cell's operations run. The lineage it
# criticises (EvNAS/SaDENAS) evaluates them **coupled**: every operation of every edge runs, mixed by the
# softmax of the cell's one-hot table.
#
# The question is the one every weight-sharing method lives by: does the supernet's ranking of cells match the
# ranking of the same cells trained **stand-alone**? Here on a scale a laptop runs in a minute: NAS-Bench-201
# cells (`nb201_small`: 8 channels, one cell per stage) on the offline 8×8 digits, beside the CIFAR-10 table of
# the same cells (`resnas.tabular_cells`; another data set, another scale — read it as a curiosity, not a truth).
#
# **You will** write (1) a decoupled edge and (2) a Kendall τ paired by cell, each followed by a self-check.

# %% tags=["parameters"]
solved = False  # True: the teacher's solutions fill the TODOs
seed = 0
n_cells = 16  # connected cells to rank (a cut-off cell is at chance everywhere and would flatter every tau)
supernet_epochs = 15  # single-path epochs (each batch trains one random cell's path)
standalone_epochs = 3  # epochs of each cell's own training
recalibrate_images = 512  # training images to re-estimate BN statistics per subnet (0: off)
coupled_supernet = True  # also train a supernet the lineage's way (coupled) and read it coupled
n_boot = 1000

# %%
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import seaborn as sns
import torch
from IPython.display import display

from resnas import labs
from resnas.labs import weight_sharing as check
from resnas.spaces import get_space
from resnas.spaces.cells import NB201
from resnas.supernet import subnet
from resnas.tabular_cells import TabularEvaluator

torch.set_num_threads(1)
space = get_space("nb201_small")
data = check.digits_data(seed)
cells = check.connected_cells(space, n_cells, seed)
print(f"{space}; digits: {len(data.y_train)} training, {len(data.y_val)} validation images of {data.in_channels}x8x8")

# %% [markdown]
# ## Exercise 1 — a decoupled edge
# A supernet edge is an `nn.ModuleDict` with one module per operation that has weights or computes something
# (`skip_connect`, `nor_conv_1x1`, `nor_conv_3x3`, `avg_pool_3x3`); `none` has no module. Return what the edge
# contributes to its node when the cell puts `op` on it — and compute nothing else.

# %%
def decoupled_edge(edge, op, x):
    # TODO: the output of operation `op` alone on x; 'none' contributes nothing (zeros shaped like x)
    raise NotImplementedError("TODO exercise 1: decoupled_edge")


decoupled_edge = labs.solution(check.LAB, decoupled_edge, solved)

# %%
check.check_decoupled_edge(decoupled_edge)

# %% [markdown]
# ## The supernet
# Single-path training: each batch draws a cell uniformly and trains only its path (the library's decoupled
# forward, the same computation as yours). Then your edge, the library's forward and the stand-alone network
# with inherited weights (`resnas.supernet.subnet`) must agree on real images.

# %%
net = check.train_supernet(space, data, supernet_epochs, seed)
x, _ = data.val_batch(0, 64)
with torch.no_grad():
    yours = check.decoupled_forward(net, x, cells[0], decoupled_edge)
    library = net(x, cells[0], "decoupled")
    alone = subnet(net, cells[0]).eval()(x)
print(f"max |yours - library| = {(yours - library).abs().max():.2e}, max |yours - stand-alone with inherited "
      f"weights| = {(yours - alone).abs().max():.2e}")

# %% [markdown]
# ## Four ways to read the supernet, one ground truth
# - `decoupled`: the cell's path alone, with the BN statistics the supernet accumulated over all paths;
# - `decoupled + BN`: the same, BN statistics re-estimated on the cell's own path first (`resnas.supernet.recalibrated`);
# - `coupled read-out`: the same supernet, every operation mixed by softmax(one-hot) (0.41 on the chosen one);
# - `coupled`: a supernet trained *and* read coupled, as the lineage does.
#
# Ground truth: each cell trained alone from scratch for `standalone_epochs` epochs (twice, with two seeds: the
# second gives the noise ceiling); and, for curiosity, the CIFAR-10 table (200 epochs of a larger network on
# another data set).

# %%
scores = {"decoupled": check.supernet_scores(net, cells, data, "decoupled"),
          "decoupled + BN": check.supernet_scores(net, cells, data, "decoupled", recalibrate_images, seed),
          "coupled read-out": check.supernet_scores(net, cells, data, "coupled")}
if coupled_supernet:
    coupled_net = check.train_supernet(space, data, supernet_epochs, seed, mode="coupled")
    scores["coupled"] = check.supernet_scores(coupled_net, cells, data, "coupled")
standalone = check.train_standalone(space, cells, data, standalone_epochs, seed)
# the same trainings with another seed: how well can any read-out agree, when two stand-alone runs agree this much?
standalone_again = check.train_standalone(space, cells, data, standalone_epochs, seed + 1).rename("stand-alone, seed+1")
ev = TabularEvaluator()
cifar10 = pd.Series({check.code(c): ev.accuracy[NB201.index(c)] for c in cells}, name="CIFAR-10 table")
frame = pd.concat([*scores.values(), standalone, cifar10], axis=1, keys=[*scores, "stand-alone", "CIFAR-10 table"])
frame.index.name = "cell code"
display(frame.round(1).sort_values("stand-alone", ascending=False))

# %% [markdown]
# ## Exercise 2 — Kendall τ, paired by cell
# Rankings are often listed best first, so two score series rarely come in the same order, and one may lack a
# cell the other has. Both arguments are `pd.Series` indexed by the cell's code.

# %%
def kendall_by_cell(a, b):
    # TODO: Kendall's tau between a and b over the cells both hold, each score paired with the same cell's
    # (scipy.stats.kendalltau is fine once the pairs are right)
    raise NotImplementedError("TODO exercise 2: kendall_by_cell")


kendall_by_cell = labs.solution(check.LAB, kendall_by_cell, solved)

# %%
check.check_kendall_by_cell(kendall_by_cell)

# %%
best_first = standalone.sort_values(ascending=False)  # listed as a ranking: another order than the scores
others = {**scores, "CIFAR-10 table": cifar10, "stand-alone, seed+1 (noise ceiling)": standalone_again}
yours = pd.Series({name: kendall_by_cell(s, best_first) for name, s in others.items()}, name="your tau")
taus = check.tau_table(others, standalone, n_boot=n_boot, seed=seed)
taus["your tau"] = taus.scores.map(yours)
display(taus.round(3))
vs_cifar = check.tau_table({**scores, "stand-alone": standalone}, cifar10, n_boot=n_boot, seed=seed)
display(vs_cifar.round(3).rename(columns={"kendall_tau": "tau with the CIFAR-10 table"}))

# %%
long = frame.reset_index().melt(id_vars=["cell code", "stand-alone"], value_vars=list(scores),
                                var_name="read-out", value_name="supernet accuracy (%)")
g = sns.relplot(data=long, x="supernet accuracy (%)", y="stand-alone", col="read-out", col_wrap=2,
                height=2.8, facet_kws={"sharex": False})
for ax, name in zip(g.axes.flat, scores):
    t = taus.set_index("scores").loc[name]
    ax.set_title(f"{name}: τ = {t.kendall_tau:.2f} [{t.ci_low:.2f}, {t.ci_high:.2f}]", fontsize=9)
g.set_ylabels("stand-alone accuracy (%)")
plt.show()

# %% [markdown]
# ## Questions
# 1. Which read-out ranks the cells most like stand-alone training? Do the intervals allow you to say so with
#    `n_cells` cells, and how does each compare with the noise ceiling (two stand-alone seeds)? What does BN recalibration change, and why would a shared BN layer mislead a subnet?
# 2. The coupled read-out runs operations the cell does not have. Why can its ranking still be informative, and
#    what does it reward instead of the cell?
# 3. How far is the stand-alone ranking on digits from the CIFAR-10 table's? What would you need before
#    trusting either as "the" ranking (think of lab 03's noise ceiling)?
