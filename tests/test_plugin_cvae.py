"""The ``cvae`` plugin (Penington et al. 2019, section 5): Table 1 shapes, loss (1), training, sampling, keyframes."""

from __future__ import annotations

import math

import pytest
import torch

from tiny_configs import TINY as SIZES
from tiny_configs import cpu_context

from vidsynth.errors import ConfigError, VidsynthError
from vidsynth.generate import run_sample
from vidsynth.nn.keyframes import (
    CostVolumeMotion,
    SameConvTranspose3d,
    augment_clips,
    linear_interpolation,
    motion_interpolation,
    temporal_kernels,
)
from vidsynth.nn.losses import squared_error
from vidsynth_plugins.cvae import CVAE
from vidsynth_plugins.cvae.losses import cvae_loss, gaussian_kl, kl_weight

PLUGIN = CVAE()
# The small preset's design at a size that trains in a second: 8 frames of 16 x 16.
TINY = SIZES["cvae"]


def clips(config, n=4, seed=0):
    """Smooth moving blobs in [-1, 1]: real motion, so the keyframes say something about the middle."""
    g = torch.Generator().manual_seed(seed)
    t = torch.linspace(0, 1, config.frames).view(1, 1, -1, 1, 1)
    coords = torch.linspace(-1, 1, config.size)
    yy, xx = coords.view(1, 1, 1, -1, 1), coords.view(1, 1, 1, 1, -1)
    start = torch.rand(n, 1, 1, 1, 1, generator=g) - 0.5
    colour = torch.rand(n, config.channels, 1, 1, 1, generator=g)
    blob = torch.exp(-((xx - start - 0.8 * t) ** 2 + yy**2) / 0.1)
    return (colour * blob) * 2 - 1


def perturb_(module, scale=0.05, seed=1):
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in module.parameters():
            p.add_(scale * torch.randn(p.shape, generator=g))


# -- Table 1 ------------------------------------------------------------------------------------------
def test_paper_preset_is_table_1_on_the_meta_device():
    config = PLUGIN.make_config("paper")
    assert (config.frames, config.size, config.batch_size, config.lr, config.betas[0]) == (30, 64, 20, 1e-4, 0.8)
    assert (config.lambda_video, config.lambda_keyframes, config.z_dim, config.code_dim) == (2.0, 2.0, 600, 1000)
    with torch.device("meta"):
        model = PLUGIN.build(config)["model"]
        video = torch.empty(2, 3, 30, 64, 64)
        out = model(video, torch.empty(2, 600))
    assert sum(p.numel() for p in model.parameters()) == 485_317_179
    assert out["recon"].shape == (2, 3, 30, 64, 64)
    assert out["mu"].shape == out["sigma"].shape == (2, 600)
    fc_in = model.video_encoder.fc[0]
    assert (fc_in.in_features, fc_in.out_features) == (512 * 30 * 4 * 4 + 2000, 1024)
    assert model.generator.fc.out_features == 256 * 5 * 8 * 8
    kernels = [tuple(layer.conv.kernel_size) for layer in model.generator.layers]
    strides = [tuple(layer.conv.stride) for layer in model.generator.layers]
    assert kernels == [(1, 2, 2), (3, 2, 2), (3, 2, 2), (3, 4, 4), (2, 4, 4)]
    assert strides == [(1, 1, 1), (3, 2, 2), (1, 2, 2), (1, 2, 2), (2, 1, 1)]
    assert [layer.conv.out_channels for layer in model.generator.layers] == [128, 64, 32, 16, 3]


def test_paper_architecture_trains_at_reduced_size():
    """Table 1's layers and widths exactly, on 16 x 16 frames (Linear layers shrink with the frame size)."""
    config = PLUGIN.make_config("paper", {"size": 16, "batch_size": 1})
    ctx = cpu_context(PLUGIN, config)
    losses = PLUGIN.train_step(ctx, clips(config, n=1))
    assert all(math.isfinite(v) for v in losses.values())
    assert {"loss", "kl", "video", "keyframes"} <= set(losses)


def test_skiing_variant_injects_raw_keyframes_and_frame_index_at_full_resolution():
    config = PLUGIN.make_config("skiing")
    with torch.device("meta"):
        generator = PLUGIN.build(config)["model"].generator
    assert generator.layers[4].conv.in_channels == 16 + 2 * 3 + 1
    assert generator.layers[3].conv.in_channels == 32
    small = PLUGIN.make_config("skiing", {"size": 16, "frames": 6, "time_strides": (1, 3, 1, 1, 2), "batch_size": 2})
    video = (clips(small, n=2) + 1) / 2
    out = PLUGIN.build(small)["model"](video, torch.zeros(2, small.z_dim))
    assert out["recon"].shape == video.shape


