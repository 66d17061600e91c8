"""``vidsynth sample``: videos from a trained model (its newest run under ./runs, or --checkpoint)."""

from __future__ import annotations

from pathlib import Path
from typing import List, Optional

import typer

VIDEO_SUFFIXES = (".mp4", ".gif", ".webm")


def sample(
    plugin: str = typer.Argument(..., help="Model plugin, e.g. cvae (see `vidsynth plugins list`)."),
    images: Optional[List[Path]] = typer.Argument(None, help="Input images (the same as --in; `--in a.jpg b.jpg` works)."),
    inputs: Optional[List[Path]] = typer.Option(None, "--in", "-i", help="Input image (first frame, keyframes...): as many as the task takes."),
    output: Path = typer.Option(..., "--output", "-o", help="Output .mp4, .gif or .webm, or a folder."),
    checkpoint: Optional[Path] = typer.Option(None, "--checkpoint", "-c", help="Run directory (or one of its checkpoints), or `pretrained` for the model vidsynth ships; default: the newest run of PLUGIN under ./runs, else the shipped one."),
    n: int = typer.Option(1, "-n", "--num", help="Number of videos."),
    seed: int = typer.Option(0, "--seed", help="Seed of the sampling noise (same seed, same videos)."),
    frames: Optional[int] = typer.Option(None, "--frames", help="Frames per video (default: the model's)."),
    mean: bool = typer.Option(False, "--mean", help="The deterministic best guess (e.g. zero noise) instead of a random sample."),
    options: Optional[List[str]] = typer.Option(None, "--option", help="Plugin sample option key=value (repeatable; `vidsynth plugins show PLUGIN` lists them)."),
    size: Optional[str] = typer.Option(None, "--size", help="Video size WxH (or N for NxN) in pixels, for models that sample at any size (cvae, cgan); default: the first photo's own size."),
    max_side: Optional[int] = typer.Option(None, "--max-side", help="Largest long side of a video made at a photo's own size, in pixels (default 1024); larger photos are scaled down."),
    grid: bool = typer.Option(False, "--grid", help="Tile the n videos into one video."),
    fps: Optional[float] = typer.Option(None, "--fps", help="Frame rate of the output (default: the model's)."),
    device: str = typer.Option("auto", "--device", help="auto, cpu, cuda, cuda:N or mps."),
    force: bool = typer.Option(False, "--force", "-f", help="Overwrite existing output files."),
) -> None:
    """Generate videos with a trained model.

    The number of input images depends on the model's task: none (unconditional), 1 (first-frame),
    2 (keyframes: first and last), 1 or more (next-frame). Without --in, a conditional model takes its
    frames from the middle held-out clip of the data it was trained on (a line names the clip).

    Models that sample at any size (cvae, cgan) make the video at the first photo's own size (its long side
    capped at --max-side, default 1024; sides made even, as mp4 needs), or at --size WxH; the network runs
    at its own size and its motion and residual are applied to the full-size photos, whose pixels are the
    first and last frames. A second photo of another size is center-cropped and resized to the first's
    (a line says so). Other models take images center-cropped and resized to their frame size. With -n N > 1 the videos are OUT_000.mp4, OUT_001.mp4, ...
    (or DIR/sample_000.mp4, ... when OUT is a folder), or one tiled video with --grid. Existing files
    are never overwritten without --force.

    Examples:

      vidsynth sample wgan3d -n 16 --grid -o samples.gif

      vidsynth sample cvae --in first.jpg last.jpg -o inbetween.mp4

      vidsynth sample cvae --in first.jpg last.jpg --size 640x480 -o inbetween.mp4

      vidsynth sample cvae --checkpoint runs/cvae-20250101-120000 --in a.png --in b.png -n 4 -o out/

      vidsynth sample convlstm --in start.png --frames 30 --mean -o next.webm

      vidsynth sample cvae --checkpoint pretrained -o held-out.mp4   (the shipped model, on a held-out clip)
    """
    from vidsynth.checkpoint import resolve_run
    from vidsynth.errors import VidsynthError
    from vidsynth.generate import generate, parse_options
    from vidsynth.plugins import get_registry
    from vidsynth.pretrained import load_model

    model = get_registry().model(plugin)
    paths = [*(inputs or []), *(images or [])]
    if (paths or model.task.value == "unconditional") and not model.task.accepts(len(paths)):
        raise VidsynthError(f"{model.name} ({model.task.value}) needs {model.task.inputs}, got {len(paths)}")
    for path in paths:
        if not path.exists():
            raise VidsynthError(f"input image {path} does not exist")
    if n < 1:
        raise VidsynthError(f"-n must be >= 1, got {n}")
    typed_options = parse_options(model, options)
    any_size = bool(getattr(model, "supports_any_size", False))
    frame_size = check_size_options(model.name, any_size, bool(paths), size, max_side)
    targets = plan_outputs(output, n, grid)
    existing = [t for t in targets if t.exists()]
    if existing and not force:
        raise VidsynthError(f"{existing[0]} already exists; pass --force to overwrite (nothing was written)")

    checkpoint, note = resolve_run(model.name, checkpoint)
    loaded = load_model(checkpoint, plugin_name=model.name, device=device)  # imports torch after its own checks
    import numpy as np

    from vidsynth.tensors import clips_to_model, images_to_condition, model_to_clips

    said = [note or f"using {loaded.meta['checkpoint']} (step {loaded.step})"]  # printed once the inputs are read
    condition = None
    if paths:
        from vidsynth.io import read_image

        side, channels = loaded.config.size, loaded.config.channels
        # one look at each photo's header (and, for a grayscale model, a thumbnail) before reading it
        peeks = ([_peek_photo(path, colour=channels == 1) for path in paths] if channels == 1 or not any_size
                 else [(None, False)] * len(paths))
        if any_size:  # the video is made at the photos' size
            pictures, notes = read_photos(paths, channels, frame_size, max_side)
            said.extend(notes)
        else:
            pictures = []
            for path, (original, _) in zip(paths, peeks):
                if original is not None and original != (side, side):
                    said.append(f"note: {path} is {original[0]}x{original[1]}; center-cropped and resized to {side}x{side}")
                pictures.append(read_image(path, size=side, channels=channels))
        said.extend(f"note: {path} is in colour; this {model.name} model is grayscale (trained on grayscale data), "
                    "so it reads the photo as gray and makes a grayscale video"
                    for path, (_, colour) in zip(paths, peeks) if colour)
        condition = images_to_condition(pictures, loaded.device)
    elif model.task.value != "unconditional":
        clip, where, _, _ = held_out_clip(model, loaded.config, (loaded.meta.get("data") or {}).get("source"))
        condition = model.condition_from(clips_to_model(clip, loaded.device), loaded.config)
        said.append(f"no --in given: conditioning on the frames {model.name} takes ({model.task.value}) from {where};"
                    " pass --in IMAGE... for your own")
    for line in said:
        typer.echo(line, err=True)

    video = generate(loaded, condition, n, seed, frames=frames, mean=mean, **typed_options)
    clips = model_to_clips(video)  # uint8 [n, T, H, W, C]
    rate = fps if fps is not None else loaded.config.fps
    targets[0].parent.mkdir(parents=True, exist_ok=True)
    if grid:
        from vidsynth.io import write_grid

        write_grid(targets[0], clips, fps=rate)
    else:
        from vidsynth.io import write_video

        for target, clip in zip(targets, clips):
            write_video(target, np.ascontiguousarray(clip), fps=rate)
    for target in targets:
        typer.echo(str(target))


