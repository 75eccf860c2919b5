"""The ERA table (issue 14) and a zero-training objective over it.

**The table.** `load_table()` reads the shipped Parquet file (`lib/resnas/tables/era_fmnist14.parquet`,
written by `python -m resnas.experiments.era_table merge`) into one tidy frame, one row per (network, seed,
budget, epoch): the network's configuration (`config` JSON and its eight parameters, `layers`), `seed`,
`budget` (the epochs that training ran), `epoch`, `lr`, training and validation loss and accuracy (fractions),
`seconds` (cumulative training time at that epoch), `params`, `flops` and `wall_time`. When the merged file
is not there yet (a generation in progress), the committed parts are read instead. A question about all
networks is one pandas expression, e.g. the final short-budget accuracies:
`t[(t.budget == 6) & (t.epoch == 6) & (t.seed == 0)].set_index("config").val_acc`.

**The objective.** `TabularObjective(table).evaluate(space, config)` answers as `resnas.evaluate.Evaluator`
does (a record with `fitness` = validation error in %, `params`, `flops`, `wall_time`, `history`, `cached`),
with zero training: `epochs` picks the training budget and `epoch` the point of its curve (default: its last);
`seed` picks one stored training where a network has two; the stored training time up to that epoch is the
simulated wall time. A configuration outside the table's subspace is an error that names the subspace.
"""
from __future__ import annotations

import copy
import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from resnas.spaces.era import EraConfig, EraSpace

TABLES = Path(__file__).resolve().parent / "tables"
DEFAULT_TABLE = "era_fmnist14"


class TableUnavailable(FileNotFoundError):
    """Neither the merged table nor any of its parts is installed."""


def table_path(name: str = DEFAULT_TABLE, folder: str | Path = TABLES) -> Path:
    return Path(folder) / f"{name}.parquet"


def load_table(name: str = DEFAULT_TABLE, folder: str | Path = TABLES) -> pd.DataFrame:
    """The table as one tidy frame (see the module's docstring). The merged file when it exists, else the union
    of its parts (`<folder>/parts/<name>-<start>-<end>.parquet`, a generation in progress)."""
    path = table_path(name, folder)
    if path.exists():
        frame = pd.read_parquet(path)
    else:
        parts = sorted((Path(folder) / "parts").glob(f"{name}-*.parquet"))
        if not parts:
            raise TableUnavailable(f"table {name!r}: neither {path} nor parts in {Path(folder) / 'parts'}; "
                                   "generate it: python -m resnas.experiments.era_table generate")
        frame = pd.concat([pd.read_parquet(p) for p in parts], ignore_index=True)
    frame.attrs["identity"] = table_identity(name, folder)
    return frame


def table_identity(name: str = DEFAULT_TABLE, folder: str | Path = TABLES) -> dict:
    """The generation's identity (data, recipes, subspace, seeds) stored in the table's (or a part's) metadata."""
    import pyarrow.parquet as pq

    path = table_path(name, folder)
    if not path.exists():
        parts = sorted((Path(folder) / "parts").glob(f"{name}-*.parquet"))
        if not parts:
            return {}
        path = parts[0]
    meta = json.loads((pq.read_schema(path).metadata or {}).get(b"resnas", b"{}"))
    return meta.get("identity") or meta.get("fingerprint", {}).get("identity", {})


def subspace_of(identity: dict) -> EraSpace:
    """The EraSpace a table's identity describes (filters, max_depth, groups)."""
    try:
        return EraSpace(filters_choices=tuple(identity["filters"]), max_depth=int(identity["max_depth"]),
                        group_choices=tuple(identity["groups"]))
    except KeyError as exc:
        raise ValueError(f"the table's metadata lacks {exc}: it names no subspace") from None


def describe(space: EraSpace) -> str:
    return (f"EraSpace(filters={list(space.filters_choices)}, depths: first section 0..{space.max_depth}, others "
            f"1..{space.max_depth}, groups={list(space.group_choices)}, blocks basic/bottleneck, update 1/2)")


@dataclass(frozen=True)
class TableRecord:
    """A table answer in the shape of `resnas.evaluate.Record` where strategies and notebooks look."""

    key: str  # "<config JSON>|seed<s>|epochs<b>@<epoch>"
    space: str
    config: str
    seed: int
    budget: int
    epoch: int
    final_val_acc: float
    best_val_acc: float
    best_epoch: int
    params: int
    flops: int
    wall_time: float  # the stored training time up to `epoch` (simulated: nothing is trained)
    history: tuple
    status: str = "ok"
    cached: bool = field(default=True, compare=False)

    @property
    def ok(self) -> bool:
        return self.status == "ok" and np.isfinite(self.final_val_acc)

    @property
    def fitness(self) -> float:
        """Validation error in % (minimised), the evaluator's convention; +inf for a failed training."""
        return 100.0 * (1.0 - self.final_val_acc) if self.ok else float("inf")


