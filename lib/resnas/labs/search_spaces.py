"""Self-checks and helpers of lab 01 (search spaces: the ERA space counted, sampled, built and costed).

Each `check_*` calls the student's function on cases the library answers too (`EraSpace.size`,
`distinct_size`, torch's own parameter and FLOP counts) and raises WrongAnswer with a hint aimed at the usual
mistake, never the expected number; it returns a "correct: ..." line.
"""
from __future__ import annotations

import numpy as np
import torch
from scipy import stats
from torch import nn
from torch.utils.flop_counter import FlopCounterMode

from resnas.labs import WrongAnswer, attempt, correct, expect
from resnas.spaces.era import FILTERS_TEXT, GROUPS, EraConfig, EraSpace

# (max_depth, filters, groups): the thesis's space first, then reduced ones where a wrong rule shows differently
COUNT_CASES = [(18, FILTERS_TEXT, GROUPS), (3, (4, 8), (1, 2, 4, 8, 32)), (1, (1,), (1, 2)), (5, (2, 16), (4,))]


def _int(value, exercise: int, what: str) -> int:
    expect(isinstance(value, (int, np.integer)) and not isinstance(value, bool),
           f"exercise {exercise}: {what} returned {value!r} ({type(value).__name__}); return an int "
           f"(a count has no fractional part: use integer arithmetic, math.prod, //)")
    return int(value)


def check_count(count_configurations) -> str:
    """Exercise 1: count_configurations(max_depth, filters, groups) == EraSpace(...).size()."""
    for max_depth, filters, groups in COUNT_CASES:
        call = f"count_configurations(max_depth={max_depth}, filters={filters}, groups={groups})"
        got = _int(attempt(1, count_configurations, max_depth, filters, groups), 1, call)
        want = EraSpace(filters, max_depth, groups).size()
        if got == want:
            continue
        hint = ("multiply the number of choices of each of the 8 parameters (block, four depths, filters, update, "
                "group)")
        if got * (max_depth + 1) == want * max_depth:
            hint = "the first section may be empty: its depth runs from 0, the other three from 1"
        elif got * max_depth ** 3 == want * (max_depth + 1) ** 3:
            hint = "only the first section may be empty; the other three hold at least one block"
        elif got * 2 == want or got == want * 2:
            hint = "a factor of 2 is missing or extra: there are two block types and two width updates"
        raise WrongAnswer(f"exercise 1: {call} returned {got:,}, which is not the number of configurations; {hint}")
    return correct(f"the ERA space holds {EraSpace().size():,} configurations, the thesis's count")


def check_distinct(count_networks) -> str:
    """Exercise 2: count_networks(max_depth, filters, groups) == EraSpace(...).distinct_size()."""
    for max_depth, filters, groups in COUNT_CASES:
        call = f"count_networks(max_depth={max_depth}, filters={filters}, groups={groups})"
        got = _int(attempt(2, count_networks, max_depth, filters, groups), 2, call)
        space = EraSpace(filters, max_depth, groups)
        want = space.distinct_size()
        if got == want:
            continue
        hint = ("count, for each filter count, the distinct group sizes min(group, filters) it can use, and multiply "
                "by the other parameters' choices")
        if got == space.size():
            hint = ("that is the number of configurations: a group size larger than the filter count is clamped to "
                    "it, so e.g. filters=4 with group 8 or 32 builds the same network as group 4")
        raise WrongAnswer(f"exercise 2: {call} returned {got:,}, which is not the number of distinct networks; {hint}")
    return correct(f"{EraSpace().distinct_size():,} distinct networks behind {EraSpace().size():,} configurations")


SAMPLE_SPACE = EraSpace(filters_choices=(4, 8), max_depth=3, group_choices=(1, 2, 4))  # no clamping here


def check_sample(sample_config, n: int = 3000) -> str:
    """Exercise 3: sample_config(space, rng) draws each parameter uniformly from the space's choices, using `rng`."""
    space = SAMPLE_SPACE
    draws = [attempt(3, sample_config, space, np.random.default_rng(i)) for i in range(n)]
    for cfg in draws[:50]:
        expect(isinstance(cfg, EraConfig), f"exercise 3: sample_config returned {cfg!r}; return an EraConfig")
    for cfg in draws:
        try:
            space.validate(cfg)
        except ValueError as exc:
            raise WrongAnswer(f"exercise 3: sample_config drew {cfg}, which is not in the space: {exc}") from None
    again = attempt(3, sample_config, space, np.random.default_rng(1))
    expect(again == draws[1], "exercise 3: two calls with equal generators (default_rng(1)) drew different "
                              "networks; draw only from the `rng` you are given (not np.random or random)")
    flat = [space.flat(c) for c in draws]
    for key, values in space.choices().items():
        counts = np.array([sum(f[key] == v for f in flat) for v in values])
        missing = [v for v, c in zip(values, counts) if c == 0]
        label = f"depths[{key[1]}]" if key.startswith("d") else key
        expect(not missing, f"exercise 3: in {n} draws {label} never took the value(s) {missing}, which the space "
                            f"allows ({label} in {values}); check the ends of your ranges (numpy's integers(low, "
                            f"high) excludes high)")
        p = stats.chisquare(counts).pvalue
        expect(p > 1e-4, f"exercise 3: {label}'s values are far from uniform in {n} draws (counts {counts.tolist()} "
                         f"for {values}, chi-square p = {p:.1e}); draw every parameter uniformly and independently")
    return correct(f"{n} draws: every value of every parameter, uniformly (chi-square), reproducible from rng")


