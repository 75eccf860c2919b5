import json

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import pandas as pd  # noqa: E402

from resnas.report import Output, markdown_table, write_readme  # noqa: E402


def test_output_writes_tables_figures_and_a_readme(tmp_path):
    out = Output(tmp_path / "exp", "An experiment")
    df = pd.DataFrame({"a": [1, 2], "b": [0.5, 0.25], "c": ["x|y", "z"]})
    out.table(df, "t", "A table")
    out.table(pd.DataFrame({"k": range(100)}), "long", "A long table", readme=False)
    fig, ax = plt.subplots()
    ax.plot([0, 1], [1, 0])
    out.figure(fig, "f", "A figure")
    out.note("A note.")
    out.table(df.head(1), "t", "A table, replaced")  # same name: replaces the manifest entry
    m = json.loads((tmp_path / "exp" / "manifest.json").read_text())
    assert [i["name"] for i in m["items"] if i["kind"] != "note"] == ["long", "f", "t"]
    assert (tmp_path / "exp" / "f.png").read_bytes()[:4] == b"\x89PNG"
    assert (tmp_path / "exp" / "f.svg").read_text().lstrip().startswith("<?xml")
    assert len(pd.read_csv(tmp_path / "exp" / "t.csv")) == 1
    assert not list((tmp_path / "exp").glob(".*tmp*"))  # no temporary files left behind
    text = write_readme(tmp_path, ["exp", "missing"]).read_text()
    assert "## An experiment" in text and "![A figure](exp/f.png)" in text and "A note." in text
    assert "| a | b | c |" in text and "x\\|y" in text and "`exp/long.csv` (100 rows)" in text


def test_markdown_table_formats_and_truncates():
    df = pd.DataFrame({"x": [1.23456789, 2.0], "y": ["a", "b"]})
    assert markdown_table(df).splitlines() == ["| x | y |", "| --- | --- |", "| 1.235 | a |", "| 2 | b |"]
    assert len(markdown_table(pd.DataFrame({"x": range(100)}), max_rows=5).splitlines()) == 7


def test_output_open_places_outputs_store_and_results(tmp_path):
    from resnas.report import store_of

    out = Output.open("exp", "ci", "An experiment", results_dir=tmp_path)
    assert (out.path, out.store, out.results) == (tmp_path / "exp", tmp_path / "store" / "exp", tmp_path)
    assert out.store.is_dir() and store_of(out.path) == out.store
    staged = Output.open("exp", "ci", "An experiment", out_dir=tmp_path / "stage", results_dir=tmp_path)
    assert staged.path == tmp_path / "stage" and staged.store == out.store  # staging shares the store
    (tmp_path / "old").mkdir()
    (tmp_path / "old" / "archive.sqlite").write_bytes(b"")
    assert store_of(tmp_path / "old") == tmp_path / "old"  # a folder holding its own archive is its store
    try:
        Output.open("exp", "../x", "An experiment")
    except ValueError as exc:
        assert "profile='../x'" in str(exc)
    else:
        raise AssertionError("a profile name with '/' was accepted")


def test_readme_opens_with_wall_times_and_marks_a_failed_run(tmp_path):
    Output(tmp_path / "a", "Experiment A").note("A's note.")
    Output(tmp_path / "b", "Experiment B").note("B's old note.")
    runs = {"nb_a": {"folder": "a", "status": "ok", "seconds": 30, "finished": "t1"},
            "nb_b": {"folder": "b", "status": "failed", "seconds": 120, "finished": "t2", "error": "KeyError: 'x'",
                     "failed_dir": "b.failed"}}
    text = write_readme(tmp_path, ["a", "b"], runs=runs).read_text()
    lines = text.splitlines()
    start = lines.index("| notebook | status | wall time | finished |")
    assert lines[start + 2] == "| nb_a | ok | 30 s | t1 |"
    assert lines[start + 3].startswith("| nb_b | **FAILED**: KeyError: 'x'") and "`b.failed/nb_b.ipynb`" in lines[start + 3]
    assert lines[start + 4] == "| total | | 2.5 min | |"
    section_b = text[text.index("## Experiment B"):]
    assert "latest run failed" in section_b and "previous successful run" in section_b
    assert "latest run failed" not in text[text.index("## Experiment A"):text.index("## Experiment B")]


def test_pipeline_readme_shows_every_notebook_from_the_folders_alone(tmp_path):
    """The results README as `make readme` writes it, from result folders made here (no notebook needs to have
    run first): each notebook's section in run order, every figure linked, every README table shown, every
    long table pointed to, every note; a notebook that has not run has no section."""
    from resnas.experiments import EXPERIMENTS
    from resnas.pipeline import readme

    results = tmp_path / "ci"
    ran = list(EXPERIMENTS.values())[:-1]  # the last notebook has not run
    for i, exp in enumerate(ran):
        out = Output(results / exp.folder, exp.title)
        out.table(pd.DataFrame({"value": [i, 10 + i]}), f"t{i}", f"Table of {exp.notebook}")
        out.table(pd.DataFrame({"k": range(50 + i)}), f"long{i}", f"Long table of {exp.notebook}", readme=False)
        fig, ax = plt.subplots(figsize=(1, 1))  # small: one figure per notebook, PNG and SVG
        ax.plot([0, 1], [i, 0])
        out.figure(fig, f"f{i}", f"Figure of {exp.notebook}")
        plt.close(fig)
        out.note(f"Note of {exp.notebook}.")
    text = readme("ci", results=results).read_text()
    starts = []
    for i, exp in enumerate(ran):
        starts.append(text.index(f"## {exp.title}\n"))
        assert f"**Table of {exp.notebook}**\n\n| value |\n| --- |\n| {i} |\n| {10 + i} |\n" in text
        assert f"*Long table of {exp.notebook}*: `{exp.folder}/long{i}.csv` ({50 + i} rows)" in text
        assert f"![Figure of {exp.notebook}]({exp.folder}/f{i}.png)" in text and f"Note of {exp.notebook}." in text
    assert starts == sorted(starts)
    assert f"## {list(EXPERIMENTS.values())[-1].title}" not in text


def test_the_readme_says_which_machine_made_the_numbers(tmp_path):
    from resnas.report import machines_lines

    fp = {"cpu": "AMD EPYC", "cpu_id": "AuthenticAMD family 25 model 1 [avx+avx2+fma]", "threads": 2,
          "dtype": "fp32", "torch": "2.14.1"}
    for folder, threads in (("a", 2), ("b", 2)):
        (tmp_path / folder).mkdir()
        (tmp_path / folder / "pipeline.json").write_text(json.dumps({"fingerprint": fp | {"threads": threads}}))
    runs = {"nb_a": {"folder": "a"}, "nb_b": {"folder": "b"}}
    one = machines_lines(tmp_path, runs)
    assert one[0].startswith("Machine: cpu AMD EPYC; cpu_id AuthenticAMD family 25 model 1") and "dtype fp32" in one[0]
    (tmp_path / "b" / "pipeline.json").write_text(json.dumps({"fingerprint": fp | {"dtype": "bf16-autocast"}}))
    two = machines_lines(tmp_path, runs)
    assert two[0] == "Machines (the runs differ):"
    assert any(line.startswith("- nb_a:") and "fp32" in line for line in two)
    assert any(line.startswith("- nb_b:") and "bf16-autocast" in line for line in two)
