"""MO-ResNet experiment: the objectives of one training, resumable alpha searches, and clear refusals."""
import json
import math
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest

from resnas.experiments import mo_resnet
from resnas.spaces.moresnet import SMALL


def record(history, ok=True, key="k", params=10):
    return SimpleNamespace(ok=ok, status="ok" if ok else "failed", history=history, key=key, params=params)


def test_objectives_take_each_minimum_over_epochs_separately():
    hist = [{"val_acc": 0.70, "val_loss": 0.9}, {"val_acc": 0.80, "val_loss": 1.1}, {"val_acc": 0.75, "val_loss": 0.6}]
    f = mo_resnet.objectives(record(hist), alpha=0.3)
    assert f[0] == pytest.approx(0.20) and f[1] == pytest.approx(0.3 * 0.6)  # epoch 2's error, epoch 3's loss
    assert mo_resnet.objectives(record(hist), alpha=0.0)[1] == 0.0
    assert np.isinf(mo_resnet.objectives(record([], ok=False), 0.3)).all()
    assert np.isinf(mo_resnet.objectives(record([{"val_acc": 0.5, "val_loss": math.nan}]), 0.3)).all()


class FakeEvaluator:
    """Trains nothing: error falls with channels, loss with depth, so the two objectives conflict a little."""

    def __init__(self):
        self.calls = 0

    def map(self, items, progress=False):
        out = []
        for _, g in items:
            self.calls += 1
            ch = sum(u.channels for b in g.blocks for u in b if hasattr(u, "channels"))
            n = sum(len(b) for b in g.blocks)
            out.append(record([{"val_acc": min(0.99, ch / 200), "val_loss": 1.0 / n + ch / 500}],
                              key=g.to_json(), params=ch))
        return out


def params(**kw):
    base = dict(preset="moresnet_small", population=6, generations=3, alphas=[0.3], seed=1)
    return mo_resnet.Params(**{**base, **kw})


class Interrupted(Exception):
    """Stands for a kill: the search stops in the middle of an evaluation."""


class DyingEvaluator(FakeEvaluator):
    def __init__(self, maps_before_dying):
        super().__init__()
        self.left = maps_before_dying

    def map(self, items, progress=False):
        if self.left == 0:
            raise Interrupted
        self.left -= 1
        return super().map(items, progress)


def run(p, evaluator, path, alpha=0.3):
    return mo_resnet.run_alpha(p, alpha, evaluator, path, progress=False)


@pytest.mark.parametrize("order", ["generational", "loop"])
def test_alpha_search_resumes_exactly_after_an_interruption(tmp_path, order):
    straight, straight_log = run(params(order=order), FakeEvaluator(), tmp_path / "a.json")
    # the same search killed during generation 2 (after the initial population and generation 1) ...
    with pytest.raises(Interrupted):
        run(params(order=order), DyingEvaluator(1 + (1 if order == "generational" else 6)), tmp_path / "b.json")
    resumed_eval = FakeEvaluator()
    resumed, log = run(params(order=order), resumed_eval, tmp_path / "b.json")  # ... and run again
    assert resumed_eval.calls == 2 * 6  # only the two missing generations were evaluated
    assert straight.n_evals == resumed.n_evals == 6 * 4
    np.testing.assert_array_equal(straight.pareto_front(), resumed.pareto_front())
    assert [g.to_json() for g in straight.pareto_set()] == [g.to_json() for g in resumed.pareto_set()]
    assert len(log) == 24 and set(log.alpha) == {0.3}
    pd.testing.assert_frame_equal(log, straight_log)
    snapshot = json.loads(mo_resnet.state_file(params(order=order), 0.3, tmp_path / "b.json").read_text())
    assert snapshot["moead"]["n_evals"] == 24 and len(snapshot["log"]) == 24


def test_a_rerun_with_other_parameters_starts_its_own_search_and_keeps_the_old_one(tmp_path):
    path = tmp_path / "moead_alpha0.3.json"
    first, _ = run(params(seed=1), FakeEvaluator(), path)
    other_eval = FakeEvaluator()
    other, _ = run(params(seed=2), other_eval, path)
    assert other_eval.calls == 24  # searched from the start, not resumed from seed 1's state
    fresh, _ = run(params(seed=2), FakeEvaluator(), tmp_path / "fresh.json")
    np.testing.assert_array_equal(other.pareto_front(), fresh.pareto_front())  # it is seed 2's search
    bigger, log = run(params(population=8), FakeEvaluator(), path)
    assert bigger.pop_size == 8 and len(bigger.population) == 8 and bigger.n_evals == 8 * 4 and len(log) == 32
    again = FakeEvaluator()
    resumed, _ = run(params(seed=1), again, path)  # seed 1's state is still there, finished
    assert again.calls == 0 and np.array_equal(resumed.pareto_front(), first.pareto_front())
    assert len(list(tmp_path.glob("moead_alpha0.3-*.json"))) == 3 and not path.exists()


