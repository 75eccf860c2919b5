"""GENAS: evolution of cell tables on a weight-sharing supernet, with a gradient-guided local search every n
generations (Xue et al., IEEE TNNLS 2024; only the abstract is public, so everything beyond it is our
inference, spec/genas.md).

**Not an ask/tell strategy.** GENAS owns weights: the supernet is trained between generations and every
fitness is measured with the weights inherited from it, so the search cannot hand candidates to an external
evaluator and wait for numbers (`resnas.search`'s ask/tell interface). It takes a data handle (`SearchData`)
instead and runs itself: `Genas(space, data, config, checkpoint_dir=...).run()`.

One generation (`GenasConfig` names every setting):
1. the population: at generation 1, `population` random tables; later the `elite` best of the last
   generation plus children, each the `space.mutate` of a `space.crossover` of two tournament winners (with
   probability `crossover_rate`, else of one winner); the abstract's "novel crossover and mutation on the
   tabular encoding" are the cell spaces' (rows, or DARTS node blocks);
2. one supernet epoch (`train_images` images, SGD with momentum, cosine learning rate from `lr` to `lr_min`
   over the generations, gradient clipping), single path: batch s trains member s mod population in
   `train_mode` ('decoupled' = only that table's operations; 'coupled' = the lineage's softmax mixture);
3. fitness = validation accuracy (%) with inherited weights on `fitness_batches` validation batches, the
   same for every member of a generation, in `fitness_mode`, after BN recalibration on
   `recalibrate_batches` training batches when that is > 0;
4. every `local_every` generations (0: never) the local search (`local_search`): each of the `local_top_k`
   best tables is relaxed into architecture weights peaked at its choices (`resnas.supernet.relax`), moved by
   `local_steps` first-order DARTS steps (Adam, `local_lr`) on validation loss with the supernet's weights
   frozen, and re-discretised; the new table replaces the old only if its fitness is higher (Lamarckian).

`variation='random'` keeps the elites and fills the rest of each generation with fresh random tables (random
search with parameter sharing, the ablation's control); `variation='gradient'` is first-order DARTS on the same
supernet at the same budget: each training batch is followed by an architecture step on a validation batch in
relaxed mode, and the table is the discretised architecture weights.

**Resumable.** After each generation the whole state (population and fitnesses, supernet weights and BN
statistics, optimiser state, architecture weights of the gradient arm, history) is written atomically to
`genas-<hash>.pt` in `checkpoint_dir`, the hash taken over the configuration, the space and the data; a rerun
with the same ones continues after the last finished generation. Random numbers are drawn from generators
seeded by (seed, generation), so a resumed run repeats the uninterrupted one exactly on a CPU.
"""
from __future__ import annotations

import hashlib
import json
import math
import os
import secrets
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import torch
from torch.nn import functional as F

from resnas.supernet import (Relaxation, Supernet, bn_state, discretise, load_bn_state, recalibrated, relax)

VARIATIONS = ("evolution", "random", "gradient")


@dataclass(frozen=True)
class GenasConfig:
    population: int = 8
    generations: int = 10
    tournament: int = 3
    elite: int = 2
    crossover_rate: float = 0.5
    variation: str = "evolution"
    local_every: int = 5  # 0: never
    local_top_k: int = 2
    local_steps: int = 5
    local_lr: float = 0.1
    peak: float = 3.0
    batch_size: int = 64
    train_images: int | None = None  # per supernet epoch; None: the whole training split
    lr: float = 0.025
    lr_min: float = 0.001
    momentum: float = 0.9
    weight_decay: float = 3e-4
    grad_clip: float = 5.0
    train_mode: str = "decoupled"
    fitness_mode: str = "decoupled"
    fitness_batches: int = 1
    val_batch_size: int = 256
    recalibrate_batches: int = 0
    arch_lr: float = 3e-4  # variation='gradient': Adam on the architecture weights (DARTS's 3e-4, beta 0.5)
    arch_weight_decay: float = 1e-3
    seed: int = 0

    def __post_init__(self):
        def need(ok, name, allowed):
            if not ok:
                raise ValueError(f"{name}={getattr(self, name)!r} is invalid; allowed: {allowed}")

        need(self.population >= 2, "population", ">= 2")
        need(self.generations >= 1, "generations", ">= 1")
        need(1 <= self.tournament <= self.population, "tournament", f"1 to population={self.population}")
        need(0 <= self.elite < self.population, "elite", f"0 to population - 1 = {self.population - 1}")
        need(0 <= self.crossover_rate <= 1, "crossover_rate", "0 to 1")
        need(self.variation in VARIATIONS, "variation", ", ".join(VARIATIONS))
        need(self.local_every >= 0, "local_every", ">= 0 (0: never)")
        need(1 <= self.local_top_k <= self.population, "local_top_k", f"1 to population={self.population}")
        need(self.local_steps >= 0, "local_steps", ">= 0")
        need(self.train_mode in ("decoupled", "coupled"), "train_mode", "'decoupled' or 'coupled'")
        need(self.fitness_mode in ("decoupled", "coupled"), "fitness_mode", "'decoupled' or 'coupled'")
        need(self.fitness_batches >= 1, "fitness_batches", ">= 1")
        need(self.recalibrate_batches >= 0, "recalibrate_batches", ">= 0")
        need(self.batch_size >= 1 and self.val_batch_size >= 1, "batch_size", ">= 1 (val_batch_size too)")
        need(self.train_images is None or self.train_images >= 1, "train_images", "None or >= 1")


