"""RNAS on the ERA space (resnas.experiments.ranking): which labels the predictor learns, the neighbourhood split,
the lambda decision, the E2EPP-style peer, the searches' truth and tables, and RNAS Tables 2-3 as printed."""
import math
import re
from dataclasses import asdict
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from resnas import predictor as PR
from resnas.data import DataSpec
from resnas.evaluate import CODE_VERSION, Archive, Record, config_json, evaluation_key
from resnas.experiments import ranking as R
from resnas.params import ParamError, load_profile, validate
from resnas.spaces.era import EraSpace
from resnas.train import TrainRecipe

PAPERS = Path(__file__).resolve().parents[1] / ".." / "shared" / "papers"
SPACE = EraSpace(filters_choices=(1, 2, 4, 8), max_depth=3)
SEARCH_DATA = DataSpec(name="digits", val_size=0.2)
SEARCH_RECIPE = TrainRecipe(epochs=2, batch_size=64, lr=0.05, low_lr_epochs=0)


def _configs(n, seed=0, space=SPACE):
    rng = np.random.default_rng(seed)
    out = {}
    while len(out) < n:
        out.setdefault(space.sample(rng), None)
    return list(out)


def _record(cfg, acc, data=SEARCH_DATA, recipe=SEARCH_RECIPE, seed=0, curve=None, status="ok"):
    """A record as the evaluator writes it: accuracy `acc` (a fraction) after recipe.epochs epochs."""
    curve = curve or [acc] * recipe.epochs
    history = tuple({"epoch": e + 1, "val_acc": a, "seconds": 1.5 * (e + 1)} for e, a in enumerate(curve))
    return Record(key=evaluation_key("era", cfg, data, recipe, seed), space="era", config=config_json("era", cfg),
                  data=R._plain(asdict(data)), recipe=R._plain(asdict(recipe)), seed=seed, status=status,
                  reason="", final_val_acc=acc, best_val_acc=acc, best_epoch=recipe.epochs, params=1000 + int(1e4 * acc),
                  flops=2000 + int(1e4 * acc), wall_time=1.5 * recipe.epochs, device="cpu", history=history,
                  fingerprint={}, created_at=0.0, run_id="test", code_version=CODE_VERSION)


def _archive(path, records):
    archive = Archive(path)
    for r in records:
        archive.put(r)
    archive.close()
    return path


@pytest.fixture()
def archives(tmp_path):
    """A search archive of 30 networks (2 epochs, validation split) and a fidelity store that holds, for 12 of
    them, a 6-epoch retraining (the labels), a shorter 4-epoch one, a 6-epoch one under another seed, and a
    10-epoch training on the test split (a final training: higher budget, never a label)."""
    configs = _configs(30)
    proxy = np.linspace(0.2, 0.8, 30)
    search = _archive(tmp_path / "search.sqlite", [_record(c, a, curve=[a / 2, a]) for c, a in zip(configs, proxy)])
    long_acc = {config_json("era", c): 0.9 - 0.02 * i for i, c in enumerate(configs[:12])}  # another order
    test_data = DataSpec(name="digits", val_size=0.2, split="test")
    store = []
    for c in configs[:12]:
        a = long_acc[config_json("era", c)]
        store += [_record(c, a, recipe=SEARCH_RECIPE.replace(epochs=6)),
                  _record(c, 0.11, recipe=SEARCH_RECIPE.replace(epochs=4)),
                  _record(c, 0.12, recipe=SEARCH_RECIPE.replace(epochs=6), seed=5),
                  _record(c, 0.99, data=test_data, recipe=SEARCH_RECIPE.replace(epochs=10))]
    store.append(_record(configs[12], 0.5, recipe=SEARCH_RECIPE.replace(epochs=6), status="failed"))
    long = _archive(tmp_path / "long.sqlite", store)
    return search, long, long_acc, configs


