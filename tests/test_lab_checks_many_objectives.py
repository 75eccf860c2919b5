"""Lab 05's self-checks, called directly: the teacher's solutions pass; plausible wrong answers (a reversed
dominance inequality, max instead of weighted Chebyshev, ...) and an unfilled TODO fail with a message naming
the mistake."""
import importlib.util

import numpy as np
import pytest

from resnas import labs
from resnas.labs import many_objectives as checks

spec = importlib.util.spec_from_file_location("sol05", labs.LABS_DIR / "solutions" / "05_many_objectives.py")
sol = importlib.util.module_from_spec(spec)
spec.loader.exec_module(sol)


def todo(*args):
    raise NotImplementedError("TODO")


def test_solutions_pass():
    for check, fn in [(checks.check_dominates, sol.dominates), (checks.check_pareto_mask, sol.pareto_mask),
                      (checks.check_zdt1, sol.zdt1), (checks.check_chebyshev, sol.chebyshev),
                      (checks.check_igd, sol.igd)]:
        assert check(fn).startswith("correct")


@pytest.mark.parametrize("check, exercise", [(checks.check_dominates, 1), (checks.check_pareto_mask, 2),
                                             (checks.check_zdt1, 3), (checks.check_chebyshev, 4),
                                             (checks.check_igd, 5)])
def test_an_unfilled_todo_is_not_done_yet(check, exercise):
    with pytest.raises(labs.NotDone, match=f"exercise {exercise} is not done yet"):
        check(todo)


def test_dominates_rejects_a_reversed_inequality_self_dominance_strictness_and_non_bools():
    with pytest.raises(labs.WrongAnswer, match="inequality is reversed"):
        checks.check_dominates(lambda a, b: bool(np.all(a >= b) and np.any(a > b)))
    with pytest.raises(labs.WrongAnswer, match="does not dominate itself"):
        checks.check_dominates(lambda a, b: bool(np.all(a <= b)))
    with pytest.raises(labs.WrongAnswer, match="equal in one objective and better in another still dominates"):
        checks.check_dominates(lambda a, b: bool(np.all(a < b)))
    with pytest.raises(labs.WrongAnswer, match="return True or False"):
        checks.check_dominates(lambda a, b: a <= b)


def test_pareto_mask_rejects_an_inverted_mask_and_a_reversed_dominance():
    with pytest.raises(labs.WrongAnswer, match="mask is inverted"):
        checks.check_pareto_mask(lambda F: ~sol.pareto_mask(F))
    reversed_dom = lambda a, b: bool(np.all(a >= b) and np.any(a > b))  # noqa: E731
    with pytest.raises(labs.WrongAnswer, match="your mask keeps"):
        checks.check_pareto_mask(lambda F: np.array([not any(reversed_dom(g, f) for g in F) for f in F]))
    # duplicates: "no other row is <= everywhere" drops both copies of a front point
    with pytest.raises(labs.WrongAnswer, match="equal rows do not dominate each other"):
        checks.check_pareto_mask(lambda F: np.array([not any(np.all(g <= f) for j, g in enumerate(F) if j != i)
                                                     for i, f in enumerate(F)]))


def test_chebyshev_rejects_weighted_sum_unweighted_max_min_and_no_ideal():
    for wrong, hint in [(lambda F, w, z: (w * np.abs(F - z)).sum(1), "that is the weighted sum"),
                        (lambda F, w, z: np.abs(F - z).max(1), "the weights are missing"),
                        (lambda F, w, z: (w * np.abs(F - z)).min(1), "smallest weighted distance"),
                        (lambda F, w, z: (w * np.abs(F)).max(1), "from the ideal point"),
                        (lambda F, w, z: np.zeros(2), "returned shape")]:
        with pytest.raises(labs.WrongAnswer, match=hint):
            checks.check_chebyshev(wrong)


def test_zdt1_rejects_a_sum_for_the_mean_and_a_missing_division_by_g():
    def g_sum(X):
        g = 1 + 9 * X[:, 1:].sum(1)
        return np.column_stack([X[:, 0], g * (1 - np.sqrt(X[:, 0] / g))])

    def no_div(X):
        g = 1 + 9 * X[:, 1:].mean(1)
        return np.column_stack([X[:, 0], g * (1 - np.sqrt(X[:, 0]))])

    with pytest.raises(labs.WrongAnswer, match="g averages x2..xn"):
        checks.check_zdt1(g_sum)
    with pytest.raises(labs.WrongAnswer, match="f1 is divided by g"):
        checks.check_zdt1(no_div)
    with pytest.raises(labs.WrongAnswer, match="f1 is the first variable"):
        checks.check_zdt1(lambda X: sol.zdt1(X)[:, ::-1])


def test_igd_rejects_generational_distance_a_max_and_squared_distances():
    def dists(F, R):
        return np.linalg.norm(R[:, None] - F[None], axis=2)

    for wrong, hint in [(lambda F, R: dists(F, R).min(0).mean(), "generational distance"),
                        (lambda F, R: dists(F, R).min(1).max(), "largest distance"),
                        (lambda F, R: (dists(F, R).min(1) ** 2).mean(), "not squared")]:
        with pytest.raises(labs.WrongAnswer, match=hint):
            checks.check_igd(wrong)


def test_decomposition_picks_chebyshev_spreads_on_a_concave_front_where_a_weighted_sum_cannot():
    f1 = np.linspace(0, 1, 101)
    concave = np.column_stack([f1, 1 - f1 ** 2])
    assert len(set(checks.decomposition_picks(concave, 11, sol.chebyshev))) == 11
    assert set(checks.decomposition_picks(concave, 11, checks.weighted_sum)) <= {0, 100}
