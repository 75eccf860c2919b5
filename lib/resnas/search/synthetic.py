"""A cheap synthetic objective over the real ERA space, for testing strategies without training.

A distance to a hidden target network: section depths count by their absolute difference, filters and group
size by their log2 distance, block type and filter update by mismatch, plus a mild term in the log parameter
count. Separable and smooth, so one-parameter moves (local search, mutation) and density models (TPE) can
exploit it, while a random sample of a few hundred from 13 million configurations rarely lands close. Minimum
0 at the target. Deterministic; optional Gaussian noise.
"""
from __future__ import annotations

import math

import numpy as np

TARGET = {"block": "bottleneck", "depths": (2, 11, 4, 9), "filters": 16, "update": 2, "group": 4}


def synthetic_error(cfg, noise: float = 0.0, rng: np.random.Generator | None = None, target: dict = TARGET
                    ) -> float:
    cfg = cfg.canonical()
    err = sum(abs(d - t) for d, t in zip(cfg.depths, target["depths"])) / 4
    err += abs(math.log2(cfg.filters) - math.log2(target["filters"]))
    err += 0.5 * abs(math.log2(cfg.group) - math.log2(min(target["group"], cfg.filters)))
    err += 2.0 * (cfg.block != target["block"]) + 1.0 * (cfg.update != target["update"])
    if noise and rng is not None:
        err += float(rng.normal(0, noise))
    return err
