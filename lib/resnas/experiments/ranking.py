"""RNAS on the ERA space: a learned ranking predictor trained on an archive of evaluated networks, set beside
the rankings a user gets for free (parameters, FLOPs) or cheaply (the first epochs of each training).

The archive is the era_search notebook's when it exists (its networks, data and recipe), otherwise one this
notebook builds from random networks of the same reduced space. The notebook calls these functions.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from resnas.data import DATASETS
from resnas.params import check_val_size, param, require
from resnas.predictor import ENCODINGS, LOSSES, PredictorConfig, fit, kendall_tau, split_indices


@dataclass(frozen=True)
class Params:
    search_results: str = param("", help="an era_search result folder (default: results/<profile>/era_search)")
    # the archive this notebook builds when there is no search archive
    n_architectures: int = param(60, ge=4, help="random networks to evaluate when no search archive exists")
    dataset: str = param("fashion_mnist", choices=DATASETS)
    val_size: float = param(0.1, gt=0.0, help="validation images: a fraction in (0, 1), or a count")
    train_per_class: int | None = param(None, ge=1)
    val_per_class: int | None = param(None, ge=1)
    epochs: int = param(20, ge=1, le=1000)
    low_lr_epochs: int = param(3, ge=0)
    batch_size: int = param(128, ge=1, le=4096)
    lr: float = param(0.1, ge=1e-6, le=10.0)
    filters: list[int] = param([1, 2, 4, 8, 16, 32], choices=(1, 2, 4, 8, 16, 32, 64),
                               help="the space searched by predictor-guided evolution")
    max_depth: int = param(18, ge=1, le=18)
    train_seed: int = param(0, ge=0)
    device: str = param("auto", choices=("auto", "cpu", "cuda"))
    # the predictor
    fractions: list[float] = param([0.1, 0.25, 0.5, 1.0], ge=0.01, le=1.0,
                                   help="fractions of the training architectures (RNAS Table 2)")
    test_fraction: float = param(0.3, ge=0.05, le=0.9, help="held-out architectures")
    seeds: list[int] = param([0, 1, 2], ge=0, help="splits and predictor initialisations")
    encodings: list[str] = param(list(ENCODINGS), choices=ENCODINGS)
    losses: list[str] = param(list(LOSSES), choices=LOSSES)
    predictor_epochs: int = param(200, ge=1, le=10000, help="full-batch Adam steps (RNAS: 200)")
    hidden: int = param(32, ge=1, le=512)
    margins: list[float] = param([0.05, 0.1, 0.3], ge=0.0, help="pairwise margins tried in the sweep")
    lams: list[float] = param([0.0, 0.1, 0.5], ge=0.0, help="continuity weights tried in the sweep")
    # search with the predictor
    evolution_steps: int = param(2000, ge=1)
    population: int = param(50, ge=2)
    n_score: int = param(10000, ge=1, help="random networks scored exhaustively (the public code's search)")
    top: int = param(3, ge=1, help="picks of each method trained to measure their true accuracy")

    def __post_init__(self):
        check_val_size(self.val_size, self.dataset)
        require(self.low_lr_epochs < self.epochs,
                f"low_lr_epochs={self.low_lr_epochs} must be below epochs={self.epochs} (the last epochs run at "
                f"lr/10); allowed: 0 to {self.epochs - 1}")
        distinct = space_of(self).distinct_size()
        space = (f"the {distinct} distinct networks of the space (filters={list(self.filters)}, "
                 f"max_depth={self.max_depth})")
        # Both are drawn without repeats: more than the space holds never ends (evolution) or silently gives
        # fewer (the archive built here).
        require(self.population <= distinct, f"population={self.population} exceeds {space}; allowed: 2 to {distinct}")
        require(self.n_architectures <= distinct,
                f"n_architectures={self.n_architectures} exceeds {space}; allowed: 4 to {distinct}")
        require(self.population < self.evolution_steps,
                f"population={self.population} must be below evolution_steps={self.evolution_steps} so that the "
                f"evolution makes a child; allowed: 2 to {self.evolution_steps - 1}")
        require(self.top <= self.n_score, f"top={self.top} must not exceed n_score={self.n_score} (picks come from "
                                          f"that sample); allowed: 1 to {self.n_score}")


def space_of(p: Params):
    from resnas.spaces.era import EraSpace

    return EraSpace(filters_choices=tuple(p.filters), max_depth=p.max_depth)


def archive_frame(path) -> pd.DataFrame:
    """One row per successful ERA record at the archive's majority fidelity (`evaluate.archive_fidelity`: an
    archive may mix final trainings in): configuration, final accuracy (%), accuracy at every epoch, training
    seconds, parameters and FLOPs."""
    from resnas.evaluate import Archive, archive_fidelity

    archive = Archive(path)
    records = [r for r in archive.records() if r.ok and r.space == "era"]
    archive.close()
    if not records:
        return pd.DataFrame()
    epochs = archive_fidelity(path)[1].epochs
    rows = []
    for r in records:
        if r.recipe["epochs"] != epochs:
            continue
        row = {"key": r.key, "config": r.config, "accuracy": 100 * r.final_val_acc, "params": r.params,
               "flops": r.flops, "seconds": r.wall_time, "epochs": len(r.history)}
        row.update({f"epoch_{h['epoch']}": 100 * h["val_acc"] for h in r.history})
        row.update({f"seconds_{h['epoch']}": h["seconds"] for h in r.history})
        rows.append(row)
    return pd.DataFrame(rows)


def random_configs(p: Params, n: int, seed: int = 0) -> list:
    rng = np.random.default_rng(seed)
    space, out = space_of(p), {}
    for _ in range(50 * n):
        out.setdefault(space.sample(rng), None)
        if len(out) == n:
            break
    return list(out)


def baselines(frame: pd.DataFrame, test_idx: np.ndarray) -> pd.DataFrame:
    """Kendall tau against the final accuracy on the test architectures, and the training seconds each ranking
    costs there: parameters and FLOPs (free), and the accuracy after each earlier epoch (that much training)."""
    test = frame.iloc[test_idx]
    rows = [{"method": "parameters", "tau": kendall_tau(test.params, test.accuracy), "cost_seconds": 0.0},
            {"method": "FLOPs", "tau": kendall_tau(test.flops, test.accuracy), "cost_seconds": 0.0}]
    last = int(frame.epochs.iloc[0])
    for e in range(1, last):
        rows.append({"method": f"epoch {e} accuracy", "tau": kendall_tau(test[f"epoch_{e}"], test.accuracy),
                     "cost_seconds": float(test[f"seconds_{e}"].sum())})
    return pd.DataFrame(rows)


def sweep(frame: pd.DataFrame, p: Params, seed: int = 0) -> pd.DataFrame:
    """Choose the pairwise margin and the continuity weight on a validation split of the training
    architectures (the paper's values were lost: spec/rnas.md). lambda = 0 is the plain pairwise loss."""
    from resnas.spaces.era import EraConfig

    train_idx, _ = split_indices(len(frame), p.test_fraction, seed)
    inner_train, inner_val = split_indices(len(train_idx), 0.25, seed + 100)
    tr, va = train_idx[inner_train], train_idx[inner_val]
    configs = [EraConfig.from_json(c) for c in frame.config]
    from resnas.predictor import encode

    x = encode(configs, "tensor")
    y = frame.accuracy.to_numpy()
    rows = []
    for m in p.margins:
        for lam in p.lams:
            cfg = PredictorConfig(loss="pairwise_continuity" if lam > 0 else "pairwise", margin=m, lam=lam,
                                  epochs=p.predictor_epochs, hidden=p.hidden, seed=seed)
            pred = fit(None, y[tr], cfg, features=x[tr])
            rows.append({"margin": m, "lam": lam, "val_tau": kendall_tau(pred.score_features(x[va]), y[va]),
                         "n_train": len(tr), "n_val": len(va)})
    return pd.DataFrame(rows)


def cost_vs_tau(study: pd.DataFrame, base: pd.DataFrame, frame: pd.DataFrame, p: Params) -> pd.DataFrame:
    """Kendall tau against training hours for every ranking method: a predictor costs the training of its
    training architectures (plus its fit); an early-epoch ranking costs those epochs on the test networks."""
    mean_seconds = float(frame.seconds.mean())
    pred = study.assign(method=study.encoding + " / " + study.loss,
                        cost_seconds=study.n_train * mean_seconds + study.fit_seconds)
    pred = pred.groupby(["method", "fraction"], as_index=False)[["tau", "cost_seconds"]].mean()
    both = pd.concat([pred.assign(kind="learned predictor"), base.assign(kind="baseline")], ignore_index=True)
    both["cost_hours"] = both.cost_seconds / 3600
    return both


def true_rank(accuracy: float, frame: pd.DataFrame) -> int:
    """1 + how many archive networks are more accurate (1 = the archive's best)."""
    return int(1 + (frame.accuracy > accuracy).sum())


# RNAS Table 2 (NAS-Bench-101): Kendall tau at seven growing training proportions. The proportions themselves
# were lost in the text's extraction, so the columns are only ordered.
RNAS_TABLE2 = pd.DataFrame([
    ("type", "mse", 0.3465, 0.5911, 0.7914, 0.8229, 0.8277, 0.8344, 0.8350),
    ("tensor", "mse", 0.4856, 0.6090, 0.8103, 0.8430, 0.8399, 0.8504, 0.8431),
    ("type", "pairwise", 0.6039, 0.7943, 0.8752, 0.8894, 0.8949, 0.8976, 0.8997),
    ("tensor", "pairwise", 0.6335, 0.8136, 0.8762, 0.8900, 0.8957, 0.8979, 0.8995),
], columns=["encoding", "loss"] + [f"proportion {i}" for i in range(1, 8)])


def table2(study: pd.DataFrame) -> pd.DataFrame:
    """Our RNAS Table 2: mean +- sd of held-out Kendall tau per encoding x loss (rows) and fraction (columns)."""
    g = study.groupby(["encoding", "loss", "fraction"]).tau.agg(["mean", "std"]).reset_index()
    g["cell"] = [f"{m:.3f} ± {s:.3f}" if s == s else f"{m:.3f}" for m, s in zip(g["mean"], g["std"])]
    return g.pivot(index=["encoding", "loss"], columns="fraction", values="cell").reset_index()
