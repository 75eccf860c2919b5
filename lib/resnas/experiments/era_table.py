"""A tabular benchmark of an ERA subspace (issue 14): every network trained once through the archive, every
epoch stored, so searches and rankings can look results up instead of training.

The subspace is `EraSpace(filters_choices, max_depth, group_choices)`: both block types, the first section 0 to
`max_depth` blocks deep and the others 1 to `max_depth`, the listed initial filters and group sizes, both
filter-update rules; its distinct networks (group sizes clamped to the filter count, the space's canonical
form) are the table's rows. The proxy task: a class-balanced subset of a data set (the CPU table: Fashion-MNIST
average-pooled to 14 px), trained with the thesis's search schedule (SGD, lr for the first epochs, lr/10 for
the last 3 of 20, scaled to E epochs) and validated after every epoch.

The generation trains, in a seeded random order of the networks (so a partial table is a uniform sample):
each network at E epochs with the first seed; every fifth (an exact fraction, spread evenly over the order)
with a second seed; `long_networks` of them (spread evenly) at `long_epochs`. Every finished record is
committed to the archive, and every `part_size` networks the finished ones are exported as an atomically
written Parquet part, so a killed run resumes from the archive, and a new machine from the committed parts
(a network whose rows a part holds is never trained again). `merge` joins the parts into the shipped table and
writes its fingerprint.

Command line: `python -m resnas.experiments.era_table generate [--profile default] [--workers 1]`, then
`python -m resnas.experiments.era_table merge`.
"""
from __future__ import annotations

import argparse
import datetime
import json
import math
import os
import platform
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from resnas.data import AUGMENTED, DATASETS, DataSpec
from resnas.evaluate import BACKENDS
from resnas.params import check_val_size, param, require
from resnas.spaces.era import FILTERS_CODE, GROUPS, EraConfig, EraSpace

TABLES = Path(__file__).resolve().parent.parent / "tables"  # the package's data folder
PARTS = TABLES / "parts"
TABLE_NAME = "era_fmnist14"  # the shipped CPU table: lib/resnas/tables/era_fmnist14.parquet (+ .json)
SPACE_NAME = "era"  # the archive's space key: networks are EraSpace networks; the subspace is a set of them

# Columns of the tidy frame, one row per (network, seed, budget, epoch).
CONFIG_COLUMNS = ["config", "block", "d0", "d1", "d2", "d3", "filters", "update", "group", "layers"]
RUN_COLUMNS = ["seed", "budget", "epoch", "lr", "train_loss", "train_acc", "val_loss", "val_acc", "seconds",
               "params", "flops", "wall_time"]
COLUMNS = CONFIG_COLUMNS + RUN_COLUMNS


