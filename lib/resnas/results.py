"""Every result one line away: `from resnas import results; r = results.load("default")`.

`r` maps each study (a notebook's folder under `results/<profile>/`) to a `Study`: its tidy tables as data frames
(`r["era_search"]["summary"]`, read from the folder's *.csv on first use), its resolved parameters
(`params.yaml`), its figures and notes (`manifest.json`). `r.claims` is the claims ledger
(`results/<profile>/claims.csv`; None before any notebook recorded one) and `r.timings` each notebook's last run
(`timings.json`). `r.tables()` lists every table with its rows and caption. Nothing is computed here: this only
reads what the pipeline published (a `.failed/` folder, the store and staging are left out).
"""
from __future__ import annotations

import json
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from resnas.report import profile_results

SKIP = ("store",)  # archives and search state, not tables


class _LazyTables(Mapping):
    """{table name: DataFrame} of one folder's *.csv, each read on first access and kept."""

    def __init__(self, folder: Path):
        self._folder = folder
        self._paths = {p.stem: p for p in sorted(folder.glob("*.csv"))}
        self._frames: dict[str, pd.DataFrame] = {}

    def __getitem__(self, name: str) -> pd.DataFrame:
        if name not in self._paths:
            raise KeyError(f"no table {name!r} in {self._folder}; tables: {', '.join(self._paths) or 'none'}")
        if name not in self._frames:
            self._frames[name] = pd.read_csv(self._paths[name])
        return self._frames[name]

    def __iter__(self):
        return iter(self._paths)

    def __len__(self) -> int:
        return len(self._paths)


@dataclass(frozen=True)
class Study:
    """One published notebook folder: `tables` (lazy data frames), `params` (dict from params.yaml), `manifest`
    (captions, figures, notes), `path`. `study["summary"]` is `study.tables["summary"]`."""
    name: str
    path: Path
    tables: Mapping = field(repr=False)
    params: dict = field(repr=False)
    manifest: dict = field(repr=False)

    @property
    def title(self) -> str:
        return self.manifest.get("title", self.name)

    @property
    def figures(self) -> dict[str, Path]:
        """{figure name: its PNG}."""
        return {i["name"]: self.path / f"{i['name']}.png" for i in self.manifest.get("items", [])
                if i.get("kind") == "figure"}

    @property
    def notes(self) -> list[str]:
        return [i["text"] for i in self.manifest.get("items", []) if i.get("kind") == "note"]

    def __getitem__(self, table: str) -> pd.DataFrame:
        return self.tables[table]


def _read_params(path: Path) -> dict:
    if not path.exists():
        return {}
    import yaml

    return yaml.safe_load(path.read_text()) or {}


def load_study(folder: str | os.PathLike) -> Study:
    folder = Path(folder)
    manifest = json.loads((folder / "manifest.json").read_text()) if (folder / "manifest.json").exists() else {}
    return Study(folder.name, folder, _LazyTables(folder), _read_params(folder / "params.yaml"), manifest)


def _is_study(path: Path) -> bool:
    return (path.is_dir() and not path.name.startswith(".") and path.name not in SKIP
            and not path.name.endswith((".failed", ".old")) and any(path.glob("*.csv")))


class Results(Mapping):
    """{study name: Study} of one profile, with `claims` (DataFrame or None), `timings` (dict), `profile`, `path`."""

    def __init__(self, path: Path, profile: str):
        self.path, self.profile = path, profile
        self._studies = {p.name: load_study(p) for p in sorted(path.iterdir()) if _is_study(p)}
        claims = path / "claims.csv"
        self.claims = pd.read_csv(claims) if claims.exists() else None
        timings = path / "timings.json"
        self.timings = json.loads(timings.read_text()) if timings.exists() else {}

    def __getitem__(self, name: str) -> Study:
        if name not in self._studies:
            raise KeyError(f"no study {name!r} in {self.path}; studies: {', '.join(self._studies)}")
        return self._studies[name]

    def __iter__(self):
        return iter(self._studies)

    def __len__(self) -> int:
        return len(self._studies)

    def tables(self) -> pd.DataFrame:
        """One row per table: study, table, rows (from the manifest when recorded), caption."""
        rows = []
        for s in self._studies.values():
            info = {i["name"]: i for i in s.manifest.get("items", []) if i.get("kind") == "table"}
            for t in s.tables:
                rows.append({"study": s.name, "table": t, "rows": info.get(t, {}).get("rows"),
                             "caption": info.get(t, {}).get("caption", "")})
        return pd.DataFrame(rows, columns=["study", "table", "rows", "caption"])

    def __repr__(self) -> str:
        lines = [f"Results({self.profile!r}, {self.path}): {len(self)} studies"
                 + (f", claims ledger of {len(self.claims)} rows" if self.claims is not None else ", no claims ledger")]
        lines += [f"  {name}: {', '.join(s.tables)}" for name, s in self._studies.items()]
        return "\n".join(lines)


def load(profile: str = "default", results_dir: str | os.PathLike | None = None) -> Results:
    """Every study of `profile` (from `results_dir`, default results/<profile>/ of this repository).
    FileNotFoundError naming the folder when it is absent or holds no published study."""
    path = profile_results(profile, results_dir)
    hint = (f"run the notebooks first (`make reproduce PROFILE={profile}`, or one: `make 00_quickstart "
            f"PROFILE={profile}`)")
    if not path.is_dir():
        raise FileNotFoundError(f"profile={profile!r} has no results: {path} does not exist; {hint}")
    r = Results(path, profile)
    if not len(r):
        raise FileNotFoundError(f"profile={profile!r} has no results: {path} holds no published study "
                                f"(a folder with a table); {hint}")
    return r
