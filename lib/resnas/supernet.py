"""A weight-sharing supernet over a cell space (GENAS; what GENAS did beyond its abstract is our inference,
spec/genas.md).

The supernet is the stand-alone network of `resnas.spaces.cell_networks` with every edge holding one module
per operation (NAS-Bench-201: 6 edges x 4 operations with weights, 'none' has none; DARTS: the 14 edges
(src -> node, src < node) x 7 operations of each cell). Every other module (stem, NAS-Bench-201's reduction
blocks, DARTS's input preprocessing, head) is shared as it is. Its forward takes a cell table and a mode:

- ``decoupled`` (GENAS, the abstract: "subnet individuals are decoupled during evaluation"): exactly the
  table's operations are computed and summed, nothing else, so the output equals that of the stand-alone
  network built from the same table with the supernet's weights copied in (`subnet`) and only those
  operations receive gradients. Single-path training uses this mode: each batch trains one table's path.
- ``coupled`` (the ablation; the defect of the code lineage EvNAS/SaDENAS): every operation of every edge
  is computed and mixed with the softmax of the table's one-hot row (NAS-Bench-201: 0.41 on the chosen
  operation, 0.15 on each other; a DARTS edge the table does not use has an all-zero row, i.e. a uniform
  mixture, as the lineage's 'none' rows do).
- ``relaxed`` (the local search): continuous architecture weights (`Relaxation`): per edge a softmax over
  operations; for DARTS also per node a softmax over its incoming edges, times 2 so a node fed by two peaked
  edges has the scale of a decoupled node (our choice, like PC-DARTS's edge normalisation).

Batch-norm recalibration per subnet (`recalibrated`, as single-path one-shot NAS does) re-estimates every BN
layer's statistics on a few training batches run through that subnet alone, and restores the shared
statistics afterwards, so one subnet's recalibration never leaks into another's evaluation.
"""
from __future__ import annotations

import contextlib
import re
from dataclasses import dataclass

import torch
from torch import nn
from torch.nn import functional as F

from resnas.spaces.cell_networks import FactorizedReduce, ReLUConvBN, ResidualReduction, _darts_op, _nb201_op
from resnas.spaces.cells import (DARTS_CELLS, DARTS_NODES, DARTS_OPS, NB201_EDGES, NB201_NODES, NB201_OPS,
                                 DartsGenome, DartsSpace, Nb201Cell, Nb201Space)

MODES = ("decoupled", "coupled", "relaxed")
DARTS_EDGES = tuple((src, node) for node in range(2, 2 + DARTS_NODES) for src in range(node))  # 14 per cell


# ---------------------------------------------------------------------------------------------- the table as edges
def edge_list(space) -> tuple[tuple[int, int], ...]:
    return NB201_EDGES if isinstance(space, Nb201Space) else DARTS_EDGES


def op_list(space) -> tuple[str, ...]:
    return NB201_OPS if isinstance(space, Nb201Space) else DARTS_OPS


def cell_kinds(space) -> tuple[str, ...]:
    """The cell types a table holds: NAS-Bench-201 one, DARTS a normal and a reduction cell."""
    return ("cell",) if isinstance(space, Nb201Space) else DARTS_CELLS


