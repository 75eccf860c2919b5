"""The claims ledger rows of the ECToNAS, MO-ResNet and GENAS notebooks: each claim's quote against the paper's
text, and the pure helpers that turn the notebooks' tidy tables into per-run arrays, on small frames with a
known answer (including effects on the wrong side of the paper's claim)."""
import math
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from resnas.claims import decide
from resnas.experiments import ectonas, genas, mo_resnet

PAPERS = Path(__file__).resolve().parents[1] / ".." / "shared" / "papers"
MODULE_CLAIMS = {**ectonas.CLAIMS, **mo_resnet.CLAIMS, **genas.CLAIMS}


def _norm(text: str) -> str:
    return re.sub(r"\s+", " ", text).strip().lower()


@pytest.mark.parametrize("cid", sorted(MODULE_CLAIMS))
def test_quote_is_on_the_cited_lines(cid):
    claim = MODULE_CLAIMS[cid]
    file, first, last = claim.lines()
    path = PAPERS / file
    if not path.exists():
        pytest.skip(f"{path} absent: the paper texts live in ../shared/papers beside the checkout")
    lines = path.read_text().splitlines()[first - 1:last]
    assert _norm(claim.quote) in _norm(" ".join(lines)), f"{cid}: quote not on {claim.where}"


def test_claim_ids_and_sides():
    assert set(MODULE_CLAIMS) == {
        "ectonas.greedy_beats_baseline", "ectonas.nongreedy_compresses", "ectonas.nongreedy_noninferior_baseline",
        "ectonas.greedy_beats_nongreedy", "ectonas.epochs_saved", "ectonas.structured_avg_pool_keeps_accuracy",
        "ectonas.structured_max_pool_fails", "ectonas.balanced_mlp_becomes_cnn",
        "mo_resnet.alpha_smaller_comparable", "mo_resnet.moead_matches_pymoo", "genas.hybrid_beats_evolution",
        "genas.hybrid_beats_gradient", "genas.decoupled_ranks_better"}
    assert all(c.inferred for c in genas.CLAIMS.values())  # GENAS's comparisons are ours, not the abstract's
    assert ectonas.CLAIMS["ectonas.nongreedy_noninferior_baseline"].margin > 0
    assert mo_resnet.CLAIMS["mo_resnet.moead_matches_pymoo"].kind == "equivalent"


# ------------------------------------------------------------------------------------------------- ECToNAS

def ablation_runs(n_starts=8, greedy=80.0, baseline=75.0, balanced=74.0, seed=0):
    """Tidy runs: one start per (topology, seed), every mode, accuracies around the given means."""
    rng = np.random.default_rng(seed)
    rows = []
    for i in range(n_starts):
        topo, s = ("small_cnn", "small_ffnn")[i % 2], i
        base = rng.normal(0, 1)
        for mode, acc, params in (("greedy", greedy, 12_000), ("balanced_0.5", balanced, 1_500),
                                  ("balanced_0", balanced - 1, 1_000), ("random", 70.0, 11_000),
                                  ("baseline", baseline, 10_000), ("baseline_equal_epochs", baseline + 1, 10_000)):
            search = mode in ectonas.SEARCH_MODES
            rows.append({"dataset": "digits", "topology": topo, "seed": s, "run": 0, "mode": mode,
                         "test_acc": acc + base + rng.normal(0, 0.5),
                         "params": params if mode.startswith("baseline") else int(params * rng.uniform(0.8, 1.2)),
                         "start_params": 10_000,
                         "epochs_saved": 0.75 + rng.normal(0, 0.02) if search else 0.0,
                         "start_cells": 1 if topo == "small_cnn" else 0,
                         "final_cells": (1 if topo == "small_cnn" or mode.startswith("balanced") else 0),
                         "seconds": 2.0 if search else 3.0})
    return pd.DataFrame(rows)


