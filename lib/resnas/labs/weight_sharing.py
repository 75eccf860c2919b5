"""Lab 07 (weight sharing): self-checks for a decoupled edge of a cell supernet and a Kendall tau paired by cell,
and the small pieces the lab trains with: a single-path NAS-Bench-201 supernet (`resnas.supernet`) on the
offline 8x8 digits (`resnas.data`), stand-alone training of the same cells, and their scores indexed by the
cell's code in the CIFAR-10 table (`resnas.tabular_cells`, e.g. '2,2,0,2,3,2').

Decoupled (GENAS): an edge computes exactly the table's operation ('none': nothing, zeros); coupled (the
EvNAS/SaDENAS lineage): every operation, mixed by the softmax of the one-hot table. See `resnas.supernet`.
"""
from __future__ import annotations


import numpy as np
import pandas as pd
import torch
from scipy import stats
from torch.nn import functional as F

from resnas.labs import NotDone, WrongAnswer, attempt, correct, expect
from resnas.labs import exercise as _exercise

LAB = "07_weight_sharing"




# ---------------------------------------------------------------------------------------------- the network
def decoupled_forward(supernet, x: torch.Tensor, cell, edge_fn) -> torch.Tensor:
    """The NAS-Bench-201 supernet's forward with `edge_fn(edge_modules, op, h)` computing every edge: the same
    stem, cells (node j sums its incoming edges), reduction blocks and head as `Supernet.forward`."""
    from resnas.spaces.cells import NB201_EDGES, NB201_NODES, Nb201Space
    from resnas.supernet import _Nb201SuperCell

    if not isinstance(supernet.space, Nb201Space):
        raise ValueError("decoupled_forward reads NAS-Bench-201 supernets; allowed: a supernet of nb201 or nb201_small")
    h = supernet.stem(x)
    for layer in supernet.cells:
        if not isinstance(layer, _Nb201SuperCell):
            h = layer(h)  # a reduction block between stages: shared, not searched
            continue
        nodes = [h]
        for j in range(1, NB201_NODES):
            nodes.append(sum(edge_fn(layer.edges[f"{i}_{j}"], cell.ops[NB201_EDGES.index((i, j))], nodes[i])
                             for i in range(j)))
        h = nodes[-1]
    h = supernet.last(h)
    return supernet.head(torch.flatten(F.adaptive_avg_pool2d(h, 1), 1))


def _tiny_supernet(seed: int = 0):
    from resnas.spaces.cells import Nb201Space
    from resnas.supernet import Supernet

    torch.manual_seed(seed)
    return Supernet(Nb201Space(channels=4, cells_per_stage=1, name="nb201_small"), 1, 10).eval()