@pytest.mark.parametrize("change, same", [
    (dict(seed=2), False), (dict(population=8), False), (dict(generations=4), False), (dict(eta_c=0.5), False),
    (dict(epochs=3), False), (dict(order="loop"), False), (dict(neighbours=3), False), (dict(lr=0.05), False),
    (dict(preset="moresnet"), False), (dict(train_per_class=50), False), (dict(max_params=10_000), False),
    (dict(workers=4), True), (dict(backend="process"), True), (dict(retrain_epochs=5), True),
    (dict(alphas=[0.3, 0.4]), True), (dict(zdt_seeds=[0]), True),
])
def test_state_file_is_keyed_by_what_determines_the_search(tmp_path, change, same):
    base = mo_resnet.state_file(params(), 0.3, tmp_path / "s.json")
    assert (mo_resnet.state_file(params(**change), 0.3, tmp_path / "s.json") == base) is same
    assert mo_resnet.state_file(params(), 0.4, tmp_path / "s.json") != base


def test_a_state_of_another_search_under_its_name_is_refused(tmp_path):
    path = mo_resnet.state_file(params(), 0.3, tmp_path / "s.json")
    run(params(seed=2), FakeEvaluator(), tmp_path / "s.json")
    mo_resnet.state_file(params(seed=2), 0.3, tmp_path / "s.json").rename(path)  # e.g. a renamed file
    with pytest.raises(ValueError, match="holds the state of another search than alpha=0.3"):
        run(params(), FakeEvaluator(), tmp_path / "s.json")


def test_a_kill_between_generations_writes_leaves_no_duplicate_log_rows(tmp_path, monkeypatch):
    """The kill lands where the old code had written generation 1's log rows but not yet its state. Here
    there is one write per generation, so the rerun's log is the uninterrupted run's, row for row."""
    _, straight_log = run(params(), FakeEvaluator(), tmp_path / "a.json")
    real_write, state_writes = mo_resnet._write_json, []

    def dies_writing_the_second_state(path, data):
        if '"n_evals"' in json.dumps(data):
            state_writes.append(path)
            if len(state_writes) == 2:
                raise Interrupted
        real_write(path, data)

    monkeypatch.setattr(mo_resnet, "_write_json", dies_writing_the_second_state)
    with pytest.raises(Interrupted):
        run(params(), FakeEvaluator(), tmp_path / "b.json")
    monkeypatch.undo()
    _, log = run(params(), FakeEvaluator(), tmp_path / "b.json")
    assert log.groupby("generation").size().tolist() == [6, 6, 6, 6]
    pd.testing.assert_frame_equal(log, straight_log)
    assert list(tmp_path.glob("*.tmp")) == []


def test_temporary_names_are_unique_per_writer_and_cleaned_up(tmp_path, monkeypatch):
    import os
    from pathlib import Path

    target = tmp_path / "state.json"
    a, b = mo_resnet._tmp_path(target), mo_resnet._tmp_path(target)
    assert a != b and a.parent == b.parent == tmp_path and str(os.getpid()) in a.name
    assert a.name.startswith(".state.json") and a.suffix == ".tmp"
    mo_resnet._write_json(target, {"x": 1})
    assert json.loads(target.read_text()) == {"x": 1} and [p.name for p in tmp_path.iterdir()] == ["state.json"]

    def refuse(self, other):
        raise OSError("disk full")

    monkeypatch.setattr(Path, "replace", refuse)
    with pytest.raises(OSError, match="disk full"):
        mo_resnet._write_json(target, {"x": 2})
    assert json.loads(target.read_text()) == {"x": 1} and [p.name for p in tmp_path.iterdir()] == ["state.json"]


def test_pareto_frame_is_the_non_dominated_set(tmp_path):
    moead, log = run(params(), FakeEvaluator(), tmp_path / "s.json")
    ep = mo_resnet.pareto_frame(moead, 0.3, SMALL, 1, 10, 28)
    pts = log[["f1", "f2"]].to_numpy()
    for f1, f2 in ep[["f1", "f2"]].to_numpy():
        assert not ((pts[:, 0] <= f1) & (pts[:, 1] <= f2) & ((pts[:, 0] < f1) | (pts[:, 1] < f2))).any()
    assert (ep.k == len(ep)).all() and (ep.params > 0).all()


