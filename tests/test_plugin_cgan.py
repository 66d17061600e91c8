"""The ``cgan`` plugin (Penington et al. 2019, sections 6-7): shapes, loss (2), the D:G schedule, sampling, keyframes."""

from __future__ import annotations

import math

import pytest
import torch

from tiny_configs import TINY as SIZES
from tiny_configs import cpu_context

from vidsynth.errors import ConfigError
from vidsynth.generate import run_sample
from vidsynth.metrics.pixel import psnr_per_frame
from vidsynth.nn.losses import squared_error
from vidsynth.tensors import to_unit
from vidsynth_plugins.cgan import CGAN, keyframe_term

PLUGIN = CGAN()
TINY = SIZES["cgan"]


def clips(config, n=4, seed=0):
    """A bright square moving right over a dark background, in [-1, 1]."""
    g = torch.Generator().manual_seed(seed)
    video = torch.full((n, config.channels, config.frames, config.size, config.size), -0.8)
    for i in range(n):
        start = int(torch.randint(0, config.size // 2, (1,), generator=g))
        for t in range(config.frames):
            x = start + t * (config.size // 2) // config.frames
            video[i, :, t, 4:9, x : x + 5] = 0.9
    return video


def test_paper_preset_follows_sections_6_and_7_on_the_meta_device():
    config = PLUGIN.make_config("paper")
    assert (config.lambda_keyframes, config.real_label, config.d_steps, config.lr) == (0.02, 0.9, 4, 2e-4)
    assert (config.keyframe_loss, config.d_batches, config.act) == ("l2", "reuse", "leaky")
    with torch.device("meta"):
        modules = PLUGIN.build(config)
        video = modules["generator"](torch.empty(2, 600), torch.empty(2, 3, 2, 64, 64))
        logit = modules["discriminator"](video)
    assert video.shape == (2, 3, 30, 64, 64)
    assert logit.shape == (2, 1)
    counts = {name: sum(p.numel() for p in m.parameters()) for name, m in modules.items()}
    assert counts == {"generator": 222_112_203, "discriminator": 259_928_001}
    # D is the CVAE's video encoder without the image codes: Linear(512 x 30 x 4 x 4 -> 1024) -> 1 logit
    fc = modules["discriminator"].fc
    assert (fc[0].in_features, fc[0].out_features, fc[2].out_features) == (512 * 30 * 16, 1024, 1)
    assert isinstance(modules["generator"].generator.act, torch.nn.LeakyReLU)


def test_keyframe_term_is_l2_or_l1_summed_over_pixels():
    video = torch.zeros(2, 3, 4, 5, 5)
    fake = torch.full_like(video, 0.5)
    fake[:, :, 1:3] = 7.0  # inner frames do not count
    n = 3 * 5 * 5
    assert keyframe_term(video, fake, "l2", "sum").item() == pytest.approx(2 * n * 0.25)
    assert keyframe_term(video, fake, "l1", "sum").item() == pytest.approx(2 * n * 0.5)
    assert keyframe_term(video, fake, "l2", "mean").item() == pytest.approx(2 * 0.25)


def test_one_step_updates_d_four_times_and_g_once():
    config = PLUGIN.make_config("small", TINY)
    ctx = cpu_context(PLUGIN, config)
    losses = PLUGIN.train_step(ctx, clips(config))
    assert all(math.isfinite(v) for v in losses.values())
    d_state = ctx.optimizers["discriminator"].state
    g_state = ctx.optimizers["generator"].state
    assert {int(s["step"]) for s in d_state.values()} == {4}
    assert {int(s["step"]) for s in g_state.values()} == {1}


def test_split_mode_gives_each_d_step_its_own_quarter_of_the_batch():
    config = PLUGIN.make_config("small", {**TINY, "d_batches": "split"})
    seen = []
    ctx = cpu_context(PLUGIN, config)
    D = ctx.modules["discriminator"]
    D.register_forward_pre_hook(lambda module, args: seen.append(args[0].shape[0]))
    PLUGIN.train_step(ctx, clips(config))
    assert seen[:4] == [2] * 4  # 4 D steps x (real, fake) scored in one pass, one clip each
    with pytest.raises(ConfigError, match="divisible by d_steps"):
        PLUGIN.make_config("small", {**TINY, "batch_size": 6, "d_batches": "split"})


def test_d_learns_to_tell_a_fixed_real_batch_from_gs_videos():
    config = PLUGIN.make_config("small", TINY)
    ctx = cpu_context(PLUGIN, config)
    video = clips(config)
    d_losses = []
    for step in range(4):
        ctx.step = step
        d_losses.append(PLUGIN.train_step(ctx, video)["d_loss"])
    assert d_losses[-1] < d_losses[0]


def test_paper_design_g_pulls_its_keyframes_towards_the_inputs():
    """Without the residual trick, the lambda term of eq. (2) is what holds G's end frames to the inputs."""
    config = PLUGIN.make_config("paper", {"size": 16, "frames": 6, "time_strides": (1, 3, 1, 1, 2), "batch_size": 2,
                                          "z_dim": 8, "code_dim": 8, "gen_widths": (16, 16, 8, 8, 8),
                                          "video_widths": (8, 8, 8, 8), "video_hidden": 16, "image_widths": (4, 4, 8, 8),
                                          "image_hidden": 16, "lambda_keyframes": 1.0, "lr": 2e-3})
    ctx = cpu_context(PLUGIN, config)
    video = clips(config, n=2)
    terms = []
    for step in range(8):
        ctx.step = step
        terms.append(PLUGIN.train_step(ctx, video)["keyframes"])
    assert terms[-1] < terms[0]


def test_reconstruction_term_is_off_in_the_paper_and_pulls_g_towards_the_clip_when_on():
    assert PLUGIN.make_config("paper").lambda_video == 0
    off = PLUGIN.make_config("small", {**TINY, "lambda_video": 0.0})
    assert "video" not in PLUGIN.train_step(cpu_context(PLUGIN, off), clips(off))
    torch.manual_seed(0)
    config = PLUGIN.make_config("small", {**TINY, "lambda_video": 10.0, "video_reduction": "log", "lr": 2e-3})
    ctx = cpu_context(PLUGIN, config)
    video = clips(config)
    start = squared_error(to_unit(video), to_unit(PLUGIN.sample(ctx.modules, config, video[:, :, [0, -1]], 4,
                                                                torch.Generator(), mean=True)), "log").mean().item()
    terms = []
    for step in range(40):
        ctx.step = step
        terms.append(PLUGIN.train_step(ctx, video)["video"])
    assert terms[0] == pytest.approx(start, abs=0.01)  # the logged term: log(MSE) of G's videos (gate still 0)
    # 0.1 in log(MSE) is 0.43 dB; without the term (lambda_video=0) the same 40 steps end within 0.02 of the start
    assert terms[-1] < terms[0] - 0.1
    with pytest.raises(ConfigError, match="lambda_video"):
        PLUGIN.make_config("small", {**TINY, "lambda_video": -1.0})


def test_sampled_keyframes_match_the_inputs():
    config = PLUGIN.make_config("small", TINY)
    torch.manual_seed(0)
    modules = PLUGIN.build(config)
    g = torch.Generator().manual_seed(1)
    with torch.no_grad():
        for p in modules["generator"].parameters():
            p.add_(0.05 * torch.randn(p.shape, generator=g))
    condition = clips(config, n=1)[:, :, [0, -1]]

    def draw(seed, frames=None, mean=False, **options):
        return run_sample(PLUGIN, modules, config, condition, 2, seed, frames=frames, mean=mean, options=options)

    out = draw(0)
    truth = to_unit(condition.expand(2, -1, -1, -1, -1))
    ends = to_unit(out[:, :, [0, -1]])
    assert psnr_per_frame(ends, truth).min() >= 28.0


def plain_train_step(ctx, video):
    """The CGAN step written plainly (the code before issue 17's batching): per D step a fresh z, G's fake
    made for that step alone, D(real) and D(fake) in two passes."""
    from vidsynth.nn import frozen
    from vidsynth.nn.keyframes import augment_clips
    from vidsynth.nn.losses import nonsaturating_discriminator_loss, nonsaturating_generator_loss

    c = ctx.config
    G, D = ctx.modules["generator"], ctx.modules["discriminator"]
    x = to_unit(video)
    if c.augment:
        x = augment_clips(x)
    reals = x.chunk(c.d_steps) if c.d_batches == "split" else [x] * c.d_steps
    d_losses = []
    for real in reals:
        z = torch.randn(real.shape[0], c.z_dim)
        with torch.no_grad():
            fake = G(z, real[:, :, [0, -1]])
        d_loss = nonsaturating_discriminator_loss(D(real), D(fake), c.real_label)
        ctx.optimize("discriminator", d_loss)
        d_losses.append(float(d_loss.detach()))
    z = torch.randn(x.shape[0], c.z_dim)
    with frozen(ctx.unwrap("discriminator")) as bare_d:
        fake = G(z, x[:, :, [0, -1]])
        adv = nonsaturating_generator_loss(bare_d(fake))
        key = keyframe_term(x, fake, c.keyframe_loss, c.keyframe_reduction)
        video_term = squared_error(x, fake, c.video_reduction).mean()
        ctx.optimize("generator", adv + c.lambda_keyframes * key + c.lambda_video * video_term)
    out = {"d_loss": sum(d_losses) / len(d_losses), "g_adv": float(adv.detach()), "keyframes": float(key.detach())}
    return {**out, "video": float(video_term.detach())} if c.lambda_video > 0 else out


@pytest.mark.parametrize("overrides", [{}, {"d_batches": "split"}, {"norm": "batch"}, {"lambda_video": 0.0}])
def test_batched_step_is_the_plain_step(overrides):
    """The D steps' fakes made in one G pass and D scoring real and fake in one pass (issue 17) give the
    plain step's losses and weights, with batch norm too (where the passes stay separate)."""
    config = PLUGIN.make_config("small", {**TINY, **overrides})
    fast, plain = cpu_context(PLUGIN, config), cpu_context(PLUGIN, config)
    video = clips(config)
    for step in range(2):
        fast.step = plain.step = step
        torch.manual_seed(step)
        got = PLUGIN.train_step(fast, video)
        torch.manual_seed(step)
        want = plain_train_step(plain, video)
        assert got == pytest.approx(want, rel=1e-5, abs=1e-6)
    for name in ("generator", "discriminator"):
        for (key, a), b in zip(fast.bare[name].state_dict().items(), plain.bare[name].state_dict().values()):
            torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-6, msg=f"{name}.{key}")
