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
# # Lab 03 — Fidelity: does a short training rank networks as a long one does?
#
# Every NAS method that trains candidates for a few epochs bets that the *ranking* after a few epochs is the
# ranking after many; the accuracies themselves may be far apart. Rank correlation measures that bet. The ERA
# thesis (§4.2) measured it on 4–6 ResNets with Spearman's ρ; here you compute ρ by hand, check it against
# `resnas.rank` (scipy), apply it to the learning curves of the **ERA tabular benchmark** (`resnas.tabular`:
# ResNets of the ERA space trained on 14×14 Fashion-MNIST, validation accuracy at every epoch; a partial table
# while its generation runs — the lab uses whatever networks are there) and finally audit the thesis's own
# Table 4.
#
# **You will** write (1) ranks with ties, (2) Spearman's ρ, (3) the top-*k* overlap, each followed by a self-check.

# %% tags=["parameters"]
solved = False  # True: the teacher's solutions fill the TODOs
seed = 0
short_budget = 6  # epochs of the table's short trainings (every network has one)
long_budget = 18  # epochs of the long trainings (a subset of the networks)
k = 10  # top-k overlap: how many of the best networks we care about
n_boot = 1000  # bootstrap resamples over networks

# %%
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import seaborn as sns
from IPython.display import display
from scipy import stats

from resnas import labs, rank
from resnas.labs import fidelity as check
from resnas.tabular import load_table

table = load_table()
short = check.learning_curves(table, short_budget, seed=0)  # network x epoch, validation accuracy (%)
E = short_budget
print(f"{len(short)} networks with a {E}-epoch training; epochs {list(short.columns)}")
short.head()

# %% [markdown]
# ## Exercise 1 — ranks
# Rank 1 is the smallest value; tied values share the **average** of the ranks they span (two values tied for
# places 2 and 3 both get 2.5). Do not call scipy here: that is what the check compares with.

# %%
def ranks(values):
    # TODO: return an array with the rank (1 = smallest) of each value, ties sharing their average rank
    raise NotImplementedError("TODO exercise 1: ranks")


ranks = labs.solution(check.LAB, ranks, solved)

# %%
check.check_ranks(ranks)

# %% [markdown]
# ## Exercise 2 — Spearman's ρ
# ρ is the Pearson correlation of the two rank vectors. (The textbook shortcut 1 − 6Σd²/(n(n²−1)) is exact only
# without ties — and accuracies on a 2,000-image validation set tie often.)

# %%
def spearman(x, y):
    # TODO: Spearman's rho of two equally long series (use your ranks)
    raise NotImplementedError("TODO exercise 2: spearman")


spearman = labs.solution(check.LAB, spearman, solved)

# %%
check.check_spearman(spearman)

# %% [markdown]
# ## Which early epoch predicts the final ranking?
# Your ρ of every epoch's accuracies with the final (epoch-`E`) accuracies, beside `resnas.rank`'s (scipy).

# %%
tidy = short.stack().rename("val_acc").reset_index().rename(columns={"config": "key"})
lib = rank.early_final_correlation(tidy, final_epoch=E).set_index("epoch")
mine = check.by_epoch(short, short[E], spearman)
compare = pd.DataFrame({"yours": mine, "resnas.rank": lib.spearman, "kendall (resnas.rank)": lib.kendall,
                        "networks": lib.n_networks})
display(compare.round(3))
print(f"largest difference between yours and scipy's: {np.abs(compare.yours - compare['resnas.rank']).max():.2e}")

# %% [markdown]
# A point estimate over a few dozen networks says little on its own: `rank.bootstrap_ci` resamples networks.
# Two references frame it: the **noise ceiling** (the same 6-epoch training with another seed: how well can any
# early epoch agree, when two final trainings disagree this much?) and the **long budget** (an 18-epoch
# training, for the networks that have one: is the 6-epoch final itself the ranking we want?).

# %%
ci = rank.bootstrap_ci(short.stack().rename("accuracy").reset_index().rename(
    columns={"config": "network", "epoch": "fidelity"}), "spearman", n_boot=n_boot, seed=seed)
