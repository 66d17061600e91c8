"""The pix2pix U-Net generator (Isola et al. 2017, "Image-to-Image Translation with Conditional Adversarial
Networks", section 3.2.1 and appendix 6.1.1).

An encoder of ``levels`` stride-2 4x4 convolutions (C64-C128-C256-C512-C512-...), a mirrored decoder of
stride-2 4x4 transposed convolutions, and a skip connection from encoder level i to decoder level i (the
two are concatenated along channels), so fine detail does not have to squeeze through the bottleneck.
For an image of side ``2**levels`` the bottleneck is 1x1: 8 levels for 256x256 as in the paper, 6 for
64x64, 5 for 32x32. The layout follows the authors' PyTorch code (junyanz/pytorch-CycleGAN-and-pix2pix,
``UnetGenerator``): leaky ReLU (0.2) before each encoder conv, ReLU before each decoder conv, no norm on the
first encoder conv or on the innermost one, dropout 0.5 on the decoder blocks whose outer width is the
maximum width (three blocks at 8 levels, one at 6, none at 5), normal(0, 0.02) initialisation.
"""

from __future__ import annotations

from typing import Literal

import torch
from torch import Tensor, nn

Norm = Literal["batch", "instance", "none"]


def pix2pix_norm(kind: Norm, channels: int) -> nn.Module:
    """pix2pix's normalisations: ``batch`` (the paper's; with batch size 1 it acts like instance norm),
    ``instance`` (no affine, no running statistics, as the authors' code), ``none``."""
    if kind == "batch":
        return nn.BatchNorm2d(channels)
    if kind == "instance":
        return nn.InstanceNorm2d(channels, affine=False, track_running_stats=False)
    if kind == "none":
        return nn.Identity()
    raise ValueError(f"unknown norm {kind!r}; choose batch, instance or none")


def init_pix2pix_weights(module: nn.Module, std: float = 0.02) -> None:
    """Conv weights ~ N(0, 0.02), biases 0; batch-norm scales ~ N(1, 0.02) (the authors' ``normal`` init)."""
    for m in module.modules():
        if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d)):
            nn.init.normal_(m.weight, 0.0, std)
            if m.bias is not None:
                nn.init.zeros_(m.bias)
        elif isinstance(m, nn.BatchNorm2d):
            nn.init.normal_(m.weight, 1.0, std)
            nn.init.zeros_(m.bias)


class UNet(nn.Module):
    """``[B, in_channels, H, W] -> [B, out_channels, H, W]`` with H and W multiples of ``2**levels``.

    ``final``: ``tanh`` (outputs in [-1, 1], the paper's) or ``none`` (raw values, e.g. for a residual head).
    """

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        levels: int = 8,
        base_channels: int = 64,
        max_channels: int = 512,
        norm: Norm = "batch",
        dropout: float = 0.5,
        final: Literal["tanh", "none"] = "tanh",
    ) -> None:
        super().__init__()
        if levels < 2:
            raise ValueError(f"a U-Net needs at least 2 levels, got {levels}")
        self.levels = levels
        bias = norm == "instance"  # batch norm has its own shift; the authors drop the conv bias then
        widths = [min(base_channels * 2**i, max_channels) for i in range(levels)]
        self.widths = widths

        downs = []
        for i in range(levels):
            layers: list[nn.Module] = []
            if i > 0:
                layers.append(nn.LeakyReLU(0.2, inplace=False))
            c_in = in_channels if i == 0 else widths[i - 1]
            layers.append(nn.Conv2d(c_in, widths[i], 4, 2, 1, bias=bias))
            if 0 < i < levels - 1:
                layers.append(pix2pix_norm(norm, widths[i]))
            downs.append(nn.Sequential(*layers))
        self.downs = nn.ModuleList(downs)

        ups = []
        for i in range(levels):
            c_in = widths[i] if i == levels - 1 else 2 * widths[i]
            layers = [nn.ReLU(inplace=False)]
            if i == 0:
                layers.append(nn.ConvTranspose2d(c_in, out_channels, 4, 2, 1))
                if final == "tanh":
                    layers.append(nn.Tanh())
            else:
                layers.append(nn.ConvTranspose2d(c_in, widths[i - 1], 4, 2, 1, bias=bias))
                layers.append(pix2pix_norm(norm, widths[i - 1]))
                if dropout > 0 and i < levels - 1 and widths[i - 1] == max_channels:
                    layers.append(nn.Dropout(dropout))
            ups.append(nn.Sequential(*layers))
        self.ups = nn.ModuleList(ups)
        init_pix2pix_weights(self)

    @property
    def output_conv(self) -> nn.ConvTranspose2d:
        """The last transposed conv (a residual head zero-initialises it so the net starts at "no change")."""
        return self.ups[0][1]

    def forward(self, x: Tensor) -> Tensor:
        side = 2**self.levels
        if x.shape[-1] % side or x.shape[-2] % side:
            raise ValueError(f"a {self.levels}-level U-Net needs H and W divisible by {side}, got {tuple(x.shape[-2:])}")
        skips = []
        h = x
        for down in self.downs:
            h = down(h)
            skips.append(h)
        for i in range(self.levels - 1, 0, -1):
            h = self.ups[i](h)
            h = torch.cat([skips[i - 1], h], dim=1)
        return self.ups[0](h)
