"""Bouncing-balls physics read off the pixels: what a viewer sees (the right number of round balls of
the right size, staying put in number) and how they move (speed, coherence).

Bouncing balls (the data of Monteiro et al. 2018) are bright discs on black. A generated clip can look right frame by
frame and still be wrong as a video (balls that appear, vanish, merge, jump or stand still), and pixel
metrics cannot see it. These statistics can, and a report compares them with the same numbers on real
clips (the real-vs-real figure: real clips do not score perfectly either):

* ``detect_balls``: threshold the grayscale frame at 0.25 (the renderer's ``exp(-(d/r)^8)`` profile
  crosses it at 1.04 radii; a faint ghost ball still counts), label 8-connected components, drop specks
  smaller than ``min_area`` of the frame, and take intensity-weighted centroids and each blob's area
  and roundness. Touching balls form one blob, but each keeps its own core (pixels above 0.9, i.e.
  within 0.76 radii), so a blob counts as the number of its cores (at least one). Everything is relative
  to the frame, so other ball counts, radii and resolutions need no setting.
* ``ball_count_accuracy``: per frame, whether the count is the data's true count (``true_ball_count``:
  the ``balls`` of the data source's description, e.g. ``builtin:bouncing-balls?balls=4``; for plain
  real clips the count most of their frames show), ``[B, T]``; the report's figure is the fraction of
  frames that are right.
* ``ball_count_changes``: per clip, how often the count changes between consecutive frames, ``[B]``.
* ``ball_roundness`` and ``ball_radius``: per clip, the blobs' mean roundness (1 = a disc) and mean
  radius ``sqrt(area / pi)`` in frame widths, ``[B]``: blurred, smeared or melted balls show here.
* ``ball_count_per_frame``: balls per frame, ``[B, T]``.
* ``ball_speed``: per clip, the mean distance from each blob to the nearest blob of the previous frame,
  in frame widths per frame (resolution-free), over frame pairs where no blobs merge or split, ``[B]``.
* ``motion_coherence``: per clip, the fraction of balls at frame t+1 that are where constant velocity
  predicts (within ``tolerance`` frame widths of ``2 p_t - p_{t-1}``, matching each ball to its nearest
  neighbour). Balls in real clips move straight except at collisions, so real clips score high; the same
  frames in shuffled order score low. A frozen video also scores high (zero velocity is predictable):
  read it together with the speed.

Everything runs batched in torch on the videos' device except the connected-component labelling,
which is ``scipy.ndimage.label`` on the CPU (scipy is a runtime dependency for this).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

THRESHOLD = 0.25  # a ball's pixels: the renderer's exp(-(d/r)^8) profile is 0.25 at 1.04 radii
CORE_THRESHOLD = 0.9  # a ball's core: 0.9 at 0.76 radii, so touching balls (0.74 between them) split
MIN_AREA = 0.004  # fraction of the frame: 3.6 px at 30x30 (a ball covers ~40), 16 px at 64x64 (~186)
DEFAULT_BALLS = 3  # builtin:bouncing-balls without a balls= option
TOLERANCE = 0.05  # frame widths: 1.5 px at 30x30; real balls move ~0.9 px per frame there


@dataclass
class Balls:
    """Detected balls of a batch of clips, padded per frame.

    ``positions`` ``[B, T, M, 2]`` holds (y, x) centroids in pixels (pixel k's centre is at k), NaN where a
    frame has fewer than M balls; ``counts`` ``[B, T]``; ``width`` the frame width in pixels. ``areas``
    ``[B, T, M]`` (pixels above the threshold) and ``roundness`` ``[B, T, M]`` (``sqrt`` of the smaller
    over the larger eigenvalue of the blob's pixel covariance: 1 for a disc, 0.5 or less for two touching
    discs) are NaN-padded like ``positions``. ``counts`` are blobs; ``balls`` ``[B, T]`` counts the balls:
    a blob holding several cores (pixels above ``CORE_THRESHOLD``, e.g. two touching balls) counts as
    that many, any other blob as one.
    """

    positions: torch.Tensor
    counts: torch.Tensor
    width: int
    areas: torch.Tensor
    roundness: torch.Tensor
    balls: torch.Tensor


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
    video: torch.Tensor, threshold: float = THRESHOLD, min_area: float = MIN_AREA, core: float = CORE_THRESHOLD
) -> Balls:
    """Find the balls in every frame of videos ``[B, C, T, H, W]`` in [0, 1] (RGB is averaged to gray)."""
    b, _, t, h, w = video.shape
    gray = video.float().mean(dim=1).reshape(-1)  # [B*T*H*W]
    labels = _label_components((gray > threshold).view(b * t, h, w)).reshape(-1)
    cores = _label_components((gray > core).view(b * t, h, w)).reshape(-1)
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
    # shape from the unweighted pixel covariance of the blob (the mask, not the intensities)
    my, mx = per_component(ys) / area, per_component(xs) / area
    cyy = per_component(ys * ys) / area - my * my + 1 / 12  # + 1/12: a pixel is a unit square, not a point
    cxx = per_component(xs * xs) / area - mx * mx + 1 / 12
    cxy = per_component(xs * ys) / area - mx * my
    half_trace, gap = (cxx + cyy) / 2, torch.sqrt(((cxx - cyy) / 2) ** 2 + cxy**2)
    round_ = torch.sqrt((half_trace - gap).clamp_min(0) / (half_trace + gap))
    comp_frame = torch.zeros(k, dtype=torch.long, device=video.device).scatter_(0, comp, frame)
    # balls per blob: its cores big enough not to be noise, at least 1 (a dim or blurred ball has none)
    in_core = cores[pixel] > 0
    core_ids, core_area = torch.unique(cores[pixel][in_core], return_counts=True)
    core_blob = torch.zeros(int(cores.max().item()) + 1, dtype=torch.long, device=video.device)
    core_blob.scatter_(0, cores[pixel][in_core], comp[in_core])  # each core lies inside one blob
    big = core_area >= max(1.0, min_area * h * w / 2)
    n_cores = torch.bincount(core_blob[core_ids[big]], minlength=k)
    comp_balls = n_cores.clamp_min(1)
    keep = area >= max(1.0, min_area * h * w)
    comp_frame, centroids, area, round_ = comp_frame[keep], centroids[keep], area[keep], round_[keep]
    balls = torch.bincount(comp_frame, weights=comp_balls[keep].double(), minlength=b * t)

    counts = torch.bincount(comp_frame, minlength=b * t)
    m = max(int(counts.max().item()) if counts.numel() else 0, 1)
    # Slot of each ball within its frame: labels grow with the frame, so it is the running index.
    starts = torch.cumsum(counts, 0) - counts
    slot = torch.arange(comp_frame.numel(), device=video.device) - starts[comp_frame]
    positions = torch.full((b * t, m, 2), float("nan"), device=video.device)
    positions[comp_frame, slot] = centroids
    areas = torch.full((b * t, m), float("nan"), device=video.device)
    areas[comp_frame, slot] = area
    roundness = torch.full((b * t, m), float("nan"), device=video.device)
    roundness[comp_frame, slot] = round_
    return Balls(positions.view(b, t, m, 2), counts.view(b, t).float(), w, areas.view(b, t, m),
                 roundness.view(b, t, m), balls.view(b, t).float())


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
    """Balls detected in each frame, ``[B, T]`` (touching balls count apart; see ``Balls.balls``)."""
    return detect_balls(video).balls


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


def true_ball_count(data: dict[str, Any] | None) -> int | None:
    """How many balls every frame of the evaluated data holds.

    The data source's own ball count (``describe()["balls"]`` of ``builtin:bouncing-balls``, 3 when a
    bouncing-balls description does not say); for other real clips (a folder of videos), the count most
    frames of the reference clips show (balls only merge into one blob while they touch). None when
    neither is known.
    """
    data = data or {}
    description = data.get("description") or {}
    if description.get("balls") is not None:
        return int(description["balls"])
    if "bouncing-balls" in str(description.get("source", "")):
        return DEFAULT_BALLS
    reference = data.get("reference")
    if reference is None or reference.numel() == 0:
        return None
    counts = detect_balls(reference).balls.flatten().long()
    return int(torch.bincount(counts).argmax().item())


def ball_count_accuracy(video: torch.Tensor, _real: torch.Tensor | None = None,
                        data: dict[str, Any] | None = None) -> torch.Tensor:
    """1 for each frame whose detected count is the data's true count (``true_ball_count``), else 0, ``[B, T]``.

    Real clips score below 1 too: touching balls are one blob. The report shows that real-vs-real figure.
    """
    truth = true_ball_count(data)
    counts = detect_balls(video).balls
    if truth is None:
        return torch.full_like(counts, float("nan"))
    return (counts == truth).float()


def ball_count_changes(video: torch.Tensor, _real: torch.Tensor | None = None) -> torch.Tensor:
    """How many times the detected count changes from one frame to the next in each clip, ``[B]``.

    Balls that appear, vanish or split change it; in real clips only collisions do (a merge and a split).
    """
    counts = detect_balls(video).balls
    return (counts[:, 1:] != counts[:, :-1]).float().sum(dim=1)


def ball_roundness(video: torch.Tensor, _real: torch.Tensor | None = None) -> torch.Tensor:
    """Mean roundness of the detected blobs of each clip (1 = a disc; see ``Balls``), ``[B]``; NaN without balls."""
    return torch.nanmean(detect_balls(video).roundness.flatten(1), dim=1)


def ball_radius(video: torch.Tensor, _real: torch.Tensor | None = None) -> torch.Tensor:
    """Mean radius of the detected blobs of each clip, ``sqrt(area / pi)`` in frame widths, ``[B]``; NaN without balls."""
    balls = detect_balls(video)
    return torch.nanmean(torch.sqrt(balls.areas / math.pi).flatten(1), dim=1) / balls.width
