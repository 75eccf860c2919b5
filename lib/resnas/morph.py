"""Weight-preserving network morphisms for ECToNAS on a sequential CNN.

The network (`SeqCNN`, built from a frozen `SeqGenome`; both in `resnas.spaces.sequential`) is a stack of
conv cells (`ConvLayer`s)
    Conv2d(3x3, padding 1, bias) -> optional 2x2/stride-2 pool -> BatchNorm2d -> ReLU
(the paper's order), then flatten, then hidden Linear+ReLU layers, then the classifier Linear.
Pools use PyTorch's floor mode: an odd map loses its last row/column.

Every operation takes a model and returns `(new_model, MorphReport)`; the input is deep-copied, never mutated.
Indices: `cell`-type operations index the conv cells (0 = first cell); `dense`-type operations index the hidden
dense layers (0 = first layer after the flatten); the classifier is never an operand.

What is exact (eval mode, i.e. batch norm using its running statistics):
  add_dense_layer     exact: identity Linear after a ReLU, and relu(relu(v)) = relu(v).
  widen_dense         exact (Net2Net): copies have identical activations, the next layer splits their weight.
  widen_conv          exact: as widen_dense, with the batch-norm statistics replicated per channel.
  add_conv_cell       exact with pool=None when its input is nonnegative, i.e. at every index > 0 (the input is
                      a ReLU output) and at index 0 only for nonnegative images. With a pool: approximate (exact
                      when the map entering the new pool is constant over each 2x2 window, adapt='structured').
  set_pooling         approximate (pooling discards information; see `pool_dense_weights`).
  remove_dense_units  approximate: SVD truncation is exact for the linear part only; the ReLU between the two
                      layers does not commute with the rotation U_k, so even full rank changes the output.
  remove_dense_layer  approximate: merges two Linear maps, ignoring the ReLU between them.
  remove_conv_channels approximate; exact (fold='weights') for channels whose gamma is exactly 0 when the next
                      layer is the first dense layer; with a next conv, exact except at that conv's border pixels
                      (its zero padding sees less of the folded constant).
  remove_conv_cell    approximate; the exact inverse of add_conv_cell(pool=None) (same widths, beta = 0).
Use `output_change(before, after, x)` to measure an approximate operation.
"""
from __future__ import annotations

import copy
from dataclasses import dataclass
from typing import Optional

import torch
from torch import nn

# The sequential-CNN space these morphisms act on lives in resnas.spaces.sequential; `build` is re-exported so
# that `morph.build(genome)` keeps working for callers that grow a network and morph it.
from resnas.spaces.sequential import (POOLS, WINDOW, SeqCNN, SeqGenome, _pool_kind, _pool_module,  # noqa: F401
                                      build, count_params, genome_of)

FOLDS = ("weights", "scalar")
ADAPTS = ("structured", "paper", "random")


@dataclass(frozen=True)
class MorphReport:
    op: str
    location: int
    params_before: int
    params_after: int


@torch.no_grad()
def output_change(before: nn.Module, after: nn.Module, x: torch.Tensor) -> float:
    """Max absolute difference of the two models' eval-mode outputs on x (their modes are restored)."""
    modes = before.training, after.training
    before.eval()
    after.eval()
    try:
        return (before(x) - after(x)).abs().max().item()
    finally:
        before.train(modes[0])
        after.train(modes[1])


# ------------------------------------------------------------------------------------------- small helpers


def _check_index(name: str, value: int, allowed: range, why: str = "") -> None:
    if value in allowed:
        return
    if len(allowed) == 0:
        raise ValueError(f"{name}={value} is invalid; no value is allowed here{': ' + why if why else ''}")
    raise ValueError(f"{name}={value} is invalid; allowed: {allowed.start}..{allowed.stop - 1}"
                     f"{' (' + why + ')' if why else ''}")


def _check_choice(name: str, value, allowed: tuple) -> None:
    if value not in allowed:
        raise ValueError(f"{name}={value!r} is invalid; allowed: {allowed}")


def _linear(weight: torch.Tensor, bias: torch.Tensor) -> nn.Linear:
    layer = nn.Linear(weight.shape[1], weight.shape[0], device=weight.device, dtype=weight.dtype)
    with torch.no_grad():
        layer.weight.copy_(weight)
        layer.bias.copy_(bias)
    return layer


