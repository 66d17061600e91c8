"""Reading videos: PyAV decoding with the resize done by libswscale, frames picked by timestamp.

The path from a file to ``uint8 [T, H, W, C]``:

1. PyAV decodes, threaded (libavcodec's frame + slice threads) on machines with 4 or more CPUs; on
   fewer, single-threaded, because on our shared 2-core machine threads did not pay for themselves
   (benchmarks/RESULTS.md). ``threads=`` overrides; ``prepare`` decodes one file per worker process
   without threads instead.
2. For the default center crop, libavfilter's ``crop`` cuts the centered square out of the decoded
   frame first (no copy), so only those pixels are scaled.
3. ``frame.reformat`` converts YUV to RGB (or gray) *and* scales in one libswscale call, so a 1280x720
   frame becomes 64x64 before numpy ever sees it: the expensive full-size RGB image is never built.
4. numpy applies the rotation the container asks for (and pads, for ``fit="letterbox"``).

``fit`` says how a non-square frame becomes square: ``"crop"`` (the default: center crop, no black
bars, what video models train on), ``"letterbox"`` (scale the long side to ``size``, pad with black),
``"none"`` (keep the aspect ratio: ``size`` is then the short side; with ``size=None`` frames come back
as they are).

With ``fps`` the output holds the frame *on screen* at times ``t0, t0 + 1/fps, ...`` (t0 = first
frame's timestamp), found from each frame's presentation time, so variable-frame-rate files come out
evenly timed; frames are repeated or dropped as the rate requires. Without ``fps`` every frame is kept.

A folder of images (what ``write_video`` writes for a path without suffix) reads as a video too; its
``video.json`` gives the fps (8 when absent).
"""

from __future__ import annotations

import json
import math
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator

import numpy as np

from vidsynth.errors import VidsynthError

VIDEO_EXTENSIONS = frozenset(
    {".mp4", ".m4v", ".mov", ".mkv", ".avi", ".webm", ".gif", ".mpg", ".mpeg", ".wmv", ".flv", ".ts",
     ".mts", ".m2ts", ".3gp", ".ogv", ".vob"}
)
IMAGE_EXTENSIONS = frozenset({".png", ".jpg", ".jpeg", ".webp", ".bmp", ".tif", ".tiff"})
FITS = ("crop", "letterbox", "none")
FOLDER_META = "video.json"  # fps of a folder of frames, written by write_video
DEFAULT_FOLDER_FPS = 8.0


def _reason(exc: BaseException) -> str:
    """A short human reason from a PyAV/OS error, without errno numbers or repeated file names."""
    text = getattr(exc, "strerror", None) or str(exc) or type(exc).__name__
    return str(text).strip().splitlines()[0].rstrip(".")


class VideoReadError(VidsynthError):
    """A video that cannot be read; ``reason`` is the short why, without the file name."""

    def __init__(self, path: str | Path, reason: str) -> None:
        super().__init__(f"cannot read video {Path(path).name}: {reason}")
        self.path, self.reason = Path(path), reason


def video_error(path: str | Path, reason: str) -> VideoReadError:
    return VideoReadError(path, reason)


def _check_fit(fit: str, size: int | None) -> None:
    if fit not in FITS:
        raise VidsynthError(f"unknown fit {fit!r}; use one of: {', '.join(FITS)}")
    if size is not None and (not isinstance(size, (int, np.integer)) or size < 1):
        raise VidsynthError(f"size must be a positive integer, got {size!r}")


