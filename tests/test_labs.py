"""Course labs (notebooks/labs/, resnas.labs): the infrastructure on a fake lab folder, then every real lab executed
solved (marker `notebook`) and the student handout that `make handout` writes."""
from __future__ import annotations

import importlib.util
import inspect
import json
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from resnas import labs

LAB = '''# ---
# jupyter:
#   jupytext:
#     formats: py:percent
#     text_representation:
#       extension: .py
#       format_name: percent
#   kernelspec:
#     display_name: Python 3
#     language: python
#     name: python3
# ---

# %% tags=["parameters"]
solved = True  # True: the teacher's solutions fill the TODOs
seed = 0

# %%
from resnas import labs

def double(x):
    # TODO: return twice x
    raise NotImplementedError("TODO exercise 1: double")
double = labs.solution("01_fake", double, solved)
'''
SOLUTION = "def double(x):\n    return 2 * x  # the teacher's line\n"


@pytest.fixture
def fake_labs(tmp_path, monkeypatch):
    src = tmp_path / "labs"
    (src / "solutions").mkdir(parents=True)
    (src / "01_fake.py").write_text(LAB)
    (src / "solutions" / "01_fake.py").write_text(SOLUTION)
    (src / "README.md").write_text("# labs\n")
    (src / "helper.py").write_text("x = 1\n")  # not a lab (no NN_ prefix)
    monkeypatch.setenv(labs.SOLUTIONS_ENV, str(src / "solutions"))
    labs._load_solutions.cache_clear()
    return src


def student(x):
    raise NotImplementedError("TODO exercise 1: double")
student.__name__ = "double"


def test_solution_swaps_in_the_teachers_function_only_when_solved(fake_labs):
    assert labs.solution("01_fake", student, False) is student
    assert labs.solution("01_fake", student, True)(3) == 6


def test_solution_errors_name_what_is_missing(fake_labs, monkeypatch):
    with pytest.raises(labs.SolutionsWithheld, match="withheld in this handout.*solved = False"):
        labs.solution("02_absent", student, True)

    def other(x):
        return x
    with pytest.raises(AttributeError, match="no function 'other'"):
        labs.solution("01_fake", other, True)
    with pytest.raises(ValueError, match="lab='fake' is not a lab name"):
        labs.solution("fake", student, True)
    with pytest.raises(TypeError, match="solved='yes'"):
        labs.solution("01_fake", student, "yes")


def test_attempt_turns_an_unfilled_todo_into_not_done_and_expect_into_wrong_answer():
    with pytest.raises(labs.NotDone, match="exercise 3 is not done yet: `double`"):
        labs.attempt(3, student, 1)
    assert issubclass(labs.NotDone, labs.WrongAnswer) and issubclass(labs.WrongAnswer, AssertionError)
    assert labs.attempt(1, lambda x: x + 1, 1) == 2
    with pytest.raises(labs.WrongAnswer, match="too big"):
        labs.expect(False, "too big")
    labs.expect(True, "never")
    assert labs.correct("42") == "correct: 42"


def test_handout_has_no_solutions_and_solved_false(fake_labs, tmp_path, monkeypatch):
    import jupytext

    dest = labs.handout(tmp_path / "student", labs_dir=fake_labs)
    names = sorted(p.name for p in dest.iterdir())
    assert names == sorted(["01_fake.py", "01_fake.ipynb", "README.md", labs.HANDOUT_MARKER])
    assert re.search(r"(?m)^solved = False\b", (dest / "01_fake.py").read_text())
    nb = jupytext.read(dest / "01_fake.ipynb")
    params = [c for c in nb.cells if "parameters" in c.metadata.get("tags", [])]
    assert len(params) == 1 and "solved = False" in params[0].source
    assert all("the teacher's line" not in p.read_text() for p in dest.iterdir() if p.is_file())
    # the handout's own solution lookup: withheld, with a message that says what to do
    monkeypatch.setenv(labs.SOLUTIONS_ENV, str(dest / "solutions"))
    with pytest.raises(labs.SolutionsWithheld):
        labs.solution("01_fake", student, True)
    # an earlier handout is replaced whole; any other non-empty folder is refused
    (dest / "stale.txt").write_text("x")
    labs.handout(dest, labs_dir=fake_labs)
    assert not (dest / "stale.txt").exists()
    other = tmp_path / "mine"
    other.mkdir()
    (other / "notes.txt").write_text("keep")
    with pytest.raises(FileExistsError, match="not an earlier handout"):
        labs.handout(other, labs_dir=fake_labs)
    assert (other / "notes.txt").read_text() == "keep"
    with pytest.raises(ValueError, match="overlaps the lab sources"):
        labs.handout(fake_labs / "out", labs_dir=fake_labs)


