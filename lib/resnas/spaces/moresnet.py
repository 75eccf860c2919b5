"""The MO-ResNet space (mo-resnet.txt §2.2-2.3, Appendix D, Table 4; spec/mo-resnet.md): variable-length
ResNets grown from EvoCNN-style units.

Genome: ordered ResNet blocks of conv and pool units, then hidden fully connected units; the classifier (the
last FC layer, as wide as the class count) has no genes and is implicit. Every field is a real gene, floored
when the network is built; a gene whose integer range is [lo, hi] lives in [lo, hi + 1] so that uniform
sampling hits each integer equally often (the top edge, reachable by clipping, maps to hi).

    ConvUnit(filter_size, channels)   square kernel, stride 1, SAME padding (asymmetric for even kernels)
    PoolUnit(kernel_exp, kind)        kernel = stride = 2 ** kernel_exp (2 or 4); max if kind < 0.5, else average
    FCUnit(neurons)                   a hidden layer

Phenotype (spec): optional fixed stem 3x3 conv -> `stem_channels` (64) + BN + ReLU; each conv unit = conv (with
bias) + BN + ReLU; each block adds a shortcut, the identity or a 1x1 conv + BN with the block's stride when the
block changes width or pools (no ReLU after the addition, as the code); flatten without global pooling; each
hidden FC = Linear + BatchNorm1d + ReLU, then the Linear classifier. The code put no ReLU between FC layers,
which makes the head linear: `fc_activation=False` reproduces that. A strided 1x1 conv gives ceil(h / s) rows
while the pools give floor(h / s), so on odd sizes the shortcut is cropped to the main path's size (the rows it
drops are the ones the pools drop too).

Operators (spec):
- crossover: conv units of both parents aligned by global order across blocks, likewise pool units and hidden
  FC units; each aligned pair crossed by SBX on every field with probability 0.9; unmatched units stay where
  they are; one of the two children kept at random.
- mutation: for each unit but the classifier, with probability 0.5, add a new random unit of a compatible kind
  before it, alter it (polynomial mutation of every field) or remove it (weights 0.33/0.34/0.33), within the
  count limits; then repair and re-group the conv/pool sequence into blocks with the parent's per-block counts,
  leftovers forming one extra block.
- repair (after every operator): drop pools that would shrink the image below 1x1, make the first unit a conv.
Since the classifier carries no genes and only existing hidden FC units are visited, a genome without hidden FC
units never gains one by mutation (the code's behaviour; crossover cannot add one either).
"""
from __future__ import annotations

import dataclasses
import json
import math
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from resnas.search.operators import polynomial_mutation, sbx


# ------------------------------------------------------------------------------------------------ genome
@dataclass(frozen=True)
class ConvUnit:
    filter_size: float
    channels: float


@dataclass(frozen=True)
class PoolUnit:
    kernel_exp: float
    kind: float

    @property
    def kernel(self) -> int:
        # the gene lives in [1, 3]; its top edge (reached by clipping) still means exponent 2
        return 2 ** min(int(math.floor(self.kernel_exp)), 2)

    @property
    def is_max(self) -> bool:
        return self.kind < 0.5


@dataclass(frozen=True)
class FCUnit:
    neurons: float


_KINDS = {"conv": ConvUnit, "pool": PoolUnit, "fc": FCUnit}
_NAMES = {cls: name for name, cls in _KINDS.items()}


@dataclass(frozen=True)
class Genome:
    """Blocks (each a non-empty tuple of conv/pool units) and hidden FC units; hashable, so it can key caches."""
    blocks: tuple
    fc: tuple = ()

    def __post_init__(self):
        object.__setattr__(self, "blocks", tuple(tuple(b) for b in self.blocks))
        object.__setattr__(self, "fc", tuple(self.fc))

    @property
    def units(self) -> list:
        """Conv and pool units in global order."""
        return [u for b in self.blocks for u in b]

    def count(self, kind) -> int:
        return sum(isinstance(u, kind) for u in self.units)

    def to_json(self) -> str:
        def enc(u):
            return [_NAMES[type(u)], *dataclasses.astuple(u)]
        return json.dumps({"blocks": [[enc(u) for u in b] for b in self.blocks], "fc": [enc(u) for u in self.fc]},
                          separators=(",", ":"))

    @classmethod
    def from_json(cls, text: str) -> "Genome":
        d = json.loads(text)

        def dec(v):
            return _KINDS[v[0]](*map(float, v[1:]))
        return cls(tuple(tuple(dec(u) for u in b) for b in d["blocks"]), tuple(dec(u) for u in d["fc"]))

    def __str__(self) -> str:
        def s(u):
            if isinstance(u, ConvUnit):
                return f"c{int(u.filter_size)}x{int(u.channels)}"
            return f"{'max' if u.is_max else 'avg'}{u.kernel}"
        blocks = " | ".join(" ".join(s(u) for u in b) for b in self.blocks)
        return f"[{blocks}] fc{[int(f.neurons) for f in self.fc]}"


