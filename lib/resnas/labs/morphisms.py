"""Self-checks and helpers of lab 04 (network morphisms: widen, deepen, prove the function unchanged, prune).

The networks are `resnas.spaces.sequential.SeqCNN`s (the ECToNAS cells that `resnas.morph` operates on) trained
for seconds on scikit-learn's 8x8 digits (offline, bundled). Checks compare the student's building block with
what a function-preserving morphism needs, on small random layers, and raise WrongAnswer with a hint.
"""
from __future__ import annotations

import copy

import numpy as np
import torch
from torch import nn

from resnas import morph
from resnas.labs import WrongAnswer, attempt, correct, expect
from resnas.spaces.sequential import ConvLayer, SeqGenome, build

TOL = 1e-5  # float32: an exact morphism changes outputs by rounding only


# ------------------------------------------------------------------------------------------ data and training

def digits(seed: int = 0, val_fraction: float = 0.3):
    """scikit-learn's 1,797 8x8 digits as float tensors (N, 1, 8, 8) in [0, 1]; a seeded stratified split into
    (x_train, y_train, x_val, y_val)."""
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    d = load_digits()
    x = torch.tensor(d.images / 16.0, dtype=torch.float32)[:, None]
    y = torch.tensor(d.target, dtype=torch.long)
    i_train, i_val = train_test_split(np.arange(len(y)), test_size=val_fraction, stratify=d.target,
                                      random_state=seed)
    return x[i_train], y[i_train], x[i_val], y[i_val]


def small_cnn(channels=(8, 16), dense=(32,), seed: int = 0) -> nn.Module:
    """conv(8) -> conv(16) + 2x2 max pool -> dense 32 -> 10 classes, on 1x8x8 images; seeded initialisation."""
    torch.manual_seed(seed)
    cells = tuple(ConvLayer(c, "max" if i == len(channels) - 1 else None) for i, c in enumerate(channels))
    return build(SeqGenome(1, 8, cells, tuple(dense), 10))


def train(model: nn.Module, x, y, epochs: int = 15, batch: int = 64, lr: float = 0.05, seed: int = 0) -> nn.Module:
    """Plain SGD with momentum on (x, y), in place; returns the model in eval mode."""
    g = torch.Generator().manual_seed(seed)
    opt = torch.optim.SGD(model.parameters(), lr=lr, momentum=0.9, weight_decay=5e-4)
    model.train()
    for _ in range(epochs):
        for idx in torch.randperm(len(y), generator=g).split(batch):
            opt.zero_grad()
            nn.functional.cross_entropy(model(x[idx]), y[idx]).backward()
            opt.step()
    return model.eval()


@torch.no_grad()
def accuracy(model: nn.Module, x, y) -> float:
    mode = model.training
    model.eval()
    try:
        return (model(x).argmax(1) == y).float().mean().item()
    finally:
        model.train(mode)


def prune_channels(model, index: int, removed) -> nn.Module:
    """`model` with output channels `removed` of conv cell `index` taken out, each folded into the consumer's
    bias as its constant relu(beta) (what `morph.remove_conv_channels` does for the smallest |gamma|; here any
    order, e.g. a random one for comparison)."""
    removed = torch.as_tensor(list(removed), dtype=torch.long)
    new = copy.deepcopy(model)
    morph._drop_channels(model, new, index, removed, "weights")
    morph.genome_of(new)  # validates the shapes
    return new


def widen_dense_with(model, index: int, extra: int, split_next_weight, seed: int = 0) -> nn.Module:
    """Net2WiderNet on hidden layer `index` with the student's `split_next_weight(next_weight, g)`: `extra`
    units copy random existing ones (incoming weights and bias), the next layer's weight comes from the
    student's function."""
    new = copy.deepcopy(model)
    layer = model.dense[index]
    nxt = model.dense[index + 1] if index + 1 < len(model.dense) else model.head
    g = torch.cat([torch.arange(layer.out_features),
                   torch.randint(0, layer.out_features, (extra,), generator=torch.Generator().manual_seed(seed))])
    wide = nn.Linear(layer.in_features, len(g))
    nxt_new = nn.Linear(len(g), nxt.out_features)
    with torch.no_grad():
        wide.weight.copy_(layer.weight[g])
        wide.bias.copy_(layer.bias[g])
        nxt_new.weight.copy_(torch.as_tensor(split_next_weight(nxt.weight.detach().clone(), g.clone())))
        nxt_new.bias.copy_(nxt.bias)
    new.dense[index] = wide
    if index + 1 < len(model.dense):
        new.dense[index + 1] = nxt_new
    else:
        new.head = nxt_new
    return new


# ----------------------------------------------------------------------------------------------- self-checks

