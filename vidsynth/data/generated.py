"""What the datasets made on the fly share (``builtin:bouncing-balls``, ``builtin:camera-motion``).

Clip ``i`` of a split is drawn from its own random stream (seed, split, i), so a clip is the same whichever
clips were drawn before it, train and test never share a stream, and a run or an eval is reproducible.
Options (``builtin:NAME?key=value``) are checked with one-line errors that name the dataset, the option and
its range.

Because clip ``i`` is a pure function of the options and ``i``, each process keeps the clips it made (up to
``GeneratedClips.memory_bytes``, shared out between DataLoader workers): a training run of several epochs
simulates each clip once instead of once per epoch. Kept clips are read-only arrays.
"""

from __future__ import annotations

import numbers
from typing import Any

import numpy as np
from torch.utils.data import get_worker_info

from vidsynth.data.dataset import ClipSource
from vidsynth.errors import VidsynthError

SPLIT_CODES = {"train": 0, "test": 1}


def clip_rng(seed: int, split: str, index: int) -> np.random.Generator:
    """The generator of clip ``index`` of ``split``: independent streams for train and test."""
    return np.random.default_rng(np.random.SeedSequence([int(seed), SPLIT_CODES[split], int(index)]))


def whole_option(dataset: str, name: str, value: Any, low: int, high: int) -> int:
    """``value`` as an int in ``low..high``, else a one-line error naming ``dataset`` and the option."""
    if isinstance(value, numbers.Real) and not isinstance(value, bool) and float(value).is_integer() \
            and low <= value <= high:
        return int(value)
    raise VidsynthError(f"{dataset}: {name} must be a whole number in {low}..{high}, got {value!r}")


def number_option(dataset: str, name: str, value: Any, low: float, high: float) -> float:
    """``value`` as a float in ``low..high``, else a one-line error naming ``dataset`` and the option."""
    if isinstance(value, numbers.Real) and not isinstance(value, bool) and low <= value <= high:
        return float(value)
    raise VidsynthError(f"{dataset}: {name} must be a number in {low:g}..{high:g}, got {value!r}")


class GeneratedClips(ClipSource):
    """A dataset whose clips are made on the fly: ``counts[split]`` clips per split, ``locate(i)`` maps a
    dataset index to (split, index within it). Subclasses call ``_set_shape`` and ``_set_counts`` in their
    ``__init__`` and implement ``make`` (clip ``i``, kept in memory by ``clip``) and ``describe``."""

    dataset_name = "a generated dataset"
    #: Bytes of made clips one process keeps (divided between DataLoader workers). 256 MiB holds every
    #: train clip of the small presets' bouncing balls (4,000 x 16 x 32 x 32: 64 MiB).
    memory_bytes = 256 * 2**20

    def make(self, index: int) -> np.ndarray:  # pragma: no cover - abstract
        """Make clip ``index`` (``uint8 [frames, size, size, C]``) from its own random stream."""
        raise NotImplementedError

    def clip(self, index: int) -> np.ndarray:
        kept = self.__dict__.setdefault("_kept", {})
        made = kept.get(index)
        if made is None:
            made = self.make(index)
            used = self.__dict__.get("_kept_bytes", 0) + made.nbytes
            worker = get_worker_info()
            if used <= self.memory_bytes // (worker.num_workers if worker is not None else 1):
                made.setflags(write=False)  # a caller that writes into a clip must copy it (ClipSource does)
                kept[index] = made
                self._kept_bytes = used
        return made

    def __getstate__(self) -> dict[str, Any]:  # DataLoader workers (and pickles) start with no kept clips
        state = dict(self.__dict__)
        state.pop("_kept", None)
        state.pop("_kept_bytes", None)
        return state

    def _set_shape(self, frames: int, size: int, channels: int, split: str, augment: bool) -> None:
        if split not in ("train", "test", "all"):
            raise VidsynthError(f"unknown split {split!r}; use train, test or all")
        if channels not in (1, 3):
            raise VidsynthError(f"channels must be 1 or 3, got {channels}")
        for name, value in (("frames", frames), ("size", size)):
            if not (isinstance(value, (int, np.integer)) and value >= 1):
                raise VidsynthError(f"{self.dataset_name}: {name} must be a positive integer, got {value!r}")
        self.frames, self.size, self.channels, self.split, self.augment = int(frames), int(size), channels, split, augment
        self._splits = ["train", "test"] if split == "all" else [split]

    def _set_counts(self, train_clips: int, test_clips: int) -> None:
        self.counts = {"train": train_clips, "test": test_clips}

    def __len__(self) -> int:
        return sum(self.counts[s] for s in self._splits)

    def locate(self, index: int) -> tuple[str, int]:
        """``(split, index within that split)`` of a dataset index."""
        for s in self._splits:
            if 0 <= index < self.counts[s]:
                return s, index
            index -= self.counts[s]
        raise IndexError(index)
