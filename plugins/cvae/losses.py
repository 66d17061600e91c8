"""Loss (1) of Penington et al. 2019 and the KL schedule, on [0, 1] pixels (the paper's range)."""

from __future__ import annotations

import torch
from torch import Tensor

from vidsynth.metrics.pixel import ssim_per_frame
from vidsynth.nn.losses import squared_error


def gaussian_kl(mu: Tensor, sigma: Tensor) -> Tensor:
    """``KL[N(mu, diag sigma^2) || N(0, I)]`` per sample, summed over the latent dimensions. Returns ``[B]``."""
    var = sigma.pow(2)
    return 0.5 * (mu.pow(2) + var - torch.log(var) - 1.0).sum(1)


def kl_weight(step: int, warmup_steps: int, final: float = 1.0) -> float:
    """KL warm-up (Bowman et al. 2016): the KL weight grows linearly from 0 to ``final`` over the first
    ``warmup_steps`` steps, so the decoder learns to use the keyframes before the prior squeezes z."""
    if warmup_steps <= 0:
        return final
    return final * min(1.0, (step + 1) / warmup_steps)


def cvae_loss(
    video: Tensor,
    recon: Tensor,
    mu: Tensor,
    sigma: Tensor,
    lambda_video: float,
    lambda_keyframes: float,
    beta: float,
    reduction: str,
) -> dict[str, Tensor]:
    """Equation (1): ``beta KL + lambda1 ||X - G||^2 + lambda2 (||x_i - G_i||^2 + ||x_f - G_f||^2)``,
    averaged over the batch. ``video`` and ``recon`` are ``[B, C, T, H, W]`` in [0, 1].

    Returns the total (``loss``) and each term unweighted (``kl``, ``video``, ``keyframes``) for the log.
    """
    video_term = squared_error(video, recon, reduction)
    key_term = squared_error(video[:, :, 0], recon[:, :, 0], reduction) + squared_error(
        video[:, :, -1], recon[:, :, -1], reduction
    )
    kl = gaussian_kl(mu, sigma)
    total = beta * kl + lambda_video * video_term + lambda_keyframes * key_term
    return {"loss": total.mean(), "kl": kl.mean(), "video": video_term.mean(), "keyframes": key_term.mean()}


def ssim_dissimilarity(video: Tensor, recon: Tensor, reduction: str) -> Tensor:
    """``1 - SSIM`` of the in-between frames, per clip ``[B]`` (eval's SSIM: the Gaussian window of Wang et
    al. 2004, differentiable); with ``reduction="log"`` its log, so that, like the log squared error, a
    clip's term is relative and a given fraction less dissimilarity counts the same on every clip."""
    d = 1.0 - ssim_per_frame(recon[:, :, 1:-1], video[:, :, 1:-1]).mean(dim=1)
    return torch.log(d.clamp_min(0.0) + 1e-4) if reduction == "log" else d
