"""The wgan3d and wgan3d-cond plugins: shapes of every preset, the training schedule, sampling, conditions,
and the CLI from training to sampled files."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import av
import numpy as np
import pytest
import torch
from PIL import Image

from tiny_configs import TINY as SIZES
from tiny_configs import cpu_context as context

from vidsynth.errors import ConfigError, VidsynthError
from vidsynth.generate import run_sample
from vidsynth.runtime import Runtime
from vidsynth_plugins.wgan3d import WGAN3D, WGAN3DConditional

TINY = SIZES["wgan3d"]


def clips(config, n=4, seed=0):
    g = torch.Generator().manual_seed(seed)
    return torch.rand(n, config.channels, config.frames, config.size, config.size, generator=g) * 2 - 1


def sample(plugin, modules, config, condition, n, seed, frames=None, mean=False, **options):
    """Through the core's run_sample: eval mode, no gradients, the condition checked and expanded."""
    return run_sample(plugin, modules, config, condition, n, seed, frames=frames, mean=mean, options=options)


# -- shapes of every preset ---------------------------------------------------------------------
@pytest.mark.parametrize("plugin", [WGAN3D(), WGAN3DConditional()], ids=lambda p: p.name)
@pytest.mark.parametrize("preset", ["paper", "paper-gp"])
def test_paper_presets_make_32_frames_of_64x64_rgb_from_a_2x4x4x512_latent(plugin, preset):
    config = plugin.make_config(preset)
    with torch.device("meta"):
        modules = plugin.build(config)
        G, D = modules["generator"], modules["critic"]
        z = torch.zeros(2, 100)
        assert G.project(z).shape == (2, 512, 2, 4, 4)
        frame = torch.zeros(2, 3, 1, 64, 64) if config.conditional else None
        video = G(z, frame)
        assert video.shape == (2, 3, 32, 64, 64)
        assert D(video, frame).shape == (2,)
    convs = [m for m in G.video.modules() if isinstance(m, torch.nn.ConvTranspose3d)]
    assert len(convs) == 4 and all(m.kernel_size == (4, 4, 4) and m.stride == (2, 2, 2) for m in convs)
    critic_convs = [m for m in D.modules() if isinstance(m, torch.nn.Conv3d)]
    assert len(critic_convs) == 5 and all(m.kernel_size == (4, 4, 4) and m.stride == (2, 2, 2) for m in critic_convs)
    if config.conditional:
        assert critic_convs[0].in_channels == 6  # the middle frame concatenated with the video
        assert len(list(G.encoder.downs)) + 1 == 5  # the five-layer frame encoder


def test_paper_uses_weight_clipping_and_rmsprop_and_paper_gp_uses_adam_without_batch_norm_in_the_critic():
    plugin = WGAN3D()
    paper, gp = plugin.make_config("paper"), plugin.make_config("paper-gp")
    assert (paper.loss, paper.optimizer, paper.d_norm, paper.clip, paper.n_critic) == ("wgan-clip", "rmsprop", "batch", 0.01, 5)
    assert (gp.loss, gp.optimizer, gp.d_norm, gp.gp_weight, gp.lr, gp.betas) == ("wgan-gp", "adam", "layer", 10.0, 2e-4, (0.5, 0.999))
    with torch.device("meta"):
        modules = plugin.build(paper)
    assert isinstance(plugin.optimizers(modules, paper)["critic"], torch.optim.RMSprop)


def test_configs_that_cannot_work_are_refused_with_a_clear_message():
    plugin = WGAN3D()
    with pytest.raises(ConfigError, match="gradient penalty is per sample"):
        plugin.make_config("small", {"d_norm": "batch"})
    with pytest.raises(ConfigError, match="size 48 does not fit the generator"):
        plugin.make_config("small", {"size": 48})
    with pytest.raises(ConfigError, match="frames 12 must be latent_frames"):
        plugin.make_config("small", {"generator": "conv3d", "frames": 12})
    with pytest.raises(ConfigError, match="use `wgan3d-cond`"):
        plugin.make_config("small", {"conditional": True})
    with pytest.raises(ConfigError, match="always conditional"):
        WGAN3DConditional().make_config("small", {"conditional": False})


# -- training ---------------------------------------------------------------------------------
@pytest.mark.parametrize("plugin", [WGAN3D(), WGAN3DConditional()], ids=lambda p: p.name)
def test_the_diversity_term_adds_a_finite_mode_seeking_loss_to_the_generator(plugin):
    torch.manual_seed(0)
    config = plugin.make_config("small", {**TINY, "diversity_weight": 1.0})
    ctx = context(plugin, config)
    losses = plugin.train_step(ctx, clips(config))
    assert np.isfinite(losses["mode_seeking"]) and losses["mode_seeking"] > 0