# ---------------------------------------------------------------------------------------------- data handle
@dataclass(frozen=True, eq=False)
class SearchData:
    """What GENAS trains and judges on: uint8 images (N, C, H, W) and labels of a training and a validation
    split, the normalisation, and whether training batches get pad-4 crop + flip (natural images)."""

    x_train: torch.Tensor
    y_train: torch.Tensor
    x_val: torch.Tensor
    y_val: torch.Tensor
    mean: tuple[float, ...]
    std: tuple[float, ...]
    augment: bool = False
    num_classes: int = 10

    @classmethod
    def from_bundle(cls, bundle, device: str = "cpu") -> "SearchData":
        """A `resnas.data.Bundle` loaded with split='val' (its eval split is the validation split), its tensors
        on `device` (the supernet's)."""
        if bundle.spec.split != "val":
            raise ValueError(f"bundle split={bundle.spec.split!r}; allowed: 'val' (search never sees the test set)")
        dev = torch.device(device)
        return cls(bundle.x_train.to(dev), bundle.y_train.to(dev), bundle.x_eval.to(dev), bundle.y_eval.to(dev),
                   tuple(bundle.mean), tuple(bundle.std), bool(bundle.augment), bundle.num_classes)

    @property
    def device(self) -> torch.device:
        return self.x_train.device

    @property
    def in_channels(self) -> int:
        return int(self.x_train.shape[1])

    def norm(self, x: torch.Tensor) -> torch.Tensor:
        mean = torch.tensor(self.mean, device=x.device).view(1, -1, 1, 1)
        std = torch.tensor(self.std, device=x.device).view(1, -1, 1, 1)
        return (x.float() / 255.0 - mean) / std

    def fingerprint(self) -> dict:
        """Sizes and a checksum of the labels and a pixel sum: enough to refuse another data set's checkpoint."""
        return {"train": list(self.x_train.shape), "val": list(self.x_val.shape),
                "labels": hashlib.sha256(self.y_train.cpu().numpy().tobytes()
                                          + self.y_val.cpu().numpy().tobytes()).hexdigest()[:16],
                "pixels": int(self.x_train.sum()) + int(self.x_val.sum()), "mean": list(self.mean),
                "augment": self.augment, "classes": self.num_classes}

    def train_batches(self, batch_size: int, images: int | None, gen: torch.Generator):
        """One epoch of (x, y) training batches over a random permutation (the first `images` of it)."""
        from resnas.train import random_crop_flip

        order = torch.randperm(len(self.y_train), generator=gen)[:images].to(self.device)
        for i in range(0, len(order), batch_size):
            idx = order[i:i + batch_size]
            x = self.x_train[idx]
            if self.augment:  # drawn on the CPU generator, applied where the data is
                x = random_crop_flip(x.cpu(), gen).to(self.device)
            yield self.norm(x), self.y_train[idx]

    def val_batch(self, i: int, batch_size: int):
        """The i-th validation batch, cycling through the validation split."""
        n = len(self.y_val)
        start = (i * batch_size) % n
        idx = (torch.arange(start, start + min(batch_size, n)) % n).to(self.device)
        return self.norm(self.x_val[idx]), self.y_val[idx]


