"""`make bench`: six figures, each measured side by side in one run on one device.

1. One candidate: the engine against the thesis-style pipeline. Both train the same network (same initial
   weights) on the same images for the same epochs and report images per second and final validation
   accuracy, so speed is never bought with accuracy unseen. The baseline is what the thesis-era code did: a
   Dataset that hands out PIL images through torchvision transforms, a DataLoader with worker processes, fp32
   throughout, batch 128.
2. K candidates at once against the same K one after another, through the evaluator: 'process' backend with
   K workers (each its own process on the same device, one torch thread each on a CPU) against 'inprocess'.
   Process start-up and data loading are inside the timed span.
3. The projected time of the paper-profile ERA search (200 candidates x 20 epochs on CIFAR-10's 45,000
   training images, thesis §4.1): training throughput of a seeded sample of the thesis space's candidates,
   measured on CIFAR-shaped synthetic images on this device, scaled to the search, divided by the packing
   speed-up of (2). The thesis reports about 80 GPU-hours per search on GTX 1080 Ti cards.
4. The CPU engine per ERA family (plain, grouped, depthwise 3x3 convolutions; basic vs bottleneck blocks; 28 vs
   14 px Fashion-MNIST): the engine's two CPU precisions, fp32 (contiguous layout: `TrainRecipe(precision=
   'fp32')`, and 'auto' on a CPU without bf16 hardware) and bf16 (autocast + channels_last: 'auto' where the
   CPU has bf16 hardware, detected), beside fp32 + channels_last, each a short training from the same initial
   weights: images/s and final validation accuracy side by side, then per family the two precisions' accuracies
   and their difference. Without bf16 hardware the bf16 rows appear only with --force-bf16 (emulated: their
   accuracy is bf16's, their speed says nothing about bf16 hardware).
5. One run alone against two at once, each its own process (a notebook beside `make reproduce`), under torch's
   defaults (idle OpenMP threads spin), resnas's (they sleep: resnas.threads) and one thread per process; and
   with the process backend's workers. Two at once on a busy machine should take about twice one run.
6. The cell spaces on the CPU: PyTorch's 3x3 pools against the cells' pooling modules
   (`resnas.spaces.cell_networks`: the same function), milliseconds per call forward and forward + backward, and
   one GENAS supernet training step (nb201_small, batch 64, 28 px; a single path and the relaxed mixture of every
   operation) in the default layout against channels_last, the supernet's (`resnas.supernet`).

    python -m resnas.bench [--dataset fashion_mnist] [--train-per-class 100] [--epochs 2] [--k 2] [--sample 4]
                           [--figures 1,2,3,4,5,6] [--force-bf16]
"""
from __future__ import annotations

import argparse
import dataclasses
import json
import os
import platform
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from resnas import data as data_mod
from resnas.train import TrainRecipe, pick_device, train


class PilDataset(torch.utils.data.Dataset):
    """A torchvision-style dataset over the bundle's arrays: PIL image -> transforms, one image at a time."""

    def __init__(self, x: torch.Tensor, y: torch.Tensor, transform):
        self.x, self.y, self.transform = x.numpy(), y.numpy(), transform

    def __len__(self):
        return len(self.y)

    def __getitem__(self, i):
        from PIL import Image

        img = self.x[i]
        img = Image.fromarray(img[0] if img.shape[0] == 1 else img.transpose(1, 2, 0))
        return self.transform(img), int(self.y[i])


def baseline_train(model, bundle, epochs: int, batch_size: int, lr: float, device: torch.device,
                   workers: int, seed: int) -> dict:
    """The thesis-style pipeline: DataLoader + torchvision transforms + fp32, SGD as in the engine."""
    import torchvision.transforms as T

    norm = T.Normalize(bundle.mean, bundle.std)
    aug = [T.RandomCrop(bundle.input_shape[1], padding=4), T.RandomHorizontalFlip()] if bundle.augment else []
    train_ds = PilDataset(bundle.x_train, bundle.y_train, T.Compose([*aug, T.ToTensor(), norm]))
    val_ds = PilDataset(bundle.x_eval, bundle.y_eval, T.Compose([T.ToTensor(), norm]))
    g = torch.Generator().manual_seed(seed)
    loader = torch.utils.data.DataLoader(train_ds, batch_size=batch_size, shuffle=True, num_workers=workers,
                                         generator=g, pin_memory=device.type == "cuda",
                                         persistent_workers=workers > 0)
    val_loader = torch.utils.data.DataLoader(val_ds, batch_size=1024, num_workers=workers)
    model = model.to(device)
    opt = torch.optim.SGD(model.parameters(), lr=lr, momentum=0.9, weight_decay=1e-4)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=epochs)
    start = time.perf_counter()
    for _ in range(epochs):
        model.train()
        for xb, yb in loader:
            xb, yb = xb.to(device, non_blocking=True), yb.to(device, non_blocking=True)
            loss = F.cross_entropy(model(xb), yb)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
        sched.step()
    model.eval()
    correct = 0
    with torch.no_grad():
        for xb, yb in val_loader:
            correct += (model(xb.to(device)).argmax(1).cpu() == yb).sum().item()
    return {"seconds": time.perf_counter() - start, "val_acc": correct / len(val_ds)}


