"""The table lane of ranking_predictor (#14): RNAS Tables 2 and 3 on the ERA table. The labels are the long-budget
(18-epoch) rows and never the short-budget (6-epoch) ones; the cheap proxy is ranked on the very held-out networks
the predictors rank; intervals are Student t below MIN_BOOTSTRAP_N repeats and a bootstrap from there on; the lane
and its sizes are validated; every search pick is a labelled network scored by its label."""
import math

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from resnas import predictor as PR
from resnas.claims import MIN_BOOTSTRAP_N
from resnas.experiments import ranking as R
from resnas.params import ParamError, validate
from resnas.spaces.era import EraSpace

SHORT, LONG = 6, 18
IDENTITY = {"recipe": {"epochs": SHORT, "low_lr_epochs": 1}, "long_epochs": LONG, "long_low_lr_epochs": 3,
            "filters": [4, 8, 16], "max_depth": 2, "groups": [1, 4, 32], "space": "era",
            "data": {"name": "fashion_mnist_14", "seed": 0, "split": "val", "test_per_class": None,
                     "train_per_class": 300, "val_per_class": 200, "val_size": 5000.0}}
SUBSPACE = EraSpace(filters_choices=(4, 8, 16), max_depth=2, group_choices=(1, 4, 32))


def _table(n_short=60, n_long=40, seed=0, failed=0):
    """A tidy ERA table: n_short networks at the short budget (seed 0; every 5th also seed 1), the first n_long of
    them also at the long budget. Long accuracies increase with the network's index; short ones are a noisy,
    partly reversed copy (so the proxy's tau is far from 1 and far from the labels' own)."""
    rng = np.random.default_rng(seed)
    configs = []
    while len(configs) < n_short:
        c = SUBSPACE.sample(rng).canonical()
        if c not in configs:
            configs.append(c)
    rows = []
    for i, c in enumerate(configs):
        long_acc = 0.70 + 0.002 * i
        short_acc = 0.60 + 0.3 * long_acc * (1 if i % 3 else -1) + rng.normal(0, 0.01)
        runs = [(SHORT, 0, short_acc)] + ([(SHORT, 1, short_acc + 0.01)] if i % 5 == 0 else [])
        if i < n_long:
            runs.append((LONG, 0, np.nan if i < failed else long_acc))
        for budget, s, final in runs:
            for e in range(1, budget + 1):
                rows.append({"config": c.to_json(), "seed": s, "budget": budget, "epoch": e,
                             "val_acc": final - 0.01 * (budget - e), "seconds": 2.0 * e, "params": 1000 + i,
                             "flops": 5000 + 7 * i})
    frame = pd.DataFrame(rows)
    frame.attrs["identity"] = IDENTITY
    return frame


def _params(**kw):
    base = {"lane": "table", "fractions": [0.5, 1.0], "losses": ["mse", "pairwise"], "lams": [0.0],
            "margins": [0.1], "table_repeats": 2, "table_predictor_epochs": 3, "hidden": 4, "forest_trees": 3,
            "table_evolution_steps": 12, "table_population": 4, "table_top": 2}
    return validate(R.Params, {**base, **kw})


# ---------------------------------------------------------------------------------------------- labels
def test_labels_are_the_long_budget_rows_and_the_proxy_the_short_ones():
    table = _table(failed=2)
    labels = R.table_labels(table, 0.3)
    f = labels.frame
    assert labels.source == R.TABLE_SOURCE and labels.label_epochs == LONG and labels.proxy_epochs == SHORT
    longs = table[(table.budget == LONG) & (table.epoch == LONG) & (table.seed == 0)].set_index("config").val_acc
    shorts = table[(table.budget == SHORT) & (table.epoch == SHORT) & (table.seed == 0)].set_index("config").val_acc
    # only networks with a (successful) long training are labelled: 40 - 2 failed, never a short-only one
    assert len(f) == 38 and set(f.config) == set(longs.dropna().index)
    assert np.allclose(f.accuracy, 100 * longs.reindex(f.config).to_numpy())
    assert np.allclose(f.proxy_accuracy, 100 * shorts.reindex(f.config).to_numpy())
    assert not np.allclose(f.accuracy, f.proxy_accuracy)
    assert np.allclose(f[f"epoch_{SHORT}"], f.proxy_accuracy)  # the proxy's curve is the short training's
    assert "2 long trainings failed" in labels.note and "partial" in labels.note
    assert labels.data.name == "fashion_mnist_14" and labels.recipe.epochs == LONG


