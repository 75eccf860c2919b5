"""TableSpace (resnas.tabular): the networks a table holds as a search space, complete or partial."""
import numpy as np
import pytest

from resnas.search import STRATEGIES, run_search
from resnas.spaces.era import EraSpace
from resnas.tabular import TableSpace

SUB = EraSpace(filters_choices=(4, 8), max_depth=1, group_choices=(1, 4))


def members(fraction: float, seed: int = 0):
    nets = sorted({c.canonical() for c in SUB.enumerate()}, key=lambda c: c.to_json())
    rng = np.random.default_rng(seed)
    keep = rng.permutation(len(nets))[: max(1, int(round(fraction * len(nets))))]
    return [nets[i] for i in sorted(keep)]


def test_a_complete_table_draws_exactly_what_the_subspace_draws():
    space = TableSpace(SUB, members(1.0))
    assert space.complete and space.size() == SUB.distinct_size()
    a, b = np.random.default_rng(3), np.random.default_rng(3)
    for _ in range(50):
        x, y = space.sample(a), SUB.sample(b)
        assert x == y
        assert space.mutate(x, a) == SUB.mutate(y, b)
        assert space.crossover(x, space.mutate(x, a), a) == SUB.crossover(y, SUB.mutate(y, b), b)


def test_a_partial_table_never_leaves_its_members():
    held = members(0.3)
    space = TableSpace(SUB, held)
    assert not space.complete and space.size() == len(set(held))
    rng = np.random.default_rng(0)
    for _ in range(200):
        x = space.sample(rng)
        assert x in space.members
        assert space.mutate(x, rng) in space.members
        assert space.crossover(x, space.sample(rng), rng) in space.members
        assert set(space.neighbours(x)) <= space.members
        assert set(space.neighbours(x)) == set(SUB.neighbours(x)) & space.members


def test_a_flat_form_outside_a_partial_table_is_projected_to_the_nearest_member():
    held = members(0.3)
    space = TableSpace(SUB, held)
    outside = next(c for c in (c.canonical() for c in SUB.enumerate()) if c not in space.members)
    got = space.unflat(SUB.flat(outside))
    assert got in space.members
    distance = lambda m: sum(v != SUB.flat(outside)[k] for k, v in SUB.flat(m).items())  # noqa: E731
    assert distance(got) == min(distance(m) for m in held)
    with pytest.raises(ValueError, match="not in the table"):
        space.validate(outside)


@pytest.mark.parametrize("name", ["local", "evolution", "random"])
def test_searches_run_on_a_sparse_table_with_isolated_networks(name):
    """Local search once crashed (min() of an empty neighbourhood) on a table with isolated members."""
    held = members(0.15, seed=1)
    space = TableSpace(SUB, held)
    assert any(not space.neighbours(c) for c in held), "the fixture must hold an isolated network"
    kwargs = {"n_samples": 3, "n_starts": 2} if name == "local" else (
        {"population_size": 3} if name == "evolution" else {})
    trials = run_search(STRATEGIES[name](space=space, seed=0, **kwargs), lambda c: (float(c.layers), {}), 30,
                        progress=False)
    assert len(trials) == 30 and all(t.config.canonical() in space.members for t in trials)
