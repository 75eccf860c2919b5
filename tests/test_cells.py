"""Cell spaces (nb201, darts), the space interface they share with ERA, and the strategies running on them."""
import math

import numpy as np
import pandas as pd
import pytest
import torch
from torch import nn

from resnas.search import STRATEGIES, make_strategy, run_search
from resnas.spaces import SearchSpace, get_space, missing_methods
from resnas.spaces.cells import (DARTS, DARTS_OPS, NB201, NB201_EDGES, NB201_OPS, NB201_SMALL, DartsGenome,
                                 Nb201Cell)
from resnas.train import count_params

PRESETS = {"nb201": NB201, "darts": DARTS}


@pytest.mark.parametrize("name", ["era", "nb201", "nb201_small", "darts", "darts_small"])
def test_registered_spaces_offer_the_whole_interface(name):
    space = get_space(name)
    assert missing_methods(space) == [] and isinstance(space, SearchSpace) and space.name == name
    rng = np.random.default_rng(0)
    for _ in range(20):
        cfg = space.sample(rng)
        assert space.unflat(space.flat(cfg)) == cfg
        assert space.from_json(space.to_json(cfg)) == cfg
        assert set(space.flat(cfg)) == set(space.choices())
        assert all(space.flat(cfg)[k] in v for k, v in space.choices().items())
        assert set(space.ordinal()) <= set(space.choices())


def test_nb201_encoding_is_a_bijection_over_all_15625_cells():
    cells = list(NB201.enumerate())
    assert len(cells) == NB201.size() == 15_625 and len(set(cells)) == 15_625
    assert [NB201.index(c) for c in cells] == list(range(15_625))
    assert all(NB201.from_index(i) == c for i, c in enumerate(cells))
    texts = {NB201.to_json(c) for c in cells}
    assert len(texts) == 15_625 and {NB201.from_json(t) for t in texts} == set(cells)
    assert {NB201.unflat(NB201.flat(c)) for c in cells} == set(cells)


def test_nb201_arch_string_follows_nas_bench_201():
    cell = Nb201Cell(("nor_conv_3x3", "nor_conv_1x1", "skip_connect", "avg_pool_3x3", "none", "nor_conv_3x3"))
    assert cell.arch_str() == ("|nor_conv_3x3~0|+|nor_conv_1x1~0|avg_pool_3x3~1|"
                               "+|skip_connect~0|none~1|nor_conv_3x3~2|")


def test_bad_cells_are_named():
    with pytest.raises(ValueError, match=r"ops\[2\]='conv_7x7' is not an operation; allowed: none"):
        Nb201Cell(("none", "none", "conv_7x7", "none", "none", "none"))
    with pytest.raises(ValueError, match="exactly 6"):
        Nb201Cell(("none",) * 5)
    with pytest.raises(ValueError, match="index=15625 is out of range"):
        NB201.from_index(15_625)
    g = DARTS.sample(np.random.default_rng(0))
    with pytest.raises(ValueError, match="node 2 has inputs 1, 1"):
        DartsGenome(((1, "skip_connect"), (1, "skip_connect")) + g.normal[2:], g.reduce)
    with pytest.raises(ValueError, match=r"reduce\[7\] input 5 is not allowed for node 5; allowed: 0 to 4"):
        DartsGenome(g.normal, g.reduce[:6] + ((0, "skip_connect"), (5, "skip_connect")))
    with pytest.raises(ValueError, match="channels=0 is invalid"):
        type(NB201)(channels=0)


def darts_nodes_are_valid(g: DartsGenome) -> bool:
    """Two rows per node of each cell, to two distinct earlier nodes, with DARTS operations (no 'none')."""
    for cell in (g.normal, g.reduce):
        if len(cell) != 8:
            return False
        for k in range(4):
            (a, op_a), (b, op_b) = cell[2 * k], cell[2 * k + 1]
            node = 2 + k
            if not (0 <= a < node and 0 <= b < node and a != b) or {op_a, op_b} - set(DARTS_OPS):
                return False
    return True