def _conv(weight: torch.Tensor, bias: torch.Tensor) -> nn.Conv2d:
    conv = nn.Conv2d(weight.shape[1], weight.shape[0], 3, padding=1, bias=True,
                     device=weight.device, dtype=weight.dtype)
    with torch.no_grad():
        conv.weight.copy_(weight)
        conv.bias.copy_(bias)
    return conv


def _norm(like: nn.BatchNorm2d, gamma, beta, mean, var) -> nn.BatchNorm2d:
    """A batch norm with the hyper-parameters (eps, momentum) of `like` and the given per-channel tensors."""
    norm = nn.BatchNorm2d(gamma.numel(), eps=like.eps, momentum=like.momentum,
                          device=gamma.device, dtype=gamma.dtype)
    with torch.no_grad():
        norm.weight.copy_(gamma)
        norm.bias.copy_(beta)
        norm.running_mean.copy_(mean)
        norm.running_var.copy_(var)
        norm.num_batches_tracked.copy_(like.num_batches_tracked)
    return norm


def _norm_tensors(norm: nn.BatchNorm2d) -> tuple[torch.Tensor, ...]:
    return norm.weight.detach(), norm.bias.detach(), norm.running_mean, norm.running_var


def _start(model: SeqCNN) -> tuple[SeqCNN, int]:
    return copy.deepcopy(model), count_params(model)


def _finish(new: SeqCNN, op: str, location: int, params_before: int) -> tuple[SeqCNN, MorphReport]:
    genome_of(new)  # validates the result's shapes
    return new, MorphReport(op, location, params_before, count_params(new))


def _linears(model: SeqCNN) -> list[nn.Linear]:
    return list(model.dense) + [model.head]


def _set_linear(model: SeqCNN, position: int, layer: nn.Linear) -> None:
    """Position counts the hidden layers then the classifier (position len(dense) is the head)."""
    if position < len(model.dense):
        model.dense[position] = layer
    else:
        model.head = layer


# The layer that reads a conv cell's output is the next conv or, for the last cell, the first dense layer.
# Both are viewed as a weight of shape (out, channels, taps): 9 kernel taps, or H*W map positions behind the
# flatten (which orders features channel-major). Channel surgery is then the same for both.


def _consumer(model: SeqCNN, cell: int) -> tuple[torch.Tensor, torch.Tensor]:
    if cell + 1 < len(model.convs):
        nxt = model.convs[cell + 1]
        return nxt.weight.detach().flatten(2), nxt.bias.detach()
    first = _linears(model)[0]
    channels = model.convs[cell].out_channels
    return first.weight.detach().reshape(first.out_features, channels, -1), first.bias.detach()


def _set_consumer(model: SeqCNN, cell: int, weight3: torch.Tensor, bias: torch.Tensor) -> None:
    if cell + 1 < len(model.convs):
        model.convs[cell + 1] = _conv(weight3.reshape(*weight3.shape[:2], 3, 3), bias)
    else:
        _set_linear(model, 0, _linear(weight3.flatten(1), bias))


def _net2net_mapping(n: int, extra: int, generator) -> tuple[torch.Tensor, torch.Tensor]:
    """Net2Net's g: new unit j copies old unit g(j); g is the identity on the first n units, random after.
    Returns g and, per new unit, how many units copy the same old unit (the next layer divides by it)."""
    g = torch.cat([torch.arange(n), torch.randint(0, n, (extra,), generator=generator)])
    copies = torch.bincount(g, minlength=n)[g]
    return g, copies


# ----------------------------------------------------------------------------------------------- dense grow


