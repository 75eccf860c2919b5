import json
import math

import pytest
import torch
from torch import nn

from resnas import data
from resnas.train import TrainRecipe, count_flops, failure_kind, is_out_of_memory, random_crop_flip, train

from nets import small_net


@pytest.fixture(scope="module")
def bundle():
    return data.load(name="fashion_mnist", train_per_class=60, val_per_class=20, seed=0)


def test_same_seed_same_numbers_on_cpu(bundle):
    recipe = TrainRecipe(epochs=2, batch_size=32, augment="crop_flip")
    a = train(small_net(), bundle, recipe, seed=5)
    b = train(small_net(), bundle, recipe, seed=5)
    c = train(small_net(), bundle, recipe, seed=6)
    assert a.status == "ok" and len(a.history) == 2
    assert [h["train_loss"] for h in a.history] == [h["train_loss"] for h in b.history]
    assert a.history[-1]["train_loss"] != c.history[-1]["train_loss"]


def test_training_learns(bundle):
    r = train(small_net(), bundle, TrainRecipe(epochs=6, batch_size=32, lr=0.05, schedule="cosine"), seed=0)
    assert r.final_val_acc > 0.5  # ten classes: chance is 0.1
    assert r.best_val_acc >= r.final_val_acc and 1 <= r.best_epoch <= 6
    assert r.params == sum(p.numel() for p in small_net().parameters())


@pytest.mark.parametrize("schedule, expected", [
    ("era_search", [0.1, 0.1, 0.1, 0.01, 0.01, 0.01]),
    ("step", [0.1, 0.1, 0.1, 0.01, 0.001, 0.001]),
    ("constant", [0.1] * 6),
])
def test_schedules(bundle, schedule, expected):
    r = train(small_net(), bundle, TrainRecipe(epochs=6, schedule=schedule, low_lr_epochs=3), seed=0)
    assert [h["lr"] for h in r.history] == pytest.approx(expected)


def test_cosine_and_plateau_schedules(bundle):
    r = train(small_net(), bundle, TrainRecipe(epochs=4, schedule="cosine"), seed=0)
    lrs = [h["lr"] for h in r.history]
    assert lrs[0] == pytest.approx(0.1) and lrs[2] == pytest.approx(0.05) and lrs == sorted(lrs, reverse=True)
    linear = nn.Sequential(nn.Flatten(), nn.Linear(28 * 28, 10))
    r = train(linear, bundle, TrainRecipe(epochs=4, lr=1e-7, momentum=0, schedule="plateau", plateau_patience=0,
                                          plateau_factor=0.5), seed=0)
    # with a tiny rate the validation loss stalls (below the 1e-4 relative threshold), so after the first (best so far) epoch it halves each epoch
    assert [h["lr"] for h in r.history] == pytest.approx([1e-7, 1e-7, 5e-8, 2.5e-8])


def test_failures_are_reported_not_raised(bundle):
    r = train(small_net(), bundle, TrainRecipe(epochs=2, lr=1e8), seed=0)
    assert r.status == "failed" and "non-finite" in r.reason
    r = train(small_net(), bundle, TrainRecipe(epochs=2, max_params=10), seed=0)
    assert r.status == "failed" and "max_params=10" in r.reason and r.history == ()
    assert math.isnan(r.final_val_acc)


def test_bad_recipe_names_the_parameter():
    with pytest.raises(ValueError, match="schedule='linear' is unknown; allowed: era_search"):
        TrainRecipe(schedule="linear")
    with pytest.raises(ValueError, match="augment='flip'"):
        TrainRecipe(augment="flip")


def test_crop_flip_moves_pixels_but_keeps_content():
    x = torch.arange(2 * 1 * 6 * 6, dtype=torch.uint8).view(2, 1, 6, 6)
    out = random_crop_flip(x, torch.Generator().manual_seed(0), pad=2)
    assert out.shape == x.shape and out.dtype == torch.uint8
    # every output pixel is an input pixel of the same image or padding
    for i in range(2):
        assert set(out[i].flatten().tolist()) <= set(x[i].flatten().tolist()) | {0}
    outs = [random_crop_flip(x, torch.Generator().manual_seed(s), pad=2) for s in range(10)]
    assert any(not torch.equal(o, x) for o in outs)


def test_flop_count_of_a_linear_layer():
    assert count_flops(nn.Linear(10, 4), (10,)) == 2 * 10 * 4


def test_evaluation_at_chosen_epochs(bundle):
    r = train(small_net(), bundle, TrainRecipe(epochs=5, eval_every=2, schedule="constant"), seed=0)
    assert [h["epoch"] for h in r.history] == [2, 4, 5]
    with pytest.raises(ValueError, match="eval_every=2 must be >= 1, and 1 with schedule='plateau'"):
        TrainRecipe(schedule="plateau", eval_every=2)


# ---------------------------------------------------------------------------------------------- failures
class _Raises(nn.Module):
    """A network whose forward pass raises `exc`: stands for a bug (or a memory failure) inside training."""

    def __init__(self, exc):
        super().__init__()
        self.lin, self.exc = nn.Linear(1, 1), exc

    def forward(self, x):
        raise self.exc


@pytest.fixture(scope="module")
def digits():
    return data.load(name="digits", val_size=0.2, seed=0)


@pytest.mark.parametrize("exc, stage, kind", [
    (ValueError("depth=99 is not allowed in this space"), "build", "candidate"),
    (json.JSONDecodeError("Expecting value", "{", 0), "build", "error"),  # a broken config string: our bug
    (ValueError("a ValueError inside training"), "train", "error"),
    (TypeError("forward() takes 1 positional argument"), "build", "error"),
    (TypeError("unsupported operand"), "train", "error"),
    (AttributeError("'NoneType' object has no attribute 'weight'"), "train", "error"),
    (KeyError("val_acc"), "train", "error"),
    (RuntimeError("CUDA error: an illegal memory access was encountered"), "train", "error"),
    (RuntimeError("mat1 and mat2 shapes cannot be multiplied"), "build", "error"),
    (torch.cuda.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB"), "train", "out_of_memory"),
    (RuntimeError("CUDA out of memory. Tried to allocate 20.00 MiB"), "train", "out_of_memory"),
    (RuntimeError("[enforce fail at alloc_cpu.cpp:83] DefaultCPUAllocator: can't allocate memory"), "build",
     "out_of_memory"),
    (MemoryError(), "train", "out_of_memory"),
])
def test_failure_kind_table(exc, stage, kind):
    assert failure_kind(exc, stage) == kind


def test_failure_kind_names_an_unknown_stage():
    with pytest.raises(ValueError, match="stage='eval' is unknown; allowed: 'build', 'train'"):
        failure_kind(TypeError(), "eval")


def test_a_bug_in_training_is_raised_and_out_of_memory_is_reported(digits):
    with pytest.raises(TypeError, match="a bug"):
        train(_Raises(TypeError("a bug")), digits, TrainRecipe(epochs=1), seed=0)
    with pytest.raises(RuntimeError, match="illegal memory access"):
        train(_Raises(RuntimeError("CUDA error: an illegal memory access")), digits, TrainRecipe(epochs=1), seed=0)
    r = train(_Raises(torch.cuda.OutOfMemoryError("CUDA out of memory. Tried to allocate 9 GiB")), digits,
              TrainRecipe(epochs=1), seed=0)
    assert r.status == "failed" and is_out_of_memory(r.reason) and "CUDA" in r.reason and r.params == 2