CONV_CASES = [(3, 16, 3, 1), (16, 32, 1, 1), (8, 8, 3, 8), (16, 32, 3, 4), (6, 12, 5, 3)]  # c_in, c_out, k, groups


def check_conv_params(conv_params) -> str:
    """Exercise 4: conv_params(c_in, c_out, k, groups) == the weights of nn.Conv2d(..., bias=False), counted."""
    for c_in, c_out, k, groups in CONV_CASES:
        call = f"conv_params(c_in={c_in}, c_out={c_out}, k={k}, groups={groups})"
        got = _int(attempt(4, conv_params, c_in, c_out, k, groups), 4, call)
        want = sum(p.numel() for p in nn.Conv2d(c_in, c_out, k, groups=groups, bias=False).parameters())
        if got == want:
            continue
        hint = "each output channel has one k x k kernel per input channel of its group"
        if groups > 1 and got == want * groups:
            hint = "in a grouped convolution each output channel sees only c_in / groups input channels"
        elif got * k == want:
            hint = "a k x k kernel has k * k taps"
        raise WrongAnswer(f"exercise 4: {call} returned {got:,}; torch counts a different number of weights; {hint}")
    return correct("conv_params matches torch's count for plain, 1x1, depthwise and grouped convolutions")


FLOP_CASES = [(3, 16, 3, 1, 1, 32, 32), (16, 32, 3, 2, 1, 7, 7), (16, 64, 1, 2, 1, 9, 8), (8, 8, 3, 1, 8, 5, 5),
              (16, 32, 3, 2, 4, 16, 16)]  # c_in, c_out, k, stride, groups, h, w


def flops_of(module: nn.Module, x: torch.Tensor) -> int:
    """FLOPs of one forward pass as torch's FlopCounterMode counts them (2 per multiply-add)."""
    with torch.no_grad(), FlopCounterMode(display=False) as counter:
        module(x)
    return int(counter.get_total_flops())


def check_conv_flops(conv_flops) -> str:
    """Exercise 5: conv_flops(c_in, c_out, k, stride, groups, h, w), padding k // 2, == FlopCounterMode's count."""
    for c_in, c_out, k, stride, groups, h, w in FLOP_CASES:
        call = f"conv_flops(c_in={c_in}, c_out={c_out}, k={k}, stride={stride}, groups={groups}, h={h}, w={w})"
        got = _int(attempt(5, conv_flops, c_in, c_out, k, stride, groups, h, w), 5, call)
        conv = nn.Conv2d(c_in, c_out, k, stride, k // 2, groups=groups, bias=False)
        want = flops_of(conv, torch.zeros(1, c_in, h, w))
        if got == want:
            continue
        hint = "FLOPs = 2 x multiply-adds = 2 x (weights of the conv) x (output positions)"
        if got * 2 == want:
            hint = "count a multiply-add as 2 FLOPs (the convention of torch's FlopCounterMode)"
        elif stride > 1 and got == 2 * k * k * (c_in // groups) * c_out * h * w:
            hint = "a stride-2 convolution visits fewer output positions than its input has pixels"
        elif stride > 1 and (h % 2 or w % 2):
            hint = ("check the output size of an odd map under stride 2: with padding p = k // 2 it is "
                    "(h + 2p - k) // stride + 1")
        raise WrongAnswer(f"exercise 5: {call} returned {got:,}; torch's FlopCounterMode counts another number; "
                          f"{hint}")
    return correct("conv_flops matches torch's FlopCounterMode, strided, odd-sized and grouped maps included")


# ------------------------------------------------------------------------- whole networks, by formula vs counting

def params_by_formula(net: nn.Module, conv_params) -> int:
    """Parameters of `net` from the student's conv formula: convolutions (plus their bias if any), batch norms
    (gamma and beta: 2 per channel) and linear layers (weights and bias)."""
    total = 0
    for m in net.modules():
        if isinstance(m, nn.Conv2d):
            total += conv_params(m.in_channels, m.out_channels, m.kernel_size[0], m.groups)
            total += m.out_channels if m.bias is not None else 0
        elif isinstance(m, nn.BatchNorm2d):
            total += 2 * m.num_features
        elif isinstance(m, nn.Linear):
            total += m.in_features * m.out_features + m.out_features
    return int(total)


def params_by_counting(net: nn.Module) -> int:
    return sum(p.numel() for p in net.parameters())


def flops_by_formula(net: nn.Module, conv_flops, input_hw=(32, 32), in_channels: int = 3) -> int:
    """FLOPs of one forward pass from the student's conv formula (each conv's input size recorded by a forward
    hook) plus 2 per multiply-add of the linear head."""
    total, hooks = [0], []

    def conv_hook(m, inputs, _):
        h, w = inputs[0].shape[-2:]
        total[0] += conv_flops(m.in_channels, m.out_channels, m.kernel_size[0], m.stride[0], m.groups, h, w)

    def linear_hook(m, inputs, _):
        total[0] += 2 * m.in_features * m.out_features

    for m in net.modules():
        if isinstance(m, nn.Conv2d):
            hooks.append(m.register_forward_hook(conv_hook))
        elif isinstance(m, nn.Linear):
            hooks.append(m.register_forward_hook(linear_hook))
    try:
        with torch.no_grad():
            net.eval()(torch.zeros(1, in_channels, *input_hw))
    finally:
        for h in hooks:
            h.remove()
    return int(total[0])
