"""Execute every notebook on the ci profile through the real pipeline (jupytext -> papermill) and check what
each one wrote. Notebook-specific checks live in CHECKS; every notebook must at least write its manifest,
its resolved params, and every table and figure the manifest lists."""
import json
import math
from pathlib import Path

import pandas as pd
import pytest
from scipy import stats

from resnas.experiments import EXPERIMENTS
from resnas.pipeline import readme, run_notebook

pytestmark = pytest.mark.notebook


@pytest.fixture(scope="module")
def results(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("results") / "ci"


def stored_records(folder: Path) -> list:
    """Every record of a notebook's archive, read from the file (its store, or the folder holding it)."""
    from resnas.evaluate import Archive
    from resnas.report import store_of

    archive = Archive(store_of(folder) / "archive.sqlite")
    records = archive.records()
    archive.close()
    return records


def non_dominated(points: pd.DataFrame) -> set:
    """The distinct (f1, f2) among the finite rows that no other row dominates (minimising both)."""
    pts = {(a, b) for a, b in zip(points.f1, points.f2) if math.isfinite(a) and math.isfinite(b)}
    return {p for p in pts if not any(q[0] <= p[0] and q[1] <= p[1] and q != p for q in pts)}


def assert_crossings_follow_runs(cross: pd.DataFrame, runs: pd.DataFrame):
    """Table 3 recomputed from every run's cell counts: a start with conv cells is a CNN (the topology's name
    says which it is meant to be); a run crossed when its final network is of the other type."""
    r = runs[~runs["mode"].str.startswith("baseline")]  # both baselines train the start unchanged
    assert ((r.start_cells > 0) == r.topology.str.endswith("cnn")).all()
    assert len(cross) == r.groupby(["mode", r.start_cells > 0]).ngroups
    for row in cross.itertuples():
        cnn_start = row.start == "cnn"
        cell = r[(r["mode"] == row.mode) & ((r.start_cells > 0) == cnn_start)]
        crossed = int(((cell.final_cells > 0) != cnn_start).sum())
        assert (row.runs, row.final_cnn, row.final_ffnn) == (len(cell), int((cell.final_cells > 0).sum()),
                                                             int((cell.final_cells == 0).sum()))
        assert row.crossing_pct == pytest.approx(100 * crossed / len(cell))


def check_quickstart(folder: Path):
    res = pd.read_csv(folder / "results.csv")
    assert set(res.dataset) == {"digits", "fashion_mnist"} and len(res) == 4
    assert (res.status == "ok").all() and res.final_val_acc.between(0, 1).all()
    assert (res.params > 0).all() and not res.from_archive.any()
    hist = pd.read_csv(folder / "history.csv")
    assert hist.groupby(["dataset", "model"]).epoch.max().eq(2).all()
    # the summary follows from the learning curves: final = the last epoch's accuracy, best = the highest
    curve = hist.sort_values("epoch").groupby(["dataset", "model"]).val_acc.agg(["last", "max"])
    both = res.set_index(["dataset", "model"]).join(curve)
    assert (both.final_val_acc == both["last"]).all() and (both.best_val_acc == both["max"]).all()
    # asked again, the archive answered: it holds the four trainings and nothing more, and what it holds is
    # what the first request reported (read from the archive file, not from the notebook's comparison)
    demo = pd.read_csv(folder / "archive_demo.csv")
    assert demo.from_archive.all() and len(demo) == 2
    stored = stored_records(folder)
    assert len(stored) == len(res) and all(r.ok for r in stored)
    for dataset, rows in res.groupby("dataset"):
        held = sorted((r.params, r.final_val_acc) for r in stored if r.data["name"] == dataset)
        assert [p for p, _ in held] == sorted(rows.params)
        assert [a for _, a in held] == pytest.approx([a for _, a in sorted(zip(rows.params, rows.final_val_acc))])
    assert set(demo.trained_by_run_id) <= {r.run_id for r in stored}
    # the paper table holds every network, our accuracy as the results table says, beside a published figure
    paper = pd.read_csv(folder / "paper.csv")
    assert len(paper) == len(res) and paper.paper_test_acc_pct.notna().all()
    both = paper.merge(res, on=["dataset", "model"])
    assert len(both) == len(res)
    assert both.ours_val_acc_pct.tolist() == pytest.approx((100 * both.final_val_acc).tolist())


def check_era_search(folder: Path):
    trials = pd.read_csv(folder / "trials.csv")
    assert set(trials.strategy) == {"random", "local", "bayesian", "evolution", "regularized_evolution",
                                    "crossover_evolution"}
    assert trials.groupby(["strategy", "seed"]).size().eq(6).all()  # the ci budget, per search
    # one archive for the study: a network asked for twice is trained once
    assert trials.key.nunique() < len(trials)
    assert len(pd.read_csv(folder / "best.csv")) == 6
    t2 = pd.read_csv(folder / "table2.csv")
    assert {"ResNet-20", "Random Search", "Regularized Evolution"} <= set(t2.model)
    assert t2.loc[t2.model == "Evolution", "thesis_val_error"].item() == 8.8
    curves = pd.read_csv(folder / "curves.csv")
    assert (curves.groupby(["strategy", "seed"]).best_so_far.diff().dropna() <= 0).all()
    # each search's final best-so-far and its row in best.csv are the lowest finite error among its trials
    lowest = trials[trials.fitness < float("inf")].groupby(["strategy", "seed"]).fitness.min()
    final = curves.sort_values("index").groupby(["strategy", "seed"]).best_so_far.last()
    best = pd.read_csv(folder / "best.csv").set_index(["strategy", "seed"]).val_error
    assert final.loc[lowest.index].tolist() == pytest.approx(lowest.tolist())
    assert best.loc[lowest.index].tolist() == pytest.approx(lowest.tolist())


def check_era_final(folder: Path):
    finals = pd.read_csv(folder / "finals.csv")
    assert len(finals) == 7 and (finals.status == "ok").all()  # six strategies' bests + ResNet-20
    assert finals.test_error.between(0, 100).all()
    t1 = pd.read_csv(folder / "table1.csv")
    assert t1.loc[t1.model == "Regularized Evolution", "thesis_test_error"].item() == 6.7


def check_fidelity(folder: Path):
    verdict = pd.read_csv(folder / "thesis_audit_verdict.csv").set_index("table").agrees
    assert not verdict["Table 4 (width)"] and verdict["Table 9 (combined, in space)"]
    acc = pd.read_csv(folder / "accuracy.csv")
    assert set(acc["mode"]) == {"anytime", "budgeted"} and set(acc.fidelity) == {1, 2, 3}
    assert acc.groupby(["mode", "family"]).network.nunique().eq(3).all()
    # anytime reads one run: its last fidelity equals the budgeted run of the longest budget
    last = acc[acc.fidelity == 3].pivot_table(index="network", columns="mode", values="accuracy")
    assert (last.anytime - last.budgeted).abs().max() < 1e-9
    ci = pd.read_csv(folder / "correlations.csv")
    assert ((ci.low <= ci.estimate + 1e-9) | ci.low.isna()).all() and set(ci.method) == {"spearman", "kendall"}
    assert (folder / "archive_early_final.csv").exists()  # the era_search archive of the same run was found
    vs_long = pd.read_csv(folder / "archive_vs_long.csv")  # 5 archive networks retrained to 2 epochs
    overall = vs_long[vs_long.split == "all"].set_index("epoch")
    assert overall.n_networks.eq(5).all() and set(overall.index) == {1, 2}
    # epoch 2 is the long run itself (rho = 1 by construction); epoch 1 is recomputed here from the two archives:
    # each retrained network's 1-epoch accuracy in era_search's archive against its 2-epoch retraining in this
    # notebook's archive (same configuration, data, seed and recipe but the epochs)
    search = {r.config: r for r in stored_records(folder.parent / "era_search") if r.ok and r.recipe["epochs"] == 1}
    pairs = [(search[r.config].final_val_acc, r.final_val_acc) for r in stored_records(folder)
             if r.ok and r.config in search and r.recipe == {**search[r.config].recipe, "epochs": 2}
             and r.data == search[r.config].data and r.seed == search[r.config].seed]
    assert len(pairs) == 5
    early, long = zip(*pairs)
    assert overall.spearman[1] == pytest.approx(stats.spearmanr(early, long).statistic, nan_ok=True)
    assert overall.kendall[1] == pytest.approx(stats.kendalltau(early, long).statistic, nan_ok=True)


def check_ranking(folder: Path):
    from resnas.experiments.ranking import FALLBACK, GUIDED, archive_frame, min_labels_rule
    from resnas.predictor import FOREST, hamming_distances
    from resnas.spaces.era import EraConfig, EraSpace

    # the labels: ci's fidelity study retrains 5 networks, fewer than the floor, so the search's own accuracies
    # label (the fallback), and the table says so; every search network is labelled
    search = archive_frame(folder.parent / "store" / "era_search" / "archive.sqlite")
    labels = pd.read_csv(folder / "labels.csv").iloc[0]
    assert labels.labels == FALLBACK and labels.networks == len(search) > 10 and labels.data_split == "validation"
    assert labels.long_budget_found == 5 and labels.min_labels == min_labels_rule(0.4) > 5
    # both splits; the neighbourhood split keeps every held-out network beyond the radius (recomputed here)
    study = pd.read_csv(folder / "fraction_study.csv")
    assert set(study.split) == {"random", "neighbourhood"} and FOREST in set(study.loss)
    assert study.groupby(["split", "encoding", "loss"]).fraction.nunique().eq(2).all() and len(study) == 2 * 7 * 2
    assert study.groupby(["split", "fraction"]).n_train.nunique().eq(1).all()  # equal training cost per cell
    assert study.tau.between(-1, 1).all()
    splits = pd.read_csv(folder / "splits.csv").set_index("split")
    full = study[(study.fraction == 1.0) & (study.split == "random")]
    assert (full.n_train + full.n_test).eq(len(search)).all()
    held = pd.read_csv(folder / "predicted_vs_true.csv")
    near = held[held.split == "neighbourhood"]
    assert len(near) == splits.loc["neighbourhood", "n_test"] and splits.loc["neighbourhood", "n_dropped"] == 0
    configs = [EraConfig.from_json(c) for c in search.config]
    d = hamming_distances(configs, EraSpace(filters_choices=(1, 2, 4), max_depth=2))
    out = search.config.isin(near.config).to_numpy()
    assert d[out][:, ~out].min() > 1  # ci's neighbourhood_radius
    assert splits.loc["random", "held_out_near_train_pct"] > 0  # the near neighbours a random split lets in
    assert len(pd.read_csv(folder / "sweep.csv")) == 2
    base = pd.read_csv(folder / "baselines.csv")
    assert set(base.split) == {"random", "neighbourhood"} and (base.cost_seconds >= 0).all()
    assert set(base.method) == {"parameters", "FLOPs"}  # the fallback: the 1-epoch proxy is the label itself
    # the searches: three predictors x two search seeds, top 1 each, plus the exhaustive scoring
    picks = pd.read_csv(folder / "picks.csv")
    assert picks.groupby("method").seed.nunique().loc[list(GUIDED)].eq(2).all() and len(picks) == 3 * 2 + 1
    assert picks.accuracy.between(0, 100).all() and set(picks.truth) <= {"label", "trained"}
    label_of = dict(zip(search.config, search.accuracy))
    kept = picks[picks.truth == "label"]
    assert all(abs(a - label_of[c]) < 1e-9 for c, a in zip(kept.config, kept.accuracy))
    assert (picks.true_rank == [1 + (search.accuracy > a).sum() for a in picks.accuracy]).all()
    t3 = pd.read_csv(folder / "table3.csv").set_index("method")
    best = picks[picks.method.isin(GUIDED)].groupby(["method", "seed"]).accuracy.max().groupby("method").mean()
    assert (t3.accuracy - best.loc[t3.index]).abs().max() < 1e-9 and t3.runs.eq(2).all()
    assert t3.loc[list(GUIDED), "rnas_row"].tolist() == ["Proposed v4", "E2EPP", "Proposed v2"]
    assert t3.rnas_accuracy.tolist() == [93.90, 93.47, 93.03]
    assert len(pd.read_csv(folder / "rnas_table3.csv")) == 6
    assert "proportion 2 (0.1%, 424 networks)" in pd.read_csv(folder / "rnas_table2.csv").columns


def check_mo_resnet(folder: Path):
    igd = pd.read_csv(folder / "zdt_igd_summary.csv")
    assert len(igd) == 6 and set(igd.algorithm) == {"pymoo", "resnas-generational", "resnas-loop"}
    ep = pd.read_csv(folder / "pareto_sets.csv")
    assert set(ep.alpha) == {0.0, 0.3}
    assert (ep[ep.alpha == 0].f2 == 0).all() and (ep[ep.alpha == 0.3].f2 > 0).all()
    log = pd.read_csv(folder / "evaluations.csv")
    assert log.groupby("alpha").size().eq(4 * 2).all()  # N = 4: the initial population and one generation
    # each EP is the set of distinct non-dominated points among every individual that α's search evaluated
    for alpha, members in ep.groupby("alpha"):
        front = non_dominated(log[log.alpha == alpha])
        assert set(zip(members.f1, members.f2)) == front  # the same floats through the same CSV writer
        assert len(members) == len(front) and members.k.eq(len(front)).all()
    rt = pd.read_csv(folder / "retrained.csv")
    assert (rt.status == "ok").all() and rt.test_error.between(0, 1).all() and rt.groupby("genome").size().eq(2).all()
    table = pd.read_csv(folder / "table.csv")
    assert len(table) == ep.groupby("alpha").size().clip(upper=2).sum()


def check_pooling_trials(folder: Path):
    trials = pd.read_csv(folder / "trials.csv")
    assert len(trials) == 3 * 2 * 4 and trials.seed.nunique() == 3  # ci: 3 seeds x 2 pools x 4 adaptations
    assert trials[["baseline", "none", "retrained"]].apply(lambda c: c.between(0, 100)).all().all()
    assert (trials.params_after < trials.params_before).all()
    t4 = pd.read_csv(folder / "table4.csv")
    assert len(t4) == 8 and t4.runs.eq(3).all()
    assert t4.loc[(t4.adapt == "paper") & (t4.pool == "avg"), "paper_none"].item() == 89.1
    assert t4.loc[(t4.adapt == "random_cut") & (t4.pool == "max"), "paper_1_epoch"].item() == 95.0
    assert t4.loc[t4.adapt == "structured", "paper_none"].isna().all()  # ours: no paper number


def check_ectonas_ablation(folder: Path):
    runs = pd.read_csv(folder / "runs.csv")
    assert len(runs) == 2 * 6 and set(runs["mode"]) == {"greedy", "balanced_0.5", "balanced_0", "random", "baseline",
                                                        "baseline_equal_epochs"}
    assert runs.test_acc.between(0, 100).all() and (runs.params > 0).all()
    base = runs[runs["mode"].isin(["baseline", "baseline_equal_epochs"])]
    assert (base.params == base.start_params).all() and base.epochs_saved.eq(0).all()
    by_mode = runs.set_index(["topology", "mode"]).epochs_total.unstack()
    assert by_mode.baseline.eq(2.4).all()  # the ci profile's baseline_epochs: the paper's baseline, fixed length
    assert by_mode.baseline_equal_epochs.equals(by_mode.greedy)  # our addition: the greedy run's spend
    search = runs[~runs["mode"].isin(["baseline", "baseline_equal_epochs"])]
    assert search.epochs_saved.between(0, 1).all() and (search.epochs_total >= 12).all()  # the ci budget
    assert (search.epochs_final < search.epochs_total).all() and (search.generations >= 1).all()
    lean = runs[runs["mode"] == "balanced_0"]
    assert lean.params.mean() <= lean.start_params.mean()  # alpha = 0 never grows on average
    t12 = pd.read_csv(folder / "tables12.csv")
    assert len(t12) == 6 and t12.runs.eq(2).all()
    assert t12.loc[t12["mode"] == "greedy", "paper_test_acc"].item() == 98.3  # digits beside MNIST
    one = pd.read_csv(folder / "figure6_trace.csv")
    assert one.op.iloc[0] == "start" and one.generation.diff().dropna().eq(1).all()
    assert len(pd.read_csv(folder / "cutoff.csv")) == 4
    cross = pd.read_csv(folder / "crossings.csv")
    assert len(cross) == 8 and cross.runs.eq(1).all()
    assert_crossings_follow_runs(cross, runs)
    assert cross.loc[(cross["mode"] == "balanced_0") & (cross.start == "ffnn"), "paper_crossing_pct"].item() == 98.6
    era = pd.read_csv(folder / "era_summary.csv").iloc[0]  # the greedy run on an ERA ResNet-8
    assert era.start.startswith("basic[0,1,1,1] f4") and era.final.startswith("basic[") and 0 <= era.test_acc <= 100
    era_trace = pd.read_csv(folder / "era_trace.csv")
    assert set(era_trace.op) - {"start"} <= {"identity", "add_block", "widen", "prune_channels"}
    assert era_trace.generation.max() >= 1


def check_cross_topology(folder: Path):
    cross = pd.read_csv(folder / "crossings.csv")
    assert set(cross.start) == {"cnn", "ffnn"} and set(cross["mode"]) == {"greedy", "balanced_0.5", "balanced_0"}
    assert_crossings_follow_runs(cross, pd.read_csv(folder / "runs.csv"))
    assert cross.paper_crossing_pct.notna().all()
    t5 = pd.read_csv(folder / "table5.csv")
    assert set(t5["mode"]) == {"greedy", "balanced_0.5", "balanced_0", "baseline"} and t5.test_acc.between(0, 100).all()


def check_genas(folder: Path):
    runs = pd.read_csv(folder / "runs.csv")
    assert len(runs) == runs.arm.nunique() * runs.seed.nunique() and runs.fitness.between(0, 100).all()
    abl = pd.read_csv(folder / "ablation.csv")  # ranked by the mean stand-alone accuracy recomputed from the runs
    means = runs.groupby("arm").standalone_acc.mean()
    assert list(abl.arm) == list(means.loc[abl.arm].sort_values(ascending=False, kind="stable").index)
    one = abl.seeds == 1  # one seed has no interval (NaN), more get one around the mean
    assert abl[one].ci_low.isna().all() and abl[one].ci_high.isna().all()
    several = abl[~one]
    assert ((several.ci_low <= several.standalone_acc + 1e-9) & (several.standalone_acc <= several.ci_high + 1e-9)).all()
    assert list(runs.cifar10_top_pct) == pytest.approx(list(100 * runs.cifar10_rank / 15625))
    hist = pd.read_csv(folder / "history.csv")
    for arm, g in hist.groupby("arm"):  # the local search ran exactly at generations n, 2n, ...
        n = int(arm.split("_n")[1]) if arm.startswith("hybrid_n") else 0
        assert list(g.local_search) == [bool(n) and gen % n == 0 for gen in g.generation]
    dec = pd.read_csv(folder / "decoupling.csv")
    assert {"decoupled", "decoupled_bn", "coupled", "noise_ceiling"} <= set(dec["mode"])
    cells = pd.read_csv(folder / "cells.csv")
    tau = dec[(dec["mode"] == "decoupled") & (dec.method == "kendall")].estimate.item()
    assert tau == pytest.approx(stats.kendalltau(cells.decoupled, cells.standalone_seed_0).statistic, nan_ok=True)


def check_era_table(folder: Path):
    counts = pd.read_csv(folder / "counts.csv").set_index(["seed", "budget"]).networks
    assert counts.to_dict() == {(0, 2): 16, (1, 2): 4, (0, 6): 2}  # ci: every network once, 1/4 twice, 2 long
    noise = pd.read_csv(folder / "seed_noise.csv").iloc[0]
    assert noise.networks == 4 and -1 <= noise.spearman <= 1 and noise.median_gap >= 0
    fam = pd.read_csv(folder / "families.csv")
    assert fam.networks.sum() == 16 and set(fam.family) <= {f"{b}/{k}" for b in ("basic", "bottleneck")
                                                            for k in ("depthwise", "grouped", "plain")}
    check = pd.read_csv(folder / "retrained.csv")
    assert len(check) == 2 and check.abs_diff.max() <= 0.05  # one network, both epochs, same seed and CPU


CHECKS = {"00_quickstart": check_quickstart, "era_search": check_era_search, "era_final": check_era_final,
          "fidelity_correlation": check_fidelity, "ranking_predictor": check_ranking,
          "mo_resnet": check_mo_resnet, "cross_topology": check_cross_topology, "pooling_trials": check_pooling_trials,
          "era_table": check_era_table, "ectonas_ablation": check_ectonas_ablation,
          "genas": check_genas}


RAN: set[str] = set()  # the notebooks whose ci run passed in this session


# Notebooks that read another notebook's ci results (its store or its tables): run alone (`-k ranking`), a test runs
# those first into the same folder, so its checks never depend on which other tests were selected.
@pytest.mark.parametrize("notebook", list(EXPERIMENTS))
def test_notebook_runs_on_ci_profile(notebook, results):
    for first in EXPERIMENTS[notebook].needs:
        if not (results / EXPERIMENTS[first].folder / "manifest.json").exists():
            run_notebook(first, "ci", results=results)
    executed = run_notebook(notebook, "ci", results=results)
    folder = executed.parent
    nb = json.loads(executed.read_text())
    errors = [o for c in nb["cells"] for o in c.get("outputs", []) if o.get("output_type") == "error"]
    assert not errors
    manifest = json.loads((folder / "manifest.json").read_text())
    assert (folder / "params.yaml").exists()
    assert any(i["kind"] == "figure" for i in manifest["items"]), "every notebook draws at least one figure"
    for item in manifest["items"]:
        if item["kind"] == "figure":
            assert (folder / f"{item['name']}.png").stat().st_size > 5000
            assert (folder / f"{item['name']}.svg").exists()
        if item["kind"] == "table":
            assert (folder / f"{item['name']}.csv").exists()
    CHECKS.get(notebook, lambda f: None)(folder)
    check_readme_section(results, folder.name, manifest)
    RAN.add(notebook)
    check_results_load(results, folder)


def check_results_load(results: Path, folder: Path):
    """`resnas.results.load` returns this run's every table as pandas reads it, its parameters, the claims ledger
    and the timings (tests/test_results.py tests load on hand-made folders)."""
    import yaml

    from resnas import results as results_mod

    r = results_mod.load("ci", results_dir=results)
    study = r[folder.name]
    ledger = results / "claims.csv"  # gathered by readme() just before
    assert (r.claims is None) == (not ledger.exists())
    if ledger.exists():
        pd.testing.assert_frame_equal(r.claims, pd.read_csv(ledger))
    assert r.timings == json.loads((results / "timings.json").read_text())
    on_disk = sorted(p.stem for p in folder.glob("*.csv"))
    assert list(study.tables) == on_disk
    for name in on_disk:
        pd.testing.assert_frame_equal(study[name], pd.read_csv(folder / f"{name}.csv"))
    assert study.params == yaml.safe_load((folder / "params.yaml").read_text())


def check_readme_section(results: Path, folder: str, manifest: dict):
    """The results README, rewritten right after this notebook ran (so whether other notebooks ran first does
    not matter), shows this notebook's section with each of its figures, README tables, long tables and notes.
    The README writer itself is tested on folders made from scratch in test_report.py."""
    text = readme("ci", results=results).read_text()
    start = text.index(f"## {manifest['title']}\n")
    end = text.find("\n## ", start)
    section = text[start:end if end >= 0 else len(text)]
    for item in manifest["items"]:
        if item["kind"] == "figure":
            assert f"![{item['caption']}]({folder}/{item['name']}.png)" in section
        elif item["kind"] == "table" and item.get("readme", True):
            assert f"**{item['caption']}**" in section
        elif item["kind"] == "table":
            assert f"`{folder}/{item['name']}.csv` ({item['rows']} rows)" in section
        elif item["kind"] == "note":
            assert item["text"] in section


def test_the_ci_profile_records_every_claim_of_the_ledger(results):
    """ci exercises every row of the claims ledger: after all notebooks ran, each claim of every experiment
    module has exactly one row, recorded with the definition it has in the code (not a stale copy), and a
    verdict. Needs the whole ci run of this module (it runs after the parametrized test above)."""
    from resnas.claims import VERDICTS, all_claims, unrecorded

    if set(EXPERIMENTS) - RAN:
        pytest.skip(f"needs every notebook's ci run in this session; missing: {sorted(set(EXPERIMENTS) - RAN)}")
    readme("ci", results=results)
    ledger = pd.read_csv(results / "claims.csv", keep_default_na=False)
    assert unrecorded(ledger["id"]) == [] and not ledger["id"].duplicated().any()
    assert ledger["final_verdict"].isin(VERDICTS).all()
    claims = all_claims()
    for row in ledger.itertuples():
        c = claims[row.id]
        assert (row.where, row.quote, row.kind, row.paper) == (c.where, c.quote, c.kind, c.paper), row.id
