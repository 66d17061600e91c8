"""Preparing a clip cache: a folder of videos -> ``uint8`` clip shards + ``manifest.json``.

    prepare_cache("videos/", "cache/", CacheParams(frames=30, size=64), workers=4)

How it stays fast, flat and safe:

* **Streaming.** Each worker process decodes one video at a time through ``VideoReader`` (frames are
  resized by libswscale as they are decoded), keeps only the last ``frames`` frames, and appends each
  finished clip to its own shard file. Memory is a few clips per worker, whatever the folder holds.
* **Resumable and idempotent.** The manifest lists a source once its clips are on disk, with the
  file's size and mtime; skipped files are recorded the same way. A re-run decodes only new or changed
  files; after a crash, shards are cut back to the last committed clip (:func:`recover`).
* **Keyed.** The cache key hashes the source folder and the parameters: an existing cache with other
  parameters is never written into.
* **Split by source.** A video's split comes from a hash of its relative path, so every clip of a video
  lands in the same split, identically on every machine; ``--shard I/N`` uses another hash of the same
  path, so N machines can each prepare a disjoint part and ``merge_caches`` joins them.
* **Bad files are data, not crashes.** Anything that cannot give a clip (empty, not a video, audio-only,
  truncated before the first clip, still image, too short, frames too large) is skipped with its reason;
  a decoder that crashes its process costs that one file, not the run.
"""

from __future__ import annotations

import contextlib
import multiprocessing as mp
import os
import signal
import sys
import time
from collections import deque
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterator

import numpy as np

from vidsynth.data.manifest import CHECKSUM, MANIFEST, SHARDS_DIR, CacheParams, Manifest, cache_key, part_for, split_for
from vidsynth.data.shards import CacheWriteError, ShardWriter, hash_shard, seal_shard
from vidsynth.errors import VidsynthError
from vidsynth.io.video import VIDEO_EXTENSIONS, VideoReader, VideoReadError

SHARD_BYTES = 256 * 2**20  # a new shard file every ~256 MB
MAX_PIXELS = 8192 * 8192  # frames larger than this are skipped before decoding (16K video and beyond)
CACHE_ENV = "VIDSYNTH_CACHE"


def default_cache_root() -> Path:
    """``$VIDSYNTH_CACHE``, else ``~/.cache/vidsynth``."""
    env = os.environ.get(CACHE_ENV)
    return Path(env).expanduser() if env else Path.home() / ".cache" / "vidsynth"


def _slug(name: str) -> str:
    keep = "".join(c if c.isalnum() or c in "-_" else "-" for c in name).strip("-")
    return keep[:40] or "source"


def auto_cache_dir(source: Path, params: CacheParams, cache_root: Path | None = None) -> Path:
    """Where ``open_clips`` keeps the prepared cache of a raw folder: ``ROOT/clips/NAME-KEY``."""
    key = cache_key(str(Path(source).resolve()), params)
    return Path(cache_root or default_cache_root()) / "clips" / f"{_slug(Path(source).resolve().name)}-{key}"


def parse_part(text: str | None) -> tuple[int, int] | None:
    """``"2/4"`` -> ``(2, 4)``: the 2nd of 4 disjoint parts (1-based)."""
    if text is None:
        return None
    try:
        index, total = (int(x) for x in str(text).split("/"))
    except ValueError:
        raise VidsynthError(f"--shard wants I/N, e.g. 1/4, got {text!r}") from None
    if not 1 <= index <= total:
        raise VidsynthError(f"--shard {text}: I must be between 1 and N")
    return index, total


# -- listing sources ---------------------------------------------------------------------------------
def list_sources(root: Path, exclude: Path | None = None) -> tuple[dict[str, Path], list[str]]:
    """Video files under ``root`` by relative POSIX path, and the other (ignored) files.

    Hidden files and folders (``.name``) and ``exclude`` (a cache inside the source folder) are passed over.
    """
    root = Path(root)
    if root.is_file():
        return {root.name: root}, []
    videos: dict[str, Path] = {}
    ignored: list[str] = []
    exclude_resolved = exclude.resolve() if exclude is not None else None
    for folder, dirs, names in os.walk(root):
        here = Path(folder)
        dirs[:] = sorted(d for d in dirs if not d.startswith(".") and (here / d).resolve() != exclude_resolved)
        for name in sorted(names):
            if name.startswith("."):
                continue
            path = here / name
            rel = path.relative_to(root).as_posix()
            if path.suffix.lower() in VIDEO_EXTENSIONS:
                videos[rel] = path
            else:
                ignored.append(rel)
    return videos, ignored


