"""3D-convolutional video GAN stacks: a generator of stride-2 transposed 3D convolutions, a critic of stride-2
3D convolutions, and a 2D encoder that turns a conditioning frame into the generator's latent (plus skip
features). The layout follows Vondrick et al. 2016 and github.com/bernhard2202/improved-video-gan: the latent
is a small video ``[C0, t0, s0, s0]`` (2x4x4 in the papers) that each layer doubles in space and, until the
clip length is reached, in time.

Every class works for any size that is ``s0 * 2^k`` and any length ``t0 * 2^j`` with ``j <= k``: layers past
the temporal target use stride 1 in time (kernel 3, padding 1) and keep doubling in space.
"""

from __future__ import annotations

import math
from typing import Literal, Sequence

import torch
from torch import Tensor, nn

Norm = Literal["batch", "layer", "frame", "pixel", "none"]


class PixelNorm(nn.Module):
    """Scale each position's feature vector to unit RMS over channels (Karras et al. 2018, ProGAN's generator
    with WGAN-GP): per sample and without running statistics, so an EMA copy of the weights needs none."""

    def __init__(self, eps: float = 1e-8):
        super().__init__()
        self.eps = eps

    def forward(self, x: Tensor) -> Tensor:
        return x * torch.rsqrt(x.pow(2).mean(dim=1, keepdim=True) + self.eps)


class FrameLayerNorm(nn.GroupNorm):
    """LayerNorm of each frame of ``[B, C, T, H, W]`` on its own (over C, H, W; per-channel affine): unlike a
    norm over the whole clip, frame t does not depend on later frames, so a recurrent generator stays
    causal and its first frames do not change when it is asked for a longer clip."""

    def __init__(self, channels: int):
        super().__init__(1, channels)

    def forward(self, x: Tensor) -> Tensor:
        if x.dim() != 5:
            return super().forward(x)
        b, c, t, h, w = x.shape
        frames = x.transpose(1, 2).reshape(b * t, c, h, w)
        return super().forward(frames).view(b, t, c, h, w).transpose(1, 2)


def _norm(kind: Norm, channels: int, dims: int) -> nn.Module:
    if kind == "batch":
        return nn.BatchNorm3d(channels) if dims == 3 else nn.BatchNorm2d(channels)
    if kind == "layer":
        return nn.GroupNorm(1, channels)
    if kind == "frame":
        return FrameLayerNorm(channels) if dims == 3 else nn.GroupNorm(1, channels)
    if kind == "pixel":
        return PixelNorm()
    if kind == "none":
        return nn.Identity()
    raise ValueError(f"unknown norm {kind!r}; choose batch, layer, frame, pixel or none")


def norm3d(kind: Norm, channels: int) -> nn.Module:
    """``batch``: BatchNorm3d; ``layer``: LayerNorm over (C, T, H, W) per sample with a per-channel affine,
    i.e. ``GroupNorm(1, C)`` (what improved-video-gan's TF ``layer_norm`` computes); ``frame``: the same per
    frame (``FrameLayerNorm``); ``pixel``: PixelNorm; ``none``: identity. A WGAN-GP critic must not use batch norm: the penalty is per sample and batch norm
    couples samples. Batch norm's running statistics also follow the live weights, not an EMA copy of them."""
    return _norm(kind, channels, 3)


def norm2d(kind: Norm, channels: int) -> nn.Module:
    """The 2D counterpart of ``norm3d`` (for frame encoders)."""
    return _norm(kind, channels, 2)


def doublings(start: int, stop: int, what: str) -> int:
    """How many times ``start`` doubles to reach ``stop``; a ValueError naming ``what`` if it never does."""
    ratio = stop / start
    k = round(math.log2(ratio)) if ratio >= 1 else -1
    if k < 0 or start * 2**k != stop:
        raise ValueError(f"{what} must be {start} times a power of two, got {stop}")
    return k


def _time_kernel(stride: int) -> tuple[int, int]:
    """(kernel, padding) along time: 4/1 doubles or halves with stride 2, 3/1 keeps the length with stride 1."""
    return (4, 1) if stride == 2 else (3, 1)


