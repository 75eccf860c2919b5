"""The RNAS-style predictor: exact per-block costs, the losses' defining properties, learning a known ranking."""
import numpy as np
import pytest
import torch

from resnas import predictor as P
from resnas.spaces.era import RESNET20, EraSpace, _layer_costs


@pytest.fixture(scope="module")
def configs():
    rng = np.random.default_rng(0)
    space = EraSpace(filters_choices=(1, 2, 4, 8, 16, 32, 64))
    return list(dict.fromkeys(space.sample(rng) for _ in range(400))) + [RESNET20]


@pytest.mark.parametrize("image_size", [32, 28, 8])
def test_block_costs_sum_to_the_networks_own_counts(configs, image_size):
    kind, params, flops = P.block_costs(configs, image_size)
    for i, cfg in enumerate(configs):
        layers = list(_layer_costs(cfg.canonical(), 3, 10, (image_size, image_size)))[1:-1]  # blocks only
        assert params[i].sum() == sum(p for p, _ in layers), cfg
        assert flops[i].sum() == sum(f for _, f in layers), cfg
        assert (kind[i] > 0).sum() == sum(cfg.depths)  # one cell per block, padding elsewhere


def test_block_costs_match_a_built_network():
    kind, params, _ = P.block_costs([RESNET20])
    net = EraSpace().build(RESNET20)
    blocks = sum(p.numel() for p in net.blocks.parameters())
    assert params.sum() == blocks and set(np.unique(kind)) == {0.0, 1.0}


def test_encoding_shapes_and_errors(configs):
    assert P.encode(configs[:5]).shape == (5, 3, 4, 18)
    assert P.encode(configs[:5], "type").shape == (5, 1, 4, 18)
    with pytest.raises(ValueError, match="encoding='graph'.*allowed: tensor, type"):
        P.encode(configs[:5], "graph")
    with pytest.raises(ValueError, match="loss='hinge'"):
        P.PredictorConfig(loss="hinge")


def test_pairwise_loss_is_zero_exactly_when_ordered_beyond_the_margin():
    y = torch.tensor([0.1, 0.5, 0.3, 0.9, 0.5])  # a tie (0.5, 0.5) takes no part
    ordered = y * 10  # every pair in order with a gap >= 1.0 > margin... except the tie
    assert P.pairwise_hinge_loss(ordered, y, margin=0.5).item() == 0.0
    assert P.pairwise_hinge_loss(y, y, margin=0.5).item() > 0  # in order but gaps below the margin
    swapped = ordered.clone()
    swapped[[0, 3]] = swapped[[3, 0]]
    assert P.pairwise_hinge_loss(swapped, y, margin=0.5).item() > 0
    # ties in the scores of networks with equal labels never count
    assert P.pairwise_hinge_loss(torch.tensor([1.0, 1.0]), torch.tensor([0.2, 0.2]), 0.5).item() == 0.0


def test_continuity_loss_zero_for_features_laid_out_like_the_labels():
    y = torch.arange(20.0)  # integers: label gaps compare exactly
    line = (y * 10)[:, None]  # feature distance = 10 |y_i - y_j|: a closer pair is closer by >= 10 > margin
    g = torch.Generator().manual_seed(0)
    assert P.continuity_loss(line, y, margin=0.05, generator=g).item() == 0.0
    shuffled = line[torch.randperm(20, generator=g)]
    assert P.continuity_loss(shuffled, y, margin=0.05, generator=g).item() > 0


@pytest.mark.parametrize("loss", ["pairwise", "pairwise_continuity", "mse"])
def test_learns_a_known_ranking(configs, loss):
    """Truth is a known nonlinear function of the encoding: total log-parameters minus a penalty on the
    largest block's FLOPs. Held-out tau must exceed 0.8."""
    x = P.encode(configs)
    y = x[:, 2].sum(axis=(1, 2)) - 0.05 * x[:, 1].max(axis=(1, 2)) ** 2
    pred = P.fit(None, y[:200], P.PredictorConfig(loss=loss, epochs=80, hidden=16), features=x[:200])
    assert P.kendall_tau(pred.score_features(x[200:]), y[200:]) > 0.8
    # the weights kept are those with the best training tau (RNAS's rule)
    best = max(h["train_tau"] for h in pred.history)
    assert P.kendall_tau(pred.score_features(x[:200]), y[:200]) == pytest.approx(best)


def test_fit_is_repeatable_and_scores_configurations(configs):
    y = np.arange(60, dtype=float)
    a = P.fit(configs[:60], y, P.PredictorConfig(epochs=5))
    b = P.fit(configs[:60], y, P.PredictorConfig(epochs=5))
    np.testing.assert_array_equal(a.score(configs[60:90]), b.score(configs[60:90]))


