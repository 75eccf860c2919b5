"""Where a notebook puts what it found: tidy tables (CSV + Parquet), figures (PNG + SVG) and notes, listed in a
`manifest.json` from which the pipeline writes `results/<profile>/README.md`.

Layout of `results/<profile>/`:
- `<folder>/`: one notebook's published outputs. The pipeline runs a notebook into a fresh staging folder and
  swaps it in whole when the notebook succeeds, so a folder never mixes two runs.
- `store/<folder>/`: what must outlive a failed or killed run so that a rerun resumes: archives
  (`archive.sqlite`) and search state. Never swapped, never cleaned by a rerun; other notebooks read
  era_search's archive here.
- `<folder>.failed/`: the last failed run's staging folder, executed notebook (with its traceback) included.

Every file is written to a temporary name and renamed into place, so a killed notebook never leaves a
half-written table or figure behind.
"""
from __future__ import annotations

import json
import os
import re
from pathlib import Path

import pandas as pd

from resnas import params as params_mod

REPOSITORY = Path(__file__).resolve().parents[2]  # lib/resnas/report.py -> repository root
PROFILE_NAME = re.compile(r"[A-Za-z0-9_-]+")  # a profile names a folder: no '/', '..' or spaces


def _atomic_write(path: Path, write) -> None:
    tmp = path.with_name(f".{path.name}.tmp{os.getpid()}")
    try:
        write(tmp)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)  # a failed write leaves no temporary file behind


def profile_results(profile: str, results_dir: str | os.PathLike | None = None) -> Path:
    """`results_dir` if given, else `results/<profile>/` of this repository (absolute, so a notebook opened in
    JupyterLab, whose working directory is notebooks/, writes where `make` does)."""
    if results_dir:
        return Path(results_dir)
    if not PROFILE_NAME.fullmatch(profile):
        raise ValueError(f"profile={profile!r} is not a profile name; allowed: letters, digits, '_' and '-'")
    return REPOSITORY / "results" / profile


def store_of(folder: str | os.PathLike) -> Path:
    """The store of a published notebook folder `results/<profile>/<name>`: `results/<profile>/store/<name>`.
    A folder that holds its own `archive.sqlite` (one copied from elsewhere, or the layout before the store
    existed) is its own store."""
    folder = Path(folder)
    if (folder / "archive.sqlite").exists():
        return folder
    return folder.parent / "store" / folder.name


class Output:
    """One experiment's result folder. `title` heads its section of the results README.

    `path` receives tables, figures, notes and `params.yaml`; `store` (optional) is the folder for archives and
    search state that must survive a failed run; `results` is the profile's results folder, where the
    notebook finds other notebooks' folders (`results / "era_search"`)."""

    def __init__(self, path: str | os.PathLike, title: str, params=None, store: str | os.PathLike | None = None,
                 results: str | os.PathLike | None = None):
        self.path = Path(path)
        self.path.mkdir(parents=True, exist_ok=True)
        self.store = Path(store) if store is not None else None
        if self.store is not None:
            self.store.mkdir(parents=True, exist_ok=True)
        self.results = Path(results) if results is not None else self.path.parent
        self.title = title
        self.items: list[dict] = []
        if params is not None:  # the resolved parameters (overrides included), beside the results; atomic
            params_mod.save(params, self.path / "params.yaml")
        self._flush()

    @classmethod
    def open(cls, folder: str, profile: str, title: str, params=None, out_dir=None, store_dir=None,
             results_dir=None) -> "Output":
        """A notebook's Output from its papermill parameters. The pipeline passes a fresh staging `out_dir`
        (swapped in on success); run by hand, a notebook writes straight into `results/<profile>/<folder>/`.
        The store defaults to `results/<profile>/store/<folder>/`."""
        results = profile_results(profile, results_dir)
        return cls(out_dir or results / folder, title, params, store=store_dir or results / "store" / folder,
                   results=results)

    def _flush(self) -> None:
        manifest = {"title": self.title, "items": self.items}
        _atomic_write(self.path / "manifest.json", lambda p: p.write_text(json.dumps(manifest, indent=1)))

    def _add(self, item: dict) -> None:
        self.items = [i for i in self.items if i.get("name") != item.get("name") or i["kind"] != item["kind"]]
        self.items.append(item)
        self._flush()

    def table(self, df: pd.DataFrame, name: str, caption: str, readme: bool = True) -> pd.DataFrame:
        """Save a tidy table; `readme=False` keeps a long table out of the README (it is still on disk)."""
        _atomic_write(self.path / f"{name}.csv", lambda p: df.to_csv(p, index=False))
        try:
            _atomic_write(self.path / f"{name}.parquet", lambda p: df.to_parquet(p, index=False))
        except (ImportError, ValueError, TypeError):  # parquet needs pyarrow and flat column types
            pass
        self._add({"kind": "table", "name": name, "caption": caption, "readme": readme, "rows": len(df)})
        return df

    def figure(self, fig, name: str, caption: str):
        for ext in ("png", "svg"):
            _atomic_write(self.path / f"{name}.{ext}",
                          lambda p, e=ext: fig.savefig(p, format=e, dpi=130, bbox_inches="tight"))
        self._add({"kind": "figure", "name": name, "caption": caption})
        return fig

    def note(self, text: str, name: str | None = None) -> str:
        self._add({"kind": "note", "name": name or f"note{len(self.items)}", "text": text})
        return text

    def read_table(self, name: str) -> pd.DataFrame:
        return pd.read_csv(self.path / f"{name}.csv")


