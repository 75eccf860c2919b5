"""era_search / era_final on the table lane (issue 14): searches answered by the ERA table, and the
real-training check of its ranking.

The searches run on a synthetic table (planted accuracies, the installed table's identity so that the lane's
parameter checks pass) of 300 networks of the subspace, a third with a second seed whose accuracies differ from
the first: a study must read each seed's own stored run, repeat itself by seed and train nothing. (A much
sparser table can leave a local-search start without a neighbour in the table, which LocalSearch does not
survive today: min() of an empty neighbourhood.) The check's functions run on planted frames whose answers are
known."""
import dataclasses

import numpy as np
import pandas as pd
import pytest

from resnas import tabular
from resnas.experiments import era
from resnas.experiments import era_table as T
from resnas.params import load_profile

IDENTITY = tabular.table_identity()
needs_table = pytest.mark.skipif(not IDENTITY, reason="the ERA table (or its parts) is not installed")


def table_params(**changes) -> era.SearchParams:
    """The default profile's table-lane study, shortened: two seeds, 12 evaluations."""
    p = load_profile(era.SearchParams, "era_search", "default", {})
    small = dict(seeds=[0, 1], budget=12, population=4, local_samples=4, local_starts=1, window=4, references=[])
    return dataclasses.replace(p, **{**small, **changes})


def synthetic_table(networks: int = 300, seed: int = 0) -> pd.DataFrame:
    """A tidy table in the shipped one's shape: `networks` of the subspace at E (seed 0; every third also seed 1,
    with accuracies 0.01-0.05 away), six epochs each, and the installed table's identity in attrs."""
    rng = np.random.default_rng(seed)
    space = tabular.subspace_of(IDENTITY)
    nets = T.subspace_networks(space)
    pick = rng.choice(len(nets), size=networks, replace=False)
    rows = []
    for i, k in enumerate(pick):
        cfg = nets[k]
        base = rng.uniform(0.6, 0.85)
        for s in ([0, 1] if i % 3 == 0 else [0]):
            final = base + (rng.uniform(0.01, 0.05) * rng.choice([-1, 1]) if s == 1 else 0.0)
            for e in range(1, 7):
                rows.append({**T.config_columns(cfg), "seed": s, "budget": 6, "epoch": e, "lr": 0.1,
                             "train_loss": 1.0, "train_acc": 0.5, "val_loss": 1.0, "val_acc": final - 0.02 * (6 - e),
                             "seconds": 2.0 * e + k % 7, "params": 1000 + int(k), "flops": 10_000 + int(k),
                             "wall_time": 12.0 + k % 7})
    frame = T.tidy(rows)
    frame.attrs["identity"] = IDENTITY
    return frame


# ---------------------------------------------------------------------------------------------- the study
@needs_table
def test_a_table_study_repeats_by_seed_reads_each_seeds_stored_run_and_never_trains(monkeypatch):
    import resnas.evaluate as E
    import resnas.train as TR

    def no_training(*args, **kwargs):
        raise AssertionError("the table lane trained a network")

    monkeypatch.setattr(TR, "train", no_training)
    monkeypatch.setattr(E, "run_job", no_training)
    monkeypatch.setattr(E.Evaluator, "__init__", no_training)
    table = synthetic_table()
    p = table_params()
    a, lane = era.table_study(p, table)
    b, _ = era.table_study(p, table)
    pd.testing.assert_frame_equal(a, b)  # the same seeds: the same searches, evaluation by evaluation
    assert len(a) == len(era.STRATEGY_NAMES) * len(p.seeds) * p.budget
    assert lane.status() == "300 of 768 networks (partial table: a generation in progress)"
    # every answer is the seed's TabularObjective's: the network's (seed mod runs)-th stored run
    twice = {c for c, n in table[table.epoch == 6].groupby("config").seed.nunique().items() if n == 2}
    final = table[table.epoch == 6].set_index(["config", "seed"]).val_acc
    for s in p.seeds:
        own = tabular.TabularObjective(table, epochs=6, seed=s)
        rows = a[a.seed == s]
        assert rows.fitness.tolist() == pytest.approx([own.evaluate("era", c).fitness for c in rows.config])
        for c, f in zip(rows.config, rows.fitness):
            stored = final[(c, s if c in twice else 0)]
            assert f == pytest.approx(100 * (1 - stored))
    # the second seed saw the second run of the networks trained twice: it differs from the first seed's answer
    both = a[a.config.isin(twice)].groupby(["config", "seed"]).fitness.first().unstack().dropna()
    assert len(both) and (both[0] != both[1]).all()
    assert a.cached.all() and a.key.str.contains(r"\|seed[01]\|epochs6@6").all()
    assert a.elapsed.gt(0).all()  # Figure 4's time axis: the stored training time


