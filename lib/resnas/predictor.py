"""A learned architecture-ranking predictor in the manner of RNAS (rnas.txt §3, spec/rnas.md), on the ERA space.

Encoding. RNAS turns a NAS-Bench-101 cell into a stack of node-feature matrices (type, FLOPs, parameters). An
ERA network is a chain of residual blocks in four sections, so its natural "image" is a 4 x 18 grid (section x
position, padded to the space's deepest section) with one channel per feature:

    channel 0  block type: 0 = no block (padding), 1 = basic, 2 = bottleneck
    channel 1  log(1 + FLOPs of the block)        (2 per multiply-add, as the engine counts)
    channel 2  log(1 + parameters of the block)   (convolutions and batch norms, shortcut included)

`encoding="type"` keeps channel 0 only: RNAS Table 2's ablation. Features are computed analytically and
vectorised over configurations, so encoding 10,000 candidates costs milliseconds.

Model. RNAS Table 1's LeNet-5-like regressor with batch norm: 3x3 conv (C -> 2C, no bias) + BN + ReLU, 3x3 conv
(-> `hidden`) + BN + ReLU, flatten, 120 -> 84 -> 1. The paper uses 128 channels on a 7x7 input; on the 4x18
grid `hidden` = 32 keeps scoring fast on a CPU (a parameter).

Losses (labels min-max scaled to [0, 1], scores unbounded):
    mse                  mean (s - y)^2
    pairwise             mean over ordered pairs with y_i != y_j of max(0, m - (s_i - s_j) sign(y_i - y_j))
    pairwise_continuity  pairwise + lambda * mean over sampled triplets (i, j, k) with |y_i - y_j| < |y_i - y_k|
                         of max(0, m_c + ||f_i - f_j|| - ||f_i - f_k||) on the penultimate features f: networks
                         close in accuracy should lie close in feature space.
The paper's margins and lambda were lost in extraction (spec/rnas.md): they are parameters, and the notebook
chooses them by a small sweep on a validation split and reports it.

Training: Adam (lr 1e-3, no weight decay), the whole training set as one batch, `epochs` steps, keeping the
weights with the best training Kendall tau (RNAS's rule).
"""
from __future__ import annotations

import math
import time
from dataclasses import dataclass, replace

import numpy as np
import pandas as pd
import torch
from scipy import stats
from torch import nn

from resnas.spaces.era import EXPANSION

SECTIONS, MAX_DEPTH = 4, 18
ENCODINGS = ("tensor", "type")
LOSSES = ("mse", "pairwise", "pairwise_continuity")


