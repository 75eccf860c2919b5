"""Lab 03 (fidelity): self-checks for ranks, Spearman's rho and the top-k overlap written by hand, and the
small table helpers the lab reads the ERA tabular benchmark's learning curves with (`resnas.tabular`).

Ranks are 1-based with ties sharing the average of the ranks they span (scipy.stats.rankdata's default), and
Spearman's rho is the Pearson correlation of those ranks (scipy.stats.spearmanr): the references every check
compares with.
"""
from __future__ import annotations


import numpy as np
import pandas as pd
from scipy import stats

from resnas.labs import NotDone, WrongAnswer, attempt, correct, expect
from resnas.labs import exercise as _exercise

LAB = "03_fidelity"




def _numbers(out, n: int, name: str) -> np.ndarray:
    try:
        arr = np.asarray(out, dtype=float).ravel()
    except (TypeError, ValueError):
        raise WrongAnswer(f"{name} returned {type(out).__name__}; it should return numbers") from None
    expect(len(arr) == n, f"{name} returned {len(arr)} values for {n} inputs; one rank per value")
    return arr


def _scalar(out, name: str) -> float:
    try:
        return float(np.asarray(out, dtype=float).reshape(()))
    except (TypeError, ValueError):
        raise WrongAnswer(f"{name} returned {type(out).__name__} ({out!r:.60}); it should return one number") from None


# ---------------------------------------------------------------------------------------------- exercise 1
@_exercise(1)
def check_ranks(ranks) -> str:
    """`ranks(values)` -> each value's rank, 1 = smallest, ties sharing their average rank. Rejects an argsort,
    0-based ranks, ranks from the largest down, and ties broken (ordinal, min, max or dense ranks)."""
    x = np.array([3.2, 1.5, 4.8, 1.5, 9.0, 4.8, 4.8, 2.0])
    given = x.copy()
    r = _numbers(attempt(1, ranks, given), len(x), "ranks")
    expect(np.array_equal(given, x), "ranks changed its input in place; rank a copy")
    want = stats.rankdata(x)
    if np.allclose(r, want):
        return correct("1-based ranks, smallest first, ties sharing their average rank")
    order = np.argsort(x, kind="stable")
    if np.allclose(r, order) or np.allclose(r, order + 1):
        raise WrongAnswer("that is the sort order (which position holds the k-th smallest value), not the rank of "
                          "each value; rank[i] should say where values[i] lands when the values are sorted")
    if np.allclose(r, want - 1):
        raise WrongAnswer("your ranks are off by one: the smallest value has rank 1, not 0")
    if np.allclose(r, stats.rankdata(-x)):
        raise WrongAnswer("your ranks count from the largest value down; rank 1 is the smallest value here (the "
                          "correlation's sign depends on both series being ranked the same way)")
    for method in ("ordinal", "min", "max", "dense"):
        if np.allclose(r, stats.rankdata(x, method=method)):
            raise WrongAnswer(f"equal values got different or non-average ranks (what scipy calls '{method}' "
                              "ranking): tied values must share the average of the ranks they span, e.g. two "
                              "values tied for places 2 and 3 both get 2.5")
    i = int(np.flatnonzero(~np.isclose(r, want))[0])
    raise WrongAnswer(f"values[{i}] = {x[i]:g} got rank {r[i]:g}; a value's rank is its place among the sorted "
                      "values (1 = smallest), ties sharing their average place")


# ---------------------------------------------------------------------------------------------- exercise 2
@_exercise(2)
def check_spearman(spearman) -> str:
    """`spearman(x, y)` -> Spearman's rho. Rejects Pearson on the values, the 1 - 6 sum d^2 / (n (n^2 - 1))
    shortcut when there are ties, ties broken in ranking, and a lost sign."""
    x1 = np.arange(1.0, 9.0)
    y1 = np.exp(x1)  # perfectly monotone, far from linear: rho = 1, Pearson about 0.75
    r1 = _scalar(attempt(2, spearman, x1, y1), "spearman")
    if not np.isclose(r1, 1.0):
        if np.isclose(r1, stats.pearsonr(x1, y1).statistic):
            raise WrongAnswer(f"for y = exp(x) you got {r1:.3f}, the Pearson correlation of the values; a perfectly "
                              "monotone relation has Spearman rho = 1: correlate the ranks, not the values")
        raise WrongAnswer(f"for y = exp(x) (every larger x has a larger y) you got {r1:.3f}; Spearman's rho of a "
                          "perfectly monotone relation is 1")
    r_neg = _scalar(attempt(2, spearman, x1, -y1 ** 0.5), "spearman")
    expect(np.isclose(r_neg, -1.0), f"for a perfectly decreasing relation you got {r_neg:.3f}; rho should be -1 (did "
                                    "you drop the sign, or rank one series from the largest down?)")
    x2 = np.array([1, 2, 2, 3, 4, 4, 4, 5, 6, 7], dtype=float)
    y2 = np.array([2, 1, 3, 3, 5, 4, 6, 8, 7, 7], dtype=float)
    r2 = _scalar(attempt(2, spearman, x2, y2), "spearman")
    want = stats.spearmanr(x2, y2).statistic
    if np.isclose(r2, want):
        return correct("Spearman's rho: the Pearson correlation of average ranks, exact with ties")
    n, d = len(x2), stats.rankdata(x2) - stats.rankdata(y2)
    if np.isclose(r2, 1 - 6 * (d ** 2).sum() / (n * (n ** 2 - 1))):
        raise WrongAnswer(f"with ties you got {r2:.4f}: the 1 - 6 sum(d^2) / (n (n^2 - 1)) shortcut is exact only "
                          "without ties; compute the Pearson correlation of the (average) ranks instead")
    ordinal = stats.pearsonr(stats.rankdata(x2, method="ordinal"), stats.rankdata(y2, method="ordinal")).statistic
    if np.isclose(r2, ordinal):
        raise WrongAnswer(f"with ties you got {r2:.4f}: your ranks break ties (ordinal ranks); tied values must "
                          "share their average rank")
    if np.isclose(r2, stats.pearsonr(x2, y2).statistic):
        raise WrongAnswer(f"with ties you got {r2:.4f}, the Pearson correlation of the values; correlate ranks")
    raise WrongAnswer(f"for two series with ties you got {r2:.4f}, which is not Spearman's rho; rank both series "
                      "(ties averaged), then take the Pearson correlation of the two rank vectors")


