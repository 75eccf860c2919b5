"""MOEA/D: the decomposition pieces on hand-computed examples, then ZDT1/ZDT2 against pymoo's MOEA/D."""
import json

import numpy as np
import pytest

from resnas.search.moead import MOEAD, chebyshev, dominates, neighbourhoods, run_moead, weight_vectors
from resnas.search.moead_benchmark import summarise, zdt_igd_table
from resnas.search.operators import polynomial_mutation, real_variation, sbx, uniform_initial

INF = np.inf


def test_weight_vectors_include_both_ends():
    assert np.allclose(weight_vectors(5), [[0, 1], [0.25, 0.75], [0.5, 0.5], [0.75, 0.25], [1, 0]])


def test_neighbourhoods_nearest_weights_self_first():
    nb = neighbourhoods(weight_vectors(10), 3)
    assert nb[0].tolist() == [0, 1, 2]
    assert nb[5].tolist() == [5, 4, 6]  # equal distances: the lower index first
    assert nb[9].tolist() == [9, 8, 7]
    moead = MOEAD(20, lambda rng: 0, lambda a, b, rng: 0)
    assert moead.n_neighbors == 4  # floor(N / 5)


def test_chebyshev_values():
    ideal = np.array([1.0, 0.0])
    # max(0.25 * |3 - 1|, 0.75 * |1 - 0|) = 0.75
    assert chebyshev(np.array([3.0, 1.0]), np.array([0.25, 0.75]), ideal) == pytest.approx(0.75)
    # a zero weight ignores its objective; a failed row never wins (and gives no 0 * inf = nan)
    g = chebyshev(np.array([[3.0, 1.0], [INF, INF]]), np.array([[0.0, 1.0], [0.0, 1.0]]), ideal)
    assert g.tolist() == [1.0, INF]


def test_dominance():
    assert dominates(np.array([1, 2]), np.array([1, 3]))
    assert not dominates(np.array([1, 3]), np.array([1, 3]))
    assert not dominates(np.array([1, 3]), np.array([2, 2]))


def _three_subproblems(order="generational"):
    """N = 3, weights (0,1), (.5,.5), (1,0), every subproblem the neighbour of every other; individuals are the
    strings 'x0'.. and the children 'child'."""
    moead = MOEAD(3, lambda rng: "x", lambda a, b, rng: "child", n_neighbors=3, order=order)
    moead.ask()
    moead.tell([[0, 4], [2, 2], [4, 0]])
    return moead


def test_generational_update_keeps_best_child_per_subproblem():
    moead = _three_subproblems()
    assert moead.ideal.tolist() == [0, 0]
    assert len(moead.ask()) == 3
    # g under (0,1) is f2: child A (0.5) beats child B (3) and the incumbent (4);
    # under (.5,.5): A 1.5, B 1.5, incumbent 1 -> kept; under (1,0) is f1: B (1) beats A (3) and 4.
    moead.tell([[3, 0.5], [1, 3], [INF, INF]])
    assert moead.F.tolist() == [[3, 0.5], [2, 2], [1, 3]]
    assert moead.generation == 1 and moead.n_evals == 6


def test_loop_order_asks_one_offspring_at_a_time():
    moead = _three_subproblems(order="loop")
    for _ in range(3):
        assert len(moead.ask()) == 1
        moead.tell([[INF, INF]])
    assert moead.generation == 1 and moead.F.tolist() == [[0, 4], [2, 2], [4, 0]]
    with pytest.raises(RuntimeError):
        moead.ask(), moead.ask()


def test_external_pareto_set():
    moead = MOEAD(6, lambda rng: "x", lambda a, b, rng: "child")
    moead.ask()
    # [2,3] is dominated by [2,2], the second [1,3] duplicates the first, the inf row failed
    moead.tell([[3, 1], [1, 3], [2, 2], [2, 3], [1, 3], [INF, INF]])
    assert moead.pareto_front().tolist() == [[1, 3], [2, 2], [3, 1]]
    moead.ask()
    moead.tell([[1.5, 1.5]] + [[9, 9]] * 5)  # dominates [2,2] only
    assert moead.pareto_front().tolist() == [[1, 3], [1.5, 1.5], [3, 1]]
    assert moead.pareto_set()[1] == "child"


class OneAtATime(MOEAD):
    """The textbook updates, one child at a time (the form before the batch update): the reference the
    vectorised `_replace` and `_offer_ep` must agree with, ties, duplicates and failures included."""

    def _replace(self, batch, F, subs):
        for x, f, i in zip(batch, F, subs):
            nb = self.neighbors[i]
            better = chebyshev(f, self.weights[nb], self.ideal) < chebyshev(self.F[nb], self.weights[nb], self.ideal)
            for j in nb[better]:
                self.population[j], self.F[j] = x, f.copy()

    def _offer_ep(self, batch, F):
        for x, f in zip(batch, F):
            if not np.all(np.isfinite(f)):
                continue
            if len(self.ep_F) and (np.any(np.all(self.ep_F == f, axis=1))
                                   or any(dominates(e, f) for e in self.ep_F)):
                continue
            keep = [k for k, e in enumerate(self.ep_F) if not dominates(f, e)]
            self.ep = [self.ep[k] for k in keep] + [x]
            self.ep_F = np.vstack([self.ep_F[keep], f[None, :]])


