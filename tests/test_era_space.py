import numpy as np
import pytest
import torch

from resnas.spaces.era import (CODE_VARIANT, RESNET20, RESNET56, RESNET110, SPACE, WIDE_RESNET110, EraConfig,
                               EraSpace)
from resnas.train import count_flops, count_params


def test_space_size_matches_the_thesis():
    assert SPACE.size() == 13_296_960
    assert SPACE.distinct_size() == 8_864_640
    assert SPACE.layer_range() == (8, 218)
    # the thesis code's variant (64 initial filters offered too)
    assert CODE_VARIANT.size() == 15_513_120 and CODE_VARIANT.distinct_size() == 11_080_800


def test_distinct_size_counts_canonical_networks_on_a_small_space():
    small = EraSpace(filters_choices=(1, 2, 4), max_depth=2)
    configs = list(small.enumerate())
    assert len(configs) == small.size()
    assert len({c.canonical() for c in configs}) == small.distinct_size()


@pytest.mark.parametrize("cfg, params", [(RESNET20, 272_474), (RESNET56, 855_770), (RESNET110, 1_730_714)])
def test_reference_resnets_have_he_et_al_option_b_parameter_counts(cfg, params):
    assert SPACE.count_params(cfg) == params
    assert count_params(SPACE.build(cfg)) == params


def test_resnet110_and_wide_version_match_the_thesis():
    assert RESNET110.layers == WIDE_RESNET110.layers == 110
    assert abs(SPACE.count_params(RESNET110) - 1.7e6) < 0.05e6
    assert abs(SPACE.count_params(WIDE_RESNET110) - 6.9e6) < 0.05e6


def test_thesis_table10_networks_have_the_published_depths():
    assert EraConfig("bottleneck", (3, 6, 3, 1), 64, 2, 64).layers == 41
    assert EraConfig("bottleneck", (7, 9, 9, 1), 64, 2, 2).layers == 80
    assert EraConfig("basic", (1, 10, 1, 5), 32, 2, 1).layers == 36
    assert EraConfig("basic", (5, 2, 17, 1), 64, 2, 2).layers == 52


def small_configs(n, seed=0):
    space = EraSpace(filters_choices=(1, 2, 4, 8), max_depth=3)
    rng = np.random.default_rng(seed)
    return [space.sample(rng) for _ in range(n)]


def test_analytic_counts_equal_the_built_network():
    for cfg in small_configs(12):
        for c_in, hw in ((3, (32, 32)), (1, (28, 28))):
            net = SPACE.build(cfg, c_in, 10)
            assert SPACE.count_params(cfg, c_in, 10) == count_params(net), cfg
            assert SPACE.count_flops(cfg, hw, c_in, 10) == count_flops(net, (c_in, *hw)), cfg


def test_every_sampled_network_runs_and_layer_counts_stay_in_range():
    rng = np.random.default_rng(1)
    for _ in range(300):
        cfg = SPACE.sample(rng)
        assert 8 <= cfg.layers <= 218 and SPACE.validate(cfg) is cfg
    for cfg in small_configs(15, seed=2):
        net = SPACE.build(cfg, 1, 10).eval()
        assert net(torch.zeros(2, 1, 28, 28)).shape == (2, 10)
        assert net(torch.zeros(1, 1, 8, 8)).shape == (1, 10)


def test_json_round_trip_rebuilds_an_identical_network():
    for cfg in small_configs(10, seed=3):
        again = EraConfig.from_json(cfg.to_json())
        assert again == cfg.canonical() and again.to_json() == cfg.to_json()
        torch.manual_seed(0)
        a = SPACE.build(cfg, 3, 10)
        torch.manual_seed(0)
        b = SPACE.build(again, 3, 10)
        sa, sb = a.state_dict(), b.state_dict()
        assert sa.keys() == sb.keys() and all(torch.equal(sa[k], sb[k]) for k in sa)


def test_canonical_form_clamps_the_group_size():
    assert EraConfig("basic", (0, 1, 1, 1), 4, 2, 32).canonical().group == 4
    assert EraConfig("basic", (0, 1, 1, 1), 4, 2, 32).to_json() == EraConfig("basic", (0, 1, 1, 1), 4, 2, 8).to_json()
    assert EraConfig("basic", (0, 1, 1, 1), 16, 2, 1).groups == 16  # depthwise in the first section


