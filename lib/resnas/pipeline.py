"""Run notebooks through papermill on a profile: `python -m resnas.pipeline run --profile default`.

For each notebook: validate `params/<profile>/<notebook>.yaml` against its dataclass (so a bad file stops in a
second, before any training), convert the jupytext source `notebooks/<notebook>.py` to .ipynb, execute it with
papermill (kernel python3, cwd = repository root) into `results/<profile>/<folder>/<notebook>.ipynb`, and
finally write `results/<profile>/README.md` from what the notebooks saved.
"""
from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

from resnas.experiments import EXPERIMENTS, get_experiment
from resnas.params import ParamError, load_profile
from resnas.report import write_readme

ROOT = Path(__file__).resolve().parents[2]  # lib/resnas/pipeline.py -> repository root


def check(profile: str, notebooks: list[str], params_root: Path = ROOT / "params") -> None:
    """Validate every notebook's parameters on `profile`; raise ParamError on the first fault."""
    for nb in notebooks:
        load_profile(get_experiment(nb).params_class(), nb, profile, root=params_root)


def run_notebook(notebook: str, profile: str, results: Path | None = None, log_output: bool = False) -> Path:
    import jupytext
    import papermill

    exp = get_experiment(notebook)
    load_profile(exp.params_class(), notebook, profile, root=ROOT / "params")  # fail fast
    out_dir = (results or ROOT / "results" / profile) / exp.folder
    out_dir.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        source = Path(tmp) / f"{notebook}.ipynb"
        jupytext.write(jupytext.read(ROOT / "notebooks" / f"{notebook}.py"), source)
        executed = out_dir / f"{notebook}.ipynb"
        papermill.execute_notebook(str(source), str(executed), kernel_name="python3", cwd=str(ROOT),
                                   parameters={"profile": profile, "out_dir": str(out_dir)},
                                   log_output=log_output, progress_bar=False)
    return executed


def readme(profile: str, results: Path | None = None) -> Path:
    root = results or ROOT / "results" / profile
    header = ("Written by `make reproduce PROFILE=%s`. Each section is one notebook; its folder holds the "
              "executed notebook, tidy tables and figures." % profile)
    return write_readme(root, [e.folder for e in EXPERIMENTS.values()], header)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="python -m resnas.pipeline", description=__doc__.splitlines()[0])
    ap.add_argument("command", choices=["run", "check", "readme", "list"])
    ap.add_argument("--profile", default="default")
    ap.add_argument("--params-root", default=str(ROOT / "params"), help="folder of <profile>/<notebook>.yaml")
    ap.add_argument("notebooks", nargs="*", help="notebook names (default: all, in order)")
    args = ap.parse_intermixed_args(argv)
    notebooks = args.notebooks or list(EXPERIMENTS)
    try:
        if args.command == "list":
            print("\n".join(notebooks))
            return 0
        check(args.profile, notebooks, Path(args.params_root))
        if args.command == "run":
            for nb in notebooks:
                t0 = time.perf_counter()
                print(f"[{args.profile}] {nb} ...", flush=True)
                path = run_notebook(nb, args.profile, log_output=True)
                print(f"[{args.profile}] {nb} done in {time.perf_counter() - t0:.0f}s -> {path}", flush=True)
        if args.command in ("run", "readme"):
            print(f"wrote {readme(args.profile)}")
    except (ParamError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