# ---------------------------------------------------------------------------------------------- encoding
def _halve(h: np.ndarray, times: np.ndarray) -> np.ndarray:
    """Spatial size after `times` stride-2 3x3 convolutions with padding 1: ceil(h / 2) each time."""
    out = h.copy()
    for k in range(1, SECTIONS):
        out = np.where(times >= k, (out - 1) // 2 + 1, out)
    return out


def block_costs(configs, image_size: int = 32) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per-block (type, parameters, FLOPs) on the (N, 4, 18) grid, vectorised over configurations.
    Stem and head are excluded: they are the same for every network of a given width and data set."""
    cfgs = [c.canonical() for c in configs]
    n = len(cfgs)
    depth = np.array([c.depths for c in cfgs], dtype=np.int64).reshape(n, SECTIONS)
    if n and depth.max() > MAX_DEPTH:
        raise ValueError(f"depths up to {depth.max()} do not fit the encoding; allowed: at most {MAX_DEPTH} per section")
    bottleneck = np.array([c.block == "bottleneck" for c in cfgs])
    filters = np.array([c.filters for c in cfgs], dtype=np.int64)
    update = np.array([c.update for c in cfgs], dtype=np.int64)
    groups = np.array([c.groups for c in cfgs], dtype=np.int64)
    expansion = np.where(bottleneck, EXPANSION, 1)

    kind = np.zeros((n, SECTIONS, MAX_DEPTH), np.float64)
    params = np.zeros_like(kind)
    flops = np.zeros_like(kind)
    position = np.arange(MAX_DEPTH)
    nonempty = depth > 0
    seen = np.cumsum(nonempty, axis=1) - nonempty  # non-empty sections before this one
    h0 = np.full(n, image_size, dtype=np.int64)
    for s in range(SECTIONS):
        k = seen[:, s]
        width = filters * update ** k
        c_out = width * expansion
        c_prev = np.where(k > 0, filters * update ** np.maximum(k - 1, 0) * expansion, filters)
        h_out = _halve(h0, k)
        h_first = _halve(h0, np.maximum(k - 1, 0))  # input size of the section's first block
        for first in (True, False):
            c_in = c_prev if first else c_out
            stride2 = (k > 0) if first else np.zeros(n, bool)
            h_in = h_first if first else h_out
            a_in, a_out = h_in ** 2, h_out ** 2
            w3 = 9 * width * width // groups  # a grouped 3x3 conv, width -> width
            basic_w = 9 * (c_in // groups) * width + w3
            basic = (basic_w + 4 * width, 2 * (9 * (c_in // groups) * width * a_out + w3 * a_out))
            bott_w = c_in * width + w3 + width * c_out
            bott = (bott_w + 4 * width + 2 * c_out,
                    2 * (c_in * width * a_in + w3 * a_out + width * c_out * a_out))
            p = np.where(bottleneck, bott[0], basic[0])
            f = np.where(bottleneck, bott[1], basic[1])
            project = stride2 | (c_in != c_out)
            p = p + np.where(project, c_in * c_out + 2 * c_out, 0)
            f = f + np.where(project, 2 * c_in * c_out * a_out, 0)
            cols = position == 0 if first else position > 0
            mask = (position[None, :] < depth[:, s:s + 1]) & cols[None, :]
            kind[:, s] = np.where(mask, np.where(bottleneck, 2, 1)[:, None], kind[:, s])
            params[:, s] = np.where(mask, p[:, None], params[:, s])
            flops[:, s] = np.where(mask, f[:, None], flops[:, s])
    return kind, params, flops


def encode(configs, encoding: str = "tensor", image_size: int = 32) -> np.ndarray:
    """The (N, C, 4, 18) float32 feature tensor of ERA configurations (C = 3 for 'tensor', 1 for 'type')."""
    if encoding not in ENCODINGS:
        raise ValueError(f"encoding={encoding!r} is unknown; allowed: {', '.join(ENCODINGS)}")
    kind, params, flops = block_costs(configs, image_size)
    chans = [kind] if encoding == "type" else [kind, np.log1p(flops), np.log1p(params)]
    return np.stack(chans, axis=1).astype(np.float32)


def cell_encoding(configs) -> np.ndarray:
    """The adjacency x operation tensor of cells (resnas.spaces.cells), float32 (N, operations, nodes, nodes):
    entry [o, i, j] is 1 when edge i -> j carries operation o, else 0.
        nb201  (N, 5, 4, 4): channels in NB201_OPS order, 'none' included, so every edge i < j holds exactly one 1
        darts  (N, 14, 6, 6): the normal cell's 7 operation channels, then the reduction cell's; nodes 0 and 1 are
               the cell's inputs; each intermediate node j has exactly two 1s in column j (its two inputs)
    The encoding is one-to-one (a cell is read back from it), vectorised over cells; all configs share a space."""
    from resnas.spaces.cells import (DARTS_CELLS, DARTS_NODES, DARTS_OPS, NB201_EDGES, NB201_NODES, NB201_OPS,
                                     DartsGenome, Nb201Cell)

    configs = list(configs)
    if all(isinstance(c, Nb201Cell) for c in configs):
        op = np.array([[NB201_OPS.index(o) for o in c.ops] for c in configs], dtype=np.int64).reshape(-1, 6)
        out = np.zeros((len(configs), len(NB201_OPS), NB201_NODES, NB201_NODES), np.float32)
        src, dst = (np.array(v) for v in zip(*NB201_EDGES))
        out[np.arange(len(configs))[:, None], op, src[None, :], dst[None, :]] = 1.0
        return out
    if configs and all(isinstance(c, DartsGenome) for c in configs):
        nodes, n_ops = 2 + DARTS_NODES, len(DARTS_OPS)
        out = np.zeros((len(configs), len(DARTS_CELLS) * n_ops, nodes, nodes), np.float32)
        dst = np.repeat(np.arange(2, nodes), 2)  # rows 2k, 2k+1 feed node k + 2
        for n, g in enumerate(configs):
            for c, kind in enumerate(DARTS_CELLS):
                rows = getattr(g, kind)
                ch = c * n_ops + np.array([DARTS_OPS.index(op) for _, op in rows])
                out[n, ch, [src for src, _ in rows], dst] = 1.0
        return out
    kinds = sorted({type(c).__name__ for c in configs})
    raise ValueError(f"configs are {kinds}; allowed: all Nb201Cell or all DartsGenome")


# ---------------------------------------------------------------------------------------------- model
class RankNet(nn.Module):
    """RNAS Table 1: two conv + BN + ReLU layers, then 120 -> 84 -> 1. `grid`: the features' spatial shape,
    the ERA 4 x 18 grid or a cell's nodes x nodes (`cell_encoding`; RNAS's own input was 7 x 7 nodes)."""

    def __init__(self, channels: int, hidden: int = 32, grid: tuple[int, int] = (SECTIONS, MAX_DEPTH)):
        super().__init__()
        self.body = nn.Sequential(
            nn.Conv2d(channels, 2 * channels, 3, padding=1, bias=False), nn.BatchNorm2d(2 * channels), nn.ReLU(),
            nn.Conv2d(2 * channels, hidden, 3, padding=1), nn.BatchNorm2d(hidden), nn.ReLU(),
            nn.Flatten(), nn.Linear(hidden * grid[0] * grid[1], 120), nn.ReLU(), nn.Linear(120, 84), nn.ReLU())
        self.out = nn.Linear(84, 1)

    def features(self, x: torch.Tensor) -> torch.Tensor:
        return self.body(x)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.out(self.body(x)).squeeze(-1)


# ---------------------------------------------------------------------------------------------- losses
def pairwise_hinge_loss(scores: torch.Tensor, labels: torch.Tensor, margin: float = 0.1) -> torch.Tensor:
    """Mean over ordered pairs with different labels of max(0, margin - (s_i - s_j) sign(y_i - y_j)).
    Exactly zero when every such pair is ordered like the labels with a score gap of at least `margin`."""
    sign = torch.sign(labels[:, None] - labels[None, :])
    count = int(torch.count_nonzero(sign))
    if count == 0:
        return scores.sum() * 0.0
    diff = scores[:, None] - scores[None, :]
    # the mean over the pairs as a masked sum (sign is 0 on tied pairs, so they add nothing): the boolean
    # index it replaces (nonzero, gather, and a scatter in the backward) was ~18% of a small fit's time
    return (torch.relu(margin - diff * sign) * (sign != 0)).sum() / count


def continuity_loss(features: torch.Tensor, labels: torch.Tensor, margin: float = 0.05, n_triplets: int = 2048,
                    generator: torch.Generator | None = None) -> torch.Tensor:
    """Sampled triplets (i, j, k) with |y_i - y_j| < |y_i - y_k|: max(0, margin + d_ij - d_ik) on feature
    distances, so the feature space keeps accuracy neighbours together."""
    n = len(labels)
    idx = torch.randint(n, (3, n_triplets), generator=generator)
    i, j, k = idx
    closer = (labels[i] - labels[j]).abs() < (labels[i] - labels[k]).abs()
    if not closer.any():
        return features.sum() * 0.0
    d_ij = (features[i] - features[j]).norm(dim=1)
    d_ik = (features[i] - features[k]).norm(dim=1)
    return torch.relu(margin + d_ij - d_ik)[closer].mean()


def kendall_tau(a, b) -> float:
    """Kendall's tau-b, as scipy computes it (nan for a constant input)."""
    return float(stats.kendalltau(np.asarray(a), np.asarray(b)).statistic)


