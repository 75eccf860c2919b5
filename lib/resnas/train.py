"""The training engine: one function, `train(model, bundle, recipe, seed)`.

Speed comes from doing less, not from cleverness (airbench's lesson): the whole data set lives on the device as
uint8, batches are drawn by index, augmentation (pad-4 random crop + horizontal flip) runs on the device on
whole batches, and the forward pass runs under bf16 autocast in channels_last layout on CUDA and on a CPU with
bf16 hardware (`TrainRecipe.precision`, 'auto' by default; 'fp32' keeps everything in fp32 and the default
layout, as the engine trained on every CPU before). There are no DataLoader workers. On the CPU a seed gives
bit-identical numbers run to run, in fp32 and in bf16 alike; a bf16 run is not bit-identical to an fp32 one.

A candidate that fails on its own account (non-finite loss, out of memory, more parameters than the recipe
allows) comes back as a `TrainResult` with status 'failed' and the reason. Any other exception is a bug or a
broken environment, not a property of the candidate: it is raised (`failure_kind` draws the line).
"""
from __future__ import annotations

import contextlib
import copy
import json
import math
import time
from dataclasses import asdict, dataclass, field

import torch
import torch.nn.functional as F
from torch import nn

from resnas.data import Bundle
from resnas.runlog import log_event

SCHEDULES = ("era_search", "step", "cosine", "plateau", "constant")
PRECISIONS = ("auto", "fp32", "bf16")


@dataclass(frozen=True)
class TrainRecipe:
    """How to train: part of every evaluation's archive key.

    schedule: 'era_search' (lr, then lr/10 for the last `low_lr_epochs`; thesis §4.1), 'step' (lr x gamma at
    each fraction of `milestones`; ERA final: 164 epochs, /10 at 50% and 75%), 'cosine' (annealing to 0),
    'plateau' (x plateau_factor when validation loss has not improved for plateau_patience epochs; MO-ResNet),
    'constant'. Milestone m moves the rate after floor(m x epochs) epochs: 164 epochs at (0.5, 0.75) drop at the
    start of epochs 83 and 124 (1-based), as the thesis's A.3 does.

    precision: 'auto' (bf16 autocast on CUDA, and on a CPU whose bf16 hardware `resnas.threads.cpu_bf16()`
    detects; fp32 elsewhere), 'fp32' (fp32 throughout, the default layout on the CPU: bit-identical to the
    engine before the option existed) or 'bf16' (autocast wherever asked, emulated and slow on a CPU without bf16
    hardware). Weights, gradients, the optimiser and the loss stay fp32 under autocast. The evaluator keys and
    records the precision a recipe resolves to (`resolved`), never 'auto'.
    """

    epochs: int = 20
    batch_size: int = 128
    lr: float = 0.1
    momentum: float = 0.9
    nesterov: bool = False
    weight_decay: float = 1e-4
    schedule: str = "era_search"
    low_lr_epochs: int = 3
    milestones: tuple[float, ...] = (0.5, 0.75)
    gamma: float = 0.1
    plateau_patience: int = 8
    plateau_factor: float = 0.5
    augment: str = "auto"  # 'auto' (crop+flip for natural images), 'crop_flip', 'none'
    max_params: int | None = None
    eval_every: int = 1  # validate after every k-th epoch and after the last; the curve has those epochs
    eval_batch_size: int = 1024
    precision: str = "auto"  # 'auto', 'fp32', 'bf16': see the docstring

    def __post_init__(self):
        if self.schedule not in SCHEDULES:
            raise ValueError(f"schedule={self.schedule!r} is unknown; allowed: {', '.join(SCHEDULES)}")
        if self.augment not in ("auto", "crop_flip", "none"):
            raise ValueError(f"augment={self.augment!r} is not allowed; allowed: 'auto', 'crop_flip', 'none'")
        if self.precision not in PRECISIONS:
            raise ValueError(f"precision={self.precision!r} is not allowed; allowed: "
                             f"{', '.join(map(repr, PRECISIONS))}")
        if self.epochs < 1 or self.batch_size < 1:
            raise ValueError(f"epochs={self.epochs} and batch_size={self.batch_size} must be >= 1")
        if not self.lr > 0:
            raise ValueError(f"lr={self.lr} must be > 0")
        if self.eval_every < 1 or (self.schedule == "plateau" and self.eval_every != 1):
            raise ValueError(f"eval_every={self.eval_every} must be >= 1, and 1 with schedule='plateau' "
                             "(it reads the validation loss every epoch)")
        object.__setattr__(self, "milestones", tuple(float(m) for m in self.milestones))

    def replace(self, **changes) -> "TrainRecipe":
        return TrainRecipe(**{**asdict(self), **changes})

    def resolved(self, device: str | torch.device = "auto") -> "TrainRecipe":
        """This recipe with 'auto' precision replaced by what it means on `device` of this machine."""
        return self if self.precision != "auto" else self.replace(precision=resolve_precision("auto", device))

    def identity(self) -> dict:
        """The recipe as archive keys and table identities hash it: every field, except that an fp32 precision
        is left out, so a key made before the field existed (every CPU training then was fp32) still matches.
        Resolve 'auto' first (`resolved`): an 'auto' key would mean bf16 on one machine and fp32 on another."""
        d = asdict(self)
        if d["precision"] == "fp32":
            del d["precision"]
        return d


