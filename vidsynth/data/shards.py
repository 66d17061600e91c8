"""Clip shards: ``.npy`` files of ``uint8 [N, T, H, W, C]`` that grow one clip at a time.

A shard is an ordinary numpy file (``np.load(path, mmap_mode="r")`` reads it) whose header has a fixed
size, so it can be appended to and its clip count rewritten in place: preparing never holds more than
one clip in memory, and readers memory-map the shards instead of loading them.

The manifest, not the header, is the truth about how many clips a shard holds: a crash can leave
clips past the last committed count, and :func:`seal_shard` cuts them off and fixes the header.

Each shard has a checksum: BLAKE2b (32-byte digest) of its clip bytes (the header, which is rewritten
in place, is left out). The writer hashes each clip as it writes it, so recording a checksum costs no
second read; :func:`hash_shard` reads a shard back to check it.
"""

from __future__ import annotations

import hashlib
import os
import struct
from pathlib import Path

import numpy as np

from vidsynth.errors import VidsynthError

HEADER_SIZE = 128  # bytes; numpy format 1.0, padded with spaces so the shape can grow in place
MAGIC = b"\x93NUMPY\x01\x00"


class CacheWriteError(VidsynthError):
    """Writing a shard failed (disk full, quota, read-only folder): the run must stop; it is not the
    video's fault, so the video must not be listed as skipped."""


def new_hash() -> "hashlib._Hash":
    return hashlib.blake2b(digest_size=32)


def hash_shard(path: Path, clip_bytes: int, clips: int, chunk: int = 8 * 2**20) -> str:
    """The checksum of the first ``clips`` clips of a shard file; OSError if it is shorter than that."""
    digest = new_hash()
    left = clips * clip_bytes
    with open(path, "rb") as handle:
        handle.seek(HEADER_SIZE)
        while left:
            block = handle.read(min(chunk, left))
            if not block:
                raise OSError(f"{path} ends {left} bytes early")
            digest.update(block)
            left -= len(block)
    return digest.hexdigest()


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
    header = npy_header((clips, *clip_shape))
    size = HEADER_SIZE + clips * clip_bytes
    with open(path, "r+b") as handle:
        if os.fstat(handle.fileno()).st_size == size and handle.read(HEADER_SIZE) == header:
            os.fsync(handle.fileno())  # on disk before the manifest records it (an fsync keeps the mtime)
            return  # already sealed: leave the file (and its mtime, which the manifest records) alone
        handle.truncate(size)
        handle.seek(0)
        handle.write(header)
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
    what has been written so far (called after each finished source video); ``checksum(name)`` is
    ``(clips, checksum)`` of what this writer has written to its shard ``name`` so far.
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
        self._hash = new_hash()
        self._closed: dict[str, tuple[int, str]] = {}

    def _next_shard(self) -> None:
        if self._handle is not None:
            self._closed[self.name] = self.checksum(self.name)
        self.close()
        self.number += 1
        self.name = f"{self.prefix}-{self.number:04d}.npy"
        self.folder.mkdir(parents=True, exist_ok=True)
        self._handle = open(self.folder / self.name, "w+b")
        self._handle.write(npy_header((0, *self.clip_shape)))
        self.count = 0
        self._hash = new_hash()

    def _failed(self, exc: OSError) -> CacheWriteError:
        return CacheWriteError(f"cannot write {self.folder / self.name}: {exc.strerror or exc}")

    def append(self, clip: np.ndarray) -> tuple[str, int]:
        if clip.shape != self.clip_shape or clip.dtype != np.uint8:
            raise ValueError(f"clip {clip.shape} {clip.dtype} does not match shard shape {self.clip_shape} uint8")
        data = np.ascontiguousarray(clip).tobytes()
        try:
            if self._handle is None or self.count >= self.clips_per_shard:
                self._next_shard()
            self._handle.write(data)
        except OSError as exc:
            raise self._failed(exc) from None
        self._hash.update(data)
        self.count += 1
        return self.name, self.count - 1

    def checksum(self, name: str) -> tuple[int, str]:
        if name == self.name:
            return self.count, self._hash.copy().hexdigest()
        return self._closed[name]

    def sync(self) -> None:
        if self._handle is None:
            return
        try:
            end = self._handle.tell()
            self._handle.seek(0)
            self._handle.write(npy_header((self.count, *self.clip_shape)))
            self._handle.seek(end)
            self._handle.flush()
        except OSError as exc:
            raise self._failed(exc) from None

    def close(self) -> None:
        if self._handle is None:
            return
        try:
            self.sync()
        finally:
            handle, self._handle = self._handle, None
            try:
                handle.close()
            except OSError:  # unflushed bytes on a full disk: past the committed clips, cut off by recover
                pass
