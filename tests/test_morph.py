"""ECToNAS morphisms: grow operations preserve eval outputs exactly, shrink operations keep shapes and
parameter counts honest, and no operation touches its input."""
import random

import pytest
import torch
from torch import nn

from resnas import morph
from resnas.spaces.sequential import ConvLayer, SeqGenome

ATOL = 1e-5
SEEDS = range(6)


def random_genome(seed: int, min_cells: int = 0, min_dense: int = 0) -> SeqGenome:
    rng = random.Random(seed)
    cells = tuple(ConvLayer(rng.randint(1, 5), rng.choice(["max", "avg", None]))
                  for _ in range(rng.randint(min_cells, 3)))
    dense = tuple(rng.randint(2, 7) for _ in range(rng.randint(min_dense, 2)))
    # 9px: odd maps exercise the floor-mode pools; at most 3 pools leave a 1px map.
    return SeqGenome(in_channels=rng.randint(1, 3), image_size=9, cells=cells, dense=dense, num_classes=3)


def trained_like(genome: SeqGenome, seed: int) -> morph.SeqCNN:
    """A model in a non-trivial state: random batch-norm statistics and affine parameters, so an operation
    that forgets to carry them fails."""
    torch.manual_seed(seed)
    model = morph.build(genome)
    with torch.no_grad():
        for norm in model.norms:
            norm.running_mean.normal_()
            norm.running_var.uniform_(0.5, 2.0)
            norm.weight.normal_()
            norm.bias.normal_()
    return model.eval()


def inputs(genome: SeqGenome, seed: int, n: int = 5) -> torch.Tensor:
    torch.manual_seed(1000 + seed)
    return torch.randn(n, genome.in_channels, genome.image_size, genome.image_size)


def assert_same_output(before, after, x):
    before.eval()
    after.eval()
    with torch.no_grad():
        torch.testing.assert_close(after(x), before(x), atol=ATOL, rtol=0)


def snapshot(model):
    return {k: v.clone() for k, v in model.state_dict().items()}


def assert_untouched(model, snap):
    state = model.state_dict()
    assert state.keys() == snap.keys()
    for k, v in snap.items():
        assert torch.equal(state[k], v), k


def check_report(report, before, after, op, location):
    assert report.op == op and report.location == location
    assert report.params_before == morph.count_params(before)
    assert report.params_after == morph.count_params(after)


# ------------------------------------------------------------------------------------------- model, genome


@pytest.mark.parametrize("seed", SEEDS)
def test_build_round_trip_and_forward(seed):
    genome = random_genome(seed)
    model = morph.build(genome)
    assert morph.genome_of(model) == genome
    assert model(inputs(genome, seed)).shape == (5, genome.num_classes)


def test_genome_rejects_too_many_pools():
    with pytest.raises(ValueError, match="pools"):
        SeqGenome(1, 4, (ConvLayer(2, "max"), ConvLayer(2, "max"), ConvLayer(2, "avg")), (), 2)


def test_output_change_restores_modes():
    genome = random_genome(1, min_cells=1)
    a, b = trained_like(genome, 1).train(), trained_like(genome, 2)
    assert morph.output_change(a, b, inputs(genome, 1)) > 0
    assert a.training and not b.training


# ----------------------------------------------------------------------------------------------------- grow


@pytest.mark.parametrize("seed", SEEDS)
def test_add_dense_layer_is_exact_everywhere_allowed(seed):
    genome = random_genome(seed)
    model, x = trained_like(genome, seed), inputs(genome, seed)
    snap = snapshot(model)
    lowest = 0 if genome.cells else 1
    for index in range(lowest, len(genome.dense) + 1):
        new, report = morph.add_dense_layer(model, index)
        assert_same_output(model, new, x)
        check_report(report, model, new, "add_dense_layer", index)
        width = new.dense[index].in_features
        assert morph.genome_of(new).dense == genome.dense[:index] + (width,) + genome.dense[index:]
    assert_untouched(model, snap)


