import math

import numpy as np
import pytest

from resnas.search import STRATEGIES, make_strategy, run_search
from resnas.search.evolution import Evolution, RegularizedEvolution
from resnas.search.synthetic import TARGET, synthetic_error
from resnas.spaces.era import SPACE, EraConfig, EraSpace

SEEDS = range(6)
BUDGET = 150
# SMAC's acquisition search costs ~0.3 s a proposal at its defaults (10,000 random points, 10 local searches);
# these tests only need the model to work, not the maximum squeezed out of it.
CHEAP_RF = {"challengers": 100, "local_search_iterations": 1}


def kwargs(name):
    if name == "bayesian_rf":  # a longer random initial design: fewer (costly) model proposals
        return {**CHEAP_RF, "n_initial": 20}
    return {"population_size": 20} if "evolution" in name else {}


@pytest.fixture(scope="module")
def best_per_strategy():
    out = {}
    for name in STRATEGIES:
        if name == "bayesian_rf":  # too slow for 6 x 150 proposals: its own, smaller test below
            continue
        out[name] = [min(t.fitness for t in run_search(make_strategy(name, space=SPACE, seed=s, **kwargs(name)),
                                                       synthetic_error, BUDGET, progress=False)) for s in SEEDS]
    return out


def test_synthetic_objective_has_its_minimum_at_the_target():
    target = EraConfig(TARGET["block"], TARGET["depths"], TARGET["filters"], TARGET["update"], TARGET["group"])
    assert synthetic_error(target) == 0
    assert all(synthetic_error(n) > 0 for n in SPACE.neighbours(target))


@pytest.mark.parametrize("name", [n for n in STRATEGIES if n not in ("random", "bayesian_rf")])
def test_guided_strategies_beat_random_search_on_average(best_per_strategy, name):
    guided, random = np.mean(best_per_strategy[name]), np.mean(best_per_strategy["random"])
    assert guided < random - 0.5, f"{name}: mean best {guided:.2f} vs random {random:.2f}"


@pytest.mark.parametrize("name", list(STRATEGIES))
def test_same_seed_same_sequence_and_failures_are_worst(name):
    def objective(cfg):  # every third candidate fails as a diverged training does: NaN, not inf
        objective.n += 1
        return float("nan") if objective.n % 3 == 0 else synthetic_error(cfg)

    runs = []
    for _ in range(2):
        objective.n = 0
        trials = run_search(make_strategy(name, space=SPACE, seed=7, **kwargs(name)), objective, 30, progress=False)
        runs.append([t.config for t in trials])
        # run_search, not the objective, turns the NaN into +inf, the fitness every strategy ranks last
        assert [t.index for t in trials if math.isinf(t.fitness)] == list(range(2, 30, 3))
        assert not any(math.isnan(t.fitness) for t in trials)
    assert runs[0] == runs[1]
    assert all(SPACE.validate(c) for c in runs[0])


def test_unknown_strategy_is_named():
    with pytest.raises(ValueError, match="strategy='annealing' is unknown; allowed: random, local"):
        make_strategy("annealing", space=SPACE)


class Line:
    """A one-parameter toy space (integers 0..99) to watch population bookkeeping."""

    def __init__(self):
        self.n = 0

    def sample(self, rng):
        self.n += 1
        return self.n * 10

    def mutate(self, x, rng):
        return x + 1

    def crossover(self, a, b, rng):
        return a


def test_regularized_evolution_removes_the_oldest_and_evolution_the_worse():
    reg, evo = RegularizedEvolution(Line(), population_size=3), Evolution(Line(), population_size=3)
    for s in (reg, evo):
        for _ in range(3):  # initial population 10, 20, 30 with fitness = value (10 is best and oldest)
            x = s.ask()
            s.tell(x, float(x))
    child = reg.ask()
    reg.tell(child, 100.0)
    assert [m[0] for m in reg.population] == [20, 30, child]  # 10, the oldest, is gone although best
    child = evo.ask()
    evo.tell(child, 100.0)
    parent = child - 1  # Line mutates x into x + 1
    gone = {(10, 10.0), (20, 20.0), (30, 30.0)} - set(evo.population)
    assert len(gone) == 1 and (parent, float(parent)) in evo.population and gone.pop()[1] > parent
    assert (10, 10.0) in evo.population  # the best is never the worse of a tournament of two


def test_local_search_samples_first_then_walks_neighbourhoods():
    space = EraSpace(filters_choices=(1, 2, 4, 8, 16), max_depth=6)
    s = make_strategy("local", space=space, seed=0, n_samples=10, n_starts=2)
    asked = []
    for _ in range(60):
        cfg = s.ask()
        asked.append(cfg)
        s.tell(cfg, synthetic_error(cfg))
    start = min(asked[:10], key=synthetic_error)
    assert set(asked[10:10 + 5]) <= set(space.neighbours(start))  # phase 2 starts at the best sample
    assert min(map(synthetic_error, asked)) < synthetic_error(start)


