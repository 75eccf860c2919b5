"""Self-checks and helpers of lab 05 (many objectives: Pareto dominance, Chebyshev decomposition, ZDT1, IGD, and
`resnas.search.moead` against pymoo's MOEA/D).

Every objective is minimised. Checks compare the student's function with the library (`resnas.search.moead`)
or pymoo on hand-picked cases where the usual mistakes differ, and raise WrongAnswer with a hint.
"""
from __future__ import annotations

import numpy as np

from resnas.labs import WrongAnswer, attempt, correct, expect
from resnas.search import moead

# (a, b, a dominates b?) for minimisation: reversed, strict, weak (equal in one objective), equal, incomparable
DOMINANCE_CASES = [((2, 3), (1, 2), False), ((1, 2), (2, 3), True), ((1, 3), (2, 3), True), ((2, 3), (2, 3), False),
                   ((1, 3), (2, 2), False), ((0.5, 0.5, 0.5), (0.5, 0.5, 0.6), True), ((3, 1), (1, 3), False)]


def check_dominates(dominates) -> str:
    """Exercise 1: dominates(a, b) is True when a is no worse than b in every objective and better in one."""
    for a, b, want in DOMINANCE_CASES:
        got = attempt(1, dominates, np.array(a, float), np.array(b, float))
        expect(isinstance(got, (bool, np.bool_)), f"exercise 1: dominates({a}, {b}) returned {got!r}; return True "
                                                  f"or False (wrap a numpy result in bool(...))")
        if bool(got) == want:
            continue
        if want is False and tuple(b) != tuple(a) and all(x >= y for x, y in zip(a, b)):
            hint = "here b is the better point: the inequality is reversed (objectives are minimised)"
        elif tuple(a) == tuple(b):
            hint = "a point does not dominate itself: it must be strictly better in at least one objective"
        elif want and any(x == y for x, y in zip(a, b)):
            hint = "a point equal in one objective and better in another still dominates (no worse everywhere)"
        else:
            hint = "a dominates b when a is no worse in every objective and strictly better in at least one"
        raise WrongAnswer(f"exercise 1: dominates({a}, {b}) returned {bool(got)}, which is wrong for minimisation; "
                          f"{hint}")
    return correct("dominance for minimisation, weak and strict cases included")


def _brute_mask(F: np.ndarray) -> np.ndarray:
    return np.array([not any(moead.dominates(g, f) for g in F) for f in F])


def check_pareto_mask(pareto_mask) -> str:
    """Exercise 2: pareto_mask(F) marks the rows of F (n, m) that no other row dominates."""
    rng = np.random.default_rng(0)
    cases = [np.array([[1, 5], [2, 4], [2, 6], [3, 3], [3, 3], [5, 1], [4, 4], [1, 6]], float),
             rng.random((40, 2)), np.round(rng.random((30, 3)), 1)]
    for F in cases:
        got = np.asarray(attempt(2, pareto_mask, F.copy()))
        expect(got.shape == (len(F),), f"exercise 2: pareto_mask on {len(F)} points returned shape {got.shape}; "
                                       f"return one True/False per row")
        want = _brute_mask(F)
        if np.array_equal(got.astype(bool), want):
            continue
        wrongly_in = F[got.astype(bool) & ~want][:3].tolist()
        wrongly_out = F[~got.astype(bool) & want][:3].tolist()
        hint = "a row belongs to the front when no other row dominates it (equal rows do not dominate each other)"
        if np.array_equal(got.astype(bool), ~want):
            hint = "the mask is inverted: True marks the non-dominated rows"
        raise WrongAnswer(f"exercise 2: of {len(F)} points, your mask keeps {wrongly_in or 'none'} which another point "
                          f"dominates and drops {wrongly_out or 'none'} which none does (first 3 each); {hint}")
    return correct("the non-dominated rows, ties and three objectives included")


def check_chebyshev(chebyshev) -> str:
    """Exercise 4: chebyshev(F, weight, ideal) = max_k weight_k |F_k - ideal_k| for each row of F."""
    F = np.array([[0.2, 0.9], [0.5, 0.5], [0.9, 0.1], [0.3, 0.3]])
    for weight, ideal in [((0.25, 0.75), (0.1, 0.05)), ((0.9, 0.1), (0.0, 0.0)), ((0.5, 0.5), (0.2, 0.1))]:
        w, z = np.array(weight), np.array(ideal)
        got = np.asarray(attempt(4, chebyshev, F.copy(), w.copy(), z.copy()), float)
        expect(got.shape == (len(F),), f"exercise 4: chebyshev on {len(F)} rows returned shape {got.shape}; return "
                                       f"one value per row of F")
        want = moead.chebyshev(F, w, z)
        if np.allclose(got, want):
            continue
        d = np.abs(F - z)
        hint = "weight each objective's distance to the ideal point, then take the largest"
        if np.allclose(got, (w * d).sum(1)):
            hint = "that is the weighted sum; the Chebyshev function takes the largest weighted distance"
        elif np.allclose(got, d.max(1)):
            hint = "the weights are missing: each subproblem weighs the objectives by its own weight vector"
        elif np.allclose(got, (w * d).min(1)):
            hint = "the smallest weighted distance is not the Chebyshev function"
        elif np.allclose(got, (w * np.abs(F)).max(1)):
            hint = "measure each objective from the ideal point z*, not from 0"
        raise WrongAnswer(f"exercise 4: chebyshev(F, weight={weight}, ideal={ideal}) returned {np.round(got, 3)}; "
                          f"{hint}")
    return correct("the weighted Chebyshev function, as resnas.search.moead computes it")


