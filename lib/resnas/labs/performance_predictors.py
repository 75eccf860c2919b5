"""Lab 06 (performance predictors): self-checks for a pairwise ranking loss and Kendall's tau written by hand,
and a small predictor study on the CIFAR-10 table of the NAS-Bench-201 cells (`resnas.tabular_cells`) in the
manner of RNAS (`resnas.predictor`, spec/rnas.md): the same scorer trained with MSE or with the pairwise hinge
loss on fewer and fewer labelled cells, judged by Kendall's tau on held-out cells.

The scorer is a small multilayer perceptron on the flattened adjacency x operation tensor of a cell
(`resnas.predictor.cell_encoding`, 5 x 4 x 4 = 80 inputs): RNAS's RankNet is shaped for the ERA 4 x 18 grid, and
a perceptron keeps the many fits of the lab within seconds. Labels are min-max scaled to [0, 1] on the training
cells, as `resnas.predictor.fit` scales them; training is full-batch Adam for a fixed number of steps.
"""
from __future__ import annotations


import numpy as np
import pandas as pd
import torch
from scipy import stats
from torch import nn

from resnas.labs import NotDone, WrongAnswer, attempt, correct, expect
from resnas.labs import exercise as _exercise
from resnas.predictor import cell_encoding, kendall_tau, pairwise_hinge_loss

LAB = "06_performance_predictors"




# ---------------------------------------------------------------------------------------------- exercise 1
def _loss_value(fn, scores, labels, margin, exercise=1):
    out = attempt(exercise, fn, scores, labels, margin)
    if not isinstance(out, torch.Tensor):
        raise WrongAnswer(f"the loss returned {type(out).__name__}; return a torch scalar built from `scores` with "
                          "torch operations (no .item(), no numpy), so that gradients reach the predictor")
    expect(out.numel() == 1, f"the loss returned a tensor of shape {tuple(out.shape)}; return one number: the mean "
                             "over the pairs")
    return out.reshape(())


def _with_ties(scores, labels, margin):
    """The loss averaged over every ordered pair i != j, tied labels included (a plausible slip)."""
    sign = torch.sign(labels[:, None] - labels[None, :])
    diff = scores[:, None] - scores[None, :]
    off = ~torch.eye(len(labels), dtype=torch.bool)
    return torch.relu(margin - diff * sign)[off].mean()


@_exercise(1)
def check_pairwise_loss(pairwise_hinge) -> str:
    """`pairwise_hinge(scores, labels, margin)`: the mean over ordered pairs (i, j) with y_i != y_j of
    max(0, margin - (s_i - s_j) sign(y_i - y_j)). Rejects the sign flipped (or the pair order reversed in one of
    the two differences), a missing max(0, .), tied pairs counted, the margin ignored, and a detached value."""
    labels = torch.tensor([0.1, 0.5, 0.9, 0.3, 0.7])
    margin = 0.1
    ordered = _loss_value(pairwise_hinge, labels * 10, labels, margin).item()  # every pair ordered, gaps >= 1
    backwards = _loss_value(pairwise_hinge, -labels * 10, labels, margin).item()
    if ordered < -1e-6:
        raise WrongAnswer(f"scores ordered exactly like the labels, with wide gaps, give a loss of {ordered:.3f} < 0; "
                          "a hinge is never negative: clip each pair's term at zero, max(0, ...)")
    if ordered > 1e-6 and backwards <= 1e-6:
        raise WrongAnswer("your loss is zero when the scores rank the cells in *reverse* order and positive when they "
                          "rank them correctly: the sign is flipped. The score difference s_i - s_j and the label "
                          "difference y_i - y_j must be taken in the same pair order (i, j), and a pair ordered like "
                          "its labels must cost nothing once its gap reaches the margin")
    expect(ordered <= 1e-6, f"scores ordered exactly like the labels, with gaps far above the margin, give a loss of "
                            f"{ordered:.4f}; such pairs should cost nothing")
    expect(backwards > 1e-6, "scores in the reverse order of the labels give a loss of zero; reversed pairs must cost")

    g = torch.Generator().manual_seed(0)
    labels = torch.tensor([0.2, 0.2, 0.5, 0.9, 0.9, 0.9, 0.1, 0.4])  # ties: pairs with no order to learn
    scores = torch.randn(len(labels), generator=g) * 0.2
    x = scores.clone().requires_grad_(True)
    got = _loss_value(pairwise_hinge, x, labels, margin)
    want = pairwise_hinge_loss(scores, labels, margin)
    if not torch.isclose(got.detach(), want, atol=1e-6):
        v = got.item()
        if np.isclose(v, pairwise_hinge_loss(-scores, labels, margin).item(), atol=1e-6):
            raise WrongAnswer("your loss rewards the reverse order: the sign is flipped, or the pair order of the "
                              "score difference is reversed against that of the label difference")
        if np.isclose(v, _with_ties(scores, labels, margin).item(), atol=1e-6):
            raise WrongAnswer("pairs with equal labels are counted in your mean; they have no order to learn, so "
                              "leave them out (average only over pairs with y_i != y_j)")
        if np.isclose(v, pairwise_hinge_loss(scores, labels, 0.0).item(), atol=1e-6):
            raise WrongAnswer("your loss ignores the margin argument; a pair costs until its gap reaches `margin`")
        terms = torch.relu(margin - (scores[:, None] - scores[None, :]) * torch.sign(labels[:, None] - labels[None, :]))
        if any(np.isclose(v, t.item(), atol=1e-5) for t in (terms.sum(), terms[~torch.isclose(
                labels[:, None], labels[None, :])].sum())):
            raise WrongAnswer("your loss is a sum over pairs; take the mean over the pairs with different labels, so "
                              "its scale does not grow with the number of cells")
        raise WrongAnswer(f"on random scores with tied labels your loss is {v:.5f}, not the mean over pairs with "
                          "different labels of max(0, margin - (s_i - s_j) sign(y_i - y_j))")
    expect(got.requires_grad, "your loss carries no gradient (was it detached, or rebuilt from numbers?); keep it a "
                              "torch expression of `scores`")
    got.backward()
    ref = scores.clone().requires_grad_(True)
    pairwise_hinge_loss(ref, labels, margin).backward()
    expect(x.grad is not None and torch.allclose(x.grad, ref.grad, atol=1e-6),
           "your loss has the right value but not the right gradient; build it from `scores` with torch operations "
           "only (relu or clamp, sign, broadcasting), so autograd can follow it")
    return correct("the pairwise hinge loss: zero for correctly ordered pairs past the margin, ties left out, "
                   "differentiable")


