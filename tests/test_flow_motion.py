"""The optical-flow base video of the keyframe models (``motion="flow"``): one implementation with eval's
``flow`` baseline (``vidsynth.flow``), so an untrained model *is* that baseline; flows computed at the
keyframes' own resolution when composing a large video; computed once per training step."""

from __future__ import annotations

import math

import pytest
import torch

from vidsynth import flow as flow_module
from vidsynth.errors import ConfigError
from vidsynth.metrics.baselines import flow_interpolation, linear_interpolation
from vidsynth.nn.keyframes import KeyframeVideoGenerator, resize_keyframes
from vidsynth_plugins.cvae import CVAE

pytest.importorskip("cv2")


def psnr(a: torch.Tensor, b: torch.Tensor) -> float:
    return 10 * math.log10(1 / (a - b).pow(2).mean().item())


def generator(size: int = 16, frames: int = 8, motion: str = "flow") -> KeyframeVideoGenerator:
    torch.manual_seed(0)
    return KeyframeVideoGenerator(3, frames, size, 4, 4, (8, 8, 8, 8, 8), (1, 1, 1, 1, 2),
                                  inject_layers=(1, 4), output="residual", motion=motion).eval()


def test_an_untrained_flow_model_is_exactly_the_flow_baseline():
    torch.manual_seed(1)
    keys = torch.rand(2, 3, 2, 16, 16)
    gen = generator()
    with torch.no_grad():
        video = gen(torch.randn(2, 4), torch.randn(2, 8), keys)
    baseline = (flow_interpolation(keys * 2 - 1, 8) + 1) / 2
    assert torch.allclose(video, baseline, atol=1e-6)


def test_the_learned_blend_starts_at_the_classical_one_and_can_move_away_from_it():
    torch.manual_seed(1)
    keys = torch.rand(1, 3, 2, 16, 16)
    gen = generator()
    baseline = (flow_interpolation(keys * 2 - 1, 8) + 1) / 2
    with torch.no_grad():
        gen.motion.gates.fill_(1.0)
        moved = gen.base_video(keys)
    assert (moved - baseline).abs().max() > 1e-3
    assert torch.equal(moved[:, :, 0], keys[:, :, 0]) and torch.equal(moved[:, :, -1], keys[:, :, 1])


def test_a_trained_residual_moves_the_video_away_from_the_baseline_but_not_the_keyframes():
    torch.manual_seed(1)
    keys = torch.rand(1, 3, 2, 16, 16)
    gen = generator()
    with torch.no_grad():
        gen.residual_gate.fill_(1.0)
        video = gen(torch.randn(1, 4), torch.randn(1, 8), keys)
    baseline = (flow_interpolation(keys * 2 - 1, 8) + 1) / 2
    assert (video - baseline).abs().max() > 1e-3
    assert torch.equal(video[:, :, 0], keys[:, :, 0]) and torch.allclose(video[:, :, -1], keys[:, :, 1], atol=1e-6)


def test_at_four_times_the_network_size_the_flows_are_those_of_the_full_resolution_keyframes():
    """A 16 x 16 network composing a 64 x 64 video with its residual off gives the flow interpolation of
    the 64 x 64 keyframes (flows at full resolution), not a 16 x 16 motion scaled up."""
    torch.manual_seed(2)
    keys = torch.rand(1, 3, 2, 64, 64)
    gen = generator()
    with torch.no_grad():
        video = gen.at_resolution(torch.randn(1, 4), torch.randn(1, 8), resize_keyframes(keys, 16), keys)
    expected = flow_module.flow_video(keys, 8)
    assert video.shape == (1, 3, 8, 64, 64)
    assert torch.allclose(video, expected, atol=1e-5)