def markdown_table(df: pd.DataFrame, max_rows: int = 40, floatfmt: str = "{:.4g}") -> str:
    """A GitHub-flavoured Markdown table (no extra dependency)."""
    df = df.head(max_rows)

    def cell(v):
        if isinstance(v, float):
            return floatfmt.format(v)
        return str(v).replace("|", "\\|")

    head = "| " + " | ".join(map(str, df.columns)) + " |"
    rule = "| " + " | ".join("---" for _ in df.columns) + " |"
    body = ["| " + " | ".join(cell(v) for v in row) + " |" for row in df.itertuples(index=False)]
    return "\n".join([head, rule, *body])


def _seconds(s) -> str:
    s = float(s)
    return f"{s:.0f} s" if s < 90 else f"{s / 60:.1f} min"


def runs_table(runs: dict[str, dict]) -> list[str]:
    """The README's opening table: each notebook's status and wall time on its latest run, and the total."""
    lines = ["| notebook | status | wall time | finished |", "| --- | --- | --- | --- |"]
    total = 0.0
    for notebook, r in runs.items():
        status = r.get("status", "?")
        if status != "ok":
            where = f" — traceback in `{r['failed_dir']}/{notebook}.ipynb`" if r.get("failed_dir") else ""
            why = f": {r['error']}" if r.get("error") else ""
            status = f"**{status.upper()}**{why}{where}".replace("|", "\\|")
        total += float(r.get("seconds", 0.0))
        lines.append(f"| {notebook} | {status} | {_seconds(r.get('seconds', 0.0))} | {r.get('finished', '')} |")
    lines.append(f"| total | | {_seconds(total)} | |")
    return lines


def describe_fingerprint(fp: dict) -> str:
    keys = ("cpu", "cpu_id", "device", "threads", "dtype", "torch", "cuda", "python")
    return "; ".join(f"{k} {fp[k]}" for k in keys if fp.get(k) not in (None, ""))


def machines_lines(root: Path, runs: dict[str, dict]) -> list[str]:
    """Where the numbers were made: the machine fingerprint each notebook's pipeline.json records (one line when
    all agree). Results compare bit for bit only within one fingerprint (`make compare`); `dtype` is the
    training precision (fp32, or bf16 autocast where the hardware has it)."""
    seen: dict[str, list[str]] = {}
    for notebook, r in runs.items():
        try:
            fp = json.loads((root / r.get("folder", notebook) / "pipeline.json").read_text()).get("fingerprint")
        except (OSError, ValueError):
            continue
        if fp:
            seen.setdefault(describe_fingerprint(fp), []).append(notebook)
    if not seen:
        return []
    if len(seen) == 1:
        return [f"Machine: {next(iter(seen))}.", ""]
    return ["Machines (the runs differ):", ""] + [f"- {', '.join(nbs)}: {fp}" for fp, nbs in seen.items()] + [""]