@dataclass(frozen=True)
class Params:
    # the proxy task
    dataset: str = param("fashion_mnist_14", choices=DATASETS,
                         help="fashion_mnist_14 = Fashion-MNIST average-pooled to 14 px (resnas.data.POOLED)")
    val_size: float = param(5000, gt=0.0, help="validation images held out of the training set")
    train_per_class: int | None = param(300, ge=1, help="class-balanced training subset (300 x 10 = 3,000)")
    val_per_class: int | None = param(200, ge=1, help="class-balanced validation subset (200 x 10 = 2,000)")
    epochs: int = param(6, ge=1, le=1000, help="E, the table's short budget")
    long_epochs: int = param(18, ge=1, le=3000, help="the long budget (>= 3 x E: fidelity and ranking labels)")
    batch_size: int = param(128, ge=1, le=4096)
    lr: float = param(0.1, ge=1e-6, le=10.0)
    # the subspace (an EraSpace)
    filters: list[int] = param([4, 8, 16], choices=FILTERS_CODE)
    max_depth: int = param(2, ge=1, le=18, help="section depths: first 0..max_depth, others 1..max_depth")
    groups: list[int] = param([1, 4, 32], choices=GROUPS, help="channels per group (clamped to filters)")
    # what is trained
    seeds: list[int] = param([0, 1], help="first seed: every network; second: `second_seed_fraction` of them")
    second_seed_fraction: float = param(0.2, ge=0.0, le=1.0)
    long_networks: int = param(200, ge=0, help="networks also trained at long_epochs")
    networks: int | None = param(None, ge=1, help="train only the first N of the seeded order (ci); None: all")
    order_seed: int = param(0, ge=0, help="seed of the order networks are trained in")
    part_size: int = param(10, ge=1, help="networks per exported Parquet part (commit them as they come)")
    # the shipped table (default: describe it; paper/ci: generate)
    generate: bool = param(False, help="True: generate the table here; False: load the shipped table")
    check_networks: int = param(3, ge=0, help="shipped-table rows retrained to show they match (default)")
    check_seed: int = param(0, ge=0, help="seed of the sample retrained")
    backend: str = param("inprocess", choices=BACKENDS)
    workers: int = param(1, ge=1, le=64)
    device: str = param("auto", choices=("auto", "cpu", "cuda"))

    def __post_init__(self):
        check_val_size(self.val_size, self.dataset)
        require(len(set(self.seeds)) == len(self.seeds) and 1 <= len(self.seeds) <= 2,
                f"seeds={list(self.seeds)} must be one or two distinct seeds")
        require(self.long_epochs >= self.epochs,
                f"long_epochs={self.long_epochs} must be >= epochs={self.epochs}")


# ---------------------------------------------------------------------------------------------- subspace
def make_space(p: Params) -> EraSpace:
    from resnas.runlog import log_event

    log_event("space", space="era", filters=list(p.filters), max_depth=p.max_depth)
    return EraSpace(filters_choices=tuple(p.filters), max_depth=p.max_depth, group_choices=tuple(p.groups),
                    name=SPACE_NAME)


def subspace_networks(space: EraSpace) -> list[EraConfig]:
    """The distinct networks of `space` (canonical forms), in a fixed order (sorted by their JSON)."""
    return sorted({cfg.canonical() for cfg in space.enumerate()}, key=EraConfig.to_json)


def describe_space(space: EraSpace) -> str:
    return (f"EraSpace(filters={list(space.filters_choices)}, depths: first 0..{space.max_depth}, others "
            f"1..{space.max_depth}, groups={list(space.group_choices)}, blocks basic/bottleneck, update 1/2)")


def thesis_low_lr_epochs(epochs: int) -> int:
    """The thesis's search schedule runs the last 3 of 20 epochs at lr/10: the same share of E, at least one
    epoch (E = 1: none)."""
    return 0 if epochs < 2 else max(1, round(3 * epochs / 20))


def data_spec(p: Params) -> DataSpec:
    return DataSpec(name=p.dataset, val_size=p.val_size, train_per_class=p.train_per_class,
                    val_per_class=p.val_per_class, seed=0)


TABLE_PRECISION = "fp32"


def recipe(p: Params, epochs: int):
    from resnas.train import TrainRecipe

    # The table is fp32 on every machine: its runs were made so, a bf16 retraining would not match them to the
    # stored digits, and a table must not depend on which CPU generates the next part. Pinned, not 'auto'.
    return TrainRecipe(epochs=epochs, batch_size=p.batch_size, lr=p.lr, schedule="era_search",
                       low_lr_epochs=thesis_low_lr_epochs(epochs),
                       augment="crop_flip" if p.dataset in AUGMENTED else "none",  # natural images only
                       precision=TABLE_PRECISION)


@dataclass(frozen=True)
class Run:
    """One training of the generation: a network, a seed, a budget (epochs)."""

    config: EraConfig
    seed: int
    budget: int


def _evenly(n: int, k: int) -> set[int]:
    """k positions of range(n), spread evenly (exactly min(k, n) of them)."""
    k = min(k, n)
    return {int(math.floor(i * n / k)) for i in range(k)} if k else set()


