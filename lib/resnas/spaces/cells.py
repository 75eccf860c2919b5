"""Cell search spaces: a cell is a table saying which operation sits on each edge (spec/genas.md).

Two presets, each a `SearchSpace` (resnas.spaces.base) with a stand-alone `build` (its modules live in
`resnas.spaces.cell_networks`, so that searching a table never imports torch):

**nb201** (NAS-Bench-201; Dong & Yang 2020). A cell is a DAG on 4 nodes with all 6 forward edges, one of 5
operations on each: none (zero), skip_connect, nor_conv_1x1, nor_conv_3x3, avg_pool_3x3, so 5^6 = 15,625
cells. Node j sums its incoming edges; node 3 is the output. Edges are listed (0->1, 0->2, 0->3, 1->2, 1->3,
2->3), the key order of the CIFAR-10 table (`resnas.nb201`); `Nb201Cell.arch_str` gives NAS-Bench-201's own
string. Network: 3x3 stem conv + BN; three stages of `cells_per_stage` cells at C, 2C, 4C channels with a
residual reduction block between stages (3x3 stride-2 ReLU-conv-BN, 3x3 ReLU-conv-BN; shortcut 2x2 average
pool + 1x1 conv); BN + ReLU, global average pooling, linear head. NAS-Bench-201 used C = 16 and 5 cells per
stage (the `nb201` preset); `nb201_small` keeps one cell per stage at C = 8 for CPU training.

**darts** (Liu et al. 2019). A genome is a normal and a reduction cell. Each cell has two inputs (nodes 0
and 1: the outputs of the two previous cells) and 4 intermediate nodes 2..5; node k takes exactly two
distinct earlier nodes, each through one of 7 operations (no 'none': max/avg pool 3x3, skip, separable conv
3x3/5x5, dilated conv 3x3/5x5). The cell's output concatenates nodes 2..5. A cell is thus a table of 8 rows
(input, operation), two per node. Network: 3x3 stem to 3C channels; `layers` cells, reduction cells (stride 2
on the edges from the two inputs, channels doubled) at layers // 3 and 2 * layers // 3; a cell after a
reduction adapts its older input with a factorised reduction; global average pooling, linear head (no
auxiliary head and no drop-path: those are final-training extras). The `darts` preset is the search-scale
network of EvNAS/SaDENAS (C = 16, 8 cells); `darts_small` (C = 8, 3 cells) trains on a CPU.

Operators (GENAS-style, on the table; what GENAS did beyond its abstract is our inference, spec/genas.md):
`sample` is uniform over flat forms; `mutate` returns a uniformly drawn neighbour, i.e. one row changed
(nb201: another operation on one edge; darts: another operation on one row or one input rewired to another
earlier node), so a child always differs from its parent; `crossover` takes each row (nb201) or each node's
block of two rows (darts, so every node keeps two distinct inputs) from either parent with probability 1/2.
"""
from __future__ import annotations

import itertools
import json
import math
from dataclasses import dataclass
from typing import TYPE_CHECKING, Mapping

import numpy as np

if TYPE_CHECKING:  # the networks (resnas.spaces.cell_networks) need torch; genomes and operators do not
    from torch import nn

# ================================================================================================ NAS-Bench-201
NB201_OPS = ("none", "skip_connect", "nor_conv_1x1", "nor_conv_3x3", "avg_pool_3x3")
NB201_EDGES = ((0, 1), (0, 2), (0, 3), (1, 2), (1, 3), (2, 3))  # (from, to); the table's key order
NB201_NODES = 4


@dataclass(frozen=True)
class Nb201Cell:
    """One NAS-Bench-201 cell: `ops[e]` sits on edge `NB201_EDGES[e]`."""

    ops: tuple[str, ...]

    def __post_init__(self):
        object.__setattr__(self, "ops", tuple(self.ops))
        if len(self.ops) != len(NB201_EDGES):
            raise ValueError(f"ops has {len(self.ops)} entries; allowed: exactly {len(NB201_EDGES)}, one per edge "
                             f"{NB201_EDGES}")
        for e, op in enumerate(self.ops):
            if op not in NB201_OPS:
                raise ValueError(f"ops[{e}]={op!r} is not an operation; allowed: {', '.join(NB201_OPS)}")

    def to_json(self) -> str:
        return json.dumps({"ops": list(self.ops)}, separators=(",", ":"))

    @classmethod
    def from_json(cls, text: str) -> "Nb201Cell":
        return cls(tuple(json.loads(text)["ops"]))

    def arch_str(self) -> str:
        """NAS-Bench-201's string, e.g. '|nor_conv_3x3~0|+|nor_conv_3x3~0|none~1|+|...|'."""
        by_edge = dict(zip(NB201_EDGES, self.ops))
        return "+".join("|" + "|".join(f"{by_edge[(i, j)]}~{i}" for i in range(j)) + "|"
                        for j in range(1, NB201_NODES))

    def __str__(self) -> str:
        return self.arch_str()


