"""The pipeline's promises about runs, on a tiny fake experiment (never the real notebooks): a failed run leaves
the published folder as it was and keeps `<folder>.failed/`; a successful run replaces a folder whole; the store
survives; `run` carries on past a failure and exits non-zero with the README marking it; one lock per notebook;
profile names are validated (`make clean PROFILE=../x` too); `--set` overrides reach the saved params.yaml."""
import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from resnas import pipeline
from resnas.experiments import EXPERIMENTS, Experiment
from resnas.params import ParamError, parse_overrides

# The fake notebook: quickstart's Params (so its file is validated for real), a table whose name depends on
# `epochs` (a rerun with other epochs must not leave the old one behind), a line appended to a store file per
# run, and a failure when epochs == 13.
FAKE_NOTEBOOK = '''# ---
# jupyter:
#   kernelspec:
#     display_name: Python 3
#     language: python
#     name: python3
# ---

# %% tags=["parameters"]
profile = "ci"
out_dir = None
store_dir = None
results_dir = None
params_root = None
overrides = {}

# %%
import pandas as pd

from resnas.experiments.quickstart import Params
from resnas.params import load_profile
from resnas.report import Output

P = load_profile(Params, "fake", profile, overrides, root=params_root)
out = Output.open("fake", profile, "A fake experiment", P, out_dir, store_dir, results_dir)
with open(out.store / "runs.txt", "a") as f:
    f.write(f"{P.epochs}\\n")
out.table(pd.DataFrame({"epochs": [P.epochs]}), f"table_e{P.epochs}", "What this run trained")
assert P.epochs != 13, "epochs=13 is unlucky"
'''


@pytest.fixture
def fake(tmp_path, monkeypatch):
    """Register notebooks 'fake' and 'fake2' (folders fake/ and fake2/) with ci params under tmp_path/params and
    results under tmp_path/results; return those folders."""
    params, notebooks, results = tmp_path / "params", tmp_path / "notebooks", tmp_path / "results"
    (params / "ci").mkdir(parents=True)
    notebooks.mkdir()
    for name in ("fake", "fake2"):
        (params / "ci" / f"{name}.yaml").write_text("datasets: [digits]\nepochs: 2\n")
        (notebooks / f"{name}.py").write_text(FAKE_NOTEBOOK.replace('"fake"', f'"{name}"'))
        monkeypatch.setitem(EXPERIMENTS, name, Experiment(name, "quickstart", name, f"Experiment {name}"))
    monkeypatch.setattr(pipeline, "RESULTS", results)
    return {"params": params, "notebooks": notebooks, "results": results / "ci"}


def run(fake, notebook="fake", overrides=None, **kw):
    return pipeline.run_notebook(notebook, "ci", params_root=fake["params"], notebooks_dir=fake["notebooks"],
                                 overrides=overrides, say=lambda *_: None, **kw)


def _exec_in_process(source: Path, executed: Path, parameters: dict, log_output: bool) -> None:
    """Papermill's job without a kernel (for the runs whose papermill side another run already covers): the
    notebook's code after its parameters cell, with the parameters as globals."""
    exec(source.read_text().split("\n# %%\n", 1)[1], dict(parameters))
    executed.write_text("{}")