def survey_sources(source: str | os.PathLike, params: CacheParams, max_pixels: int = MAX_PIXELS) -> dict[str, Any]:
    """What ``prepare_cache(source, ..., params)`` would make, without writing anything: each video is
    opened (header and first frame, as ``prepare`` does) and its clips counted from the frame count the
    container reports, so the clip counts are estimates."""
    source = Path(source)
    if not source.exists():
        raise VidsynthError(f"no such file or folder: {source}")
    videos, ignored = list_sources(source)
    unreadable: dict[str, str] = {}
    too_short: dict[str, int] = {}
    estimate = {"train": 0, "test": 0, "sources_train": 0, "sources_test": 0}
    for rel, path in videos.items():
        try:
            with VideoReader(path, threads=None, max_pixels=max_pixels) as reader:
                info = reader.info
        except VideoReadError as exc:
            unreadable[rel] = exc.reason
            continue
        if info["still_image"]:
            unreadable[rel] = f"a still image ({info['codec']}), not a video"
            continue
        frames = info["frames"]
        if params.fps and info["duration"]:
            frames = int(info["duration"] * params.fps)
        clips = (frames - params.frames) // params.stride + 1 if frames >= params.frames else 0
        if clips == 0:
            too_short[rel] = frames
            continue
        split = split_for(rel, params.test_fraction)
        estimate[split] += clips
        estimate[f"sources_{split}"] += 1
    estimate["clips"] = estimate["train"] + estimate["test"]
    return {
        "kind": "videos", "path": str(source), "params": params.as_dict(), "videos": len(videos),
        "readable": len(videos) - len(unreadable), "unreadable": unreadable, "too_short": too_short,
        "ignored": len(ignored), "estimated": estimate,
    }


def _stat(path: Path) -> tuple[int, int]:
    st = path.stat()
    return st.st_size, st.st_mtime_ns


# -- one source video -> clips -------------------------------------------------------------------------
class _Writers:
    """The shard writers of one worker: one per split, named by run and worker so nothing collides."""

    def __init__(self, folder: Path, run: int, worker: int, params: CacheParams, clips_per_shard: int) -> None:
        self.by_split = {
            split: ShardWriter(folder / SHARDS_DIR, f"{split}-r{run:03d}-w{worker:02d}", params.clip_shape, clips_per_shard)
            for split in ("train", "test")
        }

    def close(self) -> None:
        for writer in self.by_split.values():
            writer.close()


@dataclass
class _Task:
    rel: str
    path: str
    split: str
    size: int
    mtime_ns: int


def process_source(task: _Task, writers: _Writers, params: CacheParams, max_pixels: int,
                   threads: str | None = "auto") -> tuple[str, Any]:
    """Decode one video into clips appended to the split's shard. Returns ``("done", entry)`` or
    ``("skip", reason)``. A decode error after some clips keeps those clips (with a note)."""
    writer = writers.by_split[task.split]
    ranges: list[list[Any]] = []
    note = None
    window: deque[np.ndarray] = deque(maxlen=params.frames)
    decoded = 0
    try:
        with VideoReader(task.path, size=params.size, fps=params.fps, fit=params.fit, channels=params.channels,
                         threads=threads, max_pixels=max_pixels) as reader:
            info = reader.info
            if info["still_image"]:
                return "skip", f"a still image ({info['codec']}), not a video"
            try:
                for frame in reader:
                    window.append(frame)
                    decoded += 1
                    if decoded >= params.frames and (decoded - params.frames) % params.stride == 0:
                        shard, index = writer.append(np.stack(window))
                        if ranges and ranges[-1][0] == shard and ranges[-1][1] + ranges[-1][2] == index:
                            ranges[-1][2] += 1
                        else:
                            ranges.append([f"{SHARDS_DIR}/{shard}", index, 1])
            except VideoReadError as exc:
                reason = exc.reason
                if not ranges:
                    return "skip", reason
                note = f"stopped after {decoded} frames: {reason}"
    except VideoReadError as exc:
        return "skip", exc.reason
    if not ranges:
        return "skip", f"too short: {decoded} frames{' at %g fps' % params.fps if params.fps else ''}, a clip needs {params.frames}"
    writer.sync()
    clips = sum(r[2] for r in ranges)
    prefix = len(SHARDS_DIR) + 1
    entry = {
        "size": task.size, "mtime_ns": task.mtime_ns, "split": task.split, "clips": clips, "frames": decoded,
        "fps": info["fps"], "width": info["width"], "height": info["height"], "ranges": ranges,
        # (clips, checksum) of each shard it wrote to, as of its last clip: Manifest.add_source records them
        "checksums": {shard: list(writer.checksum(shard[prefix:])) for shard, _, _ in ranges},
    }
    if note:
        entry["note"] = note
    return "done", entry


