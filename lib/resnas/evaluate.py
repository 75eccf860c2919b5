"""The evaluator: trains candidates through an archive, so nothing is ever trained twice.

`Evaluator.evaluate(space, config)` hashes (space, configuration, data set and split, training recipe, seed)
into a key. If the archive holds that key, the stored record comes back at once: that is how a killed run
resumes and how several searches in one study share work. Otherwise the candidate is trained and its record
is committed to the archive (SQLite, one transaction per record) before the next result is handed out.

Work runs through a `concurrent.futures.Executor`: in-process (`backend='inprocess'`), a local process pool
(`backend='process'`, `workers=N`; several workers may share one GPU), or any Executor you pass in (a cluster
backend plugs in here). The evaluator knows nothing about search.
"""
from __future__ import annotations

import functools
import hashlib
import json
import os
import platform
import sqlite3
import time
import uuid
from concurrent.futures import FIRST_COMPLETED, Executor, ProcessPoolExecutor, as_completed, wait
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path

import torch

from resnas import data as data_mod
from resnas.data import DataSpec
from resnas.spaces import get_space
from resnas.train import TrainRecipe, pick_device, train

KEY_VERSION = 1  # bump when a change to the engine makes old records incomparable
RUN_ID = uuid.uuid4().hex[:12]  # which process trained a record: shows resumption in tests and audits


@dataclass(frozen=True)
class Record:
    """One finished evaluation. Accuracies are fractions; `fitness` is the validation error in percent after
    the final epoch (the thesis's 100 - accuracy), +inf for a failed candidate so every strategy ranks it last."""

    key: str
    space: str
    config: str
    data: dict
    recipe: dict
    seed: int
    status: str
    reason: str
    final_val_acc: float
    best_val_acc: float
    best_epoch: int
    params: int
    flops: int
    wall_time: float
    device: str
    history: tuple
    fingerprint: dict
    created_at: float
    run_id: str
    cached: bool = field(default=False, compare=False)  # served from the archive rather than trained now

    @property
    def ok(self) -> bool:
        return self.status == "ok"

    @property
    def fitness(self) -> float:
        return 100.0 * (1.0 - self.final_val_acc) if self.ok else float("inf")

    def to_json(self) -> str:
        d = asdict(self)
        d.pop("cached")
        return json.dumps(d, sort_keys=True)

    @classmethod
    def from_json(cls, text: str, cached: bool = False) -> "Record":
        d = json.loads(text)
        d["history"] = tuple(d["history"])
        names = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in d.items() if k in names}, cached=cached)


def fingerprint(device: str = "auto") -> dict:
    """The environment a record was made in: results are comparable only within one fingerprint."""
    dev = pick_device(device)
    return {
        "torch": torch.__version__,
        "cuda": torch.version.cuda,
        "device": torch.cuda.get_device_name(dev) if dev.type == "cuda" else platform.processor() or "cpu",
        "dtype": "bf16-autocast" if dev.type == "cuda" else "fp32",
        "python": platform.python_version(),
        "threads": torch.get_num_threads(),
    }


def config_json(space: str, config) -> str:
    """Canonical JSON of a configuration: a config object (with to_json) or a JSON string."""
    if isinstance(config, str):
        return json.dumps(json.loads(config), sort_keys=True, separators=(",", ":"))
    if hasattr(config, "to_json"):
        return config_json(space, config.to_json())
    return config_json(space, get_space(space).to_json(config))


def evaluation_key(space: str, config, data: DataSpec, recipe: TrainRecipe, seed: int) -> str:
    payload = {"v": KEY_VERSION, "space": space, "config": json.loads(config_json(space, config)),
               "data": asdict(data), "recipe": asdict(recipe), "seed": seed}
    return hashlib.sha256(json.dumps(payload, sort_keys=True).encode()).hexdigest()[:24]


