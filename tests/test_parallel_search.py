"""Searches with several evaluations in flight (resnas.search.run_search with workers > 1, ask(n)).

What must hold: one worker through the batched machinery is the serial loop exactly; a fixed batch gives the
same records with 1 or 4 workers; 4 workers told in the order asked repeat themselves whatever the timing;
told as they finish, no result waits for a slower one; 4 workers really evaluate at once.
"""
import random
import threading
import time
import zlib
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest

from resnas.search import STRATEGIES, BatchObjective, make_strategy, run_search
from resnas.search.bayesian import BayesianOptimization, RandomForestBO
from resnas.search.evolution import Evolution
from resnas.search.synthetic import synthetic_error
from resnas.spaces.era import SPACE

CHEAP_RF = {"challengers": 100, "local_search_iterations": 1, "n_initial": 6}
FAST = [n for n in STRATEGIES if n != "bayesian_rf"]  # SMAC's proposals cost ~0.2 s: its own, shorter runs


def small(name: str) -> dict:
    """Settings that make every strategy leave its initial design within a few dozen evaluations."""
    if "evolution" in name or name == "genetic":
        return {"population_size": 8}
    if name == "local":
        return {"n_samples": 8, "n_starts": 2}
    if name == "bayesian":
        return {"n_initial": 6}
    if name == "bayesian_rf":
        return dict(CHEAP_RF)
    return {}


def failing(cfg) -> float:
    """The synthetic error, NaN (a diverged training) for about one configuration in four: a pure function of
    the configuration, so it is thread-safe and the same whichever worker evaluates it."""
    return float("nan") if zlib.crc32(cfg.to_json().encode()) % 4 == 0 else synthetic_error(cfg)


def jittered(seed: int, objective=failing, most: float = 0.004):
    """`objective` after a random pause: evaluations finish in an order that changes with `seed`."""
    rng, lock = random.Random(seed), threading.Lock()

    def run(cfg):
        with lock:
            pause = rng.uniform(0, most)
        time.sleep(pause)
        return objective(cfg)

    return run


def trajectory(trials):
    return [(t.asked, t.config, t.fitness) for t in trials]


# --------------------------------------------------------------------------- one worker is the serial loop
@pytest.mark.parametrize("name", list(STRATEGIES))
def test_one_worker_through_the_batched_machinery_is_the_serial_loop(name):
    """run_search's serial path is the loop as it was before batching; the batched machinery with one worker
    (a thread pool, or a BatchObjective) must give the same trajectory, failures included."""
    budget, seeds = (14, (0,)) if name == "bayesian_rf" else (40, (0, 3))
    for seed in seeds:
        serial = run_search(make_strategy(name, space=SPACE, seed=seed, **small(name)), failing, budget,
                            progress=False)
        with ThreadPoolExecutor(1) as pool:
            pooled = run_search(make_strategy(name, space=SPACE, seed=seed, **small(name)), failing, budget,
                                progress=False, workers=1, executor=pool)
        batched = run_search(make_strategy(name, space=SPACE, seed=seed, **small(name)),
                             BatchObjective(lambda cfgs: [failing(c) for c in cfgs]), budget, progress=False)
        assert trajectory(pooled) == trajectory(serial) == trajectory(batched)
        assert [t.index for t in serial] == [t.asked for t in serial] == list(range(budget))
        assert any(np.isinf(t.fitness) for t in serial)  # the failure path was taken


# --------------------------------------------------------------------------- a fixed batch
@pytest.mark.parametrize("tell_order", ["asked", "finished"])
def test_a_fixed_batch_gives_the_same_records_with_one_or_four_workers(tell_order):
    """Random search's batch does not depend on results: 1 and 4 workers evaluate the same configurations to
    the same records, whichever order they finish in."""
    one = run_search(make_strategy("random", space=SPACE, seed=2), failing, 40, progress=False)
    four = run_search(make_strategy("random", space=SPACE, seed=2), jittered(1), 40, progress=False, workers=4,
                      tell_order=tell_order)
    assert sorted(trajectory(four), key=lambda r: r[0]) == trajectory(one)


