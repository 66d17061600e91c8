"""The trivial baselines every model is reported beside: if a model cannot beat these, it learned nothing.

Each baseline sees exactly what the model sees (the condition taken from a test clip) and returns a
video of the clip's length, float ``[B, C, T, H, W]`` in the model range [-1, 1] like the condition.

* keyframes: ``linear_interpolation`` — a cross-fade from the first to the last frame with
  ``alpha = t / (T - 1)``, so both ends equal the keyframes. Seed 001's notebook stepped by ``i / T``
  (its last frame is never the real last frame); ``seed001=True`` reproduces that for comparison with its
  Table 2. ``flow_interpolation`` — the classical interpolator: bidirectional optical flow at the
  clip's resolution (OpenCV DIS / phase correlation / Farneback; OpenCV is the ``flow`` extra), both
  keyframes warped to time t and blended with forward-backward occlusion masks. It is exact on a pan
  but cannot follow bouncing balls between far keyframes: on 16 ``builtin:bouncing-balls`` test clips
  of 64x64 it scored 32.2 / 14.9 / 10.4 dB PSNR over the in-between frames against the cross-fade's
  19.6 / 14.7 / 10.9 dB for clips of 5 / 10 / 30 frames (measured with this module), which is why the
  cross-fade stays in every report beside it.
* first-frame: ``copy-given`` — the given frame held in every frame (copy-first-frame; for a model
  conditioned on the middle frame, that frame held before and after it).
* next-frame: ``copy-last`` (``copy_last_frame``) — the last known frame held for the rest of the clip.
* unconditional: real held-out clips themselves (the floor of every distribution metric),
  ``shuffle_frames`` of real clips (perfect frames, wrong order) and ``still`` clips (each clip's first
  frame held). Statistics of conditional models (motion, appearance, balls) also see the real clips with
  shuffled frames.
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


#: how to get the optical-flow baseline when OpenCV is missing (printed by eval, raised by flow_interpolation)
FLOW_INSTALL = "pip install opencv-python-headless (or: pip install 'vidsynth[flow]')"

#: a pixel's flow is trusted when following it there and back lands within this many pixels of where
#: it started (forward-backward consistency; Sundaram, Brox & Keutzer, ECCV 2010, use a similar test
#: whose tolerance grows with the flow; a fixed 1 px suits the small clips evaluated here)
CONSISTENCY_PX = 1.0
#: weight of a keyframe sample whose content the consistency test says the other keyframe cannot see
OCCLUDED_WEIGHT = 0.2


def _dis(cv2, np, a, b):
    """DIS flow (Kroeger et al., ECCV 2016) from gray uint8 ``a`` to ``b``, refined down to full resolution."""
    dis = cv2.DISOpticalFlow_create(cv2.DISOPTICAL_FLOW_PRESET_MEDIUM)
    dis.setFinestScale(0)  # the preset stops one pyramid level above full resolution; small clips need all
    side = min(a.shape)
    dis.setPatchSize(max(4, min(8, side // 4)))
    dis.setPatchStride(max(2, min(4, side // 8)))
    return dis.calc(np.ascontiguousarray(a), np.ascontiguousarray(b), None)


def _flow(cv2, np, a, b, grid_x, grid_y):
    """Dense flow ``[H, W, 2]`` (x, y) from gray uint8 ``a`` to ``b`` at the clip's resolution.

    A coarse-to-fine flow loses displacements larger than its coarsest pyramid level can see (a few
    pixels at 32x32), so three whole fields are tried and the one that explains ``a`` best (the smallest
    mean ``|b(x + flow) - a(x)|``) is kept: DIS from zero; the global translation found by phase
    correlation (``cv2.phaseCorrelate``, Hann-windowed) plus DIS of the motion left after undoing it
    (a pan with things moving on it); and Farneback (Farneback, SCIA 2003; 3 levels, 15x15 window), the
    previous baseline, so this one is never weaker than it. Chosen per image, not per pixel: per-pixel choice let ambiguous
    flat regions (black around bouncing balls) pick a wrong translation.
    """
    h, w = a.shape
    af, bf = a.astype(np.float32), b.astype(np.float32)
    (sx, sy), _ = cv2.phaseCorrelate(af, bf, cv2.createHanningWindow((w, h), cv2.CV_32F))
    shift = np.empty((h, w, 2), np.float32)
    shift[..., 0], shift[..., 1] = sx, sy
    moved_back = _sample(cv2, np, b, grid_x, grid_y, shift)
    farneback = cv2.calcOpticalFlowFarneback(a, b, None, 0.5, 3, 15, 3, 5, 1.2, 0)
    candidates = [_dis(cv2, np, a, b), shift + _dis(cv2, np, a, moved_back), farneback]
    errors = [float(np.abs(_sample(cv2, np, bf, grid_x, grid_y, f) - af).mean()) for f in candidates]
    return candidates[int(np.argmin(errors))].astype(np.float32)


def _sample(cv2, np, image, grid_x, grid_y, flow):
    """``image`` sampled at ``pixel + flow`` (bilinear, border replicated)."""
    return cv2.remap(image, grid_x + flow[..., 0], grid_y + flow[..., 1], cv2.INTER_LINEAR,
                     borderMode=cv2.BORDER_REPLICATE)


def _consistency(cv2, np, forward, backward, grid_x, grid_y):
    """1 where the forward flow, followed back by the backward flow, returns within CONSISTENCY_PX."""
    back = _sample(cv2, np, backward, grid_x, grid_y, forward)
    error = np.linalg.norm(forward + back, axis=-1)
    return (error <= CONSISTENCY_PX).astype(np.float32)


def flow_interpolation(condition: torch.Tensor, frames: int) -> torch.Tensor:
    """In-betweens from bidirectional optical flow between the keyframes, occlusion-aware (needs OpenCV).

    1. Dense flows F01 (first -> last) and F10 (last -> first) at the clip's resolution on the grayscale
       keyframes (``_flow``: OpenCV's DIS, Kroeger et al. ECCV 2016, alone or after undoing the global
       translation that phase correlation finds, or Farneback, whichever explains the other keyframe
       best), so a pan larger than a coarse-to-fine flow's coarsest level is still found.
    2. Forward-backward consistency (Sundaram, Brox & Keutzer, ECCV 2010): a pixel's flow, followed back
       by the other flow, returns within ``CONSISTENCY_PX``; these pixels of each keyframe are the ones
       the other keyframe also sees.
    3. For frame t in [0, 1], flows from t back to each keyframe as in Super SloMo (Jiang et al., CVPR
       2018): ``F_t0 = -(1-t) t F01 + t^2 F10`` and ``F_t1 = (1-t)^2 F01 - t (1-t) F10`` (exact for
       a uniform translation); each keyframe is warped to t with ``cv2.remap`` (bilinear, border
       replicated).
    4. The two warps are blended with weights ``1 - t`` and ``t`` (as in Super SloMo), each multiplied by
       whether the *other* keyframe sees that content (its consistency mask carried along the flow;
       ``OCCLUDED_WEIGHT`` when not): content only one keyframe shows comes from that keyframe.

    Frames 0 and T-1 are the keyframes exactly. Values in the model range [-1, 1].
    """
    try:
        import cv2
    except ImportError:
        raise VidsynthError(f"the optical-flow baseline needs OpenCV: {FLOW_INSTALL}") from None
    import numpy as np

    if condition.dim() != 5 or condition.shape[2] != 2:
        raise VidsynthError(f"flow interpolation needs keyframes [B, C, 2, H, W], got {tuple(condition.shape)}")
    if frames < 2:
        raise VidsynthError(f"flow interpolation needs at least 2 frames, got {frames}")
    unit = ((condition.float() + 1) / 2).clamp(0, 1)
    frames_np = np.ascontiguousarray(unit.permute(0, 2, 3, 4, 1).cpu().numpy())  # [B, 2, H, W, C]
    b, _, h, w, c = frames_np.shape
    grid_x, grid_y = np.meshgrid(np.arange(w, dtype=np.float32), np.arange(h, dtype=np.float32))
    out = np.empty((b, frames, h, w, c), dtype=np.float32)
    for i in range(b):
        first, last = frames_np[i, 0], frames_np[i, 1]
        g0 = (first.mean(axis=2) * 255).round().astype(np.uint8)
        g1 = (last.mean(axis=2) * 255).round().astype(np.uint8)
        f01, f10 = _flow(cv2, np, g0, g1, grid_x, grid_y), _flow(cv2, np, g1, g0, grid_x, grid_y)
        seen0 = _consistency(cv2, np, f01, f10, grid_x, grid_y)  # pixels of the first keyframe the last sees
        seen1 = _consistency(cv2, np, f10, f01, grid_x, grid_y)
        out[i, 0], out[i, -1] = first, last
        for j in range(1, frames - 1):
            t = j / (frames - 1)
            # flows from time t back to each keyframe (Super SloMo, Jiang et al. CVPR 2018)
            from0 = -(1 - t) * t * f01 + t * t * f10
            from1 = (1 - t) ** 2 * f01 - t * (1 - t) * f10
            warped0 = _sample(cv2, np, first, grid_x, grid_y, from0).reshape(h, w, c)
            warped1 = _sample(cv2, np, last, grid_x, grid_y, from1).reshape(h, w, c)
            # content the last keyframe does not see (inconsistent in the first) comes from the first alone
            seen0_t = _sample(cv2, np, seen0, grid_x, grid_y, from0)
            seen1_t = _sample(cv2, np, seen1, grid_x, grid_y, from1)
            a0 = (1 - t) * (OCCLUDED_WEIGHT + (1 - OCCLUDED_WEIGHT) * seen1_t)
            a1 = t * (OCCLUDED_WEIGHT + (1 - OCCLUDED_WEIGHT) * seen0_t)
            out[i, j] = (a0[..., None] * warped0 + a1[..., None] * warped1) / (a0 + a1)[..., None]
    result = torch.from_numpy(out).permute(0, 4, 1, 2, 3).to(condition.device, condition.dtype) * 2 - 1
    result[:, :, 0], result[:, :, -1] = condition[:, :, 0], condition[:, :, 1]  # exact, not via [0, 1] and back
    return result


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
        fade = "alpha = t/T, Penington et al. 2019's notebook" if seed001_interpolation else "alpha = t/(T-1)"
        found = [
            Baseline(
                "linear",
                lambda c, n: linear_interpolation(c, n, seed001=seed001_interpolation),
                f"cross-fade between the keyframes ({fade})",
            )
        ]
        if flow or (flow is None and opencv_available()):
            found.append(Baseline("flow", flow_interpolation, "bidirectional optical flow (DIS / phase correlation / Farneback), both keyframes warped, occlusion-aware blend"))
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
        "still": "the first frame of each held-out clip held for the whole clip: a perfect frame, no motion",
    }