# ---------------------------------------------------------------------------------------------- archive
class Archive:
    """Evaluation records in one SQLite file. Each `put` is its own committed transaction (WAL journal), so a
    crash or kill loses at most the evaluation in flight and never leaves half a record."""

    def __init__(self, path: str | os.PathLike):
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._db = sqlite3.connect(self.path, timeout=60)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=FULL")
        self._db.execute("CREATE TABLE IF NOT EXISTS records (key TEXT PRIMARY KEY, space TEXT, "
                         "created_at REAL, record TEXT NOT NULL)")
        self._db.commit()

    def get(self, key: str) -> Record | None:
        row = self._db.execute("SELECT record FROM records WHERE key = ?", (key,)).fetchone()
        return Record.from_json(row[0], cached=True) if row else None

    def put(self, record: Record) -> None:
        with self._db:  # commits on success
            self._db.execute("INSERT OR REPLACE INTO records VALUES (?, ?, ?, ?)",
                             (record.key, record.space, record.created_at, record.to_json()))

    def __len__(self) -> int:
        return self._db.execute("SELECT COUNT(*) FROM records").fetchone()[0]

    def records(self) -> list[Record]:
        rows = self._db.execute("SELECT record FROM records ORDER BY created_at").fetchall()
        return [Record.from_json(r[0], cached=True) for r in rows]

    def to_frame(self):
        """A tidy table, one row per record (history left out; see `history_frame`)."""
        import pandas as pd

        rows = []
        for r in self.records():
            d = asdict(r)
            d.pop("history"), d.pop("fingerprint")
            d["fitness"] = r.fitness
            rows.append(d)
        return pd.DataFrame(rows)

    def close(self):
        self._db.close()


def memory_estimate(job: Job) -> int:
    """Bytes a job's training needs (resnas.train.estimate_memory), from its network built on the meta device."""
    from resnas.train import estimate_memory

    bundle = _bundle(job.data)
    space = get_space(job.space)
    with torch.device("meta"):
        model = space.build(space.from_json(job.config), bundle.input_shape[0], bundle.num_classes)
    return estimate_memory(model, bundle.input_shape, job.recipe.batch_size, amp=pick_device(job.device).type == "cuda")


def merge_archives(target, sources) -> int:
    """Copy into `target` every record of `sources` that it lacks (records are immutable and keyed by what was
    trained, so archives written on several machines merge without conflict). Returns how many were added."""
    dst = Archive(target)
    added = 0
    try:
        for path in sources:
            src = Archive(path)
            for record in src.records():
                if dst.get(record.key) is None:
                    dst.put(record)
                    added += 1
            src.close()
    finally:
        dst.close()
    return added


def archive_fidelity(path, space: str = "era") -> tuple[DataSpec, TrainRecipe, int]:
    """(DataSpec, TrainRecipe, seed) of the majority of an archive's successful records of `space`, so more
    networks can be trained exactly as its were (or at another budget, with `recipe.replace`)."""
    archive = Archive(path)
    records = [r for r in archive.records() if r.ok and r.space == space]
    archive.close()
    if not records:
        raise ValueError(f"archive {path} holds no successful {space!r} evaluation")
    counts: dict = {}
    for r in records:
        counts[r.recipe["epochs"]] = counts.get(r.recipe["epochs"], 0) + 1
    epochs = max(counts, key=counts.get)
    r = next(r for r in records if r.recipe["epochs"] == epochs)

    def tuples(d):
        return {k: tuple(v) if isinstance(v, list) else v for k, v in d.items()}

    return DataSpec(**tuples(r.data)), TrainRecipe(**tuples(r.recipe)), r.seed


def history_frame(records) -> "pd.DataFrame":
    """Learning curves of many records as one tidy table: key, epoch, lr, losses, accuracies, seconds."""
    import pandas as pd

    return pd.DataFrame([{"key": r.key, **h} for r in records for h in r.history])