def _tau_b_small(a: np.ndarray, b: np.ndarray) -> float:
    """Kendall's tau-b by its definition over all pairs, O(n^2) memory: (concordant - discordant) pairs over
    sqrt(pairs not tied in a x pairs not tied in b); nan when either is constant. The same number as
    `kendall_tau` (a test checks it, ties included) at a fraction of scipy's call overhead, which dominated a
    small fit that computes its training tau after every step."""
    sa = np.sign(a[:, None] - a[None, :])
    sb = np.sign(b[:, None] - b[None, :])
    den = math.sqrt(float(np.abs(sa).sum()) * float(np.abs(sb).sum()))
    return float((sa * sb).sum() / den) if den > 0 else math.nan


# ---------------------------------------------------------------------------------------------- fitting
@dataclass(frozen=True)
class PredictorConfig:
    encoding: str = "tensor"
    loss: str = "pairwise"
    margin: float = 0.1
    continuity_margin: float = 0.05
    lam: float = 0.1
    epochs: int = 200
    lr: float = 1e-3
    hidden: int = 32
    triplets: int = 2048
    seed: int = 0

    def __post_init__(self):
        if self.encoding not in ENCODINGS:
            raise ValueError(f"encoding={self.encoding!r} is unknown; allowed: {', '.join(ENCODINGS)}")
        if self.loss not in LOSSES:
            raise ValueError(f"loss={self.loss!r} is unknown; allowed: {', '.join(LOSSES)}")
        if self.epochs < 1 or self.hidden < 1:
            raise ValueError(f"epochs={self.epochs}, hidden={self.hidden}; allowed: both >= 1")

    def replace(self, **kw) -> "PredictorConfig":
        return replace(self, **kw)


