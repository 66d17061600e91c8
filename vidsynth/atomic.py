"""Atomic writes: the final name only ever holds a complete file (or folder).

One module for the whole project: media files, manifests, reports, run configs and checkpoints.
Everything vidsynth writes goes to a temporary name in the same folder (same file system, so the
rename is atomic), is flushed to disk with ``fsync``, and only then renamed over the final name.
A crash or an exception leaves the previous file untouched and no half-written file behind.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import uuid
from pathlib import Path
from typing import Any, Iterator


def fsync_dir(folder: Path) -> None:
    """Make a rename inside ``folder`` durable (a no-op where directories cannot be opened, e.g. Windows)."""
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def _fsync_file(path: Path) -> None:
    with open(path, "rb+") as handle:
        os.fsync(handle.fileno())


def _temp_name(final: Path) -> Path:
    # Hidden, unique, and keeps the real suffix last so tools that look at extensions still work.
    return final.with_name(f".{final.stem}.tmp-{uuid.uuid4().hex[:8]}{final.suffix}")


@contextlib.contextmanager
def atomic_file(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary path to write; on success it replaces ``path`` atomically, on error it vanishes."""
    final = Path(path)
    final.parent.mkdir(parents=True, exist_ok=True)
    temp = _temp_name(final)
    try:
        yield temp
        _fsync_file(temp)
        os.replace(temp, final)
        fsync_dir(final.parent)
    finally:
        if temp.exists():
            temp.unlink()


@contextlib.contextmanager
def atomic_dir(path: str | os.PathLike) -> Iterator[Path]:
    """Like :func:`atomic_file` for a folder of files (PNG frames): built aside, swapped in whole.

    An existing folder at ``path`` is moved aside first and deleted only after the new one is in place.
    """
    final = Path(path)
    final.parent.mkdir(parents=True, exist_ok=True)
    temp = final.with_name(f".{final.name}.tmp-{uuid.uuid4().hex[:8]}")
    temp.mkdir()
    old: Path | None = None
    try:
        yield temp
        for child in temp.iterdir():
            _fsync_file(child)
        fsync_dir(temp)
        if final.exists():
            old = final.with_name(f".{final.name}.old-{uuid.uuid4().hex[:8]}")
            os.replace(final, old)
        os.replace(temp, final)
        fsync_dir(final.parent)
    finally:
        if temp.exists():
            shutil.rmtree(temp, ignore_errors=True)
        if old is not None and old.exists():
            if final.exists():
                shutil.rmtree(old, ignore_errors=True)
            else:  # the swap failed half-way: put the previous folder back
                os.replace(old, final)


def write_text_atomic(path: str | os.PathLike, text: str) -> None:
    """Write a small text file (a manifest, a JSON sidecar) atomically."""
    with atomic_file(path) as temp:
        temp.write_text(text, encoding="utf-8")


def atomic_write_bytes(path: str | os.PathLike, data: bytes) -> None:
    """Write ``data`` so that a reader sees the old file or the whole new one, never a partial one."""
    with atomic_file(path) as temp:
        temp.write_bytes(data)


def atomic_write_json(path: str | os.PathLike, data: Any) -> None:
    atomic_write_bytes(path, (json.dumps(data, indent=2, sort_keys=False) + "\n").encode())


def fsync_file(path: Path) -> None:
    """Flush a written file to disk (before a rename or a marker that declares it complete)."""
    _fsync_file(Path(path))
