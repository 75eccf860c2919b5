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
# # The ERA table: every network of a subspace trained once, every epoch stored
#
# On two CPU cores a real training costs seconds to minutes, so a study that trains gets a handful of networks
# and one seed. Tabular benchmarks (NAS-Bench-101, NAS-Bench-201) train every network of a space once and let
# searches look results up. This notebook makes one for an ERA subspace with our own engine and archive.
#
# **The subspace** (`resnas.experiments.era_table`): both block types, the first section 0..2 blocks deep and
# the other three 1..2, initial filters {4, 8, 16}, both filter-update rules, group sizes {1, 4, 32} (clamped
# to the filter count: depthwise, grouped and plain convolutions): 768 distinct networks of 8 to 23 layers,
# the thesis's space in miniature (every parameter it varies still varies).
# **The proxy** (CPU table): Fashion-MNIST average-pooled to 14 px (`fashion_mnist_14`), 3,000 class-balanced
# training images, 2,000 validation images, 6 epochs of the thesis's search schedule (SGD 0.1, momentum 0.9,
# weight decay 1e-4, batch 128, the last 3 of 20 epochs at lr/10, scaled: the last epoch of 6), validated after
# every epoch. A second seed for a fifth of the networks (the noise floor), 18 epochs (3 x E) for 200 of them.
#
# **Profiles.** `ci` generates a tiny subspace for real in seconds (same generation, parts and merge);
# `default` loads the shipped table (`lib/resnas/tables/`), retrains a small seeded sample to show it matches
# within the seed noise, and describes it; `paper` generates the same subspace on CIFAR-10 at full size (the
# thesis's 20 epochs) on a GPU.

# %% tags=["parameters"]
profile = "default"
out_dir = None  # default: results/<profile>/era_table/; make passes a fresh folder, swapped in on success
store_dir = None  # default: results/<profile>/store/era_table/: the archive (and generated parts), kept across runs
results_dir = None  # default: results/<profile>/ (where other notebooks' folders are)
params_root = None  # default: params/ of this repository
overrides = {}

# %%
import json
import tempfile
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import seaborn as sns
from IPython.display import display

from resnas import tabular
from resnas.experiments import era_table as T
from resnas.params import load_profile
from resnas.report import REPOSITORY, Output

P = load_profile(T.Params, "era_table", profile, overrides, root=params_root or REPOSITORY / "params")
out = Output.open("era_table", profile, "ERA table: an exhaustively trained ERA subspace", P, out_dir, store_dir,
                  results_dir)
space = T.make_space(P)
print(T.describe_space(space), f"{len(T.subspace_networks(space))} distinct networks")
P

# %% [markdown]
# ## The table
# `generate: true` (ci, paper) trains every planned run through the archive in this notebook's store and
# exports Parquet parts as it goes, then merges them; a killed run resumes from both. `generate: false`
# (default) loads the shipped table: `python -m resnas.experiments.era_table generate` and `merge` regenerate it.

# %%
if P.generate:
    name = f"era_table_{profile}"
    T.generate(P, out.store / "archive.sqlite", out.store / "parts", name=name, backend=P.backend,
               workers=P.workers, device=P.device, command=f"notebook era_table, profile {profile}")
    T.merge(P, out.store / "parts", out.store, name=name, command=f"notebook era_table, profile {profile}")
    table = tabular.load_table(name, out.store)
    fingerprint = json.loads((out.store / f"{name}.json").read_text())
else:
    table = tabular.load_table()
    fp_path = tabular.TABLES / f"{tabular.DEFAULT_TABLE}.json"
    fingerprint = json.loads(fp_path.read_text()) if fp_path.exists() else {"partial": "parts only, not merged yet"}
    if table.attrs["identity"] != T.table_identity(P):
        raise ValueError("the shipped table was generated with other parameters than params/default/era_table.yaml")
E, LONG, S0 = P.epochs, P.long_epochs, P.seeds[0]
final = T.final_rows(table)
counts = final.groupby(["seed", "budget"]).config.nunique().rename("networks").reset_index()
out.table(counts, "counts", "Networks per (seed, budget) in the table")
out.note(f"Table: {table.config.nunique()} of {len(T.subspace_networks(space))} networks of the subspace, "
         f"{len(final)} trainings, {len(table)} rows (one per network, seed, budget and epoch); generation time "
         f"(sum of training times, one thread each) {final.wall_time.sum() / 3600:.2f} h on "
         f"{' and '.join(T.table_cpus(tabular.TABLES / 'parts', tabular.DEFAULT_TABLE, fingerprint))}.", "summary")