class RankingPredictor:
    """A fitted predictor: scores configurations (higher = predicted better)."""

    def __init__(self, net: RankNet, mean: np.ndarray, std: np.ndarray, config: PredictorConfig,
                 image_size: int, history: list[dict]):
        self.net, self.mean, self.std, self.config = net.eval(), mean, std, config
        self.image_size, self.history = image_size, history

    def _standardise(self, x: np.ndarray) -> torch.Tensor:
        return torch.from_numpy((x - self.mean) / self.std)

    @torch.no_grad()
    def score_features(self, x: np.ndarray, batch_size: int = 4096) -> np.ndarray:
        out = [self.net(self._standardise(x[i:i + batch_size])) for i in range(0, len(x), batch_size)]
        return torch.cat(out).numpy() if out else np.zeros(0, np.float32)

    def score(self, configs) -> np.ndarray:
        return self.score_features(encode(list(configs), self.config.encoding, self.image_size))


def _stats(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per-channel mean and std over the training set (RNAS standardises inputs on the training set)."""
    mean = x.mean(axis=(0, 2, 3), keepdims=True)[0]
    std = x.std(axis=(0, 2, 3), keepdims=True)[0]
    return mean.astype(np.float32), np.where(std > 0, std, 1.0).astype(np.float32)


def fit(configs, accuracy, config: PredictorConfig = PredictorConfig(), image_size: int = 32,
        features: np.ndarray | None = None) -> RankingPredictor:
    """Fit a predictor on configurations and their accuracies (pass `features` to reuse an encoding)."""
    x = features if features is not None else encode(list(configs), config.encoding, image_size)
    return fit_many(x, accuracy, [config], image_size)[0]


def fit_many(features: np.ndarray, accuracy, configs, image_size: int = 32) -> list[RankingPredictor]:
    """Fit one predictor per configuration on the same networks (`features`, `accuracy`), all at once: the k
    RankNets run as one grouped network (grouped convolutions, batched matrix products), each with its own
    loss, margin, lambda and seed, summed into one objective whose parameters do not interact, so each
    predictor is trained as `fit` alone would train it (the same initialisation, Adam updates elementwise,
    the best-training-tau rule per predictor), up to float rounding. The configurations must agree on
    encoding, epochs, lr and hidden. Why: a fit is hundreds of tiny full-batch steps whose per-operation
    overhead rivals their arithmetic; three losses fit together cost ~0.75 of three fits one by one
    (measured on 70 ERA networks and 100 NAS-Bench-201 cells)."""
    configs = list(configs)
    if not configs:
        return []
    first = configs[0]
    for c in configs[1:]:
        if (c.encoding, c.epochs, c.lr, c.hidden) != (first.encoding, first.epochs, first.lr, first.hidden):
            raise ValueError(f"fit_many got configurations with different encoding/epochs/lr/hidden ({first} and "
                             f"{c}); allowed: configurations that differ only in loss, margins, lam, triplets, seed")
    x = np.asarray(features)
    y = np.asarray(accuracy, dtype=np.float64)
    if len(x) != len(y) or len(y) < 2:
        raise ValueError(f"need at least 2 configurations with one accuracy each; got {len(x)} and {len(y)}")
    # A few hundred tiny full-batch steps: torch's thread pool costs more than it gives (measured on 2 cores:
    # 14.5 s with 2 threads, 1.8 s with 1 for a default-profile fit).
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        return _fit_many(x, y, configs, image_size)
    finally:
        torch.set_num_threads(threads)


def _fit_many(x: np.ndarray, y: np.ndarray, configs: list, image_size: int) -> list[RankingPredictor]:
    import torch.nn.functional as F

    k, first = len(configs), configs[0]
    mean, std = _stats(x)
    xt = torch.from_numpy((x - mean) / std)
    span = y.max() - y.min()
    yt = torch.tensor((y - y.min()) / (span if span > 0 else 1.0), dtype=torch.float32)
    channels, grid = x.shape[1], tuple(x.shape[2:])
    nets = []
    for c in configs:  # each initialised exactly as a fit of its own (the seed, then the net)
        torch.manual_seed(c.seed)
        nets.append(RankNet(channels, c.hidden, grid))
    gens = [torch.Generator().manual_seed(c.seed) for c in configs]
    # the k networks' layers side by side: convolutions and batch norms along the channels (groups = k keeps
    # the networks apart; batch-norm statistics are per channel, so per network), linear layers stacked
    bodies = [n.body for n in nets]
    cat = {name: torch.cat([get(b).detach() for b in bodies]).clone().requires_grad_()
           for name, get in (("w1", lambda b: b[0].weight), ("g1", lambda b: b[1].weight), ("b1", lambda b: b[1].bias),
                             ("w2", lambda b: b[3].weight), ("c2", lambda b: b[3].bias),
                             ("g2", lambda b: b[4].weight), ("b2", lambda b: b[4].bias))}
    stk = {name: torch.stack([get(n).detach() for n in nets]).clone().requires_grad_()
           for name, get in (("l1w", lambda n: n.body[7].weight.t()), ("l1b", lambda n: n.body[7].bias[None]),
                             ("l2w", lambda n: n.body[9].weight.t()), ("l2b", lambda n: n.body[9].bias[None]),
                             ("ow", lambda n: n.out.weight.t()), ("ob", lambda n: n.out.bias[None]))}
    params = {**cat, **stk}
    running = {name: torch.cat([getattr(b[i], stat) for b in bodies]).clone()
               for name, i, stat in (("m1", 1, "running_mean"), ("v1", 1, "running_var"),
                                     ("m2", 4, "running_mean"), ("v2", 4, "running_var"))}
    bn1, bn2 = bodies[0][1], bodies[0][4]
    xk = xt.repeat(1, k, 1, 1)
    n = len(y)

    def forward(train: bool) -> tuple[torch.Tensor, torch.Tensor]:
        h = F.conv2d(xk, params["w1"], None, padding=1, groups=k)
        h = F.relu(F.batch_norm(h, running["m1"], running["v1"], params["g1"], params["b1"], train, bn1.momentum,
                                bn1.eps))
        h = F.conv2d(h, params["w2"], params["c2"], padding=1, groups=k)
        h = F.relu(F.batch_norm(h, running["m2"], running["v2"], params["g2"], params["b2"], train, bn2.momentum,
                                bn2.eps))
        h = h.reshape(n, k, -1).transpose(0, 1)  # (k, n, hidden x grid): each network's flattened features
        h = F.relu(torch.baddbmm(params["l1b"], h, params["l1w"]))
        feats = F.relu(torch.baddbmm(params["l2b"], h, params["l2w"]))
        return feats, torch.baddbmm(params["ob"], feats, params["ow"]).squeeze(-1)

    # foreach: the same Adam arithmetic in a few calls instead of ~10 per parameter tensor
    opt = torch.optim.Adam(params.values(), lr=first.lr, foreach=True)
    label_sign = np.sign(y[:, None] - y[None, :])  # the labels' side of the training tau, once per fit
    label_pairs = float(np.abs(label_sign).sum())
    best_tau, best_state, history = [-math.inf] * k, [None] * k, [[] for _ in range(k)]
    for epoch in range(first.epochs):
        feats, s = forward(True)
        losses = []
        for m, c in enumerate(configs):
            if c.loss == "mse":
                loss = torch.mean((s[m] - yt) ** 2)
            else:
                loss = pairwise_hinge_loss(s[m], yt, c.margin)
                if c.loss == "pairwise_continuity":
                    loss = loss + c.lam * continuity_loss(feats[m], yt, c.continuity_margin, c.triplets, gens[m])
            losses.append(loss)
        opt.zero_grad(set_to_none=True)
        torch.stack(losses).sum().backward()
        opt.step()
        with torch.no_grad():
            _, scores = forward(False)
        scores = scores.numpy().astype(np.float64)
        for m in range(k):  # Kendall's tau-b against the labels (as _tau_b_small), the labels' signs reused
            sa = np.sign(scores[m][:, None] - scores[m][None, :])
            den = math.sqrt(float(np.abs(sa).sum()) * label_pairs)
            tau = float((sa * label_sign).sum() / den) if den > 0 else math.nan
            history[m].append({"epoch": epoch + 1, "loss": losses[m].item(), "train_tau": tau})
            if tau > best_tau[m]:  # RNAS keeps the weights with the best training Kendall tau
                best_tau[m] = tau
                best_state[m] = _slice_state(params, running, m, channels, first.hidden)
    out = []
    for m, (net, c) in enumerate(zip(nets, configs)):
        if best_state[m] is not None:
            net.load_state_dict(best_state[m], strict=False)  # num_batches_tracked: unused (momentum is set)
        out.append(RankingPredictor(net, mean, std, c, image_size, history[m]))
    return out


def _slice_state(params: dict, running: dict, m: int, channels: int, hidden: int) -> dict:
    """Network m's RankNet state dict, copied out of the grouped parameters."""
    a, b = slice(m * 2 * channels, (m + 1) * 2 * channels), slice(m * hidden, (m + 1) * hidden)
    with torch.no_grad():
        state = {"body.0.weight": params["w1"][a], "body.1.weight": params["g1"][a], "body.1.bias": params["b1"][a],
                 "body.1.running_mean": running["m1"][a], "body.1.running_var": running["v1"][a],
                 "body.3.weight": params["w2"][b], "body.3.bias": params["c2"][b],
                 "body.4.weight": params["g2"][b], "body.4.bias": params["b2"][b],
                 "body.4.running_mean": running["m2"][b], "body.4.running_var": running["v2"][b],
                 "body.7.weight": params["l1w"][m].t(), "body.7.bias": params["l1b"][m, 0],
                 "body.9.weight": params["l2w"][m].t(), "body.9.bias": params["l2b"][m, 0],
                 "out.weight": params["ow"][m].t(), "out.bias": params["ob"][m, 0]}
        return {key: v.detach().clone() for key, v in state.items()}


# ---------------------------------------------------------------------------------------------- studies
def split_indices(n: int, test_fraction: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """A seeded train/test split of n architectures."""
    perm = np.random.default_rng(seed).permutation(n)
    n_test = max(1, int(round(test_fraction * n)))
    return np.sort(perm[n_test:]), np.sort(perm[:n_test])


def hamming_distances(configs, space) -> np.ndarray:
    """(N, N) integer matrix: how many parameters of the space's flat form (`space.choices()`) differ between
    two configurations. One mutation or one local-search step changes exactly one parameter (a depth by 1 or 2,
    or another block, filter count, update or group size), so distance 1 is "one search step apart": the near
    neighbours an evolution's or a local search's archive is full of. Pass canonical configurations."""
    keys = list(space.choices())
    flats = [space.flat(c) for c in configs]
    codes = np.zeros((len(flats), len(keys)), np.int64)
    for j, k in enumerate(keys):
        index: dict = {}
        codes[:, j] = [index.setdefault(f[k], len(index)) for f in flats]
    return (codes[:, None, :] != codes[None, :, :]).sum(axis=2)


def neighbourhood_split(distances: np.ndarray, test_fraction: float, seed: int, radius: int = 1,
                        min_train: int = 2) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """A train/test split that holds out whole neighbourhoods: no held-out network lies within `radius` of a
    training network (`distances`, e.g. `hamming_distances`). Returns (train, test, dropped) index arrays.

    Neighbourhoods are the connected components of the graph that links networks at distance <= radius
    (single linkage: members of two components are always more than `radius` apart). Whole components, in a
    seeded random order, are held out while they fit in what remains of round(test_fraction * n). When no
    whole component fits any more and the target is not met, the smallest remaining component is cut: the
    members nearest one of its members (chosen at random) are held out, and its members within `radius` of
    those are dropped, neither trained on nor tested (`dropped`), which keeps the guarantee."""
    d = np.asarray(distances)
    n = len(d)
    if d.shape != (n, n):
        raise ValueError(f"distances has shape {d.shape}; allowed: a square (n, n) matrix")
    if not 0 < test_fraction < 1:
        raise ValueError(f"test_fraction={test_fraction} is out of range; allowed: strictly between 0 and 1")
    from scipy.sparse import csr_matrix
    from scipy.sparse.csgraph import connected_components

    target = max(1, int(round(test_fraction * n)))
    _, comp = connected_components(csr_matrix(d <= radius), directed=False)
    rng = np.random.default_rng(seed)
    order = rng.permutation(comp.max() + 1 if n else 0)
    held = np.zeros(n, bool)
    dropped = np.zeros(n, bool)
    for c in order:
        members = np.flatnonzero(comp == c)
        if len(members) <= target - held.sum():
            held[members] = True
    need = target - int(held.sum())
    if need > 0:
        left = [c for c in order if not held[comp == c].any()]
        c = min(left, key=lambda c: (comp == c).sum())  # the first of the smallest, in the seeded order
        members = np.flatnonzero(comp == c)
        centre = members[rng.integers(len(members))]
        near = members[np.lexsort((members, d[centre, members]))][:need]  # nearest first, ties by index
        held[near] = True
        rest = np.setdiff1d(members, near)
        dropped[rest[(d[np.ix_(rest, near)] <= radius).any(axis=1)]] = True
    train = ~held & ~dropped
    if train.sum() < min_train:
        raise ValueError(f"holding out {held.sum()} of {n} networks at radius={radius} leaves {train.sum()} to "
                         f"train on ({dropped.sum()} dropped as neighbours of held-out ones); allowed: a radius, "
                         f"test_fraction or label set that leaves at least {min_train}")
    return np.flatnonzero(train), np.flatnonzero(held), np.flatnonzero(dropped)


# ---------------------------------------------------------------------------------------------- the peer
FOREST = "random_forest"  # the E2EPP-style peer's name in the `loss` column of the studies


@dataclass(frozen=True)
class ForestConfig:
    """The E2EPP-style peer: E2EPP (Sun et al. 2019, rnas.txt reference [20]) is "an end-to-end offline
    performance predictor based on random forest", an ensemble of regression trees fit to accuracy. Here:
    scikit-learn's RandomForestRegressor with its defaults (bootstrap samples, every feature considered at each
    split, squared error) and `trees` trees. RNAS could not use E2EPP's block encoding on NAS-Bench-101 and fed
    it RNAS's own feature tensor, "the other parts remain unchanged" (§4.1); so here: our ERA feature tensor,
    flattened, the same input as our predictor."""
    encoding: str = "tensor"
    trees: int = 100
    seed: int = 0

    def __post_init__(self):
        if self.encoding not in ENCODINGS:
            raise ValueError(f"encoding={self.encoding!r} is unknown; allowed: {', '.join(ENCODINGS)}")
        if self.trees < 1:
            raise ValueError(f"trees={self.trees}; allowed: >= 1")

    def replace(self, **kw) -> "ForestConfig":
        return replace(self, **kw)


class ForestPredictor:
    """A fitted random forest: scores configurations (higher = predicted more accurate)."""

    def __init__(self, model, config: ForestConfig, image_size: int, train_tau: float):
        self.model, self.config, self.image_size, self.train_tau = model, config, image_size, train_tau

    def score_features(self, x: np.ndarray) -> np.ndarray:
        if len(x) == 0:
            return np.zeros(0, np.float64)
        flat = np.ascontiguousarray(np.asarray(x).reshape(len(x), -1), dtype=np.float32)
        # The mean of the trees' own predictions is what RandomForestRegressor.predict computes (a test checks
        # it); calling the trees directly skips the input checks that cost ~5 ms per call, which dominated
        # predictor-guided evolution (one configuration per call).
        trees = self.model.estimators_
        return sum(t.tree_.predict(flat).reshape(len(flat), -1)[:, 0] for t in trees) / len(trees)

    def score(self, configs) -> np.ndarray:
        return self.score_features(encode(list(configs), self.config.encoding, self.image_size))


def fit_forest(configs, accuracy, config: ForestConfig = ForestConfig(), image_size: int = 32,
               features: np.ndarray | None = None) -> ForestPredictor:
    """Fit the E2EPP-style peer on configurations and accuracies (pass `features` to reuse an encoding)."""
    from sklearn.ensemble import RandomForestRegressor

    x = features if features is not None else encode(list(configs), config.encoding, image_size)
    y = np.asarray(accuracy, dtype=np.float64)
    if len(x) != len(y) or len(y) < 2:
        raise ValueError(f"need at least 2 configurations with one accuracy each; got {len(x)} and {len(y)}")
    flat = np.asarray(x, dtype=np.float32).reshape(len(x), -1)
    model = RandomForestRegressor(n_estimators=config.trees, random_state=config.seed, n_jobs=1).fit(flat, y)
    pred = ForestPredictor(model, config, image_size, math.nan)
    pred.train_tau = kendall_tau(pred.score_features(flat), y)
    return pred


# ---------------------------------------------------------------------------------------------- the studies
def fraction_study(configs, accuracy, fractions, encodings=ENCODINGS, losses=("mse", "pairwise"),
                   base: PredictorConfig = PredictorConfig(), test_fraction: float = 0.3, seeds=(0,),
                   image_size: int = 32, progress: bool = True, splits=None,
                   forest: ForestConfig | None = None) -> pd.DataFrame:
    """Kendall tau on held-out architectures against the fraction of the remaining ones used for training
    (RNAS Table 2's shape): one row per (split, seed, encoding, loss, fraction).

    `splits`: (name, seed, train_idx, test_idx) tuples; default: a random split (`split_indices`) per seed.
    Within a split, every model is trained on the same subsample (equal training cost). `forest` adds the
    E2EPP-style peer (loss column: FOREST)."""
    configs, y = list(configs), np.asarray(accuracy, dtype=np.float64)
    if splits is None:
        splits = [("random", s, *split_indices(len(y), test_fraction, s)) for s in seeds]
    splits = list(splits)
    models = [(e, l) for e in encodings for l in losses]
    if forest is not None:
        models.append((forest.encoding, FOREST))
    feats = {e: encode(configs, e, image_size) for e in {e for e, _ in models}}
    grid = [(sp, e, l, f) for sp in splits for e, l in models for f in fractions]
    rows = []
    bar = None
    if progress:
        from resnas.progress import tqdm
        bar = tqdm(total=len(grid), desc="predictor fits", leave=False)
    for (name, seed, train_idx, test_idx), enc, loss, frac in grid:
        n_train = max(2, int(round(frac * len(train_idx))))
        sub = np.random.default_rng(seed + 1).permutation(train_idx)[:n_train]
        t0 = time.perf_counter()
        if loss == FOREST:
            pred = fit_forest(None, y[sub], forest.replace(seed=seed), image_size, features=feats[enc][sub])
            train_tau = pred.train_tau
        else:
            pred = fit(None, y[sub], base.replace(encoding=enc, loss=loss, seed=seed), image_size,
                       features=feats[enc][sub])
            train_tau = max(h["train_tau"] for h in pred.history)
        fit_seconds = time.perf_counter() - t0
        rows.append({"split": name, "seed": seed, "encoding": enc, "loss": loss, "fraction": frac,
                     "n_train": len(sub), "n_test": len(test_idx),
                     "tau": kendall_tau(pred.score_features(feats[enc][test_idx]), y[test_idx]),
                     "train_tau": train_tau, "fit_seconds": fit_seconds})
        if bar is not None:
            bar.update(1)
    if bar is not None:
        bar.close()
    return pd.DataFrame(rows)


def predictor_guided_evolution(predictor, space, steps: int = 1000, population_size: int = 50, seed: int = 0,
                               top: int = 5, method: str = "predictor-guided evolution",
                               prescore_limit: int = 50_000) -> pd.DataFrame:
    """RNAS Algorithm 1: regularized evolution over `space` with the predictor's score as fitness (no
    training at all). `predictor`: anything with `score(configs)` (a RankingPredictor, a ForestPredictor).
    Returns the `top` distinct configurations it met, best predicted first.

    A space of at most `prescore_limit` configurations that can list itself (`enumerate`) is scored whole, in
    one batch, before the evolution starts: scoring one configuration per step costs ~2-5 ms of encoding and
    call overhead, a batch a few microseconds per configuration. The evolution and what it returns are the
    same; only configurations it met are ranked."""
    from resnas.search import make_strategy

    scores: dict = {}
    listing = getattr(space, "enumerate", None)
    if listing is not None and space.size() <= prescore_limit:
        every = list(dict.fromkeys(space.unflat(space.flat(c)) for c in listing()))
        scores = dict(zip(every, (float(v) for v in predictor.score(every))))
    strategy = make_strategy("regularized_evolution", space=space, seed=seed, population_size=population_size)
    met: dict = {}
    for _ in range(steps):
        cfg = strategy.ask()
        if cfg not in met:
            met[cfg] = scores[cfg] if cfg in scores else float(predictor.score([cfg])[0])
        strategy.tell(cfg, -met[cfg])  # strategies minimise
    best = sorted(met.items(), key=lambda kv: -kv[1])[:top]
    return pd.DataFrame({"config": [c.to_json() for c, _ in best], "network": [str(c) for c, _ in best],
                         "score": [s for _, s in best], "method": method})


def exhaustive_top(predictor, space, n: int = 10_000, seed: int = 0, top: int = 5
                   ) -> tuple[pd.DataFrame, float]:
    """The public RNAS code's search: score a large random sample, keep the best. Returns the top rows and
    the seconds spent encoding and scoring the sample."""
    rng = np.random.default_rng(seed)
    sample = list(dict.fromkeys(space.sample(rng) for _ in range(n)))
    t0 = time.perf_counter()
    scores = predictor.score(sample)
    seconds = time.perf_counter() - t0
    order = np.argsort(-scores)[:top]
    rows = pd.DataFrame({"config": [sample[i].to_json() for i in order], "network": [str(sample[i]) for i in order],
                         "score": scores[order], "method": f"best of {len(sample)} scored"})
    return rows, seconds
