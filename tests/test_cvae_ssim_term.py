"""The cvae's optional SSIM term (``ssim_weight``): eval's SSIM, differentiable, on the in-between frames."""

from __future__ import annotations

import math

import pytest
import torch

from tiny_configs import TINY, cpu_context

from vidsynth.errors import ConfigError
from vidsynth.metrics.pixel import ssim
from vidsynth_plugins.cvae import CVAE
from vidsynth_plugins.cvae.losses import ssim_dissimilarity

from test_plugin_cvae import clips

PLUGIN = CVAE()


def noisy_pair(seed=0):
    g = torch.Generator().manual_seed(seed)
    video = torch.nn.functional.avg_pool3d(torch.rand(2, 3, 6, 24, 24, generator=g), 3, stride=1, padding=1)
    return video, (video + 0.1 * torch.randn(video.shape, generator=g)).clamp(0, 1)


def test_it_is_one_minus_evals_ssim_of_the_inner_frames():
    video, recon = noisy_pair()
    expected = 1 - ssim(recon[:, :, 1:-1], video[:, :, 1:-1])
    assert torch.allclose(ssim_dissimilarity(video, recon, "mean"), expected, atol=1e-6)
    assert torch.allclose(ssim_dissimilarity(video, recon, "log"), torch.log(expected + 1e-4), atol=1e-5)
    # the keyframes do not count: changing them changes nothing
    other = recon.clone()
    other[:, :, [0, -1]] = 0.5
    assert torch.equal(ssim_dissimilarity(video, other, "mean"), ssim_dissimilarity(video, recon, "mean"))
    # a perfect clip scores 0 (log: the floor)
    assert ssim_dissimilarity(video, video, "mean").abs().max() < 1e-6
    assert ssim_dissimilarity(video, video, "log").tolist() == pytest.approx([math.log(1e-4)] * 2, abs=1e-2)


def test_its_gradient_moves_a_guess_towards_the_clip():
    video, recon = noisy_pair(1)
    guess = recon.clone().requires_grad_(True)
    before = ssim_dissimilarity(video, guess, "log").sum()
    before.backward()
    with torch.no_grad():
        stepped = guess - 0.02 * guess.grad / guess.grad.abs().max()
    assert ssim_dissimilarity(video, stepped, "log").sum() < before


def test_small_trains_with_it_and_without_it_nothing_is_logged():
    """On in ``small`` (test_plugin_cvae's training test sees the term logged and falling), off in ``paper``."""
    assert PLUGIN.make_config("small").ssim_weight == 1.0 and PLUGIN.make_config("paper").ssim_weight == 0.0
    off = PLUGIN.make_config("small", {**TINY["cvae"], "batch_size": 2, "ssim_weight": 0.0})
    logs = PLUGIN.train_step(cpu_context(PLUGIN, off), clips(off, n=2))
    assert "ssim" not in logs and all(math.isfinite(v) for v in logs.values())


def test_config_rejects_a_negative_weight_and_frames_smaller_than_the_window():
    with pytest.raises(ConfigError, match="ssim_weight must be >= 0"):
        PLUGIN.make_config("small", {"ssim_weight": -1.0})
    with pytest.raises(ConfigError, match="11x11"):
        PLUGIN.make_config("small", {"ssim_weight": 1.0, "size": 8, "video_widths": (8, 8, 8)})
