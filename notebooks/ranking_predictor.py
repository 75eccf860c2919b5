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
# # A learned ranking predictor (RNAS) on the ERA space
#
# RNAS trains a small LeNet-like network to *rank* architectures from a feature tensor (block type, FLOPs,
# parameters), with a pairwise ranking loss rather than a regression loss, then searches with the predictor as
# fitness. Here the architectures are ERA ResNets and the training set is an archive of networks already
# evaluated — the era_search notebook's when it exists. The question both the thesis and RNAS raise: which
# ranking is worth its cost? A predictor must be paid for with trained networks; parameter count and FLOPs
# are free; the first epochs of each training cost a fraction of it. We measure all of them on the same
# held-out networks.

# %% tags=["parameters"]
profile = "default"
out_dir = None  # default: results/<profile>/ranking_predictor/; make passes a fresh folder, swapped in on success
store_dir = None  # default: results/<profile>/store/ranking_predictor/: archives, kept across runs
results_dir = None  # default: results/<profile>/ (where other notebooks' folders are)
params_root = None  # default: params/ of this repository
overrides = {}

# %%
import time
import numpy as np
import pandas as pd
from IPython.display import display

from resnas import plots, predictor
from resnas.data import DataSpec
from resnas.evaluate import Evaluator, archive_fidelity
from resnas.experiments import ranking
from resnas.params import load_profile
from resnas.report import REPOSITORY, Output, store_of
from resnas.spaces.era import EraConfig
from resnas.train import TrainRecipe

P = load_profile(ranking.Params, "ranking_predictor", profile, overrides, root=params_root or REPOSITORY / "params")
out = Output.open("ranking_predictor", profile, "RNAS: a learned ranking predictor on the ERA space", P,
                  out_dir, store_dir, results_dir)
P

# %% [markdown]
# ## The archive: networks with known accuracy

# %%
search_dir = store_of(P.search_results or out.results / "era_search")  # the search's store holds its archive
if (search_dir / "archive.sqlite").exists():
    archive_path = search_dir / "archive.sqlite"
    source = f"the era_search archive ({search_dir})"
else:  # build one: random networks of the space, trained with this profile's recipe
    archive_path = out.store / "archive.sqlite"
    spec = DataSpec(name=P.dataset, val_size=P.val_size, train_per_class=P.train_per_class,
                    val_per_class=P.val_per_class, seed=0)
    recipe = TrainRecipe(epochs=P.epochs, batch_size=P.batch_size, lr=P.lr, low_lr_epochs=P.low_lr_epochs)
    ev = Evaluator(archive_path, spec, recipe, seed=P.train_seed, device=P.device)
    ev.map([("era", c) for c in ranking.random_configs(P, P.n_architectures)], desc="building archive")
    ev.close()
    source = f"{P.n_architectures} random networks trained here"
frame = ranking.archive_frame(archive_path)
data_spec, recipe, train_seed = archive_fidelity(archive_path)
configs = [EraConfig.from_json(c) for c in frame.config]
out.note(f"**Archive.** {len(frame)} networks from {source}, each trained {int(frame.epochs.iloc[0])} epochs on "
         f"{data_spec.name}; validation accuracy {frame.accuracy.min():.1f}–{frame.accuracy.max():.1f}% "
         f"(median {frame.accuracy.median():.1f}%), {frame.seconds.mean():.1f} s of training per network.")
fig = plots.sns.histplot(frame, x="accuracy", bins=20).figure
out.figure(fig, "archive_accuracy", "Accuracy of the archive's networks (the predictor's labels)");

# %% [markdown]
# ## Choosing the margin and the continuity weight
# The paper's margin and λ were lost in extraction; we pick them on a validation split of the training
# networks (never the test networks). λ = 0 is the plain pairwise loss.

# %%
sw = out.table(ranking.sweep(frame, P), "sweep", "Held-in validation Kendall τ per pairwise margin and continuity weight λ")
best = sw.sort_values("val_tau", ascending=False).iloc[0]
base = predictor.PredictorConfig(margin=float(best.margin), lam=float(best.lam) if best.lam > 0 else 0.1,
                                 epochs=P.predictor_epochs, hidden=P.hidden)
out.note(f"**Sweep.** Best margin {best.margin:g}, λ {best.lam:g} (validation τ {best.val_tau:.3f}); the "
         f"continuity loss below uses λ = {base.lam:g}.")
display(sw.pivot(index="margin", columns="lam", values="val_tau"))

# %% [markdown]
# ## Kendall τ against the number of training networks (RNAS Table 2's shape)

# %%
study = out.table(predictor.fraction_study(configs, frame.accuracy, P.fractions, P.encodings, P.losses, base,
                                           P.test_fraction, P.seeds), "fraction_study",
                  "Held-out Kendall τ for every encoding, loss, training fraction and seed", readme=False)
ours = out.table(ranking.table2(study), "table2", "Ours: held-out Kendall τ (mean ± sd over seeds) by training fraction")
display(ours)
out.table(ranking.RNAS_TABLE2, "rnas_table2", "RNAS Table 2 (NAS-Bench-101, ~424 training architectures at most)")
base_rows = pd.concat([ranking.baselines(frame, predictor.split_indices(len(frame), P.test_fraction, s)[1])
                       .assign(seed=s) for s in P.seeds])