def test_transposed_conv_uses_tensorflow_same_padding():
    """TF's 'same' transposed conv with k=2, s=1 is y[j] = x[j] w0 + x[j-1] w1 (crop the end)."""
    layer = SameConvTranspose3d(1, 1, (1, 1, 2), (1, 1, 1))
    with torch.no_grad():
        layer.conv.weight.copy_(torch.tensor([1.0, 10.0]).view(1, 1, 1, 1, 2))
        layer.conv.bias.zero_()
    x = torch.tensor([1.0, 2.0, 3.0]).view(1, 1, 1, 1, 3)
    assert layer(x).flatten().tolist() == [1.0, 12.0, 23.0]
    up = SameConvTranspose3d(2, 3, (3, 4, 4), (1, 2, 2))
    assert up(torch.zeros(1, 2, 5, 4, 4)).shape == (1, 3, 5, 8, 8)


@pytest.mark.parametrize("kernel, stride", [((1, 2, 2), (1, 1, 1)), ((3, 2, 2), (3, 2, 2)), ((3, 2, 2), (1, 2, 2)),
                                            ((3, 4, 4), (1, 2, 2)), ((2, 4, 4), (2, 1, 1))])
def test_cpu_subpixel_form_is_the_cropped_transposed_conv(kernel, stride):
    """Table 1's five layers: the CPU path (an ordinary conv, interleaved, bias inside the conv) gives the
    output and the input, weight and bias gradients of ``nn.ConvTranspose3d`` cropped to TF's "same"."""
    torch.manual_seed(0)
    layer = SameConvTranspose3d(3, 4, kernel, stride)
    x = torch.randn(2, 3, 3, 4, 4, requires_grad=True)
    y = layer(x)
    full = layer.conv(x)
    (t0, t1), (h0, h1), (w0, w1) = layer.crop
    want = full[:, :, t0 : full.shape[2] - t1, h0 : full.shape[3] - h1, w0 : full.shape[4] - w1]
    torch.testing.assert_close(y, want, rtol=1e-5, atol=1e-5)
    probe = torch.randn_like(want)
    got_grads = torch.autograd.grad((y * probe).sum(), (x, layer.conv.weight, layer.conv.bias))
    want_grads = torch.autograd.grad((want * probe).sum(), (x, layer.conv.weight, layer.conv.bias))
    for got, expected in zip(got_grads, want_grads):
        torch.testing.assert_close(got, expected, rtol=1e-5, atol=1e-5)


def test_temporal_kernels_follow_table_1():
    assert temporal_kernels((1, 3, 1, 1, 2)) == (1, 3, 3, 3, 2)
    assert temporal_kernels((1, 2, 1, 1, 2)) == (1, 2, 3, 3, 2)


def test_config_rejects_shapes_the_networks_cannot_take():
    with pytest.raises(ConfigError, match="divisible by the product of time_strides"):
        PLUGIN.make_config("paper", {"frames": 16})
    with pytest.raises(ConfigError, match="size"):
        PLUGIN.make_config("small", {"size": 24})
    with pytest.raises(ConfigError, match="inject_layers"):
        PLUGIN.make_config("small", {"inject_layers": (5,)})
    with pytest.raises(ConfigError, match="motion"):
        PLUGIN.make_config("paper", {"motion": "costvolume"})


# -- loss (1) -----------------------------------------------------------------------------------------
def test_loss_terms_match_a_hand_computation():
    video = torch.zeros(2, 3, 4, 8, 8)
    recon = torch.full_like(video, 0.1)
    mu, sigma = torch.ones(2, 5), torch.ones(2, 5)
    terms = cvae_loss(video, recon, mu, sigma, lambda_video=2.0, lambda_keyframes=2.0, beta=1.0, reduction="sum")
    n = 3 * 4 * 8 * 8
    assert terms["video"].item() == pytest.approx(0.01 * n)
    assert terms["keyframes"].item() == pytest.approx(0.01 * 2 * 3 * 8 * 8)
    assert terms["kl"].item() == pytest.approx(0.5 * 5)  # 0.5 (mu^2 + s^2 - log s^2 - 1) = 0.5 per dim
    assert terms["loss"].item() == pytest.approx(2.5 + 2 * 0.01 * n + 2 * 0.01 * 384)
    assert squared_error(video, recon, "mean").tolist() == pytest.approx([0.01, 0.01])
    assert squared_error(video, recon, "log").tolist() == pytest.approx([math.log(0.01 + 1e-5)] * 2)