def resolve_precision(precision: str, device: str | torch.device = "auto") -> str:
    """'fp32' or 'bf16': what `precision` means on `device` ('auto': CUDA, and a CPU whose bf16 hardware is
    detected, get bf16; anything else fp32)."""
    if precision not in PRECISIONS:
        raise ValueError(f"precision={precision!r} is not allowed; allowed: {', '.join(map(repr, PRECISIONS))}")
    if precision != "auto":
        return precision
    dev = device if isinstance(device, torch.device) else pick_device(device)
    if dev.type == "cuda":
        return "bf16"
    if dev.type == "cpu":
        from resnas import threads  # looked up at call time, so tests can stand in for the detection

        return "bf16" if threads.cpu_bf16() is not None else "fp32"
    return "fp32"


@dataclass(frozen=True)
class TrainResult:
    """What one training produced. `history` has one dict per epoch: epoch, lr, train_loss, train_acc,
    val_loss, val_acc, seconds (cumulative wall time). Accuracies are fractions in [0, 1]."""

    status: str  # 'ok' or 'failed'
    reason: str = ""
    history: tuple[dict, ...] = ()
    params: int = 0
    flops: int = 0
    wall_time: float = 0.0
    device: str = "cpu"
    extra: dict = field(default_factory=dict)
    precision: str = "fp32"  # what the training ran in: 'fp32' or 'bf16' (autocast)

    @property
    def final_val_acc(self) -> float:
        return self.history[-1]["val_acc"] if self.history else float("nan")

    @property
    def best_val_acc(self) -> float:
        return max((h["val_acc"] for h in self.history), default=float("nan"))

    @property
    def best_epoch(self) -> int:
        return max(self.history, key=lambda h: h["val_acc"])["epoch"] if self.history else -1

    def to_dict(self) -> dict:
        d = asdict(self)
        d.update(final_val_acc=self.final_val_acc, best_val_acc=self.best_val_acc, best_epoch=self.best_epoch)
        return d


# ---------------------------------------------------------------------------------------------- failures
FAILURE_STAGES = ("build", "train")


