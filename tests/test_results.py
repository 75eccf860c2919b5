"""resnas.results.load: every study's tables, params, the claims ledger and timings, one line away."""
from __future__ import annotations

import json

import pandas as pd
import pytest

from resnas import results
from resnas.report import Output

@pytest.fixture
def profile_dir(tmp_path):
    root = tmp_path / "results" / "x"
    a = Output(root / "alpha", "Alpha study", store=root / "store" / "alpha", results=root)
    a.table(pd.DataFrame({"seed": [0, 1], "acc": [0.5, 0.75]}), "summary", "per seed")
    a.table(pd.DataFrame({"k": ["a"]}), "other", "one row", readme=False)
    a.note("a note", "n1")
    (root / "alpha" / "params.yaml").write_text("seeds: [0, 1]\nepochs: 3\n")
    b = Output(root / "beta", "Beta study", results=root)
    b.table(pd.DataFrame({"x": [1, 2, 3]}), "points", "three points")
    # what load leaves out: the store, a failed run, staging, a folder without tables
    (root / "store" / "alpha" / "state.csv").write_text("a\n1\n")
    failed = Output(root / "beta.failed", "failed", results=root)
    failed.table(pd.DataFrame({"x": [9]}), "points", "from a failed run")
    (root / ".staging" / "beta-1").mkdir(parents=True)
    (root / ".staging" / "beta-1" / "t.csv").write_text("a\n1\n")
    (root / "empty").mkdir()
    pd.DataFrame({"id": ["p.claim"], "verdict": ["holds"]}).to_csv(root / "claims.csv", index=False)
    (root / "timings.json").write_text(json.dumps({"alpha": {"status": "ok", "seconds": 1.5}}))
    return root


def test_load_returns_every_study_table_params_claims_and_timings(profile_dir):
    r = results.load("x", results_dir=profile_dir)
    assert list(r) == ["alpha", "beta"]
    assert list(r["alpha"].tables) == ["other", "summary"]
    pd.testing.assert_frame_equal(r["alpha"]["summary"], pd.DataFrame({"seed": [0, 1], "acc": [0.5, 0.75]}))
    assert r["beta"]["points"]["x"].tolist() == [1, 2, 3]  # not the failed run's 9
    assert r["alpha"].params == {"seeds": [0, 1], "epochs": 3} and r["beta"].params == {}
    assert r["alpha"].title == "Alpha study" and r["alpha"].notes == ["a note"]
    assert r.claims["id"].tolist() == ["p.claim"] and r.timings["alpha"]["seconds"] == 1.5
    listing = r.tables()
    assert listing[["study", "table", "rows"]].values.tolist() == [
        ["alpha", "other", 1], ["alpha", "summary", 2], ["beta", "points", 3]]
    assert "alpha: other, summary" in repr(r)


def test_load_errors_name_the_folder_and_what_is_there(profile_dir, tmp_path):
    with pytest.raises(FileNotFoundError, match=r"profile='y' has no results: .*nowhere does not exist"):
        results.load("y", results_dir=tmp_path / "nowhere")
    (tmp_path / "bare").mkdir()
    with pytest.raises(FileNotFoundError, match="bare holds no published study"):
        results.load("bare", results_dir=tmp_path / "bare")
    r = results.load("x", results_dir=profile_dir)
    with pytest.raises(KeyError, match="no study 'gamma'.*studies: alpha, beta"):
        r["gamma"]
    with pytest.raises(KeyError, match="no table 'nope'.*tables: other, summary"):
        r["alpha"]["nope"]
    with pytest.raises(ValueError, match="not a profile name"):
        results.load("../etc")


def test_load_without_a_ledger_says_none(profile_dir):
    (profile_dir / "claims.csv").unlink()
    assert results.load("x", results_dir=profile_dir).claims is None
