"""Rank correlation between fidelities (era-thesis.txt §4.2), with bootstrap intervals and a reproducibility
audit of the thesis's own tables.

Input is a tidy table with one row per (network, fidelity) and an accuracy column; `wide()` pivots it to
network x fidelity. Correlations are scipy's: Spearman's rho and Kendall's tau-b, ties handled as scipy does.
With the thesis's 4-6 networks a point estimate says little, so `bootstrap_ci` resamples networks.
"""
from __future__ import annotations

import itertools
import warnings

import numpy as np
import pandas as pd
from scipy import stats

METHODS = ("spearman", "kendall")


def wide(table: pd.DataFrame, network: str = "network", fidelity: str = "fidelity", value: str = "accuracy"
         ) -> pd.DataFrame:
    """network x fidelity accuracies from a tidy table (a wide frame passes through unchanged)."""
    if {network, fidelity, value} <= set(table.columns):
        return table.pivot_table(index=network, columns=fidelity, values=value, aggfunc="mean").sort_index(axis=1)
    return table


def _corr(a: np.ndarray, b: np.ndarray, method: str) -> float:
    if method not in METHODS:
        raise ValueError(f"method={method!r} is unknown; allowed: {', '.join(METHODS)}")
    with warnings.catch_warnings():  # a constant column has no rank order: scipy warns and returns nan
        warnings.simplefilter("ignore")
        if method == "spearman":
            return float(stats.spearmanr(a, b).statistic)
        return float(stats.kendalltau(a, b).statistic)


def correlation_matrix(table: pd.DataFrame, method: str = "spearman", **names) -> pd.DataFrame:
    """fidelity x fidelity rank correlation over the networks present at both fidelities."""
    w = wide(table, **names)
    cols = list(w.columns)
    m = pd.DataFrame(np.eye(len(cols)), index=cols, columns=cols)
    for i, j in itertools.combinations(range(len(cols)), 2):
        pair = w[[cols[i], cols[j]]].dropna()
        m.iloc[i, j] = m.iloc[j, i] = _corr(pair.iloc[:, 0].values, pair.iloc[:, 1].values, method)
    m.index.name = m.columns.name = "fidelity"
    return m


def spearman_matrix(table: pd.DataFrame, **names) -> pd.DataFrame:
    return correlation_matrix(table, "spearman", **names)


def kendall_matrix(table: pd.DataFrame, **names) -> pd.DataFrame:
    return correlation_matrix(table, "kendall", **names)


def bootstrap_ci(table: pd.DataFrame, method: str = "spearman", n_boot: int = 2000, seed: int = 0,
                 level: float = 0.95, **names) -> pd.DataFrame:
    """Percentile bootstrap over networks for every fidelity pair: estimate, low, high.

    Resamples whose ranks are constant in a column (possible with few networks) have no correlation and are
    skipped; `used` says how many resamples gave a value."""
    w = wide(table, **names).dropna()
    rng = np.random.default_rng(seed)
    n = len(w)
    idx = rng.integers(0, n, size=(n_boot, n))
    rows = []
    for a, b in itertools.combinations(w.columns, 2):
        x, y = w[a].values, w[b].values
        boots = np.array([_corr(x[i], y[i], method) for i in idx])
        boots = boots[np.isfinite(boots)]
        lo, hi = (np.quantile(boots, [(1 - level) / 2, (1 + level) / 2]) if len(boots) else (np.nan, np.nan))
        rows.append({"fidelity_a": a, "fidelity_b": b, "method": method, "estimate": _corr(x, y, method),
                     "low": float(lo), "high": float(hi), "used": len(boots), "n_networks": n})
    return pd.DataFrame(rows)


def tidy(matrix: pd.DataFrame, name: str = "correlation") -> pd.DataFrame:
    """Upper triangle of a fidelity matrix as rows (fidelity_a, fidelity_b, value)."""
    cols = list(matrix.columns)
    return pd.DataFrame([{"fidelity_a": a, "fidelity_b": b, name: matrix.loc[a, b]}
                         for a, b in itertools.combinations(cols, 2)])


# ---------------------------------------------------------------------------------------------- the thesis
EPOCHS = (5, 10, 20, 50, 100)
# Table 3: ResNet-56 at 8/16/32/64 filters; Table 6: 16 filters at 14/32/56/110/602 layers (CIFAR-10 test acc.)
_T3 = {8: (72.7, 77.6, 81.9, 85.2, 89.1), 16: (70.7, 79.5, 85.0, 87.1, 90.7),
       32: (56.0, 78.0, 86.3, 88.8, 92.3), 64: (45.3, 63.8, 80.3, 87.5, 92.0)}
_T6 = {14: (75.9, 80.4, 82.4, 84.0, 87.9), 32: (75.0, 80.9, 85.1, 86.1, 89.9), 56: (70.7, 79.5, 85.0, 87.1, 90.7),
       110: (49.3, 71.4, 83.5, 86.3, 91.1), 602: (10.0, 10.0, 10.0, 76.4, 89.8)}


