"""Rank correlation across training budgets (era-thesis.txt §4.2), in two lanes (`Params.lane`):

- 'train' (ci, paper): width and depth families of ResNets trained here, each evaluated at several fidelities,
  in two senses the thesis leaves open: 'anytime' (one long run, rate /10 at 50% and 75% of the longest budget,
  read off at each fidelity) and 'budgeted' (a separate run per fidelity with its own schedule scaled to it);
- 'table' (default): no training; every network of the ERA table (`resnas.tabular`, issue 14) read at every
  epoch of its E-epoch run and, for the networks that have one, of its long run. See `table_study`.
"""
from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np
import pandas as pd

from resnas.claims import Claim
from resnas.data import DATASETS
from resnas.evaluate import BACKENDS
from resnas.params import check_val_size, param, require

MODES = ("anytime", "budgeted")
LANES = ("train", "table")


@dataclass(frozen=True)
class Params:
    lane: str = param("train", choices=LANES, help="train: train the families here (and retrain an archive sample); "
                                                   "table: read every network of the ERA table, train nothing "
                                                   "(of the parameters below `table_dir` it uses n_boot and seed "
                                                   "only)")
    table: str = param("era_fmnist14", help="lane table: the table's name (resnas.tabular.load_table)")
    table_dir: str = param("", help="lane table: the folder holding it (default: the package's lib/resnas/tables)")
    dataset: str = param("fashion_mnist", choices=DATASETS)
    val_size: float = param(0.1, gt=0.0, help="validation images: a fraction in (0, 1), or a count")
    train_per_class: int | None = param(None, ge=1)
    val_per_class: int | None = param(None, ge=1)
    width_blocks: int = param(9, ge=1, le=200, help="blocks per section of the width family (ResNet-56: 9)")
    width_filters: list[int] = param([8, 16, 32, 64], ge=1, le=256)
    depth_filters: int = param(16, ge=1, le=256)
    depth_blocks: list[int] = param([2, 5, 9, 18], ge=1, le=200, help="ResNet-14/32/56/110 (602: 100)")
    in_space_max_filters: int = param(32, ge=1, help="the thesis text's widest first section (its Tables 5, 8, "
                                                     "9 drop f64; the code variant also offers 64)")
    in_space_max_blocks: int = param(18, ge=1, help="the search space's deepest section")
    fidelities: list[int] = param([5, 10, 20, 50, 100], ge=1, le=1000, help="epochs")
    modes: list[str] = param(list(MODES), choices=MODES)
    batch_size: int = param(128, ge=1, le=4096)
    lr: float = param(0.1, ge=1e-6, le=10.0)
    n_boot: int = param(2000, ge=10, le=100000)
    seed: int = param(0, ge=0)
    search_results: str = param("", help="an era_search result folder for the archive-scale analysis "
                                         "(default: results/<profile>/era_search)")
    retrain_sample: int = param(0, ge=0, help="archive networks retrained to retrain_epochs (paper profile: 100)")
    retrain_epochs: int = param(100, ge=1, le=1000, help="the long budget of that retraining")
    backend: str = param("inprocess", choices=BACKENDS, help="where trainings run; dask/ray: resnas.cluster")
    workers: int = param(1, ge=1, le=64)
    device: str = param("auto", choices=("auto", "cpu", "cuda"))

    def __post_init__(self):
        require(self.lane != "table" or bool(self.table.strip()),
                f"table={self.table!r} must name a table for lane='table'; allowed: e.g. 'era_fmnist14' (the "
                f"shipped CPU table)")
        check_val_size(self.val_size, self.dataset)
        distinct = sorted(set(self.fidelities))
        require(len(distinct) >= 2 and len(distinct) == len(self.fidelities),
                f"fidelities={list(self.fidelities)} must be at least two different budgets, each once (the study "
                f"correlates rankings between budgets); allowed: e.g. [5, 10, 20]")


def families(p: Params) -> pd.DataFrame:
    """The networks of the study: family, label, ERA configuration JSON, whether it lies in the search space."""
    from resnas.spaces.era import EraConfig

    rows = []
    for f in p.width_filters:
        rows.append(("width", f, p.width_blocks))
    for d in p.depth_blocks:
        rows.append(("depth", p.depth_filters, d))
    out = []
    for family, filters, blocks in rows:
        cfg = EraConfig("basic", (0, blocks, blocks, blocks), filters, 2, 32).canonical()
        out.append({"family": family, "network": f"ResNet-{cfg.layers} f{filters}", "config": cfg.to_json(),
                    "filters": filters, "layers": cfg.layers,
                    "in_space": filters <= p.in_space_max_filters and blocks <= p.in_space_max_blocks})
    return pd.DataFrame(out)


def run_fidelities(p: Params, nets: pd.DataFrame, evaluator_for) -> pd.DataFrame:
    """Accuracy of every network at every fidelity in every mode, as a tidy table. `evaluator_for(recipe)`
    returns an Evaluator for a recipe (so the notebook decides where archives live)."""
    from resnas.train import TrainRecipe

    base = TrainRecipe(epochs=max(p.fidelities), batch_size=p.batch_size, lr=p.lr, schedule="step",
                       milestones=(0.5, 0.75))
    unique = nets.drop_duplicates("config")
    items = [("era", c) for c in unique.config]
    rows = []
    if "anytime" in p.modes:
        for cfg, rec in zip(unique.config, evaluator_for(base).map(items, desc="anytime")):
            acc = {h["epoch"]: h["val_acc"] for h in rec.history}
            for e in p.fidelities:
                rows.append({"mode": "anytime", "config": cfg, "fidelity": e, "accuracy": 100 * acc.get(e, np.nan),
                             "params": rec.params, "train_seconds": rec.wall_time})
    if "budgeted" in p.modes:
        for e in p.fidelities:
            recipe = base.replace(epochs=e)
            for cfg, rec in zip(unique.config, evaluator_for(recipe).map(items, desc=f"budget {e}")):
                rows.append({"mode": "budgeted", "config": cfg, "fidelity": e,
                             "accuracy": 100 * rec.final_val_acc if rec.ok else np.nan, "params": rec.params,
                             "train_seconds": rec.wall_time})
    acc = pd.DataFrame(rows)
    return nets.merge(acc, on="config")