def test_failed_rerun_keeps_published_folder_and_store_success_replaces_whole(fake):
    """Three runs of the fake notebook; the second and third through jupytext + papermill."""
    results = fake["results"]
    executed = run(fake, execute=_exec_in_process)  # epochs 2 from the file
    folder = results / "fake"
    assert executed == folder / "fake.ipynb" and executed.exists()
    assert (folder / "table_e2.csv").exists() and yaml.safe_load((folder / "params.yaml").read_text())["epochs"] == 2
    assert json.loads((folder / "pipeline.json").read_text())["overrides"] == {}

    # an override reaches the notebook and its saved params.yaml; the new run replaces the folder whole
    run(fake, overrides=parse_overrides(["epochs=3"]))
    assert yaml.safe_load((folder / "params.yaml").read_text())["epochs"] == 3
    assert (folder / "table_e3.csv").exists() and not (folder / "table_e2.csv").exists()
    assert json.loads((folder / "pipeline.json").read_text())["overrides"] == {"epochs": 3}
    before = {p.name: p.read_bytes() for p in folder.iterdir()}

    with pytest.raises(pipeline.NotebookFailed, match="epochs=13 is unlucky"):
        run(fake, overrides={"epochs": 13})
    assert {p.name: p.read_bytes() for p in folder.iterdir()} == before  # published folder untouched
    failed = results / "fake.failed"
    nb = json.loads((failed / "fake.ipynb").read_text())
    assert any(o.get("output_type") == "error" for c in nb["cells"] for o in c.get("outputs", []))
    assert (failed / "table_e13.csv").exists()  # what the failed run wrote, kept for inspection
    assert (results / "store" / "fake" / "runs.txt").read_text().split() == ["2", "3", "13"]  # the store survived
    timings = pipeline.load_timings(results)["fake"]
    assert timings["status"] == "failed" and timings["failed_dir"] == "fake.failed" and timings["seconds"] > 0
    assert not list((results / ".staging").iterdir())  # no staging folder left behind


def _fake_execute(source: Path, executed: Path, parameters: dict, log_output: bool) -> None:
    """In-process stand-in for papermill: writes what a notebook would, fails for notebook 'fake'."""
    from resnas.report import Output

    out = Output.open(source.stem, parameters["profile"], f"Experiment {source.stem}", None,
                      parameters["out_dir"], parameters["store_dir"], parameters["results_dir"])
    out.note(f"ran {source.stem}")
    executed.write_text("{}")
    if source.stem == "fake":
        raise RuntimeError("boom in fake")


def test_run_continues_after_a_failure_and_marks_it(fake, monkeypatch, capsys):
    monkeypatch.setattr(pipeline, "_execute_papermill", _fake_execute)
    monkeypatch.setattr(pipeline, "NOTEBOOKS", fake["notebooks"])
    rc = pipeline.main(["run", "--profile", "ci", "--params-root", str(fake["params"]), "fake", "fake2"])
    assert rc == 1
    assert "1 of 2 notebooks failed or did not run: fake" in capsys.readouterr().err
    results = fake["results"]
    assert (results / "fake2" / "manifest.json").exists() and not (results / "fake").exists()
    readme = (results / "README.md").read_text()
    table = readme[readme.index("| notebook |"):readme.index("| total |")]
    rows = {line.split("|")[1].strip(): line for line in table.splitlines()[2:]}
    assert set(rows) == {"fake", "fake2"} and "| ok |" in rows["fake2"]
    assert "FAILED" in rows["fake"] and "boom in fake" in rows["fake"] and "`fake.failed/fake.ipynb`" in rows["fake"]
    assert "ran fake2" in readme and "## fake\n" in readme  # a failed notebook without results gets a section


def test_a_bad_override_or_profile_stops_before_running(fake):
    called = []
    with pytest.raises(ParamError, match="epochs=0 is out of range"):
        run(fake, overrides={"epochs": 0}, execute=lambda *a: called.append(a))
    for bad in ("../x", "", "nope", "ci/.."):
        with pytest.raises(ParamError, match="is not allowed"):
            pipeline.validate_profile(bad, fake["params"])
        with pytest.raises(ParamError):
            pipeline.clean(bad, fake["params"])
    assert not called and not fake["results"].exists()


