"""The paper smoke run's other half (tests/smoke_halves.py): quickstart, MO-ResNet, ECToNAS's pooling trials and
cross-topology study, the cell search and GENAS on the paper profile's code paths, FakeData, budgets cut."""
import pytest
from smoke_halves import run_half


@pytest.mark.notebook
def test_paper_smoke_run_other_half(tmp_path):
    rows = run_half("rest", tmp_path / "smoke")
    assert rows.loc["cross_topology", "data"] == "adult 1x10x10/2"
    assert rows.loc["genas", "spaces"] == "darts" and rows.loc["mo_resnet", "spaces"] == "moresnet"