ci = ci[ci.fidelity_b == E].rename(columns={"fidelity_a": "epoch"})
second = check.learning_curves(table, short_budget, seed=1)
long = check.learning_curves(table, long_budget, seed=0) if (table.budget == long_budget).any() else None
refs = {"noise ceiling: seed 0 vs seed 1 at epoch E": (short[E], second[E])}
if long is not None:
    refs[f"epoch E vs epoch {long_budget} of the long training"] = (short[E], long[long_budget])
ref_rows = []
for name, (a, b) in refs.items():
    both = pd.concat([a.rename("a"), b.rename("b")], axis=1, join="inner").dropna()
    ref_rows.append({"reference": name, "spearman": spearman(both.a, both.b), "networks": len(both)})
refs = pd.DataFrame(ref_rows)
display(ci.round(3), refs.round(3))
if long is not None:
    display(check.by_epoch(short, long[long_budget], spearman).rename(f"rho with epoch {long_budget} (long)")
            .to_frame().round(3))

# %%
fig, ax = plt.subplots(figsize=(7, 4))
sns.pointplot(data=ci, x="epoch", y="estimate", linestyle="none", ax=ax, color="C0")
ax.errorbar(np.arange(len(ci)), ci.estimate, yerr=[ci.estimate - ci.low, ci.high - ci.estimate], fmt="none",
            color="C0", capsize=3)
for i, r in enumerate(refs.itertuples()):
    ax.axhline(r.spearman, ls="--", color=f"C{i + 1}", label=f"{r.reference} ({r.networks} networks)")
ax.set(ylabel=f"Spearman ρ with epoch {E} (95% bootstrap)", ylim=(-0.2, 1.05),
       title=f"{len(short)} ERA networks, 14x14 Fashion-MNIST")
ax.legend(fontsize=8, loc="lower right")
plt.show()

# %% [markdown]
# ## Exercise 3 — top-k overlap
# A search keeps the best few networks, not the whole ranking: of the `k` networks most accurate at the end,
# what share does an early epoch already put in its own top `k`? Both arguments are `pd.Series` of accuracies
# **indexed by network**, not necessarily in the same order.

# %%
def top_k_overlap(early, final, k):
    # TODO: the share (0..1) of the k most accurate networks in `final` that are also among the k most accurate
    # in `early`
    raise NotImplementedError("TODO exercise 3: top_k_overlap")


top_k_overlap = labs.solution(check.LAB, top_k_overlap, solved)

# %%
check.check_top_k_overlap(top_k_overlap)

# %%
overlap = check.by_epoch(short, short[E], lambda a, b: top_k_overlap(a, b, k)).rename(f"top-{k} overlap")
chance = k / len(short)
display(pd.concat([overlap, mine.rename("spearman")], axis=1).round(3))
print(f"chance level of the top-{k} overlap with {len(short)} networks: {chance:.2f}")

# %% [markdown]
# ## What the thesis's Table 4 audit found
# The thesis prints, beside each correlation table, the accuracies it was computed from (ResNet-56 at 8, 16, 32
# and 64 filters after 5, 10, 20, 50 and 100 epochs: `rank.THESIS_WIDTH`). Recompute Table 4 with your ρ.

# %%
acc, fidelities, published = rank.THESIS_CORRELATIONS["Table 4 (width)"]
w = rank.wide(acc)
recomputed = pd.DataFrame([[spearman(w[a], w[b]) for b in fidelities] for a in fidelities],
                          index=list(fidelities), columns=list(fidelities))
display(w, published.rename_axis("published"), recomputed.round(2).rename_axis("yours"))
audit = rank.audit_thesis()
summary = audit.groupby("table").agrees.agg(pairs="size", agree="sum")
display(summary)
bad = audit[~audit.agrees]
print("pairs whose published rho does not follow from the printed accuracies:")
display(bad)

# %% [markdown]
# ## Questions
# 1. From which epoch on does ρ with the final epoch reach the noise ceiling? Is the interval narrow enough to
#    say so with this many networks?
# 2. Does the top-k overlap tell the same story as ρ? When would a search care about one and not the other?
# 3. Every disagreeing Table 4 pair shares one fidelity. Which, and what does that suggest happened to the
#    published table? With 4 networks, which values can ρ take at all?