def failure_kind(exc: BaseException, stage: str) -> str:
    """How an exception raised while building ('build') or training ('train') one candidate counts.

    'candidate'      the space forbids the configuration (a ValueError from building it): a failed record, for good
    'out_of_memory'  the candidate's failure when it ran alone on its device, so a failed record; beside other
                     jobs it may be theirs, and the evaluator retries it alone first
    'error'          anything else (TypeError, KeyError, a CUDA error that is not memory, a JSON that does not
                     parse, a ValueError while training ...): a bug or a broken environment, never the
                     candidate's fault, so it is raised and nothing is cached

    A non-finite loss and too many parameters are not exceptions: `train` reports those itself."""
    if stage not in FAILURE_STAGES:
        raise ValueError(f"stage={stage!r} is unknown; allowed: {', '.join(map(repr, FAILURE_STAGES))}")
    if isinstance(exc, (torch.cuda.OutOfMemoryError, MemoryError)):
        return "out_of_memory"
    if isinstance(exc, RuntimeError) and ("out of memory" in str(exc) or "can't allocate memory" in str(exc)):
        return "out_of_memory"  # CUDA before OutOfMemoryError existed, MPS, and the CPU allocator
    if stage == "build" and isinstance(exc, ValueError) and not isinstance(exc, json.JSONDecodeError):
        return "candidate"
    return "error"


def is_out_of_memory(reason: str) -> bool:
    """Whether a failed result's reason is running out of memory (the one failure worth retrying alone)."""
    return "out of memory" in reason


# ---------------------------------------------------------------------------------------------- helpers
def pick_device(device: str = "auto") -> torch.device:
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(device)