def test_lock_refuses_a_live_holder_and_takes_over_a_stale_one(tmp_path):
    with pipeline.notebook_lock(tmp_path, "nb") as me:
        with pytest.raises(pipeline.NotebookLocked, match=f"pid {os.getpid()} on {me['host']}"):
            with pipeline.notebook_lock(tmp_path, "nb"):
                pass
        with pipeline.notebook_lock(tmp_path, "other"):  # another notebook may run beside it
            pass
    lock = tmp_path / ".locks" / "nb.lock"
    assert not lock.exists()  # released
    # a lock file whose holder died (nobody holds its flock): taken over, with a message naming the dead holder
    lock.write_text(json.dumps({"pid": 4242424, "host": "gone", "started": "yesterday"}))
    said = []
    with pipeline.notebook_lock(tmp_path, "nb", say=said.append):
        assert json.loads(lock.read_text())["pid"] == os.getpid()
    assert len(said) == 1 and "stale" in said[0] and "pid 4242424 on gone" in said[0]


def test_a_run_of_a_locked_notebook_refuses_at_once(fake):
    called = []
    with pipeline.notebook_lock(fake["results"], "fake"):
        with pytest.raises(pipeline.NotebookLocked, match="already running"):
            run(fake, execute=lambda *a: called.append(a))
    assert not called


def test_make_clean_refuses_a_profile_outside_results(tmp_path, root):
    """On a copy of the Makefile, so a broken check could only remove folders inside tmp_path."""
    shutil.copy(root / "Makefile", tmp_path / "Makefile")
    (tmp_path / "params" / "ci").mkdir(parents=True)
    (tmp_path / "results" / "ci").mkdir(parents=True)
    (tmp_path / "x").mkdir()
    for bad in ("../x", "", "x", "ci x", "ci/.."):
        out = subprocess.run(["make", "-s", "clean", f"PROFILE={bad}"], cwd=tmp_path, capture_output=True,
                             text=True, timeout=60)
        assert out.returncode != 0 and "is not a profile" in out.stderr, (bad, out.stderr)
    assert (tmp_path / "x").is_dir() and (tmp_path / "results" / "ci").is_dir()
    out = subprocess.run(["make", "-s", "clean", "PROFILE=ci"], cwd=tmp_path, capture_output=True, text=True,
                         timeout=60)
    assert out.returncode == 0 and not (tmp_path / "results" / "ci").exists() and (tmp_path / "x").is_dir()


def test_an_archive_in_a_folder_of_the_old_layout_moves_to_the_store(fake):
    """Results written before the store existed kept archive.sqlite in the published folder: the swap must not
    delete it."""
    old = fake["results"] / "fake"
    old.mkdir(parents=True)
    (old / "archive.sqlite").write_bytes(b"hours of training")
    (old / "stale_table.csv").write_text("a\n1\n")
    run(fake, execute=_exec_in_process)
    assert (fake["results"] / "store" / "fake" / "archive.sqlite").read_bytes() == b"hours of training"
    assert not (old / "archive.sqlite").exists() and not (old / "stale_table.csv").exists()


def test_a_partial_profile_runs_only_its_notebooks_while_the_standard_ones_run_all(tmp_path):
    """`params/decide/` holds genas.yaml alone: reproduce and estimate on it must not stop on the other eleven
    missing files; on ci/default/paper a missing file stays an error (every notebook is listed, check fails)."""
    (tmp_path / "decide").mkdir()
    (tmp_path / "decide" / "genas.yaml").write_text("seeds: [0]\n")
    (tmp_path / "ci").mkdir()
    assert pipeline.profile_notebooks("decide", tmp_path) == ["genas"]
    assert pipeline.profile_notebooks("ci", tmp_path) == list(EXPERIMENTS)
    (tmp_path / "empty").mkdir()
    assert pipeline.profile_notebooks("empty", tmp_path) == []


def test_the_shipped_decide_profile_is_genas_alone_and_validates(root):
    assert pipeline.profile_notebooks("decide", root / "params") == ["genas"]
    pipeline.check("decide", ["genas"], root / "params", require_data=False)


