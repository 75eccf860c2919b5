"""RNAS on the ERA space: a learned ranking predictor trained on networks whose accuracy is known, set beside
the rankings a user gets for free (parameters, FLOPs) or cheaply (the first epochs of each training, and the
search's own short training: "the cheap proxy"), and beside an E2EPP-style random forest (the peer).

Labels. RNAS argues that a short training ranks networks badly and learns from networks "pre-trained on the
entire dataset" (rnas.txt, abstract and §3.1). So the labels are the longest-budget validation accuracies the
archives hold: the fidelity study's retraining of a sample of the era_search archive to `retrain_epochs`
(`fidelity.retrain_archive_sample`, stored in results/<profile>/store/fidelity_correlation/archive.sqlite).
The search's own accuracies (its short budget) are never labels; they are the cheap proxy, a baseline. The
final trainings (era_final) are measured on the test split and are never read. Without enough long-budget
labels (`min_labels`; the ci profile; fidelity_correlation not run) the notebook falls back to the search
archive's accuracies and says so.

The archive is the era_search notebook's when it exists (its networks, data and recipe), otherwise one this
notebook builds from random networks of the same reduced space. The notebook calls these functions.

The table lane (`lane='table'`, #14; the default profile): the ERA table (`resnas.tabular`) supplies the labels
(its long-budget accuracies, `table_labels`), the cheap proxy (its short-budget accuracies of the same networks,
ranked on the same held-out networks: `table_baselines`) and the search picks' truth (the evolution searches the
labelled networks, `tabular.TableSpace`): RNAS Tables 2 and 3 repeated `table_repeats` times
(`repeated_fraction_study`, `table_study`), nothing trained. The train lane (ci, paper) is the rest.
"""
from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from resnas.claims import MIN_BOOTSTRAP_N, Claim
from resnas.data import DATASETS
from resnas.params import check_low_lr_epochs, check_val_size, param, require
from resnas.predictor import (ENCODINGS, FOREST, LOSSES, ForestConfig, PredictorConfig, encode, exhaustive_top, fit,
                              fit_forest, fit_many, hamming_distances, kendall_tau, neighbourhood_split,
                              predictor_guided_evolution, split_indices)

LONG = "long-budget retraining"
FALLBACK = "search accuracy (fallback)"
TABLE_SOURCE = "ERA table: long-budget training"  # the table lane's labels (resnas.tabular)
LANES = ("train", "table")
OURS = "ours: RankNet, pairwise loss"
PEER = "peer: random forest (E2EPP-style)"
MSE_COMPARATOR = "second comparator: RankNet, MSE loss"
GUIDED = (OURS, PEER, MSE_COMPARATOR)
PROXY_GUIDED = "the cheap proxy: short-budget accuracy"  # table lane: evolution guided by the E-epoch accuracy
EXHAUSTIVE = "ours, exhaustive: the public RNAS code's search"
NB201_CELLS = 15_625  # 5 operations on 6 edges (resnas.spaces.cells.NB201.size(); a test checks it)
MIN_HELD_OUT = 3  # a Kendall tau over 2 networks takes only the values -1 and +1
SWEEP_VAL_FRACTION = 0.25  # of the training networks, to choose the margin and lambda on


@dataclass(frozen=True)
class Params:
    lane: str = param("train", choices=LANES,
                      help="train: labels from real trainings (the era_search archive and the fidelity study's "
                           "retraining; picks trained); table: labels, cheap proxy and picks looked up in the ERA "
                           "table (resnas.tabular), nothing trained")
    table: str = param("era_fmnist14", help="lane 'table': the ERA table (resnas.tabular) to read; its subspace is "
                                            "then the space (era.make_space)")
    search_results: str = param("", help="an era_search result folder (default: results/<profile>/era_search)")
    fidelity_results: str = param("", help="a fidelity_correlation result folder whose store holds the long-budget "
                                           "retraining (default: results/<profile>/fidelity_correlation)")
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
    # the labels
    min_labels: int | None = param(None, ge=4, help="fewer long-budget labels than this: fall back to the search's "
                                                    "accuracies (default: min_labels_rule, 9 at a 30% hold-out)")
    # the predictor
    fractions: list[float] = param([0.1, 0.25, 0.5, 1.0], ge=0.01, le=1.0,
                                   help="fractions of the training architectures (RNAS Table 2)")
    test_fraction: float = param(0.3, ge=0.05, le=0.9, help="held-out architectures")
    seeds: list[int] = param([0, 1, 2], ge=0, help="splits and predictor initialisations (RNAS: 20 repeats)")
    neighbourhood_radius: int = param(1, ge=1, le=7, help="the neighbourhood split holds out networks more than this "
                                                          "many parameters away from every training network")
    encodings: list[str] = param(list(ENCODINGS), choices=ENCODINGS)
    losses: list[str] = param(list(LOSSES), choices=LOSSES)
    predictor_epochs: int = param(200, ge=1, le=10000, help="full-batch Adam steps (RNAS: 200)")
    hidden: int = param(32, ge=1, le=512)
    margins: list[float] = param([0.05, 0.1, 0.3], ge=0.0, help="pairwise margins tried in the sweep")
    lams: list[float] = param([0.0, 0.1, 0.5], ge=0.0, help="continuity weights tried in the sweep")
    forest_trees: int = param(100, ge=1, le=5000, help="trees of the E2EPP-style random forest (the peer)")
    # search with the predictor
    search_seeds: list[int] = param([0, 1, 2], ge=0, min_items=2,
                                    help="repeats of each predictor-guided search (RNAS Table 3: 20)")
    evolution_steps: int = param(2000, ge=1)
    population: int = param(50, ge=2)
    n_score: int = param(10000, ge=1, help="random networks scored exhaustively (the public code's search)")
    top: int = param(3, ge=1, help="picks of each search run trained to measure their true accuracy (RNAS "
                                   "Table 3 reports the best of a run's top 10)")
    # a second, real table: NAS-Bench-201 cells with CIFAR-10 labels (#14)
    nb201_repeats: int = param(10, ge=0, le=1000, help="repeats of the NAS-Bench-201 fraction study, each with its "
                                                       "own labelled sample, test cells, subsample and "
                                                       "initialisation (0: skip it)")
    nb201_labelled: int = param(200, ge=4, le=15_000, help="NAS-Bench-201 cells drawn as the labelled set (the "
                                                          "fractions are of it)")
    nb201_predictor_epochs: int | None = param(None, ge=1, le=10000, help="full-batch Adam steps of the NAS-Bench-201 "
                                                                       "fits (default: predictor_epochs)")
    nb201_test: int = param(1000, ge=MIN_HELD_OUT, le=15_000, help="held-out NAS-Bench-201 cells, disjoint from "
                                                                  "the labelled ones, that every tau is measured on")
    # the table lane (lane: table): the ERA table's long-budget accuracies label, its short-budget ones are the proxy
    table_repeats: int = param(20, ge=2, le=1000, help="repeats of the table lane's fraction study and searches, each "
                                                       "with its own held-out networks, subsample and initialisation "
                                                       "(RNAS Tables 3 and 6: 20)")
    table_predictor_epochs: int | None = param(None, ge=1, le=10000, help="full-batch Adam steps of the table lane's "
                                                                        "fits (default: predictor_epochs)")
    table_evolution_steps: int = param(100, ge=2, help="steps of each predictor-guided evolution over the table's "
                                                       "labelled networks")
    table_population: int = param(20, ge=2, help="population of those evolutions")
    table_top: int = param(5, ge=1, help="picks of each table-lane search run, looked up in the table (RNAS Table 3: "
                                         "the best of a run's top 10)")
    workers: int = param(1, ge=1, le=64, help="processes for the table lookups' predictor fits (table lane and the "
                                              "NAS-Bench-201 section), one repeat each; results do not depend on it")

    def __post_init__(self):
        check_val_size(self.val_size, self.dataset)
        check_low_lr_epochs(self.low_lr_epochs, self.epochs)
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
        for name in ("seeds", "search_seeds"):
            values = list(getattr(self, name))
            require(len(set(values)) == len(values), f"{name}={values} repeats a seed; allowed: distinct seeds")
        require(self.nb201_labelled + self.nb201_test <= NB201_CELLS,
                f"nb201_labelled={self.nb201_labelled} + nb201_test={self.nb201_test} exceeds the {NB201_CELLS:,} "
                f"NAS-Bench-201 cells; allowed: a sum of at most {NB201_CELLS:,}")
        require(min(self.fractions) * self.nb201_labelled >= 2,
                f"the smallest fraction {min(self.fractions)} of nb201_labelled={self.nb201_labelled} trains on fewer "
                f"than 2 cells; allowed: nb201_labelled >= {math.ceil(2 / min(self.fractions))}")
        floor = min_labels_rule(self.test_fraction)
        require(self.min_labels is None or self.min_labels >= floor,
                f"min_labels={self.min_labels} is below {floor}, the fewest labels with which a split at "
                f"test_fraction={self.test_fraction} holds out {MIN_HELD_OUT} networks and leaves the sweep 2 "
                f"to train and 2 to validate on; allowed: {floor} or more (or none: {floor})")
        require(self.table_population < self.table_evolution_steps,
                f"table_population={self.table_population} must be below table_evolution_steps="
                f"{self.table_evolution_steps} so that the evolution makes a child; allowed: 2 to "
                f"{self.table_evolution_steps - 1}")
        require("pairwise_continuity" not in self.losses or any(v > 0 for v in self.lams),
                f"lams={list(self.lams)} has no positive weight for the pairwise_continuity loss (lambda = 0 is "
                f"plain pairwise); allowed: a list with at least one value > 0, or losses without it")


def space_of(p: Params):
    """The ERA space the predictor searches: built (and logged) as era_search builds its own."""
    from resnas.experiments.era import make_space

    return make_space(p)


