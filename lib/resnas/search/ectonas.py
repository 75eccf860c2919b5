"""ECToNAS (ectonas.txt §3, spec/ectonas.md): an evolutionary search over sequential CNNs/FFNNs whose children
inherit their parent's trained weights through the morphisms of `resnas.morph`.

The search knows nothing about how training is done. It is given a `trainer`:

    trainer(model, epochs: float) -> float

which trains `model` in place for `epochs` (possibly fractional) epochs and returns its validation accuracy
(in [0, 1]; NaN or a non-finite weight afterwards marks the candidate as failed). Every call's `epochs` is
counted against the budget, warm-up included. Unit tests drive the loop with a fake trainer.

Loop (Algorithm 1 with the spec's details):
  1. warm-up: train the start topology `warmup_epochs`;
  2. per generation, while the epochs spent so far are below the budget (checked at the start of a generation,
     so the run may overshoot; `SearchResult.total_epochs` is the true total):
     - every parent produces one child per (operation, location) (`offspring`), degenerate children dropped;
     - each child gets a short recuperative training (`RECUPERATION`), which also gives its first record;
     - phase 1: per operation type a bracket (random pairs, the lower score eliminated, a lucky ticket for an
       odd one out) down to 1 winner (2 if there is only one type); always greedy;
     - phase 2: all phase-1 winners in one bracket down to `n_winners`, with the balanced fitness if alpha < 1;
     - each phase has up to `rounds` rounds; in every round every member first trains `epochs_per_round`
       epochs (one trainer call per epoch, each a record). Phase 2 always trains at least one round, so that a
       generation never ends with untrained parents. If members are still above the target after the last
       round, the best by the phase's key (random in random mode) fill it;
  3. the final network is the best of the last parents by the phase-2 key; it is already trained.

Score: the mean of a candidate's last 3 recorded validation accuracies (fewer if it has fewer).
Balanced fitness (alpha < 1), relative to the candidate's own parent (its score when it was selected, and its
parameter count): dv = (v - v_parent) / v_parent, dp = (P - P_parent) / P_parent, s = alpha dv - (1 - alpha) dp.
Both differences are fractions of the parent's value, so a 1% accuracy gain weighs like a 1% parameter cut at
alpha = 0.5. Greedy (alpha = 1) uses s = v.

Random mode (`random_mode=True`): each elimination and the final pick are drawn at random (seeded); the training
is the same. A failed candidate (non-finite accuracy or weights) loses every comparison in any mode, unless
both are failed.
"""
from __future__ import annotations

import copy
import math
import random
from dataclasses import dataclass, field
from typing import Callable, Optional

import torch

from resnas import morph
from resnas.spaces import sequential
from resnas.spaces.sequential import ConvLayer, SeqCNN, SeqGenome

Trainer = Callable[[SeqCNN, float], float]

OP_TYPES = ("identity", "remove_cell", "add_channels", "remove_channels", "add_units", "remove_units",
            "remove_dense", "add_cell", "add_dense", "add_block", "widen", "prune_channels")
# Recuperative training (epochs) right after the morphism: 0.1 after identity / widening / add-dense, 0.25
# after add-cell, 1.0 after any removal.
RECUPERATION = {"identity": 0.1, "add_channels": 0.1, "add_units": 0.1, "add_dense": 0.1, "add_cell": 0.25,
                "remove_cell": 1.0, "remove_channels": 1.0, "remove_units": 1.0, "remove_dense": 1.0,
                # ERA ResNets (`era_offspring`): an identity block as add-cell, widening as add-channels
                "add_block": 0.25, "widen": 0.1, "prune_channels": 1.0}


