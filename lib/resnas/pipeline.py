"""Run notebooks through papermill on a profile: `python -m resnas.pipeline run --profile default`.

For each notebook: validate `params/<profile>/<notebook>.yaml` (plus any `--set key=value` overrides) against its
dataclass and check that every data set it names is available, so a bad file or an offline data set stops in a
second, before any training. Then, holding a lock per (profile, notebook), convert the jupytext source
`notebooks/<notebook>.py` to .ipynb and execute it with papermill (kernel python3, cwd = repository root) into a
fresh staging folder, executed notebook included. On success the staging folder is swapped in whole for
`results/<profile>/<folder>/`; on failure the published folder stays as it was and the staging folder is kept as
`results/<profile>/<folder>.failed/` (its executed notebook shows the traceback). Archives and search state live
in `results/<profile>/store/<folder>/`, which no run swaps or cleans, so a rerun resumes. `run` carries on past a
failed notebook, writes `results/<profile>/README.md` with the failure marked and each notebook's wall time (kept
in `results/<profile>/timings.json`), and exits 1.

`--jobs N` runs up to N notebooks at once, each in its own process with its share of the cores as torch threads
(a notebook starts once the notebooks it reads, `Experiment.needs`, have finished; the longest chain first).
Why: much of a notebook is single-threaded (kernel start, Python loops over small networks, tables, figures), so
on 2 cores two notebooks at one thread each finish sooner than one after the other at two threads
(pooling_trials + cross_topology on default: 101 s in turn, 67 s side by side). A notebook's numbers depend on
its thread count, not on what runs beside it, so a run with N jobs is repeatable; runs with other N can differ in
the last digits (other thread counts round differently). `make reproduce` uses 2 (the paper profile 1).
"""
from __future__ import annotations

import argparse
import contextlib
import dataclasses
import datetime as dt
import fcntl
import functools
import json
import os
import shutil
import socket
import sys
import tempfile
import time
from pathlib import Path

from resnas.claims import gather, machine_fingerprint
from resnas.experiments import EXPERIMENTS, get_experiment
from resnas.params import PROFILES, ParamError, load_profile
from resnas.report import PROFILE_NAME, _atomic_write, write_readme

ROOT = Path(__file__).resolve().parents[2]  # lib/resnas/pipeline.py -> repository root
PARAMS_ROOT = ROOT / "params"
NOTEBOOKS = ROOT / "notebooks"
RESULTS = ROOT / "results"  # results/<profile>/


class NotebookLocked(RuntimeError):
    """Another live run of the same notebook on the same profile holds its lock."""


class NotebookFailed(RuntimeError):
    """A notebook raised; its executed copy, traceback included, is in `failed_dir`."""

    def __init__(self, message: str, failed_dir: Path):
        super().__init__(message)
        self.failed_dir = failed_dir


# ---------------------------------------------------------------- profiles and parameters

def validate_profile(profile: str, params_root: str | os.PathLike = PARAMS_ROOT) -> str:
    """`profile` if it names a profile: ci, default, paper or a folder under `params_root`, in letters, digits,
    '_' and '-' only (so no profile can point outside `results/`); ParamError otherwise."""
    root = Path(params_root)
    known = set(PROFILES) | ({d.name for d in root.iterdir() if d.is_dir() and PROFILE_NAME.fullmatch(d.name)}
                             if root.is_dir() else set())
    if not PROFILE_NAME.fullmatch(profile) or profile not in known:
        raise ParamError(f"profile={profile!r} is not allowed; allowed: {', '.join(sorted(known))} "
                         f"(or another folder under {root}/ named with letters, digits, '_' and '-')")
    return profile


def profile_notebooks(profile: str, params_root: str | os.PathLike = PARAMS_ROOT) -> list[str]:
    """The notebooks `make reproduce PROFILE=profile` runs, in order: every one on ci, default and paper (a missing
    params file there is an error, which `check` reports); on another profile folder (a named larger budget for
    one study, e.g. `params/decide/genas.yaml`) only those with a params file in it."""
    if profile in PROFILES:
        return list(EXPERIMENTS)
    return [nb for nb in EXPERIMENTS if (Path(params_root) / profile / f"{nb}.yaml").is_file()]