# ---------------------------------------------------------------------------------------------- how many labels
def held_out(test_fraction: float, n: int) -> int:
    """Networks a random split holds out of n (as `predictor.split_indices` rounds)."""
    return max(1, int(round(test_fraction * n)))


def min_labels_rule(test_fraction: float) -> int:
    """The fewest labels with which every step is defined: a split at `test_fraction` holds out MIN_HELD_OUT
    networks (over 2, a held-out Kendall tau is only +-1) and the sweep's split of the rest
    (SWEEP_VAL_FRACTION) leaves at least 2 networks to fit and 2 to validate on (a fit, and a tau, need 2).
    9 at a 30% hold-out. The floor under which the notebook refuses long-budget labels and falls back."""
    def defined(n: int) -> bool:
        rest = n - held_out(test_fraction, n)
        val = held_out(SWEEP_VAL_FRACTION, rest)
        return held_out(test_fraction, n) >= MIN_HELD_OUT and val >= 2 and rest - val >= 2

    return next(n for n in range(2, 10_000) if defined(n))


def tau_null_sd(m: int) -> float:
    """Standard deviation of Kendall's tau between two unrelated rankings of m networks (no ties):
    sqrt(2 (2m + 5) / (9 m (m - 1))), the classical null variance."""
    return math.sqrt(2 * (2 * m + 5) / (9 * m * (m - 1))) if m >= 2 else math.nan


def informative_labels(test_fraction: float, max_null_sd: float = 0.2) -> int:
    """The fewest labels for which the held-out Kendall tau means something: its spread under chance
    (`tau_null_sd` of the held-out count) at most `max_null_sd`, so that a tau of 0.4 lies two chance standard
    deviations from zero: 49 at a 30% hold-out (15 held out). Below it the notebook flags every tau."""
    return next(n for n in range(2, 100_000) if tau_null_sd(held_out(test_fraction, n)) <= max_null_sd)


# ---------------------------------------------------------------------------------------------- archives
def _plain(d: dict) -> dict:
    """A dataclass dict as a record stores it (tuples become lists)."""
    return json.loads(json.dumps(d))


def archive_frame(path) -> pd.DataFrame:
    """One row per successful ERA record of the validation split at the archive's majority fidelity
    (`evaluate.archive_fidelity`): configuration, final accuracy (%), accuracy at every epoch, training
    seconds, parameters and FLOPs. A record trained on the test split (a final training) is never read."""
    from resnas.evaluate import Archive, archive_fidelity, config_json

    archive = Archive(path)
    records = [r for r in archive.records() if r.ok and r.space == "era" and r.data.get("split", "val") == "val"]
    archive.close()
    if not records:
        return pd.DataFrame()
    epochs = archive_fidelity(path)[1].epochs
    rows = []
    for r in records:
        if r.recipe["epochs"] != epochs:
            continue
        row = {"key": r.key, "config": config_json("era", r.config), "accuracy": 100 * r.final_val_acc,
               "params": r.params, "flops": r.flops, "seconds": r.wall_time, "epochs": len(r.history)}
        row.update({f"epoch_{h['epoch']}": 100 * h["val_acc"] for h in r.history})
        row.update({f"seconds_{h['epoch']}": h["seconds"] for h in r.history})
        rows.append(row)
    return pd.DataFrame(rows)


def long_budget_frame(path, data, recipe, seed: int) -> pd.DataFrame:
    """The longest-budget retraining of search networks held in an archive (the fidelity study's store): ERA
    records trained exactly like the search's (`data`, `recipe`, `seed` of `evaluate.archive_fidelity`) except
    for more epochs, on the validation split, successful. Of several longer budgets, the longest. Columns:
    config, label (validation accuracy, %), label_epochs, label_seconds."""
    from dataclasses import asdict

    from resnas.evaluate import Archive, config_json

    want_data, want_recipe = _plain(asdict(data)), _plain(asdict(recipe))
    if want_data.get("split") != "val":
        raise ValueError(f"the search's data split is {want_data.get('split')!r}; allowed: 'val' (labels never come "
                         f"from the test split)")
    archive = Archive(path)
    records = archive.records()
    archive.close()
    rows = []
    # The precision is compared as it resolved (Record.precision: 'fp32' or 'bf16'), not as the recipe spelled
    # it: a record made before recipes had one, or with 'auto', trained in what its fingerprint says.
    skip = ("epochs", "precision")
    want_rest = {k: v for k, v in want_recipe.items() if k not in skip}
    want_precision = want_recipe.get("precision")
    for r in records:
        rest = {k: v for k, v in r.recipe.items() if k not in skip}
        if not (r.ok and r.space == "era" and r.seed == seed and r.data == want_data
                and r.data.get("split") == "val"  # the test split never labels (also implied by the line above)
                and rest == want_rest
                and (want_precision not in ("fp32", "bf16") or r.precision == want_precision)
                and r.recipe["epochs"] > recipe.epochs):
            continue
        rows.append({"config": config_json("era", r.config), "label": 100 * r.final_val_acc,
                     "label_epochs": int(r.recipe["epochs"]), "label_seconds": r.wall_time})
    out = pd.DataFrame(rows, columns=["config", "label", "label_epochs", "label_seconds"])
    if len(out):
        out = out[out.label_epochs == out.label_epochs.max()].reset_index(drop=True)
    return out


@dataclass(frozen=True)
class LabelSet:
    """The networks the predictor learns from. `frame`: one row per network with `accuracy` (the label, %),
    `proxy_accuracy` (the search's own accuracy: the cheap proxy), params, flops, `seconds` (the search's
    training), `label_seconds` (the label's training) and the search's learning curve (epoch_*, seconds_*).
    `data`, `recipe`, `seed`: how the labels were trained (the picks are trained the same way)."""
    frame: pd.DataFrame
    source: str  # LONG or FALLBACK
    label_epochs: int
    proxy_epochs: int
    data: object
    recipe: object
    seed: int
    archive: str
    long_found: int  # long-budget labels found, used or not
    min_labels: int
    informative: int
    note: str

    @property
    def n(self) -> int:
        return len(self.frame)

    @property
    def proxy_is_label(self) -> bool:
        return self.source == FALLBACK


def select_labels(search: pd.DataFrame, search_archive, long_archive, min_labels: int | None,
                  test_fraction: float) -> LabelSet:
    """The long-budget labels of the search networks when at least `min_labels` exist (None: `min_labels_rule`),
    else the search's own accuracies with a note saying why (see the module docstring). `search`:
    `archive_frame(search_archive)`."""
    from resnas.evaluate import archive_fidelity

    min_labels = min_labels or min_labels_rule(test_fraction)
    data, recipe, seed = archive_fidelity(search_archive)
    informative = informative_labels(test_fraction)
    long = pd.DataFrame(columns=["config", "label", "label_epochs", "label_seconds"])
    where = Path(long_archive)
    if where.exists():
        long = long_budget_frame(where, data, recipe, seed)
    joined = long.merge(search, on="config", how="inner")  # the cheap proxy needs the search's accuracy
    if len(joined) >= min_labels:
        frame = joined.rename(columns={"accuracy": "proxy_accuracy"}).rename(columns={"label": "accuracy"})
        epochs = int(frame.label_epochs.iloc[0])
        note = (f"**Labels.** {len(frame)} networks of the search archive retrained to {epochs} epochs by the "
                f"fidelity study ({where}), validation accuracy, the same data, recipe and seed as the search "
                f"otherwise. The search's own {recipe.epochs}-epoch accuracies are not labels here: they are the "
                f"cheap proxy, ranked against these labels below. No test-split record is read.")
        return LabelSet(frame.reset_index(drop=True), LONG, epochs, recipe.epochs, data,
                        recipe.replace(epochs=epochs), seed, str(where), len(long), min_labels, informative,
                        note + _sufficiency(len(frame), min_labels, informative, test_fraction))
    why = (f"no long-budget archive at {where} (run fidelity_correlation with retrain_sample > 0 first)"
           if not where.exists() else
           f"{len(joined)} long-budget labels of this search at {where}, fewer than min_labels = {min_labels}")
    frame = search.assign(proxy_accuracy=search.accuracy, label_seconds=search.seconds,
                          label_epochs=recipe.epochs)
    note = (f"**Labels: FALLBACK.** {why}. The predictor learns the search's own {recipe.epochs}-epoch "
            f"validation accuracies of {len(frame)} networks: the cheap proxy RNAS argues against, so every "
            f"result below measures how well a predictor reproduces a short training's ranking, not the ranking "
            f"after long training.")
    return LabelSet(frame.reset_index(drop=True), FALLBACK, recipe.epochs, recipe.epochs, data, recipe, seed,
                    str(search_archive), len(joined), min_labels, informative,
                    note + _sufficiency(len(frame), min_labels, informative, test_fraction))


def _sufficiency(n: int, min_labels: int, informative: int, test_fraction: float) -> str:
    m = held_out(test_fraction, n)
    if n >= informative:
        return f" {n} labels reach the {informative} at which a held-out τ means something."
    return (f" **Too few labels for a meaningful held-out τ:** {n} < {informative} (the count at which the τ over "
            f"the {test_fraction:.0%} held out has a chance spread of at most 0.2); here {m} networks are held out "
            f"and τ between unrelated rankings of {m} has a standard deviation of {tau_null_sd(m):.2f}. Read every τ "
            f"below with that in mind. The predictor runs from {min_labels} labels; a tabular benchmark is to "
            f"supply at least 200 (the tabular-benchmark issue).")


