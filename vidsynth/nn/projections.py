"""K discriminators, each looking at the input through its own fixed random projection (Neyshabur,
Bhojanapalli & Chakrabarti 2017, "Stabilizing GAN training with multiple random projections"; used by
Monteiro et al. 2018 with K = 48 frame and K' = 16 video discriminators).

Each projection is a fixed, never-trained, norm-1 convolution that maps the input to a smaller
one-channel image (frames: Conv2d(C, 1, 8, stride 2, padding 3)) or video (Conv3d(C, 1, (1, 8, 8),
stride (1, 3, 3), padding (0, 2, 2))), exactly as in the authors' code (belaalb/frameGAN, where it is a
weight-normalised conv with g = 1 left out of the optimiser). Behind it sits a DCGAN-like discriminator
(2D or 3D strided convolutions, leaky ReLU 0.2, no normalisation, normal(0, 0.02) init).

The K discriminators are computed as *one* network with grouped convolutions (``groups=K``): group k's
weights only ever see projection k, so this is mathematically K independent discriminators (same
parameters, same gradients) but runs as a few large convolutions instead of a Python loop of K small
ones. The projections are a persistent buffer (``projection``): saved in the checkpoint, restored on
load, never touched by an optimiser, drawn from a seeded generator so a config rebuilds the same ones.

Geometry: the layer strides and paddings are the authors'; where a clip is shorter or a frame smaller
than theirs (30 frames of 30x30), a kernel that would not fit the remaining map shrinks to its size, so
every input of at least one frame of 8x8 yields at least one logit per discriminator. The logits of all
remaining positions are averaged: the output is ``[B, K]``.
"""

from __future__ import annotations

from typing import Sequence

import torch
from torch import Tensor, nn


# Memory format: grouped convolutions are far faster channels-last on CPU (oneDNN). Measured (2 threads,
# shared 2-core machine): 31 ms vs
# 644 ms for a forward + backward of 8 frame critics (widths 16-32-64) on 128 frames, and 25 ms vs 284 ms
# for 4 video critics on 16 clips of 30 frames; contiguous NCHW grouped convs take a slow path. Weights
# are stored channels-last (``.to(device)`` and ``load_state_dict`` keep that layout) and inputs are made
# channels-last in ``forward``.


def random_projections(count: int, shape: Sequence[int], seed: int) -> Tensor:
    """``count`` Gaussian filters of ``shape`` (channels first), each scaled to unit L2 norm."""
    generator = torch.Generator(device="cpu").manual_seed(seed)
    weights = torch.randn(count, *shape, generator=generator, device="cpu")
    weights = weights / weights.flatten(1).norm(dim=1).view(count, *([1] * len(shape)))
    return weights.to(torch.empty(0).device)  # follows a `with torch.device(...)` context (meta in tests)


def _fit(kernel: int, size: int, stride: int, padding: int) -> tuple[int, int]:
    """(kernel, padding) for one axis: the authors' kernel unless it is larger than the padded map."""
    if size + 2 * padding >= kernel:
        return kernel, padding
    return max(1, size + 2 * padding), padding


def _out(size: int, kernel: int, stride: int, padding: int) -> int:
    return (size + 2 * padding - kernel) // stride + 1


def _init_dcgan(module: nn.Module) -> None:
    for m in module.modules():
        if isinstance(m, (nn.Conv2d, nn.Conv3d)):
            nn.init.normal_(m.weight, 0.0, 0.02)
            if m.bias is not None:
                nn.init.zeros_(m.bias)


def minibatch_std(h: Tensor, count: int) -> Tensor:
    """Append to each of the ``count`` groups of ``h`` ``[B, count * w, *spatial]`` one channel holding that
    group's feature standard deviation over the batch, averaged to a scalar (Karras et al. 2018, section 3,
    with the whole batch as the group): a critic can then see that a batch lacks variety."""
    b, spatial = h.shape[0], h.shape[2:]
    groups = h.reshape(b, count, -1, *spatial)
    std = groups.float().std(0, unbiased=False).flatten(1).mean(1).to(h.dtype)  # [count]
    extra = std.view(1, count, 1, *([1] * len(spatial))).expand(b, count, 1, *spatial)
    return torch.cat([groups, extra], dim=2).reshape(b, -1, *spatial)


class _ProjectedCritics(nn.Module):
    """What the frame and video critics share: the projection buffer, the grouped conv body, the head."""

    count: int
    body: nn.Sequential
    head: nn.Module
    use_minibatch_std: bool

    def _start(self, count: int, widths: Sequence[int], minibatch_std: bool, shape: tuple[int, ...], seed: int) -> None:
        """Check the sizes and register the K fixed, never-trained projections (saved in checkpoints)."""
        if count < 1 or not widths:
            raise ValueError("need at least one discriminator and one conv layer")
        self.count, self.use_minibatch_std = count, minibatch_std
        self.register_buffer("projection", random_projections(count, shape, seed))

    def _finish(self, memory_format: torch.memory_format) -> None:
        _init_dcgan(self)
        self.memory_format = memory_format
        self.to(memory_format=memory_format)  # see "Memory format" above (the projection buffer too)

    def _logits(self, projected: Tensor) -> Tensor:
        h = self.body(projected.contiguous(memory_format=self.memory_format))
        if self.use_minibatch_std:
            h = minibatch_std(h, self.count).contiguous(memory_format=self.memory_format)
        return self.head(h).flatten(2).mean(2)


