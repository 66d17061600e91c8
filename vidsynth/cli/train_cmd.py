"""``vidsynth train``: train any model plugin on a folder of videos, a prepared cache or a built-in dataset."""

from __future__ import annotations

import os
from pathlib import Path
from typing import List, Optional

import typer


def train(
    plugin: str = typer.Argument(..., help="Model plugin to train, e.g. wgan3d (see `vidsynth plugins list`)."),
    data: Optional[str] = typer.Argument(
        None, help="Folder of videos, prepared clip cache, builtin:NAME, or builtin:A+builtin:B (a mix). With --resume it defaults to the run's data."
    ),
    preset: Optional[str] = typer.Option(None, "--preset", "-p", help="Named config preset of the plugin (default: its default, usually 'small')."),
    config_file: Optional[Path] = typer.Option(None, "--config", help="TOML file of config values (a [PLUGIN] table or top-level keys)."),
    sets: Optional[List[str]] = typer.Option(None, "--set", help="Override one config value: --set lr=1e-4 (repeatable)."),
    condition: Optional[str] = typer.Option(None, "--condition", help="Models that condition on a chosen frame (wgan3d-cond): middle or first; short for --set condition=..."),
    steps: Optional[int] = typer.Option(None, "--steps", help="Total training steps (default: the config's `steps`)."),
    epochs: Optional[int] = typer.Option(None, "--epochs", help="Train this many passes over the data instead of --steps."),
    batch_size: Optional[int] = typer.Option(None, "--batch-size", "-b", help="Clips per batch (per process under torchrun)."),
    device: str = typer.Option("auto", "--device", help="auto, cpu, cuda, cuda:N or mps."),
    precision: str = typer.Option("auto", "--precision", help="auto (bf16 on a capable GPU, else fp32), fp32, bf16 or fp16."),
    compile_: bool = typer.Option(False, "--compile", help="torch.compile the modules (slow start, faster steps on GPU)."),
    seed: Optional[int] = typer.Option(None, "--seed", help="Seed of weights, noise and data order (default 0)."),
    deterministic: bool = typer.Option(False, "--deterministic", help="Deterministic kernels only (slower; errors on ops without one)."),
    channels_last: bool = typer.Option(False, "--channels-last", help="channels_last_3d memory format (can be faster on GPU)."),
    run_dir: Optional[Path] = typer.Option(None, "--run-dir", help="Directory of this run (default runs/PLUGIN-YYYYmmdd-HHMMSS; must be new)."),
    resume: Optional[Path] = typer.Option(None, "--resume", help="Continue this run directory exactly where its last checkpoint left off (from step 0 if it has none yet)."),
    checkpoint_every: int = typer.Option(500, "--checkpoint-every", help="Save a checkpoint every N steps (also at the end and on Ctrl-C)."),
    keep: int = typer.Option(3, "--keep", help="Keep the newest K checkpoints."),
    preview_every: int = typer.Option(500, "--preview-every", help="Write a preview grid (mp4 + GIF) every N steps; 0 turns previews off."),
    log_every: int = typer.Option(10, "--log-every", help="Write a metrics.jsonl line (and a log line) every N steps."),
    workers: Optional[int] = typer.Option(None, "--workers", help="DataLoader worker processes (default 0 on CPU, up to 4 on GPU)."),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="Plain log lines instead of a progress bar."),
) -> None:
    """Train a model plugin; checkpoints, logs and previews go to a run directory.

    DATA is a folder of videos (prepared into the clip cache on first use), a prepared cache, or a
    built-in dataset such as builtin:bouncing-balls. The config comes from the plugin's preset, then
    --config FILE.toml, then each --set key=value. Ctrl-C (or SIGTERM) saves a checkpoint and stops
    with exit 130 (143); --resume RUN continues it exactly (same losses as an uninterrupted run on CPU).

    Examples:

      vidsynth train wgan3d builtin:bouncing-balls --preset small --steps 2000

      vidsynth train cvae ~/videos --set lr=5e-4 --set batch_size=32 --device cuda

      vidsynth train wgan3d-cond ~/videos --preset paper-gp --condition middle

      vidsynth train cvae --resume runs/cvae-20250101-120000 --steps 20000

      torchrun --nproc-per-node 4 -m vidsynth train wgan3d builtin:bouncing-balls

    The run directory holds config.json, metrics.jsonl, loss.png, previews/ and checkpoints/
    (see docs/training.md).
    """
    from vidsynth.checkpoint import new_run_dir, read_run_config
    from vidsynth.errors import VidsynthError
    from vidsynth.plugins import get_registry
    from vidsynth.trainer import TrainOptions, build_config

    model = get_registry().model(plugin)
    data_source = data
    if condition is not None:
        import dataclasses

        from vidsynth.model import Task

        if model.task is Task.UNCONDITIONAL or "condition" not in {f.name for f in dataclasses.fields(model.Config)}:
            raise VidsynthError(f"{model.name} has no choice of conditioning frame; --condition applies to models "
                                "such as wgan3d-cond")
    if resume is not None:
        info = read_run_config(resume)
        if info["plugin"] != plugin:
            raise VidsynthError(f"run {resume} is a {info['plugin']} run, not {plugin}")
        fixed = [flag for flag, given in (("--preset", preset), ("--config", config_file), ("--set", sets),
                                           ("--condition", condition), ("--batch-size", batch_size),
                                           ("--run-dir", run_dir)) if given]
        if fixed:
            raise VidsynthError(
                f"--resume continues a run with its saved config; {', '.join(fixed)} cannot change it (start a new run instead)"
            )
        saved_seed = info.get("trainer", {}).get("seed", 0)
        if seed is not None and seed != saved_seed:
            raise VidsynthError(f"run {resume} was trained with --seed {saved_seed}; resume keeps it (drop --seed)")
        seed = saved_seed
        config = model.config_from_dict(info["config"])
        data_source = data_source or run_data_source(info, Path(resume))
        if steps is None and epochs is None:
            steps = info.get("trainer", {}).get("steps", config.steps)
    else:
        if condition is not None:
            sets = [*(sets or []), f"condition={condition}"]
        config = build_config(model, preset, config_file, sets, steps=steps, batch_size=batch_size)
        from vidsynth.channels import follow_data_channels  # colour follows the data unless --set channels=

        config = follow_data_channels(model, config, data_source, sets, config_file, preset)
    if not data_source:
        raise VidsynthError("DATA is missing: give a folder of videos, a prepared cache or builtin:NAME")
    if resume is not None and os.environ.get("RANK", "0") == "0":  # under torchrun rank 0 alone takes the lock
        from vidsynth.run_lock import RunLock

        RunLock(resume).check()  # another trainer holds it: say so now, before the data is opened
    if run_dir is not None and run_dir.exists() and (not run_dir.is_dir() or any(run_dir.iterdir())):
        new_run_dir(model.name, "runs", run_dir)  # raises the one-line error, before torch is even imported

    from vidsynth.runtime import Runtime  # the first import of torch: flags and config are checked by now
    from vidsynth.trainer import train as run_training

    with Runtime(device=device, precision=precision, seed=seed or 0, compile=compile_,
                 deterministic=deterministic, channels_last=channels_last) as rt:
        created = None
        try:
            dataset, preview_clips = _open_data(data_source, config, rt)
            if resume is not None:
                target = Path(resume)
            else:
                existed = run_dir is not None and run_dir.exists()
                made = new_run_dir(model.name, "runs", run_dir) if rt.is_main else None
                created = None if existed else made
                target = Path(rt.all_gather_object(str(made) if made else None)[0])
            if workers is None:
                workers = 0 if rt.device.type == "cpu" else min(4, max(1, (_cores() // rt.local_world_size) - 1))
            options = TrainOptions(
                steps=steps if epochs is None else None, epochs=epochs, checkpoint_every=checkpoint_every, keep=keep,
                preview_every=preview_every, log_every=log_every, workers=workers, quiet=quiet,
            )
            if rt.is_main:
                what = "resuming" if resume is not None else "training"
                typer.echo(f"{what} {model.name} on {data_source} ({len(dataset)} clips) -> {target}  "
                           f"[{rt.device}, {rt.precision}, {rt.world_size} process(es)]", err=True)
            result = run_training(
                model, config, dataset, runtime=rt, run_dir=target, options=options, resume=resume is not None,
                preset=preset if resume is None else None,
                data_info={"source": stored_data_source(data_source), "description": _describe(dataset)},
                preview_clips=preview_clips,
            )
        except VidsynthError:
            if created is not None and created.is_dir() and not any(created.iterdir()):
                created.rmdir()  # the run never started: leave no empty run directory behind
            if not rt.is_main:  # rank 0 reports it: one line, not one per process
                raise typer.Exit(1)
            raise
    if result.status == "interrupted":
        import signal

        name = signal.Signals(result.signal).name if result.signal else "a signal"
        if rt.is_main:
            typer.echo(
                f"stopped by {name} after {result.step} steps; checkpoint {result.checkpoint}\n"
                f"continue with: vidsynth train {model.name} --resume {result.run_dir}",
                err=True,
            )
        raise typer.Exit(128 + (result.signal or 2))
    if rt.is_main:
        typer.echo(f"done: {result.step} steps, checkpoint {result.checkpoint}")
        typer.echo(f"sample with: vidsynth sample {model.name} --checkpoint {result.run_dir} -o sample.mp4")


def stored_data_source(source: str) -> str:
    """What config.json records as the data: a built-in name as given, a path made absolute (so the run
    resumes from any working directory)."""
    if source.startswith("builtin:"):
        return source
    return str(Path(source).expanduser().resolve())


def run_data_source(info: dict, run_dir: Path) -> str | None:
    """The data of a run being resumed, from its config.json: a built-in name, an absolute path, or a
    relative one, looked up next to the run directory first and then (as runs before absolute paths
    recorded them) from the working directory. A path that is gone is a one-line error saying where it
    came from. The path is only read (opened as data), never written."""
    from vidsynth.errors import VidsynthError

    data = info.get("data")
    source = data.get("source") if isinstance(data, dict) else None
    if not source:
        return None
    if not isinstance(source, str):
        raise VidsynthError(f"{run_dir / 'config.json'}: entry data.source is not a path or a builtin: name")
    if source.startswith("builtin:"):
        return source
    path = Path(source).expanduser()
    for candidate in ([path] if path.is_absolute() else [run_dir / path, path]):
        if candidate.exists():
            return str(candidate)
    raise VidsynthError(
        f"the run's data path {source} (from {run_dir / 'config.json'}) does not exist; pass DATA to train on another copy"
    )


def _cores() -> int:
    import os

    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:
        return os.cpu_count() or 1


def _describe(dataset) -> dict:
    describe = getattr(dataset, "describe", None)
    return describe() if callable(describe) else {"clips": len(dataset)}


def _open_data(source: str, config, rt):
    """The training clips, and a few held-out clips for previews (None: the trainer uses the first train clips).

    Rank 0 opens first (a raw folder is prepared into the clip cache then); the others wait and reuse it.
    """
    from vidsynth.data import open_clips
    from vidsynth.errors import VidsynthError

    def open_split(split: str, progress: bool):
        return open_clips(source, frames=config.frames, size=config.size, channels=config.channels, split=split,
                          progress=progress)

    dataset = None
    if rt.is_main:
        dataset = open_split("train", True)
    rt.barrier()
    if not rt.is_main:
        dataset = open_split("train", False)
    preview = None
    if rt.is_main:
        try:
            held_out = open_split("test", False)
            if len(held_out) > 0:
                import torch

                preview = torch.stack([torch.as_tensor(held_out[i]) for i in range(min(8, len(held_out)))])
        except VidsynthError:
            preview = None  # no test split: previews condition on the first training clips
    return dataset, preview


def register(app: typer.Typer) -> None:
    app.command("train")(train)