def test_paired_starts_align_and_average():
    runs = ablation_runs(4)
    a, b = ectonas.paired_starts(runs, "greedy", ["balanced_0.5", "balanced_0"])
    g = runs[runs["mode"] == "greedy"].sort_values(["topology", "seed"]).test_acc.to_numpy()
    half = runs[runs["mode"] == "balanced_0.5"].sort_values(["topology", "seed"]).test_acc.to_numpy()
    zero = runs[runs["mode"] == "balanced_0"].sort_values(["topology", "seed"]).test_acc.to_numpy()
    np.testing.assert_allclose(np.sort(a), np.sort(g))
    np.testing.assert_allclose(np.sort(a - b), np.sort(g - (half + zero) / 2))
    # a start missing one of the averaged modes is left out of both arms
    cut = runs.drop(runs[(runs["mode"] == "balanced_0") & (runs["seed"] == 0)].index)
    a2, b2 = ectonas.paired_starts(cut, "greedy", ["balanced_0.5", "balanced_0"])
    assert len(a2) == len(b2) == 3


def test_compression_and_saving():
    runs = ablation_runs(4)
    balanced = runs[runs["mode"].str.startswith("balanced")].sort_values(["topology", "seed", "mode"])
    expected = 100 * (1 - balanced.groupby(["topology", "seed"]).params.mean() / 10_000)
    np.testing.assert_allclose(ectonas.compression_pct(runs), expected.to_numpy())
    assert 80 < expected.mean() < 95
    saved = ectonas.epochs_saved_pct(runs)
    assert len(saved) == 4 * 3 and 60 < saved.mean() < 90  # greedy and both balanced modes, not random
    assert ectonas.seconds_of(runs, ["greedy", "baseline", "baseline_equal_epochs"]) == pytest.approx(5.0)


def test_ablation_rows_hold_and_contradict():
    p = ectonas.AblationParams(datasets=["digits"], seeds=[0])
    rows = {r["id"]: r for r in ectonas.ablation_claim_rows(p, ablation_runs(10))}
    assert list(rows) == [k for k in ectonas.CLAIMS if k in rows] and len(rows) == 5
    assert rows["ectonas.greedy_beats_baseline"]["verdict"] == "holds"
    assert rows["ectonas.greedy_beats_baseline"]["n"] == 10
    assert rows["ectonas.greedy_beats_baseline"]["mapping"].endswith("12 of 60 (20%)")
    assert rows["ectonas.greedy_beats_baseline"]["protocol"] == "proxy data and budget"
    assert rows["ectonas.greedy_beats_nongreedy"]["verdict"] == "holds"
    assert rows["ectonas.nongreedy_compresses"]["verdict"] == "holds"  # 87.5% > 80%
    assert rows["ectonas.epochs_saved"]["verdict"] == "holds"  # ~75% > 80 - 10
    # balanced ~1.5 points below baseline: within the 2-point margin, but not shown to be at n = 10
    assert rows["ectonas.nongreedy_noninferior_baseline"]["verdict"] != "contradicted"
    # wrong direction: greedy far below the baseline, balanced far below it too
    worse = {r["id"]: r for r in ectonas.ablation_claim_rows(p, ablation_runs(10, greedy=70, baseline=80,
                                                                              balanced=72))}
    assert worse["ectonas.greedy_beats_baseline"]["verdict"] == "contradicted"
    assert worse["ectonas.nongreedy_noninferior_baseline"]["verdict"] == "contradicted"


def test_ablation_rows_without_a_mode_say_so():
    p = ectonas.AblationParams(datasets=["digits"], seeds=[0], modes=["greedy", "random"])
    runs = ablation_runs(4)
    rows = {r["id"]: r for r in ectonas.ablation_claim_rows(p, runs[runs["mode"].isin(p.modes)])}
    assert len(rows) == 5
    assert rows["ectonas.greedy_beats_baseline"]["verdict"] == "inconclusive"
    assert "baseline not run" in rows["ectonas.greedy_beats_baseline"]["note"]
    assert rows["ectonas.nongreedy_compresses"]["n"] == 0


def test_protocol_distance_follows_the_parameters():
    paper = ectonas.AblationParams(datasets=list(ectonas.PAPER_DATASETS), train_per_class=None, val_per_class=None,
                                   test_per_class=None, budget=1000, warmup_epochs=10, rounds=3, epochs_per_round=5,
                                   baseline_epochs=200)
    assert ectonas.ablation_protocol(paper) == "same data and budget"
    assert ectonas.ablation_protocol(ectonas.AblationParams()) == "proxy data and budget"
    tab = ectonas.AblationParams(datasets=["adult"], train_per_class=None, val_per_class=None, test_per_class=None)
    assert ectonas.ablation_protocol(tab, tabular=True) == "proxy budget"
    assert ectonas.pooling_protocol(ectonas.PoolingParams(dataset="mnist", train_per_class=None, val_per_class=None,
                                                          pretrain_epochs=25)) == "same data and budget"