def correlation_tables(acc: pd.DataFrame, n_boot: int, seed: int = 0) -> pd.DataFrame:
    """Spearman and Kendall for every fidelity pair, per mode and network set (each family, its in-space
    subset, and the combined in-space set, as the thesis's Tables 4, 5, 7, 8 and 9), with bootstrap CIs."""
    from resnas.rank import bootstrap_ci

    sets = []
    for family in ("width", "depth"):
        fam = acc[acc.family == family]
        sets += [(family, fam), (f"{family}, in space", fam[fam.in_space])]
    sets.append(("combined, in space", acc[acc.in_space].drop_duplicates(["mode", "network", "fidelity"])))
    out = []
    for mode in acc["mode"].unique():
        for name, sub in sets:
            sub = sub[sub["mode"] == mode]
            if sub.network.nunique() < 3:
                continue
            for method in ("spearman", "kendall"):
                ci = bootstrap_ci(sub[["network", "fidelity", "accuracy"]], method, n_boot=n_boot, seed=seed)
                out.append(ci.assign(mode=mode, networks=name))
    cols = ["mode", "networks", "method", "fidelity_a", "fidelity_b", "estimate", "low", "high", "n_networks"]
    return pd.concat(out, ignore_index=True)[cols] if out else pd.DataFrame(columns=cols)


def archive_curves(search_dir) -> pd.DataFrame:
    """Learning curves of every network an ERA search evaluated, with block type, depth and width buckets."""
    from resnas.evaluate import Archive
    from resnas.spaces.era import EraConfig

    archive = Archive(f"{search_dir}/archive.sqlite")
    rows = []
    for r in archive.records():
        if not r.ok or r.space != "era":
            continue
        cfg = EraConfig.from_json(r.config)
        for h in r.history:
            rows.append({"key": r.key, "epoch": h["epoch"], "val_acc": h["val_acc"], "block": cfg.block,
                         "layers": cfg.layers, "filters": cfg.filters})
    archive.close()
    df = pd.DataFrame(rows)
    if len(df):  # buckets split at the archive's own medians, so they suit any profile's space
        lm, fm = df.layers.median(), df.filters.median()
        df["depth"] = np.where(df.layers <= lm, f"<= {lm:g} layers", f"> {lm:g} layers")
        df["width"] = np.where(df.filters <= fm, f"<= {fm:g} filters", f"> {fm:g} filters")
    return df


def retrain_archive_sample(search_dir, n: int, epochs: int, evaluator_for, seed: int = 0) -> pd.DataFrame:
    """Retrain a seeded random sample of an ERA search archive's networks to `epochs`, exactly as the search
    trained them otherwise, and return their learning curves from the search with the long run's accuracy
    appended as epoch `epochs` — ready for `rank.early_final_correlation(..., final_epoch=epochs)`.
    `evaluator_for(data_spec, recipe, seed)` returns an Evaluator (the notebook decides where it writes)."""
    from resnas.evaluate import archive_fidelity

    curves = archive_curves(search_dir)
    spec, recipe, train_seed = archive_fidelity(f"{search_dir}/archive.sqlite")
    if epochs <= recipe.epochs:
        raise ValueError(f"retrain_epochs={epochs} must exceed the search's {recipe.epochs} epochs")
    last = curves.groupby("key").epoch.max()
    keys = sorted(last[last == recipe.epochs].index)
    rng = np.random.default_rng(seed)
    picked = sorted(rng.choice(keys, size=min(n, len(keys)), replace=False))
    sample = curves[curves.key.isin(picked)]
    configs = sample.drop_duplicates("key").set_index("key").loc[picked]
    from resnas.evaluate import Archive

    archive = Archive(f"{search_dir}/archive.sqlite")
    items = [("era", archive.get(k).config) for k in picked]
    archive.close()
    evaluator = evaluator_for(spec, recipe.replace(epochs=epochs), train_seed)
    records = evaluator.map(items, desc=f"retraining {len(items)} archive networks to {epochs} epochs")
    evaluator.close()
    long = configs.drop(columns=["epoch", "val_acc"]).assign(
        epoch=epochs, val_acc=[r.final_val_acc if r.ok else np.nan for r in records]).reset_index()
    return pd.concat([sample, long], ignore_index=True)