def _safe_process(task: _Task, writers: _Writers, params: CacheParams, max_pixels: int,
                  threads: str | None = "auto") -> tuple[str, Any]:
    try:
        return process_source(task, writers, params, max_pixels, threads)
    except CacheWriteError:
        raise  # our disk, not the video: the run stops (prepare_cache says why)
    except (MemoryError, OSError) as exc:
        return "skip", f"{type(exc).__name__}: {exc}"
    except Exception as exc:  # noqa: BLE001 - one strange file must not end a long run; it is listed
        return "skip", f"unexpected {type(exc).__name__}: {exc}"


def _die_with_parent() -> None:
    """On Linux, have the kernel kill this worker when the main process dies, kill -9 included: an
    orphan would go on appending to a shard that the next run is recovering."""
    if not sys.platform.startswith("linux"):
        return  # elsewhere an orphan stops at its next report, when it finds the pipe closed
    try:
        import ctypes

        ctypes.CDLL(None).prctl(1, signal.SIGKILL)  # 1 = PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        return
    parent = mp.parent_process()
    if parent is not None and os.getppid() != parent.pid:  # it died before the line above
        os._exit(1)


def _worker_main(worker: int, run: int, out: str, params: dict, clips_per_shard: int, max_pixels: int, conn: Any) -> None:
    """A decoding process: receives tasks on its own pipe until ``None``, reports each source back on it.

    One pipe per worker, written synchronously: a worker that dies mid-write (a crashing decoder) can
    only break its own pipe, never a queue the other workers share."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the main process's to handle
    _die_with_parent()
    cache_params = CacheParams.from_dict(params)
    writers = _Writers(Path(out), run, worker, cache_params, clips_per_shard)
    try:
        while True:
            task = conn.recv()
            if task is None:
                break
            conn.send(("start", task.rel, None))
            try:
                kind, payload = _safe_process(task, writers, cache_params, max_pixels, threads=None)  # processes are the parallelism
            except CacheWriteError as exc:
                conn.send(("fatal", task.rel, str(exc)))
                break
            conn.send((kind, task.rel, payload))
        conn.send(("exit", None, None))
    except (EOFError, OSError):  # the main process is gone (killed): nothing to report to, stop quietly
        pass
    finally:
        try:
            writers.close()
        except CacheWriteError:
            pass  # already reported; the clips past the last report are cut off by recover
        conn.close()


# -- the run ---------------------------------------------------------------------------------------------
@dataclass
class PrepareReport:
    """What one ``prepare_cache`` call did (the manifest holds the cumulative state)."""

    out: Path
    decoded: int = 0  # source videos that gave clips in this run
    reused: int = 0  # finished (or already skipped) in an earlier run: not decoded again
    new_clips: int = 0
    skipped: dict[str, str] = field(default_factory=dict)  # newly skipped in this run: path -> reason
    removed: int = 0  # sources listed before that are gone from the folder
    damaged: dict[str, str] = field(default_factory=dict)  # shards found damaged, removed and re-created: name -> problem
    ignored: int = 0  # files without a video extension
    counts: dict[str, int] = field(default_factory=dict)
    seconds: float = 0.0

    def as_dict(self) -> dict[str, Any]:
        return {
            "out": str(self.out), "decoded": self.decoded, "reused": self.reused, "new_clips": self.new_clips,
            "skipped": self.skipped, "removed": self.removed, "damaged": self.damaged, "ignored": self.ignored, "counts": self.counts,
            "seconds": round(self.seconds, 3),
        }


@contextlib.contextmanager
def cache_lock(folder: Path) -> Iterator[None]:
    """Only one process prepares a cache folder at a time (others wait, then find it done)."""
    folder.mkdir(parents=True, exist_ok=True)
    try:
        import fcntl
    except ImportError:  # Windows: no advisory locks; concurrent prepares of one folder are unsupported
        yield
        return
    try:  # never through a symlink: a planted .lock must not make us create or touch a file elsewhere
        fd = os.open(folder / ".lock", os.O_RDWR | os.O_CREAT | getattr(os, "O_NOFOLLOW", 0), 0o644)
    except OSError as exc:
        raise VidsynthError(f"cannot lock {folder / '.lock'}: {exc.strerror} (is it a symlink?)") from None
    with os.fdopen(fd, "r+") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def recover(manifest: Manifest, content: str = "changed") -> dict[str, str]:
    """Make the shards agree with the manifest, after an interrupted run or damage; returns the
    damaged shards found (``{shard: problem}``), which are removed so their sources are decoded again.

    A shard is damaged when it is missing, shorter than its committed clips, or (``content``, see
    :mod:`vidsynth.data.integrity`) its bytes do not match its checksum. Every source with clips in a
    damaged shard is forgotten. Sound shards are cut back to their committed clip count (a crash can
    leave a half-written clip or clips of an unfinished video) and their size and mtime recorded;
    shard files the manifest never heard of are removed.
    """
    from vidsynth.data.integrity import check_shards

    clip_shape = manifest.clip_shape
    clip_bytes = int(np.prod(clip_shape))
    damaged = check_shards(manifest, content=content)
    for rel, entry in list(manifest.sources.items()):
        if any(shard in damaged for shard, _, _ in entry["ranges"]):
            manifest.forget(rel)
    needed: dict[str, int] = {}
    for entry in manifest.sources.values():
        for shard, start, count in entry["ranges"]:
            needed[shard] = max(needed.get(shard, 0), start + count)
    for name in list(manifest.shards):
        path, info = manifest.folder / name, manifest.shards[name]
        if needed.get(name, 0) == 0:
            path.unlink(missing_ok=True)
            del manifest.shards[name]
            continue
        if needed[name] != info["clips"] or CHECKSUM not in info:
            # fewer clips than checksummed (a changed source was dropped), or a cache from before
            # checksums: hash what stays (the shard passed the checks above)
            info["clips"] = needed[name]
            info[CHECKSUM] = hash_shard(path, clip_bytes, needed[name])
        seal_shard(path, clip_shape, needed[name])
        stat = path.stat()
        info["size"], info["mtime_ns"] = stat.st_size, stat.st_mtime_ns
    shard_dir = manifest.folder / SHARDS_DIR
    if shard_dir.is_dir():
        known = {Path(name).name for name in manifest.shards}
        for path in shard_dir.glob("*.npy"):
            if path.name not in known:
                path.unlink()
    return damaged


def _holds_other_files(out: Path) -> bool:
    """Whether ``out`` holds anything a cache being made does not: its lock, shard folder, manifest, and
    the manifest's temporary name while a concurrent ``prepare`` writes it."""
    ours = (".lock", SHARDS_DIR, MANIFEST)
    try:  # one look, not is_dir() then exists(): a concurrent prepare may create the folder in between
        entries = list(out.iterdir())
    except FileNotFoundError:
        return False
    except NotADirectoryError:
        return True
    return any(p.name not in ours and not p.name.startswith(".manifest.tmp-") for p in entries)


