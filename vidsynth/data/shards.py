"""Clip shards: ``.npy`` files of ``uint8 [N, T, H, W, C]`` that grow one clip at a time.

A shard is an ordinary numpy file (``np.load(path, mmap_mode="r")`` reads it) whose header has a fixed
size, so it can be appended to and its clip count rewritten in place: preparing never holds more than
one clip in memory, and readers memory-map the shards instead of loading them.

The manifest, not the header, is the truth about how many clips a shard holds: a crash can leave
clips past the last committed count, and :func:`seal_shard` cuts them off and fixes the header.
"""

from __future__ import annotations

import os
import struct
from pathlib import Path

import numpy as np

HEADER_SIZE = 128  # bytes; numpy format 1.0, padded with spaces so the shape can grow in place
MAGIC = b"\x93NUMPY\x01\x00"


def npy_header(shape: tuple[int, ...]) -> bytes:
    """A numpy 1.0 header for a C-ordered uint8 array of ``shape``, exactly ``HEADER_SIZE`` bytes long."""
    text = "{'descr': '|u1', 'fortran_order': False, 'shape': %r, }" % (tuple(int(s) for s in shape),)
    body = HEADER_SIZE - len(MAGIC) - 2
    if len(text) + 1 > body:
        raise ValueError(f"shape {shape} does not fit a {HEADER_SIZE}-byte header")
    return MAGIC + struct.pack("<H", body) + (text.ljust(body - 1) + "\n").encode("latin1")


def clips_in_file(path: Path, clip_bytes: int) -> int:
    """How many whole clips a shard file holds on disk (0 when missing)."""
    try:
        size = path.stat().st_size
    except FileNotFoundError:
        return 0
    return max(0, size - HEADER_SIZE) // clip_bytes


def seal_shard(path: Path, clip_shape: tuple[int, ...], clips: int) -> None:
    """Cut a shard back to ``clips`` clips and write the matching header (after a crash, or at the end)."""
    clip_bytes = int(np.prod(clip_shape))
    with open(path, "r+b") as handle:
        handle.truncate(HEADER_SIZE + clips * clip_bytes)
        handle.seek(0)
        handle.write(npy_header((clips, *clip_shape)))
        handle.flush()
        os.fsync(handle.fileno())


def open_shard(path: Path, clip_shape: tuple[int, ...], clips: int) -> np.ndarray:
    """A read-only memory map of the first ``clips`` clips of a shard."""
    if clips == 0:
        return np.zeros((0, *clip_shape), np.uint8)
    return np.memmap(path, dtype=np.uint8, mode="r", offset=HEADER_SIZE, shape=(clips, *clip_shape))


class ShardWriter:
    """Appends clips to a sequence of shards ``{prefix}-0000.npy``, ``{prefix}-0001.npy``, ...

    A shard is closed and the next one started after ``clips_per_shard`` clips. ``append`` returns
    where the clip went; ``sync`` flushes and rewrites the header so the file is a valid ``.npy`` of
    what has been written so far (called after each finished source video).
    """

    def __init__(self, folder: Path, prefix: str, clip_shape: tuple[int, ...], clips_per_shard: int) -> None:
        self.folder, self.prefix = Path(folder), prefix
        self.clip_shape = tuple(int(s) for s in clip_shape)
        self.clip_bytes = int(np.prod(self.clip_shape))
        self.clips_per_shard = max(1, int(clips_per_shard))
        self.number = -1
        self.count = 0
        self._handle = None
        self.name = ""

    def _next_shard(self) -> None:
        self.close()
        self.number += 1
        self.name = f"{self.prefix}-{self.number:04d}.npy"
        self.folder.mkdir(parents=True, exist_ok=True)
        self._handle = open(self.folder / self.name, "w+b")
        self._handle.write(npy_header((0, *self.clip_shape)))
        self.count = 0

    def append(self, clip: np.ndarray) -> tuple[str, int]:
        if clip.shape != self.clip_shape or clip.dtype != np.uint8:
            raise ValueError(f"clip {clip.shape} {clip.dtype} does not match shard shape {self.clip_shape} uint8")
        if self._handle is None or self.count >= self.clips_per_shard:
            self._next_shard()
        self._handle.write(np.ascontiguousarray(clip).tobytes())
        self.count += 1
        return self.name, self.count - 1

    def sync(self) -> None:
        if self._handle is None:
            return
        end = self._handle.tell()
        self._handle.seek(0)
        self._handle.write(npy_header((self.count, *self.clip_shape)))
        self._handle.seek(end)
        self._handle.flush()

    def close(self) -> None:
        if self._handle is not None:
            self.sync()
            self._handle.close()
            self._handle = None
