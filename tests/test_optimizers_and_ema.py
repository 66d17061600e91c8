"""The default optimizer (fused Adam where torch has the kernel) and the EMA update: faster forms of the same
maths, checked against the plain forms they replace."""

from __future__ import annotations

import json

import pytest
import torch
from torch import nn

import vidsynth.model
from tiny_plugin import train_tiny, tiny_registry  # noqa: F401 - tiny_registry is a fixture
from vidsynth.ema import EMA
from vidsynth.model import adam


def small_net(seed: int = 0) -> nn.Module:
    torch.manual_seed(seed)
    # (no bias before the batch norm: its gradient is rounding noise, which Adam would scale up to full steps)
    return nn.Sequential(nn.Conv2d(3, 8, 3, bias=False), nn.BatchNorm2d(8), nn.ReLU(), nn.Flatten(), nn.Linear(8 * 6 * 6, 4))


def run_steps(net: nn.Module, optimizer: torch.optim.Optimizer, steps: int = 5) -> None:
    g = torch.Generator().manual_seed(1)
    for _ in range(steps):
        loss = net(torch.randn(4, 3, 8, 8, generator=g)).square().mean()
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()


def test_default_adam_is_fused_on_cpu_and_updates_as_plain_adam():
    a, b = small_net(), small_net()
    fast = adam(a.parameters(), lr=1e-2, betas=(0.5, 0.999))
    plain = torch.optim.Adam(b.parameters(), lr=1e-2, betas=(0.5, 0.999))
    assert fast.param_groups[0]["fused"] is True
    run_steps(a, fast)
    run_steps(b, plain)
    for (name, p), q in zip(a.named_parameters(), b.parameters()):
        assert torch.allclose(p, q, rtol=0, atol=1e-6), name
        assert not torch.equal(p, small_net().state_dict()[name])  # it did train


def test_adam_takes_an_explicit_implementation_as_given():
    opt = adam(small_net().parameters(), lr=1e-3, betas=(0.9, 0.999), foreach=True)
    assert opt.param_groups[0]["foreach"] is True and not opt.param_groups[0]["fused"]


def test_a_checkpoint_of_plain_adam_resumes_on_the_fused_kernel(tmp_path, tiny_registry, monkeypatch):
    """A run saved by a version without the fused default continues on it (the flags are not the run's)."""
    with monkeypatch.context() as patch:
        patch.setattr(vidsynth.model, "adam", lambda params, **kw: torch.optim.Adam(params, **kw))
        train_tiny(tmp_path, tiny_registry, steps=2, checkpoint_every=2)
    saved = json.loads((tmp_path / "run" / "checkpoints" / "step_00000002" / "trainer.json").read_text())
    assert saved["optimizers"]["generator"]["param_groups"][0]["fused"] is None
    train_tiny(tmp_path, tiny_registry, steps=4, resume=True, checkpoint_every=2)
    resumed = json.loads((tmp_path / "run" / "checkpoints" / "step_00000004" / "trainer.json").read_text())
    assert resumed["optimizers"]["generator"]["param_groups"][0]["fused"] is True


@pytest.mark.parametrize("decay", [0.9, 0.999])
def test_ema_update_is_the_per_tensor_lerp_bit_for_bit(decay):
    live = small_net()
    ema = EMA({"net": live}, decay)
    reference = EMA({"net": live}, decay).modules["net"]
    optimizer = torch.optim.SGD(live.parameters(), lr=0.1)
    for _ in range(3):
        run_steps(live, optimizer, steps=1)  # also moves the batch-norm running statistics (buffers)
        ema.update({"net": live})
        with torch.no_grad():
            for r, p in zip(reference.parameters(), live.parameters()):
                r.lerp_(p, 1.0 - decay)
            for r, b in zip(reference.buffers(), live.buffers()):
                r.copy_(b)
    for (name, got), want in zip(ema.modules["net"].state_dict().items(), reference.state_dict().values()):
        assert torch.equal(got, want), name
    assert not torch.equal(ema.modules["net"][0].weight, live[0].weight)  # an average, not a copy