def datasets_named(p) -> list[str]:
    """Every data set a params dataclass names: fields `dataset`, `datasets` and `*_dataset` (empty = default)."""
    names = []
    for f in dataclasses.fields(p):
        if f.name in ("dataset", "datasets") or f.name.endswith("_dataset"):
            value = getattr(p, f.name)
            names += [v for v in (value if isinstance(value, (tuple, list)) else (value,)) if v]
    return list(dict.fromkeys(names))


def check_notebook(notebook: str, profile: str, params_root: str | os.PathLike = PARAMS_ROOT,
                   overrides: dict | None = None, require_data: bool = True) -> str:
    """Validate one notebook's parameters and the availability of its data sets, training nothing; return the
    line that says what was checked. ParamError on the first fault; DataUnavailable for a missing data set when
    `require_data` (a run), else the line names it (`make check` of a profile whose data needs the network)."""
    from resnas.data import DataUnavailable, check_available
    from resnas.params import check_summary

    p = load_profile(get_experiment(notebook).params_class(), notebook, profile, overrides, root=params_root)
    datasets, missing = datasets_named(p), {}
    for name in datasets:
        try:
            check_available(name)
        except DataUnavailable as exc:
            if require_data:
                raise
            missing[name] = " ".join(str(exc).split())[:160]
    here = [d for d in datasets if d not in missing]
    line = f"{check_summary(p, label=notebook)}; data available: {', '.join(here) or 'none named'}"
    if missing:
        line += "; NOT on this machine (a run stops before training): " + "; ".join(
            f"{name} ({why})" for name, why in missing.items())
    return line


def check(profile: str, notebooks: list[str], params_root: str | os.PathLike = PARAMS_ROOT,
          overrides: dict | None = None, say=print, require_data: bool = True) -> None:
    """`check_notebook` for each notebook, printing one line each; stops at the first fault."""
    validate_profile(profile, params_root)
    for nb in notebooks:
        say(f"[{profile}] ok {check_notebook(nb, profile, params_root, overrides, require_data)}")


# ---------------------------------------------------------------- the lock

def _read_holder(path: Path) -> dict:
    try:
        return json.loads(path.read_text() or "{}")
    except (OSError, ValueError):
        return {}


def _describe(holder: dict) -> str:
    return (f"pid {holder.get('pid', '?')} on {holder.get('host', '?')} since {holder.get('started', '?')}"
            if holder else "a run that has not written its name yet")


@contextlib.contextmanager
def notebook_lock(results: Path, notebook: str, say=print):
    """Hold `results/.locks/<notebook>.lock` for the duration: two runs of one notebook on one profile never
    interleave their outputs. The file is created with O_EXCL and names its holder {pid, host, started}; the
    holder also keeps an flock on it, which the kernel drops when the process dies however it dies, so a lock
    left by a dead run (stale) is taken over, with a message, and a live holder is refused at once."""
    path = results / ".locks" / f"{notebook}.lock"
    path.parent.mkdir(parents=True, exist_ok=True)
    me = {"pid": os.getpid(), "host": socket.gethostname(), "started": dt.datetime.now().isoformat(timespec="seconds")}
    for _ in range(20):
        try:
            fd, created = os.open(path, os.O_CREAT | os.O_EXCL | os.O_RDWR, 0o644), True
        except FileExistsError:
            try:
                fd, created = os.open(path, os.O_RDWR), False
            except FileNotFoundError:  # released between the two opens: try again
                continue
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            raise NotebookLocked(f"{notebook} is already running on this profile: {_describe(_read_holder(path))} "
                                 f"holds {path}; wait for it to finish (or stop that process)") from None
        try:
            same = os.fstat(fd).st_ino == os.stat(path).st_ino
        except FileNotFoundError:
            same = False
        if not same:  # we locked a file its holder had just released and unlinked: start over
            os.close(fd)
            continue
        if not created:
            say(f"taking over the stale lock {path}: {_describe(_read_holder(path))} no longer runs")
        os.ftruncate(fd, 0)
        os.pwrite(fd, json.dumps(me).encode(), 0)
        break
    else:
        raise NotebookLocked(f"could not take {path}: it keeps changing hands")
    try:
        yield me
    finally:
        path.unlink(missing_ok=True)  # unlink before unlocking: a waiter then sees a new inode and starts over
        os.close(fd)


