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
# # Fidelity and rank correlation: does a short training rank networks like a long one?
#
# Two lanes (`lane`). **table** (the default profile): no training; every network of the ERA table (issue 14,
# `resnas.tabular`) read at every epoch of its runs: hundreds of networks instead of a handful, so the
# correlations come with narrow intervals and per-family splits. **train** (the `ci` and `paper` profiles; on
# default one parameter away: `make fidelity_correlation ARGS="lane=train"`): the thesis's own design, below.
#
# **The train lane** reproduces and extends §4.2 of the ERA thesis. A width family (ResNet-56 at 8/16/32/64 filters)
# and a depth family (ResNet-14/32/56/110 at 16 filters) are evaluated at several training budgets; Spearman's ρ
# (the thesis's measure — its tables are multiples of 0.2 for four networks and of 1/35 for six) and Kendall's τ
# compare the rankings. With four to six networks a point estimate is fragile, so every correlation comes with a
# bootstrap interval over networks.
#
# The thesis does not say whether a fidelity is a point on one long run (**anytime**) or a run of its own with
# a schedule fitted to its budget (**budgeted**): we run both and compare. The CPU profiles shrink the families
# (fewer blocks, narrower) and the budgets; the paper profile runs the thesis's families on CIFAR-10.
#
# **Validation, not test, accuracy** (both lanes). The thesis measured these accuracies on the CIFAR-10 *test* split
# (the captions of its Tables 3 and 6); we measure them on a validation split held out of the training images
# (`val_size`), so that only `era_final` reads the test split. The correlations compare rankings, which the choice
# of split moves less than the accuracies themselves, but our accuracies beside the thesis's are not the same
# measurement.
#
# **"In space".** The thesis's Tables 5, 8 and 9 leave out the networks its search space cannot hold:
# ResNet-56 with 64 filters ("too wide": its text's space offers at most 32 initial filters) and ResNet-602
# (sections deeper than 18 blocks). `in_space_max_filters` / `in_space_max_blocks` (paper profile: 32 / 18)
# reproduce that definition, so "in space" here means the thesis text's space. Our `era_search` paper profile
# searches the thesis code's variant, which also offers 64 filters: under that space ResNet-56 f64 is inside,
# and the width family's full table (Table 4 in shape) is the one that covers it.

# %% tags=["parameters"]
profile = "default"
out_dir = None  # default: results/<profile>/fidelity_correlation/; make passes a fresh folder, swapped in on success
store_dir = None  # default: results/<profile>/store/fidelity_correlation/: the archives, kept across runs
results_dir = None  # default: results/<profile>/ (where other notebooks' folders are)
params_root = None  # default: params/ of this repository
overrides = {}

# %%
import numpy as np
import pandas as pd
from IPython.display import display

from resnas import plots, rank
from resnas.claims import record
from resnas.data import DataSpec
from resnas.evaluate import Evaluator
from resnas.experiments import fidelity
from resnas.params import load_profile
from resnas.report import REPOSITORY, Output, store_of

P = load_profile(fidelity.Params, "fidelity_correlation", profile, overrides,
                 root=params_root or REPOSITORY / "params")
out = Output.open("fidelity_correlation", profile, "Fidelity: rank correlation across training budgets", P,
                  out_dir, store_dir, results_dir)
TRAIN, TABLE = P.lane == "train", P.lane == "table"
P

# %% [markdown]
# ## First, the thesis's own numbers: do its correlation tables follow from its accuracy tables?
# The same functions, fed the accuracies printed in the thesis's Tables 3 and 6.

# %%
audit = out.table(rank.audit_thesis(), "thesis_audit",
                  "Reproducibility audit: the thesis's published Spearman tables against our recomputation from its accuracies")
verdict = audit.groupby("table").agrees.all().reset_index()
out.table(verdict, "thesis_audit_verdict", "Does each published correlation table follow from its accuracy table?")
display(verdict)
out.note("**Audit.** " + "; ".join(f"{r.table}: {'consistent' if r.agrees else 'does NOT follow from its accuracies'}"
                                   for r in verdict.itertuples()) +
         ". Table 4's 100-epoch column is reproduced exactly if the 100-epoch accuracies of 32 and 64 filters in "
         "Table 3 (92.3 and 92.0) are swapped: a transcription slip in one of the two tables is the likely cause.")
