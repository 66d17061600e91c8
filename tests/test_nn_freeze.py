"""vidsynth.nn.frozen: a network's weights get no gradients inside the block; its input still does."""

import pytest
import torch

from vidsynth.nn import frozen


def test_inside_the_block_weights_get_no_gradient_but_the_input_does():
    net = torch.nn.Linear(3, 1)
    x = torch.ones(2, 3, requires_grad=True)
    with frozen(net) as same:
        assert same is net
        same(x).sum().backward()
    assert net.weight.grad is None and net.bias.grad is None
    assert x.grad is not None and torch.equal(x.grad, net.weight.detach().expand(2, 3))


def test_each_parameters_flag_comes_back_also_after_an_error():
    net = torch.nn.Linear(3, 1)
    net.bias.requires_grad_(False)  # already frozen by its owner: stays so
    with pytest.raises(RuntimeError, match="boom"):
        with frozen(net):
            assert not net.weight.requires_grad
            raise RuntimeError("boom")
    assert net.weight.requires_grad and not net.bias.requires_grad
