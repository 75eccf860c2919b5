"""Lab 04's self-checks, called directly: the teacher's solutions pass; plausible wrong answers and an unfilled
TODO fail with a message naming the mistake."""
import importlib.util

import pytest
import torch

from resnas import labs, morph
from resnas.labs import morphisms as checks

spec = importlib.util.spec_from_file_location("sol04", labs.LABS_DIR / "solutions" / "04_morphisms.py")
sol = importlib.util.module_from_spec(spec)
spec.loader.exec_module(sol)


def todo(*args):
    raise NotImplementedError("TODO")


def test_solutions_pass():
    assert checks.check_split(sol.split_next_weight).startswith("correct")
    assert checks.check_identity_kernel(sol.identity_kernel).startswith("correct")
    assert checks.check_prune_order(sol.prune_order).startswith("correct")


@pytest.mark.parametrize("check, exercise", [(checks.check_split, 1), (checks.check_identity_kernel, 2),
                                             (checks.check_prune_order, 3)])
def test_an_unfilled_todo_is_not_done_yet(check, exercise):
    with pytest.raises(labs.NotDone, match=f"exercise {exercise} is not done yet"):
        check(todo)


def test_split_rejects_undivided_copies_a_uniform_division_and_a_wrong_shape():
    with pytest.raises(labs.WrongAnswer, match="copied columns are not shared out"):
        checks.check_split(lambda w, g: w[:, g])
    with pytest.raises(labs.WrongAnswer, match="outputs change by up to"):
        checks.check_split(lambda w, g: w[:, g] * w.shape[1] / len(g))  # spread evenly over all units
    with pytest.raises(labs.WrongAnswer, match=r"returned shape \(3, 5\)"):
        checks.check_split(lambda w, g: w)


def test_identity_kernel_rejects_summed_channels_an_off_centre_tap_and_a_wrong_shape():
    def all_pairs(c):
        k = torch.zeros(c, c, 3, 3)
        k[:, :, 1, 1] = 1
        return k

    def corner(c):
        k = torch.zeros(c, c, 3, 3)
        k[range(c), range(c), 0, 0] = 1
        return k

    with pytest.raises(labs.WrongAnswer, match="sums all input channels"):
        checks.check_identity_kernel(all_pairs)
    with pytest.raises(labs.WrongAnswer, match="off-centre, which shifts the image"):
        checks.check_identity_kernel(corner)
    with pytest.raises(labs.WrongAnswer, match=r"has shape \(1, 1\)"):
        checks.check_identity_kernel(lambda c: torch.eye(c))


def test_prune_order_rejects_signed_gamma_strongest_first_and_a_partial_list():
    with pytest.raises(labs.WrongAnswer, match="large negative gamma .* rank by magnitude"):
        checks.check_prune_order(lambda g: g.argsort())
    with pytest.raises(labs.WrongAnswer, match="removes the strongest channels first"):
        checks.check_prune_order(lambda g: g.abs().argsort(descending=True))
    with pytest.raises(labs.WrongAnswer, match="return every channel index"):
        checks.check_prune_order(lambda g: g.abs().argsort()[:2])


def test_helpers_grow_exactly_and_prune_like_the_library():
    x_train, y_train, x_val, y_val = checks.digits(0)
    assert x_train.shape[1:] == (1, 8, 8) and len(x_train) + len(x_val) == 1797 and float(x_train.min()) >= 0
    net = checks.train(checks.small_cnn(seed=0), x_train[:300], y_train[:300], epochs=2)
    wide = checks.widen_dense_with(net, 0, 7, sol.split_next_weight)
    assert wide.dense[0].out_features == 39 and morph.output_change(net, wide, x_val) < 1e-4
    broken = checks.widen_dense_with(net, 0, 7, lambda w, g: w[:, g])
    assert morph.output_change(net, broken, x_val) > 1e-3
    order = [int(i) for i in sol.prune_order(net.norms[1].weight.detach())]
    lib, _ = morph.remove_conv_channels(net, 1, 3)
    assert morph.output_change(lib, checks.prune_channels(net, 1, order[:3]), x_val) < 1e-5