def add_dense_layer(model: SeqCNN, index: int) -> tuple[SeqCNN, MorphReport]:
    """Insert an identity hidden layer so that it becomes dense[index]. Exact because its input is a ReLU
    output (nonnegative): relu(I v + 0) = v. Index 0 (right after the flatten) is therefore allowed only when
    a conv cell precedes the flatten; with no cells the flatten carries the raw, possibly negative, input."""
    lowest = 0 if len(model.convs) else 1
    _check_index("index", index, range(lowest, len(model.dense) + 1),
                 "" if lowest == 0 else "index 0 would follow the raw input, not a ReLU")
    new, before = _start(model)
    width = _linears(model)[index].in_features
    ref = _linears(model)[index].weight
    identity = _linear(torch.eye(width, dtype=ref.dtype, device=ref.device),
                       torch.zeros(width, dtype=ref.dtype, device=ref.device))
    new.dense.insert(index, identity)
    return _finish(new, "add_dense_layer", index, before)


def widen_dense(model: SeqCNN, index: int, extra: int,
                generator: Optional[torch.Generator] = None) -> tuple[SeqCNN, MorphReport]:
    """Net2WiderNet on hidden layer `index`: `extra` new units copy random existing ones (incoming weights and
    bias); the next layer's column of every copied unit is divided by its copy count. Exact."""
    _check_index("index", index, range(len(model.dense)))
    _check_index("extra", extra, range(1, 2**31))
    new, before = _start(model)
    layer, nxt = _linears(model)[index], _linears(model)[index + 1]
    g, copies = _net2net_mapping(layer.out_features, extra, generator)
    new.dense[index] = _linear(layer.weight.detach()[g], layer.bias.detach()[g])
    _set_linear(new, index + 1, _linear(nxt.weight.detach()[:, g] / copies, nxt.bias.detach()))
    return _finish(new, "widen_dense", index, before)


# ------------------------------------------------------------------------------------------------ conv grow


def widen_conv(model: SeqCNN, index: int, extra: int,
               generator: Optional[torch.Generator] = None) -> tuple[SeqCNN, MorphReport]:
    """Net2WiderNet on conv cell `index`: replicate output channels through the conv and its batch norm
    (gamma, beta, running mean and variance, so the copies normalise identically in eval mode); the consumer
    (next conv's input channels, or the first dense layer's columns of that channel) is divided by copy
    count. Exact."""
    _check_index("index", index, range(len(model.convs)))
    _check_index("extra", extra, range(1, 2**31))
    new, before = _start(model)
    conv, norm = model.convs[index], model.norms[index]
    g, copies = _net2net_mapping(conv.out_channels, extra, generator)
    new.convs[index] = _conv(conv.weight.detach()[g], conv.bias.detach()[g])
    new.norms[index] = _norm(norm, *(t[g] for t in _norm_tensors(norm)))
    weight3, bias = _consumer(model, index)
    _set_consumer(new, index, weight3[:, g, :] / copies[None, :, None].to(weight3.dtype), bias)
    return _finish(new, "widen_conv", index, before)


def add_conv_cell(model: SeqCNN, index: int, pool: Optional[str] = None,
                  generator: Optional[torch.Generator] = None,
                  adapt: str = "structured") -> tuple[SeqCNN, MorphReport]:
    """Insert an identity cell so that it becomes cell `index`: 3x3 conv with centre tap 1 on the channel
    diagonal and zero bias, width equal to its input, batch norm at identity (gamma 1, beta 0, running mean 0,
    running variance 1 - eps, so (x - 0) / sqrt(1 - eps + eps) = x), ReLU.

    With pool=None this is exact wherever the input is nonnegative: at index > 0 (a ReLU output) always, at
    index 0 only for nonnegative images (a negative pixel is clipped by the new ReLU). Index 0 is allowed
    because it is the only way from a dense-only network to a CNN. A pool is then added with `set_pooling`
    (same `adapt`, `generator`), which is approximate."""
    _check_index("index", index, range(len(model.convs) + 1))
    _check_choice("pool", pool, POOLS)
    _check_choice("adapt", adapt, ADAPTS)
    genome = genome_of(model)
    if pool is not None and genome.flat_size < WINDOW:
        raise ValueError(f"pool={pool!r} is invalid here: the {genome.flat_size}px map cannot be pooled; "
                         f"allowed: None")
    new, before = _start(model)
    width = model.convs[index - 1].out_channels if index > 0 else model.in_channels
    ref = model.head.weight
    kernel = torch.zeros(width, width, 3, 3, dtype=ref.dtype, device=ref.device)
    kernel[torch.arange(width), torch.arange(width), 1, 1] = 1.0
    like = nn.BatchNorm2d(width)
    ones = torch.ones(width, dtype=ref.dtype, device=ref.device)
    new.convs.insert(index, _conv(kernel, torch.zeros_like(ones)))
    new.pools.insert(index, nn.Identity())
    new.norms.insert(index, _norm(like, ones, torch.zeros_like(ones), torch.zeros_like(ones),
                                  ones - like.eps))
    if pool is not None:
        new, _ = set_pooling(new, index, pool, adapt=adapt, generator=generator)
    return _finish(new, "add_conv_cell", index, before)


