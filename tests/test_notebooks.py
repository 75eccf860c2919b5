"""Execute every notebook on the ci profile through the real pipeline (jupytext -> papermill) and check what
each one wrote. Notebook-specific checks live in CHECKS; every notebook must at least write its manifest,
its resolved params, and every table and figure the manifest lists."""
import json
from pathlib import Path

import pandas as pd
import pytest

from resnas.experiments import EXPERIMENTS
from resnas.pipeline import readme, run_notebook

pytestmark = pytest.mark.notebook


@pytest.fixture(scope="module")
def results(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("results") / "ci"


def check_quickstart(folder: Path):
    res = pd.read_csv(folder / "results.csv")
    assert set(res.dataset) == {"digits", "fashion_mnist"} and len(res) == 4
    assert (res.status == "ok").all() and res.final_val_acc.between(0, 1).all()
    assert (res.params > 0).all() and not res.from_archive.any()
    demo = pd.read_csv(folder / "archive_demo.csv")
    assert demo.from_archive.all() and demo.same_accuracy.all()
    hist = pd.read_csv(folder / "history.csv")
    assert hist.groupby(["dataset", "model"]).epoch.max().eq(2).all()


CHECKS = {"00_quickstart": check_quickstart}


@pytest.mark.parametrize("notebook", list(EXPERIMENTS))
def test_notebook_runs_on_ci_profile(notebook, results):
    executed = run_notebook(notebook, "ci", results=results)
    folder = executed.parent
    nb = json.loads(executed.read_text())
    errors = [o for c in nb["cells"] for o in c.get("outputs", []) if o.get("output_type") == "error"]
    assert not errors
    manifest = json.loads((folder / "manifest.json").read_text())
    assert (folder / "params.yaml").exists()
    assert any(i["kind"] == "figure" for i in manifest["items"]), "every notebook draws at least one figure"
    for item in manifest["items"]:
        if item["kind"] == "figure":
            assert (folder / f"{item['name']}.png").stat().st_size > 5000
            assert (folder / f"{item['name']}.svg").exists()
        if item["kind"] == "table":
            assert (folder / f"{item['name']}.csv").exists()
    CHECKS.get(notebook, lambda f: None)(folder)


def test_results_readme_shows_every_table_and_figure(results):
    path = readme("ci", results=results)
    text = path.read_text()
    for exp in EXPERIMENTS.values():
        manifest = results / exp.folder / "manifest.json"
        if not manifest.exists():
            continue
        for item in json.loads(manifest.read_text())["items"]:
            if item["kind"] == "figure":
                assert f"({exp.folder}/{item['name']}.png)" in text
            elif item["kind"] == "table":
                assert item["caption"].split(":")[0] in text
