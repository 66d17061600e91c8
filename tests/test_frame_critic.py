"""The per-frame critic the video GANs can train beside their video critic (``frame_critic_weight``):
frame picking, the network, config checks, and one training step of each plugin that has it."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from tiny_configs import TINY
from tiny_configs import cpu_context as context

from vidsynth.errors import ConfigError
from vidsynth.nn.video_gan import FrameCritic2D, pick_frames
from vidsynth_plugins.convlstm import ConvLSTMGAN
from vidsynth_plugins.wgan3d import WGAN3D, WGAN3DConditional


def test_pick_frames_takes_k_distinct_frames_of_each_clip_and_the_same_positions_when_asked():
    torch.manual_seed(0)
    video = torch.randn(3, 2, 10, 5, 5)
    frames, index = pick_frames(video, 4)
    assert frames.shape == (12, 2, 5, 5) and index.shape == (3, 4)
    for b in range(3):
        assert len(set(index[b].tolist())) == 4
        for j in range(4):
            assert torch.equal(frames[b * 4 + j], video[b, :, index[b, j]])
    other = torch.randn_like(video)
    same, again = pick_frames(other, 4, index)
    assert torch.equal(again, index) and torch.equal(same[5], other[1, :, index[1, 1]])
    every, index = pick_frames(video, 99)
    assert every.shape == (30, 2, 5, 5) and index[2].tolist() == list(range(10))


def test_frame_critic_scores_each_frame_on_its_own():
    torch.manual_seed(0)
    critic = FrameCritic2D(3, (8, 16), 16)
    frames = torch.randn(5, 3, 16, 16)
    scores = critic(frames)
    assert scores.shape == (5,)
    changed = frames.clone()
    changed[2] += 1
    moved = critic(changed)
    assert torch.allclose(moved[[0, 1, 3, 4]], scores[[0, 1, 3, 4]]) and not torch.isclose(moved[2], scores[2])
    with pytest.raises(ValueError, match="too small"):
        FrameCritic2D(1, (8, 8, 8, 8), 16)


@pytest.mark.parametrize("plugin", [WGAN3D(), ConvLSTMGAN()], ids=lambda p: p.name)
def test_bad_frame_critic_settings_are_refused_in_one_line(plugin):
    with pytest.raises(ConfigError, match="frame_critic_weight must be >= 0"):
        plugin.make_config("small", {**TINY[plugin.name], "frame_critic_weight": -1.0})
    with pytest.raises(ConfigError, match="frame_critic_frames must be >= 1"):
        plugin.make_config("small", {**TINY[plugin.name], "frame_critic_weight": 1.0, "frame_critic_frames": 0})
    with pytest.raises(ConfigError, match="too small for a frame critic"):
        plugin.make_config("small", {**TINY[plugin.name], "frame_critic_weight": 1.0, "frame_critic_widths": (4, 4, 4)})


def _one_step(plugin, overrides):
    """Generator weights and losses after one training step from a seeded start on fixed clips."""
    config = plugin.make_config("small", overrides)
    ctx = context(plugin, config)
    video = torch.rand(config.batch_size, config.channels, config.frames, config.size, config.size,
                       generator=torch.Generator().manual_seed(1)) * 2 - 1
    torch.manual_seed(2)
    critic = ctx.modules.get("frame_critic")
    before = [p.detach().clone() for p in critic.parameters()] if critic is not None else None
    losses = plugin.train_step(ctx, video)
    if critic is not None:
        assert all(not torch.equal(a, b) for a, b in zip(before, critic.parameters()))
        assert ctx.optimizers["frame_critic"].param_groups[0]["lr"] == config.critic_lr
    return [p.detach().clone() for p in ctx.modules["generator"].parameters()], losses, ctx


@pytest.mark.parametrize("plugin", [WGAN3D(), WGAN3DConditional(), ConvLSTMGAN()], ids=lambda p: p.name)
def test_a_training_step_updates_the_frame_critic_and_adds_its_loss_to_the_generator(plugin):
    tiny = {**TINY[plugin.name], "n_critic": 1, "frame_critic_widths": (4,), "frame_critic_frames": 2}
    weights, losses, _ = _one_step(plugin, {**tiny, "frame_critic_weight": 1.0})
    for key in ("frame_wasserstein", "frame_gp", "frame_critic", "frame_generator"):
        assert np.isfinite(losses[key]), key
    # the frame critic's loss reaches the generator: with a heavier weight (same draws) it moves elsewhere
    heavy, _, _ = _one_step(plugin, {**tiny, "frame_critic_weight": 1000.0})
    assert any(not torch.allclose(a, b) for a, b in zip(weights, heavy))
    _, losses, ctx = _one_step(plugin, {**tiny, "frame_critic_weight": 0.0})
    assert "frame_critic" not in ctx.modules and "frame_generator" not in losses  # as trained before
