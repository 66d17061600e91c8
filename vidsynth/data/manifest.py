"""``manifest.json``: what a clip cache holds, and the record that makes preparing resumable.

One manifest per cache folder. It names the parameters (``frames``, ``size``, ...) and their hash (the
cache *key*), every source video with its size, mtime, split and where its clips live in the shards,
every skipped file with its reason, and each shard's committed clip count. A source is listed only
once its clips are on disk, so after a crash, re-running skips exactly the finished sources.

A *merged* manifest (``vidsynth data merge``) lists the shards of several part caches by relative
path and copies nothing.

A manifest is data from disk, not trusted: :meth:`Manifest.load` checks every entry before anything
uses it. A shard must be ``shards/NAME.npy`` inside the cache folder (after following symlinks); a
merged manifest may only name shards that its part caches (genuine caches, checked the same way) list
as their own. Anything else stops the command with one line naming the file and the entry, before a
single file is opened, written or removed.
"""

from __future__ import annotations

import datetime as _dt
import hashlib
import json
import math
from dataclasses import asdict, dataclass
from pathlib import Path, PurePosixPath
from typing import Any

from vidsynth import __version__
from vidsynth.errors import VidsynthError
from vidsynth.atomic import write_text_atomic

MANIFEST = "manifest.json"
FORMAT = "vidsynth-clip-cache"
VERSION = 1
SPLITS = ("train", "test", "all")
SHARDS_DIR = "shards"  # every shard of a prepared cache is SHARDS_DIR/NAME.npy
CHECKSUM = "blake2b"  # a shard record's checksum field (vidsynth.data.shards.hash_shard)
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


