"""Writing videos: mp4 (H.264), webm (VP9), looping GIF, or a folder of PNG frames, chosen by the path.

Every write is atomic (see ``vidsynth.atomic``): the output path is replaced only by a complete file,
and a failed write leaves the previous file (if any) as it was and nothing half-written.

Format notes, each a lesson from the libraries underneath:

* mp4: libx264 in yuv420p (what every player and browser plays) needs even width and height; odd frames
  are padded by one row/column repeating the edge, so the file is up to one pixel larger than the input.
  ``quality`` is x264's CRF (0 = lossless .. 51, default 18: visually lossless for small previews).
* webm: libvpx-vp9, yuv420p, ``quality`` = CRF 0..63 (default 32); odd sizes are kept exactly.
* gif: libavfilter's ``palettegen``/``paletteuse`` build one 256-colour palette from all frames (no
  dithering), so grayscale and flat-colour videos are stored exactly; it loops forever. GIF timing
  counts in 1/100 s, so e.g. 8 fps is stored as alternating 0.12/0.13 s delays. ``quality`` is ignored.
* folder (a path without suffix, or ending in ``/``): ``frame_0000.png``, ... and ``video.json`` with
  the fps, so ``read_video`` gets the timing back.
"""

from __future__ import annotations

import json
import os
from fractions import Fraction
from pathlib import Path
from typing import Any

import numpy as np

from vidsynth.errors import VidsynthError
from vidsynth.atomic import atomic_dir, atomic_file
from vidsynth.io.video import FOLDER_META, _reason

FORMATS = {".mp4": "mp4", ".gif": "gif", ".webm": "webm"}
DEFAULT_QUALITY = {"mp4": 18, "webm": 32}


def as_frames(frames: Any, what: str = "frames") -> np.ndarray:
    """Validate and normalise video frames to ``uint8 [T, H, W, C]`` with C in {1, 3}.

    Accepts numpy arrays and CPU torch tensors; ``[T, H, W]`` is taken as grayscale.
    """
    if hasattr(frames, "detach"):  # a torch tensor, without importing torch
        frames = frames.detach().cpu().numpy()
    array = np.asarray(frames)
    if array.dtype != np.uint8:
        raise VidsynthError(
            f"{what} must be uint8 [T, H, W, C], got {array.dtype}; convert model output with "
            "vidsynth.tensors.model_to_clips"
        )
    if array.ndim == 3:
        array = array[..., None]
    if array.ndim != 4 or array.shape[-1] not in (1, 3) or 0 in array.shape:
        raise VidsynthError(f"{what} must have shape [T, H, W, C] with C = 1 or 3, got {tuple(array.shape)}")
    return array


def output_kind(path: str | os.PathLike) -> str:
    """``"mp4"``, ``"gif"``, ``"webm"`` or ``"folder"`` for an output path, or a VidsynthError."""
    text = os.fspath(path)
    p = Path(text)
    if text.endswith(("/", os.sep)) or p.suffix == "" or p.is_dir():
        return "folder"
    kind = FORMATS.get(p.suffix.lower())
    if kind is None:
        raise VidsynthError(
            f"cannot write {p.name}: unknown video format {p.suffix!r}; use .mp4, .gif, .webm or a folder name"
        )
    return kind


def _pad_even(frames: np.ndarray) -> np.ndarray:
    t, h, w, c = frames.shape
    if h % 2 == 0 and w % 2 == 0:
        return frames
    return np.pad(frames, ((0, 0), (0, h % 2), (0, w % 2), (0, 0)), mode="edge")


def _rate(fps: float) -> Fraction:
    if not (isinstance(fps, (int, float, Fraction)) and fps > 0 and np.isfinite(float(fps))):
        raise VidsynthError(f"fps must be a positive number, got {fps!r}")
    return Fraction(fps).limit_denominator(1001)