@needs_table
def test_another_seed_gives_another_study_and_a_search_seed_maps_to_its_stored_run():
    table = synthetic_table()
    a, lane = era.table_study(table_params(seeds=[0]), table)
    b, _ = era.table_study(table_params(seeds=[2]), table)  # seed 2: the first stored run again, other draws
    assert a.config.tolist() != b.config.tolist()
    view0, view2 = lane.at(0), lane.at(2)
    for c in lane.space.ordered[:20]:
        assert view0.evaluate("era", c) == view2.evaluate("era", c)
    assert lane.optimum(0) == pytest.approx(min(view0.evaluate("era", c).fitness for c in lane.space.ordered))


@needs_table
def test_a_network_the_table_lacks_is_the_objectives_error():
    table = synthetic_table(networks=30)
    lane = era.TableLane(table_params(), table)
    missing = next(c for c in T.subspace_networks(tabular.subspace_of(IDENTITY)) if not lane.holds(c))
    with pytest.raises(ValueError, match="not \\(yet\\) in this table"):
        lane.at(0).evaluate("era", missing)
    with pytest.raises(ValueError, match="space='cell'"):
        lane.at(0).evaluate("cell", lane.space.ordered[0])


# ---------------------------------------------------------------------------------------------- validation
@needs_table
@pytest.mark.parametrize("changes, message", [
    ({"filters": [1, 2, 4, 8, 16, 32]}, r"filters=\[1, 2, 4, 8, 16, 32\] disagrees with table 'era_fmnist14'"),
    ({"max_depth": 3}, "max_depth=3 disagrees"),
    ({"dataset": "fashion_mnist"}, "dataset='fashion_mnist' disagrees"),
    ({"epochs": 18, "table_epochs": 6}, "epochs=18 disagrees"),
    ({"table_epochs": 7, "epochs": 7}, r"table_epochs=7 is not a budget of table 'era_fmnist14'; allowed: \[6, 18\]"),
    ({"table": "nope"}, "table='nope' is not installed"),
    ({"references": ["resnet20"]}, "resnet20 lies outside the table's subspace"),
])
def test_the_table_lane_refuses_parameters_that_disagree_with_the_table(changes, message):
    with pytest.raises(ValueError, match=message):
        table_params(**changes)


@needs_table
def test_the_train_lane_keeps_its_own_space_and_table_study_refuses_it():
    p = table_params(lane="train", filters=[1, 2], max_depth=1)  # no table checks on lane train
    assert p.lane == "train" and list(p.filters) == [1, 2]
    with pytest.raises(ValueError, match="lane='train': table_study runs lane 'table'"):
        era.table_study(p)
    # lane table's space is the table's subspace (its group sizes too), lane train's the EraSpace of filters
    assert era.make_space(table_params()).distinct_size() == 768
    assert era.make_space(p).distinct_size() != 768


@needs_table
def test_era_final_table_lane_refuses_the_tables_own_seeds():
    with pytest.raises(ValueError, match=r"check_seeds=\[0, 2\] includes the table's own seed\(s\) \[0\]"):
        era.FinalParams(lane="table", check_seeds=[0, 2], references=[])
    with pytest.raises(ValueError, match="resnet110 lies outside the table's subspace"):
        era.FinalParams(lane="table", references=["resnet110"])
    assert era.FinalParams(lane="table", references=["resnet14"]).check_seeds == [2]


# ---------------------------------------------------------------------------------------------- the check
def planted_check(now: list[float], table: list[float] | None = None) -> pd.DataFrame:
    table = table if table is not None else [0.9 - 0.01 * i for i in range(len(now))]
    return pd.DataFrame({"config": [f"n{i}" for i in range(len(now))], "roles": "x", "seed": 2, "val_acc": now,
                         "table_val_acc": table, "table_rank": range(1, len(now) + 1)})


