"""Freezing a network's weights for one pass (a GAN's generator step through its discriminator)."""

from __future__ import annotations

import contextlib
from typing import TYPE_CHECKING, Iterator

if TYPE_CHECKING:  # no torch at import: vidsynth.nn's torch-free modules load with the registry
    from torch import nn


@contextlib.contextmanager
def frozen(module: nn.Module) -> Iterator[nn.Module]:
    """Compute no weight gradients for ``module`` inside the block (gradients still flow to its input);
    each parameter's ``requires_grad`` is restored afterwards, also when the block raises.

    Use the bare module (``ctx.unwrap(name)``), not its DDP wrapper, so that the forward pass does not
    wait for a gradient all-reduce that will not come::

        with frozen(ctx.unwrap("discriminator")) as d, ctx.autocast():
            g_loss = nonsaturating_generator_loss(d(fake).float())
    """
    flags = [p.requires_grad for p in module.parameters()]
    module.requires_grad_(False)
    try:
        yield module
    finally:
        for p, flag in zip(module.parameters(), flags):
            p.requires_grad_(flag)
