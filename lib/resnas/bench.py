"""`make bench`: the engine's throughput against a plain torchvision DataLoader + fp32 pipeline.

Both train the same network (same initial weights) on the same images for the same epochs and report
images per second and final validation accuracy, so speed is never bought with accuracy unseen. The
baseline is what the thesis-era code did: a Dataset that hands out PIL images through torchvision transforms,
a DataLoader with worker processes, fp32 throughout, batch 128.

    python -m resnas.bench [--dataset fashion_mnist] [--train-per-class 100] [--epochs 2] [--out results/bench]
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


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="python -m resnas.bench", description=__doc__.splitlines()[0])
    ap.add_argument("--dataset", default="fashion_mnist", choices=data_mod.DATASETS)
    ap.add_argument("--train-per-class", type=int, default=100)
    ap.add_argument("--epochs", type=int, default=2)
    ap.add_argument("--config", default=None, help="ERA configuration JSON (default: ResNet-20)")
    ap.add_argument("--workers", type=int, default=None, help="DataLoader workers of the baseline")
    ap.add_argument("--device", default="auto")
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
    print(f"speed-up (engine / baseline): {row['speedup']:.2f}x")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
