"""Course labs (notebooks/labs/): swapping in the teacher's solutions, self-check errors, the student handout,
running every lab, and the JupyterLab setting that opens jupytext sources as notebooks.

A lab is a jupytext py:percent source `notebooks/labs/NN_topic.py` whose parameters cell holds `solved = False`.
Each exercise cell defines the student's function (a TODO that raises NotImplementedError) and then calls
`solution(lab, fn, solved)`, which, when `solved`, returns the function of the same name from
`notebooks/labs/solutions/NN_topic.py` (or from `$RESNAS_LAB_SOLUTIONS/NN_topic.py`). The self-checks live in
`resnas.labs.<topic>` and raise `WrongAnswer`: what is wrong and a hint, never the answer.

`python -m resnas.labs run [--out results/labs]` executes every lab solved (papermill); `python -m resnas.labs
handout DEST` writes the student folder (no solutions/, `solved = False`); `python -m resnas.labs settings`
installs the JupyterLab default-viewer override into the running environment.
"""
from __future__ import annotations

import functools
import importlib.util
import json
import os
import re
import shutil
import sys
import tempfile
import time
from pathlib import Path

REPOSITORY = Path(__file__).resolve().parents[3]  # lib/resnas/labs/__init__.py -> repository root
LABS_DIR = REPOSITORY / "notebooks" / "labs"
SOLUTIONS_ENV = "RESNAS_LAB_SOLUTIONS"
LAB_NAME = re.compile(r"\d\d_[a-z0-9_]+")
HANDOUT_MARKER = ".resnas-handout"  # a folder holding it was written by `handout`, so `handout` may replace it
# Double-click on a .py file in JupyterLab opens it with jupytext's notebook view (issue #17)
LAB_SETTINGS = {"@jupyterlab/docmanager-extension:plugin": {"defaultViewers": {"python": "Jupytext Notebook"}}}


class WrongAnswer(AssertionError):
    """A self-check failed: the message says what is wrong and gives a hint, never the answer."""


class NotDone(WrongAnswer):
    """The student's function still raises NotImplementedError (its TODO is not filled)."""


class SolutionsWithheld(FileNotFoundError):
    """solved=True, but this copy of the labs has no solutions (a student handout)."""


# ---------------------------------------------------------------- exercises and self-checks

def lab_sources(labs_dir: str | os.PathLike = LABS_DIR) -> list[Path]:
    """Every lab source `NN_topic.py` in `labs_dir`, in order."""
    return sorted(p for p in Path(labs_dir).glob("*.py") if LAB_NAME.fullmatch(p.stem))


def solutions_dir() -> Path:
    """Where the solutions are: `$RESNAS_LAB_SOLUTIONS` if set, else notebooks/labs/solutions/."""
    env = os.environ.get(SOLUTIONS_ENV)
    return Path(env) if env else LABS_DIR / "solutions"