def held_out_clip(model, config, source: str | None) -> tuple:
    """The middle held-out clip of ``source``, the data a model was trained on: ``(clip uint8 [T, H, W, C],
    a phrase naming it, the number of clips in its split, the split)``. What ``sample`` conditions on
    when no image is given, and what the demo saves as its input images.

    The test split when the data has one, else the training split (the phrase says so).
    """
    import numpy as np

    from vidsynth.data import open_clips
    from vidsynth.errors import VidsynthError

    if not source:
        raise VidsynthError(f"{model.name} ({model.task.value}) needs {model.task.inputs}: pass --in (its run records"
                            " no training data to take them from)")
    clips, split = None, "test"
    for split in ("test", "train"):
        try:
            clips = open_clips(source, frames=config.frames, size=config.size, channels=config.channels, split=split,
                               progress=False)
        except VidsynthError as exc:
            if split == "train":
                raise VidsynthError(f"{model.name} ({model.task.value}) needs {model.task.inputs}: pass --in (its"
                                    f" training data {source} cannot be opened to take them from: {exc})") from None
            continue
        if len(clips) > 0:
            break
    index = len(clips) // 2
    kind = "held-out clip" if split == "test" else "training clip (the data has no test split)"
    return np.asarray(clips[index]), f"{kind} {index} of {len(clips)} of {source}", len(clips), split