@contextlib.contextmanager
def _short_lock(path: Path):
    """A blocking flock for a read-modify-write of a small shared file (timings.json)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a") as f:
        fcntl.flock(f, fcntl.LOCK_EX)
        yield


# ---------------------------------------------------------------- timings

def load_timings(results: Path) -> dict[str, dict]:
    path = results / "timings.json"
    return json.loads(path.read_text()) if path.exists() else {}


def record_run(results: Path, notebook: str, entry: dict) -> None:
    """Set `notebook`'s row of `results/timings.json` (read-modify-write under a lock, written atomically), so a
    single `make <notebook>` updates its own row without losing another run's."""
    with _short_lock(results / ".locks" / "timings.lock"):
        runs = load_timings(results)
        runs[notebook] = entry
        _atomic_write(results / "timings.json", lambda p: p.write_text(json.dumps(runs, indent=1)))


# ---------------------------------------------------------------- staging and swap

def _leftovers(staging_root: Path, folder: str) -> list[Path]:
    if not staging_root.is_dir():
        return []
    return [p for p in staging_root.iterdir() if p.name.removesuffix(".old").rsplit("-", 1)[0] == folder]


def _recover(results: Path, folder: str) -> None:
    """Called under the notebook's lock, so no other run of it is alive: a swap killed between its two renames
    left the published folder as `.staging/<folder>-<pid>.old`; put it back. Then drop what dead runs left."""
    staging_root = results / ".staging"
    published = results / folder
    old = sorted((p for p in _leftovers(staging_root, folder) if p.name.endswith(".old")),
                 key=lambda p: p.stat().st_mtime)
    if not published.exists() and old:
        os.rename(old[-1], published)
    for p in _leftovers(staging_root, folder):
        shutil.rmtree(p, ignore_errors=True)


# What a published folder held before the store existed and must not be swapped away with it.
STORE_PATTERNS = ("*.sqlite", "*.sqlite-wal", "*.sqlite-shm", "moead_alpha*.json", "retrain")


def _migrate_to_store(published: Path, store: Path, say=print) -> None:
    """Move archives and search state out of a folder written before the store existed (results of an older
    checkout) into the store, so the swap that follows cannot delete hours of training."""
    if not published.is_dir():
        return
    for pattern in STORE_PATTERNS:
        for path in sorted(published.glob(pattern)):
            target = store / path.name
            if not target.exists():
                store.mkdir(parents=True, exist_ok=True)
                os.rename(path, target)
                say(f"moved {path} to the store: {target}")


def publish(staging: Path, published: Path) -> None:
    """Swap `staging` in for `published`: two renames on one file system (the old folder is moved aside, the new
    one moved in, the old one removed), so readers see the old run or the new one, never a mix."""
    trash = staging.with_name(staging.name + ".old")
    if published.exists():
        os.rename(published, trash)
    os.rename(staging, published)
    shutil.rmtree(trash, ignore_errors=True)


def keep_failed(staging: Path, failed: Path) -> None:
    """Keep a failed run's staging folder as `failed` (replacing an older one) for its traceback."""
    if failed.exists():
        shutil.rmtree(failed)
    os.rename(staging, failed)


def _error_line(exc: BaseException) -> str:
    ename = getattr(exc, "ename", None)  # papermill's PapermillExecutionError: the notebook's exception
    if ename:
        text = f"{ename}: {getattr(exc, 'evalue', '')}"
    else:
        text = f"{type(exc).__name__}: {exc}"
    return " ".join(text.split())[:300]


