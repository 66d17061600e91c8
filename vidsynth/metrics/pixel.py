"""Pixel metrics between a generated video and its ground truth: MSE, Penington et al. 2019's Table 2 L2, PSNR, SSIM.

All take float tensors ``[B, C, T, H, W]`` with values in ``[0, 1]`` (``vidsynth.tensors.to_unit`` turns
model output into that range) and compute on whatever device the tensors are on, a whole batch at once.

* ``mse_per_frame`` / ``psnr_per_frame`` / ``ssim_per_frame`` return ``[B, T]``; a report averages the
  frames the model produced, so its PSNR is the **per-frame mean** PSNR (mean of per-frame dB values),
  not the pooled PSNR ``10 log10(1 / mean MSE)``, which is lower when the error varies between frames.
* ``l2_table2`` returns ``[B]``: Penington et al. 2019's Table 2 number, ``||255 (x - y)||_F / 100`` over the whole
  video. The seed's notebook computed ``sqrt(sum((gen - real)^2))`` on 0..255 pixel values over each
  30x64x64x3 video and divided the mean over 100 test videos by 100 (its text says [0, 1]; its code used
  0..255). For 30x64x64x3 videos this is 1548.3 x RMSE, so Table 2's 62 for the cross-fade is an RMSE
  of 0.040 (about 28 dB).
* SSIM follows Wang et al. 2004 exactly as scikit-image's ``structural_similarity(a, b,
  gaussian_weights=True, sigma=1.5, use_sample_covariance=False, data_range=1, channel_axis=-1)``:
  an 11x11 Gaussian window (sigma 1.5), K1 = 0.01, K2 = 0.03, population (co)variances, the map averaged
  over the valid region (5 pixels cropped at each border) and over channels.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from vidsynth.errors import VidsynthError

#: PSNR of a frame that matches exactly would be infinite; we clamp the MSE here (a 100 dB ceiling) so
#: that means and intervals stay finite. Real errors of 8-bit video never come near it.
MSE_FLOOR = 1e-10

SSIM_SIGMA = 1.5
SSIM_RADIUS = 5  # int(3.5 * sigma + 0.5): scipy's gaussian_filter truncation, i.e. an 11x11 window
SSIM_K1 = 0.01
SSIM_K2 = 0.03


def _check_pair(generated: torch.Tensor, real: torch.Tensor) -> None:
    if generated.dim() != 5 or generated.shape != real.shape:
        raise VidsynthError(
            "pixel metrics need two video batches [B, C, T, H, W] of the same shape, got "
            f"{tuple(generated.shape)} and {tuple(real.shape)}"
        )


def mse_per_frame(generated: torch.Tensor, real: torch.Tensor) -> torch.Tensor:
    """Mean squared error of each frame, ``[B, T]`` (pixel values in [0, 1])."""
    _check_pair(generated, real)
    return (generated.float() - real.float()).pow(2).mean(dim=(1, 3, 4))


def psnr_per_frame(generated: torch.Tensor, real: torch.Tensor, data_range: float = 1.0) -> torch.Tensor:
    """PSNR in dB of each frame, ``[B, T]``: ``10 log10(range^2 / MSE)``; 0.5 vs 0.6 everywhere is 20 dB."""
    mse = mse_per_frame(generated, real).clamp_min(MSE_FLOOR * data_range**2)
    return 10.0 * torch.log10(data_range**2 / mse)


def l2_table2(generated: torch.Tensor, real: torch.Tensor) -> torch.Tensor:
    """Penington et al. 2019's Table 2 L2 distance of each whole video, ``[B]``: ``||255 (x - y)||_F / 100``."""
    _check_pair(generated, real)
    diff = (generated.double() - real.double()) * 255.0
    return diff.flatten(1).norm(dim=1).float() / 100.0


def _gaussian_window(device: torch.device, dtype: torch.dtype) -> torch.Tensor:
    x = torch.arange(-SSIM_RADIUS, SSIM_RADIUS + 1, device=device, dtype=torch.float64)
    w = torch.exp(-(x**2) / (2 * SSIM_SIGMA**2))
    return (w / w.sum()).to(dtype)


def ssim_per_frame(
    generated: torch.Tensor, real: torch.Tensor, data_range: float = 1.0, chunk: int = 256
) -> torch.Tensor:
    """Mean SSIM of each frame (averaged over its channels), ``[B, T]``.

    The Gaussian filter is applied separably without padding, which gives exactly the interior that
    scikit-image keeps after cropping its padded filter output. ``chunk`` frames at a time bound memory.
    """
    _check_pair(generated, real)
    b, c, t, h, w = generated.shape
    if min(h, w) < 2 * SSIM_RADIUS + 1:
        raise VidsynthError(f"SSIM needs frames of at least 11x11 pixels, got {h}x{w}")
    # Every (video, channel, frame) plane is an independent image: [B*C*T, 1, H, W].
    x = generated.float().permute(0, 2, 1, 3, 4).reshape(b * t * c, 1, h, w)
    y = real.float().permute(0, 2, 1, 3, 4).reshape(b * t * c, 1, h, w)
    g = _gaussian_window(x.device, x.dtype)
    gx, gy = g.view(1, 1, 1, -1), g.view(1, 1, -1, 1)

    def blur(z: torch.Tensor) -> torch.Tensor:
        return F.conv2d(F.conv2d(z, gx), gy)

    c1 = (SSIM_K1 * data_range) ** 2
    c2 = (SSIM_K2 * data_range) ** 2
    means = []
    for start in range(0, x.shape[0], chunk):
        xs, ys = x[start : start + chunk], y[start : start + chunk]
        mu_x, mu_y = blur(xs), blur(ys)
        var_x = blur(xs * xs) - mu_x * mu_x
        var_y = blur(ys * ys) - mu_y * mu_y
        cov = blur(xs * ys) - mu_x * mu_y
        s = ((2 * mu_x * mu_y + c1) * (2 * cov + c2)) / ((mu_x**2 + mu_y**2 + c1) * (var_x + var_y + c2))
        means.append(s.mean(dim=(1, 2, 3)))
    per_plane = torch.cat(means).view(b, t, c)
    return per_plane.mean(dim=2)


def psnr_from_mse(mse: float, data_range: float = 1.0) -> float:
    """Pooled PSNR from a mean MSE (what 'PSNR of the test set' means in some papers)."""
    return 10.0 * math.log10(data_range**2 / max(mse, MSE_FLOOR * data_range**2))


def psnr(generated: torch.Tensor, real: torch.Tensor, data_range: float = 1.0) -> torch.Tensor:
    """Per-video PSNR ``[B]``: the mean over frames of per-frame PSNR (what vidsynth reports as PSNR)."""
    return psnr_per_frame(generated, real, data_range).mean(dim=1)


def ssim(generated: torch.Tensor, real: torch.Tensor, data_range: float = 1.0) -> torch.Tensor:
    """Per-video SSIM ``[B]``: the mean over frames of per-frame SSIM."""
    return ssim_per_frame(generated, real, data_range).mean(dim=1)