def table_labels(table: pd.DataFrame, test_fraction: float, min_labels: int | None = None) -> LabelSet:
    """The table lane's labels (`resnas.tabular.load_table()`): every network the table trained at its long
    budget, labelled with that training's final validation accuracy (%, the first seed); its short-budget (E
    epochs) training of the same seed is the cheap proxy (`proxy_accuracy`, and its curve as epoch_k /
    seconds_k for the early-epoch baselines), never a label. Networks whose long training failed (no accuracy)
    are left out and counted in the note. Fewer than `min_labels` (None: `min_labels_rule`) is an error: the
    table is too partial to learn from."""
    from resnas.data import DataSpec
    from resnas.spaces.era import EraConfig
    from resnas.train import TrainRecipe

    identity = table.attrs.get("identity") or {}
    budgets = sorted(int(b) for b in table.budget.unique())
    short = int(identity.get("recipe", {}).get("epochs", budgets[0]))
    long = int(identity.get("long_epochs", budgets[-1]))
    if long not in budgets or short not in budgets or long <= short:
        raise ValueError(f"the table has budgets {budgets}; the table lane needs its short budget ({short}) and a "
                         f"longer one ({long}) to label with")
    first = int(table.seed.min())

    def finals(budget: int) -> pd.DataFrame:
        rows = table[(table.budget == budget) & (table.seed == first) & (table.epoch == budget)]
        return rows.drop_duplicates("config").set_index("config")

    lab, prox = finals(long), finals(short)
    curves = table[(table.budget == short) & (table.seed == first)]
    acc = curves.pivot_table(index="config", columns="epoch", values="val_acc", aggfunc="first") * 100
    secs = curves.pivot_table(index="config", columns="epoch", values="seconds", aggfunc="first")
    failed = int(lab.val_acc.isna().sum())
    lab = lab[lab.val_acc.notna() & lab.index.isin(prox.index)]
    frame = pd.DataFrame({"config": lab.index, "accuracy": 100 * lab.val_acc.to_numpy(),
                          "proxy_accuracy": 100 * prox.val_acc.reindex(lab.index).to_numpy(),
                          "params": lab.params.to_numpy(), "flops": lab.flops.to_numpy(),
                          "seconds": prox.seconds.reindex(lab.index).to_numpy(),
                          "label_seconds": lab.seconds.to_numpy()})
    for e in acc.columns:
        frame[f"epoch_{int(e)}"] = acc[e].reindex(lab.index).to_numpy()
        frame[f"seconds_{int(e)}"] = secs[e].reindex(lab.index).to_numpy()
    # the key every lookup uses (picks, TableSpace members): the canonical configuration's JSON
    frame["config"] = [EraConfig.from_json(c).canonical().to_json() for c in frame.config]
    frame = frame.sort_values("config").reset_index(drop=True)
    min_labels = min_labels or min_labels_rule(test_fraction)
    if len(frame) < min_labels:
        raise ValueError(f"the ERA table holds {len(frame)} networks with a {long}-epoch accuracy, fewer than "
                         f"min_labels={min_labels}; allowed: lane='train', or a table with more long-budget "
                         f"networks (python -m resnas.experiments.era_table generate)")
    distinct = table.config.nunique()
    try:
        complete = distinct >= subspace_of_identity(identity).distinct_size()
    except ValueError:
        complete = False
    data = DataSpec(**identity["data"]) if "data" in identity else None
    recipe = None
    if "recipe" in identity:
        rec = {k: tuple(v) if isinstance(v, list) else v for k, v in identity["recipe"].items()}
        try:
            recipe = TrainRecipe(**{**rec, "epochs": long,
                                    "low_lr_epochs": int(identity.get("long_low_lr_epochs", rec.get("low_lr_epochs")))})
        except (TypeError, ValueError):  # a recipe field this version lacks: the lane trains nothing anyway
            recipe = None
    informative = informative_labels(test_fraction)
    partial = f" (the table is partial: {distinct} networks so far, a generation in progress)" \
        if not complete else ""
    note = (f"**Labels (table lane).** {len(frame)} networks of the ERA table{partial} trained for {long} epochs, "
            f"their final validation accuracy (seed {first}); "
            + (f"{failed} long trainings failed and are left out; " if failed else "")
            + f"their {short}-epoch training (same seed, data and recipe otherwise) is the cheap proxy, ranked "
              f"against these labels below, never a label. Nothing is trained here.")
    return LabelSet(frame, TABLE_SOURCE, long, short, data, recipe, first, "resnas.tabular.load_table()",
                    len(lab) + failed, min_labels, informative,
                    note + _sufficiency(len(frame), min_labels, informative, test_fraction))


def subspace_of_identity(identity: dict):
    from resnas.tabular import subspace_of

    return subspace_of(identity)


def table_split_sizes(n: int, test_fraction: float) -> tuple[int, int]:
    """(labelled, held out) of the table lane's n labelled networks: each repeat holds out `held_out` of them
    and learns from the rest."""
    test = held_out(test_fraction, n)
    return n - test, test


def table_baselines(frame: pd.DataFrame, seeds, n_labelled: int, n_test: int, proxy_epochs: int) -> pd.DataFrame:
    """`baselines` (parameters, FLOPs, every epoch of the short training, the cheap proxy at E epochs) on the
    held-out networks of every repeat of the table lane: the same networks its predictors rank
    (`nb201_splits` with the same seeds and sizes). One row per (seed, method), with n_test."""
    parts = []
    for seed, _, _, test in nb201_splits(len(frame), n_labelled, n_test, [1.0], seeds):
        parts.append(baselines(frame, test, proxy_epochs, False, proxy_method(proxy_epochs))
                     .assign(seed=seed, n_test=len(test)))
    return pd.concat(parts, ignore_index=True)[["seed", "method", "tau", "cost_seconds", "n_test"]]


def proxy_method(proxy_epochs: int) -> str:
    """The table lane's cheap proxy's name in `baselines`: the table's short-budget accuracy."""
    return f"the cheap proxy: {proxy_epochs}-epoch accuracy"


def label_table(labels: LabelSet) -> pd.DataFrame:
    """One row: which labels, how many, from where, and the two minimums."""
    return pd.DataFrame([{
        "labels": labels.source, "networks": labels.n, "label_epochs": labels.label_epochs,
        "proxy_epochs": labels.proxy_epochs, "data_split": "validation", "dataset": labels.data.name,
        "archive": labels.archive, "long_budget_found": labels.long_found, "min_labels": labels.min_labels,
        "informative_labels": labels.informative, "enough_for_meaningful_tau": labels.n >= labels.informative}])


def random_configs(p: Params, n: int, seed: int = 0) -> list:
    rng = np.random.default_rng(seed)
    space, out = space_of(p), {}
    for _ in range(50 * n):
        out.setdefault(space.sample(rng), None)
        if len(out) == n:
            break
    return list(out)


def configs_of(frame: pd.DataFrame) -> list:
    from resnas.spaces.era import EraConfig

    return [EraConfig.from_json(c) for c in frame.config]


# ---------------------------------------------------------------------------------------------- splits
def make_splits(frame: pd.DataFrame, p: Params) -> tuple[list, pd.DataFrame]:
    """Both splits for every seed: 'random' (`split_indices`) and 'neighbourhood' (`neighbourhood_split`: no
    held-out network within `neighbourhood_radius` parameters of a training network). Returns the splits as
    (name, seed, train_idx, test_idx) and a table describing each: sizes, networks dropped, the closest
    held-out-to-training distance and the share of held-out networks with a training network within the
    radius (the near neighbours a random split lets through)."""
    d = hamming_distances(configs_of(frame), space_of(p))
    r = p.neighbourhood_radius
    splits, rows = [], []
    for s in p.seeds:
        tr, te = split_indices(len(frame), p.test_fraction, s)
        candidates = [("random", tr, te, np.array([], int), "")]
        try:
            candidates.append(("neighbourhood", *neighbourhood_split(d, p.test_fraction, s, r), ""))
        except ValueError as e:  # a label set that is one tight neighbourhood: say so, keep the random split
            candidates.append(("neighbourhood", None, None, None, str(e)))
        for name, tr, te, dropped, why in candidates:
            if tr is None:
                rows.append({"split": name, "seed": s, "n_train": 0, "n_test": 0, "n_dropped": 0,
                             "min_distance": np.nan, "held_out_near_train_pct": np.nan, "note": why})
                continue
            cross = d[np.ix_(te, tr)]
            splits.append((name, s, tr, te))
            rows.append({"split": name, "seed": s, "n_train": len(tr), "n_test": len(te), "n_dropped": len(dropped),
                         "min_distance": int(cross.min()),
                         "held_out_near_train_pct": 100 * float((cross.min(axis=1) <= r).mean()), "note": why})
    return splits, pd.DataFrame(rows)


def baselines(frame: pd.DataFrame, test_idx: np.ndarray, proxy_epochs: int, proxy_is_label: bool,
              proxy_name: str | None = None) -> pd.DataFrame:
    """Kendall tau against the labels on the held-out networks, and the training seconds each ranking costs
    there: parameters and FLOPs (free), the search's accuracy after each recorded epoch (that much training);
    the last search epoch is the cheap proxy itself (named `proxy_name`; left out when it is the label: the
    fallback)."""
    test = frame.iloc[test_idx]
    rows = [{"method": "parameters", "tau": kendall_tau(test.params, test.accuracy), "cost_seconds": 0.0},
            {"method": "FLOPs", "tau": kendall_tau(test.flops, test.accuracy), "cost_seconds": 0.0}]
    recorded = sorted(int(c[len("epoch_"):]) for c in frame.columns if c.startswith("epoch_"))
    for e in recorded:
        if e > proxy_epochs or (proxy_is_label and e == proxy_epochs):
            continue
        name = (proxy_name or f"the cheap proxy: search accuracy ({e} epochs)") if e == proxy_epochs else \
            f"epoch {e} accuracy"
        rows.append({"method": name, "tau": kendall_tau(test[f"epoch_{e}"], test.accuracy),
                     "cost_seconds": float(test[f"seconds_{e}"].sum())})
    return pd.DataFrame(rows)