@dataclass(frozen=True)
class _Plan:
    """How one decoded frame becomes an output frame: scale (libswscale), rotate, then crop or pad."""

    scaled_w: int  # size handed to reformat, in the stored (unrotated) orientation
    scaled_h: int
    rotation: int  # counter-clockwise quarter turns, 0..3
    out_h: int
    out_w: int
    fit: str
    crop: tuple[int, int, int, int] | None = None  # x, y, w, h in stored pixels, cut before scaling

    @staticmethod
    def make_cropped(width: int, height: int, sar: float, rotation_deg: int, size: int | None) -> "_Plan | None":
        """The center-crop plan that cuts the square first and scales only it: less work for libswscale
        and an exactly centered square. None when the frame is already square."""
        side = min(width * sar, float(height))  # the square's side in display units
        crop_w, crop_h = min(width, max(1, round(side / sar))), min(height, max(1, round(side)))
        if (crop_w, crop_h) == (width, height):
            return None
        out = size or max(1, round(side))
        crop = ((width - crop_w) // 2, (height - crop_h) // 2, crop_w, crop_h)
        return _Plan(out, out, int(round(rotation_deg / 90.0)) % 4, out, out, "crop", crop)

    @staticmethod
    def make(width: int, height: int, sar: float, rotation_deg: int, size: int | None, fit: str) -> "_Plan":
        quarter = int(round(rotation_deg / 90.0)) % 4
        shown_w, shown_h = width * sar, float(height)  # display geometry (anamorphic pixels corrected)
        if quarter % 2:
            shown_w, shown_h = shown_h, shown_w
        if size is None:
            disp_w, disp_h = max(1, round(shown_w)), max(1, round(shown_h))
            side = min(disp_w, disp_h) if fit == "crop" else max(disp_w, disp_h)
            out_h, out_w = (disp_h, disp_w) if fit == "none" else (side, side)
        else:
            # crop and none: the short side becomes `size`; letterbox: the long side does
            scale = size / (max(shown_w, shown_h) if fit == "letterbox" else min(shown_w, shown_h))
            disp_w, disp_h = max(1, round(shown_w * scale)), max(1, round(shown_h * scale))
            out_h, out_w = (disp_h, disp_w) if fit == "none" else (size, size)
        if fit == "crop":
            disp_w, disp_h = max(disp_w, out_w), max(disp_h, out_h)
        scaled_w, scaled_h = (disp_h, disp_w) if quarter % 2 else (disp_w, disp_h)
        return _Plan(scaled_w, scaled_h, quarter, out_h, out_w, fit)

    def finish(self, image: np.ndarray) -> np.ndarray:
        """Rotate, then center-crop or letterbox the scaled image to the output size."""
        if self.rotation:
            image = np.rot90(image, k=self.rotation)
        h, w = image.shape[:2]
        if (h, w) == (self.out_h, self.out_w):
            return np.ascontiguousarray(image)
        if self.fit == "letterbox":
            out = np.zeros((self.out_h, self.out_w, image.shape[2]), np.uint8)
            top, left = (self.out_h - h) // 2, (self.out_w - w) // 2
            out[top : top + h, left : left + w] = image
            return out
        top, left = (h - self.out_h) // 2, (w - self.out_w) // 2
        return np.ascontiguousarray(image[top : top + self.out_h, left : left + self.out_w])


def pick_by_time(items: Iterator[tuple[float, Any]], fps: float, frame_duration: float) -> Iterator[Any]:
    """From ``(timestamp, item)`` pairs in presentation order, yield the item on screen at each tick of
    a ``fps`` clock that starts at the first timestamp. The last item stays on screen for
    ``frame_duration`` seconds. Items may be yielded several times (slower source) or skipped."""
    step = 1.0 / fps
    eps = 1e-6
    start: float | None = None
    tick = 0
    prev: Any = None
    prev_t = 0.0
    for t, item in items:
        if start is None:
            start = t
        elif prev is not None:
            while start + tick * step < t - eps:
                yield prev
                tick += 1
        prev, prev_t = item, t
    if prev is None:
        return
    end = max(prev_t + frame_duration, start + step * 0.5)
    while start + tick * step < end - eps:
        yield prev
        tick += 1


def _natural_key(name: str) -> list:
    return [int(part) if part.isdigit() else part for part in re.split(r"(\d+)", name)]


def frame_files(folder: Path) -> list[Path]:
    """The image files of a folder of frames, in natural order (frame_2 before frame_10)."""
    files = [p for p in folder.iterdir() if p.suffix.lower() in IMAGE_EXTENSIONS and not p.name.startswith(".")]
    return sorted(files, key=lambda p: _natural_key(p.name))


class VideoReader:
    """Streams the frames of one video (or folder of frames) as uint8 ``[H, W, C]`` arrays.

    ``info`` is known after opening (a failed open raises VidsynthError); iterating decodes lazily, so
    memory stays at one frame however long the video is. Use as a context manager, or call ``close``.
    """

    def __init__(
        self,
        path: str | Path,
        *,
        size: int | None = None,
        fps: float | None = None,
        fit: str = "crop",
        channels: int = 3,
        threads: str | None = "auto",
        max_pixels: int | None = None,
    ) -> None:
        _check_fit(fit, size)
        if channels not in (1, 3):
            raise VidsynthError(f"channels must be 1 or 3, got {channels}")
        if fps is not None and not fps > 0:
            raise VidsynthError(f"fps must be positive, got {fps}")
        self.path = Path(path)
        self.size, self.fps, self.fit, self.channels = size, fps, fit, channels
        self._container = None
        self._first_frame = None
        if not self.path.exists():
            raise video_error(self.path, "no such file or folder")
        if self.path.is_dir():
            self._frames = frame_files(self.path)
            if not self._frames:
                raise video_error(self.path, "folder has no image frames")
            meta = self.path / FOLDER_META
            src_fps = DEFAULT_FOLDER_FPS
            if meta.exists():
                try:
                    src_fps = float(json.loads(meta.read_text())["fps"])
                except (ValueError, KeyError, TypeError) as exc:
                    raise video_error(self.path, f"bad {FOLDER_META} ({_reason(exc)})") from None
            from PIL import Image

            try:
                with Image.open(self._frames[0]) as first:
                    width, height = first.size
            except OSError as exc:
                raise video_error(self.path, f"{self._frames[0].name}: {_reason(exc)}") from None
            self.info = {
                "frames": len(self._frames), "fps": src_fps, "width": width, "height": height,
                "duration": len(self._frames) / src_fps, "codec": "images", "format": "folder", "rotation": 0,
                "still_image": False,
            }
            return
        self._open_container(threads, max_pixels)

    # -- containers -----------------------------------------------------------------------------
    def _open_container(self, threads: str | None, max_pixels: int | None) -> None:
        import av

        try:
            if self.path.stat().st_size == 0:
                raise video_error(self.path, "empty file (0 bytes)")
            self._container = av.open(str(self.path), mode="r", metadata_errors="ignore")
        except av.error.FFmpegError as exc:
            raise video_error(self.path, _reason(exc)) from None
        except OSError as exc:
            raise video_error(self.path, _reason(exc)) from None
        container = self._container
        if not container.streams.video:
            kinds = sorted({s.type for s in container.streams})
            self.close()
            raise video_error(self.path, f"no video stream ({', '.join(kinds)} only)" if kinds else "no video stream")
        stream = container.streams.video[0]
        width, height = stream.codec_context.width, stream.codec_context.height
        if max_pixels is not None and width * height > max_pixels:  # refuse before decoding anything
            self.close()
            raise video_error(self.path, f"frames of {width}x{height} are larger than the limit of {max_pixels} pixels")
        if threads == "auto":
            threads = "AUTO" if (os.cpu_count() or 1) >= 4 else None
        if threads:
            stream.thread_type = threads
        self._stream = stream
        rate = stream.average_rate or stream.guessed_rate or stream.base_rate
        try:
            # Decode the first frame now: it proves the file decodes and carries the rotation.
            self._decoder = self._decode()
            self._first_frame = next(self._decoder, None)
        except VidsynthError:
            self.close()
            raise
        if self._first_frame is None:
            self.close()
            raise video_error(self.path, "no frame could be decoded")
        first = self._first_frame
        duration = None
        if stream.duration and stream.time_base:
            duration = float(stream.duration * stream.time_base)
        elif container.duration:
            duration = container.duration / 1_000_000
        src_fps = float(rate) if rate else None
        frames = stream.frames or (round(duration * src_fps) if duration and src_fps else 0)
        rotation = int(getattr(first, "rotation", 0) or 0)
        w, h = (first.height, first.width) if rotation % 180 else (first.width, first.height)
        fmt = container.format.name
        self.info = {
            "frames": int(frames), "fps": src_fps, "width": w, "height": h, "duration": duration,
            "codec": stream.codec_context.name, "format": fmt, "rotation": rotation,
            "still_image": fmt.endswith("_pipe") or fmt == "image2",
        }

    def _decode(self):
        import av

        try:
            for frame in self._container.decode(self._stream):
                yield frame
        except av.error.FFmpegError as exc:
            raise video_error(self.path, f"decoding failed ({_reason(exc)})") from None

    def close(self) -> None:
        if self._container is not None:
            self._container.close()
            self._container = None

    def __enter__(self) -> "VideoReader":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    # -- frames ---------------------------------------------------------------------------------
    @property
    def out_fps(self) -> float:
        """The frame rate of what iteration yields."""
        return float(self.fps or self.info["fps"] or DEFAULT_FOLDER_FPS)

    def _timed_frames(self) -> Iterator[tuple[float, Any]]:
        src_fps = self.info["fps"] or 25.0
        if self._container is None:
            for i, path in enumerate(self._frames):
                yield i / src_fps, path
            return
        index = 0
        frames = [self._first_frame] if self._first_frame is not None else []
        self._first_frame = None
        for frame in _chain(frames, self._decoder):
            t = frame.time
            yield (index / src_fps if t is None else float(t)), frame
            index += 1

    def _converter(self):
        plans: dict[tuple, _Plan] = {}
        croppers: dict[tuple, Any] = {}
        sar = float(self._stream.sample_aspect_ratio or 1) if self._container is not None else 1.0
        pixel_format = "gray" if self.channels == 1 else "rgb24"
        interpolation = {}

        def convert(frame) -> np.ndarray:
            if isinstance(frame, Path):
                return self._convert_image(frame)
            key = (frame.width, frame.height, frame.format.name, int(getattr(frame, "rotation", 0) or 0))
            plan = plans.get(key)
            if plan is None:
                plan = _Plan.make_cropped(frame.width, frame.height, sar, key[3], self.size) if self.fit == "crop" else None
                if plan is not None:
                    try:
                        croppers[key] = _crop_filter(frame, plan.crop)
                    except Exception:  # noqa: BLE001 - an exotic pixel format: scale the whole frame instead
                        plan = None
                if plan is None:
                    plan = _Plan.make(frame.width, frame.height, sar, key[3], self.size, self.fit)
                plans[key] = plan
                source_pixels = plan.crop[2] * plan.crop[3] if plan.crop else frame.width * frame.height
                interpolation[key] = "AREA" if plan.scaled_w * plan.scaled_h < source_pixels else "BICUBIC"
            if plan.crop:
                frame = croppers[key](frame)
            image = frame.reformat(
                width=plan.scaled_w, height=plan.scaled_h, format=pixel_format, interpolation=interpolation[key]
            ).to_ndarray()
            if image.ndim == 2:
                image = image[:, :, None]
            return plan.finish(image)

        return convert

    def _convert_image(self, path: Path) -> np.ndarray:
        from PIL import Image

        from vidsynth.io.image import image_to_array

        try:
            with Image.open(path) as img:
                array = image_to_array(img, self.channels)
        except OSError as exc:
            raise video_error(self.path, f"{path.name}: {_reason(exc)}") from None
        h, w = array.shape[:2]
        plan = (_Plan.make_cropped(w, h, 1.0, 0, self.size) if self.fit == "crop" else None) or _Plan.make(
            w, h, 1.0, 0, self.size, self.fit)
        if plan.crop:
            x, y, cw, ch = plan.crop
            array, w, h = array[y : y + ch, x : x + cw], cw, ch
        if (plan.scaled_w, plan.scaled_h) != (w, h):
            mode = "L" if self.channels == 1 else "RGB"
            resample = Image.Resampling.BOX if plan.scaled_w < w else Image.Resampling.BICUBIC
            array = np.asarray(Image.fromarray(array[:, :, 0] if self.channels == 1 else array, mode).resize(
                (plan.scaled_w, plan.scaled_h), resample))
            if array.ndim == 2:
                array = array[:, :, None]
        return plan.finish(array)

    def __iter__(self) -> Iterator[np.ndarray]:
        convert = self._converter()
        if self.fps is None:
            for _, frame in self._timed_frames():
                yield convert(frame)
            return
        last_item, last_array = None, None
        src_fps = self.info["fps"] or self.fps
        for item in pick_by_time(self._timed_frames(), self.fps, 1.0 / src_fps):
            if item is not last_item:  # a frame shown at several ticks is converted once
                last_item, last_array = item, convert(item)
            yield last_array


def _crop_filter(frame, crop: tuple[int, int, int, int]):
    """A function cutting ``crop`` out of frames shaped like ``frame``, with libavfilter's ``crop``
    (it moves plane pointers; no pixel is copied)."""
    from fractions import Fraction

    import av.filter

    x, y, w, h = crop
    graph = av.filter.Graph()
    source = graph.add_buffer(width=frame.width, height=frame.height, format=frame.format.name,
                              time_base=frame.time_base or Fraction(1, 1000))
    cut = graph.add("crop", f"{w}:{h}:{x}:{y}:exact=1")
    sink = graph.add("buffersink")
    source.link_to(cut)
    cut.link_to(sink)
    graph.configure()

    def apply(decoded, _graph=graph):  # holds the graph: freeing it under its filters crashes PyAV
        source.push(decoded)
        return sink.pull()

    return apply


def _chain(first: list, rest: Iterator) -> Iterator:
    yield from first
    yield from rest


def read_video(
    path: str | Path,
    *,
    size: int | None = None,
    fps: float | None = None,
    max_frames: int | None = None,
    fit: str = "crop",
    channels: int = 3,
) -> tuple[np.ndarray, float]:
    """Decode a video file (or folder of frames) into ``uint8 [T, H, W, C]`` and its frame rate.

    ``size``: output side in pixels (square for ``fit="crop"``/``"letterbox"``); ``None`` keeps the
    resolution. ``fps``: resample in time by timestamp; ``None`` keeps every frame and returns the file's
    rate. ``max_frames``: stop after this many output frames. ``channels``: 3 (RGB) or 1 (luma).
    Raises VidsynthError naming the file for anything that cannot be decoded.

        frames, fps = read_video("clip.mp4", size=64, fps=8)   # [T, 64, 64, 3]
    """
    if max_frames is not None and max_frames < 1:
        raise VidsynthError(f"max_frames must be at least 1, got {max_frames}")
    with VideoReader(path, size=size, fps=fps, fit=fit, channels=channels) as reader:
        frames: list[np.ndarray] = []
        for frame in reader:
            frames.append(frame)
            if max_frames is not None and len(frames) >= max_frames:
                break
        out_fps = reader.out_fps
    if not frames:
        raise video_error(path, "no frame could be decoded")
    return np.stack(frames), out_fps


def probe_video(path: str | Path) -> dict:
    """What a video holds, from its header and first frame: ``frames`` (exact when the container says,
    else estimated from duration x fps), ``fps``, ``width``, ``height`` (as displayed, after rotation),
    ``duration`` (seconds), ``codec``, ``format``, ``rotation``, ``still_image``. VidsynthError if it
    cannot be decoded."""
    with VideoReader(path) as reader:
        info = dict(reader.info)
    if info["frames"] == 0 and info["fps"] and info["duration"]:
        info["frames"] = int(math.floor(info["duration"] * info["fps"] + 0.5))
    return info