@pytest.mark.parametrize("name", list(STRATEGIES))
def test_every_strategys_initial_design_is_the_same_with_one_or_four_workers(name):
    """The random initial samples (population, local-search samples, the model's initial design) are a fixed
    batch: asked four at a time they are the same configurations in the same order."""
    first = {"bayesian": 6, "bayesian_rf": 6, "local": 8}.get(name, 8)
    one = run_search(make_strategy(name, space=SPACE, seed=4, **small(name)), failing, first, progress=False)
    four = run_search(make_strategy(name, space=SPACE, seed=4, **small(name)), jittered(2), first,
                      progress=False, workers=4)
    assert trajectory(four) == trajectory(one)


def test_the_study_gives_the_same_records_with_one_or_four_workers(tmp_path, monkeypatch):
    """Through era.run_study and the Evaluator (training faked): the same trial table and archive."""
    trials, archives = {}, {}
    for workers in (1, 4):
        study, evaluator = _fake_study(tmp_path / f"w{workers}", monkeypatch, workers, strategies=["random"])
        trials[workers] = study[["strategy", "seed", "index", "config", "fitness"]]
        archives[workers] = {r.key: (r.config, r.final_val_acc) for r in evaluator.archive.records()}
        evaluator.close()
    assert trials[1].equals(trials[4])
    assert archives[1] == archives[4] and len(archives[1]) == len(set(trials[1].config))


# --------------------------------------------------------------------------- four workers, told in the order asked
@pytest.mark.parametrize("name", list(STRATEGIES))
def test_four_workers_told_in_the_order_asked_repeat_themselves(name):
    """Finishing orders differ between the two runs (different pauses); the trajectories must not."""
    budget = 16 if name == "bayesian_rf" else 40
    runs = []
    for jitter in (1, 2):
        trials = run_search(make_strategy(name, space=SPACE, seed=5, **small(name)), jittered(jitter), budget,
                            progress=False, workers=4)
        assert [t.asked for t in trials] == list(range(budget))
        runs.append(trajectory(trials))
    assert runs[0] == runs[1]


@pytest.mark.parametrize("name", FAST)
def test_which_parallel_forms_differ_from_the_serial_algorithm(name):
    """Random search, local search (its decisions wait for every result) and the generational GA (a generation
    is its batch) give the serial trajectory with 4 workers told in the order asked. The evolutions and TPE do
    not, by design: a configuration asked while others are in flight cannot use their results (so the
    repeat test above compares two genuinely parallel runs)."""
    serial = run_search(make_strategy(name, space=SPACE, seed=5, **small(name)), failing, 60, progress=False)
    four = run_search(make_strategy(name, space=SPACE, seed=5, **small(name)), jittered(1), 60, progress=False,
                      workers=4)
    if name in ("random", "local", "genetic"):
        assert trajectory(four) == trajectory(serial)
    else:
        assert trajectory(four) != trajectory(serial)


# --------------------------------------------------------------------------- told as they finish
def slow_first(configs, pause: float = 0.5):
    """The first configuration takes `pause` seconds, every other one is instant."""
    def run(cfg):
        if cfg == configs[0]:
            time.sleep(pause)
        return synthetic_error(cfg)

    return run


def test_told_as_they_finish_no_result_waits_for_a_slow_one():
    configs = make_strategy("random", space=SPACE, seed=8).ask(12)
    finished = run_search(make_strategy("random", space=SPACE, seed=8), slow_first(configs), 12, progress=False,
                          workers=4, tell_order="finished")
    slow = next(t for t in finished if t.asked == 0)
    assert slow.index >= 8  # the other 11 went through the three free workers meanwhile
    assert [t.index for t in finished] == list(range(12)) and sorted(t.asked for t in finished) == list(range(12))
    in_order = run_search(make_strategy("random", space=SPACE, seed=8), slow_first(configs), 12, progress=False,
                          workers=4)
    assert [t.asked for t in in_order] == list(range(12))  # the default waits for it


@pytest.mark.parametrize("name", ["evolution", "regularized_evolution", "crossover_evolution"])
def test_told_as_they_finish_the_evolutions_keep_their_population(name):
    """Asynchronous steady state: every child told replaces one member, so the population keeps its size,
    also when another child's tell has already removed the loser of its tournament; plain evolution (the loser
    goes) never loses the best fitness told."""
    s = make_strategy(name, space=SPACE, seed=1, population_size=8)
    trials = run_search(s, jittered(3), 60, progress=False, workers=4, tell_order="finished")
    assert len(s.population) == 8 and not s.waiting and not s.victims
    assert sorted(t.asked for t in trials) == list(range(60)) != [t.asked for t in trials]
    assert {c for c, _ in s.population} <= {t.config for t in trials}
    if name == "evolution":
        assert min(f for _, f in s.population) == min(t.fitness for t in trials)