# ---------------------------------------------------------------------------------------------- exercise 1
@_exercise(1)
def check_decoupled_edge(decoupled_edge) -> str:
    """`decoupled_edge(edge, op, x)`: `edge` is one supernet edge (an nn.ModuleDict {operation: module}, no module
    for 'none'); return the output of operation `op` alone on `x` ('none': zeros shaped like x). Rejects a
    mixture of operations (computing operations the table did not choose), 'none' treated as the input (a skip)
    or missing, and then checks the whole decoupled forward against the stand-alone network with inherited
    weights (`resnas.supernet.subnet`)."""
    from resnas.spaces.cells import NB201_OPS, Nb201Cell
    from resnas.supernet import subnet

    net = _tiny_supernet()
    edge = net.cells[0].edges["0_1"]
    x = torch.randn(2, 4, 6, 6, generator=torch.Generator().manual_seed(0))
    for op in sorted(NB201_OPS, key=lambda o: o == "none"):  # 'none' last: a mixture is named as such first
        net.zero_grad(set_to_none=True)
        xg = x.clone().requires_grad_(True)  # so that parameter-free operations (skip, pooling) backpropagate too
        try:
            out = attempt(1, decoupled_edge, edge, op, xg)
        except KeyError as exc:
            raise WrongAnswer(f"decoupled_edge(edge, {op!r}, x) raised KeyError {exc}: the edge holds no module for "
                              "'none', which cuts the edge: return zeros shaped like x for it") from None
        if not isinstance(out, torch.Tensor) or out.shape != x.shape:
            raise WrongAnswer(f"for {op!r} decoupled_edge returned {type(out).__name__} "
                              f"{tuple(getattr(out, 'shape', ()))}; return a tensor shaped like x {tuple(x.shape)}")
        if op == "none":
            if torch.allclose(out, x):
                raise WrongAnswer("'none' returned the input unchanged: that is a skip connection; 'none' means no "
                                  "connection, i.e. zeros")
            expect(torch.count_nonzero(out) == 0, "'none' should contribute nothing to its node: zeros shaped like x")
            continue
        if out.requires_grad:
            out.sum().backward()
        others = [o for o, m in edge.items() if o != op and any(p.grad is not None and p.grad.abs().sum() > 0
                                                                  for p in m.parameters())]
        if others:
            raise WrongAnswer(f"for {op!r}, the weights of {others} received gradients: your edge computed operations "
                              "the table did not choose (a mixture, as the coupled mode does). Decoupled: compute "
                              "only `op`")
        with torch.no_grad():
            want = edge[op](x)
        if not torch.allclose(out.detach(), want, atol=1e-6):
            mixed = sum(m(x) for m in edge.values()).detach()
            if torch.allclose(out.detach(), mixed, atol=1e-5) or not torch.allclose(out.detach(), want, atol=1e-3):
                raise WrongAnswer(f"for {op!r} your output is not that operation's output on x; a decoupled edge "
                                  "returns edge[op](x) alone, unweighted, nothing mixed in")
    # the whole decoupled forward, with the student's edge, is the stand-alone network with inherited weights
    cell = Nb201Cell(("nor_conv_3x3", "skip_connect", "none", "avg_pool_3x3", "nor_conv_1x1", "nor_conv_3x3"))
    xin = torch.randn(3, 1, 8, 8, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        mine = decoupled_forward(net, xin, cell, decoupled_edge)
        alone = subnet(net, cell).eval()(xin)
    expect(torch.allclose(mine, alone, atol=1e-5),
           "with your edge the supernet's output differs from the stand-alone network of the same cell with the "
           "supernet's weights copied in; each edge must compute its chosen operation exactly")
    return correct("a decoupled edge: only the chosen operation runs and learns, and the supernet's path equals the "
                   "stand-alone network with inherited weights")


# ---------------------------------------------------------------------------------------------- exercise 2
@_exercise(2)
def check_kendall_by_cell(kendall_by_cell) -> str:
    """`kendall_by_cell(a, b)`: Kendall's tau between two pd.Series of scores indexed by cell (in any order, not
    necessarily the same cells), over the cells both hold. Rejects pairing by position, and Spearman's rho."""
    cells = [f"cell{i:02d}" for i in range(12)]
    rng = np.random.default_rng(0)
    a = pd.Series(rng.normal(60, 15, len(cells)).round(1), index=cells)
    b = (a + rng.normal(0, 12, len(cells))).round(1)

    def value(x, y):
        out = attempt(2, kendall_by_cell, x.copy(), y.copy())
        try:
            return float(np.asarray(out, dtype=float).reshape(()))
        except (TypeError, ValueError):
            raise WrongAnswer(f"kendall_by_cell returned {type(out).__name__}; return one number") from None

    def want(x, y):
        both = pd.concat([x.rename("x"), y.rename("y")], axis=1, join="inner")
        return stats.kendalltau(both.x, both.y).statistic

    got = value(a, b)
    if not np.isclose(got, want(a, b)):
        if np.isclose(got, stats.spearmanr(a, b).statistic):
            raise WrongAnswer("that is Spearman's rho; this lab reads Kendall's tau (pairs ordered alike minus pairs "
                              "ordered differently, over all pairs)")
        raise WrongAnswer(f"for two series of 12 cells in the same order you got {got:.4f}, not Kendall's tau")
    ranked = b.sort_values(ascending=False)  # the same scores, best cell first (as a ranking is usually listed)
    got = value(a, ranked)
    expect(np.isclose(got, want(a, ranked)),
           f"when the second series lists the same cells best first your tau changes ({got:.4f}): you paired the "
           "scores by position. Pair them by cell (align the two indexes) before correlating")
    partial = ranked.drop(cells[:3])
    got = value(a.iloc[::-1], partial)
    expect(np.isclose(got, want(a, partial)),
           f"when one series lacks three cells you got {got:.4f}; correlate over the cells both series hold")
    return correct("Kendall's tau over the cells both series hold, paired by cell whatever their order")


# ---------------------------------------------------------------------------------------------- training
def digits_data(seed: int = 0):
    """The offline 8x8 digits as a `SearchData` (70% training, 30% validation)."""
    from resnas.data import DataSpec, load
    from resnas.search.genas import SearchData

    return SearchData.from_bundle(load(DataSpec(name="digits", val_size=0.3, seed=seed, split="val")))


def code(cell) -> str:
    """The cell's key in the CIFAR-10 table, e.g. '2,2,0,2,3,2'."""
    from resnas.tabular_cells import code_of_cell

    return ",".join(map(str, code_of_cell(cell)))


def connected_cells(space, n: int, seed: int) -> list:
    """`n` distinct cells drawn uniformly among those whose output is connected to the input (a cut-off cell is
    at chance everywhere and would inflate every correlation)."""
    from resnas.experiments.genas import connected

    rng, out = np.random.default_rng(seed), []
    for _ in range(1000 * n):
        if len(out) == n:
            return out
        c = space.sample(rng)
        if connected(c) and c not in out:
            out.append(c)
    raise ValueError(f"could not draw n={n} distinct connected cells; allowed: a smaller n")


def train_supernet(space, data, epochs: int, seed: int = 0, lr: float = 3e-3, batch_size: int = 64,
                   mode: str = "decoupled"):
    """Single-path training: each batch trains one uniformly drawn cell's path (`mode` 'decoupled', GENAS) or the
    softmax mixture around it ('coupled', the lineage). Adam; returns the supernet in eval mode."""
    from resnas.supernet import Supernet

    if mode not in ("decoupled", "coupled"):
        raise ValueError(f"mode={mode!r}; allowed: 'decoupled' or 'coupled'")
    torch.manual_seed(seed)
    net = Supernet(space, data.in_channels, data.num_classes)
    opt = torch.optim.Adam(net.parameters(), lr=lr)
    rng, gen = np.random.default_rng(seed), torch.Generator().manual_seed(seed)
    net.train()
    for _ in range(epochs):
        for x, y in data.train_batches(batch_size, None, gen):
            loss = F.cross_entropy(net(x, space.sample(rng), mode), y)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
    return net.eval()


def validation_batches(data, batch_size: int = 512) -> list:
    n = len(data.y_val)
    return [data.val_batch(i, min(batch_size, n - i * batch_size)) for i in range(int(np.ceil(n / batch_size)))]


def supernet_scores(net, cells, data, mode: str = "decoupled", recalibrate_images: int = 0, seed: int = 0
                    ) -> pd.Series:
    """Validation accuracy (%) of each cell with inherited weights, indexed by its table code; BN statistics
    re-estimated per cell on `recalibrate_images` training images first when > 0 (restored afterwards)."""
    from resnas.search.genas import accuracy

    batches = validation_batches(data)
    recal = ([x for x, _ in data.train_batches(256, recalibrate_images, torch.Generator().manual_seed(seed))]
             if recalibrate_images else [])
    return pd.Series({code(c): accuracy(net, c, batches, mode, recal) for c in cells}, name=mode)


def train_standalone(space, cells, data, epochs: int, seed: int = 0, lr: float = 3e-3, batch_size: int = 64
                     ) -> pd.Series:
    """Each cell's own network trained from scratch (Adam, `epochs`), its validation accuracy (%) by code."""
    out = {}
    batches = validation_batches(data)
    for c in cells:
        torch.manual_seed(seed)
        net = space.build(c, data.in_channels, data.num_classes)
        opt = torch.optim.Adam(net.parameters(), lr=lr)
        gen = torch.Generator().manual_seed(seed)
        net.train()
        for _ in range(epochs):
            for x, y in data.train_batches(batch_size, None, gen):
                loss = F.cross_entropy(net(x), y)
                opt.zero_grad(set_to_none=True)
                loss.backward()
                opt.step()
        net.eval()
        with torch.no_grad():
            correct_ = sum(int((net(x).argmax(1) == y).sum()) for x, y in batches)
        out[code(c)] = 100.0 * correct_ / sum(len(y) for _, y in batches)
    return pd.Series(out, name="stand-alone")


def tau_table(scores: dict, reference: pd.Series, n_boot: int = 1000, seed: int = 0) -> pd.DataFrame:
    """Kendall tau of each score series with `reference` over the cells both hold, with a percentile bootstrap
    interval over cells (resampling cells; scipy.stats.bootstrap, paired)."""
    rows = []
    for name, s in scores.items():
        both = pd.concat([s.rename("s"), reference.rename("r")], axis=1, join="inner").dropna()

        def tau(i, j):
            return stats.kendalltau(i, j).statistic

        est = tau(both.s, both.r)
        ci = stats.bootstrap((both.s.to_numpy(), both.r.to_numpy()), tau, paired=True, vectorized=False,
                             n_resamples=n_boot, method="percentile", random_state=np.random.default_rng(seed)
                             ).confidence_interval
        rows.append({"scores": name, "kendall_tau": est, "ci_low": float(ci.low), "ci_high": float(ci.high),
                     "cells": len(both)})
    return pd.DataFrame(rows)
