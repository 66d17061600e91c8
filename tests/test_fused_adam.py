"""The plugins' default optimizers (``ModelPlugin.optimizers``: ``vidsynth.model.adam``, fused where the device
has the kernel) make the plain Adam update, and optimizer state saved by the plain Adam (checkpoints written
before issue 17) restores into them."""

from __future__ import annotations

import torch
from torch import nn

from vidsynth.checkpoint import load_optimizer_state, optimizer_state
from vidsynth_plugins.cvae import CVAE


def fused_adam_optimizers(modules, lr, betas):
    """What the cvae (and every plugin keeping the default) trains with."""
    return CVAE().optimizers(modules, CVAE().make_config("small", {"lr": lr, "betas": betas}))


def tiny_modules(seed: int = 0) -> dict[str, nn.Module]:
    torch.manual_seed(seed)
    frozen = nn.Linear(2, 2).requires_grad_(False)
    return {"net": nn.Sequential(nn.Conv2d(2, 4, 3), nn.ReLU(), nn.Flatten(), nn.Linear(4 * 4 * 4, 3)), "frozen": frozen}


def train(modules: dict[str, nn.Module], optimizer: torch.optim.Optimizer, steps: int, seed: int = 1) -> None:
    g = torch.Generator().manual_seed(seed)
    for _ in range(steps):
        x = torch.randn(5, 2, 6, 6, generator=g)
        optimizer.zero_grad(set_to_none=True)
        modules["net"](x).pow(2).mean().backward()
        optimizer.step()


def test_fused_adam_is_the_default_adam_update():
    fast, plain = tiny_modules(), tiny_modules()
    opt = fused_adam_optimizers(fast, lr=1e-2, betas=(0.5, 0.999))
    assert set(opt) == {"net"}  # a module with no trainable weights gets no optimizer
    assert opt["net"].defaults["fused"] is True
    train(fast, opt["net"], 5)
    train(plain, torch.optim.Adam(plain["net"].parameters(), lr=1e-2, betas=(0.5, 0.999)), 5)
    for a, b in zip(fast["net"].parameters(), plain["net"].parameters()):
        torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-6)


def test_state_saved_by_the_default_adam_restores_into_the_fused_one():
    old, new = tiny_modules(), tiny_modules()
    old_opt = torch.optim.Adam(old["net"].parameters(), lr=1e-2, betas=(0.5, 0.999))
    train(old, old_opt, 3)
    new["net"].load_state_dict(old["net"].state_dict())
    tensors, info = optimizer_state({"net": old_opt})
    tensors = {k: v.clone() for k, v in tensors.items()}  # as read back from a checkpoint file
    opt = fused_adam_optimizers(new, lr=1e-2, betas=(0.5, 0.999))
    load_optimizer_state(opt, tensors, info)
    train(old, old_opt, 2, seed=2)
    train(new, opt["net"], 2, seed=2)
    for a, b in zip(new["net"].parameters(), old["net"].parameters()):
        torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-6)