# ---------------------------------------------------------------------------------------------- claims (#16)
# Table 9 of the thesis (the combined in-space networks, era-thesis.txt:548-557): 20 epochs rank 100 epochs
# well, shorter trainings do not. "Ranks well" is read as a Spearman rho above RANKS_WELL; the 5-epoch claim
# ("does not") as a rho below the same threshold (kind "less"), not as equivalence to zero: the thesis's
# -0.89 says "not well", not "unrelated".
RANKS_WELL = 0.5
THESIS_FIDELITIES = (5, 20, 100)  # the thesis's budgets the claims name
CLAIMS = {c.id: c for c in (
    Claim("era.rank20_ranks100_well", "ERA", "era-thesis.txt:548",
          "a rank-correlation of 0.71 between fidelity 20 and 100, which can be considered a rather strong "
          "correlation",
          f"Over networks of the search space (thesis Table 9: its width and depth families' in-space networks; "
          f"train lane: our families'; table lane: the ERA table's networks with a long run), the ranking "
          f"after the search's budget (thesis: 20 epochs) agrees well with the ranking after the long budget "
          f"(thesis: 100 epochs): Spearman rho above {RANKS_WELL}.",
          "Table 9: rho(20, 100) = 0.71 over 6 networks", "greater", "Spearman rho, short vs long budget",
          null=RANKS_WELL),
    Claim("era.rank5_not_rank100", "ERA", "era-thesis.txt:548",
          "training for less then 20 epochs in the search appears to be rather pointless",
          f"Over the same networks, the ranking after a much shorter budget (thesis: 5 epochs) does not agree "
          f"well with the ranking after the long budget: Spearman rho below {RANKS_WELL} (the threshold of "
          f"'ranks well' above; a one-sided test, not equivalence to zero).",
          "Table 9: rho(5, 100) = -0.89 over 6 networks", "less", "Spearman rho, shortest vs long budget",
          null=RANKS_WELL),
)}


def fidelity_mapping(fidelities, thesis=THESIS_FIDELITIES) -> dict:
    """The thesis's budgets onto ours: the longest of ours stands for the thesis's longest (100 epochs), and
    each shorter thesis budget for our budget nearest (in log epochs) to the same fraction of the longest
    (ties: the longer). E.g. [1, 2, 4, 8]: 5 -> 1, 20 -> 2, 100 -> 8."""
    ours = sorted(set(int(f) for f in fidelities))
    top, longest = max(thesis), ours[-1]
    out = {}
    for t in thesis:
        target = np.log(longest * t / top)
        out[t] = min(ours, key=lambda f: (abs(np.log(f) - target), -f))
    return out


def claim_mode(modes) -> str:
    """The mode the claims are decided in: 'budgeted' (a run of its own per budget, as a search trains each
    network) where it ran, else 'anytime'."""
    return "budgeted" if "budgeted" in modes else "anytime"


def fidelity_pair(acc: pd.DataFrame, mode: str, a: int, b: int) -> pd.DataFrame:
    """The combined in-space networks (thesis Table 9) with their accuracy at budgets `a` and `b` in `mode`:
    network, x (at a), y (at b); networks lacking either (a failed training) are dropped."""
    sub = acc[(acc["mode"] == mode) & acc.in_space].drop_duplicates(["network", "fidelity"])
    wide = sub.pivot(index="network", columns="fidelity", values="accuracy")
    if a not in wide or b not in wide:
        return pd.DataFrame(columns=["network", "x", "y"])
    wide = wide[[a, b]].dropna()
    return pd.DataFrame({"network": wide.index, "x": wide[a].to_numpy(), "y": wide[b].to_numpy()})


def seconds_per_network(acc: pd.DataFrame, mode: str) -> float:
    """A network's training cost in `mode` over the in-space set: anytime one run (its seconds repeat on every
    fidelity row), budgeted one run per budget (summed). Mean over networks."""
    sub = acc[(acc["mode"] == mode) & acc.in_space].drop_duplicates(["network", "fidelity"])
    if sub.empty:
        return float("nan")
    per = sub.groupby("network").train_seconds
    return float((per.first() if mode == "anytime" else per.sum()).mean())


def claim_rows(acc: pd.DataFrame, p: Params, archive_long: pd.DataFrame | None = None) -> list[dict]:
    """Both Table 9 claims on our families (unit: networks). `archive_long`: the archive-scale correlations
    (`rank.early_final_correlation` of the retraining, split 'all'), quoted in the note where present."""
    from dataclasses import replace

    from resnas.claims import decide_correlation

    m = fidelity_mapping(p.fidelities)
    mode, other = claim_mode(p.modes), [x for x in p.modes if x != claim_mode(p.modes)]
    same = p.dataset == "cifar10" and sorted(p.fidelities) == [5, 10, 20, 50, 100]
    proto = "same data and budget" if same else ("proxy budget" if p.dataset == "cifar10" else
                                                 "proxy data and budget")
    mapping = (f"thesis {'/'.join(map(str, m))} epochs -> {'/'.join(str(m[t]) for t in m)} epochs on {p.dataset} "
               f"(fraction of the longest, log-nearest); {mode} mode")
    sec = seconds_per_network(acc, mode)
    rows = []
    for key, short in (("era.rank20_ranks100_well", 20), ("era.rank5_not_rank100", 5)):
        a, b = m[short], m[max(m)]
        pair = fidelity_pair(acc, mode, a, b)
        notes = [f"{a} vs {b} epochs over {len(pair)} in-space networks"]
        for o in other:
            op = fidelity_pair(acc, o, a, b)
            if len(op) >= 3 and op.x.nunique() > 1 and op.y.nunique() > 1:
                notes.append(f"{o} mode: rho {op.x.rank().corr(op.y.rank()):.2f}")
        if archive_long is not None and len(archive_long):  # its own epochs, mapped the same way
            am = fidelity_mapping(archive_long.epoch)
            row = archive_long[(archive_long.epoch == am[short]) & archive_long.spearman.notna()]
            if len(row) and am[short] != am[max(am)]:
                r = row.iloc[0]
                notes.append(f"archive scale: {int(r.n_networks)} search networks, search epoch {am[short]} vs "
                             f"the {am[max(am)]}-epoch retraining, rho {r.spearman:.2f}")
        if a == b:
            notes.append(f"the mapping puts thesis {short} epochs on the longest budget itself: the row is "
                         "uninformative on this profile")
        claim = replace(CLAIMS[key], mapping=mapping, protocol=proto)
        rows.append(decide_correlation(claim, pair.x.to_numpy(), pair.y.to_numpy(), method="spearman",
                                       n_unit="networks", seconds_per_run=sec, seed=p.seed, note="; ".join(notes)))
    return rows