def test_generator_is_updated_only_on_every_n_critic_th_step():
    torch.manual_seed(0)
    plugin = WGAN3D()
    config = plugin.make_config("small", {**TINY, "n_critic": 3})
    ctx = context(plugin, config)
    weights = lambda: [p.detach().clone() for p in ctx.modules["generator"].parameters()]  # noqa: E731
    start = weights()
    for step in range(2):
        ctx.step = step
        assert "generator" not in plugin.train_step(ctx, clips(config))
    assert all(torch.equal(a, b) for a, b in zip(start, weights()))
    ctx.step = 2
    assert "generator" in plugin.train_step(ctx, clips(config))
    assert any(not torch.equal(a, b) for a, b in zip(start, weights()))


def test_weight_clipping_keeps_every_critic_weight_inside_the_bound():
    torch.manual_seed(0)
    plugin = WGAN3D()
    config = plugin.make_config("paper", {**TINY, "g_norm": "batch", "clip": 0.005, "n_critic": 1})
    ctx = context(plugin, config)
    plugin.train_step(ctx, clips(config))
    assert max(p.abs().max().item() for p in ctx.modules["critic"].parameters()) <= 0.005
    assert isinstance(ctx.optimizers["generator"], torch.optim.RMSprop)


# -- sampling ---------------------------------------------------------------------------------
def test_samples_of_the_conv3d_generator_have_exactly_the_trained_number_of_frames():
    plugin = WGAN3D()
    config = plugin.make_config("small", {**TINY, "generator": "conv3d"})
    modules = plugin.build(config)
    with pytest.raises(VidsynthError, match="generates exactly 4 frames"):
        sample(plugin, modules, config, None, 1, seed=0, frames=8)


# the papers' 3D generator with the U-Net skips from the frame encoder (wgan3d-cond's `small` before 2026-12-07)
CONV3D_SKIPS = {"generator": "conv3d", "skips": True}


@pytest.mark.parametrize("generator", [{}, CONV3D_SKIPS], ids=["small", "conv3d-skips"])
@pytest.mark.parametrize("where, index", [("first", 0), ("middle", 2)])
def test_conditional_samples_contain_the_given_frame_where_the_config_puts_it(where, index, generator):
    torch.manual_seed(0)
    plugin = WGAN3DConditional()
    config = plugin.make_config("small", {**TINY, "condition": where, **generator})
    modules = plugin.build(config)
    real = clips(config, n=2)
    condition = plugin.condition_from(real, config)
    assert torch.equal(condition, real[:, :, index : index + 1])
    video = sample(plugin, modules, config, condition, 2, seed=0)
    assert torch.equal(video[:, :, index], condition[:, :, 0])
    assert not torch.equal(video[:, :, index - 1], condition[:, :, 0])


def test_the_3d_generator_with_skips_trains():
    torch.manual_seed(0)
    plugin = WGAN3DConditional()
    config = plugin.make_config("small", {**TINY, **CONV3D_SKIPS, "condition": "first"})
    ctx = context(plugin, config)
    G = ctx.modules["generator"]
    no_skips = plugin.build(plugin.make_config("small", {**TINY, **CONV3D_SKIPS, "skips": False}))["generator"]
    assert sum(p.numel() for p in G.parameters()) > sum(p.numel() for p in no_skips.parameters())  # skips read
    before = [p.detach().clone() for p in G.parameters()]
    losses = plugin.train_step(ctx, clips(config))
    assert all(np.isfinite(v) for v in losses.values()) and "frame_generator" in losses
    assert all(not torch.equal(a, b) for a, b in zip(before, G.parameters()))


# -- the command line -------------------------------------------------------------------------
def train_tiny(plugin, run_dir, steps, **overrides):
    """Train ``plugin`` at the TINY size on builtin:bouncing-balls, in-process (what `vidsynth train` runs)."""
    from vidsynth.data import open_clips
    from vidsynth.trainer import TrainOptions, train

    config = plugin.make_config("small", {**TINY, **overrides, "steps": steps})
    data = open_clips("builtin:bouncing-balls", frames=4, size=8, channels=1, split="train", progress=False)
    with Runtime(device="cpu", seed=0) as rt:
        train(plugin, config, data, runtime=rt, run_dir=run_dir, preset="small",
              options=TrainOptions(preview_every=0, log_every=1, quiet=True))
    return run_dir


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    root = tmp_path_factory.mktemp("wgan3d-runs")
    train_tiny(WGAN3D(), root / "uncond", steps=3)
    train_tiny(WGAN3DConditional(), root / "cond", steps=2, condition="first")
    train_tiny(WGAN3DConditional(), root / "cond-middle", steps=1, condition="middle")
    return root