def test_kl_is_zero_at_the_prior_and_warms_up_linearly():
    assert gaussian_kl(torch.zeros(1, 4), torch.ones(1, 4)).item() == 0.0
    assert [kl_weight(s, 4, 0.5) for s in (0, 1, 3, 10)] == [0.125, 0.25, 0.5, 0.5]
    assert kl_weight(0, 0, 0.7) == 0.7


# -- the residual design ------------------------------------------------------------------------------
def test_untrained_residual_model_is_exactly_the_linear_interpolation():
    config = PLUGIN.make_config("small", {**TINY, "motion": "none"})
    torch.manual_seed(0)
    modules = PLUGIN.build(config)
    condition = clips(config, n=2)[:, :, [0, -1]]
    out = run_sample(PLUGIN, modules, config, condition, 2, seed=0)
    expected = linear_interpolation((condition + 1) / 2, config.frames) * 2 - 1
    assert torch.allclose(out, expected, atol=1e-6)


def test_untrained_small_model_is_exactly_its_baselines_clip_by_clip():
    """``small``'s gated base: where the camera does not move, the cross-fade (the cost-volume blend starts
    at 0); where it moves, eval's optical-flow baseline (the refinement starts closed)."""
    pytest.importorskip("cv2")
    from vidsynth.flow import keyframe_flows
    from vidsynth.metrics.baselines import flow_interpolation

    config = PLUGIN.make_config("small", TINY)
    torch.manual_seed(0)
    modules = PLUGIN.build(config)
    condition = clips(config, n=4)[:, :, [0, -1]]
    out = run_sample(PLUGIN, modules, config, condition, 4, seed=0)
    keys = (condition + 1) / 2
    moving = modules["model"].generator.motion.camera_moves(keyframe_flows(keys[:, :, 0], keys[:, :, 1]))
    fade = linear_interpolation(keys, config.frames) * 2 - 1
    along_flow = flow_interpolation(condition, config.frames)
    expected = torch.where(moving.view(-1, 1, 1, 1, 1), along_flow, fade)
    assert torch.allclose(out, expected, atol=1e-5)


def test_keyframes_of_samples_equal_the_inputs_whatever_the_weights():
    config = PLUGIN.make_config("small", TINY)
    torch.manual_seed(0)
    modules = PLUGIN.build(config)
    perturb_(modules["model"])
    condition = clips(config, n=1)[:, :, [0, -1]]
    out = run_sample(PLUGIN, modules, config, condition, 3, seed=0)
    assert out.shape == (3, 3, 8, 16, 16)
    assert torch.allclose(out[:, :, 0], condition[:, :, 0].expand(3, -1, -1, -1), atol=1e-6)
    assert torch.allclose(out[:, :, -1], condition[:, :, 1].expand(3, -1, -1, -1), atol=1e-6)
    assert not torch.allclose(out[0], out[1])  # different z, different in-betweens


def test_motion_base_moves_content_along_the_flow():
    """Content shifted by 2 pixels between the keyframes is shifted by 1 pixel in the middle frame."""
    g = torch.Generator().manual_seed(0)
    first = torch.rand(1, 3, 12, 12, generator=g)
    last = torch.roll(first, shifts=2, dims=3)
    flow = torch.zeros(1, 2, 12, 12)
    flow[:, 0] = 2.0
    video = motion_interpolation(torch.stack([first, last], 2), flow, 5)
    assert torch.allclose(video[:, :, 0], first) and torch.allclose(video[:, :, -1], last, atol=1e-6)
    middle = torch.roll(first, shifts=1, dims=3)
    assert torch.allclose(video[:, :, 2, :, 3:-3], middle[..., 3:-3], atol=1e-6)
    assert torch.allclose(motion_interpolation(torch.stack([first, last], 2), flow * 0, 5),
                          linear_interpolation(torch.stack([first, last], 2), 5))


def test_cost_volume_finds_a_global_shift_and_starts_as_the_linear_interpolation():
    g = torch.Generator().manual_seed(0)
    first = torch.nn.functional.avg_pool2d(torch.rand(2, 3, 24, 24, generator=g), 3, 1, 1)  # smooth texture
    last = torch.roll(first, shifts=2, dims=3)  # content moves 2 pixels right
    keyframes = torch.stack([first, last], 2)
    motion = CostVolumeMotion(radius=3, step=1, window=9, tau=1e-4)
    flow = motion.flow(keyframes)
    assert torch.allclose(flow[:, 0, 6:-6, 6:-6], torch.full((2, 12, 12), 2.0), atol=0.05)
    assert flow[:, 1, 6:-6, 6:-6].abs().max() < 0.05
    assert motion.alpha.item() == 0.0
    assert torch.equal(motion(keyframes, 5), linear_interpolation(keyframes, 5))