display(counts)

# %% [markdown]
# ## Signal: spread between networks against the noise between seeds
# The table decides something only if networks differ by more than a retraining does: over the networks trained
# twice, Spearman's ρ between the two seeds' final accuracies ≥ 0.8, and the interquartile range of the
# networks' accuracies ≥ 3 × the median gap between a network's two seeds.

# %%
noise = T.seed_noise(table, E)
out.table(pd.DataFrame([noise]), "seed_noise", f"Seed-to-seed agreement at {E} epochs (networks trained twice)")
acc = final[(final.budget == E) & (final.seed == S0)].val_acc
out.note(f"At {E} epochs: accuracies {acc.min():.3f}–{acc.max():.3f} (median {acc.median():.3f}); over "
         f"{noise['networks']} networks trained twice, seed-to-seed Spearman {noise['spearman']:.2f}, IQR "
         f"{noise['iqr']:.3f} against a median seed gap of {noise['median_gap']:.3f} (90th percentile "
         f"{noise['p90_gap']:.3f}): signal criteria {'met' if noise['signal'] else 'NOT met'}.", "signal")
display(pd.DataFrame([noise]))

# %% [markdown]
# ## Families, spread and curves

# %%
fam = T.families_table(table, E, S0)
out.table(fam, "families", f"Final validation accuracy per family at {E} epochs (seed {S0})")
display(fam)
rows = T.with_family(final[(final.budget == E) & (final.seed == S0)])
fig, axes = plt.subplots(1, 2, figsize=(11, 3.6))
sns.boxplot(data=rows, y="family", x="val_acc", ax=axes[0])
axes[0].set_title(f"final accuracy at {E} epochs")
sns.scatterplot(data=rows, x="params", y="val_acc", hue="family", s=14, ax=axes[1])
axes[1].set_xscale("log")
axes[1].set_title("accuracy against parameters")
axes[1].legend(fontsize=7)
fig.tight_layout()
out.figure(fig, "spread", f"Spread of the table's networks at {E} epochs: per family, and against size")

# %%
curves = T.with_family(table[table.seed == S0])
g = sns.relplot(data=curves, x="epoch", y="val_acc", hue="family", col="budget", kind="line", errorbar=("pi", 50),
                height=3, aspect=1.3, facet_kws={"sharex": False})
g.set_titles("budget {col_name} epochs")
out.figure(g.figure, "curves", "Learning curves per family (median and interquartile band), per budget")

# %% [markdown]
# ## Does the table match a fresh training?
# A small seeded sample of networks (from the cheaper half, so it costs seconds) is trained again exactly as its
# table run was (data, recipe, seed), in a fresh archive, and compared epoch by epoch. On the same CPU and
# thread count the engine is deterministic; kernels may differ between CPUs, so the tolerance is the measured
# seed noise (the 90th percentile of the gap between two seeds) when the table has it.

# %%
sample = T.check_sample(table, E, S0, P.check_networks, P.check_seed)
with tempfile.TemporaryDirectory() as tmp:
    fresh = T.retrain(P, sample, E, S0, Path(tmp) / "check.sqlite", device=P.device if P.generate else "cpu")
check = T.compare_retrained(table, fresh, E, S0)
tolerance = noise["p90_gap"] if np.isfinite(noise["p90_gap"]) else 0.02
out.table(check, "retrained", f"Stored against retrained accuracies (seed {S0}, {E} epochs, every epoch)")
final_check = check[check.epoch == E]
out.note(f"Retrained {len(sample)} networks: largest final-accuracy difference "
         f"{final_check.abs_diff.max():.4f} against a tolerance of {tolerance:.4f} (seed noise): "
         f"{'matches' if (final_check.abs_diff <= tolerance).all() else 'DOES NOT match'}.", "retrained")
display(check)

# %% [markdown]
# ## Looking results up
# `resnas.tabular.TabularObjective` answers `evaluate("era", config)` from the table, like the evaluator the
# strategies use; the stored training time is the simulated wall time.

# %%
objective = tabular.TabularObjective(table, space=space)
best = max(objective.networks(), key=lambda c: objective.evaluate("era", c).final_val_acc)
rec = objective.evaluate("era", best)
print(f"best at {E} epochs: {best}: validation error {rec.fitness:.2f}%, {rec.params:,} parameters, "
      f"{rec.wall_time:.1f} s of training")