def baseline_table(frame: pd.DataFrame, splits, labels: "LabelSet") -> pd.DataFrame:
    """`baselines` on the held-out networks of every split: one row per (split, seed, method)."""
    parts = [baselines(frame, test_idx, labels.proxy_epochs, labels.proxy_is_label).assign(split=name, seed=seed)
             for name, seed, _, test_idx in splits]
    return pd.concat(parts, ignore_index=True)[["split", "seed", "method", "tau", "cost_seconds"]]


def mean_by_split(rows: pd.DataFrame) -> pd.DataFrame:
    """Mean tau and cost of each method per split (over seeds), in first-seen order."""
    return rows.groupby(["split", "method"], as_index=False, sort=False)[["tau", "cost_seconds"]].mean()


# ---------------------------------------------------------------------------------------------- the predictor
def sweep(frame: pd.DataFrame, p: Params, seed: int = 0, train_idx=None, epochs: int | None = None) -> pd.DataFrame:
    """Choose the pairwise margin and the continuity weight on a validation split of the training
    architectures (the paper's values were lost: spec/rnas.md). lambda = 0 is the plain pairwise loss.
    `train_idx`: the networks it may use (default: the training side of the seed's random split; the table
    lane passes its first repeat's labelled sample); `epochs`: the fits' steps (default: predictor_epochs)."""
    if train_idx is None:
        train_idx, _ = split_indices(len(frame), p.test_fraction, seed)
    train_idx = np.asarray(train_idx)
    inner_train, inner_val = split_indices(len(train_idx), SWEEP_VAL_FRACTION, seed + 100)
    tr, va = train_idx[inner_train], train_idx[inner_val]
    x = encode(configs_of(frame), "tensor")
    y = frame.accuracy.to_numpy()
    grid = [(m, lam) for m in p.margins for lam in p.lams]
    configs = [PredictorConfig(loss="pairwise_continuity" if lam > 0 else "pairwise", margin=m, lam=lam,
                               epochs=epochs or p.predictor_epochs, hidden=p.hidden, seed=seed) for m, lam in grid]
    preds = fit_many(x[tr], y[tr], configs)  # the same networks for every setting: one grouped fit
    return pd.DataFrame([{"margin": m, "lam": lam, "val_tau": kendall_tau(pred.score_features(x[va]), y[va]),
                          "n_train": len(tr), "n_val": len(va)} for (m, lam), pred in zip(grid, preds)])


@dataclass(frozen=True)
class Choice:
    """What the sweep decided. `study`: the configuration of the fraction study (its margin; the λ of its
    pairwise_continuity rows). `search`: our predictor in the searches (the sweep's best, λ = 0 meaning plain
    pairwise). `note`: the sentence the notebook prints."""
    study: PredictorConfig
    search: PredictorConfig
    note: str


def choose(sw: pd.DataFrame, p: Params) -> Choice:
    """The sweep's best row (highest validation τ; an undefined τ ranks last; ties: the earlier row) gives the
    margin and our search predictor's λ.

    The λ of the pairwise_continuity rows: the best λ > 0 the sweep measured at that margin. (The notebook
    used to put λ = 0.1 there whenever the sweep picked 0: a value the sweep had not chosen. λ = 0 is the
    plain pairwise loss, which has rows of its own, so a continuity row with λ = 0 would repeat them; the
    continuity term shown at its best, as measured, is the comparison that asks whether it helps. When λ = 0
    wins the sweep, the note says the continuity term did not help on validation.)"""
    ranked = sw.assign(order=range(len(sw))).sort_values(["val_tau", "order"], ascending=[False, True],
                                                          na_position="last")
    best = ranked.iloc[0]
    margin = float(best.margin)
    positive = ranked[(ranked.lam > 0) & (ranked.margin == best.margin)]
    lam_c = float(positive.iloc[0].lam) if len(positive) else 0.0
    base = PredictorConfig(margin=margin, lam=lam_c, epochs=p.predictor_epochs, hidden=p.hidden)
    search = base.replace(loss="pairwise_continuity" if best.lam > 0 else "pairwise", lam=float(best.lam))
    n_val = int(sw.n_val.iloc[0]) if len(sw) else 0
    tau = f"{best.val_tau:.3f}" if best.val_tau == best.val_tau else "undefined"
    tied_all = sw.val_tau.nunique(dropna=False) == 1
    if best.lam > 0:
        verdict = ""
    elif len(positive) and positive.iloc[0].val_tau == best.val_tau:
        verdict = "The continuity term neither helped nor hurt on validation (its best λ tied with λ = 0); "
    else:
        verdict = "The continuity term did not help on validation (λ = 0 won); "
    note = (f"**Sweep.** Best margin {margin:g}, λ {best.lam:g} (validation τ {tau} on {n_val} networks"
            + ("; every setting tied, so the first was kept" if tied_all and len(sw) > 1 else "") + "). " + verdict
            + (f"the pairwise + continuity rows below use the best λ > 0 the sweep measured, {lam_c:g}; our "
               f"searching predictor uses the sweep's best ({search.loss}, λ = {search.lam:g})."))
    if n_val < MIN_HELD_OUT:
        note += f" With {n_val} validation networks this choice is close to arbitrary."
    return Choice(base, search, note)


def predicted_vs_true(frame: pd.DataFrame, train_idx, test_idx, config: PredictorConfig
                      ) -> tuple[pd.DataFrame, float]:
    """Fit on the training networks, score the held-out ones: their rows with score, true_rank and
    predicted_rank (1 = best; ties share the mean rank), and the Kendall τ of score against label (RNAS
    Figure 3)."""
    configs = configs_of(frame)
    pred = fit([configs[i] for i in train_idx], frame.accuracy.iloc[train_idx], config)
    test = frame.iloc[test_idx].assign(score=pred.score([configs[i] for i in test_idx]))
    test["true_rank"] = test.accuracy.rank(ascending=False)
    test["predicted_rank"] = test.score.rank(ascending=False)
    return test, kendall_tau(test.score, test.accuracy)


def cost_vs_tau(study: pd.DataFrame, base: pd.DataFrame, frame: pd.DataFrame) -> pd.DataFrame:
    """Kendall tau against training hours for every ranking method: a predictor costs the training of its
    training architectures at the label budget (plus its fit); an early-epoch ranking costs those epochs on the
    test networks."""
    mean_seconds = float(frame.label_seconds.mean())
    pred = study.assign(method=study.encoding + " / " + study.loss,
                        cost_seconds=study.n_train * mean_seconds + study.fit_seconds)
    pred = pred.groupby(["split", "method", "fraction"], as_index=False)[["tau", "cost_seconds"]].mean()
    both = pd.concat([pred.assign(kind="learned predictor"), base.assign(kind="baseline")], ignore_index=True)
    both["cost_hours"] = both.cost_seconds / 3600
    return both


# ---------------------------------------------------------------------------------------------- searches
def guided_search(frame: pd.DataFrame, p: Params, ours: PredictorConfig) -> pd.DataFrame:
    """RNAS Table 3's comparison: for every search seed, three predictors fit on the same labelled networks
    (equal training cost: the same trained networks, none added) each guide a regularized evolution
    (`predictor_guided_evolution`, the seed's own): ours (pairwise), the E2EPP-style random forest (the peer)
    and our network with the MSE loss (the second comparator). One row per pick (`top` per run, best predicted
    first) with its method, seed, rank in the run, fit and search seconds."""
    import time

    configs, y, space = configs_of(frame), frame.accuracy.to_numpy(), space_of(p)
    x = encode(configs, ours.encoding)
    rows = []
    for seed in p.search_seeds:
        fits = {OURS: lambda: fit(None, y, ours.replace(seed=seed), features=x),
                PEER: lambda: fit_forest(None, y, ForestConfig(ours.encoding, p.forest_trees, seed), features=x),
                MSE_COMPARATOR: lambda: fit(None, y, ours.replace(loss="mse", seed=seed), features=x)}
        for method, make in fits.items():
            t0 = time.perf_counter()
            pred = make()
            t1 = time.perf_counter()
            picks = predictor_guided_evolution(pred, space, p.evolution_steps, p.population, seed, p.top, method)
            rows.append(picks.assign(seed=seed, pick=range(1, len(picks) + 1), fit_seconds=t1 - t0,
                                     search_seconds=time.perf_counter() - t1))
    return pd.concat(rows, ignore_index=True)


def exhaustive_search(frame: pd.DataFrame, p: Params, ours: PredictorConfig) -> pd.DataFrame:
    """The public RNAS code's search with our predictor, once (the first search seed): fit on every labelled
    network, score `n_score` random networks, keep the `top` (`predictor.exhaustive_top`). Rows as
    `guided_search`'s."""
    import time

    seed = p.search_seeds[0]
    t0 = time.perf_counter()
    pred = fit(configs_of(frame), frame.accuracy.to_numpy(), ours.replace(seed=seed))
    fit_seconds = time.perf_counter() - t0
    picks, seconds = exhaustive_top(pred, space_of(p), p.n_score, seed=seed, top=p.top)
    picks["method"] = EXHAUSTIVE + f" ({picks.method.iloc[0]})" if len(picks) else EXHAUSTIVE
    return picks.assign(seed=seed, pick=range(1, len(picks) + 1), fit_seconds=fit_seconds, search_seconds=seconds)


def speed(picks: pd.DataFrame) -> pd.DataFrame:
    """Seconds per search run of each method: fitting its predictor and searching with it (mean over runs)."""
    runs = picks.drop_duplicates(["method", "seed"])
    return runs.groupby("method", as_index=False, sort=False).agg(
        runs=("seed", "size"), fit_seconds=("fit_seconds", "mean"), search_seconds=("search_seconds", "mean"))


def true_rank(accuracy: float, frame: pd.DataFrame) -> int:
    """1 + how many labelled networks are more accurate (1 = at least as good as the best label)."""
    return int(1 + (frame.accuracy > accuracy).sum())


