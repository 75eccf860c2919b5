"""Quickstart: train two small ERA ResNets on digits and a Fashion-MNIST subset, and show the archive at work."""
from __future__ import annotations

from dataclasses import dataclass

from resnas.data import DATASETS
from resnas.params import param, require

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

    def __post_init__(self):
        for name, model in self.models.items():
            check_model(name, model)


MODEL_KEYS = ("block", "depths", "filters", "update", "group")


def check_model(name: str, model) -> None:
    """One `models` entry must be an ERA configuration of the widest ERA space (the thesis's code: filters up to
    64, sections of up to 18 blocks); the error names the model, the key and the allowed values."""
    from resnas.spaces.era import FILTERS_CODE, EraConfig, EraSpace

    where = f"models[{name!r}]"
    require(isinstance(model, dict) and set(model) == set(MODEL_KEYS),
            f"{where}={model!r} must map exactly the keys {', '.join(MODEL_KEYS)}; allowed: e.g. "
            f"{SMALL_RESNETS['resnet8-f8']}")
    depths = model["depths"]
    require(isinstance(depths, (list, tuple)) and len(depths) == 4,
            f"{where}.depths={depths!r} must list the blocks of the four sections; allowed: e.g. [0, 1, 1, 1]")
    numbers = {key: model[key] for key in ("filters", "update", "group")}
    numbers.update({f"depths[{i}]": d for i, d in enumerate(depths)})
    for key, v in numbers.items():
        require(isinstance(v, int) and not isinstance(v, bool), f"{where}.{key}={v!r} must be an integer")
    try:
        EraSpace(filters_choices=FILTERS_CODE).validate(EraConfig(**{**model, "depths": tuple(depths)}))
    except ValueError as exc:  # e.g. "block='weird' is not allowed in this space; allowed: basic, bottleneck"
        raise ValueError(f"{where}.{exc}") from exc
