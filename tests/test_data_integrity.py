"""Shard checksums: recorded as clips are written, checked on open (sizes always, content when a file
changed) and on request (--verify); damaged shards are named and `prepare` re-creates them."""

from __future__ import annotations

import json
import os
import shutil

import pytest
import torch

from fixtures_media import data_cli, video, videos_and_cache
from vidsynth.data import CacheParams, open_clips, prepare_cache
from vidsynth.data import clip_cache
from vidsynth.data.integrity import DamagedCache, check_shards
from vidsynth.data.manifest import CHECKSUM, Manifest
from vidsynth.data.shards import HEADER_SIZE, hash_shard

PARAMS = CacheParams(frames=8, size=16, test_fraction=0.0)


vidsynth = data_cli


@pytest.fixture(scope="module")
def made(tmp_path_factory):
    """Three 20-frame videos (2 clips each), one shard per clip, and the clips as prepared."""
    root = tmp_path_factory.mktemp("integrity")
    videos, _ = videos_and_cache(root, 3, PARAMS, clips_per_shard=2)
    clips = open_clips(root / "cache", frames=8, size=16, split="all")
    return videos, root / "cache", torch.stack([clips[i] for i in range(len(clips))])


@pytest.fixture
def cache(made, tmp_path):
    shutil.copytree(made[1], tmp_path / "cache", copy_function=shutil.copy2)  # keeps mtimes, as cp -a does
    return tmp_path / "cache"


def first_shard(cache):
    return sorted(Manifest.load(cache).shards)[0]


def flip_a_byte(path, keep_mtime):
    before = path.stat()
    with open(path, "r+b") as handle:
        handle.seek(HEADER_SIZE + 100)
        value = handle.read(1)[0]
        handle.seek(HEADER_SIZE + 100)
        handle.write(bytes([value ^ 0xFF]))
    if keep_mtime:  # bit rot: the file system does not notice
        os.utime(path, ns=(before.st_atime_ns, before.st_mtime_ns))


def test_each_shard_records_the_checksum_of_its_clips_without_reading_it_back(made, tmp_path, monkeypatch):
    def no_reading(*args):
        raise AssertionError("a shard was read back to checksum it")

    monkeypatch.setattr(clip_cache, "hash_shard", no_reading)
    prepare_cache(made[0], tmp_path / "cache", PARAMS, progress=False, workers=2, clips_per_shard=2)
    manifest = Manifest.load(tmp_path / "cache")
    assert len(manifest.shards) == 3
    for name, info in manifest.shards.items():
        assert info[CHECKSUM] == hash_shard(tmp_path / "cache" / name, 8 * 16 * 16 * 3, info["clips"])
        assert info["size"] == (tmp_path / "cache" / name).stat().st_size


def test_a_flipped_byte_in_a_changed_file_stops_training_time_open(cache):
    name = first_shard(cache)
    flip_a_byte(cache / name, keep_mtime=False)
    with pytest.raises(DamagedCache) as caught:
        open_clips(cache, frames=8, size=16, split="all")
    message = str(caught.value)
    assert f"shard {name} is corrupt" in message and "vidsynth data prepare" in message and "\n" not in message


def test_bit_rot_is_found_by_info_verify_and_prepare_verify_recreates_the_shard(made, cache):
    videos, _, clips = made
    name = first_shard(cache)
    flip_a_byte(cache / name, keep_mtime=True)
    assert "clips:" in vidsynth("data", "info", cache).stdout  # unchanged size and mtime: not read
    found = vidsynth("data", "info", cache, "--verify")
    assert found.returncode == 1 and f"damaged: {name} is corrupt" in found.stdout
    assert found.stderr.startswith("error: 1 damaged shard") and "--verify" in found.stderr
    assert len(found.stderr.strip().splitlines()) == 1
    report = prepare_cache(videos, cache, PARAMS, progress=False, workers=1, verify=True)
    assert list(report.damaged) == [name] and report.decoded == 1  # only the video with clips in it
    again = open_clips(cache, frames=8, size=16, split="all")
    assert torch.equal(torch.stack([again[i] for i in range(len(again))]), clips)
    assert vidsynth("data", "info", cache, "--verify").returncode == 0


@pytest.mark.parametrize("damage", ["truncate", "delete"])
def test_truncated_or_deleted_shards_are_not_complete_and_prepare_recreates_them(made, cache, damage):
    videos, _, clips = made
    name = first_shard(cache)
    if damage == "truncate":
        os.truncate(cache / name, (cache / name).stat().st_size - 10)
    else:
        (cache / name).unlink()
    info = vidsynth("data", "info", cache, "--json")
    assert info.returncode == 1 and not json.loads(info.stdout)["complete"]
    assert json.loads(info.stdout)["damaged"][name].startswith("truncated" if damage == "truncate" else "missing")
    with pytest.raises(DamagedCache, match=name):
        open_clips(cache, frames=8, size=16, split="all")
    report = prepare_cache(videos, cache, PARAMS, progress=False, workers=1)
    assert list(report.damaged) == [name]
    again = open_clips(cache, frames=8, size=16, split="all")
    assert torch.equal(torch.stack([again[i] for i in range(len(again))]), clips)


def test_a_cache_without_checksums_opens_with_one_note_and_prepare_adds_them(made, cache, capsys, monkeypatch):
    data = json.loads((cache / "manifest.json").read_text())
    for info in data["shards"].values():
        for key in (CHECKSUM, "size", "mtime_ns"):
            del info[key]
    (cache / "manifest.json").write_text(json.dumps(data))
    for _ in range(2):
        assert len(open_clips(cache, frames=8, size=16, split="all")) == 6
    assert capsys.readouterr().err.count("without shard checksums") == 1

    monkeypatch.setattr(clip_cache, "VideoReader", None)  # nothing is decoded again
    report = prepare_cache(made[0], cache, PARAMS, progress=False, workers=1)
    assert (report.decoded, report.reused, report.damaged) == (0, 3, {})
    manifest = Manifest.load(cache)
    assert all(CHECKSUM in info for info in manifest.shards.values())
    assert check_shards(manifest, content="always") == {}


def test_dropping_a_changed_video_keeps_the_checksums_true(made, tmp_path):
    videos = tmp_path / "videos"
    shutil.copytree(made[0], videos)
    prepare_cache(videos, tmp_path / "cache", PARAMS, progress=False, workers=1, clips_per_shard=3)
    video(videos / "v1.mp4", n=30, seed=7)  # v1's clips end a shard: that shard is cut back
    prepare_cache(videos, tmp_path / "cache", PARAMS, progress=False, workers=1, clips_per_shard=3)
    assert check_shards(Manifest.load(tmp_path / "cache"), content="always") == {}


def test_merged_caches_check_their_parts_shards(made, cache, tmp_path):
    from vidsynth.data import merge_caches

    merge_caches(tmp_path / "merged", [cache])
    name = first_shard(cache)
    flip_a_byte(cache / name, keep_mtime=False)
    with pytest.raises(DamagedCache, match="corrupt.*then merge again"):
        open_clips(tmp_path / "merged", frames=8, size=16, split="all")
