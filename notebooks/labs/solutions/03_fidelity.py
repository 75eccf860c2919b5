"""Teacher's solutions for lab 03 (fidelity). Withheld from the student handout (`make handout`). Paper: the ERA thesis (../shared/papers/era-thesis.txt, Tables 4-9: 20-epoch accuracy ranks 100-epoch accuracy at rho 0.71)."""
import numpy as np


def ranks(values):
    x = np.asarray(values, dtype=float)
    order = np.argsort(x, kind="stable")
    r = np.empty(len(x))
    r[order] = np.arange(1, len(x) + 1)  # place in the sorted order, 1-based
    for v in np.unique(x):  # ties share the average of the places they span
        tied = x == v
        r[tied] = r[tied].mean()
    return r


def spearman(x, y):
    rx, ry = ranks(x), ranks(y)
    rx, ry = rx - rx.mean(), ry - ry.mean()
    return float((rx * ry).sum() / np.sqrt((rx ** 2).sum() * (ry ** 2).sum()))


def top_k_overlap(early, final, k):
    # match networks by name (the index), never by position
    return len(set(early.nlargest(k).index) & set(final.nlargest(k).index)) / k