def check_size_options(plugin: str, any_size: bool, has_photos: bool, size: str | None,
                       max_side: int | None) -> tuple[int, int] | None:
    """``--size`` and ``--max-side``, checked before torch loads: the chosen ``(W, H)`` or None."""
    from vidsynth.errors import VidsynthError
    from vidsynth.io.image import parse_frame_size

    if size is None and max_side is None:
        return None
    flag = "--size" if size is not None else "--max-side"
    if size is not None and max_side is not None:
        raise VidsynthError("--size and --max-side both choose the video's size: pass one of them")
    if not any_size:
        raise VidsynthError(f"{plugin} samples only at its training size (it does not declare supports_any_size);"
                            f" drop {flag}")
    if not has_photos:
        raise VidsynthError(f"{flag} sizes the video made from --in photos; pass --in IMAGE... or drop {flag}")
    if max_side is not None and max_side < 2:
        raise VidsynthError(f"--max-side must be at least 2 pixels, got {max_side}")
    return parse_frame_size(size) if size is not None else None


def read_photos(paths: list[Path], channels: int, size: tuple[int, int] | None,
                max_side: int | None) -> tuple[list, list[str]]:
    """The ``--in`` photos of a model that samples at any size, all at the video's size: the first photo's
    own (capped, even) or ``size``; the others fitted to it. Returns ``(uint8 [H, W, C] arrays, notes)``."""
    from vidsynth.io import read_image
    from vidsynth.io.image import DEFAULT_MAX_SIDE, fit_image, photo_size

    cap = max_side if max_side is not None else DEFAULT_MAX_SIDE
    arrays = [read_image(path, channels=channels) for path in paths]
    h0, w0 = arrays[0].shape[:2]
    w, h = photo_size(w0, h0, size, cap)
    notes = []
    if size is None and (w, h) != (w0, h0):
        why = (f"its long side capped at {cap}; choose with --max-side N or --size WxH" if max(w0, h0) > cap
               else "even sides, as the mp4 encoder needs")
        notes.append(f"note: {paths[0]} is {w0}x{h0}; the video is {w}x{h} ({why})")
    for path, array in zip(paths[1:], arrays[1:]):
        hi, wi = array.shape[:2]
        if (hi, wi) != (h0, w0):
            notes.append(f"note: {path} is {wi}x{hi}, not {w0}x{h0} like {paths[0]}; center-cropped and resized"
                         f" to {w}x{h}")
    return [fit_image(array, w, h) for array in arrays], notes


def plan_outputs(output: Path, n: int, grid: bool) -> list[Path]:
    """The files ``sample`` writes: OUT, OUT_000.mp4 ... for n > 1, or DIR/sample_000.mp4 ... for a folder."""
    from vidsynth.errors import VidsynthError

    text = str(output)
    is_folder = output.is_dir() or text.endswith(("/", "\\")) or output.suffix == ""
    if is_folder:
        if grid:
            return [output / "grid.mp4"]
        return [output / f"sample_{i:03d}.mp4" for i in range(n)]
    if output.suffix.lower() not in VIDEO_SUFFIXES:
        raise VidsynthError(f"cannot write {output.name}: use a .mp4, .gif or .webm file, or a folder")
    if not output.parent.exists():
        raise VidsynthError(f"cannot write {output}: folder {output.parent} does not exist")
    if n == 1 or grid:
        return [output]
    return [output.with_name(f"{output.stem}_{i:03d}{output.suffix}") for i in range(n)]


def _peek_photo(path: Path, colour: bool) -> tuple[tuple[int, int] | None, bool]:
    """A photo's ``(width, height)`` and, when ``colour``, whether R, G and B differ somewhere (on a 64-pixel
    thumbnail); ``(None, False)`` for a file Pillow cannot open (read_image then reports it clearly)."""
    try:
        import numpy as np
        from PIL import Image

        from vidsynth.channels import is_gray

        with Image.open(path) as img:
            size = img.size
            if not colour:
                return size, False
            img.thumbnail((64, 64))
            return size, not is_gray(np.asarray(img.convert("RGB")))
    except Exception:  # noqa: BLE001 - read_image reports unreadable files with a clear message
        return None, False


def register(app: typer.Typer) -> None:
    app.command("sample")(sample)
