"""GENAS on a tiny NB201 supernet over the 8x8 digits: the local search (frozen weights, 0 steps, a planted best
operation, its period, never a lower fitness), resumption after a kill, repeatability."""
import numpy as np
import pandas as pd
import pytest
import torch

from resnas.data import load
from resnas.search import genas as genas_mod
from resnas.search.genas import Genas, GenasConfig, SearchData, accuracy, local_search
from resnas.spaces.cells import RESNET_LIKE, Nb201Cell, Nb201Space
from resnas.supernet import Supernet, relax

TINY = Nb201Space(channels=4, cells_per_stage=1, name="nb201_tiny")
ALL_NONE = Nb201Cell(("none",) * 6)


@pytest.fixture(scope="module")
def digits() -> SearchData:
    return SearchData.from_bundle(load(name="digits", val_size=0.3, seed=0))


def config(**changes) -> GenasConfig:
    base = dict(population=4, generations=4, tournament=2, elite=1, local_every=2, local_top_k=2, local_steps=2,
                batch_size=32, train_images=128, val_batch_size=64, lr=0.05, seed=0)
    return GenasConfig(**{**base, **changes})


def _snapshot(net):
    return {k: v.clone() for k, v in net.state_dict().items()}


def test_local_search_leaves_the_supernet_bit_identical_and_zero_steps_return_the_input(digits):
    torch.manual_seed(0)
    net = Supernet(TINY, 1, 10)
    before = _snapshot(net)
    batches = [digits.val_batch(i, 32) for i in range(3)]
    result = local_search(net, RESNET_LIKE, batches, steps=4, lr=0.3)
    assert len(result.losses) == 4
    after = net.state_dict()
    assert all(torch.equal(before[k], after[k]) for k in before)
    assert all(p.grad is None for p in net.parameters())
    same = local_search(net, RESNET_LIKE, batches, steps=0)
    assert same.table is RESNET_LIKE
    assert torch.equal(same.relaxation.op_logits, relax(TINY, RESNET_LIKE).op_logits)


def test_local_search_moves_toward_a_planted_best_operation(digits):
    """Only the planted table's path is trained (3 epochs on the digits), so on edge 2->3, the one edge where the
    start differs (skip instead of conv 3x3), the trained conv is the best operation: its weight must grow most,
    and the re-discretised table is the planted one. (Seed 4: the relaxed mixture of untrained operations is
    noisy; most seeds, not all, reach the planted table in 12 steps.)"""
    planted = Nb201Cell(("skip_connect", "none", "none", "skip_connect", "none", "nor_conv_3x3"))
    start = Nb201Cell(planted.ops[:5] + ("skip_connect",))
    torch.manual_seed(4)
    net = Supernet(TINY, 1, 10)
    opt = torch.optim.SGD(net.parameters(), lr=0.1, momentum=0.9)
    gen = torch.Generator().manual_seed(4)
    for _ in range(3):
        for x, y in digits.train_batches(64, None, gen):
            opt.zero_grad()
            torch.nn.functional.cross_entropy(net(x, planted), y).backward()
            opt.step()
    batches = [digits.val_batch(i, 64) for i in range(4)]
    result = local_search(net, start, batches, steps=8, lr=0.3, peak=2.0)
    moved = result.relaxation.op_logits[0, 5] - relax(TINY, start, peak=2.0).op_logits.detach()[0, 5]
    conv = TINY_OPS.index("nor_conv_3x3")
    assert moved[conv] > 0 and moved[conv] == moved.max()
    assert result.table == planted


TINY_OPS = ("none", "skip_connect", "nor_conv_1x1", "nor_conv_3x3", "avg_pool_3x3")


def test_local_search_runs_exactly_every_n_generations_and_never_lowers_a_fitness(digits):
    g = Genas(TINY, digits, config(generations=5, local_every=2)).run()
    flags = [h["local_search"] for h in g.state.history]
    assert flags == [False, True, False, True, False]
    events = g.state.local_events
    assert sorted({e["generation"] for e in events}) == [2, 4]
    assert len(events) == 2 * 2  # top-2 at each of generations 2 and 4
    assert all(e["after"] > e["before"] for e in events if e["accepted"])
    assert all(not e["accepted"] for e in events if not e["changed"])
    never = Genas(TINY, digits, config(generations=3, local_every=0)).run()
    assert not any(h["local_search"] for h in never.state.history) and not never.state.local_events


def test_a_worse_local_result_is_rejected(digits, monkeypatch):
    """The local search proposes the all-'none' cell (a constant output): every member keeps its table."""
    monkeypatch.setattr(genas_mod, "local_search",
                        lambda net, table, batches, steps, lr, peak: genas_mod.LocalResult(ALL_NONE, None))
    g = Genas(TINY, digits, config(generations=2, local_every=1, local_top_k=4, train_images=512))
    g.run()
    events = g.state.local_events
    assert len(events) == 8
    worse = [e for e in events if e["after"] <= e["before"]]
    assert worse and all(not e["accepted"] for e in worse)
    last = [e for e in events if e["generation"] == 2]
    for e in last:  # the final population: a rejected proposal left the member's table as it was
        table, fit = g.state.population[e["member"]]
        assert (TINY.to_json(table), fit) == ((e["new_table"], e["after"]) if e["accepted"] else (e["table"], e["before"]))


