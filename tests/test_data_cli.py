"""`vidsynth data prepare | merge | info | preview`, run as a user runs them (a subprocess)."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from fixtures_media import video
from vidsynth.io import read_video


def vidsynth(*args, cwd=None):
    env = dict(os.environ, VIDSYNTH_PLUGINS="builtin-datasets")
    return subprocess.run([sys.executable, "-m", "vidsynth", *map(str, args)], capture_output=True, text=True,
                          env=env, cwd=cwd, timeout=120)


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    root = tmp_path_factory.mktemp("cli-videos")
    for i in range(3):
        video(root / f"v{i}.mp4", n=20, seed=i)
    (root / "broken.mp4").write_bytes(b"\x00garbage" * 100)
    return root


def test_prepare_then_info_then_preview(tmp_path, folder):
    done = vidsynth("data", "prepare", folder, tmp_path / "cache", "--frames", "8", "--size", "16", "--workers", "1",
                    "--test-fraction", "0.5", "--json")
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    assert report["counts"]["clips"] == 6 and report["decoded"] == 3
    assert "broken.mp4" in report["skipped"]

    info = vidsynth("data", "info", tmp_path / "cache", "--json")
    data = json.loads(info.stdout)
    assert data["counts"]["clips"] == 6 and data["complete"] and data["clip_shape"] == [8, 16, 16, 3]
    assert data["skipped"] == {"broken.mp4": "Invalid data found when processing input"}
    human = vidsynth("data", "info", tmp_path / "cache")
    assert "clips: 6" in human.stdout and "1 x Invalid data" in human.stdout

    shown = vidsynth("data", "preview", tmp_path / "cache", "-o", tmp_path / "grid.gif", "-n", "4", "--split", "all")
    assert shown.returncode == 0, shown.stderr
    frames, _ = read_video(tmp_path / "grid.gif", fit="none")
    assert frames.shape == (8, 2 * 16 + 3 * 2, 2 * 16 + 3 * 2, 3)


def test_shard_parts_then_merge(tmp_path, folder):
    for i in (1, 2):
        part = vidsynth("data", "prepare", folder, tmp_path / f"p{i}", "--frames", "8", "--size", "16", "--shard", f"{i}/2", "-q")
        assert part.returncode == 0, part.stderr
    merged = vidsynth("data", "merge", tmp_path / "all", tmp_path / "p1", tmp_path / "p2")
    assert merged.returncode == 0, merged.stderr
    assert "6 clips" in merged.stdout
    assert json.loads(vidsynth("data", "info", tmp_path / "all", "--json").stdout)["counts"]["sources"] == 3


def test_builtin_preview(tmp_path):
    shown = vidsynth("data", "preview", "builtin:bouncing-balls", "-o", tmp_path / "balls.mp4", "-n", "4", "--frames", "6", "--size", "16")
    assert shown.returncode == 0, shown.stderr
    assert "4 clips of 4000 (train)" in shown.stdout
    assert read_video(tmp_path / "balls.mp4", fit="none")[0].shape[0] == 6


@pytest.mark.parametrize("args, words", [
    (("data", "info", "/no/such/cache"), "error: no such file or folder: /no/such/cache"),
    (("data", "preview", "builtin:nope", "-o", "x.gif"), "error: unknown built-in dataset 'builtin:nope'"),
    (("data", "prepare", "/no/such/folder", "out"), "error: no such file or folder: /no/such/folder"),
])
def test_bad_paths_give_one_error_line_and_exit_1(tmp_path, args, words):
    result = vidsynth(*args, cwd=tmp_path)
    assert result.returncode == 1
    assert result.stderr.strip().splitlines() == [result.stderr.strip()]
    assert result.stderr.startswith(words)
    assert not (tmp_path / "out").exists() and not (tmp_path / "x.gif").exists()


def test_prepare_of_a_folder_without_usable_videos_fails_with_the_reason(tmp_path):
    (tmp_path / "src").mkdir()
    (tmp_path / "src" / "a.mp4").write_bytes(b"")
    result = vidsynth("data", "prepare", tmp_path / "src", tmp_path / "out", "--frames", "8", "--size", "16", "-q")
    assert result.returncode == 1
    assert result.stderr.strip().splitlines()[-1].startswith("error: ")
    assert "no decodable videos" in result.stderr and "empty file" in result.stderr


def snapshot(root):
    return sorted((str(p.relative_to(root)), p.stat().st_size, p.stat().st_mtime_ns) for p in root.rglob("*"))


def test_info_on_a_raw_folder_says_what_prepare_would_make_and_writes_nothing(tmp_path, folder):
    (tmp_path / "videos").mkdir()
    for name in ("v0.mp4", "v1.mp4", "v2.mp4", "broken.mp4"):
        (tmp_path / "videos" / name).write_bytes((folder / name).read_bytes())
    video(tmp_path / "videos" / "short.mp4", n=5)
    before = snapshot(tmp_path)
    human = vidsynth("data", "info", tmp_path / "videos", "--frames", "8", "--size", "16", "--test-fraction", "0.5")
    assert human.returncode == 0, human.stderr
    assert "5 found, 1 unreadable, 1 too short for a clip" in human.stdout
    assert "vidsynth data prepare" in human.stdout and "--frames 8 --size 16 --test-fraction 0.5" in human.stdout
    survey = json.loads(vidsynth("data", "info", tmp_path / "videos", "--frames", "8", "--size", "16",
                                 "--test-fraction", "0.5", "--json").stdout)
    assert snapshot(tmp_path) == before  # not a byte written, not even a lock file or a cache folder
    assert set(survey["unreadable"]) == {"broken.mp4"} and survey["too_short"] == {"short.mp4": 5}
    done = json.loads(vidsynth("data", "prepare", tmp_path / "videos", tmp_path / "cache", "--frames", "8", "--size", "16",
                               "--test-fraction", "0.5", "--workers", "1", "--json").stdout)
    assert {k: survey["estimated"][k] for k in ("train", "test", "clips")} == {
        k: done["counts"][k] for k in ("train", "test", "clips")}
