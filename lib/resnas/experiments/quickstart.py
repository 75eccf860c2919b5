"""Quickstart: train two small ERA ResNets on digits and a Fashion-MNIST subset, and show the archive at work."""
from __future__ import annotations

from dataclasses import dataclass

import pandas as pd

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


def beside_paper(results: pd.DataFrame) -> pd.DataFrame:
    """Each trained network beside the nearest published figure for small networks trained plainly on the same
    data: ECToNAS's unmodified baseline (ectonas.txt:158-159, Table 1, column B; mean and sd of test accuracy over
    its starting topologies; digits stand in for MNIST, as in the ECToNAS notebooks). The paper trains on the
    whole training set for 200 epochs and reports test accuracy; we train on `train_per_class` images per class
    for `epochs` epochs and report validation accuracy: data, budget and split all differ, so the paper's figure is
    the scale a full training reaches, not a comparison. A data set without an analogue gets empty paper columns."""
    from resnas.experiments.ectonas import PAPER_ANALOGUE, PAPER_TABLE12

    base = PAPER_TABLE12[PAPER_TABLE12["mode"] == "baseline"].set_index("paper_dataset")
    rows = []
    for r in results.itertuples():
        ref = PAPER_ANALOGUE.get(r.dataset)
        if ref in base.index:
            b = base.loc[ref]
            paper = {"paper_dataset": ref, "paper_test_acc_pct": b.paper_test_acc, "paper_test_sd": b.paper_test_sd,
                     "paper_params": 1000 * b.paper_params_k}
        else:
            paper = {"paper_dataset": None, "paper_test_acc_pct": float("nan"), "paper_test_sd": float("nan"),
                     "paper_params": float("nan")}
        rows.append({"dataset": r.dataset, "model": r.model, "params": r.params,
                     "ours_val_acc_pct": 100.0 * r.final_val_acc, **paper})
    return pd.DataFrame(rows)
