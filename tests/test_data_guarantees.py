"""What preparing a cache guarantees when things go wrong outside vidsynth: a full disk stops the run
with one clear error and loses no finished work (and marks no video as bad); worker processes do not
outlive a killed prepare."""

from __future__ import annotations

import errno
import os
import shutil
import signal
import subprocess
import sys
import time

import pytest

from fixtures_media import video
from vidsynth.data import CacheParams, prepare_cache
from vidsynth.data import shards
from vidsynth.data.integrity import check_shards
from vidsynth.data.manifest import Manifest
from vidsynth.errors import VidsynthError

PARAMS = CacheParams(frames=8, size=16, test_fraction=0.0)


@pytest.fixture(scope="module")
def videos(tmp_path_factory):
    root = tmp_path_factory.mktemp("guarantees")
    for i in range(4):
        video(root / f"v{i}.mp4", n=20, seed=i)
    return root


FULL_DISK = """
import builtins, errno

class FullDisk:
    # A new shard file on a disk that fills up after LIMIT clip writes (headers are 128 bytes: free).
    written = 0

    def __init__(self, handle):
        self.handle = handle

    def write(self, data):
        if len(data) > 128:
            if FullDisk.written == LIMIT:
                raise OSError(errno.ENOSPC, "No space left on device")
            FullDisk.written += 1
        return self.handle.write(data)

    def __getattr__(self, name):
        return getattr(self.handle, name)

def full_disk_open(path, mode="r", *args, **kwargs):
    handle = builtins.open(path, mode, *args, **kwargs)
    return FullDisk(handle) if mode == "w+b" else handle
"""


def fill_the_disk_after(clips: int) -> dict:
    """``open`` for vidsynth.data.shards whose new shard files fill the disk after ``clips`` clips."""
    namespace = {"LIMIT": clips}
    exec(FULL_DISK, namespace)
    return namespace


def test_a_full_disk_stops_prepare_keeps_finished_videos_and_skips_none(videos, tmp_path, monkeypatch):
    monkeypatch.setattr(shards, "open", fill_the_disk_after(5)["full_disk_open"], raising=False)
    with pytest.raises(VidsynthError, match="No space left on device.*run prepare again") as caught:
        prepare_cache(videos, tmp_path / "cache", PARAMS, progress=False, workers=1)
    assert "\n" not in str(caught.value)
    manifest = Manifest.load(tmp_path / "cache")
    assert sorted(manifest.sources) == ["v0.mp4", "v1.mp4"] and manifest.skipped == {}  # 2 clips per video
    assert check_shards(manifest, content="always") == {}

    monkeypatch.delattr(shards, "open")  # space freed
    report = prepare_cache(videos, tmp_path / "cache", PARAMS, progress=False, workers=1)
    assert (report.reused, report.decoded, report.skipped) == (2, 2, {}) and report.counts["clips"] == 8


def test_a_full_disk_in_a_worker_process_stops_the_run_too(videos, tmp_path, monkeypatch):
    hook = tmp_path / "hook"
    hook.mkdir()
    (hook / "sitecustomize.py").write_text(
        f"LIMIT = 1\n{FULL_DISK}\nfrom vidsynth.data import shards\nshards.open = full_disk_open\n")
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join([str(hook), os.environ.get("PYTHONPATH", "")]))
    with pytest.raises(VidsynthError, match="No space left on device"):
        prepare_cache(videos, tmp_path / "cache", PARAMS, progress=False, workers=2)
    assert Manifest.load(tmp_path / "cache").skipped == {}


def alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as handle:
            return handle.read().rsplit(")", 1)[1].split()[0] != "Z"  # a zombie has exited
    except FileNotFoundError:
        return False


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="the kernel's parent-death signal is Linux's")
def test_workers_do_not_outlive_a_killed_prepare(videos, tmp_path):
    hook = tmp_path / "hook"
    hook.mkdir()
    (hook / "sitecustomize.py").write_text(  # each worker says who it is, then decodes forever
        "import os, time\n"
        "from vidsynth.data import clip_cache\n"
        "def stuck(task, *args):\n"
        f"    open(os.path.join({str(tmp_path)!r}, 'worker-%d' % os.getpid()), 'w').close()\n"
        "    time.sleep(3600)\n"
        "clip_cache.process_source = stuck\n"
    )
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(hook), os.environ.get("PYTHONPATH", "")]))
    code = (f"from vidsynth.data import CacheParams, prepare_cache\n"
            f"prepare_cache({str(videos)!r}, {str(tmp_path / 'cache')!r}, CacheParams(frames=8, size=16), "
            f"progress=False, workers=2)\n")
    main = subprocess.Popen([sys.executable, "-c", code], env=env)
    pids: list[int] = []
    try:
        deadline = time.monotonic() + 120  # generous: spawning workers on a busy machine
        while len(pids) < 2 and time.monotonic() < deadline and main.poll() is None:
            pids = [int(p.name.split("-")[1]) for p in tmp_path.glob("worker-*")]
            time.sleep(0.1)
        assert len(pids) == 2
        main.send_signal(signal.SIGKILL)
        main.wait()
        deadline = time.monotonic() + 60
        while any(alive(pid) for pid in pids) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert not any(alive(pid) for pid in pids)
    finally:
        main.kill()
        for pid in pids:
            if alive(pid):
                os.kill(pid, signal.SIGKILL)


def test_concurrent_prepares_of_one_cache_decode_each_video_once(videos, tmp_path):
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(2) as pool:
        runs = [pool.submit(prepare_cache, videos, tmp_path / "cache", PARAMS, progress=False, workers=1)
                for _ in range(2)]
        reports = [run.result() for run in runs]
    assert sorted((r.decoded, r.reused) for r in reports) == [(0, 4), (4, 0)]
    manifest = Manifest.load(tmp_path / "cache")
    assert manifest.data["counts"]["clips"] == 8 and check_shards(manifest, content="always") == {}