class TabularObjective:
    """Answers `evaluate(space, config)` from the ERA table with zero training.

    epochs: the training budget to answer from (default: the table's short budget E); epoch: the point of that
    curve (default: its last epoch). seed: None answers from the first training seed; an integer k picks, for
    each network, its k-th stored training modulo how many it has (networks trained twice alternate between
    their runs, those trained once always give theirs), so searches repeated over seeds see the seed noise where
    the table has it."""

    def __init__(self, table: pd.DataFrame | None = None, epochs: int | None = None, epoch: int | None = None,
                 seed: int | None = None, space: EraSpace | None = None):
        table = load_table() if table is None else table
        identity = table.attrs.get("identity") or {}
        self.space = space or subspace_of(identity)
        budgets = sorted(table.budget.unique().tolist())
        if not budgets:
            raise ValueError("the table is empty")
        self.epochs = int(identity.get("recipe", {}).get("epochs", budgets[0])) if epochs is None else int(epochs)
        if self.epochs not in budgets:
            raise ValueError(f"epochs={epochs} is not a budget of the table; allowed: {budgets}")
        rows = table[table.budget == self.epochs]
        self.epoch = self.epochs if epoch is None else int(epoch)
        if not 1 <= self.epoch <= self.epochs:
            raise ValueError(f"epoch={epoch} is out of range; allowed: 1 to {self.epochs} (the budget's epochs)")
        self.seed = seed
        # One pass over the rows into plain lists (a pandas filter per lookup cost ~8 ms; this makes a lookup a
        # dictionary access): curve rows per (config, stored seed), sorted by epoch, and the seeds per config.
        cols = ["config", "seed", "epoch", "lr", "train_loss", "train_acc", "val_loss", "val_acc", "seconds",
                "params", "flops"]
        curves: dict[tuple[str, int], list[dict]] = {}
        for row in rows[cols].sort_values(["config", "seed", "epoch"]).to_dict("records"):
            curves.setdefault((row["config"], int(row["seed"])), []).append(row)
        self._curves = curves
        self._seeds: dict[str, list[int]] = {}
        for config, s_ in sorted(curves):
            self._seeds.setdefault(config, []).append(s_)
        self._members = {EraConfig.from_json(c).canonical() for c in self._seeds}
        self._answers: dict[tuple[str, int], TableRecord] = {}  # shared by with_seed() copies
        self.queries = 0

    @property
    def answered(self) -> int:
        """Distinct stored runs answered so far (by this objective and its `with_seed` copies)."""
        return len(self._answers)

    def with_seed(self, seed: int | None) -> "TabularObjective":
        """The same table and budget answering with another `seed` (shares the lookup; no copy of the table)."""
        other = copy.copy(self)
        other.seed, other.queries = seed, 0
        return other

    def _config(self, space, config) -> EraConfig:
        name = space if isinstance(space, str) else getattr(space, "name", space)
        if name != "era":
            raise ValueError(f"space={name!r} has no table here; allowed: 'era' (the table's subspace: "
                             f"{describe(self.space)})")
        cfg = EraConfig.from_json(config) if isinstance(config, str) else config
        cfg = cfg.canonical()
        if cfg not in self._members:
            inside = "inside the subspace but not (yet) in this table" if _in_space(self.space, cfg) else \
                "outside the table's subspace"
            raise ValueError(f"config {cfg} is {inside}: {describe(self.space)}, {len(self._members)} networks "
                             f"at {self.epochs} epochs")
        return cfg

    def evaluate(self, space, config) -> TableRecord:
        cfg = self._config(space, config)
        key = cfg.to_json()
        seeds = self._seeds[key]
        seed = seeds[0] if self.seed is None else seeds[self.seed % len(seeds)]
        self.queries += 1
        answer = self._answers.get((key, seed))
        if answer is None:
            answer = self._answers[(key, seed)] = self._answer(key, seed)
        return answer

    def _answer(self, key: str, seed: int) -> TableRecord:
        curve = self._curves[(key, seed)]
        upto = [r for r in curve if r["epoch"] <= self.epoch] or curve  # a failed training: one NaN row
        last = upto[-1]
        scored = [r for r in upto if np.isfinite(r["val_acc"])]
        best = max(scored, key=lambda r: r["val_acc"]) if scored else last  # first of ties, as idxmax
        history = tuple({k: r[k] for k in ("epoch", "lr", "train_loss", "train_acc", "val_loss", "val_acc",
                                           "seconds")} for r in upto)
        return TableRecord(key=f"{key}|seed{seed}|epochs{self.epochs}@{int(last['epoch'])}", space="era",
                           config=key, seed=int(seed), budget=self.epochs, epoch=int(last["epoch"]),
                           final_val_acc=float(last["val_acc"]), best_val_acc=float(best["val_acc"]),
                           best_epoch=int(best["epoch"]), params=int(last["params"]), flops=int(last["flops"]),
                           wall_time=float(last["seconds"]), history=history,
                           status="ok" if np.isfinite(last["val_acc"]) else "failed")

    __call__ = evaluate

    def map(self, items, progress: bool | None = None, desc: str = "") -> list[TableRecord]:
        return [self.evaluate(s, c) for s, c in items]

    def objective(self, space="era"):
        """`config -> (fitness, info)` for `resnas.search.run_search`."""

        def objective(cfg):
            rec = self.evaluate(space, cfg)
            return rec.fitness, {"params": rec.params, "flops": rec.flops, "train_seconds": rec.wall_time,
                                 "cached": True, "status": rec.status, "key": rec.key}

        return objective

    def networks(self) -> list[EraConfig]:
        """The networks the table answers for at this budget."""
        return sorted(self._members, key=EraConfig.to_json)


