"""Is a shard what the manifest says it is? Present, long enough, and holding the bytes that were written.

Each shard record in the manifest has the shard's clip count, its checksum (``blake2b``, taken by the
writer as it wrote, see :mod:`vidsynth.data.shards`), and the file's ``size`` and ``mtime_ns`` as they
were when ``prepare`` last sealed it. Checking a shard:

* always: the file exists and holds at least the recorded clips (a ``stat``, no read);
* its content (read and hashed) when asked (``content="always"``: ``data info --verify``,
  ``data prepare --verify``), or when the file's size or mtime differ from the record
  (``content="changed"``: every open and every ``prepare``), since then something wrote to it.

Caches made before checksums existed have records without one: they still open (unverified, said once),
and the next ``prepare`` adds the checksums.
"""

from __future__ import annotations

import shlex
import sys

import numpy as np

from vidsynth.data.manifest import CHECKSUM, Manifest
from vidsynth.data.shards import HEADER_SIZE, clips_in_file, hash_shard
from vidsynth.errors import VidsynthError

CONTENT_CHECKS = ("never", "changed", "always")
_noted: set[str] = set()


class DamagedCache(VidsynthError):
    """Shards of a cache are missing, truncated or corrupt; ``problems`` maps shard -> what is wrong."""

    def __init__(self, message: str, problems: dict[str, str]) -> None:
        super().__init__(message)
        self.problems = problems


def shard_problem(manifest: Manifest, name: str, content: str = "changed") -> str | None:
    """What is wrong with shard ``name`` of ``manifest`` (a short phrase), or None when it is sound."""
    info = manifest.shards[name]
    path = manifest.shard_path(name)
    clip_bytes = int(np.prod(manifest.clip_shape))
    try:
        stat = path.stat()
    except FileNotFoundError:
        return "missing"
    except OSError as exc:
        return f"unreadable ({exc.strerror})"
    if stat.st_size < HEADER_SIZE + info["clips"] * clip_bytes:
        return f"truncated ({clips_in_file(path, clip_bytes)} of its {info['clips']} clips on disk)"
    digest = info.get(CHECKSUM)
    if digest is None or content == "never":
        return None
    if content == "changed" and (info.get("size"), info.get("mtime_ns")) == (stat.st_size, stat.st_mtime_ns):
        return None
    try:
        actual = hash_shard(path, clip_bytes, info["clips"])
    except OSError as exc:
        return f"unreadable ({exc})"
    if actual != digest:
        return "corrupt (its bytes differ from the checksum recorded when it was written)"
    return None


def check_shards(manifest: Manifest, names=None, content: str = "changed") -> dict[str, str]:
    """``{shard: problem}`` for the damaged ones among ``names`` (default: every shard)."""
    if content not in CONTENT_CHECKS:
        raise ValueError(f"content must be one of {CONTENT_CHECKS}, got {content!r}")
    problems = {}
    for name in sorted(manifest.shards if names is None else names):
        why = shard_problem(manifest, name, content)
        if why:
            problems[name] = why
    return problems


def unverified(manifest: Manifest, names=None) -> list[str]:
    """The shards among ``names`` without a checksum (written before vidsynth recorded them)."""
    return sorted(n for n in (manifest.shards if names is None else names) if CHECKSUM not in manifest.shards[n])


def prepare_command(manifest: Manifest) -> str:
    """The ``vidsynth data prepare`` command that brings this (non-merged) cache up to date."""
    p = manifest.params
    words = ["vidsynth", "data", "prepare", str(manifest.data.get("source")), str(manifest.folder),
             "--frames", str(p.frames), "--size", str(p.size)]
    if p.channels != 3:
        words += ["--channels", str(p.channels)]
    if p.fps:
        words += ["--fps", f"{p.fps:g}"]
    if p.stride != p.frames:
        words += ["--stride", str(p.stride)]
    if p.test_fraction != 0.1:
        words += ["--test-fraction", f"{p.test_fraction:g}"]
    if p.fit != "crop":
        words += ["--fit", p.fit]
    if manifest.data.get("part"):
        words += ["--shard", "%d/%d" % tuple(manifest.data["part"])]
    return " ".join(shlex.quote(w) for w in words)


def repair_hint(manifest: Manifest, name: str) -> str:
    """How to re-create damaged shard ``name``: the exact ``prepare`` command (of its part, if merged)."""
    if manifest.is_merged:
        part = next((p for p in manifest.data["parts"] if name.startswith(p + "/")), None)
        if part is None:
            return "prepare its part again, then merge again"
        return f"`{prepare_command(Manifest.load(manifest.folder / part))} --verify` re-creates it, then merge again"
    return f"`{prepare_command(manifest)} --verify` re-creates it"


def damaged_error(manifest: Manifest, problems: dict[str, str]) -> DamagedCache:
    """One line: the first bad shard, how many there are, and the command that re-creates them."""
    name, why = next(iter(problems.items()))
    more = f" (and {len(problems) - 1} more damaged shards)" if len(problems) > 1 else ""
    return DamagedCache(f"{manifest.folder}: shard {name} is {why}{more}; {repair_hint(manifest, name)}", problems)


def note_unverified(manifest: Manifest, names) -> None:
    """Say once per cache and process that shards without checksums are read unverified."""
    old = unverified(manifest, names)
    key = str(manifest.folder.resolve())
    if old and key not in _noted:
        _noted.add(key)
        print(f"note: {manifest.folder} was prepared without shard checksums, so its clips are not verified; "
              "running `vidsynth data prepare` on it again adds them", file=sys.stderr)
