"""Figures shared by the notebooks: small functions from tidy tables to matplotlib figures (seaborn style)."""
from __future__ import annotations

# No backend is forced: notebooks keep their inline backend, scripts and tests without a display get Agg.
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import seaborn as sns

sns.set_theme(style="whitegrid", context="notebook")


def finite_rows(data: pd.DataFrame, *columns: str) -> pd.Series:
    """True where every one of `columns` holds a drawable value: finite if numeric, present otherwise."""
    mask = pd.Series(True, index=data.index)
    for c in columns:
        v = data[c]
        mask &= np.isfinite(v.astype(float)) if pd.api.types.is_numeric_dtype(v) else v.notna()
    return mask


def nothing_to_draw(what: str, figsize=(6, 2.5)):
    """An empty axes that says why it is empty. Constant accuracies (FakeData at one image per class) make every
    rank correlation NaN; a figure of them must say so, not crash the notebook inside seaborn."""
    fig, ax = plt.subplots(figsize=figsize)
    ax.text(0.5, 0.5, f"no finite values to draw:\n{what}", ha="center", va="center", fontsize=9,
            transform=ax.transAxes)
    ax.set(xticks=[], yticks=[])
    return fig


def relplot(data: pd.DataFrame, x: str, y: str, what: str = "", **kwargs):
    """`sns.relplot(...).figure`, or `nothing_to_draw` when no row has a finite `x` and `y`: relplot drops a column
    that is all NaN and then fails with "Could not interpret value `_y`"."""
    if not finite_rows(data, x, y).any():
        return nothing_to_draw(f"{what or y}\n({y} against {x}: {len(data)} rows, none finite)")
    return sns.relplot(data=data, x=x, y=y, **kwargs).figure


def learning_curves(history: pd.DataFrame, hue: str = "model", col: str | None = None,
                    metrics=("val_acc", "train_loss")):
    """One row of panels per metric (x = epoch), a line per `hue`, a column per `col`."""
    long = history.melt(id_vars=[c for c in history.columns if c not in metrics], value_vars=list(metrics),
                        var_name="metric", value_name="value")
    if not finite_rows(long, "epoch", "value").any():
        return nothing_to_draw(f"learning curves ({', '.join(metrics)}: {len(history)} rows, none finite)")
    g = sns.relplot(data=long, x="epoch", y="value", hue=hue, row="metric", col=col, kind="line", marker="o",
                    height=2.8, aspect=1.4, facet_kws={"sharey": "row", "sharex": True})
    g.set_titles("{row_name}" + (" | {col_name}" if col else ""))
    return g.figure


def bar(df: pd.DataFrame, x: str, y: str, hue: str | None = None, title: str = ""):
    fig, ax = plt.subplots(figsize=(6, 3.2))
    sns.barplot(data=df, x=x, y=y, hue=hue, ax=ax)
    ax.set_title(title)
    fig.tight_layout()
    return fig


def samples_vs_time(trials: pd.DataFrame, hours: bool = False):
    """The thesis's Figure 4: every evaluated sample's validation error against elapsed training time, one
    panel per strategy (colour = seed). Failed candidates are drawn at the top edge as crosses."""
    df = trials.copy()
    df["time"] = df.elapsed / (3600 if hours else 60)
    df["error"] = df.fitness.where(np.isfinite(df.fitness))
    top = df.error.max() if df.error.notna().any() else 100
    g = sns.FacetGrid(df, col="strategy", col_wrap=3, height=2.6, aspect=1.3, sharey=True)
    g.map_dataframe(sns.scatterplot, x="time", y="error", hue="seed", palette="tab10", s=14, linewidth=0)
    for ax, (name, sub) in zip(g.axes.flat, df.groupby("strategy", sort=False)):
        failed = sub[~np.isfinite(sub.fitness)]
        ax.scatter(failed.time, [top] * len(failed), marker="x", color="red", s=16)
    g.set_axis_labels("elapsed training time (%s)" % ("h" if hours else "min"), "validation error (%)")
    g.set_titles("{col_name}")
    return g.figure


def search_curves(curves: pd.DataFrame, window: int = 50):
    """The thesis's Figure 5: best so far, running mean, mean of the last `window`, per strategy (mean over
    seeds with a band for their spread)."""
    cols = ["best_so_far", "running_mean", f"mean_last_{window}"]
    long = curves.melt(id_vars=["strategy", "seed", "index"], value_vars=cols, var_name="measure",
                       value_name="validation error (%)")
    if not finite_rows(long, "index", "validation error (%)").any():
        return nothing_to_draw(f"search curves ({len(curves)} rows, no finite validation error)")
    g = sns.relplot(data=long, x="index", y="validation error (%)", hue="strategy", col="measure", kind="line",
                    errorbar="sd", height=3, aspect=1.2, facet_kws={"sharey": False})
    g.set_titles("{col_name}")
    g.set_axis_labels("evaluation", "validation error (%)")
    return g.figure


def correlation_heatmaps(matrices: dict, title: str = ""):
    """One annotated heatmap per fidelity x fidelity matrix (values in [-1, 1])."""
    n = len(matrices)
    fig, axes = plt.subplots(1, n, figsize=(3.4 * n, 3.1), squeeze=False)
    for ax, (name, m) in zip(axes[0], matrices.items()):
        sns.heatmap(m, vmin=-1, vmax=1, cmap="vlag", annot=True, fmt=".2f", cbar=False, square=True, ax=ax,
                    annot_kws={"size": 8})
        ax.set_title(name, fontsize=10)
        ax.set_xlabel("epochs")
        ax.set_ylabel("epochs")
    fig.suptitle(title)
    fig.tight_layout()
    return fig


def interval_plot(ci: pd.DataFrame, x: str = "estimate", y: str = "label", hue: str | None = None, title: str = ""):
    """Point estimates with their intervals (columns low, high), one row per `y`."""
    fig, ax = plt.subplots(figsize=(6.5, 0.35 * len(ci) + 1.2))
    colours = dict(zip(ci[hue].unique(), sns.color_palette())) if hue else {}
    for i, r in enumerate(ci.itertuples()):
        c = colours.get(getattr(r, hue), "C0") if hue else "C0"
        ax.plot([r.low, r.high], [i, i], color=c, lw=2)
        ax.plot(getattr(r, x), i, "o", color=c)
    ax.set_yticks(range(len(ci)), ci[y])
    ax.axvline(0, color="grey", lw=0.8)
    ax.set_xlim(-1.05, 1.05)
    ax.set_title(title)
    fig.tight_layout()
    return fig
