"""What a user chooses for ``vidsynth eval``, and the checks on it that need no torch (so the CLI can
refuse a bad choice before it imports torch and loads the run)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

from vidsynth.errors import VidsynthError


@dataclass
class EvalOptions:
    """What ``vidsynth eval`` lets a user choose (see its --help)."""

    n: int | None = None  # test clips to evaluate (None: all)
    batch_size: int = 16
    seed: int = 0
    mean: bool = False  # the model's deterministic best guess (e.g. z = 0), passed to generate
    samples: int = 1  # conditional models: score the pixel mean of this many samples per condition
    context: int | None = None
    horizon: int | None = None
    detector: str | None = None  # I3D TorchScript file -> FVD
    inception: str | None = None  # Inception TorchScript file -> FID
    fvd_frames: int = 16
    metrics: Sequence[str] | None = None  # only these metrics (default: every applicable one)
    seed001_interpolation: bool = False
    flow: bool | None = None  # None: the flow baseline when OpenCV is installed
    videos: int = 4  # clips shown in the comparison video


def check_samples(samples: int, mean: bool, conditional: bool) -> None:
    """``--samples K`` averages K samples of a conditional model: K >= 1, and K > 1 neither with ``--mean``
    (one deterministic output) nor for an unconditional model (nothing to average towards)."""
    if samples < 1:
        raise VidsynthError(f"--samples must be at least 1, got {samples}")
    if samples > 1 and (mean or not conditional):
        raise VidsynthError("--samples averages samples of a conditional model; it does not combine with "
                            + ("--mean" if mean else "an unconditional one"))
