"""The paper smoke run's first half (tests/smoke_halves.py): the ERA chain (era_table, era_search, era_final,
fidelity_correlation, ranking_predictor), the quickstart and ECToNAS's cross-topology study on the paper profile's
code paths, FakeData, budgets cut."""
import pytest
from smoke_halves import run_half


@pytest.mark.notebook
def test_paper_smoke_run_era_half(tmp_path):
    rows = run_half("era", tmp_path / "smoke")
    assert "cifar10 3x32x32/10" in rows.loc["era_search", "data"]
    assert rows.loc["era_search", "backends"] == "processx4" and rows.loc["era_search", "processes"] >= 2
    assert rows.loc["cross_topology", "data"] == "adult 1x10x10/2"