def device_name(device: torch.device) -> str:
    if device.type == "cuda":
        return torch.cuda.get_device_name(device)
    return f"CPU ({platform.processor() or platform.machine()}, {torch.get_num_threads()} threads)"


def run(dataset: str = "fashion_mnist", train_per_class: int | None = 100, epochs: int = 2,
        config: str | None = None, batch_size: int = 128, lr: float = 0.05, workers: int | None = None,
        device: str = "auto", seed: int = 0) -> dict:
    from resnas.spaces.era import EraConfig, SPACE

    dev = pick_device(device)
    bundle = data_mod.load(name=dataset, train_per_class=train_per_class, val_per_class=100, seed=seed)
    cfg = EraConfig.from_json(config) if config else EraConfig("basic", (0, 3, 3, 3), 16, 2, 32)  # ResNet-20
    workers = min(4, os.cpu_count() or 1) if workers is None else workers

    def fresh():
        torch.manual_seed(seed)
        return SPACE.build(cfg, bundle.input_shape[0], bundle.num_classes)

    images = epochs * len(bundle.y_train)
    # Both pipelines validate once, after the last epoch, inside the timed span.
    recipe = TrainRecipe(epochs=epochs, batch_size=batch_size, lr=lr, schedule="cosine", eval_every=epochs)
    train(fresh(), bundle, TrainRecipe(epochs=1, batch_size=batch_size), seed=seed, device=device)  # warm-up
    engine = train(fresh(), bundle, recipe, seed=seed, device=device)
    base = baseline_train(fresh(), bundle, epochs, batch_size, lr, dev, workers, seed)
    row = {
        "device": device_name(dev), "dataset": dataset, "train_images": len(bundle.y_train), "epochs": epochs,
        "model": str(cfg), "params": engine.params,
        "engine_images_per_s": images / engine.wall_time, "engine_val_acc": engine.final_val_acc,
        "baseline_images_per_s": images / base["seconds"], "baseline_val_acc": base["val_acc"],
        "baseline_workers": workers, "torch": torch.__version__,
    }
    row["speedup"] = row["engine_images_per_s"] / row["baseline_images_per_s"]
    return row