def pooling_trials(n=12, avg_gap=30.0, max_gap=-30.0, seed=0):
    rng = np.random.default_rng(seed)
    rows = []
    for s in range(n):
        for pool, gap in (("avg", avg_gap), ("max", max_gap)):
            for adapt, acc in (("paper", 60 + gap), ("random_cut", 60.0), ("random", 55.0), ("structured", 80.0)):
                rows.append({"seed": s, "pool": pool, "adapt": adapt, "none": acc + rng.normal(0, 3),
                             "retrained": 90.0, "baseline": 95.0})
    return pd.DataFrame(rows)


def test_pool_pair_and_rows():
    trials = pooling_trials()
    a, b = ectonas.pool_pair(trials, "avg")
    assert len(a) == len(b) == 12 and (a - b).mean() > 20
    with pytest.raises(ValueError, match="adapt 'nope' was not run"):
        ectonas.pool_pair(trials, "avg", "nope")
    p = ectonas.PoolingParams(seeds=12)
    rows = {r["id"]: r for r in ectonas.pooling_claim_rows(p, trials, 4.0)}
    assert rows["ectonas.structured_avg_pool_keeps_accuracy"]["verdict"] == "holds"
    assert rows["ectonas.structured_max_pool_fails"]["verdict"] == "holds"
    assert rows["ectonas.structured_max_pool_fails"]["seconds_per_run"] == 4.0
    # wrong direction: structured loses on avg, wins on max
    flipped = {r["id"]: r for r in ectonas.pooling_claim_rows(p, pooling_trials(avg_gap=-30, max_gap=30), 4.0)}
    assert flipped["ectonas.structured_avg_pool_keeps_accuracy"]["verdict"] == "contradicted"
    assert flipped["ectonas.structured_max_pool_fails"]["verdict"] == "contradicted"


def test_crossing_counts_and_binomial_share():
    runs = ablation_runs(6)
    assert ectonas.crossing_counts(runs, "ffnn") == (6, 6)  # 3 FFNN starts x 2 balanced modes, all crossed
    assert ectonas.crossing_counts(runs, "cnn") == (0, 6)
    assert ectonas.crossing_counts(runs, "ffnn", ["greedy"]) == (0, 3)
    share = ectonas.binomial_share(141, 150, 0.5)  # the paper's Table 3, pooled
    assert share["estimate"] == pytest.approx(0.94) and share["p_holds"] < 1e-20 and share["low"] > 0.85
    wrong = ectonas.binomial_share(1, 20, 0.5)
    assert wrong["p_contradicts"] < 0.025 and wrong["p_holds"] > 0.5 and math.isnan(wrong["runs_needed"])
    assert ectonas.binomial_share(2, 2, 0.5)["runs_needed"] == 6  # 0.5 ** 6 < 0.025 < 0.5 ** 5
    assert math.isnan(ectonas.binomial_share(0, 0, 0.5)["estimate"])
    # runs needed at 70% against 50% (normal approximation): close to the textbook value
    assert 45 <= ectonas.binomial_share(14, 20, 0.5)["runs_needed"] <= 55


def test_crossing_row():
    p = ectonas.AblationParams(datasets=["adult"], seeds=[0])
    (row,) = ectonas.crossing_claim_rows(p, ablation_runs(20))
    assert row["id"] == "ectonas.balanced_mlp_becomes_cnn" and row["n"] == 20 and row["verdict"] == "holds"
    none = ablation_runs(20).assign(final_cells=lambda d: d["start_cells"])  # nobody crosses
    (row,) = ectonas.crossing_claim_rows(p, none)
    assert row["verdict"] == "contradicted" and row["estimate"] == 0


# ------------------------------------------------------------------------------------------------- MO-ResNet

