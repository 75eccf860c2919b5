"""MO-ResNet genomes: every sampled or varied genome builds and runs, limits hold, crossover keeps unmatched
units in place, JSON round trips."""
import numpy as np
import pytest
import torch

from resnas.spaces.moresnet import SPACE, ConvUnit, FCUnit, Genome, MoResNetSpace, PoolUnit

SPACES = {
    "small-28x28x1": (MoResNetSpace.small(), 1),
    "small-32x32x3": (MoResNetSpace.small(name="small32", input_hw=32), 3),
    "mnist-narrow": (MoResNetSpace.mnist(channels=(3, 16), neurons=(16, 64)), 1),
}


def _population(space, seed, n_sampled=8, n_varied=24):
    """Sampled genomes, then crossed, mutated and varied ones bred from the growing pool."""
    rng = np.random.default_rng(seed)
    pool = [space.sample(rng) for _ in range(n_sampled)]
    for k in range(n_varied):
        a, b = (pool[i] for i in rng.choice(len(pool), 2, replace=False))
        op = (space.crossover, lambda a, b, rng: space.mutate(a, rng), space.variation)[k % 3]
        pool.append(op(a, b, rng))
    return pool


def _check_limits(space, g: Genome):
    assert space.blocks[0] <= len(g.blocks) <= space.blocks[1]
    assert all(len(b) >= 1 for b in g.blocks)
    assert all(sum(isinstance(u, ConvUnit) for u in b) <= space.convs_per_block[1] for b in g.blocks)
    assert space.pools[0] <= g.count(PoolUnit) <= space.pools[1]
    assert len(g.units) <= space.max_units and isinstance(g.units[0], ConvUnit)
    assert space.fc_layers[0] <= len(g.fc) + 1 <= space.fc_layers[1]
    h = space.input_hw
    for u in g.units:
        if isinstance(u, PoolUnit):
            assert h >= u.kernel  # the image never goes below 1x1
            h //= u.kernel
    for u in g.units + list(g.fc):  # genes within their real bounds
        low, high = space._bounds(type(u))
        assert all(low <= v <= high for v, low, high in zip(vars(u).values(), low, high))


@pytest.mark.parametrize("name", SPACES)
def test_sampled_and_varied_genomes_build_and_run(name):
    space, channels = SPACES[name]
    torch.manual_seed(0)
    for seed in range(6):
        for g in _population(space, seed):
            _check_limits(space, g)
            net = space.build(g, channels, 10).eval()  # default input size: the space's
            with torch.no_grad():
                y = net(torch.randn(2, channels, space.input_hw, space.input_hw))
            assert y.shape == (2, 10) and torch.isfinite(y).all()


def test_default_space_builds_at_paper_size():
    g = SPACE.sample(np.random.default_rng(0))
    net = SPACE.build(g, 1, 10, input_hw=28).eval()
    with torch.no_grad():
        assert net(torch.randn(2, 1, 28, 28)).shape == (2, 10)
    assert SPACE.count_params(g) == sum(p.numel() for p in net.parameters())


C = [ConvUnit(float(k), float(10 * k)) for k in range(1, 6)]
P = [PoolUnit(1.2, 0.1), PoolUnit(1.5, 0.9)]


def test_crossover_keeps_unmatched_units_in_place():
    # a: 3 convs, 2 pools, 1 hidden FC; b: 2 convs, no pool, no hidden FC
    a = Genome(((C[0], P[0], C[1]), (P[1], C[2])), (FCUnit(1500.0),))
    b = Genome(((C[3],), (C[4],)), ())
    space = MoResNetSpace(p_crossover=1.0)
    seen = set()
    for seed in range(20):
        child = space.crossover(a, b, np.random.default_rng(seed))
        if [len(blk) for blk in child.blocks] == [3, 2]:  # a's structure kept
            seen.add("a")
            # the two aligned convs changed, a's third conv, both pools and its FC stayed where they were
            assert child.blocks[0][0] != C[0] and child.blocks[0][2] != C[1]
            assert child.blocks[0][1] == P[0] and child.blocks[1] == (P[1], C[2]) and child.fc == a.fc
        else:
            seen.add("b")
            assert [len(blk) for blk in child.blocks] == [1, 1] and child.fc == ()
    assert seen == {"a", "b"}  # one of the two children is kept at random
    no_cross = MoResNetSpace(p_crossover=0.0).crossover(a, b, np.random.default_rng(0))
    assert no_cross in (a, b)


def test_regroup_uses_parent_counts_and_leftover_block():
    space = MoResNetSpace()
    units = [C[0], C[1], P[0], C[2], C[3]]
    assert [len(b) for b in space._regroup(units, [2, 1])] == [2, 1, 2]  # leftovers: one extra block
    assert [len(b) for b in space._regroup(units[:2], [2, 1])] == [2]   # fewer units: last blocks shrink
    many = [C[0]] * 5  # more convs than a block may hold: the block closes early
    assert [len(b) for b in space._regroup(many, [5])] == [3, 2]


def test_repair_drops_pools_below_one_pixel_and_leads_with_a_conv():
    space = MoResNetSpace(input_hw=8)
    four = PoolUnit(2.5, 0.0)  # kernel 4: 8 -> 2, a second one would give 0
    g = space._repair(Genome(((four, C[0], four, four),), ()))
    assert g.blocks == ((C[0], four),)


def test_json_round_trip():
    for g in _population(MoResNetSpace.small(), seed=5):
        assert SPACE.from_json(SPACE.to_json(g)) == g
