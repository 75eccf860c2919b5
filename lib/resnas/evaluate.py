"""The evaluator: trains candidates through an archive, so nothing is ever trained twice.

`Evaluator.evaluate(space, config)` hashes (space, configuration, data set and split, training recipe, seed)
into a key. If the archive holds that key, the stored record comes back at once: that is how a killed run
resumes and how several searches in one study share work. Otherwise the candidate is trained and its record
is committed to the archive (SQLite, one transaction per record) before the next result is handed out.

Records are insert-once: the first run to store a key wins and every later one reads its record back, so runs
sharing an archive agree. Only a candidate's own failures are cached (see `resnas.train.failure_kind`); any
other exception propagates and nothing is stored. A failed record made by an older engine (`ENGINE_VERSION`) is
retrained and replaced; a successful record is never replaced. A locked archive is retried with backoff; a
record that still cannot be written goes to `<archive>.pending.jsonl`, which the next `Archive` opening imports.

Work runs through a `concurrent.futures.Executor`: in-process (`backend='inprocess'`), a local process pool
(`backend='process'`, `workers=N`; several workers may share one GPU), or any Executor you pass in (a cluster
backend plugs in here). The evaluator knows nothing about search.
"""
from __future__ import annotations

import functools
import gc
import hashlib
import json
import os
import platform
import re
import secrets
import select
import sqlite3
import threading
import time
import uuid
import warnings
from concurrent.futures import FIRST_COMPLETED, Executor, ProcessPoolExecutor, wait
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path

import torch

from resnas import __version__
from resnas import data as data_mod
from resnas.data import DataSpec
from resnas.runlog import log_event
from resnas.spaces import get_space
from resnas.train import (TrainRecipe, TrainResult, failure_kind, is_out_of_memory, pick_device,
                          resolve_precision, train)

KEY_VERSION = 1  # bump when a change to the engine makes old records incomparable (a new key: nothing is served)
# Bump when training or what counts as a candidate's own failure changes in a way that may turn an old failure
# into a success: failed records of an older engine are then retrained and replaced (successes never are).
# 2: only candidate failures are cached (before, any exception, a code bug included, became a failed record).
ENGINE_VERSION = 2
CODE_VERSION = f"{__version__}+engine{ENGINE_VERSION}"  # stored in every record
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
    code_version: str = ""  # "<resnas version>+engine<ENGINE_VERSION>"; "" in records made before it existed
    cached: bool = field(default=False, compare=False)  # served from the archive rather than trained now

    @property
    def ok(self) -> bool:
        return self.status == "ok"

    @property
    def fitness(self) -> float:
        return 100.0 * (1.0 - self.final_val_acc) if self.ok else float("inf")

    @property
    def precision(self) -> str:
        """What the training ran in, 'fp32' or 'bf16': the recipe says it; a record made before recipes had a
        precision says it through its fingerprint (bf16 autocast on CUDA then, fp32 on a CPU)."""
        p = self.recipe.get("precision")
        if p in ("fp32", "bf16"):
            return p
        return "bf16" if (self.fingerprint or {}).get("dtype") == "bf16-autocast" else "fp32"

    @property
    def engine(self) -> int:
        """ENGINE_VERSION of the code that made this record (0 when older than the field)."""
        return engine_of(self.code_version)

    @property
    def stale(self) -> bool:
        """A failure recorded by an older engine: retrain it rather than serve it."""
        return not self.ok and self.engine < ENGINE_VERSION

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


def engine_of(code_version: str) -> int:
    """The engine number in a `code_version` string ("0.1.0+engine2" -> 2); 0 when it has none."""
    m = re.search(r"\+engine(\d+)$", code_version or "")
    return int(m.group(1)) if m else 0


def supersedes(new: Record, old: Record) -> bool:
    """May `new` replace `old` (same key) in an archive? Only when `old` failed under an older engine: a
    success is immutable, and a failure of the same or a newer engine stands."""
    return not old.ok and old.engine < new.engine


