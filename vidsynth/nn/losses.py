"""Losses shared by the plugins: Wasserstein (with gradient penalty or weight clipping), the
non-saturating loss with one-sided label smoothing, the hinge loss, and the per-clip squared error of the
keyframe models (cvae's reconstruction terms, cgan's optional one).

Conventions: a critic/discriminator returns one raw score per sample, shape ``[B]`` or ``[B, 1]``; every
loss here returns a scalar that the caller *minimises* (the critic's loss too), so a plugin writes
``ctx.optimize("critic", wasserstein_critic_loss(real, fake) + gp_weight * gradient_penalty(...))``.
"""

from __future__ import annotations

import contextlib
from contextlib import AbstractContextManager
from typing import Callable

import torch
import torch.nn.functional as F
from torch import Tensor, nn


# -- Wasserstein GAN (Arjovsky et al. 2017; Gulrajani et al. 2017) --------------------------------------
def wasserstein_critic_loss(real_scores: Tensor, fake_scores: Tensor) -> Tensor:
    """``E[D(fake)] - E[D(real)]``: minimising it makes the critic estimate the Wasserstein-1 distance."""
    return fake_scores.mean() - real_scores.mean()


def wasserstein_generator_loss(fake_scores: Tensor) -> Tensor:
    """``-E[D(fake)]``: the generator raises the critic's score of its samples."""
    return -fake_scores.mean()


def interpolate(real: Tensor, fake: Tensor, generator: torch.Generator | None = None) -> Tensor:
    """Points on straight lines between real and fake samples, one uniform ``alpha`` per sample (WGAN-GP)."""
    shape = (real.shape[0],) + (1,) * (real.dim() - 1)
    alpha = torch.rand(shape, device=real.device, dtype=real.dtype, generator=generator)
    return real + alpha * (fake - real)


def gradient_penalty(
    critic: Callable[[Tensor], Tensor],
    points: Tensor,
    target: float = 1.0,
) -> Tensor:
    """``mean_i (||grad_x D(x_i)|| - target)^2`` at ``points`` (WGAN-GP's two-sided penalty).

    The norm is taken **per sample over every non-batch dimension** (channels, time, height, width):
    improved-video-gan (github.com/bernhard2202/improved-video-gan, ``model/improved_video_gan.py``) sums over
    axis 1 of the *flattened* samples; the same sum on a 5-D tensor covers the channels only, which penalises
    something else.
    ``create_graph=True`` so the penalty itself can be back-propagated into the critic's weights.
    Pass ``points = interpolate(real, fake)`` for the standard penalty (``fake`` detached).
    """
    points = points.detach().requires_grad_(True)
    scores = critic(points)
    (grad,) = torch.autograd.grad(scores.sum(), points, create_graph=True)
    norms = grad.flatten(1).norm(2, dim=1)
    return ((norms - target) ** 2).mean()


def drift_penalty(real_scores: Tensor) -> Tensor:
    """``E[D(real)^2]``: keeps the critic's scores near zero (Karras et al. 2018 use it at weight 1e-3)."""
    return real_scores.float().pow(2).mean()


@torch.no_grad()
def clip_weights_(module: nn.Module, clip: float) -> None:
    """Clamp every parameter of ``module`` to ``[-clip, clip]`` in place (the original WGAN's Lipschitz bound)."""
    for p in module.parameters():
        p.clamp_(-clip, clip)


# -- Non-saturating GAN (Goodfellow et al. 2014) with one-sided label smoothing (Salimans et al. 2016) --
def nonsaturating_discriminator_loss(real_logits: Tensor, fake_logits: Tensor, real_label: float = 1.0) -> Tensor:
    """Binary cross-entropy with target ``real_label`` for real (0.9 = one-sided smoothing) and 0 for fake."""
    real = F.binary_cross_entropy_with_logits(real_logits, torch.full_like(real_logits, real_label))
    fake = F.binary_cross_entropy_with_logits(fake_logits, torch.zeros_like(fake_logits))
    return real + fake


def nonsaturating_generator_loss(fake_logits: Tensor) -> Tensor:
    """``-log sigmoid(D(fake))``: the generator loss with strong gradients early in training."""
    return F.softplus(-fake_logits).mean()


