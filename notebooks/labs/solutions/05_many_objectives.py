"""Teacher's solutions of lab 05 (many objectives). `resnas.labs.solution` swaps these in when solved=True. Paper: MO-ResNet (../shared/papers/mo-resnet.txt: MOEA/D with Chebyshev decomposition)."""
import numpy as np


def dominates(a, b):
    return bool(np.all(a <= b) and np.any(a < b))  # minimised: nowhere worse, somewhere better


def pareto_mask(F):
    return np.array([not any(dominates(g, f) for g in F) for f in F])


def chebyshev(F, weight, ideal):
    return np.max(weight * np.abs(F - ideal), axis=1)


def zdt1(X):
    f1 = X[:, 0]
    g = 1 + 9 * X[:, 1:].mean(axis=1)
    return np.column_stack([f1, g * (1 - np.sqrt(f1 / g))])


def igd(F, reference):
    d = np.linalg.norm(reference[:, None, :] - F[None, :, :], axis=2)
    return d.min(axis=1).mean()  # each reference point's nearest point of F, averaged over the reference