def test_parallel_evolution_never_breeds_from_a_member_still_being_evaluated():
    """Asked for more than the population while nothing is told: the initial members first, then nothing."""
    s = Evolution(SPACE, seed=0, population_size=3)
    batch = s.ask(5)
    assert len(batch) == 3  # the initial population; no child before a member is known
    assert s.ask(2) == []
    with pytest.raises(RuntimeError, match="cannot propose before the configurations it asked for are told"):
        s.ask()
    s.tell(batch[1], 1.0)
    child = s.ask(4)  # one known member: its mutants
    assert len(child) == 4 and all(c not in batch for c in child)


def test_parallel_evolution_replaces_a_fresh_tournaments_loser_when_its_own_is_gone():
    """A population of two: both tournaments draw both members, so two children asked together share their
    loser. The first tell removes it; the second finds it gone and removes the loser of a fresh tournament
    among the others (here the worse of the survivor and the first child), never the child just told."""
    s = Evolution(SPACE, seed=0, population_size=2)
    a, b = s.ask(2)
    s.tell(a, 1.0)
    s.tell(b, 2.0)
    c1, c2 = s.ask(2)
    assert s.victims[c1] == s.victims[c2] == [(b, 2.0)]
    s.tell(c1, 0.5)
    assert list(s.population) == [(a, 1.0), (c1, 0.5)]
    s.tell(c2, 0.25)
    assert list(s.population) == [(c1, 0.5), (c2, 0.25)]  # a (1.0) lost the fresh tournament against c1


def test_local_search_waits_for_its_neighbourhood_before_stepping():
    s = make_strategy("local", space=SPACE, seed=0, n_samples=4, n_starts=1)
    samples = s.ask(6)
    assert len(samples) == 4  # the samples; which one starts the walk needs their results
    assert s.ask(3) == []
    for cfg in samples:
        s.tell(cfg, synthetic_error(cfg))
    best = min(samples, key=synthetic_error)
    walk = s.ask(5)
    assert len(walk) == 5 and set(walk) <= set(SPACE.neighbours(best))


def test_genetic_waits_for_its_generation():
    s = make_strategy("genetic", space=SPACE, seed=0, population_size=6, elite=2)
    first = s.ask(10)
    assert len(first) == 6 and s.ask(1) == []
    for cfg in first:
        s.tell(cfg, synthetic_error(cfg))
    assert len(s.ask(10)) == 4  # population - elite children


# --------------------------------------------------------------------------- concurrency
def timed(pause: float = 0.1):
    """An objective that records when each evaluation ran."""
    lock, spans = threading.Lock(), []

    def run(cfg):
        start = time.monotonic()
        time.sleep(pause)
        with lock:
            spans.append((start, time.monotonic()))
        return synthetic_error(cfg)

    run.spans = spans
    return run


def most_at_once(spans) -> int:
    events = sorted([(s, 1) for s, _ in spans] + [(e, -1) for _, e in spans])
    now = peak = 0
    for _, step in events:
        now += step
        peak = max(peak, now)
    return peak


@pytest.mark.parametrize("tell_order", ["asked", "finished"])
def test_four_workers_evaluate_at_once(tell_order):
    for workers, expected in ((1, 1), (4, 4)):
        objective = timed()
        run_search(make_strategy("regularized_evolution", space=SPACE, seed=0, population_size=4), objective, 8,
                   progress=False, workers=workers, tell_order=tell_order)
        assert most_at_once(objective.spans) == expected


def test_a_batch_objective_gets_four_configurations_per_call():
    sizes = []

    def evaluate(cfgs):
        sizes.append(len(cfgs))
        return [synthetic_error(c) for c in cfgs]

    run_search(make_strategy("random", space=SPACE, seed=0), BatchObjective(evaluate), 16, progress=False,
               workers=4)
    assert sizes == [4, 4, 4, 4]


