"""Lab 01's self-checks, called directly: the teacher's solutions pass; plausible wrong answers and an unfilled
TODO fail with a message that names the mistake and not the expected number."""
import importlib.util

import numpy as np
import pytest

from resnas import labs
from resnas.labs import search_spaces as checks
from resnas.spaces.era import EraConfig, EraSpace

spec = importlib.util.spec_from_file_location("sol01", labs.LABS_DIR / "solutions" / "01_search_spaces.py")
sol = importlib.util.module_from_spec(spec)
spec.loader.exec_module(sol)


def todo(*args):
    raise NotImplementedError("TODO")


def test_solutions_pass():
    assert checks.check_count(sol.count_configurations).startswith("correct: the ERA space holds 13,296,960")
    assert checks.check_distinct(sol.count_networks).startswith("correct: 8,864,640")
    assert checks.check_sample(sol.sample_config, n=1000).startswith("correct")
    assert checks.check_conv_params(sol.conv_params).startswith("correct")
    assert checks.check_conv_flops(sol.conv_flops).startswith("correct")


@pytest.mark.parametrize("check, exercise", [(checks.check_count, 1), (checks.check_distinct, 2),
                                             (checks.check_sample, 3), (checks.check_conv_params, 4),
                                             (checks.check_conv_flops, 5)])
def test_an_unfilled_todo_is_not_done_yet(check, exercise):
    with pytest.raises(labs.NotDone, match=f"exercise {exercise} is not done yet"):
        check(todo)


def test_count_rejects_an_off_by_one_first_section_and_other_slips():
    def first_from_one(d, f, g):
        return 2 * d ** 4 * len(f) * 2 * len(g)

    def all_from_zero(d, f, g):
        return 2 * (d + 1) ** 4 * len(f) * 2 * len(g)

    def no_update(d, f, g):
        return 2 * (d + 1) * d ** 3 * len(f) * len(g)

    def as_float(d, f, g):
        return float(sol.count_configurations(d, f, g))

    for wrong, hint in [(first_from_one, "first section may be empty"), (all_from_zero, "only the first section"),
                        (no_update, "factor of 2"), (as_float, "return an int")]:
        with pytest.raises(labs.WrongAnswer, match=hint) as err:
            checks.check_count(wrong)
        assert "13,296,960" not in str(err.value)  # the hint never gives the answer away


def test_distinct_rejects_the_configuration_count():
    with pytest.raises(labs.WrongAnswer, match="that is the number of configurations: a group size larger"):
        checks.check_distinct(sol.count_configurations)
    with pytest.raises(labs.WrongAnswer, match="not the number of distinct networks"):
        checks.check_distinct(lambda d, f, g: sol.count_networks(d, f, g) - 1)


def test_sample_rejects_an_exclusive_upper_end_a_global_generator_and_a_non_uniform_draw():
    def exclusive(space, rng):  # integers(1, max_depth) never draws max_depth
        c = space.choices()
        d = [int(rng.integers(0, space.max_depth))] + [int(rng.integers(1, space.max_depth)) for _ in range(3)]
        return EraConfig(c["block"][rng.integers(2)], tuple(d), int(rng.choice(c["filters"])),
                         int(rng.choice(c["update"])), int(rng.choice(c["group"]))).canonical()

    def global_rng(space, rng):
        return sol.sample_config(space, np.random.default_rng(np.random.randint(1 << 30)))

    def skewed(space, rng):  # basic blocks three times in four
        cfg = sol.sample_config(space, rng)
        return EraConfig("basic" if rng.random() < 0.75 else "bottleneck", cfg.depths, cfg.filters, cfg.update,
                         cfg.group)

    with pytest.raises(labs.WrongAnswer, match=r"never took the value\(s\) \[3\].*excludes high"):
        checks.check_sample(exclusive, n=500)
    with pytest.raises(labs.WrongAnswer, match="draw only from the `rng` you are given"):
        checks.check_sample(global_rng, n=200)
    with pytest.raises(labs.WrongAnswer, match="block's values are far from uniform"):
        checks.check_sample(skewed, n=1000)
    with pytest.raises(labs.WrongAnswer, match="not in the space"):
        checks.check_sample(lambda space, rng: EraConfig("basic", (0, 1, 1, 9), 4, 1, 1), n=10)


def test_conv_params_rejects_ignoring_groups_and_a_k_by_1_kernel():
    with pytest.raises(labs.WrongAnswer, match="sees only c_in / groups"):
        checks.check_conv_params(lambda ci, co, k, g: k * k * ci * co)
    with pytest.raises(labs.WrongAnswer, match="k \\* k taps"):
        checks.check_conv_params(lambda ci, co, k, g: k * (ci // g) * co)


def test_conv_flops_rejects_macs_no_stride_and_a_floor_of_h_over_stride():
    def macs(ci, co, k, s, g, h, w):
        return sol.conv_flops(ci, co, k, s, g, h, w) // 2

    def no_stride(ci, co, k, s, g, h, w):
        return 2 * k * k * (ci // g) * co * h * w

    def floor_div(ci, co, k, s, g, h, w):
        return 2 * k * k * (ci // g) * co * (h // s) * (w // s)

    with pytest.raises(labs.WrongAnswer, match="multiply-add as 2 FLOPs"):
        checks.check_conv_flops(macs)
    with pytest.raises(labs.WrongAnswer, match="fewer output positions"):
        checks.check_conv_flops(no_stride)
    with pytest.raises(labs.WrongAnswer, match="odd map under stride 2"):
        checks.check_conv_flops(floor_div)


def test_whole_network_formulas_agree_with_counting_and_the_library():
    space = EraSpace(filters_choices=(4, 8), max_depth=2)
    for cfg in [EraConfig("basic", (1, 1, 2, 1), 4, 2, 2), EraConfig("bottleneck", (0, 2, 1, 1), 8, 1, 32)]:
        net = space.build(cfg)
        assert checks.params_by_formula(net, sol.conv_params) == checks.params_by_counting(net) \
            == space.count_params(cfg)
        import torch
        assert checks.flops_by_formula(net, sol.conv_flops) == checks.flops_of(net.eval(), torch.zeros(1, 3, 32, 32)) \
            == space.count_flops(cfg)
        # a wrong conv formula shows up in the whole-network sum too
        assert checks.params_by_formula(net, lambda ci, co, k, g: k * k * ci * co) != checks.params_by_counting(net) \
            or cfg.groups == 1
