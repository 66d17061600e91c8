"""Keyframe models at any frame size: the network runs at its own size, the video is composed at the
photos' size (``vidsynth.nn.keyframes.generate_keyframe_video``), and photos are fitted to that size
(``vidsynth.io.image``)."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from vidsynth.checkpoint import resolve_run
from vidsynth.errors import VidsynthError
from vidsynth.generate import generate, run_sample
from vidsynth.io.image import DEFAULT_MAX_SIDE, fit_image, parse_frame_size, photo_size
from vidsynth.nn.keyframes import encode_keyframes, linear_interpolation, resize_keyframes
from vidsynth.pretrained import load_model
from vidsynth_plugins.cgan import CGAN
from vidsynth_plugins.cvae import CVAE


@pytest.fixture(scope="module")
def shipped():
    """The small cvae vidsynth ships (32 x 32, 16 frames)."""
    path, _ = resolve_run("cvae", "pretrained")
    return load_model(path, plugin_name="cvae")


def keyframes(h, w, seed=0):
    return torch.rand(1, 3, 2, h, w, generator=torch.Generator().manual_seed(seed)) * 2 - 1


def moving_texture(size, frames, shift, seed=0):
    """A smooth colour texture (12 plane waves, wavelengths >= 16 px) sliding ``shift`` pixels to the right
    over the clip, evaluated exactly at every sub-pixel position: ``[1, 3, frames, size, size]`` in [-1, 1]."""
    g = torch.Generator().manual_seed(seed)
    coords = torch.arange(size, dtype=torch.float64)
    y, x = coords.view(-1, 1), coords.view(1, -1)
    video = torch.zeros(3, frames, size, size, dtype=torch.float64)
    for _ in range(12):
        fx, fy = ((torch.rand(2, generator=g, dtype=torch.float64) * 2 - 1) * 2 * math.pi / 16).tolist()
        phase = float(torch.rand(1, generator=g)) * 2 * math.pi
        colour = torch.rand(3, 1, 1, generator=g, dtype=torch.float64)
        for i, t in enumerate(torch.linspace(0, 1, frames).tolist()):
            video[:, i] += colour * torch.cos(fx * (x - shift * t) + fy * y + phase)
    video = (video - video.amin()) / (video.amax() - video.amin())
    return (video * 2 - 1).float().unsqueeze(0)


def inner_psnr(made, truth):
    mse = ((made[:, :, 1:-1] - truth[:, :, 1:-1]) / 2).pow(2).mean().item()
    return 10 * math.log10(1 / mse)


# -- the composition ------------------------------------------------------------------------------------
@pytest.mark.parametrize("shape", [(45, 31), (64, 64), (20, 90)])
def test_video_comes_out_at_the_keyframes_size_with_the_keyframes_exact(shipped, shape):
    keys = keyframes(*shape)
    video = generate(shipped, keys, 1, seed=0)
    assert video.shape == (1, 3, 16, *shape)
    assert torch.equal(video[:, :, 0], keys[:, :, 0]) and torch.equal(video[:, :, -1], keys[:, :, 1])


def test_at_the_networks_own_size_the_composition_is_the_generator_itself(shipped):
    """Composing at 32 x 32 from the 32 x 32 run reproduces the plain forward pass: what is carried to full
    resolution (base from the full keyframes + the network's departure from its base) loses nothing."""
    model = shipped.modules["model"]
    keys = (keyframes(32, 32) + 1) / 2
    z = torch.randn(1, 32, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        codes = encode_keyframes(model.image_encoder, keys)
        direct = model.generator(z, codes, keys)
        composed = model.generator.at_resolution(z, codes, keys, keys)
    assert torch.allclose(direct, composed, atol=1e-5)


def test_a_translated_texture_is_followed_at_full_resolution(shipped):
    """128 x 128, a texture sliding 9 px: the shipped model's in-between frames beat the cross-fade by a
    clear margin (measured +3.6 dB; the network itself runs at 32 x 32, where the shift is 2.25 px)."""
    truth = moving_texture(128, 16, shift=9.0)
    keys = truth[:, :, [0, -1]]
    made = generate(shipped, keys, 1, seed=0, mean=True)
    crossfade = linear_interpolation(keys, 16)
    assert inner_psnr(made, truth) > inner_psnr(crossfade, truth) + 2.0


def test_with_the_residual_off_the_frames_are_the_texture_moved(shipped):
    """The motion base composed at 128 x 128 lands the texture where it is: with no residual, the in-between
    frames are the true frames within 30 dB (a 9 px shift is camera motion to the gated base, so this is
    the optical flow of the full-size keyframes; the cost-volume branch at full size is tested in
    tests/test_gated_motion.py)."""
    model = CVAE().build(shipped.config)["model"]
    model.load_state_dict(shipped.modules["model"].state_dict())
    with torch.no_grad():
        model.generator.residual_gate.zero_()
    truth = moving_texture(128, 16, shift=9.0)
    video = run_sample(CVAE(), {"model": model}, shipped.config, truth[:, :, [0, -1]], 1, seed=0, mean=True)
    assert inner_psnr(video, truth) > 30.0
    assert inner_psnr(video, truth) > inner_psnr(linear_interpolation(truth[:, :, [0, -1]], 16), truth) + 6.0


def test_a_non_square_photo_is_squeezed_whole_for_the_network():
    keys = torch.zeros(1, 1, 2, 10, 40)
    keys[..., 30:] = 1.0  # the right quarter is white: a crop to the centre would lose it
    small = resize_keyframes(keys, 8)
    assert small.shape == (1, 1, 2, 8, 8)
    assert small[..., -1].min() > 0.9 and small[..., 0].max() < 0.1


def test_cgan_samples_at_a_photos_size_too():
    plugin = CGAN()
    config = plugin.make_config("small", {"frames": 8, "time_strides": (1, 2, 1, 1, 2), "size": 16})
    torch.manual_seed(0)
    modules = plugin.build(config)
    keys = keyframes(22, 30)
    video = run_sample(plugin, modules, config, keys, 2, seed=0)
    assert video.shape == (2, 3, 8, 22, 30)
    assert torch.equal(video[:, :, 0], keys[:, :, 0].expand(2, -1, -1, -1))


def test_eval_at_another_size_samples_the_model_at_that_size(shipped):
    """What ``vidsynth eval --size 64`` does: the config's size replaced, the weights (32 x 32) unchanged."""
    import dataclasses

    at64 = dataclasses.replace(shipped, config=dataclasses.replace(shipped.config, size=64))
    assert generate(at64, keyframes(64, 64), 2, seed=0).shape == (2, 3, 16, 64, 64)


# -- fitting photos ----------------------------------------------------------------------------------
def test_a_photo_keeps_its_size_made_even():
    assert photo_size(640, 480) == (640, 480)
    assert photo_size(45, 31) == (44, 30)


def test_a_large_photo_is_capped_on_its_long_side():
    assert DEFAULT_MAX_SIDE == 1024
    assert photo_size(4032, 3024) == (1024, 768)
    assert photo_size(300, 1100) == (280, 1024)  # 279.3 -> nearest even
    assert photo_size(100, 60, max_side=32) == (32, 20)
    assert photo_size(100, 60, max_side=4096) == (100, 60)  # never scaled up


def test_a_chosen_size_wins_and_is_made_even():
    assert photo_size(4032, 3024, size=(641, 480)) == (640, 480)


@pytest.mark.parametrize("text", ["64x", "x64", "axb", "64x48x2", "0x10", "1", "-5x5", ""])
def test_a_bad_size_is_a_one_line_error(text):
    with pytest.raises(VidsynthError, match="--size takes WxH"):
        parse_frame_size(text)


def test_sizes_parse_as_width_by_height():
    assert parse_frame_size("640x480") == (640, 480)
    assert parse_frame_size("96") == (96, 96)


def test_an_odd_photo_made_even_keeps_its_pixels():
    photo = np.random.default_rng(0).integers(0, 256, (31, 45, 3), dtype=np.uint8)
    assert np.array_equal(fit_image(photo, 44, 30), photo[:30, :44])


def test_a_photo_of_another_shape_is_center_cropped_to_the_aspect_then_resized():
    photo = np.zeros((20, 60, 3), np.uint8)
    photo[:, 20:40] = 255  # a white centre square between black sides
    fitted = fit_image(photo, 10, 10)
    assert fitted.shape == (10, 10, 3) and fitted.min() > 200
