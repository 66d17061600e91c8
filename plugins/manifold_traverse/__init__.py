"""``manifold-traverse``: unconditional video by walking the latent space of a frame GAN, in two phases.

Task ``unconditional``. Phase 1 (steps before ``frame_steps``) trains a frame GAN against random-projection
critics; phase 2 freezes it and trains a bi-LSTM to produce the latent path a video walks.
Paper: J. Monteiro, I. Albuquerque, T. H. Falk, "Generating videos by traversing image manifolds learned
by GANs", 2018, sections 2-3 (authors' code: github.com/belaalb/frameGAN, ``bouncing_balls/``).

The presets, every departure from the paper and the authors' code and why, and measured results:
docs/models/manifold-traverse.md.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import vidsynth
from vidsynth.errors import ConfigError, VidsynthError
from vidsynth.model import ModelConfig, ModelPlugin, Task

PAPER = (
    "Monteiro, Albuquerque, Falk: Generating videos by traversing image manifolds learned by GANs "
    "(2018), sections 2-3"
)


@dataclass
class ManifoldTraverseConfig(ModelConfig):
    """The defaults are the paper's (the ``paper`` preset)."""

    frames: int = 30
    size: int = 30
    channels: int = 1
    batch_size: int = 8  # clips per step: phase 2's batch (and phase 1's pool of frames)
    steps: int = 265_625  # phase 1 + phase 2
    lr: float = 3e-4  # RMSprop, G_F and the frame critics
    fps: float = 8.0
    frame_steps: int = 78_125  # phase 1 length; phase 2 runs from here to `steps`
    frame_batch: int = 64  # frames per phase-1 step, drawn from the batch's clips
    latent: int = 100  # G_F's z
    frame_widths: tuple[int, ...] = (1024, 1024, 512, 256)
    frame_critics: int = 48  # K
    frame_critic_widths: tuple[int, ...] = (256, 512, 1024)
    video_noise: int = 100  # G_V's input
    video_fc: tuple[int, ...] = (512, 1024, 2048)  # then frames * video_features
    video_features: int = 128
    lstm_hidden: int = 128
    lstm_layers: int = 2
    video_head: int = 512
    video_critics: int = 16  # K'
    video_critic_widths: tuple[int, ...] = (256, 512, 768)
    lr_video: float = 2e-4  # RMSprop, G_V and the video critics
    projection_seed: int = 0  # frame projections from this seed, video projections from seed + 1
    minibatch_std: bool = False  # critics also see their feature spread over the batch (not in the paper)
    frame_critic_lr: float | None = None  # RMSprop lr of the frame critics; None: `lr` (the paper)
    video_critic_lr: float | None = None  # RMSprop lr of the video critics; None: `lr_video` (the paper)
    motion_weight: float = 0.0  # phase 2: weight of the motion-energy matching term in G_V's loss (not in the paper)
    diversity_weight: float = 0.0  # phase 2: weight of the mode-seeking term (Mao et al. 2019) in G_V's loss (not in the paper)


SMALL = {
    "frame_steps": 6000,
    "steps": 8400,  # phase 2: 2400 steps
    "frame_widths": (128, 128, 64, 32),
    "frame_critics": 8,
    "frame_critic_widths": (16, 32, 64),
    "frame_critic_lr": 1.5e-3,
    "video_fc": (256, 512, 1024),
    "video_critics": 4,
    "video_critic_widths": (16, 32, 48),
    "minibatch_std": True,
    "motion_weight": 10.0,
}


