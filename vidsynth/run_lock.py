"""One writer per run directory: ``RUN/train.lock``.

A training process holds an OS lock (``fcntl.flock``) on ``train.lock`` for as long as it trains, and
writes into it who it is (pid, host, start time) so that a second ``vidsynth train --resume RUN`` can say
who holds the run. The operating system drops the lock when the process ends in any way, ``kill -9``
included, so a lock is never left behind by a dead process: the next trainer takes it and, finding the
dead holder's name still in the file, says that it took over. The file itself stays (an empty
``train.lock`` is a free run); deleting it while a process trains would let a second one in.

Where ``flock`` is not available (no ``fcntl`` module, or a file system that refuses it, e.g. some
network mounts) the file's contents are the lock: a holder on this host whose pid is no longer alive is
taken over; a holder on another host cannot be checked, and the message says to delete the file once
that process is gone.

Under torchrun only rank 0 takes the lock (the trainer does that); the other ranks write nothing.
"""

from __future__ import annotations

import datetime as _dt
import errno
import json
import os
import socket
from pathlib import Path
from typing import Any

from vidsynth.errors import VidsynthError

try:
    import fcntl
except ImportError:  # Windows
    fcntl = None  # type: ignore[assignment]

LOCK_FILE = "train.lock"


class RunBusyError(VidsynthError):
    """Another process is training this run directory."""


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # alive, but another user's
        return True
    except OSError:
        return True  # cannot tell: assume it lives
    return True


def _describe(holder: dict[str, Any]) -> str:
    if not holder:  # it holds the lock but has not written its name yet
        return "another process (starting up)"
    return f"process {holder.get('pid', '?')} on {holder.get('host', '?')} since {holder.get('since', '?')}"


class RunLock:
    """``with RunLock(run_dir) as lock: ...`` (or ``acquire()`` / ``release()``). ``acquire`` raises
    ``RunBusyError`` when another live process holds the run, and returns a one-line note (or None) when
    it took over from a process that died holding it."""

    def __init__(self, run_dir: str | os.PathLike) -> None:
        self.run_dir = Path(run_dir)
        self.path = self.run_dir / LOCK_FILE
        self._fd: int | None = None
        self._flock = False

    def _read(self, fd: int) -> dict[str, Any]:
        os.lseek(fd, 0, os.SEEK_SET)
        data = b""
        while chunk := os.read(fd, 4096):
            data += chunk
        try:
            holder = json.loads(data.decode() or "{}")
        except (UnicodeDecodeError, json.JSONDecodeError):
            return {}
        return holder if isinstance(holder, dict) else {}

    def _write(self, fd: int) -> None:
        me = {"pid": os.getpid(), "host": socket.gethostname(),
              "since": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")}
        os.ftruncate(fd, 0)
        os.lseek(fd, 0, os.SEEK_SET)
        os.write(fd, (json.dumps(me) + "\n").encode())
        os.fsync(fd)

    def acquire(self) -> str | None:
        if self._fd is not None:
            return None
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o666)  # the umask decides, as for every file of a run
        try:
            note = self._lock(fd)
            self._write(fd)
        except BaseException:
            os.close(fd)
            raise
        self._fd = fd
        return note

    def _lock(self, fd: int) -> str | None:
        if fcntl is not None:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                self._flock = True
            except OSError as exc:
                if exc.errno in (errno.EWOULDBLOCK, errno.EAGAIN, errno.EACCES):
                    raise RunBusyError(f"{self.run_dir} is being trained by {_describe(self._read(fd))}") from None
                # ENOLCK, EOPNOTSUPP...: this file system has no flock; fall back to the file's contents
        holder = self._read(fd)
        if not holder:
            return None
        if self._flock:  # we hold the OS lock, so whoever wrote this is gone
            return f"note: {self.run_dir}: took over the lock of {_describe(holder)}, which stopped without releasing it"
        same_host = holder.get("host") == socket.gethostname()
        pid = holder.get("pid")
        if same_host and isinstance(pid, int) and pid != os.getpid() and not _pid_alive(pid):
            return f"note: {self.run_dir}: took over the lock of {_describe(holder)}, which is no longer running"
        if same_host and pid == os.getpid():
            raise RunBusyError(f"{self.run_dir} is being trained by this process already")
        where = "" if same_host else f"; if it is no longer running, delete {self.path}"
        raise RunBusyError(f"{self.run_dir} is being trained by {_describe(holder)}{where}")

    def check(self) -> None:
        """Raise ``RunBusyError`` if another live process holds the run now; take nothing (a quick early
        check, so a second trainer stops before it opens its data; ``acquire`` is what guarantees)."""
        if not self.path.is_file() or self._fd is not None:
            return
        try:
            fd = os.open(self.path, os.O_RDWR)
        except OSError:
            return
        try:
            self._lock(fd)
        finally:
            os.close(fd)  # closing drops the flock taken by the check, if any
            self._flock = False

    def release(self) -> None:
        fd, self._fd = self._fd, None
        if fd is None:
            return
        try:
            os.ftruncate(fd, 0)  # an empty lock file is a free run
            if self._flock:
                fcntl.flock(fd, fcntl.LOCK_UN)
        except OSError:
            pass  # closing releases the OS lock anyway
        finally:
            os.close(fd)

    def __enter__(self) -> RunLock:
        self.acquire()
        return self

    def __exit__(self, *exc: Any) -> None:
        self.release()
