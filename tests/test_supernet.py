"""The GENAS supernet: decoupled subnets are the stand-alone networks, coupling mixes, gradients stay on the path,
BN recalibration is per subnet and leaves the shared statistics as they were."""
import numpy as np
import pytest
import torch

from resnas.spaces.cells import DARTS_SMALL, NB201_SMALL, RESNET_LIKE, DartsSpace, Nb201Cell, Nb201Space
from resnas.supernet import (Relaxation, Supernet, bn_state, discretise, path_parameters, recalibrated, relax,
                             subnet)

TINY_NB201 = Nb201Space(channels=4, cells_per_stage=1, name="nb201_tiny")
TINY_DARTS = DartsSpace(channels=4, layers=3, name="darts_tiny")
SHAPES = {"nb201_tiny": (6, 1, 12, 12), "darts_tiny": (6, 3, 12, 12)}


def _trained_a_little(space, seed=0):
    """A supernet whose BN statistics and weights are not at their initial values (one single-path step per
    random table), so equality with the stand-alone network is not an accident of fresh BN layers."""
    torch.manual_seed(seed)
    shape = SHAPES[space.name]
    net = Supernet(space, shape[1], 10)
    opt = torch.optim.SGD(net.parameters(), lr=0.05)
    rng = np.random.default_rng(seed)
    for _ in range(3):
        x, y = torch.randn(shape), torch.randint(0, 10, (shape[0],))
        opt.zero_grad()
        torch.nn.functional.cross_entropy(net(x, space.sample(rng), "decoupled"), y).backward()
        opt.step()
    return net


@pytest.mark.parametrize("space", [TINY_NB201, TINY_DARTS], ids=lambda s: s.name)
def test_decoupled_logits_equal_the_standalone_network_and_coupled_differ(space):
    net = _trained_a_little(space).eval()
    rng = np.random.default_rng(3)
    x = torch.randn(SHAPES[space.name])
    for _ in range(3):
        table = space.sample(rng)
        if isinstance(space, Nb201Space):  # keep the output connected, else every mode gives the same zeros
            table = Nb201Cell(table.ops[:2] + ("nor_conv_3x3",) + table.ops[3:])
        alone = subnet(net, table).eval()
        with torch.no_grad():
            decoupled, coupled, standalone = net(x, table, "decoupled"), net(x, table, "coupled"), alone(x)
        torch.testing.assert_close(decoupled, standalone, rtol=1e-5, atol=1e-5)
        assert (coupled - standalone).abs().max() > 1e-3


def test_subnet_copies_the_path_weights_not_others():
    net = _trained_a_little(TINY_NB201)
    alone = subnet(net, RESNET_LIKE)
    conv = net.cells[0].edges["0_1"]["nor_conv_3x3"][1].weight
    assert torch.equal(alone.cells[0].edges["0_1"][1].weight, conv)
    assert "cells.0.edges.0_1.nor_conv_1x1.1.weight" not in path_parameters(net, RESNET_LIKE)
    assert "cells.0.edges.0_1.nor_conv_3x3.1.weight" in path_parameters(net, RESNET_LIKE)


@pytest.mark.parametrize("space", [TINY_NB201, TINY_DARTS], ids=lambda s: s.name)
def test_operations_outside_the_table_get_no_gradient_in_decoupled_mode(space):
    net = _trained_a_little(space)
    net.zero_grad(set_to_none=True)
    table = RESNET_LIKE if isinstance(space, Nb201Space) else space.sample(np.random.default_rng(5))
    x, y = torch.randn(SHAPES[space.name]), torch.randint(0, 10, (SHAPES[space.name][0],))
    torch.nn.functional.cross_entropy(net(x, table, "decoupled"), y).backward()
    on_path = path_parameters(net, table)
    edge_params = {n: p for n, p in net.named_parameters() if ".edges." in n}
    off = [n for n, p in edge_params.items() if n not in on_path]
    assert off and all(edge_params[n].grad is None for n in off)
    assert all(edge_params[n].grad is not None and edge_params[n].grad.abs().sum() > 0
               for n in on_path if n in edge_params)
    # coupled mode, by contrast, reaches every operation
    net.zero_grad(set_to_none=True)
    torch.nn.functional.cross_entropy(net(x, table, "coupled"), y).backward()
    assert all(p.grad is not None for p in edge_params.values())


@pytest.mark.parametrize("space", [NB201_SMALL, DARTS_SMALL], ids=lambda s: s.name)
def test_relax_then_discretise_returns_the_table(space):
    rng = np.random.default_rng(0)
    for _ in range(5):
        table = space.sample(rng)
        assert discretise(space, relax(space, table)) == table


def test_discretise_moves_with_the_weights():
    r = relax(TINY_NB201, RESNET_LIKE)
    logits = r.op_logits.detach().clone()
    logits[0, 1, 4] = 10.0  # edge 0->2: avg_pool now outweighs 'none'
    assert discretise(TINY_NB201, Relaxation(logits)).ops[1] == "avg_pool_3x3"


def test_bn_recalibration_changes_the_output_and_restores_the_shared_statistics():
    net = _trained_a_little(TINY_NB201).eval()
    x = torch.randn(SHAPES["nb201_tiny"])
    before, shared = net(x, RESNET_LIKE).detach(), bn_state(net)
    with recalibrated(net, RESNET_LIKE, [torch.randn(SHAPES["nb201_tiny"]) * 2 + 1]):
        inside = net(x, RESNET_LIKE).detach()
        assert not net.training
    assert (inside - before).abs().max() > 1e-4
    for (m0, v0, n0, _), (m1, v1, n1, _) in zip(shared, bn_state(net)):
        assert torch.equal(m0, m1) and torch.equal(v0, v1) and torch.equal(n0, n1)
    torch.testing.assert_close(net(x, RESNET_LIKE).detach(), before, rtol=0, atol=0)


def test_bad_mode_and_space_are_named():
    net = Supernet(TINY_NB201, 1, 10)
    with pytest.raises(ValueError, match="mode='mixed'.*allowed"):
        net(torch.randn(2, 1, 12, 12), RESNET_LIKE, "mixed")
    with pytest.raises(ValueError, match="relaxation"):
        net(torch.randn(2, 1, 12, 12), None, "relaxed")
    with pytest.raises(ValueError, match="space='era'.*allowed"):
        from resnas.spaces import get_space
        Supernet(get_space("era"))
