"""Lab 03's self-checks (resnas.labs.fidelity) against plausible wrong answers, an unsolved TODO and the teacher's
solution, called directly (the lab itself is executed by test_labs.py)."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from resnas import labs
from resnas.labs import fidelity as fc

SOL = labs._load_solutions((labs.LABS_DIR / "solutions" / f"{fc.LAB}.py").resolve())


def todo(*args):
    raise NotImplementedError("TODO")


def test_solutions_pass_and_match_scipy():
    assert fc.check_ranks(SOL.ranks).startswith("correct:")
    assert fc.check_spearman(SOL.spearman).startswith("correct:")
    assert fc.check_top_k_overlap(SOL.top_k_overlap).startswith("correct:")
    rng = np.random.default_rng(1)
    x, y = rng.integers(0, 5, 40).astype(float), rng.integers(0, 5, 40).astype(float)  # many ties
    assert SOL.spearman(x, y) == pytest.approx(stats.spearmanr(x, y).statistic)


@pytest.mark.parametrize("check", [fc.check_ranks, fc.check_spearman, fc.check_top_k_overlap])
def test_an_unsolved_todo_is_not_done(check):
    with pytest.raises(labs.NotDone, match="is not done yet"):
        check(todo)


@pytest.mark.parametrize("wrong, message", [
    (lambda v: np.argsort(v), "sort order"),
    (lambda v: np.argsort(v) + 1, "sort order"),
    (lambda v: stats.rankdata(v) - 1, "off by one"),
    (lambda v: stats.rankdata(-np.asarray(v)), "from the largest value down"),
    (lambda v: stats.rankdata(v, method="ordinal"), "'ordinal'.*average"),
    (lambda v: stats.rankdata(v, method="min"), "'min'.*average"),
    (lambda v: stats.rankdata(v, method="dense"), "'dense'.*average"),
    (lambda v: stats.rankdata(v)[:-1], "7 values for 8 inputs"),
])
def test_ranks_rejects_plausible_wrong_ranks(wrong, message):
    with pytest.raises(labs.WrongAnswer, match=message):
        fc.check_ranks(wrong)


def shortcut(x, y):  # the no-ties formula on average ranks
    d = stats.rankdata(x) - stats.rankdata(y)
    n = len(x)
    return 1 - 6 * (d ** 2).sum() / (n * (n ** 2 - 1))


@pytest.mark.parametrize("wrong, message", [
    (lambda x, y: stats.pearsonr(x, y).statistic, "Pearson correlation of the values.*ranks, not the values"),
    (lambda x, y: abs(stats.spearmanr(x, y).statistic), "decreasing relation"),
    (shortcut, "shortcut is exact only without ties"),
    (lambda x, y: stats.pearsonr(stats.rankdata(x, method="ordinal"),
                                 stats.rankdata(y, method="ordinal")).statistic, "break ties"),
    (lambda x, y: stats.kendalltau(x, y).statistic, "which is not Spearman's rho"),
    (lambda x, y: [1.0, 1.0], "one number"),
])
def test_spearman_rejects_values_not_ranks_and_wrong_ties(wrong, message):
    with pytest.raises(labs.WrongAnswer, match=message):
        fc.check_spearman(wrong)


@pytest.mark.parametrize("wrong, message", [
    (lambda e, f, k: len(set(e.nlargest(k).index) & set(f.nlargest(k).index)), "a count"),
    (lambda e, f, k: len(set(e.nsmallest(k).index) & set(f.nsmallest(k).index)) / k, "least"),
    (lambda e, f, k: len(set(np.argsort(-e.to_numpy())[:k]) & set(np.argsort(-f.to_numpy())[:k])) / k,
     "by position"),
    (lambda e, f, k: len(set(e.nlargest(3).index) & set(f.nlargest(3).index)) / 3, "use k"),
])
def test_top_k_overlap_rejects_bottom_k_and_positional_pairing(wrong, message):
    with pytest.raises(labs.WrongAnswer, match=message):
        fc.check_top_k_overlap(wrong)


def test_learning_curves_and_by_epoch_pair_networks_by_name():
    t = pd.DataFrame({"config": ["a", "a", "b", "b", "c", "c"], "budget": 2, "seed": 0, "epoch": [1, 2] * 3,
                      "val_acc": [0.1, 0.5, 0.3, 0.4, 0.2, 0.9]})
    w = fc.learning_curves(t, budget=2)
    assert w.loc["c", 2] == pytest.approx(90.0)
    final = w[2].iloc[::-1]  # another order: by_epoch must still pair by network
    rho = fc.by_epoch(w, final, SOL.spearman)
    assert rho[2] == pytest.approx(1.0) and rho[1] == pytest.approx(stats.spearmanr([10, 30, 20], [50, 40, 90])[0])
    with pytest.raises(ValueError, match=r"budget=6, seed=0 has no trainings; allowed: one of \[\(2, 0\)\]"):
        fc.learning_curves(t, budget=6)


def test_messages_name_the_exercise():
    with pytest.raises(labs.WrongAnswer, match=r"^exercise 2: for y = exp\(x\)"):
        fc.check_spearman(lambda x, y: stats.pearsonr(x, y).statistic)
    with pytest.raises(labs.WrongAnswer, match=r"^exercise 3: "):
        fc.check_top_k_overlap(lambda e, f, k: 0.0)
