"""``builtin:bouncing-balls``: Sutskever's bouncing-balls generator (the data of Monteiro et al. 2018).

The generator follows the original RTRBM code (as used by Srivastava et al. and zhegan27/TSBN_code_NIPS2015),
rewritten here from its description:

* a square box of side 10; ``n`` balls (default 3) of radius 1.2 and mass 1;
* initial velocities ``randn(n, 2)`` scaled so the whole ``n x 2`` matrix has norm 0.5 (total kinetic
  energy is therefore always 0.125); initial positions ``2 + 8 * rand`` per coordinate, drawn again
  until every ball is inside the box and no two overlap;
* per frame: record the positions, then 2 sub-steps of ``x += 0.5 v``; after each sub-step a ball past
  a wall gets the velocity component pointing back in (a reflection), and each pair closer than the sum
  of radii exchanges the velocity components along the line between their centres (a 1-D elastic
  collision of equal masses);
* rendering: pixel ``(row, col)`` has centre ``((row + 0.5)/res * 10, (col + 0.5)/res * 10)``;
  intensity ``sum_i exp(-(d_i^2 / r^2)^4)``, clipped at 1; grayscale.

Overlap: like the original, a collision is only noticed after the sub-step that made two balls overlap,
and the exchange does not check that they were approaching. So balls touching interpenetrate by up to
one sub-step of their relative travel (at most ``DT * sqrt(2) * SPEED`` = 0.354 box units; over 300
clips of 100 frames at the defaults the deepest was 0.32, 13% of a diameter), for one frame in 98% of
contacts; rarely (4 of 1177 contacts there) a pair whose exchange leaves it still overlapping stays
stuck together for a few frames (at most 20 seen) before it separates. The initial placement never
overlaps.

Options (``builtin:bouncing-balls?balls=2&radius=0.8``): ``balls`` 1..10, ``radius`` 0.5..3.0 box
units (the box is 10 x 10, so 1.2 is 12% of the frame width), ``seed`` >= 0, ``train_clips`` and
``test_clips`` >= 0. More balls only fit when they are smaller: a count whose random placement
(redrawn until no two overlap) would succeed less than 0.3% of the time is refused, with the largest
count that fits; at the default radius 1.2 that is 5.

Positions are ``(x, y)`` = (column axis, row axis) in box units. Each clip is generated on the fly from
its own seed, ``SeedSequence([seed, split, index])``: the same index gives the same clip on every run,
and train (split 0) and test (split 1) clips come from disjoint seed streams. ``simulate`` returns the
true trajectories, for validating detectors and motion statistics on rendered clips.
"""

from __future__ import annotations

import functools
import numbers
from dataclasses import dataclass
from typing import Any

import numpy as np

from vidsynth.data.generated import GeneratedClips, clip_rng, whole_option
from vidsynth.errors import VidsynthError

BOX = 10.0
RADIUS = 1.2
SPEED = 0.5  # norm of the n x 2 initial velocity matrix
SUBSTEPS = 2
DT = 0.5
DEFAULT_CLIPS = {"train": 4000, "test": 200}
BALLS = 3
MAX_BALLS = 10
RADII = (0.5, 3.0)  # box units: below, a ball is under 1.5 pixels at 30x30; above, two no longer fit
MAX_CLIPS = 10**9
MIN_PLACEMENT_RATE = 0.003  # of random placements without overlap: _place's 10,000 tries then fail < e^-30
NAME = "builtin:bouncing-balls"


@dataclass
class Trajectory:
    """Ground truth of one simulation: ``positions`` and ``velocities`` ``[T, n, 2]`` at each frame."""

    positions: np.ndarray
    velocities: np.ndarray
    radius: float
    box: float

    def kinetic_energy(self) -> np.ndarray:
        """Total kinetic energy ``sum 1/2 m |v|^2`` (m = 1) at each frame, ``[T]``."""
        return 0.5 * (self.velocities**2).sum(axis=(1, 2))


def _rng(seed: int | np.random.Generator | None) -> np.random.Generator:
    return seed if isinstance(seed, np.random.Generator) else np.random.default_rng(seed)


def _place(rng: np.random.Generator, balls: int, radius: float, box: float) -> np.ndarray:
    for _ in range(10_000):
        x = box * (0.2 + 0.8 * rng.random((balls, 2)))  # 2 + 8 rand for the box of 10
        inside = np.all(x - radius >= 0) and np.all(x + radius <= box)
        i, j = np.triu_indices(balls, k=1)
        if inside and np.all(np.linalg.norm(x[i] - x[j], axis=-1) >= 2 * radius):
            return x
    raise VidsynthError(f"cannot place {balls} balls of radius {radius} in a box of {box} without overlap")