def attach_truth(picks: pd.DataFrame, frame: pd.DataFrame, evaluate) -> pd.DataFrame:
    """The true accuracy of every pick, measured like the labels: a pick that is a labelled network keeps
    its label (the same network, data, recipe and seed: training it again gives the same record); the others
    are trained once each by `evaluate(configs) -> records` (the notebook: an Evaluator at the label recipe).
    Adds accuracy (%), params, truth ('label', 'trained', 'failed'), true_rank among the labels and
    better_labelled_pct: the share of labelled networks more accurate than the pick."""
    from resnas.evaluate import config_json

    keys = [config_json("era", c) for c in picks.config]
    known = dict(zip(frame.config, zip(frame.accuracy, frame.params)))
    todo = [c for c in dict.fromkeys(keys) if c not in known]
    trained = dict(zip(todo, evaluate(todo))) if todo else {}
    acc, params, truth = [], [], []
    for c in keys:
        if c in known:
            acc.append(known[c][0]), params.append(known[c][1]), truth.append("label")
        else:
            r = trained[c]
            acc.append(100 * r.final_val_acc if r.ok else np.nan)
            params.append(r.params), truth.append("trained" if r.ok else "failed")
    out = picks.assign(accuracy=acc, params=params, truth=truth)
    out["true_rank"] = [true_rank(a, frame) if a == a else np.nan for a in out.accuracy]
    out["better_labelled_pct"] = [100 * float((frame.accuracy > a).mean()) if a == a else np.nan
                                  for a in out.accuracy]
    return out


def table3(picks: pd.DataFrame, seed: int = 0, n_resamples: int = 2000) -> pd.DataFrame:
    """Ours in RNAS Table 3's shape: per guided method (and the cheap proxy where it guided a search: the table
    lane), the best true accuracy among each run's picks: mean ± sd over the search seeds, with a 95% interval
    of the mean (`interval_method`), and the share of labelled networks more accurate than it."""
    methods = GUIDED + (PROXY_GUIDED,)
    guided = picks[picks.method.isin(methods)].dropna(subset=["accuracy"])  # a failed pick is no run's best
    best = guided.loc[guided.groupby(["method", "seed"]).accuracy.idxmax()]
    g = best.groupby("method", sort=False).agg(accuracy=("accuracy", "mean"), accuracy_sd=("accuracy", "std"),
                                               better_labelled_pct=("better_labelled_pct", "mean"),
                                               runs=("seed", "nunique"))
    g = g.reindex([m for m in methods if m in g.index]).reset_index()
    intervals = [_interval(best[best.method == m].accuracy.to_numpy(float), seed, n_resamples) for m in g.method]
    g["low"] = [lo for lo, _ in intervals]
    g["high"] = [hi for _, hi in intervals]
    g["interval"] = [interval_method(int(n)) for n in g.runs]
    g["picks_per_run"] = int(guided.groupby(["method", "seed"]).size().max()) if len(guided) else 0
    g["rnas_row"] = g.method.map(RNAS_TABLE3_MATCH)
    return g


def table3_beside(ours: pd.DataFrame) -> pd.DataFrame:
    """Ours beside the RNAS Table 3 row each one corresponds to (NAS-Bench-101 there, our labels here)."""
    rnas = RNAS_TABLE3.rename(columns={"method": "rnas_row", "accuracy": "rnas_accuracy",
                                       "accuracy_sd": "rnas_accuracy_sd", "ranking_pct": "rnas_ranking_pct"})
    return ours.merge(rnas, on="rnas_row", how="left")


RNAS_TABLE3_CAPTION = ("RNAS Table 3 (NAS-Bench-101): evolution guided by each predictor, best of each run's top 10, "
                       "20 seeds; CIFAR-10 test accuracy (mean ± sd) and the picks' ranking among all networks (%)")


def show_table3(out, picks: pd.DataFrame, caption: str) -> pd.DataFrame:
    """RNAS Table 3 in the notebook, for either lane: ours beside the paper's rows (`table3_beside` of `table3`,
    saved as 'table3' with `caption`), then the paper's table ('rnas_table3'); both displayed. `out`: the
    notebook's `report.Output`. Returns ours (`table3`)."""
    from IPython.display import display

    ours = table3(picks)
    display(out.table(table3_beside(ours), "table3", caption))
    display(out.table(RNAS_TABLE3, "rnas_table3", RNAS_TABLE3_CAPTION))
    return ours


def search_summary(picks: pd.DataFrame, frame: pd.DataFrame) -> pd.DataFrame:
    """Each search's best pick (over all its runs) and the mean of its runs' best, against the labelled
    networks' best and median."""
    rows = [{"method": "labelled best", "best_accuracy": frame.accuracy.max(), "mean_run_best": np.nan, "runs": 0},
            {"method": "labelled median", "best_accuracy": frame.accuracy.median(), "mean_run_best": np.nan,
             "runs": 0}]
    for method, g in picks.groupby("method", sort=False):
        run_best = g.groupby("seed").accuracy.max()
        rows.append({"method": method, "best_accuracy": g.accuracy.max(), "mean_run_best": run_best.mean(),
                     "runs": len(run_best)})
    return pd.DataFrame(rows)


def pick_trainings(p: Params) -> int:
    """At most how many picks the notebook trains at the label budget: `top` of each guided run (three
    predictors x search seeds) and of the exhaustive scoring; fewer where picks coincide or are labelled."""
    return p.top * (len(GUIDED) * len(p.search_seeds) + 1)


# ---------------------------------------------------------------------------------------------- the paper's tables
# RNAS Table 2 (NAS-Bench-101): Kendall tau at seven growing training proportions. Only the second is known:
# 0.1% of the data set, "424 models" (abstract; "we focus on the second column when using only [0.1%]", §4.1);
# the other proportions were lost in the text's extraction, so those columns are only ordered.
TABLE2_COLUMNS = ["proportion 1", "proportion 2 (0.1%, 424 networks)"] + [f"proportion {i}" for i in range(3, 8)]
RNAS_TABLE2 = pd.DataFrame([
    ("Peephole", "layer features", "mse", 0.4556, 0.4769, 0.4963, 0.4977, 0.4972, 0.4975, 0.4951),
    ("E2EPP", "tensor", FOREST, 0.5038, 0.6734, 0.7009, 0.6997, 0.7011, 0.6992, 0.6997),
    ("Proposed v1", "type", "mse", 0.3465, 0.5911, 0.7914, 0.8229, 0.8277, 0.8344, 0.8350),
    ("Proposed v2", "tensor", "mse", 0.4856, 0.6090, 0.8103, 0.8430, 0.8399, 0.8504, 0.8431),
    ("Proposed v3", "type", "pairwise", 0.6039, 0.7943, 0.8752, 0.8894, 0.8949, 0.8976, 0.8997),
    ("Proposed v4", "tensor", "pairwise", 0.6335, 0.8136, 0.8762, 0.8900, 0.8957, 0.8979, 0.8995),
], columns=["method", "encoding", "loss"] + TABLE2_COLUMNS)

# RNAS Table 3: evolution guided by each predictor on NAS-Bench-101, 20 seeds; the best of each run's top 10.
# "accuracy" is CIFAR-10 test accuracy (%), printed as two numbers whose separator was lost: read as mean ± sd.
# "ranking" is the picks' true ranking among all NAS-Bench-101 networks; its unit was lost (a percentage by
# its size: 0.04 for the best row).
RNAS_TABLE3 = pd.DataFrame([
    ("Peephole", 90.99, 0.61, 43.22),
    ("E2EPP", 93.47, 0.44, 1.23),
    ("Proposed v1", 91.36, 0.27, 35.97),
    ("Proposed v2", 93.03, 0.21, 6.09),
    ("Proposed v3", 93.43, 0.26, 1.50),
    ("Proposed v4", 93.90, 0.21, 0.04),
], columns=["method", "accuracy", "accuracy_sd", "ranking_pct"])
RNAS_TABLE3_MATCH = {OURS: "Proposed v4", PEER: "E2EPP", MSE_COMPARATOR: "Proposed v2"}  # tensor + pairwise / MSE
RNAS_TABLE2_MATCH = {("tensor", FOREST): "E2EPP", ("type", "mse"): "Proposed v1", ("tensor", "mse"): "Proposed v2",
                     ("type", "pairwise"): "Proposed v3", ("tensor", "pairwise"): "Proposed v4"}


def table2(study: pd.DataFrame) -> pd.DataFrame:
    """Our RNAS Table 2: mean ± sd of held-out Kendall tau per split x encoding x loss (rows) and fraction
    (columns), with the RNAS row each corresponds to."""
    g = study.groupby(["split", "encoding", "loss", "fraction"]).tau.agg(["mean", "std"]).reset_index()
    g["cell"] = [f"{m:.3f} ± {s:.3f}" if s == s else f"{m:.3f}" for m, s in zip(g["mean"], g["std"])]
    out = g.pivot(index=["split", "encoding", "loss"], columns="fraction", values="cell").reset_index()
    out.columns.name = None
    out["rnas_row"] = [RNAS_TABLE2_MATCH.get((e, l), "") for e, l in zip(out.encoding, out.loss)]
    return out


# ---------------------------------------------------------------------------------------------- NAS-Bench-201 (#14)
# RNAS made its Table 2 claim on a NAS-Bench of real CIFAR-10 labels. The closest one reachable offline: the
# 15,625 NAS-Bench-201 cells with one 200-epoch CIFAR-10 test accuracy each (`resnas.tabular_cells`,
# AnalogNAS-Bench's runs), encoded as the adjacency x operation tensor (`predictor.cell_encoding`, 5 x 4 x 4).
# The same RankNet, losses, margin, lambda and fractions as the ERA study; only the space and labels change.
ERA_SPACE = "ERA space (our labels)"
ERA_TABLE_SPACE = "ERA table (Fashion-MNIST 14 px, long budget)"  # the table lane's ERA rows
NB201_SPACE = "NAS-Bench-201 (CIFAR-10, 200 epochs)"
NB201_ENCODING = "cell"  # the `encoding` column of NB201 rows: predictor.cell_encoding