def test_handout_refuses_a_lab_without_a_solved_parameter(fake_labs, tmp_path):
    (fake_labs / "02_bad.py").write_text(LAB.replace("solved = True", "done = True"))
    with pytest.raises(ValueError, match="02_bad.py: expected exactly one `solved = ...` line"):
        labs.handout(tmp_path / "student", labs_dir=fake_labs)
    assert not (tmp_path / "student").exists()


def test_install_lab_settings_merges_and_never_clobbers(tmp_path):
    path = labs.install_lab_settings(tmp_path)
    assert path == tmp_path / "share/jupyter/lab/settings/overrides.json"
    assert json.loads(path.read_text()) == labs.LAB_SETTINGS
    path.write_text(json.dumps({"@jupyterlab/apputils-extension:themes": {"theme": "JupyterLab Dark"},
                                "@jupyterlab/docmanager-extension:plugin": {"autosave": False,
                                                                            "defaultViewers": {"markdown": "x"}}}))
    merged = json.loads(labs.install_lab_settings(tmp_path).read_text())
    assert merged["@jupyterlab/apputils-extension:themes"] == {"theme": "JupyterLab Dark"}
    assert merged["@jupyterlab/docmanager-extension:plugin"] == {
        "autosave": False, "defaultViewers": {"markdown": "x", "python": "Jupytext Notebook"}}
    path.write_text("{not json")
    with pytest.raises(ValueError, match="overrides.json is not valid JSON"):
        labs.install_lab_settings(tmp_path)
    assert path.read_text() == "{not json"


# ---------------------------------------------------------------- the real labs (notebooks/labs/), executed

ROOT = Path(__file__).resolve().parents[1]
LABS = [p.stem for p in labs.lab_sources()]


def test_every_lab_has_its_solutions_and_a_checks_module():
    assert LABS, "no labs in notebooks/labs/"
    for lab in LABS:
        text = (labs.LABS_DIR / f"{lab}.py").read_text()
        assert re.search(r"(?m)^solved = False\b", text), f"{lab}: the source must ship with solved = False"
        assert (labs.LABS_DIR / "solutions" / f"{lab}.py").is_file(), f"{lab}: no solutions/{lab}.py"
        assert "TODO" in text and "labs.solution(" in text, f"{lab}: no TODO exercise swapped by labs.solution"


def outputs_text(cell) -> str:
    parts = []
    for o in cell.get("outputs", []):
        parts.append("".join(o.get("text", "")))
        parts.append("".join(o.get("data", {}).get("text/plain", "")))
    return "\n".join(parts)


# Budgets for the test run only (`make labs` and students run each lab's own defaults). Every self-check tests a
# function against hand-made inputs, never a trained result, so it passes at any budget; what these cut is the
# training and resampling around the checks, keeping each part of the lab (both supernets, BN recalibration, the
# seed+1 noise ceiling, every training fraction, the paired gap over seeds). Why each value:
TEST_PARAMETERS = {
    # 6 cells: a tau with a bootstrap interval over cells still has 15 pairs; 1 supernet epoch (~14 single-path
    # steps, and the coupled supernet, 5x dearer a step, as many) and 1 stand-alone epoch train every path; 64
    # images recalibrate BN; 100 resamples give an interval. At 8 cells / 3 supernet epochs: 44 CPU-s, most of it
    # the coupled supernet and the read-outs.
    "07_weight_sharing": {"n_cells": 6, "supernet_epochs": 1, "standalone_epochs": 1, "recalibrate_images": 64,
                          "n_boot": 100},
    # 3 seeds: the paired gap's bootstrap needs >= 2 differing seeds; 40 Adam steps; 500 test cells (the
    # hand-written O(n^2) tau runs on them twice). Every fraction of the pool stays.
    "06_performance_predictors": {"seeds": 3, "epochs": 40, "test": 500},
    "03_fidelity": {"n_boot": 200},
}


def test_test_parameters_name_real_labs_and_their_parameters():
    """A renamed lab or parameter would otherwise silently run the test at full budget (papermill warns only)."""
    for lab, params in TEST_PARAMETERS.items():
        assert lab in LABS, lab
        text = (labs.LABS_DIR / f"{lab}.py").read_text()
        for name in params:
            assert re.search(rf"(?m)^{name} = ", text), f"{lab}: no parameter {name!r}"