@functools.lru_cache(maxsize=None)
def _load_solutions(path: Path):
    spec = importlib.util.spec_from_file_location(f"resnas_lab_solutions_{path.stem}", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def solution(lab: str, student_fn, solved: bool):
    """`student_fn` when not `solved`; else the teacher's function of the same name from the lab's solutions
    module. SolutionsWithheld when that module is absent (a handout), AttributeError naming the function when it
    lacks it."""
    if not LAB_NAME.fullmatch(str(lab)):
        raise ValueError(f"lab={lab!r} is not a lab name; allowed: two digits, '_', then lower-case letters, "
                         f"digits and '_' (e.g. '01_search_spaces')")
    if not isinstance(solved, bool):
        raise TypeError(f"solved={solved!r} must be True or False")
    if not solved:
        return student_fn
    path = solutions_dir() / f"{lab}.py"
    if not path.is_file():
        raise SolutionsWithheld(
            f"solutions are withheld in this handout: solved=True needs {path}, which is absent. Set "
            f"`solved = False` in the parameters cell and fill the TODOs (or set {SOLUTIONS_ENV} to a folder "
            f"holding {lab}.py)")
    name = student_fn.__name__
    fn = getattr(_load_solutions(path.resolve()), name, None)
    if fn is None:
        raise AttributeError(f"{path} defines no function {name!r}, which lab {lab} asks for")
    return fn


def attempt(exercise, fn, *args, **kwargs):
    """`fn(*args, **kwargs)`, with a NotImplementedError (an unfilled TODO) turned into NotDone naming the
    exercise. Self-checks call the student's function through this."""
    try:
        return fn(*args, **kwargs)
    except NotImplementedError as exc:
        raise NotDone(f"exercise {exercise} is not done yet: `{getattr(fn, '__name__', fn)}` still raises "
                      f"NotImplementedError ({exc}). Fill its TODO, run its cell, then this check again.") from None


def exercise(n: int):
    """Decorator for a self-check: prefix its WrongAnswer with 'exercise n: ' (the labs' message format); NotDone
    passes as it is (it names its exercise already)."""
    def wrap(check):
        @functools.wraps(check)
        def run(*args, **kwargs):
            try:
                return check(*args, **kwargs)
            except NotDone:
                raise
            except WrongAnswer as exc:
                raise WrongAnswer(f"exercise {n}: {exc}") from None
        return run
    return wrap


def expect(condition: bool, message: str) -> None:
    """WrongAnswer(message) unless `condition`."""
    if not condition:
        raise WrongAnswer(message)


def correct(text: str) -> str:
    """The line a passing self-check returns (the notebook displays it)."""
    return f"correct: {text}"


# ---------------------------------------------------------------- handout and running the labs

def _unsolved(text: str, source: Path) -> str:
    """`text` with the parameters cell's `solved = ...` set to False; ValueError when there is none."""
    new, n = re.subn(r"(?m)^solved\s*=\s*(True|False)\b", "solved = False", text)
    if n != 1:
        raise ValueError(f"{source}: expected exactly one `solved = ...` line in its parameters cell, found {n}")
    return new


def handout(dest: str | os.PathLike, labs_dir: str | os.PathLike = LABS_DIR) -> Path:
    """Write the student folder `dest`: each lab as .py (jupytext source) and .ipynb (no outputs), with
    `solved = False`, plus the labs' README.md; no solutions. `dest` must be absent, empty, or an earlier
    handout (then it is replaced whole). Written beside `dest` first and renamed in, so it is never half
    written. Returns `dest`."""
    import jupytext

    dest, labs_dir = Path(dest).resolve(), Path(labs_dir).resolve()
    if dest == labs_dir or labs_dir in dest.parents or dest in labs_dir.parents:
        raise ValueError(f"dest={dest} overlaps the lab sources {labs_dir}; choose a folder outside it")
    if dest.exists() and (not dest.is_dir() or (any(dest.iterdir()) and not (dest / HANDOUT_MARKER).exists())):
        raise FileExistsError(f"dest={dest} exists and is not an earlier handout (no {HANDOUT_MARKER}); "
                              f"choose an empty or new folder")
    sources = lab_sources(labs_dir)
    if not sources:
        raise FileNotFoundError(f"no labs (NN_topic.py) in {labs_dir}")
    dest.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{dest.name}.", dir=dest.parent))
    try:
        for src in sources:
            text = _unsolved(src.read_text(), src)
            (staging / src.name).write_text(text)
            jupytext.write(jupytext.reads(text, fmt="py:percent"), staging / f"{src.stem}.ipynb")
        if (labs_dir / "README.md").exists():
            shutil.copyfile(labs_dir / "README.md", staging / "README.md")
        (staging / HANDOUT_MARKER).write_text("written by resnas.labs.handout; `make handout` replaces it\n")
        if dest.exists():
            trash = dest.with_name(f".{dest.name}.old{os.getpid()}")
            os.rename(dest, trash)
            os.rename(staging, dest)
            shutil.rmtree(trash, ignore_errors=True)
        else:
            os.rename(staging, dest)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return dest


def run_lab(source: str | os.PathLike, executed: str | os.PathLike, solved: bool = True,
            parameters: dict | None = None, log_output: bool = False) -> float:
    """Execute one lab source with papermill (kernel python3, cwd = repository root) into `executed` (.ipynb,
    renamed into place once done); return its wall seconds. papermill's error names the failing cell."""
    import jupytext
    import papermill

    source, executed = Path(source), Path(executed)
    executed.parent.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        nb = Path(tmp) / f"{source.stem}.ipynb"
        out = Path(tmp) / f"executed-{source.stem}.ipynb"
        jupytext.write(jupytext.read(source), nb)
        try:
            papermill.execute_notebook(str(nb), str(out), kernel_name="python3", cwd=str(REPOSITORY),
                                       parameters={"solved": solved, **(parameters or {})},
                                       log_output=log_output, progress_bar=False)
        finally:  # a failed run's notebook (traceback included) is kept too, for reading
            if out.exists():
                shutil.move(str(out), executed)
    return time.perf_counter() - t0


def run_labs(out_dir: str | os.PathLike, solved: bool = True, labs: list[str] | None = None,
             labs_dir: str | os.PathLike = LABS_DIR, say=print) -> dict[str, float]:
    """Execute every lab (or those named in `labs`) into `out_dir/<lab>.ipynb`; write `out_dir/timings.json`;
    return {lab: seconds}. Carries on past a failed lab and raises RuntimeError naming every failure at the end."""
    sources = {p.stem: p for p in lab_sources(labs_dir)}
    unknown = sorted(set(labs or []) - set(sources))
    if unknown:
        raise ValueError(f"labs={unknown} are not labs; allowed: {', '.join(sources)}")
    out_dir = Path(out_dir)
    times, failures = {}, {}
    for name in (labs or list(sources)):
        try:
            times[name] = round(run_lab(sources[name], out_dir / f"{name}.ipynb", solved), 1)
            say(f"ok {name} ({times[name]} s)")
        except Exception as exc:  # papermill's error: the notebook's exception, cell included
            failures[name] = " ".join(str(exc).split())[:300]
            say(f"FAILED {name}: {failures[name]}")
    out_dir.mkdir(parents=True, exist_ok=True)
    tmp = out_dir / f".timings.json.tmp{os.getpid()}"
    tmp.write_text(json.dumps({"solved": solved, "seconds": times, "failed": failures}, indent=1) + "\n")
    os.replace(tmp, out_dir / "timings.json")
    if failures:
        raise RuntimeError(f"{len(failures)} of {len(times) + len(failures)} labs failed: {', '.join(failures)} "
                           f"(executed notebooks with the traceback in {out_dir})")
    return times


# ---------------------------------------------------------------- JupyterLab: open .py sources as notebooks

def _merge(base: dict, extra: dict) -> dict:
    out = dict(base)
    for k, v in extra.items():
        out[k] = _merge(out[k], v) if isinstance(v, dict) and isinstance(out.get(k), dict) else v
    return out


def install_lab_settings(prefix: str | os.PathLike = sys.prefix) -> Path:
    """Merge LAB_SETTINGS into `<prefix>/share/jupyter/lab/settings/overrides.json` (JupyterLab's per-environment
    overrides), keeping every other setting there; written atomically. A file that is not a JSON object is a
    clear error, not overwritten. Returns the file's path."""
    path = Path(prefix) / "share" / "jupyter" / "lab" / "settings" / "overrides.json"
    current = {}
    if path.exists():
        try:
            current = json.loads(path.read_text() or "{}")
        except ValueError as exc:
            raise ValueError(f"{path} is not valid JSON ({exc}); fix or remove it, then run this again") from None
        if not isinstance(current, dict):
            raise ValueError(f"{path} holds a {type(current).__name__}, not a JSON object; fix or remove it")
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp{os.getpid()}")
    try:
        tmp.write_text(json.dumps(_merge(current, LAB_SETTINGS), indent=2) + "\n")
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    return path
