"""The convlstm plugin: shapes of both presets, the first frame is the input, training, sampling, the CLI."""

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
from tiny_configs import cpu_context

from vidsynth.errors import ConfigError, VidsynthError
from vidsynth.generate import run_sample
from vidsynth.nn.convlstm import ConvLSTM
from vidsynth.runtime import Runtime
from vidsynth_plugins.convlstm import ConvLSTMGAN

TINY = SIZES["convlstm"]
PLUGIN = ConvLSTMGAN()


def clips(config, n=4, seed=0):
    g = torch.Generator().manual_seed(seed)
    return torch.rand(n, config.channels, config.frames, config.size, config.size, generator=g) * 2 - 1


def sample(modules, config, condition, n, seed, frames=None, mean=False, **options):
    """Through the core's run_sample: eval mode, no gradients, the condition checked and expanded."""
    return run_sample(PLUGIN, modules, config, condition, n, seed, frames=frames, mean=mean, options=options)


def test_paper_preset_makes_16_frames_of_128x128_with_five_convlstm_layers_and_a_five_conv_critic():
    config = PLUGIN.make_config("paper")
    with torch.device("meta"):
        modules = PLUGIN.build(config)
        video = modules["generator"](torch.zeros(2, 3, 1, 128, 128), torch.zeros(2, 100), 16)
        assert video.shape == (2, 3, 16, 128, 128)
        assert modules["critic"](video).shape == (2,)
    G = modules["generator"]
    assert isinstance(G.lstm, ConvLSTM) and len(G.lstm.cells) == 5
    assert any(isinstance(m, torch.nn.ConvTranspose3d) for m in G.decoder.modules())
    assert sum(isinstance(m, torch.nn.Conv3d) for m in modules["critic"].modules()) == 5


def test_configs_that_cannot_work_are_refused_with_a_clear_message():
    with pytest.raises(ConfigError, match="decoder_widths needs 1 entries"):
        PLUGIN.make_config("small", {"decoder_widths": (8, 8)})
    with pytest.raises(ConfigError, match="must be divisible by 2"):
        PLUGIN.make_config("small", {"size": 30})
    with pytest.raises(ConfigError, match="lstm_kernel must be odd"):
        PLUGIN.make_config("small", {"lstm_kernel": 2})


def test_the_diversity_term_adds_a_finite_mode_seeking_loss():
    config = PLUGIN.make_config("small", {**TINY, "diversity_weight": 1.0})
    ctx = cpu_context(PLUGIN, config)
    losses = PLUGIN.train_step(ctx, clips(config))
    assert np.isfinite(losses["mode_seeking"]) and losses["mode_seeking"] > 0


def test_the_first_frame_is_the_input_and_the_noise_moves_the_rest():
    torch.manual_seed(0)
    config = PLUGIN.make_config("small", TINY)
    modules = PLUGIN.build(config)
    first = clips(config, n=2)[:, :, :1]
    a = sample(modules, config, first, 2, seed=0)
    assert torch.equal(a[:, :, 0], first[:, :, 0])
    b = sample(modules, config, first, 2, seed=1)
    assert not torch.equal(a[:, :, 1:], b[:, :, 1:])


def test_the_convlstm_unrolls_past_the_training_length():
    torch.manual_seed(0)
    config = PLUGIN.make_config("small", TINY)
    modules = PLUGIN.build(config)
    first = clips(config, n=1)[:, :, :1]
    short = sample(modules, config, first, 1, seed=3)
    long = sample(modules, config, first, 1, seed=3, frames=9)
    assert long.shape == (1, 1, 9, 8, 8)
    # the recurrence is causal; each of the decoder's 2 up-layers mixes a frame with its neighbours, so the
    # frames more than 2 away from the end of the shorter clip are the same in both
    same = config.frames - 2
    assert torch.allclose(long[:, :, :same], short[:, :, :same], atol=1e-6)
    assert not torch.allclose(long[:, :, same : config.frames], short[:, :, same:], atol=1e-6)
    with pytest.raises(VidsynthError, match="at least 2 frames"):
        sample(modules, config, first, 1, seed=0, frames=1)


# -- the command line -------------------------------------------------------------------------
@pytest.fixture(scope="module")
def run(tmp_path_factory):
    """A tiny convlstm trained for 2 steps on builtin:bouncing-balls, in-process (what `vidsynth train` runs)."""
    from vidsynth.data import open_clips
    from vidsynth.trainer import TrainOptions, train

    run_dir = tmp_path_factory.mktemp("convlstm") / "run"
    config = PLUGIN.make_config("small", {**TINY, "steps": 2})
    data = open_clips("builtin:bouncing-balls", frames=4, size=8, channels=1, split="train", progress=False)
    with Runtime(device="cpu", seed=0) as rt:
        train(PLUGIN, config, data, runtime=rt, run_dir=run_dir, preset="small",
              options=TrainOptions(preview_every=0, log_every=1, quiet=True))
    return run_dir


def vidsynth(args, cwd):
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    return subprocess.run([sys.executable, "-m", "vidsynth", *args], cwd=cwd, env=env, capture_output=True, text=True)


def test_cli_samples_a_video_that_starts_with_the_input_image(run, tmp_path):
    image = np.zeros((8, 8), np.uint8)
    image[1:4, 4:7] = 255
    Image.fromarray(image).save(tmp_path / "ball.png")
    out = vidsynth(["sample", "convlstm", "--checkpoint", str(run), "--in", "ball.png", "--frames", "6", "-o", "clip.gif"],
                   tmp_path)
    assert out.returncode == 0, out.stderr
    with av.open(str(tmp_path / "clip.gif")) as container:
        frames = [f.to_ndarray(format="rgb24") for f in container.decode(video=0)]
    assert len(frames) == 6 and frames[0].shape == (8, 8, 3)
    assert np.abs(frames[0][..., 0].astype(int) - image).max() <= 8  # GIF palette rounding


def test_cli_eval_scores_the_model_beside_copying_the_first_frame(run, tmp_path):
    out = vidsynth(["eval", "convlstm", "builtin:bouncing-balls", "--checkpoint", str(run), "-n", "4", "--videos", "0",
                    "--json", "-o", "report"], tmp_path)
    assert out.returncode == 0, out.stderr
    text = json.dumps(json.loads(out.stdout))
    assert "psnr" in text and "copy" in text
