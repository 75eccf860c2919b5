"""Lab 07's self-checks (resnas.labs.weight_sharing) against plausible wrong answers, an unsolved TODO and the
teacher's solution, called directly (the lab itself is executed by test_labs.py)."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch
from scipy import stats
from torch.nn import functional as F

from resnas import labs
from resnas.labs import weight_sharing as ws
from resnas.spaces.cells import NB201_OPS

SOL = labs._load_solutions((labs.LABS_DIR / "solutions" / f"{ws.LAB}.py").resolve())


def todo(*args):
    raise NotImplementedError("TODO")


def test_solutions_pass():
    assert ws.check_decoupled_edge(SOL.decoupled_edge).startswith("correct:")
    assert ws.check_kendall_by_cell(SOL.kendall_by_cell).startswith("correct:")


@pytest.mark.parametrize("check", [ws.check_decoupled_edge, ws.check_kendall_by_cell])
def test_an_unsolved_todo_is_not_done(check):
    with pytest.raises(labs.NotDone, match="is not done yet"):
        check(todo)


def softmax_mixture(edge, op, x):  # the coupled read-out: every operation, weighted by softmax(one-hot)
    logits = torch.tensor([1.0 if o == op else 0.0 for o in NB201_OPS])
    w = F.softmax(logits, 0)
    return sum(w[i] * (edge[o](x) if o in edge else torch.zeros_like(x)) for i, o in enumerate(NB201_OPS))


def uniform_sum(edge, op, x):
    return sum(m(x) for m in edge.values())


def none_is_skip(edge, op, x):
    return x if op == "none" else edge[op](x)


def none_missing(edge, op, x):
    return edge[op](x)


def doubled(edge, op, x):
    return torch.zeros_like(x) if op == "none" else 2 * edge[op](x)


@pytest.mark.parametrize("wrong, message", [
    (softmax_mixture, "received gradients.*a mixture"),
    (uniform_sum, "received gradients"),
    (none_is_skip, "skip connection"),
    (none_missing, "KeyError"),
    (doubled, "not that operation's output"),
    (lambda edge, op, x: x.mean(), "return a tensor shaped like x"),
])
def test_decoupled_edge_rejects_mixtures_and_a_wrong_none(wrong, message):
    with pytest.raises(labs.WrongAnswer, match=message):
        ws.check_decoupled_edge(wrong)


def by_position(a, b):
    return stats.kendalltau(a.to_numpy(), b.to_numpy()).statistic


def by_position_trimmed(a, b):  # positions, cut to the shorter series
    n = min(len(a), len(b))
    return stats.kendalltau(a.to_numpy()[:n], b.to_numpy()[:n]).statistic


@pytest.mark.parametrize("wrong, message", [
    (by_position, "paired the scores by position"),
    (by_position_trimmed, "paired the scores by position"),
    (lambda a, b: stats.kendalltau(a.sort_index(), b.reindex(a.sort_index().index).fillna(0)).statistic,
     "lacks three cells"),  # aligned, but a missing cell scored as 0
    (lambda a, b: stats.spearmanr(a, b).statistic, "Spearman"),
    (lambda a, b: pd.concat([a, b], axis=1).corr().iloc[0, 1], "not Kendall's tau"),
])
def test_kendall_by_cell_rejects_mismatched_orders(wrong, message):
    with pytest.raises(labs.WrongAnswer, match=message):
        ws.check_kendall_by_cell(wrong)


def test_decoupled_forward_with_the_libraries_edge_is_the_supernets_decoupled_forward():
    from resnas.spaces.cells import NB201
    from resnas.supernet import _edge_output

    net = ws._tiny_supernet(seed=3)
    x = torch.randn(2, 1, 8, 8)
    cell = NB201.sample(np.random.default_rng(0))
    lib_edge = lambda edge, op, h: (_edge_output(edge, [(op, None)], h) if op != "none" else torch.zeros_like(h))
    with torch.no_grad():
        assert torch.allclose(ws.decoupled_forward(net, x, cell, lib_edge), net(x, cell, "decoupled"), atol=1e-6)


def test_tau_table_pairs_by_cell_and_bootstraps_over_cells():
    ref = pd.Series([1.0, 2.0, 3.0, 4.0, 5.0, 6.0], index=list("abcdef"))
    same = ref.iloc[::-1] * 10  # same order of cells, listed backwards
    rev = -ref
    t = ws.tau_table({"same": same, "reversed": rev, "partial": ref.drop(["a", "b"])}, ref, n_boot=200)
    assert t.set_index("scores").kendall_tau.to_dict() == pytest.approx({"same": 1.0, "reversed": -1.0,
                                                                         "partial": 1.0})
    assert list(t.cells) == [6, 6, 4]


def test_messages_name_the_exercise():
    with pytest.raises(labs.WrongAnswer, match=r"^exercise 1: for 'skip_connect', the weights of"):
        ws.check_decoupled_edge(softmax_mixture)
    with pytest.raises(labs.WrongAnswer, match=r"^exercise 2: when the second series lists"):
        ws.check_kendall_by_cell(by_position)
