"""Tiling several videos into one (sample previews, dataset previews)."""

from __future__ import annotations

import math
import os
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from vidsynth.errors import VidsynthError
from vidsynth.io.write import as_frames, write_video

PAD_VALUE = 255  # white lines between tiles: visible around the dark backgrounds of most clips


def tile_videos(videos: Any | Sequence[Any], ncols: int | None = None, pad: int = 2) -> np.ndarray:
    """``N`` videos ``uint8 [T, H, W, C]`` (an array ``[N, T, H, W, C]`` or a list) -> one ``[T, H', W', C]``.

    ``ncols`` defaults to ``ceil(sqrt(N))``. Shorter videos hold their last frame; grayscale ones are
    shown in gray next to colour ones. All must share H and W.
    """
    if pad < 0:
        raise VidsynthError(f"pad must be >= 0, got {pad}")
    items = [as_frames(v, "each video") for v in (videos if isinstance(videos, (list, tuple)) else list(as_videos(videos)))]
    if not items:
        raise VidsynthError("no videos to tile")
    sizes = {v.shape[1:3] for v in items}
    if len(sizes) > 1:
        raise VidsynthError(f"videos in a grid must share height and width, got {sorted(sizes)}")
    n = len(items)
    ncols = min(n, ncols or math.ceil(math.sqrt(n)))
    if ncols < 1:
        raise VidsynthError(f"ncols must be at least 1, got {ncols}")
    nrows = math.ceil(n / ncols)
    t = max(v.shape[0] for v in items)
    c = max(v.shape[3] for v in items)
    h, w = items[0].shape[1:3]
    grid = np.full((t, nrows * h + (nrows + 1) * pad, ncols * w + (ncols + 1) * pad, c), PAD_VALUE, np.uint8)
    for i, video in enumerate(items):
        if video.shape[0] < t:
            video = np.concatenate([video, np.repeat(video[-1:], t - video.shape[0], axis=0)])
        row, col = divmod(i, ncols)
        top, left = pad + row * (h + pad), pad + col * (w + pad)
        grid[:, top : top + h, left : left + w] = video  # broadcasts 1 channel to 3
    return grid


def as_videos(videos: Any) -> np.ndarray:
    if hasattr(videos, "detach"):
        videos = videos.detach().cpu().numpy()
    array = np.asarray(videos)
    if array.ndim != 5:
        raise VidsynthError(f"videos must be uint8 [N, T, H, W, C], got shape {tuple(array.shape)}")
    return array


def write_grid(
    path: str | os.PathLike, videos: Any, fps: float = 8.0, ncols: int | None = None, pad: int = 2
) -> Path:
    """Tile ``N`` videos (``uint8 [N, T, H, W, C]`` or a list of ``[T, H, W, C]``) and write them as one.

        write_grid("preview.gif", clips[:16], fps=8)   # a 4 x 4 grid
    """
    return write_video(path, tile_videos(videos, ncols=ncols, pad=pad), fps=fps)