def vidsynth(args, cwd):
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    return subprocess.run([sys.executable, "-m", "vidsynth", *args], cwd=cwd, env=env, capture_output=True, text=True)


def frames_of(path):
    with av.open(str(path)) as container:
        return [f.to_ndarray(format="rgb24") for f in container.decode(video=0)]


def test_cli_samples_numbered_files_pyav_reads_back(runs, tmp_path):
    out = vidsynth(["sample", "wgan3d", "--checkpoint", str(runs / "uncond"), "-n", "3", "-o", "samples/"], tmp_path)
    assert out.returncode == 0, out.stderr
    files = sorted((tmp_path / "samples").iterdir())
    assert [f.name for f in files] == ["sample_000.mp4", "sample_001.mp4", "sample_002.mp4"]
    assert all(len(frames_of(f)) == 4 and frames_of(f)[0].shape == (8, 8, 3) for f in files)


def test_cli_conditional_model_starts_from_the_input_image(runs, tmp_path):
    image = np.zeros((8, 8), np.uint8)
    image[2:5, 3:6] = 255
    Image.fromarray(image).save(tmp_path / "ball.png")
    out = vidsynth(["sample", "wgan3d-cond", "--checkpoint", str(runs / "cond"), "--in", "ball.png", "-o", "clip.gif"],
                   tmp_path)
    assert out.returncode == 0, out.stderr
    decoded = frames_of(tmp_path / "clip.gif")
    assert len(decoded) == 4
    assert np.abs(decoded[0][..., 0].astype(int) - image).max() <= 8  # the given frame comes first (GIF palette)
    refused = vidsynth(["sample", "wgan3d-cond", "--checkpoint", str(runs / "cond"), "-o", "none.gif"], tmp_path)
    assert refused.returncode == 1 and "needs exactly 1 input image" in refused.stderr


def test_cli_eval_compares_the_model_with_real_and_shuffled_clips(runs, tmp_path):
    out = vidsynth(["eval", "wgan3d", "builtin:bouncing-balls", "--checkpoint", str(runs / "uncond"), "-n", "8",
                    "--videos", "0", "--json", "-o", "report"], tmp_path)
    assert out.returncode == 0, out.stderr
    report = json.loads(out.stdout)
    text = json.dumps(report)
    assert report["plugin"] == "wgan3d" and "ball-count" in text and "shuffled" in text