@dataclass(frozen=True)
class Nb201Space:
    """NAS-Bench-201 cells; `channels` (C) and `cells_per_stage` (N) size the built network only."""

    channels: int = 16
    cells_per_stage: int = 5
    name: str = "nb201"

    def __post_init__(self):
        if self.channels < 1:
            raise ValueError(f"channels={self.channels} is invalid; allowed: >= 1")
        if self.cells_per_stage < 1:
            raise ValueError(f"cells_per_stage={self.cells_per_stage} is invalid; allowed: >= 1")

    # flat form ----------------------------------------------------------------------------------------
    def choices(self) -> dict[str, tuple[str, ...]]:
        return {f"edge_{i}_{j}": NB201_OPS for i, j in NB201_EDGES}

    def ordinal(self) -> tuple[str, ...]:
        return ()  # operations are categories

    def flat(self, cell: Nb201Cell) -> dict[str, str]:
        return dict(zip(self.choices(), cell.ops))

    def unflat(self, flat: Mapping[str, str]) -> Nb201Cell:
        return Nb201Cell(tuple(flat[k] for k in self.choices()))

    def size(self) -> int:
        return len(NB201_OPS) ** len(NB201_EDGES)

    # the bijection with 0..15,624 ---------------------------------------------------------------------
    def index(self, cell: Nb201Cell) -> int:
        """The cell's number: its operation indices read as base-5 digits, first edge most significant."""
        i = 0
        for op in cell.ops:
            i = i * len(NB201_OPS) + NB201_OPS.index(op)
        return i

    def from_index(self, i: int) -> Nb201Cell:
        if not 0 <= i < self.size():
            raise ValueError(f"index={i} is out of range; allowed: 0 to {self.size() - 1}")
        digits = []
        for _ in NB201_EDGES:
            i, d = divmod(i, len(NB201_OPS))
            digits.append(NB201_OPS[d])
        return Nb201Cell(tuple(reversed(digits)))

    def enumerate(self):
        """Every cell, in index order."""
        for ops in itertools.product(NB201_OPS, repeat=len(NB201_EDGES)):
            yield Nb201Cell(ops)

    # operators ----------------------------------------------------------------------------------------
    def sample(self, rng: np.random.Generator) -> Nb201Cell:
        """Uniform over the 15,625 cells (each edge's operation drawn uniformly)."""
        return Nb201Cell(tuple(NB201_OPS[int(k)] for k in rng.integers(len(NB201_OPS), size=len(NB201_EDGES))))

    def neighbours(self, cell: Nb201Cell) -> list[Nb201Cell]:
        """Every cell with one edge's operation changed (6 x 4 = 24), edge by edge in operation order."""
        return [Nb201Cell(cell.ops[:e] + (op,) + cell.ops[e + 1:])
                for e in range(len(NB201_EDGES)) for op in NB201_OPS if op != cell.ops[e]]

    def mutate(self, cell: Nb201Cell, rng: np.random.Generator) -> Nb201Cell:
        """One edge drawn uniformly gets another operation drawn uniformly (a uniform neighbour)."""
        options = self.neighbours(cell)
        return options[int(rng.integers(len(options)))]

    def crossover(self, a: Nb201Cell, b: Nb201Cell, rng: np.random.Generator) -> Nb201Cell:
        """Each row (edge) from either parent with probability 1/2."""
        take_a = rng.random(len(NB201_EDGES)) < 0.5
        return Nb201Cell(tuple(x if t else y for x, y, t in zip(a.ops, b.ops, take_a)))

    # JSON and networks --------------------------------------------------------------------------------
    def to_json(self, cell: Nb201Cell) -> str:
        return cell.to_json()

    def from_json(self, text: str) -> Nb201Cell:
        return Nb201Cell.from_json(text)

    def build(self, cell: Nb201Cell, in_channels: int = 3, num_classes: int = 10) -> nn.Module:
        from resnas.spaces.cell_networks import Nb201Net

        return Nb201Net(cell, self.channels, self.cells_per_stage, in_channels, num_classes)