def test_the_study_trains_four_candidates_at_once_through_the_evaluator(tmp_path, monkeypatch):
    """The paper profile's path: backend process, workers 4. The Evaluator (a thread pool standing in for the
    process pool, training faked) runs four trainings at once, and commits every one."""
    study, evaluator = _fake_study(tmp_path, monkeypatch, 4, strategies=["random", "regularized_evolution"])
    assert most_at_once(evaluator.spans) == 4
    assert len(evaluator.archive) == study.config.nunique()
    evaluator.close()


def _fake_study(folder, monkeypatch, workers: int, strategies, bayesian: str = "tpe"):
    """era.run_study on a tiny space with an Evaluator whose training is a 50 ms pause scored by the synthetic
    objective. workers=1: in process; otherwise a thread pool of `workers` as the Evaluator's backend."""
    from resnas import evaluate
    from resnas.data import DataSpec
    from resnas.evaluate import CODE_VERSION, Evaluator, Record
    from resnas.experiments import era
    from resnas.train import TrainRecipe

    lock, spans = threading.Lock(), []

    def fake_run(job):
        start = time.monotonic()
        time.sleep(0.05)
        with lock:
            spans.append((start, time.monotonic()))
        err = synthetic_error(SPACE.from_json(job.config))
        return Record(key=job.key, space=job.space, config=job.config, data={}, recipe={}, seed=job.seed,
                      status="ok", reason="", final_val_acc=1 - err / 100, best_val_acc=1 - err / 100, best_epoch=1,
                      params=1, flops=1, wall_time=0.05, device="cpu", history=(), fingerprint={}, created_at=0.0,
                      run_id="fake", code_version=CODE_VERSION)

    monkeypatch.setattr(evaluate, "run_job", fake_run)
    p = era.SearchParams(dataset="digits", val_size=0.2, epochs=1, low_lr_epochs=0, strategies=strategies,
                         budget=12, population=4, filters=[1, 2, 4, 8], max_depth=4, window=3, references=[],
                         backend="inprocess" if workers == 1 else "process", workers=workers, bayesian=bayesian)
    ev = Evaluator(folder / "a.sqlite", DataSpec(name="digits", val_size=0.2, seed=0),
                   TrainRecipe(epochs=1, batch_size=64, lr=0.05), backend="inprocess" if workers == 1 else
                   ThreadPoolExecutor(workers), progress=False)
    ev.spans = spans
    return era.run_study(p, ev, progress=False), ev


@pytest.mark.parametrize("bayesian, strategy, label", [("rf_ei", RandomForestBO, "Bayesian Optimization (RF-EI)"),
                                                       ("tpe", BayesianOptimization, "Bayesian Optimization (TPE)")])
def test_the_tables_say_which_bayesian_optimisation_ran(tmp_path, monkeypatch, bayesian, strategy, label):
    """SearchParams.bayesian picks the form; the trial table, the best-per-search rows and Table 2 name it,
    and Table 2 still puts the thesis's Bayesian optimisation (HyperMapper's RF-EI) beside it."""
    from resnas.experiments import era

    p = era.SearchParams(strategies=["bayesian"], bayesian=bayesian)
    assert type(era.make_strategy("bayesian", era.make_space(p), 0, p)) is strategy
    study, evaluator = _fake_study(tmp_path, monkeypatch, 4, strategies=["bayesian", "random"], bayesian=bayesian)
    evaluator.close()
    best = era.best_per_search(study)
    t2 = era.table2(best).set_index("model")
    assert set(study.model) == set(best.model) == set(t2.index) == {label, "Random Search"}
    assert t2.loc[label, "thesis_val_error"] == 8.2 and t2.loc["Random Search", "thesis_val_error"] == 11.7


# --------------------------------------------------------------------------- bad input
def test_bad_workers_and_tell_order_are_named():
    s = make_strategy("random", space=SPACE)
    with pytest.raises(ValueError, match="workers=0 is not a number of workers; allowed: an integer >= 1"):
        run_search(s, synthetic_error, 4, progress=False, workers=0)
    with pytest.raises(ValueError, match="tell_order='random' is unknown; allowed: asked, finished"):
        run_search(s, synthetic_error, 4, progress=False, tell_order="random")
    with pytest.raises(ValueError, match="n=0 is not a batch size; allowed: an integer >= 1"):
        s.ask(0)