def fingerprint(device: str = "auto", precision: str = "auto") -> dict:
    """The environment a record was made in: results are comparable only within one fingerprint. `dtype` is
    the precision as it resolves on `device` of this machine ('bf16-autocast' or 'fp32'); a record passes the
    precision it actually trained in."""
    dev = pick_device(device)
    return {
        "torch": torch.__version__,
        "cuda": torch.version.cuda,
        "device": torch.cuda.get_device_name(dev) if dev.type == "cuda" else platform.processor() or "cpu",
        "dtype": "bf16-autocast" if resolve_precision(precision, dev) == "bf16" else "fp32",
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


def evaluation_key(space: str, config, data: DataSpec, recipe: TrainRecipe, seed: int, device: str = "auto") -> str:
    """The archive key of one evaluation. The recipe enters with its precision resolved on `device` of this machine
    (an 'auto' recipe trains bf16 on a machine with bf16 hardware and fp32 elsewhere: two different results), and
    an fp32 precision is left out (`TrainRecipe.identity`), so every fp32 record made before the field existed is
    still found; a bf16 training never takes an fp32 record's key."""
    payload = {"v": KEY_VERSION, "space": space, "config": json.loads(config_json(space, config)),
               "data": asdict(data), "recipe": recipe.resolved(device).identity(), "seed": seed}
    return hashlib.sha256(json.dumps(payload, sort_keys=True).encode()).hexdigest()[:24]


# ---------------------------------------------------------------------------------------------- archive
class ArchiveError(sqlite3.DatabaseError):
    """An archive file SQLite cannot use (not a database, malformed, unreadable); the message names the file."""


class ArchiveLockedWarning(UserWarning):
    """Another connection holds the archive's write lock; the write is being retried."""


def _locked(exc: sqlite3.OperationalError) -> bool:
    text = str(exc).lower()
    return "locked" in text or "busy" in text


try:
    import fcntl

    def _flock(fd: int) -> None:
        fcntl.flock(fd, fcntl.LOCK_EX)
except ImportError:  # no advisory locks (Windows): one writer per pending file is then the user's concern
    def _flock(fd: int) -> None:
        pass


class Archive:
    """Evaluation records in one SQLite file (WAL journal). Each `put` is its own committed transaction, so a
    crash or kill loses at most the evaluation in flight and never leaves half a record.

    Records are insert-once: `put` keeps the record already stored under a key (first writer wins) and returns
    what the archive holds, except that a failure of an older engine is replaced (`supersedes`).

    A locked archive (another process writing, or holding a lock) is retried with exponential backoff for up
    to `lock_timeout` seconds, with one warning. A finished training is never dropped: if the lock outlasts
    that, the record is appended to `<archive>.pending.jsonl` (and served by this object), and the next opening
    of the archive imports it. A file that is not a usable SQLite database raises `ArchiveError` naming it."""

    def __init__(self, path: str | os.PathLike, lock_timeout: float = 600.0):
        self.path = Path(path)
        self.pending_path = self.path.with_name(self.path.name + ".pending.jsonl")
        self.lock_timeout = float(lock_timeout)
        self._unwritten: dict[str, Record] = {}  # records that went to the pending file instead
        self._warned = False
        self.path.parent.mkdir(parents=True, exist_ok=True)
        # autocommit mode: transactions are opened explicitly (BEGIN IMMEDIATE takes the write lock up front).
        # SQLite's own busy wait covers short locks (half a second, silently); `_retry` the long ones.
        try:
            self._db = sqlite3.connect(self.path, timeout=min(0.5, self.lock_timeout), isolation_level=None)
        except sqlite3.Error as exc:  # a folder, no permission ...
            raise ArchiveError(f"archive {self.path} cannot be opened: {exc}") from exc
        try:
            self._retry(self._create, self.lock_timeout)
            self.import_pending()
        except BaseException:
            self._db.close()
            raise

    def _create(self):
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=FULL")
        self._db.execute("CREATE TABLE IF NOT EXISTS records (key TEXT PRIMARY KEY, space TEXT, "
                         "created_at REAL, record TEXT NOT NULL)")

    def _retry(self, fn, timeout: float):
        """fn() until it gets past a lock: backoff from 50 ms doubling to 2 s, for up to `timeout` seconds;
        then sqlite3.OperationalError. Any other database error becomes an ArchiveError naming the file."""
        start, delay = time.monotonic(), 0.05
        while True:
            try:
                return fn()
            except sqlite3.OperationalError as exc:
                if not _locked(exc):
                    raise ArchiveError(f"archive {self.path}: {exc}") from exc
                waited = time.monotonic() - start
                if waited >= timeout:
                    raise
                if not self._warned:
                    self._warned = True
                    warnings.warn(f"archive {self.path} is locked by another connection; retrying for up to "
                                  f"{timeout:.0f} s", ArchiveLockedWarning, stacklevel=3)
                time.sleep(min(delay, timeout - waited))
                delay = min(2 * delay, 2.0)
            except sqlite3.DatabaseError as exc:
                raise ArchiveError(f"archive {self.path} is not a usable SQLite database ({exc}); move it "
                                   "aside to start a new archive, or restore it from a copy") from exc

    def _query(self, sql: str, args=()) -> list:
        return self._retry(lambda: self._db.execute(sql, args).fetchall(), self.lock_timeout)

    def get(self, key: str) -> Record | None:
        rows = self._query("SELECT record FROM records WHERE key = ?", (key,))
        if rows:
            return Record.from_json(rows[0][0], cached=True)
        return self._unwritten.get(key)

    def put(self, record: Record) -> Record:
        """Store `record` unless the key is taken, and return the record the archive now holds for the key:
        `record` itself, or (marked cached) the one another run stored first."""
        try:
            return self._retry(lambda: self._store([record])[0], self.lock_timeout)
        except sqlite3.OperationalError as exc:
            self._append_pending(record)
            self._unwritten[record.key] = record
            warnings.warn(f"archive {self.path} stayed locked for {self.lock_timeout:.0f} s ({exc}); record "
                          f"{record.key} written to {self.pending_path}, imported when the archive is next opened",
                          ArchiveLockedWarning, stacklevel=2)
            return record

    def _store(self, records: list[Record]) -> list[Record]:
        """Insert-once in one transaction; what the archive holds for each record's key afterwards."""
        db, out = self._db, []
        db.execute("BEGIN IMMEDIATE")
        try:
            for rec in records:
                row = (rec.key, rec.space, rec.created_at, rec.to_json())
                if db.execute("INSERT INTO records VALUES (?, ?, ?, ?) ON CONFLICT(key) DO NOTHING", row).rowcount:
                    out.append(rec)
                    continue
                old = Record.from_json(db.execute("SELECT record FROM records WHERE key = ?",
                                                  (rec.key,)).fetchone()[0], cached=True)
                if supersedes(rec, old):
                    db.execute("UPDATE records SET space = ?, created_at = ?, record = ? WHERE key = ?",
                               row[1:] + row[:1])
                    out.append(rec)
                else:
                    out.append(old)
            db.execute("COMMIT")
        except BaseException:
            if db.in_transaction:
                db.execute("ROLLBACK")
            raise
        return out

    def _append_pending(self, record: Record) -> None:
        """One line per record, appended under an advisory lock and synced; a file the importer has just
        emptied and removed is reopened rather than written into."""
        line = (record.to_json() + "\n").encode()
        while True:
            fd = os.open(self.pending_path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
            try:
                _flock(fd)
                if os.fstat(fd).st_nlink == 0:  # removed by an importer while we waited for the lock
                    continue
                os.write(fd, line)
                os.fsync(fd)
                return
            finally:
                os.close(fd)

    def import_pending(self, timeout: float = 5.0) -> int:
        """Move the records of `<archive>.pending.jsonl` into the archive (insert-once, so importing twice
        is harmless) and remove the file. Left in place while the archive stays locked. Returns how many
        records the file held."""
        try:
            fd = os.open(self.pending_path, os.O_RDWR)
        except FileNotFoundError:
            return 0
        try:
            _flock(fd)
            if os.fstat(fd).st_nlink == 0:
                return 0
            with os.fdopen(os.dup(fd), "rb") as f:
                lines = f.read().decode().splitlines()
            records = []
            for n, text in enumerate(lines, 1):
                try:
                    records.append(Record.from_json(text))
                except (ValueError, TypeError, KeyError):  # a torn line from a crash mid-write: nothing to save
                    warnings.warn(f"{self.pending_path}:{n}: unreadable record skipped")
            try:
                self._retry(lambda: self._store(records), min(timeout, self.lock_timeout))
            except sqlite3.OperationalError:
                warnings.warn(f"archive {self.path} is locked: {len(records)} pending record(s) stay in "
                              f"{self.pending_path} for the next opening", ArchiveLockedWarning)
                return 0
            os.unlink(self.pending_path)
            return len(records)
        finally:
            os.close(fd)

    def __len__(self) -> int:
        return self._query("SELECT COUNT(*) FROM records")[0][0] + len(self._only_pending())

    def records(self) -> list[Record]:
        rows = self._query("SELECT record FROM records ORDER BY created_at")
        return [Record.from_json(r[0], cached=True) for r in rows] + self._only_pending()

    def _only_pending(self) -> list[Record]:
        """Records this object could only write to the pending file and the database does not hold yet."""
        return [r for k, r in self._unwritten.items()
                if not self._query("SELECT 1 FROM records WHERE key = ?", (k,))]

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
    return estimate_memory(model, bundle.input_shape, job.recipe.batch_size,
                           amp=resolve_precision(job.recipe.precision, job.device) == "bf16")


def merge_archives(target, sources) -> int:
    """Copy into `target` every record of `sources` that it lacks (records are insert-once and keyed by what was
    trained, so archives written on several machines merge without conflict; a failure of an older engine gives
    way to a newer record). Returns how many were added."""
    dst = Archive(target)
    added = 0
    try:
        for path in sources:
            src = Archive(path)
            for record in src.records():
                if dst.put(record) is record:  # new here (or replacing an older engine's failure)
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

    return DataSpec(**tuples(r.data)), TrainRecipe(**{**tuples(r.recipe), "precision": r.precision}), r.seed


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
    """Build, train and describe one candidate. Pure function of the job (plus the hardware). A candidate's own
    failure comes back as a failed record; any other exception (a bug, a broken device) is raised, never
    turned into a record (`resnas.train.failure_kind`)."""
    bundle = _bundle(job.data)
    space = get_space(job.space)
    log_event("job", space=job.space, key=job.key)
    torch.manual_seed(job.seed)  # the same seed gives the same initial weights
    try:
        model = space.build(space.from_json(job.config), bundle.input_shape[0], bundle.num_classes)
    except Exception as exc:
        kind = failure_kind(exc, "build")
        if kind == "error":
            raise
        what = "out of memory" if kind == "out_of_memory" else "configuration not allowed by the space"
        result = TrainResult("failed", f"{what}: {type(exc).__name__}: {exc}"[:300])
    else:
        result = train(model, bundle, job.recipe, seed=job.seed, device=job.device)
    return Record(key=job.key, space=job.space, config=job.config, data=_plain(asdict(job.data)),
                  recipe=_plain(asdict(job.recipe)), seed=job.seed, status=result.status, reason=result.reason,
                  final_val_acc=result.final_val_acc, best_val_acc=result.best_val_acc,
                  best_epoch=result.best_epoch, params=result.params, flops=result.flops,
                  wall_time=result.wall_time, device=result.device, history=tuple(result.history),
                  fingerprint=fingerprint(job.device, result.precision), created_at=time.time(), run_id=RUN_ID,
                  code_version=CODE_VERSION)


def _free_memory() -> None:
    """Drop what earlier trainings in this process left on the device before a candidate is retried alone."""
    from resnas.train import _DeviceData

    _DeviceData._cache.clear()
    gc.collect()
    if torch.cuda.is_available():
        torch.cuda.empty_cache()


def _plain(d: dict) -> dict:
    """JSON-shaped (tuples as lists), so a record equals itself after a round trip through the archive."""
    return json.loads(json.dumps(d))


# What a pool's forkserver imports once, so that each worker it forks starts with them loaded.
WORKER_PRELOAD = ("torch", "torchvision", "resnas.evaluate", "resnas.data")


def worker_context():
    """The multiprocessing context of every local pool: forkserver where the platform has it, else spawn.

    Never plain fork: forking a process that already runs torch threads (or has touched CUDA) can deadlock.
    spawn is safe but starts each worker from nothing: importing torch and torchvision cost ~5 CPU-s a worker
    here, and a notebook that makes three pools of 4 (fidelity_correlation) spent most of its smoke run on it.
    A forkserver is a fresh process that imports WORKER_PRELOAD once, touches neither CUDA nor OpenMP threads,
    and forks each worker from that state: safe for the same reason spawn is, and a worker starts in
    milliseconds. One forkserver serves every pool of this process. Its environment is the one this process had
    when it started, so `_init_worker` hands each worker this process's environment as of the pool's creation,
    as spawn would."""
    import multiprocessing as mp

    if "forkserver" not in mp.get_all_start_methods():  # Windows
        return mp.get_context("spawn")
    ctx = mp.get_context("forkserver")
    ctx.set_forkserver_preload(list(WORKER_PRELOAD))  # no effect once this process's server runs; harmless
    return ctx


def _init_worker(threads: int, environ: dict[str, str] | None = None, driver: int | None = None):
    import signal

    if environ is not None:  # the driver's environment now (data cache, run log, FakeData), not the forkserver's
        os.environ.clear()
        os.environ.update(environ)
    # Ctrl-C (or a Jupyter kernel's interrupt/shutdown, sent to the whole process group) is the driver's to
    # handle: it cancels the pool. A worker that also took it would die mid-training with a traceback.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    torch.set_num_threads(threads)
    _exit_with_driver(os.getppid() if driver is None else driver)


def _exit_with_driver(driver: int, every: float = 1.0) -> threading.Thread:
    """A pool worker outlives a driver killed with SIGKILL or SIGTERM (seen here: a killed table generation
    left its two workers training for half an hour beside its restart). A daemon thread notices the driver is
    gone and ends the worker; its unfinished training was the driver's to commit anyway, so nothing finished is
    lost. The driver is not always the worker's parent: a forkserver's workers are its children, and it stays
    up while they do, so the thread watches the driver itself: through a pidfd where Linux has them (readable
    once the driver has exited, reaped or not, and immune to pid reuse), else by polling."""
    pidfd = None
    if hasattr(os, "pidfd_open"):
        try:
            pidfd = os.pidfd_open(driver)
        except ProcessLookupError:
            os._exit(1)
        except OSError:  # a kernel without pidfds
            pidfd = None

    def driver_alive() -> bool:
        if os.getppid() == driver:  # spawn: the driver is the parent, and re-parenting says it has gone
            return True
        try:
            os.kill(driver, 0)  # POSIX only; on Windows there is no forkserver, so the branch above answers
        except ProcessLookupError:
            return False
        return True

    def watch():
        if pidfd is not None:
            select.select([pidfd], [], [])
        else:
            while driver_alive():
                time.sleep(every)
        os._exit(1)

    thread = threading.Thread(target=watch, name="exit-with-driver", daemon=True)
    thread.start()
    return thread


BACKENDS = ("inprocess", "process", "dask", "ray")


def make_executor(backend: str, workers: int = 1, address: str | None = None) -> Executor | None:
    """None means in-process: each job runs in this process, one after another. 'process': a local pool of
    `workers` processes. 'dask' / 'ray': a cluster at `address` (default: $RESNAS_CLUSTER, else a local
    cluster of `workers` processes); see resnas.cluster. An address is where work runs, not what is trained,
    so it is not a study parameter and not part of any archive key."""
    if backend == "inprocess":
        return None
    if backend == "process":
        from resnas.threads import usable_cores, worker_threads

        threads = worker_threads(workers, usable_cores())
        return ProcessPoolExecutor(workers, mp_context=worker_context(), initializer=_init_worker,
                                   initargs=(threads, dict(os.environ), os.getpid()))
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
        log_event("evaluator", backend=backend if isinstance(backend, str) else type(backend).__name__,
                  workers=workers, device=pick_device(device).type)
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
        # Resolved here, once: the worker (another process, or a cluster's machine) trains what the key says.
        recipe = self.recipe.resolved(self.device)
        key = evaluation_key(space, cfg, self.data, recipe, self.seed)
        return Job(key, space, cfg, self.data, recipe, self.seed, self.device)

    def evaluate(self, space: str, config) -> Record:
        return self.map([(space, config)], progress=False)[0]

    def __call__(self, space: str, config) -> Record:
        return self.evaluate(space, config)

    def map(self, items, progress: bool | None = None, desc: str = "evaluating") -> list[Record]:
        """Evaluate many (space, config) pairs; results in input order. Each finished record is committed to
        the archive as it arrives, so an interrupted call keeps everything that finished. When another run
        stored a key first, its record is the one returned (records are insert-once). An exception that is
        not the candidate's own failure propagates once the jobs already running have finished and been
        stored; jobs not yet started are dropped."""
        jobs = [self.job(s, c) for s, c in items]
        done: dict[str, Record] = {}
        todo: dict[str, Job] = {}
        for j in jobs:
            if j.key in done or j.key in todo:
                continue
            stored = self.archive.get(j.key)
            if stored is not None and not stored.stale:
                done[j.key] = stored
                self.served += 1
            else:  # new, or a failure of an older engine: train it (again)
                todo[j.key] = j
        show = self.progress if progress is None else progress
        bar = None
        if show and todo:
            from resnas.progress import tqdm
            bar = tqdm(total=len(todo), desc=desc, unit="net")
        try:
            for key, rec in self._run(todo):
                done[key] = self.archive.put(rec)  # committed before the next result is handed out
                self.trained += 1
                if bar is not None:
                    bar.update(1)
                    bar.set_postfix(acc=f"{rec.final_val_acc:.3f}" if rec.ok else rec.status)
        finally:
            if bar is not None:
                bar.close()
        return [done[j.key] for j in jobs]

    def _run(self, todo: dict[str, Job]):
        """Yield (key, record) as each job finishes."""
        if self.executor is None:
            for key, job in todo.items():
                rec = run_job(job)
                if rec.status == "failed" and is_out_of_memory(rec.reason):
                    # this process may still hold memory of earlier trainings: free it and try once more,
                    # so that the failure recorded is the candidate's own
                    _free_memory()
                    self.retried_alone += 1
                    rec = run_job(job)
                yield key, rec
            return
        yield from self._run_pool(todo)

    def _run_pool(self, todo: dict[str, Job]):
        """Run the jobs on the executor. With a memory budget, admit jobs in order while their memory estimates
        fit it (a job larger than the budget runs when nothing else does); without one, submit them all. A job
        that runs out of memory beside others is retried alone, in this process, once everything else has
        finished; if it fails again, that record stands. A job that raises stops further submissions (those
        not started are cancelled); the running ones finish and are yielded, then the exception is raised."""
        budget = float("inf") if self.memory_budget is None else self.memory_budget
        queue = [(key, job, 0 if self.memory_budget is None else memory_estimate(job)) for key, job in todo.items()]
        running: dict = {}  # future -> [key, job, bytes, shared the device with another job]
        used, alone, error = 0, [], None
        while running or (queue and error is None):
            while error is None and queue and (not running or used + queue[0][2] <= budget):
                key, job, need = queue.pop(0)
                for entry in running.values():
                    entry[3] = True
                running[self.executor.submit(run_job, job)] = [key, job, need, bool(running)]
                used += need
            finished, _ = wait(running, return_when=FIRST_COMPLETED)
            for fut in finished:
                key, job, need, shared = running.pop(fut)
                used -= need
                if fut.cancelled():
                    continue
                exc = fut.exception()
                if exc is not None:  # not the candidate's failure (run_job records those): never cached
                    if error is None:
                        error = exc
                        for other in running:
                            other.cancel()
                    continue
                rec = fut.result()
                if rec.status == "failed" and is_out_of_memory(rec.reason) and shared:
                    alone.append((key, job))
                else:
                    yield key, rec
        if error is not None:
            raise error
        for key, job in alone:
            self.retried_alone += 1
            yield key, run_job(job)

    def close(self):
        if self.executor is not None:
            self.executor.shutdown(wait=True)
        self.archive.close()
