"""pix2pix-chain (Zhang 2019, deliverable 3): the U-Net and PatchGAN, the loss, k-frame context, the unrolled
horizon, and chained sampling."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from recording import RecordingContext
from tiny_configs import TINY as SIZES
from tiny_configs import cpu_context, one_thread  # noqa: F401  (a fixture)

from vidsynth.errors import ConfigError, VidsynthError
from vidsynth.generate import run_sample
from vidsynth.nn.patchgan import PatchDiscriminator, patch_receptive_field
from vidsynth.nn.unet import UNet
from vidsynth_plugins.pix2pix_chain import Pix2PixChain
from vidsynth_plugins.pix2pix_chain.chain import predict_next, push, random_windows, stack_frames

PLUGIN = Pix2PixChain()

# 8 frames of 8x8 grayscale; a 3-level U-Net with 4-8-16 channels, a 1-layer PatchGAN.
TINY = SIZES["pix2pix-chain"]


def tiny_config(**overrides):
    return PLUGIN.make_config("small", {**TINY, **overrides})


def recording(config, seed=0):
    torch.manual_seed(seed)
    return RecordingContext(PLUGIN.build(config), config)


def moving_square(batch=2, frames=8, size=8, channels=1):
    """A bright 2x2 square moving one pixel right per frame (wrapping around), at a different row per clip:
    every window of every clip is equally hard to predict."""
    video = -torch.ones(batch, channels, frames, size, size)
    for b in range(batch):
        row = (2 * b) % (size - 1)
        video[b, :, 0, row:row + 2, 0:2] = 1.0
    for t in range(1, frames):
        video[:, :, t] = video[:, :, 0].roll(t, dims=-1)
    return video


pytestmark = pytest.mark.usefixtures("one_thread")


# -- the networks ----------------------------------------------------------------------------------
def test_paper_preset_is_pix2pix_at_64x64():
    config = PLUGIN.make_config("paper")
    assert (config.size, config.levels, config.context, config.l1_weight, config.lr, config.betas) == (64, 6, 1, 100.0, 2e-4, (0.5, 0.999))
    assert (config.batch_size, config.norm, config.dropout, config.disc_layers) == (1, "batch", 0.5, 3)
    with torch.device("meta"):
        m = PLUGIN.build(config)
        x = torch.randn(1, 3, 64, 64)
        assert m["generator"](x).shape == (1, 3, 64, 64)
        assert m["discriminator"](torch.cat([x, x], 1)).shape == (1, 1, 6, 6)  # 70x70 patches of a 64x64 pair
    g = m["generator"]
    assert g.widths == [64, 128, 256, 512, 512, 512]  # C64-C128-C256-C512-C512-C512 down to 1x1
    assert sum(isinstance(l, torch.nn.Dropout) for l in g.modules()) == 1


def test_unet_with_8_levels_is_the_papers_256_generator():
    with torch.device("meta"):
        g = UNet(3, 3, levels=8)
        assert g(torch.randn(1, 3, 256, 256)).shape == (1, 3, 256, 256)
    assert g.widths == [64, 128, 256, 512, 512, 512, 512, 512]
    assert sum(isinstance(l, torch.nn.Dropout) for l in g.modules()) == 3  # the three inner 512 decoder blocks


def test_parameter_counts_equal_the_authors_networks():
    """The authors' code prints, for grayscale pix2pix (junyanz/pytorch-CycleGAN-and-pix2pix issue #1152):
    unet_256 54.408 M, a 6-level unet 29.238 M, the 70x70 PatchGAN 2.765 M, the 2-layer one 0.662 M."""
    count = lambda m: sum(p.numel() for p in m.parameters())  # noqa: E731
    with torch.device("meta"):
        assert count(UNet(1, 1, levels=8)) == 54_407_809
        assert count(UNet(1, 1, levels=6)) == 29_237_889
        assert count(PatchDiscriminator(2, layers=3)) == 2_764_609
        assert count(PatchDiscriminator(2, layers=2)) == 662_337


def test_patchgan_receptive_field_is_70_for_3_layers():
    assert [patch_receptive_field(n) for n in (1, 2, 3, 4)] == [16, 34, 70, 142]
    torch.manual_seed(0)
    d = PatchDiscriminator(1, base_channels=2, layers=3, norm="none")
    x = torch.randn(1, 1, 128, 128, requires_grad=True)
    out = d(x)
    out[0, 0, out.shape[2] // 2, out.shape[3] // 2].backward()
    rows = (x.grad[0, 0].abs().sum(1) > 0).nonzero()
    cols = (x.grad[0, 0].abs().sum(0) > 0).nonzero()
    assert rows.max() - rows.min() + 1 == 70 and cols.max() - cols.min() + 1 == 70


def test_sizes_the_unet_cannot_halve_are_config_errors():
    with pytest.raises(ConfigError, match="divisible by 2\\*\\*levels"):
        PLUGIN.make_config("small", {"size": 48})
    with pytest.raises(ConfigError, match="context \\+ unroll"):
        PLUGIN.make_config("small", {"frames": 4, "context": 2, "unroll": 3})


# -- training --------------------------------------------------------------------------------------
def test_windows_are_consecutive_frames_of_one_clip():
    torch.manual_seed(0)
    t = torch.arange(10.0)
    video = (t.view(1, 1, 10, 1, 1) + 100 * torch.arange(3.0).view(3, 1, 1, 1, 1)).expand(3, 2, 10, 4, 4)
    windows = random_windows(video, 4, per_clip=5)
    assert windows.shape == (15, 2, 4, 4, 4)
    values = windows[:, 0, :, 0, 0]
    assert torch.equal(values[:, 1:] - values[:, :-1], torch.ones(15, 3))  # consecutive
    assert torch.equal(values[:, 0] // 100, torch.arange(3.0).repeat_interleave(5))  # from its own clip


def test_losses_match_pix2pix_on_fixed_inputs():
    """D: 0.5 (BCE(D(x, y), 1) + BCE(D(x, G(x)), 0)); G: BCE(D(x, G(x)), 1) + 100 |y - G(x)|_1."""
    config = tiny_config(frames=2)  # one window per clip: frame 0 -> frame 1
    ctx = recording(config)
    for m in ctx.modules.values():
        m.eval()  # batch statistics would differ between the step's D calls and ours
    video = moving_square(frames=2)
    out = PLUGIN.train_step(ctx, video)
    g, d = ctx.modules["generator"], ctx.modules["discriminator"]
    x, y = video[:, :, 0], video[:, :, 1]
    fake = g(x)
    real_logits, fake_logits = d(torch.cat([x, y], 1)), d(torch.cat([x, fake], 1))
    d_loss = 0.5 * (F.softplus(-real_logits).mean() + F.softplus(fake_logits).mean())
    l1 = (fake - y).abs().mean()
    assert out["d_loss"] == pytest.approx(d_loss.item(), rel=1e-5) == pytest.approx(ctx.seen["discriminator"], rel=1e-5)
    assert out["g_l1"] == pytest.approx(l1.item(), rel=1e-5)
    assert ctx.seen["generator"] == pytest.approx((F.softplus(-fake_logits).mean() + 100 * l1).item(), rel=1e-5)


def test_a_few_small_steps_reduce_the_l1_and_keep_losses_finite():
    config = tiny_config(residual=True, context=2)
    ctx = cpu_context(PLUGIN, config)
    video = moving_square()
    before = {k: v.clone() for k, v in ctx.modules["generator"].state_dict().items()}
    l1 = []
    for step in range(30):
        ctx.step = step
        losses = PLUGIN.train_step(ctx, video)
        assert all(torch.isfinite(torch.tensor(v)) for v in losses.values()), losses
        l1.append(losses["g_l1"])
    assert sum(l1[-5:]) < sum(l1[:5])
    assert any(not torch.equal(before[k], v) for k, v in ctx.modules["generator"].state_dict().items())


def test_k_frame_context_feeds_the_last_k_frames_to_both_networks():
    config = tiny_config(context=3, channels=3)
    m = PLUGIN.build(config)
    assert m["generator"].downs[0][0].in_channels == 9  # 3 frames x 3 channels
    assert m["discriminator"].net[0].in_channels == 12  # the 3 context frames + the candidate next frame
    video = torch.rand(2, 3, 8, 8, 8) * 2 - 1
    assert torch.equal(PLUGIN.condition_from(video, config), video[:, :, :3])
    assert torch.equal(stack_frames(video[:, :, :3])[:, 3:6], video[:, :, 1])  # frame-major channels


def test_unrolled_training_feeds_back_its_own_predictions():
    """With unroll 2 the second prediction is made from [true frame 1, predicted frame 2]."""
    config = tiny_config(frames=4, context=2, unroll=2)  # windows of 4 frames: one per clip, at offset 0
    ctx = recording(config)
    for m in ctx.modules.values():
        m.eval()
    video = moving_square(frames=4)
    out = PLUGIN.train_step(ctx, video)
    g = ctx.modules["generator"]
    first = predict_next(g, video[:, :, :2], residual=False)
    second = predict_next(g, push(video[:, :, :2], first), residual=False)
    assert out["l1_first"] == pytest.approx((first - video[:, :, 2]).abs().mean().item(), rel=1e-5)
    assert out["l1_last"] == pytest.approx((second - video[:, :, 3]).abs().mean().item(), rel=1e-5)
    assert not torch.allclose(second, predict_next(g, video[:, :, 1:3], residual=False))  # not teacher forcing


def test_unroll_backprop_sends_the_later_losses_into_the_earlier_predictions():
    def generator_grads(backprop, unroll):
        config = tiny_config(frames=4, context=2, unroll=unroll, unroll_backprop=backprop)
        ctx = recording(config)
        grads = {}
        ctx.optimize = lambda name, loss: grads.update(
            {name: torch.autograd.grad(loss, list(ctx.modules[name].parameters()), allow_unused=True)})
        torch.manual_seed(3)
        PLUGIN.train_step(ctx, moving_square(frames=4))
        return torch.cat([g.flatten() for g in grads["generator"] if g is not None])

    assert torch.allclose(generator_grads(True, 1), generator_grads(False, 1))
    assert not torch.allclose(generator_grads(True, 2), generator_grads(False, 2))


# -- sampling --------------------------------------------------------------------------------------
def sample(config, condition, n=2, seed=0, modules=None, **options):
    if modules is None:
        torch.manual_seed(1)
        modules = {k: m.eval() for k, m in PLUGIN.build(config).items()}
    frames, mean = options.pop("frames", None), options.pop("mean", False)
    return run_sample(PLUGIN, modules, config, condition, n, seed, frames=frames, mean=mean, options=options)


def test_chained_sample_starts_with_the_start_image_and_has_the_asked_length():
    config = tiny_config()
    start = moving_square(batch=1)[:, :, :1]
    video = sample(config, start, n=2, frames=30)
    assert video.shape == (2, 1, 30, 8, 8)
    assert torch.equal(video[:, :, 0], start[:, :, 0].expand(2, -1, -1, -1))  # frame 0 is the start image
    assert sample(config, start, frames=None).shape[2] == config.frames


def test_each_chained_frame_is_the_prediction_from_the_previous_ones():
    config = tiny_config(context=2)
    torch.manual_seed(1)
    modules = {k: m.eval() for k, m in PLUGIN.build(config).items()}
    given = moving_square(batch=1)[:, :, :2]
    video = sample(config, given, n=1, frames=5, modules=modules)
    assert torch.equal(video[:, :, :2], given)
    with torch.no_grad():
        assert torch.allclose(video[:, :, 2], predict_next(modules["generator"], given, False))
        assert torch.allclose(video[:, :, 4], predict_next(modules["generator"], video[:, :, 2:4], False))


def test_one_image_is_enough_for_a_k_frame_model():
    config = tiny_config(context=3)
    start = moving_square(batch=1)[:, :, :1]
    assert sample(config, start, n=1, frames=6).shape == (1, 1, 6, 8, 8)


def test_an_untrained_residual_model_is_copy_last_frame():
    config = tiny_config(residual=True)
    start = moving_square(batch=1)[:, :, 3:4]
    video = sample(config, start, n=1, frames=6)
    assert torch.equal(video, start.expand(-1, -1, 6, -1, -1))


def test_an_untrained_motion_prior_model_is_copy_last_frame_and_needs_two_frames_of_context():
    config = tiny_config(residual=True, motion_prior=True, context=2)
    start = moving_square(batch=1)[:, :, 2:4]
    video = sample(config, start, n=1, frames=6)
    assert torch.equal(video[:, :, 2:], start[:, :, 1:].expand(-1, -1, 4, -1, -1))  # alpha starts at 0
    with pytest.raises(ConfigError, match="needs residual = true and context >= 2"):
        tiny_config(residual=True, motion_prior=True, context=1)
    with pytest.raises(ConfigError, match="needs residual = true"):
        tiny_config(residual=False, motion_prior=True)


def test_small_rgb_preset_is_64x64_colour_with_the_motion_prior_and_ema():
    config = PLUGIN.make_config("small-rgb")
    assert (config.size, config.channels, config.levels, config.context) == (64, 3, 6, 2)
    assert config.residual and config.motion_prior and config.ema > 0 and PLUGIN.ema_modules == ("generator",)
    with torch.device("meta"):
        g = PLUGIN.build(config)["generator"]
    assert {"motion.alpha_raw", "motion.log_tau"} <= set(g.state_dict())


def test_dropout_option_gives_seeded_stochastic_chains():
    config = tiny_config(size=16, levels=4, gen_max_channels=8, dropout=0.5)  # widths 4-8-8-8: one dropout block
    start = moving_square(batch=1, size=16)[:, :, :1]
    a = sample(config, start, n=1, seed=0, dropout=True)
    assert torch.equal(a, sample(config, start, n=1, seed=0, dropout=True))
    assert not torch.equal(a, sample(config, start, n=1, seed=1, dropout=True))
    assert torch.equal(sample(config, start, n=1, seed=0), sample(config, start, n=1, seed=1))  # off: no noise


def test_asking_for_no_more_frames_than_given_is_a_clear_error():
    config = tiny_config()
    with pytest.raises(VidsynthError, match="ask for more"):
        sample(config, torch.zeros(1, 1, 3, 8, 8), frames=3)
