"""The wgan3d generator (noise, and for ``wgan3d-cond`` one frame, -> video) and critic, built from the
shared 3D-conv stacks in ``vidsynth.nn.video_gan``."""

from __future__ import annotations

import torch
from torch import Tensor, nn

from vidsynth.nn.convlstm import ConvLSTM
from vidsynth.nn.video_gan import FrameEncoder2D, LatentProjection, VideoCritic3D, VideoGenerator3D, with_condition


def condition_index(frames: int, condition: str) -> int:
    """Where the conditioning frame sits in the clip: 0 for ``first``, ``frames // 2`` for ``middle``."""
    return 0 if condition == "first" else frames // 2


def paste_frame(video: Tensor, frame: Tensor, index: int) -> Tensor:
    """``video`` with frame ``index`` replaced by ``frame`` ``[B, C, 1, H, W]`` (out of place, differentiable)."""
    return torch.cat([video[:, :, :index], frame, video[:, :, index + 1 :]], dim=2)


class Generator(nn.Module):
    """``z [B, z_dim]`` (+ ``frame [B, C, 1, H, W]`` when conditional) -> video ``[B, C, T, H, W]`` in [-1, 1].

    ``generator = "conv3d"`` (the paper's): ``LatentProjection`` (the first of the paper's five layers) makes a
    small latent video, ``VideoGenerator3D`` grows it in space and time. Conditional: a ``FrameEncoder2D``
    turns the frame into a second latent of the same size, concatenated with the noise latent along
    channels; with ``skips`` its feature maps also feed the up-layers of the matching resolution.

    ``generator = "recurrent"``: the noise is projected to one latent *map* ``[latent_channels, s0, s0]``
    (conditional: the encoded frame's map beside it); a ConvLSTM stack reads that map at every step and is
    unrolled once per frame, so each frame's state comes from the last one's, and up-layers with stride 1
    in time decode each state to its frame. The generator has to carry every object from frame to frame
    in its state, where the 3D up-layers make all frames at once and can let objects merge and split
    (the length is free too: ``frames`` in ``forward``).

    The conditioning frame is pasted into the output at its index (``paste=True``), so the given frame is
    always exact; ``paste=False`` returns the raw output for the L2 term.
    """

    def __init__(self, config) -> None:
        super().__init__()
        c = config
        self.conditional, self.condition, self.frames = c.conditional, c.condition, c.frames
        self.recurrent = c.generator == "recurrent"
        latent_frames = 1 if self.recurrent else c.latent_frames
        self.project = LatentProjection(c.z_dim, c.latent_channels, latent_frames, c.latent_size, c.g_norm)
        latent_in = c.latent_channels
        skip_channels = None
        if c.conditional:
            self.encoder = FrameEncoder2D(c.channels, c.encoder_widths, c.latent_channels, latent_frames, norm=c.g_norm)
            latent_in += c.latent_channels
            if c.skips:
                # up-layer k reads the encoder map of its input resolution: the encoder's maps reversed
                skip_channels = [0] + list(reversed(c.encoder_widths))[1:]
        if self.recurrent:
            self.lstm = ConvLSTM(latent_in, c.lstm_channels, c.lstm_layers, c.lstm_kernel)
            latent_in = c.lstm_channels
        self.video = VideoGenerator3D(
            latent_in, c.g_widths, c.channels, latent_frames, 1 if self.recurrent else c.frames, norm=c.g_norm,
            skip_channels=skip_channels, upsample=c.g_upsample,
        )

    def forward(self, z: Tensor, frame: Tensor | None = None, paste: bool = True, frames: int | None = None) -> Tensor:
        frames = self.frames if frames is None else frames
        if frames != self.frames and not self.recurrent:
            raise ValueError(f"a conv3d generator makes exactly {self.frames} frames, not {frames}")
        latent = self.project(z)
        skips = None
        if self.conditional:
            if frame is None:
                raise ValueError("the conditional generator needs a frame [B, C, 1, H, W]")
            code, features = self.encoder(frame[:, :, 0])
            latent = torch.cat([latent, code], dim=1)
            skips = [None] + list(reversed(features))[1:]
        if self.recurrent:
            latent, _ = self.lstm.unroll(latent[:, :, 0], frames)
        video = self.video(latent, skips)
        if not self.conditional or not paste:
            return video
        return paste_frame(video, frame, condition_index(frames, self.condition))


class Critic(nn.Module):
    """Video (+ the conditioning frame, concatenated along channels to every frame) -> one score per clip."""

    def __init__(self, config) -> None:
        super().__init__()
        c = config
        self.conditional = c.conditional
        cin = 2 * c.channels if c.conditional else c.channels
        self.net = VideoCritic3D(cin, c.d_widths, c.frames, c.size, norm=c.d_norm)

    def forward(self, video: Tensor, frame: Tensor | None = None) -> Tensor:
        if self.conditional:
            if frame is None:
                raise ValueError("the conditional critic needs the conditioning frame [B, C, 1, H, W]")
            video = with_condition(video, frame)
        return self.net(video)