def _family(rows: dict, label) -> pd.DataFrame:
    return pd.DataFrame([{"network": label(k), "fidelity": e, "accuracy": a}
                         for k, accs in rows.items() for e, a in zip(EPOCHS, accs)])


THESIS_WIDTH = _family(_T3, lambda f: f"ResNet-56 f{f}")
THESIS_DEPTH = _family(_T6, lambda d: f"ResNet-{d} f16")
# networks inside the thesis's search space (the text: 64 filters is too wide, ResNet-602 too deep)
IN_SPACE = {"ResNet-56 f8", "ResNet-56 f16", "ResNet-56 f32", "ResNet-14 f16", "ResNet-32 f16", "ResNet-110 f16"}


def _matrix(values, fidelities) -> pd.DataFrame:
    return pd.DataFrame(values, index=list(fidelities), columns=list(fidelities), dtype=float)


# Published Spearman matrices (Tables 4, 5, 7, 8, 9): n = 4 and 6 networks give multiples of 0.2 and 1/35.
THESIS_CORRELATIONS = {
    "Table 4 (width)": (THESIS_WIDTH, EPOCHS, _matrix(
        [[1, .4, .2, -.8, -1], [.4, 1, .8, 0, -.4], [.2, .8, 1, .4, -.2], [-.8, 0, .4, 1, .8],
         [-1, -.4, -.2, .8, 1]], EPOCHS)),
    "Table 5 (width, in space)": (THESIS_WIDTH[THESIS_WIDTH.network.isin(IN_SPACE)], (20, 100),
                                  _matrix([[1, 1], [1, 1]], (20, 100))),
    "Table 7 (depth)": (THESIS_DEPTH, EPOCHS, _matrix(
        [[1, .9, .4, .1, -.4], [.9, 1, .7, .2, -.2], [.4, .7, 1, .7, .5], [.1, .2, .7, 1, .8],
         [-.4, -.2, .5, .8, 1]], EPOCHS)),
    "Table 8 (depth, in space)": (THESIS_DEPTH[THESIS_DEPTH.network.isin(IN_SPACE)], (20, 100),
                                  _matrix([[1, .2], [.2, 1]], (20, 100))),
    "Table 9 (combined, in space)": (
        pd.concat([THESIS_WIDTH, THESIS_DEPTH]).drop_duplicates(["network", "fidelity"]).query(
            "network in @IN_SPACE", local_dict={"IN_SPACE": IN_SPACE}), EPOCHS, _matrix(
            [[1, .77, -.31, -.77, -.89], [.77, 1, .31, -.26, -.43], [-.31, .31, 1, .77, .71],
             [-.77, -.26, .77, 1, .94], [-.89, -.43, .71, .94, 1]], EPOCHS)),
}


def audit_thesis(method: str = "spearman", tolerance: float = 0.006) -> pd.DataFrame:
    """Recompute every published correlation table from the accuracies printed beside it. One row per
    fidelity pair: published, recomputed, and whether they agree within the published rounding."""
    rows = []
    for name, (acc, fidelities, published) in THESIS_CORRELATIONS.items():
        ours = correlation_matrix(acc[acc.fidelity.isin(fidelities)], method)
        for a, b in itertools.combinations(fidelities, 2):
            p, r = published.loc[a, b], ours.loc[a, b]
            rows.append({"table": name, "fidelity_a": a, "fidelity_b": b, "n_networks": acc.network.nunique(),
                         "published": p, "recomputed": round(r, 3), "agrees": bool(abs(p - r) <= tolerance)})
    return pd.DataFrame(rows)


def early_final_correlation(curves: pd.DataFrame, final_epoch: int, by: str | None = None,
                            key: str = "key", value: str = "val_acc") -> pd.DataFrame:
    """Spearman and Kendall correlation between each epoch's accuracy and the accuracy at `final_epoch`, over
    the networks in `curves` (tidy: key, epoch, val_acc, and an optional grouping column `by`)."""
    groups = curves.groupby(by) if by else [("all", curves)]
    rows = []
    for g, sub in groups:
        w = sub.pivot_table(index=key, columns="epoch", values=value)
        if final_epoch not in w.columns:
            continue
        for e in w.columns:
            pair = pd.DataFrame({"early": w[e], "final": w[final_epoch]}).dropna()
            if len(pair) < 3:
                continue
            rows.append({"group": g, "epoch": e, "n_networks": len(pair),
                         "spearman": _corr(pair.early.values, pair.final.values, "spearman"),
                         "kendall": _corr(pair.early.values, pair.final.values, "kendall")})
    # fewer than three networks per group give no rows, but the columns stay (a caller filters on them)
    return pd.DataFrame(rows, columns=["group", "epoch", "n_networks", "spearman", "kendall"])