def per_alpha(seeds=6, small_acc_gap=0.0, seed=0):
    """Retrained EP members: alpha 0 has a big good model and a worse one; alpha 0.3 a small model (best on
    validation among the smaller ones) and a smaller, worse one; `small_acc_gap` shifts the small model's error."""
    rng = np.random.default_rng(seed)
    members = [(0.0, "A", 100_000, 0.10, 0.10), (0.0, "B", 120_000, 0.15, 0.15),
               (0.3, "C", 20_000, 0.11, 0.10 + small_acc_gap), (0.3, "D", 10_000, 0.20, 0.05),
               (0.3, "E", 200_000, 0.05, 0.05)]
    rows = []
    for alpha, g, params, val, test in members:
        for s in range(seeds):
            noise = rng.normal(0, 0.003)
            rows.append({"alpha": alpha, "genome": g, "seed": s, "params": params, "val_error": val + noise,
                         "test_error": test + noise + rng.normal(0, 0.002), "status": "ok", "seconds": 5.0})
    return pd.DataFrame(rows)


def test_smaller_comparable_pair_picks_on_validation():
    cand, ref, info = mo_resnet.smaller_comparable_pair(per_alpha())
    # C, not D (better on test but worse on validation), not E (bigger than A)
    assert info == {"alpha": 0.3, "params": 20_000, "ref_params": 100_000}
    assert len(cand) == len(ref) == 6 and abs((cand - ref).mean()) < 1.0
    with pytest.raises(ValueError, match="fewer parameters"):
        mo_resnet.smaller_comparable_pair(per_alpha()[lambda d: d.genome.isin(["A", "E"])])
    with pytest.raises(ValueError, match="alpha = 0"):
        mo_resnet.smaller_comparable_pair(per_alpha()[lambda d: d.alpha > 0])


def igd_table(ratio=1.0, seeds=8, seed=0):
    rng = np.random.default_rng(seed)
    rows = []
    for problem, scale in (("zdt1", 0.3), ("zdt2", 0.5)):
        for s in range(seeds):
            theirs = scale * math.exp(rng.normal(0, 0.1))
            rows += [(problem, "pymoo", s, theirs), (problem, "resnas-generational", s,
                                                     ratio * scale * math.exp(rng.normal(0, 0.1))),
                     (problem, "resnas-loop", s, 9.9)]
    return pd.DataFrame(rows, columns=["problem", "algorithm", "seed", "igd"])


def test_igd_pairs_and_equivalence():
    ours, theirs = mo_resnet.igd_pairs(igd_table())
    assert len(ours) == 16 and np.all(np.abs(ours - theirs) < 1)
    with pytest.raises(ValueError, match="'resnas-x' not in the IGD table"):
        mo_resnet.igd_pairs(igd_table(), "resnas-x")
    claim = mo_resnet.CLAIMS["mo_resnet.moead_matches_pymoo"]
    assert decide(claim, *mo_resnet.igd_pairs(igd_table()), paired=True)["verdict"] == "holds"
    # a factor of 4 (twice the margin on the log scale) is not equivalent
    assert decide(claim, *mo_resnet.igd_pairs(igd_table(4.0)), paired=True)["verdict"] == "contradicted"


def test_mo_resnet_rows():
    p = mo_resnet.Params(retrain_seeds=[0, 1, 2, 3, 4, 5], train_per_class=60)
    assert mo_resnet.protocol_of(mo_resnet.Params(dataset="fashion_mnist")) == "proxy budget"  # full data
    paper = mo_resnet.Params(dataset="fashion_mnist", preset="moresnet", population=20, generations=20, epochs=12,
                             retrain_epochs=100)
    assert mo_resnet.protocol_of(paper) == "same data and budget"
    good, igd_row = mo_resnet.claim_rows(p, per_alpha(), igd_table(), 1.5)
    assert good["verdict"] == "holds" and good["n"] == 6 and good["seconds_per_run"] == 10.0
    assert good["protocol"] == "proxy data and budget" and igd_row["seconds_per_run"] == 1.5
    assert igd_row["inferred"] and igd_row["verdict"] == "holds"
    # wrong direction: the small model is 5 points worse, far beyond the 1-point margin
    bad, _ = mo_resnet.claim_rows(p, per_alpha(small_acc_gap=0.05), igd_table())
    assert bad["verdict"] == "contradicted"
    none, _ = mo_resnet.claim_rows(p, per_alpha()[lambda d: d.genome.isin(["A", "E"])], igd_table())
    assert none["verdict"] == "inconclusive" and "fewer parameters" in none["note"]


# ------------------------------------------------------------------------------------------------- GENAS