def plan(p: Params) -> list[list[Run]]:
    """The generation's work, one list of runs per network, networks in a seeded random order: the first
    seed at E for each; the second seed for an evenly spread `second_seed_fraction`; `long_epochs` for an
    evenly spread `long_networks` (both counted over the networks planned)."""
    nets = subspace_networks(make_space(p))
    order = np.random.default_rng(p.order_seed).permutation(len(nets))
    nets = [nets[i] for i in order][: p.networks or len(nets)]
    second = _evenly(len(nets), math.ceil(p.second_seed_fraction * len(nets))) if len(p.seeds) > 1 else set()
    long = _evenly(len(nets), p.long_networks) if p.long_epochs > p.epochs else set()
    out = []
    for i, cfg in enumerate(nets):
        runs = [Run(cfg, p.seeds[0], p.epochs)]
        if i in second:
            runs.append(Run(cfg, p.seeds[1], p.epochs))
        if i in long:
            runs.append(Run(cfg, p.seeds[0], p.long_epochs))
        out.append(runs)
    return out


# ---------------------------------------------------------------------------------------------- identity
def table_identity(p: Params) -> dict:
    """What makes two tables (or parts) comparable: data, recipes, subspace, seeds. Stored in every part and in
    the fingerprint; a part of another identity is refused, never mixed in."""
    from dataclasses import asdict

    space = make_space(p)
    return json.loads(json.dumps({
        "space": SPACE_NAME, "filters": list(space.filters_choices), "max_depth": space.max_depth,
        "groups": list(space.group_choices), "data": asdict(data_spec(p)),
        # identity(): an fp32 recipe hashes as before TrainRecipe had a precision, so committed parts still match
        "recipe": recipe(p, p.epochs).identity(), "long_epochs": p.long_epochs,
        "long_low_lr_epochs": thesis_low_lr_epochs(p.long_epochs), "seeds": list(p.seeds),
        "order_seed": p.order_seed}, sort_keys=True))


def config_columns(cfg: EraConfig) -> dict:
    c = cfg.canonical()
    return {"config": c.to_json(), "block": c.block, "d0": c.depths[0], "d1": c.depths[1], "d2": c.depths[2],
            "d3": c.depths[3], "filters": c.filters, "update": c.update, "group": c.group, "layers": c.layers}


def record_rows(cfg: EraConfig, budget: int, record) -> list[dict]:
    """The tidy rows of one archive record: one per validated epoch (a failed training: one row, NaN scores)."""
    base = {**config_columns(cfg), "seed": record.seed, "budget": budget, "params": record.params,
            "flops": record.flops, "wall_time": record.wall_time}
    if not record.ok or not record.history:
        nan = float("nan")
        return [{**base, "epoch": budget, "lr": nan, "train_loss": nan, "train_acc": nan, "val_loss": nan,
                 "val_acc": nan, "seconds": record.wall_time}]
    return [{**base, **{k: h[k] for k in ("epoch", "lr", "train_loss", "train_acc", "val_loss", "val_acc",
                                          "seconds")}} for h in record.history]


def tidy(rows: list[dict]) -> pd.DataFrame:
    """Rows as the table's frame: fixed columns and compact types, sorted by config, seed, budget, epoch."""
    df = pd.DataFrame(rows, columns=COLUMNS)
    ints = ["d0", "d1", "d2", "d3", "filters", "update", "group", "layers", "seed", "budget", "epoch"]
    df[ints] = df[ints].astype("int16")
    df[["params", "flops"]] = df[["params", "flops"]].astype("int64")
    floats = ["lr", "train_loss", "train_acc", "val_loss", "val_acc", "seconds", "wall_time"]
    df[floats] = df[floats].astype("float64")
    df["block"] = df["block"].astype("category")
    return df.sort_values(["config", "seed", "budget", "epoch"], ignore_index=True)