def chosen_edges(space, table, kind: str) -> dict[tuple[int, int], str]:
    """{edge: operation} of the edges the table uses in one cell type (NAS-Bench-201: all six, 'none' too)."""
    if isinstance(space, Nb201Space):
        return dict(zip(NB201_EDGES, table.ops))
    return {(src, 2 + r // 2): op for r, (src, op) in enumerate(getattr(table, kind))}


def _check_space(space):
    if not isinstance(space, (Nb201Space, DartsSpace)):
        raise ValueError(f"space={getattr(space, 'name', space)!r} has no supernet; allowed: a cell space "
                         "(nb201, nb201_small, darts, darts_small)")


# ---------------------------------------------------------------------------------------------- relaxation
@dataclass(frozen=True)
class Relaxation:
    """Continuous architecture weights: `op_logits[k, e, o]` for cell type k, edge e (`edge_list`), operation
    o (`op_list`); DARTS also `edge_logits[k, e]` (a softmax over each node's incoming edges)."""

    op_logits: torch.Tensor
    edge_logits: torch.Tensor | None = None

    def parameters(self) -> list[torch.Tensor]:
        return [t for t in (self.op_logits, self.edge_logits) if t is not None]

    def detached(self) -> "Relaxation":
        return Relaxation(*(None if t is None else t.detach().clone() for t in (self.op_logits, self.edge_logits)))


def relax(space, table, peak: float = 3.0, device=None) -> Relaxation:
    """Architecture weights peaked at the table's choices: logit `peak` on each chosen operation (and, for
    DARTS, on each chosen incoming edge), 0 elsewhere, on `device`. The result requires grad."""
    _check_space(space)
    if not peak >= 0:
        raise ValueError(f"peak={peak} is invalid; allowed: >= 0")
    edges, ops, kinds = edge_list(space), op_list(space), cell_kinds(space)
    op_logits = torch.zeros(len(kinds), len(edges), len(ops))
    edge_logits = None if isinstance(space, Nb201Space) else torch.zeros(len(kinds), len(edges))
    for k, kind in enumerate(kinds):
        for edge, op in chosen_edges(space, table, kind).items():
            e = edges.index(edge)
            op_logits[k, e, ops.index(op)] = peak
            if edge_logits is not None:
                edge_logits[k, e] = peak
    return Relaxation(op_logits.to(device).requires_grad_(True),
                      None if edge_logits is None else edge_logits.to(device).requires_grad_(True))


def _edge_strength(space, relaxation: Relaxation) -> torch.Tensor:
    """DARTS: how strongly each edge is used, softmax over the node's incoming edges x its best operation's
    weight (as DARTS ranks edges), (K, E)."""
    w = F.softmax(relaxation.op_logits, dim=-1).max(dim=-1).values
    out = torch.zeros_like(w)
    for node in range(2, 2 + DARTS_NODES):
        idx = [e for e, (_, n) in enumerate(DARTS_EDGES) if n == node]
        out[:, idx] = F.softmax(relaxation.edge_logits[:, idx], dim=-1) * w[:, idx]
    return out


def discretise(space, relaxation: Relaxation):
    """The table of a relaxation: per edge its highest-weight operation (NAS-Bench-201: 'none' included, it is
    an operation of the space); DARTS: per node the two strongest incoming edges (`_edge_strength`)."""
    _check_space(space)
    with torch.no_grad():
        best = relaxation.op_logits.argmax(dim=-1)
        if isinstance(space, Nb201Space):
            return Nb201Cell(tuple(NB201_OPS[int(o)] for o in best[0]))
        strength = _edge_strength(space, relaxation)
        cells = []
        for k in range(len(DARTS_CELLS)):
            rows = []
            for node in range(2, 2 + DARTS_NODES):
                idx = [e for e, (_, n) in enumerate(DARTS_EDGES) if n == node]
                top = sorted(idx, key=lambda e: (-float(strength[k, e]), e))[:2]
                rows += [(DARTS_EDGES[e][0], DARTS_OPS[int(best[k, e])]) for e in sorted(top)]
            cells.append(tuple(rows))
        return DartsGenome(*cells)


def _plans(space, table, mode: str, relaxation: Relaxation | None) -> list[dict]:
    """Per cell type: {edge: [(operation, weight or None), ...]}; an edge absent from the dict adds nothing."""
    if mode not in MODES:
        raise ValueError(f"mode={mode!r} is unknown; allowed: {', '.join(MODES)}")
    edges, ops, kinds = edge_list(space), op_list(space), cell_kinds(space)
    plans = []
    for k, kind in enumerate(kinds):
        if mode == "decoupled":
            plans.append({edge: [(op, None)] for edge, op in chosen_edges(space, table, kind).items()})
            continue
        if mode == "coupled":
            chosen = chosen_edges(space, table, kind)
            logits = torch.zeros(len(edges), len(ops))
            for edge, op in chosen.items():
                logits[edges.index(edge), ops.index(op)] = 1.0  # the one-hot table, then the lineage's softmax
            weights = F.softmax(logits, dim=-1)
        else:
            if relaxation is None:
                raise ValueError("mode='relaxed' needs relaxation=Relaxation(...); allowed: a Relaxation "
                                 "from `relax`")
            weights = F.softmax(relaxation.op_logits[k], dim=-1)
            if relaxation.edge_logits is not None:
                scale = torch.ones(len(edges), device=relaxation.edge_logits.device)
                for node in range(2, 2 + DARTS_NODES):
                    idx = [e for e, (_, n) in enumerate(DARTS_EDGES) if n == node]
                    scale = scale.index_put((torch.tensor(idx, device=scale.device),),
                                            2.0 * F.softmax(relaxation.edge_logits[k, idx], dim=-1))
                weights = weights * scale[:, None]
        plans.append({edge: [(op, weights[e, o]) for o, op in enumerate(ops)] for e, edge in enumerate(edges)})
    return plans


# ---------------------------------------------------------------------------------------------- modules
def _edge_output(modules: nn.ModuleDict, plan, x):
    """Sum over the plan's operations of weight x op(x); None when nothing is computed ('none' only)."""
    terms = []
    for op, w in plan:
        if op not in modules:  # 'none': zero, nothing computed
            continue
        y = modules[op](x)
        terms.append(y if w is None else w.to(device=y.device, dtype=y.dtype) * y)
    return sum(terms) if terms else None


class _Nb201SuperCell(nn.Module):
    def __init__(self, c: int):
        super().__init__()
        self.edges = nn.ModuleDict()
        for i, j in NB201_EDGES:
            self.edges[f"{i}_{j}"] = nn.ModuleDict({op: _nb201_op(op, c) for op in NB201_OPS if op != "none"})

    def forward(self, x, plan: dict):
        nodes = [x]
        for j in range(1, NB201_NODES):
            terms = []
            for i in range(j):
                if (i, j) in plan:
                    y = _edge_output(self.edges[f"{i}_{j}"], plan[(i, j)], nodes[i])
                    if y is not None:
                        terms.append(y)
            nodes.append(sum(terms) if terms else torch.zeros_like(x))
        return nodes[-1]


class _DartsSuperCell(nn.Module):
    def __init__(self, c_prev_prev: int, c_prev: int, c: int, reduction: bool, reduction_prev: bool):
        super().__init__()
        self.reduction = reduction
        self.pre0 = FactorizedReduce(c_prev_prev, c) if reduction_prev else ReLUConvBN(c_prev_prev, c, 1, 1, 0)
        self.pre1 = ReLUConvBN(c_prev, c, 1, 1, 0)
        self.edges = nn.ModuleDict()
        for src, node in DARTS_EDGES:
            stride = 2 if reduction and src < 2 else 1
            self.edges[f"{src}_{node}"] = nn.ModuleDict({op: _darts_op(op, c, stride) for op in DARTS_OPS})

    def forward(self, s0, s1, plan: dict):
        states = [self.pre0(s0), self.pre1(s1)]
        for node in range(2, 2 + DARTS_NODES):
            terms = []
            for src in range(node):  # ascending inputs: the stand-alone cell's order of its two rows
                if (src, node) in plan:
                    y = _edge_output(self.edges[f"{src}_{node}"], plan[(src, node)], states[src])
                    if y is not None:
                        terms.append(y)
            states.append(sum(terms))
        return torch.cat(states[2:], dim=1)


class Supernet(nn.Module):
    """The supernet of a cell space (see the module docstring); `forward(x, table, mode, relaxation)`."""

    def __init__(self, space, in_channels: int = 3, num_classes: int = 10, channels_last: bool = True):
        super().__init__()
        _check_space(space)
        self.space, self.in_channels, self.num_classes = space, in_channels, num_classes
        if isinstance(space, Nb201Space):
            c = space.channels
            self.stem = nn.Sequential(nn.Conv2d(in_channels, c, 3, padding=1, bias=False), nn.BatchNorm2d(c))
            layers = []
            for stage in range(3):
                if stage:
                    layers.append(ResidualReduction(c, 2 * c))
                    c *= 2
                layers += [_Nb201SuperCell(c) for _ in range(space.cells_per_stage)]
            self.cells = nn.Sequential(*layers)
            self.last = nn.Sequential(nn.BatchNorm2d(c), nn.ReLU(inplace=True))
            self.head = nn.Linear(c, num_classes)
        else:
            c, stem_multiplier = space.channels, 3
            c_stem = stem_multiplier * c
            self.stem = nn.Sequential(nn.Conv2d(in_channels, c_stem, 3, padding=1, bias=False),
                                      nn.BatchNorm2d(c_stem))
            c_prev_prev, c_prev = c_stem, c_stem
            reductions = {space.layers // 3, 2 * space.layers // 3}
            self.cells = nn.ModuleList()
            reduction_prev = False
            for i in range(space.layers):
                reduction = i in reductions
                if reduction:
                    c *= 2
                self.cells.append(_DartsSuperCell(c_prev_prev, c_prev, c, reduction, reduction_prev))
                reduction_prev = reduction
                c_prev_prev, c_prev = c_prev, DARTS_NODES * c
            self.head = nn.Linear(c_prev, num_classes)
        # channels_last throughout (weights here, inputs in forward): on the CPU the small-channel convolutions of
        # these cells are much faster in it (a (128, 8, 28, 28) 1x1 convolution: 0.8 ms against 11.7 in the
        # default layout, one thread); measured on the GENAS default profile, a random-arm search took 8.9 s
        # against 15.1 (with the pooling modules of cell_networks; `make bench`, figure 6). The same function
        # either way, up to float rounding; CUDA runs it in channels_last too, as the training engine does.
        self.memory_format = torch.channels_last if channels_last else torch.contiguous_format
        self.to(memory_format=self.memory_format)

    def forward(self, x, table=None, mode: str = "decoupled", relaxation: Relaxation | None = None):
        if mode != "relaxed" and table is None:
            raise ValueError(f"mode={mode!r} needs a table; allowed: a cell of the supernet's space")
        plans = _plans(self.space, table, mode, relaxation)
        x = x.contiguous(memory_format=self.memory_format)
        if isinstance(self.space, Nb201Space):
            x = self.stem(x)
            for layer in self.cells:  # the reduction blocks between stages are shared, not searched
                x = layer(x, plans[0]) if isinstance(layer, _Nb201SuperCell) else layer(x)
            x = self.last(x)
        else:
            s0 = s1 = self.stem(x)
            for cell in self.cells:
                s0, s1 = s1, cell(s0, s1, plans[1 if cell.reduction else 0])
            x = s1
        return self.head(torch.flatten(F.adaptive_avg_pool2d(x, 1), 1))


# ---------------------------------------------------------------------------------------------- subnets
_NB201_EDGE = re.compile(r"^(cells\.\d+\.edges\.\d+_\d+)\.(.*)$")
_DARTS_ROW = re.compile(r"^cells\.(\d+)\.ops\.(\d+)\.(.*)$")


def super_name(supernet: Supernet, table, name: str) -> str:
    """The supernet's name of the stand-alone network's parameter or buffer `name` (same table)."""
    if isinstance(supernet.space, Nb201Space):
        m = _NB201_EDGE.match(name)
        if not m:
            return name
        i, j = (int(v) for v in m.group(1).rsplit(".", 1)[1].split("_"))
        return f"{m.group(1)}.{table.ops[NB201_EDGES.index((i, j))]}.{m.group(2)}"
    m = _DARTS_ROW.match(name)
    if not m:
        return name
    c, r = int(m.group(1)), int(m.group(2))
    src, op = getattr(table, "reduce" if supernet.cells[c].reduction else "normal")[r]
    return f"cells.{c}.edges.{src}_{2 + r // 2}.{op}.{m.group(3)}"


def subnet(supernet: Supernet, table) -> nn.Module:
    """The stand-alone network of `table` (`space.build`) with the supernet's weights and BN statistics copied
    in: inheriting weights, as GENAS's candidates do."""
    net = supernet.space.build(table, supernet.in_channels, supernet.num_classes)
    source = supernet.state_dict()
    net.load_state_dict({k: source[super_name(supernet, table, k)].clone() for k in net.state_dict()})
    return net


def path_parameters(supernet: Supernet, table) -> set[str]:
    """Names of the supernet parameters the table's decoupled path uses."""
    net = supernet.space.build(table, supernet.in_channels, supernet.num_classes)
    return {super_name(supernet, table, k) for k, _ in net.named_parameters()}


# ---------------------------------------------------------------------------------------------- batch norm
def _bn_layers(module: nn.Module) -> list[nn.modules.batchnorm._BatchNorm]:
    return [m for m in module.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]


def bn_state(module: nn.Module) -> list[tuple]:
    return [(m.running_mean.clone(), m.running_var.clone(), m.num_batches_tracked.clone(), m.momentum)
            for m in _bn_layers(module)]


def load_bn_state(module: nn.Module, state: list[tuple]) -> None:
    for m, (mean, var, n, momentum) in zip(_bn_layers(module), state):
        m.running_mean.copy_(mean)
        m.running_var.copy_(var)
        m.num_batches_tracked.copy_(n)
        m.momentum = momentum


@contextlib.contextmanager
def recalibrated(supernet: Supernet, table, batches):
    """Inside: every BN layer holds statistics re-estimated on `batches` (input tensors) run through the
    table's decoupled path (a cumulative average, so the order of the batches does not matter); on exit the
    shared statistics are restored exactly. The supernet is left in eval mode inside."""
    saved, was_training = bn_state(supernet), supernet.training
    try:
        for m in _bn_layers(supernet):
            m.reset_running_stats()
            m.momentum = None  # cumulative moving average over the recalibration batches
        supernet.train()
        with torch.no_grad():
            for x in batches:
                supernet(x, table, "decoupled")
        supernet.eval()
        yield supernet
    finally:
        load_bn_state(supernet, saved)
        supernet.train(was_training)
