"""Lab 06's self-checks (resnas.labs.performance_predictors) against plausible wrong answers, an unsolved TODO and
the teacher's solution, called directly (the lab itself is executed by test_labs.py)."""
from __future__ import annotations

import numpy as np
import pytest
import torch
from scipy import stats

from resnas import labs
from resnas.labs import performance_predictors as pp

SOL = labs._load_solutions((labs.LABS_DIR / "solutions" / f"{pp.LAB}.py").resolve())


def todo(*args):
    raise NotImplementedError("TODO")


def test_solutions_pass():
    assert pp.check_pairwise_loss(SOL.pairwise_hinge).startswith("correct:")
    assert pp.check_kendall(SOL.kendall).startswith("correct:")


@pytest.mark.parametrize("check", [pp.check_pairwise_loss, pp.check_kendall])
def test_an_unsolved_todo_is_not_done(check):
    with pytest.raises(labs.NotDone, match="is not done yet"):
        check(todo)


def sign(labels):
    return torch.sign(labels[:, None] - labels[None, :])


def diff(scores):
    return scores[:, None] - scores[None, :]


def mean_pairs(t, labels):
    return t[sign(labels) != 0].mean()


@pytest.mark.parametrize("wrong, message", [
    # the sign flipped
    (lambda s, y, m: mean_pairs(torch.relu(m + diff(s) * sign(y)), y), "sign is flipped"),
    # the pair order reversed in the score difference only
    (lambda s, y, m: mean_pairs(torch.relu(m - (s[None, :] - s[:, None]) * sign(y)), y), "sign is flipped"),
    # no hinge
    (lambda s, y, m: mean_pairs(m - diff(s) * sign(y), y), "never negative"),
    # tied pairs counted
    (lambda s, y, m: torch.relu(m - diff(s) * sign(y))[~torch.eye(len(y), dtype=torch.bool)].mean(),
     "equal labels are counted"),
    # the margin ignored
    (lambda s, y, m: mean_pairs(torch.relu(-diff(s) * sign(y)), y), "ignores the margin"),
    # a sum instead of a mean
    (lambda s, y, m: torch.relu(m - diff(s) * sign(y))[sign(y) != 0].sum(), "a sum over pairs"),
    # detached through numpy
    (lambda s, y, m: torch.tensor(mean_pairs(torch.relu(m - diff(s) * sign(y)), y).detach().item()), "no gradient"),
    # a float, not a tensor
    (lambda s, y, m: float(mean_pairs(torch.relu(m - diff(s) * sign(y)), y)), "returned float"),
    # MSE instead
    (lambda s, y, m: torch.mean((s - y) ** 2), "should cost nothing"),
])
def test_pairwise_loss_rejects_a_flipped_sign_and_other_slips(wrong, message):
    with pytest.raises(labs.WrongAnswer, match=message):
        pp.check_pairwise_loss(wrong)


def tau_a(a, b):
    a, b = np.asarray(a, float), np.asarray(b, float)
    s = np.sign(a[:, None] - a[None, :]) * np.sign(b[:, None] - b[None, :])
    return s.sum() / (len(a) * (len(a) - 1))


@pytest.mark.parametrize("wrong, message", [
    (tau_a, "tau-a"),
    (lambda a, b: -stats.kendalltau(a, b).statistic, "wrong sign"),
    (lambda a, b: stats.spearmanr(a, b).statistic, "without ties you got"),
    (lambda a, b: stats.kendalltau(a, b, variant="c").statistic, "with ties you got.*not tau-b"),
    (lambda a, b: [0.5, 0.5], "return one number"),
])
def test_kendall_rejects_tau_a_and_a_lost_sign(wrong, message):
    with pytest.raises(labs.WrongAnswer, match=message):
        pp.check_kendall(wrong)


def test_the_pairwise_loss_learns_the_order_and_the_flipped_one_learns_it_backwards():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(60, 5)).astype(np.float32)
    y = x @ np.array([1.0, -0.5, 0.2, 0.0, 0.3]) + 0.1 * rng.normal(size=60)
    good = pp.fit_scorer(x, y, SOL.pairwise_hinge, epochs=120)
    flipped = pp.fit_scorer(x, y, lambda s, t, m: SOL.pairwise_hinge(-s, t, m), epochs=120)
    assert stats.kendalltau(pp.scores(good, x), y).statistic > 0.7
    assert stats.kendalltau(pp.scores(flipped, x), y).statistic < -0.7


def test_fraction_study_pairs_losses_on_the_same_cells_and_the_gap_reads_the_sign():
    rng = np.random.default_rng(1)
    x = rng.normal(size=(80, 4)).astype(np.float32)
    y = x.sum(axis=1)
    pool, test = pp.split(80, 40, 30, seed=0)
    assert not set(pool) & set(test)
    study = pp.fraction_study(x, y, pool, test, [0.25, 1.0], {"mse": pp.mse_loss, "pairwise": SOL.pairwise_hinge},
                              seeds=[0, 1, 2], epochs=30)
    assert len(study) == 2 * 2 * 3 and sorted(study.n_train.unique()) == [10, 40]
    gap = pp.paired_gap(study, "pairwise", "mse")
    assert list(gap.n_train) == [10, 40] and (gap.seeds == 3).all()
    assert (gap.mean_gap == -pp.paired_gap(study, "mse", "pairwise").mean_gap).all()
    with pytest.raises(ValueError, match="pool=70, test=30"):
        pp.split(80, 70, 30, seed=0)
    with pytest.raises(ValueError, match="fraction=0"):
        pp.fraction_study(x, y, pool, test, [0], {"mse": pp.mse_loss}, seeds=[0])


def test_messages_name_the_exercise():
    with pytest.raises(labs.WrongAnswer, match=r"^exercise 1: your loss is zero when"):
        pp.check_pairwise_loss(lambda s, y, m: SOL.pairwise_hinge(-s, y, m))
    with pytest.raises(labs.WrongAnswer, match=r"^exercise 2: with ties you got .*tau-a"):
        pp.check_kendall(tau_a)