# ---------------------------------------------------------------------------------------------- parts
def _write_parquet(df: pd.DataFrame, path: Path, meta: dict) -> None:
    """Atomically (a temporary file renamed): a reader or a commit never sees half a part."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    table = pa.Table.from_pandas(df, preserve_index=False)
    table = table.replace_schema_metadata({**(table.schema.metadata or {}),
                                           b"resnas": json.dumps(meta, sort_keys=True).encode()})
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp{os.getpid()}")
    pq.write_table(table, tmp, compression="zstd")
    os.replace(tmp, path)


def parquet_meta(path: Path) -> dict:
    import pyarrow.parquet as pq

    meta = pq.read_schema(path).metadata or {}
    return json.loads(meta.get(b"resnas", b"{}"))


def part_paths(parts_dir: Path, name: str) -> list[Path]:
    return sorted(Path(parts_dir).glob(f"{name}-*.parquet"))


def table_cpus(parts_dir: Path, name: str, fingerprint: dict | None = None) -> list[str]:
    """The CPU kinds that trained table `name`, each once, sorted: from a merged table's fingerprint (its
    `environments`) when given, else from its parts' metadata. A table generated over several sessions may mix
    machines (the ERA table's parts 0-530 came from an AMD EPYC, the rest from an Intel Xeon), so its summed
    training time is not one machine's."""
    if fingerprint and fingerprint.get("environments"):
        envs = [json.loads(e) for e in fingerprint["environments"]]
    else:
        envs = [parquet_meta(path).get("environment", {}) for path in part_paths(parts_dir, name)]
    return sorted({e.get("cpu") or "unknown CPU" for e in envs})


def read_parts(parts_dir: Path, name: str, identity: dict | None = None) -> pd.DataFrame:
    """Every part of table `name` in `parts_dir` as one frame (empty when none). With `identity`, a part made
    for another table (other data, recipe or subspace) is an error naming the file."""
    frames = []
    for path in part_paths(parts_dir, name):
        meta = parquet_meta(path)
        if identity is not None and meta.get("identity") != identity:
            raise ValueError(f"{path} was generated for another table (identity {meta.get('identity')}); allowed: "
                             f"parts of {identity}: move it away or generate with its parameters")
        frames.append(pd.read_parquet(path))
    return tidy(pd.concat(frames).to_dict("records")) if frames else tidy([])


def done_runs(frame: pd.DataFrame) -> set[tuple[str, int, int]]:
    """(config JSON, seed, budget) of every run a frame holds."""
    return set(frame[["config", "seed", "budget"]].drop_duplicates().itertuples(index=False, name=None))


def _part_path(parts_dir: Path, name: str, start: int, end: int) -> Path:
    """`<name>-<start>-<end>.parquet` for networks [start, end) of the plan; a new name (suffix -r1, -r2 ...)
    rather than overwriting one made with another part_size, whose rows must stay."""
    path, k = parts_dir / f"{name}-{start:04d}-{end:04d}.parquet", 0
    while path.exists():
        k += 1
        path = parts_dir / f"{name}-{start:04d}-{end:04d}-r{k}.parquet"
    return path


def environment() -> dict:
    """The machine a table was generated on (its fingerprint; results compare only within one)."""
    import torch

    from resnas.evaluate import fingerprint

    cpu = platform.processor() or platform.machine()
    try:
        cpu = next(line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                   if line.startswith("model name"))
    except (OSError, StopIteration):
        pass
    fp = fingerprint("cpu", precision=TABLE_PRECISION)  # the table's precision, not this machine's default
    from resnas.threads import cpu_id

    return {"torch": torch.__version__, "cpu": cpu, "cpu_id": cpu_id(), "cpu_count": os.cpu_count(),
            "precision": fp["dtype"],
            "threads": fp["threads"], "python": platform.python_version(),
            "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")}