@dataclass(frozen=True)
class EctoConfig:
    budget: float = 1000.0  # epochs, every epoch or fraction counted, warm-up included
    alpha: float = 1.0  # 1 greedy; < 1 balanced fitness in phase 2
    random_mode: bool = False
    warmup_epochs: float = 10.0
    rounds: int = 3  # per phase
    epochs_per_round: float = 5.0
    n_winners: int = 2  # parents per generation
    score_window: int = 3  # score = mean of the last `score_window` records
    channel_step: int = 3  # add/remove channels
    unit_fraction: float = 0.1  # add/remove units: max(unit_min, round(unit_fraction x width))
    unit_min: int = 2
    cell_pools: tuple = ("avg", "max")  # one add-cell child per pool type (the type is chosen by the search)
    max_params: int = 8_000_000  # children with >= max_params are dropped
    max_growth: float = 3.0  # children with >= max_growth x 100% more parameters than the parent are dropped
    max_generations: Optional[int] = None  # a safety stop besides the budget

    def __post_init__(self):
        if not 0.0 <= self.alpha <= 1.0:
            raise ValueError(f"alpha={self.alpha} is invalid; allowed: 0..1")
        if self.rounds < 1 or self.n_winners < 1 or self.score_window < 1:
            raise ValueError("rounds, n_winners and score_window must be >= 1")
        if self.budget <= 0 or self.epochs_per_round <= 0 or self.warmup_epochs < 0:
            raise ValueError("budget and epochs_per_round must be > 0, warmup_epochs >= 0")
        for pool in self.cell_pools:
            if pool not in ("avg", "max", None):
                raise ValueError(f"cell_pools entry {pool!r} is invalid; allowed: 'avg', 'max', None")


# ------------------------------------------------------------------------------------------- start topologies


def start_genome(name: str, in_channels: int, image_size: int, num_classes: int) -> SeqGenome:
    """The paper's Table 6: {small, medium, large} x {cnn, ffnn}. CNN cells are conv -> average pool -> batch norm
    -> ReLU; a pool that would shrink the map below 1px is left out (digits' 8px images take three pools)."""
    size, _, kind = name.partition("_")
    table = {"small": ((3, 6, 9), (10,)), "medium": ((3, 6), (10, 10)), "large": ((3,), (100, 50, 10))}
    if size not in table or kind not in ("cnn", "ffnn"):
        raise ValueError(f"topology={name!r} is unknown; allowed: {', '.join(TOPOLOGIES)}")
    channels, dense = table[size]
    cells, side = [], image_size
    if kind == "cnn":
        for c in channels:
            pool = "avg" if side >= 2 else None
            side = side // 2 if pool else side
            cells.append(ConvLayer(c, pool))
    return SeqGenome(in_channels, image_size, tuple(cells), dense, num_classes)


TOPOLOGIES = tuple(f"{s}_{k}" for s in ("small", "medium", "large") for k in ("cnn", "ffnn"))
SEEDS = (42, 13, 28)


# ------------------------------------------------------------------------------------------------- offspring


@dataclass
class Child:
    op: str  # one of OP_TYPES
    location: int
    detail: str
    model: SeqCNN


def _finite(model: torch.nn.Module) -> bool:
    return all(torch.isfinite(t).all() for t in list(model.parameters()) + list(model.buffers())
               if t.is_floating_point())