# -- Hinge loss (Lim & Ye 2017; used by SAGAN, BigGAN) ------------------------------------------------
def hinge_discriminator_loss(real_scores: Tensor, fake_scores: Tensor) -> Tensor:
    """``E[relu(1 - D(real))] + E[relu(1 + D(fake))]``."""
    return F.relu(1.0 - real_scores).mean() + F.relu(1.0 + fake_scores).mean()


def hinge_generator_loss(fake_scores: Tensor) -> Tensor:
    """``-E[D(fake)]``, the same as the Wasserstein generator loss."""
    return -fake_scores.mean()


# -- Mode seeking (Mao et al., "Mode Seeking Generative Adversarial Networks for Diverse Image Synthesis",
#    CVPR 2019) ------------------------------------------------------------------------------------------
def mode_seeking_loss(out_a: Tensor, out_b: Tensor, z_a: Tensor, z_b: Tensor, eps: float = 1e-5) -> Tensor:
    """``1 / (d(out_a, out_b) / d(z_a, z_b) + eps)``, with ``d`` the mean absolute difference per sample,
    averaged over the batch: two outputs for one condition and two noises. Minimising it (a term of the
    generator loss) stops a conditional generator from ignoring its noise, which reconstruction terms
    (L1/L2 to one true future) push it to do."""
    ratio = (out_a - out_b).abs().flatten(1).mean(1) / (z_a - z_b).abs().flatten(1).mean(1)
    return (1.0 / (ratio + eps)).mean()


def mode_seeking_term(
    generate: Callable[[Tensor], Tensor],
    out: Tensor,
    z: Tensor,
    autocast: Callable[[], AbstractContextManager] = contextlib.nullcontext,
    skip_frames: int = 0,
) -> Tensor:
    """:func:`mode_seeking_loss` of a generator step: ``out = generate(z)`` was already made; this draws a
    second noise like ``z``, generates again for the same condition (inside ``autocast()``), and compares
    the two videos ``[B, C, T, H, W]`` from frame ``skip_frames`` on (a frame that is given, not made, says
    nothing about the noise)."""
    z2 = torch.randn_like(z)
    with autocast():
        other = generate(z2)
    return mode_seeking_loss(out[:, :, skip_frames:].float(), other[:, :, skip_frames:].float(), z, z2)


# -- Motion-energy matching (moment matching on temporal differences) --------------------------------------
def motion_energy(video: Tensor) -> Tensor:
    """Mean absolute difference between consecutive frames of ``[B, C, T, H, W]`` clips: a scalar that is 0
    for still videos and grows with how much (and how fast) things move."""
    return (video[:, :, 1:] - video[:, :, :-1]).abs().mean()


def motion_matching_loss(fake: Tensor, real: Tensor, eps: float = 1e-6) -> Tensor:
    """``(E_fake / E_real - 1)^2`` with ``E`` the batch's :func:`motion_energy`; gradient reaches ``fake``
    only. A generator term that matches one moment of the data (as feature matching, Salimans et al. 2016,
    matches a critic's features): it pulls generated clips away from standing still, and from moving more
    than the data, with a gradient that does not vanish when the critics win."""
    target = motion_energy(real.detach()).clamp_min(eps)
    return (motion_energy(fake) / target - 1.0) ** 2


# -- reconstruction (cvae, cgan) -------------------------------------------------------------------------
#: ``log`` reduction: log(MSE + LOG_FLOOR); 1e-5 is a 50 dB PSNR, far below the error of 8-bit video.
LOG_FLOOR = 1e-5


def squared_error(x: Tensor, y: Tensor, reduction: str) -> Tensor:
    """Per-sample squared L2 distance, ``[B]``:

    * ``sum`` over pixels: the ||.||_2^2 of eq. (1) of Penington et al. 2019 (the cvae's paper), as the
      authors' code computes it;
    * ``mean`` over pixels: scale-free, the same weights work at any clip size;
    * ``log``: ``log(mean + 1e-5)``, i.e. minus PSNR / 4.34 per clip: every clip counts the same in dB,
      so clips with large errors (fast motion) do not drown the slow ones, as they would under ``mean``.
    """
    d = (x - y).pow(2).flatten(1)
    if reduction == "sum":
        return d.sum(1)
    if reduction == "mean":
        return d.mean(1)
    if reduction == "log":
        return torch.log(d.mean(1) + LOG_FLOOR)
    raise ValueError(f"unknown reduction {reduction!r} (sum, mean or log)")