# ---------------------------------------------------------------------------------------------- generation
def generate(p: Params, archive_path: Path, parts_dir: Path, name: str = TABLE_NAME, backend: str = "inprocess",
             workers: int = 1, device: str = "cpu", log=print, command: str = "") -> pd.DataFrame:
    """Train every run of `plan(p)` through the archive at `archive_path` and export finished networks to
    Parquet parts `<parts_dir>/<name>-<start>-<end>.parquet`, one per `part_size` networks of the plan. Resumes: runs
    that parts already hold are not trained again (nor exported twice); runs the archive holds are served from
    it. Returns the frame of every part."""
    from resnas.evaluate import Archive, Evaluator, make_executor

    identity = table_identity(p)
    have = done_runs(read_parts(parts_dir, name, identity))
    archive = Archive(archive_path)
    executor = make_executor(backend, workers)
    evaluators = {}

    def evaluator(seed: int, budget: int):
        if (seed, budget) not in evaluators:
            evaluators[(seed, budget)] = Evaluator(archive, data_spec(p), recipe(p, budget), seed=seed,
                                                   backend=executor or "inprocess", device=device, progress=False)
        return evaluators[(seed, budget)]

    networks = plan(p)
    chunks = [networks[i:i + p.part_size] for i in range(0, len(networks), p.part_size)]
    start, trained = time.perf_counter(), 0
    try:
        for index, chunk in enumerate(chunks):
            runs = [r for net in chunk for r in net if (r.config.to_json(), r.seed, r.budget) not in have]
            if not runs:  # every run of these networks is in a part already (whatever part_size made it)
                continue
            path = _part_path(Path(parts_dir), name, index * p.part_size, index * p.part_size + len(chunk))
            rows = []
            for (seed, budget) in sorted({(r.seed, r.budget) for r in runs}):
                group = [r for r in runs if (r.seed, r.budget) == (seed, budget)]
                ev = evaluator(seed, budget)
                records = ev.map([(SPACE_NAME, r.config) for r in group], progress=False)
                trained += ev.trained
                ev.trained = 0
                for r, rec in zip(group, records):
                    rows.extend(record_rows(r.config, budget, rec))
            _write_parquet(tidy(rows), path, {"identity": identity, "environment": environment(),
                                              "command": command, "part": index})
            have |= {(r.config.to_json(), r.seed, r.budget) for r in runs}
            elapsed = time.perf_counter() - start
            log(f"part {index + 1}/{len(chunks)}: {path.name} ({len(runs)} runs); trained {trained} here in "
                f"{elapsed / 60:.1f} min ({trained / max(elapsed / 60, 1e-9):.2f} runs/min)")
    finally:
        for ev in evaluators.values():
            ev.archive = None  # the shared archive is closed once, below
        archive.close()
        if executor is not None:
            executor.shutdown(wait=True)
    return read_parts(parts_dir, name, identity)


def merge(p: Params, parts_dir: Path, out_dir: Path, name: str = TABLE_NAME, command: str = "") -> Path:
    """Join the parts into `<out_dir>/<name>.parquet` and write `<name>.json`, its fingerprint (identity,
    environment, counts, generation time, the command that regenerates it). Returns the Parquet path."""
    identity = table_identity(p)
    frame = read_parts(parts_dir, name, identity)
    if frame.empty:
        raise ValueError(f"no parts of {name!r} in {parts_dir}: run `python -m resnas.experiments.era_table generate`")
    metas = [parquet_meta(path) for path in part_paths(parts_dir, name)]
    final = frame[frame.epoch == frame.budget]
    fingerprint = {
        "name": name, "identity": identity, "space": describe_space(make_space(p)),
        "environment": metas[-1]["environment"], "environments": sorted({json.dumps(m["environment"] | {"date": ""},
                                                                                    sort_keys=True) for m in metas}),
        "networks": int(frame.config.nunique()), "subspace_networks": len(subspace_networks(make_space(p))),
        "runs": int(len(final)), "rows": int(len(frame)),
        "runs_per_seed_budget": {f"seed{s}_epochs{b}": int(n) for (s, b), n in
                                 final.groupby(["seed", "budget"]).size().items()},
        "generation_seconds": float(final.wall_time.sum()),
        "command": command or metas[-1].get("command", ""),
        "regenerate": "python -m resnas.experiments.era_table generate --profile default && "
                      "python -m resnas.experiments.era_table merge --profile default",
    }
    out_dir = Path(out_dir)
    _write_parquet(frame, out_dir / f"{name}.parquet", {"fingerprint": fingerprint})
    tmp = out_dir / f".{name}.json.tmp{os.getpid()}"
    tmp.write_text(json.dumps(fingerprint, indent=1, sort_keys=True) + "\n")
    os.replace(tmp, out_dir / f"{name}.json")
    return out_dir / f"{name}.parquet"