def nb201_splits(n_cells: int, n_labelled: int, n_test: int, fractions, seeds):
    """For every seed: a labelled sample of `n_labelled` cells and `n_test` held-out cells, disjoint, drawn from
    all `n_cells`; and for every fraction the cells trained on, the first round(fraction * n_labelled) (at least
    2) of a seeded order of the labelled sample, so the subsets are nested as in `predictor.fraction_study`.
    Yields (seed, fraction, train_idx, test_idx)."""
    if n_labelled + n_test > n_cells:
        raise ValueError(f"n_labelled={n_labelled} + n_test={n_test} exceeds the {n_cells} cells; allowed: a sum of "
                         f"at most {n_cells}")
    for seed in seeds:
        perm = np.random.default_rng(seed).permutation(n_cells)
        labelled, test = perm[:n_labelled], np.sort(perm[n_labelled:n_labelled + n_test])
        order = np.random.default_rng(seed + 1).permutation(labelled)
        for frac in fractions:
            yield seed, float(frac), np.sort(order[:max(2, int(round(frac * n_labelled)))]), test


def _ranknet(x: np.ndarray, y: np.ndarray, config: PredictorConfig):
    return fit(None, y, config, features=x)


def nb201_fraction_study(x: np.ndarray, y: np.ndarray, fractions, losses, base: PredictorConfig, seeds,
                         n_labelled: int, n_test: int, fitter=_ranknet, progress: bool = False,
                         workers: int = 1) -> pd.DataFrame:
    """RNAS Table 2 on a table of cells: held-out Kendall tau of a predictor fit on a fraction of a labelled
    sample, one row per (seed, loss, fraction). `x`: features of every cell (`predictor.cell_encoding`), `y`:
    their accuracies; splits from `nb201_splits`. Every loss of a seed and fraction trains on the same cells
    (paired), with `base` (margin, lambda, epochs, hidden) and the seed as initialisation.
    `fitter(x_train, y_train, config)` returns anything with `score_features(x)` (default: the RankNet `fit`).
    Columns as `predictor.fraction_study`'s (split 'random', encoding NB201_ENCODING) plus `space`."""
    study, _ = repeated_fraction_study(x, y, fractions, losses, base, seeds, n_labelled, n_test, fitter=fitter,
                                       space=NB201_SPACE, encoding=NB201_ENCODING, progress=progress,
                                       workers=workers)
    return study


@dataclass(frozen=True)
class TableSearch:
    """RNAS Table 3 on a table (the table lane): in every repeat, predictors fit on the smallest fraction's
    training networks guide a regularized evolution over the labelled networks (`tabular.TableSpace` of
    `base`, the table's subspace, built in the worker: a TableSpace does not pickle), so every pick has a
    label. `configs`: the labelled networks in the order of the features' rows;
    `ours`: our predictor (the sweep's choice); `forest`: the E2EPP-style peer; `proxy`: each labelled network's
    cheap-proxy accuracy (it guides one more evolution, PROXY_GUIDED; None: not run)."""
    base: object
    configs: tuple
    ours: PredictorConfig
    forest: ForestConfig
    proxy: tuple | None
    steps: int
    population: int
    top: int


class _Lookup:
    """A 'predictor' that looks scores up (the cheap proxy's accuracy of a labelled network)."""

    def __init__(self, scores: dict):
        self.scores = scores

    def score(self, configs) -> np.ndarray:
        return np.array([self.scores[c] for c in configs], dtype=np.float64)


def _same_fit(a: PredictorConfig, b: PredictorConfig) -> bool:
    """Whether two configurations fit the same predictor: lambda matters only to the continuity loss."""
    if a.loss != "pairwise_continuity":
        a, b = a.replace(lam=0.0), b.replace(lam=0.0)
    return a == b


def _table_search(x, y, train, seed: int, search: TableSearch, fitted: dict) -> pd.DataFrame:
    """One repeat's searches (see TableSearch): ours, the peer and the MSE comparator fit on `train` (a fit
    the fraction study made with the same configuration is reused: `fitted[loss] = (config, predictor,
    seconds)`), then each guides an evolution with the repeat's seed; and the cheap proxy guides one."""
    import time

    def ranknet(config):
        config = config.replace(seed=seed)
        if config.loss in fitted and _same_fit(fitted[config.loss][0], config):
            return fitted[config.loss][1], fitted[config.loss][2]
        t0 = time.perf_counter()
        pred = fit(None, y[train], config, features=x[train])
        return pred, time.perf_counter() - t0

    def forest():
        t0 = time.perf_counter()
        pred = fit_forest(None, y[train], search.forest.replace(seed=seed), features=x[train])
        return pred, time.perf_counter() - t0

    makers = {OURS: lambda: ranknet(search.ours), PEER: forest,
              MSE_COMPARATOR: lambda: ranknet(search.ours.replace(loss="mse"))}
    if search.proxy is not None:
        makers[PROXY_GUIDED] = lambda: (_Lookup(dict(zip(search.configs, search.proxy))), 0.0)
    from resnas.tabular import TableSpace

    space = TableSpace(search.base, search.configs)
    rows = []
    for method, make in makers.items():
        pred, fit_seconds = make()
        t0 = time.perf_counter()
        picks = predictor_guided_evolution(pred, space, search.steps, search.population, seed, search.top, method)
        rows.append(picks.assign(seed=seed, pick=range(1, len(picks) + 1), n_train=len(train),
                                 fit_seconds=fit_seconds, search_seconds=time.perf_counter() - t0))
    return pd.concat(rows, ignore_index=True)


def _one_repeat(x, y, seed: int, fractions, losses, base: PredictorConfig, n_labelled: int, n_test: int, fitter,
                space: str, encoding: str, search: TableSearch | None) -> tuple[list, list]:
    """`repeated_fraction_study` for one seed: its rows, and its search picks (a frame, or none)."""
    import time

    rows, picks = [], []
    smallest = min(float(f) for f in fractions)
    for _, frac, train, test in nb201_splits(len(y), n_labelled, n_test, fractions, [seed]):
        fitted = {}
        configs = [base.replace(loss=loss, seed=seed) for loss in losses]
        if fitter is _ranknet:  # every loss at once (`fit_many`); each row carries an equal share of the time
            t0 = time.perf_counter()
            preds = fit_many(x[train], y[train], configs)
            share = (time.perf_counter() - t0) / len(configs)
            made = [(c, p, share) for c, p in zip(configs, preds)]
        else:
            made = []
            for config in configs:
                t0 = time.perf_counter()
                made.append((config, fitter(x[train], y[train], config), time.perf_counter() - t0))
        for loss, (config, pred, seconds) in zip(losses, made):
            fitted[loss] = (config, pred, seconds)
            history = getattr(pred, "history", None) or [{"train_tau": np.nan}]
            rows.append({"space": space, "split": "random", "seed": seed, "encoding": encoding,
                         "loss": loss, "fraction": frac, "n_train": len(train), "n_test": len(test),
                         "tau": kendall_tau(pred.score_features(x[test]), y[test]),
                         "train_tau": max(h["train_tau"] for h in history), "fit_seconds": seconds})
        if search is not None and frac == smallest:
            picks.append(_table_search(x, y, train, seed, search, fitted))
    return rows, picks


def repeated_fraction_study(x: np.ndarray, y: np.ndarray, fractions, losses, base: PredictorConfig, seeds,
                            n_labelled: int, n_test: int, fitter=_ranknet, space: str = NB201_SPACE,
                            encoding: str = NB201_ENCODING, search: TableSearch | None = None,
                            progress: bool = False, workers: int = 1) -> tuple[pd.DataFrame, pd.DataFrame]:
    """RNAS Table 2 repeated on a table (NAS-Bench-201's cells, the ERA table's labelled networks): for every
    seed, `nb201_splits` draws `n_labelled` networks to learn from and `n_test` others to hold out, and every
    loss is fit (`fitter(x_train, y_train, config)`, with the seed as initialisation) on each fraction's nested
    subsample and ranks the held-out networks (Kendall tau). With `search`, each repeat also runs RNAS Table 3
    on its smallest fraction (`TableSearch`). `workers` > 1 runs the repeats in that many processes (each fit is
    seeded and single-threaded: the rows are the same). Returns the study (one row per seed, loss and
    fraction; columns as `predictor.fraction_study`'s plus `space`) and the picks (empty without `search`)."""
    x, y = np.asarray(x), np.asarray(y, dtype=np.float64)
    if len(x) != len(y):
        raise ValueError(f"x has {len(x)} networks and y {len(y)} accuracies; allowed: one accuracy per network")
    if n_labelled + n_test > len(y):  # fail before any worker starts
        raise ValueError(f"n_labelled={n_labelled} + n_test={n_test} exceeds the {len(y)} cells; allowed: a sum of "
                         f"at most {len(y)}")
    seeds = list(seeds)
    args = (fractions, losses, base, n_labelled, n_test, fitter, space, encoding, search)
    if workers > 1 and len(seeds) > 1:
        from joblib import Parallel, delayed

        done = Parallel(n_jobs=min(workers, len(seeds)))(delayed(_one_repeat)(x, y, s, *args) for s in seeds)
    else:
        bar = None
        if progress:
            from resnas.progress import tqdm
            bar = tqdm(total=len(seeds), desc=f"{space}: repeats", leave=False)
        done = []
        for s in seeds:
            done.append(_one_repeat(x, y, s, *args))
            if bar is not None:
                bar.update(1)
        if bar is not None:
            bar.close()
    rows = [r for part, _ in done for r in part]
    picks = [f for _, part in done for f in part]
    return pd.DataFrame(rows), (pd.concat(picks, ignore_index=True) if picks else pd.DataFrame())