# -------------------------------------------------------------------------------------------------- pooling
# Changing a pool only changes the spatial size seen by the first dense layer (convs do not care about map
# size). Its columns, viewed as maps (out, C, S, S), are mapped between the old and the new final map: a
# pooled position p covers positions 2p, 2p+1 of the larger map in each direction (floor mode).


def pool_dense_weights(weight4: torch.Tensor, pool: str, adapt: str = "structured",
                       generator: Optional[torch.Generator] = None) -> torch.Tensor:
    """Weights over an (S, S) map -> weights over the (S//2, S//2) pooled map.

    structured: sum over each window. For a map that is constant over each window, both average and max
        pooling return that constant, and sum_s w_s x = x * sum_s w_s: exact, and it keeps the pre-activation
        scale. (The mean, the paper's choice for average pooling, shrinks it by the window size, 4.)
    paper: the pool's own aggregation, as in the paper's A.2: the mean for average pooling, and for max
        pooling the weight of largest magnitude (sign kept).
    random: the weight of one position of the window drawn at random (the paper's random cutting)."""
    s = weight4.shape[-1] // WINDOW
    # (out, C, s, 2, s, 2) -> (out, C, s, s, 4): each pooled position with its window's four weights.
    windows = weight4[..., : s * WINDOW, : s * WINDOW].reshape(*weight4.shape[:2], s, WINDOW, s, WINDOW)
    windows = windows.permute(0, 1, 2, 4, 3, 5).reshape(*weight4.shape[:2], s, s, WINDOW * WINDOW)
    if adapt == "structured":
        return windows.sum(-1)
    if adapt == "paper":
        if pool == "avg":
            return windows.mean(-1)
        pick = windows.abs().argmax(-1, keepdim=True)
        return windows.gather(-1, pick).squeeze(-1)
    pick = torch.randint(0, WINDOW * WINDOW, windows.shape[:-1] + (1,), generator=generator)
    return windows.gather(-1, pick.to(windows.device)).squeeze(-1)


def unpool_dense_weights(weight4: torch.Tensor, size: int, adapt: str = "structured",
                         generator: Optional[torch.Generator] = None) -> torch.Tensor:
    """Weights over a pooled (s, s) map -> weights over the (size, size) map it came from (size // 2 == s).

    structured: repeat each weight over its window divided by the window size (4), so that summing the window
        (the structured pooling above) gives the original back; exact for removing an average pool right
        before the dense layer: sum_s (w/4) x_s = w * mean(x).
    paper: repeat unchanged, so that the pool's own aggregation (mean or max) gives the original back.
    random: every position takes the weight of a randomly drawn pooled position of the same channel.
    Positions a floor-mode pool dropped (last row/column of an odd map) get weight 0: they were unseen."""
    out, channels, s, _ = weight4.shape
    result = weight4.new_zeros(out, channels, size, size)
    if adapt == "random":
        source = torch.randint(0, s * s, (size * size,), generator=generator).to(weight4.device)
        return weight4.flatten(2)[:, :, source].reshape(out, channels, size, size)
    scale = 1.0 / WINDOW**2 if adapt == "structured" else 1.0
    repeated = weight4.repeat_interleave(WINDOW, dim=2).repeat_interleave(WINDOW, dim=3)
    result[..., : s * WINDOW, : s * WINDOW] = repeated * scale
    return result


