"""Datasets: folders of videos -> a clip cache -> a torch ``Dataset`` of ``uint8 [T, H, W, C]`` clips.

    from vidsynth.data import open_clips
    ds = open_clips("builtin:bouncing-balls", frames=30, size=64)   # or a folder, or a prepared cache
    ds[0].shape   # torch.Size([30, 64, 64, 3]), torch.uint8

Importing this package is cheap (no torch, no PyAV): ``vidsynth.data.builtin`` is a plugin entry point
loaded with the CLI. The names below are imported on first use.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

_EXPORTS = {
    "open_clips": "vidsynth.data.sources",
    "resolve_source": "vidsynth.data.sources",
    "ClipSource": "vidsynth.data.dataset",
    "CachedClips": "vidsynth.data.dataset",
    "collate_clips": "vidsynth.data.dataset",
    "CacheParams": "vidsynth.data.manifest",
    "Manifest": "vidsynth.data.manifest",
    "prepare_cache": "vidsynth.data.clip_cache",
    "merge_caches": "vidsynth.data.clip_cache",
    "default_cache_root": "vidsynth.data.clip_cache",
    "simulate": "vidsynth.data.bouncing_balls",
    "render": "vidsynth.data.bouncing_balls",
    "BouncingBalls": "vidsynth.data.bouncing_balls",
}

__all__ = sorted(_EXPORTS)

if TYPE_CHECKING:
    from vidsynth.data.bouncing_balls import BouncingBalls, render, simulate
    from vidsynth.data.clip_cache import default_cache_root, merge_caches, prepare_cache
    from vidsynth.data.dataset import CachedClips, ClipSource, collate_clips
    from vidsynth.data.manifest import CacheParams, Manifest
    from vidsynth.data.sources import open_clips, resolve_source


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'vidsynth.data' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value
