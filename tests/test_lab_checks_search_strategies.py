"""Lab 02's self-checks (resnas.labs.search_strategies) against plausible wrong answers, an unsolved TODO and the
teacher's solution, called directly (the lab itself is executed by test_labs.py)."""
from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from resnas import labs
from resnas.labs import search_strategies as ss
from resnas.search.base import AskTell

SOL = labs._load_solutions((labs.LABS_DIR / "solutions" / f"{ss.LAB}.py").resolve())


def todo(*args):
    raise NotImplementedError("TODO exercise 1")


# ---------------------------------------------------------------- exercise 1: best-so-far curve
def test_best_so_far_solution_passes():
    assert ss.check_best_so_far(SOL.best_so_far).startswith("correct:")


@pytest.mark.parametrize("wrong, message", [
    (lambda a: np.asarray(a, float), "goes down at query 3.*running value"),  # the running value
    (lambda a: np.minimum.accumulate(a), "goes down at query 8.*worst accuracy seen"),  # the running worst
    (lambda a: np.cumsum(a) / np.arange(1, len(a) + 1), "goes down.*running mean"),  # the running mean
    (lambda a: np.concatenate([[0.0], np.maximum.accumulate(a)[:-1]]), "shifted by one"),  # best *before* query k
    (lambda a: np.maximum.accumulate(a)[1:], "returned 8 values for 9 queries"),
    (lambda a: np.full(len(a), np.max(a)), "at query 1 your curve says 90.3"),  # the final best everywhere
])
def test_best_so_far_rejects_plausible_wrong_curves(wrong, message):
    with pytest.raises(labs.WrongAnswer, match=message):
        ss.check_best_so_far(wrong)


def test_best_so_far_todo_and_in_place_edits_are_named():
    with pytest.raises(labs.NotDone, match="exercise 1 is not done yet"):
        ss.check_best_so_far(todo)

    def in_place(a):
        np.maximum.accumulate(a, out=a)
        return a
    with pytest.raises(labs.WrongAnswer, match="in place"):
        ss.check_best_so_far(in_place)


# ---------------------------------------------------------------- exercise 2: an ask/tell strategy
class Template(AskTell):
    def __init__(self, space, seed=0, n_initial=10):
        self.space, self.rng, self.n_initial = space, np.random.default_rng(seed), n_initial
        self.asked, self.best, self.best_fitness, self.last = 0, None, math.inf, None

    def _propose(self):
        raise NotImplementedError("TODO exercise 2")

    def tell(self, config, fitness):
        raise NotImplementedError("TODO exercise 2")


class KeepsWorst(SOL.GreedyMutation):
    def __init__(self, *a, **k):
        super().__init__(*a, **k)
        self.best_fitness = -math.inf

    def tell(self, config, fitness):
        if math.isfinite(fitness) and fitness > self.best_fitness:  # maximises the error
            self.best, self.best_fitness = config, fitness


class MutatesLast(SOL.GreedyMutation):
    def tell(self, config, fitness):
        self.best = config


class IgnoresTell(SOL.GreedyMutation):
    def tell(self, config, fitness):
        pass


class Unseeded(SOL.GreedyMutation):
    def __init__(self, space, seed=0, n_initial=10):
        super().__init__(space, seed, n_initial)
        self.rng = np.random.default_rng()  # fresh entropy: the seed is ignored


class ReturnsFlat(SOL.GreedyMutation):
    def _propose(self):
        return self.space.flat(super()._propose())


class FirstBestForever(SOL.GreedyMutation):
    def tell(self, config, fitness):
        if self.best is None or (self.asked <= self.n_initial and fitness < self.best_fitness):
            super().tell(config, fitness)


def test_strategy_solution_passes():
    assert ss.check_strategy(SOL.GreedyMutation).startswith("correct:")


@pytest.mark.parametrize("wrong, message", [
    (KeepsWorst, "highest.*minimised"),
    (MutatesLast, "last cell told"),
    (IgnoresTell, "differs from the best cell told so far"),
    (FirstBestForever, "still mutates an older one"),
    (Unseeded, "same seed proposed different cells"),
    (ReturnsFlat, "returned dict"),
])
def test_strategy_rejects_plausible_wrong_strategies(wrong, message):
    with pytest.raises(labs.WrongAnswer, match=message):
        ss.check_strategy(wrong)


def test_strategy_todo_and_a_changed_signature_are_named():
    with pytest.raises(labs.NotDone, match="exercise 2 is not done yet"):
        ss.check_strategy(Template)

    class NoSeed(AskTell):
        def __init__(self, space):
            self.space = space
    with pytest.raises(labs.WrongAnswer, match="keep the template's __init__ signature"):
        ss.check_strategy(NoSeed)


# ---------------------------------------------------------------- the race and the verdict
def test_paired_verdict_reads_the_sign_and_the_interval():
    rng = np.random.default_rng(0)
    rows = [{"strategy": s, "seed": k, "regret": (0.0 if s == "a" else 1.0) + rng.normal(0, 0.1)}
            for k in range(20) for s in ("a", "b")]
    v = ss.paired_verdict(pd.DataFrame(rows), "a", "b")
    assert v["ci_high"] < 0 and v["mean_difference"] == pytest.approx(-1.0, abs=0.1)
    assert v["verdict"].startswith("a ends closer") and v["a_better_in"] == 20
    flipped = ss.paired_verdict(pd.DataFrame(rows), "b", "a")
    assert flipped["ci_low"] > 0 and flipped["verdict"].startswith("a ends closer")
    with pytest.raises(ValueError, match=r"strategies \['c'\] are not in the table"):
        ss.paired_verdict(pd.DataFrame(rows), "a", "c")


def test_race_on_a_stub_table_is_one_row_per_query():
    from resnas.search import RandomSearch
    from resnas.spaces.cells import NB201
    from resnas.tabular_cells import TabularEvaluator

    table = pd.DataFrame({"cell": np.arange(NB201.size()), "test_accuracy": np.linspace(10, 90, NB201.size())})
    t = ss.race({"random": lambda s: RandomSearch(NB201, s)}, seeds=3, budget=7, evaluator=TabularEvaluator(table))
    assert len(t) == 21 and set(t.seed) == {0, 1, 2} and t["query"].max() == 7
    with pytest.raises(ValueError, match="seeds=1"):
        ss.race({}, seeds=1, budget=5, evaluator=TabularEvaluator(table))


def test_messages_name_the_exercise():
    with pytest.raises(labs.WrongAnswer, match=r"^exercise 1: your curve goes down"):
        ss.check_best_so_far(lambda a: np.asarray(a, float))
    with pytest.raises(labs.WrongAnswer, match=r"^exercise 2: after the initial cells"):
        ss.check_strategy(MutatesLast)
