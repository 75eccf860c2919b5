"""Execute every notebook on the ci profile through the real pipeline (jupytext -> papermill) and check what
each one wrote. Notebook-specific checks live in CHECKS; every notebook must at least write its manifest,
its resolved params, and every table and figure the manifest lists."""
import json
from pathlib import Path

import pandas as pd
import pytest

from resnas.experiments import EXPERIMENTS
from resnas.pipeline import readme, run_notebook

pytestmark = pytest.mark.notebook


@pytest.fixture(scope="module")
def results(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("results") / "ci"


def check_quickstart(folder: Path):
    res = pd.read_csv(folder / "results.csv")
    assert set(res.dataset) == {"digits", "fashion_mnist"} and len(res) == 4
    assert (res.status == "ok").all() and res.final_val_acc.between(0, 1).all()
    assert (res.params > 0).all() and not res.from_archive.any()
    demo = pd.read_csv(folder / "archive_demo.csv")
    assert demo.from_archive.all() and demo.same_accuracy.all()
    hist = pd.read_csv(folder / "history.csv")
    assert hist.groupby(["dataset", "model"]).epoch.max().eq(2).all()


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
    assert overall.n_networks.eq(5).all() and set(overall.index) == {1, 2} and abs(overall.spearman[2] - 1) < 1e-9


def check_ranking(folder: Path):
    study = pd.read_csv(folder / "fraction_study.csv")
    assert study.groupby(["encoding", "loss"]).fraction.nunique().eq(2).all() and len(study) == 12
    assert study.tau.between(-1, 1).all() and (study.n_train[study.fraction == 1.0] > study.n_train[study.fraction == 0.5].max()).all()
    # it learned from the era_search archive of the same run: as many networks as that search trained
    from resnas.experiments.ranking import archive_frame

    frame = archive_frame(folder.parent / "store" / "era_search" / "archive.sqlite")
    full = study[study.fraction == 1.0]
    assert (full.n_train + full.n_test).eq(len(frame)).all() and len(frame) > 10
    assert len(pd.read_csv(folder / "sweep.csv")) == 2
    base = pd.read_csv(folder / "baselines.csv")
    assert {"parameters", "FLOPs"} <= set(base.method) and (base.cost_seconds >= 0).all()
    picks = pd.read_csv(folder / "picks.csv")
    assert len(picks) == 2 and picks.method.nunique() == 2  # top 1 of each search
    assert picks.accuracy.between(0, 100).all() and (picks.true_rank_in_archive >= 1).all()


def check_mo_resnet(folder: Path):
    igd = pd.read_csv(folder / "zdt_igd_summary.csv")
    assert len(igd) == 6 and set(igd.algorithm) == {"pymoo", "resnas-generational", "resnas-loop"}
    ep = pd.read_csv(folder / "pareto_sets.csv")
    assert set(ep.alpha) == {0.0, 0.3} and (ep.groupby("alpha").size() == ep.groupby("alpha").k.first()).all()
    assert (ep[ep.alpha == 0].f2 == 0).all() and (ep[ep.alpha == 0.3].f2 > 0).all()
    log = pd.read_csv(folder / "evaluations.csv")
    assert log.groupby("alpha").size().eq(4 * 2).all()  # N = 4: the initial population and one generation
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
    assert len(runs) == 2 * 5 and set(runs["mode"]) == {"greedy", "balanced_0.5", "balanced_0", "random", "baseline"}
    assert runs.test_acc.between(0, 100).all() and (runs.params > 0).all()
    base = runs[runs["mode"] == "baseline"]
    assert (base.params == base.start_params).all() and base.epochs_saved.eq(0).all()
    search = runs[runs["mode"] != "baseline"]
    assert search.epochs_saved.between(0, 1).all() and (search.epochs_total >= 12).all()  # the ci budget
    assert (search.epochs_final < search.epochs_total).all() and (search.generations >= 1).all()
    lean = runs[runs["mode"] == "balanced_0"]
    assert lean.params.mean() <= lean.start_params.mean()  # alpha = 0 never grows on average
    t12 = pd.read_csv(folder / "tables12.csv")
    assert len(t12) == 5 and t12.runs.eq(2).all()
    assert t12.loc[t12["mode"] == "greedy", "paper_test_acc"].item() == 98.3  # digits beside MNIST
    one = pd.read_csv(folder / "figure6_trace.csv")
    assert one.op.iloc[0] == "start" and one.generation.diff().dropna().eq(1).all()
    assert len(pd.read_csv(folder / "cutoff.csv")) == 4
    cross = pd.read_csv(folder / "crossings.csv")
    assert len(cross) == 8 and cross.runs.eq(1).all() and (cross.final_cnn + cross.final_ffnn).eq(1).all()
    assert cross.crossing_pct.isin([0.0, 100.0]).all()
    assert cross.loc[(cross["mode"] == "balanced_0") & (cross.start == "ffnn"), "paper_crossing_pct"].item() == 98.6
    era = pd.read_csv(folder / "era_summary.csv").iloc[0]  # the greedy run on an ERA ResNet-8
    assert era.start.startswith("basic[0,1,1,1] f4") and era.final.startswith("basic[") and 0 <= era.test_acc <= 100
    era_trace = pd.read_csv(folder / "era_trace.csv")
    assert set(era_trace.op) - {"start"} <= {"identity", "add_block", "widen", "prune_channels"}
    assert era_trace.generation.max() >= 1


def check_cross_topology(folder: Path):
    cross = pd.read_csv(folder / "crossings.csv")
    assert set(cross.start) == {"cnn", "ffnn"} and set(cross["mode"]) == {"greedy", "balanced_0.5", "balanced_0"}
    assert (cross.final_cnn + cross.final_ffnn == cross.runs).all() and cross.crossing_pct.between(0, 100).all()
    assert cross.paper_crossing_pct.notna().all()
    t5 = pd.read_csv(folder / "table5.csv")
    assert set(t5["mode"]) == {"greedy", "balanced_0.5", "balanced_0", "baseline"} and t5.test_acc.between(0, 100).all()


CHECKS = {"00_quickstart": check_quickstart, "era_search": check_era_search, "era_final": check_era_final,
          "fidelity_correlation": check_fidelity, "ranking_predictor": check_ranking,
          "mo_resnet": check_mo_resnet, "cross_topology": check_cross_topology, "pooling_trials": check_pooling_trials,
          "ectonas_ablation": check_ectonas_ablation}


@pytest.mark.parametrize("notebook", list(EXPERIMENTS))
def test_notebook_runs_on_ci_profile(notebook, results):
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


def test_results_readme_shows_every_table_and_figure(results):
    path = readme("ci", results=results)
    text = path.read_text()
    for exp in EXPERIMENTS.values():
        manifest = results / exp.folder / "manifest.json"
        if not manifest.exists():
            continue
        for item in json.loads(manifest.read_text())["items"]:
            if item["kind"] == "figure":
                assert f"({exp.folder}/{item['name']}.png)" in text
            elif item["kind"] == "table":
                assert item["caption"].split(":")[0] in text