def test_too_few_long_budget_networks_is_an_error_naming_min_labels():
    with pytest.raises(ValueError, match="min_labels=9"):
        R.table_labels(_table(n_long=8), 0.3)


# ---------------------------------------------------------------------------------------------- the proxy
class _Recorder:
    """A fitter whose predictors record the feature rows they rank (features = network index)."""

    def __init__(self):
        self.tested = []

    def __call__(self, x, y, config):
        rec = self

        class P:
            history = [{"train_tau": 1.0}]

            def score_features(self, z):
                rec.tested.append(tuple(int(v) for v in z[:, 0]))
                return z[:, 0].astype(float)

        return P()


def test_the_proxy_is_ranked_on_the_same_held_out_networks_as_the_predictors():
    labels = R.table_labels(_table(), 0.3)
    f = labels.frame
    n_lab, n_test = R.table_split_sizes(labels.n, 0.3)
    assert n_lab + n_test == labels.n and n_test == 12
    rec = _Recorder()
    seeds = [0, 1, 2]
    study, _ = R.repeated_fraction_study(np.arange(labels.n)[:, None], f.accuracy.to_numpy(), [0.5, 1.0], ["mse"],
                                         PR.PredictorConfig(), seeds, n_lab, n_test, fitter=rec,
                                         space=R.ERA_TABLE_SPACE, encoding="tensor")
    held = {s: set(t) for s, t in zip(np.repeat(seeds, 2), rec.tested)}
    base = R.table_baselines(f, seeds, n_lab, n_test, SHORT)
    proxy = base[base.method == R.proxy_method(SHORT)].set_index("seed")
    assert len(proxy) == 3 and (proxy.n_test == n_test).all()
    for s in seeds:
        idx = sorted(held[s])
        assert len(idx) == n_test
        want = PR.kendall_tau(f.proxy_accuracy.iloc[idx], f.accuracy.iloc[idx])
        assert proxy.loc[s, "tau"] == pytest.approx(want)
        # the proxy column is the 6-epoch accuracy: ranked against itself (the label) tau would be 1
        assert proxy.loc[s, "tau"] < 0.9
    # parameters increase with the label here: tau 1 on every held-out set
    assert np.allclose(base[base.method == "parameters"].tau, 1.0)


# ---------------------------------------------------------------------------------------------- intervals
def test_tau_intervals_use_student_t_below_eight_repeats_and_a_bootstrap_from_eight():
    rng = np.random.default_rng(0)
    for n in (3, MIN_BOOTSTRAP_N - 1):
        v = rng.normal(0.5, 0.1, n)
        iv = R.tau_intervals(pd.DataFrame({"space": "s", "loss": "mse", "fraction": 0.5, "n_train": 10, "tau": v}))
        half = stats.t.ppf(0.975, n - 1) * v.std(ddof=1) / math.sqrt(n)
        assert iv.interval.iloc[0] == "Student t"
        assert iv.low.iloc[0] == pytest.approx(v.mean() - half) and iv.high.iloc[0] == pytest.approx(v.mean() + half)
    v = rng.normal(0.5, 0.1, MIN_BOOTSTRAP_N)
    iv = R.tau_intervals(pd.DataFrame({"space": "s", "loss": "mse", "fraction": 0.5, "n_train": 10, "tau": v}))
    boot = stats.bootstrap((v,), np.mean, method="percentile", n_resamples=2000, random_state=0).confidence_interval
    assert iv.interval.iloc[0] == "bootstrap"
    assert iv.low.iloc[0] == pytest.approx(boot.low) and iv.high.iloc[0] == pytest.approx(boot.high)
    # three repeats: the t interval is wider than the bootstrap's (which only reshuffles three values)
    v3 = np.array([0.40, 0.50, 0.55])
    t3 = R.tau_intervals(pd.DataFrame({"space": "s", "loss": "mse", "fraction": 0.5, "n_train": 10, "tau": v3}))
    b3 = stats.bootstrap((v3,), np.mean, method="percentile", n_resamples=2000, random_state=0).confidence_interval
    assert t3.high.iloc[0] - t3.low.iloc[0] > 2 * (b3.high - b3.low)