def _execute_papermill(source: Path, executed: Path, parameters: dict, log_output: bool) -> None:
    import jupytext
    import papermill

    # the kernel inherits this: its progress bars are text, which log_output shows (a widget would be lost)
    os.environ.setdefault("RESNAS_PROGRESS", "text")
    with tempfile.TemporaryDirectory() as tmp:
        nb = Path(tmp) / source.with_suffix(".ipynb").name
        jupytext.write(jupytext.read(source), nb)
        papermill.execute_notebook(str(nb), str(executed), kernel_name="python3", cwd=str(ROOT),
                                   parameters=parameters, log_output=log_output, progress_bar=False)


def run_notebook(notebook: str, profile: str, results: Path | None = None, log_output: bool = False,
                 params_root: str | os.PathLike = PARAMS_ROOT, overrides: dict | None = None,
                 notebooks_dir: Path = NOTEBOOKS, execute=None, say=print) -> Path:
    """Run one notebook into a fresh staging folder and publish it on success; return the executed notebook's
    published path. On failure raise NotebookFailed (published folder untouched, `<folder>.failed/` kept).
    `execute(source, executed, parameters, log_output)` runs the notebook (default: jupytext + papermill)."""
    execute = execute or _execute_papermill
    validate_profile(profile, params_root)
    exp = get_experiment(notebook)
    check_notebook(notebook, profile, params_root, overrides)  # fail fast, before the lock and any training
    results = Path(results or RESULTS / profile).resolve()
    published, failed = results / exp.folder, results / f"{exp.folder}.failed"
    with notebook_lock(results, notebook, say=say) as me:
        _recover(results, exp.folder)
        staging = results / ".staging" / f"{exp.folder}-{os.getpid()}"
        staging.mkdir(parents=True)
        store = results / "store" / exp.folder
        _migrate_to_store(published, store, say)
        parameters = {"profile": profile, "out_dir": str(staging), "store_dir": str(store),
                      "results_dir": str(results), "params_root": str(Path(params_root).resolve()),
                      "overrides": dict(overrides or {})}
        t0 = time.perf_counter()
        entry = {"folder": exp.folder, "started": me["started"], "overrides": dict(overrides or {})}
        try:
            execute(notebooks_dir / f"{notebook}.py", staging / f"{notebook}.ipynb", parameters, log_output)
        except BaseException as exc:  # a KeyboardInterrupt too: keep what the run wrote, record it, re-raise
            keep_failed(staging, failed)
            entry.update(status="failed" if isinstance(exc, Exception) else "interrupted",
                         seconds=round(time.perf_counter() - t0, 1), error=_error_line(exc),
                         failed_dir=failed.name, finished=dt.datetime.now().isoformat(timespec="seconds"))
            record_run(results, notebook, entry)
            if isinstance(exc, Exception):
                raise NotebookFailed(f"{notebook} failed ({entry['error']}); its executed notebook: "
                                     f"{failed / f'{notebook}.ipynb'}", failed) from exc
            raise
        entry.update(status="ok", seconds=round(time.perf_counter() - t0, 1),
                     finished=dt.datetime.now().isoformat(timespec="seconds"))
        # the machine the numbers were made on: `make compare` loosens its check where a fresh run's differs
        run_info = {**entry, "profile": profile, "params_root": parameters["params_root"], "host": me["host"],
                    "fingerprint": machine_fingerprint()}
        _atomic_write(staging / "pipeline.json", lambda p: p.write_text(json.dumps(run_info, indent=1)))
        publish(staging, published)
        shutil.rmtree(failed, ignore_errors=True)  # superseded: it would describe a run older than this one
        record_run(results, notebook, entry)
    return published / f"{notebook}.ipynb"


# ---------------------------------------------------------------- several notebooks at once

