"""The networks of the cell spaces (`resnas.spaces.cells`, whose docstring describes them): NAS-Bench-201's
macro skeleton around its cell, and the DARTS stack of normal and reduction cells."""
from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F

from resnas.spaces.cells import DARTS_NODES, NB201_EDGES, NB201_NODES, DartsGenome, Nb201Cell


# ---------------------------------------------------------------------------------------------- pooling
# Both cell spaces pool 3x3 with padding 1. torch 2.14's CPU pooling kernels are slow on these small-channel maps
# in the default layout. `make bench`, figure 6 (2026-12-03, one thread, Intel Xeon), on a (128, 8, 28, 28)
# batch: nn.AvgPool2d 9-14 ms forward, 20-24 forward + backward, against 2.1 and 6.6-7.3 for the depthwise form
# below; nn.MaxPool2d 25 and 28 against 6.2 and 12.3 in channels_last. The modules compute the same function
# as PyTorch's (tests/test_cells.py compares values and gradients).
def _valid_counts(h: int, w: int, stride: int, like: torch.Tensor) -> torch.Tensor:
    """(1, 1, h', w'): how many real (unpadded) pixels each 3x3 window of stride `stride` covers, on `like`'s
    device and dtype. Computed at every call (microseconds beside the pooling): a cache would be global state, and
    a tensor first made under torch.inference_mode could not be saved for a later backward."""
    return F.conv2d(like.new_ones(1, 1, h, w), like.new_ones(1, 1, 3, 3), stride=stride, padding=1)


class AvgPool3x3(nn.Module):
    """nn.AvgPool2d(3, stride, 1, count_include_pad=False) as a depthwise convolution with a kernel of ones
    (the window sums) divided by each window's count of real pixels: the same numbers, 3-4x faster on the CPU."""

    def __init__(self, stride: int = 1):
        super().__init__()
        self.stride = stride

    def forward(self, x):
        c = x.shape[1]
        sums = F.conv2d(x, x.new_ones(c, 1, 3, 3), stride=self.stride, padding=1, groups=c)
        return sums / _valid_counts(x.shape[-2], x.shape[-1], self.stride, sums)

    def extra_repr(self) -> str:
        return f"stride={self.stride}"


class MaxPool3x3(nn.Module):
    """nn.MaxPool2d(3, stride, 1), run in channels_last on the CPU (2-3x faster there), returned in the input's
    layout."""

    def __init__(self, stride: int = 1):
        super().__init__()
        self.stride = stride

    def forward(self, x):
        if x.device.type != "cpu" or x.is_contiguous(memory_format=torch.channels_last):
            return F.max_pool2d(x, 3, self.stride, 1)
        y = F.max_pool2d(x.contiguous(memory_format=torch.channels_last), 3, self.stride, 1)
        return y.contiguous()

    def extra_repr(self) -> str:
        return f"stride={self.stride}"


# ---------------------------------------------------------------------------------------------- NAS-Bench-201
class ReLUConvBN(nn.Sequential):
    """ReLU -> conv (no bias) -> BN. The ReLU is not in place: a node's tensor feeds several edges."""

    def __init__(self, c_in: int, c_out: int, kernel: int, stride: int, padding: int, dilation: int = 1):
        super().__init__(nn.ReLU(inplace=False),
                         nn.Conv2d(c_in, c_out, kernel, stride, padding, dilation=dilation, bias=False),
                         nn.BatchNorm2d(c_out))


def _nb201_op(op: str, c: int) -> nn.Module | None:
    """The module of an edge at width `c` (stride 1); None for 'none', whose output is zero."""
    if op == "none":
        return None
    return {"skip_connect": lambda: nn.Identity(),
            "nor_conv_1x1": lambda: ReLUConvBN(c, c, 1, 1, 0),
            "nor_conv_3x3": lambda: ReLUConvBN(c, c, 3, 1, 1),
            "avg_pool_3x3": lambda: AvgPool3x3(1)}[op]()


class Nb201CellModule(nn.Module):
    def __init__(self, cell: Nb201Cell, c: int):
        super().__init__()
        self.edges = nn.ModuleDict()
        for (i, j), op in zip(NB201_EDGES, cell.ops):
            module = _nb201_op(op, c)
            if module is not None:  # a 'none' edge adds zero: leave it out
                self.edges[f"{i}_{j}"] = module

    def forward(self, x):
        nodes = [x]
        for j in range(1, NB201_NODES):
            terms = [self.edges[f"{i}_{j}"](nodes[i]) for i in range(j) if f"{i}_{j}" in self.edges]
            nodes.append(sum(terms) if terms else torch.zeros_like(x))
        return nodes[-1]


class ResidualReduction(nn.Module):
    """NAS-Bench-201's reduction block between stages: two ReLU-conv-BN (the first with stride 2) plus a
    shortcut of 2x2 average pooling and a 1x1 conv. The pool rounds up (ceil mode) so odd sizes match the
    stride-2 conv (on even sizes, as in NAS-Bench-201, it makes no difference)."""

    def __init__(self, c_in: int, c_out: int):
        super().__init__()
        self.conv_a = ReLUConvBN(c_in, c_out, 3, 2, 1)
        self.conv_b = ReLUConvBN(c_out, c_out, 3, 1, 1)
        self.shortcut = nn.Sequential(nn.AvgPool2d(2, 2, ceil_mode=True), nn.Conv2d(c_in, c_out, 1, bias=False))

    def forward(self, x):
        return self.conv_b(self.conv_a(x)) + self.shortcut(x)


