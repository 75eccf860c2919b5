"""Every figure function on constant and on all-NaN input: it draws, or says there is nothing to draw; it never
crashes inside seaborn (the paper smoke run at one image per class: constant accuracies, NaN rank correlations)."""
import matplotlib

matplotlib.use("Agg")

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import pytest  # noqa: E402

from resnas import plots  # noqa: E402

NOTHING = "no finite values to draw"


def texts(fig) -> str:
    return " ".join(t.get_text() for ax in fig.axes for t in ax.texts)


def drawn(fig) -> int:
    """Lines and point collections carrying at least one finite point, over every axes."""
    n = 0
    for ax in fig.axes:
        n += sum(np.isfinite(np.asarray(line.get_xydata(), float)).all(axis=1).any() for line in ax.lines)
        n += sum(len(c.get_offsets()) > 0 for c in ax.collections)
    return n


@pytest.fixture(autouse=True)
def _close():
    yield
    plots.plt.close("all")


def early_final(spearman) -> pd.DataFrame:
    """The shape of fidelity_correlation's archive_early_final table (and ranking_predictor's cost_vs_tau)."""
    return pd.DataFrame({"epoch": [1, 2, 1, 2], "group": ["a", "a", "b", "b"], "split": ["block"] * 4,
                         "spearman": spearman})


@pytest.mark.parametrize("kind", ["line", "scatter"])
def test_relplot_says_nothing_to_draw_when_y_is_all_nan(kind):
    # sns.relplot itself raises "Could not interpret value `_y`" here (it drops the all-NaN column first)
    with pytest.raises(ValueError, match="_y"):
        plots.sns.relplot(data=early_final([np.nan] * 4), x="epoch", y="spearman", col="split", kind=kind)
    fig = plots.relplot(early_final([np.nan] * 4), x="epoch", y="spearman", what="early against final",
                        hue="group", col="split", kind=kind)
    assert NOTHING in texts(fig) and "early against final" in texts(fig) and drawn(fig) == 0


def test_relplot_counts_infinite_and_missing_x_as_undrawable():
    df = early_final([0.5, 0.2, 0.1, 0.3]).assign(epoch=[np.inf, np.nan, -np.inf, np.nan])
    assert NOTHING in texts(plots.relplot(df, x="epoch", y="spearman"))


def test_relplot_draws_constant_and_partly_nan_values():
    for values in ([1.0] * 4, [np.nan, 0.4, np.nan, 0.6]):
        fig = plots.relplot(early_final(values), x="epoch", y="spearman", hue="group", col="split", kind="line")
        assert NOTHING not in texts(fig) and drawn(fig) > 0


def test_relplot_scatter_of_string_x_is_drawable():
    df = pd.DataFrame({"method": ["a", "b"], "tau": [0.1, 0.1]})
    fig = plots.relplot(df, x="method", y="tau")
    assert NOTHING not in texts(fig) and drawn(fig) > 0


def test_relplot_rejects_a_missing_column():
    with pytest.raises(KeyError, match="tau"):
        plots.relplot(early_final([0.1] * 4), x="epoch", y="tau")


def history(val_acc, train_loss) -> pd.DataFrame:
    return pd.DataFrame({"model": ["m"] * 3, "epoch": [1, 2, 3], "val_acc": val_acc, "train_loss": train_loss})


def test_learning_curves_constant_and_nan():
    assert drawn(plots.learning_curves(history([10.0] * 3, [2.3] * 3))) > 0
    fig = plots.learning_curves(history([np.nan] * 3, [np.nan] * 3))
    assert NOTHING in texts(fig) and drawn(fig) == 0


def curves(value) -> pd.DataFrame:
    n = 4
    return pd.DataFrame({"strategy": ["random"] * n, "seed": [0] * n, "index": range(n), "best_so_far": value,
                         "running_mean": value, "mean_last_2": value})


def test_search_curves_constant_and_nan():
    assert drawn(plots.search_curves(curves(90.0), window=2)) > 0
    fig = plots.search_curves(curves(np.nan), window=2)
    assert NOTHING in texts(fig) and drawn(fig) == 0


def trials(fitness) -> pd.DataFrame:
    return pd.DataFrame({"strategy": ["random", "random", "era", "era"], "seed": [0, 1, 0, 1],
                         "elapsed": [10.0, 20.0, 30.0, 40.0], "fitness": fitness})


def test_samples_vs_time_constant_and_failed():
    assert drawn(plots.samples_vs_time(trials([90.0] * 4))) > 0
    # every candidate failed: no error to draw, but each is still marked as a cross at the top edge
    fig = plots.samples_vs_time(trials([np.inf, np.nan, np.inf, np.nan]))
    assert sum(len(c.get_offsets()) for ax in fig.axes for c in ax.collections) == 4


def test_bar_constant_and_nan():
    df = pd.DataFrame({"method": ["a", "b"], "tau": [0.2, 0.2]})
    assert len(plots.bar(df, "method", "tau").axes[0].patches) >= 2
    plots.bar(df.assign(tau=np.nan), "method", "tau")  # NaN bars are empty bars, not an error


def test_correlation_heatmaps_constant_and_nan():
    nan = pd.DataFrame(np.full((2, 2), np.nan), index=[1, 2], columns=[1, 2])
    fig = plots.correlation_heatmaps({"width": nan.fillna(1.0), "depth": nan}, "title")
    assert [ax.get_title() for ax in fig.axes] == ["width", "depth"]


def test_interval_plot_constant_and_nan():
    ci = pd.DataFrame({"estimate": [0.5, np.nan], "low": [0.5, np.nan], "high": [0.5, np.nan],
                       "label": ["x", "y"], "mode": ["anytime", "budgeted"]})
    fig = plots.interval_plot(ci, hue="mode")
    assert [t.get_text() for t in fig.axes[0].get_yticklabels()] == ["x", "y"]
