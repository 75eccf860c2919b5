"""Teacher's solutions of lab 01 (search spaces). `resnas.labs.solution` swaps these in when solved=True. Paper: the ERA thesis (../shared/papers/era-thesis.txt, its 8-parameter ResNet space)."""
import math

from resnas.spaces.era import BLOCKS, UPDATES, EraConfig


def count_configurations(max_depth, filters, groups):
    # block x first depth (0..max_depth) x three depths (1..max_depth) x filters x update x group
    return len(BLOCKS) * (max_depth + 1) * max_depth ** 3 * len(filters) * len(UPDATES) * len(groups)


def count_networks(max_depth, filters, groups):
    # a group size above the filter count is clamped to it: count the distinct clamped sizes per filter count
    per_filters = sum(len({min(g, f) for g in groups}) for f in filters)
    return len(BLOCKS) * (max_depth + 1) * max_depth ** 3 * len(UPDATES) * per_filters


def sample_config(space, rng):
    choices = space.choices()
    pick = {k: v[int(rng.integers(len(v)))] for k, v in choices.items()}
    return EraConfig(pick["block"], (pick["d0"], pick["d1"], pick["d2"], pick["d3"]), pick["filters"],
                     pick["update"], pick["group"]).canonical()


def conv_params(c_in, c_out, k, groups):
    return k * k * (c_in // groups) * c_out


def conv_flops(c_in, c_out, k, stride, groups, h, w):
    p = k // 2
    h_out, w_out = (h + 2 * p - k) // stride + 1, (w + 2 * p - k) // stride + 1
    return 2 * conv_params(c_in, c_out, k, groups) * h_out * w_out
