"""The ERA and RNAS claims of the ledger (#16): the helpers that turn the notebooks' tidy results into per-run
arrays, on small frames with a known answer (and the wrong direction), and the rows they decide."""
import numpy as np
import pandas as pd
import pytest

from resnas.experiments import era, fidelity, ranking
from resnas.params import load_profile

BUDGET = 8


def _trials(seeds=range(8), random_error=60.0, guided_early=60.0, guided_late=40.0, noise=1.0, seed=0,
            bo_bonus=0.0):
    """A study whose random search errs around `random_error` everywhere and whose guided searches err around
    `guided_early` in their first half and `guided_late` in their second; Bayesian optimisation `bo_bonus`
    points better still."""
    rng = np.random.default_rng(seed)
    rows = []
    for s in seeds:
        for strategy in era.STRATEGY_NAMES:
            elapsed = 0.0
            for i in range(BUDGET):
                mean = random_error if strategy == "random" else (guided_early if i < BUDGET / 2 else guided_late)
                if strategy == "bayesian":
                    mean -= bo_bonus
                elapsed += 2.0
                rows.append({"strategy": strategy, "model": era.strategy_label(strategy, "rf_ei"), "seed": s,
                             "index": i, "config": f"{strategy}-{s}-{i}", "fitness": mean + noise * rng.normal(),
                             "layers": 8, "params": 100, "train_seconds": 2.0, "elapsed": elapsed})
    return pd.DataFrame(rows)


def _params(**kw):
    base = dict(dataset="digits", val_size=0.2, epochs=1, low_lr_epochs=0, budget=BUDGET, population=2,
                local_samples=2, local_starts=1, filters=[1, 2], max_depth=1, window=2, references=[],
                seeds=list(range(8)), bayesian="rf_ei")
    base.update(kw)
    return era.SearchParams(**base)


# ---------------------------------------------------------------------------------------------- era_search
def test_guided_vs_random_means_and_halves():
    t = _trials(seeds=[0], noise=0.0)
    m = era.guided_vs_random(t).set_index("part")
    assert m.loc["all", "random"] == pytest.approx(60) and m.loc["all", "guided"] == pytest.approx(50)
    assert m.loc["early", "guided"] == pytest.approx(60) and m.loc["late", "guided"] == pytest.approx(40)
    assert m.loc["all", "guided_searches"] == 5
    g = era.gap_growth(era.guided_vs_random(t))
    assert g.gap_early.iloc[0] == pytest.approx(0) and g.growth.iloc[0] == pytest.approx(20)


def test_guided_vs_random_leaves_out_failures_and_needs_both_arms():
    t = _trials(seeds=[0], noise=0.0)
    t.loc[(t.strategy == "random") & (t["index"] == 0), "fitness"] = np.inf  # a failed candidate: no error
    assert era.guided_vs_random(t).set_index("part").loc["all", "random"] == pytest.approx(60)
    assert era.guided_vs_random(t[t.strategy != "random"]).empty  # no random search: no comparison


def test_search_claims_hold_for_a_real_effect_and_are_contradicted_for_the_opposite():
    p = _params()
    rows = {r["id"]: r for r in era.search_claim_rows(_trials(bo_bonus=5.0), p)}
    assert rows["era.guided_better_on_average"]["verdict"] == "holds"
    assert rows["era.guided_better_on_average"]["estimate"] == pytest.approx(-11, abs=1)  # BO: 5 more on 1 of 5
    assert rows["era.gap_grows_late"]["verdict"] == "holds"
    assert rows["era.bo_best_at_search_fidelity"]["verdict"] == "holds"
    assert all(r["n"] == 8 and r["n_unit"] == "seeds" for r in rows.values())
    assert rows["era.guided_better_on_average"]["seconds_per_run"] == pytest.approx(6 * BUDGET * 2.0)
    # the wrong direction: random search better, the gap shrinking late, BO worse than the others
    wrong = {r["id"]: r for r in era.search_claim_rows(
        _trials(random_error=40, guided_early=60, guided_late=70, bo_bonus=-5.0), p)}
    assert wrong["era.guided_better_on_average"]["verdict"] == "contradicted"
    assert wrong["era.gap_grows_late"]["verdict"] == "contradicted"
    assert wrong["era.bo_best_at_search_fidelity"]["verdict"] == "contradicted"


def test_one_seed_is_inconclusive_not_decided():
    rows = era.search_claim_rows(_trials(seeds=[0], bo_bonus=5.0), _params(seeds=[0]))
    assert {r["verdict"] for r in rows} == {"inconclusive"} and all(r["n"] == 1 for r in rows)
    assert all("thesis 200 evaluations x 20 epochs" in r["mapping"] for r in rows)
    assert {r["protocol"] for r in rows} == {"proxy data and budget"}