def test_predictor_guided_evolution_finds_what_the_predictor_likes(configs):
    space = EraSpace(filters_choices=(1, 2, 4, 8), max_depth=3)
    rng = np.random.default_rng(1)
    pool = list(dict.fromkeys(space.sample(rng) for _ in range(300)))
    x = P.encode(pool)
    y = x[:, 2].sum(axis=(1, 2))  # bigger is better
    pred = P.fit(pool, y, P.PredictorConfig(epochs=60))
    picks = P.predictor_guided_evolution(pred, space, steps=300, population_size=20, top=3)
    assert len(picks) == 3 and picks.score.is_monotonic_decreasing
    sample_scores = pred.score(pool)
    assert picks.score.iloc[0] >= np.quantile(sample_scores, 0.95)
    top, seconds = P.exhaustive_top(pred, space, n=2000, top=2)
    assert len(top) == 2 and seconds > 0


def test_small_tau_is_scipys_tau_b_ties_included():
    rng = np.random.default_rng(0)
    for n in (2, 5, 40):
        a, b = rng.integers(0, 4, n).astype(float), rng.normal(size=n).round(1)
        assert P._tau_b_small(a, b) == pytest.approx(P.kendall_tau(a, b), nan_ok=True)
    assert np.isnan(P._tau_b_small(np.ones(5), np.arange(5.0)))


def test_prescoring_the_space_changes_nothing_the_evolution_returns(configs):
    space = EraSpace(filters_choices=(1, 2), max_depth=2)
    rng = np.random.default_rng(2)
    pool = list(dict.fromkeys(space.sample(rng) for _ in range(60)))
    x = P.encode(pool)
    pred = P.fit(pool, x[:, 2].sum(axis=(1, 2)), P.PredictorConfig(epochs=10, hidden=8))
    whole = P.predictor_guided_evolution(pred, space, steps=120, population_size=10, seed=3, top=4)
    one_by_one = P.predictor_guided_evolution(pred, space, steps=120, population_size=10, seed=3, top=4,
                                              prescore_limit=0)
    assert list(whole.config) == list(one_by_one.config)
    np.testing.assert_allclose(whole.score, one_by_one.score, rtol=1e-5)


def test_fraction_study_trains_every_model_of_a_split_on_the_same_subsample(configs):
    x = P.encode(configs[:40])
    y = x[:, 2].sum(axis=(1, 2))
    splits = [("random", 0, *P.split_indices(40, 0.3, 0)), ("other", 1, np.arange(10, 40), np.arange(10))]
    study = P.fraction_study(configs[:40], y, [0.5, 1.0], ("tensor",), ("mse", "pairwise"),
                             P.PredictorConfig(epochs=3, hidden=4), splits=splits,
                             forest=P.ForestConfig(trees=5), progress=False)
    assert len(study) == 2 * 3 * 2 and set(study.loss) == {"mse", "pairwise", P.FOREST}
    per_cell = study.groupby(["split", "fraction"]).n_train.nunique()
    assert per_cell.eq(1).all() and study[study.split == "other"].n_test.eq(10).all()
    assert (study[study.fraction == 1.0].n_train.to_numpy() == [28] * 3 + [30] * 3).all()


def test_fitting_several_losses_at_once_trains_each_as_alone(configs):
    """fit_many runs k RankNets as one grouped network: each must match its own `fit` (same initialisation and
    updates, up to float rounding of the grouped kernels), keep its own best-tau weights, and the mixing of
    unequal configurations must be refused."""
    x = P.encode(configs[:80])
    y = x[:, 2].sum(axis=(1, 2)) - 0.05 * x[:, 1].max(axis=(1, 2)) ** 2
    cfgs = [P.PredictorConfig(loss=loss, epochs=4, hidden=8, lam=0.5, seed=seed)
            for loss, seed in (("mse", 0), ("pairwise", 1), ("pairwise_continuity", 2))]
    together = P.fit_many(x[:50], y[:50], cfgs)
    for c, many in zip(cfgs, together):
        alone = P.fit(None, y[:50], c, features=x[:50])
        np.testing.assert_allclose(many.score_features(x[50:]), alone.score_features(x[50:]), atol=1e-3)
        assert [h["train_tau"] for h in many.history] == pytest.approx([h["train_tau"] for h in alone.history],
                                                                        abs=0.02)
        best = max(h["train_tau"] for h in many.history)
        assert P.kendall_tau(many.score_features(x[:50]), y[:50]) == pytest.approx(best)
    with pytest.raises(ValueError, match="different encoding/epochs/lr/hidden"):
        P.fit_many(x[:50], y[:50], [cfgs[0], cfgs[1].replace(epochs=5)])