class Nb201Net(nn.Module):
    def __init__(self, cell: Nb201Cell, channels: int = 16, cells_per_stage: int = 5, in_channels: int = 3,
                 num_classes: int = 10):
        super().__init__()
        self.config = cell
        self.stem = nn.Sequential(nn.Conv2d(in_channels, channels, 3, padding=1, bias=False),
                                  nn.BatchNorm2d(channels))
        layers, c = [], channels
        for stage in range(3):
            if stage:
                layers.append(ResidualReduction(c, 2 * c))
                c *= 2
            layers += [Nb201CellModule(cell, c) for _ in range(cells_per_stage)]
        self.cells = nn.Sequential(*layers)
        self.last = nn.Sequential(nn.BatchNorm2d(c), nn.ReLU(inplace=True))
        self.head = nn.Linear(c, num_classes)

    def forward(self, x):
        x = self.last(self.cells(self.stem(x)))
        return self.head(torch.flatten(F.adaptive_avg_pool2d(x, 1), 1))


# ---------------------------------------------------------------------------------------------- DARTS
class FactorizedReduce(nn.Module):
    """Halve the resolution without losing every other pixel: two stride-2 1x1 convs, one on the input shifted
    by a pixel, concatenated. The shifted input is padded back to full size, so odd sizes work too."""

    def __init__(self, c_in: int, c_out: int):
        super().__init__()
        self.conv_a = nn.Conv2d(c_in, c_out // 2, 1, 2, bias=False)
        self.conv_b = nn.Conv2d(c_in, c_out - c_out // 2, 1, 2, bias=False)
        self.bn = nn.BatchNorm2d(c_out)

    def forward(self, x):
        x = F.relu(x)
        return self.bn(torch.cat([self.conv_a(x), self.conv_b(F.pad(x[:, :, 1:, 1:], (0, 1, 0, 1)))], dim=1))


def _sep_conv(c: int, kernel: int, stride: int) -> nn.Module:
    pad = kernel // 2
    return nn.Sequential(
        nn.ReLU(inplace=False), nn.Conv2d(c, c, kernel, stride, pad, groups=c, bias=False),
        nn.Conv2d(c, c, 1, bias=False), nn.BatchNorm2d(c),
        nn.ReLU(inplace=False), nn.Conv2d(c, c, kernel, 1, pad, groups=c, bias=False),
        nn.Conv2d(c, c, 1, bias=False), nn.BatchNorm2d(c))


def _dil_conv(c: int, kernel: int, stride: int) -> nn.Module:
    return nn.Sequential(nn.ReLU(inplace=False),
                         nn.Conv2d(c, c, kernel, stride, kernel - 1, dilation=2, groups=c, bias=False),
                         nn.Conv2d(c, c, 1, bias=False), nn.BatchNorm2d(c))


def _darts_op(op: str, c: int, stride: int) -> nn.Module:
    if op == "max_pool_3x3":
        return MaxPool3x3(stride)
    if op == "avg_pool_3x3":
        return AvgPool3x3(stride)
    if op == "skip_connect":
        return nn.Identity() if stride == 1 else FactorizedReduce(c, c)
    kernel = int(op[-1])
    return _sep_conv(c, kernel, stride) if op.startswith("sep") else _dil_conv(c, kernel, stride)


class DartsCellModule(nn.Module):
    def __init__(self, rows, c_prev_prev: int, c_prev: int, c: int, reduction: bool, reduction_prev: bool):
        super().__init__()
        self.pre0 = FactorizedReduce(c_prev_prev, c) if reduction_prev else ReLUConvBN(c_prev_prev, c, 1, 1, 0)
        self.pre1 = ReLUConvBN(c_prev, c, 1, 1, 0)
        self.sources = [src for src, _ in rows]
        self.ops = nn.ModuleList(_darts_op(op, c, 2 if reduction and src < 2 else 1) for src, op in rows)

    def forward(self, s0, s1):
        states = [self.pre0(s0), self.pre1(s1)]
        for k in range(DARTS_NODES):
            a, b = 2 * k, 2 * k + 1
            states.append(self.ops[a](states[self.sources[a]]) + self.ops[b](states[self.sources[b]]))
        return torch.cat(states[2:], dim=1)


class DartsNet(nn.Module):
    def __init__(self, genome: DartsGenome, channels: int = 16, layers: int = 8, in_channels: int = 3,
                 num_classes: int = 10, stem_multiplier: int = 3):
        super().__init__()
        self.config = genome
        c_stem = stem_multiplier * channels
        self.stem = nn.Sequential(nn.Conv2d(in_channels, c_stem, 3, padding=1, bias=False), nn.BatchNorm2d(c_stem))
        c_prev_prev, c_prev, c = c_stem, c_stem, channels
        reductions = {layers // 3, 2 * layers // 3}
        self.cells = nn.ModuleList()
        reduction_prev = False
        for i in range(layers):
            reduction = i in reductions
            if reduction:
                c *= 2
            rows = genome.reduce if reduction else genome.normal
            self.cells.append(DartsCellModule(rows, c_prev_prev, c_prev, c, reduction, reduction_prev))
            reduction_prev = reduction
            c_prev_prev, c_prev = c_prev, DARTS_NODES * c
        self.head = nn.Linear(c_prev, num_classes)

    def forward(self, x):
        s0 = s1 = self.stem(x)
        for cell in self.cells:
            s0, s1 = s1, cell(s0, s1)
        return self.head(torch.flatten(F.adaptive_avg_pool2d(s1, 1), 1))