fig = plots.correlation_heatmaps({
    "Table 4 as published": rank.THESIS_CORRELATIONS["Table 4 (width)"][2],
    "recomputed from Table 3": rank.spearman_matrix(rank.THESIS_WIDTH),
    "Table 7 recomputed": rank.spearman_matrix(rank.THESIS_DEPTH),
}, "The thesis's width and depth studies (CIFAR-10, its numbers)")
out.figure(fig, "thesis_heatmaps", "The thesis's Table 4 as published, recomputed from Table 3, and Table 7 recomputed");

# %% [markdown]
# ## The table lane: every network of the ERA table
# The table: networks of an ERA subspace (both block types, section depths 0-2/1-2, 4-16 filters, groups of
# 1/4/32 channels, both update rules) on Fashion-MNIST average-pooled to 14 px (3,000 training and 2,000
# validation images, class-balanced), each trained E = 6 epochs with the thesis's search schedule scaled (lr 0.1,
# lr/10 in the last epoch; the thesis: 20 epochs, the last 3 at lr/10); a fifth of them a second time with
# another seed; an evenly spread subset (200 when the table is complete) also for 18 epochs (lr/10 in the last 3).
#
# **What an epoch is here.** Epoch k < 6 of the 6-epoch run is *not* a k-epoch training with a schedule of its
# own: it is the run read before its rate drops, the very training the 18-epoch run makes up to its epoch k
# (same seed, data and rate until then; the cell below prints the largest gap the table holds between them). Only
# epoch 1 is also what a separate 1-epoch training under the thesis's schedule would give (at one epoch that
# schedule has no low-rate epoch). Epoch 6 comes after the drop; the 18-epoch run's epoch 6 does not. Three views
# follow: the 6-epoch run's epochs among themselves (every network, the thesis's Tables 4, 7 and 9 in shape), each
# of its epochs against the 18-epoch run's end, and the 18-epoch run's own epochs against its end (the thesis's
# 'anytime' reading of one long run).
#
# **The mapping to the thesis.** Its search trained 20 epochs and its long budget was 100: the 6-epoch run's
# end stands for 20 (the table's E is that schedule, scaled, rate drop included) and the 18-epoch run's end for
# 100. A shorter thesis budget t is the fraction t/100 of the long run, at the nearest epoch (log): 5 -> 0.9 ->
# epoch 1, 10 -> 1.8 -> epoch 2, 50 -> 9 -> epoch 9 of the 18-epoch run. The ratios are not the thesis's (its
# search budget is 1/5 of its long one, ours 1/3), so 5 epochs could also be read as 5/20 of E (epoch 2); the
# claim's note gives that reading too. Data, resolution, network sizes and the validation (not test) split
# differ from the thesis: the protocol is "proxy data and budget".

# %%
if TABLE:
    table = fidelity.lane_table(P)
    study = fidelity.table_study(table, P)
    E, L, mapping = study["short"], study["long"], study["mapping"]
    n_nets = len(study["short_curves"])
    print(f"table {P.table}: {table.config.nunique()} networks; {n_nets} with a complete {E}-epoch curve"
          + (f", {len(fidelity.long_frame(study['short_curves'], study['long_curves']))} with a {L}-epoch run"
             if L else ", no long run"))
    print("mapping:", fidelity.mapping_text(mapping, E, L, P.table) if mapping else "none (no long run)")
    if L:
        print(f"largest gap between the {E}- and {L}-epoch runs' epochs 1..{E - 1} (accuracy points): "
              f"{fidelity.shared_prefix_gap(study['short_curves'], study['long_curves']):.3g}")
    spread = out.table(study["spread"], "table_spread",
                       "Validation accuracy (%) per epoch of each run over its networks", readme=False)
    display(spread)

# %% [markdown]
# ### The 6-epoch run's epochs among themselves, beside the thesis's Table 9
# Left: the thesis's Table 9 as published (6 networks, CIFAR-10, 5 to 100 epochs). Next: ours at the mapped
# readings over the networks with a long run. Then every pair of epochs of the 6-epoch run over every network,
# Spearman and Kendall.

