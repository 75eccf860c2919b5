"""`resnas.estimate`: counts against hand counts, the assumption's arithmetic, and the table's shape. The
calibration is replaced by a fixed throughput (no training) except in one test that times a tiny network."""
import math

import pandas as pd
import pytest
import yaml

from resnas import estimate as E
from resnas.experiments import EXPERIMENTS, Experiment

SECONDS_PER_IMAGE = 1e-3  # the fixed calibration: 1,000 training images per second for every probe


def fixed(_probe):
    return SECONDS_PER_IMAGE


def write_params(root, notebook: str, values: dict, profile: str = "tiny"):
    folder = root / profile
    folder.mkdir(parents=True, exist_ok=True)
    (folder / f"{notebook}.yaml").write_text(yaml.safe_dump(values))


def row(table, notebook):
    return table.set_index("notebook").loc[notebook]


def test_split_sizes_follow_the_loader_arithmetic():
    assert E.split_sizes("cifar10", "val", 5000) == (45000, 5000)
    assert E.split_sizes("digits", "val", 0.2) == (1442 - 288, 288)
    assert E.split_sizes("fashion_mnist", "val", 5000, train_per_class=50, val_per_class=40) == (500, 400)
    # 'test': training on training + validation images, evaluating the test split
    assert E.split_sizes("fashion_mnist", "test", train_per_class=200, test_per_class=100) == (2000, 1000)
    assert E.split_sizes("cifar10", "test") == (50000, 10000)
    # a subset larger than the split takes what there is
    assert E.split_sizes("digits", "val", 0.1, train_per_class=10_000) == (1442 - 144, 144)
    with pytest.raises(ValueError, match="dataset='imagenet' has no known size"):
        E.split_sizes("imagenet")


def test_tiny_era_search_counts_by_hand(tmp_path):
    write_params(tmp_path, "era_search", {
        "dataset": "digits", "val_size": 0.2, "epochs": 2, "low_lr_epochs": 0, "strategies": ["random", "evolution"],
        "seeds": [0, 1], "budget": 5, "population": 3, "filters": [1, 2, 4, 8], "max_depth": 3, "window": 2,
        "references": ["resnet20"]})
    t = E.estimate_table("tiny", tmp_path, ["era_search"], calibrate=fixed)
    r = row(t, "era_search")
    # 2 strategies x 2 seeds x 5 evaluations, plus one reference
    assert r.trainings == 2 * 2 * 5 + 1 and r.bound == "≤"
    assert r.epochs == 21 * 2
    assert r.images_per_epoch == 1154 and r.image_epochs == 42 * 1154
    # random search and evolution of one seed share the population's 3 first draws: 20 - 2 x 3 = 14 distinct
    assert "≈ 14 distinct" in r.remark


def test_tiny_pooling_trials_counts_and_times_by_hand(tmp_path):
    write_params(tmp_path, "pooling_trials", {
        "dataset": "digits", "train_per_class": 10, "val_per_class": 6, "seeds": 2, "pools": ["avg"],
        "adapts": ["structured", "paper"], "pretrain_epochs": 3, "retrain_epochs": 0.5, "channels": [4],
        "dense": [8], "cell": 0})
    t = E.estimate_table("tiny", tmp_path, ["pooling_trials"], calibrate=fixed)
    r = row(t, "pooling_trials")
    assert r.trainings == 2 * (1 + 2) and r.bound == "="
    assert r.epochs == 2 * 3 + 2 * 2 * 0.5
    assert r.images_per_epoch == 100 and r.image_epochs == 8 * 100
    # 8 epochs of 100 trained + 60 evaluated images (a third each) at 1 ms per image; the probe is the network
    weighted = 8 * (100 + 60 / 3)
    assert r.cpu_hours_here == pytest.approx(weighted * SECONDS_PER_IMAGE / 3600)
    # a tiny network on the GPU is bound by the step floor: batch 32 per millisecond
    assert r.gpu_hours_assumed == pytest.approx(weighted / (32 / E.GPU_MIN_STEP_S) / 3600)


def test_tiny_ectonas_and_mo_resnet_count_by_hand(tmp_path):
    write_params(tmp_path, "ectonas_ablation", {
        "datasets": ["digits"], "train_per_class": 20, "val_per_class": 5, "topologies": ["small_cnn", "small_ffnn"],
        "seeds": [1, 2], "runs_per_seed": 2, "modes": ["greedy", "balanced_0", "baseline", "baseline_equal_epochs"],
        "baseline_epochs": 4, "budget": 10, "warmup_epochs": 1, "era_budget": 0})
    write_params(tmp_path, "cross_topology", {
        "datasets": ["adult"], "train_per_class": 20, "val_per_class": 5, "topologies": ["small_ffnn"],
        "seeds": [1], "modes": ["greedy", "baseline"], "baseline_epochs": 4, "budget": 10, "warmup_epochs": 1})
    write_params(tmp_path, "mo_resnet", {
        "dataset": "fashion_mnist", "preset": "moresnet_small", "train_per_class": 3, "val_per_class": 2,
        "alphas": [0.0, 0.5], "population": 4, "generations": 2, "epochs": 3, "retrain_epochs": 5,
        "retrain_seeds": [0, 1, 2], "retrain_max": 2})
    t = E.estimate_table("tiny", tmp_path, ["ectonas_ablation", "cross_topology", "mo_resnet"], calibrate=fixed)
    ecto = row(t, "ectonas_ablation")
    # 2 topologies x 2 seeds x 2 runs: 2 searches of about the 10-epoch budget each, and one plain training that
    # serves both baselines, as long as the longer one (the greedy run's spend, about the budget)
    assert ecto.trainings == 8 * (2 + 1) and ecto.bound == "≈" and ecto.epochs == 8 * (2 * 10 + 10)
    assert ecto.images_per_epoch == 200
    cross = row(t, "cross_topology")
    # one search run and the paper's 4-epoch baseline (Adult: 2 classes x 20)
    assert cross.trainings == 2 and cross.epochs == 10 + 4 and cross.images_per_epoch == 40
    mo = row(t, "mo_resnet")
    # search: the 4 initial genomes (one seed, shared by both alphas) + 2 alphas x 2 generations x N 4 offspring,
    # 3 epochs each; retraining: 2 alphas x 2 members x 3 seeds, 5 epochs each
    assert mo.trainings == (4 + 16) + 12 and mo.bound == "≤"
    assert mo.epochs == 20 * 3 + 12 * 5
    assert mo.images_per_epoch == 30