def test_high_error_shares_count_after_each_random_phase():
    t = _trials(seeds=[0], noise=0.0)
    # random search: errors 10..80 (q75 = 62.5); a guided search errs 90 in its random phase, 20 after it
    t.loc[t.strategy == "random", "fitness"] = 10.0 * (t.loc[t.strategy == "random", "index"] + 1)
    guided = t.strategy != "random"
    t.loc[guided, "fitness"] = np.where(t.loc[guided, "index"] < 3, 90.0, 20.0)
    shares = era.high_error_shares(t, {s: 3 for s in era.GUIDED})
    assert set(shares.strategy) == set(era.GUIDED)
    assert shares.threshold.iloc[0] == pytest.approx(62.5)
    assert (shares.share == 0).all()  # indices 3..7 of the guided searches: none above 62.5
    assert shares.random_share.iloc[0] == pytest.approx(40)  # random's 70 and 80 of its indices 3..7
    per_seed = era.high_error_per_seed(shares)
    assert per_seed.guided.iloc[0] < per_seed.random.iloc[0]
    # a strategy whose random phase spans the budget has nothing after it: no row, not a zero
    assert "bayesian" not in set(era.high_error_shares(t, {"bayesian": BUDGET, "local": 3}).strategy)
    # the wrong direction: guided searches all very bad after their phase
    t.loc[guided, "fitness"] = np.where(t.loc[guided, "index"] < 3, 20.0, 95.0)
    bad = era.high_error_per_seed(era.high_error_shares(t, {s: 3 for s in era.GUIDED}))
    assert bad.guided.iloc[0] == pytest.approx(100) and bad.guided.iloc[0] > bad.random.iloc[0]


def test_random_phase_of_each_strategy():
    p = _params(population=3, local_samples=2)
    assert era.random_phase("evolution", p) == 3 and era.random_phase("local", p) == 2
    assert era.random_phase("bayesian", p) >= 1 and era.random_phase("random", p) == 0


def test_best_vs_others_per_seed():
    best = pd.DataFrame({"strategy": ["bayesian", "evolution", "random", "reference"] * 2,
                         "seed": [0] * 4 + [1] * 4, "val_error": [8.2, 8.3, 11.7, 1.0, 9.0, 8.0, 10.0, 1.0]})
    out = era.best_vs_others(best, "bayesian")  # the reference row is no strategy: ignored
    assert out.own.tolist() == [8.2, 9.0] and out.best_other.tolist() == [8.3, 8.0]
    assert era.best_vs_others(best[best.strategy != "bayesian"], "bayesian").empty


# ---------------------------------------------------------------------------------------------- era_final
def _finals(errors: dict, seeds=(0,)):
    rows = []
    for s in seeds:
        for model, (layers, err) in errors.items():
            rows.append({"model": model, "seed": s, "layers": layers, "params": 1, "status": "ok",
                         "test_error": err + 0.1 * s, "search_val_error": np.nan, "train_seconds": 1.5})
    return pd.DataFrame(rows)


TABLE1 = {"Random Search": (47, 8.5), "Local Search": (74, 8.4), "Bayesian Optimization (RF-EI)": (52, 7.3),
          "Evolution": (41, 7.0), "Regularized Evolution": (80, 6.7), "Crossover Evolution": (36, 8.5)}


def test_final_baseline_prefers_resnet110_else_the_deepest_plain_reference():
    f = _finals({**TABLE1, "ResNet-20": (20, 9.0), "ResNet-56": (56, 8.0), "Wide ResNet-110": (110, 7.1)})
    assert era.final_baseline(f) == "ResNet-56"
    f = pd.concat([f, _finals({"ResNet-110 (baseline)": (110, 7.5)})])
    assert era.final_baseline(f) == "ResNet-110 (baseline)"
    assert era.final_baseline(_finals(TABLE1)) == ""


def test_final_pairs_follow_table1_and_its_reverse():
    f = _finals({**TABLE1, "ResNet-110 (baseline)": (110, 7.5)}, seeds=(0, 1, 2))
    pairs = era.final_pairs(f, "ResNet-110 (baseline)")
    a, b = pairs["era.regevo_best_final"]
    assert np.allclose(a - b, 6.7 - 7.0) and len(a) == 3
    for key, own in (("era.regevo_beats_resnet110", 6.7), ("era.bo_beats_resnet110", 7.3),
                     ("era.evolution_beats_resnet110", 7.0)):
        a, b = pairs[key]
        assert np.allclose(a - b, own - 7.5)
    # the wrong direction: regularized evolution worst of all
    worse = _finals({**TABLE1, "Regularized Evolution": (80, 9.9), "ResNet-110 (baseline)": (110, 7.5)})
    a, b = era.final_pairs(worse, "ResNet-110 (baseline)")["era.regevo_best_final"]
    assert (a - b > 0).all()
    # a failed training (inf) leaves its seed out, an untrained arm leaves the comparison empty
    f.loc[(f.model == "Evolution") & (f.seed == 1), "test_error"] = np.inf
    assert len(era.final_pairs(f, "ResNet-110 (baseline)")["era.evolution_beats_resnet110"][0]) == 2
    assert len(era.final_pairs(f, "ResNet-20")["era.bo_beats_resnet110"][0]) == 0


