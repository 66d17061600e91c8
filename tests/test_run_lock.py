"""One writer per run directory (``RUN/train.lock``), checked with real processes: a second trainer is
refused with one line naming the holder, and the lock of a killed process is taken over."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time

import pytest

from tiny_plugin import TinyClips, run_vidsynth, tiny_plugin_env, tiny_registry, train_tiny  # noqa: F401 - fixture
from vidsynth.run_lock import LOCK_FILE, RunBusyError, RunLock

HOLD = """
import sys, time
from vidsynth.run_lock import RunLock
lock = RunLock(sys.argv[1])
lock.acquire()
print("held", flush=True)
time.sleep(60)
"""
TRY = """
import sys
from vidsynth.run_lock import RunBusyError, RunLock
try:
    note = RunLock(sys.argv[1]).acquire()
except RunBusyError as exc:
    print(exc)
    sys.exit(1)
print(note or "free")
"""


def python(code, *args):
    return [sys.executable, "-c", code, *map(str, args)]


def test_a_second_process_is_refused_with_the_holder_named(tmp_path):
    with RunLock(tmp_path):
        other = subprocess.run(python(TRY, tmp_path), capture_output=True, text=True, timeout=60)
    assert other.returncode == 1
    assert other.stdout.startswith(f"{tmp_path} is being trained by process {os.getpid()} on {socket.gethostname()} since ")
    assert other.stdout.count("\n") == 1


def test_a_released_lock_is_free_again_and_says_nothing(tmp_path):
    RunLock(tmp_path).__enter__().release()
    assert (tmp_path / LOCK_FILE).read_text() == ""  # the file stays; empty means free
    again = subprocess.run(python(TRY, tmp_path), capture_output=True, text=True, timeout=60)
    assert (again.returncode, again.stdout) == (0, "free\n")


def test_the_lock_of_a_killed_process_is_taken_over_with_a_note(tmp_path):
    holder = subprocess.Popen(python(HOLD, tmp_path), stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline() == "held\n"
        with pytest.raises(RunBusyError, match=f"process {holder.pid} on"):
            RunLock(tmp_path).acquire()
        os.kill(holder.pid, signal.SIGKILL)  # no chance to release: the OS drops the flock
        holder.wait(timeout=60)
    finally:
        holder.kill()
    lock = RunLock(tmp_path)
    note = lock.acquire()
    try:
        assert note.startswith(f"note: {tmp_path}: took over the lock of process {holder.pid} on")
        assert json.loads((tmp_path / LOCK_FILE).read_text())["pid"] == os.getpid()
    finally:
        lock.release()


def test_without_flock_a_dead_holder_on_this_host_is_taken_over_and_a_live_one_refuses(tmp_path, monkeypatch):
    import vidsynth.run_lock as run_lock

    monkeypatch.setattr(run_lock, "fcntl", None)  # as on a system or file system without flock
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    path = tmp_path / LOCK_FILE
    path.write_text(json.dumps({"pid": int(dead.stdout), "host": socket.gethostname(), "since": "then"}))
    lock = RunLock(tmp_path)
    assert "no longer running" in lock.acquire()
    lock.release()
    path.write_text(json.dumps({"pid": os.getppid(), "host": socket.gethostname(), "since": "then"}))
    with pytest.raises(RunBusyError, match=f"being trained by process {os.getppid()} on"):
        RunLock(tmp_path).acquire()
    path.write_text(json.dumps({"pid": 1, "host": "elsewhere", "since": "then"}))
    with pytest.raises(RunBusyError, match=f"on elsewhere since then; if it is no longer running, delete {path}"):
        RunLock(tmp_path).acquire()


def test_two_trainings_of_one_run_at_once_the_second_stops_in_one_line(tmp_path, tiny_registry):
    """Two real `vidsynth train --resume R`: the second exits 1 naming the first; after the first is killed
    with SIGKILL, the next resume takes the run over (and says so) and metrics.jsonl has each step once."""
    train_tiny(tmp_path, tiny_registry, steps=2, checkpoint_every=1, dataset=TinyClips(32))
    run = tmp_path / "run"
    env = tiny_plugin_env(tmp_path)
    first = subprocess.Popen(
        [sys.executable, "-m", "vidsynth", "train", "tiny", "builtin:tiny-squares", "--resume", str(run), "--steps", "100000",
         "--checkpoint-every", "3", "--log-every", "1", "--quiet"],
        env=env, cwd=tmp_path, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
    )
    try:
        deadline = time.monotonic() + 90
        while not any((run / "checkpoints").glob("step_00000003")):
            assert first.poll() is None and time.monotonic() < deadline, first.stderr.read() if first.poll() is not None else "timeout"
            time.sleep(0.05)
        second = run_vidsynth(["train", "tiny", "builtin:tiny-squares", "--resume", str(run), "--steps", "100", "--quiet"], env=env, cwd=tmp_path)
        assert second.returncode == 1
        assert second.stderr.startswith(f"error: {run} is being trained by process {first.pid} on {socket.gethostname()} since ")
        assert second.stderr.count("\n") == 1
        os.kill(first.pid, signal.SIGKILL)
        first.wait(timeout=60)
    finally:
        first.kill()
        first.stderr.close()
    third = run_vidsynth(["train", "tiny", "builtin:tiny-squares", "--resume", str(run), "--steps", "8", "--log-every", "1", "--quiet"],
                         env=env, cwd=tmp_path)
    assert third.returncode == 0, third.stderr
    assert f"took over the lock of process {first.pid} on" in third.stderr
    steps = [json.loads(line)["step"] for line in (run / "metrics.jsonl").read_text().splitlines()]
    assert steps == list(range(1, 9))
