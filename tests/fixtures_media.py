"""Small real media files for the IO and data tests, encoded with PyAV directly (not with the code
under test), plus every kind of bad file the data layer must survive."""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import av
import numpy as np


def pattern_frames(n: int, height: int, width: int, seed: int = 0) -> np.ndarray:
    """Smooth frames (codec-friendly) whose brightness encodes the frame index: ``uint8 [n, H, W, 3]``.

    Frame ``i`` has mean level ``16 + 12 i`` (mod 224) plus a gentle gradient, so a test can tell
    which source frame it got back even after lossy compression."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:height, 0:width]
    tint = rng.integers(0, 40, size=3)
    frames = []
    for i in range(n):
        level = 16 + (12 * i) % 224
        base = level + 10 * x / max(width - 1, 1) + 5 * y / max(height - 1, 1)
        frames.append(np.stack([base + tint[c] * 0 for c in range(3)], axis=-1))
    return np.clip(np.rint(frames), 0, 255).astype(np.uint8)


def encode(path: Path, frames: np.ndarray, fps: float = 10, *, codec: str = "libx264",
           times: list[float] | None = None, rotation: int | None = None, faststart: bool = False) -> Path:
    """Encode ``uint8 [T, H, W, 3]`` with PyAV. ``times`` (seconds) makes a variable-frame-rate file;
    ``rotation`` sets the display matrix (counter-clockwise degrees)."""
    path = Path(path)
    options = {"movflags": "+faststart"} if faststart else {}
    with av.open(str(path), "w", options=options) as container:
        rate = Fraction(fps).limit_denominator(1000)
        stream = container.add_stream(codec, rate=rate)
        stream.width, stream.height = frames.shape[2], frames.shape[1]
        stream.pix_fmt = "yuv420p"
        time_base = Fraction(1, 1000) if times is not None else 1 / rate
        stream.codec_context.time_base = time_base
        if times is not None:
            stream.time_base = time_base
        if rotation is not None:
            stream.set_display_rotation(rotation)
        for i, image in enumerate(frames):
            frame = av.VideoFrame.from_ndarray(image, format="rgb24")
            frame.pts = round(times[i] * 1000) if times is not None else i
            frame.time_base = time_base
            for packet in stream.encode(frame):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    return path


def video(path: Path, n: int = 20, height: int = 32, width: int = 32, fps: float = 10, seed: int = 0) -> Path:
    return encode(path, pattern_frames(n, height, width, seed), fps)


def audio_only(path: Path, seconds: float = 0.5) -> Path:
    """An mp4 holding only an AAC sine tone."""
    with av.open(str(path), "w", format="mp4") as container:
        stream = container.add_stream("aac", rate=16000)
        samples = int(16000 * seconds)
        tone = (0.2 * np.sin(2 * np.pi * 440 * np.arange(samples) / 16000)).astype(np.float32)[None]
        frame = av.AudioFrame.from_ndarray(tone, format="fltp", layout="mono")
        frame.sample_rate = 16000
        for packet in stream.encode(frame):
            container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    return path


def bad_files(folder: Path, good: Path) -> dict[str, str]:
    """Write one file of each bad kind into ``folder``; returns ``{relative name: words its reason has}``."""
    from PIL import Image

    folder.mkdir(parents=True, exist_ok=True)
    (folder / "zero.mp4").write_bytes(b"")
    (folder / "random.mp4").write_bytes(np.random.default_rng(0).bytes(4096))
    (folder / "text.mkv").write_text("this is a text file, not a video\n" * 50)
    data = good.read_bytes()
    (folder / "truncated.mp4").write_bytes(data[: len(data) // 2])  # moov atom at the end: gone
    audio_only(folder / "audio.mp4")
    Image.fromarray(np.zeros((24, 24, 3), np.uint8)).save(folder / "image.avi", format="PNG")
    video(folder / "short.mp4", n=3)
    return {
        "zero.mp4": "empty",
        "random.mp4": "invalid data",
        "text.mkv": "invalid data",
        "truncated.mp4": "moov atom not found|invalid data",
        "audio.mp4": "no video stream",
        "image.avi": "still image",
        "short.mp4": "too short",
    }


def videos_and_cache(root: Path, count: int, params, **prepare_options) -> tuple[Path, Path]:
    """``count`` 20-frame test videos in ``root/videos`` and the clip cache prepared from them in ``root/cache``."""
    from vidsynth.data import prepare_cache

    videos = root / "videos"
    videos.mkdir()
    for i in range(count):
        video(videos / f"v{i}.mp4", n=20, seed=i)
    prepare_cache(videos, root / "cache", params, progress=False, workers=1, **prepare_options)
    return videos, root / "cache"


def data_cli(*args):
    """``python -m vidsynth ARGS`` with only the built-in datasets loaded (the data commands need no model)."""
    import os
    import subprocess
    import sys

    env = dict(os.environ, VIDSYNTH_PLUGINS="builtin-datasets")
    return subprocess.run([sys.executable, "-m", "vidsynth", *map(str, args)], capture_output=True, text=True,
                          env=env, timeout=120)
