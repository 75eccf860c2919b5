"""TrainRecipe.precision: 'auto' follows the detected bf16 hardware (never assumed), 'fp32' stays fp32, what ran is
recorded (result, record, archive key, fingerprints), and the ERA table stays fp32 with its identity unchanged.

The bf16 hardware is stood in for by monkeypatching resnas.threads.cpu_bf16, so these tests mean the same on a
CPU with and without it; without it bf16 runs emulated (slowly), hence the tiny data."""
import copy
import hashlib
import json
import pickle
from dataclasses import asdict
from pathlib import Path

import pyarrow.parquet as pq
import pytest
import torch
from torch import nn

from resnas import data, threads
from resnas.data import DataSpec
from resnas.evaluate import KEY_VERSION, Archive, Evaluator, config_json, evaluation_key, fingerprint
from resnas.spaces.era import EraConfig
from resnas.train import TrainRecipe, resolve_precision, train

from nets import small_net

ROOT = Path(__file__).resolve().parents[1]
SPEC = DataSpec(name="digits", val_size=0.2, seed=0, train_per_class=8, val_per_class=4)
TINY = EraConfig("basic", (0, 1, 1, 1), 2, 2, 32)


@pytest.fixture
def bf16_cpu(monkeypatch):
    monkeypatch.setattr(threads, "cpu_bf16", lambda: "avx512_bf16")


@pytest.fixture
def fp32_cpu(monkeypatch):
    monkeypatch.setattr(threads, "cpu_bf16", lambda: None)


@pytest.fixture(scope="module")
def bundle():
    return data.load(name="fashion_mnist", train_per_class=12, val_per_class=6, seed=0)


# ---------------------------------------------------------------------------------------------- resolution
def test_auto_is_fp32_without_detected_bf16_hardware(fp32_cpu):
    assert resolve_precision("auto", "cpu") == "fp32"
    assert TrainRecipe().resolved("cpu").precision == "fp32"
    assert fingerprint("cpu")["dtype"] == "fp32"


def test_auto_is_bf16_with_detected_bf16_hardware_and_on_cuda(bf16_cpu):
    assert resolve_precision("auto", "cpu") == "bf16"
    assert TrainRecipe().resolved("cpu").precision == "bf16"
    assert fingerprint("cpu")["dtype"] == "bf16-autocast"
    assert resolve_precision("auto", torch.device("cuda")) == "bf16"  # as before the option existed


@pytest.mark.parametrize("detected", [None, "amx_bf16"])
def test_forced_precisions_ignore_the_detection(monkeypatch, detected):
    monkeypatch.setattr(threads, "cpu_bf16", lambda: detected)
    assert resolve_precision("fp32", "cpu") == "fp32" and TrainRecipe(precision="fp32").resolved().precision == "fp32"
    assert resolve_precision("fp32", torch.device("cuda")) == "fp32"
    assert resolve_precision("bf16", "cpu") == "bf16"
    assert fingerprint("cpu", "fp32")["dtype"] == "fp32"


def test_an_unknown_precision_names_the_parameter():
    with pytest.raises(ValueError, match="precision='fp16'.*'auto', 'fp32', 'bf16'"):
        TrainRecipe(precision="fp16")
    with pytest.raises(ValueError, match="precision='half'"):
        resolve_precision("half")


def test_machine_fingerprint_says_the_precision_auto_resolves_to(monkeypatch):
    from resnas.claims import machine_fingerprint

    monkeypatch.setattr(threads, "cpu_bf16", lambda: None)
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert machine_fingerprint()["dtype"] == "fp32"
    monkeypatch.setattr(threads, "cpu_bf16", lambda: "amx_bf16")
    assert machine_fingerprint()["dtype"] == "bf16-autocast"


# ---------------------------------------------------------------------------------------------- archive keys
def legacy_key(space, config, spec, recipe, seed):
    """The key as the evaluator computed it before recipes had a precision (all of them fp32 on a CPU)."""
    rec = asdict(recipe)
    rec.pop("precision")
    payload = {"v": KEY_VERSION, "space": space, "config": json.loads(config_json(space, config)),
               "data": asdict(spec), "recipe": rec, "seed": seed}
    return hashlib.sha256(json.dumps(payload, sort_keys=True).encode()).hexdigest()[:24]


