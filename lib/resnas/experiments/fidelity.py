"""Rank correlation across training budgets (era-thesis.txt §4.2): width and depth families of ResNets, each
evaluated at several fidelities, in two senses the thesis leaves open:

- 'anytime': one long run (rate /10 at 50% and 75% of the longest budget), read off at each fidelity;
- 'budgeted': a separate run per fidelity with its own schedule scaled to that budget.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from resnas.claims import Claim
from resnas.data import DATASETS
from resnas.evaluate import BACKENDS
from resnas.params import check_val_size, param, require

MODES = ("anytime", "budgeted")


@dataclass(frozen=True)
class Params:
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
          f"Over the width and depth families' networks inside the search space (thesis Table 9), the ranking "
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
