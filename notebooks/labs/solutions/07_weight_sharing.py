"""Teacher's solutions for lab 07 (weight sharing). Withheld from the student handout (`make handout`). Paper: GENAS (../shared/papers/genas-abstract.txt: decoupled evaluation of supernet subnets)."""
import pandas as pd
import torch
from scipy import stats


def decoupled_edge(edge, op, x):
    if op == "none":  # no connection: nothing computed, nothing added
        return torch.zeros_like(x)
    return edge[op](x)  # the chosen operation alone, unweighted


def kendall_by_cell(a, b):
    both = pd.concat([a.rename("a"), b.rename("b")], axis=1, join="inner")  # pair by cell, not by position
    return float(stats.kendalltau(both["a"], both["b"]).statistic)
