"""The paper smoke run: its overrides only cut budgets, and its verdict comes from what the run log shows.

The whole run (every notebook on the paper profile, FakeData) is in tests/test_smoke_paper_era.py and
tests/test_smoke_paper_rest.py (two halves, so `make test`'s two processes run them side by side; see
tests/smoke_halves.py); here are fast checks of the verifier on hand-made logs, so a verifier that waves everything
through fails, and of the halves themselves.
"""
from dataclasses import dataclass

import pandas as pd
import pytest

from resnas import smoke
from resnas.experiments import EXPERIMENTS
from resnas.params import load_profile
from resnas.runlog import log_event, read_events


@dataclass(frozen=True)
class SearchLike:
    dataset: str = "cifar10"
    backend: str = "process"
    workers: int = 4
    device: str = "cpu"
    filters: tuple = (1, 2, 4, 8, 16, 32, 64)


def good_log(pids=(11, 12, 13)):
    kernel = 10
    events = [{"event": "space", "space": "era", "filters": [1, 2, 4, 8, 16, 32, 64], "pid": kernel},
              {"event": "evaluator", "backend": "process", "workers": 4, "device": "cpu", "pid": kernel}]
    for pid in pids:
        events += [{"event": "data", "dataset": "cifar10", "input_shape": [3, 32, 32], "classes": 10, "fake": True,
                    "pid": pid},
                   {"event": "job", "space": "era", "pid": pid},
                   {"event": "train", "device": "cpu", "pid": pid}]
    return events


def test_a_log_that_matches_the_parameters_passes():
    assert smoke.verify("era_search", SearchLike(), good_log()) == []


@pytest.mark.parametrize("spoil, expected", [
    (lambda ev: [e for e in ev if e["event"] != "train" or e["pid"] == 11], "nothing ran concurrently"),
    (lambda ev: [{**e, "input_shape": [1, 28, 28]} if e["event"] == "data" else e for e in ev], "ran at [1, 28, 28]"),
    (lambda ev: [{**e, "fake": False} if e["event"] == "data" else e for e in ev], "real data"),
    (lambda ev: [{**e, "dataset": "digits", "input_shape": [1, 8, 8]} if e["event"] == "data" else e for e in ev],
     "data sets loaded ['digits']"),
    (lambda ev: [{**e, "backend": "inprocess", "workers": 1} if e["event"] == "evaluator" else e for e in ev],
     "evaluators ran"),
    (lambda ev: [{**e, "device": "cuda:0"} if e["event"] == "train" else e for e in ev], "trained on ['cuda']"),
    (lambda ev: [{**e, "filters": [1, 2, 4, 8]} if e["event"] == "space" else e for e in ev], "ERA space filters"),
    (lambda ev: [e for e in ev if e["event"] != "train"], "no training ran"),
])
def test_the_verifier_catches_a_run_that_is_not_the_paper_path(spoil, expected):
    problems = smoke.verify("era_search", SearchLike(), spoil(good_log()))
    assert any(expected in p for p in problems), problems


def test_a_preset_is_checked_against_the_spaces_that_trained():
    @dataclass(frozen=True)
    class MoLike:
        dataset: str = "fashion_mnist"
        preset: str = "moresnet"

    events = [{"event": "data", "dataset": "fashion_mnist", "input_shape": [1, 28, 28], "classes": 10, "fake": True,
               "pid": 1}, {"event": "job", "space": "moresnet_small", "pid": 1}, {"event": "train", "device": "cpu",
                                                                                  "pid": 1}]
    assert any("preset='moresnet'" in p for p in smoke.verify("mo_resnet", MoLike(), events))
    events[1]["space"] = "moresnet"
    assert smoke.verify("mo_resnet", MoLike(), events) == []


def test_overrides_never_touch_the_code_path(monkeypatch):
    for nb in EXPERIMENTS:
        cut = smoke.overrides_for(nb, EXPERIMENTS[nb].params_class())
        assert not set(cut) & smoke.PROTECTED
        load_profile(EXPERIMENTS[nb].params_class(), nb, "paper", overrides=cut)  # every cut validates
    monkeypatch.setitem(smoke.SMOKE_OVERRIDES, "era_search", {"backend": "inprocess", "epochs": 1})
    with pytest.raises(ValueError, match="backend"):
        smoke.overrides_for("era_search")
    monkeypatch.setattr(smoke, "TINY_SPLITS", {"train_per_class": 1, "dataset": "digits"})
    with pytest.raises(ValueError, match="dataset"):  # the shared cut is checked as strictly as a notebook's
        smoke.overrides_for("cell_search")


def test_tiny_splits_reach_only_the_notebooks_that_have_them(monkeypatch):
    """One image per class where a Params has the key; a notebook's own entry wins; none invented elsewhere."""
    ecto = smoke.overrides_for("ectonas_ablation", EXPERIMENTS["ectonas_ablation"].params_class())
    assert {k: ecto[k] for k in smoke.TINY_SPLITS} == {"train_per_class": 1, "val_per_class": 1, "test_per_class": 1}
    assert not set(smoke.TINY_SPLITS) & set(smoke.overrides_for("cell_search", EXPERIMENTS["cell_search"].params_class()))
    genas = smoke.overrides_for("genas", EXPERIMENTS["genas"].params_class())
    assert "test_per_class" not in genas and genas["train_per_class"] == 1
    monkeypatch.setitem(smoke.SMOKE_OVERRIDES, "genas", {"train_per_class": 3})
    assert smoke.overrides_for("genas", EXPERIMENTS["genas"].params_class())["train_per_class"] == 3


def test_run_log_lines_are_whole_json_records(tmp_path, monkeypatch):
    log = tmp_path / "run.jsonl"
    monkeypatch.setenv("RESNAS_RUN_LOG", str(log))
    for i in range(50):
        log_event("train", device="cpu", i=i)
    events = read_events(log)
    assert [e["i"] for e in events] == list(range(50)) and all(e["event"] == "train" for e in events)
    monkeypatch.delenv("RESNAS_RUN_LOG")
    log_event("train", i=99)  # off: nothing written
    assert len(read_events(log)) == 50


def test_the_smoke_halves_cover_every_notebook_once():
    from smoke_halves import SMOKE_HALVES

    halves = [nb for half in SMOKE_HALVES.values() for nb in half]
    assert sorted(halves) == sorted(EXPERIMENTS) and len(halves) == len(set(halves))
    for half in SMOKE_HALVES.values():  # a half holds whatever its notebooks read
        assert all(need in half for nb in half for need in EXPERIMENTS[nb].needs)
