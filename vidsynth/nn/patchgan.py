"""The pix2pix PatchGAN discriminator (Isola et al. 2017, section 3.2.2 and appendix 6.1.2).

It classifies every overlapping N x N patch of its input as real or fake and returns the map of logits;
the loss averages over the map. ``layers = 3`` gives the paper's 70x70 discriminator
(C64-C128-C256-C512, then a 1-channel conv): three stride-2 4x4 convs, one stride-1 4x4 conv with norm, one
stride-1 4x4 conv to one logit per patch, leaky ReLU 0.2, no norm on the first conv (the authors' PyTorch
``NLayerDiscriminator``). For a conditional GAN the caller concatenates the condition and the (real or
generated) output along channels.
"""

from __future__ import annotations

from torch import Tensor, nn

from vidsynth.nn.unet import Norm, init_pix2pix_weights, pix2pix_norm


def patch_receptive_field(layers: int) -> int:
    """Side of the input patch each output logit sees: 70 for 3 layers, 34 for 2, 16 for 1, 142 for 4."""
    strides = [2] * layers + [1, 1]
    field, jump = 1, 1
    for stride in strides:
        field += (4 - 1) * jump
        jump *= stride
    return field


class PatchDiscriminator(nn.Module):
    """``[B, in_channels, H, W] -> logits [B, 1, H', W']`` (one per patch of side ``patch_receptive_field``)."""

    def __init__(
        self,
        in_channels: int,
        base_channels: int = 64,
        layers: int = 3,
        norm: Norm = "batch",
        max_multiplier: int = 8,
    ) -> None:
        super().__init__()
        if layers < 1:
            raise ValueError(f"a PatchGAN needs at least 1 stride-2 layer, got {layers}")
        bias = norm == "instance"
        stack: list[nn.Module] = [nn.Conv2d(in_channels, base_channels, 4, 2, 1), nn.LeakyReLU(0.2, True)]
        width = base_channels
        for n in range(1, layers + 1):
            out = base_channels * min(2**n, max_multiplier)
            stride = 2 if n < layers else 1
            stack += [nn.Conv2d(width, out, 4, stride, 1, bias=bias), pix2pix_norm(norm, out), nn.LeakyReLU(0.2, True)]
            width = out
        stack.append(nn.Conv2d(width, 1, 4, 1, 1))
        self.net = nn.Sequential(*stack)
        self.layers = layers
        init_pix2pix_weights(self)

    @property
    def receptive_field(self) -> int:
        return patch_receptive_field(self.layers)

    def forward(self, x: Tensor) -> Tensor:
        return self.net(x)