# ---------------------------------------------------------------------------------------------- workers
@dataclass(frozen=True)
class Job:
    """Everything a worker needs to train one candidate; picklable, so it crosses process boundaries."""

    key: str
    space: str
    config: str
    data: DataSpec
    recipe: TrainRecipe
    seed: int
    device: str


@functools.lru_cache(maxsize=4)
def _bundle(spec: DataSpec):
    return data_mod.load(spec)


def run_job(job: Job) -> Record:
    """Build, train and describe one candidate. Pure function of the job (plus the hardware)."""
    bundle = _bundle(job.data)
    space = get_space(job.space)
    torch.manual_seed(job.seed)  # the same seed gives the same initial weights
    try:
        model = space.build(space.from_json(job.config), bundle.input_shape[0], bundle.num_classes)
        result = train(model, bundle, job.recipe, seed=job.seed, device=job.device)
    except Exception as exc:  # a candidate that cannot even be built is a failed candidate, not a crash
        from resnas.train import TrainResult

        result = TrainResult("failed", f"{type(exc).__name__}: {exc}"[:300])
    return Record(key=job.key, space=job.space, config=job.config, data=_plain(asdict(job.data)),
                  recipe=_plain(asdict(job.recipe)), seed=job.seed, status=result.status, reason=result.reason,
                  final_val_acc=result.final_val_acc, best_val_acc=result.best_val_acc,
                  best_epoch=result.best_epoch, params=result.params, flops=result.flops,
                  wall_time=result.wall_time, device=result.device, history=tuple(result.history),
                  fingerprint=fingerprint(job.device), created_at=time.time(), run_id=RUN_ID)


def _plain(d: dict) -> dict:
    """JSON-shaped (tuples as lists), so a record equals itself after a round trip through the archive."""
    return json.loads(json.dumps(d))


def _init_worker(threads: int):
    torch.set_num_threads(threads)


BACKENDS = ("inprocess", "process", "dask", "ray")