# ---------------------------------------------------------------------------------------------- the table lane
# Every network of the ERA table (issue 14), no training. Two runs per network are read: the E-epoch run (every
# network, the thesis's search schedule scaled: lr, then lr/10 for its last epoch(s)) and the long run (a subset
# of networks, `long_epochs`, lr/10 for its last 3 of 18). Epoch k < E of the E run is not a k-epoch training
# with its own schedule: it is the E run read before its rate drops, i.e. the same training as the long run's
# epoch k (same seed, data and rate up to there; the table shows them equal). Epoch E itself follows a drop
# the long run only makes at its end. So three views: the E run's epochs among themselves, each E-run epoch
# against the long run's end, and the long run's own epochs against its end.

THESIS_SEARCH_EPOCHS = 20  # the thesis's search trained every network 20 epochs (era-thesis.txt:406): the E run


def lane_table(p: Params) -> pd.DataFrame:
    """The table `p.table` (in `p.table_dir`, default the package's tables), as `resnas.tabular.load_table`."""
    from resnas import tabular

    folder = p.table_dir or tabular.TABLES
    try:
        return tabular.load_table(p.table, folder)
    except tabular.TableUnavailable as exc:
        raise ValueError(f"table={p.table!r} (table_dir={str(folder)!r}) is not there: {exc}; allowed: a table "
                         f"written by `python -m resnas.experiments.era_table merge` (or its parts), or "
                         f"lane='train'") from None


def table_budgets(table: pd.DataFrame) -> tuple[int, int | None]:
    """(E, long): the table's short budget (its recipe's epochs, else its smallest) and its long budget (the
    largest, None when the table holds one budget only)."""
    budgets = sorted(int(b) for b in table.budget.unique())
    if not budgets:
        raise ValueError("the table is empty: no budget to correlate")
    identity = table.attrs.get("identity") or {}
    short = int(identity.get("recipe", {}).get("epochs", budgets[0]))
    if short not in budgets:
        raise ValueError(f"the table's recipe says E={short} epochs, but it holds budgets {budgets}")
    return short, (budgets[-1] if budgets[-1] > short else None)


def table_curves(table: pd.DataFrame, budget: int, seed: int | None = None) -> pd.DataFrame:
    """network x epoch validation accuracy (%) of every network's run at `budget` with `seed` (default: the
    table's first seed, which every network has), plus its `family` (era_table.family). Failed trainings (no
    complete curve) are left out."""
    from resnas.experiments.era_table import family

    rows = table[table.budget == budget]
    if rows.empty:
        raise ValueError(f"budget={budget} is not in the table; allowed: {sorted(table.budget.unique().tolist())}")
    seed = int(rows.seed.min()) if seed is None else seed
    rows = rows[rows.seed == seed]
    wide = rows.pivot_table(index="config", columns="epoch", values="val_acc", dropna=False) * 100
    wide = wide.reindex(columns=range(1, budget + 1)).dropna()
    wide.columns = [int(c) for c in wide.columns]
    wide.columns.name = "epoch"
    fam = rows.drop_duplicates("config").set_index("config")
    wide["family"] = [family(b, f, g) for b, f, g in
                      zip(fam.block.loc[wide.index], fam.filters.loc[wide.index], fam.group.loc[wide.index])]
    return wide


def _ranks(x: np.ndarray) -> np.ndarray:
    """Average ranks along the last axis (scipy's Spearman ties)."""
    from scipy.stats import rankdata

    return rankdata(x, axis=-1)