def test_a_killed_run_resumes_from_its_last_generation_to_the_same_result(digits, tmp_path):
    whole = Genas(TINY, digits, config(), checkpoint_dir=tmp_path / "whole").run()
    first = Genas(TINY, digits, config(), checkpoint_dir=tmp_path / "killed").run(until=2)
    assert first.state.generation == 2 and first.checkpoint.exists()
    assert first.checkpoint.name == f"genas-{first.digest()}.pt"
    resumed = Genas(TINY, digits, config(), checkpoint_dir=tmp_path / "killed")
    assert resumed.state.generation == 2  # read back, not rerun
    resumed.run()
    strip = [{k: v for k, v in h.items() if k != "seconds"} for h in whole.state.history]
    assert strip == [{k: v for k, v in h.items() if k != "seconds"} for h in resumed.state.history]
    a, b = whole.supernet.state_dict(), resumed.supernet.state_dict()
    assert all(torch.equal(a[k], b[k]) for k in a)
    assert whole.best() == resumed.best()
    other = Genas(TINY, digits, config(seed=1), checkpoint_dir=tmp_path / "killed")
    assert other.checkpoint != first.checkpoint and other.state.generation == 0


def test_a_checkpoint_of_other_parameters_is_refused(digits, tmp_path):
    g = Genas(TINY, digits, config(generations=1), checkpoint_dir=tmp_path).run()
    other = Genas(TINY, digits, config(generations=2))
    other.checkpoint = g.checkpoint
    with pytest.raises(ValueError, match="another search"):
        other._load()


def test_the_same_seed_gives_the_same_trajectory(digits):
    a = Genas(TINY, digits, config(generations=3)).run().state.members
    b = Genas(TINY, digits, config(generations=3)).run().state.members
    c = Genas(TINY, digits, config(generations=3, seed=5)).run().state.members
    assert a == b and a != c


@pytest.mark.parametrize("variation", ["random", "gradient"])
def test_the_control_arms_run_on_the_same_supernet_budget(digits, variation):
    g = Genas(TINY, digits, config(generations=2, variation=variation)).run()
    table, fit = g.best()
    assert isinstance(table, Nb201Cell) and 0 <= fit <= 100
    assert fit == accuracy(g.supernet, table, g._fitness_batches(2))
    if variation == "gradient":  # the architecture weights moved away from uniform
        assert g.relaxation.op_logits.detach().abs().sum() > 0
        assert len(g.state.population) == 1


def test_bad_settings_are_named():
    with pytest.raises(ValueError, match="variation='darts'.*allowed"):
        GenasConfig(variation="darts")
    with pytest.raises(ValueError, match="elite=4.*allowed"):
        GenasConfig(population=4, elite=4)
    with pytest.raises(ValueError, match="local_every=-1"):
        GenasConfig(local_every=-1)
    x = torch.zeros(4, 1, 8, 8, dtype=torch.uint8)
    assert np.isclose(SearchData(x, torch.zeros(4, dtype=torch.long), x, torch.zeros(4, dtype=torch.long),
                                 (0.5,), (0.25,)).norm(x).mean().item(), -2.0)


def test_an_arm_of_two_seeds_gets_a_t_interval_not_one_between_its_two_values():
    from resnas.experiments.genas import bootstrap_mean

    m, lo, hi = bootstrap_mean([21.9, 22.5], 500, 0.95)
    assert m == pytest.approx(22.2) and lo < 21.9 - 1 and hi > 22.5 + 1  # t(0.975, 1) = 12.7: about +-3.8
    m, lo, hi = bootstrap_mean(list(np.linspace(20, 24, 10)), 500, 0.95)
    assert 20 < lo < 22 < hi < 24


def test_a_pool_of_workers_gives_what_one_process_gives(tmp_path):
    """workers=2: the searches, the coupled supernet and the stand-alone trainings run in pool processes and are
    read back (checkpoints, archive), (b)'s read-outs of them here; every number equals the one-process run's. Without the
    random arm's search at hand, (b) runs it itself (here served from its checkpoint: the same scores)."""
    from resnas.threads import usable_cores, worker_threads

    kw = dict(space="nb201_small", dataset="digits", seeds=[0], arms=["random", "hybrid_n1"], population=3,
              generations=2, tournament=2, elite=1, local_top_k=1, local_steps=1, train_images=64,
              val_batch_size=64, recalibrate_batches=1, correlation_cells=4, correlation_val_images=64,
              standalone_epochs=1, standalone_train_per_class=5, n_boot=100, device="cpu")
    got = {}
    # The one-process run uses the thread count each pool worker gets (make_executor: cores / workers), since CPU
    # kernels may sum in another order at another thread count (bit-equality holds per thread count, not across).
    threads = torch.get_num_threads()
    torch.set_num_threads(worker_threads(2, usable_cores()))
    try:
        _pool_vs_one_process(kw, tmp_path, got)
    finally:
        torch.set_num_threads(threads)
    for a, b in zip(got[1], got[2]):  # the searches, the stand-alone trainings, (b)'s read-outs
        pd.testing.assert_frame_equal(a, b)


def _pool_vs_one_process(kw, tmp_path, got):
    from resnas.experiments import genas as ge

    for workers in (1, 2):
        p = ge.Params(**kw, workers=workers)
        data, pool, store = ge.search_data(p), ge.pool(p), tmp_path / f"w{workers}"
        assert (pool is None) == (workers == 1)
        try:
            runs, _, searches = ge.run_arms(p, data, store, pool)
            cells, alone, coupled, scores = ge.decoupling_runs(p, data, store, searches, pool)
        finally:
            if pool is not None:
                pool.shutdown()
        assert coupled.done and coupled.config.train_mode == "coupled" and len(scores) == len(cells) == 4
        got[workers] = runs.drop(columns="seconds"), alone.drop(columns="wall_time"), scores
    again = ge.decoupling_runs(ge.Params(**kw), ge.search_data(ge.Params(**kw)), tmp_path / "w1", {})[3]
    pd.testing.assert_frame_equal(again, got[1][2])
