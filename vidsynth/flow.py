"""Classical optical flow between two keyframes, and the in-between frames it gives (needs OpenCV).

One implementation for two users: the ``flow`` baseline that eval reports beside every keyframe model
(``vidsynth.metrics.baselines.flow_interpolation``) and the keyframe models whose base video is this
interpolation (``motion="flow"`` in ``vidsynth.nn.keyframes``: the network learns a residual on top).
So a keyframe model with a zero residual is exactly the baseline, and whatever it scores above it is
learned.

1. ``keyframe_flows``: dense flows F01 (first -> last) and F10 (last -> first) at the frames' own
   resolution on the grayscale keyframes (``dense_flow``: OpenCV's DIS, Kroeger et al. ECCV 2016, alone
   or after undoing the global translation that phase correlation finds, or Farneback, whichever
   explains the other keyframe best), and each keyframe's forward-backward consistency mask (Sundaram,
   Brox & Keutzer, ECCV 2010): the pixels the other keyframe also sees.
2. ``flow_frame``: frame t in [0, 1] from flows that lead from t back to each keyframe as in Super SloMo
   (Jiang et al., CVPR 2018): ``F_t0 = -(1-t) t F01 + t^2 F10`` and ``F_t1 = (1-t)^2 F01 - t (1-t) F10``
   (exact for a uniform translation); both keyframes warped to t (bilinear, border replicated) and
   blended with weights ``1 - t`` and ``t``, each times whether the *other* keyframe sees that content
   (its consistency mask carried along the flow; ``OCCLUDED_WEIGHT`` when not).

Step 1 runs in OpenCV per image pair (tens of milliseconds at 32x32, ~0.3 s at 512x512); step 2 in torch,
batched, on the keyframes' device.
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor

from vidsynth.errors import VidsynthError

#: how to get OpenCV when it is missing
FLOW_INSTALL = "pip install opencv-python-headless"

#: a pixel's flow is trusted when following it there and back lands within this many pixels of where
#: it started (forward-backward consistency; Sundaram, Brox & Keutzer, ECCV 2010, use a similar test
#: whose tolerance grows with the flow; a fixed 1 px suits the small clips evaluated here)
CONSISTENCY_PX = 1.0
#: weight of a keyframe sample whose content the consistency test says the other keyframe cannot see
OCCLUDED_WEIGHT = 0.2


def opencv_available() -> bool:
    try:
        import cv2  # noqa: F401
    except ImportError:
        return False
    return True


def _cv2() -> Any:
    try:
        import cv2
    except ImportError:
        raise VidsynthError(f"optical flow needs OpenCV: {FLOW_INSTALL}") from None
    return cv2


def _dis(cv2: Any, np: Any, a: Any, b: Any) -> Any:
    """DIS flow (Kroeger et al., ECCV 2016) from gray uint8 ``a`` to ``b``, refined down to full resolution."""
    dis = cv2.DISOpticalFlow_create(cv2.DISOPTICAL_FLOW_PRESET_MEDIUM)
    dis.setFinestScale(0)  # the preset stops one pyramid level above full resolution; small clips need all
    side = min(a.shape)
    dis.setPatchSize(max(4, min(8, side // 4)))
    dis.setPatchStride(max(2, min(4, side // 8)))
    return dis.calc(np.ascontiguousarray(a), np.ascontiguousarray(b), None)


def _sample(cv2: Any, np: Any, image: Any, grid_x: Any, grid_y: Any, flow: Any) -> Any:
    """``image`` sampled at ``pixel + flow`` (bilinear, border replicated)."""
    return cv2.remap(image, grid_x + flow[..., 0], grid_y + flow[..., 1], cv2.INTER_LINEAR,
                     borderMode=cv2.BORDER_REPLICATE)


def dense_flow(cv2: Any, np: Any, a: Any, b: Any, grid_x: Any, grid_y: Any) -> Any:
    """Dense flow ``[H, W, 2]`` (x, y) from gray uint8 ``a`` to ``b`` at the images' resolution.

    A coarse-to-fine flow loses displacements larger than its coarsest pyramid level can see (a few
    pixels at 32x32), so three whole fields are tried and the one that explains ``a`` best (the smallest
    mean ``|b(x + flow) - a(x)|``) is kept: DIS from zero; the global translation found by phase
    correlation (``cv2.phaseCorrelate``, Hann-windowed) plus DIS of the motion left after undoing it
    (a pan with things moving on it); and Farneback (Farneback, SCIA 2003; 3 levels, 15x15 window).
    Chosen per image, not per pixel: per-pixel choice let ambiguous flat regions (black around bouncing
    balls) pick a wrong translation.
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