def _in_space(space: EraSpace, cfg: EraConfig) -> bool:
    try:
        space.validate(cfg)
    except ValueError:
        return False
    return True


class TableSpace:
    """The networks a table holds, as a search space: the table's `EraSpace` with every operator kept inside
    the table's members. With a complete table (every network of the subspace present) each operator is the
    EraSpace's own, drawing the same random numbers, so a search on it is the search on the subspace. With a
    partial table (a generation in progress, a uniform sample of the subspace) a draw outside it is redrawn
    (up to `tries` times, then a member is picked uniformly), neighbourhoods keep their members, and a flat form
    from a model-based search is projected onto the member that differs in the fewest parameters. Everything
    else (choices, encodings, building a network) is the EraSpace's."""

    def __init__(self, base: EraSpace, members, tries: int = 64):
        self.base = base
        self.members = frozenset(EraConfig.canonical(m) for m in members)
        if not self.members:
            raise ValueError("a TableSpace needs at least one member network")
        self.ordered = sorted(self.members, key=EraConfig.to_json)
        self.complete = len(self.members) >= base.distinct_size()
        self.tries = tries
        self.name = base.name

    def __getattr__(self, item):  # choices, ordinal, flat, to_json, build, count_params, ...
        return getattr(self.base, item)

    def __repr__(self) -> str:
        return (f"TableSpace({describe(self.base)}: {len(self.members)} of {self.base.distinct_size()} networks"
                f"{'' if self.complete else ', partial'})")

    def _redraw(self, draw, rng: np.random.Generator, fallback=None) -> EraConfig:
        for _ in range(1 if self.complete else self.tries):
            cfg = draw().canonical()
            if cfg in self.members:
                return cfg
        return fallback if fallback is not None else self.ordered[rng.integers(len(self.ordered))]

    def sample(self, rng: np.random.Generator) -> EraConfig:
        return self._redraw(lambda: self.base.sample(rng), rng)

    def mutate(self, cfg: EraConfig, rng: np.random.Generator) -> EraConfig:
        return self._redraw(lambda: self.base.mutate(cfg, rng), rng)

    def crossover(self, a: EraConfig, b: EraConfig, rng: np.random.Generator) -> EraConfig:
        return self._redraw(lambda: self.base.crossover(a, b, rng), rng, fallback=a.canonical())

    def neighbours(self, cfg: EraConfig) -> list[EraConfig]:
        return [n for n in self.base.neighbours(cfg) if n in self.members]

    def unflat(self, flat) -> EraConfig:
        cfg = self.base.unflat(flat)
        if cfg in self.members:
            return cfg
        want = self.base.flat(cfg)
        return min(self.ordered, key=lambda m: sum(v != want[k] for k, v in self.base.flat(m).items()))

    def validate(self, cfg: EraConfig) -> EraConfig:
        self.base.validate(cfg)
        if cfg.canonical() not in self.members:
            raise ValueError(f"config {cfg} is not in the table ({self!r})")
        return cfg

    def size(self) -> int:
        return len(self.members)

    distinct_size = size

    def enumerate(self):
        return iter(self.ordered)


def table_space(objective: TabularObjective) -> TableSpace:
    """The search space of the networks `objective` answers for (at its budget)."""
    return TableSpace(objective.space, objective.networks())