Upsample = Literal["transposed", "resize"]


def up_conv(cin: int, cout: int, time_stride: int, upsample: Upsample = "transposed", bias: bool = True) -> nn.Module:
    """Double the frame size (and the length when ``time_stride`` is 2) while mapping ``cin`` to ``cout``
    channels: ``transposed``, a 4x4(x4) transposed 3D conv (Vondrick et al. 2016, the papers' layer), or
    ``resize``, nearest-neighbour upsampling then a 3x3x3 conv: every output pixel is made by the same
    weights, so it has no way to make the checkerboard patterns that transposed convolutions are prone to,
    even with a kernel divisible by the stride (Odena, Dumoulin, Olah 2016, "Deconvolution and
    Checkerboard Artifacts", Distill). It has 27/64 of the weights and about 3.4x the multiply-adds."""
    if upsample == "resize":
        return nn.Sequential(
            nn.Upsample(scale_factor=(time_stride, 2, 2), mode="nearest"), nn.Conv3d(cin, cout, 3, 1, 1, bias=bias)
        )
    if upsample != "transposed":
        raise ValueError(f"unknown upsample {upsample!r}; choose transposed or resize")
    kt, pt = _time_kernel(time_stride)
    return nn.ConvTranspose3d(cin, cout, (kt, 4, 4), (time_stride, 2, 2), (pt, 1, 1), bias=bias)


class UpBlock3D(nn.Sequential):
    """``up_conv`` (stride 2 in space; stride 2 or 1 in time) + norm + ReLU."""

    def __init__(self, cin: int, cout: int, time_stride: int, norm: Norm = "batch", upsample: Upsample = "transposed"):
        super().__init__(
            up_conv(cin, cout, time_stride, upsample, bias=norm in ("none", "pixel")),
            norm3d(norm, cout),
            nn.ReLU(inplace=True),
        )


class LatentProjection(nn.Module):
    """Noise ``[B, z_dim]`` -> latent video ``[B, C0, t0, s0, s0]``: a linear layer, then norm + ReLU
    (improved-video-gan's first layer; the first of the paper's "five layers")."""

    def __init__(self, z_dim: int, channels: int, frames: int, size: int, norm: Norm = "batch"):
        super().__init__()
        self.shape = (channels, frames, size, size)
        self.linear = nn.Linear(z_dim, channels * frames * size * size, bias=norm in ("none", "pixel"))
        self.norm = norm3d(norm, channels)
        self.act = nn.ReLU(inplace=True)

    def forward(self, z: Tensor) -> Tensor:
        return self.act(self.norm(self.linear(z).view(z.shape[0], *self.shape)))


class VideoGenerator3D(nn.Module):
    """Latent video ``[B, C0, t0, s0, s0]`` -> video ``[B, C, T, S, S]`` in [-1, 1] (tanh).

    ``widths`` are the channels after each hidden up-block; one more transposed conv (no norm) maps to
    ``out_channels``, so there are ``len(widths) + 1`` up-layers and ``S = s0 * 2^(len(widths) + 1)``.
    ``skip_channels[k]`` (optional) is the width of a 2D feature map ``[B, c, s, s]`` concatenated, repeated
    over time, to the input of up-layer ``k`` (0 = the latent itself): U-Net-style skips from a frame encoder.
    ``upsample``: how each up-layer doubles the size (``up_conv``).
    """

    def __init__(
        self,
        latent_channels: int,
        widths: Sequence[int],
        out_channels: int,
        latent_frames: int,
        frames: int,
        norm: Norm = "batch",
        skip_channels: Sequence[int] | None = None,
        upsample: Upsample = "transposed",
    ):
        super().__init__()
        layers = len(widths) + 1
        time_doublings = doublings(latent_frames, frames, "frames")
        if time_doublings > layers:
            raise ValueError(f"{layers} up-layers cannot grow {latent_frames} latent frames to {frames}")
        strides = [2] * time_doublings + [1] * (layers - time_doublings)
        skips = list(skip_channels) if skip_channels is not None else [0] * layers
        if len(skips) != layers:
            raise ValueError(f"skip_channels needs one entry per up-layer ({layers}), got {len(skips)}")
        ins = [latent_channels] + list(widths)
        self.skip_channels = skips
        self.blocks = nn.ModuleList(
            UpBlock3D(cin + skip, cout, stride, norm, upsample)
            for cin, skip, cout, stride in zip(ins, skips, widths, strides)
        )
        self.to_video = up_conv(ins[-1] + skips[-1], out_channels, strides[-1], upsample)

    def forward(self, latent: Tensor, skips: Sequence[Tensor | None] | None = None) -> Tensor:
        x = latent
        layers = list(self.blocks) + [self.to_video]
        for k, layer in enumerate(layers):
            if self.skip_channels[k]:
                if skips is None or skips[k] is None:
                    raise ValueError(f"up-layer {k} expects a skip feature map with {self.skip_channels[k]} channels")
                x = torch.cat([x, skips[k].unsqueeze(2).expand(-1, -1, x.shape[2], -1, -1)], dim=1)
            x = layer(x)
        return torch.tanh(x)