# %%
if TABLE:
    pairs = out.table(study["pairs"], "table_epoch_pairs",
                      f"Every pair of epochs of the {E}-epoch run: Spearman and Kendall with 95% bootstrap intervals "
                      "over networks, all networks and per family", readme=False)
    t9 = rank.THESIS_CORRELATIONS["Table 9 (combined, in space)"][2].rename_axis(
        index="thesis epochs", columns="thesis epochs")
    maps = {"thesis Table 9 (6 networks)": t9}
    if mapping:
        mw = study["mapped"].drop(columns="family")
        maps[f"ours at the mapped epochs ({len(mw)})"] = rank.spearman_matrix(mw).rename_axis(
            index="thesis epochs (mapped)", columns="thesis epochs (mapped)")
        out.table(fidelity.boot_matrix(mw, "spearman", P.n_boot, P.seed).rename(
            columns={"fidelity_a": "thesis_a", "fidelity_b": "thesis_b"}), "table_mapped_pairs",
            "Spearman between the mapped readings of the thesis's budgets (5, 10, 20, 50, 100), 95% intervals",
            readme=False)
    maps[f"{E}-epoch run, Spearman ({n_nets})"] = fidelity.pair_matrix(pairs, "all", "spearman")
    maps[f"{E}-epoch run, Kendall ({n_nets})"] = fidelity.pair_matrix(pairs, "all", "kendall")
    fig = fidelity.heatmap_grid(maps, "Rank correlation between epochs: the thesis (left) and the table")
    out.figure(fig, "table_heatmaps", f"Thesis Table 9 beside ours at the mapped epochs and every epoch pair of the "
                                      f"{E}-epoch run");
    fams = sorted(s for s in pairs.scope.unique() if s != "all")
    fig = fidelity.heatmap_grid({f"{f} ({int(pairs[pairs.scope == f].n_networks.iloc[0])})":
                                 fidelity.pair_matrix(pairs, f, "spearman") for f in fams},
                                f"Spearman between epochs of the {E}-epoch run, per family", ncols=3)
    out.figure(fig, "table_family_heatmaps", f"Spearman between epochs of the {E}-epoch run, per family");
    a, b = E - 1, E
    key = pairs[(pairs.method == "spearman") & (((pairs.epoch_a == 1) & (pairs.epoch_b == E)) |
                                                ((pairs.epoch_a == a) & (pairs.epoch_b == b)))]
    display(key)

# %% [markdown]
# ### Each epoch against the long run's end, and the seed-noise ceiling
# Over the networks with an 18-epoch run: Spearman of each epoch of the 6-epoch run and of the 18-epoch run
# against the 18-epoch run's final accuracy (the two curves coincide before epoch 6, see above). The grey band:
# two seeds of the same 6-epoch training agree this well (Spearman over the networks trained twice), a level a
# short reading cannot be expected to beat against a long one (it is not a strict bound: the 6- and 18-epoch
# runs share their first five epochs, and the long run's own noise is not measured). The red squares: the
# thesis's Table 9 column (each budget against 100 epochs), each placed at the epoch the mapping reads it at
# (20 at the 6-epoch run's end, whose point is the blue one; before epoch 6 the blue curve is the orange one).

# %%
if TABLE and mapping:
    vs = out.table(study["vs_long"], "table_vs_long",
                   f"Each epoch of the {E}- and {L}-epoch runs against the {L}-epoch final accuracy: Spearman and "
                   "Kendall, 95% bootstrap intervals, all networks and per family", readme=False)
    ceiling = out.table(study["ceiling"], "table_seed_ceiling",
                        f"Seed-noise ceiling: the two seeds' {E}-epoch final accuracies, Spearman and Kendall, 95% "
                        "intervals (median gap and IQR in accuracy points)")
    display(ceiling)
    fig = fidelity.plot_vs_long(vs, ceiling, mapping, L)
    out.figure(fig, "table_vs_long", f"Spearman of each epoch against the {L}-epoch end, with the seed ceiling and "
                                     "the thesis's Table 9");
    side = out.table(study["side_by_side"], "table_thesis_side_by_side",
                     "The thesis's Spearman of each budget against 100 epochs (Tables 9, 4, 7) beside ours at the "
                     f"mapped reading against the {L}-epoch end, 95% interval")
    display(side)
    fam = vs[(vs.scope != "all") & (vs.method == "spearman") &
             (((vs.curve == f"{E}-epoch run") & vs.epoch.isin([mapping[5][1], E])))].copy()
    fam["reading"] = np.where(fam.epoch == E, f"thesis 20: {E}-epoch end", f"thesis 5: epoch {mapping[5][1]}")
    fam["label"] = fam.scope + " (" + fam.n_networks.astype(str) + ") | " + fam.reading
    fig = plots.interval_plot(fam.sort_values(["scope", "reading"]), hue="reading",
                              title=f"Per family: Spearman against the {L}-epoch end, 95% intervals")
    out.figure(fig, "table_family_intervals", f"Per family: the mapped readings of thesis 5 and 20 epochs against "
                                              f"the {L}-epoch end");