def next_notebook(pending: list[str], started: set[str], finished: set[str], seconds: dict[str, float]) -> str | None:
    """The pending notebook to start now: one whose `needs` among the notebooks of this run have all finished
    (a need that failed counts as finished: the notebook then reports what it lacks, as it would when run alone),
    the one with the longest chain of last run's times still ahead of it first (its own time plus its longest
    line of dependents: era_search, short itself, opens the longest chain), an unknown time first, ties in run
    order; None when none is ready."""
    asked = set(pending) | started | finished
    ready = [nb for nb in pending if all(n in finished or n not in asked for n in EXPERIMENTS[nb].needs)]
    if not ready:
        return None

    @functools.cache
    def chain(nb: str) -> float:
        after = [d for d in pending if nb in EXPERIMENTS[d].needs]
        return seconds.get(nb, float("inf")) + max(map(chain, after), default=0.0)

    return max(ready, key=lambda nb: (chain(nb), -pending.index(nb)))


def _run_in_child(notebook: str, profile: str, threads: int, params_root: str, overrides: dict) -> Path:
    """One notebook in a worker process of `run_notebooks`: its kernel (and the kernel's own workers) inherit the
    thread count, unless the user set OMP_NUM_THREADS."""
    os.environ.setdefault("OMP_NUM_THREADS", str(threads))
    os.environ.setdefault("MKL_NUM_THREADS", os.environ["OMP_NUM_THREADS"])
    return run_notebook(notebook, profile, params_root=params_root, overrides=overrides, say=lambda *a: None)


def run_notebooks(notebooks: list[str], profile: str, jobs: int = 1, params_root: str | os.PathLike = PARAMS_ROOT,
                  overrides: dict | None = None, say=print, pool=None, runner=_run_in_child) -> list[str]:
    """Run `notebooks` on `profile`, `jobs` at a time; return the ones that failed or were locked. One job runs
    them in order in this process and shows each kernel's output; several run each in a worker process (output
    in the executed notebooks) and say when each starts and ends. `pool` (an Executor, default spawned processes)
    and `runner` (its task, `runner(notebook, profile, threads, params_root, overrides)`) are for tests."""
    from resnas.threads import usable_cores, worker_threads

    if isinstance(jobs, bool) or not isinstance(jobs, int) or jobs < 1:
        raise ValueError(f"jobs={jobs!r} must be an integer >= 1")
    failures, results, t0 = [], RESULTS / profile, time.perf_counter()
    pending, running = list(notebooks), {}

    def report(nb, outcome):
        if isinstance(outcome, (NotebookFailed, NotebookLocked)):
            failures.append(nb)
            what = "NOT RUN" if isinstance(outcome, NotebookLocked) else "FAILED"
            print(f"[{profile}] {nb} {what}: {outcome}", file=sys.stderr, flush=True)
        else:
            say(f"[{profile}] {nb} done in {load_timings(results)[nb]['seconds']:.0f}s -> {outcome}")
        if jobs > 1:
            say(f"[{profile}] {len(notebooks) - len(pending) - len(running)} of {len(notebooks)} notebooks "
                f"finished, {time.perf_counter() - t0:.0f}s so far")

    if jobs == 1 or len(notebooks) == 1:
        for nb in notebooks:
            say(f"[{profile}] {nb} ...")
            try:
                outcome = run_notebook(nb, profile, log_output=True, params_root=params_root, overrides=overrides)
            except (NotebookFailed, NotebookLocked) as exc:
                outcome = exc
            report(nb, outcome)
        return failures

    import concurrent.futures as cf
    import multiprocessing as mp

    threads = worker_threads(jobs, usable_cores())  # an equal share of the cores, as for pool workers
    seconds = {nb: t.get("seconds", 0) for nb, t in load_timings(results).items()}
    started, finished = set(), set()
    say(f"[{profile}] {len(notebooks)} notebooks, {jobs} at a time, {threads} torch thread(s) each; each one's "
        f"output is in its executed notebook")
    with pool or cf.ProcessPoolExecutor(jobs, mp_context=mp.get_context("spawn")) as pool:
        while pending or running:
            while len(running) < jobs and (nb := next_notebook(pending, started, finished, seconds)):
                pending.remove(nb)
                started.add(nb)
                say(f"[{profile}] {nb} started")
                running[pool.submit(runner, nb, profile, threads, str(params_root), dict(overrides or {}))] = nb
            done, _ = cf.wait(running, return_when=cf.FIRST_COMPLETED)
            for fut in done:
                nb = running.pop(fut)
                started.discard(nb)
                finished.add(nb)
                try:
                    outcome = fut.result()
                except (NotebookFailed, NotebookLocked) as exc:
                    outcome = exc
                report(nb, outcome)
    return [nb for nb in notebooks if nb in failures]