def test_cli_eval_of_a_middle_frame_model_scores_both_sides_of_the_given_frame(runs, tmp_path):
    out = vidsynth(["eval", "wgan3d-cond", "builtin:bouncing-balls", "--checkpoint", str(runs / "cond-middle"),
                    "-n", "4", "--videos", "0", "--json", "-o", "report"], tmp_path)
    assert out.returncode == 0, out.stderr
    report = json.loads(out.stdout)
    frames = report["plan"]["frames"]
    assert report["plan"]["given_frames"] == [frames // 2]
    assert report["plan"]["scored_frames"] == [t for t in range(frames) if t != frames // 2]
    assert report["systems"] == ["model", "copy-given"]
    assert len(report["per_horizon"]["psnr"]["model"]) == max(frames // 2, frames - 1 - frames // 2)


def test_cli_condition_flag_sets_the_conditioning_frame_and_is_refused_elsewhere(tmp_path):
    tiny = [f"--set={k}={','.join(map(str, v)) if isinstance(v, tuple) else v}" for k, v in TINY.items()]
    out = vidsynth(["train", "wgan3d-cond", "builtin:bouncing-balls", *tiny, "--condition", "middle", "--steps", "1",
                    "--preview-every", "0", "--run-dir", "mid", "-q"], tmp_path)
    assert out.returncode == 0, out.stderr
    assert json.loads((tmp_path / "mid" / "config.json").read_text())["config"]["condition"] == "middle"
    refused = vidsynth(["train", "wgan3d", "builtin:bouncing-balls", "--condition", "middle"], tmp_path)
    assert refused.returncode == 1 and "no choice of conditioning frame" in refused.stderr
    bad = vidsynth(["train", "wgan3d-cond", "builtin:bouncing-balls", "--condition", "last"], tmp_path)
    assert bad.returncode == 1 and "must be one of middle, first" in bad.stderr


@pytest.mark.parametrize("time_stride", [1, 2])
def test_resize_up_layers_make_the_same_shapes_as_transposed_ones(time_stride):
    from vidsynth.nn.video_gan import VideoGenerator3D, up_conv

    x = torch.randn(2, 6, 2, 4, 4)
    for upsample in ("transposed", "resize"):
        assert up_conv(6, 3, time_stride, upsample)(x).shape == (2, 3, 2 * time_stride, 8, 8)
        G = VideoGenerator3D(6, (5, 4), 1, 2, 8, norm="layer", upsample=upsample)
        assert G(x).shape == (2, 1, 8, 32, 32)
    with pytest.raises(ValueError, match="unknown upsample"):
        up_conv(6, 3, 2, "bicubic")


def test_a_resize_up_layer_is_nearest_upsampling_then_a_3x3x3_convolution():
    from vidsynth.nn.video_gan import up_conv

    torch.manual_seed(0)
    layer = up_conv(2, 3, 2, "resize")
    x = torch.randn(1, 2, 2, 3, 3)
    conv = layer[1]
    expected = torch.nn.functional.conv3d(x.repeat_interleave(2, 2).repeat_interleave(2, 3).repeat_interleave(2, 4),
                                          conv.weight, conv.bias, padding=1)
    assert torch.allclose(layer(x), expected, atol=1e-6)
    config = WGAN3D().make_config("small", {**TINY, "g_upsample": "resize"})
    assert not any(isinstance(m, torch.nn.ConvTranspose3d) for m in WGAN3D().build(config)["generator"].modules())


# -- the recurrent generator ------------------------------------------------------------------
RECURRENT = {**TINY, "generator": "recurrent", "latent_size": 2, "g_widths": (8,), "lstm_channels": 4, "lstm_layers": 2,
             "g_norm": "frame"}


@pytest.mark.parametrize("plugin", [WGAN3D(), WGAN3DConditional()], ids=lambda p: p.name)
def test_recurrent_generator_trains_and_steps_a_convlstm_once_per_frame(plugin):
    torch.manual_seed(0)
    extra = {"condition": "first"} if isinstance(plugin, WGAN3DConditional) else {}
    config = plugin.make_config("small", {**RECURRENT, **extra, "frame_critic_weight": 1.0, "frame_critic_widths": (4,)})
    ctx = context(plugin, config)
    G = ctx.modules["generator"]
    assert len(G.lstm.cells) == 2 and G.project(torch.zeros(3, 8)).shape == (3, 8, 1, 2, 2)  # one latent map
    before = [p.detach().clone() for p in G.parameters()]
    losses = plugin.train_step(ctx, clips(config))
    assert all(np.isfinite(v) for v in losses.values()) and "frame_generator" in losses
    assert any(not torch.equal(a, b) for a, b in zip(before, G.parameters()))
    assert all(p.grad is None or torch.isfinite(p.grad).all() for p in G.lstm.parameters())


def test_recurrent_generator_samples_any_length_and_keeps_the_given_first_frame():
    torch.manual_seed(0)
    plugin = WGAN3DConditional()
    config = plugin.make_config("small", {**RECURRENT, "condition": "first"})
    modules = plugin.build(config)
    condition = plugin.condition_from(clips(config, n=2), config)
    for frames in (4, 7):
        video = sample(plugin, modules, config, condition, 2, seed=0, frames=frames)
        assert video.shape == (2, 1, frames, 8, 8) and torch.equal(video[:, :, 0], condition[:, :, 0])
    uncond = WGAN3D()
    uconfig = uncond.make_config("small", RECURRENT)
    umodules = uncond.build(uconfig)
    assert sample(uncond, umodules, uconfig, None, 3, seed=0, frames=9).shape == (3, 1, 9, 8, 8)
    # the same noise seed gives the same clip
    a = sample(uncond, umodules, uconfig, None, 2, seed=5, frames=6)
    b = sample(uncond, umodules, uconfig, None, 2, seed=5, frames=6)
    assert torch.equal(a, b)
    with pytest.raises(VidsynthError, match="at least 2 frames"):
        sample(uncond, umodules, uconfig, None, 1, seed=0, frames=1)


def test_recurrent_configs_that_cannot_work_are_refused():
    with pytest.raises(ConfigError, match="lstm_kernel must be odd"):
        WGAN3D().make_config("small", {"generator": "recurrent", "lstm_kernel": 2})
    with pytest.raises(ConfigError, match="lstm_layers"):
        WGAN3D().make_config("small", {"generator": "recurrent", "lstm_layers": 0})
    with pytest.raises(ConfigError, match="generator"):
        WGAN3D().make_config("small", {"generator": "mlp"})
    # the length is free: frames need not be latent_frames times a power of two
    assert WGAN3D().make_config("small", {**RECURRENT, "frames": 5}).frames == 5
