"""Exponential moving average of a model's weights (what GAN and diffusion samples usually come from).

After every optimizer step ``ema = decay * ema + (1 - decay) * weights``; buffers (e.g. batch-norm running
statistics) are copied as they are. The EMA copies live on the training device, never receive gradients,
are saved as ``ema.safetensors`` and are the weights ``load_run`` gives to ``sample`` and ``eval``.
"""

from __future__ import annotations

import copy

import torch
from torch import nn


class EMA:
    """EMA copies of some named modules. ``update`` after each training step; ``state_dict`` to save."""

    def __init__(self, modules: dict[str, nn.Module], decay: float) -> None:
        if not 0.0 < decay < 1.0:
            raise ValueError(f"EMA decay must be in (0, 1), got {decay}")
        self.decay = decay
        self.modules: dict[str, nn.Module] = {}
        for name, module in modules.items():
            shadow = copy.deepcopy(module).eval()
            shadow.requires_grad_(False)
            self.modules[name] = shadow

    @torch.no_grad()
    def update(self, modules: dict[str, nn.Module]) -> None:
        """Move each EMA copy towards the live weights of ``modules`` (bare modules, same names)."""
        ema_params, live_params, ema_buffers, live_buffers = [], [], [], []
        for name, shadow in self.modules.items():
            live = modules[name]
            ema_params += shadow.parameters()
            live_params += (p.detach() for p in live.parameters())
            ema_buffers += shadow.buffers()
            live_buffers += live.buffers()
        # one multi-tensor call each instead of a python loop of small kernels: the same lerp and copy per
        # tensor (bit-identical, tests/test_trainer.py), a few times faster for a model of ~40 tensors
        if ema_params:
            torch._foreach_lerp_(ema_params, live_params, 1.0 - self.decay)
        if ema_buffers:
            torch._foreach_copy_(ema_buffers, live_buffers)

    def state_dict(self) -> dict[str, torch.Tensor]:
        """Flat ``{"<module>.<key>": tensor}``, the layout of ``ema.safetensors``."""
        return {f"{name}.{k}": v for name, m in self.modules.items() for k, v in m.state_dict().items()}

    def load_state_dict(self, flat: dict[str, torch.Tensor]) -> None:
        for name, module in self.modules.items():
            prefix = f"{name}."
            module.load_state_dict({k[len(prefix):]: v for k, v in flat.items() if k.startswith(prefix)})