# ---------------------------------------------------------------------------------------------- validation
def test_the_lane_and_the_table_search_sizes_are_validated():
    assert validate(R.Params, {}).lane == "train"
    with pytest.raises(ParamError, match="lane"):
        validate(R.Params, {"lane": "tables"})
    with pytest.raises((ParamError, ValueError), match="table_population=30 must be below table_evolution_steps"):
        validate(R.Params, {"table_population": 30, "table_evolution_steps": 30})
    labels = R.table_labels(_table(n_long=12), 0.3)
    p = _params(table_population=13, table_evolution_steps=40)
    choice = R.choose(R.table_sweep(labels.frame, p), p)
    with pytest.raises(ValueError, match="table_population=13 exceeds the 12 labelled networks"):
        R.table_study(labels.frame, p, choice, SUBSPACE)


# ---------------------------------------------------------------------------------------------- the lane end to end
def test_the_table_study_runs_tables_2_and_3_and_every_pick_is_scored_by_its_label():
    labels = R.table_labels(_table(), 0.3)
    p = _params()
    choice = R.choose(R.table_sweep(labels.frame, p), p)
    study, picks = R.table_study(labels.frame, p, choice, SUBSPACE)
    assert len(study) == 2 * 2 * 2 and set(study.space) == {R.ERA_TABLE_SPACE} and study.tau.between(-1, 1).all()
    assert set(study[study.fraction == 1.0].n_train) == {R.table_split_sizes(labels.n, 0.3)[0]}
    assert set(picks.method) == set(R.GUIDED) | {R.PROXY_GUIDED} and set(picks.seed) == {0, 1}
    assert (picks.truth == "label").all()
    label_of = dict(zip(labels.frame.config, labels.frame.accuracy))
    assert all(abs(a - label_of[c]) < 1e-9 for c, a in zip(picks.config, picks.accuracy))
    assert (picks.n_train == study[study.fraction == 0.5].n_train.iloc[0]).all()
    t3 = R.table3(picks)
    assert (t3.runs == 2).all() and (t3.interval == "Student t").all() and (t3.low <= t3.accuracy).all()
    rows = {r["id"]: r for r in R.claim_rows(study, picks, labels, p)}
    assert "looked up" in rows["rnas.guided_beats_peer"]["mapping"] and rows["rnas.guided_beats_peer"]["n"] == 2
    assert "ERA table" in rows["rnas.pairwise_beats_mse"]["mapping"]


def test_workers_do_not_change_the_rows():
    labels = R.table_labels(_table(), 0.3)
    x = PR.encode(R.configs_of(labels.frame), "tensor")
    n_lab, n_test = R.table_split_sizes(labels.n, 0.3)
    args = (x, labels.frame.accuracy.to_numpy(), [0.5, 1.0], ["mse", "pairwise"],
            PR.PredictorConfig(epochs=3, hidden=4), [0, 1], n_lab, n_test)
    one, _ = R.repeated_fraction_study(*args, workers=1)
    two, _ = R.repeated_fraction_study(*args, workers=2)
    pd.testing.assert_frame_equal(one.drop(columns="fit_seconds"), two.drop(columns="fit_seconds"))


def test_the_side_by_side_puts_the_proxy_beside_the_predictors():
    study = pd.DataFrame({"space": R.ERA_TABLE_SPACE, "split": "random", "encoding": "tensor", "loss": "mse",
                          "seed": range(8), "fraction": 1.0, "n_train": 40, "n_test": 20, "tau": 0.5})
    proxy = pd.DataFrame({"seed": range(8), "method": R.proxy_method(SHORT), "tau": np.linspace(0.2, 0.3, 8),
                          "cost_seconds": 1.0, "n_test": 20})
    iv = R.side_by_side(R.both_spaces(study, study.iloc[:0], era_space=R.ERA_TABLE_SPACE), proxy)
    row = iv[iv.loss == R.proxy_method(SHORT)].iloc[0]
    assert row.space == R.ERA_TABLE_SPACE and row.n_train == 0 and row.repeats == 8 and row.interval == "bootstrap"
    assert row.tau == pytest.approx(0.25)


def test_a_table_search_pickles_for_the_worker_processes():
    import pickle

    labels = R.table_labels(_table(), 0.3)
    search = R.TableSearch(SUBSPACE, tuple(R.configs_of(labels.frame)), PR.PredictorConfig(), PR.ForestConfig(),
                           tuple(labels.frame.proxy_accuracy), 10, 4, 2)
    assert pickle.loads(pickle.dumps(search)) == search