def test_mutation_changes_exactly_one_parameter_and_the_network():
    rng = np.random.default_rng(4)
    for cfg in small_configs(100, seed=4):
        child = SPACE.mutate(cfg, rng)
        assert child != cfg and child == child.canonical()
        a, b = SPACE._flat(cfg), SPACE._flat(child)
        changed = [k for k in a if a[k] != b[k]]
        # one parameter redrawn; the clamp may also move the group size when filters shrink
        assert len(changed) == 1 or (len(changed) == 2 and "filters" in changed and "group" in changed)


def test_crossover_takes_every_parameter_from_a_parent():
    rng = np.random.default_rng(5)
    a = EraConfig("basic", (0, 1, 2, 3), 2, 1, 1)
    b = EraConfig("bottleneck", (3, 3, 1, 1), 32, 2, 8)
    seen = set()
    for _ in range(200):
        c = SPACE.crossover(a, b, rng)
        fc, fa, fb = SPACE._flat(c), SPACE._flat(a), SPACE._flat(b)
        assert all(fc[k] in (fa[k], fb[k]) for k in fc if k != "group")
        assert fc["group"] in (min(fa["group"], c.filters), min(fb["group"], c.filters))
        seen.add(c)
    assert len(seen) > 50  # uniform crossover mixes


def test_neighbourhood():
    cfg = EraConfig("basic", (0, 1, 5, 18), 8, 2, 4)
    ns = SPACE.neighbours(cfg)
    assert cfg not in ns and len(ns) == len(set(ns))
    depths = {n.depths for n in ns if n.block == cfg.block and n.filters == cfg.filters and n.group == cfg.group
              and n.update == cfg.update}
    assert (0, 1, 3, 18) in depths and (0, 1, 7, 18) in depths and (0, 2, 5, 18) in depths
    assert (0, 0, 5, 18) not in depths and (0, 1, 5, 19) not in depths  # stays in range
    assert any(n.block == "bottleneck" for n in ns) and any(n.filters == 32 for n in ns)


def test_out_of_space_values_are_named():
    with pytest.raises(ValueError, match=r"depths\[1\]=0 is not allowed in this space; allowed: 1 to 18"):
        SPACE.validate(EraConfig("basic", (0, 0, 1, 1), 4, 2, 4))
    with pytest.raises(ValueError, match="filters=64 is not allowed"):
        SPACE.validate(EraConfig("basic", (0, 1, 1, 1), 64, 2, 4))
    CODE_VARIANT.validate(EraConfig("basic", (0, 1, 1, 1), 64, 2, 4))
    with pytest.raises(ValueError, match="max_depth=19 is out of range"):
        EraSpace(max_depth=19)


def test_final_trainings_report_each_model_and_seed_with_its_test_curve():
    """era_final's loop (moved out of the notebook): one row per model and seed whose test error is the record's
    last-epoch error, and a curve per training whose test error is 100 x (1 - the engine's eval accuracy)."""
    from types import SimpleNamespace

    import pandas as pd

    from resnas.experiments.era import FinalParams, final_spec_recipe, final_trainings

    p = FinalParams(dataset="digits", epochs=4, seeds=(0, 1), references=())
    candidates = pd.DataFrame({"model": ["A", "B"], "config": ["{}", "{}"], "search_val_error": [10.0, 20.0],
                               "layers": [8, 14]})

    class FakeEvaluator:
        def __init__(self, seed):
            self.seed = seed

        def map(self, items):
            out = []
            for i, _ in enumerate(items):
                acc = 0.5 + 0.1 * i + 0.01 * self.seed
                hist = tuple({"epoch": e, "val_acc": acc - 0.1 * (4 - e), "train_loss": 1.0 / e} for e in (1, 2, 3, 4))
                out.append(SimpleNamespace(params=100 + i, status="ok", fitness=100 * (1 - acc), wall_time=1.0,
                                           history=hist, key=f"k{i}{self.seed}"))
            return out

    finals, curves = final_trainings(p, candidates, FakeEvaluator)
    assert list(zip(finals.model, finals.seed)) == [("A", 0), ("B", 0), ("A", 1), ("B", 1)]
    assert finals.test_error.tolist() == pytest.approx([50.0, 40.0, 49.0, 39.0])
    last = curves[curves.epoch == 4].set_index(["model", "seed"]).test_error
    assert last.sort_index().tolist() == pytest.approx(finals.set_index(["model", "seed"]).test_error.sort_index().tolist())
    assert curves.groupby(["model", "seed"]).size().eq(4).all()
    spec, recipe = final_spec_recipe(p)
    assert spec.split == "test" and recipe.schedule == "step" and recipe.milestones == (0.5, 0.75)