# ---------------------------------------------------------------------------------------------- exercise 2
@_exercise(2)
def check_kendall(kendall) -> str:
    """`kendall(a, b)` -> Kendall's tau-b (scipy.stats.kendalltau's default). Rejects tau-a with ties, the count
    of concordant pairs alone, a lost sign, and pairs counted twice with the wrong denominator."""
    rng = np.random.default_rng(0)
    a = rng.permutation(12).astype(float)
    b = a + rng.normal(0, 3, 12)

    def value(x, y):
        out = attempt(2, kendall, x.copy(), y.copy())
        try:
            return float(np.asarray(out, dtype=float).reshape(()))
        except (TypeError, ValueError):
            raise WrongAnswer(f"kendall returned {type(out).__name__}; return one number") from None

    got = value(a, b)
    want = stats.kendalltau(a, b).statistic
    if not np.isclose(got, want):
        if np.isclose(got, -want):
            raise WrongAnswer("your tau has the wrong sign: a concordant pair (both series order it the same way) "
                              "counts +1, a discordant one -1")
        raise WrongAnswer(f"without ties you got {got:.4f}; tau = (concordant - discordant pairs) / (number of "
                          "pairs), each unordered pair counted once")
    expect(np.isclose(value(a, a), 1.0) and np.isclose(value(a, -a), -1.0),
           "tau of a series with itself should be 1 and with its reverse -1")
    x = np.array([1, 2, 2, 3, 3, 3, 4, 5, 6, 6], dtype=float)
    y = np.array([1, 3, 2, 2, 4, 4, 5, 5, 7, 6], dtype=float)
    got = value(x, y)
    want = stats.kendalltau(x, y).statistic
    if not np.isclose(got, want):
        n = len(x)
        s = np.sign(x[:, None] - x[None, :]) * np.sign(y[:, None] - y[None, :])
        tau_a = s.sum() / (n * (n - 1))
        if np.isclose(got, tau_a):
            raise WrongAnswer(f"with ties you got {got:.4f}, tau-a (divided by all pairs); the tau used for "
                              "rankings with ties is tau-b: divide by sqrt(pairs not tied in a * pairs not tied in b)")
        raise WrongAnswer(f"with ties you got {got:.4f}, not tau-b; tied pairs count neither concordant nor "
                          "discordant, and the denominator is sqrt(pairs not tied in a * pairs not tied in b)")
    return correct("Kendall's tau-b, ties included")


# ---------------------------------------------------------------------------------------------- the study
def encode_cells(cells) -> np.ndarray:
    """(N, 80) float32: the flattened adjacency x operation tensor of NAS-Bench-201 cells."""
    cells = list(cells)
    return cell_encoding(cells).reshape(len(cells), -1)