elif TABLE:
    out.note(f"The table {P.table} holds no long run: only the {E}-epoch run's epoch pairs are shown.")

# %%
if TABLE:
    def pair_text(df, a, b):
        r = df[(df.scope == "all") & (df.method == "spearman") & (df.epoch_a == a) & (df.epoch_b == b)].iloc[0]
        return f"{r.estimate:.2f} [{r.low:.2f}, {r.high:.2f}]"

    lines = [f"**Table lane ({P.table}, {n_nets} networks).** Spearman between epochs of the {E}-epoch run: "
             f"1 vs {E} {pair_text(pairs, 1, E)}, {E - 1} vs {E} {pair_text(pairs, E - 1, E)}, "
             f"{E // 2} vs {E} {pair_text(pairs, E // 2, E)}."]
    c = study["ceiling"].query("scope == 'all' and method == 'spearman'")
    if len(c):
        c = c.iloc[0]
        lines.append(f"Seed-noise ceiling at E: {c.estimate:.2f} [{c.low:.2f}, {c.high:.2f}] over "
                     f"{int(c.n_networks)} networks trained twice.")
    if mapping:
        for r in study["side_by_side"].itertuples():
            lines.append(f"Thesis {r.thesis_epochs} vs 100 epochs: Table 9 {r.table9_combined:+.2f} (6 networks); "
                         f"ours ({r.ours} vs the {L}-epoch end) {r.rho:.2f} [{r.low:.2f}, {r.high:.2f}] over "
                         f"{r.n_networks} networks.")
    out.note(" ".join(lines), "table_headline")
    print("\n".join(lines))

# %% [markdown]
# ## The train lane
# (`lane: train`.) ### Our families at our budgets

# %%
if TRAIN:
    nets = fidelity.families(P)
    display(nets)
    spec = DataSpec(name=P.dataset, val_size=P.val_size, train_per_class=P.train_per_class,
                    val_per_class=P.val_per_class, seed=0)


    def evaluator_for(recipe):
        return Evaluator(out.store / "archive.sqlite", spec, recipe, seed=P.seed, backend=P.backend,
                         workers=P.workers, device=P.device)


    acc = out.table(fidelity.run_fidelities(P, nets, evaluator_for), "accuracy",
                    "Validation accuracy (%) of every network at every fidelity and mode")
    fig = plots.relplot(acc, x="fidelity", y="accuracy", what="accuracy per fidelity", hue="network", col="family",
                        row="mode", kind="line", marker="o", height=2.8, aspect=1.3)
    out.figure(fig, "accuracy_vs_fidelity",
               "Accuracy against training budget, per family and mode (thesis Tables 3 and 6)");

# %% [markdown]
# ## Correlation matrices (thesis Tables 4, 5, 7, 8, 9 in shape)

# %%
if TRAIN:
    matrices = {}
    for mode in P.modes:
        for family in ("width", "depth"):
            sub = acc[(acc["mode"] == mode) & (acc.family == family)]
            matrices[f"{family} | {mode}"] = rank.spearman_matrix(sub[["network", "fidelity", "accuracy"]])
        comb = acc[(acc["mode"] == mode) & acc.in_space].drop_duplicates(["network", "fidelity"])
        matrices[f"combined in space | {mode}"] = rank.spearman_matrix(comb[["network", "fidelity", "accuracy"]])
    fig = plots.correlation_heatmaps(matrices, "Spearman's rho between fidelities (ours)")
    out.figure(fig, "spearman_heatmaps", "Spearman correlation between fidelities, per family and mode");

# %%
if TRAIN:
    ci = out.table(fidelity.correlation_tables(acc, P.n_boot, P.seed), "correlations",
                   "Every fidelity pair: Spearman and Kendall with 95% bootstrap intervals over networks",
                   readme=False)
    longest = max(P.fidelities)
    key = ci[(ci.fidelity_b == longest) & (ci.method == "spearman")].copy()
    key["label"] = key.networks + " | " + key["mode"] + " | " + key.fidelity_a.astype(str) + f"→{longest}"
    out.table(key.drop(columns="label"), "to_longest",
              f"Spearman between each budget and the longest ({longest} epochs), with 95% bootstrap intervals")
    fig = plots.interval_plot(key, hue="mode", title=f"Spearman to {longest} epochs, 95% bootstrap intervals")
    out.figure(fig, "intervals",
               "Correlation with the longest budget and its bootstrap interval, anytime against budgeted");