# ================================================================================================ DARTS
DARTS_OPS = ("max_pool_3x3", "avg_pool_3x3", "skip_connect", "sep_conv_3x3", "sep_conv_5x5", "dil_conv_3x3",
             "dil_conv_5x5")
DARTS_NODES = 4  # intermediate nodes 2..5; nodes 0 and 1 are the cell's inputs
DARTS_CELLS = ("normal", "reduce")


def _pairs(node: int) -> tuple[tuple[int, int], ...]:
    """The allowed input pairs of intermediate node `node` (2..5): two distinct earlier nodes."""
    return tuple(itertools.combinations(range(node), 2))


@dataclass(frozen=True)
class DartsGenome:
    """A normal and a reduction cell, each 8 rows (input node, operation): rows 2k and 2k+1 feed node k + 2,
    their inputs distinct and ascending (the canonical order of a node's two rows)."""

    normal: tuple[tuple[int, str], ...]
    reduce: tuple[tuple[int, str], ...]

    def __post_init__(self):
        for kind in DARTS_CELLS:
            rows = tuple((int(src), str(op)) for src, op in getattr(self, kind))
            object.__setattr__(self, kind, rows)
            if len(rows) != 2 * DARTS_NODES:
                raise ValueError(f"{kind} has {len(rows)} rows; allowed: exactly {2 * DARTS_NODES}, two per node")
            for r, (src, op) in enumerate(rows):
                node = 2 + r // 2
                if op not in DARTS_OPS:
                    raise ValueError(f"{kind}[{r}] operation {op!r} is not allowed; allowed: {', '.join(DARTS_OPS)}")
                if not 0 <= src < node:
                    raise ValueError(f"{kind}[{r}] input {src} is not allowed for node {node}; "
                                     f"allowed: 0 to {node - 1}")
            for k in range(DARTS_NODES):
                if rows[2 * k][0] >= rows[2 * k + 1][0]:
                    raise ValueError(f"{kind} node {2 + k} has inputs {rows[2 * k][0]}, {rows[2 * k + 1][0]}; "
                                     "allowed: two distinct nodes in ascending order")

    def node(self, kind: str, k: int) -> tuple[tuple[int, str], tuple[int, str]]:
        rows = getattr(self, kind)
        return rows[2 * k], rows[2 * k + 1]

    def to_json(self) -> str:
        return json.dumps({k: [list(r) for r in getattr(self, k)] for k in DARTS_CELLS}, separators=(",", ":"))

    @classmethod
    def from_json(cls, text: str) -> "DartsGenome":
        d = json.loads(text)
        return cls(*(tuple(tuple(r) for r in d[k]) for k in DARTS_CELLS))

    def __str__(self) -> str:
        return " / ".join(f"{k}: " + " ".join(f"{op}~{src}" for src, op in getattr(self, k)) for k in DARTS_CELLS)


def _node_rows(a: tuple[int, str], b: tuple[int, str]) -> tuple[tuple[int, str], ...]:
    """A node's two rows in canonical (ascending input) order."""
    return tuple(sorted((a, b)))


