"""``cgan``: keyframe in-betweening with a conditional GAN.

Task ``keyframes``: the first and last frame ``[B, C, 2, H, W]`` in, the T-frame video between them out.
Paper: G. Penington, M. H. Teo, C. Wang, "Generating Video from Images", CS 229 report, Stanford 2019,
sections 6 and 7, equation (2) (authors' code: github.com/geoff-penington/gifify, ``cgan.py``).

The presets, every departure from the paper and its code and why, and measured results:
docs/models/cgan.md. G is the CVAE's generator (``vidsynth.nn.keyframes``); D a 3D-conv video encoder.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

import vidsynth
from vidsynth.model import ModelPlugin, Task
from vidsynth.nn.keyframe_config import (PENINGTON_2019, SMALL_NETWORKS, KeyframeNetConfig,
                                      check_keyframe_config, check_keyframe_frames)


@dataclass
class CGANConfig(KeyframeNetConfig):
    """Every knob of the CGAN; the defaults are the ``paper`` preset."""

    steps: int = 6_000
    lr: float = 2e-4
    betas: tuple[float, float] = (0.5, 0.999)
    act: Literal["relu", "leaky"] = "leaky"
    lambda_keyframes: float = 0.02  # lambda of eq. (2)
    keyframe_loss: Literal["l2", "l1"] = "l2"  # eq. (2): l2; the authors' code: l1
    keyframe_reduction: Literal["sum", "mean"] = "sum"  # over pixels (eq. (2) and the code: sum)
    real_label: float = 0.9  # one-sided label smoothing
    d_steps: int = 4  # D updates per G update
    d_batches: Literal["reuse", "split"] = "reuse"
    # not in the paper: G's loss also gets lambda_video times the squared error over every frame (pix2pix's
    # "GAN + reconstruction", Isola et al. 2017), reduced per clip as cvae's terms (``log``: minus PSNR / 4.34)
    lambda_video: float = 0.0
    video_reduction: Literal["sum", "mean", "log"] = "log"


# `small` adds to the shared narrow networks (residual output over the cross-fade, keyframe injection,
# augmentation) cvae's motion base, an EMA of G, and the reconstruction term that the paper's G lacks:
# without it G was 1.5-4.3 dB below the cross-fade on held-out carphone; with weight 100 it is ahead of it
# on every kind of held-out motion measured (docs/models/cgan.md, "Measured").
SMALL: dict[str, Any] = {**SMALL_NETWORKS, "motion": "costvolume", "ema": 0.99, "lambda_video": 100.0}


class CGAN(ModelPlugin[CGANConfig]):
    name = "cgan"
    task = Task.KEYFRAMES
    Config = CGANConfig
    presets = {"paper": {}, "small": SMALL}
    default_preset = "small"
    description = "Conditional GAN in-betweening: first + last frame -> video (3D convs; Penington et al. 2019, section 6)"
    paper = f"{PENINGTON_2019}, sections 6 and 7, Table 1"
    #: samples at any frame size: the network runs at ``size`` and the video is composed at the keyframes'
    #: own size (``vidsynth.nn.keyframes.generate_keyframe_video``), so ``sample --in`` keeps a photo's size
    #: and ``eval --size N`` works; the config's ``size`` stays the network's
    supports_any_size = True
    ema_modules = ("generator",)

    def check_config(self, config: CGANConfig) -> None:
        super().check_config(config)
        from vidsynth.errors import ConfigError

        c = config
        check_keyframe_config(c)
        if c.d_steps < 1:
            raise ConfigError(f"d_steps must be >= 1, got {c.d_steps}")
        if c.d_batches == "split" and c.batch_size % c.d_steps:
            raise ConfigError(f"d_batches=split needs batch_size ({c.batch_size}) divisible by d_steps ({c.d_steps})")
        if c.lambda_video < 0:
            raise ConfigError(f"lambda_video must be >= 0, got {c.lambda_video}")
        if not 0.0 < c.real_label <= 1.0:
            raise ConfigError(f"real_label must be in (0, 1], got {c.real_label}")

    def build(self, config: CGANConfig) -> dict[str, Any]:
        from vidsynth.nn.encoders import VideoEncoder
        from vidsynth.nn.keyframes import KeyframeGenerator, build_generator, build_image_encoder

        c = config
        discriminator = VideoEncoder(
            c.channels, c.frames, c.size, c.video_widths, extra_dim=0, hidden=c.video_hidden, out_dim=1,
            act="leaky", norm=c.norm,
        )
        return {"generator": KeyframeGenerator(build_image_encoder(c), build_generator(c)), "discriminator": discriminator}

    def train_step(self, ctx: Any, video: Any) -> dict[str, float]:
        import torch

        from vidsynth.nn import frozen
        from vidsynth.nn.keyframes import augment_clips
        from vidsynth.nn.losses import nonsaturating_discriminator_loss, nonsaturating_generator_loss, squared_error
        from vidsynth.tensors import to_unit

        c: CGANConfig = ctx.config
        G, D = ctx.modules["generator"], ctx.modules["discriminator"]
        x = to_unit(video)
        if c.augment:
            x = augment_clips(x)
        b = x.shape[0]
        reals = x.chunk(c.d_steps) if c.d_batches == "split" else [x] * c.d_steps
        sizes = [real.shape[0] for real in reals]
        # G is not updated during the D steps, so the d_steps fake batches are G's outputs at the same
        # weights: made in one batched forward pass (the same numbers as one pass per D step, drawn from
        # the RNG in the same order) when no batch norm in G couples the samples of a batch.
        zs = [torch.randn(n, c.z_dim, device=x.device) for n in sizes]
        if independent_samples(ctx.unwrap("generator")):
            with torch.no_grad(), ctx.autocast():
                fakes = G(torch.cat(zs), torch.cat([real[:, :, [0, -1]] for real in reals])).split(sizes)
        else:
            fakes = []
            for z, real in zip(zs, reals):
                with torch.no_grad(), ctx.autocast():
                    fakes.append(G(z, real[:, :, [0, -1]]))
        # likewise D scores the real and the fake batch in one pass where it has no batch norm
        joint_d = independent_samples(ctx.unwrap("discriminator"))
        d_losses = []
        for real, fake in zip(reals, fakes):
            with ctx.autocast():
                if joint_d:
                    d_real, d_fake = D(torch.cat([real, fake])).float().split([real.shape[0], fake.shape[0]])
                else:
                    d_real, d_fake = D(real).float(), D(fake).float()
                d_loss = nonsaturating_discriminator_loss(d_real, d_fake, c.real_label)
            ctx.optimize("discriminator", d_loss)
            d_losses.append(d_loss.detach())
        z = torch.randn(b, c.z_dim, device=x.device)
        # G's step back-propagates through D but must not compute D's weight grads; the bare D (not its
        # DDP wrapper) is used so that this forward pass does not wait for a gradient all-reduce.
        with frozen(ctx.unwrap("discriminator")) as bare_d:
            with ctx.autocast():
                fake = G(z, x[:, :, [0, -1]])
                adv = nonsaturating_generator_loss(bare_d(fake).float())
            key = keyframe_term(x, fake.float(), c.keyframe_loss, c.keyframe_reduction)
            loss = adv + c.lambda_keyframes * key
            logged = {"d_loss": torch.stack(d_losses).mean(), "g_adv": adv.detach(), "keyframes": key.detach()}
            if c.lambda_video > 0:
                video_term = squared_error(x, fake.float(), c.video_reduction).mean()
                loss = loss + c.lambda_video * video_term
                logged["video"] = video_term.detach()
            ctx.optimize("generator", loss)
        # one host transfer for the logged numbers
        return dict(zip(logged, torch.stack(list(logged.values())).tolist()))

    def sample(self, modules: dict[str, Any], config: CGANConfig, condition: Any, n: int, generator: Any,
               frames: int | None = None, mean: bool = False, **options: Any) -> Any:
        from vidsynth.generate import sample_noise
        from vidsynth.tensors import from_unit, to_unit

        c = config
        check_keyframe_frames(c, self.name, frames)
        z = sample_noise((n, c.z_dim), generator, mean=mean)
        video = modules["generator"](z, to_unit(condition))
        return from_unit(video.float().clamp(0.0, 1.0))


def independent_samples(module: Any) -> bool:
    """Whether ``module`` treats every sample of a batch on its own (no batch norm in training mode), so
    that one pass over two batches stacked is the same maths as one pass over each."""
    from torch import nn

    return not any(isinstance(m, nn.modules.batchnorm._BatchNorm) and m.training for m in module.modules())


def keyframe_term(video: Any, fake: Any, kind: str, reduction: str) -> Any:
    """``||x_i - G_i||^p + ||x_f - G_f||^p`` per clip (p = 2 for ``l2``, 1 for ``l1``), summed or averaged
    over pixels, then averaged over the batch. Inputs ``[B, C, T, H, W]`` in [0, 1]."""
    diff = (video[:, :, [0, -1]] - fake[:, :, [0, -1]]).flatten(1)
    per_pixel = diff.pow(2) if kind == "l2" else diff.abs()
    per_clip = per_pixel.sum(1) if reduction == "sum" else per_pixel.mean(1) * 2  # mean: per frame, both frames
    return per_clip.mean()


@vidsynth.hookimpl
def register_models(register: Any) -> None:
    register(CGAN())
