"""`make bench`: three figures, each measured side by side in one run on one device.

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

    python -m resnas.bench [--dataset fashion_mnist] [--train-per-class 100] [--epochs 2] [--k 2] [--sample 4]
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import time
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


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="python -m resnas.bench", description=__doc__.splitlines()[0])
    ap.add_argument("--dataset", default="fashion_mnist", choices=data_mod.DATASETS)
    ap.add_argument("--train-per-class", type=int, default=100)
    ap.add_argument("--epochs", type=int, default=2)
    ap.add_argument("--config", default=None, help="ERA configuration JSON (default: ResNet-20)")
    ap.add_argument("--workers", type=int, default=None, help="DataLoader workers of the baseline")
    ap.add_argument("--device", default="auto")
    ap.add_argument("--k", type=int, default=2, help="candidates trained at once in figure 2")
    ap.add_argument("--sample", type=int, default=4, help="sampled candidates behind figure 3's projection")
    ap.add_argument("--out", default="results/bench")
    a = ap.parse_args(argv)
    row = run(a.dataset, a.train_per_class, a.epochs, a.config, workers=a.workers, device=a.device)
    Path(a.out).mkdir(parents=True, exist_ok=True)
    Path(a.out, "engine_vs_dataloader.json").write_text(json.dumps(row, indent=1))
    print(f"device: {row['device']}   model: {row['model']} ({row['params']:,} params)   "
          f"data: {row['dataset']} {row['train_images']} images x {row['epochs']} epochs")
    print(f"{'pipeline':<28}{'images/s':>12}{'val acc':>10}")
    print(f"{'engine (resnas.train)':<28}{row['engine_images_per_s']:>12.0f}{row['engine_val_acc']:>10.3f}")
    print(f"{'DataLoader + fp32 baseline':<28}{row['baseline_images_per_s']:>12.0f}{row['baseline_val_acc']:>10.3f}")
    print(f"(1) one candidate, engine / baseline: {row['speedup']:.2f}x")
    con = concurrency(a.k, a.dataset, a.train_per_class, a.epochs, a.device)
    Path(a.out, "concurrency.json").write_text(json.dumps(con, indent=1))
    print(f"(2) {con['k']} candidates: one after another {con['sequential_s']:.1f} s, at once "
          f"{con['concurrent_s']:.1f} s (mean val acc {con['sequential_mean_acc']:.3f} / "
          f"{con['concurrent_mean_acc']:.3f}): {con['packing_speedup']:.2f}x")
    proj = projected_search(a.sample, device=a.device, packing=max(1.0, con["packing_speedup"]))
    proj["device"] = row["device"]
    Path(a.out, "projected_search.json").write_text(json.dumps(proj, indent=1))
    print(f"(3) paper-profile ERA search (200 x 20 epochs x 45,000 CIFAR images), from {proj['sample']} sampled "
          f"candidates: {proj['projected_hours_sequential']:.0f} h one at a time, "
          f"{proj['projected_hours_packed']:.0f} h packed, on {row['device']} (thesis: ~80 GPU-hours)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