@pytest.mark.notebook
@pytest.mark.parametrize("lab", LABS)
def test_lab_runs_solved_and_every_self_check_passes(lab, tmp_path):
    executed = tmp_path / f"{lab}.ipynb"
    seconds = labs.run_lab(labs.LABS_DIR / f"{lab}.py", executed, solved=True,
                           parameters=TEST_PARAMETERS.get(lab))
    nb = json.loads(executed.read_text())
    errors = [o for c in nb["cells"] for o in c.get("outputs", []) if o.get("output_type") == "error"]
    assert not errors
    check_cells = [c for c in nb["cells"] if c["cell_type"] == "code" and re.search(r"\bcheck_\w+\(", "".join(c["source"]))]
    assert check_cells, f"{lab}: no self-check cell"
    for c in check_cells:
        assert "correct" in outputs_text(c), f"{lab}: a self-check cell shows no 'correct: ...': {''.join(c['source'])[:200]}"
    print(f"{lab}: {seconds:.1f} s")


@pytest.fixture(scope="module")
def handout_dir(tmp_path_factory):
    if shutil.which("make") is None:
        pytest.skip("make is not installed")
    dest = tmp_path_factory.mktemp("handout") / "student"
    # -o: never rebuild the virtual environment from a test, whatever its stamp's age
    run = subprocess.run(["make", "-s", "-o", ".venv/.resnas-setup", "handout", f"HANDOUT={dest}"], cwd=ROOT,
                         capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stderr
    return dest


def test_make_handout_holds_every_lab_unsolved_and_no_solution(handout_dir):
    import jupytext

    names = {p.name for p in handout_dir.iterdir()}
    assert {f"{lab}.py" for lab in LABS} | {f"{lab}.ipynb" for lab in LABS} <= names
    assert not any("solution" in n for n in names) and not (handout_dir / "solutions").exists()
    assert "README.md" in names
    for lab in LABS:
        nb = jupytext.read(handout_dir / f"{lab}.ipynb")
        params = [c for c in nb.cells if "parameters" in c.metadata.get("tags", [])]
        assert len(params) == 1 and re.search(r"(?m)^solved = False\b", params[0].source), lab
        assert not any(c.get("outputs") for c in nb.cells if c.cell_type == "code"), f"{lab}: outputs in the handout"
    texts = [p.read_text() for p in handout_dir.iterdir() if p.suffix in (".py", ".ipynb", ".md")]
    for lab in LABS:  # no solution function's source is in the handout
        spec = importlib.util.spec_from_file_location(f"sol_{lab}", labs.LABS_DIR / "solutions" / f"{lab}.py")
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        for name, fn in inspect.getmembers(module, inspect.isfunction):
            if fn.__module__ == module.__name__:
                body = inspect.getsource(fn)
                assert not any(body in t or json.dumps(body)[1:-1] in t for t in texts), f"{lab}.{name} leaked"


@pytest.mark.notebook
def test_a_handout_lab_stops_at_its_first_unsolved_exercise(handout_dir, tmp_path, monkeypatch):
    """What a student sees on first running a handout lab: the first self-check says exercise 1 is not done.
    One lab (a kernel start each; every lab's checks are tested against an unsolved TODO directly)."""
    import papermill

    lab = LABS[0]

    monkeypatch.setenv(labs.SOLUTIONS_ENV, str(handout_dir / "solutions"))  # absent, as for a student
    with pytest.raises(papermill.PapermillExecutionError) as err:
        papermill.execute_notebook(str(handout_dir / f"{lab}.ipynb"), str(tmp_path / "out.ipynb"),
                                   kernel_name="python3", cwd=str(handout_dir), progress_bar=False)
    assert err.value.ename == "NotDone", f"{lab}: {err.value.ename}: {err.value.evalue}"
    assert "exercise 1 is not done yet" in err.value.evalue


@pytest.mark.notebook
def test_a_handout_lab_run_solved_says_the_solutions_are_withheld(handout_dir, tmp_path, monkeypatch):
    import papermill

    monkeypatch.setenv(labs.SOLUTIONS_ENV, str(handout_dir / "solutions"))
    with pytest.raises(papermill.PapermillExecutionError) as err:
        papermill.execute_notebook(str(handout_dir / f"{LABS[0]}.ipynb"), str(tmp_path / "out.ipynb"),
                                   kernel_name="python3", cwd=str(handout_dir), parameters={"solved": True},
                                   progress_bar=False)
    assert err.value.ename == "SolutionsWithheld" and "withheld in this handout" in err.value.evalue
