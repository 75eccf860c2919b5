"""ECToNAS search loop, driven by fake trainers (accuracy a known function of the architecture), and the small
real trainer `continue_training`."""
import json
import math

import pytest
import torch

from resnas import morph
from resnas.search import ectonas
from resnas.search.ectonas import EctoConfig

@pytest.fixture(autouse=True, scope="module")
def one_thread():
    """Tiny networks: one thread is faster, and OpenMP spinning on a busy machine makes an SVD take seconds."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


SMALL = dict(warmup_epochs=2, rounds=2, epochs_per_round=1, n_winners=2)


class FakeTrainer:
    """Accuracy rises with the parameter count (saturating) and a little with training; counts epochs."""

    def __init__(self, noise_seed=None):
        self.epochs = 0.0
        self.calls = 0
        self.gen = torch.Generator().manual_seed(noise_seed) if noise_seed is not None else None

    def __call__(self, model, epochs):
        assert 0 < epochs <= 1.0
        self.epochs += epochs
        self.calls += 1
        acc = 0.3 + 0.6 * (1 - math.exp(-morph.count_params(model) / 3000))
        if self.gen is not None:
            acc += 0.01 * torch.rand((), generator=self.gen).item()
        return acc


def start(name="small_ffnn", seed=0, channels=1, size=8):
    torch.manual_seed(seed)
    return morph.build(ectonas.start_genome(name, channels, size, 10))


@pytest.mark.parametrize("name", ectonas.TOPOLOGIES)
@pytest.mark.parametrize("shape", [(1, 8), (3, 28)])
def test_offspring_build_run_and_include_identity(name, shape):
    channels, size = shape
    model = start(name, channels=channels, size=size)
    model.eval()
    x = torch.randn(4, channels, size, size)
    children = ectonas.offspring(model, EctoConfig(), torch.Generator().manual_seed(0))
    ops = {c.op for c in children}
    assert "identity" in ops and "add_units" in ops and "add_cell" in ops
    genome = morph.genome_of(model)
    if genome.cells:
        assert {"remove_cell", "add_channels"} <= ops
    parent_params = morph.count_params(model)
    for child in children:
        child.model.eval()
        out = child.model(x)
        assert out.shape == (4, 10) and torch.isfinite(out).all()
        assert morph.count_params(child.model) < 4 * parent_params
    identity = [c for c in children if c.op == "identity"]
    assert len(identity) == 1 and morph.output_change(model, identity[0].model, x) == 0.0
    # one add-cell child per pool type and location (cells + 1 locations)
    adds = [c for c in children if c.op == "add_cell"]
    assert len(adds) == (len(genome.cells) + 1) * (2 if genome.flat_size >= 2 else 1)


def test_offspring_drops_oversized_children():
    model = start("large_ffnn", size=28)  # add-cell without pool on a 28px FFNN would be fine; the cap bites
    kids = ectonas.offspring(model, EctoConfig(max_params=morph.count_params(model) + 10))
    assert all(morph.count_params(c.model) < morph.count_params(model) + 10 for c in kids)
    assert any(c.op == "identity" for c in kids)


def test_start_topologies_follow_table6():
    g = ectonas.start_genome("small_cnn", 1, 28, 10)
    assert [c.channels for c in g.cells] == [3, 6, 9] and g.dense == (10,) and g.flat_size == 3
    assert all(c.pool == "avg" for c in g.cells)
    assert ectonas.start_genome("large_ffnn", 3, 32, 10).dense == (100, 50, 10)
    assert ectonas.start_genome("medium_cnn", 1, 8, 10).cells[1].pool == "avg"
    g = ectonas.start_genome("small_cnn", 1, 4, 10)  # 4px: the third pool would leave nothing
    assert [c.pool for c in g.cells] == ["avg", "avg", None]
    with pytest.raises(ValueError):
        ectonas.start_genome("huge_cnn", 1, 8, 10)


def test_budget_accounting_counts_every_epoch_and_checks_at_generation_start():
    trainer = FakeTrainer()
    cfg = EctoConfig(budget=30, **SMALL)
    res = ectonas.run(start(), trainer, cfg, seed=42)
    assert res.total_epochs == pytest.approx(trainer.epochs)  # warm-up and fractions included
    assert res.total_epochs >= cfg.budget
    ends = {r["generation"]: r["epochs_total"] for r in res.trace}
    assert ends[0] == pytest.approx(cfg.warmup_epochs)
    assert ends[res.generations - 1] < cfg.budget <= ends[res.generations]  # last started below budget
    # every child inherits its parent's epochs
    by_id = {c["id"]: c for c in res.candidates}
    for c in res.candidates:
        if c["parent_id"] is not None:
            assert c["epochs_received"] > by_id[c["parent_id"]]["epochs_received"]
    assert res.best.epochs == max(r["epochs_received"] for r in res.trace if r["generation"] == res.generations
                                  and r["id"] == res.best.id)
    assert 0 < res.epochs_saved < 1 and res.scratch_epochs > res.total_epochs


def test_bracket_keeps_the_better_score_in_greedy_mode():
    trainer = FakeTrainer()
    search = ectonas._Search(trainer, EctoConfig(**SMALL), seed=3)
    base = start("small_ffnn")
    members = []
    for extra in (1, 5, 2, 9, 3):  # wider is better under the fake trainer
        model, _ = morph.widen_dense(base, 0, extra, torch.Generator().manual_seed(0))
        members.append(search.new(model, "add_units", 0, f"+{extra}", 1, None))
    winners = search.bracket(members, 1, balanced=False)
    assert len(winners) == 1 and winners[0].detail == "+9"
    two = [w.detail for w in search.bracket(members, 2, balanced=False)]
    assert len(two) == 2 and len(set(two)) == 2 and "+9" in two  # two distinct winners, the best among them
    # a failed candidate loses even against a worse one
    members[3].failed = True
    assert search.better(members[3], members[0], balanced=False) is members[0]


def test_bracket_with_one_round_keeps_the_best_and_never_the_worst():
    """One round for five members and two places: two pairs play, the fifth waits, and the three left are cut
    to two by score. Whatever the draw, the worst member (+1) either loses its pair or, unpaired, ranks below
    both pair winners, so it never survives; the best (+9) always does."""
    base = start("small_ffnn")
    for seed in range(10):
        search = ectonas._Search(FakeTrainer(), EctoConfig(**{**SMALL, "rounds": 1}), seed=seed)
        members = [search.new(morph.widen_dense(base, 0, extra, torch.Generator().manual_seed(0))[0], "add_units",
                              0, f"+{extra}", 1, None) for extra in (1, 5, 2, 9, 3)]
        two = [w.detail for w in search.bracket(members, 2, balanced=False)]
        assert len(set(two)) == 2 and "+9" in two and "+1" not in two, (seed, two)


def test_fitness_is_relative():
    assert ectonas.fitness(0.9, 100, 0.8, 200, 1.0) == 0.9
    assert ectonas.fitness(0.9, 100, 0.9, 200, 0.0) == pytest.approx(0.5)
    assert ectonas.fitness(0.88, 100, 0.8, 100, 0.5) == pytest.approx(0.05)
    assert ectonas.fitness(float("nan"), 1, 1, 1, 0.5) == -math.inf


def test_balanced_alpha0_prefers_fewer_parameters():
    cfg = dict(budget=40, **SMALL)
    greedy = ectonas.run(start("medium_ffnn"), FakeTrainer(), EctoConfig(alpha=1.0, **cfg), seed=42)
    lean = ectonas.run(start("medium_ffnn"), FakeTrainer(), EctoConfig(alpha=0.0, **cfg), seed=42)
    p0 = morph.count_params(start("medium_ffnn"))
    assert lean.best.params < p0 < greedy.best.params
    by_id = {c["id"]: c for c in lean.candidates}
    for row in lean.trace[1:]:  # every generation's winners shrink (or keep) their parent
        parent = by_id[row["parent_id"]]["params"]
        assert row["params"] <= parent
        assert row["fitness"] == pytest.approx((parent - row["params"]) / parent)  # alpha = 0: -dP/P only
    # greedy: the fake accuracy only grows with parameters, so winners never shrink
    assert all(b["params"] >= a for a, b in zip([p0] + [r["params"] for r in greedy.trace[1::2]],
                                                greedy.trace[1::2]))


def test_random_mode_is_seeded_and_repeatable():
    cfg = EctoConfig(budget=25, random_mode=True, **SMALL)
    a = ectonas.run(start(), FakeTrainer(), cfg, seed=13)
    b = ectonas.run(start(), FakeTrainer(), cfg, seed=13)
    c = ectonas.run(start(), FakeTrainer(), cfg, seed=28)
    key = lambda r: [(t["op"], t["location"], t["params"]) for t in r.trace]
    assert key(a) == key(b) and a.best.params == b.best.params and a.total_epochs == b.total_epochs
    assert key(a) != key(c) or a.best.params != c.best.params


def test_failed_candidates_are_never_parents():
    class Diverging(FakeTrainer):
        def __call__(self, model, epochs):
            acc = super().__call__(model, epochs)
            return float("nan") if len(model.dense) > 1 else acc  # any add-dense child diverges

    res = ectonas.run(start("small_ffnn"), Diverging(), EctoConfig(budget=25, **SMALL), seed=42)
    assert all(r["dense"] <= 1 for r in res.trace) and not res.best.failed


def test_baseline_curve():
    trainer = FakeTrainer()
    curve = ectonas.baseline(start(), trainer, 3.5)
    assert [e for e, _ in curve] == [1, 2, 3, 3.5] and trainer.epochs == 3.5


def test_continue_training_learns_and_is_repeatable():
    from resnas.data import load
    from resnas.train import continue_training

    bundle = load(name="digits", train_per_class=30, val_per_class=20, seed=0)
    accs = []
    for _ in range(2):
        torch.manual_seed(0)
        model = start("small_ffnn")
        first = continue_training(model, bundle, 0.5, seed=1)
        accs.append((first, continue_training(model, bundle, 4, seed=2)))
    assert accs[0] == accs[1]
    assert accs[0][1] > 0.5 and accs[0][1] > accs[0][0] - 0.05
    with pytest.raises(ValueError):
        continue_training(model, bundle, 0)


def test_structured_average_pooling_beats_random_cutting_on_fashion_mnist():
    """Table 4's claim on real data: inserting an average pool with the structured weight adaptation keeps more
    accuracy (before retraining) than cutting random input connections; mean over a few seeds."""
    from resnas.experiments import ectonas as exp

    p = exp.PoolingParams(dataset="fashion_mnist", train_per_class=30, val_per_class=30, pretrain_epochs=4,
                          seeds=3, pools=["avg"], adapts=["structured", "random_cut"], retrain_epochs=0.1)
    trials = exp.pooling_trials(p)
    means = trials.groupby("adapt").none.mean()
    assert means["structured"] > means["random_cut"] + 5
    assert (trials.baseline > 30).all()  # the minimal net learned something before the surgery


def test_lineage_follows_parents_back_to_the_start():
    import pandas as pd
    from resnas.experiments.ectonas import lineage

    res = ectonas.run(start("medium_ffnn"), FakeTrainer(), EctoConfig(budget=40, alpha=0.5, **SMALL), seed=42)
    chain = lineage(pd.DataFrame(res.trace))
    assert chain.op.iloc[0] == "start" and chain.id.iloc[-1] == res.best.id
    assert list(chain.generation) == list(range(res.generations + 1))
    assert (chain.parent_id.iloc[1:].astype(int).values == chain.id.iloc[:-1].values).all()


def test_real_run_on_digits_is_repeatable_and_evaluates_on_test():
    from resnas.experiments import ectonas as exp

    val, test = exp._bundles("digits", 15, 10, 10, seed=42)
    traces = []
    for _ in range(2):
        torch.manual_seed(42)
        model = morph.build(ectonas.start_genome("small_ffnn", 1, 8, 10))
        cfg = EctoConfig(budget=5, warmup_epochs=1, rounds=1, epochs_per_round=0.5, max_generations=1)
        res = ectonas.run(model, exp.make_trainer(val, 42), cfg, seed=42)
        traces.append([(r["op"], r["params"], r["val_acc"]) for r in res.trace])
        acc = exp.accuracy(res.best.model, val, test)
        assert 0 <= acc <= 1 and len(test.y_eval) == 100
    assert traces[0] == traces[1] and res.generations == 1


# ------------------------------------------------------------------------------------------------ ERA ResNets
def _era_start():
    from resnas.spaces.era import EraConfig, EraNet

    torch.manual_seed(0)
    return EraNet(EraConfig("basic", (0, 1, 1, 1), 4, 2, 32), 1, 10)


def test_era_offspring_grow_exactly_and_prune_through_residuals():
    net = _era_start().eval()
    x = torch.randn(2, 1, 8, 8)
    children = ectonas.era_offspring(x)(net, EctoConfig())
    ops = [c.op for c in children]
    assert ops.count("add_block") == 3 and {"identity", "widen", "prune_channels"} <= set(ops)
    for c in children:
        out = c.model.eval()(x)
        if c.op in ("identity", "add_block", "widen"):  # function-preserving growth
            torch.testing.assert_close(out, net(x), atol=1e-5, rtol=1e-5)
    pruned = next(c.model for c in children if c.op == "prune_channels")
    assert morph.count_params(pruned) < morph.count_params(net)
    # a pruned network no longer matches an ERA configuration: it can only be pruned further
    assert [c.op for c in ectonas.era_offspring(x)(pruned, EctoConfig())] == ["identity", "prune_channels"]


def test_ectonas_runs_on_era_resnets():
    """The search loop itself is unchanged: the same brackets, budget and trace, with ERA offspring."""
    trainer = FakeTrainer()
    cfg = EctoConfig(budget=25, max_generations=2, **SMALL)
    res = ectonas.run(_era_start(), trainer, cfg, seed=42, make_offspring=ectonas.era_offspring(torch.zeros(1, 1, 8, 8)))
    assert res.generations == 2 and res.total_epochs == pytest.approx(trainer.epochs)
    assert res.best.params > morph.count_params(_era_start())  # the fake rewards size: growth wins
    assert all(row["architecture"].startswith("basic[") for row in res.trace)


# ------------------------------------------------------------------------- the experiment module's plumbing
def _tiny_ablation(**kw):
    from resnas.experiments import ectonas as exp

    base = dict(datasets=["digits"], train_per_class=10, val_per_class=5, test_per_class=5,
                topologies=["small_cnn", "small_ffnn"], seeds=[42], modes=["greedy", "balanced_0.5", "baseline"],
                budget=6.0, warmup_epochs=1.0, rounds=1, epochs_per_round=0.5, max_generations=1, era_budget=4.0)
    return exp.AblationParams(**{**base, **kw})


@pytest.fixture
def device_log(monkeypatch):
    """Training and evaluation faked and recorded: `continue_training` returns a size-dependent accuracy and
    logs the device it was given; `pick_device` (used by accuracy) logs what it was asked and answers the CPU,
    so a 'cuda' request can be followed on a machine without one."""
    from resnas import train

    log = {"train": [], "pick": []}

    def fake_training(model, bundle, epochs, lr=0.1, batch_size=32, seed=0, device="cpu"):
        log["train"].append(device)
        return 0.3 + 0.6 * (1 - math.exp(-morph.count_params(model) / 3000))

    def fake_pick(device="auto"):
        log["pick"].append(device)
        return torch.device("cpu")

    monkeypatch.setattr(train, "continue_training", fake_training)
    monkeypatch.setattr(train, "pick_device", fake_pick)
    return log


def test_the_profile_device_reaches_every_training_and_evaluation(device_log):
    """`device` of AblationParams / PoolingParams reaches the trainer and accuracy() in ablation(), era_run()
    and pooling_trial(); nothing falls back to a hard-wired 'cpu'."""
    from resnas.experiments import ectonas as exp

    p = _tiny_ablation(device="cuda")
    res = exp.ablation(p)
    assert len(res["runs"]) == 2 * 3 and set(res["runs"].device) == {"cpu"}  # what pick_device resolved to
    era = exp.era_run(p, "digits", 42)
    assert era["summary"].device.item() == "cpu"
    pool = exp.PoolingParams(dataset="digits", train_per_class=10, val_per_class=5, channels=[2, 2], dense=[4],
                             pretrain_epochs=1, retrain_epochs=0.5, seeds=1, pools=["avg"], adapts=["paper"],
                             device="cuda")
    rows = exp.pooling_trial(pool, seed=0)
    assert rows[0]["device"] == "cpu"
    assert len(device_log["train"]) > 10 and set(device_log["train"]) == {"cuda"}
    assert len(device_log["pick"]) > 6 and set(device_log["pick"]) == {"cuda"}
    from resnas.params import ParamError, validate

    for cls in (exp.AblationParams, exp.PoolingParams):
        with pytest.raises(ParamError, match="device.*auto, cpu, cuda"):
            validate(cls, {"device": "tpu"})


@pytest.mark.parametrize("bf16_hardware", [None, "amx_bf16"])
def test_run_info_records_the_device_and_the_machine(tmp_path, monkeypatch, bf16_hardware):
    """ECToNAS trains in fp32 whatever 'auto' means on this CPU (found on a CPU with AMX: the test compared with
    the machine's 'auto' fingerprint, bf16 there), so the record says fp32 with bf16 hardware present or not."""
    from resnas import threads
    from resnas.evaluate import fingerprint
    from resnas.experiments import ectonas as exp

    monkeypatch.setattr(threads, "cpu_bf16", lambda: bf16_hardware)
    path = exp.write_run_info(tmp_path, "cpu")
    info = json.loads(path.read_text())
    assert info == {"device": "cpu", "device_type": "cpu", "fingerprint": fingerprint("cpu", "fp32")}
    assert info["fingerprint"]["dtype"] == "fp32" and not list(tmp_path.glob(".*tmp*"))
    assert fingerprint("cpu")["dtype"] == ("bf16-autocast" if bf16_hardware else "fp32")  # the stand-in took


def test_protocol_note_follows_the_parameters():
    from resnas.experiments import ectonas as exp

    small = exp.protocol_note(_tiny_ablation())
    assert "budget 6 epochs per run, warm-up included (the paper: 1,000)" in small
    assert "epochs per round 0.5 (the paper: 5)" in small and "shape, not a number" in small
    assert "subsets instead of full data sets" in small and "2 of the six starting topologies" in small
    paper = exp.protocol_note(_tiny_ablation(
        datasets=["fashion_mnist", "mnist"], train_per_class=None, val_per_class=None, test_per_class=None,
        topologies=list(ectonas.TOPOLOGIES), seeds=[42, 13, 28], budget=1000.0, warmup_epochs=10.0, rounds=3,
        epochs_per_round=5.0, era_budget=0.0))
    assert "budget 1,000 epochs per run, warm-up included (as the paper)" in paper
    assert "warm-up 10 epochs (as the paper)" in paper and "full splits" in paper
    assert "shape, not a number" not in paper and "below the paper" not in paper
    assert "not run: cifar10, cifar100, eurosat, svhn" in paper and "starting topologies)" not in paper


def _traced(mode, topology, alpha, seed=42):
    import pandas as pd

    res = ectonas.run(start(topology), FakeTrainer(), EctoConfig(budget=20, alpha=alpha, **SMALL), seed=seed)
    key = {"dataset": "digits", "topology": topology, "seed": 42, "run": 0, "mode": mode}
    trace = pd.DataFrame(res.trace).assign(**key)
    curve = pd.DataFrame([{**key, "epoch": e, "val_acc": 100 * v} for e, v in res.best.curve])
    return res, trace, curve


def test_figure6_takes_the_balanced_run_of_the_example_topology():
    import pandas as pd
    from resnas.experiments import ectonas as exp

    runs = [_traced("greedy", "small_ffnn", 1.0), _traced("balanced_0.5", "small_ffnn", 0.5),
            _traced("balanced_0.5", "small_cnn", 0.5)]
    traces = pd.concat([t for _, t, _ in runs], ignore_index=True)
    base = runs[0][2].assign(mode="baseline")
    curves = pd.concat([c for _, _, c in runs] + [base], ignore_index=True)
    p = _tiny_ablation(topologies=["small_cnn", "small_ffnn"], modes=["greedy", "balanced_0.5", "baseline"])
    key, one, baseline = exp.figure6_run(p, traces, curves)
    assert key == {"dataset": "digits", "topology": "small_ffnn", "seed": 42, "run": 0, "mode": "balanced_0.5"}
    assert one.id.iloc[-1] == runs[1][0].best.id and one.op.iloc[0] == "start"
    assert list(one.params) == list(exp.lineage(runs[1][1]).params)
    assert len(baseline) == len(base) and set(baseline["mode"]) == {"baseline"}
    # no balanced mode: the first search mode; an explicit example topology is honoured
    key, one, _ = exp.figure6_run(_tiny_ablation(modes=["greedy", "baseline"], example_topology="small_ffnn"),
                                  traces, curves)
    assert key["mode"] == "greedy" and one.id.iloc[-1] == runs[0][0].best.id
    with pytest.raises(ValueError, match="no trace"):
        exp.figure6_run(_tiny_ablation(example_topology="small_cnn", modes=["greedy"]), traces, curves)


def test_epochs_saved_and_accuracy_notes_average_the_search_runs_only():
    import pandas as pd
    from resnas.experiments import ectonas as exp

    runs = pd.DataFrame({"mode": ["greedy", "balanced_0", "baseline"], "scratch_epochs": [100.0, 200.0, 999.0],
                         "epochs_total": [40.0, 60.0, 999.0], "epochs_saved": [0.6, 0.7, 0.0],
                         "epochs_final": [10.0, 20.0, 999.0]})
    note = exp.epochs_saved_note(runs)
    assert "cost 150 epochs per run on average against 50 spent: 65% saved" in note
    assert "received 15.0 epochs" in note and "about 80%" in note
    t12 = pd.DataFrame({"dataset": ["digits", "digits"], "mode": ["baseline", "greedy"], "test_acc": [80.04, 91.26],
                        "params": [1500.0, 2600.0]})
    assert exp.accuracy_note(t12, ["digits"], ["greedy", "random", "baseline"]).endswith(
        "digits: greedy 91.3% / 2.6K, baseline 80.0% / 1.5K.")


def test_tabular_data_note_names_the_training_data_and_the_majority():
    from resnas.experiments import ectonas as exp

    labels = torch.tensor([0, 0, 0, 1, 1, 0, 0, 0])
    assert exp.majority_pct(labels) == 75.0 and exp.majority_pct([2, 2, 1]) == pytest.approx(200 / 3)
    full = exp.tabular_data_note(_tiny_ablation(train_per_class=None), labels)
    assert "8 test rows, of which 75.0%" in full and "full training split" in full and "None" not in full
    assert "class-balanced subsets of 10 rows per class" in exp.tabular_data_note(_tiny_ablation(), labels)


# ------------------------------------------------------------- the paper's protocol: baselines, runs, data sets
class ShiftingTrainer:
    """Moves the classifier's bias by the epochs of each call, so a network's bias tells how long it trained;
    records every call."""

    def __init__(self):
        self.calls = []

    def __call__(self, model, epochs):
        assert 0 < epochs <= 1.0
        self.calls.append(epochs)
        with torch.no_grad():
            model.head.bias.add_(epochs)
        return 0.5


def _bias_shift(model, start_model):
    return (model.head.bias - start_model.head.bias).mean().item()


@pytest.mark.parametrize("fixed, equal", [(3.0, 7.4), (5.5, 2.25), (4.0, 4.0)])
def test_plain_training_reads_both_baselines_off_one_training(fixed, equal):
    from resnas.experiments import ectonas as exp

    first = start()
    trainer = ShiftingTrainer()
    out = exp.plain_training(first, trainer, {"baseline": fixed, "baseline_equal_epochs": equal})
    assert sum(trainer.calls) == pytest.approx(max(fixed, equal))  # one training, as long as the longer
    for mode, epochs in (("baseline", fixed), ("baseline_equal_epochs", equal)):
        model, curve = out[mode]
        assert _bias_shift(model, first) == pytest.approx(epochs)  # the copy trained exactly its epochs
        assert curve[-1][0] == pytest.approx(epochs) and all(b - a <= 1 + 1e-9 for (a, _), (b, _) in
                                                             zip([(0.0, 0)] + curve, curve))
    assert _bias_shift(first, first) == 0 and out["baseline"][0] is not out["baseline_equal_epochs"][0]


@pytest.fixture
def epoch_log(monkeypatch):
    """`continue_training` faked (a size-dependent accuracy, no training) and every call's epochs and seed
    recorded."""
    from resnas import train

    log = []

    def fake_training(model, bundle, epochs, lr=0.1, batch_size=32, seed=0, device="cpu"):
        log.append((epochs, seed))
        return 0.3 + 0.6 * (1 - math.exp(-morph.count_params(model) / 3000))

    monkeypatch.setattr(train, "continue_training", fake_training)
    return log


@pytest.mark.parametrize("baseline_epochs", [2.0, 20.0])  # shorter and longer than the greedy run's spend
def test_ablation_baseline_trains_baseline_epochs_and_the_extra_one_the_greedy_spend(epoch_log, baseline_epochs):
    from resnas.experiments import ectonas as exp

    p = _tiny_ablation(topologies=["small_ffnn"], modes=["greedy", "baseline", "baseline_equal_epochs"],
                       baseline_epochs=baseline_epochs)
    res = exp.ablation(p)
    runs = res["runs"].set_index("mode")
    greedy = runs.loc["greedy"]
    ends = res["curves"].groupby("mode").epoch.max()
    assert ends["baseline"] == pytest.approx(baseline_epochs)
    assert ends["baseline_equal_epochs"] == pytest.approx(greedy.epochs_total)
    assert runs.loc["baseline", "epochs_total"] == baseline_epochs == runs.loc["baseline", "epochs_final"]
    assert runs.loc["baseline_equal_epochs", "epochs_total"] == greedy.epochs_total > p.warmup_epochs
    # every epoch trained beyond the search's own: one plain training, as long as the longer baseline
    plain = sum(e for e, _ in epoch_log) - greedy.epochs_total
    assert plain == pytest.approx(max(baseline_epochs, greedy.epochs_total))
    assert (runs.loc[["baseline", "baseline_equal_epochs"], "params"] == greedy.start_params).all()


def test_runs_per_seed_share_the_split_and_differ_in_everything_else(epoch_log):
    from resnas.experiments import ectonas as exp

    assert exp.run_seed(42, 0) == 42 and exp.run_seed(42, 1) == exp.run_seed(42, 1)
    assert len({exp.run_seed(s, r) for s in (42, 13, 28) for r in range(10)}) == 30
    p = _tiny_ablation(topologies=["small_cnn"], modes=["greedy", "baseline"], runs_per_seed=2, baseline_epochs=2.0)
    res = exp.ablation(p)
    runs = res["runs"]
    assert sorted(zip(runs["run"], runs["mode"])) == [(0, "baseline"), (0, "greedy"), (1, "baseline"), (1, "greedy")]
    assert set(runs.seed) == {42}  # the split's seed; run 1 trains with its own
    seeds = {s for _, s in epoch_log}
    assert 42 * 1_000_003 + 1 in seeds and exp.run_seed(42, 1) * 1_000_003 + 1 in seeds
    assert set(res["traces"]["run"]) == {0, 1} and set(res["curves"]["run"]) == {0, 1}
    cut = exp.cutoff_table(runs, res["curves"])
    assert cut.runs.tolist() == [2] and cut.baseline_equal_epochs_val_at_end.isna().all()
    assert set(exp.binned_curves(res["curves"]).groupby(["run", "mode"]).size().index) == {
        (0, "baseline"), (0, "greedy"), (1, "baseline"), (1, "greedy")}


@pytest.mark.parametrize("shape", [(3, 64), (3, 32)])  # EuroSAT; CIFAR-10/100 and SVHN
def test_starting_topologies_and_their_offspring_run_on_colour_images_with_100_classes(shape):
    x = torch.randn(2, shape[0], shape[1], shape[1])
    for name in ectonas.TOPOLOGIES:
        torch.manual_seed(0)
        model = morph.build(ectonas.start_genome(name, *shape, 100)).eval()
        with torch.no_grad():
            assert model(x).shape == (2, 100)
        if shape[1] == 64:  # every operation at EuroSAT's size (the flatten is 12,288 wide for an FFNN)
            kids = ectonas.offspring(model, EctoConfig(), generator=torch.Generator().manual_seed(0))
            assert {"identity", "add_cell", "add_units", "remove_units"} <= {c.op for c in kids}
            with torch.no_grad():
                for child in kids:
                    out = child.model.eval()(x)
                    assert out.shape == (2, 100) and torch.isfinite(out).all(), (name, child.op)


@pytest.mark.parametrize("shape, classes, paper_k", [
    ((3, 32), 10, 77), ((3, 32), 100, 78), ((3, 64), 10, 303), ((1, 28), 10, 28)])
def test_starting_topologies_average_the_papers_baseline_parameter_counts(shape, classes, paper_k):
    """Table 1's 'B' parameter count is the mean of the six starting topologies (CIFAR-10 and SVHN 77K,
    CIFAR-100 78K, EuroSAT 303K, (Fashion-)MNIST 28K): ours, built at each data set's shape, round to it."""
    counts = [morph.count_params(morph.build(ectonas.start_genome(n, *shape, classes))) for n in ectonas.TOPOLOGIES]
    assert round(sum(counts) / len(counts) / 1000) == paper_k


def test_profiles_follow_the_paper_protocol_and_scale_the_baseline_with_the_budget():
    from resnas.experiments import ectonas as exp
    from resnas.params import load_profile

    paper = load_profile(exp.AblationParams, "ectonas_ablation", "paper")
    assert set(paper.datasets) == set(exp.PAPER_DATASETS) and set(paper.topologies) == set(ectonas.TOPOLOGIES)
    assert tuple(paper.seeds) == exp.PAPER_SEEDS and paper.runs_per_seed == exp.PAPER_RUNS_PER_SEED == 10
    assert paper.baseline_epochs == exp.PAPER_BASELINE_EPOCHS == 200 and paper.budget == 1000
    assert set(paper.modes) == set(exp.MODES)
    note = exp.protocol_note(paper)
    assert "Data sets, data sizes, topologies, runs, seeds and the baseline are the paper's." in note
    assert "10 runs per data set, topology, seed and mode" in note and "for 200 epochs, as the paper's" in note
    cross = load_profile(exp.AblationParams, "cross_topology", "paper")
    assert tuple(cross.seeds) == (42,) and cross.runs_per_seed == 25 and cross.baseline_epochs == 200
    for profile in ("ci", "default"):  # the CPU profiles keep the paper's ratio: a fifth of the budget
        for notebook in ("ectonas_ablation", "cross_topology"):
            p = load_profile(exp.AblationParams, notebook, profile)
            assert p.baseline_epochs == pytest.approx(p.budget / 5), (profile, notebook)


def test_baseline_note_names_both_baselines_from_the_parameters():
    from resnas.experiments import ectonas as exp

    both = exp.baseline_note(_tiny_ablation(modes=["greedy", "baseline", "baseline_equal_epochs"],
                                            baseline_epochs=1.5))
    assert "for 1.5 epochs (the paper: 200, 20% of its 1,000-epoch budget; here 25% of 6)" in both
    assert "as many epochs as the greedy run of the same start spent in all" in both and "prefix" in both
    only = exp.baseline_note(_tiny_ablation(modes=["balanced_0", "baseline_equal_epochs"]))
    assert "'baseline' (the paper's)" not in only and "as the balanced_0 run" in only
    note = exp.protocol_note(_tiny_ablation(modes=["greedy", "baseline_equal_epochs"]))
    assert "no baseline of the paper's kind" in note and "one run per seed (the paper: 10)" in note
    assert "a 12-epoch baseline" in exp.protocol_note(_tiny_ablation(baseline_epochs=12.0))


def test_paper_tables_1_and_2_are_the_papers():
    """PAPER_TABLE12 against Tables 1-2 as printed: each data set's first row is Table 1 (E, B, R), its second
    Table 2 (alpha 1, 0.5, 0); nine numbers each, accuracy and sd pairs then parameter counts (K)."""
    import re
    from pathlib import Path

    from resnas.experiments import ectonas as exp

    path = Path(__file__).resolve().parents[1] / ".." / "shared" / "papers" / "ectonas.txt"
    if not path.exists():
        pytest.skip(f"the paper text is not at {path.resolve()} (it sits beside the checkout, not in a clone)")
    names = {"CIFAR-10": "cifar10", "CIFAR-100": "cifar100", "EuroSAT": "eurosat", "FashionMNIST": "fashion_mnist",
             "MNIST": "mnist", "SVHN": "svhn"}
    seen = {}
    for line in path.read_text(encoding="utf-8").replace("Fashion MNIST ", "FashionMNIST ").splitlines():
        head, _, rest = line.partition(" ")
        numbers = [float(x) for x in re.findall(r"\d+(?:\.\d+)?", rest.replace("±plus-or-minus\\pm", ""))]
        if head in names and len(numbers) == 9:
            seen.setdefault(names[head], []).append(numbers)
    assert sorted(seen) == sorted(exp.PAPER_DATASETS) and all(len(v) == 2 for v in seen.values())
    table = exp.PAPER_TABLE12.set_index(["paper_dataset", "mode"])
    assert len(table) == 6 * 5
    for dataset, (t1, t2) in seen.items():
        for i, mode in enumerate(("greedy", "baseline", "random")):
            assert tuple(table.loc[(dataset, mode)]) == (t1[2 * i], t1[2 * i + 1], t1[6 + i])
        assert t2[:2] == t1[:2] and t2[6] == t1[6]  # Table 2's alpha = 1 is Table 1's E
        for i, mode in ((1, "balanced_0.5"), (2, "balanced_0")):
            assert tuple(table.loc[(dataset, mode)]) == (t2[2 * i], t2[2 * i + 1], t2[6 + i])
