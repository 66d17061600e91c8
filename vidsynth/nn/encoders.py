"""Encoders of Penington et al. 2019 (Table 1), shared by the ``cvae`` and ``cgan`` plugins.

* ``ImageEncoder`` — 4 Conv2D (kernels 4, 3, 4, 3; strides 2, 1, 2, 1) + 2 Linear: a keyframe -> a code
  vector ``E_I(x)``. The CVAE's encoder and generator and the CGAN's generator condition on it.
* ``VideoConvTrunk`` — 4 Conv3D with kernel (3, 4, 4) and stride (1, 2, 2): a video -> a feature map of
  ``[widths[-1], T, H/16, W/16]``. It is the body of the CVAE's video encoder and of the CGAN's discriminator.
* ``VideoEncoder`` — the trunk, flattened, optionally concatenated with a vector (the two image codes in
  the CVAE), then Linear -> hidden -> Linear -> ``out_dim`` (``2 x z_dim`` for the CVAE's Gaussian,
  1 logit for the CGAN's discriminator).

Padding follows TensorFlow's "same" rule the paper states for every layer: with the strides above and a
size divisible by 4 (image) or 16 (video) it is symmetric, so plain ``padding=1`` reproduces it.
Activations and normalisation are not in Table 1; they are arguments here (``act``: ``relu`` or ``leaky``,
``norm``: ``none`` or ``batch``) and each plugin states its choice.
"""

from __future__ import annotations

from typing import Sequence

import torch
from torch import Tensor, nn


def activation(name: str) -> nn.Module:
    """``relu`` (the CVAE's) or ``leaky`` (leaky ReLU, slope 0.2, the CGAN's per section 6)."""
    if name == "relu":
        return nn.ReLU(inplace=True)
    if name == "leaky":
        return nn.LeakyReLU(0.2, inplace=True)
    raise ValueError(f"unknown activation {name!r} (relu or leaky)")


def _norm(kind: str, channels: int, dims: int) -> nn.Module:
    if kind == "none":
        return nn.Identity()
    if kind == "batch":
        return nn.BatchNorm2d(channels) if dims == 2 else nn.BatchNorm3d(channels)
    raise ValueError(f"unknown normalisation {kind!r} (none or batch)")


class ImageEncoder(nn.Module):
    """One frame ``[B, C, H, W]`` -> a code ``[B, out_dim]`` (Table 1, "Image Encoder").

    Table 1: Conv2D(16, k4, s2), Conv2D(32, k3, s1), Conv2D(64, k4, s2), Conv2D(128, k3, s1),
    Linear(256), Linear(1000). ``widths``/``hidden``/``out_dim`` scale it down for small presets.
    """

    kernels = (4, 3, 4, 3)
    strides = (2, 1, 2, 1)

    def __init__(
        self,
        channels: int,
        size: int,
        widths: Sequence[int] = (16, 32, 64, 128),
        hidden: int = 256,
        out_dim: int = 1000,
        act: str = "relu",
        norm: str = "none",
    ) -> None:
        super().__init__()
        if len(widths) != 4:
            raise ValueError(f"ImageEncoder takes 4 conv widths, got {tuple(widths)}")
        if size % 4:
            raise ValueError(f"ImageEncoder needs a size divisible by 4, got {size}")
        layers: list[nn.Module] = []
        c_in = channels
        for i, (c_out, k, s) in enumerate(zip(widths, self.kernels, self.strides)):
            layers += [nn.Conv2d(c_in, c_out, k, s, padding=1, bias=norm == "none" or i == 0)]
            if i > 0:  # no normalisation on the first layer, as in DCGAN-style encoders
                layers += [_norm(norm, c_out, 2)]
            layers += [activation(act)]
            c_in = c_out
        self.convs = nn.Sequential(*layers)
        flat = widths[-1] * (size // 4) ** 2
        self.fc = nn.Sequential(nn.Linear(flat, hidden), activation(act), nn.Linear(hidden, out_dim))
        self.out_dim = out_dim

    def forward(self, image: Tensor) -> Tensor:
        return self.fc(self.convs(image).flatten(1))


class VideoConvTrunk(nn.Module):
    """A video ``[B, C, T, H, W]`` -> features ``[B, widths[-1], T, H/16, W/16]`` (4 Conv3D of Table 1).

    Table 1: Conv3D(64), Conv3D(128), Conv3D(256), Conv3D(512), each kernel (3, 4, 4), stride (1, 2, 2).
    """

    def __init__(
        self, channels: int, widths: Sequence[int] = (64, 128, 256, 512), act: str = "relu", norm: str = "none"
    ) -> None:
        super().__init__()
        layers: list[nn.Module] = []
        c_in = channels
        for i, c_out in enumerate(widths):
            layers += [nn.Conv3d(c_in, c_out, (3, 4, 4), (1, 2, 2), padding=1, bias=norm == "none" or i == 0)]
            if i > 0:
                layers += [_norm(norm, c_out, 3)]
            layers += [activation(act)]
            c_in = c_out
        self.body = nn.Sequential(*layers)
        self.out_channels = widths[-1] if widths else channels
        self.downsample = 2 ** len(widths)

    def output_size(self, frames: int, size: int) -> int:
        """How many numbers the flattened feature map of a ``frames x size x size`` video holds."""
        side = size // self.downsample
        return self.out_channels * frames * side * side

    def forward(self, video: Tensor) -> Tensor:
        return self.body(video)


class VideoEncoder(nn.Module):
    """Trunk -> flatten -> [concat ``extra``] -> Linear(hidden) -> act -> Linear(out_dim).

    The CVAE's video encoder (``extra_dim`` = 2 image codes, ``out_dim`` = 2 x z_dim: mean and the
    pre-softplus scale) and the CGAN's discriminator (``extra_dim`` = 0, ``out_dim`` = 1 logit).
    """

    def __init__(
        self,
        channels: int,
        frames: int,
        size: int,
        widths: Sequence[int] = (64, 128, 256, 512),
        extra_dim: int = 0,
        hidden: int = 1024,
        out_dim: int = 1200,
        act: str = "relu",
        norm: str = "none",
    ) -> None:
        super().__init__()
        if size % (2 ** len(widths)):
            raise ValueError(f"VideoEncoder needs a size divisible by {2 ** len(widths)}, got {size}")
        self.trunk = VideoConvTrunk(channels, widths, act, norm)
        self.extra_dim = extra_dim
        self.fc = nn.Sequential(
            nn.Linear(self.trunk.output_size(frames, size) + extra_dim, hidden),
            activation(act),
            nn.Linear(hidden, out_dim),
        )

    def forward(self, video: Tensor, extra: Tensor | None = None) -> Tensor:
        features = self.trunk(video).flatten(1)
        if self.extra_dim:
            if extra is None:
                raise ValueError("this VideoEncoder concatenates an extra vector; pass extra=")
            features = torch.cat([features, extra], dim=1)
        return self.fc(features)