def test_final_claim_rows_on_one_seed_are_inconclusive_with_their_mapping():
    p = era.FinalParams(dataset="digits", epochs=1, references=["resnet20"])
    rows = era.final_claim_rows(_finals({**TABLE1, "ResNet-20": (20, 9.0)}), p)
    assert [r["id"] for r in rows] == list(era.FINAL_CLAIMS)
    assert {r["verdict"] for r in rows} == {"inconclusive"}
    assert all("ResNet-110 -> ResNet-20" in r["mapping"] for r in rows)
    assert rows[0]["seconds_per_run"] == pytest.approx(1.5 * 7)


# ---------------------------------------------------------------------------------------------- fidelity
def test_fidelity_mapping_by_fraction_of_the_longest():
    assert fidelity.fidelity_mapping([1, 2, 4, 8]) == {5: 1, 20: 2, 100: 8}
    assert fidelity.fidelity_mapping([5, 10, 20, 50, 100]) == {5: 5, 20: 20, 100: 100}
    assert fidelity.fidelity_mapping([1, 2, 3]) == {5: 1, 20: 1, 100: 3}


def _acc(order_short, order_long, mode="budgeted"):
    nets = [f"n{i}" for i in range(len(order_short))]
    rows = []
    for fid, order in ((2, order_short), (8, order_long)):
        for net, acc in zip(nets, order):
            rows.append({"family": "width", "network": net, "in_space": True, "mode": mode, "fidelity": fid,
                         "accuracy": float(acc), "train_seconds": 3.0})
    rows.append({"family": "depth", "network": "outside", "in_space": False, "mode": mode, "fidelity": 2,
                 "accuracy": 99.0, "train_seconds": 3.0})
    return pd.DataFrame(rows)


def test_fidelity_pair_keeps_in_space_networks_and_pairs_them():
    acc = _acc([1, 2, 3, 4], [10, 20, 30, 40])
    pair = fidelity.fidelity_pair(acc, "budgeted", 2, 8)
    assert len(pair) == 4 and "outside" not in set(pair.network)
    assert (pair.x.rank() == pair.y.rank()).all()
    assert fidelity.fidelity_pair(acc, "anytime", 2, 8).empty
    assert fidelity.seconds_per_network(acc, "budgeted") == pytest.approx(6.0)  # two budgets of 3 s each


def test_fidelity_claims_hold_when_ranks_agree_and_not_when_they_reverse():
    p = fidelity.Params(dataset="digits", val_size=0.2, fidelities=[2, 8], modes=["budgeted"], n_boot=50)
    n = 40
    rng = np.random.default_rng(0)
    long = rng.normal(size=n)
    agree = _acc(long + 0.05 * rng.normal(size=n), long)
    rows = {r["id"]: r for r in fidelity.claim_rows(agree, p)}
    assert rows["era.rank20_ranks100_well"]["verdict"] == "holds"  # rho near 1, threshold 0.5
    assert rows["era.rank5_not_rank100"]["verdict"] == "contradicted"  # the same budgets here: ranks well
    reverse = _acc(-long, long)
    rows = {r["id"]: r for r in fidelity.claim_rows(reverse, p)}
    assert rows["era.rank20_ranks100_well"]["verdict"] == "contradicted"
    assert rows["era.rank5_not_rank100"]["verdict"] == "holds"
    assert rows["era.rank5_not_rank100"]["n"] == n and rows["era.rank5_not_rank100"]["n_unit"] == "networks"


# ---------------------------------------------------------------------------------------------- ranking
def _study(diff, seeds=range(6), fractions=(0.25, 1.0)):
    rows = []
    rng = np.random.default_rng(1)
    for s in seeds:
        for f in fractions:
            for enc in ("tensor", "type"):
                base = 0.3 + 0.05 * rng.normal()
                for loss, tau in (("mse", base), ("pairwise", base + diff), ("random_forest", 0.9)):
                    if loss == "random_forest" and enc == "type":
                        continue
                    rows.append({"split": "random", "seed": s, "encoding": enc, "loss": loss, "fraction": f,
                                 "n_train": int(8 * f), "n_test": 4, "tau": tau, "train_tau": 1.0,
                                 "fit_seconds": 0.5})
                rows.append({"split": "neighbourhood", "seed": s, "encoding": enc, "loss": "pairwise", "fraction": f,
                             "n_train": 2, "n_test": 2, "tau": -1.0, "train_tau": 1.0, "fit_seconds": 0.5})
    return pd.DataFrame(rows)