base_tbl = out.table(base_rows.groupby("method", as_index=False, sort=False)[["tau", "cost_seconds"]].mean(),
                     "baselines", "Baselines on the same held-out networks: Kendall τ and training seconds spent")
fig, ax = plots.plt.subplots(figsize=(7, 4))
plots.sns.lineplot(data=study.assign(model=study.encoding + " / " + study.loss), x="fraction", y="tau",
                   hue="model", marker="o", errorbar="sd", ax=ax)
for i, r in enumerate(base_tbl.itertuples()):
    ax.axhline(r.tau, ls=":", color=plots.sns.color_palette("gray", len(base_tbl))[i], label=r.method)
ax.set(xlabel="fraction of training networks", ylabel="held-out Kendall τ", title="Predictors against baselines")
ax.legend(fontsize=7, bbox_to_anchor=(1.02, 1), loc="upper left")
out.figure(fig, "tau_vs_fraction", "Held-out Kendall τ against training fraction, with the free and early-epoch baselines");

# %% [markdown]
# ## Which ranking is worth its training time?
# A predictor's cost is the training of its training networks; an epoch-k ranking's cost is k epochs of
# every network ranked. Parameters and FLOPs cost nothing (drawn at the left edge).

# %%
cost = out.table(ranking.cost_vs_tau(study, base_rows.groupby("method", as_index=False, sort=False)
                                     [["tau", "cost_seconds"]].mean(), frame, P), "cost_vs_tau",
                 "Kendall τ against training hours spent (the archive's own recorded training times)", readme=False)
floor = cost.cost_hours[cost.cost_hours > 0].min() / 3 if (cost.cost_hours > 0).any() else 1e-4
fig, ax = plots.plt.subplots(figsize=(7, 4))
plots.sns.scatterplot(data=cost.assign(cost_hours=cost.cost_hours.clip(lower=floor)), x="cost_hours", y="tau",
                      hue="method", style="kind", s=60, ax=ax)
ax.set(xscale="log", xlabel="training hours spent to produce the ranking", ylabel="held-out Kendall τ",
       title="Ranking quality per hour of training")
ax.legend(fontsize=7, bbox_to_anchor=(1.02, 1), loc="upper left")
out.figure(fig, "tau_per_hour", "Kendall τ against training hours for predictors and baselines");

# %% [markdown]
# ## Predicted against true rank (RNAS Figure 3)

# %%
train_idx, test_idx = predictor.split_indices(len(frame), P.test_fraction, P.seeds[0])
full = predictor.fit([configs[i] for i in train_idx], frame.accuracy.iloc[train_idx],
                     base.replace(loss="pairwise", seed=P.seeds[0]))
test = frame.iloc[test_idx].assign(score=full.score([configs[i] for i in test_idx]))
test["true_rank"] = test.accuracy.rank(ascending=False)
test["predicted_rank"] = test.score.rank(ascending=False)
fig = plots.sns.relplot(data=test, x="true_rank", y="predicted_rank", height=4).figure
fig.suptitle(f"tensor / pairwise, τ = {predictor.kendall_tau(test.score, test.accuracy):.3f}", y=1.02)
out.figure(fig, "predicted_vs_true_rank", "Predicted against true rank of the held-out networks (1 = best)");

# %% [markdown]
# ## Searching with the predictor
# Fit on the whole archive, then (a) score a large random sample and keep the best (what RNAS's public code
# did) and (b) regularized evolution with the predictor as fitness (RNAS Algorithm 1). The picks are then
# trained exactly like the archive's networks to learn their true accuracy and rank.

# %%
final = predictor.fit(configs, frame.accuracy, base.replace(loss="pairwise"))
space = ranking.space_of(P)
picks_a, seconds = predictor.exhaustive_top(final, space, P.n_score, seed=0, top=P.top)
t0 = time.perf_counter()
picks_b = predictor.predictor_guided_evolution(final, space, P.evolution_steps, P.population, seed=0, top=P.top)
evo_seconds = time.perf_counter() - t0
out.note(f"**Speed.** Encoding and scoring {P.n_score:,} random networks took {seconds:.3f} s on the CPU; "
         f"{P.evolution_steps} steps of predictor-guided evolution took {evo_seconds:.1f} s.")
picks = pd.concat([picks_a, picks_b], ignore_index=True)
ev = Evaluator(out.store / "picks.sqlite", data_spec, recipe, seed=train_seed, device=P.device)
records = ev.map([("era", EraConfig.from_json(c)) for c in picks.config], desc="training the picks")
ev.close()
picks["accuracy"] = [100 * r.final_val_acc if r.ok else np.nan for r in records]
picks["params"] = [r.params for r in records]
picks["true_rank_in_archive"] = [ranking.true_rank(a, frame) for a in picks.accuracy]
picks = out.table(picks, "picks", f"What the predictor picks, trained like the archive (rank among {len(frame)} archive networks + 1)")
display(picks)
summary = pd.DataFrame([
    {"method": "archive best", "accuracy": frame.accuracy.max()},
    {"method": "archive median", "accuracy": frame.accuracy.median()},
    *[{"method": m, "accuracy": g.accuracy.max()} for m, g in picks.groupby("method")]])
out.table(summary, "search_summary", "Best pick of each predictor search against the archive's best and median");
