"""``vidsynth data``: prepare clip caches from folders of videos, inspect them, preview them."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Optional

import typer

data_app = typer.Typer(
    help="Prepare, inspect and preview datasets: clip caches made from your videos, and the built-ins.\n\n"
    "See docs/data.md for the cache layout.",
    no_args_is_help=True,
)

BUILTIN_FRAMES, BUILTIN_SIZE = 30, 64  # what info/preview show of a built-in unless told otherwise


def _console():
    from rich.console import Console

    return Console(markup=False, highlight=False, soft_wrap=True)  # long paths stay on one line; "[train]" is text


def _plural(n: int, word: str) -> str:
    return f"{n} {word}{'' if n == 1 else 's'}"


@data_app.command("prepare")
def prepare(
    src: str = typer.Argument(..., help="Folder of videos (searched recursively) or one video file."),
    out: Path = typer.Argument(..., help="Folder for the cache (new, empty, or a cache of the same parameters to resume)."),
    frames: int = typer.Option(30, "--frames", help="Frames per clip."),
    size: int = typer.Option(64, "--size", help="Clip height and width in pixels (center crop to a square)."),
    fps: Optional[float] = typer.Option(None, "--fps", help="Resample every video to this frame rate first (default: keep each file's)."),
    stride: Optional[int] = typer.Option(None, "--stride", help="Frames between the starts of consecutive clips of a video (default: --frames, no overlap)."),
    test_fraction: float = typer.Option(0.1, "--test-fraction", help="Fraction of source videos (not clips) in the test split."),
    workers: Optional[int] = typer.Option(None, "--workers", help="Decoding processes (default: CPU count, at most 8)."),
    shard: Optional[str] = typer.Option(None, "--shard", help="I/N: prepare only the I-th of N disjoint parts (1-based); join them with `vidsynth data merge`."),
    channels: int = typer.Option(3, "--channels", help="3 (RGB) or 1 (gray)."),
    fit: str = typer.Option("crop", "--fit", help="How frames become square: crop (center) or letterbox (black bars)."),
    as_json: bool = typer.Option(False, "--json", help="Print the run's report as JSON."),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="No progress bar."),
    verify: bool = typer.Option(False, "--verify", help="Read every shard and check it against its checksum "
                                "(without it: only shards whose size or mtime changed); damaged ones are re-created."),
) -> None:
    """Decode a folder of videos into a clip cache: uint8 shards plus a manifest.

    Every clip is FRAMES frames of SIZE x SIZE. Videos go to the train or test split by a hash of their
    path, so all clips of a video share a split. Files that give no clip (empty, corrupt, audio-only,
    too short, ...) are skipped and listed; the command fails only if the cache ends up with no clip.

    Re-running is cheap: finished videos (same size and mtime) are not decoded again, so an interrupted
    run resumes where it stopped. A cache with other parameters is never overwritten. Shards that are
    missing, truncated or corrupt are removed and their videos decoded again.

    Examples:

      vidsynth data prepare ~/videos cache/ --frames 16 --size 64 --fps 8

      vidsynth data prepare ~/videos cache-1/ --shard 1/2   (one machine; --shard 2/2 on another)

      vidsynth data merge cache/ cache-1/ cache-2/
    """
    from vidsynth.data.clip_cache import prepare_cache
    from vidsynth.data.manifest import CacheParams
    from vidsynth.data.sources import no_clips_message
    from vidsynth.errors import VidsynthError

    if src.startswith("builtin:"):
        raise VidsynthError(f"{src} needs no preparing: use it directly (e.g. `vidsynth data preview {src} -o grid.gif`)")
    params = CacheParams(frames=frames, size=size, channels=channels, fps=fps, stride=stride,
                         test_fraction=test_fraction, fit=fit)
    report = prepare_cache(src, out, params, workers=workers, shard=shard, progress=not quiet and not as_json,
                           verify=verify)
    if as_json:
        typer.echo(json.dumps(report.as_dict(), indent=2))
    else:
        _print_report(report)
    if report.counts.get("clips", 0) == 0:
        raise VidsynthError(no_clips_message(src, report))
    if not as_json and report.counts.get("test", 0) == 0 and test_fraction > 0:
        _console().print(f"note: no video fell in the test split (--test-fraction {test_fraction:g} of "
                         f"{_plural(report.counts['sources'], 'video')}); split='test' will be empty")


def _print_report(report) -> None:
    console = _console()
    c = report.counts
    console.print(
        f"{report.out}: {_plural(c['clips'], 'clip')} (train {c['train']}, test {c['test']}) "
        f"from {_plural(c['sources'], 'video')}"
    )
    console.print(
        f"this run: {report.decoded} decoded, {report.reused} unchanged (not decoded again), "
        f"{len(report.skipped)} skipped, {report.ignored} non-video files ignored"
        + (f", {report.removed} gone from the folder" if report.removed else "")
        + f" in {report.seconds:.1f} s"
    )
    if report.damaged:
        console.print(f"re-created {_plural(len(report.damaged), 'damaged shard')}: "
                      + "; ".join(f"{name} was {why}" for name, why in report.damaged.items()))
    if report.skipped:
        from rich.table import Table

        table = Table(title="Skipped", title_justify="left")
        table.add_column("file")
        table.add_column("reason")
        for rel, reason in list(report.skipped.items())[:20]:
            table.add_row(rel, reason)
        console.print(table)
        if len(report.skipped) > 20:
            console.print(f"... and {len(report.skipped) - 20} more: `vidsynth data info {report.out}` lists all")


@data_app.command("merge")
def merge(
    out: Path = typer.Argument(..., help="New folder for the merged cache (only a manifest is written)."),
    parts: list[Path] = typer.Argument(..., help="The part caches (prepared with --shard I/N)."),
) -> None:
    """Join part caches prepared with --shard I/N into one cache, without copying clips.

    The merged manifest refers to the parts' shards by relative path: keep the folders side by side.

    Examples:

      vidsynth data merge cache/ cache-1/ cache-2/ cache-3/
    """
    from vidsynth.data.clip_cache import merge_caches

    merged = merge_caches(out, list(parts))
    c = merged.data["counts"]
    console = _console()
    console.print(f"{out}: {_plural(c['clips'], 'clip')} (train {c['train']}, test {c['test']}) from "
                  f"{_plural(c['sources'], 'video')} in {_plural(len(parts), 'part')}")
    if merged.data.get("missing_parts"):
        console.print(f"note: parts {', '.join(merged.data['missing_parts'])} are missing; merge again once they are ready")


def _cache_info(path: Path, verify: bool = False) -> dict[str, Any]:
    from collections import Counter

    from vidsynth.data.integrity import check_shards, repair_hint, unverified
    from vidsynth.data.manifest import Manifest

    manifest = Manifest.load(path)
    counts = manifest.recount()
    damaged = check_shards(manifest, content="always" if verify else "changed")
    disk = 0
    for name in manifest.shards:
        try:
            disk += manifest.shard_path(name).stat().st_size
        except OSError:
            pass
    skipped = {rel: entry["reason"] for rel, entry in sorted(manifest.skipped.items())}
    notes = {rel: e["note"] for rel, e in sorted(manifest.sources.items()) if e.get("note")}
    return {
        "kind": "cache",
        "path": str(path),
        "key": manifest.data["key"],
        "source": manifest.data.get("source"),
        "part": manifest.data.get("part"),
        "parts": manifest.data.get("parts"),
        "missing_parts": manifest.data.get("missing_parts"),
        "complete": manifest.data.get("complete") and not damaged,
        "damaged": damaged,
        "repair": repair_hint(manifest, next(iter(damaged))) if damaged else None,
        "verified": verify,
        "unverified_shards": unverified(manifest),
        "params": manifest.data["params"],
        "clip_shape": manifest.clip_shape,
        "counts": counts,
        "shards": len(manifest.shards),
        "disk_bytes": disk,
        "skipped": skipped,
        "skipped_reasons": dict(Counter(r.split(":")[0].split(" (")[0] for r in skipped.values()).most_common()),
        "partial_sources": notes,
        "ignored": manifest.data.get("ignored"),
        "created": manifest.data.get("created"),
        "updated": manifest.data.get("updated"),
    }


@data_app.command("info")
def info(
    path: str = typer.Argument(..., help="A prepared cache folder, a folder of videos (not prepared yet), or builtin:NAME."),
    as_json: bool = typer.Option(False, "--json", help="Print JSON (every skipped file with its reason)."),
    verify: bool = typer.Option(False, "--verify", help="Read every shard and check it against its checksum "
                                "(without it: sizes always, content of shards whose size or mtime changed)."),
    frames: int = typer.Option(BUILTIN_FRAMES, "--frames", help="For builtin:NAME or a folder of videos: frames per clip."),
    size: int = typer.Option(BUILTIN_SIZE, "--size", help="For builtin:NAME or a folder of videos: clip size."),
    fps: Optional[float] = typer.Option(None, "--fps", help="For a folder of videos: the frame rate prepare would resample to."),
    stride: Optional[int] = typer.Option(None, "--stride", help="For a folder of videos: frames between clip starts (default: --frames)."),
    test_fraction: float = typer.Option(0.1, "--test-fraction", help="For a folder of videos: fraction of videos in the test split."),
) -> None:
    """Show what a clip cache (or built-in dataset) holds: counts per split, size, skipped files.

    On a folder of videos it writes nothing and says what `prepare` would make with the same options:
    the videos found, those that cannot be read, and about how many clips per split.

    Missing, truncated or corrupt shards are named, with the command that re-creates them, and the
    exit status is then 1.

    Examples:

      vidsynth data info cache/

      vidsynth data info cache/ --verify

      vidsynth data info cache/ --json | python -m json.tool

      vidsynth data info builtin:bouncing-balls

      vidsynth data info ~/videos --frames 16 --fps 8
    """
    from vidsynth.data.sources import resolve_source
    from vidsynth.errors import VidsynthError

    resolved = resolve_source(path)
    if resolved.kind == "videos":
        _survey(path, resolved.path, frames, size, fps, stride, test_fraction, as_json)
        return
    if resolved.kind == "builtin":
        from vidsynth.data.sources import open_clips

        data = {"kind": "builtin", "source": path,
                "splits": {s: open_clips(path, frames=frames, size=size, split=s, progress=not as_json).describe()
                           for s in ("train", "test")}}
        if as_json:
            typer.echo(json.dumps(data, indent=2))
        else:
            console = _console()
            for split, d in data["splits"].items():
                if "parts" in d:  # a mix: the total, then each part
                    console.print(f"{path} [{split}]: {_plural(d['clips'], 'clip')} from {_plural(len(d['parts']), 'part')}")
                    for part in d["parts"]:
                        console.print(f"  {part['source']}: {_clips_line(part)}")
                else:
                    console.print(f"{path} [{split}]: {_clips_line(d)}")
        return
    data = _cache_info(resolved.path, verify)
    if as_json:
        typer.echo(json.dumps(data, indent=2))
        if data["damaged"]:
            raise typer.Exit(1)
        return
    console = _console()
    c, p = data["counts"], data["params"]
    state = ("damaged" if data["damaged"] else "complete" if data["complete"]
             else "incomplete (run prepare again to finish)")
    console.print(f"{data['path']}  key {data['key']}  {state}")
    console.print(f"clips: {c['clips']} (train {c['train']}, test {c['test']}), each {' x '.join(map(str, data['clip_shape']))} uint8")
    console.print(f"videos: {c['sources']} (train {c['sources_train']}, test {c['sources_test']}), "
                  f"{c['skipped']} skipped, {c['ignored']} non-video files ignored")
    fps = f"{p['fps']:g}" if p["fps"] else "native"
    console.print(f"parameters: frames {p['frames']}, size {p['size']}, channels {p['channels']}, fps {fps}, "
                  f"stride {p['stride']}, test fraction {p['test_fraction']:g}, fit {p['fit']}")
    console.print(f"disk: {data['disk_bytes'] / 2**20:.1f} MiB in {_plural(data['shards'], 'shard')}")
    if data["parts"]:
        console.print(f"merged from: {', '.join(data['parts'])}")
    if data["part"]:
        console.print(f"part {data['part'][0]} of {data['part'][1]}")
    if data["skipped_reasons"]:
        console.print("skipped: " + "; ".join(f"{n} x {r}" for r, n in data["skipped_reasons"].items())
                      + "  (--json lists each file)")
    if data["unverified_shards"]:
        console.print(f"checksums: none for {_plural(len(data['unverified_shards']), 'shard')} (prepared by an older "
                      "vidsynth); running prepare again adds them")
    elif data["verified"] and not data["damaged"]:
        console.print(f"checksums: all {_plural(data['shards'], 'shard')} read and match")
    if data["damaged"]:
        for name, why in data["damaged"].items():
            console.print(f"damaged: {name} is {why}")
        raise VidsynthError(f"{_plural(len(data['damaged']), 'damaged shard')} in {data['path']}; {data['repair']}")


def _survey(text: str, folder: Path, frames: int, size: int, fps: Optional[float], stride: Optional[int],
            test_fraction: float, as_json: bool) -> None:
    """``info`` on a folder of videos: what ``prepare`` would make (nothing is written)."""
    import shlex
    from collections import Counter

    from vidsynth.data.clip_cache import survey_sources
    from vidsynth.data.manifest import CacheParams

    params = CacheParams(frames=frames, size=size, fps=fps, stride=stride, test_fraction=test_fraction)
    data = survey_sources(folder, params)
    if as_json:
        typer.echo(json.dumps(data, indent=2))
        return
    console = _console()
    e, p = data["estimated"], data["params"]
    console.print(f"{text}: a folder of videos, not prepared yet (nothing was written)")
    console.print(f"videos: {data['videos']} found, {len(data['unreadable'])} unreadable, "
                  f"{len(data['too_short'])} too short for a clip, {data['ignored']} non-video files ignored")
    console.print(f"prepare would make about {_plural(e['clips'], 'clip')}: train {e['train']} from "
                  f"{_plural(e['sources_train'], 'video')}, test {e['test']} from {_plural(e['sources_test'], 'video')}")
    fps_text = f"{p['fps']:g}" if p["fps"] else "native"
    console.print(f"parameters: frames {p['frames']}, size {p['size']}, fps {fps_text}, stride {p['stride']}, "
                  f"test fraction {p['test_fraction']:g}  (change with --frames, --size, --fps, --stride, --test-fraction)")
    if data["unreadable"]:
        reasons = Counter(r.split(":")[0].split(" (")[0] for r in data["unreadable"].values()).most_common()
        console.print("unreadable: " + "; ".join(f"{n} x {r}" for r, n in reasons) + "  (--json lists each file)")
    options = (f" --frames {p['frames']} --size {p['size']}" + (f" --fps {p['fps']:g}" if p["fps"] else "")
               + (f" --stride {p['stride']}" if p["stride"] != p["frames"] else "")
               + (f" --test-fraction {p['test_fraction']:g}" if p["test_fraction"] != 0.1 else ""))
    console.print(f"prepare it with: vidsynth data prepare {shlex.quote(text)} OUT{options}")


@data_app.command("preview")
def preview(
    path: str = typer.Argument(..., help="A prepared cache, a folder of videos, or builtin:NAME."),
    output: Path = typer.Option(..., "--output", "-o", help="Video to write: .gif, .mp4, .webm or a folder."),
    n: int = typer.Option(16, "-n", help="Number of clips in the grid."),
    split: str = typer.Option("train", "--split", help="train, test or all."),
    frames: Optional[int] = typer.Option(None, "--frames", help="Frames per clip (default: the cache's, or 30)."),
    size: Optional[int] = typer.Option(None, "--size", help="Clip size (default: the cache's, or 64)."),
    fps: float = typer.Option(8.0, "--fps", help="Frame rate of the preview file."),
) -> None:
    """Write a grid of N clips, evenly spaced through the dataset, as one video.

    Examples:

      vidsynth data preview cache/ -o grid.gif

      vidsynth data preview builtin:bouncing-balls -o balls.mp4 -n 9

      vidsynth data preview cache/ --split test -o test.gif
    """
    import numpy as np

    from vidsynth.data.sources import open_clips, resolve_source
    from vidsynth.errors import VidsynthError
    from vidsynth.io import write_grid

    if n < 1:
        raise VidsynthError(f"-n must be at least 1, got {n}")
    resolved = resolve_source(path)
    if resolved.kind == "cache":
        from vidsynth.data.dataset import CachedClips

        ds = CachedClips(resolved.path, frames=frames, size=size, split=split)
    else:
        ds = open_clips(path, frames=frames or BUILTIN_FRAMES, size=size or BUILTIN_SIZE, split=split)
    if len(ds) == 0:
        raise VidsynthError(f"{path} has no clips in the {split} split")
    picks = np.unique(np.linspace(0, len(ds) - 1, min(n, len(ds))).round().astype(int))
    clips = np.stack([ds[int(i)].numpy() for i in picks])
    written = write_grid(output, clips, fps=fps)
    _console().print(f"wrote {written}: {_plural(len(picks), 'clip')} of {len(ds)} ({split})")


def _clips_line(d: dict) -> str:
    """``N clips of T x SxSxC`` from a dataset's description."""
    return f"{_plural(d['clips'], 'clip')} of {d['frames']} x {d['size']}x{d['size']}x{d['channels']}"


def register(app: typer.Typer) -> None:
    app.add_typer(data_app, name="data")