def test_darts_samples_mutants_and_children_are_always_valid():
    rng = np.random.default_rng(1)
    pop = [DARTS.sample(rng) for _ in range(300)]
    assert all(darts_nodes_are_valid(g) for g in pop)
    for a, b in zip(pop[::2], pop[1::2]):
        assert darts_nodes_are_valid(DARTS.mutate(a, rng)) and darts_nodes_are_valid(DARTS.crossover(a, b, rng))
        assert all(darts_nodes_are_valid(n) for n in DARTS.neighbours(a))
    # every input pair of the last node (10 of them) and every operation turn up
    assert len({g.normal[6][0] * 10 + g.normal[7][0] for g in pop}) == 10
    assert {op for g in pop for _, op in g.reduce} == set(DARTS_OPS)


def rows(space, cfg) -> list:
    """The units crossover exchanges: edges (nb201) or nodes' two-row blocks (darts)."""
    if isinstance(cfg, Nb201Cell):
        return list(cfg.ops)
    return [cfg.node(kind, k) for kind in ("normal", "reduce") for k in range(4)]


@pytest.mark.parametrize("preset", PRESETS)
def test_crossover_takes_every_row_from_a_parent_and_returns_equal_parents(preset):
    space, rng = PRESETS[preset], np.random.default_rng(2)
    mixed = 0
    for _ in range(200):
        a, b = space.sample(rng), space.sample(rng)
        child = space.crossover(a, b, rng)
        ra, rb, rc = rows(space, a), rows(space, b), rows(space, child)
        assert all(c in (x, y) for c, x, y in zip(rc, ra, rb))
        mixed += child not in (a, b)
        assert space.crossover(a, a, rng) == a
    assert mixed > 150  # rows really come from both parents


@pytest.mark.parametrize("preset", PRESETS)
def test_mutation_changes_one_row_and_stays_valid(preset):
    space, rng = PRESETS[preset], np.random.default_rng(3)
    changed = set()
    for _ in range(300):
        g = space.sample(rng)
        child = space.mutate(g, rng)
        assert child != g and space.from_json(space.to_json(child)) == child
        if preset == "nb201":
            diff = [e for e in range(6) if child.ops[e] != g.ops[e]]
            assert len(diff) == 1
            changed.add(diff[0])
        else:
            assert darts_nodes_are_valid(child)
            flat_g, flat_c = space.flat(g), space.flat(child)
            diff = [k for k in flat_g if flat_g[k] != flat_c[k]]
            nodes = {"_".join(k.split("_")[:2]) for k in diff}  # e.g. 'normal_5'
            assert 1 <= len(diff) <= 3 and len(nodes) == 1  # one node of one cell
            changed |= nodes
    assert len(changed) == (6 if preset == "nb201" else 8)  # every edge / every node gets mutated


def hamming_objective(space, target):
    """Distance to a hidden target in the flat form: smooth enough that guided strategies improve on it."""
    t = space.flat(target)
    return lambda cfg: float(sum(v != t[k] for k, v in space.flat(cfg).items()))


@pytest.mark.parametrize("preset", PRESETS)
@pytest.mark.parametrize("name", list(STRATEGIES))
def test_every_strategy_runs_on_both_presets_repeatably(name, preset):
    space = PRESETS[preset]
    objective = hamming_objective(space, space.sample(np.random.default_rng(99)))
    kwargs = {"population_size": 10} if "evolution" in name or name == "genetic" else {}
    if name == "local":
        kwargs = {"n_samples": 10, "n_starts": 2}
    if name == "bayesian_rf":  # SMAC's proposals are costly: a long random start and a light acquisition search
        kwargs = {"n_initial": 30, "challengers": 100, "local_search_iterations": 1}
    runs = []
    for _ in range(2):
        trials = run_search(make_strategy(name, space=space, seed=5, **kwargs), objective, 40, progress=False)
        runs.append([t.config for t in trials])
    assert runs[0] == runs[1]
    assert all(space.from_json(space.to_json(c)) == c for c in runs[0])
    assert min(map(objective, runs[0][20:])) <= min(map(objective, runs[0][:10]))