def test_the_next_notebook_waits_for_what_it_reads_and_takes_the_longest_chain_first():
    needs = EXPERIMENTS["ranking_predictor"].needs
    assert set(needs) == {"era_search", "fidelity_correlation"}
    pending = ["era_search", "era_final", "fidelity_correlation", "ranking_predictor", "mo_resnet"]
    seconds = {"era_search": 40, "era_final": 250, "fidelity_correlation": 30, "ranking_predictor": 250,
               "mo_resnet": 200}
    # nothing ran yet: era_final and the others that read era_search wait; era_search (40 s) opens the longest
    # chain (40 + 30 + 250 through ranking_predictor), longer than mo_resnet's 200 s
    assert pipeline.next_notebook(pending, set(), set(), seconds) == "era_search"
    assert pipeline.next_notebook([p for p in pending if p != "era_search"], {"era_search"}, set(), seconds) == \
        "mo_resnet"
    assert pipeline.next_notebook(pending, set(), set(), {**seconds, "mo_resnet": 400}) == "mo_resnet"
    assert pipeline.next_notebook(pending[1:4], {"era_search"}, set(), seconds) is None  # running is not finished
    assert pipeline.next_notebook(pending[1:4], set(), {"era_search"}, seconds) == "fidelity_correlation"  # 280 > 250
    assert pipeline.next_notebook(pending[1:3], set(), {"era_search"}, seconds) == "era_final"  # 250 s before 30
    assert pipeline.next_notebook(["ranking_predictor"], {"fidelity_correlation"}, {"era_search"}, seconds) is None
    # a need that is not part of this run does not hold a notebook back; an unknown time goes first
    assert pipeline.next_notebook(["ranking_predictor", "mo_resnet"], set(), set(), {"mo_resnet": 9}) == \
        "ranking_predictor"


def test_several_jobs_run_side_by_side_in_order_of_needs_and_report_failures(tmp_path, monkeypatch, capsys):
    """The scheduler on a thread pool with a stand-in runner: at most `jobs` at once, two at once at some point,
    a notebook only after what it reads has finished, each with its share of the cores, a failure reported."""
    import concurrent.futures as cf
    import threading
    import time

    monkeypatch.setattr(pipeline, "RESULTS", tmp_path)
    monkeypatch.setattr("resnas.threads.usable_cores", lambda: 4)
    lock, running, log = threading.Lock(), set(), []

    def runner(nb, profile, threads, params_root, overrides):
        with lock:
            running.add(nb)
            log.append(("start", nb, frozenset(running), threads))
        time.sleep(0.05)
        with lock:
            running.discard(nb)
            log.append(("end", nb))
        if nb == "mo_resnet":
            raise pipeline.NotebookFailed("mo_resnet failed (boom)", tmp_path / "x")
        pipeline.record_run(tmp_path / profile, nb, {"seconds": 0.05})
        return tmp_path / nb

    order = ["era_search", "era_final", "fidelity_correlation", "ranking_predictor", "mo_resnet", "pooling_trials"]
    failed = pipeline.run_notebooks(order, "ci", jobs=2, say=lambda m: None, pool=cf.ThreadPoolExecutor(2),
                                    runner=runner)
    assert failed == ["mo_resnet"] and "mo_resnet FAILED: mo_resnet failed (boom)" in capsys.readouterr().err
    starts = [e for e in log if e[0] == "start"]
    assert sorted(e[1] for e in starts) == sorted(order)
    assert all(len(e[2]) <= 2 and e[3] == 2 for e in starts) and any(len(e[2]) == 2 for e in starts)
    ends = [e[1] for e in log if e[0] == "end"]
    for nb in order:
        begun = [e[1] for e in log].index(nb)  # its start event
        for need in EXPERIMENTS[nb].needs:
            assert ("end", need) in log[:begun], (nb, need)
    assert len(ends) == len(order)
    with pytest.raises(ValueError, match="jobs=0 must be an integer >= 1"):
        pipeline.run_notebooks(order, "ci", jobs=0)
