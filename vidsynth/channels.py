"""Colour follows the data: a new training run gets as many channels as its videos have.

A preset's ``channels`` is what the preset was designed on (``small`` presets of the bouncing-balls models
have 1), but training a grayscale model on colour videos throws the colour away without a word, and a
colour model on grayscale videos spends three channels on one. So ``vidsynth train`` looks at a few
frames of the data first: a video whose frames have R == G == B everywhere is grayscale, any other is in
colour. The model takes 3 channels when any probed video is in colour, else 1, and one line says so when
that changes the preset's value. A ``channels`` the user sets (``--set channels=N`` or in ``--config``)
is kept as it is.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Any, Iterable

#: Videos (or clips) probed per source, spread over it, and frames read from each.
PROBE_VIDEOS = 3
PROBE_FRAMES = 4
#: A pixel is gray when its channels differ by at most this (codecs round chroma by a level or two).
GRAY_TOLERANCE = 2


def is_gray(frames: Any) -> bool:
    """Whether ``uint8 [..., C]`` frames are grayscale: one channel, or R == G == B (within rounding)."""
    import numpy as np

    array = np.asarray(frames)
    if array.shape[-1] == 1:
        return True
    rgb = array[..., :3].astype(np.int16)
    return bool(np.abs(rgb[..., 0] - rgb[..., 1]).max() <= GRAY_TOLERANCE
                and np.abs(rgb[..., 1] - rgb[..., 2]).max() <= GRAY_TOLERANCE)


def _spread(items: list, k: int) -> list:
    if len(items) <= k:
        return items
    return [items[round(i * (len(items) - 1) / (k - 1))] for i in range(k)]


def data_is_colour(source: str, *, frames: int, size: int) -> bool | None:
    """Whether ``source`` (a folder of videos, a prepared cache or ``builtin:NAME``) holds colour video.

    None when nothing could be probed (no readable video): training then reports the data's problem.
    """
    from vidsynth.data import resolve_source

    resolved = resolve_source(source)
    if resolved.kind == "videos":
        return _any_colour(_probe_videos(resolved.path))
    if resolved.kind == "cache":
        from vidsynth.data.manifest import Manifest

        manifest = Manifest.load(resolved.path)
        if manifest.params.channels == 1:
            return False
        return _any_colour(_probe_clips(source, frames=manifest.params.frames, size=manifest.params.size))
    return _any_colour(_probe_clips(source, frames=frames, size=size))


def _any_colour(samples: Iterable[Any]) -> bool | None:
    seen = False
    for frames in samples:
        seen = True
        if not is_gray(frames):
            return True
    return False if seen else None


def _probe_videos(folder: Path) -> Iterable[Any]:
    from vidsynth.data.clip_cache import list_sources
    from vidsynth.errors import VidsynthError
    from vidsynth.io import read_video

    videos, _ = list_sources(folder)
    for path in _spread([videos[k] for k in sorted(videos)], PROBE_VIDEOS):
        try:
            frames, _fps = read_video(path, size=32, max_frames=PROBE_FRAMES, channels=3)
        except VidsynthError:
            continue  # an unreadable file: the cache preparation reports it
        if len(frames):
            yield frames


def _probe_clips(source: str, *, frames: int, size: int) -> Iterable[Any]:
    from vidsynth.data import open_clips

    clips = open_clips(source, frames=frames, size=size, channels=3, split="train", progress=False)
    for index in _spread(list(range(len(clips))), PROBE_VIDEOS):
        yield clips[index].numpy() if hasattr(clips[index], "numpy") else clips[index]


def user_set_channels(sets: list[str] | None, config_file: str | Path | None, plugin_name: str) -> bool:
    """Whether the user chose ``channels`` (``--set channels=N`` or a ``channels`` key in ``--config``)."""
    if any(item.split("=", 1)[0].strip() == "channels" for item in sets or []):
        return True
    if config_file is None:
        return False
    try:
        import tomllib
    except ModuleNotFoundError:  # Python 3.10
        import tomli as tomllib  # type: ignore[no-redef]
    try:
        data = tomllib.loads(Path(config_file).read_text())
    except (OSError, ValueError):
        return False  # build_config has reported a bad file already
    return "channels" in data.get(plugin_name, data)


def follow_data_channels(model: Any, config: Any, source: str | None, sets: list[str] | None = None,
                         config_file: str | Path | None = None, preset: str | None = None) -> Any:
    """``config`` with the channels of the data ``source`` (unless the user set them); says so when it changes."""
    if source is None or user_set_channels(sets, config_file, model.name):
        return config
    colour = data_is_colour(source, frames=config.frames, size=config.size)
    if colour is None:
        return config
    wanted = 3 if colour else 1
    if wanted == config.channels:
        return config
    from vidsynth.errors import ConfigError

    try:
        changed = model.config_from_dict({**config.to_dict(), "channels": wanted})
    except ConfigError:
        return config  # the model cannot take the data's channels: its own check stays in charge
    kind = "in colour" if colour else "grayscale"
    name = f"the {preset or model.default_preset} preset" if model.presets else "the default config"
    if os.environ.get("RANK", "0") == "0":  # one line, not one per process under torchrun
        print(f"note: {source} is {kind}, so the model is too: channels={wanted} ({name} has {config.channels});"
              f" --set channels={config.channels} keeps {config.channels}", file=sys.stderr)
    return changed
