"""``vidsynth sample`` and ``vidsynth.generate``: videos from a trained tiny model, and every refusal."""

from __future__ import annotations

from pathlib import Path

import av
import numpy as np
import pytest
import torch
from PIL import Image

from tiny_plugin import run_vidsynth, tiny_plugin_env, tiny_registry, train_tiny  # noqa: F401 - tiny_registry is a fixture
from vidsynth.checkpoint import load_run
from vidsynth.cli.sample_cmd import plan_outputs
from vidsynth.errors import VidsynthError
from vidsynth.generate import generate, parse_options


@pytest.fixture
def trained(tmp_path, tiny_registry):
    """runs/gan (tiny, unconditional) and runs/kf (tiny-keyframes) under tmp_path, 2 steps each."""
    train_tiny(tmp_path / "runs", tiny_registry, run="gan", steps=2)
    train_tiny(tmp_path / "runs", tiny_registry, plugin="tiny-keyframes", run="kf", steps=2)
    return tmp_path


@pytest.fixture
def env(tmp_path):
    return tiny_plugin_env(tmp_path)


def decoded(path):
    with av.open(str(path)) as container:
        return [frame.to_ndarray(format="rgb24") for frame in container.decode(video=0)]


def test_samples_the_newest_run_into_a_video_pyav_reads_back(trained, env):
    result = run_vidsynth(["sample", "tiny", "-o", "out.mp4"], env=env, cwd=trained)
    assert result.returncode == 0, result.stderr
    assert "runs/gan/checkpoints/step_00000002 (step 2)" in result.stderr
    frames = decoded(trained / "out.mp4")
    assert len(frames) == 4 and frames[0].shape == (8, 8, 3)


def test_keyframes_from_two_images_of_another_size_with_more_frames(trained, env):
    Image.new("RGB", (20, 16), (200, 30, 30)).save(trained / "first.png")
    Image.new("RGB", (20, 16), (30, 30, 200)).save(trained / "last.png")
    result = run_vidsynth(["sample", "tiny-keyframes", "--in", "first.png", "last.png", "--frames", "6", "--mean",
                           "-o", "mid.gif"], env=env, cwd=trained)
    assert result.returncode == 0, result.stderr
    assert "note: first.png is 20x16; center-cropped and resized to 8x8" in result.stderr
    frames = decoded(trained / "mid.gif")
    assert len(frames) == 6
    assert frames[0][..., 0].mean() > frames[-1][..., 0].mean()  # from the red keyframe towards the blue one


