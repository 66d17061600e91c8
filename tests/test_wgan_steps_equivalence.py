"""The training steps of wgan3d-cond and convlstm (critic scored on real + fake in one pass, the critic frozen
during the generator's update, the mode-seeking term's two noises in one generator pass) give the same update
as the textbook step: two critic passes, every weight differentiated, the generator called once per noise."""

from __future__ import annotations

import copy

import torch
import torch.nn.functional as F

from tiny_configs import TINY, cpu_context

from vidsynth.nn.losses import (
    drift_penalty,
    gradient_penalty,
    interpolate,
    mode_seeking_loss,
    wasserstein_critic_loss,
    wasserstein_generator_loss,
)
from vidsynth_plugins.convlstm import ConvLSTMGAN
from vidsynth_plugins.wgan3d import WGAN3DConditional
from vidsynth_plugins.wgan3d.networks import condition_index, paste_frame


def textbook_critic_update(ctx, video, fake, *condition):
    c, D = ctx.config, ctx.modules["critic"]
    real_scores, fake_scores = D(video, *condition), D(fake, *condition)
    loss = wasserstein_critic_loss(real_scores, fake_scores)
    loss = loss + c.gp_weight * gradient_penalty(lambda x: D(x, *condition), interpolate(video, fake))
    ctx.optimize("critic", loss + c.drift_weight * drift_penalty(real_scores))


def textbook_wgan3d_cond_step(ctx, video):
    c, G, D = ctx.config, ctx.modules["generator"], ctx.modules["critic"]
    i = condition_index(c.frames, c.condition)
    frame = video[:, :, i : i + 1]
    with torch.no_grad():
        fake = G(torch.randn(video.shape[0], c.z_dim), frame)
    textbook_critic_update(ctx, video, fake, frame)
    z = torch.randn(video.shape[0], c.z_dim)
    raw = G(z, frame, paste=False)
    g_loss = wasserstein_generator_loss(D(paste_frame(raw, frame, i), frame))
    g_loss = g_loss + c.l2_weight * F.mse_loss(raw[:, :, i : i + 1], frame)
    z2 = torch.randn_like(z)
    g_loss = g_loss + c.diversity_weight * mode_seeking_loss(raw, G(z2, frame, paste=False), z, z2)
    ctx.optimize("generator", g_loss)


def textbook_convlstm_step(ctx, video):
    c, G, D = ctx.config, ctx.modules["generator"], ctx.modules["critic"]
    b, t = video.shape[0], video.shape[2]
    frame = video[:, :, :1]
    with torch.no_grad():
        fake = G(frame, torch.randn(b, c.z_dim), t)
    textbook_critic_update(ctx, video, fake)
    z = torch.randn(b, c.z_dim)
    fake = G(frame, z, t)
    g_loss = wasserstein_generator_loss(D(fake))
    z2 = torch.randn_like(z)
    g_loss = g_loss + c.diversity_weight * mode_seeking_loss(fake[:, :, 1:], G(frame, z2, t)[:, :, 1:], z, z2)
    g_loss = g_loss + c.rec_weight * F.l1_loss(fake[:, :, 1:], video[:, :, 1:])
    ctx.optimize("generator", g_loss)


def assert_same_update(plugin, overrides, textbook):
    config = plugin.make_config("small", {**TINY[plugin.name], **overrides})
    assert config.diversity_weight > 0 and config.n_critic == 1  # both updates, the mode-seeking term on
    fast, slow = cpu_context(plugin, config), cpu_context(plugin, config)
    for name in slow.bare:
        slow.bare[name].load_state_dict(copy.deepcopy(fast.bare[name].state_dict()))
    video = torch.rand(config.batch_size, config.channels, config.frames, config.size, config.size) * 2 - 1
    for _ in range(2):
        torch.manual_seed(7)
        plugin.train_step(fast, video)
        torch.manual_seed(7)
        textbook(slow, video)
        fast.step = slow.step = fast.step + 1
    for name in fast.bare:
        for (key, a), b in zip(fast.bare[name].state_dict().items(), slow.bare[name].state_dict().values()):
            assert torch.allclose(a, b, atol=1e-6), f"{name}.{key} differs by {(a - b).abs().max():.2e}"
        assert all(p.requires_grad for p in fast.bare[name].parameters())  # the freeze was undone


def test_wgan3d_cond_step_equals_the_textbook_step():
    # the per-frame critic (on in `small`) is tested on its own in test_frame_critic.py
    assert_same_update(WGAN3DConditional(), {"frame_critic_weight": 0.0}, textbook_wgan3d_cond_step)


def test_convlstm_step_equals_the_textbook_step():
    # the per-frame critic (on in `small`) is tested on its own in test_frame_critic.py
    assert_same_update(ConvLSTMGAN(), {"frame_critic_weight": 0.0}, textbook_convlstm_step)
