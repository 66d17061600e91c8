"""manifold-traverse (Monteiro et al. 2018): shapes, the fixed random-projection critics, the two phases and resuming
across them, the G_V reshape, sampling."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from recording import RecordingContext
from tiny_configs import TINY as SIZES
from tiny_configs import cpu_context, one_thread  # noqa: F401  (a fixture)

from vidsynth.errors import ConfigError, VidsynthError
from vidsynth.nn.projections import ProjectedFrameCritics, ProjectedVideoCritics, minibatch_std
from vidsynth_plugins.manifold_traverse import ManifoldTraverse

PLUGIN = ManifoldTraverse()

# A few thousand parameters: 8 frames of 16x16 (G_F: 2x2 -> 4 -> 8 -> 16), 3 frame critics, 2 video critics.
TINY = SIZES["manifold-traverse"]


pytestmark = pytest.mark.usefixtures("one_thread")


def tiny_config(**overrides):
    return PLUGIN.make_config("small", {**TINY, **overrides})


def tiny_video(config, batch=None, seed=0):
    g = torch.Generator().manual_seed(seed)
    shape = (batch or config.batch_size, config.channels, config.frames, config.size, config.size)
    return torch.rand(shape, generator=g) * 2 - 1


def snapshot(module):
    return {k: v.detach().clone() for k, v in module.state_dict().items()}


def changed(before, module):
    return sorted(k for k, v in module.state_dict().items() if not torch.equal(before[k], v))


# -- shapes ----------------------------------------------------------------------------------------
def test_paper_preset_has_the_papers_shapes_and_sizes():
    config = PLUGIN.make_config("paper")
    assert (config.frames, config.size, config.channels, config.frame_critics, config.video_critics) == (30, 30, 1, 48, 16)
    with torch.device("meta"):
        m = PLUGIN.build(config)
        latents = m["video_generator"](torch.randn(2, 100))
        frames = m["frame_generator"](latents.reshape(60, 100))
        video = torch.randn(2, 1, 30, 30, 30)
        assert latents.shape == (2, 30, 100)  # FC 100-...-3840 -> 30 x 128 -> bi-LSTM -> FC 512 -> 100
        assert frames.shape == (60, 1, 30, 30)
        assert m["frame_critics"](frames).shape == (60, 48)
        assert m["video_critics"](video).shape == (2, 16)
    count = lambda name: sum(p.numel() for p in m[name].parameters())  # noqa: E731
    assert count("frame_critics") == 48 * 10_508_033  # 10.5M per frame critic (convs 256-512-1024)
    assert count("video_critics") == 16 * 33_621_505  # 33.6M per video critic (3D convs 256-512-768)
    lstm = m["video_generator"].lstm
    assert (lstm.input_size, lstm.hidden_size, lstm.num_layers, lstm.bidirectional) == (128, 128, 2, True)
    assert [l.out_features for l in m["video_generator"].encode if isinstance(l, torch.nn.Linear)] == [512, 1024, 2048, 3840]


def test_small_preset_has_fewer_and_narrower_critics():
    config = PLUGIN.make_config("small")
    assert (config.frames, config.size, config.channels) == (30, 30, 1)
    assert config.video_critics < 16 and config.frame_critics < 48  # small cuts the number ...
    assert max(config.video_critic_widths) < 768 and max(config.frame_critic_widths) < 1024  # ... and the width


def test_optimisers_are_rmsprop_at_the_papers_rates_with_critic_rates_overridable():
    def rates(config):
        with torch.device("meta"):
            opts = PLUGIN.optimizers(PLUGIN.build(config), config)
        assert all(isinstance(o, torch.optim.RMSprop) for o in opts.values())
        return {name: o.param_groups[0]["lr"] for name, o in opts.items()}

    assert rates(PLUGIN.make_config("paper")) == {
        "frame_generator": 3e-4, "frame_critics": 3e-4, "video_generator": 2e-4, "video_critics": 2e-4}
    assert rates(tiny_config(frame_critic_lr=1.5e-3))["frame_critics"] == 1.5e-3


def test_frame_sizes_that_the_frame_generator_cannot_make_are_config_errors():
    with pytest.raises(ConfigError, match="frame_widths"):
        PLUGIN.make_config("small", {"size": 64})
    assert PLUGIN.make_config("small", {"size": 32}).size == 32  # same 4 widths, last padding 1 instead of 2


# -- the random-projection critics -----------------------------------------------------------------
def test_projections_are_norm_one_buffers_not_parameters():
    critics = ProjectedFrameCritics(5, 1, 30, (4, 4, 4))
    norms = critics.projection.flatten(1).norm(dim=1)
    assert torch.allclose(norms, torch.ones(5))
    assert "projection" in critics.state_dict()
    assert all("projection" not in name for name, _ in critics.named_parameters())


def test_each_critic_sees_only_its_own_projection():
    torch.manual_seed(0)
    for critics, x in ((ProjectedFrameCritics(4, 1, 30, (4, 4, 4)), torch.randn(3, 1, 30, 30)),
                       (ProjectedVideoCritics(4, 1, 30, 30, (4, 4, 4)), torch.randn(2, 1, 30, 30, 30))):
        before = critics(x)
        with torch.no_grad():
            critics.projection[2].neg_()
        after = critics(x)
        assert torch.equal(before[:, [0, 1, 3]], after[:, [0, 1, 3]])
        assert not torch.allclose(before[:, 2], after[:, 2])


def test_grouped_critics_equal_independent_discriminators():
    """Critic k of the grouped network is the authors' single discriminator with group k's weights."""
    torch.manual_seed(0)
    critics = ProjectedFrameCritics(3, 1, 30, (4, 6, 8))
    x = torch.randn(2, 1, 30, 30)
    convs = [m for m in critics.body if isinstance(m, torch.nn.Conv2d)] + [critics.head]
    k = 1
    h = F.conv2d(x, critics.projection[k:k + 1], stride=2, padding=3)
    for i, conv in enumerate(convs):
        per = conv.out_channels // 3
        h = F.conv2d(h, conv.weight[k * per:(k + 1) * per], conv.bias[k * per:(k + 1) * per], conv.stride, conv.padding)
        if i < len(convs) - 1:
            h = F.leaky_relu(h, 0.2)
    assert torch.allclose(critics(x)[:, k], h.flatten(1).mean(1), atol=1e-6)


def test_paper_geometry_gives_one_logit_per_critic():
    frames = ProjectedFrameCritics(2, 1, 30, (4, 4, 4))
    video = ProjectedVideoCritics(2, 1, 30, 30, (4, 4, 4))
    x = torch.randn(1, 1, 30, 30)
    assert frames.head(frames.body(F.conv2d(x, frames.projection, stride=2, padding=3))).shape == (1, 2, 1, 1)
    v = torch.randn(1, 1, 30, 30, 30)
    projected = F.conv3d(v, video.projection, stride=(1, 3, 3), padding=(0, 2, 2))
    assert video.head(video.body(projected)).shape == (1, 2, 1, 1, 1)


def test_minibatch_std_lets_a_critic_see_the_rest_of_the_batch():
    torch.manual_seed(0)
    x = torch.randn(4, 1, 30, 30)
    for flag in (False, True):
        critics = ProjectedFrameCritics(3, 1, 30, (4, 4, 4), minibatch_std=flag)
        y = x.clone()
        y[1:] = torch.randn(3, 1, 30, 30)  # same first frame, different company
        assert torch.allclose(critics(x)[0], critics(y)[0]) != flag
    h = torch.randn(1, 6, 2, 2).expand(5, -1, -1, -1)  # a batch of 5 identical feature maps, 3 groups of 2
    out = minibatch_std(h, 3)
    assert out.shape == (5, 9, 2, 2) and torch.all(out[:, 2::3] == 0)  # each group's std channel: no spread


def test_projections_stay_fixed_through_both_phases_and_come_back_from_a_checkpoint(tmp_path):
    config = tiny_config()
    ctx = cpu_context(PLUGIN, config)
    start = {n: ctx.modules[n].projection.clone() for n in ("frame_critics", "video_critics")}
    for step in range(4):  # two steps of each phase
        ctx.step = step
        PLUGIN.train_step(ctx, tiny_video(config, seed=step))
    for name, projection in start.items():
        assert torch.equal(ctx.modules[name].projection, projection), name

    from safetensors.torch import load_file, save_file

    save_file({f"{n}.{k}": v.contiguous() for n, m in ctx.modules.items() for k, v in m.state_dict().items()},
              str(tmp_path / "model.safetensors"))
    saved = load_file(str(tmp_path / "model.safetensors"))
    other = PLUGIN.build(tiny_config(projection_seed=7))  # different projections until loaded
    assert not torch.equal(other["frame_critics"].projection, start["frame_critics"])
    for name, module in other.items():
        module.load_state_dict({k.split(".", 1)[1]: v for k, v in saved.items() if k.startswith(name + ".")})
    for name, projection in start.items():
        assert torch.equal(other[name].projection, projection), name


# -- the two phases --------------------------------------------------------------------------------
def test_phase_one_trains_only_the_frame_gan_and_phase_two_only_the_video_gan():
    config = tiny_config(frame_steps=1)
    ctx = cpu_context(PLUGIN, config)
    names = ("frame_generator", "frame_critics", "video_generator", "video_critics")

    before = {n: snapshot(ctx.modules[n]) for n in names}
    ctx.step = 0
    assert PLUGIN.train_step(ctx, tiny_video(config))["phase"] == 1.0
    moved = {n: bool(changed(before[n], ctx.modules[n])) for n in names}
    assert moved == {"frame_generator": True, "frame_critics": True, "video_generator": False, "video_critics": False}

    before = {n: snapshot(ctx.modules[n]) for n in names}
    ctx.step = 1
    assert PLUGIN.train_step(ctx, tiny_video(config, seed=1))["phase"] == 2.0
    moved = {n: changed(before[n], ctx.modules[n]) for n in names}
    assert moved["frame_generator"] == []  # weights and batch-norm statistics: G_F is frozen
    assert moved["frame_critics"] == []
    assert moved["video_generator"] and moved["video_critics"]
    assert not ctx.modules["frame_generator"].training


def test_losses_are_the_mean_critic_bce_on_fixed_inputs():
    """d_loss: each critic's BCE(real, 1) + BCE(fake, 0), averaged over critics for the log (summed for the
    update); g_loss: the mean over critics of -log sigmoid(D_k(fake))."""
    from vidsynth_plugins.manifold_traverse.training import adversarial_step

    torch.manual_seed(0)
    ctx = RecordingContext(PLUGIN.build(tiny_config()))
    seen = ctx.seen
    real, fake = torch.rand(4, 1, 16, 16) * 2 - 1, torch.rand(4, 1, 16, 16) * 2 - 1
    out = adversarial_step(ctx, "frame_generator", "frame_critics", real, fake)
    critics = ctx.modules["frame_critics"]
    r, f = critics(real), critics(fake)
    per_critic = F.softplus(-r).mean(0) + F.softplus(f).mean(0)
    assert out["d_loss"] == pytest.approx(per_critic.mean().item(), rel=1e-5)
    assert seen["frame_critics"] == pytest.approx(per_critic.sum().item(), rel=1e-5)
    assert out["g_loss"] == pytest.approx(F.softplus(-f).mean().item(), rel=1e-5)


def test_motion_term_adds_to_the_video_generators_loss_only_when_weighted():
    from vidsynth.nn.losses import motion_matching_loss
    from vidsynth_plugins.manifold_traverse.training import adversarial_step

    torch.manual_seed(0)
    ctx = RecordingContext(PLUGIN.build(tiny_config()))
    seen = ctx.seen
    real = torch.rand(2, 1, 8, 16, 16) * 2 - 1
    fake = 0.3 * real.flip(2)  # less motion than the data
    plain = adversarial_step(ctx, "video_generator", "video_critics", real, fake)
    assert "motion_loss" not in plain and seen["video_generator"] == pytest.approx(plain["g_loss"])
    weighted = adversarial_step(ctx, "video_generator", "video_critics", real, fake, motion_weight=10.0)
    expected = motion_matching_loss(fake, real).item()
    assert weighted["motion_loss"] == pytest.approx(expected, rel=1e-5) and expected > 0.4
    assert seen["video_generator"] == pytest.approx(weighted["g_loss"] + 10.0 * expected, rel=1e-5)


def test_diversity_term_compares_the_batchs_two_halves_only_when_weighted():
    from vidsynth.nn.losses import mode_seeking_loss
    from vidsynth_plugins.manifold_traverse.training import adversarial_step

    torch.manual_seed(0)
    ctx = RecordingContext(PLUGIN.build(tiny_config()))
    seen = ctx.seen
    real, fake = torch.rand(4, 1, 8, 16, 16) * 2 - 1, torch.rand(4, 1, 8, 16, 16) * 2 - 1
    noise = torch.randn(4, 5)
    plain = adversarial_step(ctx, "video_generator", "video_critics", real, fake, noise=noise)
    assert "mode_seeking" not in plain and seen["video_generator"] == pytest.approx(plain["g_loss"])
    weighted = adversarial_step(ctx, "video_generator", "video_critics", real, fake, noise=noise, diversity_weight=0.5)
    expected = mode_seeking_loss(fake[:2], fake[2:], noise[:2], noise[2:]).item()
    assert weighted["mode_seeking"] == pytest.approx(expected, rel=1e-5)
    assert seen["video_generator"] == pytest.approx(weighted["g_loss"] + 0.5 * expected, rel=1e-5)
    with pytest.raises(ConfigError, match="diversity_weight"):
        tiny_config(diversity_weight=-1.0)


def test_small_preset_uses_the_motion_term_and_paper_does_not():
    assert PLUGIN.make_config("small").motion_weight > 0 and PLUGIN.make_config("paper").motion_weight == 0


def test_a_negative_motion_weight_is_a_config_error():
    with pytest.raises(ConfigError, match="motion_weight"):
        tiny_config(motion_weight=-1.0)


# -- G_V -------------------------------------------------------------------------------------------
def test_video_generator_keeps_batch_items_apart():
    """The authors' view(30, batch, -1) mixed batch items across time; here item 1 ignores item 0's noise."""
    config = tiny_config()
    torch.manual_seed(0)
    g_v = PLUGIN.build(config)["video_generator"].eval()
    noise = torch.randn(3, config.video_noise)
    other = noise.clone()
    other[0] = torch.randn(config.video_noise)
    a, b = g_v(noise), g_v(other)
    assert torch.equal(a[1:], b[1:]) and not torch.allclose(a[0], b[0])
    assert a.shape == (3, config.frames, config.latent) and a.abs().max() < 1  # tanh


# -- sampling --------------------------------------------------------------------------------------
def sampled(config, n=2, seed=0, **options):
    torch.manual_seed(1)
    modules = {k: m.eval() for k, m in PLUGIN.build(config).items()}
    with torch.no_grad():
        return PLUGIN.sample(modules, config, None, n, torch.Generator().manual_seed(seed), **options)


def test_fewer_frames_are_the_first_frames():
    config = tiny_config()
    assert torch.equal(sampled(config, frames=5), sampled(config)[:, :, :5])


def test_frames_only_samples_independent_frames_of_any_length():
    config = tiny_config()
    video = sampled(config, frames=12, frames_only=True)
    assert video.shape == (2, 1, 12, 16, 16)
    assert not torch.equal(video[:, :, 0], video[:, :, 1])
    still = sampled(config, frames_only=True, mean=True)  # z = 0 for every frame: one frame repeated
    assert torch.equal(still[:, :, 0], still[:, :, -1])


def test_more_frames_than_the_video_generator_makes_is_a_clear_error():
    with pytest.raises(VidsynthError, match="at most 8 frames"):
        sampled(tiny_config(), frames=9)