def make_executor(backend: str, workers: int = 1, address: str | None = None) -> Executor | None:
    """None means in-process: each job runs in this process, one after another. 'process': a local pool of
    `workers` processes. 'dask' / 'ray': a cluster at `address` (default: $RESNAS_CLUSTER, else a local
    cluster of `workers` processes); see resnas.cluster. An address is where work runs, not what is trained,
    so it is not a study parameter and not part of any archive key."""
    if backend == "inprocess":
        return None
    if backend == "process":
        import multiprocessing as mp

        threads = max(1, (os.cpu_count() or 1) // workers)
        # spawn, not fork: forking a process that already runs torch threads can deadlock.
        return ProcessPoolExecutor(workers, mp_context=mp.get_context("spawn"), initializer=_init_worker,
                                   initargs=(threads,))
    address = address or os.environ.get("RESNAS_CLUSTER") or None
    if backend == "dask":
        from resnas.cluster import dask_executor

        return dask_executor(address, workers=workers)
    if backend == "ray":
        from resnas.cluster import RayExecutor

        return RayExecutor(address, local_cpus=workers)
    raise ValueError(f"backend={backend!r} is unknown; allowed: {', '.join(map(repr, BACKENDS))}, or an Executor")


# ---------------------------------------------------------------------------------------------- evaluator
class Evaluator:
    """Evaluate candidates at one fidelity (data spec + recipe + seed) through an archive."""

    def __init__(self, archive: Archive | str | os.PathLike, data: DataSpec, recipe: TrainRecipe, seed: int = 0,
                 backend: str | Executor = "inprocess", workers: int = 1, device: str = "auto",
                 progress: bool = True, address: str | None = None, memory_budget: int | None = None):
        self.archive = archive if isinstance(archive, Archive) else Archive(archive)
        self.data, self.recipe, self.seed, self.device, self.progress = data, recipe, seed, device, progress
        self.executor = backend if isinstance(backend, Executor) else make_executor(backend, workers, address)
        # Packing several candidates on one GPU: candidates are admitted while the sum of their memory
        # estimates stays within the budget (default on CUDA: 90% of the memory free now; elsewhere none).
        self.memory_budget = memory_budget
        if memory_budget is None and self.executor is not None and pick_device(device).type == "cuda":
            self.memory_budget = int(0.9 * torch.cuda.mem_get_info()[0])
        self.retried_alone = 0  # candidates that ran out of memory beside others and were retried alone
        self.trained = 0  # evaluations this object actually ran
        self.served = 0  # evaluations answered from the archive

    def job(self, space: str, config) -> Job:
        cfg = config_json(space, config)
        key = evaluation_key(space, cfg, self.data, self.recipe, self.seed)
        return Job(key, space, cfg, self.data, self.recipe, self.seed, self.device)

    def evaluate(self, space: str, config) -> Record:
        return self.map([(space, config)], progress=False)[0]

    def __call__(self, space: str, config) -> Record:
        return self.evaluate(space, config)

    def map(self, items, progress: bool | None = None, desc: str = "evaluating") -> list[Record]:
        """Evaluate many (space, config) pairs; results in input order. Each finished record is committed to
        the archive as it arrives, so an interrupted call keeps everything that finished."""
        jobs = [self.job(s, c) for s, c in items]
        done: dict[str, Record] = {}
        todo: dict[str, Job] = {}
        for j in jobs:
            if j.key in done or j.key in todo:
                continue
            stored = self.archive.get(j.key)
            if stored is not None:
                done[j.key] = stored
                self.served += 1
            else:
                todo[j.key] = j
        show = self.progress if progress is None else progress
        bar = None
        if show and todo:
            from tqdm.auto import tqdm
            bar = tqdm(total=len(todo), desc=desc, unit="net")
        for key, rec in self._run(todo):
            self.archive.put(rec)  # committed before the next result is handed out
            self.trained += 1
            done[key] = rec
            if bar is not None:
                bar.update(1)
                bar.set_postfix(acc=f"{rec.final_val_acc:.3f}" if rec.ok else rec.status)
        if bar is not None:
            bar.close()
        return [done[j.key] for j in jobs]

    def _run(self, todo: dict[str, Job]):
        """Yield (key, record) as each job finishes."""
        if self.executor is None:
            for key, job in todo.items():
                yield key, run_job(job)
            return
        if self.memory_budget is None:
            futures = {self.executor.submit(run_job, job): key for key, job in todo.items()}
            for fut in as_completed(futures):
                yield futures[fut], fut.result()
            return
        yield from self._run_packed(todo)

    def _run_packed(self, todo: dict[str, Job]):
        """Admit jobs in order while their memory estimates fit the budget (a job larger than the budget runs
        when nothing else does). A job that runs out of memory beside others is retried alone, in this
        process, once everything else has finished; if it fails again, that record stands."""
        queue = [(key, job, memory_estimate(job)) for key, job in todo.items()]
        running: dict = {}  # future -> [key, job, bytes, shared the device with another job]
        used, alone = 0, []
        while queue or running:
            while queue and (not running or used + queue[0][2] <= self.memory_budget):
                key, job, need = queue.pop(0)
                for entry in running.values():
                    entry[3] = True
                running[self.executor.submit(run_job, job)] = [key, job, need, bool(running)]
                used += need
            finished, _ = wait(running, return_when=FIRST_COMPLETED)
            for fut in finished:
                key, job, need, shared = running.pop(fut)
                used -= need
                rec = fut.result()
                if rec.status == "failed" and "out of memory" in rec.reason and shared:
                    alone.append((key, job))
                else:
                    yield key, rec
        for key, job in alone:
            self.retried_alone += 1
            yield key, run_job(job)

    def close(self):
        if self.executor is not None:
            self.executor.shutdown(wait=True)
        self.archive.close()