def concurrency(k: int = 2, dataset: str = "fashion_mnist", train_per_class: int = 100, epochs: int = 2,
                device: str = "auto", seed: int = 0) -> dict:
    """Wall time of K distinct small candidates trained one after another against all at once."""
    import tempfile

    from resnas.evaluate import Evaluator
    from resnas.spaces.era import EraConfig

    spec = data_mod.DataSpec(name=dataset, train_per_class=train_per_class, val_per_class=100, seed=seed)
    recipe = TrainRecipe(epochs=epochs, batch_size=128, lr=0.05, schedule="cosine", eval_every=epochs)
    items = [("era", EraConfig("basic", (0, 1 + i % 3, 1 + i % 3, 1 + i % 3), 8 * (1 + i // 3), 2, 32))
             for i in range(k)]
    times = {}
    with tempfile.TemporaryDirectory() as tmp:
        Evaluator(f"{tmp}/warm.sqlite", spec, recipe.replace(epochs=1), seed, device=device,
                  progress=False).map(items[:1])  # data decoded and cached before either timing
        for backend, workers in (("inprocess", 1), ("process", k)):
            ev = Evaluator(f"{tmp}/{backend}.sqlite", spec, recipe, seed, backend=backend, workers=workers,
                           device=device, progress=False)
            start = time.perf_counter()
            recs = ev.map(items)
            times[backend] = time.perf_counter() - start
            times[f"{backend}_acc"] = float(np.mean([r.final_val_acc for r in recs]))
            ev.close()
    return {"k": k, "sequential_s": times["inprocess"], "concurrent_s": times["process"],
            "sequential_mean_acc": times["inprocess_acc"], "concurrent_mean_acc": times["process_acc"],
            "packing_speedup": times["inprocess"] / times["process"]}


def synthetic_cifar(n: int = 512, seed: int = 0) -> data_mod.Bundle:
    """CIFAR-shaped random images (3x32x32 uint8, 10 classes): throughput only, accuracy is meaningless."""
    g = torch.Generator().manual_seed(seed)
    x = torch.randint(0, 256, (n, 3, 32, 32), dtype=torch.uint8, generator=g)
    y = torch.randint(0, 10, (n,), generator=g)
    return data_mod.Bundle(name="synthetic_cifar", x_train=x, y_train=y, x_eval=x[:128], y_eval=y[:128],
                           classes=tuple(map(str, range(10))), mean=(0.5,) * 3, std=(0.29,) * 3, augment=True,
                           spec=data_mod.DataSpec(name="cifar10"))


def projected_search(sample: int = 4, images: int = 512, device: str = "auto", seed: int = 0,
                     packing: float = 1.0, candidates: int = 200, epochs: int = 20,
                     train_images: int = 45_000) -> dict:
    """Projected hours of the paper-profile ERA search from the measured throughput of sampled candidates."""
    from resnas.spaces.era import SPACE

    rng = np.random.default_rng(seed)
    bundle = synthetic_cifar(images, seed)
    recipe = TrainRecipe(epochs=1, batch_size=128, lr=0.05, schedule="constant")
    train(SPACE.build(SPACE.sample(rng)), bundle, recipe, seed=seed, device=device)  # warm-up (cudnn, allocator)
    per_image = []
    for _ in range(sample):
        cfg = SPACE.sample(rng)
        torch.manual_seed(seed)
        res = train(SPACE.build(cfg), bundle, recipe, seed=seed, device=device)
        per_image.append(res.wall_time / images)
    seconds = float(np.mean(per_image)) * train_images * epochs * candidates
    return {"sample": sample, "mean_seconds_per_image": float(np.mean(per_image)),
            "projected_hours_sequential": seconds / 3600, "projected_hours_packed": seconds / 3600 / packing,
            "thesis_gpu_hours": 80.0}


# ---------------------------------------------------------------------------------------------- (4) CPU engine
# Families of the ERA space whose kernels differ on a CPU. 'plain': ordinary 3x3 convolutions (the group size
# clamps to the filter count); 'grouped': 4 channels per group; 'depthwise': one channel per group.
CONV_GROUP = {"plain": 64, "grouped": 4, "depthwise": 1}
FAMILY_DEPTHS = (0, 2, 2, 2)  # 14 layers as basic blocks, 20 as bottlenecks: the 8- to 20-layer range
FAMILY_FILTERS = 16


@dataclass(frozen=True)
class Family:
    block: str  # 'basic' or 'bottleneck'
    conv: str  # a key of CONV_GROUP
    px: int  # 28 (Fashion-MNIST as is) or 14 (average-pooled 2x2)

    def config(self):
        from resnas.spaces.era import EraConfig

        return EraConfig(self.block, FAMILY_DEPTHS, FAMILY_FILTERS, 2, CONV_GROUP[self.conv])

    def __str__(self) -> str:
        return f"{self.block} {self.conv} {self.px}px"


FAMILIES = tuple(Family(b, c, px) for px in (28, 14) for b in ("basic", "bottleneck") for c in CONV_GROUP)


@dataclass(frozen=True)
class CpuSetting:
    """How the CPU trains: bf16 autocast (weights and optimiser stay fp32, as on CUDA), memory layout, threads
    (None: torch's default, one per core)."""

    bf16: bool = False
    channels_last: bool = False
    threads: int | None = None
    fp32_depthwise: bool = False  # under bf16: depthwise convolutions stay fp32 (resnas.train.fp32_depthwise)

    def __str__(self) -> str:
        parts = ["bf16" if self.bf16 else "fp32"] + (["channels_last"] if self.channels_last else [])
        dw = ", depthwise fp32" if self.bf16 and self.fp32_depthwise else ""
        return " + ".join(parts) + dw + ("" if self.threads is None else f", {self.threads} thread(s)")


def pooled(bundle: data_mod.Bundle, factor: int) -> data_mod.Bundle:
    """The bundle with its images average-pooled by `factor` (rounded back to uint8): 28 px -> 14 px."""
    if factor == 1:
        return bundle

    def pool(x: torch.Tensor) -> torch.Tensor:
        return F.avg_pool2d(x.float(), factor).round().to(torch.uint8)

    return dataclasses.replace(bundle, x_train=pool(bundle.x_train), x_eval=pool(bundle.x_eval))


def _threads(n: int | None):
    """Context: torch's intra-op thread count set to n (None: unchanged) and restored afterwards."""
    import contextlib

    @contextlib.contextmanager
    def ctx():
        before = torch.get_num_threads()
        if n is not None:
            torch.set_num_threads(n)
        try:
            yield
        finally:
            torch.set_num_threads(before)

    return ctx()


def fit_cpu(model, bundle: data_mod.Bundle, recipe: TrainRecipe, setting: CpuSetting, seed: int = 0) -> dict:
    """The engine's CPU loop (resnas.train._train without augmentation, history and failure handling) with
    `setting`'s levers, so a lever's effect is measured on the same work. Returns seconds (training and the one
    validation at the end) and the final validation accuracy."""
    from resnas.train import _DeviceData, _scheduler, evaluate_model, fp32_depthwise

    dev = torch.device("cpu")
    fmt = torch.channels_last if setting.channels_last else torch.contiguous_format
    with _threads(setting.threads), fp32_depthwise(model, setting.bf16 and setting.fp32_depthwise):
        start = time.perf_counter()
        model = model.to(dev, memory_format=fmt)
        data = _DeviceData.get(bundle, dev)
        gen = torch.Generator(device=dev).manual_seed(seed)
        opt = torch.optim.SGD(model.parameters(), lr=recipe.lr, momentum=recipe.momentum,
                              weight_decay=recipe.weight_decay)
        sched = _scheduler(opt, recipe)
        n = len(data.y_train)
        for _ in range(recipe.epochs):
            model.train()
            perm = torch.randperm(n, device=dev, generator=gen)
            for i in range(0, n, recipe.batch_size):
                idx = perm[i:i + recipe.batch_size]
                xb = data.norm(data.x_train[idx]).contiguous(memory_format=fmt)
                with torch.autocast("cpu", dtype=torch.bfloat16, enabled=setting.bf16):
                    out = model(xb)
                loss = F.cross_entropy(out.float(), data.y_train[idx])
                opt.zero_grad(set_to_none=True)
                loss.backward()
                opt.step()
            sched.step()
        _, acc = evaluate_model(model, data, recipe.eval_batch_size, setting.bf16)
        return {"seconds": time.perf_counter() - start, "val_acc": acc}


def images_per_s(model, bundle: data_mod.Bundle, setting: CpuSetting, batch_size: int = 128, steps: int = 8,
                 repeats: int = 3) -> float:
    """Training throughput (forward, backward, SGD step) of `model` under `setting`: the best of `repeats` timed
    runs of `steps` batches after one warm-up batch (the best, because other load on the machine only slows)."""
    fmt = torch.channels_last if setting.channels_last else torch.contiguous_format
    x = ((bundle.x_train[:batch_size].float() - 128) / 64).contiguous(memory_format=fmt)
    y = bundle.y_train[:batch_size]
    model = model.to(memory_format=fmt).train()
    opt = torch.optim.SGD(model.parameters(), lr=1e-3, momentum=0.9)

    def step():
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=setting.bf16):
            out = model(x)
        loss = F.cross_entropy(out.float(), y)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()

    from resnas.train import fp32_depthwise

    best = 0.0
    with _threads(setting.threads), fp32_depthwise(model, setting.bf16 and setting.fp32_depthwise):
        step()
        for _ in range(repeats):
            start = time.perf_counter()
            for _ in range(steps):
                step()
            best = max(best, steps * len(y) / (time.perf_counter() - start))
    return best


# The engine's two CPU paths (resnas.train: precision 'fp32' and 'bf16'), as fit_cpu levers.
ENGINE_FP32 = CpuSetting()
ENGINE_BF16 = CpuSetting(bf16=True, channels_last=True)  # plain autocast, depthwise convolutions too
BF16_DW_FP32 = CpuSetting(bf16=True, channels_last=True, fp32_depthwise=True)  # a lever the engine does not use


def tuned_cpu_settings(bf16_capable: bool) -> tuple[CpuSetting, ...]:
    """The CPU settings figure 4 sets against the engine's fp32: channels_last, and where the CPU has bf16
    hardware (detected, never assumed) or the caller forces it, the engine's bf16 (autocast + channels_last) and
    the same with depthwise convolutions kept fp32 (only in depthwise families; measured on bf16 hardware, it
    would say whether that lever buys speed there). Measured per family on 2 cores with avx512_bf16 (README):
    channels_last never lost; bf16 + channels_last beat the engine's fp32 in every family, by least for basic
    depthwise networks (where fp32 + channels_last was faster still)."""
    fp32 = CpuSetting(channels_last=True)
    return (fp32, ENGINE_BF16, BF16_DW_FP32) if bf16_capable else (fp32,)


def effective(setting: CpuSetting, model) -> CpuSetting:
    """`setting` as it acts on `model`: keeping depthwise convolutions fp32 changes nothing without them."""
    from resnas.train import is_depthwise

    if setting.fp32_depthwise and not (setting.bf16 and any(is_depthwise(m) for m in model.modules())):
        return dataclasses.replace(setting, fp32_depthwise=False)
    return setting


def engine_precision(setting: CpuSetting, model=None) -> str | None:
    """'fp32' or 'bf16' when `setting` is what resnas.train does on a CPU in that precision (for `model`: the
    depthwise lever changes nothing without depthwise convolutions), else None."""
    plain = dataclasses.replace(setting, threads=None)
    if model is not None:
        plain = effective(plain, model)
        return {ENGINE_FP32: "fp32", effective(ENGINE_BF16, model): "bf16"}.get(plain)
    return {ENGINE_FP32: "fp32", ENGINE_BF16: "bf16"}.get(plain)


def cpu_engine_families(families=FAMILIES, train_images: int = 2000, val_images: int = 1000, epochs: int = 2,
                        seed: int = 0, settings: tuple[CpuSetting, ...] | None = None,
                        force_bf16: bool = False) -> list[dict]:
    """Figure 4: per family, the CPU engine in fp32 (contiguous layout, one thread per core) against each tuned
    setting, every one a short training from the same initial weights on a class-balanced Fashion-MNIST subset:
    images/s over the whole training (its one validation at the end included) and the final validation accuracy
    beside it. All run through `fit_cpu`, whose fp32 contiguous and bf16 + channels_last runs give the engine's
    own numbers to the last digit (tests/test_precision.py), so only the levers differ; each setting gets one
    untimed warm-up batch first (oneDNN builds its kernels per shape). One row per family and setting; `engine`
    names the precision whose engine path the row is. `force_bf16` adds the bf16 row without bf16 hardware."""
    from resnas.spaces.era import SPACE
    from resnas.threads import cpu_bf16

    bf16 = cpu_bf16()
    settings = (ENGINE_FP32,) + (settings or tuned_cpu_settings(bf16 is not None or force_bf16))
    base = data_mod.load(name="fashion_mnist", train_per_class=train_images // 10, val_per_class=val_images // 10,
                         seed=seed)
    recipe = TrainRecipe(epochs=epochs, batch_size=128, lr=0.05, schedule="cosine", eval_every=epochs,
                         augment="none")
    rows = []
    for fam in families:
        bundle = pooled(base, 28 // fam.px)
        cfg = fam.config()

        def fresh():
            torch.manual_seed(seed)
            return SPACE.build(cfg, bundle.input_shape[0], bundle.num_classes)

        images = epochs * len(bundle.y_train)
        today = None
        probe = fresh()
        done = set()
        for setting in settings:
            setting = effective(setting, probe)
            if setting in done:  # the same computation on this network (no depthwise convolution to keep fp32)
                continue
            done.add(setting)
            images_per_s(fresh(), bundle, setting, steps=1, repeats=1)  # warm-up
            res = fit_cpu(fresh(), bundle, recipe, setting, seed)
            row = {"family": str(fam), "model": str(cfg), "cpu_bf16": bf16, "threads": torch.get_num_threads(),
                   "setting": str(setting), "engine": engine_precision(setting, probe),
                   "emulated_bf16": setting.bf16 and bf16 is None,
                   "images_per_s": images / res["seconds"], "val_acc": res["val_acc"]}
            today = today or row
            row["speedup"] = row["images_per_s"] / today["images_per_s"]
            rows.append(row)
    return rows


# ---------------------------------------------------------------------------------------------- (5) two runs
# Wait and thread policies compared by figure 5. Each child starts from this environment with every thread and
# wait setting removed, then gets the policy's own variables; `import resnas` in the child then adds its
# defaults where none is set. 'torch defaults' sets libgomp's own default spin count explicitly, which stands
# for what torch does without resnas and, being a user's wait setting, keeps resnas from adding its own.
THREAD_VARS = ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OMP_WAIT_POLICY", "GOMP_SPINCOUNT", "KMP_BLOCKTIME")
RUN_POLICIES = {  # the first is figure 5's reference
    "resnas defaults (idle threads sleep)": {},
    "one thread per process": {"OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"},
    "torch defaults (idle threads spin)": {"GOMP_SPINCOUNT": "300000"},
}
# The ci era_search regime: tiny networks on digits, batch 64, where OpenMP barriers come every few microseconds.
RUN_CONFIGS = (("basic", (0, 1, 1, 1), 4, 2, 32), ("bottleneck", (0, 2, 1, 2), 2, 1, 1),
               ("basic", (0, 2, 2, 2), 1, 2, 32), ("basic", (0, 1, 1, 1), 8, 2, 4))


def one_run(backend: str = "inprocess", workers: int = 1, epochs: int = 2, seed: int = 0) -> dict:
    """One ci-sized search-like run in this process, as `python -m resnas.bench --one-run` executes it: the
    RUN_CONFIGS candidates evaluated through the evaluator (data loading, and for 'process' the workers'
    start-up, inside the timed span). Returns its wall time and the thread settings it ran with."""
    import tempfile

    from resnas.evaluate import Evaluator
    from resnas.spaces.era import EraConfig

    start = time.perf_counter()
    spec = data_mod.DataSpec(name="digits", val_size=0.2, seed=seed)
    recipe = TrainRecipe(epochs=epochs, batch_size=64, lr=0.05, schedule="constant")
    items = [("era", EraConfig(*c)) for c in RUN_CONFIGS]
    with tempfile.TemporaryDirectory() as tmp:
        ev = Evaluator(f"{tmp}/a.sqlite", spec, recipe, seed, backend=backend, workers=workers, device="cpu",
                       progress=False)
        recs = ev.map(items)
        ev.close()
    return {"seconds": time.perf_counter() - start, "threads": torch.get_num_threads(),
            "wait_policy": os.environ.get("OMP_WAIT_POLICY"), "backend": backend, "workers": workers,
            "mean_val_acc": float(np.mean([r.final_val_acc for r in recs]))}


def _run_children(n: int, env: dict, args: list[str], timeout: float) -> list[float]:
    """Start n `--one-run` children at once; their wall times (inf for one stopped at `timeout` seconds)."""
    import subprocess
    import sys

    cmd = [sys.executable, "-m", "resnas.bench", "--one-run", *args]
    start = time.perf_counter()
    procs = [subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, text=True) for _ in range(n)]
    seconds = []
    for p in procs:
        try:
            out, _ = p.communicate(timeout=max(1.0, timeout - (time.perf_counter() - start)))
        except subprocess.TimeoutExpired:
            p.kill()
            p.communicate()
            seconds.append(float("inf"))
            continue
        if p.returncode != 0:
            raise RuntimeError(f"{' '.join(cmd)} failed with exit status {p.returncode}")
        seconds.append(json.loads(out.strip().splitlines()[-1])["seconds"])
    return seconds


def two_runs(policies=tuple(RUN_POLICIES), backend: str = "inprocess", workers: int = 1, epochs: int = 2,
             stop_after: float = 3.0) -> list[dict]:
    """Figure 5: per policy, one run alone, then two identical runs started together, each a separate process
    (wall times from the process's own clock, torch import excluded). The first policy's run alone is the
    reference: two at once on a machine with no idle core should take about twice as long as it. A run (alone
    or in a pair) still going after `stop_after` x the reference + 10 s is stopped and reported as None."""
    base = {k: v for k, v in os.environ.items() if k not in THREAD_VARS}
    args = ["--backend", backend, "--workers", str(workers), "--epochs", str(epochs)]
    rows = []
    reference = None
    for name in policies:
        env = {**base, **RUN_POLICIES[name]}
        limit = 600.0 if reference is None else stop_after * reference + 10
        alone = _run_children(1, env, args, timeout=limit)[0]
        reference = alone if reference is None else reference
        limit = stop_after * reference + 10
        pair = _run_children(2, env, args, timeout=limit) if alone < float("inf") else [float("inf")] * 2
        finite = [t if t < float("inf") else None for t in (alone, *pair)]
        rows.append({"policy": name, "backend": backend, "workers": workers, "alone_s": finite[0],
                     "two_at_once_s": finite[1:], "stopped_after_s": limit if None in finite else None,
                     "reference_alone_s": reference,
                     "ratio_to_own_alone": None if None in finite else max(pair) / alone,
                     "ratio_to_reference": None if None in finite else max(pair) / reference})
    return rows


def _write_json(path: Path, obj) -> None:
    """Write atomically: a reader never sees half a file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(json.dumps(obj, indent=1))
    os.replace(tmp, path)


def _one_run_main(argv) -> int:
    """`python -m resnas.bench --one-run ...`: one child of figure 5; prints its result as one JSON line."""
    ap = argparse.ArgumentParser(prog="python -m resnas.bench --one-run")
    ap.add_argument("--backend", default="inprocess", choices=("inprocess", "process"))
    ap.add_argument("--workers", type=int, default=1)
    ap.add_argument("--epochs", type=int, default=2)
    a = ap.parse_args(argv)
    print(json.dumps(one_run(a.backend, a.workers, a.epochs)), flush=True)
    return 0


# ---------------------------------------------------------------------------------------------- (6) cell ops
POOL_SHAPES = ((128, 8, 28, 28), (64, 16, 14, 14), (64, 32, 7, 7))  # nb201_small's stages at fitness batch 128/64


def _ms(fn, repeats: int) -> float:
    fn()  # warm-up: oneDNN primitives
    t0 = time.perf_counter()
    for _ in range(repeats):
        fn()
    return 1e3 * (time.perf_counter() - t0) / repeats


def cell_pools(shapes=POOL_SHAPES, repeats: int = 30, seed: int = 0) -> list[dict]:
    """Figure 6, pools: ms per call of PyTorch's 3x3 pools (padding 1) and the cells' modules, forward and
    forward + backward, at one thread on the CPU, with the largest difference between their outputs."""
    from torch import nn

    from resnas.spaces.cell_networks import AvgPool3x3, MaxPool3x3

    rows = []
    with _threads(1):
        for shape in shapes:
            x = torch.randn(*shape, generator=torch.Generator().manual_seed(seed))
            for op, theirs, ours in (("avg_pool_3x3", nn.AvgPool2d(3, 1, 1, count_include_pad=False), AvgPool3x3(1)),
                                     ("max_pool_3x3", nn.MaxPool2d(3, 1, 1), MaxPool3x3(1))):
                for impl, module in (("torch.nn", theirs), ("resnas", ours)):
                    xr = x.clone().requires_grad_()

                    def both(module=module, xr=xr):
                        module(xr).sum().backward()

                    with torch.no_grad():
                        fwd = _ms(lambda module=module: module(x), repeats)
                    rows.append({"op": op, "shape": "x".join(map(str, shape)), "impl": impl, "forward_ms": fwd,
                                 "forward_backward_ms": _ms(both, repeats),
                                 "max_abs_diff": float((ours(x) - theirs(x)).abs().max())})
    return rows


def supernet_steps(repeats: int = 8, batch: int = 64, seed: int = 0) -> list[dict]:
    """Figure 6, supernet: ms per training step (forward, backward, SGD) of the GENAS default profile's supernet
    (nb201_small on 1x28x28), one path ('decoupled') and every operation ('relaxed'), in the default layout and
    in channels_last, at one thread, same initial weights."""
    import numpy as np

    from resnas.spaces import get_space
    from resnas.supernet import Supernet, relax

    space = get_space("nb201_small")
    gen = torch.Generator().manual_seed(seed)
    x, y = torch.randn(batch, 1, 28, 28, generator=gen), torch.randint(0, 10, (batch,), generator=gen)
    table = space.sample(np.random.default_rng(seed))
    rows = []
    with _threads(1):
        for channels_last in (False, True):
            torch.manual_seed(seed)
            net = Supernet(space, 1, 10, channels_last=channels_last)
            opt = torch.optim.SGD(net.parameters(), lr=0.01)
            r = relax(space, table, 0.0)
            for mode in ("decoupled", "relaxed"):
                def step(mode=mode):
                    out = net(x, table, mode) if mode == "decoupled" else net(x, None, "relaxed", r)
                    opt.zero_grad(set_to_none=True)
                    F.cross_entropy(out, y).backward()
                    opt.step()

                rows.append({"mode": mode, "layout": "channels_last" if channels_last else "default",
                             "step_ms": _ms(step, repeats)})
    return rows


def _seconds(x: float | None) -> str:
    return "stopped" if x is None else f"{x:.1f}"


def main(argv=None) -> int:
    import sys

    argv = sys.argv[1:] if argv is None else list(argv)
    if argv[:1] == ["--one-run"]:
        return _one_run_main(argv[1:])
    ap = argparse.ArgumentParser(prog="python -m resnas.bench", description=__doc__.splitlines()[0])
    ap.add_argument("--dataset", default="fashion_mnist", choices=data_mod.DATASETS)
    ap.add_argument("--train-per-class", type=int, default=100)
    ap.add_argument("--epochs", type=int, default=2)
    ap.add_argument("--config", default=None, help="ERA configuration JSON (default: ResNet-20)")
    ap.add_argument("--workers", type=int, default=None, help="DataLoader workers of the baseline")
    ap.add_argument("--device", default="auto")
    ap.add_argument("--k", type=int, default=2, help="candidates trained at once in figure 2")
    ap.add_argument("--sample", type=int, default=4, help="sampled candidates behind figure 3's projection")
    ap.add_argument("--figures", default="1,2,3,4,5,6", help="which figures to measure, e.g. '4,5'")
    ap.add_argument("--families", default=None,
                    help="figure 4: only the families whose name contains one of these comma-separated parts "
                         "(e.g. '14px' or 'basic depthwise 28px'); default: all")
    ap.add_argument("--force-bf16", action="store_true",
                    help="figure 4: measure bf16 on a CPU without bf16 hardware too (emulated; for its accuracy)")
    ap.add_argument("--out", default="results/bench")
    a = ap.parse_args(argv)
    try:
        figures = {int(f) for f in a.figures.split(",")}
    except ValueError:
        figures = set()
    if not figures or not figures <= {1, 2, 3, 4, 5, 6}:
        ap.error(f"--figures={a.figures!r}: allowed is a comma-separated subset of 1,2,3,4,5,6")
    out = Path(a.out)
    dev = device_name(pick_device(a.device))
    if 1 in figures:
        row = run(a.dataset, a.train_per_class, a.epochs, a.config, workers=a.workers, device=a.device)
        _write_json(out / "engine_vs_dataloader.json", row)
        print(f"device: {row['device']}   model: {row['model']} ({row['params']:,} params)   "
              f"data: {row['dataset']} {row['train_images']} images x {row['epochs']} epochs")
        print(f"{'pipeline':<28}{'images/s':>12}{'val acc':>10}")
        print(f"{'engine (resnas.train)':<28}{row['engine_images_per_s']:>12.0f}{row['engine_val_acc']:>10.3f}")
        print(f"{'DataLoader + fp32 baseline':<28}{row['baseline_images_per_s']:>12.0f}"
              f"{row['baseline_val_acc']:>10.3f}")
        print(f"(1) one candidate, engine / baseline: {row['speedup']:.2f}x")
    packing = 1.0
    if 2 in figures:
        con = concurrency(a.k, a.dataset, a.train_per_class, a.epochs, a.device)
        _write_json(out / "concurrency.json", con)
        packing = max(1.0, con["packing_speedup"])
        print(f"(2) {con['k']} candidates: one after another {con['sequential_s']:.1f} s, at once "
              f"{con['concurrent_s']:.1f} s (mean val acc {con['sequential_mean_acc']:.3f} / "
              f"{con['concurrent_mean_acc']:.3f}): {con['packing_speedup']:.2f}x")
    if 3 in figures:
        proj = projected_search(a.sample, device=a.device, packing=packing)
        proj["device"] = dev
        _write_json(out / "projected_search.json", proj)
        print(f"(3) paper-profile ERA search (200 x 20 epochs x 45,000 CIFAR images), from {proj['sample']} "
              f"sampled candidates: {proj['projected_hours_sequential']:.0f} h one at a time, "
              f"{proj['projected_hours_packed']:.0f} h packed, on {dev} (thesis: ~80 GPU-hours)")
    if 4 in figures:
        from resnas.train import resolve_precision

        chosen = FAMILIES if not a.families else tuple(
            f for f in FAMILIES if any(part.strip() in str(f) for part in a.families.split(",")))
        if not chosen:
            ap.error(f"--families={a.families!r} names no family; families: {', '.join(map(str, FAMILIES))}")
        fams = cpu_engine_families(chosen, force_bf16=a.force_bf16)
        _write_json(out / "cpu_engine_families.json", fams)
        hw = fams[0]["cpu_bf16"]
        print(f"(4) CPU engine fp32 vs tuned, per family (torch threads: {fams[0]['threads']}; CPU bf16 hardware: "
              f"{hw or 'none' + (', bf16 emulated' if a.force_bf16 else ', so no bf16 row')}; precision 'auto' "
              f"trains {resolve_precision('auto', 'cpu')} here); Fashion-MNIST subset, short training from "
              f"equal weights:")
        print(f"    {'family':<26}{'setting':<52}{'images/s':>10}{'speedup':>9}{'val acc':>9}")
        for r in fams:
            name = r["family"] if r["speedup"] == 1.0 and r["engine"] == "fp32" else ""
            label = r["setting"] + (f" (engine {r['engine']})" if r["engine"] else "")
            print(f"    {name:<26}{label:<52}{r['images_per_s']:>10.0f}{r['speedup']:>8.2f}x"
                  f"{r['val_acc']:>9.3f}")
        pairs = {}
        for r in fams:
            if r["engine"]:
                pairs.setdefault(r["family"], {})[r["engine"]] = r
        if any(len(p) == 2 for p in pairs.values()):
            print(f"    final validation accuracy, engine fp32 vs engine bf16"
                  f"{' (emulated)' if hw is None else ''}, per family:")
            print(f"    {'family':<26}{'fp32':>8}{'bf16':>8}{'bf16-fp32':>11}{'bf16 speedup':>14}")
            for fam, p in pairs.items():
                if len(p) == 2:
                    print(f"    {fam:<26}{p['fp32']['val_acc']:>8.3f}{p['bf16']['val_acc']:>8.3f}"
                          f"{p['bf16']['val_acc'] - p['fp32']['val_acc']:>+11.3f}{p['bf16']['speedup']:>13.2f}x")
    if 5 in figures:
        runs = two_runs() + two_runs(("resnas defaults (idle threads sleep)",), backend="process", workers=2)
        _write_json(out / "two_runs.json", runs)
        print("(5) one run alone vs two at once, each its own process (ci-sized ERA candidates on digits);\n"
              "    x: the pair's slower run over one run alone under resnas defaults, same backend (2 = fair share):")
        print(f"    {'policy':<38}{'backend':>12}{'alone s':>9}{'two at once s':>20}{'x':>8}")
        for r in runs:
            where = r["backend"] + (f" x{r['workers']}" if r["backend"] == "process" else "")
            alone, pair = _seconds(r["alone_s"]), " / ".join(map(_seconds, r["two_at_once_s"]))
            x = f"> {r['stopped_after_s'] / r['reference_alone_s']:.1f}" if r["stopped_after_s"] else \
                f"{r['ratio_to_reference']:.2f}"
            print(f"    {r['policy']:<38}{where:>12}{alone:>9}{pair:>20}{x:>8}")
        if any(r["stopped_after_s"] for r in runs):
            print("    (stopped: still running after 3 x the reference + 10 s)")
    if 6 in figures:
        pools, steps = cell_pools(), supernet_steps()
        _write_json(out / "cell_ops.json", {"pools": pools, "supernet_steps": steps})
        print("(6) cell spaces on the CPU, one thread: PyTorch's pools vs the cells' modules (ms per call), and a "
              "GENAS supernet step (nb201_small, batch 64, 28 px) per layout")
        print(f"    {'op':<14}{'shape':<14}{'impl':<10}{'forward':>9}{'fwd+bwd':>9}{'max |diff|':>12}")
        for r in pools:
            print(f"    {r['op']:<14}{r['shape']:<14}{r['impl']:<10}{r['forward_ms']:>9.2f}"
                  f"{r['forward_backward_ms']:>9.2f}{r['max_abs_diff']:>12.1e}")
        print(f"    {'supernet mode':<14}{'layout':<24}{'ms per step':>12}")
        for r in steps:
            print(f"    {r['mode']:<14}{r['layout']:<24}{r['step_ms']:>12.1f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