def _two_layers(seed: int):
    torch.manual_seed(seed)
    return nn.Linear(6, 5), nn.Linear(5, 3), torch.randn(64, 6)


def check_split(split_next_weight) -> str:
    """Exercise 1: widening a hidden layer by copies, with the next layer's weight from the student's function,
    leaves the two-layer function unchanged (several random layers and copy patterns)."""
    for seed, g in enumerate([[0, 1, 2, 3, 4, 0], [0, 1, 2, 3, 4, 2, 2, 4], [0, 1, 2, 3, 4]]):
        first, second, x = _two_layers(seed)
        g = torch.tensor(g)
        w = second.weight.detach().clone()
        got = attempt(1, split_next_weight, w.clone(), g.clone())
        got = torch.as_tensor(got, dtype=torch.float32)
        expect(tuple(got.shape) == (3, len(g)),
               f"exercise 1: split_next_weight(weight of shape {tuple(w.shape)}, g of {len(g)} units) returned shape "
               f"{tuple(got.shape)}; the next layer of a widened layer has one column per new unit: (out, len(g))")
        with torch.no_grad():
            before = second(torch.relu(first(x)))
            after = torch.relu(x @ first.weight[g].T + first.bias[g]) @ got.T + second.bias
        change = (before - after).abs().max().item()
        if change <= TOL:
            continue
        hint = ("units that copy the same original unit pass on the same activation; the columns of all its copies "
                "together must carry what the original column carried")
        if torch.allclose(got, w[:, g]):
            hint = ("the copied columns are not shared out: the original's contribution now arrives once per copy, "
                    "so the outputs grow")
        raise WrongAnswer(f"exercise 1: with g = {g.tolist()} the widened network's outputs change by up to "
                          f"{change:.3g} (an exact morphism changes them by rounding only, < {TOL}); {hint}")
    return correct("widening by copies with your split leaves the function unchanged")


def check_identity_kernel(identity_kernel) -> str:
    """Exercise 2: a 3x3 convolution (padding 1, no bias) with the student's kernel returns its input."""
    for channels in (1, 3, 8):
        k = attempt(2, identity_kernel, channels)
        k = torch.as_tensor(k, dtype=torch.float32)
        expect(tuple(k.shape) == (channels, channels, 3, 3),
               f"exercise 2: identity_kernel({channels}) has shape {tuple(k.shape)}; a 3x3 convolution from "
               f"{channels} to {channels} channels has weight shape (out, in, 3, 3) = ({channels}, {channels}, 3, 3)")
        x = torch.randn(2, channels, 6, 6, generator=torch.Generator().manual_seed(channels))
        change = (nn.functional.conv2d(x, k, padding=1) - x).abs().max().item()
        if change <= TOL:
            continue
        hint = "output channel c must copy input channel c at the same pixel, and nothing else"
        if channels > 1 and torch.allclose(k[:, :, 1, 1], torch.ones(channels, channels)):
            hint = "every output channel sums all input channels; each must copy only its own channel"
        elif k.abs().sum() > 0 and k[:, :, 1, 1].abs().sum() == 0:
            hint = "the kernel's weight is off-centre, which shifts the image by a pixel; use the centre tap"
        raise WrongAnswer(f"exercise 2: a convolution with identity_kernel({channels}) changes its input by up to "
                          f"{change:.3g}; {hint}")
    return correct("your kernel makes a 3x3 convolution the identity: a new layer that changes nothing")


def check_prune_order(prune_order) -> str:
    """Exercise 3: prune_order(gamma) lists the channels from the least to the most important by |gamma|."""
    for gamma in ([0.5, -0.01, -2.0, 0.1, 1.0], [-0.3, 0.2, 0.05, -1.5, 0.9, -0.02]):
        gamma = torch.tensor(gamma)
        got = attempt(3, prune_order, gamma.clone())
        got = [int(i) for i in (got.tolist() if hasattr(got, "tolist") else got)]
        want = gamma.abs().argsort().tolist()
        if got == want:
            continue
        hint = "rank the channels by how strongly their batch norm scales them, weakest first"
        if sorted(got) != list(range(len(gamma))):
            hint = f"return every channel index 0..{len(gamma) - 1} once, in the order to remove them"
        elif got == gamma.argsort().tolist():
            hint = ("a large negative gamma scales its channel as strongly as a large positive one: rank by "
                    "magnitude")
        elif got == want[::-1]:
            hint = "that removes the strongest channels first; the weakest go first"
        raise WrongAnswer(f"exercise 3: prune_order(gamma={[round(v, 2) for v in gamma.tolist()]}) returned {got}; "
                          f"{hint}")
    return correct("channels ordered by |gamma|, weakest first (network slimming's criterion)")