def offspring(model: SeqCNN, cfg: EctoConfig = EctoConfig(),
              generator: Optional[torch.Generator] = None) -> list[Child]:
    """One child per (operation, location) of `model` (spec/ectonas.md), degenerate ones dropped:
    identity; remove-cell per cell; add/remove `channel_step` channels per cell; add/remove units and remove-layer
    per hidden dense layer; add-cell before every cell and before the flatten (one child per pool type in
    `cell_pools`, no pool where the map is already 1px); add-dense before every dense layer except the first after
    the flatten (indices 1..len(dense); index 0 would be an identity over the whole flatten). Removals that would
    leave nothing are skipped. The spec's "(and none when the flatten input is already 1x1)" is read as: no
    pooled add-cell child where the map is 1px (an unpooled one is still offered); nothing else is skipped."""
    genome = sequential.genome_of(model)
    children: list[Child] = [Child("identity", 0, "", copy.deepcopy(model))]

    def attempt(op, location, detail, fn, *args, **kw):
        children.append(Child(op, location, detail, fn(model, *args, **kw)[0]))

    for i, cell in enumerate(genome.cells):
        attempt("remove_cell", i, "", morph.remove_conv_cell, i, generator=generator)
        attempt("add_channels", i, f"+{cfg.channel_step}", morph.widen_conv, i, cfg.channel_step,
                generator=generator)
        if cell.channels > cfg.channel_step:
            attempt("remove_channels", i, f"-{cfg.channel_step}", morph.remove_conv_channels, i, cfg.channel_step)
    for i, units in enumerate(genome.dense):
        step = max(cfg.unit_min, round(cfg.unit_fraction * units))
        attempt("add_units", i, f"+{step}", morph.widen_dense, i, step, generator=generator)
        if units > step:
            attempt("remove_units", i, f"-{step}", morph.remove_dense_units, i, units - step)
        attempt("remove_dense", i, "", morph.remove_dense_layer, i)
    for i in range(len(genome.cells) + 1):
        pools = cfg.cell_pools if genome.flat_size >= sequential.WINDOW else (None,)
        for pool in dict.fromkeys(pools):  # unique, in order
            attempt("add_cell", i, str(pool), morph.add_conv_cell, i, pool=pool, generator=generator)
    for i in range(1, len(genome.dense) + 1):
        attempt("add_dense", i, "", morph.add_dense_layer, i)

    return _keep(model, children, cfg)


def era_offspring(example: torch.Tensor, prune_ratio: float = 0.25):
    """Offspring for ERA ResNets (the paper names residual networks as its main limitation): identity; an
    identity-starting block appended to each non-empty section (up to 18); all widths doubled; and BN-gamma
    channel pruning through the residual couplings (Torch-Pruning). A pruned network no longer matches an ERA
    configuration, so growth children of it cannot be built and are left out: it can only be pruned further.
    `example` is one input batch (its shape is all that matters). Returns an `offspring`-like function."""
    def make(model, cfg: EctoConfig = EctoConfig(), generator=None) -> list[Child]:
        children = [Child("identity", 0, "", copy.deepcopy(model))]
        config = getattr(model, "config", None)
        if not getattr(model, "pruned", False) and config is not None:
            for section, depth in enumerate(config.depths):
                if 0 < depth < 18:
                    children.append(Child("add_block", section, "", morph.era_add_block(model, section)[0]))
            children.append(Child("widen", 0, "x2", morph.era_widen(model)[0]))
        pruned = morph.era_prune_channels(model, prune_ratio, example)[0]
        pruned.pruned = True
        children.append(Child("prune_channels", 0, f"-{prune_ratio:.0%}", pruned))
        return _keep(model, children, cfg)

    return make


def _keep(model, children: list[Child], cfg: EctoConfig) -> list[Child]:
    """Drop degenerate children: too many parameters, too much growth, non-finite weights."""
    parent_params = sequential.count_params(model)
    kept = []
    for child in children:
        p = sequential.count_params(child.model)
        if p >= cfg.max_params or p >= (1.0 + cfg.max_growth) * parent_params or not _finite(child.model):
            continue
        kept.append(child)
    return kept


# ------------------------------------------------------------------------------------------------ candidates


@dataclass
class Candidate:
    id: int
    model: SeqCNN
    op: str
    location: int
    detail: str
    generation: int
    parent_id: Optional[int]
    parent_score: float
    parent_params: int
    epochs: float = 0.0  # training received, the parent's included
    records: list = field(default_factory=list)  # own validation accuracies, one per trainer call
    curve: list = field(default_factory=list)  # (epochs received, val acc), the lineage's included
    failed: bool = False
    fitness: float = float("nan")  # the phase-2 key when it was selected

    @property
    def params(self) -> int:
        return sequential.count_params(self.model)

    def score(self, window: int = 3) -> float:
        if self.failed or not self.records:
            return -math.inf
        last = self.records[-window:]
        return sum(last) / len(last)