class ManifoldTraverse(ModelPlugin[ManifoldTraverseConfig]):
    name = "manifold-traverse"
    task = Task.UNCONDITIONAL
    Config = ManifoldTraverseConfig
    presets = {"paper": {}, "small": SMALL}
    default_preset = "small"
    description = "Frame GAN with random-projection critics, then a bi-LSTM that walks its latent space (Monteiro et al. 2018)"
    paper = PAPER
    sample_options = {
        "frames_only": (bool, False, "sample G_F alone: every frame an independent G_F(z), z ~ N(0, I) (no motion)"),
    }

    def check_config(self, config: ManifoldTraverseConfig) -> None:
        super().check_config(config)
        from vidsynth_plugins.manifold_traverse.sizes import check_sizes

        for key in ("frame_batch", "latent", "frame_critics", "video_noise", "video_features", "lstm_hidden",
                    "lstm_layers", "video_head", "video_critics"):
            if getattr(config, key) < 1:
                raise ConfigError(f"config key {key!r} must be >= 1, got {getattr(config, key)}")
        for key in ("motion_weight", "diversity_weight"):
            if getattr(config, key) < 0:
                raise ConfigError(f"config key {key!r} must be >= 0, got {getattr(config, key)}")
        for key in ("lr", "lr_video", "frame_critic_lr", "video_critic_lr"):
            if getattr(config, key) is not None and getattr(config, key) <= 0:
                raise ConfigError(f"config key {key!r} must be > 0, got {getattr(config, key)}")
        if config.frame_steps < 0:
            raise ConfigError(f"config key 'frame_steps' must be >= 0, got {config.frame_steps}")
        for key in ("frame_widths", "frame_critic_widths", "video_critic_widths"):
            widths = getattr(config, key)
            if not widths or min(widths) < 1:
                raise ConfigError(f"config key {key!r} needs at least one width, all >= 1, got {widths}")
        if len(config.frame_widths) < 2:
            raise ConfigError("config key 'frame_widths' needs at least 2 widths (the 2x2 start and one layer)")
        check_sizes(config)

    def build(self, config: ManifoldTraverseConfig) -> dict[str, Any]:
        from vidsynth.nn.projections import ProjectedFrameCritics, ProjectedVideoCritics
        from vidsynth_plugins.manifold_traverse.networks import FrameGenerator, LatentPathGenerator

        c = config
        return {
            "frame_generator": FrameGenerator(c.latent, c.channels, c.size, c.frame_widths),
            "frame_critics": ProjectedFrameCritics(
                c.frame_critics, c.channels, c.size, c.frame_critic_widths, c.projection_seed, c.minibatch_std
            ),
            "video_generator": LatentPathGenerator(
                c.video_noise, c.frames, c.latent, c.video_fc, c.video_features, c.lstm_hidden, c.lstm_layers,
                c.video_head,
            ),
            "video_critics": ProjectedVideoCritics(
                c.video_critics, c.channels, c.frames, c.size, c.video_critic_widths, c.projection_seed + 1,
                c.minibatch_std,
            ),
        }

    def optimizers(self, modules: dict[str, Any], config: ManifoldTraverseConfig) -> dict[str, Any]:
        import torch

        c = config
        lrs = {"frame_generator": c.lr, "frame_critics": c.frame_critic_lr or c.lr,
               "video_generator": c.lr_video, "video_critics": c.video_critic_lr or c.lr_video}
        return {name: torch.optim.RMSprop(modules[name].parameters(), lr=lr) for name, lr in lrs.items()}

    def phase(self, step: int, config: ManifoldTraverseConfig) -> int:
        """1 (frame GAN) for steps before ``frame_steps``, 2 (video generator) from then on."""
        return 1 if step < config.frame_steps else 2

    def train_step(self, ctx: Any, video: Any) -> dict[str, float]:
        from vidsynth_plugins.manifold_traverse.training import frame_phase_step, video_phase_step

        if self.phase(ctx.step, ctx.config) == 1:
            return frame_phase_step(ctx, video)
        return video_phase_step(ctx, video)

    def sample(self, modules: dict[str, Any], config: ManifoldTraverseConfig, condition: Any, n: int, generator: Any,
               frames: int | None = None, mean: bool = False, frames_only: bool = False, **options: Any) -> Any:
        from vidsynth.generate import sample_noise
        from vidsynth_plugins.manifold_traverse.networks import render_video

        length = frames or config.frames
        if frames_only:
            latents = sample_noise((n, length, config.latent), generator, mean=mean)
        else:
            if length > config.frames:
                raise VidsynthError(
                    f"manifold-traverse makes videos of at most {config.frames} frames (its G_V's sequence "
                    f"length), not {length}; use --option frames_only=true for longer frame-GAN samples"
                )
            noise = sample_noise((n, config.video_noise), generator, mean=mean)
            latents = modules["video_generator"](noise)[:, :length]
        return render_video(modules["frame_generator"], latents).clamp(-1, 1)


@vidsynth.hookimpl
def register_models(register):
    register(ManifoldTraverse())