def check_zdt1(zdt1) -> str:
    """Exercise 3: zdt1(X) == pymoo's ZDT1 on rows X (n, n_var) in [0, 1]."""
    from pymoo.problems import get_problem

    rng = np.random.default_rng(1)
    for n_var in (30, 5):
        X = rng.random((20, n_var))
        X[0, 1:] = 0  # a point on the true front (g = 1)
        got = np.asarray(attempt(3, zdt1, X.copy()), float)
        expect(got.shape == (20, 2), f"exercise 3: zdt1 on X of shape {X.shape} returned shape {got.shape}; return "
                                     f"(n, 2): f1 and f2 per row")
        want = get_problem("zdt1", n_var=n_var).evaluate(X)
        if np.allclose(got, want):
            continue
        g_mean = 1 + 9 * X[:, 1:].mean(1)
        g_sum = 1 + 9 * X[:, 1:].sum(1)
        hint = "f1 = x1, g = 1 + 9 * mean(x2..xn), f2 = g * (1 - sqrt(f1 / g))"
        if not np.allclose(got[:, 0], want[:, 0]):
            hint = "f1 is the first variable itself"
        elif np.allclose(got[:, 1], g_sum * (1 - np.sqrt(X[:, 0] / g_sum))):
            hint = "g averages x2..xn: 9 times their sum divided by n - 1"
        elif np.allclose(got[:, 1], g_mean * (1 - np.sqrt(X[:, 0]))):
            hint = "inside the square root, f1 is divided by g"
        raise WrongAnswer(f"exercise 3: zdt1 with n_var={n_var} disagrees with pymoo's ZDT1 (largest difference "
                          f"{np.abs(got - want).max():.3g}); {hint}")
    return correct("ZDT1 as pymoo defines it (Zitzler, Deb and Thiele 2000)")


def check_igd(igd) -> str:
    """Exercise 5: igd(F, reference) = mean over reference points of the distance to the nearest point of F,
    equal to pymoo's IGD."""
    from pymoo.indicators.igd import IGD

    rng = np.random.default_rng(2)
    ref = np.column_stack([np.linspace(0, 1, 50), 1 - np.sqrt(np.linspace(0, 1, 50))])
    for F in (ref[::10] + 0.05, rng.random((15, 2)) + 0.2, ref[:5]):
        got = float(attempt(5, igd, F.copy(), ref.copy()))
        want = float(IGD(ref)(F))
        if np.isclose(got, want):
            continue
        d = np.linalg.norm(ref[:, None] - F[None], axis=2)
        hint = "for every reference point, the distance to the nearest point of F; then their mean"
        if np.isclose(got, d.min(0).mean()):
            hint = ("that averages over F (generational distance): IGD averages over the reference front, so a front "
                    "that covers only part of it scores badly")
        elif np.isclose(got, d.min(1).max()):
            hint = "that is the largest distance; IGD is the mean"
        elif np.isclose(got, (d.min(1) ** 2).mean()):
            hint = "the distances are Euclidean, not squared"
        raise WrongAnswer(f"exercise 5: igd returned {got:.4f} where pymoo's IGD differs; {hint}")
    return correct("IGD as pymoo computes it")


# -------------------------------------------------------------------------------------------------- helpers

def decomposition_picks(F: np.ndarray, n_weights: int, scalarise) -> np.ndarray:
    """For each of `n_weights` weight vectors (i/(N-1), 1 - i/(N-1)), the index of the row of F that minimises
    `scalarise(F, weight, ideal)` with the ideal point = F's column minima."""
    ideal = F.min(0)
    return np.array([int(np.argmin(scalarise(F, w, ideal))) for w in moead.weight_vectors(n_weights)])


def weighted_sum(F, weight, ideal):
    return (np.asarray(weight) * (F - ideal)).sum(1)


def final_fronts(problem: str = "zdt1", seed: int = 0, n_gen: int = 60, pop: int = 30) -> dict[str, np.ndarray]:
    """Final population objectives of our MOEA/D (generational order) and pymoo's, same settings and budget as
    `resnas.search.moead_benchmark.zdt_igd_table`."""
    from pymoo.problems import get_problem

    from resnas.search import moead_benchmark as bench

    p = get_problem(problem)
    return {"resnas-generational": bench._ours(p, "generational", seed, n_gen, pop),
            "pymoo": bench._pymoo(p, seed, n_gen, pop)}