def count_params(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


def count_flops(model: nn.Module, input_shape: tuple[int, ...]) -> int:
    """FLOPs of one forward pass on one image, by torch's own FlopCounterMode (2 FLOPs per multiply-add;
    convolutions and matrix products only, as is usual). Runs on the CPU on a copy in eval mode."""
    from torch.utils.flop_counter import FlopCounterMode
    import copy

    probe = copy.deepcopy(model).cpu().float().eval()
    counter = FlopCounterMode(display=False)
    with counter, torch.no_grad():
        probe(torch.zeros(1, *input_shape))
    return int(counter.get_total_flops())


def random_crop_flip(x: torch.Tensor, gen: torch.Generator, pad: int = 4) -> torch.Tensor:
    """Pad-`pad` random crop and random horizontal flip of a uint8 batch, per image, on x's device.
    Zero padding before normalisation, as torchvision's RandomCrop(32, padding=4) does."""
    b, c, h, w = x.shape
    dev = x.device
    xp = F.pad(x, (pad, pad, pad, pad))
    di = torch.randint(0, 2 * pad + 1, (b,), device=dev, generator=gen)
    dj = torch.randint(0, 2 * pad + 1, (b,), device=dev, generator=gen)
    flip = torch.rand(b, device=dev, generator=gen) < 0.5
    rows = di[:, None] + torch.arange(h, device=dev)
    cols = dj[:, None] + torch.arange(w, device=dev)
    cols = torch.where(flip[:, None], cols.flip(1), cols)
    return xp[torch.arange(b, device=dev)[:, None, None, None], torch.arange(c, device=dev)[None, :, None, None],
              rows[:, None, :, None], cols[:, None, None, :]]


class _DeviceData:
    """The bundle on the device, normalisation folded into one multiply-add. Cached per (bundle, device) so
    an evaluator training many candidates copies the data once."""

    _cache: dict = {}

    def __init__(self, bundle: Bundle, device: torch.device):
        self.x_train = bundle.x_train.to(device)
        self.y_train = bundle.y_train.to(device)
        self.x_eval = bundle.x_eval.to(device)
        self.y_eval = bundle.y_eval.to(device)
        mean = torch.tensor(bundle.mean, device=device).view(1, -1, 1, 1)
        std = torch.tensor(bundle.std, device=device).view(1, -1, 1, 1)
        self.scale, self.shift = 1.0 / (255.0 * std), -mean / std

    def norm(self, x: torch.Tensor) -> torch.Tensor:
        return x.float() * self.scale + self.shift

    @classmethod
    def get(cls, bundle: Bundle, device: torch.device) -> "_DeviceData":
        key = (id(bundle), str(device))
        if key not in cls._cache:
            if len(cls._cache) > 4:
                cls._cache.clear()
            cls._cache[key] = (bundle, cls(bundle, device))  # hold the bundle so its id stays unique
        return cls._cache[key][1]


def _scheduler(opt, recipe: TrainRecipe):
    """A torch scheduler stepped once per epoch (plateau: with the validation loss)."""
    sched = torch.optim.lr_scheduler
    e = recipe.epochs
    if recipe.schedule == "era_search":
        return sched.MultiStepLR(opt, milestones=[max(e - recipe.low_lr_epochs, 0)], gamma=0.1)
    if recipe.schedule == "step":
        return sched.MultiStepLR(opt, milestones=[int(m * e) for m in recipe.milestones], gamma=recipe.gamma)
    if recipe.schedule == "cosine":
        return sched.CosineAnnealingLR(opt, T_max=e)
    if recipe.schedule == "plateau":
        return sched.ReduceLROnPlateau(opt, mode="min", factor=recipe.plateau_factor,
                                       patience=recipe.plateau_patience)
    return sched.LambdaLR(opt, lambda _: 1.0)


@torch.no_grad()
def evaluate_model(model: nn.Module, data: _DeviceData, batch_size: int, amp: bool) -> tuple[float, float]:
    """(mean cross-entropy, accuracy) on the bundle's evaluation split."""
    model.eval()
    loss_sum = torch.zeros((), device=data.x_eval.device)
    correct = torch.zeros((), device=data.x_eval.device, dtype=torch.long)
    n = len(data.y_eval)
    for i in range(0, n, batch_size):
        x = data.norm(data.x_eval[i:i + batch_size])
        y = data.y_eval[i:i + batch_size]
        with torch.autocast(x.device.type, dtype=torch.bfloat16, enabled=amp):
            out = model(x)
        loss_sum += F.cross_entropy(out.float(), y, reduction="sum")
        correct += (out.argmax(1) == y).sum()
    return loss_sum.item() / n, correct.item() / n


# ---------------------------------------------------------------------------------------------- memory
def activation_elements(model: nn.Module, input_shape: tuple[int, ...]) -> int:
    """Elements of every leaf module's output for one image: what autograd keeps for the backward pass, to a
    first approximation. Runs on the meta device, so nothing is allocated or computed."""
    meta = copy.deepcopy(model).to("meta")
    total = [0]

    def hook(_module, _inputs, output):
        if isinstance(output, torch.Tensor):
            total[0] += output.numel()

    handles = [m.register_forward_hook(hook) for m in meta.modules() if not list(m.children())]
    try:
        meta(torch.empty((1, *input_shape), device="meta"))
    finally:
        for h in handles:
            h.remove()
    return total[0]


def estimate_memory(model: nn.Module, input_shape: tuple[int, ...], batch_size: int, amp: bool = True) -> int:
    """Bytes one training of `model` needs on a device: fp32 weights, gradients and SGD momentum (12 bytes per
    parameter), plus the batch's saved activations (2 bytes each under bf16 autocast, 4 in fp32) doubled for
    the gradients flowing back. An estimate for packing candidates, not a promise: the evaluator still
    retries a candidate that runs out of memory alone."""
    params = count_params(model)
    act = activation_elements(model, input_shape) * batch_size * (2 if amp else 4)
    return 12 * params + 2 * act


# ---------------------------------------------------------------------------------------------- train
def train(model: nn.Module, bundle: Bundle, recipe: TrainRecipe, seed: int = 0, device: str = "auto",
          progress: bool = False, on_epoch=None) -> TrainResult:
    """Train `model` in place on `bundle` with `recipe`; evaluate on the bundle's evaluation split after every
    `recipe.eval_every`-th epoch and after the last.

    on_epoch(model, history_row) is called after each epoch (the fidelity study snapshots there).
    """
    dev = pick_device(device)
    precision = resolve_precision(recipe.precision, dev)
    params = count_params(model)
    log_event("train", engine="train", device=str(dev), params=params, epochs=recipe.epochs, precision=precision)
    start = time.perf_counter()
    if recipe.max_params is not None and params > recipe.max_params:
        return TrainResult("failed", f"{params:,} parameters exceed max_params={recipe.max_params:,}",
                           params=params, device=str(dev), precision=precision)
    try:
        flops = count_flops(model, bundle.input_shape)
    except Exception:  # counting is informative only; never let it fail a candidate
        flops = 0
    cuda = dev.type == "cuda"
    try:
        return _train(model, bundle, recipe, seed, dev, precision, params, flops, start, progress, on_epoch)
    except Exception as exc:
        if failure_kind(exc, "train") != "out_of_memory":
            raise  # a bug, not the candidate: must not become a cached failure
        model.cpu()
        if cuda:
            torch.cuda.empty_cache()
        where = "CUDA" if isinstance(exc, torch.cuda.OutOfMemoryError) else type(exc).__name__
        return TrainResult("failed", f"out of memory ({where}): {str(exc)[:200]}", params=params, flops=flops,
                           wall_time=time.perf_counter() - start, device=str(dev), precision=precision)


def uses_channels_last(device: torch.device, precision: str) -> bool:
    """channels_last on CUDA (always, as before) and on the CPU under bf16, where `make bench` figure 4 measured
    it faster in every family. A CPU in fp32 keeps the default layout although channels_last was faster there
    too: its results must stay bit-identical to the fp32 records made before, which share their archive keys."""
    return device.type == "cuda" or (device.type == "cpu" and precision == "bf16")


def is_depthwise(module: nn.Module) -> bool:
    """A depthwise convolution: one input channel per group (the ERA space's group size 1)."""
    return isinstance(module, nn.Conv2d) and module.groups > 1 and module.groups == module.in_channels


# Module-level hooks (a deep copy taken inside, e.g. a snapshot in on_epoch, stays picklable): the autocast state
# each depthwise convolution found, restored when it has run.
_AUTOCAST_BEFORE: dict[int, bool] = {}


def _fp32_enter(module, args):
    kind = args[0].device.type
    _AUTOCAST_BEFORE[id(module)] = torch.is_autocast_enabled(kind)
    torch.set_autocast_enabled(kind, False)
    return (args[0].float(), *args[1:])


def _fp32_leave(module, args, output):
    before = _AUTOCAST_BEFORE.pop(id(module), None)
    if before is not None:
        torch.set_autocast_enabled(output.device.type, before)


@contextlib.contextmanager
def fp32_depthwise(model: nn.Module, enabled: bool = True):
    """Inside, `model`'s depthwise convolutions run with autocast switched off and fp32 inputs (their outputs,
    and so their gradients, are fp32); every other operation autocasts as usual. The hooks go when it exits.

    A lever `make bench` figure 4 measures, not used by the engine: over three seeds of both depthwise families
    (README) it bought no accuracy over plain autocast (0.01 below it in basic depthwise networks)."""
    if not enabled:
        yield model
        return
    handles = []
    for m in model.modules():
        if is_depthwise(m):
            handles += [m.register_forward_pre_hook(_fp32_enter), m.register_forward_hook(_fp32_leave)]
    try:
        yield model
    finally:
        for h in handles:
            h.remove()


def _train(model, bundle, recipe, seed, dev, precision, params, flops, start, progress, on_epoch) -> TrainResult:
    cuda = dev.type == "cuda"
    amp = precision == "bf16"
    layout = torch.channels_last if uses_channels_last(dev, precision) else torch.contiguous_format
    if cuda:
        torch.backends.cudnn.benchmark = True
    if layout is torch.channels_last:
        model = model.to(dev, memory_format=torch.channels_last)
    else:
        model = model.to(dev)
    data = _DeviceData.get(bundle, dev)
    gen = torch.Generator(device=dev).manual_seed(seed)
    augment = recipe.augment == "crop_flip" or (recipe.augment == "auto" and bundle.augment)
    opt = torch.optim.SGD(model.parameters(), lr=recipe.lr, momentum=recipe.momentum,
                          nesterov=recipe.nesterov and recipe.momentum > 0, weight_decay=recipe.weight_decay)
    n = len(data.y_train)
    sched = _scheduler(opt, recipe)
    history = []
    epochs = range(1, recipe.epochs + 1)
    if progress:
        from resnas.progress import tqdm
        epochs = tqdm(epochs, desc="epochs", leave=False)
    for epoch in epochs:
        model.train()
        lr = opt.param_groups[0]["lr"]
        perm = torch.randperm(n, device=dev, generator=gen)
        loss_sum = torch.zeros((), device=dev)
        correct = torch.zeros((), device=dev, dtype=torch.long)
        for i in range(0, n, recipe.batch_size):
            idx = perm[i:i + recipe.batch_size]
            xb = data.x_train[idx]
            if augment:
                xb = random_crop_flip(xb, gen)
            xb = data.norm(xb)
            if layout is torch.channels_last:
                xb = xb.contiguous(memory_format=torch.channels_last)
            yb = data.y_train[idx]
            with torch.autocast(dev.type, dtype=torch.bfloat16, enabled=amp):
                out = model(xb)
            loss = F.cross_entropy(out.float(), yb)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            # Accumulate on the device; one host sync per epoch instead of one per step.
            loss_sum += loss.detach() * len(idx)
            correct += (out.detach().argmax(1) == yb).sum()
        train_loss = loss_sum.item() / n
        if not math.isfinite(train_loss):
            return TrainResult("failed", f"non-finite training loss at epoch {epoch}", tuple(history), params,
                               flops, time.perf_counter() - start, str(dev), precision=precision)
        if epoch % recipe.eval_every == 0 or epoch == recipe.epochs:
            val_loss, val_acc = evaluate_model(model, data, recipe.eval_batch_size, amp)
            row = {"epoch": epoch, "lr": lr, "train_loss": train_loss, "train_acc": correct.item() / n,
                   "val_loss": val_loss, "val_acc": val_acc, "seconds": time.perf_counter() - start}
            history.append(row)
            if on_epoch is not None:
                on_epoch(model, row)
        if recipe.schedule == "plateau":
            sched.step(val_loss)
        else:
            sched.step()
    return TrainResult("ok", "", tuple(history), params, flops, time.perf_counter() - start, str(dev),
                       precision=precision)


# ---------------------------------------------------------------------------------------------- continue
def continue_training(model: nn.Module, bundle: Bundle, epochs: float, lr: float = 0.1, batch_size: int = 32,
                      seed: int = 0, device: str = "cpu") -> float:
    """Go on training `model` in place with plain SGD (no momentum, no weight decay: ECToNAS's optimiser, lr 0.1
    as the paper; batch 32, Keras's default) for `epochs` epochs, possibly fractional: whole epochs over a
    fresh permutation each, then the fraction as that share of the next permutation's batches (at least one). No augmentation, no schedule.
    Returns the accuracy on the bundle's evaluation split (NaN when the loss became non-finite). On the CPU a seed
    gives bit-identical results."""
    if not epochs > 0:
        raise ValueError(f"epochs={epochs} must be > 0")
    dev = pick_device(device)
    log_event("train", engine="continue_training", device=str(dev), epochs=epochs)
    model.to(dev)
    data = _DeviceData.get(bundle, dev)
    gen = torch.Generator(device=dev).manual_seed(seed)
    opt = torch.optim.SGD(model.parameters(), lr=lr)
    n = len(data.y_train)
    batches = math.ceil(n / batch_size)
    whole = int(math.floor(epochs + 1e-9))
    plan = [batches] * whole
    rest = epochs - whole
    if rest > 1e-9:
        plan.append(max(1, round(rest * batches)))
    model.train()
    for count in plan:
        perm = torch.randperm(n, device=dev, generator=gen)
        for b in range(count):
            idx = perm[b * batch_size:(b + 1) * batch_size]
            loss = F.cross_entropy(model(data.norm(data.x_train[idx])), data.y_train[idx])
            if not torch.isfinite(loss):
                return float("nan")
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
    return evaluate_model(model, data, 1024, False)[1]