def test_loss_pairs_take_the_smallest_fraction_of_the_random_split():
    lp = ranking.loss_pairs(_study(0.2, fractions=(0.25, 1.0)))
    assert len(lp) == 6 and (lp.fraction == 0.25).all() and (lp.encodings == 2).all()
    assert np.allclose(lp.pairwise - lp.mse, 0.2)
    assert lp.fit_seconds.iloc[0] == pytest.approx(0.5 * 4)  # the seed's fits of both losses, both encodings
    st = _study(0.2)
    st.loc[(st.loss == "mse") & (st.seed == 0), "tau"] = np.nan  # an undefined tau: that seed has no pair
    assert 0 not in set(ranking.loss_pairs(st).seed)
    assert ranking.loss_pairs(_study(0.2)[lambda d: d.loss != "mse"]).empty


def test_guided_pairs_per_search_seed():
    rows = []
    for s in range(3):
        for method, accs in ((ranking.OURS, [74.0, 76.0 + s]), (ranking.PEER, [75.0, np.nan]),
                             (ranking.MSE_COMPARATOR, [99.0, 99.0])):
            for k, a in enumerate(accs):
                rows.append({"method": method, "seed": s, "pick": k + 1, "accuracy": a, "fit_seconds": 1.0,
                             "search_seconds": 2.0})
    picks = pd.DataFrame(rows)
    gp = ranking.guided_pairs(picks)
    assert gp.ours.tolist() == [76.0, 77.0, 78.0] and gp.peer.tolist() == [75.0] * 3  # a failed pick: no best
    assert gp.search_seconds.iloc[0] == pytest.approx(6.0)  # both runs' fit + search
    # the wrong direction: the peer's picks better
    swapped = picks.replace({ranking.OURS: ranking.PEER, ranking.PEER: ranking.OURS})
    g2 = ranking.guided_pairs(swapped)
    assert (g2.ours < g2.peer).all()


def test_rnas_claim_rows_decide_both_directions():
    from types import SimpleNamespace

    from resnas.data import DataSpec

    labels = SimpleNamespace(data=DataSpec(name="digits", val_size=0.2), source=ranking.LONG, n=12,
                             label_epochs=10, proxy_is_label=False,
                             frame=pd.DataFrame({"label_seconds": [4.0, 6.0]}))
    p = SimpleNamespace(top=2, search_seeds=list(range(8)))
    picks = pd.DataFrame([{"method": m, "seed": s, "accuracy": a + 0.1 * s, "fit_seconds": 1.0,
                           "search_seconds": 1.0}
                          for s in range(8) for m, a in ((ranking.OURS, 76.0 + (s % 3)), (ranking.PEER, 74.0))])
    rows = {r["id"]: r for r in ranking.claim_rows(_study(0.2, seeds=range(8)), picks, labels, p)}
    assert rows["rnas.pairwise_beats_mse"]["verdict"] == "holds"
    assert rows["rnas.guided_beats_peer"]["verdict"] == "holds"
    assert rows["rnas.guided_beats_peer"]["seconds_per_run"] == pytest.approx(4.0 + 2 * 2 * 5.0)
    assert {r["protocol"] for r in rows.values()} == {"proxy data and budget"}
    assert all(r["n_unit"] == "repeats" for r in rows.values())
    wrong = {r["id"]: r for r in ranking.claim_rows(_study(-0.2, seeds=range(8)), picks.assign(
        accuracy=np.where(picks.method == ranking.OURS, 70.0 + 0.3 * (picks.seed % 3), picks.accuracy)), labels, p)}
    assert wrong["rnas.pairwise_beats_mse"]["verdict"] == "contradicted"
    assert wrong["rnas.guided_beats_peer"]["verdict"] == "contradicted"


# ---------------------------------------------------------------------------------------------- definitions
def test_claim_ids_and_papers():
    ids = list(era.CLAIMS) + list(fidelity.CLAIMS) + list(ranking.CLAIMS)
    assert len(ids) == len(set(ids)) == 13  # with rnas.pairwise_beats_mse_era, the ERA row beside NB201
    assert {c.paper for c in ranking.CLAIMS.values()} == {"RNAS"}
    assert set(era.SEARCH_CLAIMS) | set(era.FINAL_CLAIMS) == set(era.CLAIMS)


@pytest.mark.parametrize("profile", ["ci", "default", "paper"])
def test_search_protocol_per_profile(profile):
    p = load_profile(era.SearchParams, "era_search", profile, {})
    want = "same data and budget" if profile == "paper" else "proxy data and budget"
    assert era.search_protocol(p) == want
