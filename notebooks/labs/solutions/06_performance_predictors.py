"""Teacher's solutions for lab 06 (performance predictors). Withheld from the student handout (`make handout`). Paper: RNAS (../shared/papers/rnas.txt, Table 2: pairwise 0.8136 vs MSE 0.6090 Kendall tau at 0.1% of NAS-Bench-101)."""
import numpy as np
import torch


def pairwise_hinge(scores, labels, margin=0.1):
    sign = torch.sign(labels[:, None] - labels[None, :])  # +1 where cell i is better than cell j
    diff = scores[:, None] - scores[None, :]  # the same pair order (i, j) as the labels
    pairs = sign != 0  # tied labels: no order to learn
    return torch.relu(margin - diff * sign)[pairs].mean()


def kendall(a, b):
    a, b = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    sa = np.sign(a[:, None] - a[None, :])
    sb = np.sign(b[:, None] - b[None, :])
    # tau-b: concordant minus discordant over sqrt(pairs untied in a * pairs untied in b)
    return float((sa * sb).sum() / np.sqrt(np.abs(sa).sum() * np.abs(sb).sum()))