def test_check_agreement_computes_what_it_claims_on_planted_data():
    same = era.check_agreement(planted_check([0.8 - 0.01 * i for i in range(8)]), top=3)
    assert same["spearman"] == pytest.approx(1) and same["kendall"] == pytest.approx(1)
    assert same["top_overlap"] == 3 and same["best_rank_now"] == 1 and same["networks"] == 8
    assert same["mean_abs_gap"] == pytest.approx(0.1)
    assert same["spearman_low"] <= 1 <= same["spearman_high"] + 1e-12
    rev = era.check_agreement(planted_check([0.8 + 0.01 * i for i in range(8)]), top=3)
    assert rev["spearman"] == pytest.approx(-1) and rev["top_overlap"] == 0 and rev["best_rank_now"] == 8
    # the table's two best swapped by the retraining: rank 2 for the best, one of the top 1 kept in none, 2 of 2
    swap = era.check_agreement(planted_check([0.85, 0.86, 0.7, 0.6, 0.5]), top=1)
    assert swap["best_rank_now"] == 2 and swap["top_overlap"] == 0
    assert era.check_agreement(planted_check([0.85, 0.86, 0.7, 0.6, 0.5]), top=2)["top_overlap"] == 2
    # two seeds are averaged per network; a network without a table accuracy (a reference) is left out
    two = pd.concat([planted_check([0.8, 0.7, 0.6]), planted_check([0.6, 0.7, 0.8]).assign(seed=3)])
    assert era.check_agreement(two, top=1)["best_rank_now"] == 1  # all three tie at 0.7: rank 1
    ref = pd.concat([planted_check([0.8, 0.7, 0.6]), planted_check([0.99]).assign(config="ref", table_val_acc=np.nan)])
    assert era.check_agreement(ref, top=1)["networks"] == 3


def test_check_candidates_take_the_tables_best_the_picks_the_cheapest_near_each_quantile_and_references():
    n = 21
    summary = pd.DataFrame({"config": [f"n{i:02d}" for i in range(n)], "val_acc": np.linspace(0.9, 0.7, n),
                            "runs": 1, "seconds": [5.0] * n, "layers": 8, "params": 100, "rank": range(1, n + 1)})
    summary.loc[11, "seconds"] = 1.0  # the cheapest of the five networks around the median (ranks 9-13)
    picks = pd.DataFrame({"model": ["Random Search", "Evolution"], "strategy": ["random", "evolution"],
                          "config": ["n00", "n05"], "searches": [3, 2], "of": [5, 5]})
    c = era.check_candidates(summary, picks, top=2, quantiles=[0.5], pool=5, references=["resnet14"])
    roles = dict(zip(c.config, c.roles))
    assert roles["n00"] == "table top 1; pick: Random Search" and roles["n01"] == "table top 2"
    assert roles["n05"] == "pick: Evolution" and roles["n11"] == "quantile 0.5"
    ref = era.reference_config("resnet14").to_json()
    assert roles[ref] == "reference: ResNet-14" and np.isnan(c.set_index("config").table_val_acc[ref])
    assert len(c) == 5


def test_modal_picks_and_the_strategy_ranking_on_planted_searches():
    best = pd.DataFrame({"model": "Random Search", "strategy": "random", "seed": [0, 1, 2, 3],
                         "config": ["a", "b", "b", "c"], "val_error": [10.0, 11.0, 11.0, 12.0], "layers": 8,
                         "params": 1, "found_at": 1})
    pk = era.modal_picks(best)
    assert pk.config.tolist() == ["b"] and pk.searches.tolist() == [2] and pk["of"].tolist() == [4]
    r = era.strategy_ranking(best, {0: 10.0, 1: 10.0, 2: 11.0, 3: 10.0}).iloc[0]
    assert r.regret == pytest.approx((0 + 1 + 0 + 2) / 4) and r.found_best_share == pytest.approx(0.5)
    assert r.regret_low <= r.regret <= r.regret_high and r.val_error == pytest.approx(11.0)


def test_check_finals_give_table1_its_rows_per_strategy_and_seed():
    a, b = (era.reference_config("resnet20").to_json(), era.reference_config("resnet56").to_json())
    ref = era.reference_config("resnet14").to_json()
    check = pd.DataFrame({"config": [a, b, ref], "roles": "x", "seed": 2, "val_acc": [0.8, 0.7, 0.75],
                          "val_error": [20.0, 30.0, 25.0], "params": [1, 2, 3], "seconds": 1.0, "status": "ok",
                          "table_val_acc": [0.81, 0.72, np.nan], "table_rank": [1, 2, np.nan]})
    picks = pd.DataFrame({"model": ["Random Search", "Evolution"], "strategy": ["random", "evolution"],
                          "config": [b, a], "searches": 1, "of": 1})
    finals = era.check_finals(check, picks, ["resnet14"])
    assert dict(zip(finals.model, finals.test_error)) == {"Random Search": 30.0, "Evolution": 20.0, "ResNet-14": 25.0}
    assert finals.set_index("model").search_val_error["Evolution"] == pytest.approx(19.0)
    assert era.final_baseline(finals) == "ResNet-14"
    x, y = era.final_pairs(finals, "ResNet-14")["era.evolution_beats_resnet110"]
    assert x.tolist() == [20.0] and y.tolist() == [25.0]
