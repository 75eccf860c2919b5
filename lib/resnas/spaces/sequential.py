"""The sequential-CNN space of ECToNAS: a frozen genome (`SeqGenome`) and the network built from it (`SeqCNN`).

A `SeqCNN` is a stack of conv layers
    Conv2d(3x3, padding 1, bias) -> optional 2x2/stride-2 pool -> BatchNorm2d -> ReLU
(the ECToNAS paper's order, which calls each such layer a "cell"; here `ConvLayer`), then flatten, then hidden
Linear+ReLU layers, then the classifier Linear. Pools use PyTorch's floor mode: an odd map loses its last
row/column. The morphisms that grow and shrink these networks live in `resnas.morph`.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

import torch
from torch import nn

POOLS = ("max", "avg", None)
WINDOW = 2  # every pool is 2x2, stride 2


@dataclass(frozen=True)
class ConvLayer:
    """One conv layer of the sequential CNN: 3x3 conv (padding 1, bias) -> optional 2x2 pool -> BN -> ReLU.
    ECToNAS calls it a "cell"; it is renamed so as not to be confused with the cell spaces (`cells.py`)."""

    channels: int
    pool: Optional[str] = None  # 'max' | 'avg' | None


@dataclass(frozen=True)
class SeqGenome:
    in_channels: int
    image_size: int
    cells: tuple[ConvLayer, ...]  # the conv layers, in order (ECToNAS's "cells")
    dense: tuple[int, ...]
    num_classes: int

    def __post_init__(self):
        if self.in_channels < 1 or self.image_size < 1 or self.num_classes < 1:
            raise ValueError("in_channels, image_size and num_classes must be >= 1")
        for i, cell in enumerate(self.cells):
            if cell.channels < 1:
                raise ValueError(f"cells[{i}].channels={cell.channels} is invalid; allowed: >= 1")
            if cell.pool not in POOLS:
                raise ValueError(f"cells[{i}].pool={cell.pool!r} is invalid; allowed: {POOLS}")
        for i, width in enumerate(self.dense):
            if width < 1:
                raise ValueError(f"dense[{i}]={width} is invalid; allowed: >= 1")
        if self.flat_size < 1:
            raise ValueError(f"{self.num_pools} pools shrink a {self.image_size}px image to nothing")

    @property
    def num_pools(self) -> int:
        return sum(c.pool is not None for c in self.cells)

    @property
    def flat_size(self) -> int:
        # Floors compose: floor(floor(a/2)/2) = floor(a/4), so the final side only depends on the pool count.
        return self.image_size // WINDOW**self.num_pools

    @property
    def flat_channels(self) -> int:
        return self.cells[-1].channels if self.cells else self.in_channels

    @property
    def flat_features(self) -> int:
        return self.flat_channels * self.flat_size**2


def _pool_module(pool: Optional[str]) -> nn.Module:
    if pool == "max":
        return nn.MaxPool2d(WINDOW, WINDOW)
    if pool == "avg":
        return nn.AvgPool2d(WINDOW, WINDOW)
    return nn.Identity()


def _pool_kind(module: nn.Module) -> Optional[str]:
    if isinstance(module, nn.MaxPool2d):
        return "max"
    if isinstance(module, nn.AvgPool2d):
        return "avg"
    return None


class SeqCNN(nn.Module):
    """Conv cells, flatten, hidden dense layers, classifier. Layers live in ModuleLists so that surgery can
    replace one entry; the genome is read back from the layers (`genome_of`), never stored separately."""

    def __init__(self, genome: SeqGenome):
        super().__init__()
        self.in_channels = genome.in_channels
        self.image_size = genome.image_size
        self.convs = nn.ModuleList()
        self.pools = nn.ModuleList()
        self.norms = nn.ModuleList()
        width = genome.in_channels
        for cell in genome.cells:
            self.convs.append(nn.Conv2d(width, cell.channels, 3, padding=1, bias=True))
            self.pools.append(_pool_module(cell.pool))
            self.norms.append(nn.BatchNorm2d(cell.channels))
            width = cell.channels
        self.dense = nn.ModuleList()
        features = genome.flat_features
        for units in genome.dense:
            self.dense.append(nn.Linear(features, units))
            features = units
        self.head = nn.Linear(features, genome.num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for conv, pool, norm in zip(self.convs, self.pools, self.norms):
            x = torch.relu(norm(pool(conv(x))))
        x = x.flatten(1)
        for layer in self.dense:
            x = torch.relu(layer(x))
        return self.head(x)


def build(genome: SeqGenome) -> SeqCNN:
    return SeqCNN(genome)


def genome_of(model: SeqCNN) -> SeqGenome:
    cells = tuple(ConvLayer(conv.out_channels, _pool_kind(pool)) for conv, pool in zip(model.convs, model.pools))
    return SeqGenome(model.in_channels, model.image_size, cells,
                     tuple(layer.out_features for layer in model.dense), model.head.out_features)


def count_params(model: nn.Module) -> int:
    """Trainable parameters (weights, biases, batch-norm gamma/beta); running statistics are buffers."""
    return sum(p.numel() for p in model.parameters())