def readme(profile: str, results: Path | None = None) -> Path:
    root = Path(results or RESULTS / profile)
    header = ("Written by `make reproduce PROFILE=%s`. Each section is one notebook; its folder holds the "
              "executed notebook, tidy tables, figures, `params.yaml` and `pipeline.json` (profile, overrides, "
              "wall time); archives and search state are in `store/`." % profile)
    gather(root)  # the claims ledger (CLAIMS.md, claims.csv), which the README opens with
    timings = load_timings(root)
    runs = {nb: timings[nb] for nb in EXPERIMENTS if nb in timings}  # in run order
    whole = root / "reproduce.json"
    return write_readme(root, [e.folder for e in EXPERIMENTS.values()], header, runs,
                        json.loads(whole.read_text()) if whole.exists() else None)


def clean(profile: str, params_root: str | os.PathLike = PARAMS_ROOT) -> Path:
    """Remove `results/<profile>/` (outputs, store and all); the profile name is validated first."""
    validate_profile(profile, params_root)
    target = RESULTS / profile
    shutil.rmtree(target, ignore_errors=True)
    return target


def main(argv=None) -> int:
    from resnas.data import DataUnavailable
    from resnas.params import parse_overrides

    ap = argparse.ArgumentParser(prog="python -m resnas.pipeline", description=__doc__.splitlines()[0])
    ap.add_argument("command", choices=["run", "check", "readme", "list", "clean"])
    ap.add_argument("--profile", default="default")
    ap.add_argument("--params-root", default=str(PARAMS_ROOT), help="folder of <profile>/<notebook>.yaml")
    ap.add_argument("--jobs", type=int, default=1, help="notebooks run at once by `run` (default 1; each gets its "
                    "share of the cores as torch threads)")
    ap.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                    help="override one parameter for this run (YAML value, validated like the file); repeatable")
    ap.add_argument("notebooks", nargs="*", help="notebook names (default: all, in order)")
    args = ap.parse_intermixed_args(argv)
    notebooks = args.notebooks or profile_notebooks(args.profile, args.params_root)
    try:
        if args.command == "list":
            print("\n".join(notebooks))
            return 0
        validate_profile(args.profile, args.params_root)
        if args.command == "clean":
            print(f"removed {clean(args.profile, args.params_root)}")
            return 0
        overrides = parse_overrides(args.overrides)
        for nb in notebooks:
            get_experiment(nb)  # an unknown name stops before anything else
        if args.command in ("run", "check"):
            # `check` validates parameters and says which data sets this machine lacks; `run` stops on them
            check(args.profile, notebooks, args.params_root, overrides, require_data=args.command == "run")
        failures = []
        if args.command == "run":
            t0 = time.perf_counter()
            failures = run_notebooks(notebooks, args.profile, args.jobs, args.params_root, overrides,
                                     say=lambda m: print(m, flush=True))
            if set(notebooks) == set(profile_notebooks(args.profile, args.params_root)):  # a whole run: say its time
                whole = {"notebooks": len(notebooks), "jobs": args.jobs, "seconds": round(time.perf_counter() - t0, 1),
                         "failed": failures, "finished": dt.datetime.now().isoformat(timespec="seconds")}
                _atomic_write(RESULTS / args.profile / "reproduce.json",
                              lambda p: p.write_text(json.dumps(whole, indent=1)))
        if args.command in ("run", "readme"):
            print(f"wrote {readme(args.profile)}")
        if failures:
            print(f"error: {len(failures)} of {len(notebooks)} notebooks failed or did not run: {', '.join(failures)} "
                  f"(see results/{args.profile}/README.md)", file=sys.stderr)
            return 1
    except (ParamError, ValueError, DataUnavailable, NotebookLocked) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
