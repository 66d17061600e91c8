"""One Adam per trainable module, in PyTorch's fused form where the device has it.

The maths is ``torch.optim.Adam``'s (the same update to float rounding); only the implementation differs.
The default for-loop Adam walks each parameter six times (lerp, mul, addcmul, sqrt, div, addcdiv, with
temporaries in between); the fused kernel reads a parameter, its gradient and both moments once and writes
them back once. Where the weights are large (the ``cvae`` paper preset: 485M parameters, almost all in two
Linear layers) the optimizer step is most of a training step on a CPU, and fused is ~6x faster there
(benchmarks/RESULTS.md, issue 17).
"""

from __future__ import annotations

from typing import Any

#: Devices whose PyTorch builds have the fused Adam kernel.
FUSED_DEVICES = ("cpu", "cuda")


def fused_adam_optimizers(modules: dict[str, Any], lr: float, betas: tuple[float, float]) -> dict[str, Any]:
    """``{name: Adam(module.parameters(), lr, betas)}`` for every module with trainable weights, fused
    when all of a module's weights are on a device listed in ``FUSED_DEVICES``."""
    import torch

    optimizers = {}
    for name, module in modules.items():
        params = [p for p in module.parameters()]
        if not any(p.requires_grad for p in params):
            continue
        fused = all(p.device.type in FUSED_DEVICES and p.dtype.is_floating_point for p in params)
        optimizers[name] = torch.optim.Adam(params, lr=lr, betas=tuple(betas), fused=True if fused else None)
    return optimizers