def test_fp32_keys_are_the_keys_made_before_the_field(fp32_cpu, monkeypatch):
    recipe = TrainRecipe(epochs=1)
    old = legacy_key("era", TINY, SPEC, recipe, 0)
    assert evaluation_key("era", TINY, SPEC, recipe.replace(precision="fp32"), 0) == old
    assert evaluation_key("era", TINY, SPEC, recipe, 0, device="cpu") == old  # auto, no bf16 hardware
    monkeypatch.setattr(threads, "cpu_bf16", lambda: "avx512_bf16")
    bf16_key = evaluation_key("era", TINY, SPEC, recipe, 0, device="cpu")
    assert bf16_key != old  # a bf16 training never takes an fp32 record's key
    assert bf16_key == evaluation_key("era", TINY, SPEC, recipe.replace(precision="bf16"), 0)
    assert evaluation_key("era", TINY, SPEC, recipe.replace(precision="fp32"), 0) == old


# ---------------------------------------------------------------------------------------------- training
def test_a_bf16_cpu_training_runs_and_its_record_says_bf16(tmp_path, bf16_cpu):
    ev = Evaluator(tmp_path / "a.sqlite", SPEC, TrainRecipe(epochs=1, batch_size=32), seed=0, device="cpu",
                   progress=False)
    rec = ev.evaluate("era", TINY)
    ev.close()
    assert rec.ok and len(rec.history) == 1 and 0 <= rec.final_val_acc <= 1
    assert rec.recipe["precision"] == "bf16" and rec.precision == "bf16"
    assert rec.fingerprint["dtype"] == "bf16-autocast"
    stored = Archive(tmp_path / "a.sqlite").get(rec.key)
    assert stored.recipe["precision"] == "bf16" and stored.precision == "bf16"
    # forced fp32 on the same machine: another key, and a record that says fp32
    ev = Evaluator(tmp_path / "a.sqlite", SPEC, TrainRecipe(epochs=1, batch_size=32, precision="fp32"), seed=0,
                   device="cpu", progress=False)
    rec32 = ev.evaluate("era", TINY)
    ev.close()
    assert rec32.key != rec.key and not rec32.cached
    assert rec32.precision == "fp32" and rec32.recipe["precision"] == "fp32" and rec32.fingerprint["dtype"] == "fp32"


def test_a_record_made_before_the_field_reads_its_precision_from_its_fingerprint(tmp_path, fp32_cpu):
    ev = Evaluator(tmp_path / "a.sqlite", SPEC, TrainRecipe(epochs=1, batch_size=32), seed=0, device="cpu",
                   progress=False)
    rec = ev.evaluate("era", TINY)
    ev.close()
    recipe = {k: v for k, v in rec.recipe.items() if k != "precision"}
    from dataclasses import replace

    assert replace(rec, recipe=recipe).precision == "fp32"
    assert replace(rec, recipe=recipe, fingerprint={**rec.fingerprint, "dtype": "bf16-autocast"}).precision == "bf16"


def test_bf16_on_the_cpu_repeats_by_seed_and_differs_from_fp32(bundle):
    recipe = TrainRecipe(epochs=1, batch_size=32, augment="crop_flip", precision="bf16")
    a = train(small_net(), bundle, recipe, seed=5, device="cpu")
    b = train(small_net(), bundle, recipe, seed=5, device="cpu")
    f = train(small_net(), bundle, recipe.replace(precision="fp32"), seed=5, device="cpu")
    assert a.status == b.status == "ok" and a.precision == "bf16" and f.precision == "fp32"
    assert a.history[-1]["train_loss"] == b.history[-1]["train_loss"]
    assert a.history[-1]["val_loss"] == b.history[-1]["val_loss"]
    assert a.history[-1]["train_loss"] != f.history[-1]["train_loss"]  # autocast really ran


def depthwise_net(seed=0):
    from resnas.spaces.era import SPACE

    torch.manual_seed(seed)
    return SPACE.build(EraConfig("basic", (0, 1, 1, 1), 4, 2, 1), 1, 10)  # group size 1: depthwise 3x3


