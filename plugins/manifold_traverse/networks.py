"""The two generators of Monteiro et al. 2018: G_F draws one frame from a latent z, G_V draws the sequence of latents
a video walks through. (The random-projection discriminators are shared blocks: vidsynth.nn.projections.)
"""

from __future__ import annotations

from typing import Sequence

import torch
from torch import Tensor, nn

from vidsynth_plugins.manifold_traverse.sizes import frame_generator_padding


class FrameGenerator(nn.Module):
    """G_F, DCGAN-like: ``z [B, latent] -> frame [B, channels, size, size]`` in [-1, 1].

    The authors' layout (belaalb/frameGAN ``frames_generator``): Linear(latent, 2*2*w0) + BatchNorm + ReLU,
    then 4x4 stride-2 transposed convs to ``widths[1:]`` each with BatchNorm + ReLU, then a 4x4 stride-2
    transposed conv to the image and tanh; normal(0, 0.02) init. Paper widths (1024, 1024, 512, 256) and
    30x30 output.
    """

    def __init__(self, latent: int, channels: int, size: int, widths: Sequence[int] = (1024, 1024, 512, 256)):
        super().__init__()
        self.latent = latent
        self.first = widths[0]
        self.linear = nn.Sequential(nn.Linear(latent, 4 * widths[0]), nn.BatchNorm1d(4 * widths[0]), nn.ReLU(True))
        layers: list[nn.Module] = []
        for c_in, c_out in zip(widths[:-1], widths[1:]):
            layers += [nn.ConvTranspose2d(c_in, c_out, 4, 2, 1), nn.BatchNorm2d(c_out), nn.ReLU(True)]
        padding = frame_generator_padding(size, len(widths) - 1)
        layers += [nn.ConvTranspose2d(widths[-1], channels, 4, 2, padding), nn.Tanh()]
        self.convs = nn.Sequential(*layers)
        for m in self.modules():
            if isinstance(m, (nn.Linear, nn.ConvTranspose2d)):
                nn.init.normal_(m.weight, 0.0, 0.02)
                nn.init.zeros_(m.bias)
        # Channels-last transposed convs run ~3x faster on CPU (oneDNN) at phase 1's batch of 64 frames.
        self.convs.to(memory_format=torch.channels_last)

    def forward(self, z: Tensor) -> Tensor:
        h = self.linear(z).view(z.shape[0], self.first, 2, 2)
        return self.convs(h.contiguous(memory_format=torch.channels_last)).contiguous()


class LatentPathGenerator(nn.Module):
    """G_V: ``noise [B, noise] -> latents [B, frames, latent]`` in (-1, 1), one G_F latent per frame.

    Paper: FC[100 x 512 x 1024 x 2048 x 3840] (each Linear without bias + BatchNorm + ReLU, as the authors'
    code) -> reshape to a sequence of ``frames`` x ``features`` (30 x 128) -> two-layer bidirectional LSTM
    (128 per direction, so 30 x 256) -> FC[512, 100] with tanh. The reshape keeps the batch axis first:
    the authors' ``x.view(30, batch, -1)`` on a ``[batch, 3840]`` tensor mixes batch items across time.
    """

    def __init__(
        self,
        noise: int,
        frames: int,
        latent: int,
        fc: Sequence[int] = (512, 1024, 2048),
        features: int = 128,
        hidden: int = 128,
        lstm_layers: int = 2,
        head: int = 512,
    ):
        super().__init__()
        self.frames, self.features, self.noise = frames, features, noise
        widths = [noise, *fc, frames * features]
        layers: list[nn.Module] = []
        for c_in, c_out in zip(widths[:-1], widths[1:]):
            layers += [nn.Linear(c_in, c_out, bias=False), nn.BatchNorm1d(c_out), nn.ReLU(True)]
        self.encode = nn.Sequential(*layers)
        self.lstm = nn.LSTM(features, hidden, lstm_layers, batch_first=True, bidirectional=True)
        self.head = nn.Sequential(nn.Linear(2 * hidden, head), nn.ReLU(True), nn.Linear(head, latent), nn.Tanh())

    def forward(self, noise: Tensor) -> Tensor:
        sequence = self.encode(noise).view(noise.shape[0], self.frames, self.features)
        states, _ = self.lstm(sequence)
        return self.head(states)


def render_video(frame_generator: nn.Module, latents: Tensor) -> Tensor:
    """G_F applied to every latent of ``[B, T, latent]``: the video ``[B, C, T, H, W]``."""
    b, t, _ = latents.shape
    frames = frame_generator(latents.reshape(b * t, -1))
    return frames.reshape(b, t, *frames.shape[1:]).transpose(1, 2)