class ProjectedFrameCritics(_ProjectedCritics):
    """K frame discriminators on fixed random projections: ``[B, C, H, W] -> logits [B, K]``.

    ``widths`` are each discriminator's conv widths (the authors': 256, 512, 1024; 10.5M parameters each).
    Layer 0 is 4x4 stride 2 padding 2, the others 4x4 stride 2 padding 1, then a 4x4 stride-1 padding-1
    conv to one logit per position. ``minibatch_std`` (not in the paper) gives that last conv one more
    input channel per critic: the batch's feature spread (see ``minibatch_std``). With it, call the critics
    on real and generated batches separately.
    """

    def __init__(
        self,
        count: int,
        channels: int,
        size: int,
        widths: Sequence[int] = (256, 512, 1024),
        seed: int = 0,
        minibatch_std: bool = False,
    ):
        super().__init__()
        self._start(count, widths, minibatch_std, (channels, 8, 8), seed)
        side = _out(size, 8, 2, 3)
        if side < 1:
            raise ValueError(f"frames of {size}x{size} are too small for the 8x8 projection")
        layers: list[nn.Module] = []
        c_in = 1
        for i, width in enumerate(widths):
            kernel, pad = _fit(4, side, 2, 2 if i == 0 else 1)
            layers += [nn.Conv2d(count * c_in, count * width, kernel, 2, pad, groups=count), nn.LeakyReLU(0.2, True)]
            side = _out(side, kernel, 2, pad)
            c_in = width
        kernel, pad = _fit(4, side, 1, 1)
        self.body = nn.Sequential(*layers)
        self.head = nn.Conv2d(count * (c_in + minibatch_std), count, kernel, 1, pad, groups=count)
        self._finish(torch.channels_last)

    def forward(self, frames: Tensor) -> Tensor:
        projected = nn.functional.conv2d(frames, self.projection.to(frames.dtype), stride=2, padding=3)
        return self._logits(projected)


class ProjectedVideoCritics(_ProjectedCritics):
    """K video discriminators on fixed random projections: ``[B, C, T, H, W] -> logits [B, K]``.

    ``widths`` are each discriminator's 3D conv widths (the authors': 256, 512, 768; 33.6M parameters
    each). All kernels 4x4x4: layer 0 stride 2 padding 1, layer 1 stride (2, 1, 1) padding 1, later layers
    and the output conv stride 1 padding (0, 1, 1). ``minibatch_std`` as for the frame critics.
    """

    def __init__(
        self,
        count: int,
        channels: int,
        frames: int,
        size: int,
        widths: Sequence[int] = (256, 512, 768),
        seed: int = 0,
        minibatch_std: bool = False,
    ):
        super().__init__()
        self._start(count, widths, minibatch_std, (channels, 1, 8, 8), seed)
        t, side = frames, _out(size, 8, 3, 2)
        if side < 1:
            raise ValueError(f"frames of {size}x{size} are too small for the 8x8 projection")
        layers: list[nn.Module] = []
        c_in = 1
        geometry = [((2, 2), (1, 1)), ((2, 1), (1, 1))]  # ((stride_t, stride_s), (pad_t, pad_s)) per layer
        for i, width in enumerate(widths):
            (st, ss), (pt, ps) = geometry[i] if i < len(geometry) else ((1, 1), (0, 1))
            kt, pt = _fit(4, t, st, pt)
            ks, ps = _fit(4, side, ss, ps)
            conv = nn.Conv3d(count * c_in, count * width, (kt, ks, ks), (st, ss, ss), (pt, ps, ps), groups=count)
            layers += [conv, nn.LeakyReLU(0.2, True)]
            t, side, c_in = _out(t, kt, st, pt), _out(side, ks, ss, ps), width
        kt, pt = _fit(4, t, 1, 0)
        ks, ps = _fit(4, side, 1, 1)
        self.body = nn.Sequential(*layers)
        self.head = nn.Conv3d(count * (c_in + minibatch_std), count, (kt, ks, ks), 1, (pt, ps, ps), groups=count)
        self._finish(torch.channels_last_3d)

    def forward(self, video: Tensor) -> Tensor:
        projected = nn.functional.conv3d(video, self.projection.to(video.dtype), stride=(1, 3, 3), padding=(0, 2, 2))
        return self._logits(projected)
