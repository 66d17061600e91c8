"""Clip sources: the torch ``Dataset`` every trainer reads from.

A ``ClipSource`` is a plain map-style dataset (so ``DataLoader``, ``DistributedSampler`` and worker
processes work as usual): ``len(ds)``, ``ds[i]`` -> ``torch.uint8 [T, H, W, C]``, and ``ds.describe()``
-> a JSON-able dict for ``config.json``. Conversion to the model's float range happens later, in one
place (``vidsynth.tensors.clips_to_model``).

Augmentation (``augment=True``) draws from torch's RNG, which the trainer seeds and DataLoader seeds
per worker: a random horizontal flip, and a random temporal offset when the stored clips are longer
than the requested ``frames``. Without it, item ``i`` is always the same clip (its first ``frames``).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch.utils.data import Dataset, get_worker_info

from vidsynth.data.manifest import Manifest
from vidsynth.data.shards import open_shard
from vidsynth.errors import VidsynthError

LUMA = np.array([0.299, 0.587, 0.114], np.float32)  # ITU-R 601, as Pillow's "L" and libswscale's gray


def adapt_channels(clip: np.ndarray, channels: int) -> np.ndarray:
    """``[..., C]`` uint8 with C in {1, 3} -> ``channels`` (gray is replicated; RGB becomes luma)."""
    have = clip.shape[-1]
    if have == channels:
        return clip
    if have == 1:
        return np.repeat(clip, 3, axis=-1)
    return np.clip(np.rint(clip.astype(np.float32) @ LUMA), 0, 255).astype(np.uint8)[..., None]


def collate_clips(batch: list[torch.Tensor]) -> torch.Tensor:
    """Stack clips into ``uint8 [B, T, H, W, C]`` with numpy: a drop-in ``collate_fn`` for DataLoader.

    The default collate calls ``torch.stack``, which on a busy machine can stall in OpenMP thread
    contention: on our shared 2-core box a batch of 32 clips of 30x64x64x3 took 0.2-0.6 s that way and
    ~35 ms (reading included) this way (benchmarks/RESULTS.md)."""
    arrays = [clip.numpy() for clip in batch]
    out = torch.empty((len(arrays), *arrays[0].shape), dtype=torch.uint8)
    if get_worker_info() is not None:
        out.share_memory_()  # in a DataLoader worker: hand the batch over without pickling its bytes
    np.stack(arrays, out=out.numpy())
    return out


class ClipSource(Dataset):
    """The base of every dataset vidsynth trains on. Subclasses implement ``__len__``, ``clip(i)`` (a
    numpy ``uint8 [T', H, W, C]`` with ``T' >= frames``) and ``describe``."""

    frames: int
    size: int
    channels: int
    split: str
    augment: bool = False

    def __len__(self) -> int:  # pragma: no cover - abstract
        raise NotImplementedError

    def clip(self, index: int) -> np.ndarray:  # pragma: no cover - abstract
        raise NotImplementedError

    def describe(self) -> dict[str, Any]:  # pragma: no cover - abstract
        raise NotImplementedError

    def __getitem__(self, index: int) -> torch.Tensor:
        if not -len(self) <= index < len(self):
            raise IndexError(f"clip {index} out of range for {len(self)} clips")
        clip = self.clip(index % len(self))
        extra = clip.shape[0] - self.frames
        offset = 0
        if self.augment and extra > 0:
            offset = int(torch.randint(extra + 1, ()).item())
        clip = clip[offset : offset + self.frames]
        if self.augment and torch.rand(()).item() < 0.5:
            clip = clip[:, :, ::-1]
        return torch.from_numpy(adapt_channels(np.ascontiguousarray(clip), self.channels).copy())


class CachedClips(ClipSource):
    """Clips of a prepared cache (a folder with ``manifest.json``), memory-mapped from its shards.

    Opening checks the split's shards (present and long enough; read and checksummed when they changed
    since ``prepare`` sealed them) and raises ``DamagedCache`` naming the first bad one.

    The stored clips must have the requested ``size``; they may be longer than ``frames`` (a window of
    ``frames`` is taken); 1 and 3 channels convert either way.
    """

    def __init__(self, folder: str | Path, *, frames: int | None = None, size: int | None = None, channels: int | None = None,
                 split: str = "train", augment: bool = False, fps: float | None = None, source: str | None = None) -> None:
        self.folder = Path(folder)
        manifest = Manifest.load(self.folder)
        params = manifest.params
        self.stored_shape = manifest.clip_shape
        self.frames = params.frames if frames is None else int(frames)
        self.size = params.size if size is None else int(size)
        self.channels = params.channels if channels is None else int(channels)
        self.split, self.augment = split, augment
        if self.size != params.size:
            raise VidsynthError(
                f"the cache {self.folder} holds {params.size}x{params.size} clips, not {self.size}x{self.size}; "
                f"prepare another with --size {self.size}"
            )
        if self.frames > params.frames:
            raise VidsynthError(
                f"the cache {self.folder} holds {params.frames}-frame clips, fewer than the {self.frames} asked for; "
                f"prepare another with --frames {self.frames}"
            )
        if self.channels not in (1, 3):
            raise VidsynthError(f"channels must be 1 or 3, got {self.channels}")
        if fps is not None and (params.fps is None or abs(params.fps - fps) > 1e-6):
            stored = f"{params.fps:g} fps" if params.fps else "each video's own frame rate"
            raise VidsynthError(f"the cache {self.folder} was prepared at {stored}, not {fps:g} fps; prepare another with --fps {fps:g}")
        ranges = manifest.clip_ranges(split)
        self._shard_names = sorted({shard for shard, _, _ in ranges})
        self._shard_clips = {name: manifest.shards[name]["clips"] for name in self._shard_names}
        shard_index = {name: i for i, name in enumerate(self._shard_names)}
        self._range_shard = np.array([shard_index[s] for s, _, _ in ranges], np.int32)
        self._range_start = np.array([start for _, start, _ in ranges], np.int64)
        self._range_end = np.cumsum([count for _, _, count in ranges], dtype=np.int64)
        self._paths = [manifest.shard_path(name) for name in self._shard_names]
        from vidsynth.data.integrity import check_shards, damaged_error, note_unverified

        problems = check_shards(manifest, self._shard_names, "changed")
        if problems:
            raise damaged_error(manifest, problems)
        note_unverified(manifest, self._shard_names)
        self._maps: dict[int, np.ndarray] = {}
        self._info = {
            "kind": "cache",
            "source": source or str(self.folder),
            "cache": str(self.folder.resolve()),
            "key": manifest.data["key"],
            "split": split,
            "clips": int(self._range_end[-1]) if len(ranges) else 0,
            "frames": self.frames,
            "size": self.size,
            "channels": self.channels,
            "stored_clip_shape": list(self.stored_shape),
            "fps": params.fps,
            "stride": params.stride,
            "fit": params.fit,
            "test_fraction": params.test_fraction,
            "counts": dict(manifest.recount()),
            "augment": augment,
        }

    def __len__(self) -> int:
        return int(self._range_end[-1]) if len(self._range_end) else 0

    def __getstate__(self) -> dict[str, Any]:  # DataLoader workers re-open their own memory maps
        state = dict(self.__dict__)
        state["_maps"] = {}
        return state

    def _shard(self, i: int) -> np.ndarray:
        array = self._maps.get(i)
        if array is None:
            name = self._shard_names[i]
            try:
                array = open_shard(self._paths[i], self.stored_shape, self._shard_clips[name])
            except (OSError, ValueError) as exc:
                raise VidsynthError(f"cannot read shard {self._paths[i]}: {exc}") from None
            self._maps[i] = array
        return array

    def clip(self, index: int) -> np.ndarray:
        r = int(np.searchsorted(self._range_end, index, side="right"))
        before = int(self._range_end[r - 1]) if r else 0
        return self._shard(int(self._range_shard[r]))[int(self._range_start[r]) + index - before]

    def describe(self) -> dict[str, Any]:
        return dict(self._info, augment=self.augment)
