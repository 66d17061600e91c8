"""Bouncing-balls physics read off the pixels: ball count, speed and how coherent the motion is.

Bouncing balls (seed 004's data) are bright discs on black. A generated clip can look right frame by
frame and still be wrong as a video (balls that appear, vanish, jump or stand still), and pixel metrics
cannot see it. These statistics can, and a report compares them with the same numbers on real clips:

* ``detect_balls``: threshold the grayscale frame (0.5, where the renderer's ``exp(-(d/r)^8)`` profile
  crosses half intensity, i.e. 0.955 radii), label 8-connected components, drop specks smaller than
  ``min_area`` of the frame, and take intensity-weighted centroids. Two touching balls are one blob, so
  the count dips during collisions in real clips too; that is why the report gives ratios to real clips.
* ``ball_count_per_frame``: blobs per frame, ``[B, T]``.
* ``ball_speed``: per clip, the mean distance from each ball to the nearest ball of the previous frame, in
  frame widths per frame (resolution-free), over frame pairs where no blobs merge or split, ``[B]``.
* ``motion_coherence``: per clip, the fraction of balls at frame t+1 that are where constant velocity
  predicts (within ``tolerance`` frame widths of ``2 p_t - p_{t-1}``, matching each ball to its nearest
  neighbour). Balls in real clips move straight except at collisions, so real clips score high; the same
  frames in shuffled order score low. A frozen video also scores high (zero velocity is predictable):
  read it together with the speed.

Everything runs batched in torch on the videos' device except the connected-component labelling,
which is one ``scipy.ndimage.label`` call on the CPU (scipy is a runtime dependency for this).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

THRESHOLD = 0.5
MIN_AREA = 0.004  # fraction of the frame: 3.6 px at 30x30 (a ball covers ~40), 16 px at 64x64 (~186)
TOLERANCE = 0.05  # frame widths: 1.5 px at 30x30; real balls move ~0.9 px per frame there


@dataclass
class Balls:
    """Detected balls of a batch of clips, padded per frame.

    ``positions`` ``[B, T, M, 2]`` holds (y, x) centroids in pixels (pixel k's centre is at k), NaN where a
    frame has fewer than M balls; ``counts`` ``[B, T]``; ``width`` the frame width in pixels.
    """

    positions: torch.Tensor
    counts: torch.Tensor
    width: int


def _label_components(mask: torch.Tensor) -> torch.Tensor:
    """8-connected component labels of boolean frames ``[N, H, W]`` (0 = background, else > 0).

    One ``scipy.ndimage.label`` call on the whole stack with a structure that connects pixels within a
    frame but never across frames; labels increase with the frame index. (A pure-torch label propagation
    was 50-80x slower on CPU for 600 64x64 frames, and the masks are small enough to move to the CPU.)
    """
    from scipy import ndimage

    structure = np.zeros((3, 3, 3), dtype=bool)
    structure[1] = True
    labels, _ = ndimage.label(mask.cpu().numpy(), structure=structure)
    return torch.from_numpy(labels.astype(np.int64)).to(mask.device)


def detect_balls(
    video: torch.Tensor, threshold: float = THRESHOLD, min_area: float = MIN_AREA
) -> Balls:
    """Find the balls in every frame of videos ``[B, C, T, H, W]`` in [0, 1] (RGB is averaged to gray)."""
    b, _, t, h, w = video.shape
    gray = video.float().mean(dim=1).reshape(-1)  # [B*T*H*W]
    labels = _label_components((gray > threshold).view(b * t, h, w)).reshape(-1)
    pixel = labels.nonzero().squeeze(1)  # flat indices of foreground pixels
    uniq, comp = torch.unique(labels[pixel], return_inverse=True)
    k = uniq.numel()
    frame = pixel // (h * w)
    ys = ((pixel % (h * w)) // w).float()
    xs = (pixel % w).float()
    weight = gray[pixel]

    def per_component(values: torch.Tensor) -> torch.Tensor:
        return torch.zeros(k, device=video.device).index_add_(0, comp, values)

    area = per_component(torch.ones_like(weight))
    mass = per_component(weight)
    centroids = torch.stack([per_component(weight * ys) / mass, per_component(weight * xs) / mass], dim=1)
    comp_frame = torch.zeros(k, dtype=torch.long, device=video.device).scatter_(0, comp, frame)
    keep = area >= max(1.0, min_area * h * w)
    comp_frame, centroids = comp_frame[keep], centroids[keep]

    counts = torch.bincount(comp_frame, minlength=b * t)
    m = max(int(counts.max().item()) if counts.numel() else 0, 1)
    # Slot of each ball within its frame: labels grow with the frame, so it is the running index.
    starts = torch.cumsum(counts, 0) - counts
    slot = torch.arange(comp_frame.numel(), device=video.device) - starts[comp_frame]
    positions = torch.full((b * t, m, 2), float("nan"), device=video.device)
    positions[comp_frame, slot] = centroids
    return Balls(positions.view(b, t, m, 2), counts.view(b, t).float(), w)


def _nearest(src: torch.Tensor, dst: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """For each point of ``src`` ``[..., M, 2]``, the distance to and index of the nearest point of ``dst``.

    NaN points never match; a point with nothing to match gets distance NaN.
    """
    d = torch.cdist(torch.nan_to_num(src, nan=0.0), torch.nan_to_num(dst, nan=0.0))
    missing = torch.isnan(src[..., 0]).unsqueeze(-1) | torch.isnan(dst[..., 0]).unsqueeze(-2)
    d = d.masked_fill(missing, float("inf"))
    dist, idx = d.min(dim=-1)
    return dist.masked_fill(torch.isinf(dist), float("nan")), idx


def ball_count_per_frame(video: torch.Tensor, _real: torch.Tensor | None = None) -> torch.Tensor:
    """Balls detected in each frame, ``[B, T]``."""
    return detect_balls(video).counts


def ball_speed(video: torch.Tensor, _real: torch.Tensor | None = None) -> torch.Tensor:
    """Mean ball displacement per frame of each clip in frame widths, ``[B]``.

    Only frame pairs with the same number of blobs count: when two balls touch, their blobs merge and the
    centroid jumps by about a radius, which would read as speed (on rendered test clips that inflated
    the mean by up to 70%; without those pairs it is within a few percent of the true speed).
    NaN for a clip with no such pair that has a ball.
    """
    balls = detect_balls(video)
    dist, _ = _nearest(balls.positions[:, 1:], balls.positions[:, :-1])
    stable = (balls.counts[:, 1:] == balls.counts[:, :-1]).unsqueeze(-1)
    return torch.nanmean(dist.masked_fill(~stable, float("nan")).flatten(1), dim=1) / balls.width


def motion_coherence(
    video: torch.Tensor, _real: torch.Tensor | None = None, tolerance: float = TOLERANCE
) -> torch.Tensor:
    """Fraction of balls that continue at constant velocity within ``tolerance`` frame widths, ``[B]``.

    NaN for a clip with no ball seen in three consecutive frames.
    """
    balls = detect_balls(video)
    p = balls.positions  # [B, T, M, 2]
    if p.shape[1] < 3:
        return torch.full((p.shape[0],), float("nan"), device=p.device)
    prev, cur, nxt = p[:, :-2], p[:, 1:-1], p[:, 2:]
    _, back = _nearest(cur, prev)
    predecessor = torch.gather(prev, 2, back.unsqueeze(-1).expand_as(cur))
    predicted = 2 * cur - predecessor  # NaN where the ball or its predecessor is missing
    miss, _ = _nearest(predicted, nxt)
    valid = ~torch.isnan(miss)
    hits = (miss <= tolerance * balls.width) & valid
    n_valid = valid.flatten(1).sum(dim=1).float()
    score = hits.flatten(1).sum(dim=1).float() / n_valid.clamp_min(1)
    return score.masked_fill(n_valid == 0, float("nan"))
