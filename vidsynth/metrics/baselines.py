"""The trivial baselines every model is reported beside: if a model cannot beat these, it learned nothing.

Each baseline sees exactly what the model sees (the condition taken from a test clip) and returns a
video of the clip's length, float ``[B, C, T, H, W]`` in the model range [-1, 1] like the condition.

* keyframes: ``linear_interpolation`` — a cross-fade from the first to the last frame with
  ``alpha = t / (T - 1)``, so both ends equal the keyframes. Penington et al. 2019's notebook stepped by ``i / T``
  (its last frame is never the real last frame); ``penington=True`` reproduces that for comparison with its
  Table 2. ``flow_interpolation`` — the classical interpolator: bidirectional optical flow at the
  clip's resolution (OpenCV DIS / phase correlation / Farneback; ``vidsynth.flow``), both
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
from vidsynth.flow import FLOW_INSTALL, flow_video, opencv_available  # FLOW_INSTALL: eval names it


def linear_interpolation(condition: torch.Tensor, frames: int, penington: bool = False) -> torch.Tensor:
    """Cross-fade between the two keyframes ``[B, C, 2, H, W]`` -> ``[B, C, frames, H, W]``."""
    if condition.dim() != 5 or condition.shape[2] != 2:
        raise VidsynthError(f"linear interpolation needs keyframes [B, C, 2, H, W], got {tuple(condition.shape)}")
    if frames < 2:
        raise VidsynthError(f"linear interpolation needs at least 2 frames, got {frames}")
    t = torch.arange(frames, device=condition.device, dtype=torch.float64)
    alpha = t / frames if penington else t / (frames - 1)
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


def flow_interpolation(condition: torch.Tensor, frames: int) -> torch.Tensor:
    """In-betweens from bidirectional optical flow between the keyframes, occlusion-aware (needs OpenCV):
    ``vidsynth.flow.flow_video`` (DIS / phase correlation / Farneback flows both ways, forward-backward
    consistency masks, both keyframes warped to t as in Super SloMo and blended). The keyframe models with
    ``motion="flow"`` build on the same function, so their base video is exactly this baseline.

    ``condition`` and the result are in the model range [-1, 1]; frames 0 and T-1 are the keyframes exactly.
    """
    if not opencv_available():
        raise VidsynthError(f"the optical-flow baseline needs OpenCV: {FLOW_INSTALL}")
    unit = ((condition.float() + 1) / 2).clamp(0, 1)
    result = (flow_video(unit, frames) * 2 - 1).to(condition.dtype)
    result[:, :, 0], result[:, :, -1] = condition[:, :, 0], condition[:, :, 1]  # exact, not via [0, 1] and back
    return result


@dataclass(frozen=True)
class Baseline:
    """A baseline for a conditional task: ``fn(condition, frames) -> video`` in the condition's range."""

    name: str
    fn: Callable[[torch.Tensor, int], torch.Tensor]
    description: str


def baselines_for(task: str, penington_interpolation: bool = False, flow: bool | None = None) -> list[Baseline]:
    """The baselines of a conditional ``task`` (unconditional ones are real clips; the eval engine makes them).

    ``flow=None`` adds the optical-flow baseline to keyframes when OpenCV is importable.
    """
    if task == "keyframes":
        fade = "alpha = t/T, Penington et al. 2019's notebook" if penington_interpolation else "alpha = t/(T-1)"
        found = [
            Baseline(
                "linear",
                lambda c, n: linear_interpolation(c, n, penington=penington_interpolation),
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