# %% [markdown]
# ## Archive scale: every network the ERA search evaluated
# Each record of the search's archive carries its learning curve; how well does each early epoch rank the
# networks like the last one does, per block type, depth and width bucket (the thesis's depth-bias question)?

# %%
if TRAIN:
    search_dir = store_of(P.search_results or out.results / "era_search")  # the search's store holds its archive
    if (search_dir / "archive.sqlite").exists():
        curves = fidelity.archive_curves(search_dir)
        last = int(curves.epoch.max())
        parts = [rank.early_final_correlation(curves, last, by=b).assign(split=b)
                 for b in ("block", "depth", "width")]
        early = out.table(pd.concat(parts, ignore_index=True), "archive_early_final",
                          f"Archive scale: Spearman and Kendall between each epoch and epoch {last}, per bucket")
        # constant accuracies (every network at chance) leave Spearman undefined: the figure then says so
        fig = plots.relplot(early, x="epoch", y="spearman", what=f"Spearman of each epoch against epoch {last}",
                            hue="group", col="split", kind="line", marker="o", height=2.8, aspect=1.1)
        out.figure(fig, "archive_early_final",
                   f"Archive scale: early-epoch ranking against epoch {last}, per bucket")
    else:
        out.note(f"No ERA search archive at {search_dir}: run era_search on this profile for the archive-scale "
                 "analysis.")

# %% [markdown]
# ### Does a short training rank the archive like a long one?
# A seeded random sample of the archive retrained to the long budget (`retrain_sample` networks to
# `retrain_epochs`; the paper profile: 100 networks to 100 epochs). Correlation of every search epoch with the
# long run's accuracy, per block type, depth and width bucket.

# %%
if TRAIN:
    if P.retrain_sample and (search_dir / "archive.sqlite").exists():
        def evaluator_at(spec, recipe, seed):
            return Evaluator(out.store / "archive.sqlite", spec, recipe, seed=seed, backend=P.backend,
                             workers=P.workers, device=P.device)

        long = fidelity.retrain_archive_sample(search_dir, P.retrain_sample, P.retrain_epochs, evaluator_at, P.seed)
        parts = [rank.early_final_correlation(long, P.retrain_epochs, by=b).assign(split=b)
                 for b in ("block", "depth", "width")]
        parts.append(rank.early_final_correlation(long, P.retrain_epochs).assign(split="all"))
        vs_long = out.table(pd.concat(parts, ignore_index=True), "archive_vs_long",
                            f"{long.key.nunique()} archive networks: each search epoch against "
                            f"{P.retrain_epochs} epochs")
        # constant accuracies (a network at chance) give no rank correlation: NaN rows are not drawn
        vs_long = vs_long[(vs_long.epoch < P.retrain_epochs) & vs_long.spearman.notna()]
        if len(vs_long):
            fig = plots.sns.relplot(data=vs_long, x="epoch", y="spearman", hue="group", col="split", kind="line",
                                    marker="o", height=2.8, aspect=1.1).figure
            out.figure(fig, "archive_vs_long",
                       f"Search-epoch ranking against a {P.retrain_epochs}-epoch retraining, per bucket")
        else:  # a correlation needs three networks that trained in both runs
            out.note(f"No correlation to show: fewer than three of the {long.key.nunique()} retrained networks have "
                     f"both a search curve and a {P.retrain_epochs}-epoch run, or their accuracies are constant.")
    else:
        out.note("Archive retraining skipped (retrain_sample = 0 on this profile, or no search archive).")

# %% [markdown]
# ## Claims (the ledger, #16)
# Table 9's claims: the search's budget (thesis: 20 epochs) ranks the long budget (100) well, a much shorter one
# (5) does not; "well" is a Spearman ρ above 0.5. Table lane: over the table's networks with a long run, at the
# mapping above (in each row). Train lane: on our combined in-space networks, our budgets standing for the
# thesis's by their fraction of the longest; with a handful of networks a bootstrap interval is wide and a row
# rarely decides.

# %%
if TABLE:
    rows = fidelity.table_claim_rows(table, study, P)
else:
    archive_all = None  # the archive-scale correlations of this run, quoted beside the rows
    if P.retrain_sample and (search_dir / "archive.sqlite").exists():
        archive_all = out.read_table("archive_vs_long").query("split == 'all'")
    rows = fidelity.claim_rows(acc, P, archive_all)
claims = record(out, rows)
display(claims[["id", "estimate", "low", "high", "n", "n_unit", "verdict", "runs_needed", "note"]])