@functools.lru_cache(maxsize=None)
def placement_rate(balls: int, radius: float, box: float = BOX, draws: int = 20_000) -> float:
    """The fraction of ``_place``'s random draws that succeed (inside the box, no overlap), estimated
    from ``draws`` draws of a fixed seed: the same answer on every run."""
    x = box * (0.2 + 0.8 * np.random.default_rng(0).random((draws, balls, 2)))
    ok = np.all(x - radius >= 0, axis=(1, 2)) & np.all(x + radius <= box, axis=(1, 2))
    i, j = np.triu_indices(balls, k=1)
    if len(i):
        ok &= np.all(np.linalg.norm(x[:, i] - x[:, j], axis=-1) >= 2 * radius, axis=1)
    return float(ok.mean())


def max_balls(radius: float) -> int:
    """The most balls of ``radius`` (at most ``MAX_BALLS``) that the generator places reliably."""
    n = 1
    while n < MAX_BALLS and placement_rate(n + 1, radius) >= MIN_PLACEMENT_RATE:
        n += 1
    return n


def _whole(name: str, value: Any, low: int, high: int) -> int:
    return whole_option(NAME, name, value, low, high)


def check_options(balls: Any = BALLS, radius: Any = RADIUS, seed: Any = 0, train_clips: Any = DEFAULT_CLIPS["train"],
                  test_clips: Any = DEFAULT_CLIPS["test"]) -> dict[str, Any]:
    """The generator's options, validated: VidsynthError naming the option and its valid range."""
    if not (isinstance(radius, numbers.Real) and not isinstance(radius, bool) and RADII[0] <= radius <= RADII[1]):
        raise VidsynthError(f"{NAME}: radius must be a number in {RADII[0]:g}..{RADII[1]:g} (box units; the box "
                            f"is {BOX:g} wide), got {radius!r}")
    radius = float(radius)
    balls = _whole("balls", balls, 1, MAX_BALLS)
    if placement_rate(balls, radius) < MIN_PLACEMENT_RATE:
        raise VidsynthError(f"{NAME}: balls must be in 1..{max_balls(radius)} for radius {radius:g} (more do not "
                            f"fit in the {BOX:g} x {BOX:g} box without overlapping), got {balls}")
    return {
        "balls": balls, "radius": radius, "seed": _whole("seed", seed, 0, 2**63 - 1),
        "train_clips": _whole("train_clips", train_clips, 0, MAX_CLIPS),
        "test_clips": _whole("test_clips", test_clips, 0, MAX_CLIPS),
    }


def canonical_source(options: dict[str, Any]) -> str:
    """``builtin:bouncing-balls`` with the options that differ from the defaults, in a fixed order."""
    defaults = check_options()
    changed = [f"{key}={value}" for key, value in options.items() if value != defaults[key]]
    return NAME + ("?" + "&".join(changed) if changed else "")


def simulate(frames: int = 30, balls: int = 3, *, radius: float = RADIUS, box: float = BOX,
             seed: int | np.random.Generator | None = 0, positions: np.ndarray | None = None,
             velocities: np.ndarray | None = None) -> Trajectory:
    """Simulate ``balls`` bouncing balls for ``frames`` frames; returns the true trajectories.

    The initial state is drawn from ``seed`` as in the original generator, or given as ``positions``
    and ``velocities`` ``[balls, 2]`` (for tests and hand-made scenes)."""
    if frames < 1 or balls < 1:
        raise VidsynthError(f"frames and balls must be at least 1, got {frames} and {balls}")
    rng = _rng(seed)
    if velocities is None:
        v = rng.standard_normal((balls, 2))
        v = v / np.linalg.norm(v) * SPEED
    else:
        v = np.array(velocities, dtype=np.float64).reshape(balls, 2)
    x = _place(rng, balls, radius, box) if positions is None else np.array(positions, np.float64).reshape(balls, 2)
    positions = np.empty((frames, balls, 2))
    velocities = np.empty((frames, balls, 2))
    # The state as python floats: the same IEEE operations as on numpy arrays of two numbers (so the same
    # trajectories, bit for bit: tests/test_data_builtins.py), without numpy's per-call cost (~2x faster per clip).
    xs, vs = [list(map(float, row)) for row in x], [list(map(float, row)) for row in v]
    touch = 2 * radius
    far = (touch * (1 + 1e-6)) ** 2  # squared distances beyond this are surely >= touch: no hypot needed
    for t in range(frames):
        positions[t], velocities[t] = xs, vs
        for _ in range(SUBSTEPS):
            for p, u in zip(xs, vs):
                for c in (0, 1):
                    p[c] = p[c] + DT * u[c]
                    if p[c] - radius < 0:  # walls: the component must point back inside
                        u[c] = abs(u[c])
                    if p[c] + radius > box:
                        u[c] = -abs(u[c])
            for i in range(balls):
                for j in range(i):
                    w0, w1 = xs[i][0] - xs[j][0], xs[i][1] - xs[j][1]
                    if w0 * w0 + w1 * w1 > far:
                        continue
                    dist = np.hypot(w0, w1)
                    if 0 < dist < touch:
                        w = np.array([w0, w1]) / dist
                        vi_, vj_ = np.array(vs[i]), np.array(vs[j])
                        vi, vj = w @ vi_, w @ vj_
                        # equal masses: the components along the centre line are exchanged
                        vs[i] = (vi_ + w * (vj - vi)).tolist()
                        vs[j] = (vj_ + w * (vi - vj)).tolist()
    return Trajectory(positions, velocities, radius, box)