def _open_manifest(out: Path, key: str, params: CacheParams, source_id: str, part: tuple[int, int] | None) -> Manifest:
    if Manifest.exists(out):
        manifest = Manifest.load(out)
        if manifest.is_merged:
            raise VidsynthError(f"{out} is a merged cache (it only lists other caches); prepare into a new folder")
        if manifest.data["key"] != key or (manifest.data.get("part") or None) != (list(part) if part else None):
            old = manifest.params.describe()
            old_part = manifest.data.get("part")
            raise VidsynthError(
                f"{out} already holds a cache of other parameters or another source ({manifest.data['source']}, "
                f"{old}{', part %d/%d' % tuple(old_part) if old_part else ''}); it is left untouched: choose another OUT folder"
            )
        return manifest
    if _holds_other_files(out):
        raise VidsynthError(f"{out} exists and is not a clip cache; choose a new or empty folder for the cache")
    manifest = Manifest.new(out, key, params, source_id, part)
    manifest.validate()  # a planted shards/ symlink is refused before anything is written through it
    return manifest


def prepare_cache(
    source: str | os.PathLike,
    out: str | os.PathLike,
    params: CacheParams,
    *,
    workers: int | None = None,
    shard: str | tuple[int, int] | None = None,
    progress: bool = True,
    files: dict[str, Path] | None = None,
    splits: dict[str, str] | None = None,
    clips_per_shard: int | None = None,
    max_pixels: int = MAX_PIXELS,
    verify: bool = False,
) -> PrepareReport:
    """Prepare (or bring up to date) the clip cache ``out`` from the videos under ``source``.

    ``workers``: decoding processes (default: CPU count, at most 8; 1 decodes in this process).
    ``shard``: ``"I/N"`` to prepare only the I-th of N disjoint parts. ``files``/``splits``: an explicit
    set of videos (relative name -> path) and their splits, instead of walking ``source`` and hashing.
    Damaged shards (missing, truncated, or changed since written) are removed and their videos decoded
    again; ``verify`` checks every shard's content against its checksum, not only changed files.
    Raises VidsynthError for a missing source or an ``out`` that holds something else; bad videos are
    skipped and listed, never raised.
    """
    started = time.perf_counter()
    source = Path(source)
    out = Path(out)
    if files is None and not source.exists():
        raise VidsynthError(f"no such file or folder: {source}")
    part = parse_part(shard) if isinstance(shard, (str, type(None))) else tuple(shard)
    source_id = str(source.resolve())
    extra = {"files": sorted(files), "splits": splits} if files is not None else None
    key = cache_key(source_id, params, extra)
    clip_bytes = int(np.prod(params.clip_shape))
    per_shard = clips_per_shard or max(1, SHARD_BYTES // clip_bytes)
    report = PrepareReport(out=out)
    if not Manifest.exists(out) and _holds_other_files(out):
        raise VidsynthError(f"{out} exists and is not a clip cache; choose a new or empty folder for the cache")

    with cache_lock(out):  # (checked again inside: another process may have made it meanwhile)
        manifest = _open_manifest(out, key, params, source_id, part)
        report.damaged = recover(manifest, "always" if verify else "changed")
        if files is not None:
            videos, ignored = dict(files), []
        else:
            videos, ignored = list_sources(source, exclude=out)
        if part is not None:
            videos = {rel: p for rel, p in videos.items() if part_for(rel, part[1]) == part[0]}
            ignored = [rel for rel in ignored if part_for(rel, part[1]) == part[0]]
        report.ignored = len(ignored)
        manifest.data["ignored"] = {"count": len(ignored), "examples": ignored[:20]}
        for rel in [r for r in (*manifest.sources, *manifest.skipped) if r not in videos]:
            manifest.forget(rel)
            report.removed += 1
        todo: list[_Task] = []
        for rel, path in videos.items():
            try:
                size, mtime = _stat(path)
            except OSError as exc:
                manifest.add_skip(rel, {"size": None, "mtime_ns": None, "reason": f"cannot stat: {exc.strerror}"})
                report.skipped[rel] = f"cannot stat: {exc.strerror}"
                continue
            known = manifest.sources.get(rel) or manifest.skipped.get(rel)
            if known is not None and known.get("size") == size and known.get("mtime_ns") == mtime:
                report.reused += 1
                continue
            manifest.forget(rel)
            split = (splits or {}).get(rel) or split_for(rel, params.test_fraction)
            todo.append(_Task(rel, str(path), split, size, mtime))
        manifest.data["runs"] += 1
        manifest.data["complete"] = False
        manifest.save()  # marks the folder as ours before any shard appears
        run = manifest.data["runs"]

        n_workers = max(1, min(workers or min(os.cpu_count() or 1, 8), len(todo) or 1))
        runner = _run_in_process if n_workers == 1 else _run_in_workers
        finished = False
        try:
            with _progress_bar(progress, len(todo)) as tick:
                runner(todo, manifest, report, params, run, n_workers, per_shard, max_pixels, tick)
            finished = True
        except CacheWriteError as exc:
            raise VidsynthError(f"{exc}; free some space and run prepare again (the videos finished so far "
                                "are kept)") from None
        finally:
            # seal every shard at its committed count (also after Ctrl-C); this run's own shards were
            # checksummed as they were written, so they are not read back
            try:
                recover(manifest, "never")
                manifest.save()
            except (OSError, VidsynthError):
                if finished:
                    raise
                # already failing (a full disk, Ctrl-C): the last saved manifest stands, and the next
                # run's recover does this
        manifest.data["complete"] = True
        manifest.save()
    report.counts = dict(manifest.data["counts"])
    report.seconds = time.perf_counter() - started
    return report


class _Committer:
    """Applies one finished source to the manifest and saves it now and then (more rarely as it grows)."""

    def __init__(self, manifest: Manifest, report: PrepareReport, tick) -> None:
        self.manifest, self.report, self.tick = manifest, report, tick
        self.last_save, self.save_cost = time.monotonic(), 0.0

    def __call__(self, task: _Task, kind: str, payload: Any) -> None:
        if kind == "done":
            self.manifest.add_source(task.rel, payload)
            self.report.decoded += 1
            self.report.new_clips += payload["clips"]
        else:
            self.manifest.add_skip(task.rel, {"size": task.size, "mtime_ns": task.mtime_ns, "reason": payload})
            self.report.skipped[task.rel] = payload
        self.tick(self.report)
        if time.monotonic() - self.last_save > max(2.0, 20 * self.save_cost):
            t0 = time.monotonic()
            self.manifest.save()
            self.save_cost = time.monotonic() - t0
            self.last_save = time.monotonic()


def _run_in_process(todo, manifest, report, params, run, n_workers, per_shard, max_pixels, tick) -> None:
    commit = _Committer(manifest, report, tick)
    writers = _Writers(manifest.folder, run, 0, params, per_shard)
    try:
        for task in todo:
            kind, payload = _safe_process(task, writers, params, max_pixels)
            commit(task, kind, payload)
    finally:
        writers.close()


def _run_in_workers(todo, manifest, report, params, run, n_workers, per_shard, max_pixels, tick) -> None:
    _WorkerPool(todo, _Committer(manifest, report, tick), manifest.folder, params, run, n_workers, per_shard,
                max_pixels).run()


class _WorkerPool:
    """Fans tasks out to ``n_workers`` spawned processes, each on its own pipe, so the main process
    always knows which files a worker holds. A worker that dies (a decoder crash takes its process
    down) is replaced: the file it was decoding is skipped, the file queued behind it goes back to the
    queue. A file that was in flight during two deaths is skipped too, so nothing loops.

    Each worker is known by its number ``wid``; the bookkeeping per worker is in the dicts and sets below.
    """

    IN_FLIGHT = 2  # files sent to a worker ahead of its reports: one decoding, one waiting
    SILENT_DEATHS = 3  # workers in a row that die before saying anything: they cannot start at all

    def __init__(self, todo: list[_Task], commit: _Committer, folder: Path, params: CacheParams, run: int,
                 n_workers: int, per_shard: int, max_pixels: int) -> None:
        self.ctx = mp.get_context("spawn")  # fork after torch/threads were started can deadlock
        self.commit = commit
        self.worker_args = (run, str(folder), params.as_dict(), per_shard, max_pixels)
        self.n_workers = n_workers
        self.by_rel = {task.rel: task for task in todo}
        self.pending: deque[_Task] = deque(todo)
        self.procs: dict[int, Any] = {}
        self.conns: dict[int, Any] = {}
        self.assigned: dict[int, deque[str]] = {}  # per worker: files sent, in order, not yet reported
        self.started: dict[int, str] = {}  # per worker: the file it said it is decoding
        self.crashes: dict[str, int] = {}  # per file: worker deaths it was in flight for (2 for the one decoding)
        self.stopping: set[int] = set()  # told to stop
        self.gone: set[int] = set()  # exited (cleanly or not) and fully read
        self.spoke: set[int] = set()  # reported at least once
        self.silent_deaths = 0

    def run(self) -> None:
        for _ in range(self.n_workers):
            self._start_worker()
        clean = False
        try:
            while len(self.gone) < len(self.procs):
                live = [w for w in self.procs if w not in self.gone and w not in self.stopping]
                self._hand_out(live)
                self._stop_when_done(live)
                self._read_reports()
            clean = True
        finally:
            self._shut_down(clean)

    def _start_worker(self) -> None:
        wid = len(self.procs)
        ours, theirs = self.ctx.Pipe()
        self.procs[wid] = self.ctx.Process(target=_worker_main, daemon=True, args=(wid, *self.worker_args, theirs))
        self.procs[wid].start()
        theirs.close()
        self.conns[wid], self.assigned[wid] = ours, deque()

    def _hand_out(self, live: list[int]) -> None:
        """Top every live worker up to ``IN_FLIGHT`` files, the least busy first."""
        for wid in sorted(live, key=lambda w: len(self.assigned[w])):
            while self.pending and len(self.assigned[wid]) < self.IN_FLIGHT:
                task = self.pending.popleft()
                self.assigned[wid].append(task.rel)
                try:
                    self.conns[wid].send(task)
                except OSError:  # it died; its sentinel will say so
                    break

    def _stop_when_done(self, live: list[int]) -> None:
        """Nothing left to send and nothing in flight: tell the live workers to exit."""
        if self.pending or any(self.assigned[w] for w in live):
            return
        for wid in live:
            try:
                self.conns[wid].send(None)
            except OSError:
                pass
            self.stopping.add(wid)

    def _read_reports(self) -> None:
        """Wait (at most a second) for reports or deaths, and handle them."""
        from multiprocessing.connection import wait

        watching = {self.conns[w]: w for w in self.procs if w not in self.gone}
        sentinels = {self.procs[w].sentinel: w for w in self.procs if w not in self.gone}
        for ready in wait([*watching, *sentinels], timeout=1.0):
            wid = watching.get(ready, sentinels.get(ready))
            if wid in self.gone:
                continue
            try:
                while self.conns[wid].poll():  # drain everything it said before anything else
                    self._handle(wid, self.conns[wid].recv())
            except (EOFError, OSError):
                self._bury(wid)
                continue
            if ready in sentinels:
                self._bury(wid)

    def _handle(self, wid: int, message: tuple) -> None:
        kind, rel, payload = message
        self.spoke.add(wid)
        if kind == "start":
            self.started[wid] = rel
        elif kind == "fatal":
            raise CacheWriteError(payload)
        elif kind in ("done", "skip"):
            self.started.pop(wid, None)
            if self.assigned[wid] and self.assigned[wid][0] == rel:
                self.assigned[wid].popleft()
            self.commit(self.by_rel[rel], kind, payload)

    def _bury(self, wid: int) -> None:
        """A worker exited: requeue or skip the files it still held, and replace it if work remains."""
        self.gone.add(wid)
        self.conns[wid].close()
        self.procs[wid].join(timeout=5)
        lost = list(self.assigned[wid])
        self.assigned[wid].clear()
        if not lost:
            return
        exitcode = self.procs[wid].exitcode
        self.silent_deaths = 0 if wid in self.spoke else self.silent_deaths + 1
        if self.silent_deaths >= self.SILENT_DEATHS:
            raise VidsynthError(
                f"decoding worker processes die before starting (exit code {exitcode}); try --workers 1, "
                "or guard a script that calls vidsynth with `if __name__ == '__main__':`"
            )
        crashed = self.started.pop(wid, None)
        for rel in reversed(lost):
            self.crashes[rel] = self.crashes.get(rel, 0) + (2 if rel == crashed else 1)
            if self.crashes[rel] >= 2:
                self.commit(self.by_rel[rel], "skip", f"the decoder crashed (worker exit code {exitcode})")
            else:
                self.pending.appendleft(self.by_rel[rel])
        if self.pending and len(self.procs) - len(self.gone) < self.n_workers:
            self._start_worker()

    def _shut_down(self, clean: bool) -> None:
        for proc in self.procs.values():
            if not clean and proc.is_alive():
                proc.terminate()  # Ctrl-C or an error: shards are cut back to the committed clips anyway
            proc.join(timeout=10)
            if proc.is_alive():
                proc.kill()
        for conn in self.conns.values():
            conn.close()


@contextlib.contextmanager
def _progress_bar(enabled: bool, total: int):
    """A rich progress bar on stderr (sources done, clips, skipped); a no-op when disabled or empty."""
    if not enabled or total == 0:
        yield lambda report: None
        return
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

    columns = (TextColumn("preparing clips"), BarColumn(), MofNCompleteColumn(), TextColumn("videos"),
               TextColumn("{task.fields[clips]} clips, {task.fields[skipped]} skipped"),
               TimeElapsedColumn(), TextColumn("eta"), TimeRemainingColumn())
    with Progress(*columns, console=Console(stderr=True), transient=False) as bar:
        job = bar.add_task("prepare", total=total, clips=0, skipped=0)

        def tick(report: PrepareReport) -> None:
            bar.update(job, advance=1, clips=report.new_clips, skipped=len(report.skipped))

        yield tick


# -- merging parts -------------------------------------------------------------------------------------
def merge_caches(out: str | os.PathLike, parts: list[str | os.PathLike]) -> Manifest:
    """Join caches prepared as disjoint parts (``--shard I/N``) into one, by reference: ``out`` gets a
    manifest whose shards point into the part folders (relative paths, so move them together)."""
    out = Path(out)
    if not parts:
        raise VidsynthError("merge needs at least one part cache")
    manifests = [Manifest.load(Path(p)) for p in parts]
    params = manifests[0].params
    for m in manifests[1:]:
        if m.params != params:
            raise VidsynthError(f"cannot merge {m.folder}: its parameters ({m.params.describe()}) differ from "
                                f"{manifests[0].folder} ({params.describe()})")
    for m in manifests:
        if m.is_merged:
            raise VidsynthError(f"cannot merge {m.folder}: it is itself a merged cache; list its parts instead")
    if Manifest.exists(out) and not Manifest.load(out).is_merged:
        raise VidsynthError(f"{out} holds a prepared cache; merge into a new folder")
    if out.exists() and not Manifest.exists(out) and any(out.iterdir()):
        raise VidsynthError(f"{out} exists and is not empty; merge into a new folder")
    out.mkdir(parents=True, exist_ok=True)
    merged = Manifest.new(out, "", params, manifests[0].data["source"], None)
    part_specs = [tuple(m.data["part"]) if m.data.get("part") else None for m in manifests]
    owner: dict[str, Path] = {}
    for m in manifests:
        relpath = Path(os.path.relpath(m.folder.resolve(), out.resolve())).as_posix()
        for rel, entry in m.sources.items():
            if rel in owner:
                raise VidsynthError(f"cannot merge: {rel} is in both {owner[rel]} and {m.folder} (parts must be disjoint)")
            owner[rel] = m.folder
            moved = dict(entry, ranges=[[f"{relpath}/{shard}", start, count] for shard, start, count in entry["ranges"]])
            merged.add_source(rel, moved)
        for name, info in m.shards.items():  # checksums and file states, as the part recorded them
            merged.shards[f"{relpath}/{name}"] = dict(info)
        for rel, entry in m.skipped.items():
            merged.skipped[rel] = entry
        merged.data["ignored"]["count"] += m.data.get("ignored", {}).get("count", 0)
    totals = {spec[1] for spec in part_specs if spec}
    indices = sorted(spec[0] for spec in part_specs if spec)
    missing: list[str] = []
    if len(totals) == 1:
        n = totals.pop()
        missing = [f"{i}/{n}" for i in range(1, n + 1) if i not in indices]
    merged.data["parts"] = [Path(os.path.relpath(m.folder.resolve(), out.resolve())).as_posix() for m in manifests]
    merged.data["missing_parts"] = missing
    merged.data["key"] = cache_key("merge:" + ",".join(m.data["key"] for m in manifests), params)
    merged.data["complete"] = all(m.data.get("complete") for m in manifests) and not missing
    merged.save()
    return merged


__all__ = [
    "MANIFEST", "CacheParams", "Manifest", "PrepareReport", "auto_cache_dir", "default_cache_root",
    "list_sources", "merge_caches", "parse_part", "prepare_cache", "process_source", "recover", "survey_sources",
]