def _encode(temp: Path, kind: str, frames: np.ndarray, rate: Fraction, quality: int | None) -> None:
    import av

    rgb = np.repeat(frames, 3, axis=-1) if frames.shape[-1] == 1 else frames
    options = {}
    if kind == "mp4":
        codec, pix_fmt = "libx264", "yuv420p"
        rgb = _pad_even(rgb)  # libx264 refuses odd sizes in yuv420p
        options = {"crf": str(DEFAULT_QUALITY["mp4"] if quality is None else quality), "preset": "medium"}
    elif kind == "webm":
        codec, pix_fmt = "libvpx-vp9", "yuv420p"  # VP9 takes odd sizes as they are
        options = {"crf": str(DEFAULT_QUALITY["webm"] if quality is None else quality), "b": "0",
                   "deadline": "good", "cpu-used": "4", "row-mt": "1"}
    else:
        codec, pix_fmt = "gif", "pal8"
    container_options = {"movflags": "+faststart"} if kind == "mp4" else ({"loop": "0"} if kind == "gif" else {})
    container = av.open(str(temp), mode="w", format=kind, options=container_options)
    try:
        stream = container.add_stream(codec, rate=rate, options=options)
        stream.width, stream.height = rgb.shape[2], rgb.shape[1]
        stream.pix_fmt = pix_fmt
        stream.codec_context.time_base = 1 / rate
        video_frames = _palettised(rgb, rate) if kind == "gif" else (
            av.VideoFrame.from_ndarray(image, format="rgb24") for image in rgb)
        for index, frame in enumerate(video_frames):
            frame.pts = index
            frame.time_base = 1 / rate
            for packet in stream.encode(frame):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    finally:
        container.close()


def _palettised(rgb: np.ndarray, rate: Fraction):
    """All frames through palettegen (one palette from every frame) and paletteuse, as pal8 frames."""
    import av
    import av.filter

    graph = av.filter.Graph()
    source = graph.add_buffer(width=rgb.shape[2], height=rgb.shape[1], format="rgb24", time_base=1 / rate)
    split = graph.add("split")
    palette = graph.add("palettegen", "stats_mode=full")
    use = graph.add("paletteuse", "dither=none")
    sink = graph.add("buffersink")
    source.link_to(split)
    split.link_to(palette, 0, 0)
    split.link_to(use, 1, 0)
    palette.link_to(use, 0, 1)
    use.link_to(sink)
    graph.configure()
    for index, image in enumerate(rgb):
        frame = av.VideoFrame.from_ndarray(image, format="rgb24")
        frame.pts, frame.time_base = index, 1 / rate
        source.push(frame)
    source.push(None)
    out = []
    while True:
        try:
            out.append(sink.pull())
        except (av.error.BlockingIOError, av.error.EOFError):
            break
    return out


def _write_png_folder(temp: Path, frames: np.ndarray, fps: float) -> None:
    from PIL import Image

    digits = max(4, len(str(len(frames) - 1)))
    for index, image in enumerate(frames):
        img = Image.fromarray(image[:, :, 0], "L") if image.shape[-1] == 1 else Image.fromarray(image, "RGB")
        img.save(temp / f"frame_{index:0{digits}d}.png")
    (temp / FOLDER_META).write_text(json.dumps({"fps": float(fps), "frames": len(frames)}) + "\n")


def write_video(path: str | os.PathLike, frames: Any, fps: float = 8.0, *, quality: int | None = None) -> Path:
    """Write ``uint8 [T, H, W, C]`` frames (C = 1 or 3) as a video chosen by the path's extension.

        write_video("out.mp4", frames, fps=8)        # H.264 mp4
        write_video("out.gif", frames, fps=10)       # looping GIF
        write_video("frames/", frames)               # frames/frame_0000.png, ...

    Replaces ``path`` if it exists (atomically: on failure the old file stays). Returns the path.
    """
    kind = output_kind(path)
    frames = as_frames(frames)
    rate = _rate(fps)
    final = Path(path)
    try:
        if kind == "folder":
            with atomic_dir(final) as temp:
                _write_png_folder(temp, frames, float(fps))
        else:
            import av

            try:
                with atomic_file(final) as temp:
                    _encode(temp, kind, frames, rate, quality)
            except av.error.FFmpegError as exc:
                raise VidsynthError(f"cannot write {final.name}: {_reason(exc)}") from None
    except OSError as exc:
        raise VidsynthError(f"cannot write {final.name}: {_reason(exc)}") from None
    return final
