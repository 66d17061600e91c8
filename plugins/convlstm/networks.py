"""The convlstm generator (one frame + noise -> video, unrolled with a ConvLSTM) and its 3D-conv critic."""

from __future__ import annotations

import torch
from torch import Tensor, nn

from vidsynth.nn.convlstm import ConvLSTM
from vidsynth.nn.video_gan import FrameEncoder2D, VideoCritic3D, VideoGenerator3D


class Generator(nn.Module):
    """``frame [B, C, 1, H, W]`` + ``z [B, z_dim]`` -> video ``[B, C, T, H, W]`` whose frame 0 is ``frame``.

    1. A 2D encoder (stride-2 convs) maps the frame to a code map ``[code_channels, s, s]`` (s = H / 2^k);
       a linear layer maps the noise to ``[noise_channels, s, s]``; the two are concatenated.
    2. A stack of ConvLSTM layers reads that map at every step and is stepped ``T - 1`` times: the clip's
       time axis is grown by the recurrence, one hidden map per future frame.
    3. Transposed 3D convs (stride 1 in time, kernel 3, so neighbouring frames mix; stride 2 in space)
       upscale the hidden maps to frames; with ``skips`` the encoder's maps of the same resolution are
       concatenated (repeated over time) so the photo's appearance need not pass through the recurrence.
    4. The given frame is prepended as frame 0, so the first frame always matches the input exactly.

    The recurrence makes the length free: ``forward(..., frames=T)`` works for any ``T >= 2``.
    """

    def __init__(self, config) -> None:
        super().__init__()
        c = config
        self.skips = c.skips
        self.side = c.size // 2 ** len(c.encoder_widths)
        self.encoder = FrameEncoder2D(c.channels, c.encoder_widths, c.code_channels, 1, norm=c.g_norm)
        self.noise = nn.Linear(c.z_dim, c.noise_channels * self.side * self.side)
        self.noise_channels = c.noise_channels
        self.lstm = ConvLSTM(c.code_channels + c.noise_channels, c.lstm_channels, c.lstm_layers, c.lstm_kernel)
        skip_channels = [0] + list(reversed(c.encoder_widths))[1:] if c.skips else None
        # lengths 1 -> 1: every up-layer has stride 1 in time, so the decoder takes clips of any length
        self.decoder = VideoGenerator3D(
            c.lstm_channels, c.decoder_widths, c.channels, 1, 1, norm=c.g_norm, skip_channels=skip_channels
        )

    def forward(self, frame: Tensor, z: Tensor, frames: int) -> Tensor:
        if frames < 2:
            raise ValueError(f"a video needs at least 2 frames, got {frames}")
        code, features = self.encoder(frame[:, :, 0])
        noise = self.noise(z).view(z.shape[0], self.noise_channels, self.side, self.side)
        x = torch.cat([code[:, :, 0], noise], dim=1)
        hidden, _ = self.lstm.unroll(x, frames - 1)  # the same numbers as stepping the stack frames - 1 times
        skips = [None] + list(reversed(features))[1:] if self.skips else None
        future = self.decoder(hidden, skips)
        return torch.cat([frame, future], dim=2)


class Critic(nn.Module):
    """Five (paper) stride-2 3D convolutions + a linear score, on the whole clip: frame 0 is the given frame,
    so the critic judges the continuation *of that frame* without a separate condition input."""

    def __init__(self, config) -> None:
        super().__init__()
        c = config
        self.net = VideoCritic3D(c.channels, c.d_widths, c.frames, c.size, norm=c.d_norm)

    def forward(self, video: Tensor) -> Tensor:
        return self.net(video)