def nb201_params_by_formula(cell: Nb201Cell, c: int, n: int, in_channels: int, classes: int) -> int:
    """Stem, 3 stages of n cells (conv edges: weights + BN), two residual reductions, last BN, head."""
    def cell_params(w):
        return sum({"nor_conv_1x1": w * w + 2 * w, "nor_conv_3x3": 9 * w * w + 2 * w}.get(op, 0) for op in cell.ops)

    total = 9 * in_channels * c + 2 * c
    for stage in range(3):
        if stage:
            total += 9 * c * 2 * c + 4 * c + 9 * (2 * c) ** 2 + 4 * c + c * 2 * c
            c *= 2
        total += n * cell_params(c)
    return total + 2 * c + c * classes + classes


def test_built_nb201_networks_have_the_parameter_count_of_the_formula():
    rng = np.random.default_rng(4)
    cells = [Nb201Cell(("nor_conv_3x3",) * 6), Nb201Cell(("none",) * 6)] + [NB201.sample(rng) for _ in range(4)]
    for cell in cells:
        for space, c_in, classes in ((NB201, 3, 10), (NB201_SMALL, 1, 7)):
            net = space.build(cell, c_in, classes)
            assert count_params(net) == nb201_params_by_formula(cell, space.channels, space.cells_per_stage,
                                                                c_in, classes), cell
    # NAS-Bench-201's published range at C=16, N=5 on CIFAR-10: 0.07 MB to 1.53 MB of parameters
    assert count_params(NB201.build(cells[0])) == 1_531_546 and count_params(NB201.build(cells[1])) == 73_306


def test_evaluator_trains_cell_networks_on_its_own(tmp_path):
    from resnas.data import DataSpec
    from resnas.evaluate import Evaluator
    from resnas.train import TrainRecipe

    data = DataSpec(name="digits", val_size=0.2, train_per_class=8, val_per_class=4, seed=0)
    recipe = TrainRecipe(epochs=1, batch_size=128, lr=0.05, schedule="cosine")
    ev = Evaluator(tmp_path / "a.sqlite", data, recipe, progress=False)
    rng = np.random.default_rng(0)
    for name in ("nb201_small", "darts_small"):
        space = get_space(name)
        cfg = space.sample(rng)
        rec = ev.evaluate(name, cfg)
        assert rec.ok, rec.reason
        assert rec.params == count_params(space.build(cfg, 1, 10)) and math.isfinite(rec.fitness)
        assert space.from_json(rec.config) == cfg and ev.evaluate(name, cfg).cached


# ---------------------------------------------------------------------------------------------- the CIFAR-10 table
def test_table_returns_the_spec_reference_values():
    from resnas import tabular_cells as tc

    table = tc.load_table()
    assert len(table) == 15_625 and list(table.cell) == list(range(15_625))
    by_code = table.set_index("code").test_accuracy
    best = table.loc[table.test_accuracy.idxmax()]
    assert best.code == "2,2,0,2,3,2" and round(best.test_accuracy, 2) == 94.07
    assert round(by_code["0,0,0,0,0,0"], 2) == 60.78  # all skip
    assert round(by_code["2,1,0,2,1,0"], 2) == 93.44  # the ResNet-like cell
    from resnas.spaces.cells import RESNET_LIKE
    assert tc.code_of_cell(RESNET_LIKE) == (2, 1, 0, 2, 1, 0) and tc.cell_of_code("2,1,0,2,1,0") == RESNET_LIKE
    # rows agree with the cell space: the edge columns are the cell of that index
    for i in (0, 1, 777, 15_624):
        row = table.iloc[i]
        assert tuple(row[list(tc.EDGE_COLUMNS)]) == NB201.from_index(i).ops
        assert tc.cell_of_code(row.code) == NB201.from_index(i)


def output_reaches_input(cell: Nb201Cell) -> bool:
    live = {0}
    for (i, j), op in sorted(zip(NB201_EDGES, cell.ops), key=lambda e: e[0][1]):
        if op != "none" and i in live:
            live.add(j)
    return 3 in live


def test_the_cells_at_ten_percent_are_exactly_those_whose_output_is_cut_off():
    from resnas import tabular_cells as tc

    table = tc.load_table()
    chance = {NB201.from_index(int(i)) for i in table.cell[table.test_accuracy == 10.0]}
    cut_off = {c for c in NB201.enumerate() if not output_reaches_input(c)}
    assert len(chance) == 341 and chance == cut_off  # confirms the op codes (1 = none) and the edge order


