"""The one tensor convention of vidsynth, and every conversion into and out of it.

* On disk and in the clip cache: ``uint8`` arrays ``[T, H, W, C]`` (a batch: ``[B, T, H, W, C]``).
* In models: ``float32`` tensors ``[B, C, T, H, W]`` with values in ``[-1, 1]``.
* Images (conditions for sampling): the same as a video with T = K given frames.

Nothing else in vidsynth rescales pixels by hand: it calls these.
"""

from __future__ import annotations

import numpy as np
import torch


def clips_to_model(clips: torch.Tensor | np.ndarray, device: torch.device | str | None = None) -> torch.Tensor:
    """uint8 ``[B, T, H, W, C]`` (or one clip ``[T, H, W, C]``) -> float ``[B, C, T, H, W]`` in [-1, 1]."""
    x = torch.as_tensor(clips)
    if x.dim() == 4:
        x = x.unsqueeze(0)
    if x.dim() != 5:
        raise ValueError(f"expected uint8 clips [B, T, H, W, C], got shape {tuple(x.shape)}")
    x = x.to(device=device, non_blocking=True) if device is not None else x
    return x.permute(0, 4, 1, 2, 3).float().div_(127.5).sub_(1.0)


def model_to_clips(video: torch.Tensor) -> np.ndarray:
    """float ``[B, C, T, H, W]`` in [-1, 1] -> uint8 numpy ``[B, T, H, W, C]`` (rounded, clipped)."""
    if video.dim() != 5:
        raise ValueError(f"expected a video batch [B, C, T, H, W], got shape {tuple(video.shape)}")
    x = (video.detach().float().clamp(-1, 1) + 1.0) * 127.5
    return x.round().to(torch.uint8).permute(0, 2, 3, 4, 1).cpu().numpy()


def images_to_condition(images: list[np.ndarray] | np.ndarray, device: torch.device | str | None = None) -> torch.Tensor:
    """K uint8 images ``[H, W, C]`` -> a condition ``[1, C, K, H, W]`` in [-1, 1]."""
    stack = np.stack(list(images), axis=0)  # [K, H, W, C], i.e. a K-frame clip
    return clips_to_model(stack[None], device)


def to_unit(video: torch.Tensor) -> torch.Tensor:
    """Model range [-1, 1] -> [0, 1] (what pixel metrics are defined on)."""
    return (video.clamp(-1, 1) + 1.0) / 2.0


def from_unit(video: torch.Tensor) -> torch.Tensor:
    """[0, 1] -> model range [-1, 1]."""
    return video * 2.0 - 1.0