def whole_run_line(whole: dict) -> str:
    """One line on the latest run of every notebook together (`reproduce.json`): its wall time beside the sum of
    the notebooks' own, which is larger when several ran at once."""
    return (f"The whole run ({whole['notebooks']} notebooks, {whole['jobs']} at a time) took "
            f"**{_seconds(whole['seconds'])}** of wall time, finished {whole['finished']}; the total above adds up "
            f"each notebook's own wall time" + (", which overlap." if whole["jobs"] > 1 else "."))


def write_readme(profile_dir: str | os.PathLike, order: list[str], header: str = "",
                 runs: dict[str, dict] | None = None, whole: dict | None = None) -> Path:
    """Compose `<profile_dir>/README.md` from each experiment folder's manifest, in `order`. `runs` (notebook ->
    {folder, status, seconds, finished, failed_dir, error}, as the pipeline's `timings.json` keeps them) opens
    it with a table of wall times (after the claims ledger that `resnas.claims.gather` wrote, where there is one),
    and `whole` ({notebooks, jobs, seconds, finished}, the pipeline's `reproduce.json`) the whole run's wall
    time; a notebook whose latest run failed is marked in its section."""
    root = Path(profile_dir)
    lines = [f"# Results: profile `{root.name}`", ""] + ([header, ""] if header else [])
    runs = runs or {}
    from resnas.claims import readme_section  # here, not at the top: scipy only where a README is written

    lines += readme_section(root)  # the claims ledger first, when the profile has one
    if runs:
        lines += ["Wall time of each notebook's latest run on this machine:", "", *runs_table(runs), ""]
        lines += [whole_run_line(whole), ""] if whole else []
        lines += machines_lines(root, runs)
    failed = {r.get("folder"): (nb, r) for nb, r in runs.items() if r.get("status") != "ok"}
    for exp in order:
        manifest = root / exp / "manifest.json"
        if exp in failed and not manifest.exists():
            nb, r = failed[exp]
            lines += [f"## {nb}", "", f"**The latest run failed** ({r.get('error', '')}); nothing published yet. "
                      f"The executed notebook with its traceback: `{r.get('failed_dir', '')}/{nb}.ipynb`.", ""]
        if not manifest.exists():
            continue
        m = json.loads(manifest.read_text())
        lines += [f"## {m['title']}", ""]
        if exp in failed:
            nb, r = failed[exp]
            lines += [f"**The latest run failed** ({r.get('error', '')}): what follows is the previous successful "
                      f"run. The executed notebook with its traceback: `{r.get('failed_dir', '')}/{nb}.ipynb`.", ""]
        lines += [f"Folder `{exp}/` — executed notebook, tables (CSV/Parquet), figures (PNG/SVG), `params.yaml`.", ""]
        for item in m["items"]:
            if item["kind"] == "note":
                lines += [item["text"], ""]
            elif item["kind"] == "figure":
                lines += [f"**{item['caption']}**", "", f"![{item['caption']}]({exp}/{item['name']}.png)", ""]
            elif item["kind"] == "table" and item.get("readme", True):
                df = pd.read_csv(root / exp / f"{item['name']}.csv")
                more = f" (first 40 of {len(df)} rows; all in `{exp}/{item['name']}.csv`)" if len(df) > 40 else ""
                lines += [f"**{item['caption']}**{more}", "", markdown_table(df), ""]
            elif item["kind"] == "table":
                lines += [f"*{item['caption']}*: `{exp}/{item['name']}.csv` ({item['rows']} rows)", ""]
    out = root / "README.md"
    _atomic_write(out, lambda p: p.write_text("\n".join(lines)))
    return out