def test_time_reversal_augmentation_swaps_the_keyframes():
    video = torch.arange(2 * 1 * 3 * 1 * 2, dtype=torch.float32).view(2, 1, 3, 1, 2)
    torch.manual_seed(0)
    out = augment_clips(video)
    for i in range(2):
        options = [video[i], video[i].flip(1), video[i].flip(3), video[i].flip(1).flip(3)]
        assert any(torch.equal(out[i], o) for o in options)


# -- training -----------------------------------------------------------------------------------------
def test_small_training_steps_reduce_the_loss_and_keep_it_finite():
    config = PLUGIN.make_config("small", {**TINY, "batch_size": 2, "lr": 3e-3, "augment": False})
    ctx = cpu_context(PLUGIN, config)
    video = clips(config, n=2)
    history = []
    for step in range(12):
        ctx.step = step
        history.append(PLUGIN.train_step(ctx, video))
    assert all(math.isfinite(v) for h in history for v in h.values())
    first = sum(h["video"] for h in history[:3]) / 3
    last = sum(h["video"] for h in history[-3:]) / 3
    assert last < first - 0.05  # log-MSE per clip: the reconstruction gets better on a fixed batch
    # small's SSIM term (ssim_weight, tests/test_cvae_ssim_term.py) is logged and falls too
    assert sum(h["ssim"] for h in history[-3:]) < sum(h["ssim"] for h in history[:3])
    assert history[-1]["mean"] < history[0]["mean"]  # and so does the z = 0 guess


# -- sampling -----------------------------------------------------------------------------------------
def test_training_pass_makes_the_base_video_once_with_the_same_numbers_and_gradients():
    """``with_mean`` runs the generator on 2B rows that share their keyframes: the base video (cost-volume
    motion) is made once and stacked (issue 17); outputs and gradients are those of the plain pass, which
    makes it for both halves."""
    config = PLUGIN.make_config("small", {**TINY, "motion": "costvolume"})
    torch.manual_seed(0)
    model = PLUGIN.build(config)["model"]
    with torch.no_grad():  # move the motion blend and the gate off 0, so that the base and residual matter
        model.generator.motion.alpha_raw.fill_(0.05)
        model.generator.residual_gate.fill_(0.5)
    video = (clips(config) + 1) / 2
    noise = torch.randn(video.shape[0], config.z_dim)

    def grads_of(outputs):
        model.zero_grad()
        probe = torch.Generator().manual_seed(1)
        sum((o * torch.rand(o.shape, generator=probe)).sum() for o in outputs).backward()
        return {name: p.grad.clone() for name, p in model.named_parameters() if p.grad is not None}

    out = model(video, noise, with_mean=True)
    fast = grads_of([out["recon"], out["mean"]])
    keyframes = video[:, :, [0, -1]]
    codes = model.encode_keyframes(keyframes)
    mu, sigma = model.posterior(video, codes)
    z = mu + sigma * noise
    plain = model.generator(torch.cat([z, torch.zeros_like(z)]), torch.cat([codes, codes]),
                            torch.cat([keyframes, keyframes]))
    torch.testing.assert_close(torch.cat([out["recon"], out["mean"]]), plain, rtol=1e-5, atol=1e-6)
    slow = grads_of(plain.chunk(2))
    assert fast.keys() == slow.keys()
    for name in fast:
        torch.testing.assert_close(fast[name], slow[name], rtol=1e-5, atol=1e-5, msg=name)


def test_temperature_zero_is_the_mean_sample():
    config = PLUGIN.make_config("small", TINY)
    torch.manual_seed(0)
    modules = PLUGIN.build(config)
    perturb_(modules["model"])
    condition = clips(config, n=1)[:, :, [0, -1]]

    def draw(seed, mean=False, **options):
        return run_sample(PLUGIN, modules, config, condition, 2, seed, mean=mean, options=options)

    assert torch.equal(draw(3, temperature=0.0), draw(4, mean=True))
    assert not torch.equal(draw(3, temperature=0.5), draw(3))


def test_sample_makes_exactly_the_trained_number_of_frames():
    config = PLUGIN.make_config("small", TINY)
    modules = PLUGIN.build(config)
    with pytest.raises(VidsynthError, match="exactly 8 frames"):
        run_sample(PLUGIN, modules, config, torch.zeros(1, 3, 2, 16, 16), 1, seed=0, frames=12)
