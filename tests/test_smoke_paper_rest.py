"""The paper smoke run's other half (tests/smoke_halves.py): MO-ResNet, ECToNAS's ablation and pooling trials, the
cell search and GENAS on the paper profile's code paths, FakeData, budgets cut."""
import pytest
from smoke_halves import run_half


@pytest.mark.notebook
def test_paper_smoke_run_other_half(tmp_path):
    rows = run_half("rest", tmp_path / "smoke")
    assert rows.loc["ectonas_ablation", "data"] == ("cifar10 3x32x32/10, cifar100 3x32x32/100, eurosat 3x64x64/10, "
                                                    "fashion_mnist 1x28x28/10, mnist 1x28x28/10, svhn 3x32x32/10")
    assert rows.loc["genas", "spaces"] == "darts" and rows.loc["mo_resnet", "spaces"] == "moresnet"
