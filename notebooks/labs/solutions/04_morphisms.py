"""Teacher's solutions of lab 04 (network morphisms). `resnas.labs.solution` swaps these in when solved=True. Paper: ECToNAS (../shared/papers/ectonas.txt: weight-preserving morphisms, up to around 80% of training time saved)."""
import torch


def split_next_weight(next_weight, g):
    # new unit j copies old unit g[j]; every copy of unit u gets 1/(number of copies of u) of u's column
    copies = torch.bincount(g, minlength=next_weight.shape[1])[g]
    return next_weight[:, g] / copies


def identity_kernel(channels):
    k = torch.zeros(channels, channels, 3, 3)
    k[torch.arange(channels), torch.arange(channels), 1, 1] = 1.0  # centre tap, own channel only
    return k


def prune_order(gamma):
    return gamma.abs().argsort()