# ---------------------------------------------------------------------------------------------- labels
def test_labels_are_the_longest_validation_retraining_never_a_test_split_record(archives):
    search_path, long_path, long_acc, _ = archives
    search = R.archive_frame(search_path)
    labels = R.select_labels(search, search_path, long_path, None, 0.3)
    assert labels.source == R.LONG and not labels.proxy_is_label
    assert labels.n == 12 and labels.label_epochs == 6 and labels.proxy_epochs == 2
    assert labels.recipe.epochs == 6 and labels.data.split == "val" and labels.seed == 0  # the picks: like labels
    got = dict(zip(labels.frame.config, labels.frame.accuracy))
    assert got == pytest.approx({k: 100 * v for k, v in long_acc.items()})  # not 11, 12 or 99 %
    # the cheap proxy is the search's own accuracy of the same networks, kept beside the label
    proxy = dict(zip(search.config, search.accuracy))
    assert all(labels.frame.proxy_accuracy == [proxy[c] for c in labels.frame.config])
    assert "12 networks" in labels.note and "6 epochs" in labels.note and "FALLBACK" not in labels.note
    table = R.label_table(labels).iloc[0]
    assert table.labels == R.LONG and table.networks == 12 and table.data_split == "validation"
    assert table.long_budget_found == 12 and table.min_labels == 9 and not table.enough_for_meaningful_tau


def test_a_test_split_search_archive_is_refused(archives, tmp_path):
    _, long_path, _, configs = archives
    test_data = DataSpec(name="digits", val_size=0.2, split="test")
    with pytest.raises(ValueError, match="data split is 'test'; allowed: 'val'"):
        R.long_budget_frame(long_path, test_data, SEARCH_RECIPE, 0)
    # and the search frame never reads a final training mixed into an archive
    mixed = _archive(tmp_path / "mixed.sqlite", [_record(c, 0.5) for c in configs[:5]]
                     + [_record(c, 0.9, data=test_data) for c in configs[5:7]])
    assert len(R.archive_frame(mixed)) == 5


def test_labels_fall_back_to_the_search_accuracies_with_a_note(archives, tmp_path):
    search_path, long_path, _, _ = archives
    search = R.archive_frame(search_path)
    missing = R.select_labels(search, search_path, tmp_path / "nowhere.sqlite", None, 0.3)
    assert missing.source == R.FALLBACK and missing.proxy_is_label and missing.n == 30
    assert "FALLBACK" in missing.note and "no long-budget archive" in missing.note
    assert (missing.frame.accuracy == missing.frame.proxy_accuracy).all() and missing.label_epochs == 2
    few = R.select_labels(search, search_path, long_path, 13, 0.3)  # 12 found, 13 asked
    assert few.source == R.FALLBACK and few.long_found == 12 and "fewer than min_labels = 13" in few.note
    # the cheap proxy is no baseline when it is the label
    names = set(R.baselines(few.frame, np.arange(10), few.proxy_epochs, few.proxy_is_label).method)
    assert names == {"parameters", "FLOPs", "epoch 1 accuracy"}


def test_the_cheap_proxy_is_a_named_baseline_against_the_labels(archives):
    search_path, long_path, _, _ = archives
    labels = R.select_labels(R.archive_frame(search_path), search_path, long_path, None, 0.3)
    rows = R.baselines(labels.frame, np.arange(labels.n), labels.proxy_epochs, labels.proxy_is_label)
    proxy = rows.set_index("method").loc["the cheap proxy: search accuracy (2 epochs)"]
    # the fixture's long labels fall as the search accuracies rise: the proxy ranks them exactly backwards
    assert proxy.tau == pytest.approx(-1.0) and proxy.cost_seconds == pytest.approx(12 * 3.0)


@pytest.mark.parametrize("test_fraction", [0.1, 0.3, 0.4, 0.6])
def test_min_labels_is_the_fewest_with_which_every_step_is_defined(test_fraction):
    n = R.min_labels_rule(test_fraction)

    def sizes(n):
        train, test = PR.split_indices(n, test_fraction, 0)
        inner_train, inner_val = PR.split_indices(len(train), R.SWEEP_VAL_FRACTION, 100)
        return len(test), len(inner_train), len(inner_val)

    held, fit_on, val_on = sizes(n)
    assert held >= R.MIN_HELD_OUT and fit_on >= 2 and val_on >= 2
    held, fit_on, val_on = sizes(n - 1)
    assert held < R.MIN_HELD_OUT or fit_on < 2 or val_on < 2


def test_informative_labels_use_the_chance_spread_of_kendall_tau():
    rng = np.random.default_rng(0)
    m = 15
    taus = [PR._tau_b_small(np.arange(m, dtype=float), rng.permutation(m).astype(float)) for _ in range(1500)]
    assert np.std(taus) == pytest.approx(R.tau_null_sd(m), abs=0.01)
    assert R.informative_labels(0.3) == 49 and R.held_out(0.3, 49) == 15  # 15 held out: sd 0.19 <= 0.2
    assert R.tau_null_sd(R.held_out(0.3, 48)) > 0.2