def arm_runs(seeds=8, hybrid=40.0, evolution=35.0, gradient=20.0, seed=0):
    rng = np.random.default_rng(seed)
    rows = []
    for s in range(seeds):
        shared = rng.normal(0, 2)
        for arm, acc in (("random", 30.0), ("evolution", evolution), ("gradient", gradient),
                         ("hybrid_n1", hybrid + 1), ("hybrid_n5", hybrid - 1)):
            rows.append({"arm": arm, "seed": s, "standalone_acc": acc + shared + rng.normal(0, 1), "seconds": 10.0})
    return pd.DataFrame(rows)


def test_arm_pair_means_the_hybrids():
    runs = arm_runs(3)
    a, b = genas.arm_pair(runs, "hybrid", "evolution")
    h = runs[runs.arm.str.startswith("hybrid")].groupby("seed").standalone_acc.mean().to_numpy()
    np.testing.assert_allclose(a, h)
    with pytest.raises(ValueError, match="arm 'nope' was not run"):
        genas.arm_pair(runs, "hybrid", "nope")


def cell_scores(n=30, good="decoupled", seed=0):
    rng = np.random.default_rng(seed)
    cells = [f"c{i}" for i in range(n)]
    truth = rng.normal(50, 10, n)
    other = "coupled" if good == "decoupled" else "decoupled"
    scores = pd.DataFrame({"cell": cells, good: truth + rng.normal(0, 3, n), other: rng.normal(50, 10, n),
                           "decoupled_bn": truth, "coupled_eval": truth})
    alone = pd.DataFrame({"cell": cells * 2, "seed": [0] * n + [1] * n,
                          "standalone_acc": np.r_[truth, truth + rng.normal(0, 1, n)], "wall_time": 2.0})
    return scores, alone


def test_tau_difference_sides():
    scores, alone = cell_scores()
    t = genas.tau_difference(scores, alone, 0, n_boot=500)
    assert t["n"] == 30 and t["estimate"] > 0.4 and t["low"] > 0 and t["p_holds"] < 0.025
    scores, alone = cell_scores(good="coupled")
    t = genas.tau_difference(scores, alone, 0, n_boot=500)
    assert t["estimate"] < -0.4 and t["p_contradicts"] < 0.025 and math.isnan(t["runs_needed"])
    small = genas.tau_difference(scores.iloc[:3], alone, 0, n_boot=100)
    assert math.isnan(small["estimate"]) and "Kendall tau undefined" in small["note"]


def test_tau_difference_on_few_lumpy_cells_keeps_an_interval():
    # 6 cells whose stand-alone accuracies take two values: some resamples are constant (tau undefined)
    scores = pd.DataFrame({"cell": list("abcdef"), "decoupled": [1, 2, 3, 4, 5, 6.0],
                           "coupled": [6, 5, 4, 3, 2, 1.0]})
    alone = pd.DataFrame({"cell": list("abcdef"), "seed": 0, "standalone_acc": [10, 10, 10, 20, 20, 20.0]})
    t = genas.tau_difference(scores, alone, 0, n_boot=300)
    assert t["estimate"] > 0 and np.isfinite(t["low"]) and np.isfinite(t["high"]) and t["low"] <= t["high"]
    assert "resamples with an undefined tau left out" in t["note"]


def test_genas_rows():
    p = genas.Params(arms=["random", "evolution", "gradient", "hybrid_n1", "hybrid_n5"], seeds=list(range(8)),
                     n_boot=500)
    scores, alone = cell_scores()
    rows = {r["id"]: r for r in genas.claim_rows(p, arm_runs(), 3.0, scores, alone)}
    assert all(r["inferred"] for r in rows.values()) and len(rows) == 3
    assert rows["genas.hybrid_beats_evolution"]["verdict"] == "holds"
    assert rows["genas.hybrid_beats_gradient"]["verdict"] == "holds"
    assert rows["genas.hybrid_beats_evolution"]["seconds_per_run"] == pytest.approx(3 * 10.0 + 3 * 3.0)
    assert rows["genas.decoupled_ranks_better"]["verdict"] == "holds"
    assert rows["genas.decoupled_ranks_better"]["seconds_per_run"] == pytest.approx(4.0)
    worse = {r["id"]: r for r in genas.claim_rows(p, arm_runs(hybrid=30.0, evolution=40.0), 3.0, scores, alone)}
    assert worse["genas.hybrid_beats_evolution"]["verdict"] == "contradicted"