def test_colour_photos_given_to_a_grayscale_model_get_a_note(tmp_path, tiny_registry, env):
    train_tiny(tmp_path / "runs", tiny_registry, plugin="tiny-keyframes", run="gray", steps=1, sets=["channels=1"])
    Image.new("RGB", (8, 8), (200, 30, 30)).save(tmp_path / "red.png")
    Image.new("RGB", (8, 8), (90, 90, 90)).save(tmp_path / "gray.png")
    result = run_vidsynth(["sample", "tiny-keyframes", "--in", "red.png", "gray.png", "-o", "v.mp4"], env=env,
                          cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert ("note: red.png is in colour; this tiny-keyframes model is grayscale (trained on grayscale data), so it"
            " reads the photo as gray and makes a grayscale video") in result.stderr
    assert "gray.png is in colour" not in result.stderr
    frame = decoded(tmp_path / "v.mp4")[0].astype(int)
    assert np.abs(frame[..., 0] - frame[..., 2]).max() <= 2  # a gray video


def test_several_samples_become_numbered_files(trained, env):
    result = run_vidsynth(["sample", "tiny", "-n", "2", "--seed", "3", "-o", "s.webm"], env=env, cwd=trained)
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["s_000.webm", "s_001.webm"]
    assert [len(decoded(trained / name)) for name in ("s_000.webm", "s_001.webm")] == [4, 4]


def test_output_names_for_files_folders_and_grids(tmp_path):
    assert plan_outputs(Path("a.mp4"), 1, False) == [Path("a.mp4")]
    assert plan_outputs(Path("a.gif"), 2, False) == [Path("a_000.gif"), Path("a_001.gif")]
    assert plan_outputs(Path("a.gif"), 9, True) == [Path("a.gif")]
    assert plan_outputs(tmp_path, 2, False) == [tmp_path / "sample_000.mp4", tmp_path / "sample_001.mp4"]
    assert plan_outputs(Path("new_folder/"), 1, True) == [Path("new_folder/grid.mp4")]
    with pytest.raises(VidsynthError, match="use a .mp4, .gif or .webm file, or a folder"):
        plan_outputs(Path("a.avi"), 1, False)


def test_an_existing_output_is_kept_unless_force(trained, env):
    (trained / "out.mp4").write_bytes(b"precious")
    refused = run_vidsynth(["sample", "tiny", "-o", "out.mp4"], env=env, cwd=trained)
    assert refused.returncode == 1 and "out.mp4 already exists; pass --force" in refused.stderr
    assert (trained / "out.mp4").read_bytes() == b"precious"
    forced = run_vidsynth(["sample", "tiny", "-o", "out.mp4", "--force"], env=env, cwd=trained)
    assert forced.returncode == 0, forced.stderr
    assert len(decoded(trained / "out.mp4")) == 4


@pytest.mark.parametrize(
    "args, message",
    [
        (["tiny-keyframes", "--in", "first.png", "-o", "x.mp4"],
         "error: tiny-keyframes (keyframes) needs exactly 2 input images (first and last frame), got 1"),
        (["tiny", "--in", "first.png", "-o", "x.mp4"], "error: tiny (unconditional) needs no input image, got 1"),
        (["tiny-keyframes", "--in", "first.png", "gone.png", "-o", "x.mp4"], "error: input image gone.png does not exist"),
        (["tiny", "--option", "heat=2", "-o", "x.mp4"], "error: unknown sample option for tiny: heat; it has: temperature"),
        (["tiny", "--checkpoint", "runs/kf", "-o", "x.mp4"], "error: checkpoint runs/kf is a tiny-keyframes model, not tiny"),
        (["nosuch", "-o", "x.mp4"], "error: unknown plugin 'nosuch'"),
    ],
    ids=["too-few-images", "images-for-unconditional", "missing-image", "unknown-option", "wrong-plugin", "unknown-plugin"],
)
def test_bad_requests_fail_with_one_line(trained, env, args, message):
    Image.new("RGB", (8, 8)).save(trained / "first.png")
    result = run_vidsynth(["sample", *args], env=env, cwd=trained)
    assert result.returncode == 1
    assert result.stderr.startswith(message) and result.stderr.count("\n") == 1, result.stderr
    assert not (trained / "x.mp4").exists()


def test_without_any_run_the_error_says_how_to_train_one(tmp_path, env):
    result = run_vidsynth(["sample", "tiny", "-o", "x.mp4"], env=env, cwd=tmp_path)
    assert result.returncode == 1
    assert "no trained tiny model under ./runs; train one with `vidsynth train tiny DATA`" in result.stderr


def test_a_corrupt_checkpoint_fails_cleanly(trained, env):
    weights = trained / "runs" / "gan" / "checkpoints" / "step_00000002" / "model.safetensors"
    weights.write_bytes(weights.read_bytes()[:50])
    result = run_vidsynth(["sample", "tiny", "-o", "x.mp4"], env=env, cwd=trained)
    assert result.returncode == 1 and result.stderr.count("\n") == 1
    assert "is corrupt: model.safetensors has 50 bytes" in result.stderr


def test_generate_is_seeded_and_mean_is_deterministic(trained):
    loaded = load_run(trained / "runs" / "gan")
    a = generate(loaded, None, 3, seed=1)
    assert a.shape == (3, 3, 4, 8, 8) and a.min() >= -1 and a.max() <= 1
    assert torch.equal(a, generate(loaded, None, 3, seed=1))
    assert not torch.equal(a, generate(loaded, None, 3, seed=2))
    m = generate(loaded, None, 2, seed=5, mean=True)
    assert torch.equal(m[0], m[1])
    assert not torch.equal(generate(loaded, None, 1, seed=1, temperature=0.1), a[:1])


def test_generate_checks_the_condition_and_what_the_plugin_returns(trained):
    loaded = load_run(trained / "runs" / "kf")
    keyframes = torch.zeros(1, 3, 2, 8, 8)
    assert generate(loaded, keyframes, 2, seed=0, frames=5).shape == (2, 3, 5, 8, 8)
    with pytest.raises(VidsynthError, match="needs exactly 2 input images"):
        generate(loaded, torch.zeros(1, 3, 1, 8, 8), 1, seed=0)
    with pytest.raises(VidsynthError, match="works on 3-channel 8x8 frames; the condition is 3-channel 16x16"):
        generate(loaded, torch.zeros(1, 3, 2, 16, 16), 1, seed=0)

    original = type(loaded.plugin).sample
    try:
        type(loaded.plugin).sample = lambda self, modules, config, condition, n, generator, **o: torch.zeros(n, 3, 2, 8, 8)
        with pytest.raises(VidsynthError, match=r"sample\(\) returned shape \[1, 3, 2, 8, 8\], expected .* \[1, 3, 4, 8, 8\]"):
            generate(loaded, keyframes, 1, seed=0)
        type(loaded.plugin).sample = lambda self, modules, config, condition, n, generator, **o: torch.full((n, 3, 4, 8, 8), np.nan)
        with pytest.raises(VidsynthError, match="returned NaN or infinite values"):
            generate(loaded, keyframes, 1, seed=0)
    finally:
        type(loaded.plugin).sample = original


def test_sample_options_are_typed_and_defaulted(tiny_registry):
    plugin = tiny_registry.model("tiny")
    assert parse_options(plugin, []) == {"temperature": 1.0}
    assert parse_options(plugin, ["temperature=0.5"]) == {"temperature": 0.5}
    with pytest.raises(VidsynthError, match="config key 'temperature' expects float, got 'hot'"):
        parse_options(plugin, ["temperature=hot"])


def test_without_in_a_conditional_model_uses_a_held_out_clip_of_its_data_and_names_it(tmp_path, env):
    trained = run_vidsynth(["train", "tiny-keyframes", "builtin:tiny-squares", "--steps", "1", "--run-dir", "runs/kf",
                            "--quiet", "--preview-every", "0"], env=env, cwd=tmp_path)
    assert trained.returncode == 0, trained.stderr
    result = run_vidsynth(["sample", "tiny-keyframes", "-o", "x.mp4"], env=env, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert ("no --in given: conditioning on the frames tiny-keyframes takes (keyframes) from held-out clip 4 of 8 of"
            " builtin:tiny-squares; pass --in IMAGE... for your own") in result.stderr.splitlines()
    assert len(decoded(tmp_path / "x.mp4")) == 4


def test_without_in_and_without_known_data_the_error_asks_for_images(trained, env):
    result = run_vidsynth(["sample", "tiny-keyframes", "-o", "x.mp4"], env=env, cwd=trained)
    assert result.returncode == 1
    assert result.stderr == ("error: tiny-keyframes (keyframes) needs exactly 2 input images (first and last frame):"
                             " pass --in (its run records no training data to take them from)\n")
    assert not (trained / "x.mp4").exists()


# -- photos at their own size (cvae and cgan sample at any size) ------------------------------------------
@pytest.fixture
def photo_env(tmp_path):
    return tiny_plugin_env(tmp_path, plugins="cvae,tiny,builtin-datasets,builtin-metrics")


def save_photo(path, width, height, seed=0):
    rng = np.random.default_rng(seed)
    Image.fromarray(rng.integers(0, 256, (height, width, 3), dtype=np.uint8)).save(path)


def sample_photos(tmp_path, env, *args):
    return run_vidsynth(["sample", "cvae", "--checkpoint", "pretrained", *args], env=env, cwd=tmp_path)


def test_an_odd_non_square_photo_pair_keeps_its_size_made_even(tmp_path, photo_env):
    save_photo(tmp_path / "a.png", 45, 31)
    save_photo(tmp_path / "b.png", 45, 31, seed=1)
    result = sample_photos(tmp_path, photo_env, "--in", "a.png", "b.png", "-o", "v.mp4")
    assert result.returncode == 0, result.stderr
    assert "note: a.png is 45x31; the video is 44x30 (even sides, as the mp4 encoder needs)" in result.stderr
    frames = decoded(tmp_path / "v.mp4")
    assert len(frames) == 16 and frames[0].shape == (30, 44, 3)


def test_a_second_photo_of_another_size_is_fitted_to_the_first_with_a_note(tmp_path, photo_env):
    save_photo(tmp_path / "a.png", 64, 48)
    save_photo(tmp_path / "b.png", 30, 30, seed=1)
    result = sample_photos(tmp_path, photo_env, "--in", "a.png", "b.png", "-o", "v.webm")
    assert result.returncode == 0, result.stderr
    notes = [line for line in result.stderr.splitlines() if line.startswith("note:")]
    assert notes == ["note: b.png is 30x30, not 64x48 like a.png; center-cropped and resized to 64x48"]
    assert decoded(tmp_path / "v.webm")[0].shape == (48, 64, 3)


def test_size_chooses_the_videos_width_and_height(tmp_path, photo_env):
    save_photo(tmp_path / "a.png", 64, 48)
    result = sample_photos(tmp_path, photo_env, "--in", "a.png", "a.png", "--size", "40x24", "-o", "v.mp4")
    assert result.returncode == 0, result.stderr
    assert decoded(tmp_path / "v.mp4")[0].shape == (24, 40, 3)


def test_max_side_caps_the_long_side_with_a_note(tmp_path, photo_env):
    save_photo(tmp_path / "a.png", 100, 60)
    result = sample_photos(tmp_path, photo_env, "--in", "a.png", "a.png", "--max-side", "32", "-o", "v.mp4")
    assert result.returncode == 0, result.stderr
    assert "note: a.png is 100x60; the video is 32x20 (its long side capped at 32;" in result.stderr
    assert decoded(tmp_path / "v.mp4")[0].shape == (20, 32, 3)


def test_photos_larger_than_1024_are_capped_by_default(tmp_path, photo_env):
    save_photo(tmp_path / "wide.png", 1100, 300)
    result = sample_photos(tmp_path, photo_env, "--in", "wide.png", "wide.png", "-o", "v.mp4")
    assert result.returncode == 0, result.stderr
    assert decoded(tmp_path / "v.mp4")[0].shape == (280, 1024, 3)


@pytest.mark.parametrize("args, message", [
    (["--size", "64x4O"], "error: --size takes WxH (or N for NxN) in pixels, each at least 2, e.g. 640x480; got '64x4O'"),
    (["--size", "64x48", "--max-side", "64"], "error: --size and --max-side both choose the video's size: pass one of them"),
    (["--max-side", "1"], "error: --max-side must be at least 2 pixels, got 1"),
])
def test_a_bad_size_choice_is_a_one_line_error_and_writes_nothing(tmp_path, photo_env, args, message):
    save_photo(tmp_path / "a.png", 16, 16)
    result = sample_photos(tmp_path, photo_env, "--in", "a.png", "a.png", *args, "-o", "v.mp4")
    assert result.returncode == 1
    assert result.stderr.strip() == message
    assert not (tmp_path / "v.mp4").exists()


def test_size_for_a_model_fixed_to_its_training_size_is_refused(trained, env):
    Image.new("RGB", (8, 8)).save(trained / "a.png")
    result = run_vidsynth(["sample", "tiny-keyframes", "--in", "a.png", "a.png", "--size", "16", "-o", "v.mp4"],
                          env=env, cwd=trained)
    assert result.returncode == 1
    assert result.stderr.strip() == ("error: tiny-keyframes samples only at its training size (it does not declare"
                                     " supports_any_size); drop --size")


def test_the_videos_first_and_last_frames_are_the_photos(tmp_path, photo_env):
    """End to end through the mp4 encoder (lossy: yuv420p, CRF 18): above 40 dB on a smooth photo. The frames
    before encoding are the photos exactly (tests/test_photo_resolution.py)."""
    y, x = np.mgrid[0:96, 0:128] / 96.0
    photos = []
    for name, shift in (("a.png", 0.0), ("b.png", 0.3)):
        photo = np.stack([np.sin(3 * (x - shift)), np.cos(2 * y + x), np.sin(2 * (x + y))], axis=-1)
        photos.append(np.round((photo + 1) * 127.5).astype(np.uint8))
        Image.fromarray(photos[-1]).save(tmp_path / name)
    result = sample_photos(tmp_path, photo_env, "--in", "a.png", "b.png", "-o", "v.mp4")
    assert result.returncode == 0, result.stderr
    frames = decoded(tmp_path / "v.mp4")
    for frame, photo in ((frames[0], photos[0]), (frames[-1], photos[1])):
        mse = ((frame.astype(float) - photo) ** 2).mean()
        assert 10 * np.log10(255**2 / mse) > 40


def test_size_without_photos_is_refused(tmp_path, photo_env):
    result = sample_photos(tmp_path, photo_env, "--size", "64x48", "-o", "v.mp4")
    assert result.returncode == 1
    assert result.stderr.strip() == ("error: --size sizes the video made from --in photos; pass --in IMAGE... or"
                                     " drop --size")