# ------------------------------------------------------------------------------------------------ modules
def _conv(c_in: int, c_out: int, k: int) -> nn.Sequential:
    """Conv (with bias) + BN + ReLU, SAME padding; even kernels pad one more on the right/bottom, as PyTorch's
    padding='same' does, but explicitly (that path warns and copies the input)."""
    layers = [nn.ZeroPad2d(((k - 1) // 2, k // 2, (k - 1) // 2, k // 2))] if k % 2 == 0 else []
    layers += [nn.Conv2d(c_in, c_out, k, padding=k // 2 if k % 2 else 0), nn.BatchNorm2d(c_out), nn.ReLU()]
    return nn.Sequential(*layers)


class ResBlock(nn.Module):
    """body(x) + shortcut(x); the shortcut is a 1x1 conv + BN (cropped to the body's size) when the block
    changes width or pools, else the identity. With `shortcut=False` the block is a plain chain (MNIST)."""

    def __init__(self, body: nn.Sequential, c_in: int, c_out: int, stride: int, shortcut: bool):
        super().__init__()
        self.body = body
        self.shortcut = None
        self.add = shortcut
        if shortcut and (c_in != c_out or stride != 1):
            self.shortcut = nn.Sequential(nn.Conv2d(c_in, c_out, 1, stride=stride, bias=False),
                                          nn.BatchNorm2d(c_out))

    def forward(self, x):
        y = self.body(x)
        if not self.add:
            return y
        s = x if self.shortcut is None else self.shortcut(x)
        return y + s[..., :y.shape[-2], :y.shape[-1]]


class MoResNet(nn.Module):
    def __init__(self, stem: nn.Module, blocks: list, head: nn.Sequential):
        super().__init__()
        self.stem, self.blocks, self.head = stem, nn.Sequential(*blocks), head

    def forward(self, x):
        return self.head(torch.flatten(self.blocks(self.stem(x)), 1))


# -------------------------------------------------------------------------------------------------- space
def _hw(input_hw) -> tuple[int, int]:
    return (input_hw, input_hw) if isinstance(input_hw, int) else tuple(input_hw)


@dataclass(frozen=True)
class MoResNetSpace:
    """Ranges and operator settings. Integer ranges are inclusive (lo, hi). Presets: `mnist()`,
    `fashion_mnist()` (= `SPACE`), `cifar100()` from Table 4, and `small()` for CPU profiles."""
    name: str = "fashion_mnist"
    input_hw: int | tuple = 28             # default for build() and the 1x1 floor in repairs
    blocks: tuple = (1, 10)                # ResNet blocks
    convs_per_block: tuple = (1, 3)
    pools: tuple = (1, 3)                  # per network
    fc_layers: tuple = (1, 2)              # including the classifier
    filter_size: tuple = (1, 5)
    channels: tuple = (3, 128)
    neurons: tuple = (1000, 2000)          # hidden FC widths
    pool_exp: tuple = (1, 2)               # kernel 2 ** exp: {2, 4}
    max_units: int = 30                    # conv + pool units, cap for the add mutation
    stem_channels: int | None = 64         # None: no stem (the paper's MNIST space)
    shortcut: bool = True                  # False: plain chains (MNIST's single block without shortcut)
    fc_activation: bool = True             # False: the code's linear head (no ReLU between FC layers)
    p_crossover: float = 0.9               # per aligned pair of units
    p_mutation: float = 0.2                # per offspring
    p_unit: float = 0.5                    # per unit, in a mutated offspring
    op_weights: tuple = (0.33, 0.34, 0.33)  # add / alter / remove
    eta_c: float = 0.05                    # SBX index, the code's value (very wide)
    eta_m: float = 20.0                    # polynomial mutation index

    # ----------------------------------------------------------------------------------- presets
    @classmethod
    def fashion_mnist(cls, **kw) -> "MoResNetSpace":
        return cls(**kw)

    @classmethod
    def cifar100(cls, **kw) -> "MoResNetSpace":
        return cls(**{"name": "cifar100", "input_hw": 32, **kw})

    @classmethod
    def mnist(cls, **kw) -> "MoResNetSpace":
        """Table 4's MNIST column: one block without shortcut or stem, 1-4 convs, 1-4 FC layers, filters 2-20,
        3-50 channels."""
        return cls(**{"name": "mnist", "blocks": (1, 1), "convs_per_block": (1, 4), "fc_layers": (1, 4),
                      "filter_size": (2, 20), "channels": (3, 50), "stem_channels": None, "shortcut": False,
                      **kw})

    @classmethod
    def small(cls, **kw) -> "MoResNetSpace":
        """A CPU-sized variant of the Fashion-MNIST space: up to 4 blocks, 3-32 channels, FC widths 32-128, a
        16-channel stem."""
        return cls(**{"name": "small", "blocks": (1, 4), "channels": (3, 32), "neurons": (32, 128),
                      "stem_channels": 16, **kw})

    # ---------------------------------------------------------------------------------- genes
    def _bounds(self, kind) -> tuple[np.ndarray, np.ndarray]:
        """Real gene bounds [lo, hi + 1] per field; the kind gene of a pool is [0, 1]."""
        if kind is ConvUnit:
            r = (self.filter_size, self.channels)
        elif kind is PoolUnit:
            return np.array([self.pool_exp[0], 0.0]), np.array([self.pool_exp[1] + 1.0, 1.0])
        else:
            r = (self.neurons,)
        return np.array([lo for lo, _ in r], float), np.array([hi + 1.0 for _, hi in r], float)

    def _random_unit(self, kind, rng: np.random.Generator):
        low, high = self._bounds(kind)
        return kind(*map(float, rng.uniform(low, high)))

    @staticmethod
    def _int(value: float, rng_range: tuple) -> int:
        return int(min(max(math.floor(value), rng_range[0]), rng_range[1]))

    # -------------------------------------------------------------------------------- sampling
    def sample(self, rng: np.random.Generator) -> Genome:
        """Draw the block and pool counts; each block starts with a conv, its other convs and the pools placed
        in it shuffled after; pools that would shrink the image below 1x1 are redrawn with kernel 2, then
        dropped (the first always fits an input of at least 2x2)."""
        n_blocks = int(rng.integers(self.blocks[0], self.blocks[1] + 1))
        n_pools = int(rng.integers(self.pools[0], self.pools[1] + 1))
        where = rng.integers(n_blocks, size=n_pools)
        blocks = []
        for b in range(n_blocks):
            n_conv = int(rng.integers(self.convs_per_block[0], self.convs_per_block[1] + 1))
            rest = [self._random_unit(ConvUnit, rng) for _ in range(n_conv - 1)]
            rest += [self._random_unit(PoolUnit, rng) for _ in range(int(np.sum(where == b)))]
            order = rng.permutation(len(rest))
            blocks.append([self._random_unit(ConvUnit, rng)] + [rest[i] for i in order])
        h = min(_hw(self.input_hw))
        for block in blocks:  # fit the pools to the image
            for i, u in enumerate(block):
                if isinstance(u, PoolUnit) and h < u.kernel:
                    block[i] = u = PoolUnit(float(self.pool_exp[0]), u.kind)
                if isinstance(u, PoolUnit):
                    h //= u.kernel
        n_fc = int(rng.integers(self.fc_layers[0], self.fc_layers[1] + 1)) - 1
        return self._repair(Genome(tuple(map(tuple, blocks)), tuple(self._random_unit(FCUnit, rng)
                                                                   for _ in range(n_fc))))

    # -------------------------------------------------------------------------------- repairs
    def _repair(self, g: Genome) -> Genome:
        """Drop pools that would shrink the image below 1x1 and blocks left empty; move the first conv to the
        front if a pool leads (a genome always keeps at least one conv)."""
        h = min(_hw(self.input_hw))
        blocks = []
        for block in g.blocks:
            kept = []
            for u in block:
                if isinstance(u, PoolUnit):
                    if h < u.kernel:
                        continue
                    h //= u.kernel
                kept.append(u)
            if kept:
                blocks.append(kept)
        if not isinstance(blocks[0][0], ConvUnit):
            b, i = next((b, i) for b, blk in enumerate(blocks) for i, u in enumerate(blk) if isinstance(u, ConvUnit))
            conv = blocks[b].pop(i)
            blocks[0].insert(0, conv)
            blocks = [blk for blk in blocks if blk]
            return self._repair(Genome(tuple(map(tuple, blocks)), g.fc))  # the move may change the sizes
        return Genome(tuple(map(tuple, blocks)), g.fc)

    def _regroup(self, units: list, counts: list[int]) -> tuple:
        """Cut the flat conv/pool sequence with the parent's per-block unit counts, in order; leftovers form
        one extra block. Blocks are closed early rather than exceed the conv limit per block, and when the
        result has too many blocks the sequence is packed greedily instead (the add mutation's conv cap,
        blocks x convs-per-block, makes that always fit)."""
        cap = self.convs_per_block[1]
        blocks, i = [], 0
        for n in counts + [len(units)]:  # the last count takes the leftovers
            block = []
            while i < len(units) and len(block) < n:
                if isinstance(units[i], ConvUnit) and sum(isinstance(u, ConvUnit) for u in block) == cap:
                    break
                block.append(units[i])
                i += 1
            if block:
                blocks.append(tuple(block))
            if i == len(units):
                break
        if i < len(units) or len(blocks) > self.blocks[1]:
            blocks, block = [], []
            for u in units:
                if isinstance(u, ConvUnit) and sum(isinstance(v, ConvUnit) for v in block) == cap:
                    blocks.append(tuple(block))
                    block = []
                block.append(u)
            blocks.append(tuple(block))
        return tuple(blocks)

    # ------------------------------------------------------------------------------- operators
    def crossover(self, a: Genome, b: Genome, rng: np.random.Generator) -> Genome:
        """Same-kind units aligned by global order; SBX on aligned pairs (probability `p_crossover` each);
        unmatched units stay in place; one child kept at random."""
        flat_a, flat_b = [list(a.units), list(a.fc)], [list(b.units), list(b.fc)]
        for kind, part in ((ConvUnit, 0), (PoolUnit, 0), (FCUnit, 1)):
            ia = [i for i, u in enumerate(flat_a[part]) if isinstance(u, kind)]
            ib = [i for i, u in enumerate(flat_b[part]) if isinstance(u, kind)]
            low, high = self._bounds(kind)
            for i, j in zip(ia, ib):  # zip stops at the shorter parent: the rest stays where it is
                if rng.random() < self.p_crossover:
                    ua, ub = flat_a[part][i], flat_b[part][j]
                    ca, cb = sbx(dataclasses.astuple(ua), dataclasses.astuple(ub), low, high, self.eta_c, rng)
                    flat_a[part][i], flat_b[part][j] = kind(*map(float, ca)), kind(*map(float, cb))
        parent, (units, fc) = (a, flat_a) if rng.random() < 0.5 else (b, flat_b)
        it = iter(units)
        return self._repair(Genome(tuple(tuple(next(it) for _ in blk) for blk in parent.blocks), tuple(fc)))

    def mutate(self, g: Genome, rng: np.random.Generator) -> Genome:
        """Add / alter / remove units (each unit with probability `p_unit`), within the count limits; repair and
        re-group into blocks with the parent's per-block counts."""
        units, fc = list(g.units), list(g.fc)
        conv_cap = min(self.max_units, self.blocks[1] * self.convs_per_block[1])
        for seq, is_fc in ((units, False), (fc, True)):
            i = 0
            while i < len(seq):  # walk the parent's units; i skips over units added before them
                if rng.random() >= self.p_unit:
                    i += 1
                    continue
                op = rng.choice(3, p=np.array(self.op_weights) / np.sum(self.op_weights))
                u = seq[i]
                n_conv = sum(isinstance(v, ConvUnit) for v in units)
                n_pool = len(units) - n_conv
                if op == 0:  # add a compatible unit before u
                    if is_fc:
                        kinds = [FCUnit] if len(fc) + 1 < self.fc_layers[1] else []
                    else:
                        kinds = [k for k, ok in ((ConvUnit, n_conv < conv_cap), (PoolUnit, n_pool < self.pools[1]))
                                 if ok and len(units) < self.max_units]
                    if kinds:
                        seq.insert(i, self._random_unit(kinds[int(rng.integers(len(kinds)))], rng))
                        i += 1
                elif op == 1:  # alter every field
                    low, high = self._bounds(type(u))
                    seq[i] = type(u)(*map(float, polynomial_mutation(dataclasses.astuple(u), low, high,
                                                                      self.eta_m, rng)))
                else:  # remove, unless it would go below a floor
                    if is_fc:
                        ok = len(fc) + 1 > self.fc_layers[0]
                    elif isinstance(u, ConvUnit):
                        ok = n_conv > 1
                    else:
                        ok = n_pool > self.pools[0]
                    if ok:
                        del seq[i]
                        continue
                i += 1
        counts = [len(b) for b in g.blocks]
        # repair before and after regrouping: the flat order fixes the image sizes, the blocks do not
        flat = self._repair(Genome((tuple(units),), tuple(fc)))
        return self._repair(Genome(self._regroup(flat.units, counts), flat.fc))

    def variation(self, a: Genome, b: Genome, rng: np.random.Generator) -> Genome:
        """Crossover, then mutation with probability `p_mutation` (the MOEA/D `variation` callable)."""
        child = self.crossover(a, b, rng)
        return self.mutate(child, rng) if rng.random() < self.p_mutation else child

    # ------------------------------------------------------------------------------------ build
    def build(self, genome: Genome, in_channels: int = 1, num_classes: int = 10, input_hw=None) -> MoResNet:
        """The network for `genome` on images of `input_hw` (default: the space's)."""
        h, w = _hw(self.input_hw if input_hw is None else input_hw)
        c = in_channels
        stem = nn.Identity()
        if self.stem_channels:
            stem, c = _conv(in_channels, self.stem_channels, 3), self.stem_channels
        blocks = []
        for block in genome.blocks:
            layers, c_in, stride = [], c, 1
            for u in block:
                if isinstance(u, ConvUnit):
                    c_out = self._int(u.channels, self.channels)
                    layers.append(_conv(c, c_out, self._int(u.filter_size, self.filter_size)))
                    c = c_out
                else:
                    k = u.kernel
                    if min(h, w) < k:
                        raise ValueError(f"{genome}: a {k}x{k} pool would shrink a {h}x{w} image below 1x1")
                    layers.append(nn.MaxPool2d(k) if u.is_max else nn.AvgPool2d(k))
                    h, w, stride = h // k, w // k, stride * k
            blocks.append(ResBlock(nn.Sequential(*layers), c_in, c, stride, self.shortcut))
        head, width = [], c * h * w
        for f in genome.fc:
            n = self._int(f.neurons, self.neurons)
            head += [nn.Linear(width, n), nn.BatchNorm1d(n)] + ([nn.ReLU()] if self.fc_activation else [])
            width = n
        head.append(nn.Linear(width, num_classes))
        return MoResNet(stem, blocks, nn.Sequential(*head))

    def count_params(self, genome: Genome, in_channels: int = 1, num_classes: int = 10, input_hw=None) -> int:
        return sum(p.numel() for p in self.build(genome, in_channels, num_classes, input_hw).parameters())

    # ------------------------------------------------------------------------------------- json
    def to_json(self, genome: Genome) -> str:
        return genome.to_json()

    def from_json(self, text: str) -> Genome:
        return Genome.from_json(text)


SPACE = MoResNetSpace.fashion_mnist()
SMALL = MoResNetSpace.small()
MNIST = MoResNetSpace.mnist()
CIFAR100 = MoResNetSpace.cifar100()
PRESETS = {"moresnet": SPACE, "moresnet_small": SMALL, "moresnet_mnist": MNIST, "moresnet_cifar100": CIFAR100}
