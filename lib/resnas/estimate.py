"""`make estimate PROFILE=...`: what each notebook of a profile will cost, before anything is paid.

Per notebook (`resnas.experiments.EXPERIMENTS`), from the profile's validated parameters and nothing else (no
data is loaded): the trainings it runs, the epochs they add up to, the training images of one epoch (from each
data set's known sizes and the profile's `*_per_class` / `val_size`), the image-epochs, the mean forward FLOPs
per image of its networks, and two times:

- `cpu_hours_here`: measured on this machine. A short calibration trains a few batches of one representative
  network per notebook family on random tensors of the data set's real shape (an ERA ResNet of the profile's
  middle filters and depth, an MO-ResNet genome of the profile's preset, the ECToNAS starting topologies, ...)
  and gives seconds per training image; a notebook's networks are charged that, scaled by their FLOPs relative
  to the probe (for ERA ResNets, above the probe's FLOPs, along the line through it and a twice-as-wide
  partner: `Probe.seconds_per_image`). Nothing is cached: every call measures afresh (a few seconds in all).
- `gpu_hours_assumed`: from a stated assumption, not a measurement. ASSUMPTION: an H100 trains a ResNet-20-sized
  CIFAR-10 network (81.6 MFLOPs forward per image) at 20,000 images/s with this engine's bf16 autocast,
  channels_last and on-device data; a network of F FLOPs per image trains at 20,000 x 81.6M / F images/s, but
  never faster than one optimizer step per millisecond (batch_size / 1 ms: small networks are bound by kernel
  launches, not FLOPs). One training at a time: packing several small trainings on one GPU (`workers`) can
  shorten the wall time, not the FLOPs.

Both times count an evaluated image at a third of a trained one (forward only) and the validation split is
evaluated after every epoch, as the engine does. Where a count depends on what a search finds (a shared
archive trains a network met twice once; an ECToNAS run may overshoot its budget by one generation; an EP's
size is known only after the search), the table gives an upper bound (`≤`) or an approximation (`≈`) and says
why in `remark`. Where a profile costs more than its paper spent, `vs_paper` is the ratio of epochs and the
remark says why.

    python -m resnas.estimate --profile paper [--params-root params] [notebook ...]
"""
from __future__ import annotations

import argparse
import dataclasses
import math
import sys
import time
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Callable

import numpy as np
import pandas as pd
import torch
import torch.nn.functional as F
from torch import nn

from resnas.data import AUGMENTED, FAKE_SHAPES
from resnas.params import TRAIN_SIZES, load_profile

# ------------------------------------------------------------------------------------------------ assumptions
GPU_NAME = "H100"
GPU_RESNET20_IMAGES_PER_S = 20_000.0  # the assumption every GPU-hour figure rests on (see the docstring)
GPU_MIN_STEP_S = 1e-3  # the fastest optimizer step assumed on that GPU, whatever the network
EVAL_COST = 1 / 3  # an evaluated image (forward only) against a trained one (forward and backward)
CALIBRATION_TARGET_S = 0.25  # measured steps per probe stop after this long (one step at least, 20 at most)
CALIBRATION_MAX_STEPS = 20
FLOP_SAMPLES_ERA = 1000  # seeded samples behind a search space's mean FLOPs (ERA: counted, nothing built)
FLOP_SAMPLES_MORESNET = 12  # MO-ResNet genomes are built to be counted: fewer

# Test-split sizes (the training sizes are `resnas.params.TRAIN_SIZES`): digits is scikit-learn's fixed 20%
# hold-out, EuroSAT its 20% hold-out, Adult the rows of adult.test.
TEST_SIZES = {"digits": 355, "fashion_mnist": 10000, "mnist": 10000, "cifar10": 10000, "cifar100": 10000,
              "svhn": 26032, "eurosat": 5400, "adult": 16281,
              "fashion_mnist_14": 10000}

COLUMNS = ["notebook", "trainings", "bound", "epochs", "images_per_epoch", "image_epochs", "mflops_per_image",
           "cpu_hours_here", "gpu_hours_assumed", "vs_paper", "remark"]


# ------------------------------------------------------------------------------------------------ data sizes
def image_shape(dataset: str) -> tuple[tuple[int, int, int], int]:
    """((channels, height, width), classes) of a data set, without loading it."""
    if dataset not in FAKE_SHAPES:
        raise ValueError(f"dataset={dataset!r} has no known shape; allowed: {', '.join(FAKE_SHAPES)}")
    shape, classes = FAKE_SHAPES[dataset]
    return tuple(shape), classes


def split_sizes(dataset: str, split: str = "val", val_size: float = 0.1, train_per_class: int | None = None,
                val_per_class: int | None = None, test_per_class: int | None = None) -> tuple[int, int]:
    """(training images, evaluated images) of one epoch, the arithmetic of `resnas.data.load`: split 'val'
    holds `val_size` (a fraction or a count) of the training set out for validation; 'test' trains on all of
    it and evaluates the test split. A `*_per_class` subset takes that many per class (at most what there is;
    on an imbalanced set such as Adult this is an upper bound)."""
    if dataset not in TRAIN_SIZES or dataset not in TEST_SIZES:
        raise ValueError(f"dataset={dataset!r} has no known size; allowed: {', '.join(TRAIN_SIZES)}")
    pool, classes = TRAIN_SIZES[dataset], image_shape(dataset)[1]

    def subset(per_class, available):
        return available if per_class is None else min(per_class * classes, available)

    if split == "test":
        per_class = None if train_per_class is None else train_per_class + (val_per_class or 0)
        return subset(per_class, pool), subset(test_per_class, TEST_SIZES[dataset])
    if split != "val":
        raise ValueError(f"split={split!r} is not allowed; allowed: 'val' or 'test'")
    n_val = int(round(val_size * pool)) if val_size < 1 else int(val_size)
    return subset(train_per_class, pool - n_val), subset(val_per_class, n_val)