def mse_loss(scores: torch.Tensor, labels: torch.Tensor, margin: float = 0.0) -> torch.Tensor:
    """Mean squared error between scores and scaled labels (`margin` is ignored: one signature for both losses)."""
    return torch.mean((scores - labels) ** 2)


def fit_scorer(x: np.ndarray, y: np.ndarray, loss_fn, epochs: int = 150, hidden: int = 64, lr: float = 3e-3,
               margin: float = 0.1, seed: int = 0) -> nn.Module:
    """A perceptron (inputs -> hidden -> hidden -> 1, ReLU) fit full-batch with Adam on `loss_fn(scores,
    scaled labels, margin)`. Returns the module in eval mode; higher score = predicted more accurate."""
    if len(x) != len(y) or len(y) < 2:
        raise ValueError(f"need at least 2 cells with one label each; got {len(x)} and {len(y)}")
    if epochs < 1 or hidden < 1:
        raise ValueError(f"epochs={epochs}, hidden={hidden}; allowed: both >= 1")
    torch.manual_seed(seed)
    net = nn.Sequential(nn.Linear(x.shape[1], hidden), nn.ReLU(), nn.Linear(hidden, hidden), nn.ReLU(),
                        nn.Linear(hidden, 1))
    xt = torch.from_numpy(np.ascontiguousarray(x, dtype=np.float32))
    y = np.asarray(y, dtype=np.float64)
    span = y.max() - y.min()
    yt = torch.tensor((y - y.min()) / (span if span > 0 else 1.0), dtype=torch.float32)
    opt = torch.optim.Adam(net.parameters(), lr=lr)
    for _ in range(epochs):
        loss = loss_fn(net(xt).squeeze(-1), yt, margin)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
    return net.eval()


@torch.no_grad()
def scores(net: nn.Module, x: np.ndarray) -> np.ndarray:
    return net(torch.from_numpy(np.ascontiguousarray(x, dtype=np.float32))).squeeze(-1).numpy().astype(float)


def split(n_cells: int, pool: int, test: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Disjoint random cells: a labelled pool to train on (its fractions) and a held-out test set."""
    if pool + test > n_cells or pool < 2 or test < 3:
        raise ValueError(f"pool={pool}, test={test}; allowed: pool >= 2, test >= 3, pool + test <= {n_cells}")
    perm = np.random.default_rng(seed).permutation(n_cells)
    return perm[:pool], perm[pool:pool + test]


def fraction_study(x: np.ndarray, y: np.ndarray, pool_idx, test_idx, fractions, losses: dict, seeds,
                   epochs: int = 150, margin: float = 0.1) -> pd.DataFrame:
    """Kendall tau on the test cells of scorers trained on a fraction of the pool, one row per (seed, fraction,
    loss). Within a seed and fraction every loss trains on the same cells (a paired comparison)."""
    rows = []
    for seed in seeds:
        order = np.random.default_rng(1000 + seed).permutation(pool_idx)
        for frac in fractions:
            if not 0 < frac <= 1:
                raise ValueError(f"fraction={frac}; allowed: 0 < fraction <= 1")
            train = order[:max(2, int(round(frac * len(order))))]
            for name, fn in losses.items():
                net = fit_scorer(x[train], y[train], fn, epochs=epochs, margin=margin, seed=seed)
                rows.append({"seed": seed, "fraction": frac, "n_train": len(train), "loss": name,
                             "tau": kendall_tau(scores(net, x[test_idx]), y[test_idx])})
    return pd.DataFrame(rows)


def paired_gap(study: pd.DataFrame, a: str, b: str, confidence: float = 0.95, n_boot: int = 2000,
               seed: int = 0) -> pd.DataFrame:
    """Per training size: tau of loss `a` minus tau of loss `b`, paired by seed, its mean with a percentile
    bootstrap interval over seeds, and how many seeds favour each."""
    rows = []
    for n, g in study.groupby("n_train"):
        w = g.pivot_table(index="seed", columns="loss", values="tau")
        d = (w[a] - w[b]).dropna().to_numpy()
        if len(d) >= 2 and np.ptp(d) > 0:
            ci = stats.bootstrap((d,), np.mean, n_resamples=n_boot, confidence_level=confidence, method="percentile",
                                 random_state=np.random.default_rng(seed)).confidence_interval
            lo, hi = float(ci.low), float(ci.high)
        else:
            lo = hi = float(d.mean()) if len(d) else np.nan
        rows.append({"n_train": n, "fraction": g.fraction.iloc[0], "mean_gap": float(d.mean()), "ci_low": lo,
                     "ci_high": hi, f"{a}_better": int((d > 0).sum()), f"{b}_better": int((d < 0).sum()),
                     "seeds": len(d), "resolved": bool(lo > 0 or hi < 0)})
    return pd.DataFrame(rows)