def test_add_dense_layer_rejects_raw_input_and_out_of_range():
    model = morph.build(SeqGenome(1, 4, (), (3,), 2))
    with pytest.raises(ValueError, match="index=0 .*allowed: 1..1"):
        morph.add_dense_layer(model, 0)
    with pytest.raises(ValueError, match="index=2"):
        morph.add_dense_layer(model, 2)


@pytest.mark.parametrize("seed", SEEDS)
def test_widen_dense_is_exact(seed):
    genome = random_genome(seed, min_dense=1)
    model, x = trained_like(genome, seed), inputs(genome, seed)
    snap = snapshot(model)
    gen = torch.Generator().manual_seed(seed)
    for index in range(len(genome.dense)):
        new, report = morph.widen_dense(model, index, 4, gen)
        assert_same_output(model, new, x)
        check_report(report, model, new, "widen_dense", index)
        assert morph.genome_of(new).dense[index] == genome.dense[index] + 4
    assert_untouched(model, snap)


@pytest.mark.parametrize("seed", SEEDS)
def test_widen_conv_is_exact(seed):
    genome = random_genome(seed, min_cells=1)
    model, x = trained_like(genome, seed), inputs(genome, seed)
    snap = snapshot(model)
    gen = torch.Generator().manual_seed(seed)
    for index in range(len(genome.cells)):
        new, report = morph.widen_conv(model, index, 3, gen)
        assert_same_output(model, new, x)
        check_report(report, model, new, "widen_conv", index)
        assert morph.genome_of(new).cells[index].channels == genome.cells[index].channels + 3
    assert_untouched(model, snap)


@pytest.mark.parametrize("seed", SEEDS)
def test_add_conv_cell_without_pool_is_exact(seed):
    genome = random_genome(seed)
    model, x = trained_like(genome, seed), inputs(genome, seed)
    snap = snapshot(model)
    for index in range(len(genome.cells) + 1):
        # Index 0 reads the raw image: exact only for a nonnegative one (documented), so feed that there.
        batch = x.abs() if index == 0 else x
        new, report = morph.add_conv_cell(model, index, None)
        assert_same_output(model, new, batch)
        check_report(report, model, new, "add_conv_cell", index)
        width = genome.cells[index - 1].channels if index else genome.in_channels
        assert morph.genome_of(new).cells[index] == ConvLayer(width, None)
    assert_untouched(model, snap)


def test_identity_batch_norm_is_exact_to_eps():
    # running_var = 1 - eps makes the new cell's batch norm the identity; running_var = 1 would scale by
    # 1/sqrt(1 + eps), a 5e-6 relative error that large activations make visible.
    genome = SeqGenome(2, 4, (ConvLayer(3, None),), (), 2)
    new, _ = morph.add_conv_cell(morph.build(genome), 1, None)
    x = 100 * torch.rand(4, 3, 4, 4)
    with torch.no_grad():
        torch.testing.assert_close(new.norms[1].eval()(x), x, atol=1e-4, rtol=0)


def test_add_conv_cell_at_input_is_not_exact_for_negative_images():
    genome = random_genome(3)
    model, x = trained_like(genome, 3), inputs(genome, 3)
    new, _ = morph.add_conv_cell(model, 0, None)
    assert morph.output_change(model, new, x) > 1e-3  # the new ReLU clips negative pixels


@pytest.mark.parametrize("pool", ["max", "avg"])
def test_add_conv_cell_with_pool_shrinks_map_and_runs(pool):
    genome = SeqGenome(2, 8, (ConvLayer(3, None), ConvLayer(4, "avg")), (5,), 3)
    model, x = trained_like(genome, 0), inputs(genome, 0)
    snap = snapshot(model)
    for index in range(3):
        new, report = morph.add_conv_cell(model, index, pool, torch.Generator().manual_seed(0))
        assert morph.genome_of(new).flat_size == 2
        assert new(x).shape == (5, 3)
        check_report(report, model, new, "add_conv_cell", index)
        assert torch.isfinite(torch.tensor(morph.output_change(model, new, x)))
    assert_untouched(model, snap)