def test_every_notebook_gets_a_row_and_paper_costs_far_more_than_ci(root):
    params = root / "params"
    ci = E.estimate_table("ci", params, calibrate=fixed)
    paper = E.estimate_table("paper", params, calibrate=fixed)
    for t in (ci, paper):
        assert list(t.notebook) == list(EXPERIMENTS)
        assert not t.remark.str.startswith("estimate failed").any(), t.remark.tolist()
        trains = t[t.notebook != "cell_search"]  # cell_search looks its accuracies up in a table
        assert (trains.trainings > 0).all() and (trains.gpu_hours_assumed > 0).all()
    assert paper.image_epochs.sum() > 10_000 * ci.image_epochs.sum()
    assert paper.gpu_hours_assumed.sum() > 10_000 * ci.gpu_hours_assumed.sum()
    more = paper.epochs.values > ci.epochs.values  # notebook by notebook, in EXPERIMENTS' order
    assert more[(paper.notebook != "cell_search").values].all()
    assert len(pd.concat([ci, paper])) == 2 * len(EXPERIMENTS)  # attrs do not get in the way of pandas
    text = E.markdown(paper, parts=True)
    assert "20,000 images/s" in text and "≤ 3,602" in text  # the stated assumption; era_search's bound


def test_unknown_and_failing_notebooks_get_rows_not_crashes(tmp_path, monkeypatch, capsys):
    monkeypatch.setitem(EXPERIMENTS, "new_search", Experiment("new_search", "era", "new_search", "a new one"))
    write_params(tmp_path, "pooling_trials", {"dataset": "digits", "seeds": 1})

    def broken(p, ctx):
        raise RuntimeError("a renamed field")

    monkeypatch.setitem(E.COUNTERS, "era_final", broken)
    t = E.estimate_table("tiny", tmp_path, ["new_search", "era_final", "pooling_trials"], calibrate=fixed)
    assert row(t, "new_search").remark == "no estimate yet"
    assert row(t, "era_final").remark.startswith("estimate failed")
    assert row(t, "pooling_trials").trainings == 1 + 8  # the others are still estimated
    # a missing parameters file is a failed estimate too, and the command line says so with exit status 1
    monkeypatch.setattr(E, "measure", fixed)
    assert E.main(["--profile", "tiny", "--params-root", str(tmp_path), "era_search", "pooling_trials"]) == 1
    assert "error: era_search: estimate failed" in capsys.readouterr().err


def test_gpu_assumption_scales_by_flops_and_stops_at_the_step_floor():
    r20 = E.resnet20_flops()
    assert r20 == pytest.approx(81.6e6, rel=1e-3)
    assert E.gpu_images_per_s(r20, 128) == pytest.approx(E.GPU_RESNET20_IMAGES_PER_S)
    assert E.gpu_images_per_s(4 * r20, 128) == pytest.approx(E.GPU_RESNET20_IMAGES_PER_S / 4)
    assert E.gpu_images_per_s(r20 / 1000, 32) == pytest.approx(32 / E.GPU_MIN_STEP_S)


def test_forward_flops_counts_by_hand_and_agrees_with_the_era_formula():
    from resnas.search.ectonas import start_genome
    from resnas.spaces.era import SPACE, EraConfig, EraNet
    from resnas.spaces.sequential import build

    # medium_cnn on 1x28x28: conv 1->3 (28x28), pool, conv 3->6 (14x14), pool, 6x7x7 -> 10 -> 10 -> 10 classes;
    # 2 FLOPs per multiply-add
    by_hand = 2 * (28 * 28 * 3 * 9 * 1 + 14 * 14 * 6 * 9 * 3 + 294 * 10 + 10 * 10 + 10 * 10)
    assert E.forward_flops(build(start_genome("medium_cnn", 1, 28, 10)), (1, 28, 28)) == by_hand
    cfg = EraConfig("bottleneck", (0, 1, 2, 1), 8, 2, 4).canonical()
    assert E.forward_flops(EraNet(cfg, 1, 10), (1, 28, 28)) == SPACE.count_flops(cfg, (28, 28), 1, 10)


def test_measure_times_a_real_training_step():
    probe = E._start_probe("small_ffnn", "digits", 16)
    seconds = E.measure(probe, target_s=0.01, max_steps=3)
    assert 0 < seconds < 1 and math.isfinite(seconds)
