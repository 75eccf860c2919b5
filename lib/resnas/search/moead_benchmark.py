"""Validation of `resnas.search.moead` against pymoo's MOEA/D on ZDT1 and ZDT2 (issue: a wrong decomposition or
update shows up here). Shared by tests/test_moead.py and the mo_resnet notebook.

Both algorithms get the same settings: N weight vectors i/(N-1) (pymoo's 'uniform' directions with N-1
partitions are the same set), T neighbours, Chebyshev decomposition, SBX (eta 20, each variable with probability
0.5) and polynomial mutation (eta 20, probability 1/n), and the same number of evaluations, N x (n_gen + 1)
(the initial population included). They differ in what the issue asks to compare: pymoo's MOEA/D is the
original loop-wise algorithm and mates outside the neighbourhood with probability 0.1 (its default, kept), our
default is the paper's generational order. IGD is measured on each run's final population against pymoo's
sampled Pareto front (as pymoo reports it), so both are judged on the same N points.
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from resnas.search.moead import MOEAD, run_moead
from resnas.search.operators import real_variation, uniform_initial

PROBLEMS = ("zdt1", "zdt2")


def _ours(problem, order: str, seed: int, n_gen: int, pop: int) -> np.ndarray:
    moead = MOEAD(pop, uniform_initial(problem.xl, problem.xu), real_variation(problem.xl, problem.xu),
                  order=order, seed=seed)
    run_moead(moead, lambda batch: problem.evaluate(np.array(batch)), pop * (n_gen + 1))
    return moead.F


def _pymoo(problem, seed: int, n_gen: int, pop: int) -> np.ndarray:
    from pymoo.algorithms.moo.moead import MOEAD as PymooMOEAD
    from pymoo.decomposition.tchebicheff import Tchebicheff
    from pymoo.optimize import minimize
    from pymoo.util.ref_dirs import get_reference_directions

    algorithm = PymooMOEAD(get_reference_directions("uniform", 2, n_partitions=pop - 1),
                           n_neighbors=max(2, pop // 5), decomposition=Tchebicheff())
    res = minimize(problem, algorithm, ("n_eval", pop * (n_gen + 1)), seed=seed, verbose=False)
    return res.algorithm.pop.get("F")


def zdt_igd_table(seeds=(0, 1, 2), n_gen: int = 100, pop: int = 50, problems=PROBLEMS,
                  orders=("generational", "loop")) -> pd.DataFrame:
    """IGD of the final population per (problem, algorithm, seed). Algorithms: 'pymoo' and 'resnas-<order>'
    for each of our update orders."""
    from pymoo.indicators.igd import IGD
    from pymoo.problems import get_problem

    rows = []
    for name in problems:
        problem = get_problem(name)
        igd = IGD(problem.pareto_front())
        for seed in seeds:
            for order in orders:
                rows.append((name, f"resnas-{order}", seed, float(igd(_ours(problem, order, seed, n_gen, pop)))))
            rows.append((name, "pymoo", seed, float(igd(_pymoo(problem, seed, n_gen, pop)))))
    return pd.DataFrame(rows, columns=["problem", "algorithm", "seed", "igd"])


def summarise(table: pd.DataFrame) -> pd.DataFrame:
    """Mean and standard deviation of IGD per problem and algorithm."""
    return table.groupby(["problem", "algorithm"])["igd"].agg(["mean", "std", "count"]).reset_index()