def test_table_loader_rejects_a_wrong_checksum(tmp_path):
    from resnas import tabular_cells as tc

    data = bytearray(tc.table_path().read_bytes())
    data[-20] ^= 1
    changed = tmp_path / "data.anb"
    changed.write_bytes(bytes(data))
    with pytest.raises(tc.TableRejected, match="sha256 [0-9a-f]{64}; allowed: 85f3435b"):
        tc.load_table(changed)
    with pytest.raises(tc.TableUnavailable, match="does not exist"):
        tc.load_table(tmp_path / "missing.anb")


class Planted:
    """Unpickling this would call os.system: a restricted reader must refuse before running anything."""

    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        import os

        return os.system, (f"touch {self.marker}",)


def test_table_loader_refuses_a_pickle_naming_any_other_class(tmp_path):
    import collections
    import hashlib
    import pickle

    from resnas import tabular_cells as tc

    marker = tmp_path / "ran"
    for payload, name in ((Planted(marker), "posix.system"), (collections.OrderedDict(a=1), "collections.OrderedDict")):
        path = tmp_path / "evil.anb"
        path.write_bytes(pickle.dumps({(0,) * 6: payload}))
        digest = hashlib.sha256(path.read_bytes()).hexdigest()  # the checksum matches: only the classes are wrong
        with pytest.raises(tc.TableRejected, match=f"names class {name}; allowed: analognasbench.data.Architecture"):
            tc.load_table(path, sha256=digest)
    assert not marker.exists()


def test_tabular_evaluator_answers_like_the_evaluator_without_training():
    from resnas import tabular_cells as tc
    from resnas.spaces.cells import RESNET_LIKE

    ev = tc.TabularEvaluator()
    rec = ev.evaluate("nb201", RESNET_LIKE)
    assert rec.ok and rec.wall_time == 0 and rec.key == "2,1,0,2,1,0"
    assert rec.fitness == pytest.approx(100 - 93.4416) and rec.test_accuracy == pytest.approx(93.4416)
    assert ev.evaluate("nb201_small", RESNET_LIKE.to_json()).fitness == rec.fitness  # the table knows cells only
    fitness, info = ev.objective("nb201")(tc.cell_of_code("2,2,0,2,3,2"))
    assert fitness == pytest.approx(100 - 94.0664) and info["test_accuracy"] == ev.best_accuracy
    assert ev.queries == 3
    assert (ev.accuracy >= ev.top_threshold(0.01)).sum() >= 156
    with pytest.raises(ValueError, match="space='darts' has no table; allowed: an NB201 cell space"):
        ev.evaluate("darts", DARTS.sample(np.random.default_rng(0)))


# ---------------------------------------------------------------------------------------------- predictor encoding
def test_cell_encoding_is_one_hot_per_edge_and_reads_back_to_the_cell():
    from resnas.predictor import cell_encoding

    cells = list(NB201.enumerate())
    x = cell_encoding(cells)
    assert x.shape == (15_625, 5, 4, 4) and x.dtype == np.float32
    src, dst = zip(*NB201_EDGES)
    assert (x[:, :, src, dst].sum(axis=1) == 1).all() and x.sum() == 6 * 15_625  # nothing off the edges
    back = [Nb201Cell(tuple(NB201_OPS[o] for o in x[n][:, src, dst].argmax(axis=0))) for n in range(0, 15_625, 97)]
    assert back == cells[::97]
    assert len({row.tobytes() for row in x}) == 15_625


def test_darts_encoding_marks_each_nodes_two_inputs_with_their_operations():
    from resnas.predictor import cell_encoding

    rng = np.random.default_rng(6)
    genomes = [DARTS.sample(rng) for _ in range(100)]
    x = cell_encoding(genomes)
    assert x.shape == (100, 14, 6, 6)
    assert (x.sum(axis=(1, 2))[:, 2:] == 4).all() and (x.sum(axis=(1, 2))[:, :2] == 0).all()  # 2 per cell type
    for g, e in zip(genomes, x):
        for c, kind in enumerate(("normal", "reduce")):
            ch, src, dst = np.nonzero(e[7 * c:7 * c + 7])
            rows = sorted(zip(dst, src, [DARTS_OPS[k] for k in ch]))
            assert tuple((int(s), op) for _, s, op in rows) == getattr(g, kind)
    with pytest.raises(ValueError, match="allowed: all Nb201Cell or all DartsGenome"):
        cell_encoding([genomes[0], NB201.from_index(0)])