def test_a_preset_for_other_images_is_refused_before_training():
    bundle = SimpleNamespace(input_shape=(1, 28, 28))
    with pytest.raises(ValueError, match="preset='moresnet_cifar100' builds networks for 32x32 images.*allowed presets"):
        mo_resnet.check_data(params(preset="moresnet_cifar100"), bundle)
    mo_resnet.check_data(params(), bundle)


def test_paper_table_summarises_repeated_retrainings():
    ep = pd.DataFrame({"alpha": [0.2, 0.2], "k": [2, 2], "genome": ["a", "b"], "network": ["A", "B"],
                       "f1": [0.1, 0.2], "f2": [0.5, 0.4], "params": [1e6, 2e5]})
    rt = pd.DataFrame({"genome": ["a", "a", "b", "b"], "status": "ok", "val_error": [0.1, 0.2, 0.3, 0.3],
                       "test_error": [0.15, 0.25, 0.3, 0.4]})
    t = mo_resnet.paper_table(ep, rt)
    assert list(t["best error val/test"]) == ["0.1000/0.1500", "0.3000/0.3000"]
    assert list(t["mean error val/test"]) == ["0.1500/0.2000", "0.3000/0.3500"]
    assert list(t["fitness x100"]) == ["[10.00, 50.00]", "[20.00, 40.00]"] and list(t.runs) == [2, 2]


def test_retraining_choice_spreads_along_each_front_and_keeps_its_ends():
    ep = pd.DataFrame({"alpha": [0.2] * 10 + [0.4] * 3, "genome": [f"g{i}" for i in range(13)],
                       "f1": [0.9, 0.1, 0.8, 0.2, 0.7, 0.3, 0.6, 0.4, 0.5, 0.05, 0.3, 0.1, 0.2], "f2": 0.0, "params": 1})
    chosen = mo_resnet.choose_for_retraining(ep, retrain_max=4)
    wide = chosen[chosen.alpha == 0.2]
    assert list(wide.f1) == [0.05, 0.3, 0.6, 0.9]  # ranks 0, 3, 6, 9 of the front ordered by error
    assert list(chosen[chosen.alpha == 0.4].f1) == [0.1, 0.2, 0.3]  # a front under the cap: all of it
    assert list(mo_resnet.choose_for_retraining(ep, 1).f1) == [0.05, 0.1]
    assert len(mo_resnet.choose_for_retraining(ep, 10)) == 13
    with pytest.raises(ValueError, match="retrain_max=0"):
        mo_resnet.choose_for_retraining(ep, 0)


def test_alpha_summary_sets_ours_beside_the_paper_row_of_the_same_data_set():
    chosen = pd.DataFrame({"alpha": [0.0, 0.2, 0.2, 0.5], "genome": ["a", "b", "c", "a"], "params": [10, 20, 40, 10]})
    retrained = pd.DataFrame({"genome": ["a", "a", "b", "b", "c", "c"], "seed": [0, 1] * 3,
                              "status": ["ok", "ok", "ok", "failed", "ok", "ok"], "params": [10, 10, 20, 20, 40, 40],
                              "test_error": [0.10, 0.20, 0.05, np.nan, 0.30, 0.10]})
    per_alpha = mo_resnet.retrained_by_alpha(retrained, chosen)
    assert len(per_alpha) == 7  # a counts for alpha 0 and 0.5; the failed run of b is left out
    s = mo_resnet.alpha_summary(per_alpha, "fashion_mnist").set_index("alpha")
    assert s.loc[0.2, "members"] == 2 and s.loc[0.2, "runs"] == 3
    assert s.loc[0.2, "best_test_error"] == 0.05 and s.loc[0.2, "mean_test_error"] == pytest.approx(0.15)
    assert s.loc[0.2, "median_params"] == 30 and s.loc[0.0, "mean_test_error"] == pytest.approx(0.15)
    # the paper's Fashion-MNIST rows (Table 2): one EP member per alpha
    assert s.loc[0.0, "paper_best_test_error"] == 0.0440 and s.loc[0.2, "paper_k"] == 1
    assert s.loc[0.2, "paper_median_params"] == pytest.approx(5.45e6)
    assert math.isnan(s.loc[0.5, "paper_k"])  # no such alpha in the paper
    cifar = mo_resnet.alpha_summary(per_alpha, "cifar100").set_index("alpha")
    assert cifar.loc[0.2, "paper_k"] == 4 and cifar.loc[0.2, "paper_best_test_error"] == 0.2414
    assert mo_resnet.alpha_summary(per_alpha, "digits").paper_k.isna().all()
