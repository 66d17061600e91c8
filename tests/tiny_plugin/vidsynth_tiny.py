"""``vidsynth_tiny``: two tiny but real model plugins, registered like a third-party package would be.

* ``tiny`` (task ``unconditional``): a GAN. The generator maps a latent vector through a linear layer and a
  3D convolution to a ``[C, T, H, W]`` clip; the critic is a strided 3D convolution and a linear layer.
  Non-saturating GAN loss, one critic and one generator update per step (two optimizers), EMA of the
  generator when ``config.ema > 0``. Sample option ``temperature`` scales the latent noise.
* ``tiny-keyframes`` (task ``keyframes``): a cross-fade between the two keyframes refined by a two-layer
  3D convolution (fed a noise channel), trained with an L1 loss. Fully convolutional in time, so it
  samples any number of frames (``--frames``). Sample option ``noise`` scales the noise channel.

Defaults are 4 frames of 8x8 RGB, so a training step takes milliseconds on a CPU. The config key
``poison_step`` makes the loss NaN at that step: the tests of the trainer's NaN guard use it.

Like every plugin module, this one imports torch only inside its hooks.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import vidsynth
from vidsynth.errors import VidsynthError
from vidsynth.model import ModelConfig, ModelPlugin, Task


@dataclass
class TinyConfig(ModelConfig):
    frames: int = 4
    size: int = 8
    channels: int = 3
    batch_size: int = 4
    steps: int = 20
    lr: float = 1e-3
    ema: float = 0.0
    fps: float = 4.0
    latent: int = 8  # latent vector size of the GAN generator
    width: int = 8  # channels of the hidden layers
    poison_step: int = -1  # test hook: the loss of this (0-based) step is NaN


PRESETS = {"small": {}, "ema": {"ema": 0.9}, "wide": {"width": 16}}


def _nets():
    """The network classes, defined on first use so that importing this module does not import torch."""
    import torch
    from torch import nn

    class Generator(nn.Module):
        def __init__(self, cfg: TinyConfig) -> None:
            super().__init__()
            self.cfg = cfg
            half = cfg.size // 2
            self.fc = nn.Linear(cfg.latent, cfg.width * cfg.frames * half * half)
            self.conv = nn.Conv3d(cfg.width, cfg.channels, 3, padding=1)

        def forward(self, z: torch.Tensor) -> torch.Tensor:
            c = self.cfg
            h = self.fc(z).view(-1, c.width, c.frames, c.size // 2, c.size // 2)
            h = nn.functional.interpolate(torch.relu(h), scale_factor=(1, 2, 2), mode="nearest")
            return torch.tanh(self.conv(h))

    class Critic(nn.Module):
        def __init__(self, cfg: TinyConfig) -> None:
            super().__init__()
            self.conv = nn.Conv3d(cfg.channels, cfg.width, 3, stride=(1, 2, 2), padding=1)
            self.fc = nn.Linear(cfg.width * cfg.frames * (cfg.size // 2) ** 2, 1)

        def forward(self, video: torch.Tensor) -> torch.Tensor:
            h = nn.functional.leaky_relu(self.conv(video), 0.2)
            return self.fc(h.flatten(1)).squeeze(1)

    class Refiner(nn.Module):
        def __init__(self, cfg: TinyConfig) -> None:
            super().__init__()
            self.conv1 = nn.Conv3d(cfg.channels + 1, cfg.width, 3, padding=1)
            self.conv2 = nn.Conv3d(cfg.width, cfg.channels, 3, padding=1)

        def forward(self, base: torch.Tensor, noise: torch.Tensor) -> torch.Tensor:
            h = torch.relu(self.conv1(torch.cat([base, noise], dim=1)))
            return (base + 0.5 * torch.tanh(self.conv2(h))).clamp(-1, 1)

    return Generator, Critic, Refiner


def crossfade(condition, frames: int):
    """Linear blend from the first to the last keyframe over ``frames`` frames: ``[B, C, frames, H, W]``."""
    import torch

    first, last = condition[:, :, :1], condition[:, :, 1:2]
    alpha = torch.linspace(0, 1, frames, device=condition.device).view(1, 1, frames, 1, 1)
    return first * (1 - alpha) + last * alpha


def _poisoned(loss, ctx):
    return loss * float("nan") if ctx.step == ctx.config.poison_step else loss


class TinyGAN(ModelPlugin):
    name = "tiny"
    task = Task.UNCONDITIONAL
    Config = TinyConfig
    presets = PRESETS
    description = "Tiny test GAN (a linear + 3D-conv generator against a 3D-conv critic)."
    ema_modules = ("generator",)
    sample_options = {"temperature": (float, 1.0, "scale of the latent noise")}

    def build(self, config: TinyConfig) -> dict[str, Any]:
        Generator, Critic, _ = _nets()
        return {"generator": Generator(config), "critic": Critic(config)}

    def train_step(self, ctx, video) -> dict[str, float]:
        import torch
        import torch.nn.functional as F

        G, D = ctx.modules["generator"], ctx.modules["critic"]
        z = torch.randn(video.shape[0], ctx.config.latent, device=ctx.device)
        with ctx.autocast():
            with torch.no_grad():
                fake = G(z)
            d_loss = F.softplus(-D(video)).mean() + F.softplus(D(fake)).mean()
        ctx.optimize("critic", _poisoned(d_loss, ctx))
        z = torch.randn(video.shape[0], ctx.config.latent, device=ctx.device)
        with ctx.autocast():
            g_loss = F.softplus(-D(G(z))).mean()
        ctx.optimize("generator", g_loss)
        return {"d_loss": float(_poisoned(d_loss, ctx).detach()), "g_loss": float(g_loss.detach())}

    def sample(self, modules, config, condition, n, generator, **options):
        from vidsynth.generate import sample_noise

        frames = options.get("frames")
        if frames not in (None, config.frames):
            raise VidsynthError(f"tiny generates exactly {config.frames} frames, not {frames}")
        z = sample_noise((n, config.latent), generator, mean=options.get("mean", False), scale=options["temperature"])
        return modules["generator"](z)


class TinyKeyframes(ModelPlugin):
    name = "tiny-keyframes"
    task = Task.KEYFRAMES
    Config = TinyConfig
    presets = PRESETS
    description = "Tiny test in-betweener (a cross-fade refined by a two-layer 3D convolution)."
    ema_modules = ("refiner",)
    sample_options = {"noise": (float, 1.0, "scale of the noise channel")}

    def build(self, config: TinyConfig) -> dict[str, Any]:
        _, _, Refiner = _nets()
        return {"refiner": Refiner(config)}

    def train_step(self, ctx, video) -> dict[str, float]:
        import torch

        condition = self.condition_from(video, ctx.config)
        base = crossfade(condition, video.shape[2])
        noise = torch.randn_like(base[:, :1])
        with ctx.autocast():
            loss = (ctx.modules["refiner"](base, noise) - video).abs().mean()
        loss = _poisoned(loss, ctx)
        ctx.optimize("refiner", loss)
        return {"l1": float(loss.detach())}

    def sample(self, modules, config, condition, n, generator, **options):
        from vidsynth.generate import sample_noise

        base = crossfade(condition, options.get("frames") or config.frames)
        noise = sample_noise(tuple(base[:, :1].shape), generator, mean=options.get("mean", False), scale=options["noise"])
        return modules["refiner"](base, noise)


class TinyClips:
    """A map-style dataset of ``uint8 [T, H, W, C]`` clips: a bright square moving across a dark frame.

    Clip ``i`` is a pure function of ``(seed, i)``, so two datasets with the same arguments are equal.
    """

    def __init__(self, n: int = 32, frames: int = 4, size: int = 8, channels: int = 3, seed: int = 0) -> None:
        self.n, self.frames, self.size, self.channels, self.seed = n, frames, size, channels, seed

    def __len__(self) -> int:
        return self.n

    def __getitem__(self, index: int):
        import numpy as np
        import torch

        if not 0 <= index < self.n:
            raise IndexError(index)
        rng = np.random.default_rng([self.seed, index])
        side = max(1, self.size // 4)
        pos = rng.uniform(0, self.size - side, size=2)
        vel = rng.uniform(-1.5, 1.5, size=2)
        colour = rng.integers(128, 256, size=self.channels)
        clip = np.full((self.frames, self.size, self.size, self.channels), 16, dtype=np.uint8)
        for t in range(self.frames):
            y, x = (np.clip(pos + t * vel, 0, self.size - side)).round().astype(int)
            clip[t, y : y + side, x : x + side] = colour
        return torch.from_numpy(clip)

    def describe(self) -> dict[str, Any]:
        return {"source": "tiny-squares", "clips": self.n, "frames": self.frames, "size": self.size,
                "channels": self.channels, "seed": self.seed}


def open_tiny_squares(*, frames: int, size: int, channels: int = 3, split: str = "train", n: int = 32, seed: int = 0,
                      **_ignored: Any) -> TinyClips:
    """Factory of ``builtin:tiny-squares`` (options: ``?n=64&seed=1``); the test split has other clips."""
    if split not in ("train", "test", "all"):
        raise VidsynthError(f"unknown split {split!r}")
    count = max(1, n // 4) if split == "test" else n
    return TinyClips(count, frames, size, channels, seed=seed + (1000 if split == "test" else 0))


@vidsynth.hookimpl
def register_models(register):
    register(TinyGAN())
    register(TinyKeyframes())


@vidsynth.hookimpl
def register_datasets(register):
    from vidsynth.plugins import DatasetSpec

    register(DatasetSpec("tiny-squares", open_tiny_squares, "Tiny moving squares for tests (vidsynth_tiny)."))
