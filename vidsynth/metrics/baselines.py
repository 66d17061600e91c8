"""The trivial baselines every model is reported beside: if a model cannot beat these, it learned nothing.

Each baseline sees exactly what the model sees (the condition taken from a test clip) and returns a
video of the clip's length, float ``[B, C, T, H, W]`` in the model range [-1, 1] like the condition.

* keyframes: ``linear_interpolation`` — a cross-fade from the first to the last frame with
  ``alpha = t / (T - 1)``, so both ends equal the keyframes. Seed 001's notebook stepped by ``i / T``
  (its last frame is never the real last frame); ``seed001=True`` reproduces that for comparison with its
  Table 2. ``flow_interpolation`` — bidirectional Farneback optical flow (OpenCV, the ``flow`` extra),
  each keyframe warped toward time t and blended; on 64x64 clips it adds at most ~0.4 dB over the
  cross-fade (FACTS.md), which tells how hard the cross-fade is to beat.
* first-frame: ``copy-given`` — the given frame held in every frame (copy-first-frame; for a model
  conditioned on the middle frame, that frame held before and after it).
* next-frame: ``copy-last`` (``copy_last_frame``) — the last known frame held for the rest of the clip.
* unconditional: real held-out clips themselves (the floor of every distribution metric) and
  ``shuffle_frames`` of real clips (perfect frames, no motion).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable

import torch

from vidsynth.errors import VidsynthError


def linear_interpolation(condition: torch.Tensor, frames: int, seed001: bool = False) -> torch.Tensor:
    """Cross-fade between the two keyframes ``[B, C, 2, H, W]`` -> ``[B, C, frames, H, W]``."""
    if condition.dim() != 5 or condition.shape[2] != 2:
        raise VidsynthError(f"linear interpolation needs keyframes [B, C, 2, H, W], got {tuple(condition.shape)}")
    if frames < 2:
        raise VidsynthError(f"linear interpolation needs at least 2 frames, got {frames}")
    t = torch.arange(frames, device=condition.device, dtype=torch.float64)
    alpha = t / frames if seed001 else t / (frames - 1)
    alpha = alpha.to(condition.dtype).view(1, 1, -1, 1, 1)
    first, last = condition[:, :, :1], condition[:, :, 1:2]
    return first * (1 - alpha) + last * alpha


def copy_last_frame(condition: torch.Tensor, frames: int) -> torch.Tensor:
    """The known frames ``[B, C, K, H, W]`` followed by the last of them held until ``frames`` frames."""
    k = condition.shape[2]
    if condition.dim() != 5 or k < 1:
        raise VidsynthError(f"copy-last-frame needs known frames [B, C, K, H, W], got {tuple(condition.shape)}")
    if frames < k:
        return condition[:, :, :frames].clone()
    held = condition[:, :, -1:].expand(-1, -1, frames - k, -1, -1)
    return torch.cat([condition, held], dim=2)


def shuffle_frames(video: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
    """Each clip's frames in a random order (never the identity when T > 1): right frames, no motion."""
    b, _, t = video.shape[:3]
    out = torch.empty_like(video)
    for i in range(b):
        order = torch.randperm(t, generator=generator)
        while t > 1 and torch.equal(order, torch.arange(t)):
            order = torch.randperm(t, generator=generator)
        out[i] = video[i][:, order.to(video.device)]
    return out


def opencv_available() -> bool:
    try:
        import cv2  # noqa: F401
    except ImportError:
        return False
    return True


