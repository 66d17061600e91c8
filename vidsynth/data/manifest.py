"""``manifest.json``: what a clip cache holds, and the record that makes preparing resumable.

One manifest per cache folder. It names the parameters (``frames``, ``size``, ...) and their hash (the
cache *key*), every source video with its size, mtime, split and where its clips live in the shards,
every skipped file with its reason, and each shard's committed clip count. A source is listed only
once its clips are on disk, so after a crash, re-running skips exactly the finished sources.

A *merged* manifest (``vidsynth data merge``) lists the shards of several part caches by relative
path and copies nothing.
"""

from __future__ import annotations

import datetime as _dt
import hashlib
import json
import math
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from vidsynth import __version__
from vidsynth.errors import VidsynthError
from vidsynth.atomic import write_text_atomic

MANIFEST = "manifest.json"
FORMAT = "vidsynth-clip-cache"
VERSION = 1
SPLITS = ("train", "test", "all")
FITS = ("crop", "letterbox")


@dataclass(frozen=True)
class CacheParams:
    """What a clip is. ``stride`` is the number of frames between the starts of consecutive clips of a
    video (default ``frames``: clips that touch, never overlap); ``fps`` resamples every video in time
    first (``None``: keep each file's rate). ``test_fraction`` of the source videos go to the test split."""

    frames: int
    size: int
    channels: int = 3
    fps: float | None = None
    stride: int | None = None
    test_fraction: float = 0.1
    fit: str = "crop"

    def __post_init__(self) -> None:
        def bad(msg: str) -> VidsynthError:
            return VidsynthError(f"bad clip parameters: {msg}")

        if not (isinstance(self.frames, int) and self.frames >= 1):
            raise bad(f"frames must be a positive integer, got {self.frames!r}")
        if not (isinstance(self.size, int) and 1 <= self.size <= 4096):
            raise bad(f"size must be an integer in 1..4096, got {self.size!r}")
        if self.channels not in (1, 3):
            raise bad(f"channels must be 1 or 3, got {self.channels!r}")
        if self.fps is not None and not (self.fps > 0 and math.isfinite(self.fps)):
            raise bad(f"fps must be positive, got {self.fps!r}")
        if self.stride is None:
            object.__setattr__(self, "stride", self.frames)
        if not (isinstance(self.stride, int) and self.stride >= 1):
            raise bad(f"stride must be a positive integer, got {self.stride!r}")
        if not 0.0 <= self.test_fraction <= 1.0:
            raise bad(f"test fraction must be in [0, 1], got {self.test_fraction!r}")
        if self.fit not in FITS:
            raise bad(f"fit must be one of {', '.join(FITS)}, got {self.fit!r}")
        if self.fps is not None:
            object.__setattr__(self, "fps", float(self.fps))

    @property
    def clip_shape(self) -> tuple[int, int, int, int]:
        return (self.frames, self.size, self.size, self.channels)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "CacheParams":
        return cls(**{k: data[k] for k in ("frames", "size", "channels", "fps", "stride", "test_fraction", "fit")})

    def describe(self) -> str:
        fps = f"{self.fps:g} fps" if self.fps else "native fps"
        return f"{self.frames} frames x {self.size}x{self.size}x{self.channels}, stride {self.stride}, {fps}, fit {self.fit}"


def stable_fraction(text: str, salt: str) -> float:
    """A number in [0, 1) fixed by ``text`` alone: the same on every machine, run and Python version."""
    digest = hashlib.sha256(f"{salt}:{text}".encode("utf-8")).digest()
    return int.from_bytes(digest[:8], "big") / 2**64


def split_for(rel: str, test_fraction: float) -> str:
    """The split of a source video, decided by a hash of its path relative to the source folder."""
    return "test" if stable_fraction(rel, "split") < test_fraction else "train"


def part_for(rel: str, parts: int) -> int:
    """Which of ``parts`` disjoint parts (1-based) a source video belongs to, for ``--shard I/N``."""
    return int(stable_fraction(rel, "part") * parts) + 1


def cache_key(source_id: str, params: CacheParams, extra: dict[str, Any] | None = None) -> str:
    """16 hex digits naming a (source, parameters) pair: different parameters never share a cache."""
    blob = json.dumps({"source": source_id, "params": params.as_dict(), "version": VERSION, **(extra or {})},
                      sort_keys=True)
    return hashlib.sha256(blob.encode("utf-8")).hexdigest()[:16]


def _now() -> str:
    return _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")