@pytest.mark.parametrize("order", ["generational", "loop"])
def test_batch_updates_match_one_child_at_a_time(order):
    """Same seed, same course: population, objectives, EP and its order, and the random state, after every
    tell. Objectives rounded to one decimal (many ties and duplicate vectors), one evaluation in five failed."""
    from pymoo.problems import get_problem
    problem = get_problem("zdt1", n_var=4)
    for seed in range(4):
        fail = np.random.default_rng(seed)

        def evaluate(batch):
            F = np.round(problem.evaluate(np.array(batch)), 1)
            F[fail.random(len(F)) < 0.2] = INF
            return F

        make = dict(initial=uniform_initial(problem.xl, problem.xu), variation=real_variation(problem.xl, problem.xu),
                    order=order, seed=seed, n_neighbors=4)
        fast, slow = MOEAD(12, **make), OneAtATime(12, **make)
        for _ in range(1 + 8 * (12 if order == "loop" else 1)):
            batch = fast.ask()
            assert [x.tolist() for x in slow.ask()] == [x.tolist() for x in batch]
            fail_state = fail.bit_generator.state
            F = evaluate(batch)
            fail.bit_generator.state = fail_state
            fast.tell(F), slow.tell(evaluate(batch))
            assert json.dumps(fast.state_dict()) == json.dumps(slow.state_dict())
        assert len(fast.ep) > 1


def test_operators_stay_in_bounds_and_keep_uncrossed_variables():
    rng = np.random.default_rng(0)
    a, b = np.zeros(1000), np.ones(1000)
    c1, c2 = sbx(a, b, 0, 1, 0.05, rng, prob_var=0.5)
    assert (c1 >= 0).all() and (c1 <= 1).all() and np.allclose(c1 + c2, 1)  # symmetric around the mean
    assert 0.4 < np.mean((c1 == 0) | (c1 == 1)) < 0.9  # half the variables untouched (or clipped)
    x = polynomial_mutation(np.full(1000, 0.5), 0, 1, 20, rng, prob=0.1)
    assert (x >= 0).all() and (x <= 1).all() and 50 < np.sum(x != 0.5) < 150


def test_state_round_trip_resumes_identically():
    from pymoo.problems import get_problem
    problem = get_problem("zdt1", n_var=5)
    evaluate = lambda batch: problem.evaluate(np.array(batch))  # noqa: E731
    make = dict(initial=uniform_initial(problem.xl, problem.xu), variation=real_variation(problem.xl, problem.xu))
    a = run_moead(MOEAD(10, seed=3, **make), evaluate, 30)
    b = MOEAD.from_state(json.loads(json.dumps(a.state_dict())), decode=np.asarray,
                         expect=MOEAD(10, seed=3, **make).settings(), **make)
    assert b.seed == 3 and b.settings() == a.settings()
    for m in (a, b):
        run_moead(m, evaluate, 60)
    assert np.array_equal(a.F, b.F) and np.array_equal(a.pareto_front(), b.pareto_front())


def test_a_state_of_other_settings_is_refused_not_resumed():
    make = dict(initial=lambda rng: 0, variation=lambda a, b, rng: 0)
    saved = run_moead(MOEAD(6, seed=1, **make), lambda batch: [[1.0, 1.0]] * len(batch), 12)
    state = json.loads(json.dumps(saved.state_dict()))
    # population 8 asked, 6 saved: once this silently resumed with 6
    with pytest.raises(ValueError, match="pop_size=6 saved, pop_size=8 asked"):
        MOEAD.from_state(state, expect=MOEAD(8, seed=1, **make).settings(), **make)
    with pytest.raises(ValueError, match="seed=1 saved, seed=2 asked"):
        MOEAD.from_state(state, expect=MOEAD(6, seed=2, **make).settings(), **make)
    with pytest.raises(ValueError, match="order='generational' saved, order='loop' asked"):
        MOEAD.from_state(state, expect=MOEAD(6, seed=1, order="loop", **make).settings(), **make)
    state["population"] = state["population"][:5]
    with pytest.raises(ValueError, match="inconsistent: pop_size=6, 5 individuals"):
        MOEAD.from_state(state, **make)


# ------------------------------------------------------------------------------------------ ZDT vs pymoo
# N = 50, 80 generations (4,050 evaluations each), 3 seeds. Since the batch update (same results per seed) about
# 62 CPU s instead of 83 (measured 2 Dec 2026 on a loaded machine), two thirds of it pymoo's own per-offspring
# loop, kept as the reference. Measured mean IGD (sd):
#   zdt1: pymoo 0.336 (0.056), ours generational 0.268 (0.035), ours loop 0.192 (0.129)
#   zdt2: pymoo 0.551 (0.055), ours generational 0.463 (0.284), ours loop 0.379 (0.269)
# A collapsed decomposition (every weight (.5,.5)) scores 2.3 (zdt1) and 1.6 (zdt2).
FACTOR = 2.0                              # our mean IGD may be at most this multiple of pymoo's
BOUND = {"zdt1": 0.5, "zdt2": 1.0}        # and below this absolute value


@pytest.fixture(scope="module")
def igd_summary():
    return summarise(zdt_igd_table(seeds=(0, 1, 2), n_gen=80, pop=50))


@pytest.mark.parametrize("problem", ["zdt1", "zdt2"])
@pytest.mark.parametrize("order", ["generational", "loop"])
def test_igd_close_to_pymoo(igd_summary, problem, order):
    mean = igd_summary.set_index(["problem", "algorithm"])["mean"]
    ours, theirs = mean[(problem, f"resnas-{order}")], mean[(problem, "pymoo")]
    assert ours <= FACTOR * theirs, f"{problem}: ours {ours:.3f} vs pymoo {theirs:.3f}"
    assert ours < BOUND[problem]