@dataclass(frozen=True)
class DartsSpace:
    """DARTS genomes; `channels` (C) and `layers` (cells) size the built network only."""

    channels: int = 16
    layers: int = 8
    name: str = "darts"

    def __post_init__(self):
        if self.channels < 1:
            raise ValueError(f"channels={self.channels} is invalid; allowed: >= 1")
        if self.layers < 1:
            raise ValueError(f"layers={self.layers} is invalid; allowed: >= 1")

    # flat form: per cell and node, the input pair (a string 'i,j') and the operations on its two inputs ---
    def choices(self) -> dict[str, tuple[str, ...]]:
        out = {}
        for kind in DARTS_CELLS:
            for k in range(DARTS_NODES):
                node = 2 + k
                out[f"{kind}_{node}_inputs"] = tuple(f"{i},{j}" for i, j in _pairs(node))
                out[f"{kind}_{node}_op_first"] = DARTS_OPS
                out[f"{kind}_{node}_op_second"] = DARTS_OPS
        return out

    def ordinal(self) -> tuple[str, ...]:
        return ()

    def flat(self, g: DartsGenome) -> dict[str, str]:
        out = {}
        for kind in DARTS_CELLS:
            for k in range(DARTS_NODES):
                (i, op_i), (j, op_j) = g.node(kind, k)
                node = 2 + k
                out.update({f"{kind}_{node}_inputs": f"{i},{j}", f"{kind}_{node}_op_first": op_i,
                            f"{kind}_{node}_op_second": op_j})
        return out

    def unflat(self, flat: Mapping[str, str]) -> DartsGenome:
        cells = []
        for kind in DARTS_CELLS:
            rows = []
            for k in range(DARTS_NODES):
                node = 2 + k
                i, j = (int(s) for s in str(flat[f"{kind}_{node}_inputs"]).split(","))
                rows += [(i, flat[f"{kind}_{node}_op_first"]), (j, flat[f"{kind}_{node}_op_second"])]
            cells.append(tuple(rows))
        return DartsGenome(*cells)

    def size(self) -> int:
        per_cell = math.prod(len(_pairs(2 + k)) * len(DARTS_OPS) ** 2 for k in range(DARTS_NODES))
        return per_cell ** len(DARTS_CELLS)

    # operators ----------------------------------------------------------------------------------------
    def sample(self, rng: np.random.Generator) -> DartsGenome:
        """Uniform over flat forms: each node's input pair uniform, each of its two operations uniform."""
        cells = []
        for _ in DARTS_CELLS:
            rows = []
            for k in range(DARTS_NODES):
                pairs = _pairs(2 + k)
                i, j = pairs[int(rng.integers(len(pairs)))]
                ops = rng.integers(len(DARTS_OPS), size=2)
                rows += [(i, DARTS_OPS[int(ops[0])]), (j, DARTS_OPS[int(ops[1])])]
            cells.append(tuple(rows))
        return DartsGenome(*cells)

    def _with_node(self, g: DartsGenome, kind: str, k: int, rows) -> DartsGenome:
        cell = list(getattr(g, kind))
        cell[2 * k:2 * k + 2] = _node_rows(*rows)
        return DartsGenome(**{**{c: getattr(g, c) for c in DARTS_CELLS}, kind: tuple(cell)})

    def neighbours(self, g: DartsGenome) -> list[DartsGenome]:
        """Every genome with one row changed: another operation on it, or its input rewired to another
        earlier node that the node does not already use (so both inputs stay distinct)."""
        out = []
        for kind in DARTS_CELLS:
            for k in range(DARTS_NODES):
                rows = g.node(kind, k)
                for r in (0, 1):
                    (src, op), other = rows[r], rows[1 - r]
                    for new_op in DARTS_OPS:
                        if new_op != op:
                            out.append(self._with_node(g, kind, k, ((src, new_op), other)))
                    for new_src in range(2 + k):
                        if new_src not in (src, other[0]):
                            out.append(self._with_node(g, kind, k, ((new_src, op), other)))
        return out

    def mutate(self, g: DartsGenome, rng: np.random.Generator) -> DartsGenome:
        """A uniformly drawn neighbour: one row gets another operation or another input."""
        options = self.neighbours(g)
        return options[int(rng.integers(len(options)))]

    def crossover(self, a: DartsGenome, b: DartsGenome, rng: np.random.Generator) -> DartsGenome:
        """Each node's block of two rows, in each cell, from either parent with probability 1/2."""
        take_a = rng.random((len(DARTS_CELLS), DARTS_NODES)) < 0.5
        cells = []
        for c, kind in enumerate(DARTS_CELLS):
            rows = []
            for k in range(DARTS_NODES):
                rows += (a if take_a[c, k] else b).node(kind, k)
            cells.append(tuple(rows))
        return DartsGenome(*cells)

    # JSON and networks --------------------------------------------------------------------------------
    def to_json(self, g: DartsGenome) -> str:
        return g.to_json()

    def from_json(self, text: str) -> DartsGenome:
        return DartsGenome.from_json(text)

    def build(self, g: DartsGenome, in_channels: int = 3, num_classes: int = 10) -> nn.Module:
        from resnas.spaces.cell_networks import DartsNet

        return DartsNet(g, self.channels, self.layers, in_channels, num_classes)


# ================================================================================================ presets
NB201 = Nb201Space()
NB201_SMALL = Nb201Space(channels=8, cells_per_stage=1, name="nb201_small")
DARTS = DartsSpace()
DARTS_SMALL = DartsSpace(channels=8, layers=3, name="darts_small")
# NAS-Bench-201's ResNet cell: two 3x3 convs in a row (0->1->2) plus a skip connection around them (0->3, 2->3)
RESNET_LIKE = Nb201Cell(("nor_conv_3x3", "none", "skip_connect", "nor_conv_3x3", "none", "skip_connect"))
