"""``cvae``: keyframe in-betweening with a conditional VAE.

Task ``keyframes``: the first and last frame ``[B, C, 2, H, W]`` in, the T-frame video between them out.
Paper: G. Penington, M. H. Teo, C. Wang, "Generating Video from Images", CS 229 report, Stanford 2019,
sections 5 and 7, Table 1 (authors' code: github.com/geoff-penington/gifify).

The presets, every departure from the paper and why, and measured results: docs/models/cvae.md.
The networks it shares with ``cgan`` are ``vidsynth.nn.keyframes`` (config: ``vidsynth.nn.keyframe_config``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

import vidsynth
from vidsynth.errors import ConfigError
from vidsynth.model import ModelPlugin, Task
from vidsynth.nn.keyframe_config import (PENINGTON_2019, SMALL_NETWORKS, KeyframeNetConfig,
                                      check_keyframe_config, check_keyframe_frames)


@dataclass
class CVAEConfig(KeyframeNetConfig):
    """Every knob of the CVAE; the defaults are Table 1 / section 7 (the ``paper`` preset)."""

    steps: int = 10_000
    lr: float = 1e-4
    betas: tuple[float, float] = (0.8, 0.999)
    lambda_video: float = 2.0  # lambda1 of eq. (1)
    lambda_keyframes: float = 2.0  # lambda2 of eq. (1)
    kl_weight: float = 1.0
    kl_warmup: int = 0  # steps over which the KL weight grows from 0 to kl_weight
    reduction: Literal["sum", "mean", "log"] = "sum"
    mean_weight: float = 0.0  # weight of ||X - G(z=0)||^2
    ssim_weight: float = 0.0  # weight of the SSIM dissimilarity of G(z=0) (or G(z) without the mean term)


SMALL: dict[str, Any] = {
    **SMALL_NETWORKS,
    "ema": 0.99,
    "lr": 2e-4,
    "betas": (0.9, 0.999),
    "reduction": "log",
    "lambda_video": 2.0,
    "lambda_keyframes": 2.0,
    "kl_weight": 1e-3,
    "kl_warmup": 200,
    "mean_weight": 2.0,
    "ssim_weight": 1.0,
    "motion": "gated",
    "steps": 2000,
}


class CVAE(ModelPlugin[CVAEConfig]):
    name = "cvae"
    task = Task.KEYFRAMES
    Config = CVAEConfig
    presets = {
        "paper": {},
        "skiing": {"inject_layers": (4,)},
        "small": SMALL,
    }
    default_preset = "small"
    description = "Conditional VAE in-betweening: first + last frame -> video (3D convs; Penington et al. 2019, section 5)"
    paper = f"{PENINGTON_2019}, sections 5 and 7, Table 1"
    #: samples at any frame size: the network runs at ``size`` and the video is composed at the keyframes'
    #: own size (``vidsynth.nn.keyframes.generate_keyframe_video``), so ``sample --in`` keeps a photo's size
    #: and ``eval --size N`` works; the config's ``size`` stays the network's
    supports_any_size = True
    ema_modules = ("model",)
    schedule_keys = ("beta",)  # the KL weight of the warm-up: plotted apart from the losses
    sample_options = {"temperature": (float, 1.0, "scale of z ~ N(0, I); 0 is the same as --mean")}

    def check_config(self, config: CVAEConfig) -> None:
        super().check_config(config)
        check_keyframe_config(config)
        if config.ssim_weight < 0:
            raise ConfigError(f"ssim_weight must be >= 0, got {config.ssim_weight}")
        if config.ssim_weight > 0 and config.size < 11:
            raise ConfigError(f"ssim_weight needs frames of at least 11x11 pixels (SSIM's window), got size {config.size}")

    # -- networks ------------------------------------------------------------------------------
    def build(self, config: CVAEConfig) -> dict[str, Any]:
        from vidsynth.nn.encoders import VideoEncoder
        from vidsynth.nn.keyframes import build_generator, build_image_encoder
        from vidsynth_plugins.cvae.networks import KeyframeCVAE

        c = config
        video_encoder = VideoEncoder(
            c.channels, c.frames, c.size, c.video_widths, extra_dim=2 * c.code_dim,
            hidden=c.video_hidden, out_dim=2 * c.z_dim, act=c.act, norm=c.norm,
        )
        return {"model": KeyframeCVAE(build_image_encoder(c), video_encoder, build_generator(c), c.z_dim)}

    # -- training ------------------------------------------------------------------------------
    def train_step(self, ctx: Any, video: Any) -> dict[str, float]:
        import torch

        from vidsynth.nn.keyframes import augment_clips
        from vidsynth.nn.losses import squared_error
        from vidsynth.tensors import to_unit
        from vidsynth_plugins.cvae.losses import cvae_loss, kl_weight, ssim_dissimilarity

        c: CVAEConfig = ctx.config
        x = to_unit(video)
        if c.augment:
            x = augment_clips(x)
        noise = torch.randn(x.shape[0], c.z_dim, device=x.device)
        with_mean = c.mean_weight > 0
        with ctx.autocast():
            out = ctx.modules["model"](x, noise, with_mean=with_mean)
        beta = kl_weight(ctx.step, c.kl_warmup, c.kl_weight)
        terms = cvae_loss(
            x, out["recon"].float(), out["mu"].float(), out["sigma"].float(),
            c.lambda_video, c.lambda_keyframes, beta, c.reduction,
        )
        loss = terms["loss"]
        logged = dict(terms)
        if with_mean:
            mean_term = squared_error(x, out["mean"].float(), c.reduction).mean()
            loss = loss + c.mean_weight * mean_term
            logged.update(mean=mean_term, loss=loss)
        if c.ssim_weight > 0:
            ssim_term = ssim_dissimilarity(x, (out["mean"] if with_mean else out["recon"]).float(), c.reduction)
            loss = loss + c.ssim_weight * ssim_term.mean()
            logged.update(ssim=ssim_term.mean(), loss=loss)
        ctx.optimize("model", loss)
        # one host transfer for the logged numbers (each float() of a GPU tensor is a sync)
        logs = dict(zip(logged, torch.stack([v.detach() for v in logged.values()]).tolist()))
        logs["beta"] = beta
        return logs

    # -- sampling ------------------------------------------------------------------------------
    def sample(self, modules: dict[str, Any], config: CVAEConfig, condition: Any, n: int, generator: Any,
               frames: int | None = None, mean: bool = False, temperature: float = 1.0, **options: Any) -> Any:
        from vidsynth.generate import sample_noise
        from vidsynth.tensors import from_unit, to_unit

        c = config
        check_keyframe_frames(c, self.name, frames)
        z = sample_noise((n, c.z_dim), generator, mean=mean, scale=temperature)
        video = modules["model"].generate(to_unit(condition), z)
        return from_unit(video.float().clamp(0.0, 1.0))


@vidsynth.hookimpl
def register_models(register: Any) -> None:
    register(CVAE())