def flow_interpolation(condition: torch.Tensor, frames: int) -> torch.Tensor:
    """In-betweens from bidirectional optical flow between the keyframes (needs OpenCV).

    Flows F01 (first->last) and F10 (last->first) come from Farneback on the grayscale keyframes; the
    flows from time t back to each keyframe are approximated as in Super SloMo (Jiang et al. 2018):
    ``F_t0 = -(1-t) t F01 + t^2 F10`` and ``F_t1 = (1-t)^2 F01 - t (1-t) F10``; each keyframe is warped
    with ``cv2.remap`` (bilinear, border replicated) and the two are blended with weights ``1-t`` and
    ``t``. At t = 0 and t = 1 this returns the keyframes exactly. Values in the model range [-1, 1].
    """
    try:
        import cv2
    except ImportError:
        raise VidsynthError("the optical-flow baseline needs OpenCV: pip install 'vidsynth[flow]'") from None
    import numpy as np

    if condition.dim() != 5 or condition.shape[2] != 2:
        raise VidsynthError(f"flow interpolation needs keyframes [B, C, 2, H, W], got {tuple(condition.shape)}")
    unit = (condition.float() + 1) / 2  # OpenCV works on [0, 1] floats and 0..255 grayscale
    frames_np = unit.clamp(0, 1).permute(0, 2, 3, 4, 1).cpu().numpy()  # [B, 2, H, W, C]
    b, _, h, w, c = frames_np.shape
    grid_x, grid_y = np.meshgrid(np.arange(w, dtype=np.float32), np.arange(h, dtype=np.float32))
    out = np.empty((b, frames, h, w, c), dtype=np.float32)
    for i in range(b):
        first, last = frames_np[i, 0], frames_np[i, 1]
        g0 = (first.mean(axis=2) * 255).round().astype(np.uint8)
        g1 = (last.mean(axis=2) * 255).round().astype(np.uint8)
        args = (None, 0.5, 3, 15, 3, 5, 1.2, 0)
        f01 = cv2.calcOpticalFlowFarneback(g0, g1, *args)
        f10 = cv2.calcOpticalFlowFarneback(g1, g0, *args)
        for j in range(frames):
            t = j / (frames - 1) if frames > 1 else 0.0
            ft0 = -(1 - t) * t * f01 + t * t * f10
            ft1 = (1 - t) ** 2 * f01 - t * (1 - t) * f10
            w0 = cv2.remap(first, grid_x + ft0[..., 0], grid_y + ft0[..., 1], cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
            w1 = cv2.remap(last, grid_x + ft1[..., 0], grid_y + ft1[..., 1], cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
            out[i, j] = (1 - t) * w0.reshape(h, w, c) + t * w1.reshape(h, w, c)
    result = torch.from_numpy(out).permute(0, 4, 1, 2, 3).to(condition.device, condition.dtype)
    return result * 2 - 1


@dataclass(frozen=True)
class Baseline:
    """A baseline for a conditional task: ``fn(condition, frames) -> video`` in the condition's range."""

    name: str
    fn: Callable[[torch.Tensor, int], torch.Tensor]
    description: str


def baselines_for(task: str, seed001_interpolation: bool = False, flow: bool | None = None) -> list[Baseline]:
    """The baselines of a conditional ``task`` (unconditional ones are real clips; the eval engine makes them).

    ``flow=None`` adds the optical-flow baseline to keyframes when OpenCV is importable.
    """
    if task == "keyframes":
        fade = "alpha = t/T, seed 001's notebook" if seed001_interpolation else "alpha = t/(T-1)"
        found = [
            Baseline(
                "linear",
                lambda c, n: linear_interpolation(c, n, seed001=seed001_interpolation),
                f"cross-fade between the keyframes ({fade})",
            )
        ]
        if flow or (flow is None and opencv_available()):
            found.append(Baseline("flow", flow_interpolation, "bidirectional Farneback optical flow, warp + blend"))
        return found
    if task == "first-frame":
        return [Baseline("copy-given", copy_last_frame,
                         "the given frame held in every frame (copy-first-frame when it is frame 0)")]
    if task == "next-frame":
        return [Baseline("copy-last", copy_last_frame, "the last known frame held to the end")]
    return []


def describe_unconditional_baselines() -> dict[str, Any]:
    return {
        "real": "held-out real clips (every second test clip) against the other half: the noise floor",
        "shuffled": "the same held-out clips with their frames in random order: perfect frames, no motion",
    }