def set_pooling(model: SeqCNN, index: int, pool: Optional[str], adapt: str = "structured",
                generator: Optional[torch.Generator] = None) -> tuple[SeqCNN, MorphReport]:
    """Give cell `index` the pool `pool` ('max', 'avg' or None), adapting the first dense layer's incoming
    weights with `pool_dense_weights` (adding a pool) or `unpool_dense_weights` (removing one); switching
    between max and avg keeps the map size and the weights. Approximate."""
    _check_index("index", index, range(len(model.convs)))
    _check_choice("pool", pool, POOLS)
    _check_choice("adapt", adapt, ADAPTS)
    genome = genome_of(model)
    old = genome.cells[index].pool
    if old is None and pool is not None and genome.flat_size < WINDOW:
        raise ValueError(f"pool={pool!r} is invalid here: the {genome.flat_size}px map cannot be pooled; "
                         f"allowed: None")
    new, before = _start(model)
    new.pools[index] = _pool_module(pool)
    if (old is None) != (pool is None):
        first = _linears(model)[0]
        size, channels = genome.flat_size, genome.flat_channels
        weight4 = first.weight.detach().reshape(first.out_features, channels, size, size)
        if pool is not None:
            weight4 = pool_dense_weights(weight4, pool, adapt, generator)
        else:
            weight4 = unpool_dense_weights(weight4, genome.image_size // WINDOW ** (genome.num_pools - 1),
                                           adapt, generator)
        _set_linear(new, 0, _linear(weight4.flatten(1), first.bias.detach()))
    return _finish(new, "set_pooling", index, before)


# ---------------------------------------------------------------------------------------------- dense shrink


def low_rank_fold(weight: torch.Tensor, bias: torch.Tensor, next_weight: torch.Tensor,
                  next_bias: torch.Tensor, keep: int) -> tuple[torch.Tensor, ...]:
    """SVD split of layer (W, b) followed by (W2, b2), keeping rank `keep`:
    W ~ U_k S_k V_k^T; new layer (S_k V_k^T, U_k^T b), next layer (W2 U_k, b2 + W2 (b - U_k U_k^T b)).
    The bias part U_k^T b loses is passed on through the next layer, so the composition
    W2' (W' x + b') + b2' = W2 (U_k S_k V_k^T x + b) + b2 equals the original linear map at full rank."""
    # The full U also covers keep > in_features (a wide layer): the extra directions carry zero singular
    # values, and U_k^T W = S_k V_k^T gives them zero rows. W' = U_k^T W is that product in any case.
    # Only a wide layer needs full_matrices for that; otherwise the reduced U is already square, and the full
    # V it would compute is in_features squared (12,288 squared on EuroSAT's flatten: seconds per call).
    u = torch.linalg.svd(weight, full_matrices=weight.shape[0] > weight.shape[1])[0]
    u_k = u[:, :keep]
    kept_bias = u_k.T @ bias
    return u_k.T @ weight, kept_bias, next_weight @ u_k, next_bias + next_weight @ (bias - u_k @ kept_bias)


def remove_dense_units(model: SeqCNN, index: int, keep: int) -> tuple[SeqCNN, MorphReport]:
    """Reduce hidden layer `index` to `keep` units by SVD truncation (`low_rank_fold`). Approximate: the ReLU
    after the layer sits between the rotation U_k and the next layer."""
    _check_index("index", index, range(len(model.dense)))
    layer, nxt = _linears(model)[index], _linears(model)[index + 1]
    _check_index("keep", keep, range(1, layer.out_features))
    new, before = _start(model)
    w, b, w2, b2 = low_rank_fold(layer.weight.detach(), layer.bias.detach(), nxt.weight.detach(),
                                 nxt.bias.detach(), keep)
    new.dense[index] = _linear(w, b)
    _set_linear(new, index + 1, _linear(w2, b2))
    return _finish(new, "remove_dense_units", index, before)


def remove_dense_layer(model: SeqCNN, index: int) -> tuple[SeqCNN, MorphReport]:
    """Remove hidden layer `index`, merging it into the next: (W2 W, W2 b + b2). Approximate: the ReLU
    between them is ignored."""
    _check_index("index", index, range(len(model.dense)))
    new, before = _start(model)
    layer, nxt = _linears(model)[index], _linears(model)[index + 1]
    w2 = nxt.weight.detach()
    _set_linear(new, index + 1, _linear(w2 @ layer.weight.detach(), w2 @ layer.bias.detach()
                                        + nxt.bias.detach()))
    del new.dense[index]
    return _finish(new, "remove_dense_layer", index, before)


