"""The ERA space (era-thesis.txt §3.4): ResNets described by 8 parameters.

    block    'basic' (two 3x3 convs) or 'bottleneck' (1x1 -> 3x3 -> 1x1 with 4x expansion)
    depths   blocks in each of four sections: the first 0..18, the others 1..18
    filters  initial filters {1, 2, 4, 8, 16, 32} (thesis text; its code also offered 64: `CODE_VARIANT`)
    update   width multiplier from one non-empty section to the next {1, 2}
    group    channels per group {1, 2, 4, 8, 32}; clamped to `filters` when larger (the canonical form). The
             number of groups, filters // group, is the same in every grouped 3x3 convolution, so group = 1 is
             depthwise in the first section and group >= filters is an ordinary convolution.

Networks follow He et al.'s CIFAR ResNets: 3x3 stem (no bias) + BN + ReLU; sections whose first block has
stride 2 from the second non-empty section on; projection shortcuts (1x1 conv + BN, He et al.'s option B)
whenever the stride or the width changes; global average pooling; a linear head; Kaiming (fan_out) init.
Layer count (the thesis's convention) = weighted layers on the main path: stem + convs in blocks + head, so
ResNet-110 = 1 + 54 x 2 + 1. Counts: 13,296,960 configurations, 8,864,640 distinct networks, 8..218 layers.
"""
from __future__ import annotations

import itertools
import json
import math
from dataclasses import asdict, dataclass

import numpy as np
import torch
from torch import nn

BLOCKS = ("basic", "bottleneck")
FILTERS_TEXT = (1, 2, 4, 8, 16, 32)
FILTERS_CODE = (1, 2, 4, 8, 16, 32, 64)
GROUPS = (1, 2, 4, 8, 32)
UPDATES = (1, 2)
EXPANSION = 4  # bottleneck output width = 4 x its inner width


