"""The quickstart's paper table: each network beside ECToNAS's plain-training baseline (Table 1, column B)."""
import math

import pandas as pd
import pytest

from resnas.experiments.quickstart import beside_paper


def test_beside_paper_puts_each_network_beside_its_data_sets_baseline():
    results = pd.DataFrame({"dataset": ["fashion_mnist", "digits", "adult"], "model": ["a", "b", "c"],
                            "params": [19810, 47098, 1000], "final_val_acc": [0.597, 0.979, 0.8]})
    t = beside_paper(results).set_index("dataset")
    assert list(t.model) == ["a", "b", "c"] and list(t.params) == [19810, 47098, 1000]
    assert t.ours_val_acc_pct.tolist() == pytest.approx([59.7, 97.9, 80.0])
    # ectonas.txt:158-159: FashionMNIST B 86.8 ± 1.4 with 28 K parameters; MNIST B 97.6 ± 2.2, 28 K (digits' analogue)
    assert (t.loc["fashion_mnist", "paper_dataset"], t.loc["fashion_mnist", "paper_test_acc_pct"],
            t.loc["fashion_mnist", "paper_test_sd"], t.loc["fashion_mnist", "paper_params"]) == (
        "fashion_mnist", 86.8, 1.4, 28000)
    assert (t.loc["digits", "paper_dataset"], t.loc["digits", "paper_test_acc_pct"]) == ("mnist", 97.6)
    # no analogue in the paper: empty paper columns, never another data set's figure
    assert pd.isna(t.loc["adult", "paper_dataset"]) and math.isnan(t.loc["adult", "paper_test_acc_pct"])
