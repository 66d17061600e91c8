"""convlstm's recurrence against ndrplz/ConvLSTM_pytorch (``convlstm.py``, the usual PyTorch ConvLSTM).

Shapes: vidsynth's ``convlstm`` ``paper`` preset. Its generator steps a stack of 5 ConvLSTM layers of 128
channels (3x3 kernels) ``frames - 1 = 15`` times on the same input map, the image code (256 channels)
beside the noise map (64 channels) at 128 / 2^4 = 8x8, batch 16. The input map comes out of the encoder and
the noise layer, so it needs a gradient. Both sides get that map (requiring a gradient) and unroll the 15
steps: the reference's ``ConvLSTM(batch_first=True)`` is handed the map repeated over the 15 steps (it
takes only whole clips), vidsynth's ``ConvLSTM.unroll(x, 15)`` is told the input is constant. One step
of each side: forward, ``loss = mean(top-layer h of every step)``, backward, one Adam update; the same
work on both sides, as far as the maths goes.

A second row does the same with a clip of 15 *different* input maps (``ConvLSTM.forward(clip)`` on
vidsynth's side), the general use of a ConvLSTM, so the gain that does not depend on a constant input is
shown too.
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from typing import Any

from peers import Peer

REPOSITORY = "ndrplz/ConvLSTM_pytorch"
COMMIT = "9f662ba24b0a38e82cf0f5208c7f4859deb85ffe"


def _reference_module(path: Path) -> Any:
    """The checkout's ``convlstm.py`` under a private module name (vidsynth has a ``convlstm`` too)."""
    spec = importlib.util.spec_from_file_location("_ref_convlstm_pytorch", path / "convlstm.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


def unroll(lstm: Any, x: Any, steps: int) -> tuple[Any, Any]:
    """``lstm.unroll(x, steps)``; on a vidsynth from before it existed (to time the old code with this
    adapter), the loop its generator ran then: ``step(x, states)`` ``steps`` times."""
    if hasattr(lstm, "unroll"):
        return lstm.unroll(x, steps)
    import torch

    states, hs = None, []
    for _ in range(steps):
        h, states = lstm.step(x, states)
        hs.append(h)
    return torch.stack(hs, dim=2), states


def _build(path: Path | None, constant_input: bool):
    import torch

    from vidsynth.nn.convlstm import ConvLSTM
    from vidsynth_plugins.convlstm import ConvLSTMGAN

    config = ConvLSTMGAN().make_config("paper")
    steps = config.frames - 1
    side = config.size // 2 ** len(config.encoder_widths)
    cin = config.code_channels + config.noise_channels
    hidden, layers, k = config.lstm_channels, config.lstm_layers, config.lstm_kernel
    b = config.batch_size
    ref_mod = _reference_module(path)
    ref = ref_mod.ConvLSTM(cin, hidden, (k, k), layers, batch_first=True, bias=True, return_all_layers=False)
    ours = ConvLSTM(cin, hidden, layers, k)
    ref_opt = torch.optim.Adam(ref.parameters(), lr=2e-4, betas=(0.5, 0.999))
    ours_opt = torch.optim.Adam(ours.parameters(), lr=2e-4, betas=(0.5, 0.999))
    g = torch.Generator().manual_seed(0)
    if constant_input:
        x = torch.randn(b, cin, side, side, generator=g).requires_grad_(True)
    else:
        x = torch.randn(b, cin, steps, side, side, generator=g).requires_grad_(True)

    def ref_step() -> None:
        clip = x.unsqueeze(1).expand(-1, steps, -1, -1, -1) if constant_input else x.transpose(1, 2)
        outputs, _ = ref(clip)
        loss = outputs[-1].mean()
        ref_opt.zero_grad(set_to_none=True)
        x.grad = None
        loss.backward()
        ref_opt.step()

    def ours_step() -> None:
        out, _ = unroll(ours, x, steps) if constant_input else ours(x)
        loss = out.mean()
        ours_opt.zero_grad(set_to_none=True)
        x.grad = None
        loss.backward()
        ours_opt.step()

    count = lambda m: sum(p.numel() for p in m.parameters())  # noqa: E731
    what = "one input map" if constant_input else f"{steps} different input maps"
    return ref_step, ours_step, {
        "ref_params": count(ref), "ours_params": count(ours),
        "shape": f"batch {b}, {cin}->{layers}x{hidden} ch, {k}x{k}, {side}x{side}, {steps} steps, {what}; fwd+bwd+Adam",
    }


PEERS = [
    Peer(
        row="convlstm (5x128 recurrence, fwd+bwd)",
        reference="ConvLSTM_pytorch",
        repository=REPOSITORY,
        commit=COMMIT,
        build=lambda path: _build(path, constant_input=True),
        note="the paper preset's recurrence as its generator runs it: 15 steps on one map (batch 16, 320 ch, 8x8)",
    ),
    Peer(
        row="convlstm (5x128 recurrence on a clip, fwd+bwd)",
        reference="ConvLSTM_pytorch",
        repository=REPOSITORY,
        commit=COMMIT,
        build=lambda path: _build(path, constant_input=False),
        note="the same layers on 15 different input maps (a ConvLSTM's general use)",
    ),
]