def _consistency(cv2: Any, np: Any, forward: Any, backward: Any, grid_x: Any, grid_y: Any) -> Any:
    """1 where the forward flow, followed back by the backward flow, returns within CONSISTENCY_PX."""
    back = _sample(cv2, np, backward, grid_x, grid_y, forward)
    error = np.linalg.norm(forward + back, axis=-1)
    return (error <= CONSISTENCY_PX).astype(np.float32)


def keyframe_flows(first: Tensor, last: Tensor) -> tuple[Tensor, Tensor, Tensor, Tensor]:
    """Flows and visibility between keyframes ``first``, ``last`` ``[B, C, H, W]`` in [0, 1].

    Returns ``(f01, f10, seen0, seen1)`` on the keyframes' device, float32: the flows ``[B, 2, H, W]`` in
    pixels (x, y) from the first to the last keyframe and back, and ``[B, 1, H, W]`` masks, 1 where the
    other keyframe sees that pixel's content. No gradient (OpenCV).
    """
    cv2 = _cv2()
    import numpy as np

    b, _, h, w = first.shape
    gray = ((torch.stack([first, last], 1).detach().float().mean(2).clamp(0, 1) * 255).round()
            .to(torch.uint8).cpu().numpy())  # [B, 2, H, W]
    grid_x, grid_y = np.meshgrid(np.arange(w, dtype=np.float32), np.arange(h, dtype=np.float32))
    flows = np.empty((b, 2, h, w, 2), np.float32)
    seen = np.empty((b, 2, h, w), np.float32)
    for i in range(b):
        g0, g1 = gray[i]
        try:
            f01, f10 = dense_flow(cv2, np, g0, g1, grid_x, grid_y), dense_flow(cv2, np, g1, g0, grid_x, grid_y)
        except cv2.error:  # DIS refuses frames a few pixels across (e.g. 4x4; 6x6 works)
            raise VidsynthError(f"optical flow cannot run on frames of {w}x{h} pixels: too small for OpenCV's "
                                "DIS flow; use larger frames (e.g. --size 16)") from None
        flows[i, 0], flows[i, 1] = f01, f10
        seen[i, 0] = _consistency(cv2, np, f01, f10, grid_x, grid_y)
        seen[i, 1] = _consistency(cv2, np, f10, f01, grid_x, grid_y)
    as_tensor = lambda a: torch.from_numpy(a).to(first.device)  # noqa: E731
    f = as_tensor(flows).permute(0, 1, 4, 2, 3)  # [B, 2 (direction), 2 (x, y), H, W]
    s = as_tensor(seen).unsqueeze(2)  # [B, 2, 1, H, W]
    return f[:, 0], f[:, 1], s[:, 0], s[:, 1]