# ---------------------------------------------------------------------------------------------- describing
def final_rows(table: pd.DataFrame, budget: int | None = None) -> pd.DataFrame:
    """One row per (network, seed, budget) at the budget's last epoch; only `budget` when given."""
    rows = table[table.epoch == table.budget]
    return rows if budget is None else rows[rows.budget == budget]


def family(block: str, filters: int, group: int) -> str:
    """The convolution family: depthwise (one channel per group), plain (one group) or grouped."""
    kind = "depthwise" if group == 1 else "plain" if group >= filters else "grouped"
    return f"{block}/{kind}"


def with_family(df: pd.DataFrame) -> pd.DataFrame:
    return df.assign(family=[family(b, f, g) for b, f, g in zip(df.block, df.filters, df.group)])


def seed_noise(table: pd.DataFrame, budget: int) -> dict:
    """Over the networks trained with two seeds at `budget`: Spearman's rho between the seeds' final accuracies,
    the median and 90th percentile of |gap|, and the spread between networks (interquartile range of their mean
    accuracy), with the issue's two criteria (rho >= 0.8, IQR >= 3 x median gap)."""
    from scipy.stats import spearmanr

    wide = final_rows(table, budget).pivot_table(index="config", columns="seed", values="val_acc").dropna()
    if wide.shape[1] < 2 or len(wide) < 3:
        return {"networks": len(wide), "spearman": float("nan"), "median_gap": float("nan"),
                "p90_gap": float("nan"), "iqr": float("nan"), "signal": False}
    a, b = wide.iloc[:, 0].to_numpy(), wide.iloc[:, 1].to_numpy()
    gap = np.abs(a - b)
    mean = (a + b) / 2
    rho = float(spearmanr(a, b)[0])
    iqr = float(np.subtract(*np.percentile(mean, [75, 25])))
    return {"networks": len(wide), "spearman": rho, "median_gap": float(np.median(gap)),
            "p90_gap": float(np.percentile(gap, 90)), "iqr": iqr,
            "signal": bool(rho >= 0.8 and iqr >= 3 * np.median(gap))}


def families_table(table: pd.DataFrame, budget: int, seed: int) -> pd.DataFrame:
    """Accuracy and cost per family at `budget` (first seed): networks, accuracy quantiles, params, seconds."""
    rows = with_family(final_rows(table, budget))
    rows = rows[rows.seed == seed]
    return (rows.groupby("family").agg(networks=("config", "nunique"), acc_min=("val_acc", "min"),
                                       acc_median=("val_acc", "median"), acc_max=("val_acc", "max"),
                                       params_median=("params", "median"), seconds_median=("wall_time", "median"))
            .reset_index())