def test_evolution_keeps_the_better_of_each_tournament():
    """Plain Evolution on f(x) = x: after every step the member that left is worse than the parent of the new
    child, never the parent itself, so the best member told so far is never lost."""
    from collections import Counter

    class Fresh(Line):  # every child is new (no duplicate ties) and the space remembers whom it mutated
        def mutate(self, x, rng):
            self.n, self.parent = self.n + 1, x
            return x + 1 + self.n / 1000

    for seed in range(4):
        space = Fresh()
        evo = Evolution(space, seed=seed, population_size=4)
        for _ in range(4):
            x = evo.ask()
            evo.tell(x, float(x))
        for _ in range(12):
            before, best = Counter(evo.population), min(f for _, f in evo.population)
            child = evo.ask()
            evo.tell(child, float(child))
            gone = before + Counter([(child, float(child))]) - Counter(evo.population)
            (removed, fitness), = gone.elements()  # exactly one member left
            assert (space.parent, float(space.parent)) in evo.population and fitness > space.parent
            assert min(f for _, f in evo.population) == best


def test_evolution_removes_a_failed_member_and_never_breeds_from_it():
    """With two members every tournament draws both: the failed one (NaN told, a diverged training) must be
    the one removed, and the child must come from the finite one."""
    evo = Evolution(Line(), population_size=2)
    evo.tell(evo.ask(), float("nan"))  # 10 fails
    evo.tell(evo.ask(), 20.0)
    child = evo.ask()
    assert child == 21  # bred from 20
    evo.tell(child, 21.0)
    assert sorted(evo.population) == [(20, 20.0), (21, 21.0)]


# ------------------------------------------------------------------ the thesis's form: random forest + EI (SMAC3)
RF_VS_RANDOM = """
import json
from resnas.search import make_strategy, run_search
from resnas.search.synthetic import synthetic_error
from resnas.spaces.era import SPACE
rf, rand = [], []
for seed in range(3):
    rf.append(min(t.fitness for t in run_search(make_strategy(
        "bayesian_rf", space=SPACE, seed=seed, challengers=100, local_search_iterations=1),
        synthetic_error, 25, progress=False)))
    rand.append(min(t.fitness for t in run_search(make_strategy("random", space=SPACE, seed=seed),
                                                  synthetic_error, 25, progress=False)))
print(json.dumps([rf, rand]))
"""


def test_random_forest_bo_beats_random_search_on_average():
    """Fewer seeds and evaluations than the test above (SMAC's proposals are costly), still a clear margin.
    Run in a fresh interpreter: in one full-suite run (2026-12-02) the same searches in the suite's process gave
    RF-EI 4.08 against random 5.00 (failing the margin), while alone, with any global numpy/random seed, they
    repeat exactly and pass; some state an earlier test leaves in the process reaches SMAC (not yet traced)."""
    import json
    import subprocess
    import sys

    done = subprocess.run([sys.executable, "-c", RF_VS_RANDOM], capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-2000:]
    rf, rand = json.loads(done.stdout.strip().splitlines()[-1])
    assert np.mean(rf) < np.mean(rand) - 1.0, f"RF-EI mean best {np.mean(rf):.2f} vs random {np.mean(rand):.2f}"


def test_random_forest_bo_batch_is_distinct_and_new():
    s = make_strategy("bayesian_rf", space=SPACE, seed=3, n_initial=6, **CHEAP_RF)
    told = s.ask(6)
    for cfg in told:
        s.tell(cfg, synthetic_error(cfg))
    batch = s.ask(5)
    assert len(batch) == 5 and len(set(batch)) == 5 and not set(batch) & set(told)


def test_random_forest_bo_tells_failures_as_the_worst_cost_so_far():
    """SMAC's forest cannot take an infinite cost: a failure is told as crashed at the worst finite cost told
    so far; one that comes before any finite cost waits for the first."""
    from smac.runhistory.enumerations import StatusType

    s = make_strategy("bayesian_rf", space=SPACE, seed=0, n_initial=4, **CHEAP_RF)
    a, b, c, d = s.ask(4)
    s.tell(a, math.inf)  # nothing finite yet: held back (SMAC still counts it as running)
    told = lambda: sorted((v.cost, v.status) for v in s.smac.runhistory.values() if v.status != StatusType.RUNNING)
    assert told() == []
    s.tell(b, 7.0)
    s.tell(c, 3.0)
    s.tell(d, float("nan"))
    assert told() == [(3.0, StatusType.SUCCESS), (7.0, StatusType.SUCCESS), (7.0, StatusType.CRASHED),
                      (7.0, StatusType.CRASHED)]
    assert len(s.ask(2)) == 2  # the model trains on it