class VideoCritic3D(nn.Module):
    """Video ``[B, C, T, H, W]`` -> one score per sample ``[B]``.

    ``len(widths)`` blocks of 4x4x4 stride-2 3D conv + norm + leaky ReLU(0.2) (stride 1, kernel 3 in time once
    the clip is one frame long), then one more 4x4x4 stride-2 conv to a single channel and a linear layer over
    what is left of the map, as in improved-video-gan. ``norm="layer"`` (default) suits WGAN-GP; ``"batch"``
    is the (Re)Live Photos poster's choice and is only valid with weight clipping or a non-Wasserstein loss.
    """

    def __init__(self, in_channels: int, widths: Sequence[int], frames: int, size: int, norm: Norm = "layer"):
        super().__init__()
        layers: list[nn.Module] = []
        t, s, cin = frames, size, in_channels
        for cout in widths:
            stride = 2 if t >= 2 else 1
            kt, pt = _time_kernel(stride)
            layers += [
                nn.Conv3d(cin, cout, (kt, 4, 4), (stride, 2, 2), (pt, 1, 1), bias=norm != "batch"),
                norm3d(norm, cout),
                nn.LeakyReLU(0.2, inplace=True),
            ]
            t, s, cin = (t // 2 if stride == 2 else t), s // 2, cout
            if s < 2:
                raise ValueError(f"frame size {size} is too small for {len(widths)} critic layers")
        stride = 2 if t >= 2 else 1
        kt, pt = _time_kernel(stride)
        layers.append(nn.Conv3d(cin, 1, (kt, 4, 4), (stride, 2, 2), (pt, 1, 1)))
        t, s = (t // 2 if stride == 2 else t), s // 2
        self.features = nn.Sequential(*layers)
        self.score = nn.Linear(t * s * s, 1)

    def forward(self, video: Tensor) -> Tensor:
        return self.score(self.features(video).flatten(1)).squeeze(1)


def down_blocks2d(
    in_channels: int, widths: Sequence[int], norm: Norm = "batch", bias_under_layer_norm: bool = False
) -> list[nn.Sequential]:
    """One block per width, each halving the frame: 4x4 stride-2 conv + norm + leaky ReLU(0.2), no norm on the
    first block (DCGAN practice). The conv has a bias where no norm follows it, and also before a per-sample
    norm with ``bias_under_layer_norm`` (a LayerNorm over all channels keeps per-channel offsets)."""
    ins = [in_channels] + list(widths[:-1])
    keeps_bias = norm in ("none", "pixel") or (bias_under_layer_norm and norm != "batch")
    return [
        nn.Sequential(
            nn.Conv2d(cin, cout, 4, 2, 1, bias=keeps_bias or k == 0),
            norm2d(norm, cout) if k > 0 else nn.Identity(),
            nn.LeakyReLU(0.2, inplace=True),
        )
        for k, (cin, cout) in enumerate(zip(ins, widths))
    ]


class FrameEncoder2D(nn.Module):
    """A conditioning frame ``[B, C, S, S]`` -> latent video ``[B, C0, t0, s0, s0]`` and skip features.

    ``len(widths)`` stride-2 4x4 convs (+ norm + leaky ReLU) take the frame from ``S`` to ``s0``, then a 3x3 conv
    maps to ``C0 * t0`` channels, reshaped into ``t0`` latent frames (improved-video-gan's "future" model
    reshapes its 4x4x1024 code into 2x4x4x512 the same way). ``forward`` also returns the feature map of each
    resolution, finest first, for a generator's skips.
    """

    def __init__(
        self, in_channels: int, widths: Sequence[int], latent_channels: int, latent_frames: int, norm: Norm = "batch"
    ):
        super().__init__()
        self.latent_channels, self.latent_frames = latent_channels, latent_frames
        self.downs = nn.ModuleList(down_blocks2d(in_channels, widths, norm))
        self.to_latent = nn.Conv2d(widths[-1], latent_channels * latent_frames, 3, 1, 1)
        self.widths = list(widths)

    def forward(self, frame: Tensor) -> tuple[Tensor, list[Tensor]]:
        features = []
        x = frame
        for down in self.downs:
            x = down(x)
            features.append(x)
        code = self.to_latent(x)
        b, _, s, _ = code.shape
        latent = code.view(b, self.latent_channels, self.latent_frames, s, s)
        return latent, features


def with_condition(video: Tensor, frame: Tensor) -> Tensor:
    """Concatenate a conditioning frame ``[B, C, 1, H, W]`` (or ``[B, C, H, W]``) to every frame of ``video``
    along channels: ``[B, 2C, T, H, W]``, how a conditional critic sees the frame beside the clip."""
    if frame.dim() == 4:
        frame = frame.unsqueeze(2)
    return torch.cat([video, frame.expand(-1, -1, video.shape[2], -1, -1)], dim=1)


class FrameCritic2D(nn.Module):
    """Single frames ``[N, C, S, S]`` -> one score per frame ``[N]``: a per-frame (spatial) critic beside a
    video critic, so that every frame must look like a real frame on its own.

    DVD-GAN's spatial discriminator (Clark, Donahue, Simonyan 2019, "Adversarial Video Generation on Complex
    Datasets", section 3) scores k random frames of each clip; MoCoGAN's image discriminator (Tulyakov et al.
    2018) does the same. A 3D critic judges the clip as a whole and can be content with blobs that merge
    and split, since its scores average over time; this one sees each frame alone. ``len(widths)`` blocks of
    ``down_blocks2d`` (4x4 stride-2 conv + norm, none on the first, + leaky ReLU 0.2), then a 4x4 stride-2 conv
    to one channel and a linear layer over the remaining map, the 2D twin of ``VideoCritic3D``.
    """

    def __init__(self, in_channels: int, widths: Sequence[int], size: int, norm: Norm = "layer"):
        super().__init__()
        s = size >> len(widths)  # the map left after the blocks
        if s < 2:
            raise ValueError(f"frame size {size} is too small for {len(widths)} frame-critic layers")
        layers = [layer for block in down_blocks2d(in_channels, widths, norm, True) for layer in block]
        self.features = nn.Sequential(*layers, nn.Conv2d(widths[-1], 1, 4, 2, 1))
        self.score = nn.Linear((s // 2) ** 2, 1)

    def forward(self, frames: Tensor) -> Tensor:
        return self.score(self.features(frames).flatten(1)).squeeze(1)


def pick_frames(video: Tensor, k: int, index: Tensor | None = None) -> tuple[Tensor, Tensor]:
    """``k`` frames of each clip of ``video [B, C, T, H, W]`` as a batch of single frames ``[B*k, C, H, W]``,
    and the ``[B, k]`` frame indices used (drawn at random without repetition unless ``index`` is given, so
    the same frames of another batch can be picked). ``k >= T`` takes every frame."""
    b, c, t, h, w = video.shape
    if index is None:
        index = torch.arange(t, device=video.device).expand(b, t) if k >= t else \
            torch.rand(b, t, device=video.device).argsort(dim=1)[:, :k]
    picked = video.transpose(1, 2).gather(1, index[:, :, None, None, None].expand(-1, -1, c, h, w))
    return picked.reshape(-1, c, h, w), index