# ------------------------------------------------------------------------------------------------ networks
def forward_flops(model: nn.Module, shape: tuple[int, ...]) -> int:
    """FLOPs of one forward pass on one image: 2 per multiply-add of every Conv2d and Linear, the convention of
    `resnas.train.count_flops` (which uses torch's FlopCounterMode and is many times slower on big networks)."""
    total = [0]

    def hook(module, _inputs, output):
        if isinstance(module, nn.Conv2d):
            k = module.kernel_size[0] * module.kernel_size[1]
            total[0] += 2 * output.numel() * (module.in_channels // module.groups) * k
        else:
            total[0] += 2 * output.numel() * module.in_features

    handles = [m.register_forward_hook(hook) for m in model.modules() if isinstance(m, (nn.Conv2d, nn.Linear))]
    was_training = model.training
    try:
        with torch.no_grad():
            model.eval()(torch.zeros(1, *shape))
    finally:
        model.train(was_training)
        for h in handles:
            h.remove()
    return total[0]


def resnet20_flops() -> int:
    """Forward FLOPs per CIFAR-10 image of ResNet-20: the yardstick of the GPU assumption (81.6M)."""
    from resnas.spaces.era import RESNET20, SPACE

    return SPACE.count_flops(RESNET20, (32, 32), 3, 10)


@dataclass(frozen=True)
class Probe:
    """One network timed on this machine. `family`/`args` say how to build it: 'era' (config JSON), 'moresnet'
    (preset, genome JSON), 'start' (an ECToNAS starting topology), 'seq' (conv channels, dense widths of a
    sequential net without pools). `engine`: 'train' (`resnas.train.train`: SGD with momentum, crop and flip
    for natural images) or 'continue' (`continue_training`: plain SGD, no augmentation)."""

    label: str = field(compare=False)  # for the calibration table; two probes of one network are one
    family: str
    args: tuple
    shape: tuple
    classes: int
    batch_size: int
    engine: str
    augment: bool
    flops: int
    wide: "Probe | None" = None  # a larger network of the family: above `flops`, time is affine through both

    def seconds_per_image(self, flops: float, seconds: Callable[["Probe"], float]) -> float:
        """Seconds per training image of a network of `flops` FLOPs, from the measured `seconds(probe)`: in
        proportion to FLOPs up to this probe's; beyond it, on the line through this probe and `wide` (its
        slope at most `wide`'s own seconds per FLOP), since wider layers use a CPU better than small ones and
        pure proportion would overstate large networks several times."""
        own = seconds(self)
        if self.wide is None or flops <= self.flops:
            return own * flops / max(self.flops, 1)
        big = seconds(self.wide)
        slope = (big - own) / max(self.wide.flops - self.flops, 1)
        slope = min(max(slope, 0.0), big / max(self.wide.flops, 1))
        return own + slope * (flops - self.flops)

    def build(self) -> nn.Module:
        c, h, w = self.shape
        if self.family == "era":
            from resnas.spaces.era import EraConfig, EraNet

            return EraNet(EraConfig.from_json(self.args[0]), c, self.classes)
        if self.family == "cell":  # a stand-alone cell network (NAS-Bench-201 / DARTS) of a registered space
            from resnas.spaces import get_space

            space = get_space(self.args[0])
            return space.build(space.from_json(self.args[1]), c, self.classes)
        if self.family == "moresnet":
            from resnas.spaces.moresnet import PRESETS, Genome

            return PRESETS[self.args[0]].build(Genome.from_json(self.args[1]), c, self.classes, (h, w))
        if self.family == "start":
            from resnas.search.ectonas import start_genome
            from resnas.spaces.sequential import build

            return build(start_genome(self.args[0], c, h, self.classes))
        if self.family == "seq":
            from resnas.spaces.sequential import ConvLayer, SeqGenome, build

            cells = tuple(ConvLayer(ch, None) for ch in self.args[0])
            return build(SeqGenome(c, h, cells, tuple(self.args[1]), self.classes))
        raise ValueError(f"family={self.family!r} is unknown; allowed: era, moresnet, start, seq")


def era_probe(config, shape, classes: int, batch_size: int, dataset: str, label: str) -> Probe:
    from resnas.spaces.era import SPACE

    flops = SPACE.count_flops(config, shape[1:], shape[0], classes)
    return Probe(label, "era", (config.to_json(),), tuple(shape), classes, batch_size, "train", dataset in AUGMENTED,
                 flops)


def middle_era_config(filters, max_depth: int):
    """The ERA family's representative: basic blocks, the middle initial-filter choice, every section at half
    the largest depth (the paper profile: ResNet-56 with 8 filters)."""
    from resnas.spaces.era import EraConfig

    f = sorted(filters)[len(filters) // 2]
    d = max(1, math.ceil(max_depth / 2))
    return EraConfig("basic", (0, d, d, d), f, 2, 32).canonical()


def era_space_flops(filters, max_depth: int, shape, classes: int, max_params: int | None = None,
                    samples: int = FLOP_SAMPLES_ERA, seed: int = 0) -> float:
    """Mean forward FLOPs of a seeded uniform sample of an ERA space; a network over `max_params` fails before
    training and counts 0."""
    return _era_space_flops(tuple(filters), max_depth, tuple(shape), classes, max_params, samples, seed)


@lru_cache(maxsize=64)  # a pure function of its arguments, asked for by several notebooks of one profile
def _era_space_flops(filters, max_depth, shape, classes, max_params, samples, seed) -> float:
    from resnas.spaces.era import EraSpace

    space = EraSpace(filters_choices=tuple(filters), max_depth=max_depth)
    rng = np.random.default_rng(seed)
    total = 0
    for _ in range(samples):
        cfg = space.sample(rng)
        if max_params is None or space.count_params(cfg, shape[0], classes) <= max_params:
            total += space.count_flops(cfg, shape[1:], shape[0], classes)
    return total / samples


# ------------------------------------------------------------------------------------------------ counts
@dataclass(frozen=True)
class Part:
    """`trainings` trainings of `epochs` epochs each over `train_images` images, evaluating `eval_images` after
    every epoch, with networks of `flops` forward FLOPs per image (a mean), timed by `probe`."""

    what: str
    trainings: float
    epochs: float
    train_images: int
    eval_images: int
    flops: float
    probe: Probe
    bound: str = "="  # '=' exact, '≤' an upper bound, '≈' approximate
    batch_size: int | None = None  # the notebook's batch when not the probe's (the GPU's step floor needs it)

    @property
    def total_epochs(self) -> float:
        return self.trainings * self.epochs

    @property
    def image_epochs(self) -> float:
        return self.total_epochs * self.train_images

    @property
    def weighted_images(self) -> float:
        """Training images plus evaluated images at their forward-only cost."""
        return self.total_epochs * (self.train_images + EVAL_COST * self.eval_images)


@dataclass(frozen=True)
class Count:
    parts: tuple[Part, ...]
    remarks: tuple[str, ...] = ()
    paper_why: str = ""  # why this profile costs more than the paper, when it does


class Context:
    """The profile being estimated, with the parameters of its other notebooks at hand (era_final needs
    era_search's strategies, ranking_predictor its archive's fidelity)."""

    def __init__(self, profile: str, params_root):
        self.profile, self.params_root = profile, params_root
        self._params: dict = {}

    def params(self, notebook: str):
        """The validated parameters of `notebook` on this profile, or None when they do not load."""
        if notebook not in self._params:
            from resnas.experiments import EXPERIMENTS

            try:
                exp = EXPERIMENTS[notebook]
                self._params[notebook] = load_profile(exp.params_class(), notebook, self.profile,
                                                      root=self.params_root)
            except Exception:  # noqa: BLE001 -- reported by the notebook's own row, or a fallback is used
                self._params[notebook] = None
        return self._params[notebook]

    def era_family_probe(self, fallback) -> Probe:
        """One probe for every ERA-ResNet notebook of the profile: the middle network of era_search's space,
        on its data set and batch (or of `fallback`'s, which needs dataset, filters, max_depth, batch_size)."""
        p = self.params("era_search") or fallback
        shape, classes = image_shape(p.dataset)
        config = middle_era_config(p.filters, p.max_depth)
        # the wide partner: twice the filters (about 4x the FLOPs), timed at batch 32 at most to stay quick
        wider = dataclasses.replace(config, filters=2 * config.filters, group=2 * config.group)
        wide = era_probe(wider, shape, classes, min(p.batch_size, 32), p.dataset, f"ERA {wider}")
        return dataclasses.replace(era_probe(config, shape, classes, p.batch_size, p.dataset, f"ERA {config}"),
                                   wide=wide)


def _plural(n: float, word: str) -> str:
    return f"{n:,.0f} {word}{'' if n == 1 else 's'}"


def count_quickstart(p, ctx: Context) -> Count:
    from resnas.spaces.era import SPACE, EraConfig

    configs = {n: EraConfig(**{**m, "depths": tuple(m["depths"])}).canonical() for n, m in p.models.items()}
    # the probe: the costliest model on the largest images (the notebook's own networks, one of them timed)
    biggest = max(p.datasets, key=lambda d: math.prod(image_shape(d)[0]))
    shape, classes = image_shape(biggest)
    heavy = max(configs.values(), key=lambda c: SPACE.count_flops(c, shape[1:], shape[0], classes))
    probe = era_probe(heavy, shape, classes, p.batch_size, biggest, f"quickstart {heavy}")
    parts = []
    for dataset in p.datasets:
        shape, classes = image_shape(dataset)
        train, val = split_sizes(dataset, "val", 0.1, p.train_per_class, p.val_per_class)
        for name, cfg in configs.items():
            parts.append(Part(f"{name} on {dataset}", 1, p.epochs, train, val,
                              SPACE.count_flops(cfg, shape[1:], shape[0], classes), probe))
    return Count(tuple(parts), ("the second request of each network is answered by the archive",))


def _shared_initial_draws(p) -> int:
    """Per seed, how many evaluations repeat another strategy's: random search, local search's samples and
    the evolutions' initial populations are drawn from the same seeded stream (common random numbers), so
    the union of those draws is the longest of them."""
    initial = {"random": p.budget, "local": p.local_samples}
    draws = [initial.get(s, p.population) for s in p.strategies if s in initial or s.endswith("evolution")]
    return sum(draws) - max(draws) if draws else 0


def _table_lane(p, what: str, extra: str = "") -> Count | None:
    """The table lane (#14) reads the shipped ERA table and trains nothing: no parts to cost."""
    if getattr(p, "lane", "train") == "table":
        return Count((), (f"table lane: {what} from the ERA table (resnas.tabular), no training{extra}",))
    return None


def count_era_search(p, ctx: Context) -> Count:
    if (lane := _table_lane(p, "every search's evaluation comes")) is not None:
        return lane
    from resnas.experiments import era
    from resnas.spaces.era import SPACE

    shape, classes = image_shape(p.dataset)
    train, val = split_sizes(p.dataset, "val", p.val_size, p.train_per_class, p.val_per_class)
    probe = ctx.era_family_probe(p)
    searches = len(p.strategies) * len(p.seeds)
    distinct = era.make_space(p).distinct_size()
    asked = searches * p.budget
    upper = min(asked, distinct)
    flops = era_space_flops(p.filters, p.max_depth, shape, classes, p.max_params)
    parts = [Part("searches", upper, p.epochs, train, val, flops, probe, "≤")]
    for ref in p.references:
        parts.append(Part(ref, 1, p.epochs, train, val,
                          SPACE.count_flops(era.reference_config(ref), shape[1:], shape[0], classes), probe))
    likely = min(asked - len(p.seeds) * _shared_initial_draws(p), distinct)
    remarks = [f"{searches} searches × {p.budget} evaluations share one archive: ≈ {likely:,} distinct networks "
               f"(random/local/evolution searches of one seed begin with the same random draws, trained once)"
               + (f"; the space holds only {distinct:,}" if distinct < asked else ""),
               "FLOPs: mean of a uniform sample of the space (a search drifts to its better, often larger, nets)"]
    why = f"{len(p.seeds)} seeds of every strategy (the thesis ran each once)"
    return Count(tuple(parts), tuple(remarks), why)


def count_era_final(p, ctx: Context) -> Count:
    from resnas.experiments import era
    from resnas.spaces.era import SPACE

    if getattr(p, "lane", "train") == "table":  # the real-training check: a few networks at the table's recipe
        from resnas.experiments import era_table
        from resnas.tabular import load_table

        t = ctx.params("era_table") or era_table.Params()
        table = load_table(p.table)
        stored = table[(table.budget == p.table_epochs) & (table.epoch == p.table_epochs)]
        n = (p.check_top + len(era.STRATEGY_NAMES) + len(p.check_quantiles) + len(p.references)) * len(p.check_seeds)
        shape, classes = image_shape(t.dataset)
        probe = ctx.era_family_probe(dataclasses.replace(era.SearchParams(), dataset=t.dataset,
                                                         batch_size=t.batch_size))
        part = Part("table check", n, p.table_epochs, t.train_per_class * classes, t.val_per_class * classes,
                    float(stored.flops.mean()), probe, batch_size=t.batch_size)
        return Count((part,), (f"at most {n} retrainings (fewer when picks coincide) of the table's networks at its "
                               f"recipe; the table's own runs took {stored.wall_time.median():.1f} s each (median, "
                               "1 thread)",))
    search = ctx.params("era_search")
    strategies = search.strategies if search else era.STRATEGY_NAMES
    shape, classes = image_shape(p.dataset)
    train, test = split_sizes(p.dataset, "test", train_per_class=p.train_per_class, test_per_class=p.test_per_class)
    probe = ctx.era_family_probe(search or _era_fallback(p))
    if search:
        found = era_space_flops(search.filters, search.max_depth, shape, classes, p.max_params)
    else:
        found = era_space_flops((1, 2, 4, 8, 16, 32), 18, shape, classes, p.max_params)
    parts = [Part("best of each strategy", len(strategies) * len(p.seeds), p.epochs, train, test, found, probe,
                  batch_size=p.batch_size)]
    for ref in p.references:
        parts.append(Part(ref, len(p.seeds), p.epochs, train, test,
                          SPACE.count_flops(era.reference_config(ref), shape[1:], shape[0], classes), probe,
                          batch_size=p.batch_size))
    remarks = [f"{len(strategies)} best networks + {len(p.references)} references × {len(p.seeds)} seeds on all "
               f"training images, test split evaluated every epoch; the found networks' FLOPs are the search "
               f"space's mean (unknown until the search ends)"]
    why = f"{len(p.seeds)} seeds per network (the thesis trained each of its 8 networks once, Table 1)"
    return Count(tuple(parts), tuple(remarks), why)


def _era_fallback(p):
    """era_search's defaults on `p`'s data set, when era_search's parameters do not load."""
    from resnas.experiments import era

    return dataclasses.replace(era.SearchParams(), dataset=p.dataset, batch_size=p.batch_size)


def count_fidelity(p, ctx: Context) -> Count:
    if (lane := _table_lane(p, "every network's learning curve comes")) is not None:
        return lane
    from resnas.experiments import fidelity
    from resnas.spaces.era import SPACE, EraConfig

    shape, classes = image_shape(p.dataset)
    train, val = split_sizes(p.dataset, "val", p.val_size, p.train_per_class, p.val_per_class)
    nets = fidelity.families(p).drop_duplicates("config")
    flops = float(np.mean([SPACE.count_flops(EraConfig.from_json(c), shape[1:], shape[0], classes)
                           for c in nets.config]))
    search = ctx.params("era_search")
    probe = ctx.era_family_probe(search or _era_fallback(p))
    longest = max(p.fidelities)
    parts = []
    if "anytime" in p.modes:
        parts.append(Part("anytime", len(nets), longest, train, val, flops, probe, batch_size=p.batch_size))
    if "budgeted" in p.modes:
        for e in sorted(p.fidelities):
            if e == longest and "anytime" in p.modes:
                continue  # the same recipe as the anytime run: the archive answers it
            parts.append(Part(f"budget {e}", len(nets), e, train, val, flops, probe, batch_size=p.batch_size))
    remarks = [f"{len(nets)} networks, modes {', '.join(p.modes)}"]
    if p.retrain_sample:
        s = search or _era_fallback(p)
        s_shape, s_classes = image_shape(s.dataset)
        s_train, s_val = split_sizes(s.dataset, "val", s.val_size, s.train_per_class, s.val_per_class)
        s_flops = era_space_flops(s.filters, s.max_depth, s_shape, s_classes, s.max_params)
        parts.append(Part("archive retraining", p.retrain_sample, p.retrain_epochs, s_train, s_val, s_flops, probe,
                          "≤", batch_size=s.batch_size))
        remarks.append(f"≤ {p.retrain_sample} era_search archive networks retrained to {p.retrain_epochs} epochs on "
                       f"its data (FLOPs: its space's mean)")
    why = ("both readings of a fidelity (anytime and budgeted; the thesis ran one)"
           + (f", and {p.retrain_sample} archive networks retrained to {p.retrain_epochs} epochs (our addition)"
              if p.retrain_sample else ""))
    return Count(tuple(parts), tuple(remarks), why)


def count_ranking(p, ctx: Context) -> Count:
    if (lane := _table_lane(p, "labels and the 6-epoch proxy come",
                                "; predictor fits only (CPU seconds each)")) is not None:
        return lane
    search = ctx.params("era_search")
    source = search or p  # the picks are trained like the archive's networks: era_search's fidelity
    shape, classes = image_shape(source.dataset)
    train, val = split_sizes(source.dataset, "val", source.val_size, source.train_per_class, source.val_per_class)
    flops = era_space_flops(p.filters, p.max_depth, shape, classes)
    probe = ctx.era_family_probe(search or p)
    picks = 2 * p.top
    parts = [Part("predictor's picks", picks, source.epochs, train, val, flops, probe, "≤",
                  batch_size=source.batch_size)]
    remarks = [f"≤ {picks} picks (top {p.top} of the exhaustive scoring and of the predictor-guided evolution) "
               f"trained at era_search's fidelity; the predictor itself trains on the CPU in seconds",
               f"with era_search's archive (make reproduce runs it first); without one, {p.n_architectures} "
               f"random networks of {p.epochs} epochs are trained to build it",
               "RNAS itself trained nothing: NAS-Bench-101 supplied its labels"]
    if getattr(p, "nb201_repeats", 0):
        remarks.append(f"the NAS-Bench-201 section trains nothing: table lookups and {p.nb201_repeats} x "
                       f"{len(p.fractions) * len(p.losses)} small predictor fits on the CPU")
    return Count(tuple(parts), tuple(remarks))


def count_mo_resnet(p, ctx: Context) -> Count:
    from resnas.experiments import mo_resnet

    shape, classes = image_shape(p.dataset)
    space = mo_resnet.space_of(p)
    hw = (space.input_hw,) * 2 if isinstance(space.input_hw, int) else tuple(space.input_hw)
    if hw != tuple(shape[1:]):
        raise ValueError(f"preset={p.preset!r} builds {hw[0]}x{hw[1]} networks but dataset={p.dataset!r} has "
                         f"{shape[1]}x{shape[2]} images: the notebook refuses it")
    train, val = split_sizes(p.dataset, "val", p.val_size, p.train_per_class, p.val_per_class)
    rng = np.random.default_rng(p.seed)
    sampled = []
    for _ in range(FLOP_SAMPLES_MORESNET):
        genome = space.sample(rng)
        model = space.build(genome, shape[0], classes, hw)
        params = sum(t.numel() for t in model.parameters())
        too_big = p.max_params is not None and params > p.max_params  # fails before training: costs nothing
        sampled.append((0 if too_big else forward_flops(model, shape), genome))
    flops = float(np.mean([f for f, _ in sampled]))
    # the probe: the sample's median genome among those that train (genomes do not order: sort by FLOPs only)
    trained = sorted([s for s in sampled if s[0] > 0] or sampled, key=lambda s: s[0])
    median_flops, median_genome = trained[len(trained) // 2]
    probe = Probe(f"MO-ResNet {p.preset} genome ({median_flops / 1e6:.0f} MFLOPs, the sample's median)", "moresnet",
                  (p.preset, median_genome.to_json()), tuple(shape), classes, p.batch_size, "train",
                  p.dataset in AUGMENTED, median_flops)
    # every α's MOEA/D starts from the same seed, hence the same initial population: trained once, then served
    evaluations = p.population + len(p.alphas) * p.population * p.generations
    retrainings = len(p.alphas) * p.retrain_max * len(p.retrain_seeds)
    parts = [Part("search", evaluations, p.epochs, train, val, flops, probe, "≤"),
             Part("EP retraining", retrainings, p.retrain_epochs, train, val, flops, probe, "≤")]
    remarks = [f"search: N = {p.population} initial genomes (one seed: the same for every α) + {len(p.alphas)} α × "
               f"{p.generations} generations × N offspring, one archive (a genome met again is not retrained); "
               f"retraining: ≤ {p.retrain_max} EP members per α × {len(p.retrain_seeds)} seeds (the EP's size is "
               f"known after the search); FLOPs: mean of {FLOP_SAMPLES_MORESNET} sampled genomes"]
    why = (f"the bound assumes {p.retrain_max} EP members per α retrained {len(p.retrain_seeds)} times (the "
           f"paper's Fashion-MNIST EPs had one member per α)")
    return Count(tuple(parts), tuple(remarks), why)


def _start_probe(topology: str, dataset: str, batch_size: int) -> Probe:
    from resnas.search.ectonas import start_genome
    from resnas.spaces.sequential import build

    shape, classes = image_shape(dataset)
    flops = forward_flops(build(start_genome(topology, shape[0], shape[1], classes)), shape)
    return Probe(f"ECToNAS {topology}", "start", (topology,), tuple(shape), classes, batch_size,
                 "continue", False, flops)


def count_pooling(p, ctx: Context) -> Count:
    shape, classes = image_shape(p.dataset)
    train, val = split_sizes(p.dataset, "val", 0.1, p.train_per_class, p.val_per_class)
    probe = Probe(f"pooling net, conv {list(p.channels)}, dense {list(p.dense)}", "seq",
                  (tuple(p.channels), tuple(p.dense)), tuple(shape), classes, p.batch_size, "continue", False, 0)
    probe = dataclasses.replace(probe, flops=forward_flops(probe.build(), shape))
    variants = len(p.pools) * len(p.adapts)
    parts = [Part("pre-training", p.seeds, p.pretrain_epochs, train, val, probe.flops, probe),
             Part("retraining after the pool", p.seeds * variants, p.retrain_epochs, train, val, probe.flops, probe)]
    why = f"{variants} pool × adaptation variants per seed (the paper: 2 methods × 2 pools)"
    return Count(tuple(parts), (f"{p.seeds} seeds × (1 pre-training + {variants} retrainings)",), why)


def _plain_epochs(p) -> tuple[float, str]:
    """Epochs of the plain training that serves a run's baselines, and whether that is approximate: 'baseline'
    trains `baseline_epochs` (the paper's fixed length), 'baseline_equal_epochs' as long as the greedy run spent
    (≈ the budget); both are read off one training of the longer length. (Before `baseline_epochs` existed,
    'baseline' was the equal-epochs one.)"""
    lengths = {}
    if hasattr(p, "baseline_epochs"):
        if "baseline" in p.modes:
            lengths["baseline"] = (p.baseline_epochs, "=")
        if "baseline_equal_epochs" in p.modes:
            lengths["baseline_equal_epochs"] = (p.budget, "≈")
    elif "baseline" in p.modes:
        lengths["baseline"] = (p.budget, "≈")
    return max(lengths.values(), key=lambda v: v[0]) if lengths else (0.0, "=")


def count_ectonas(p, ctx: Context) -> Count:
    from resnas.experiments import ectonas
    from resnas.spaces.era import SPACE, EraConfig

    search_modes = getattr(ectonas, "SEARCH_MODES", ("greedy", "balanced_0.5", "balanced_0", "random"))
    searches = [m for m in p.modes if m in search_modes]
    runs = getattr(p, "runs_per_seed", 1)  # runs per data set, topology and seed (the paper: 10)
    plain, plain_bound = _plain_epochs(p)
    parts = []
    for dataset in p.datasets:
        train, val = split_sizes(dataset, "val", 0.1, p.train_per_class, p.val_per_class)
        for topology in p.topologies:
            probe = _start_probe(topology, dataset, p.batch_size)
            n = len(p.seeds) * runs
            parts.append(Part(f"{dataset} {topology} searches", n * len(searches), p.budget, train, val,
                              probe.flops, probe, "≈"))
            if plain:
                parts.append(Part(f"{dataset} {topology} plain training", n, plain, train, val, probe.flops, probe,
                                  plain_bound))
    if getattr(p, "era_budget", 0):
        dataset = p.datasets[0]
        shape, classes = image_shape(dataset)
        cfg = EraConfig("basic", (0, 1, 1, 1), 4, 2, 32)
        probe = Probe(f"ECToNAS on ERA {cfg}", "era", (cfg.to_json(),), tuple(shape), classes,
                      p.batch_size, "continue", False, SPACE.count_flops(cfg, shape[1:], shape[0], classes))
        train, val = split_sizes(dataset, "val", 0.1, p.train_per_class, p.val_per_class)
        parts.append(Part("ERA greedy run", 1, p.era_budget, train, val, probe.flops, probe, "≈"))
    n_runs = sum(part.trainings for part in parts)
    remarks = [f"a training here is one run: a whole search of ≈ {p.budget:g} epochs (it may overshoot by one "
               f"generation) or one plain training of {plain:g} epochs serving the baselines; "
               f"{_plural(n_runs, 'run')}", "FLOPs: the starting topologies' (the searches grow and shrink them)"]
    why = f"{len(p.seeds) * runs} runs per data set, topology and mode"
    if plain > 200:
        why += f"; the plain training behind the baselines runs {plain:g} epochs (the paper's baseline: 200)"
    return Count(tuple(parts), tuple(remarks), why)


def count_cell_search(p, ctx: Context) -> Count:
    queries = len(p.strategies) * p.seeds * p.budget
    return Count((), (f"trains nothing: {len(p.strategies)} strategies × {p.seeds} seeds × {p.budget} queries = "
                      f"{queries:,} look-ups in a table of trained cells; its CPU time is the strategies' own "
                      f"(TPE's grows with its trials)",))


def count_era_table(p, ctx: Context) -> Count:
    from resnas.experiments import era_table

    shape, classes = image_shape(p.dataset)
    train, val = split_sizes(p.dataset, "val", p.val_size, p.train_per_class, p.val_per_class)
    config = middle_era_config(p.filters, p.max_depth)
    probe = era_probe(config, shape, classes, p.batch_size, p.dataset, f"ERA {config}")
    flops = era_space_flops(p.filters, p.max_depth, shape, classes, None)
    if not p.generate:
        return Count((Part("retrained sample of the shipped table", p.check_networks, p.epochs, train, val, flops,
                           probe),), ("loads the shipped table (lib/resnas/tables/) and retrains a seeded sample",))
    distinct = era_table.make_space(p).distinct_size()
    n = distinct if p.networks is None else min(p.networks, distinct)
    second = round(n * p.second_seed_fraction) if len(p.seeds) > 1 else 0
    long = min(p.long_networks, n)
    parts = (Part("every network, first seed", n, p.epochs, train, val, flops, probe),
             Part("second seed (noise floor)", second, p.epochs, train, val, flops, probe),
             Part("long budget", long, p.long_epochs, train, val, flops, probe))
    return Count(parts, (f"generates the table: {n:,} networks, {second:,} twice, {long:,} also at {p.long_epochs} "
                         "epochs; FLOPs: the subspace's mean",))


def count_genas(p, ctx: Context) -> Count:
    import numpy as np

    from resnas.spaces import get_space

    shape, classes = image_shape(p.dataset)
    train, val = split_sizes(p.dataset, "val", p.val_size, p.train_per_class, p.val_per_class)
    space = get_space(p.space)
    cell = space.sample(np.random.default_rng(0))
    net = space.build(cell, shape[0], classes)
    flops = float(forward_flops(net, shape))
    probe = Probe(f"{p.space} stand-alone cell network", "cell", (p.space, space.to_json(cell)), tuple(shape),
                  classes, p.batch_size, "train", p.dataset in AUGMENTED, flops)
    supernet_images = p.train_images or train
    searches = len(p.arms) * len(p.seeds)
    alone_train = (min(p.standalone_train_per_class * classes, train) if p.standalone_train_per_class else train)
    parts = [
        # a supernet epoch trains one path per batch: about one stand-alone network's cost per image (the
        # gradient arm's relaxed steps cost more: counted as one more epoch each generation, a lower bound)
        Part("supernet epochs (every arm)", searches, p.generations * (1 + ("gradient" in p.arms) / len(p.arms)),
             supernet_images, p.population * p.val_batch_size, flops, probe, "≈"),
        Part("stand-alone cells (decoupling study)", p.correlation_cells * len(p.standalone_seeds),
             p.standalone_epochs, alone_train, val, flops, probe),
        Part("stand-alone picks", searches, p.standalone_epochs, alone_train, val, flops, probe),
    ]
    if p.final_epochs:
        parts.append(Part("final training of the best pick", 1, p.final_epochs, train + val, val,
                          flops * (p.final_channels / 16) ** 2 * p.final_layers / 8, probe, "≈"))
    return Count(tuple(parts), ("supernet cost approximated by a stand-alone network of the search scale per image; "
                                "the final network's FLOPs scaled from it by width² × depth",))


COUNTERS: dict[str, Callable] = {
    "00_quickstart": count_quickstart, "era_search": count_era_search, "era_final": count_era_final,
    "fidelity_correlation": count_fidelity, "ranking_predictor": count_ranking, "mo_resnet": count_mo_resnet,
    "pooling_trials": count_pooling, "ectonas_ablation": count_ectonas, "cross_topology": count_ectonas,
    "era_table": count_era_table, "genas": count_genas,
    "cell_search": count_cell_search,
}

# What each paper spent, in epochs of the notebook's own kind, for the `vs_paper` ratio.
PAPER_EPOCHS = {
    "era_search": (6 * 200 * 20, "the thesis: 6 strategies × 200 evaluations × 20 epochs, each search once"),
    "era_final": (8 * 164, "the thesis: 8 networks × 164 epochs, once each"),
    "fidelity_correlation": (9 * 100, "the thesis: 9 networks read off one 100-epoch run each"),
    "mo_resnet": (4 * 20 * 21 * 12 + 4 * 1 * 6 * 100,
                  "the paper's Fashion-MNIST study: 4 α × 20 × 21 generations × 12 epochs + 4 EP members × 6 × "
                  "100 epochs (about 4 GPU-days on its platform)"),
    "pooling_trials": (100 * (25 + 2 * 2), "the paper: 100 seeds × (25 + 2 methods × 2 pools × 1 epoch)"),
    "ectonas_ablation": (6 * 6 * 10 * 3 * (4 * 1000 + 200),
                         "the paper: 6 data sets × 6 topologies × 10 runs × 3 seeds × (4 modes × 1,000 + a 200-"
                         "epoch baseline)"),
    "cross_topology": (25 * 6 * (4 * 1000 + 200),
                       "the paper: 25 runs × 6 topologies × (4 modes × 1,000 + a 200-epoch baseline)"),
}


# Wall times a paper reports for one of its trainings, set beside ours on the assumed GPU (a check of the
# assumption where a paper gives one).
PAPER_RUN_TIME = {"ectonas_ablation": "10–45 min, mostly 20–30, per 1,000-epoch run on a V100 (ECToNAS §4)"}


# ------------------------------------------------------------------------------------------------ calibration
def measure(probe: Probe, device: str = "cpu", target_s: float = CALIBRATION_TARGET_S,
            max_steps: int = CALIBRATION_MAX_STEPS) -> float:
    """Seconds per training image of `probe`'s network on `device`: the engine's training step (uint8 batch,
    crop and flip for natural images, normalisation, bf16 autocast and channels_last on CUDA, SGD) on random
    tensors of the probe's shape; one warm-up step, then steps until `target_s` has passed (1 to `max_steps`)."""
    from resnas.train import random_crop_flip

    dev = torch.device(device)
    cuda = dev.type == "cuda"
    torch.manual_seed(0)
    model = probe.build().to(dev)
    if cuda:
        model = model.to(memory_format=torch.channels_last)
    model.train()
    gen = torch.Generator().manual_seed(0)
    x = torch.randint(0, 256, (probe.batch_size, *probe.shape), dtype=torch.uint8, generator=gen).to(dev)
    y = torch.randint(0, probe.classes, (probe.batch_size,), generator=gen).to(dev)
    momentum = 0.9 if probe.engine == "train" else 0.0
    opt = torch.optim.SGD(model.parameters(), lr=1e-3, momentum=momentum,
                          weight_decay=1e-4 if probe.engine == "train" else 0.0)
    aug_gen = torch.Generator(device=dev).manual_seed(0)
    amp = cuda and probe.engine == "train"

    def step():
        xb = random_crop_flip(x, aug_gen) if probe.augment else x
        xb = (xb.float() / 255.0 - 0.5) / 0.25
        if cuda:
            xb = xb.contiguous(memory_format=torch.channels_last)
        with torch.autocast(dev.type, dtype=torch.bfloat16, enabled=amp):
            out = model(xb)
        loss = F.cross_entropy(out.float(), y)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        if cuda:
            torch.cuda.synchronize(dev)

    step()  # warm-up: allocations, cudnn's choice of kernels
    steps, start = 0, time.perf_counter()
    while True:
        step()
        steps += 1
        elapsed = time.perf_counter() - start
        if elapsed >= target_s or steps >= max_steps:
            return elapsed / (steps * probe.batch_size)


def gpu_images_per_s(flops: float, batch_size: int) -> float:
    """Training images per second on the assumed GPU (see the module docstring)."""
    by_flops = GPU_RESNET20_IMAGES_PER_S * resnet20_flops() / max(flops, 1.0)
    return min(by_flops, batch_size / GPU_MIN_STEP_S)


# ------------------------------------------------------------------------------------------------ the table
def _combined_bound(parts) -> str:
    bounds = {p.bound for p in parts}
    return "≤" if "≤" in bounds else "≈" if "≈" in bounds else "="


def part_rows(notebook: str, count: Count, seconds_per_image: Callable[[Probe], float]) -> list[dict]:
    """One row per part of a notebook's count, with its two times in hours: here, the probe's measured seconds
    per image scaled to the part's FLOPs (`Probe.seconds_per_image`); on the GPU, `gpu_images_per_s`."""
    return [{"notebook": notebook, "part": p.what, "trainings": p.trainings, "bound": p.bound,
             "epochs_each": p.epochs, "train_images": p.train_images, "eval_images": p.eval_images,
             "mflops_per_image": p.flops / 1e6, "probe": p.probe.label,
             "cpu_hours_here": p.weighted_images * p.probe.seconds_per_image(p.flops, seconds_per_image) / 3600,
             "gpu_hours_assumed": p.weighted_images / gpu_images_per_s(p.flops, p.batch_size or p.probe.batch_size)
             / 3600}
            for p in count.parts]


def _row(notebook: str, count: Count, parts_here: list[dict]) -> dict:
    parts = count.parts
    epochs = sum(p.total_epochs for p in parts)
    image_epochs = sum(p.image_epochs for p in parts)
    here = sum(r["cpu_hours_here"] for r in parts_here)
    gpu = sum(r["gpu_hours_assumed"] for r in parts_here)
    flops = sum(p.image_epochs * p.flops for p in parts) / image_epochs if image_epochs else math.nan
    remarks = list(count.remarks)
    vs_paper = math.nan
    if notebook in PAPER_EPOCHS:
        paper, what = PAPER_EPOCHS[notebook]
        vs_paper = epochs / paper
        if vs_paper > 1 and count.paper_why:
            remarks.append(f"{vs_paper:.1f}× the paper's epochs ({what}): {count.paper_why}")
    trainings = sum(p.trainings for p in parts)
    if notebook in PAPER_RUN_TIME and trainings:
        remarks.append(f"≈ {60 * gpu / trainings:.0f} min per run on the assumed GPU (the paper: "
                       f"{PAPER_RUN_TIME[notebook]})")
    return {"notebook": notebook, "trainings": trainings, "bound": _combined_bound(parts),
            "epochs": epochs, "images_per_epoch": image_epochs / epochs if epochs else math.nan,
            "image_epochs": image_epochs, "mflops_per_image": flops / 1e6, "cpu_hours_here": here,
            "gpu_hours_assumed": gpu, "vs_paper": vs_paper, "remark": "; ".join(remarks)}


def _empty_row(notebook: str, remark: str) -> dict:
    row = {c: math.nan for c in COLUMNS}
    row.update(notebook=notebook, bound="", remark=remark)
    return row


def estimate_table(profile: str, params_root="params", notebooks=None,
                   calibrate: Callable[[Probe], float] | None = None) -> pd.DataFrame:
    """One row per notebook of `resnas.experiments.EXPERIMENTS` (or of `notebooks`), in the columns of
    `COLUMNS`. `calibrate(probe) -> seconds per training image` defaults to `measure` on the CPU; each probe is
    measured once per call. A notebook without a counter gets the remark 'no estimate yet'; one whose
    parameters do not load or whose count fails gets 'estimate failed: ...' (the table is still made).
    `df.attrs` holds 'caption', 'calibration' (a record per probe measured) and 'parts' (`part_rows` of every
    notebook), as plain strings and lists of dicts."""
    from resnas.experiments import EXPERIMENTS

    measured: dict[Probe, float] = {}
    timer = calibrate or measure

    def seconds_per_image(probe: Probe) -> float:
        if probe not in measured:
            measured[probe] = float(timer(probe))
        return measured[probe]

    ctx = Context(profile, params_root)
    rows, parts = [], []
    for notebook in notebooks or list(EXPERIMENTS):
        counter = COUNTERS.get(notebook)
        if counter is None:
            rows.append(_empty_row(notebook, "no estimate yet"))
            continue
        try:
            exp = EXPERIMENTS[notebook]
            p = load_profile(exp.params_class(), notebook, profile, root=params_root)
            count = counter(p, ctx)
            these = part_rows(notebook, count, seconds_per_image)
            rows.append(_row(notebook, count, these))
            parts += these
        except Exception as exc:  # noqa: BLE001 -- one notebook's failure must not hide the others' costs
            rows.append(_empty_row(notebook, f"estimate failed: {type(exc).__name__}: {exc}"))
    table = pd.DataFrame(rows, columns=COLUMNS)
    # plain records, not frames: pandas compares attrs when frames are joined or concatenated, and two frames
    # as values would make that comparison raise
    table.attrs["calibration"] = (
        [{"probe": p.label, "shape": "×".join(map(str, p.shape)), "classes": p.classes, "batch": p.batch_size,
          "mflops_per_image": p.flops / 1e6, "images_per_s_here": 1.0 / s if s > 0 else math.inf}
         for p, s in measured.items()])
    table.attrs["parts"] = parts
    table.attrs["caption"] = caption(profile, calibrated=calibrate is None)
    return table


def caption(profile: str, calibrated: bool = True) -> str:
    threads = torch.get_num_threads()
    here = (f"measured here on the CPU ({threads} torch thread{'s' if threads != 1 else ''}) from a few "
            f"batches of one representative network per family (below; ERA: two), scaled by FLOPs"
            if calibrated else "from a supplied calibration (not measured)")
    return (f"**Cost of profile `{profile}`.** Trainings and epochs each notebook runs (`≤`: an upper bound, `≈`: "
            f"approximate, see the remark); images per epoch are training images; `cpu_hours_here` is {here}; "
            f"`gpu_hours_assumed` rests on an ASSUMPTION: an {GPU_NAME} trains a ResNet-20-sized CIFAR-10 network "
            f"({resnet20_flops() / 1e6:.1f} MFLOPs/image) at {GPU_RESNET20_IMAGES_PER_S:,.0f} images/s with bf16 "
            f"and channels_last, scaled by FLOPs per image relative to ResNet-20 and capped at one step per "
            f"{GPU_MIN_STEP_S * 1e3:g} ms; one training at a time. Evaluated images count a third of a trained "
            f"one. `vs_paper`: epochs against what the paper spent.")


def _count_text(v: float, bound: str) -> str:
    if v != v:
        return ""
    prefix = "" if bound in ("=", "") else f"{bound} "
    return prefix + (f"{v:,.0f}" if v >= 10 or float(v).is_integer() else f"{v:,.2f}")


def _hours(v: float) -> str:
    if v != v:
        return ""
    return f"{v:.2g}" if v < 10 else f"{v:,.0f}"


def _big(v: float) -> str:
    if v != v:
        return ""
    for unit, size in (("G", 1e9), ("M", 1e6), ("k", 1e3)):
        if abs(v) >= size:
            return f"{v / size:.3g}{unit}"
    return f"{v:.3g}"


def markdown(table: pd.DataFrame, parts: bool = False) -> str:
    """The caption, the table and the calibration as Markdown (`resnas.report.markdown_table`); with `parts`,
    every notebook's parts too."""
    from resnas.report import markdown_table

    shown = pd.DataFrame({
        "notebook": table.notebook,
        "trainings": [_count_text(v, b) for v, b in zip(table.trainings, table.bound)],
        "epochs": [_count_text(v, b) for v, b in zip(table.epochs, table.bound)],
        "images/epoch": [_count_text(v, "") for v in table.images_per_epoch],
        "image-epochs": [_big(v) for v in table.image_epochs],
        "MFLOPs/image": [_big(v) for v in table.mflops_per_image],
        "CPU hours here": [_hours(v) for v in table.cpu_hours_here],
        f"{GPU_NAME} hours (assumed)": [_hours(v) for v in table.gpu_hours_assumed],
        "× paper": ["" if v != v else f"{v:.2g}" for v in table.vs_paper],
        "remark": table.remark,
    })
    gpu = table.gpu_hours_assumed.sum()
    totals = (f"Total: {_hours(table.cpu_hours_here.sum())} CPU hours here, {_hours(gpu)} {GPU_NAME} hours "
              f"({gpu / 24:.2g} GPU-days) assumed.")
    out = [table.attrs.get("caption", ""), "", markdown_table(shown, max_rows=len(shown) or 1), "", totals]
    calibration = pd.DataFrame(table.attrs.get("calibration", []))
    if len(calibration):
        shown_cal = calibration.assign(mflops_per_image=[_big(v) for v in calibration.mflops_per_image],
                                       images_per_s_here=[f"{v:,.0f}" for v in calibration.images_per_s_here])
        out += ["", "Calibration (training images per second measured here):", "",
                markdown_table(shown_cal, max_rows=len(shown_cal))]
    detail = pd.DataFrame(table.attrs.get("parts", []))
    if parts and len(detail):
        shown_parts = pd.DataFrame({
            "notebook": detail.notebook, "part": detail.part,
            "trainings": [_count_text(v, b) for v, b in zip(detail.trainings, detail.bound)],
            "epochs each": [f"{v:g}" for v in detail.epochs_each],
            "train/eval images": [f"{a:,}/{b:,}" for a, b in zip(detail.train_images, detail.eval_images)],
            "MFLOPs/image": [_big(v) for v in detail.mflops_per_image],
            "CPU hours here": [_hours(v) for v in detail.cpu_hours_here],
            f"{GPU_NAME} hours": [_hours(v) for v in detail.gpu_hours_assumed]})
        out += ["", "Parts:", "", markdown_table(shown_parts, max_rows=len(shown_parts))]
    return "\n".join(out)


def main(argv=None) -> int:
    from resnas.report import REPOSITORY

    ap = argparse.ArgumentParser(prog="python -m resnas.estimate", description=__doc__.splitlines()[0])
    ap.add_argument("--profile", default="default")
    ap.add_argument("--params-root", default=str(REPOSITORY / "params"))
    ap.add_argument("--parts", action="store_true", help="also list every notebook's parts")
    ap.add_argument("notebooks", nargs="*", help="only these notebooks (default: all)")
    a = ap.parse_args(argv)
    start = time.perf_counter()
    from resnas.pipeline import profile_notebooks  # a partial profile (params/decide/) counts only its notebooks
    table = estimate_table(a.profile, a.params_root, a.notebooks or profile_notebooks(a.profile, a.params_root))
    print(markdown(table, parts=a.parts))
    print(f"\n(calibration and counting took {time.perf_counter() - start:.1f} s)")
    failed = table[table.remark.str.startswith("estimate failed")]
    for r in failed.itertuples():
        print(f"error: {r.notebook}: {r.remark}", file=sys.stderr)
    return 1 if len(failed) else 0


if __name__ == "__main__":
    sys.exit(main())