def render(positions: np.ndarray, size: int, *, radius: float = RADIUS, box: float = BOX) -> np.ndarray:
    """Render positions ``[T, n, 2]`` into intensities ``float32 [T, size, size]`` in [0, 1]."""
    # float32 and in-place powers: 7x faster than the float64 expression, within 2e-6 of it
    centres = ((np.arange(size) + 0.5) / size * box).astype(np.float32)
    p = np.asarray(positions, np.float32)
    dx2 = ((centres[None, None, :] - p[:, :, 0, None]) / radius) ** 2  # [T, n, W]: column distance
    dy2 = ((centres[None, None, :] - p[:, :, 1, None]) / radius) ** 2  # [T, n, H]: row distance
    q = dy2[:, :, :, None] + dx2[:, :, None, :]  # [T, n, H, W] = d^2 / r^2
    q *= q
    q *= q  # (d^2 / r^2)^4
    np.exp(np.negative(q, out=q), out=q)
    return np.minimum(q.sum(axis=1), 1.0)


def make_clip(frames: int, size: int, balls: int = 3, *, seed: int = 0, split: str = "train", index: int = 0,
              radius: float = RADIUS) -> tuple[np.ndarray, Trajectory]:
    """One clip ``uint8 [frames, size, size, 1]`` and its trajectory."""
    trajectory = simulate(frames, balls, radius=radius, seed=clip_rng(seed, split, index))
    image = render(trajectory.positions, size, radius=radius)
    return np.rint(image * 255).astype(np.uint8)[..., None], trajectory


class BouncingBalls(GeneratedClips):
    """Bouncing-balls clips generated on the fly; ``trajectory(i)`` gives the ground truth of clip ``i``."""

    dataset_name = NAME

    def __init__(self, *, frames: int = 30, size: int = 30, channels: int = 3, split: str = "train",
                 augment: bool = False, balls: int = 3, seed: int = 0, train_clips: int = DEFAULT_CLIPS["train"],
                 test_clips: int = DEFAULT_CLIPS["test"], radius: float = RADIUS) -> None:
        self._set_shape(frames, size, channels, split, augment)
        self.options = check_options(balls, radius, seed, train_clips, test_clips)
        self.balls, self.seed, self.radius = self.options["balls"], self.options["seed"], self.options["radius"]
        self._set_counts(self.options["train_clips"], self.options["test_clips"])

    def trajectory(self, index: int) -> Trajectory:
        """The true positions and velocities behind clip ``index`` (before any augmentation)."""
        s, i = self.locate(index)
        return simulate(self.frames, self.balls, radius=self.radius, seed=clip_rng(self.seed, s, i))

    def make(self, index: int) -> np.ndarray:
        s, i = self.locate(index)
        return make_clip(self.frames, self.size, self.balls, seed=self.seed, split=s, index=i, radius=self.radius)[0]

    def describe(self) -> dict[str, Any]:
        return {
            "kind": "builtin", "source": canonical_source(self.options), "split": self.split, "clips": len(self),
            "frames": self.frames, "size": self.size, "channels": self.channels, "fps": None, "balls": self.balls,
            "seed": self.seed, "radius": self.radius, "box": BOX, "counts": dict(self.counts), "augment": self.augment,
        }


def open_bouncing_balls(*, frames: int = 30, size: int = 30, channels: int = 3, split: str = "train",
                        fps: float | None = None, augment: bool = False, balls: int = 3, seed: int = 0,
                        train_clips: int = DEFAULT_CLIPS["train"], test_clips: int = DEFAULT_CLIPS["test"],
                        radius: float = RADIUS, cache_dir: Any = None, workers: Any = None,
                        progress: bool = True, **unknown: Any) -> BouncingBalls:
    """The ``builtin:bouncing-balls`` factory (options: ``builtin:bouncing-balls?balls=3&radius=1.2&seed=0``).

    ``fps`` has no meaning for a simulation and is refused; the cache and worker options are accepted
    and unused (clips are generated on the fly, a few milliseconds each at 64x64)."""
    if unknown:
        raise VidsynthError(
            f"{NAME} has no option {sorted(unknown)[0]!r}; its options are balls (1..{MAX_BALLS}), radius "
            f"({RADII[0]:g}..{RADII[1]:g}), seed (0 or more), train_clips and test_clips (0..{MAX_CLIPS})"
        )
    if fps is not None:
        raise VidsynthError("builtin:bouncing-balls is a simulation with no frame rate; leave --fps unset")
    return BouncingBalls(frames=frames, size=size, channels=channels, split=split, augment=augment, balls=balls,
                         seed=seed, train_clips=train_clips, test_clips=test_clips, radius=radius)
