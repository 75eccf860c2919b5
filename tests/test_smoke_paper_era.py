"""The paper smoke run's first half (tests/smoke_halves.py): the ERA chain (era_table, era_search, era_final,
fidelity_correlation, ranking_predictor) and ECToNAS's ablation on the paper profile's code paths, FakeData, budgets
cut."""
import pytest
from smoke_halves import run_half


@pytest.mark.notebook
def test_paper_smoke_run_era_half(tmp_path):
    rows = run_half("era", tmp_path / "smoke")
    assert "cifar10 3x32x32/10" in rows.loc["era_search", "data"]
    assert rows.loc["era_search", "backends"] == "processx4" and rows.loc["era_search", "processes"] >= 2
    assert rows.loc["ectonas_ablation", "data"] == ("cifar10 3x32x32/10, cifar100 3x32x32/100, eurosat 3x64x64/10, "
                                                    "fashion_mnist 1x28x28/10, mnist 1x28x28/10, svhn 3x32x32/10")