def test_add_conv_cell_pool_refused_on_1px_map():
    model = morph.build(SeqGenome(1, 2, (ConvLayer(2, "max"),), (), 2))
    with pytest.raises(ValueError, match="pool='max'"):
        morph.add_conv_cell(model, 1, "max")
    morph.add_conv_cell(model, 1, None)  # allowed without a pool


# -------------------------------------------------------------------------------------------- pool weights


@pytest.mark.parametrize("pool", ["max", "avg"])
@pytest.mark.parametrize("size", [4, 5])
def test_structured_pooling_is_exact_on_window_constant_maps(pool, size):
    torch.manual_seed(0)
    weight = torch.randn(3, 2, size, size)
    coarse = torch.randn(7, 2, size // 2, size // 2).abs()
    fine = torch.zeros(7, 2, size, size)  # constant over each 2x2 window; a floor-mode pool drops the rest
    fine[..., : size // 2 * 2, : size // 2 * 2] = coarse.repeat_interleave(2, 2).repeat_interleave(2, 3)
    pooled = torch.nn.functional.max_pool2d(fine, 2) if pool == "max" else torch.nn.functional.avg_pool2d(fine, 2)
    new = morph.pool_dense_weights(weight, pool, "structured")
    torch.testing.assert_close(pooled.flatten(1) @ new.flatten(1).T, fine.flatten(1) @ weight.flatten(1).T)
    # The paper's mean for average pooling shrinks the pre-activation by the window size instead.
    if pool == "avg":
        paper = morph.pool_dense_weights(weight, pool, "paper")
        torch.testing.assert_close(4 * paper, new)


@pytest.mark.parametrize("size", [4, 5])
def test_structured_unpooling_is_exact_for_removing_an_average_pool(size):
    torch.manual_seed(0)
    weight = torch.randn(3, 2, size // 2, size // 2)
    fine = torch.randn(7, 2, size, size)
    new = morph.unpool_dense_weights(weight, size, "structured")
    before = torch.nn.functional.avg_pool2d(fine, 2).flatten(1) @ weight.flatten(1).T
    torch.testing.assert_close(fine.flatten(1) @ new.flatten(1).T, before)
    # and the two structured maps are inverse: pooling the unpooled weights gives them back
    torch.testing.assert_close(morph.pool_dense_weights(new, "avg"), weight)
    torch.testing.assert_close(morph.pool_dense_weights(morph.unpool_dense_weights(weight, size, "paper"),
                                                        "max", "paper"), weight)


@pytest.mark.parametrize("adapt", ["structured", "paper", "random"])
def test_set_pooling_all_transitions(adapt):
    genome = SeqGenome(2, 9, (ConvLayer(3, None), ConvLayer(4, "max")), (5,), 3)
    model, x = trained_like(genome, 0), inputs(genome, 0)
    snap = snapshot(model)
    gen = torch.Generator().manual_seed(0)
    cases = [(0, "avg", 2), (0, "max", 2), (1, None, 9), (1, "avg", 4), (1, "max", 4)]
    for index, pool, flat in cases:
        new, report = morph.set_pooling(model, index, pool, adapt=adapt, generator=gen)
        assert morph.genome_of(new).cells[index].pool == pool
        assert morph.genome_of(new).flat_size == flat
        assert new(x).shape == (5, 3)
        check_report(report, model, new, "set_pooling", index)
    same, _ = morph.set_pooling(model, 1, "max", adapt=adapt)
    assert_same_output(model, same, x)
    assert_untouched(model, snap)


def test_set_pooling_random_differs_from_structured():
    genome = SeqGenome(2, 8, (ConvLayer(3, None),), (5,), 3)
    model = trained_like(genome, 0)
    a, _ = morph.set_pooling(model, 0, "avg", adapt="structured")
    b, _ = morph.set_pooling(model, 0, "avg", adapt="random", generator=torch.Generator().manual_seed(0))
    assert a.dense[0].weight.shape == b.dense[0].weight.shape
    assert not torch.equal(a.dense[0].weight, b.dense[0].weight)


# --------------------------------------------------------------------------------------------------- shrink


def test_low_rank_fold_is_exact_at_full_rank_and_truncates_below():
    torch.manual_seed(0)
    w, b, w2, b2 = torch.randn(6, 9), torch.randn(6), torch.randn(4, 6), torch.randn(4)
    x = torch.randn(9)
    original = w2 @ (w @ x + b) + b2
    nw, nb, nw2, nb2 = morph.low_rank_fold(w, b, w2, b2, keep=6)
    torch.testing.assert_close(nw2 @ (nw @ x + nb) + nb2, original, atol=ATOL, rtol=0)
    nw, nb, nw2, nb2 = morph.low_rank_fold(w, b, w2, b2, keep=3)
    assert nw.shape == (3, 9) and nb.shape == (3,) and nw2.shape == (4, 3)
    u, s, vh = torch.linalg.svd(w, full_matrices=False)
    best = u[:, :3] @ torch.diag(s[:3]) @ vh[:3]  # the rank-3 truncation; the bias passes on untouched
    torch.testing.assert_close(nw2 @ (nw @ x + nb) + nb2, w2 @ (best @ x + b) + b2, atol=ATOL, rtol=0)
    # A rank-deficient layer loses nothing to truncation down to its rank.
    w = torch.randn(6, 2) @ torch.randn(2, 9)
    nw, nb, nw2, nb2 = morph.low_rank_fold(w, b, w2, b2, keep=2)
    torch.testing.assert_close(nw2 @ (nw @ x + nb) + nb2, w2 @ (w @ x + b) + b2, atol=1e-4, rtol=0)
    # A layer wider than its input (6 units, 3 inputs) has rank 3: keeping 5 or even 3 units is exact.
    w = torch.randn(6, 3)
    for keep in (5, 3):
        nw, nb, nw2, nb2 = morph.low_rank_fold(w, b, w2, b2, keep)
        assert nw.shape == (keep, 3)
        torch.testing.assert_close(nw2 @ (nw @ x[:3] + nb) + nb2, w2 @ (w @ x[:3] + b) + b2, atol=ATOL, rtol=0)


@pytest.mark.parametrize("seed", SEEDS)
def test_remove_dense_units(seed):
    genome = random_genome(seed, min_dense=1)
    model, x = trained_like(genome, seed), inputs(genome, seed)
    snap = snapshot(model)
    for index, width in enumerate(genome.dense):
        new, report = morph.remove_dense_units(model, index, width - 1)
        assert morph.genome_of(new).dense[index] == width - 1
        assert new(x).shape == (5, 3)
        check_report(report, model, new, "remove_dense_units", index)
        with pytest.raises(ValueError, match=f"keep={width}"):
            morph.remove_dense_units(model, index, width)
    assert_untouched(model, snap)


@pytest.mark.parametrize("seed", SEEDS)
def test_remove_dense_layer(seed):
    genome = random_genome(seed, min_dense=1)
    model, x = trained_like(genome, seed), inputs(genome, seed)
    snap = snapshot(model)
    for index in range(len(genome.dense)):
        new, report = morph.remove_dense_layer(model, index)
        assert morph.genome_of(new).dense == genome.dense[:index] + genome.dense[index + 1:]
        assert new(x).shape == (5, 3)
        check_report(report, model, new, "remove_dense_layer", index)
    assert_untouched(model, snap)


def test_remove_dense_layer_is_exact_when_the_relu_is_inactive():
    # Nonnegative weights, biases and inputs keep every pre-activation >= 0, so the ignored ReLU is the
    # identity and the linear merge must be exact.
    genome = SeqGenome(2, 4, (), (6, 5), 3)
    model = morph.build(genome)
    with torch.no_grad():
        for p in model.parameters():
            p.abs_()
    x = inputs(genome, 0).abs()
    for index in range(2):
        new, _ = morph.remove_dense_layer(model, index)
        assert_same_output(model, new, x)


def zero_gamma_model(seed: int, count: int):
    """Random CNN whose last cell has `count` channels with gamma exactly 0 (and positive beta, so the
    fold matters), the rest nonzero."""
    genome = SeqGenome(2, 8, (ConvLayer(4, "avg"), ConvLayer(6, "max")), (5,), 3)
    model = trained_like(genome, seed)
    with torch.no_grad():
        norm = model.norms[1]
        norm.weight.copy_(torch.randn(6).sign() * (torch.rand(6) + 0.5))
        norm.weight[:count] = 0.0
        norm.bias[:count] = torch.rand(count) + 0.5
    return model, inputs(genome, seed)


@pytest.mark.parametrize("seed", range(3))
def test_remove_conv_channels_weights_fold_is_exact_for_zero_gamma(seed):
    model, x = zero_gamma_model(seed, 2)
    snap = snapshot(model)
    new, report = morph.remove_conv_channels(model, 1, 2, fold="weights")
    assert morph.genome_of(new).cells[1].channels == 4
    assert_same_output(model, new, x)
    check_report(report, model, new, "remove_conv_channels", 1)
    scalar, report = morph.remove_conv_channels(model, 1, 2, fold="scalar")
    assert morph.output_change(model, scalar, x) > 1e-2
    check_report(report, model, scalar, "remove_conv_channels", 1)
    assert_untouched(model, snap)


@pytest.mark.parametrize("seed", SEEDS)
def test_remove_conv_channels_every_cell(seed):
    genome = random_genome(seed, min_cells=1)
    model, x = trained_like(genome, seed), inputs(genome, seed)
    snap = snapshot(model)
    for index, cell in enumerate(genome.cells):
        if cell.channels < 2:
            with pytest.raises(ValueError, match="count=1"):
                morph.remove_conv_channels(model, index, 1)
            continue
        for fold in ("weights", "scalar"):
            new, report = morph.remove_conv_channels(model, index, cell.channels - 1, fold=fold)
            assert morph.genome_of(new).cells[index].channels == 1
            assert new(x).shape == (5, 3)
            check_report(report, model, new, "remove_conv_channels", index)
    assert_untouched(model, snap)


@pytest.mark.parametrize("seed", SEEDS)
def test_remove_conv_cell(seed):
    genome = random_genome(seed, min_cells=1)
    model, x = trained_like(genome, seed), inputs(genome, seed)
    snap = snapshot(model)
    for index in range(len(genome.cells)):
        new, report = morph.remove_conv_cell(model, index, torch.Generator().manual_seed(seed))
        expected = genome.cells[:index] + genome.cells[index + 1:]
        assert morph.genome_of(new).cells == expected
        assert new(x).shape == (5, 3)
        check_report(report, model, new, "remove_conv_cell", index)
    assert_untouched(model, snap)


@pytest.mark.parametrize("seed", SEEDS)
def test_remove_conv_cell_undoes_add_conv_cell(seed):
    genome = random_genome(seed)
    model, x = trained_like(genome, seed), inputs(genome, seed).abs()
    for index in range(len(genome.cells) + 1):
        grown, _ = morph.add_conv_cell(model, index, None)
        back, report = morph.remove_conv_cell(grown, index)
        assert morph.genome_of(back) == genome
        assert report.params_after == morph.count_params(model)
        assert_same_output(model, back, x)


def test_remove_conv_cell_beta_fold_is_exact_for_a_shifted_identity_cell():
    # An identity cell whose batch norm adds beta >= 0 computes x + beta on nonnegative x; removing it must
    # fold beta through the consumer's weights (the consumer here is the first dense layer: no border).
    genome = SeqGenome(2, 6, (ConvLayer(3, "avg"),), (4,), 3)
    model, x = trained_like(genome, 0), inputs(genome, 0)
    grown, _ = morph.add_conv_cell(model, 1, None)
    with torch.no_grad():
        grown.norms[1].bias.copy_(torch.rand(3))
    back, _ = morph.remove_conv_cell(grown, 1)
    assert_same_output(grown, back, x)


# ------------------------------------------------------------------------------------------ invalid choices


@pytest.mark.parametrize("call, name", [
    (lambda m: morph.widen_dense(m, 5, 1), "index"),
    (lambda m: morph.widen_dense(m, 0, 0), "extra"),
    (lambda m: morph.widen_conv(m, -1, 1), "index"),
    (lambda m: morph.widen_conv(m, 0, 0), "extra"),
    (lambda m: morph.add_conv_cell(m, 3, None), "index"),
    (lambda m: morph.add_conv_cell(m, 0, "min"), "pool"),
    (lambda m: morph.add_conv_cell(m, 0, "max", adapt="mean"), "adapt"),
    (lambda m: morph.set_pooling(m, 2, None), "index"),
    (lambda m: morph.remove_dense_units(m, 1, 1), "index"),
    (lambda m: morph.remove_dense_units(m, 0, 0), "keep"),
    (lambda m: morph.remove_dense_layer(m, 1), "index"),
    (lambda m: morph.remove_conv_channels(m, 0, 3), "count"),
    (lambda m: morph.remove_conv_channels(m, 0, 1, fold="bias"), "fold"),
    (lambda m: morph.remove_conv_cell(m, 2), "index"),
])
def test_invalid_arguments_name_the_parameter(call, name):
    model = morph.build(SeqGenome(1, 8, (ConvLayer(3, "max"), ConvLayer(2, None)), (4,), 2))
    with pytest.raises(ValueError, match=rf"^{name}="):
        call(model)


# ------------------------------------------------------------------------------------- ERA ResNets
def _era_net(cfg, seed=0):
    from resnas.spaces.era import EraNet

    torch.manual_seed(seed)
    net = EraNet(cfg, 3, 10)
    with torch.no_grad():  # a trained-looking state, so that a wrong copy shows
        for m in net.modules():
            if isinstance(m, nn.BatchNorm2d):
                m.weight.uniform_(0.5, 1.5)
                m.bias.uniform_(-0.2, 0.2)
                m.running_mean.uniform_(-0.3, 0.3)
                m.running_var.uniform_(0.5, 2.0)
    return net.eval()


ERA_CASES = ["basic-plain", "bottleneck-grouped", "basic-depthwise"]


def _era_cfg(case):
    from resnas.spaces.era import EraConfig

    return {"basic-plain": EraConfig("basic", (1, 2, 1, 1), 4, 2, 32),
            "bottleneck-grouped": EraConfig("bottleneck", (0, 1, 2, 1), 8, 2, 2),
            "basic-depthwise": EraConfig("basic", (2, 1, 1, 1), 4, 1, 1)}[case]


@pytest.mark.parametrize("case", ERA_CASES)
def test_era_add_block_preserves_outputs(case):
    cfg = _era_cfg(case)
    net = _era_net(cfg)
    x = torch.randn(4, 3, 16, 16)
    ref = net(x)
    for section in [s for s in range(4) if cfg.depths[s]]:
        grown, report = morph.era_add_block(net, section)
        assert grown.config.depths[section] == cfg.depths[section] + 1
        assert report.params_after > report.params_before == morph.count_params(net)
        torch.testing.assert_close(grown.eval()(x), ref, atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(net(x), ref)  # the input model is untouched


@pytest.mark.parametrize("case", ERA_CASES)
def test_era_widen_preserves_outputs(case):
    cfg = _era_cfg(case)
    net = _era_net(cfg, seed=1)
    x = torch.randn(4, 3, 16, 16)
    wide, report = morph.era_widen(net)
    assert wide.config.filters == 2 * cfg.filters and wide.config.groups == cfg.canonical().groups
    assert report.params_after == morph.count_params(wide) > report.params_before
    torch.testing.assert_close(wide.eval()(x), net(x), atol=1e-5, rtol=1e-5)


def test_era_add_block_refuses_an_empty_section():
    net = _era_net(_era_cfg("bottleneck-grouped"))
    with pytest.raises(ValueError, match="section=0 is empty"):
        morph.era_add_block(net, 0)
    with pytest.raises(ValueError, match="section=4 is invalid"):
        morph.era_add_block(net, 4)


def test_era_prune_channels_through_residuals():
    net = _era_net(_era_cfg("basic-plain"))
    x = torch.randn(2, 3, 16, 16)
    small, report = morph.era_prune_channels(net, 0.5, x)
    assert report.params_after < report.params_before and small(x).shape == (2, 10)
    with pytest.raises(ValueError, match="ratio=1.0 is invalid"):
        morph.era_prune_channels(net, 1.0, x)