# ---------------------------------------------------------------------------------------------- exercise 3
@_exercise(3)
def check_top_k_overlap(top_k_overlap) -> str:
    """`top_k_overlap(early, final, k)` -> the share of the k networks most accurate at the final epoch that are
    also among the k most accurate early (two pd.Series of accuracies indexed by network, in any order).
    Rejects the k *least* accurate, pairing by position instead of by network, and a count instead of a share."""
    nets = [f"net{i:02d}" for i in range(10)]
    final = pd.Series([91.0, 85.0, 93.5, 70.0, 88.0, 60.0, 95.0, 80.0, 89.0, 75.0], index=nets)
    early = pd.Series([80.0, 82.0, 84.0, 60.0, 70.0, 50.0, 86.0, 65.0, 71.0, 55.0], index=nets)
    shuffled = early.sample(frac=1.0, random_state=3)  # the same numbers, another order of networks

    def want(e, f, k):
        return len(set(e.nlargest(k).index) & set(f.nlargest(k).index)) / k

    got = _scalar(attempt(3, top_k_overlap, early, final, 3), "top_k_overlap")
    if np.isclose(got, 3 * want(early, final, 3)):
        raise WrongAnswer(f"you returned {got:g}, a count of networks; return the share of the k (a number from "
                          "0 to 1)")
    if not np.isclose(got, want(early, final, 3)):
        low = len(set(early.nsmallest(3).index) & set(final.nsmallest(3).index)) / 3
        if np.isclose(got, low):
            raise WrongAnswer("you compared the k *least* accurate networks; accuracy is maximised, so the top k are "
                              "the k largest values")
        raise WrongAnswer(f"you got {got:g} for k = 3 on a small example; the answer is the share of the final top "
                          "3 (by accuracy, highest first) that are also in the early top 3")
    got2 = _scalar(attempt(3, top_k_overlap, shuffled, final, 3), "top_k_overlap")
    expect(np.isclose(got2, want(shuffled, final, 3)),
           "when the early series lists the same networks in another order your answer changes: match networks by "
           "their index (names), not by position")
    got5 = _scalar(attempt(3, top_k_overlap, early, final, 5), "top_k_overlap")
    expect(np.isclose(got5, want(early, final, 5)), f"for k = 5 you got {got5:g}; use k, not a fixed number")
    return correct("the share of the final top k that the early epoch already puts in its top k, matched by network")


# ---------------------------------------------------------------------------------------------- the table
def learning_curves(table: pd.DataFrame, budget: int, seed: int = 0) -> pd.DataFrame:
    """network (config JSON) x epoch validation accuracies (%) of the trainings with `budget` epochs and `seed`."""
    sub = table[(table.budget == budget) & (table.seed == seed)]
    if sub.empty:
        have = sorted(set(zip(table.budget, table.seed)))
        raise ValueError(f"budget={budget}, seed={seed} has no trainings; allowed: one of {have}")
    return 100.0 * sub.pivot_table(index="config", columns="epoch", values="val_acc")


def by_epoch(curves: pd.DataFrame, final: pd.Series, fn) -> pd.Series:
    """fn(accuracy at epoch e, `final`) for every epoch column of `curves`, over the networks both hold."""
    out = {}
    for e in curves.columns:
        pair = pd.concat([curves[e].rename("early"), final.rename("final")], axis=1, join="inner").dropna()
        out[e] = fn(pair.early, pair.final)
    return pd.Series(out, name=getattr(fn, "__name__", "value")).rename_axis("epoch")