# ---------------------------------------------------------------------------------------------- splits
def test_hamming_distance_counts_changed_parameters():
    a = SPACE.sample(np.random.default_rng(3))
    rng = np.random.default_rng(4)
    child = SPACE.mutate(a, rng)
    d = PR.hamming_distances([a, child, a], SPACE)
    assert d[0, 1] == 1 and d[0, 2] == 0 and (d == d.T).all() and (np.diag(d) == 0).all()


def _archive_like(n_roots=12, children=6, seed=0):
    """Configurations as an evolution leaves them: random roots and a few mutations of each."""
    rng = np.random.default_rng(seed)
    out = {}
    for root in _configs(n_roots, seed):
        out.setdefault(root, None)
        c = root
        for _ in range(children):
            c = SPACE.mutate(c, rng)
            out.setdefault(c, None)
    return list(out)


@pytest.mark.parametrize("radius", [1, 2])
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_neighbourhood_split_keeps_every_held_out_network_beyond_the_radius(radius, seed):
    configs = _archive_like(seed=seed)
    d = PR.hamming_distances(configs, SPACE)
    train, test, dropped = PR.neighbourhood_split(d, 0.3, seed, radius)
    assert len(test) == round(0.3 * len(configs))  # the target is met
    assert d[np.ix_(test, train)].min() > radius
    assert not (set(train) & set(test)) and not (set(dropped) & (set(train) | set(test)))
    assert len(train) + len(test) + len(dropped) == len(configs)
    # the property is not free: a random split of the same archive breaks it
    r_train, r_test = PR.split_indices(len(configs), 0.3, seed)
    assert d[np.ix_(r_test, r_train)].min() <= radius


def test_neighbourhood_split_cuts_one_big_neighbourhood_and_drops_the_seam():
    # a chain 0-1-2-...-9 (distance |i - j|): one neighbourhood at radius 1, so it must be cut
    d = np.abs(np.subtract.outer(np.arange(10), np.arange(10)))
    train, test, dropped = PR.neighbourhood_split(d, 0.3, 0, radius=1)
    assert len(test) == 3 and len(dropped) >= 1 and d[np.ix_(test, train)].min() > 1
    with pytest.raises(ValueError, match="leaves 0 to train on.*allowed: a radius"):
        PR.neighbourhood_split(np.zeros((4, 4), int), 0.5, 0, radius=1)
    with pytest.raises(ValueError, match="test_fraction=1.5 is out of range"):
        PR.neighbourhood_split(d, 1.5, 0)


def test_make_splits_reports_both_splits_and_their_near_neighbours():
    configs = _archive_like(seed=5)
    frame = pd.DataFrame({"config": [c.to_json() for c in configs]})
    p = validate(R.Params, {"filters": [1, 2, 4, 8], "max_depth": 3, "seeds": [0, 1], "test_fraction": 0.3})
    splits, table = R.make_splits(frame, p)
    assert [(s[0], s[1]) for s in splits] == [("random", 0), ("neighbourhood", 0), ("random", 1),
                                              ("neighbourhood", 1)]
    near = table.set_index(["split", "seed"]).held_out_near_train_pct
    assert (near.loc["neighbourhood"] == 0).all() and (near.loc["random"] > 0).all()


# ---------------------------------------------------------------------------------------------- lambda
def _sweep(rows):
    return pd.DataFrame(rows, columns=["margin", "lam", "val_tau"]).assign(n_train=20, n_val=6)


def test_lambda_zero_winning_keeps_plain_pairwise_and_the_best_measured_positive_lambda():
    p = validate(R.Params, {})
    sw = _sweep([(0.1, 0.0, 0.6), (0.1, 0.1, 0.2), (0.1, 0.5, 0.4), (0.3, 0.0, 0.5), (0.3, 0.5, 0.55)])
    c = R.choose(sw, p)
    assert c.search.loss == "pairwise" and c.search.lam == 0.0 and c.search.margin == 0.1
    assert c.study.lam == 0.5 and c.study.margin == 0.1  # not a forced 0.1: the best lambda > 0 at margin 0.1
    assert "did not help" in c.note


def test_a_positive_lambda_winning_is_used_and_an_undefined_tau_ranks_last():
    p = validate(R.Params, {})
    sw = _sweep([(0.1, 0.0, float("nan")), (0.3, 0.1, 0.2), (0.3, 0.5, 0.7)])
    c = R.choose(sw, p)
    assert c.search.loss == "pairwise_continuity" and c.search.lam == 0.5 and c.search.margin == 0.3
    assert c.study.lam == 0.5 and "did not help" not in c.note


