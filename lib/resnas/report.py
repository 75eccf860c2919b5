"""Where a notebook puts what it found: tidy tables (CSV + Parquet), figures (PNG + SVG) and notes, listed in a
`manifest.json` from which the pipeline writes `results/<profile>/README.md`.

Every file is written to a temporary name and renamed into place, so a killed notebook never leaves a
half-written table or figure behind.
"""
from __future__ import annotations

import json
import os
from pathlib import Path

import pandas as pd

from resnas import params as params_mod


def _atomic_write(path: Path, write) -> None:
    tmp = path.with_name(f".{path.name}.tmp{os.getpid()}")
    write(tmp)
    os.replace(tmp, path)


class Output:
    """One experiment's result folder. `title` heads its section of the results README."""

    def __init__(self, path: str | os.PathLike, title: str, params=None):
        self.path = Path(path)
        self.path.mkdir(parents=True, exist_ok=True)
        self.title = title
        self.items: list[dict] = []
        if params is not None:
            params_mod.save(params, self.path / "params.yaml")  # the resolved parameters, beside the results
        self._flush()

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


def write_readme(profile_dir: str | os.PathLike, order: list[str], header: str = "") -> Path:
    """Compose `<profile_dir>/README.md` from each experiment folder's manifest, in `order`."""
    root = Path(profile_dir)
    lines = [f"# Results: profile `{root.name}`", "", header, ""] if header else [f"# Results: profile `{root.name}`", ""]
    for exp in order:
        manifest = root / exp / "manifest.json"
        if not manifest.exists():
            continue
        m = json.loads(manifest.read_text())
        lines += [f"## {m['title']}", "", f"Folder `{exp}/` — executed notebook, tables (CSV/Parquet), "
                  "figures (PNG/SVG), `params.yaml`.", ""]
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