def test_on_a_pan_the_flow_base_is_far_better_than_the_cross_fade_at_full_resolution():
    video = pan_clip(frames=8, size=64, step=1.5)
    keys = video[:, :, [0, -1]]
    gen = generator()
    with torch.no_grad():
        made = gen.at_resolution(torch.randn(1, 4), torch.randn(1, 8), resize_keyframes(keys, 16), keys)
    fade = (linear_interpolation(keys * 2 - 1, 8) + 1) / 2
    inner = lambda v: v[:, :, 1:-1, 12:-12, 12:-12]  # noqa: E731 - away from the edges that enter the view
    assert psnr(inner(made), inner(video)) > psnr(inner(fade), inner(video)) + 10
    assert psnr(inner(made), inner(video)) > 35


def pan_clip(frames: int, size: int, step: float) -> torch.Tensor:
    """A smooth random texture under a window sliding ``step`` px right per frame: [1, 3, T, size, size] in [0, 1]."""
    g = torch.Generator().manual_seed(0)
    width = size + int(math.ceil(step * frames)) + 8
    canvas = torch.rand(1, 3, size, width, generator=g)
    canvas = torch.nn.functional.avg_pool2d(canvas, 9, stride=1, padding=4)
    canvas = (canvas - canvas.min()) / (canvas.max() - canvas.min())
    out = []
    for t in range(frames):
        grid_y, grid_x = torch.meshgrid(torch.arange(size, dtype=torch.float32),
                                        torch.arange(size, dtype=torch.float32) + step * t, indexing="ij")
        grid = torch.stack([grid_x / (width - 1) * 2 - 1, grid_y / (size - 1) * 2 - 1], -1).unsqueeze(0)
        out.append(torch.nn.functional.grid_sample(canvas, grid, align_corners=True)[0])
    return torch.stack(out, dim=1).unsqueeze(0)


def test_a_cvae_training_step_computes_the_flows_once(monkeypatch):
    calls = []
    real = flow_module.keyframe_flows

    def counting(first, last):
        calls.append(first.shape[0])
        return real(first, last)

    monkeypatch.setattr("vidsynth.nn.keyframes.keyframe_flows", counting)
    plugin = CVAE()
    config = plugin.make_config("small", {"motion": "flow", "size": 16, "frames": 8, "time_strides": (1, 1, 1, 1, 2),
                                          "video_widths": (8, 8), "mean_weight": 1.0})
    model = plugin.build(config)["model"]
    video = torch.rand(3, 3, 8, 16, 16)
    model(video, torch.randn(3, config.z_dim), with_mean=True)
    assert calls == [3]  # once, for the 3 clips: not again for the z = 0 half of the batch


def test_motion_flow_needs_the_residual_output():
    with pytest.raises(ConfigError, match="motion='flow' needs output='residual'"):
        CVAE().make_config("small", {"motion": "flow", "output": "sigmoid"})


def test_the_flows_of_the_same_keyframes_are_computed_once_across_calls(monkeypatch):
    """A GAN step calls its generator on the same keyframes for each critic step and its own step."""
    calls = []
    real = flow_module.keyframe_flows
    monkeypatch.setattr("vidsynth.nn.keyframes.keyframe_flows", lambda a, b: calls.append(1) or real(a, b))
    gen = generator()
    keys = torch.rand(2, 3, 2, 16, 16)
    for _ in range(3):
        gen.base_video(keys.clone())
    assert len(calls) == 1
    gen.base_video(keys.flip(-1))  # other keyframes: new flows
    assert len(calls) == 2


def test_a_pair_repeated_within_a_batch_is_computed_once_and_gives_the_same_video(monkeypatch):
    pairs = []
    real = flow_module.keyframe_flows
    monkeypatch.setattr("vidsynth.nn.keyframes.keyframe_flows", lambda a, b: pairs.append(a.shape[0]) or real(a, b))
    gen = generator()
    keys = torch.rand(2, 3, 2, 16, 16)
    with torch.no_grad():
        gen.motion.gates.fill_(0.5)
        twice = gen.base_video(torch.cat([keys, keys, keys]))
    assert pairs == [2]
    assert torch.allclose(twice[:2], twice[2:4]) and torch.allclose(twice[:2], twice[4:])