# ---------------------------------------------------------------------------------------------- pieces
def accuracy(supernet: Supernet, table, batches, mode: str = "decoupled", recalibrate=()) -> float:
    """Validation accuracy (%) of the table's subnet with inherited weights; BN recalibrated on the input
    tensors `recalibrate` first when there are any (restored afterwards)."""
    def run():
        correct = total = 0
        with torch.no_grad():
            for x, y in batches:
                correct += int((supernet(x, table, mode).argmax(1) == y).sum())
                total += len(y)
        return 100.0 * correct / total

    was_training = supernet.training
    try:
        if recalibrate:
            with recalibrated(supernet, table, recalibrate):
                return run()
        supernet.eval()
        return run()
    finally:
        supernet.train(was_training)


@dataclass(frozen=True)
class LocalResult:
    table: object
    relaxation: Relaxation  # the architecture weights after the steps (detached)
    losses: tuple[float, ...] = ()


def local_search(supernet: Supernet, table, batches, steps: int, lr: float = 0.1, peak: float = 3.0
                 ) -> LocalResult:
    """Relax `table` into peaked architecture weights, take `steps` first-order DARTS steps (Adam) on the
    validation loss of `batches` (cycled) with the supernet's weights frozen, re-discretise. The supernet's
    parameters and BN statistics are left bit-identical (gradients are taken for the architecture weights
    only, BN statistics are restored); 0 steps return `table` itself."""
    space = supernet.space
    r = relax(space, table, peak, device=next(supernet.parameters()).device)
    if steps == 0:
        return LocalResult(table, r.detached())
    batches = list(batches)
    opt = torch.optim.Adam(r.parameters(), lr=lr)
    saved, was_training = bn_state(supernet), supernet.training
    losses = []
    try:
        supernet.train()  # batch statistics, as DARTS's architecture step
        for s in range(steps):
            x, y = batches[s % len(batches)]
            loss = F.cross_entropy(supernet(x, None, "relaxed", r), y)
            grads = torch.autograd.grad(loss, r.parameters())
            for p, g in zip(r.parameters(), grads):
                p.grad = g
            opt.step()
            losses.append(float(loss.detach()))
    finally:
        load_bn_state(supernet, saved)
        supernet.train(was_training)
    return LocalResult(discretise(space, r), r.detached(), tuple(losses))


def cosine_lr(c: GenasConfig, generation: int) -> float:
    """Learning rate of generation g (1-based): cosine from lr to lr_min over the generations."""
    t = (generation - 1) / max(1, c.generations - 1) if c.generations > 1 else 0.0
    return c.lr_min + 0.5 * (c.lr - c.lr_min) * (1 + math.cos(math.pi * t))


def _atomic_save(obj, path: Path) -> None:
    tmp = path.with_name(f".{path.name}.{os.getpid()}-{secrets.token_hex(4)}.tmp")
    try:
        torch.save(obj, tmp)
        os.replace(tmp, path)  # a kill leaves the previous generation's checkpoint
    finally:
        tmp.unlink(missing_ok=True)


# ---------------------------------------------------------------------------------------------- the search
@dataclass
class GenasState:
    generation: int = 0
    population: list = field(default_factory=list)  # [(table, fitness)] after the generation's evaluation
    history: list = field(default_factory=list)  # one dict per generation
    local_events: list = field(default_factory=list)  # one dict per local-search attempt
    members: list = field(default_factory=list)  # (generation, table json, fitness) of every evaluation
    seconds: float = 0.0


