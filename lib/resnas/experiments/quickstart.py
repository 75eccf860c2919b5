"""Quickstart: train two small ERA ResNets on digits and a Fashion-MNIST subset, and show the archive at work."""
from __future__ import annotations

from dataclasses import dataclass

from resnas.data import DATASETS
from resnas.params import param

SMALL_RESNETS = {
    # ResNet-8 style (one basic block per section), 8 initial filters: a few thousand parameters.
    "resnet8-f8": {"block": "basic", "depths": [0, 1, 1, 1], "filters": 8, "update": 2, "group": 8},
    # ResNet-14 style with 16 filters and grouped 3x3 convolutions (4 channels per group).
    "resnet14-f16-g4": {"block": "basic", "depths": [0, 2, 2, 2], "filters": 16, "update": 2, "group": 4},
}


@dataclass(frozen=True)
class Params:
    datasets: list[str] = param(["digits", "fashion_mnist"], choices=DATASETS,
                                help="data sets to train on")
    train_per_class: int | None = param(300, ge=1, help="class-balanced training subset (None: all)")
    val_per_class: int | None = param(100, ge=1, help="class-balanced validation subset (None: all)")
    epochs: int = param(8, ge=1, le=500)
    batch_size: int = param(64, ge=1, le=4096)
    lr: float = param(0.05, ge=1e-6, le=10.0)
    models: dict = param(SMALL_RESNETS, help="name -> ERA configuration")
    seed: int = param(0, ge=0)
    device: str = param("auto", choices=("auto", "cpu", "cuda"))
