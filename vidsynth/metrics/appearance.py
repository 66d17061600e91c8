"""Statistics of any video, with no ground truth and no download: how much it moves, how smoothly, and
whether its frames look like the real ones.

They let an unconditional, first-frame or next-frame model be judged on any folder of videos. Each is
reported beside real clips, the same clips with shuffled frames (right frames, wrong order) and a still
frame held (right frame, no motion), so a model that only copies or only jitters shows up:

* ``motion_energy``: the mean absolute change of a pixel between consecutive frames, per clip ``[B]``
  (0 for a still clip; shuffled frames jump more than real motion).
* ``temporal_coherence``: the mean Pearson correlation of consecutive frames over their pixels, per clip
  ``[B]`` (1 for a still clip, lower for shuffled frames and for noise; NaN for clips of blank frames).
* ``appearance_distance``: per frame, the total-variation distance between the frame's intensity
  histogram (``BINS`` bins per channel, averaged over channels) and the pooled histogram of the
  reference clips, ``[B, T]`` in [0, 1] (0 = the same distribution of intensities). Blurred, washed-out
  or wrongly coloured frames score high; real clips give the floor (frame-to-frame spread).

All take float videos ``[B, C, T, H, W]`` in [0, 1].
"""

from __future__ import annotations

from typing import Any

import torch

from vidsynth.errors import VidsynthError

BINS = 32


def motion_energy(video: torch.Tensor, _real: torch.Tensor | None = None) -> torch.Tensor:
    """Mean ``|x_{t+1} - x_t|`` over pixels and frame pairs of each clip, ``[B]`` (0 for one frame)."""
    if video.shape[2] < 2:
        return torch.zeros(video.shape[0], device=video.device)
    return (video[:, :, 1:] - video[:, :, :-1]).abs().float().mean(dim=(1, 2, 3, 4))


def temporal_coherence(video: torch.Tensor, _real: torch.Tensor | None = None) -> torch.Tensor:
    """Mean correlation of consecutive frames (over all their pixels and channels), ``[B]``."""
    b, _, t = video.shape[:3]
    if t < 2:
        return torch.full((b,), float("nan"), device=video.device)
    frames = video.float().transpose(1, 2).reshape(b, t, -1)  # [B, T, C*H*W]
    centred = frames - frames.mean(dim=2, keepdim=True)
    a, c = centred[:, :-1], centred[:, 1:]
    denominator = a.norm(dim=2) * c.norm(dim=2)
    corr = (a * c).sum(dim=2) / denominator
    corr = corr.masked_fill(denominator < 1e-12, float("nan"))  # a blank frame has no correlation
    return torch.nanmean(corr, dim=1)


def histograms(video: torch.Tensor) -> torch.Tensor:
    """Normalised intensity histograms per frame and channel, ``[B, T, C, BINS]``."""
    b, c, t = video.shape[:3]
    index = (video.float().clamp(0, 1) * BINS).long().clamp_max(BINS - 1)  # [B, C, T, H, W]
    index = index.transpose(1, 2).reshape(b, t, c, -1)
    counts = torch.zeros(b, t, c, BINS, device=video.device).scatter_add_(3, index, torch.ones_like(index, dtype=torch.float))
    return counts / index.shape[-1]


def appearance_distance(video: torch.Tensor, _real: torch.Tensor | None = None,
                        data: dict[str, Any] | None = None) -> torch.Tensor:
    """Total-variation distance of each frame's histogram to the reference clips' pooled one, ``[B, T]``."""
    reference = (data or {}).get("reference")
    if reference is None:
        raise VidsynthError("appearance-distance needs reference clips")
    if reference.shape[1] != video.shape[1]:
        raise VidsynthError(f"appearance-distance: {video.shape[1]} channels against {reference.shape[1]} in the reference")
    pooled = histograms(reference.to(video.device)).mean(dim=(0, 1))  # [C, BINS]
    return 0.5 * (histograms(video) - pooled).abs().sum(dim=3).mean(dim=2)