class Genas:
    """GENAS on one cell space (module docstring). `run()` returns self; `best()` the final best (table,
    fitness); `state.history` one row per generation."""

    def __init__(self, space, data: SearchData, config: GenasConfig = GenasConfig(),
                 checkpoint_dir: str | os.PathLike | None = None):
        self.space, self.data, self.config = space, data, config
        with torch.random.fork_rng():  # the supernet's initial weights depend on the seed only
            torch.manual_seed(config.seed)
            self.supernet = Supernet(space, data.in_channels, data.num_classes).to(data.device)
        self.optimizer = torch.optim.SGD(self.supernet.parameters(), lr=config.lr, momentum=config.momentum,
                                         weight_decay=config.weight_decay)
        self.relaxation = None
        self.arch_optimizer = None
        if config.variation == "gradient":  # DARTS starts from uniform architecture weights
            self.relaxation = relax(space, space.sample(np.random.default_rng(config.seed)), peak=0.0,
                                    device=data.device)
            self.arch_optimizer = torch.optim.Adam(self.relaxation.parameters(), lr=config.arch_lr,
                                                   betas=(0.5, 0.999), weight_decay=config.arch_weight_decay)
        self.state = GenasState()
        self.checkpoint = None
        if checkpoint_dir is not None:
            self.checkpoint = Path(checkpoint_dir) / f"genas-{self.digest()}.pt"
            self.checkpoint.parent.mkdir(parents=True, exist_ok=True)
            if self.checkpoint.exists():
                self._load()

    # identity and checkpoints -------------------------------------------------------------------------
    def identity(self) -> dict:
        return json.loads(json.dumps({"config": asdict(self.config), "space": asdict(self.space),
                                      "space_type": type(self.space).__name__, "data": self.data.fingerprint()}))

    def digest(self) -> str:
        return hashlib.sha256(json.dumps(self.identity(), sort_keys=True).encode()).hexdigest()[:12]

    def _save(self) -> None:
        s = self.state
        _atomic_save({"identity": self.identity(), "generation": s.generation,
                      "population": [(self.space.to_json(t), f) for t, f in s.population],
                      "history": s.history, "local_events": s.local_events, "members": s.members,
                      "seconds": s.seconds, "supernet": self.supernet.state_dict(),
                      "optimizer": self.optimizer.state_dict(),
                      "relaxation": None if self.relaxation is None else
                      [t.detach().clone() for t in self.relaxation.parameters()],
                      "arch_optimizer": None if self.arch_optimizer is None else self.arch_optimizer.state_dict()},
                     self.checkpoint)

    def _load(self) -> None:
        saved = torch.load(self.checkpoint, map_location=self.data.device, weights_only=False)
        if saved["identity"] != self.identity():  # a hash collision or a renamed file: never resume it
            raise ValueError(f"{self.checkpoint} holds another search's state; allowed: a checkpoint of these "
                             "parameters, space and data (move the file away)")
        self.supernet.load_state_dict(saved["supernet"])
        self.optimizer.load_state_dict(saved["optimizer"])
        if self.relaxation is not None:
            with torch.no_grad():
                for p, v in zip(self.relaxation.parameters(), saved["relaxation"]):
                    p.copy_(v)
            self.arch_optimizer.load_state_dict(saved["arch_optimizer"])
        self.state = GenasState(saved["generation"], [(self.space.from_json(t), f) for t, f in saved["population"]],
                                saved["history"], saved["local_events"], saved["members"], saved["seconds"])

    # one generation -----------------------------------------------------------------------------------
    def _rng(self, generation: int, purpose: int) -> np.random.Generator:
        return np.random.default_rng([self.config.seed, generation, purpose])

    def _torch_gen(self, generation: int) -> torch.Generator:
        return torch.Generator().manual_seed(int(self._rng(generation, 9).integers(2 ** 62)))

    def _next_tables(self, g: int) -> list:
        c, rng, pop = self.config, self._rng(g, 0), self.state.population
        if c.variation == "gradient":
            return [discretise(self.space, self.relaxation)]
        if g == 1:
            return [self.space.sample(rng) for _ in range(c.population)]
        ranked = sorted(pop, key=lambda m: -m[1])
        elites = [t for t, _ in ranked[:c.elite]]
        if c.variation == "random":
            return elites + [self.space.sample(rng) for _ in range(c.population - c.elite)]

        def winner():
            idx = rng.choice(len(pop), size=c.tournament, replace=False)
            return max((pop[i] for i in idx), key=lambda m: m[1])[0]

        children = []
        for _ in range(c.population - c.elite):
            base = winner()
            if rng.random() < c.crossover_rate:
                base = self.space.crossover(base, winner(), rng)
            children.append(self.space.mutate(base, rng))
        return elites + children

    def _train_epoch(self, g: int, tables: list) -> float:
        c, net = self.config, self.supernet
        for group in self.optimizer.param_groups:
            group["lr"] = cosine_lr(c, g)
        net.train()
        gen = self._torch_gen(g)
        losses = []
        for s, (x, y) in enumerate(self.data.train_batches(c.batch_size, c.train_images, gen)):
            if c.variation == "gradient":  # first-order DARTS: a weight step, then an architecture step
                loss = F.cross_entropy(net(x, None, "relaxed", self.relaxation), y)
                self.optimizer.zero_grad(set_to_none=True)
                loss.backward()
                self.relaxation_zero_grad()
            else:
                loss = F.cross_entropy(net(x, tables[s % len(tables)], c.train_mode), y)
                self.optimizer.zero_grad(set_to_none=True)
                loss.backward()
            torch.nn.utils.clip_grad_norm_(net.parameters(), c.grad_clip)
            self.optimizer.step()
            losses.append(float(loss.detach()))
            if c.variation == "gradient":
                xv, yv = self.data.val_batch(len(self.state.history) * 10_000 + s, c.batch_size)
                grads = torch.autograd.grad(F.cross_entropy(net(xv, None, "relaxed", self.relaxation), yv),
                                            self.relaxation.parameters())
                for p, gr in zip(self.relaxation.parameters(), grads):
                    p.grad = gr
                self.arch_optimizer.step()
        return float(np.mean(losses)) if losses else float("nan")

    def relaxation_zero_grad(self) -> None:
        for p in self.relaxation.parameters():
            p.grad = None

    def _fitness_batches(self, g: int):
        c = self.config
        return [self.data.val_batch((g - 1) * c.fitness_batches + b, c.val_batch_size)
                for b in range(c.fitness_batches)]

    def _recal_batches(self, g: int):
        c = self.config
        if not c.recalibrate_batches:
            return ()
        gen = torch.Generator().manual_seed(int(self._rng(g, 7).integers(2 ** 62)))
        batches = self.data.train_batches(c.batch_size, c.recalibrate_batches * c.batch_size, gen)
        return [x for x, _ in batches]

    def fitness(self, table, g: int) -> float:
        c = self.config
        return accuracy(self.supernet, table, self._fitness_batches(g), c.fitness_mode, self._recal_batches(g))

    def step(self) -> None:
        """Run the next generation and checkpoint it."""
        c, s = self.config, self.state
        g = s.generation + 1
        t0 = time.perf_counter()
        tables = self._next_tables(g)
        train_loss = self._train_epoch(g, tables)
        if c.variation == "gradient":
            tables = [discretise(self.space, self.relaxation)]
        population = [(t, self.fitness(t, g)) for t in tables]
        local = bool(c.local_every) and g % c.local_every == 0 and c.variation == "evolution"
        accepted = 0
        if local:
            order = sorted(range(len(population)), key=lambda i: -population[i][1])[:c.local_top_k]
            for i in order:
                table, before = population[i]
                batches = [self.data.val_batch(10_000 * g + 100 * i + b, c.batch_size)
                           for b in range(max(1, c.local_steps))]
                new = local_search(self.supernet, table, batches, c.local_steps, c.local_lr, c.peak).table
                after = self.fitness(new, g) if new != table else before
                keep = after > before
                accepted += keep
                if keep:
                    population[i] = (new, after)
                s.local_events.append({"generation": g, "member": i, "before": before, "after": after,
                                       "changed": new != table, "accepted": keep,
                                       "table": self.space.to_json(table), "new_table": self.space.to_json(new)})
        s.members += [(g, self.space.to_json(t), f) for t, f in population]
        best_table, best_fit = max(population, key=lambda m: m[1])
        s.seconds += time.perf_counter() - t0
        s.history.append({"generation": g, "lr": cosine_lr(c, g), "train_loss": train_loss, "best_fitness": best_fit,
                          "mean_fitness": float(np.mean([f for _, f in population])), "local_search": local,
                          "local_accepted": accepted, "best_table": self.space.to_json(best_table),
                          "seconds": s.seconds})
        s.population, s.generation = population, g
        if self.checkpoint is not None:
            self._save()

    def run(self, until: int | None = None, progress: bool = False) -> "Genas":
        """Run generations until `until` (default: all); a resumed run starts after its last checkpoint."""
        end = self.config.generations if until is None else min(until, self.config.generations)
        bar = None
        if progress:
            from resnas.progress import tqdm
            bar = tqdm(total=end, initial=self.state.generation, desc=f"GENAS {self.config.variation}", unit="gen")
        while self.state.generation < end:
            self.step()
            if bar is not None:
                bar.update(1)
                bar.set_postfix(best=f"{self.state.history[-1]['best_fitness']:.1f}")
        if bar is not None:
            bar.close()
        return self

    @property
    def done(self) -> bool:
        return self.state.generation >= self.config.generations

    def best(self) -> tuple:
        """(table, fitness) of the best member of the last generation."""
        if not self.state.population:
            raise ValueError("generation=0: nothing evaluated yet; allowed: after run()")
        return max(self.state.population, key=lambda m: m[1])
