"""The table lane of fidelity_correlation (resnas.experiments.fidelity, lane='table'): rank correlations between
epochs of the ERA table's runs, on synthetic tables with planted curves (so every number has a known answer)
and, where it is installed, on the shipped table itself."""
import itertools
import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from resnas import rank, tabular
from resnas.experiments import fidelity as F
from resnas.experiments.era_table import family
from resnas.params import ParamError, load_profile, validate

ROOT = Path(__file__).resolve().parents[1]
KINDS = [("basic", 8, 1), ("basic", 8, 8), ("bottleneck", 16, 4), ("bottleneck", 16, 16)]  # 4 families


def synthetic_table(n=60, short=6, long=18, n_long=30, n_second=20, seed=0, first=None, short_end=None,
                    long_end=None, ties=False) -> pd.DataFrame:
    """A table shaped like load_table()'s: network i has a planted quality q_i; its E run reads q + noise that
    shrinks with the epoch, its long run shares the E run's epochs before E (same training until the E run's
    rate drop) and then approaches q. `first`, `short_end`, `long_end` (arrays of n) override epoch 1, the E
    run's end and the long run's end. Every n // n_long-th network has a long run, the first n_second a second
    seed."""
    rng = np.random.default_rng(seed)
    q = rng.uniform(0.6, 0.9, n)
    rows = []
    long_ids = set(range(0, n, max(1, n // n_long))[:n_long]) if n_long else set()
    for i in range(n):
        block, filters, group = KINDS[i % len(KINDS)]
        config = json.dumps({"block": block, "i": i, "filters": filters, "group": group})
        base = {"config": config, "block": block, "filters": filters, "group": group, "params": 1000 + i,
                "flops": 10_000 + i}
        e_curve = [q[i] + rng.normal(0, 0.08 / k) for k in range(1, short + 1)]
        if first is not None:
            e_curve[0] = first[i]
        if short_end is not None:
            e_curve[-1] = short_end[i]
        runs = [(0, short, e_curve)]
        if i < n_second:
            runs.append((1, short, [q[i] + rng.normal(0, 0.08 / k) for k in range(1, short + 1)]))
        if i in long_ids:
            l_curve = e_curve[:-1] + [q[i] + rng.normal(0, 0.05 / k) for k in range(short, long + 1)]
            if long_end is not None:
                l_curve[-1] = long_end[i]
            runs.append((0, long, l_curve))
        for s, budget, curve in runs:
            for epoch, acc in enumerate(curve, start=1):
                acc = round(acc, 2) if ties else acc
                rows.append({**base, "seed": s, "budget": budget, "epoch": epoch, "val_acc": acc,
                             "seconds": 2.0 * epoch, "wall_time": 2.0 * budget})
    table = pd.DataFrame(rows)
    table.attrs["identity"] = {"recipe": {"epochs": short}, "long_epochs": long}
    return table


def lane(**changes) -> F.Params:
    return F.Params(**{"lane": "table", "n_boot": 200, **changes})


# ---------------------------------------------------------------------------------------------- the curves
def test_table_curves_are_the_first_seed_in_percent_with_families_and_failed_runs_left_out():
    table = synthetic_table(n=12, n_long=3, n_second=4)
    failed = table.config.iloc[0]  # a failed training: one row at the budget, NaN scores
    keep = ~((table.config == failed) & (table.budget == 6))
    table = pd.concat([table[keep], pd.DataFrame([{**table[table.config == failed].iloc[0].to_dict(),
                                                   "epoch": 6, "val_acc": np.nan}])], ignore_index=True)
    table.attrs["identity"] = {"recipe": {"epochs": 6}}
    w = F.table_curves(table, 6)
    assert failed not in w.index and len(w) == 11
    assert [c for c in w.columns if c != "family"] == list(range(1, 7))
    one = table[(table.budget == 6) & (table.seed == 0) & (table.config == w.index[0])].set_index("epoch").val_acc
    assert np.allclose(w.loc[w.index[0], list(range(1, 7))].to_numpy(dtype=float), 100 * one.loc[1:6].to_numpy())
    cfg = json.loads(w.index[3])
    assert w.family.iloc[3] == family(cfg["block"], cfg["filters"], cfg["group"])
    with pytest.raises(ValueError, match=r"budget=7 is not in the table; allowed: \[6, 18\]"):
        F.table_curves(table, 7)


def test_table_budgets_read_the_recipe_and_the_longest():
    assert F.table_budgets(synthetic_table(n=8, n_long=2)) == (6, 18)
    assert F.table_budgets(synthetic_table(n=8, n_long=0)) == (6, None)
    t = synthetic_table(n=8, n_long=2)
    t.attrs["identity"] = {"recipe": {"epochs": 5}}
    with pytest.raises(ValueError, match=r"E=5 epochs, but it holds budgets \[6, 18\]"):
        F.table_budgets(t)


# ---------------------------------------------------------------------------------------------- correlations
def test_epoch_pair_matrix_equals_scipy_on_the_same_columns_overall_and_per_family():
    table = synthetic_table(n=80)
    w = F.table_curves(table, 6)
    pairs = F.epoch_pairs(w, n_boot=50)
    assert set(pairs.scope) == {"all"} | set(w.family)
    for scope in pairs.scope.unique():
        sub = w if scope == "all" else w[w.family == scope]
        for a, b in itertools.combinations(range(1, 7), 2):
            got = pairs[(pairs.scope == scope) & (pairs.epoch_a == a) & (pairs.epoch_b == b)].set_index("method")
            assert got.estimate["spearman"] == pytest.approx(stats.spearmanr(sub[a], sub[b]).statistic)
            assert got.estimate["kendall"] == pytest.approx(stats.kendalltau(sub[a], sub[b]).statistic)
            assert (got.n_networks == len(sub)).all() and (got.low <= got.estimate + 1e-12).all()
            assert (got.estimate <= got.high + 1e-12).all()
    m = F.pair_matrix(pairs, "all", "kendall")
    assert m.shape == (6, 6) and (np.diag(m) == 1).all() and m.loc[2, 5] == m.loc[5, 2]
    assert m.loc[2, 5] == pytest.approx(stats.kendalltau(w[2], w[5]).statistic)


@pytest.mark.parametrize("method", ["spearman", "kendall"])
def test_vectorised_bootstrap_is_rank_bootstrap_ci_resample_for_resample(method):
    # ties (rounded accuracies) and resampled copies of a network are where a hand-written Kendall goes wrong
    w = F.table_curves(synthetic_table(n=30, ties=True), 6).drop(columns="family")
    ours = F.boot_matrix(w, method, n_boot=120, seed=3)
    ref = rank.bootstrap_ci(w, method, n_boot=120, seed=3)
    assert len(ours) == len(ref) == 15
    for col in ("fidelity_a", "fidelity_b", "used", "n_networks"):
        assert (ours[col].to_numpy() == ref[col].to_numpy()).all()
    for col in ("estimate", "low", "high"):
        assert np.allclose(ours[col], ref[col], atol=1e-12), col


def test_planted_curves_come_out_as_planted():
    n = 60
    q = np.linspace(0.6, 0.9, n)
    # epoch 1 reverses the ranking, the E run's end keeps it, the long end is the quality itself
    table = synthetic_table(n=n, n_long=n, first=q[::-1] * 0.5, short_end=q + 0.01, long_end=q)
    vs = F.vs_long(F.table_curves(table, 6), F.table_curves(table, 18), n_boot=100)
    s = vs[(vs.scope == "all") & (vs.method == "spearman")].set_index(["curve", "epoch"]).estimate
    assert s[("6-epoch run", 1)] == pytest.approx(-1) and s[("6-epoch run", 6)] == pytest.approx(1)
    assert s[("18-epoch run", 1)] == pytest.approx(-1)  # the shared epoch: the same reading on both curves
    assert ("18-epoch run", 18) not in s.index  # the target is not correlated with itself
    assert set(vs.curve) == {"6-epoch run", "18-epoch run"} and vs.epoch.max() == 17
    # noise shrinking with the epoch: later epochs of the E run agree better with its end
    pairs = F.epoch_pairs(F.table_curves(synthetic_table(n=400, seed=1), 6), n_boot=20)
    to_end = pairs[(pairs.scope == "all") & (pairs.method == "spearman") & (pairs.epoch_b == 6)]
    assert to_end.sort_values("epoch_a").estimate.is_monotonic_increasing


def test_shared_prefix_gap_and_seed_ceiling():
    table = synthetic_table(n=40, n_long=10, n_second=15)
    s, l_ = F.table_curves(table, 6), F.table_curves(table, 18)
    assert F.shared_prefix_gap(s, l_) == 0.0
    moved = l_.copy()
    moved.loc[moved.index[0], 3] += 1.5
    assert F.shared_prefix_gap(s, moved) == pytest.approx(1.5)
    ceiling = F.seed_ceiling(table, 6, n_boot=50).set_index(["scope", "method"])
    a, b = F.table_curves(table, 6, 0), F.table_curves(table, 6, 1)
    both = pd.DataFrame({"a": a[6], "b": b[6]}).dropna()
    assert len(both) == 15 and ceiling.n_networks[("all", "spearman")] == 15
    assert ceiling.estimate[("all", "spearman")] == pytest.approx(stats.spearmanr(both.a, both.b).statistic)
    assert ceiling.estimate[("all", "kendall")] == pytest.approx(stats.kendalltau(both.a, both.b).statistic)
    assert F.seed_ceiling(synthetic_table(n=10, n_second=0), 6, n_boot=10).empty  # one seed: no ceiling


# ---------------------------------------------------------------------------------------------- the mapping
def test_mapping_reads_20_as_the_short_run_and_others_as_fractions_of_the_long_run():
    assert F.table_mapping(6, 18, thesis=rank.EPOCHS) == {5: (6, 1), 10: (6, 2), 20: (6, 6), 50: (18, 9),
                                                          100: (18, 18)}
    assert F.table_mapping(6, 18) == {5: (6, 1), 20: (6, 6), 100: (18, 18)}
    assert F.table_mapping(10, 100, thesis=rank.EPOCHS) == {5: (10, 5), 10: (100, 10), 20: (10, 10),
                                                            50: (100, 50), 100: (100, 100)}
    # a short run with one epoch before its drop: 5/100 of the long run still fits before it
    assert F.table_mapping(2, 18) == {5: (2, 1), 20: (2, 2), 100: (18, 18)}
    for short, long in ((6, 6), (6, None)):
        with pytest.raises(ValueError, match=f"long={long} must exceed the short budget E=6"):
            F.table_mapping(short, long)


def test_claims_are_decided_at_the_mapped_epochs_with_the_mapping_in_the_row():
    n = 40
    q = np.linspace(0.6, 0.9, n)
    table = synthetic_table(n=n, n_long=n, first=q[::-1] * 0.5, short_end=q + 0.01, long_end=q)
    p = lane(table="synthetic")
    study = F.table_study(table, p)
    rows = {r["id"]: r for r in F.table_claim_rows(table, study, p)}
    assert rows["era.rank20_ranks100_well"]["estimate"] == pytest.approx(1)
    assert rows["era.rank20_ranks100_well"]["verdict"] == "holds"
    assert rows["era.rank5_not_rank100"]["estimate"] == pytest.approx(-1)
    assert rows["era.rank5_not_rank100"]["verdict"] == "holds"  # rho below 0.5 with n = 40
    for r in rows.values():
        assert r["n"] == n and r["n_unit"] == "networks" and r["protocol"] == "proxy data and budget"
        assert r["mapping"].startswith("thesis 5 -> epoch 1 of the 6-epoch run, 20 -> the 6-epoch run's end, "
                                       "100 -> the 18-epoch run's end")
        assert "seed-noise ceiling" in r["note"]
    assert "read as 5/20 of the E run (epoch 2)" in rows["era.rank5_not_rank100"]["note"]
    side = study["side_by_side"].set_index("thesis_epochs")
    assert list(side.index) == [5, 10, 20, 50] and side.table9_combined[20] == pytest.approx(0.71)
    assert side.rho[5] == pytest.approx(-1) and side.rho[20] == pytest.approx(1)
    assert list(study["mapped"].drop(columns="family").columns) == [5, 10, 20, 50, 100]
    # without a long run there is nothing to decide, and the error says why
    short_only = synthetic_table(n=20, n_long=0)
    with pytest.raises(ValueError, match="the claims need its long run"):
        F.table_claim_rows(short_only, F.table_study(short_only, p), p)


# ---------------------------------------------------------------------------------------------- parameters
def test_lane_validation_names_the_key_and_what_is_allowed(tmp_path):
    with pytest.raises(ParamError, match=r"lane='tabel' .*allowed: train, table"):
        validate(F.Params, {"lane": "tabel"})
    with pytest.raises(ParamError, match=r"table=' ' must name a table for lane='table'; allowed: e\.g\. "
                                         r"'era_fmnist14'"):
        validate(F.Params, {"lane": "table", "table": " "})
    assert validate(F.Params, {"lane": "train", "table": ""}).lane == "train"  # the train lane reads no table
    with pytest.raises(ValueError, match=r"table='nope' \(table_dir='.*'\) is not there: .*or lane='train'"):
        F.lane_table(lane(table="nope", table_dir=str(tmp_path)))


def test_profiles_default_reads_the_table_ci_and_paper_train():
    lanes = {prof: load_profile(F.Params, "fidelity_correlation", prof, root=ROOT / "params").lane
             for prof in ("default", "ci", "paper")}
    assert lanes == {"default": "table", "ci": "train", "paper": "train"}


# ---------------------------------------------------------------------------------------------- the shipped table
def test_on_the_shipped_table_the_pairs_are_scipys_and_the_short_run_is_the_long_runs_prefix():
    try:
        table = tabular.load_table()
    except tabular.TableUnavailable:
        pytest.skip("the ERA table is not installed")
    study = F.table_study(table, lane(n_boot=20))
    assert (study["short"], study["long"]) == (6, 18)
    w = study["short_curves"]
    assert len(w) == table[table.budget == 6].config.nunique()
    p = study["pairs"].query("scope == 'all' and method == 'spearman' and epoch_a == 1 and epoch_b == 6").iloc[0]
    assert p.estimate == pytest.approx(stats.spearmanr(w[1], w[6]).statistic)
    # what the notebook says: before its rate drop the 6-epoch run is the 18-epoch run's own training (equal to
    # the digit on the generating machine; a network's runs are trained in one process, so kernel differences
    # between machines could only add noise of a few hundredths of a point, never the several points a
    # different schedule would)
    assert F.shared_prefix_gap(study["short_curves"], study["long_curves"]) <= 0.5