def _rowwise_pearson(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    a = a - a.mean(axis=-1, keepdims=True)
    b = b - b.mean(axis=-1, keepdims=True)
    with np.errstate(invalid="ignore", divide="ignore"):  # a constant resample has no rank order: NaN, skipped
        return (a * b).sum(-1) / np.sqrt((a * a).sum(-1) * (b * b).sum(-1))


def boot_pairs(wide: pd.DataFrame, pairs, method: str = "spearman", n_boot: int = 2000, seed: int = 0,
               level: float = 0.95) -> pd.DataFrame:
    """`rank.bootstrap_ci` for the given column pairs, vectorised: the same resamples (networks drawn with
    `np.random.default_rng(seed).integers(0, n, (n_boot, n))` over the rows complete in every column), the same
    statistics (scipy's Spearman rho and Kendall tau-b) and percentile interval, in seconds rather than minutes
    at the table's 768 networks. Spearman ranks each resample; Kendall counts resampled pairs as w'Mw with w
    the resample's multiplicities (copies of one network are tied pairs, as scipy counts them)."""
    from scipy import stats

    if method not in ("spearman", "kendall"):
        raise ValueError(f"method={method!r} is unknown; allowed: spearman, kendall")
    w = wide.dropna()
    n = len(w)
    rng = np.random.default_rng(seed)
    idx = rng.integers(0, n, size=(n_boot, n))
    cols = sorted({c for pair in pairs for c in pair}, key=list(w.columns).index)
    vals = {c: w[c].to_numpy(dtype=float) for c in cols}
    if method == "spearman":
        ranks = {c: _ranks(vals[c][idx]) for c in cols}
    else:
        counts = np.bincount((idx + n * np.arange(n_boot)[:, None]).ravel(), minlength=n_boot * n)
        counts = counts.reshape(n_boot, n).astype(float)
        signs = {c: np.sign(vals[c][:, None] - vals[c][None, :]) for c in cols}
        untied = {c: ((counts @ np.abs(signs[c])) * counts).sum(1) for c in cols}  # 2 x pairs not tied in c
    rows = []
    for a, b in pairs:
        x, y = vals[a], vals[b]
        with warnings.catch_warnings():  # a constant column has no rank order: scipy warns and returns NaN
            warnings.simplefilter("ignore")
            est = stats.spearmanr(x, y).statistic if method == "spearman" else stats.kendalltau(x, y).statistic
        if method == "spearman":
            boots = _rowwise_pearson(ranks[a], ranks[b])
        else:
            s = ((counts @ (signs[a] * signs[b])) * counts).sum(1)
            with np.errstate(invalid="ignore", divide="ignore"):
                boots = s / np.sqrt(untied[a] * untied[b])
        boots = boots[np.isfinite(boots)]
        lo, hi = np.quantile(boots, [(1 - level) / 2, (1 + level) / 2]) if len(boots) else (np.nan, np.nan)
        rows.append({"a": a, "b": b, "method": method, "estimate": float(est), "low": float(lo), "high": float(hi),
                     "used": len(boots), "n_networks": n})
    return pd.DataFrame(rows, columns=["a", "b", "method", "estimate", "low", "high", "used", "n_networks"])


def boot_matrix(wide: pd.DataFrame, method: str = "spearman", n_boot: int = 2000, seed: int = 0) -> pd.DataFrame:
    """Every column pair (a before b), as `rank.bootstrap_ci` gives it (columns fidelity_a, fidelity_b)."""
    import itertools

    pairs = list(itertools.combinations(wide.columns, 2))
    out = boot_pairs(wide, pairs, method, n_boot, seed)
    return out.rename(columns={"a": "fidelity_a", "b": "fidelity_b"})


def _scopes(curves: pd.DataFrame, min_networks: int = 8):
    """('all', every network) and (family, its networks) for families with at least `min_networks`."""
    yield "all", curves
    for fam, sub in curves.groupby("family", sort=True):
        if len(sub) >= min_networks:
            yield fam, sub


def epoch_pairs(curves: pd.DataFrame, n_boot: int, seed: int = 0) -> pd.DataFrame:
    """Spearman and Kendall between every pair of epochs of one run (the E run), over all networks and per
    family, with bootstrap intervals: scope, method, epoch_a, epoch_b, estimate, low, high, n_networks."""
    epochs = [c for c in curves.columns if c != "family"]
    out = []
    for scope, sub in _scopes(curves):
        for method in ("spearman", "kendall"):
            out.append(boot_matrix(sub[epochs], method, n_boot, seed).assign(scope=scope))
    df = pd.concat(out, ignore_index=True).rename(columns={"fidelity_a": "epoch_a", "fidelity_b": "epoch_b"})
    return df[["scope", "method", "epoch_a", "epoch_b", "estimate", "low", "high", "n_networks"]]


def pair_matrix(pairs: pd.DataFrame, scope: str = "all", method: str = "spearman") -> pd.DataFrame:
    """The epoch x epoch matrix of one scope and method of `epoch_pairs` (ones on the diagonal)."""
    sub = pairs[(pairs.scope == scope) & (pairs.method == method)]
    epochs = sorted(set(sub.epoch_a) | set(sub.epoch_b))
    m = pd.DataFrame(np.eye(len(epochs)), index=epochs, columns=epochs)
    for r in sub.itertuples():
        m.loc[r.epoch_a, r.epoch_b] = m.loc[r.epoch_b, r.epoch_a] = r.estimate
    m.index.name = m.columns.name = "epoch"
    return m


def long_frame(short: pd.DataFrame, long: pd.DataFrame) -> pd.DataFrame:
    """The networks with both runs: columns ('E', k) for the E run's epochs, ('L', k) for the long run's, and
    family; MultiIndex-free labels 'E<k>' / 'L<k>' keep it a plain frame."""
    e = short.drop(columns="family").rename(columns=lambda k: f"E{k}")
    l_ = long.drop(columns="family").rename(columns=lambda k: f"L{k}")
    both = e.join(l_, how="inner")
    both["family"] = short.family.loc[both.index]
    return both


def shared_prefix_gap(short: pd.DataFrame, long: pd.DataFrame) -> float:
    """The largest |accuracy difference| (points) between the E run's and the long run's epochs before E, over
    the networks with both: 0 when the E run's early epochs are the long run's own (same seed, data and rate)."""
    both = long_frame(short, long)
    e = max(c for c in short.columns if c != "family")
    gaps = [(both[f"E{k}"] - both[f"L{k}"]).abs().max() for k in range(1, e)]
    return float(max(gaps)) if gaps and len(both) else float("nan")


def vs_long(short: pd.DataFrame, long: pd.DataFrame, n_boot: int, seed: int = 0) -> pd.DataFrame:
    """Each epoch of the E run and of the long run against the long run's final accuracy, over the networks with
    both (all and per family): scope, method, curve ('E run' / 'long run'), epoch, estimate, low, high,
    n_networks."""
    both = long_frame(short, long)
    e_budget, l_budget = max(c for c in short.columns if c != "family"), max(c for c in long.columns if c != "family")
    target = f"L{l_budget}"
    cols = [c for c in both.columns if c != "family"]
    pairs = [(c, target) for c in cols if c != target]
    out = []
    for scope, sub in _scopes(both):
        for method in ("spearman", "kendall"):
            out.append(boot_pairs(sub[cols], pairs, method, n_boot, seed).assign(scope=scope))
    df = pd.concat(out, ignore_index=True)
    df["curve"] = np.where(df.a.str.startswith("E"), f"{e_budget}-epoch run", f"{l_budget}-epoch run")
    df["epoch"] = df.a.str[1:].astype(int)
    return df[["scope", "method", "curve", "epoch", "estimate", "low", "high", "n_networks"]]


def seed_ceiling(table: pd.DataFrame, budget: int, n_boot: int, seed: int = 0) -> pd.DataFrame:
    """The noise ceiling: Spearman and Kendall between the two seeds' final accuracies at `budget`, over the
    networks trained twice (all and per family), with bootstrap intervals; plus era_table.seed_noise's gaps for
    'all'. A correlation between fidelities is read against it: two trainings of the same network at the same
    budget agree this well, so a ranking agrees no better with a noisy reading of itself."""
    from resnas.experiments.era_table import seed_noise

    seeds = sorted(int(s) for s in table[table.budget == budget].seed.unique())
    cols = ["scope", "method", "estimate", "low", "high", "n_networks", "median_gap", "iqr"]
    if len(seeds) < 2:
        return pd.DataFrame(columns=cols)
    a, b = (table_curves(table, budget, s) for s in seeds[:2])
    both = pd.DataFrame({"s0": a[budget], "s1": b[budget]}).dropna()
    both["family"] = a.family.loc[both.index]
    noise = seed_noise(table, budget)
    out = []
    for scope, sub in _scopes(both):
        for method in ("spearman", "kendall"):
            r = boot_pairs(sub[["s0", "s1"]], [("s0", "s1")], method, n_boot, seed).iloc[0]
            out.append({"scope": scope, "method": method, "estimate": r.estimate, "low": r.low, "high": r.high,
                        "n_networks": int(r.n_networks),
                        "median_gap": 100 * noise["median_gap"] if scope == "all" else np.nan,
                        "iqr": 100 * noise["iqr"] if scope == "all" else np.nan})
    return pd.DataFrame(out, columns=cols)


def table_mapping(short: int, long: int, thesis=THESIS_FIDELITIES, search: int = THESIS_SEARCH_EPOCHS) -> dict:
    """The thesis's budgets onto the table's runs, as {thesis epochs: (run budget, epoch of that run)}.

    The thesis's search budget (20) is the E run's end: the table's E is that schedule scaled (its design), lr
    drop included. Its longest (100) is the long run's end. Any other thesis budget t is the fraction t/100 of
    the long run, at the epoch nearest in log epochs (ties: the later), read on the E run when it falls before
    E (those epochs are the long run's own, before any drop) and on the long run after. E.g. E = 6, long = 18:
    5 -> epoch 1 (0.9), 10 -> epoch 2 (1.8), 20 -> E run's end, 50 -> long run's epoch 9, 100 -> its end."""
    if long is None or long <= short:
        raise ValueError(f"long={long} must exceed the short budget E={short}: the table lane needs a long run to "
                         "stand for the thesis's 100 epochs")
    top = max(thesis)
    out = {}
    for t in sorted(thesis):
        if t == top:
            out[t] = (long, long)
        elif t == search:
            out[t] = (short, short)
        else:
            target = np.log(long * t / top)
            k = min(range(1, long + 1), key=lambda e: (abs(np.log(e) - target), -e))
            # before the E run's rate drop its epochs are the long run's own: read them there; else the long run
            out[t] = (short, k) if t < search and k < short else (long, k)
    return out


def mapping_text(mapping: dict, short: int, long: int, table_name: str) -> str:
    def where(budget, epoch):
        if budget == long:
            return f"the {long}-epoch run's end" if epoch == long else f"epoch {epoch} of the {long}-epoch run"
        return f"the {short}-epoch run's end" if epoch == short else f"epoch {epoch} of the {short}-epoch run"

    return ("thesis " + ", ".join(f"{t} -> {where(*m)}" for t, m in mapping.items()) +
            f" (table {table_name}: the search's 20 as E, 5 to 100 as fractions of the long run, log-nearest)")


def mapped_wide(short: pd.DataFrame, long: pd.DataFrame, mapping: dict) -> pd.DataFrame:
    """The networks with both runs, one column per thesis budget (its mapped reading), for a Table 9 shape."""
    both = long_frame(short, long)
    long_budget = max(c for c in long.columns if c != "family")
    cols = {t: both[f"L{e}" if b == long_budget else f"E{e}"] for t, (b, e) in mapping.items()}
    out = pd.DataFrame(cols)
    out["family"] = both.family
    return out


def thesis_side_by_side(vs: pd.DataFrame, mapping: dict, short: int, long: int) -> pd.DataFrame:
    """Each thesis budget against 100 epochs: the thesis's Spearman (Table 9 combined in-space, Table 4 width,
    Table 7 depth) beside ours at the mapped reading against the long run's end (all networks), with interval."""
    from resnas.rank import THESIS_CORRELATIONS

    top = max(mapping)
    rows = []
    for t, (budget, epoch) in mapping.items():
        if t == top:
            continue
        curve = f"{budget}-epoch run"
        r = vs[(vs.scope == "all") & (vs.method == "spearman") & (vs.curve == curve) & (vs.epoch == epoch)]
        row = {"thesis_epochs": t, "ours": f"epoch {epoch} of the {budget}-epoch run"}
        for name, key in (("table9_combined", "Table 9 (combined, in space)"), ("table4_width", "Table 4 (width)"),
                          ("table7_depth", "Table 7 (depth)")):
            m = THESIS_CORRELATIONS[key][2]
            row[name] = float(m.loc[t, top]) if t in m.index and top in m.columns else np.nan
        row.update({"rho": r.estimate.iloc[0] if len(r) else np.nan, "low": r.low.iloc[0] if len(r) else np.nan,
                    "high": r.high.iloc[0] if len(r) else np.nan,
                    "n_networks": int(r.n_networks.iloc[0]) if len(r) else 0})
        rows.append(row)
    return pd.DataFrame(rows)


def accuracy_spread(short: pd.DataFrame, long: pd.DataFrame | None) -> pd.DataFrame:
    """Validation accuracy (%) per epoch of each run over its networks: median, quartiles, min, max."""
    rows = []
    for w in (short, long):
        if w is None:
            continue
        budget = max(c for c in w.columns if c != "family")
        for e in [c for c in w.columns if c != "family"]:
            v = w[e]
            rows.append({"run": f"{budget}-epoch run", "epoch": e, "networks": len(v), "min": v.min(),
                         "q25": v.quantile(0.25), "median": v.median(), "q75": v.quantile(0.75), "max": v.max()})
    return pd.DataFrame(rows)


def table_study(table: pd.DataFrame, p: Params) -> dict:
    """Everything the table lane shows: the runs' curves, the epoch-pair correlations of the E run (all networks
    and per family), every epoch against the long run's end, the seed-noise ceiling, the thesis mapping, the
    Table-9-shaped matrix at the mapped readings and the side-by-side with the thesis."""
    short, long = table_budgets(table)
    s_curves = table_curves(table, short)
    out = {"short": short, "long": long, "short_curves": s_curves,
           "pairs": epoch_pairs(s_curves, p.n_boot, p.seed),
           "ceiling": seed_ceiling(table, short, p.n_boot, p.seed)}
    if long is None:
        out.update(long_curves=None, vs_long=None, mapping=None, mapped=None, side_by_side=None)
    else:
        l_curves = table_curves(table, long)
        vs = vs_long(s_curves, l_curves, p.n_boot, p.seed)
        from resnas.rank import EPOCHS  # all five thesis budgets (5..100), for the Table 9 shape

        mapping = table_mapping(short, long, thesis=EPOCHS)
        mapped = mapped_wide(s_curves, l_curves, mapping)
        out.update(long_curves=l_curves, vs_long=vs, mapping=mapping, mapped=mapped,
                   side_by_side=thesis_side_by_side(vs, mapping, short, long))
    out["spread"] = accuracy_spread(s_curves, out["long_curves"])
    return out


def table_seconds(table: pd.DataFrame, configs, budgets) -> float:
    """Mean stored training time per network of its runs at `budgets` (first seed): the cost of one pair."""
    rows = table[(table.epoch == table.budget) & table.budget.isin(list(budgets)) & table.config.isin(list(configs))]
    rows = rows[rows.seed == rows.seed.min()]
    return float(rows.groupby("config").wall_time.sum().mean()) if len(rows) else float("nan")


def table_claim_rows(table: pd.DataFrame, study: dict, p: Params) -> list[dict]:
    """Both Table 9 claims on the table (unit: networks with a long run): the mapped readings of thesis 20 and 5
    epochs against the long run's end, Spearman, with the mapping in the row and the family spread, the seed
    ceiling and the other reading of 5 epochs (5/20 of the E run) in the note."""
    from dataclasses import replace

    from resnas.claims import decide_correlation

    short, long, mapping = study["short"], study["long"], study["mapping"]
    if mapping is None:
        raise ValueError(f"the table holds one budget ({short} epochs): the claims need its long run")
    text = mapping_text({t: mapping[t] for t in THESIS_FIDELITIES}, short, long, p.table)
    both = long_frame(study["short_curves"], study["long_curves"])
    vs, ceiling = study["vs_long"], study["ceiling"]
    ceil = ceiling[(ceiling.scope == "all") & (ceiling.method == "spearman")]
    sec = table_seconds(table, both.index, (short, long))
    rows = []
    for key, t in (("era.rank20_ranks100_well", THESIS_SEARCH_EPOCHS),
                   ("era.rank5_not_rank100", min(THESIS_FIDELITIES))):
        budget, epoch = mapping[t]
        col = f"L{epoch}" if budget == long else f"E{epoch}"
        x, y = both[col].to_numpy(), both[f"L{long}"].to_numpy()
        fam = vs[(vs.scope != "all") & (vs.method == "spearman") & (vs.curve == f"{budget}-epoch run")
                 & (vs.epoch == epoch)]
        notes = [f"{budget}-epoch run's epoch {epoch} vs the {long}-epoch run's end over {len(both)} networks "
                 f"with a long run (table {p.table}: {table.config.nunique()} networks)"]
        if len(fam):
            notes.append(f"per family rho {fam.estimate.min():.2f} to {fam.estimate.max():.2f} "
                         f"({len(fam)} families)")
        if len(ceil):
            c = ceil.iloc[0]
            notes.append(f"seed-noise ceiling (two seeds at E, {int(c.n_networks)} networks): rho {c.estimate:.2f} "
                         f"[{c.low:.2f}, {c.high:.2f}]")
        if t < THESIS_SEARCH_EPOCHS:  # the other reading: 5/20 of the E run instead of 5/100 of the long run
            alt = max(1, min(short - 1, int(round(short * t / THESIS_SEARCH_EPOCHS))))
            if alt != epoch:
                r = vs[(vs.scope == "all") & (vs.method == "spearman") & (vs.curve == f"{short}-epoch run")
                       & (vs.epoch == alt)]
                if len(r):
                    notes.append(f"read as {t}/{THESIS_SEARCH_EPOCHS} of the E run (epoch {alt}): rho "
                                 f"{r.estimate.iloc[0]:.2f}")
        claim = replace(CLAIMS[key], mapping=text, protocol="proxy data and budget")
        rows.append(decide_correlation(claim, x, y, method="spearman", n_unit="networks", seconds_per_run=sec,
                                       seed=p.seed, note="; ".join(notes), n_resamples=p.n_boot))
    return rows


def plot_vs_long(vs: pd.DataFrame, ceiling: pd.DataFrame, mapping: dict, long: int):
    """Spearman of each epoch (E run and long run) against the long run's end over all networks, with 95%
    bootstrap bands; the seed-noise ceiling as a grey band; the thesis's Table 9 column (each budget against
    100 epochs, 6 networks) at the epoch `mapping` reads each budget at (the E run's end for 20)."""
    import matplotlib.pyplot as plt

    from resnas.rank import THESIS_CORRELATIONS

    fig, ax = plt.subplots(figsize=(7.5, 3.8))
    sub = vs[(vs.scope == "all") & (vs.method == "spearman")]
    for i, (curve, g) in enumerate(sub.groupby("curve", sort=False)):
        g = g.sort_values("epoch")
        ax.plot(g.epoch, g.estimate, "o-", color=f"C{i}", label=f"ours: {curve} (n={int(g.n_networks.max())})",
                ms=4)
        ax.fill_between(g.epoch, g.low, g.high, color=f"C{i}", alpha=0.25, lw=0)
    c = ceiling[(ceiling.scope == "all") & (ceiling.method == "spearman")]
    if len(c):
        c = c.iloc[0]
        ax.axhspan(c.low, c.high, color="grey", alpha=0.25, lw=0)
        ax.axhline(c.estimate, color="grey", ls="--", lw=1, label=f"seed-noise ceiling at E (rho {c.estimate:.2f})")
    t9 = THESIS_CORRELATIONS["Table 9 (combined, in space)"][2]
    top = max(mapping)
    shown = [t for t in t9.index if t in mapping]
    xs = [mapping[t][1] for t in shown]  # each thesis budget at the epoch the mapping reads it
    ax.plot(xs, t9.loc[shown, top].to_numpy(), "s:", color="C3",
            label="thesis Table 9 (6 networks), each budget at its mapped epoch")
    for t, x in zip(shown, xs):
        ax.annotate(f"{t}", (x, t9.loc[t, top]), textcoords="offset points", xytext=(4, -10), fontsize=7,
                    color="C3")
    ax.set_xticks(range(1, long + 1))
    ax.axhline(0, color="black", lw=0.6)
    ax.set(xlabel="epoch of the run", ylabel=f"Spearman vs the {long}-epoch end", ylim=(-1.05, 1.05))
    ax.legend(fontsize=7, loc="lower right")
    fig.tight_layout()
    return fig


def heatmap_grid(matrices: dict, title: str = "", ncols: int = 4):
    """Annotated correlation heatmaps (values in [-1, 1]) in a grid, drawn once: `plots.correlation_heatmaps`
    (seaborn's heatmap) redraws the whole figure for every panel it adds, seconds per figure at the table
    lane's 6 to 7 panels. Axis labels: each matrix's index name."""
    import matplotlib.pyplot as plt
    import seaborn as sns

    n = len(matrices)
    ncols = max(1, min(ncols, n))
    nrows = -(-n // ncols)
    fig, axes = plt.subplots(nrows, ncols, figsize=(3.3 * ncols, 3.2 * nrows), squeeze=False)
    cmap = sns.color_palette("vlag", as_cmap=True)
    for ax, (name, m) in zip(axes.flat, matrices.items()):
        v = m.to_numpy(dtype=float)
        ax.imshow(v, vmin=-1, vmax=1, cmap=cmap)
        for i in range(v.shape[0]):
            for j in range(v.shape[1]):
                if np.isfinite(v[i, j]):
                    ax.text(j, i, f"{v[i, j]:.2f}", ha="center", va="center", fontsize=7,
                            color="white" if abs(v[i, j]) > 0.75 else "black")
        ax.set_xticks(range(v.shape[1]), [str(c) for c in m.columns], fontsize=8)
        ax.set_yticks(range(v.shape[0]), [str(c) for c in m.index], fontsize=8)
        ax.grid(False)
        ax.set_title(name, fontsize=9)
        ax.set_xlabel(m.columns.name or "epochs", fontsize=8)
        ax.set_ylabel(m.index.name or "epochs", fontsize=8)
    for ax in list(axes.flat)[n:]:
        ax.axis("off")
    fig.suptitle(title)
    fig.tight_layout()
    return fig
