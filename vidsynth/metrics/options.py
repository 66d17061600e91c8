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
    penington_interpolation: bool = False
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


def parse_size(text: str | None) -> int | None:
    """``--size N`` or ``--size NxN``: the square frame size eval reads the data at (None: the model's)."""
    if text is None:
        return None
    parts = text.lower().split("x")
    try:
        numbers = [int(p) for p in parts]
    except ValueError:
        numbers = []
    if len(numbers) not in (1, 2) or min(numbers) < 1:
        raise VidsynthError(f"--size takes N or WxH in pixels (e.g. 64 or 64x64), got {text!r}")
    if len(numbers) == 2 and numbers[0] != numbers[1]:
        raise VidsynthError(f"--size {text}: vidsynth models and data use square frames; use {numbers[0]}x{numbers[0]}"
                            f" or {numbers[1]}x{numbers[1]}")
    return numbers[0]


def check_eval_size(plugin: object, trained: int, size: int | None) -> None:
    """Evaluating at another size than the model's needs a plugin that samples at any size: one that sets
    ``supports_any_size = True`` (its ``sample`` then follows the config's ``size``). Nothing is resized
    behind the model's back: an upsampled output would be scored as if the model had made it."""
    if size is None or size == trained or getattr(plugin, "supports_any_size", False):
        return
    name = getattr(plugin, "name", type(plugin).__name__)
    raise VidsynthError(f"plugin {name} samples only at its training size {trained}x{trained} (it does not declare "
                        f"supports_any_size); drop --size {size} or use --size {trained}")


def default_split(data: str, trained_on: str | None) -> str:
    """The split eval reads when ``--split`` is not given: ``test``, except for a folder or cache that is
    not the data the run trained on (``trained_on``, from its config.json): none of its clips were seen in
    training, so all of them are held out. (A ``builtin:`` source keeps its test split, a separate stream.)"""
    if data.startswith("builtin:") or not trained_on:
        return "test"
    if data == trained_on:
        return "test"
    try:
        from pathlib import Path

        if Path(data).expanduser().resolve() == Path(trained_on).expanduser().resolve():
            return "test"
    except (OSError, RuntimeError):
        pass
    return "all"