# ---------------------------------------------------------------------------------------------- the GENAS-style GA
def test_genetic_algorithm_keeps_its_elites_and_breeds_full_generations():
    from resnas.search.genetic import GeneticAlgorithm

    objective = hamming_objective(NB201, NB201.sample(np.random.default_rng(11)))
    ga = GeneticAlgorithm(NB201, seed=3, population_size=8, tournament=3, elite=2)
    generations = []
    for _ in range(8 + 6 * 5):  # the first generation, then five of 6 children + 2 elites
        cfg = ga.ask()
        ga.tell(cfg, objective(cfg))
        if not ga.children:
            generations.append(list(ga.population))
    assert len(generations) == 6 and all(len(g) == 8 for g in generations)
    for before, after in zip(generations, generations[1:]):
        elites = sorted(before, key=lambda m: m[1])[:2]
        assert after[:2] == elites  # the two best survive unchanged...
        assert min(f for _, f in after) <= min(f for _, f in before)  # ...so the best never gets worse
        assert not {c for c, _ in after[2:]} & {c for c, _ in before}  # children are new configurations
    with pytest.raises(ValueError, match="elite=8 is out of range"):
        GeneticAlgorithm(NB201, population_size=8, elite=8)


# ---------------------------------------------------------------------------------------------- the cell_search race
def race_params(**kw):
    from resnas.experiments import cell_search as cs
    from resnas.params import validate

    return validate(cs.Params, {"n_boot": 200, **kw})


def test_tabular_ga_beats_random_search_on_median_regret_at_200_queries():
    from resnas.experiments import cell_search as cs
    from resnas.tabular_cells import TabularEvaluator

    ev = TabularEvaluator()
    p = race_params(strategies=["random", "genetic"], seeds=50, budget=200, checkpoints=[100, 200])
    trials = cs.with_regret(cs.run_race(p, ev), ev.best_accuracy)
    at200 = trials[trials["query"] == 200].groupby("strategy").regret.median()
    assert at200["genetic"] < at200["random"] - 0.2, at200
    table = cs.regret_table(trials, [200], n_boot=200)
    ga, rs = (table.set_index("strategy").loc[s] for s in ("genetic", "random"))
    assert ga.ci_high < rs.ci_low  # the intervals over 50 seeds do not even overlap


def test_same_seed_same_trajectory_in_one_process_or_several():
    from resnas.experiments import cell_search as cs

    p = race_params(seeds=2, budget=25, checkpoints=[25], population=5, ga_population=6, ga_elite=1,
                    local_samples=5, local_starts=2, bayes_initial=4)
    one = cs.run_race(p)
    assert one.equals(cs.run_race(p))
    assert set(one.strategy) == set(cs.STRATEGY_NAMES) and len(one) == 5 * 2 * 25
    assert one.groupby("strategy").apply(lambda g: g[g.seed == 0].code.tolist() != g[g.seed == 1].code.tolist()).all()
    from dataclasses import replace
    assert cs.run_race(replace(p, processes=2, strategies=("random", "genetic"))).equals(
        one[one.strategy.isin(["random", "genetic"])].reset_index(drop=True))