@dataclass(frozen=True)
class EraConfig:
    block: str
    depths: tuple[int, int, int, int]
    filters: int
    update: int
    group: int

    def __post_init__(self):
        object.__setattr__(self, "depths", tuple(int(d) for d in self.depths))

    def canonical(self) -> "EraConfig":
        """The same network with the group size clamped to the filter count."""
        return EraConfig(self.block, self.depths, self.filters, self.update, min(self.group, self.filters))

    @property
    def groups(self) -> int:
        """Number of groups in every grouped 3x3 convolution."""
        return max(1, self.filters // min(self.group, self.filters))

    @property
    def layers(self) -> int:
        per_block = 2 if self.block == "basic" else 3
        return 1 + per_block * sum(self.depths) + 1

    def to_json(self) -> str:
        return json.dumps(asdict(self.canonical()), sort_keys=True, separators=(",", ":"))

    @classmethod
    def from_json(cls, text: str) -> "EraConfig":
        d = json.loads(text)
        return cls(d["block"], tuple(d["depths"]), d["filters"], d["update"], d["group"])

    def __str__(self) -> str:
        c = self.canonical()
        return f"{c.block}[{','.join(map(str, c.depths))}] f{c.filters} u{c.update} g{c.group} ({c.layers} layers)"


# ---------------------------------------------------------------------------------------------- modules
class Block(nn.Module):
    """A basic or bottleneck residual block; the projection shortcut when stride or width changes."""

    def __init__(self, kind: str, c_in: int, width: int, stride: int, groups: int):
        super().__init__()
        c_out = width if kind == "basic" else EXPANSION * width
        if kind == "basic":
            self.body = nn.Sequential(
                nn.Conv2d(c_in, width, 3, stride, 1, groups=groups, bias=False), nn.BatchNorm2d(width),
                nn.ReLU(inplace=True),
                nn.Conv2d(width, width, 3, 1, 1, groups=groups, bias=False), nn.BatchNorm2d(width))
        else:
            self.body = nn.Sequential(
                nn.Conv2d(c_in, width, 1, bias=False), nn.BatchNorm2d(width), nn.ReLU(inplace=True),
                nn.Conv2d(width, width, 3, stride, 1, groups=groups, bias=False), nn.BatchNorm2d(width),
                nn.ReLU(inplace=True),
                nn.Conv2d(width, c_out, 1, bias=False), nn.BatchNorm2d(c_out))
        self.shortcut = nn.Identity()
        if stride != 1 or c_in != c_out:
            self.shortcut = nn.Sequential(nn.Conv2d(c_in, c_out, 1, stride, bias=False), nn.BatchNorm2d(c_out))
        self.out_channels = c_out

    def forward(self, x):
        return torch.relu(self.body(x) + self.shortcut(x))


class EraNet(nn.Module):
    def __init__(self, cfg: EraConfig, in_channels: int = 3, num_classes: int = 10):
        super().__init__()
        cfg = cfg.canonical()
        self.config = cfg
        self.stem = nn.Sequential(nn.Conv2d(in_channels, cfg.filters, 3, 1, 1, bias=False),
                                  nn.BatchNorm2d(cfg.filters), nn.ReLU(inplace=True))
        blocks, c_in = [], cfg.filters
        for width, stride, _ in _sections(cfg):
            blocks.append(Block(cfg.block, c_in, width, stride, cfg.groups))
            c_in = blocks[-1].out_channels
        self.blocks = nn.Sequential(*blocks)
        self.head = nn.Linear(c_in, num_classes)
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
            elif isinstance(m, nn.BatchNorm2d):
                nn.init.ones_(m.weight)
                nn.init.zeros_(m.bias)

    def forward(self, x):
        x = self.blocks(self.stem(x))
        return self.head(torch.flatten(nn.functional.adaptive_avg_pool2d(x, 1), 1))


def _sections(cfg: EraConfig):
    """Yield (width, stride, section index) for every block, in order."""
    width, seen = cfg.filters, 0
    for s, depth in enumerate(cfg.depths):
        if depth == 0:
            continue
        if seen:
            width *= cfg.update
        for b in range(depth):
            yield width, (2 if seen and b == 0 else 1), s
        seen += 1


# ---------------------------------------------------------------------------------------------- the space
@dataclass(frozen=True)
class EraSpace:
    """The space of `EraConfig`s (implements `resnas.spaces.base.SearchSpace`). `filters_choices` and
    `max_depth` make the reduced spaces of CPU profiles."""

    filters_choices: tuple[int, ...] = FILTERS_TEXT
    max_depth: int = 18
    group_choices: tuple[int, ...] = GROUPS
    name: str = "era"

    def __post_init__(self):
        object.__setattr__(self, "filters_choices", tuple(sorted(self.filters_choices)))
        if not 1 <= self.max_depth <= 18:
            raise ValueError(f"max_depth={self.max_depth} is out of range; allowed: 1 to 18")
        bad = set(self.filters_choices) - set(FILTERS_CODE)
        if bad or not self.filters_choices:
            raise ValueError(f"filters_choices={self.filters_choices} is not allowed; allowed: a subset of {FILTERS_CODE}")

    # ranges ------------------------------------------------------------------------------------------
    def depth_range(self, section: int) -> range:
        return range(0 if section == 0 else 1, self.max_depth + 1)

    def choices(self) -> dict[str, tuple]:
        """Every parameter and its values, in the order mutation and crossover see them."""
        return {"block": BLOCKS, "d0": tuple(self.depth_range(0)), "d1": tuple(self.depth_range(1)),
                "d2": tuple(self.depth_range(2)), "d3": tuple(self.depth_range(3)),
                "filters": self.filters_choices, "update": UPDATES, "group": self.group_choices}

    def ordinal(self) -> tuple[str, ...]:
        """The section depths: consecutive integers where a step of one is a small change."""
        return ("d0", "d1", "d2", "d3")

    def flat(self, cfg: EraConfig) -> dict:
        """The flat form (keys of `choices()`); see `resnas.spaces.base`."""
        return self._flat(cfg)

    def unflat(self, flat) -> EraConfig:
        """The canonical configuration of a flat form."""
        return self._unflat(_py(dict(flat))).canonical()

    @staticmethod
    def _flat(cfg: EraConfig) -> dict:
        return {"block": cfg.block, "d0": cfg.depths[0], "d1": cfg.depths[1], "d2": cfg.depths[2],
                "d3": cfg.depths[3], "filters": cfg.filters, "update": cfg.update, "group": cfg.group}

    @staticmethod
    def _unflat(d: dict) -> EraConfig:
        return EraConfig(d["block"], (d["d0"], d["d1"], d["d2"], d["d3"]), d["filters"], d["update"], d["group"])

    def size(self) -> int:
        """Number of configurations (before clamping the group size)."""
        return math.prod(len(v) for v in self.choices().values())

    def distinct_size(self) -> int:
        """Number of distinct networks (after clamping the group size)."""
        per_filter = sum(len({min(g, f) for g in self.group_choices}) for f in self.filters_choices)
        return self.size() // len(self.filters_choices) // len(self.group_choices) * per_filter

    def layer_range(self) -> tuple[int, int]:
        lo = EraConfig("basic", (0, 1, 1, 1), 1, 1, 1).layers
        hi = EraConfig("bottleneck", (self.max_depth,) * 4, 1, 1, 1).layers
        return lo, hi

    def validate(self, cfg: EraConfig) -> EraConfig:
        for key, values in self.choices().items():
            v = self._flat(cfg)[key]
            if key == "group" and v == cfg.filters and max(values) > v:
                continue  # a canonical (clamped) group size
            if v not in values:
                name = f"depths[{key[1]}]" if key.startswith("d") else key
                raise ValueError(f"{name}={v!r} is not allowed in this space; allowed: {_describe(values)}")
        return cfg

    # operators -----------------------------------------------------------------------------------------
    def sample(self, rng: np.random.Generator) -> EraConfig:
        """Uniform over configurations (each parameter drawn uniformly), returned in canonical form."""
        d = {k: v[rng.integers(len(v))] for k, v in self.choices().items()}
        return self._unflat(_py(d)).canonical()

    def mutate(self, cfg: EraConfig, rng: np.random.Generator) -> EraConfig:
        """The thesis's mutation: one parameter, chosen uniformly, redrawn uniformly among the values that give
        a different network (a group size that clamps to the same value would change nothing)."""
        cfg = cfg.canonical()
        flat = self._flat(cfg)
        keys = list(self.choices())
        for key in rng.permutation(keys):
            options = []
            for v in self.choices()[key]:
                if v == flat[key]:
                    continue
                child = self._unflat(_py({**flat, key: v})).canonical()
                if child != cfg:
                    options.append(child)
            if options:
                return options[rng.integers(len(options))]
        return cfg  # only in a one-point space

    def crossover(self, a: EraConfig, b: EraConfig, rng: np.random.Generator) -> EraConfig:
        """Uniform crossover: each parameter from either parent with probability 1/2."""
        fa, fb = self._flat(a), self._flat(b)
        return self._unflat(_py({k: (fa if rng.random() < 0.5 else fb)[k] for k in fa})).canonical()

    def neighbours(self, cfg: EraConfig) -> list[EraConfig]:
        """The local-search neighbourhood: every other value of block, filters, update and group, and depth
        steps of +-1 and +-2 in each section (both directions, unlike HyperMapper's upward-only sampler)."""
        cfg = cfg.canonical()
        flat = self._flat(cfg)
        out = []
        for key, values in self.choices().items():
            if key.startswith("d"):
                candidates = [flat[key] + s for s in (-2, -1, 1, 2) if flat[key] + s in values]
            else:
                candidates = [v for v in values if v != flat[key]]
            for v in candidates:
                n = self._unflat(_py({**flat, key: v})).canonical()
                if n != cfg and n not in out:
                    out.append(n)
        return out

    def enumerate(self):
        """Every configuration (use only on small reduced spaces)."""
        for values in itertools.product(*self.choices().values()):
            yield self._unflat(_py(dict(zip(self.choices(), values))))

    # networks ------------------------------------------------------------------------------------------
    def build(self, cfg: EraConfig, in_channels: int = 3, num_classes: int = 10) -> EraNet:
        return EraNet(cfg, in_channels, num_classes)

    def to_json(self, cfg: EraConfig) -> str:
        return cfg.to_json()

    def from_json(self, text: str) -> EraConfig:
        return EraConfig.from_json(text)

    def count_params(self, cfg: EraConfig, in_channels: int = 3, num_classes: int = 10) -> int:
        """Trainable parameters, computed from the configuration without building the network."""
        return sum(p for p, _ in _layer_costs(cfg.canonical(), in_channels, num_classes, (1, 1)))

    def count_flops(self, cfg: EraConfig, input_hw=(32, 32), in_channels: int = 3, num_classes: int = 10) -> int:
        """FLOPs of one forward pass on one image, 2 per multiply-add of convolutions and the head (the
        convention of torch's FlopCounterMode, which the engine records), without building the network."""
        return sum(f for _, f in _layer_costs(cfg.canonical(), in_channels, num_classes, input_hw))


def _layer_costs(cfg: EraConfig, in_channels: int, num_classes: int, hw):
    """(parameters, FLOPs) of every weighted layer, in order."""
    h, w = hw

    def conv(c_in, c_out, k, stride, groups, h, w):
        h2, w2 = (h - 1) // stride + 1, (w - 1) // stride + 1  # 'same' padding for k=3, none for k=1
        weights = k * k * (c_in // groups) * c_out
        return (weights + 2 * c_out, 2 * weights * h2 * w2), h2, w2  # conv + its batch norm

    cost, h, w = conv(in_channels, cfg.filters, 3, 1, 1, h, w)
    yield cost
    c_in, g = cfg.filters, cfg.groups
    for width, stride, _ in _sections(cfg):
        if cfg.block == "basic":
            c_out = width
            a, h2, w2 = conv(c_in, width, 3, stride, g, h, w)
            b, _, _ = conv(width, width, 3, 1, g, h2, w2)
            yield from (a, b)
        else:
            c_out = EXPANSION * width
            a, _, _ = conv(c_in, width, 1, 1, 1, h, w)
            b, h2, w2 = conv(width, width, 3, stride, g, h, w)
            c, _, _ = conv(width, c_out, 1, 1, 1, h2, w2)
            yield from (a, b, c)
        if stride != 1 or c_in != c_out:
            s, _, _ = conv(c_in, c_out, 1, stride, 1, h, w)
            yield s
        c_in, h, w = c_out, h2, w2
    yield (c_in * num_classes + num_classes, 2 * c_in * num_classes)


def _py(d: dict) -> dict:
    """numpy scalars -> Python scalars, so configurations hash, compare and serialise plainly."""
    return {k: (v.item() if hasattr(v, "item") else v) for k, v in d.items()}


def _describe(values) -> str:
    values = tuple(values)
    if all(isinstance(v, int) for v in values) and values == tuple(range(values[0], values[-1] + 1)):
        return f"{values[0]} to {values[-1]}"
    return ", ".join(map(str, values))


SPACE = EraSpace()
CODE_VARIANT = EraSpace(filters_choices=FILTERS_CODE)
RESNET20 = EraConfig("basic", (0, 3, 3, 3), 16, 2, 32).canonical()
RESNET56 = EraConfig("basic", (0, 9, 9, 9), 16, 2, 32).canonical()
RESNET110 = EraConfig("basic", (0, 18, 18, 18), 16, 2, 32).canonical()
WIDE_RESNET110 = EraConfig("basic", (0, 18, 18, 18), 32, 2, 32).canonical()