def _count(value: Any) -> bool:
    """A whole, non-negative number as JSON gives it (``True`` is not a count)."""
    return isinstance(value, int) and not isinstance(value, bool) and value >= 0


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
    def load(cls, folder: Path, *, as_part: bool = False) -> "Manifest":
        """Read and check the manifest of ``folder``; ``as_part``: it must not be a merged one (a merged
        manifest's parts are loaded this way, so a merge that lists itself cannot loop)."""
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
        manifest = cls(folder, data)
        if as_part and manifest.is_merged:
            raise VidsynthError(f"{path} is itself a merged cache, which cannot be a part")
        manifest.validate()
        return manifest

    @staticmethod
    def exists(folder: Path) -> bool:
        return (Path(folder) / MANIFEST).is_file()

    def save(self) -> None:
        self.data["updated"] = _now()
        self.recount()
        try:
            write_text_atomic(self.folder / MANIFEST, json.dumps(self.data, indent=1, sort_keys=False) + "\n")
        except OSError as exc:
            raise VidsynthError(f"cannot write {self.folder / MANIFEST}: {exc.strerror or exc}; "
                                "the previous manifest is kept") from None

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

    # -- checking what was read ---------------------------------------------------------------------
    def validate(self) -> None:
        """Refuse a manifest whose entries are malformed or name files outside the cache (VidsynthError,
        one line naming the file and the entry). Called by :meth:`load`, so nothing reads or writes a
        path from a manifest that has not passed."""
        path = self.folder / MANIFEST

        def bad(entry: str, why: str) -> VidsynthError:
            return VidsynthError(f"{path}: bad entry {entry}: {why}; the cache is left untouched")

        data = self.data
        for key, kind in (("params", dict), ("clip_shape", list), ("shards", dict), ("sources", dict), ("skipped", dict)):
            if not isinstance(data.get(key), kind):
                raise bad(repr(key), f"expected a JSON {'object' if kind is dict else 'list'}")
        try:
            params = CacheParams.from_dict(data["params"])
        except (KeyError, TypeError, VidsynthError) as exc:
            raise bad("'params'", str(exc) or "missing values") from None
        if list(data["clip_shape"]) != list(params.clip_shape):
            raise bad("'clip_shape'", f"{data['clip_shape']!r} does not match the parameters {list(params.clip_shape)}")
        parts = self._checked_parts(bad)
        if not parts and (self.folder / SHARDS_DIR).resolve() != self.folder.resolve() / SHARDS_DIR:
            raise bad(f"{SHARDS_DIR}/", "the shard folder leads out of the cache folder (a symlink)")
        for name, info in data["shards"].items():
            self._check_shard_name(name, parts, bad)
            if not (isinstance(info, dict) and _count(info.get("clips"))):
                raise bad(f"shards[{name!r}]", "needs a whole, non-negative clip count")
        for rel, entry in data["sources"].items():
            where = f"sources[{rel!r}]"
            if not (isinstance(entry, dict) and entry.get("split") in ("train", "test") and _count(entry.get("clips"))
                    and isinstance(entry.get("ranges"), list)):
                raise bad(where, "needs split (train or test), clips and ranges")
            for item in entry["ranges"]:
                if not (isinstance(item, list) and len(item) == 3 and isinstance(item[0], str)
                        and _count(item[1]) and _count(item[2]) and item[2] >= 1):
                    raise bad(where, f"range {item!r} is not [shard, first clip, clip count]")
                shard, start, count = item
                if shard not in data["shards"]:
                    raise bad(where, f"range names shard {shard!r}, which the manifest does not list")
                if start + count > data["shards"][shard]["clips"]:
                    raise bad(where, f"range {item!r} runs past the {data['shards'][shard]['clips']} clips of its shard")
        for rel, entry in data["skipped"].items():
            if not (isinstance(entry, dict) and isinstance(entry.get("reason"), str)):
                raise bad(f"skipped[{rel!r}]", "needs a reason")

    def _checked_parts(self, bad) -> dict[str, "Manifest"]:
        """The part caches of a merged manifest, each loaded (and so checked) itself, by relative path."""
        parts = self.data.get("parts")
        if not parts:
            return {}
        if not isinstance(parts, list):
            raise bad("'parts'", "expected a list of part folders")
        loaded: dict[str, Manifest] = {}
        for part in parts:
            if not isinstance(part, str) or not part or PurePosixPath(part).is_absolute() or "\\" in part:
                raise bad(f"parts {part!r}", "a part must be a relative path to a part cache")
            folder = self.folder / part
            if not Manifest.exists(folder):
                raise bad(f"parts {part!r}", f"{folder} is not a clip cache")
            try:
                loaded[part] = Manifest.load(folder, as_part=True)
            except VidsynthError as exc:
                raise bad(f"parts {part!r}", str(exc)) from None
        return loaded

    def _check_shard_name(self, name: Any, parts: dict[str, "Manifest"], bad) -> None:
        where = f"shard {name!r}"
        if not isinstance(name, str):
            raise bad(where, "a shard name must be a string")
        if parts:  # merged: PART/shards/NAME.npy, where PART lists shards/NAME.npy as its own
            for part, manifest in parts.items():
                if name.startswith(part + "/") and name[len(part) + 1:] in manifest.shards:
                    return
            raise bad(where, "it is not a shard of one of the merged parts (merge the parts again)")
        relative = PurePosixPath(name)
        if (relative.is_absolute() or len(relative.parts) != 2 or relative.parts[0] != SHARDS_DIR
                or relative.suffix != ".npy" or relative.name.startswith(".") or "\\" in name or "\x00" in name):
            raise bad(where, f"a shard must be {SHARDS_DIR}/NAME.npy inside the cache folder")
        if (self.folder / name).resolve().parent != self.folder.resolve() / SHARDS_DIR:
            raise bad(where, "it leads out of the cache folder (a symlink)")

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
        """List a finished source. Its ``checksums`` (``{shard: [clips, checksum]}``, from the writer)
        go to the shard records: a checksum is kept only while it covers exactly the shard's clips."""
        checksums = entry.pop("checksums", None) or {}
        self.skipped.pop(rel, None)
        self.sources[rel] = entry
        for shard, start, count in entry["ranges"]:
            info = self.shards.setdefault(shard, {"split": entry["split"], "clips": 0})
            info["clips"] = max(info["clips"], start + count)
            for stale in ("size", "mtime_ns"):  # the file grew: its recorded state no longer holds
                info.pop(stale, None)
            clips, digest = checksums.get(shard, (None, None))
            if clips == info["clips"]:
                info[CHECKSUM] = digest
            else:
                info.pop(CHECKSUM, None)  # recomputed from the file when the run ends (recover)

    def add_skip(self, rel: str, entry: dict[str, Any]) -> None:
        self.sources.pop(rel, None)
        self.skipped[rel] = entry

    def forget(self, rel: str) -> None:
        """Drop a source (changed or deleted file); its clips become unreferenced space in their shard."""
        self.sources.pop(rel, None)
        self.skipped.pop(rel, None)