def test_race_statistics_on_a_hand_made_race():
    from resnas.experiments import cell_search as cs

    rows = [("a", 0, [90.0, 93.0, 94.0]), ("a", 1, [92.0, 91.0, 93.5]), ("b", 0, [80.0, 85.0, 85.0]),
            ("b", 1, [94.0, 10.0, 10.0])]
    trials = pd.DataFrame([{"strategy": s, "seed": seed, "query": q + 1, "code": f"{s}{seed}{q}", "test_accuracy": a}
                           for s, seed, accs in rows for q, a in enumerate(accs)])
    t = cs.with_regret(trials, best_accuracy=94.0)
    assert t[(t.strategy == "a") & (t.seed == 1)].best_so_far.tolist() == [92.0, 92.0, 93.5]
    assert t[(t.strategy == "b") & (t.seed == 1)].regret.tolist() == [0.0, 0.0, 0.0]
    table = cs.regret_table(t, [1, 3], n_boot=200).set_index(["strategy", "queries"])
    assert table.loc[("a", 3), "median_regret"] == pytest.approx(0.25) and table.loc[("a", 3), "found_best"] == 0.5
    assert table.loc[("b", 1), "median_regret"] == pytest.approx(7.0) and table.loc[("b", 1), "mean_regret"] == 7.0
    reach = cs.queries_to_top(t, threshold=93.0).set_index(["strategy", "seed"]).queries_to_top
    assert reach.to_dict() == {("a", 0): 2, ("a", 1): 3, ("b", 0): math.inf, ("b", 1): 1}
    summary = cs.queries_summary(reach.reset_index(), budget=3, n_boot=200).set_index("strategy")
    assert summary.loc["a", "median_queries"] == 2.5 and summary.loc["b", "reached"] == 0.5
    assert summary.loc["b", "median_queries"] == 2.5  # median of 1 and "more than 3" (counted as 4)
    never = cs.queries_summary(pd.DataFrame({"strategy": "c", "seed": [0, 1, 2], "queries_to_top": [1, math.inf,
                                                                                                    math.inf]}), 3)
    assert never.median_queries.item() == math.inf and never.ci_high.item() == math.inf
    out = cs.search_outcomes(t, [3], 93.0).set_index(["strategy", "seed"])
    assert out.loc[("b", 0), "regret_at_3"] == 9.0 and out.loc[("b", 0), "final_best_accuracy"] == 85.0
    note = cs.closing_note(cs.regret_table(t, [3], n_boot=200), 0.95, 2)
    assert "3 queries 0.25 [" in note and "not NAS-Bench-201's runs" in note


def test_cell_search_parameters_are_checked():
    from resnas.params import ParamError

    with pytest.raises(ParamError, match=r"checkpoints=\[100, 300\] include \[300\]; allowed: at most budget=200"):
        race_params(budget=200, checkpoints=[100, 300])
    with pytest.raises(ParamError, match="strategies='annealing' is not allowed"):
        race_params(strategies=["annealing"])


# ---------------------------------------------------------------------------------------------- pooling modules
@pytest.mark.parametrize("stride", [1, 2])
@pytest.mark.parametrize("size", [(7, 7), (8, 5), (1, 1)])
@pytest.mark.parametrize("layout", [torch.contiguous_format, torch.channels_last])
def test_pooling_modules_compute_pytorchs_pools_forward_and_backward(stride, size, layout):
    """The cells' fast pooling modules are PyTorch's 3x3 pools (padding 1; average without the padding),
    values and gradients, at odd sizes and stride 2 (a DARTS reduction cell) too, in either layout."""
    from resnas.spaces.cell_networks import AvgPool3x3, MaxPool3x3

    gen = torch.Generator().manual_seed(0)
    x = torch.randn(3, 5, *size, generator=gen).contiguous(memory_format=layout)
    grad = torch.randn_like(nn.AvgPool2d(3, stride, 1)(x), memory_format=torch.contiguous_format)
    for ours, theirs in ((AvgPool3x3(stride), nn.AvgPool2d(3, stride, 1, count_include_pad=False)),
                         (MaxPool3x3(stride), nn.MaxPool2d(3, stride, 1))):
        a, b = x.clone().requires_grad_(), x.clone().requires_grad_()
        ya, yb = ours(a), theirs(b)
        assert ya.shape == yb.shape
        torch.testing.assert_close(ya, yb, rtol=1e-6, atol=1e-6)
        ya.backward(grad), yb.backward(grad)
        torch.testing.assert_close(a.grad, b.grad, rtol=1e-6, atol=1e-6)


def test_average_pool_module_trains_after_a_call_under_inference_mode():
    """A read-out under torch.inference_mode must not leave the module unable to train at the same size (a cached
    count map made there could not be saved for backward)."""
    from resnas.spaces.cell_networks import AvgPool3x3

    pool = AvgPool3x3(1)
    with torch.inference_mode():
        pool(torch.ones(2, 3, 6, 6))
    x = torch.ones(2, 3, 6, 6, requires_grad=True)
    pool(x).sum().backward()
    assert x.grad is not None and torch.isfinite(x.grad).all()