def sample_at(image: Tensor, flow: Tensor) -> Tensor:
    """``image`` ``[B, C, H, W]`` sampled at ``pixel + flow`` (flow ``[B, 2, H, W]``, pixels, x then y):
    bilinear, border replicated, pixel centres at integer coordinates (as ``cv2.remap``)."""
    b, _, h, w = image.shape
    ys = torch.arange(h, device=image.device, dtype=flow.dtype)
    xs = torch.arange(w, device=image.device, dtype=flow.dtype)
    gy, gx = torch.meshgrid(ys, xs, indexing="ij")
    x = (gx + flow[:, 0]) * (2.0 / max(w - 1, 1)) - 1.0
    y = (gy + flow[:, 1]) * (2.0 / max(h - 1, 1)) - 1.0
    grid = torch.stack([x, y], dim=-1).to(image.dtype)
    return F.grid_sample(image, grid, mode="bilinear", padding_mode="border", align_corners=True)


def flow_warps(first: Tensor, last: Tensor, flows: tuple[Tensor, Tensor, Tensor, Tensor],
               t: float) -> tuple[Tensor, Tensor, Tensor, Tensor]:
    """The parts of frame ``t`` in [0, 1]: both keyframes warped to t along the flow (Super SloMo's flows
    from t back to each keyframe) and their blend weights ``a0``, ``a1`` ``[B, 1, H, W]`` (``1 - t`` and
    ``t``, each times whether the other keyframe sees that content; ``OCCLUDED_WEIGHT`` when not)."""
    seen0, seen1 = flows[2], flows[3]
    from0, from1 = flows_from(flows, t)
    warped0, warped1 = sample_at(first, from0.to(first.dtype)), sample_at(last, from1.to(first.dtype))
    # seen0_t: the content the first keyframe shows at t is also in the last one (and seen1_t vice versa);
    # content only one keyframe shows then comes from that keyframe
    seen0_t = sample_at(seen0, from0).to(first.dtype)
    seen1_t = sample_at(seen1, from1).to(first.dtype)
    a0 = (1 - t) * (OCCLUDED_WEIGHT + (1 - OCCLUDED_WEIGHT) * seen1_t)
    a1 = t * (OCCLUDED_WEIGHT + (1 - OCCLUDED_WEIGHT) * seen0_t)
    return warped0, warped1, a0, a1


def flows_from(flows: tuple[Tensor, Tensor, Tensor, Tensor], t: float) -> tuple[Tensor, Tensor]:
    """Super SloMo's flows ``[B, 2, H, W]`` from time ``t`` back to the first and to the last keyframe."""
    f01, f10 = flows[0], flows[1]
    return -(1 - t) * t * f01 + t * t * f10, (1 - t) ** 2 * f01 - t * (1 - t) * f10


def flow_frame(first: Tensor, last: Tensor, flows: tuple[Tensor, Tensor, Tensor, Tensor], t: float) -> Tensor:
    """Frame ``t`` in [0, 1] between ``first`` and ``last`` ``[B, C, H, W]`` from ``keyframe_flows``'s
    output: both keyframes warped to t along the flow and blended, occlusion-aware (module docstring)."""
    warped0, warped1, a0, a1 = flow_warps(first, last, flows, t)
    return (a0 * warped0 + a1 * warped1) / (a0 + a1)


def flow_video(keyframes: Tensor, frames: int, flows: tuple[Tensor, Tensor, Tensor, Tensor] | None = None) -> Tensor:
    """``[B, C, 2, H, W]`` keyframes in [0, 1] -> ``[B, C, frames, H, W]``: frames 0 and ``frames - 1`` are the
    keyframes exactly, the others ``flow_frame``. ``flows`` (from ``keyframe_flows``) are computed when not given."""
    if keyframes.dim() != 5 or keyframes.shape[2] != 2:
        raise VidsynthError(f"flow interpolation needs keyframes [B, C, 2, H, W], got {tuple(keyframes.shape)}")
    if frames < 2:
        raise VidsynthError(f"flow interpolation needs at least 2 frames, got {frames}")
    first, last = keyframes[:, :, 0], keyframes[:, :, 1]
    flows = flows if flows is not None else keyframe_flows(first, last)
    inner = [flow_frame(first, last, flows, i / (frames - 1)) for i in range(1, frames - 1)]
    return torch.stack([first, *inner, last], dim=2)