# ----------------------------------------------------------------------------------------------- conv shrink


def _drop_channels(model: SeqCNN, new: SeqCNN, index: int, removed: torch.Tensor, fold: str) -> None:
    """Remove output channels `removed` of cell `index` from `model` into `new` (same architecture so far).
    A removed channel is replaced by the constant relu(beta): its exact eval output when gamma = 0, and its
    output at the running mean otherwise. 'weights' adds that constant through the consumer's weights (summed
    over taps or map positions); 'scalar' adds beta itself to every consumer bias (the authors' code)."""
    conv, norm = model.convs[index], model.norms[index]
    mask = torch.ones(conv.out_channels, dtype=torch.bool)
    mask[removed] = False
    new.convs[index] = _conv(conv.weight.detach()[mask], conv.bias.detach()[mask])
    new.norms[index] = _norm(norm, *(t[mask] for t in _norm_tensors(norm)))
    weight3, bias = _consumer(model, index)
    beta = norm.bias.detach()[removed]
    if fold == "weights":
        bias = bias + weight3[:, removed, :].sum(-1) @ torch.relu(beta)
    else:
        bias = bias + beta.sum()
    _set_consumer(new, index, weight3[:, mask, :], bias)


def remove_conv_channels(model: SeqCNN, index: int, count: int,
                         fold: str = "weights") -> tuple[SeqCNN, MorphReport]:
    """Remove the `count` channels of cell `index` with the smallest |gamma| (Liu et al.), folding each into
    the consumer's bias (see `_drop_channels`)."""
    _check_index("index", index, range(len(model.convs)))
    _check_index("count", count, range(1, model.convs[index].out_channels))
    _check_choice("fold", fold, FOLDS)
    new, before = _start(model)
    removed = model.norms[index].weight.detach().abs().argsort()[:count]
    _drop_channels(model, new, index, removed, fold)
    return _finish(new, "remove_conv_channels", index, before)


def remove_conv_cell(model: SeqCNN, index: int, generator: Optional[torch.Generator] = None,
                     fold: str = "weights") -> tuple[SeqCNN, MorphReport]:
    """Remove cell `index` (spec): first make its output width equal its input width (drop lowest-|gamma|
    channels with `fold`, or widen by Net2Net replication with `generator`), so the consumer can read the
    cell's input instead; then drop conv, batch norm and ReLU, treating the cell as x_c + beta_c: each kept
    channel's beta is folded into the consumer's bias through its weights. If the cell pooled, the first dense
    layer is un-pooled (`unpool_dense_weights`, structured). Approximate; the exact inverse of
    `add_conv_cell(pool=None)`."""
    _check_index("index", index, range(len(model.convs)))
    _check_choice("fold", fold, FOLDS)
    params_before = count_params(model)
    width_in = model.convs[index - 1].out_channels if index > 0 else model.in_channels
    width_out = model.convs[index].out_channels
    if width_out > width_in:
        model, _ = remove_conv_channels(model, index, width_out - width_in, fold)
    elif width_out < width_in:
        model, _ = widen_conv(model, index, width_in - width_out, generator)
    if _pool_kind(model.pools[index]) is not None:
        model, _ = set_pooling(model, index, None)
    new = copy.deepcopy(model)  # `model` may still be the caller's (no step above ran): never edit it
    weight3, bias = _consumer(model, index)
    beta = model.norms[index].bias.detach()
    _set_consumer(new, index, weight3, bias + weight3.sum(-1) @ beta)
    for layers in (new.convs, new.pools, new.norms):
        del layers[index]
    return _finish(new, "remove_conv_cell", index, params_before)


# ------------------------------------------------------------------------------------- ERA ResNets
# The paper names residual networks as ECToNAS's main limitation. Growth on ERA ResNets stays exact:
# a block whose last batch norm has gamma = beta = 0 adds nothing to the identity shortcut, and relu(x) = x on
# the block input, which is itself a ReLU output. Widening doubles every channel of the network at once (the
# ERA space ties all widths to `filters`): interleaved copies keep each residual stream a duplicate of itself,
# so the additions stay consistent, and grouped convolutions keep their group count with twice the channels
# per group. Shrinking through residual connections (coupled channels) is left to Torch-Pruning.