def fitness(score: float, params: int, parent_score: float, parent_params: int, alpha: float) -> float:
    """Eq. (2) with relative differences: s = v (alpha = 1), else alpha dv - (1 - alpha) dp, where
    dv = (v - v_parent) / v_parent and dp = (P - P_parent) / P_parent."""
    if not math.isfinite(score):
        return -math.inf
    if alpha >= 1.0:
        return score
    dv = (score - parent_score) / max(parent_score, 1e-12)
    dp = (params - parent_params) / parent_params
    return alpha * dv - (1.0 - alpha) * dp


@dataclass
class SearchResult:
    best: Candidate
    parents: list
    trace: list  # one dict per (generation, winner); generation 0 is the warm-up
    candidates: list  # one dict per candidate ever trained
    total_epochs: float
    generations: int
    config: EctoConfig

    @property
    def scratch_epochs(self) -> float:
        """What training every candidate from scratch to the training it received would have cost."""
        return sum(c["epochs_received"] for c in self.candidates)

    @property
    def epochs_saved(self) -> float:
        """Fraction of training saved against retraining every candidate from scratch."""
        return 1.0 - self.total_epochs / self.scratch_epochs if self.scratch_epochs else float("nan")


class _Search:
    def __init__(self, trainer: Trainer, cfg: EctoConfig, seed: int):
        self.trainer, self.cfg = trainer, cfg
        self.rng = random.Random(seed)
        self.generator = torch.Generator().manual_seed(seed)
        self.total = 0.0
        self.next_id = 0
        self.log: list[Candidate] = []

    # -- training
    def train(self, cand: Candidate, epochs: float) -> None:
        """Train `epochs` in trainer calls of at most one epoch each (each a record)."""
        left = epochs
        while left > 1e-9 and not cand.failed:
            step = min(1.0, left)
            acc = float(self.trainer(cand.model, step))
            left -= step
            self.total += step
            cand.epochs += step
            cand.records.append(acc)
            cand.curve.append((cand.epochs, acc))
            if not math.isfinite(acc) or not _finite(cand.model):
                cand.failed = True

    def new(self, model, op, location, detail, generation, parent: Optional[Candidate]) -> Candidate:
        cand = Candidate(self.next_id, model, op, location, detail, generation,
                         parent.id if parent else None,
                         parent.score(self.cfg.score_window) if parent else float("nan"),
                         parent.params if parent else 0,
                         epochs=parent.epochs if parent else 0.0,
                         curve=list(parent.curve) if parent else [])
        self.next_id += 1
        self.log.append(cand)
        return cand

    # -- selection
    def key(self, cand: Candidate, balanced: bool) -> float:
        s = cand.score(self.cfg.score_window)
        if not balanced:
            return s
        return fitness(s, cand.params, cand.parent_score, cand.parent_params, self.cfg.alpha)

    def better(self, a: Candidate, b: Candidate, balanced: bool) -> Candidate:
        if a.failed != b.failed:
            return b if a.failed else a
        if self.cfg.random_mode:
            return self.rng.choice((a, b))
        return a if self.key(a, balanced) >= self.key(b, balanced) else b

    def bracket(self, members: list, target: int, balanced: bool, force_train: bool = False) -> list:
        members = list(members)
        for r in range(self.cfg.rounds):
            if len(members) <= target and not (force_train and r == 0):
                break
            for m in members:
                self.train(m, self.cfg.epochs_per_round)
            if len(members) <= target:
                continue
            self.rng.shuffle(members)
            pairs = min(len(members) // 2, len(members) - target)
            winners = [self.better(members[2 * i], members[2 * i + 1], balanced) for i in range(pairs)]
            members = winners + members[2 * pairs:]  # the unpaired rest hold lucky tickets
        if len(members) > target:
            if self.cfg.random_mode:
                ok = [m for m in members if not m.failed] or members
                members = self.rng.sample(ok, min(target, len(ok)))
            else:
                members = sorted(members, key=lambda m: self.key(m, balanced), reverse=True)[:target]
        return members


def run(start: SeqCNN, trainer: Trainer, cfg: EctoConfig = EctoConfig(), seed: int = 42,
        on_generation: Optional[Callable[[int, list], None]] = None, make_offspring=None) -> SearchResult:
    """Run ECToNAS from the (untrained or trained) model `start`; it is not modified. `make_offspring` defaults
    to the sequential-CNN `offspring`; `era_offspring(example)` runs the search on ERA ResNets."""
    make_offspring = make_offspring or offspring
    s = _Search(trainer, cfg, seed)
    balanced = cfg.alpha < 1.0
    root = s.new(copy.deepcopy(start), "start", 0, "", 0, None)
    s.train(root, cfg.warmup_epochs)
    root.fitness = root.score(cfg.score_window)
    parents = [root]
    trace = [_trace_row(0, 0, root, s.total, 1, cfg)]
    generation = 0
    while s.total < cfg.budget and (cfg.max_generations is None or generation < cfg.max_generations):
        generation += 1
        children = []
        for parent in parents:
            for child in make_offspring(parent.model, cfg, s.generator):
                cand = s.new(child.model, child.op, child.location, child.detail, generation, parent)
                s.train(cand, RECUPERATION[child.op])
                children.append(cand)
        by_type: dict[str, list] = {}
        for c in children:
            by_type.setdefault(c.op, []).append(c)
        per_type = 1 if len(by_type) > 1 else 2
        finalists = [w for op in by_type for w in s.bracket(by_type[op], per_type, balanced=False)]
        winners = s.bracket(finalists, cfg.n_winners, balanced=balanced, force_train=True)
        winners = sorted(winners, key=lambda c: s.key(c, balanced), reverse=True)
        for w in winners:
            w.fitness = s.key(w, balanced)
        parents = winners
        trace += [_trace_row(generation, rank, w, s.total, len(children), cfg) for rank, w in enumerate(winners)]
        if on_generation is not None:
            on_generation(generation, winners)
    if cfg.random_mode:
        ok = [p for p in parents if not p.failed] or parents
        best = s.rng.choice(ok)
    else:
        best = max(parents, key=lambda p: (not p.failed, p.fitness))
    candidates = [{"id": c.id, "generation": c.generation, "parent_id": c.parent_id, "op": c.op,
                   "location": c.location, "detail": c.detail, "params": c.params, "epochs_received": c.epochs,
                   "score": c.score(cfg.score_window), "failed": c.failed} for c in s.log]
    return SearchResult(best, parents, trace, candidates, s.total, generation, cfg)


def _trace_row(generation, rank, cand: Candidate, total, n_children, cfg) -> dict:
    if isinstance(cand.model, SeqCNN):
        genome = sequential.genome_of(cand.model)
        shape = {"cells": len(genome.cells), "dense": len(genome.dense), "architecture": describe(genome)}
    else:  # an ERA ResNet: its configuration, while it still matches one
        label = str(cand.model.config) + (" pruned" if getattr(cand.model, "pruned", False) else "")
        shape = {"cells": sum(cand.model.config.depths), "dense": 0, "architecture": label}
    return {"generation": generation, "rank": rank, "id": cand.id, "parent_id": cand.parent_id, "op": cand.op,
            "location": cand.location, "detail": cand.detail, "params": cand.params,
            "val_acc": cand.score(cfg.score_window), "fitness": cand.fitness, "epochs_received": cand.epochs,
            "epochs_total": total, "children": n_children, **shape}


def describe(genome: SeqGenome) -> str:
    """A short label: conv cells as channels + pool letter (a avg, m max, none), then dense widths,
    e.g. 'c3a-c6m-c6 | d10'."""
    cells = "-".join(f"c{c.channels}{(c.pool or '')[:1]}" for c in genome.cells) or "none"
    dense = "-".join(f"d{u}" for u in genome.dense) or "none"
    return f"{cells} | {dense}"


def baseline(model: SeqCNN, trainer: Trainer, epochs: float) -> list:
    """Train the start topology plainly, one trainer call per epoch; the curve [(epochs, val acc)]."""
    curve, done = [], 0.0
    while done < epochs - 1e-9:
        step = min(1.0, epochs - done)
        acc = float(trainer(model, step))
        done += step
        curve.append((done, acc))
    return curve
