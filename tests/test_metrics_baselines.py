"""The baselines a model must beat, exact on synthetic clips."""

from __future__ import annotations

import pytest
import torch

from vidsynth.metrics import baselines
from vidsynth.metrics.pixel import psnr


def ramp(frames: int = 7, shape=(2, 3, 5, 6)) -> torch.Tensor:
    """A clip whose pixels change linearly in time: [B, C, T, H, W] in [-1, 1]."""
    torch.manual_seed(0)
    start, end = torch.rand(shape) * 2 - 1, torch.rand(shape) * 2 - 1
    t = torch.linspace(0, 1, frames).view(1, 1, frames, 1, 1)
    return start.unsqueeze(2) * (1 - t) + end.unsqueeze(2) * t


def test_linear_interpolation_reproduces_a_linear_ramp():
    clip = ramp()
    made = baselines.linear_interpolation(clip[:, :, [0, -1]], clip.shape[2])
    assert torch.allclose(made, clip, atol=1e-6)


def test_linear_interpolation_ends_on_the_keyframes_exactly():
    torch.manual_seed(1)
    keys = torch.rand(2, 3, 2, 8, 8) * 2 - 1
    made = baselines.linear_interpolation(keys, 30)
    assert torch.equal(made[:, :, 0], keys[:, :, 0]) and torch.equal(made[:, :, -1], keys[:, :, 1])


def test_penington_notebook_variant_steps_by_t_over_T_and_misses_the_last_keyframe():
    keys = torch.stack([torch.zeros(1, 1, 2, 2), torch.ones(1, 1, 2, 2)], dim=2)  # 0 -> 1
    made = baselines.linear_interpolation(keys, 30, penington=True)
    assert torch.allclose(made[0, 0, :, 0, 0], torch.arange(30) / 30)
    assert made[0, 0, -1, 0, 0].item() == pytest.approx(29 / 30)


def test_copy_last_frame_holds_the_last_known_frame():
    torch.manual_seed(2)
    context = torch.rand(2, 3, 3, 4, 4)
    made = baselines.copy_last_frame(context, 8)
    assert made.shape == (2, 3, 8, 4, 4)
    assert torch.equal(made[:, :, :3], context)
    assert all(torch.equal(made[:, :, t], context[:, :, -1]) for t in range(3, 8))


def test_shuffled_frames_are_a_permutation_that_is_not_the_identity():
    video = torch.arange(2 * 6, dtype=torch.float32).view(2, 1, 6, 1, 1).expand(2, 1, 6, 2, 2).contiguous()
    out = baselines.shuffle_frames(video, torch.Generator().manual_seed(0))
    for b in range(2):
        order = out[b, 0, :, 0, 0]
        assert sorted(order.tolist()) == video[b, 0, :, 0, 0].tolist()
        assert not torch.equal(order, video[b, 0, :, 0, 0])


def test_baselines_of_each_task():
    assert [b.name for b in baselines.baselines_for("keyframes", flow=False)] == ["linear"]
    assert [b.name for b in baselines.baselines_for("first-frame")] == ["copy-given"]
    assert [b.name for b in baselines.baselines_for("next-frame")] == ["copy-last"]
    assert baselines.baselines_for("unconditional") == []


def test_flow_interpolation_ends_on_the_keyframes_and_beats_a_cross_fade_on_a_moving_square():
    pytest.importorskip("cv2")
    frames, size = 9, 32
    video = torch.full((1, 1, frames, size, size), -1.0)
    for t in range(frames):  # a smooth bright blob moving right by 1 pixel per frame
        y, x = torch.meshgrid(torch.arange(size), torch.arange(size), indexing="ij")
        video[0, 0, t] = torch.exp(-((y - 16.0) ** 2 + (x - 10.0 - t) ** 2) / 18.0) * 2 - 1
    keys = video[:, :, [0, -1]]
    flow = baselines.flow_interpolation(keys, frames)
    linear = baselines.linear_interpolation(keys, frames)
    assert torch.allclose(flow[:, :, 0], keys[:, :, 0], atol=1e-5) and torch.allclose(flow[:, :, -1], keys[:, :, 1], atol=1e-5)
    unit = lambda v: (v[:, :, 1:-1] + 1) / 2  # noqa: E731 - score the in-between frames in [0, 1]
    assert psnr(unit(flow), unit(video)).item() > psnr(unit(linear), unit(video)).item() + 3


def textured_pan(frames: int = 5, size: int = 32, step: int = 2) -> torch.Tensor:
    """A smooth random texture seen through a window moving ``step`` pixels right per frame: [1, 3, T, H, W]."""
    g = torch.Generator().manual_seed(0)
    canvas = torch.rand(1, 3, size + 32, size + 32 + step * frames, generator=g)
    canvas = torch.nn.functional.avg_pool2d(canvas, 5, stride=1, padding=2)
    canvas = (canvas - canvas.min()) / (canvas.max() - canvas.min())
    frames_ = [canvas[0, :, 16 : 16 + size, 16 + step * t : 16 + step * t + size] for t in range(frames)]
    return torch.stack(frames_, dim=1).unsqueeze(0) * 2 - 1


def in_between(video: torch.Tensor, border: int = 0) -> torch.Tensor:
    """The in-between frames in [0, 1], without ``border`` pixels at each edge."""
    inner = (video[:, :, 1:-1] + 1) / 2
    return inner[..., border : inner.shape[-2] - border, border : inner.shape[-1] - border]


def test_flow_interpolation_beats_the_cross_fade_on_a_pan_by_a_wide_margin():
    pytest.importorskip("cv2")
    video = textured_pan()
    keys = video[:, :, [0, -1]]
    flow = baselines.flow_interpolation(keys, 5)
    linear = baselines.linear_interpolation(keys, 5)
    assert psnr(in_between(flow), in_between(video)).item() > psnr(in_between(linear), in_between(video)).item() + 8


def test_flow_interpolation_is_nearly_exact_on_a_pure_translation_away_from_the_borders():
    pytest.importorskip("cv2")
    video = textured_pan(step=2)  # 8 pixels between the keyframes: more than DIS alone finds at 32x32
    flow = baselines.flow_interpolation(video[:, :, [0, -1]], 5)
    # pixels that enter the window between the keyframes are seen by one keyframe only; the rest is exact
    assert psnr(in_between(flow, border=8), in_between(video, border=8)).item() > 40


def test_flow_interpolation_keeps_the_keyframes_exactly():
    pytest.importorskip("cv2")
    torch.manual_seed(3)
    keys = torch.rand(2, 3, 2, 24, 24) * 2 - 1
    flow = baselines.flow_interpolation(keys, 6)
    assert flow.shape == (2, 3, 6, 24, 24)
    assert torch.equal(flow[:, :, 0], keys[:, :, 0]) and torch.equal(flow[:, :, -1], keys[:, :, 1])


def test_flow_on_frames_too_small_for_opencv_is_a_clear_error():
    """OpenCV's DIS refuses frames a few pixels across; that is one clear VidsynthError, not OpenCV's own
    exception (``vidsynth eval cvae DATA --size 4`` reached it), and 6 x 6 or 8 x 8 still run."""
    pytest.importorskip("cv2")
    from vidsynth.errors import VidsynthError
    from vidsynth.flow import keyframe_flows

    with pytest.raises(VidsynthError, match="frames of 4x4 pixels: too small"):
        keyframe_flows(torch.rand(1, 3, 4, 4), torch.rand(1, 3, 4, 4))
    for side in (6, 8):
        assert keyframe_flows(torch.rand(1, 3, side, side), torch.rand(1, 3, side, side))[0].shape == (1, 2, side, side)