class Manifest:
    """The manifest of one cache folder, in memory; ``save`` writes it atomically."""

    def __init__(self, folder: Path, data: dict[str, Any]) -> None:
        self.folder = Path(folder)
        self.data = data

    # -- creating and loading --------------------------------------------------------------------
    @classmethod
    def new(cls, folder: Path, key: str, params: CacheParams, source: str, part: tuple[int, int] | None) -> "Manifest":
        data = {
            "format": FORMAT,
            "version": VERSION,
            "vidsynth": __version__,
            "key": key,
            "params": params.as_dict(),
            "clip_shape": list(params.clip_shape),
            "source": source,
            "part": list(part) if part else None,
            "complete": False,
            "runs": 0,
            "created": _now(),
            "updated": _now(),
            "counts": {},
            "shards": {},
            "sources": {},
            "skipped": {},
            "ignored": {"count": 0, "examples": []},
        }
        return cls(folder, data)

    @classmethod
    def load(cls, folder: Path) -> "Manifest":
        path = Path(folder) / MANIFEST
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise VidsynthError(f"{folder} is not a clip cache (no {MANIFEST}); make one with `vidsynth data prepare`") from None
        except (OSError, ValueError) as exc:
            raise VidsynthError(f"cannot read {path}: {exc}") from None
        if not isinstance(data, dict) or data.get("format") != FORMAT:
            raise VidsynthError(f"{path} is not a vidsynth clip-cache manifest")
        if data.get("version") != VERSION:
            raise VidsynthError(f"{path} has cache format version {data.get('version')}; this vidsynth reads {VERSION}")
        return cls(folder, data)

    @staticmethod
    def exists(folder: Path) -> bool:
        return (Path(folder) / MANIFEST).is_file()

    def save(self) -> None:
        self.data["updated"] = _now()
        self.recount()
        write_text_atomic(self.folder / MANIFEST, json.dumps(self.data, indent=1, sort_keys=False) + "\n")

    # -- reading --------------------------------------------------------------------------------
    @property
    def params(self) -> CacheParams:
        return CacheParams.from_dict(self.data["params"])

    @property
    def clip_shape(self) -> tuple[int, ...]:
        return tuple(self.data["clip_shape"])

    @property
    def sources(self) -> dict[str, dict[str, Any]]:
        return self.data["sources"]

    @property
    def skipped(self) -> dict[str, dict[str, Any]]:
        return self.data["skipped"]

    @property
    def shards(self) -> dict[str, dict[str, Any]]:
        return self.data["shards"]

    @property
    def is_merged(self) -> bool:
        return bool(self.data.get("parts"))

    def shard_path(self, name: str) -> Path:
        return (self.folder / name).resolve()

    def clip_ranges(self, split: str) -> list[tuple[str, int, int]]:
        """``(shard, start, count)`` of every clip in ``split``, ordered by source path then time."""
        if split not in SPLITS:
            raise VidsynthError(f"unknown split {split!r}; use one of: {', '.join(SPLITS)}")
        ranges = []
        for rel in sorted(self.sources):
            entry = self.sources[rel]
            if split == "all" or entry["split"] == split:
                ranges.extend((shard, start, count) for shard, start, count in entry["ranges"])
        return ranges

    def recount(self) -> dict[str, int]:
        counts = {"train": 0, "test": 0, "sources_train": 0, "sources_test": 0}
        for entry in self.sources.values():
            counts[entry["split"]] += entry["clips"]
            counts[f"sources_{entry['split']}"] += 1
        counts["clips"] = counts["train"] + counts["test"]
        counts["sources"] = len(self.sources)
        counts["skipped"] = len(self.skipped)
        counts["ignored"] = self.data.get("ignored", {}).get("count", 0)
        self.data["counts"] = counts
        return counts

    # -- changing -------------------------------------------------------------------------------
    def add_source(self, rel: str, entry: dict[str, Any]) -> None:
        self.skipped.pop(rel, None)
        self.sources[rel] = entry
        for shard, start, count in entry["ranges"]:
            info = self.shards.setdefault(shard, {"split": entry["split"], "clips": 0})
            info["clips"] = max(info["clips"], start + count)

    def add_skip(self, rel: str, entry: dict[str, Any]) -> None:
        self.sources.pop(rel, None)
        self.skipped[rel] = entry

    def forget(self, rel: str) -> None:
        """Drop a source (changed or deleted file); its clips become unreferenced space in their shard."""
        self.sources.pop(rel, None)
        self.skipped.pop(rel, None)