def table_epochs(p: Params) -> int:
    """The table lane's predictor steps."""
    return p.table_predictor_epochs or p.predictor_epochs


def table_sweep(frame: pd.DataFrame, p: Params) -> pd.DataFrame:
    """The margin / lambda sweep of the table lane, on its first repeat's labelled networks (never that
    repeat's held-out ones; later repeats' held-out networks may have informed this two-number choice)."""
    n_lab, n_test = table_split_sizes(len(frame), p.test_fraction)
    _, _, labelled, _ = next(nb201_splits(len(frame), n_lab, n_test, [1.0], [0]))
    return sweep(frame, p, seed=0, train_idx=labelled, epochs=table_epochs(p))


def _no_training(configs):
    raise RuntimeError(f"{len(configs)} table-lane pick(s) outside the labelled networks, e.g. {configs[0]}: the "
                       f"search space is the labelled networks (TableSpace), so this is a bug, not a training to run")


def table_study(frame: pd.DataFrame, p: Params, choice: "Choice", base_space, progress: bool = False
                ) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The table lane's RNAS Tables 2 and 3: `table_repeats` repeats of `repeated_fraction_study` on the
    labelled networks (`table_labels(...).frame`; features: the predictor's 'tensor' encoding of each ERA
    configuration), every loss of `p.losses` at every fraction, and in each repeat the searches of
    `TableSearch` over the labelled networks (`tabular.TableSpace` of `base_space`, the table's subspace),
    their picks scored by their label (`attach_truth`, nothing trained). Returns (study, picks)."""
    configs = configs_of(frame)
    if p.table_population > len(configs):
        raise ValueError(f"table_population={p.table_population} exceeds the {len(configs)} labelled networks the "
                         f"table-lane evolution searches; allowed: 2 to {len(configs)}")
    n_lab, n_test = table_split_sizes(len(frame), p.test_fraction)
    x = encode(configs, "tensor")
    epochs = table_epochs(p)
    search = TableSearch(base_space, tuple(c.canonical() for c in configs), choice.search.replace(epochs=epochs),
                         ForestConfig("tensor", p.forest_trees), tuple(frame.proxy_accuracy.astype(float)),
                         p.table_evolution_steps, p.table_population, p.table_top)
    study, picks = repeated_fraction_study(x, frame.accuracy.to_numpy(), p.fractions, p.losses,
                                           choice.study.replace(epochs=epochs), range(p.table_repeats), n_lab,
                                           n_test, space=ERA_TABLE_SPACE, encoding="tensor", search=search,
                                           progress=progress, workers=p.workers)
    return study, attach_truth(picks, frame, _no_training)


def both_spaces(era: pd.DataFrame, nb201: pd.DataFrame, encoding: str = "tensor",
                era_space: str = ERA_SPACE) -> pd.DataFrame:
    """The two fraction studies in one tidy frame for the side-by-side: the ERA study's random split with
    `encoding` (RNAS's 'tensor', Proposed v2/v4) and the losses the NB201 study ran, named `era_space` (the
    table lane: ERA_TABLE_SPACE), beside the NB201 rows. Columns: space, seed, loss, fraction, n_train,
    n_test, tau."""
    cols = ["space", "seed", "loss", "fraction", "n_train", "n_test", "tau"]
    losses = set(nb201.loss) if len(nb201) else set(LOSSES)
    e = era[(era.split == "random") & (era.encoding == encoding) & era.loss.isin(losses)].assign(space=era_space)
    return pd.concat([e[cols], nb201[cols] if len(nb201) else None], ignore_index=True)


def interval_method(n: int) -> str:
    """How a 95% interval of the mean over n repeats is computed: 'Student t' below MIN_BOOTSTRAP_N (a bootstrap
    over a handful of repeats only reshuffles them: its interval is far too narrow), 'bootstrap' from there on
    (percentile), 'none' below 2."""
    return "none" if n < 2 else "Student t" if n < MIN_BOOTSTRAP_N else "bootstrap"


def _interval(values: np.ndarray, seed: int, n_resamples: int) -> tuple[float, float]:
    """95% interval of the mean (`interval_method`): a Student-t interval below MIN_BOOTSTRAP_N values, a
    percentile bootstrap from there on; (nan, nan) for fewer than 2 values, the value itself when all are equal
    (both intervals are then a point)."""
    from scipy import stats

    v = np.asarray(values, dtype=np.float64)
    v = v[np.isfinite(v)]
    if len(v) < 2:
        return math.nan, math.nan
    if np.ptp(v) == 0:
        return float(v[0]), float(v[0])
    if len(v) < MIN_BOOTSTRAP_N:
        half = stats.t.ppf(0.975, len(v) - 1) * v.std(ddof=1) / math.sqrt(len(v))
        return float(v.mean() - half), float(v.mean() + half)
    ci = stats.bootstrap((v,), np.mean, method="percentile", n_resamples=n_resamples, random_state=seed)
    return float(ci.confidence_interval.low), float(ci.confidence_interval.high)


def tau_intervals(frame: pd.DataFrame, by=("space", "loss", "fraction"), seed: int = 0,
                  n_resamples: int = 2000) -> pd.DataFrame:
    """Mean held-out tau per group over the repeats, with a 95% interval of the mean (`interval_method`: Student
    t below MIN_BOOTSTRAP_N repeats, percentile bootstrap from there on; named in `interval`) and the repeats
    counted (an undefined tau is left out and not counted)."""
    rows = []
    for key, g in frame.groupby(list(by), sort=False):
        key = key if isinstance(key, tuple) else (key,)
        low, high = _interval(g.tau.to_numpy(float), seed, n_resamples)
        n = int(g.tau.notna().sum())
        rows.append({**dict(zip(by, key)), "n_train": int(g.n_train.median()) if "n_train" in g else 0,
                     "tau": g.tau.mean(), "low": low, "high": high, "repeats": n, "interval": interval_method(n)})
    return pd.DataFrame(rows)


def side_by_side(spaces: pd.DataFrame, proxy_rows: pd.DataFrame | None = None, seed: int = 0,
                 n_resamples: int = 2000) -> pd.DataFrame:
    """RNAS Table 2 in both spaces (`tau_intervals` of `both_spaces`), with the table lane's named comparison
    beside the predictors: `proxy_rows` (`table_baselines` rows of the cheap proxy: its held-out tau per
    repeat, on the same networks the predictors rank) as rows of their own, loss = the method's name,
    fraction 0 and n_train 0 (it learns from no label; it costs an E-epoch training of every network ranked)."""
    iv = tau_intervals(spaces, seed=seed, n_resamples=n_resamples)
    if proxy_rows is None or not len(proxy_rows):
        return iv
    pr = proxy_rows.assign(space=ERA_TABLE_SPACE, loss=proxy_rows.method, fraction=0.0, n_train=0)
    return pd.concat([iv, tau_intervals(pr, seed=seed, n_resamples=n_resamples)], ignore_index=True)


def label_long_form(labels: LabelSet) -> pd.DataFrame:
    """The labels and (unless it is the label: the fallback) the cheap proxy, one row per network and kind,
    for the histogram of the labelled networks' accuracies."""
    frame = labels.frame
    shown = ["accuracy"] if labels.proxy_is_label else ["accuracy", "proxy_accuracy"]
    long_form = frame.melt(id_vars="config", value_vars=shown, var_name="what",
                           value_name="validation accuracy (%)")
    long_form["what"] = long_form.what.map({"accuracy": f"label ({labels.label_epochs} epochs)",
                                            "proxy_accuracy": f"the cheap proxy ({labels.proxy_epochs} epochs)"})
    return long_form


def loss_gaps(frame: pd.DataFrame, a: str = "pairwise", b: str = "mse", seed: int = 0,
              n_resamples: int = 2000) -> pd.DataFrame:
    """Per space and fraction: tau(a) - tau(b) paired by repeat seed (the same cells and initialisation seed),
    mean with its 95% percentile bootstrap interval, and how many repeats favour `a`."""
    wide = frame[frame.loss.isin([a, b])].pivot_table(index=["space", "fraction", "seed"], columns="loss",
                                                      values="tau", aggfunc="mean")
    rows = []
    if not {a, b} <= set(wide):
        return pd.DataFrame(columns=["space", "fraction", "gap", "low", "high", "repeats", f"{a}_better"])
    d = (wide[a] - wide[b]).dropna()
    for (space, frac), g in d.groupby(level=["space", "fraction"], sort=False):
        low, high = _interval(g.to_numpy(float), seed, n_resamples)
        rows.append({"space": space, "fraction": frac, "gap": g.mean(), "low": low, "high": high,
                     "repeats": len(g), f"{a}_better": int((g > 0).sum())})
    return pd.DataFrame(rows)


# ---------------------------------------------------------------------------------------------- claims (#16)
# RNAS's two comparative claims, decided per repeat (the seeds of the fraction study; the search seeds). RNAS
# makes no claim against random search, so none is tested here.
CLAIMS = {c.id: c for c in (
    Claim("rnas.pairwise_beats_mse", "RNAS", "rnas.txt:171",
          "pairwise loss is better than MSE loss at ranking regardless of input feature",
          "Trained on a small fraction of the labelled networks, the predictor with the pairwise loss ranks the "
          "held-out networks better (higher Kendall tau) than the same predictor with the MSE loss, for either "
          "encoding (RNAS Table 2, whose discussion focuses on its second, 0.1% column).",
          "Table 2, second column (the one discussed): 0.8136 vs 0.6090 (tensor), 0.7943 vs 0.5911 (type matrix)",
          "greater",
          "held-out Kendall tau, pairwise - MSE (mean over the encodings), smallest training fraction"),
    Claim("rnas.pairwise_beats_mse_era", "RNAS", "rnas.txt:171",
          "pairwise loss is better than MSE loss at ranking regardless of input feature",
          "The same comparison as rnas.pairwise_beats_mse on the ERA space with our own labels (the ERA table "
          "lane), recorded beside it when rnas.pairwise_beats_mse is decided on the NAS-Bench-201 table: trained on "
          "a small fraction of the labelled networks, the pairwise predictor ranks held-out networks better than "
          "the MSE one, for either encoding.",
          "Table 2, second column (the one discussed): 0.8136 vs 0.6090 (tensor), 0.7943 vs 0.5911 (type matrix)",
          "greater", "held-out Kendall tau, pairwise - MSE (mean over the encodings), smallest training fraction"),
    Claim("rnas.guided_beats_peer", "RNAS", "rnas.txt:184-195",
          "The performed method outperforms other competitors",
          "Regularized evolution guided by the proposed predictor (tensor encoding, pairwise loss) finds networks "
          "of higher true accuracy than the same evolution guided by a peer predictor, here the E2EPP-style "
          "random forest fit on the same labelled networks (best of each run's picks; RNAS Table 3).",
          "Table 3: 93.90 +- 0.21 vs 93.47 +- 0.44 (E2EPP) CIFAR-10 test accuracy, 20 seeds", "greater",
          "true accuracy of the run's best pick, ours - peer (points)"),
)}


def claims_protocol(labels: "LabelSet") -> str:
    """RNAS works on NAS-Bench-101 (CIFAR-10, 108-epoch labels); ours is the ERA space on this profile's data,
    so the data (the benchmark) is always a proxy; the budget too unless the labels come from long training
    on CIFAR-10."""
    return "proxy data" if labels.data.name == "cifar10" and labels.source == LONG else "proxy data and budget"


def loss_pairs(study: pd.DataFrame, split: str = "random") -> pd.DataFrame:
    """Per seed of the fraction study at its smallest training fraction, on `split`: the held-out Kendall tau
    of the pairwise and the MSE predictor, each the mean over the encodings that ran both losses. Columns:
    seed, fraction, pairwise, mse, encodings, fit_seconds (the seed's fits of both losses at that fraction).
    Seeds with an undefined tau (constant predictions or labels) on either side are dropped."""
    cols = ["seed", "fraction", "pairwise", "mse", "encodings", "fit_seconds"]
    sub = study[(study.split == split) & study.loss.isin(["pairwise", "mse"])]
    if sub.empty:
        return pd.DataFrame(columns=cols)
    sub = sub[sub.fraction == sub.fraction.min()]
    wide = sub.pivot_table(index=["seed", "encoding"], columns="loss", values="tau", aggfunc="mean")
    if not {"pairwise", "mse"} <= set(wide):
        return pd.DataFrame(columns=cols)
    wide = wide.dropna(subset=["pairwise", "mse"]).reset_index()
    secs = sub.groupby("seed").fit_seconds.sum()
    g = wide.groupby("seed").agg(pairwise=("pairwise", "mean"), mse=("mse", "mean"), encodings=("encoding", "nunique"))
    g = g.reset_index().assign(fraction=float(sub.fraction.min()))
    g["fit_seconds"] = g.seed.map(secs)
    return g[cols]


def guided_pairs(picks: pd.DataFrame, method: str = OURS, peer: str = PEER) -> pd.DataFrame:
    """Per search seed: the best true accuracy among the picks of `method`'s run and of `peer`'s run (failed
    picks have none; a seed where either run has no accuracy is dropped), and the seconds both runs spent
    fitting and searching. Columns: seed, ours, peer, search_seconds."""
    cols = ["seed", "ours", "peer", "search_seconds"]
    guided = picks[picks.method.isin([method, peer])]
    if guided.empty:
        return pd.DataFrame(columns=cols)
    best = guided.pivot_table(index="seed", columns="method", values="accuracy", aggfunc="max")
    if method not in best or peer not in best:
        return pd.DataFrame(columns=cols)
    best = best.dropna(subset=[method, peer])
    runs = guided.drop_duplicates(["method", "seed"])
    secs = (runs.fit_seconds + runs.search_seconds).groupby(runs.seed).sum()
    return pd.DataFrame({"seed": best.index, "ours": best[method].to_numpy(), "peer": best[peer].to_numpy(),
                         "search_seconds": secs.reindex(best.index).to_numpy()})


NB201_PROTOCOL = "proxy budget"


def claim_rows(study: pd.DataFrame, picks: pd.DataFrame, labels: "LabelSet", p: Params,
               nb201: pd.DataFrame | None = None) -> list[dict]:
    """The RNAS claims (unit: repeats). Table 2: paired by the fraction study's seed (the same split and
    subsample for both losses). Table 3: paired by search seed; a repeat costs the two searches plus training
    their picks at the label budget (`top` each, at the labels' mean training seconds).

    Table 2 is decided on the NAS-Bench-201 study (`nb201`, `nb201_fraction_study`) where it has paired
    repeats: real CIFAR-10 labels of a NAS-Bench, as RNAS's were. Its protocol is NB201_PROTOCOL: the data are
    RNAS's kind (CIFAR-10 accuracies of fully trained NAS-Bench cells; another benchmark, said in `mapping`)
    but the predictor learns from fewer networks than RNAS's 424 and is smaller. The ERA study then keeps its
    own row under rnas.pairwise_beats_mse_era (same quote: another space and labels, not a repeat of the same
    test). Without NAS-Bench-201 rows, rnas.pairwise_beats_mse is decided on the ERA study as before."""
    from dataclasses import replace

    from resnas.claims import decide

    proto = claims_protocol(labels)
    fb = " (FALLBACK labels: the search's own accuracies)" if labels.proxy_is_label else ""
    lp = loss_pairs(study)
    frac = f"{lp.fraction.iloc[0]:g}" if len(lp) else "none"
    n_train = int(study[(study.split == "random") & (study.fraction == study.fraction.min())].n_train.median()) \
        if len(study) else 0
    nb = loss_pairs(nb201) if nb201 is not None and len(nb201) else pd.DataFrame()
    era_id = "rnas.pairwise_beats_mse_era" if len(nb) else "rnas.pairwise_beats_mse"
    table = " of the ERA table (table lane)" if labels.source == TABLE_SOURCE else ""
    c2 = replace(CLAIMS[era_id], protocol=proto,
                 mapping=f"RNAS 0.1% of NAS-Bench-101 (424 networks) -> fraction {frac} of our {labels.n} labels"
                         f"{table} (about {n_train} training networks), {labels.label_epochs}-epoch labels{fb}")
    rows = []
    if len(nb):
        sub = nb201[nb201.fraction == nb201.fraction.min()]
        cn = replace(CLAIMS["rnas.pairwise_beats_mse"], protocol=NB201_PROTOCOL,
                     mapping=f"RNAS 0.1% of NAS-Bench-101 (424 of 423k networks, 108-epoch CIFAR-10 labels) -> "
                             f"{int(sub.n_train.median())} of {NB201_CELLS:,} NAS-Bench-201 cells (fraction "
                             f"{nb.fraction.iloc[0]:g} of a labelled sample of {p.nb201_labelled}), one 200-epoch "
                             f"CIFAR-10 test accuracy per cell (AnalogNAS-Bench's runs, not NAS-Bench-201's); tau on "
                             f"{int(sub.n_test.median())} held-out cells; cell encoding, hidden {p.hidden}, "
                             f"{p.nb201_predictor_epochs or p.predictor_epochs} epochs")
        rows.append(decide(cn, nb.pairwise.to_numpy(), nb.mse.to_numpy(), paired=True, n_unit="repeats",
                           seconds_per_run=float(nb.fit_seconds.mean()),
                           note="NAS-Bench-201 table (resnas.tabular_cells); each repeat draws its own labelled "
                                "sample, test cells and initialisation; RankNet on the adjacency x operation "
                                "tensor with the ERA sweep's margin"))
    rows.append(decide(c2, lp.pairwise.to_numpy(), lp.mse.to_numpy(), paired=True, n_unit="repeats",
                       seconds_per_run=float(lp.fit_seconds.mean()) if len(lp) else float("nan"),
                       note=f"ERA space, random split; encodings per repeat: "
                            f"{int(lp.encodings.max()) if len(lp) else 0}"))
    gp = guided_pairs(picks)
    label_s = float(labels.frame.label_seconds.mean()) if "label_seconds" in labels.frame else float("nan")
    if labels.source == TABLE_SOURCE:  # the table lane: picks looked up, nothing trained
        sec = float(gp.search_seconds.mean()) if len(gp) else float("nan")
        n_fit = int(picks.n_train.median()) if "n_train" in picks and len(picks) else 0
        mapping = (f"RNAS 20 seeds, best of each run's top 10 on NAS-Bench-101 (predictor fit on 424 networks) -> "
                   f"{gp.seed.nunique() if len(gp) else 0} repeats, best of each run's top {p.table_top} among the "
                   f"{labels.n} labelled networks of the ERA table, looked up at their {labels.label_epochs}-epoch "
                   f"validation accuracy (no training); predictors fit on {n_fit} of them (the smallest fraction)")
        note = ("peer: E2EPP-style random forest on the same labelled networks; the evolution searches only the "
                "table's labelled networks (resnas.tabular.TableSpace)")
    else:
        sec = float(gp.search_seconds.mean()) + 2 * p.top * label_s if len(gp) else float("nan")
        mapping = (f"RNAS 20 seeds, best of each run's top 10 on NAS-Bench-101 -> {len(p.search_seeds)} search "
                   f"seeds, best of each run's top {p.top} trained at the {labels.label_epochs}-epoch label "
                   f"budget on {labels.data.name}{fb}")
        note = "peer: E2EPP-style random forest on the same labelled networks"
    c3 = replace(CLAIMS["rnas.guided_beats_peer"], protocol=proto, mapping=mapping)
    rows.append(decide(c3, gp.ours.to_numpy(), gp.peer.to_numpy(), paired=True, n_unit="repeats",
                       seconds_per_run=sec, note=note))
    return rows