def test_a_tied_sweep_says_so_rather_than_that_lambda_zero_won():
    p = validate(R.Params, {})
    c = R.choose(_sweep([(0.05, 0.0, -1.0), (0.05, 0.1, -1.0), (0.1, 0.0, -1.0), (0.1, 0.1, -1.0)]), p)
    assert c.search.loss == "pairwise" and c.search.margin == 0.05 and c.study.lam == 0.1
    assert "every setting tied" in c.note and "neither helped nor hurt" in c.note and "did not help" not in c.note


# ---------------------------------------------------------------------------------------------- the peer
def test_the_random_forest_peer_ranks_a_known_ranking_far_above_chance():
    configs = _configs(260, seed=7)
    x = PR.encode(configs)
    y = x[:, 2].sum(axis=(1, 2)) - 0.05 * x[:, 1].max(axis=(1, 2)) ** 2  # known function of the encoding
    forest = PR.fit_forest(None, y[:160], PR.ForestConfig(trees=30, seed=0), features=x[:160])
    assert PR.kendall_tau(forest.score_features(x[160:]), y[160:]) > 0.6  # chance: 0 +- 0.07
    # the fast path returns what scikit-learn's predict returns
    flat = x[160:].reshape(100, -1)
    np.testing.assert_allclose(forest.score_features(x[160:]), forest.model.predict(flat), rtol=1e-12)
    # and a shuffled target is not learned (the test can fail)
    shuffled = PR.fit_forest(None, np.random.default_rng(0).permutation(y[:160]), PR.ForestConfig(trees=30),
                             features=x[:160])
    assert abs(PR.kendall_tau(shuffled.score_features(x[160:]), y[160:])) < 0.25


def test_guided_search_fits_all_three_predictors_on_the_same_labelled_set(monkeypatch):
    configs = _configs(20, seed=2, space=EraSpace(filters_choices=(1, 2, 4), max_depth=2))
    frame = pd.DataFrame({"config": [c.to_json() for c in configs], "accuracy": np.linspace(10, 60, 20)})
    p = validate(R.Params, {"filters": [1, 2, 4], "max_depth": 2, "search_seeds": [3, 4], "evolution_steps": 30,
                            "population": 5, "top": 2, "predictor_epochs": 3, "hidden": 4, "forest_trees": 3})
    seen = []
    real_fit, real_forest = R.fit, R.fit_forest

    def spy_fit(configs, y, config, image_size=32, features=None):
        seen.append(("net", config.loss, config.seed, tuple(y), features.shape))
        return real_fit(configs, y, config, image_size, features)

    def spy_forest(configs, y, config, image_size=32, features=None):
        seen.append(("forest", "rf", config.seed, tuple(y), features.shape))
        return real_forest(configs, y, config, image_size, features)

    monkeypatch.setattr(R, "fit", spy_fit)
    monkeypatch.setattr(R, "fit_forest", spy_forest)
    picks = R.guided_search(frame, p, PR.PredictorConfig(loss="pairwise", epochs=3, hidden=4))
    assert len(seen) == 3 * 2 and len({s[3] for s in seen}) == 1 and len({s[4] for s in seen}) == 1
    assert sorted((s[1], s[2]) for s in seen) == [("mse", 3), ("mse", 4), ("pairwise", 3), ("pairwise", 4),
                                                  ("rf", 3), ("rf", 4)]
    assert picks.groupby(["method", "seed"]).size().eq(2).all() and set(picks.method) == set(R.GUIDED)


# ---------------------------------------------------------------------------------------------- truth and tables
class _Rec:
    def __init__(self, acc, ok=True):
        self.final_val_acc, self.ok, self.params = acc, ok, 77


def test_attach_truth_keeps_labels_and_trains_only_the_rest_once():
    frame = pd.DataFrame({"config": ['{"a":1}', '{"a":2}', '{"a":3}'], "accuracy": [50.0, 70.0, 90.0],
                          "params": [1, 2, 3]})
    picks = pd.DataFrame({"config": ['{"a": 2}', '{"a":4}', '{"a":4}', '{"a":5}'], "method": R.OURS,
                          "seed": [0, 0, 1, 1]})
    asked = []

    def evaluate(todo):
        asked.append(list(todo))
        return [_Rec(0.8) if c == '{"a":4}' else _Rec(0.0, ok=False) for c in todo]

    out = R.attach_truth(picks, frame, evaluate)
    assert asked == [['{"a":4}', '{"a":5}']]  # each unlabelled network once; the labelled one never
    assert list(out.truth) == ["label", "trained", "trained", "failed"]
    assert out.accuracy.iloc[0] == 70.0 and out.accuracy.iloc[1] == pytest.approx(80.0)
    assert list(out.true_rank.iloc[:3]) == [2, 2, 2] and math.isnan(out.accuracy.iloc[3])
    assert out.better_labelled_pct.iloc[1] == pytest.approx(100 / 3)


