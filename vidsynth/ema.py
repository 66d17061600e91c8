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
        weight = 1.0 - self.decay
        for name, shadow in self.modules.items():
            live = modules[name]
            for ema_p, p in zip(shadow.parameters(), live.parameters()):
                ema_p.lerp_(p.detach(), weight)
            for ema_b, b in zip(shadow.buffers(), live.buffers()):
                ema_b.copy_(b)

    def state_dict(self) -> dict[str, torch.Tensor]:
        """Flat ``{"<module>.<key>": tensor}``, the layout of ``ema.safetensors``."""
        return {f"{name}.{k}": v for name, m in self.modules.items() for k, v in m.state_dict().items()}

    def load_state_dict(self, flat: dict[str, torch.Tensor]) -> None:
        for name, module in self.modules.items():
            prefix = f"{name}."
            module.load_state_dict({k[len(prefix):]: v for k, v in flat.items() if k.startswith(prefix)})
