"""The optional per-frame critic of the video GANs (``wgan3d``, ``wgan3d-cond``, ``convlstm``): config
checks and module building shared by their plugins. This module imports no torch at import time (config
checks run when plugins register); the network is ``vidsynth.nn.video_gan.FrameCritic2D`` and its update
``vidsynth.nn.wgan.frame_critic_update``.

A plugin's config carries ``frame_critic_weight`` (0 = no frame critic, the papers' setting),
``frame_critic_widths``, ``frame_critic_frames`` and the ``size``, ``channels``, ``gp_weight`` it shares.
"""

from __future__ import annotations

from typing import Any

from vidsynth.errors import ConfigError


def check_frame_critic(config: Any) -> None:
    """A one-line ConfigError for frame-critic settings that cannot work."""
    c = config
    if c.frame_critic_weight < 0:
        raise ConfigError(f"frame_critic_weight must be >= 0, got {c.frame_critic_weight}")
    if c.frame_critic_weight == 0:
        return
    if c.frame_critic_frames < 1:
        raise ConfigError(f"frame_critic_frames must be >= 1, got {c.frame_critic_frames}")
    if not c.frame_critic_widths or min(c.frame_critic_widths) < 1:
        raise ConfigError("frame_critic_widths needs at least one positive width")
    if c.size < 2 ** (len(c.frame_critic_widths) + 1):
        raise ConfigError(
            f"size {c.size} is too small for a frame critic of {len(c.frame_critic_widths) + 1} stride-2 convolutions"
        )


def frame_critic_modules(config: Any) -> dict[str, Any]:
    """``{"frame_critic": FrameCritic2D}`` when ``frame_critic_weight > 0``, else ``{}`` (checkpoints of
    models trained without one stay as they were)."""
    if config.frame_critic_weight <= 0:
        return {}
    from vidsynth.nn.video_gan import FrameCritic2D

    return {"frame_critic": FrameCritic2D(config.channels, config.frame_critic_widths, config.size)}