def test_table3_takes_each_runs_best_pick_then_the_mean_over_seeds():
    picks = pd.DataFrame({"method": [R.OURS] * 4 + [R.PEER] * 2, "seed": [0, 0, 1, 1, 0, 1],
                          "accuracy": [80.0, 90.0, 70.0, np.nan, 60.0, 64.0],
                          "better_labelled_pct": [20.0, 10.0, 30.0, np.nan, 50.0, 40.0]})
    t = R.table3(picks).set_index("method")
    assert t.loc[R.OURS, "accuracy"] == 80.0 and t.loc[R.OURS, "accuracy_sd"] == pytest.approx(np.std([90, 70], ddof=1))
    assert t.loc[R.OURS, "better_labelled_pct"] == 20.0 and t.loc[R.OURS, "runs"] == 2
    assert t.loc[R.PEER, "rnas_row"] == "E2EPP" and t.loc[R.OURS, "rnas_row"] == "Proposed v4"
    beside = R.table3_beside(t.reset_index()).set_index("method")
    assert beside.loc[R.PEER, "rnas_accuracy"] == 93.47


def test_profiles_repeat_as_rnas_does():
    root = Path(__file__).resolve().parents[1] / "params"
    seeds = {prof: load_profile(R.Params, "ranking_predictor", prof, root=root) for prof in ("ci", "default", "paper")}
    assert len(seeds["paper"].seeds) == 20 and len(seeds["paper"].search_seeds) == 20  # RNAS Tables 3 and 6
    assert len(seeds["default"].search_seeds) >= 3 and len(seeds["ci"].search_seeds) == 2
    with pytest.raises(ParamError, match="search_seeds"):
        validate(R.Params, {"search_seeds": [0]})
    with pytest.raises(ParamError, match="search_seeds=\\[1, 1\\] repeats a seed"):
        validate(R.Params, {"search_seeds": [1, 1]})
    with pytest.raises(ParamError, match="min_labels=5 is below 9"):
        validate(R.Params, {"min_labels": 5})


# ---------------------------------------------------------------------------------------------- RNAS's tables
def _rnas_text() -> str:
    path = PAPERS / "rnas.txt"
    if not path.exists():
        pytest.skip(f"rnas.txt is not at {PAPERS.resolve()}: the paper texts sit beside the checkout in the project "
                    f"workspace and are not part of a clone, so the transcription cannot be compared")
    return path.read_text(encoding="utf-8")


def test_rnas_table2_is_transcribed_from_the_text():
    text = _rnas_text()
    block = text[:text.index("Table 2: The Kendall")]
    names = {"Peephole": r"Peephole \[3\]", "E2EPP": r"E2EPP \[20\]", **{f"Proposed v{i}": rf"Proposed v{i} \([^)]*\)"
                                                                       for i in range(1, 5)}}
    for row in R.RNAS_TABLE2.itertuples(index=False):
        m = re.search(rf"^{names[row.method]} ((?:[\d.]+ ?){{7}})$", block, re.M)
        assert m, row.method
        assert [float(v) for v in m[1].split()] == list(row[3:]), row.method
    assert "424 models" in text  # the second column's size, from the abstract


def test_rnas_table3_is_transcribed_from_the_text():
    text = _rnas_text()
    block = text[text.index("Method accuracy() ranking()"):text.index("Table 3: The classification")]
    printed = {}
    for line in block.splitlines()[1:]:
        m = re.match(r"^(.+?)(?: \[\d+\])? ([\d.]+) ([\d.]+) ([\d.]+)$", line)
        printed[m[1]] = tuple(float(v) for v in m.groups()[1:])
    assert printed == {r.method: (r.accuracy, r.accuracy_sd, r.ranking_pct)
                       for r in R.RNAS_TABLE3.itertuples(index=False)}
    assert "repeated 20 times" in text  # Table 3's and Table 6's seeds