def _era_parts(model):
    """(config, in_channels, num_classes) of an EraNet."""
    return model.config, model.stem[0].in_channels, model.head.out_features


def era_add_block(model, section: int):
    """Append a block that starts as the identity at the end of a non-empty `section` (0..3) of an EraNet."""
    from resnas.spaces.era import EraConfig, EraNet

    cfg, c_in, classes = _era_parts(model)
    _check_index("section", section, range(4))
    if cfg.depths[section] == 0:
        raise ValueError(f"section={section} is empty in {cfg}; allowed: a section with at least one block "
                         f"({[s for s in range(4) if cfg.depths[s]]})")
    depths = list(cfg.depths)
    depths[section] += 1
    new_cfg = EraConfig(cfg.block, tuple(depths), cfg.filters, cfg.update, cfg.group)
    before = count_params(model)
    new = EraNet(new_cfg, c_in, classes).to(next(model.parameters()).device)
    inserted = sum(cfg.depths[: section + 1])  # index of the new block in the new sequence
    new.stem.load_state_dict(model.stem.state_dict())
    new.head.load_state_dict(model.head.state_dict())
    old = iter(model.blocks)
    for i, block in enumerate(new.blocks):
        if i == inserted:
            last_norm = block.body[-1]
            with torch.no_grad():
                last_norm.weight.zero_()
                last_norm.bias.zero_()
            continue
        block.load_state_dict(next(old).state_dict())
    new.train(model.training)
    return new, MorphReport("era_add_block", section, before, count_params(new))


def _dup(t: torch.Tensor, dim: int) -> torch.Tensor:
    """Interleaved copies along `dim`: channels (a, b, ...) become (a, a, b, b, ...)."""
    return t.repeat_interleave(2, dim=dim)


def era_widen(model):
    """Double every width of an EraNet (filters x 2, the same number of groups): function-preserving."""
    from resnas.spaces.era import EraConfig, EraNet

    cfg, c_in, classes = _era_parts(model)
    new_cfg = EraConfig(cfg.block, cfg.depths, 2 * cfg.filters, cfg.update, 2 * min(cfg.group, cfg.filters))
    before = count_params(model)
    new = EraNet(new_cfg, c_in, classes).to(next(model.parameters()).device)
    old_modules = dict(model.named_modules())
    with torch.no_grad():
        for name, m in new.named_modules():
            o = old_modules[name]
            if isinstance(m, nn.Conv2d):
                w = _dup(o.weight, 0)
                if name != "stem.0":  # every input but the image is duplicated
                    w = _dup(w, 1) / 2
                m.weight.copy_(w)
            elif isinstance(m, nn.BatchNorm2d):
                for p in ("weight", "bias", "running_mean", "running_var"):
                    getattr(m, p).copy_(_dup(getattr(o, p), 0))
                m.num_batches_tracked.copy_(o.num_batches_tracked)
            elif isinstance(m, nn.Linear):
                m.weight.copy_(_dup(o.weight, 1) / 2)
                m.bias.copy_(o.bias)
    new.train(model.training)
    return new, MorphReport("era_widen", 0, before, count_params(new))


def era_prune_channels(model, ratio: float, example: torch.Tensor):
    """Remove the fraction `ratio` of prunable channels with the smallest batch-norm |gamma| from an EraNet,
    residual couplings included, with Torch-Pruning's dependency graph (the head's outputs are kept).
    Approximate; the result no longer matches an ERA configuration (its widths are free)."""
    import torch_pruning as tp

    if not 0.0 <= ratio < 1.0:
        raise ValueError(f"ratio={ratio} is invalid; allowed: 0 <= ratio < 1")
    new = copy.deepcopy(model)
    before = count_params(model)
    pruner = tp.pruner.MetaPruner(new, example, importance=tp.importance.BNScaleImportance(),
                                  pruning_ratio=ratio, ignored_layers=[new.head])
    pruner.step()
    return new, MorphReport("era_prune_channels", 0, before, count_params(new))
