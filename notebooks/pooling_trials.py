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
# # ECToNAS pooling trials: how much does a weight adaptation keep when a pool is inserted?
#
# Reproduces Table 4 of ECToNAS's Appendix A.2.1: a minimal network (two conv cells without pooling, then
# dense layers) is trained; a 2×2 pool is inserted after the first conv cell; the first dense layer's incoming
# weights are adapted to the smaller map; validation accuracy is read right after the surgery and after one
# epoch of retraining (plain SGD, lr 0.1), over many seeds (each seed: its own data split, initialisation and
# training).
#
# Adaptations compared (`resnas.morph.pool_dense_weights`):
# - **paper**: the paper's structured method: the mean of each 2×2 window of weights for average pooling, the
#   weight of largest magnitude for max pooling;
# - **structured**: ours: the *sum* of each window (exact for a map constant over windows; keeps the scale);
# - **random**: one random position of each window;
# - **random_cut**: a random subset of the input columns, ignoring the map (the paper's "randomly cutting away
#   existing connections" reads like this).
#
# The paper used MNIST, 25 epochs and 100 seeds; the CPU profiles use Fashion-MNIST subsets (default) or digits
# (ci), fewer epochs and seeds. Networks train on the profile's `device` (auto: CUDA when present); `run.json`
# records where they ran.

# %% tags=["parameters"]
profile = "default"
out_dir = None  # default: results/<profile>/pooling_trials/; make passes a fresh folder, swapped in on success
store_dir = None  # default: results/<profile>/store/pooling_trials/: archives and state, if any, kept across runs
results_dir = None  # default: results/<profile>/ (where other notebooks' folders are)
params_root = None  # default: params/ of this repository
overrides = {}

# %%
import time

import torch
from IPython.display import display

from resnas import plots
from resnas.experiments import ectonas
from resnas.claims import record
from resnas.params import load_profile
from resnas.report import REPOSITORY, Output

P = load_profile(ectonas.PoolingParams, "pooling_trials", profile, overrides,
                 root=params_root or REPOSITORY / "params")
torch.set_num_threads(P.threads)
out = Output.open("pooling_trials", profile, "ECToNAS: pooling trials (Table 4)", P,
                  out_dir, store_dir, results_dir)
P

# %%
ectonas.write_run_info(out.path, P.device)  # the device (auto: CUDA when present) and machine fingerprint
started = time.perf_counter()
trials = out.table(ectonas.pooling_trials(P, progress=True), "trials",
                   "Every seed and adaptation: validation accuracy (%) before the pool, right after it, and "
                   "after retraining", readme=False)
seconds_per_seed = (time.perf_counter() - started) / P.seeds  # pre-training plus every pool x adaptation
t4 = out.table(ectonas.table4(trials), "table4",
               "Table 4 (ours beside the paper's MNIST numbers): validation accuracy (%) after inserting a pool, "
               "mean and sd over seeds, without and with retraining")
display(t4)

# %%
long = trials.melt(id_vars=["seed", "pool", "adapt"], value_vars=["none", "retrained"], var_name="retraining",
                   value_name="accuracy")
fig = plots.sns.catplot(data=long, x="adapt", y="accuracy", hue="retraining", col="pool", kind="box",
                        height=3.2, aspect=1.3, order=list(dict.fromkeys(t4.adapt))).figure
for ax in fig.axes:
    ax.axhline(trials.baseline.mean(), color="grey", ls="--", lw=1)
out.figure(fig, "table4_boxes", "Validation accuracy after inserting a pool, per adaptation and pool type, "
           "without and with retraining (dashed: before the pool)");

# %%
lines = []
for pool, sub in t4.groupby("pool", sort=False):
    ours = ", ".join(f"{r.adapt} {r.none:.1f}%" for r in sub.itertuples())
    paper = sub.dropna(subset=["paper_none"]).drop_duplicates("paper_method")
    theirs = ", ".join(f"{r.paper_method} {r.paper_none:.1f}%" for r in paper.itertuples())
    lines.append(f"{pool} pooling: ours {ours}; the paper's {theirs}")
out.note(f"**Right after inserting the pool** (before it: {trials.baseline.mean():.1f}%, the paper's "
         f"{ectonas.PAPER_TABLE4_BASELINE}%). " + ". ".join(lines) + ".")

# %% [markdown]
# ## Claims: do the paper's hold here?
# Two ledger rows from Table 4 (`ectonas.CLAIMS`), right after the pool and before any retraining, paired per
# seed: the paper's structured adaptation keeps more accuracy than a random cut for an average pool, and less
# for a max pool. The row says how far this profile is from the paper's protocol (MNIST, 25 epochs).

# %%
claims = record(out, ectonas.pooling_claim_rows(P, trials, seconds_per_seed))
display(claims[["id", "kind", "estimate", "low", "high", "n", "n_unit", "p_holds", "verdict", "runs_needed"]])