def check_sample(table: pd.DataFrame, budget: int, seed: int, n: int, sample_seed: int = 0) -> list[str]:
    """`n` networks to retrain (config JSON), drawn with `sample_seed` from the cheaper half (by stored training
    time) of those the table holds at (budget, seed): a check that costs seconds, not minutes."""
    rows = final_rows(table, budget)
    rows = rows[rows.seed == seed].sort_values(["wall_time", "config"])
    cheap = rows.config.iloc[: max(n, (len(rows) + 1) // 2)].tolist()
    rng = np.random.default_rng(sample_seed)
    return sorted(rng.choice(cheap, size=min(n, len(cheap)), replace=False).tolist())


def retrain(p: Params, configs: list[str], budget: int, seed: int, archive_path: Path, device: str = "cpu"
            ) -> pd.DataFrame:
    """Train `configs` again exactly as the table's runs (data, recipe, seed) through a fresh archive; returns
    config, epoch, val_acc, val_loss, seconds of every epoch."""
    from resnas.evaluate import Evaluator

    ev = Evaluator(archive_path, data_spec(p), recipe(p, budget), seed=seed, device=device, progress=False)
    try:
        records = ev.map([(SPACE_NAME, EraConfig.from_json(c)) for c in configs], progress=False)
    finally:
        ev.close()
    return pd.DataFrame([{"config": c, **{k: h[k] for k in ("epoch", "val_acc", "val_loss", "seconds")}}
                         for c, r in zip(configs, records) for h in r.history])


def part_machines(parts_dir: Path = PARTS, name: str = TABLE_NAME) -> pd.DataFrame:
    """Which machine trained each run: config, seed, budget, cpu_id (the part's `environment.cpu_id`; None for
    parts written before it was recorded). A retraining matches a stored run bit for bit only on the same CPU
    kind at the same thread count; on another, its kernels differ in the last bits and the run drifts like
    another seed would."""
    rows = []
    for path in part_paths(Path(parts_dir), name):
        cpu = parquet_meta(path).get("environment", {}).get("cpu_id")
        runs = pd.read_parquet(path, columns=["config", "seed", "budget"]).drop_duplicates()
        rows.append(runs.assign(cpu_id=cpu))
    return (pd.concat(rows, ignore_index=True) if rows
            else pd.DataFrame(columns=["config", "seed", "budget", "cpu_id"]))


def compare_retrained(table: pd.DataFrame, fresh: pd.DataFrame, budget: int, seed: int) -> pd.DataFrame:
    """Stored against retrained, per (network, epoch): accuracies and their absolute difference."""
    stored = table[(table.budget == budget) & (table.seed == seed)][["config", "epoch", "val_acc"]]
    both = stored.merge(fresh[["config", "epoch", "val_acc"]], on=["config", "epoch"], suffixes=("_table", "_now"))
    return both.assign(abs_diff=(both.val_acc_table - both.val_acc_now).abs())


# ---------------------------------------------------------------------------------------------- command line
def main(argv: list[str] | None = None) -> int:
    """`generate`: train the table's runs (resumable), exporting parts; `merge`: join the parts into the shipped
    table and its fingerprint."""
    from resnas.params import load_profile
    from resnas.report import REPOSITORY

    ap = argparse.ArgumentParser(prog="python -m resnas.experiments.era_table", description=main.__doc__)
    ap.add_argument("command", choices=("generate", "merge"))
    ap.add_argument("--profile", default="default", help="params/<profile>/era_table.yaml (default: the CPU table)")
    ap.add_argument("--workers", type=int, default=1, help="training processes (1: in this process)")
    ap.add_argument("--device", default="cpu", choices=("cpu", "cuda", "auto"))
    ap.add_argument("--store", default=None, help="archive folder (default: results/<profile>/store/era_table/)")
    ap.add_argument("--parts", default=str(PARTS), help=f"where parts go (default: {PARTS})")
    ap.add_argument("--out", default=str(TABLES), help=f"where merge writes the table (default: {TABLES})")
    args = ap.parse_args(argv)
    p = load_profile(Params, "era_table", args.profile, {}, root=REPOSITORY / "params")
    command = "python -m resnas.experiments.era_table " + " ".join(argv if argv is not None else sys.argv[1:])
    if args.command == "generate":
        store = Path(args.store or REPOSITORY / "results" / args.profile / "store" / "era_table")
        store.mkdir(parents=True, exist_ok=True)
        print(f"{describe_space(make_space(p))}: {len(plan(p))} networks, "
              f"{sum(len(n) for n in plan(p))} runs; archive {store / 'archive.sqlite'}, parts {args.parts}",
              flush=True)
        generate(p, store / "archive.sqlite", Path(args.parts), backend="process" if args.workers > 1 else
                 "inprocess", workers=args.workers, device=args.device, log=lambda s: print(s, flush=True),
                 command=command)
    else:
        print(merge(p, Path(args.parts), Path(args.out), command=command))
    return 0


if __name__ == "__main__":
    sys.exit(main())
