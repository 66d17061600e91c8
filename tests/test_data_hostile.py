"""A manifest is data from disk, not trusted: one that names files outside its cache folder (``..``,
absolute paths, symlinks out) stops every command with one error line, before anything outside the
folder is read, written, truncated or removed."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pytest

from fixtures_media import data_cli, videos_and_cache
from vidsynth.data import CacheParams, open_clips, prepare_cache
from vidsynth.data.manifest import Manifest
from vidsynth.errors import VidsynthError

PARAMS = CacheParams(frames=8, size=16)
VICTIM_TEXT = "precious, not a clip " * 2000  # larger than a clip, so a careless reader would map it


vidsynth = data_cli


@pytest.fixture(scope="module")
def made(tmp_path_factory):
    """Two 20-frame videos and the cache prepared from them (copied, then tampered with, by each test)."""
    root = tmp_path_factory.mktemp("hostile")
    videos, _ = videos_and_cache(root, 2, PARAMS)
    return videos, root / "cache"


class Victim(type(Path())):
    """A file outside the cache that nothing may touch (content and mtime)."""

    def untouched(self) -> bool:
        return self.exists() and (self.read_bytes(), self.stat().st_mtime_ns) == self.before


@pytest.fixture
def victim(tmp_path):
    path = Victim(tmp_path / "victim.txt")
    path.write_text(VICTIM_TEXT)
    os.utime(path, ns=(1_000_000_000_000_000_000, 1_000_000_000_000_000_000))
    path.before = (path.read_bytes(), path.stat().st_mtime_ns)
    return path


def copy_cache(made, tmp_path):
    cache = tmp_path / "cache"
    shutil.copytree(made[1], cache)
    return cache


def edit_manifest(cache, change):
    data = json.loads((cache / "manifest.json").read_text())
    change(data)
    (cache / "manifest.json").write_text(json.dumps(data))


def rename_first_shard(cache, new):
    """Point the first shard's name (in ``shards`` and in every range) at ``new``."""
    def change(data):
        old = next(iter(data["shards"]))
        data["shards"][new] = data["shards"].pop(old)
        for entry in data["sources"].values():
            entry["ranges"] = [[new if s == old else s, a, n] for s, a, n in entry["ranges"]]
    edit_manifest(cache, change)


def dotdot(cache, victim):
    rename_first_shard(cache, "../victim.txt")
    return "'../victim.txt'"


def absolute(cache, victim):
    rename_first_shard(cache, str(victim))
    return repr(str(victim))


def symlinked_shard(cache, victim):
    name = next(iter(Manifest.load(cache).shards))
    (cache / name).unlink()
    (cache / name).symlink_to(victim)
    return repr(name)


def symlinked_shard_folder(cache, victim):
    outside = victim.parent / "elsewhere"
    shutil.move(cache / "shards", outside)
    shutil.copy(victim, outside / "victim.npy")
    (cache / "shards").symlink_to(outside)
    return "shards/"


def unknown_shard_in_a_range(cache, victim):
    def change(data):
        entry = next(iter(data["sources"].values()))
        entry["ranges"][0][0] = "../victim.txt"
    edit_manifest(cache, change)
    return "'../victim.txt'"


def merged_parts_outside(cache, victim):
    def change(data):
        data["parts"] = [".."]
        data["shards"] = {"../victim.txt": {"split": "train", "clips": 1}}
        for entry in data["sources"].values():
            entry["ranges"] = [["../victim.txt", 0, 1]]
    edit_manifest(cache, change)
    return "parts '..'"


def merged_with_itself_as_a_part(cache, victim):
    def change(data):
        data["parts"] = ["."]
    edit_manifest(cache, change)
    return "parts '.'"


HOSTILE = [dotdot, absolute, symlinked_shard, symlinked_shard_folder, unknown_shard_in_a_range, merged_parts_outside,
           merged_with_itself_as_a_part]


@pytest.mark.parametrize("tamper", HOSTILE, ids=lambda f: f.__name__)
def test_loading_a_hostile_manifest_names_the_file_and_the_entry(made, tmp_path, victim, tamper):
    cache = copy_cache(made, tmp_path)
    entry = tamper(cache, victim)
    with pytest.raises(VidsynthError) as caught:
        Manifest.load(cache)
    message = str(caught.value)
    assert "\n" not in message and str(cache / "manifest.json") in message and entry in message
    assert victim.untouched()


@pytest.mark.parametrize("tamper", HOSTILE, ids=lambda f: f.__name__)
def test_training_time_open_refuses_a_hostile_manifest(made, tmp_path, victim, tamper):
    cache = copy_cache(made, tmp_path)
    tamper(cache, victim)
    with pytest.raises(VidsynthError, match="manifest.json: bad entry"):
        open_clips(cache, frames=8, size=16, split="all")
    assert victim.untouched()


@pytest.mark.parametrize("tamper", HOSTILE, ids=lambda f: f.__name__)
def test_prepare_into_a_hostile_cache_changes_nothing_outside(made, tmp_path, victim, tamper):
    cache = copy_cache(made, tmp_path)
    tamper(cache, victim)
    with pytest.raises(VidsynthError, match="manifest.json: bad entry"):
        prepare_cache(made[0], cache, PARAMS, progress=False, workers=1)
    assert victim.untouched()
    assert not list(victim.parent.glob("*.npy"))


def test_a_symlinked_lock_file_is_refused(made, tmp_path, victim):
    cache = copy_cache(made, tmp_path)
    (cache / ".lock").unlink(missing_ok=True)
    (cache / ".lock").symlink_to(tmp_path / "created-elsewhere")
    with pytest.raises(VidsynthError, match="cannot lock"):
        prepare_cache(made[0], cache, PARAMS, progress=False, workers=1)
    assert not (tmp_path / "created-elsewhere").exists()


@pytest.mark.parametrize("command", ["prepare", "info", "preview", "merge"])
def test_every_command_stops_on_a_hostile_manifest_with_one_line(made, tmp_path, victim, command):
    cache = copy_cache(made, tmp_path)
    dotdot(cache, victim)
    args = {
        "prepare": ("data", "prepare", made[0], cache, "--frames", "8", "--size", "16", "--workers", "1", "-q"),
        "info": ("data", "info", cache),
        "preview": ("data", "preview", cache, "-o", tmp_path / "grid.gif", "--split", "all"),
        "merge": ("data", "merge", tmp_path / "merged", cache),
    }[command]
    result = vidsynth(*args)
    assert result.returncode == 1, result.stdout
    assert result.stderr.startswith("error: ") and len(result.stderr.strip().splitlines()) == 1
    assert "Traceback" not in result.stderr and "'../victim.txt'" in result.stderr
    assert victim.untouched()
    assert not (tmp_path / "grid.gif").exists() and not (tmp_path / "merged" / "manifest.json").exists()


def test_a_genuine_merged_cache_still_opens(made, tmp_path):
    from vidsynth.data import merge_caches

    part = copy_cache(made, tmp_path)
    merged = merge_caches(tmp_path / "merged", [part])
    assert len(open_clips(merged.folder, frames=8, size=16, split="all")) == 4