@pytest.mark.parametrize("precision,net", [("fp32", small_net), ("bf16", small_net), ("bf16", depthwise_net)])
def test_bench_figure_4_trains_as_the_engine_does(bundle, precision, net):
    """Figure 4's fit_cpu with the engine's setting for a precision gives the engine's numbers to the digit."""
    from resnas.bench import BF16_DW_FP32, ENGINE_BF16, ENGINE_FP32, engine_precision, fit_cpu

    setting = ENGINE_BF16 if precision == "bf16" else ENGINE_FP32
    assert engine_precision(setting, net()) == precision
    recipe = TrainRecipe(epochs=1, batch_size=32, lr=0.05, schedule="cosine", augment="none", precision=precision)
    engine = train(net(), bundle, recipe, seed=3, device="cpu")
    fit = fit_cpu(net(), bundle, recipe, setting, seed=3)
    assert engine.final_val_acc == fit["val_acc"]
    if net is depthwise_net:  # the depthwise lever is not the engine's bf16 there
        assert engine_precision(BF16_DW_FP32, net()) is None
    else:
        assert engine_precision(BF16_DW_FP32, net()) == "bf16"  # no depthwise convolution: the same computation


def test_the_depthwise_lever_keeps_depthwise_convolutions_fp32():
    from resnas.train import fp32_depthwise, is_depthwise

    torch.manual_seed(0)
    net = nn.Sequential(nn.Conv2d(1, 4, 3, padding=1), nn.Conv2d(4, 4, 3, padding=1, groups=4),
                        nn.Conv2d(4, 4, 3, padding=1, groups=2), nn.Conv2d(4, 4, 1))
    assert [is_depthwise(m) for m in net] == [False, True, False, False]
    seen = {}
    for i, m in enumerate(net):
        m.register_forward_hook(lambda mod, args, out, i=i: seen.__setitem__(i, out.dtype))
    x = torch.randn(2, 1, 8, 8)
    with torch.autocast("cpu", dtype=torch.bfloat16), fp32_depthwise(net):
        net(x).float().sum().backward()
        assert torch.is_autocast_enabled("cpu")  # switched back on after the depthwise convolution
    assert seen == {0: torch.bfloat16, 1: torch.float32, 2: torch.bfloat16, 3: torch.bfloat16}
    plain = depthwise_net()
    with fp32_depthwise(plain):  # a snapshot taken inside (fidelity's on_epoch) stays picklable
        pickle.loads(pickle.dumps(copy.deepcopy(plain)))
    with torch.autocast("cpu", dtype=torch.bfloat16):  # the hooks are gone
        net(x)
    assert seen[1] == torch.bfloat16


# ---------------------------------------------------------------------------------------------- the ERA table
def default_table_params():
    from resnas.experiments import era_table
    from resnas.params import load_profile

    return load_profile(era_table.Params, "era_table", "default", {}, root=ROOT / "params")


def test_the_era_table_identity_is_unchanged(bf16_cpu):
    from resnas import tabular
    from resnas.experiments import era_table

    p = default_table_params()
    identity = era_table.table_identity(p)
    assert "precision" not in identity["recipe"]
    stored = tabular.table_identity()
    assert stored, "no committed table or part to compare with"
    assert json.dumps(identity, sort_keys=True) == json.dumps(stored, sort_keys=True)
    for part in sorted((ROOT / "lib/resnas/tables/parts").glob("*.parquet")):
        meta = json.loads(pq.read_schema(part).metadata[b"resnas"])
        held = meta.get("identity") or meta.get("fingerprint", {}).get("identity")
        assert json.dumps(held, sort_keys=True) == json.dumps(identity, sort_keys=True), part.name


def test_the_era_table_trains_and_reports_fp32_on_a_bf16_cpu(bf16_cpu):
    from resnas.experiments import era_table

    p = default_table_params()
    for budget in (p.epochs, p.long_epochs):
        recipe = era_table.recipe(p, budget)
        assert recipe.precision == "fp32" and recipe.resolved("cpu").precision == "fp32"
    assert era_table.environment()["precision"] == "fp32"
