"""Training-step throughput of each model plugin: device, precision and ``torch.compile`` side by side.

Times ``ModelPlugin.train_step`` exactly as the trainer calls it (same Runtime, TrainContext, optimisers,
autocast and compile wrapping) on random clips of the config's shape, so data loading is left out. Each
setting: ``--warmup`` untimed steps (compilation happens there), then ``--steps`` timed steps, the device
synchronised before and after. Prints one row per (plugin, preset, device, precision, compile) and the
ratios to the first setting of the same plugin and preset.

    python benchmarks/bench_train.py                                  # every plugin, small, this machine's best device
    python benchmarks/bench_train.py --plugins wgan3d,convlstm --presets small,paper \\
        --settings cuda:fp32,cuda:bf16,cuda:bf16:compile,cpu:fp32 --json out.json

A setting is ``DEVICE:PRECISION[:compile]``. manifold-traverse is timed in both phases (``-p1``/``-p2``).
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import time
from typing import Any

import torch

from vidsynth.errors import VidsynthError
from vidsynth.plugins import get_registry
from vidsynth.runtime import Runtime
from vidsynth.tensors import clips_to_model
from vidsynth.trainer import build_context


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def parse_setting(setting: str) -> tuple[str, str, bool]:
    """``DEVICE:PRECISION[:compile]`` (DEVICE may be ``cuda:N``) -> (device, precision, compile)."""
    parts = setting.split(":")
    if len(parts) > 2 and parts[0] == "cuda" and parts[1].isdigit():  # cuda:0:bf16
        parts = [f"cuda:{parts[1]}", *parts[2:]]
    if len(parts) not in (2, 3) or (len(parts) == 3 and parts[2] != "compile"):
        raise VidsynthError(f"bad setting {setting!r}: use DEVICE:PRECISION[:compile], e.g. cuda:bf16:compile")
    return parts[0], parts[1], len(parts) == 3


def time_steps(plugin: Any, preset: str, setting: str, steps: int, warmup: int, start_step: int = 0,
               batch_size: int | None = None) -> dict[str, Any]:
    device, precision, compile_ = parse_setting(setting)
    overrides = {"batch_size": batch_size} if batch_size else {}
    config = plugin.make_config(preset, overrides)
    with Runtime(device=device, precision=precision, seed=0, compile=compile_) as rt:
        ctx = build_context(plugin, config, rt)
        bare = ctx.bare
        shape = (config.batch_size, config.frames, config.size, config.size, config.channels)
        clips = torch.randint(0, 256, shape, dtype=torch.uint8)
        video = rt.prepare_input(clips_to_model(clips, rt.device))
        params = sum(p.numel() for m in bare.values() for p in m.parameters())
        if rt.device.type == "cuda":
            torch.cuda.reset_peak_memory_stats(rt.device)
        for i in range(warmup):
            ctx.step = start_step + i
            plugin.train_step(ctx, video)
        _sync(rt.device)
        t0 = time.perf_counter()
        for i in range(steps):
            ctx.step = start_step + warmup + i
            plugin.train_step(ctx, video)
        _sync(rt.device)
        seconds = (time.perf_counter() - t0) / steps
        peak = torch.cuda.max_memory_allocated(rt.device) / 2**20 if rt.device.type == "cuda" else None
        return {
            "device": str(rt.device), "precision": rt.precision, "compile": compile_,
            "threads": torch.get_num_threads() if rt.device.type == "cpu" else None,
            "batch": config.batch_size, "params_M": params / 1e6, "ms_per_step": 1000 * seconds,
            "clips_per_s": config.batch_size / seconds, "peak_MiB": peak,
        }


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--plugins", default="cvae,cgan,wgan3d,wgan3d-cond,pix2pix-chain,convlstm,manifold-traverse")
    ap.add_argument("--presets", default="small")
    ap.add_argument("--settings", default=None, help="comma-separated DEVICE:PRECISION[:compile] (default: "
                    "cuda:fp32,cuda:bf16,cuda:bf16:compile with a GPU, else cpu:fp32)")
    ap.add_argument("--steps", type=int, default=20)
    ap.add_argument("--warmup", type=int, default=5)
    ap.add_argument("--batch-size", type=int, default=None, help="override every config's batch size")
    ap.add_argument("--json", default=None, help="also write the rows to this JSON file")
    args = ap.parse_args(argv)
    settings = (args.settings or ("cuda:fp32,cuda:bf16,cuda:bf16:compile" if torch.cuda.is_available()
                                  else "cpu:fp32")).split(",")
    registry = get_registry()
    for name in args.plugins.split(","):
        registry.model(name)  # an unknown name is a one-line error before anything runs
    for setting in settings:
        parse_setting(setting)
    print(f"# torch {torch.__version__}, python {platform.python_version()}, {platform.machine()}, "
          f"{torch.get_num_threads()} CPU threads"
          + (f", {torch.cuda.get_device_name()}" if torch.cuda.is_available() else ", no GPU"))
    print("| plugin | preset | device | precision | compile | batch | params (M) | ms/step | clips/s | vs first | peak GPU MiB |")
    print("|---|---|---|---|---|---:|---:|---:|---:|---:|---:|")
    rows = []
    for name in args.plugins.split(","):
        plugin = registry.model(name)
        for preset in args.presets.split(","):
            if preset not in plugin.presets:
                continue
            phases = [("", 0)]
            if name == "manifold-traverse":
                cfg = plugin.make_config(preset, {})
                phases = [("-p1", 0), ("-p2", cfg.frame_steps)]
            for suffix, start in phases:
                first = None
                for setting in settings:
                    try:
                        row = time_steps(plugin, preset, setting, args.steps, args.warmup, start, args.batch_size)
                    except (VidsynthError, RuntimeError) as exc:
                        print(f"| {name}{suffix} | {preset} | {setting} | failed: {str(exc).splitlines()[0][:120]} |")
                        sys.stdout.flush()
                        continue
                    first = first or row["ms_per_step"]
                    row.update(plugin=name + suffix, preset=preset, vs_first=first / row["ms_per_step"])
                    rows.append(row)
                    peak = f"{row['peak_MiB']:.0f}" if row["peak_MiB"] is not None else "-"
                    print(f"| {row['plugin']} | {preset} | {row['device']} | {row['precision']} | "
                          f"{'yes' if row['compile'] else 'no'} | {row['batch']} | {row['params_M']:.2f} | "
                          f"{row['ms_per_step']:.1f} | {row['clips_per_s']:.1f} | {row['vs_first']:.2f}x | {peak} |")
                    sys.stdout.flush()
    if args.json:
        with open(args.json, "w") as f:
            json.dump(rows, f, indent=1)
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except VidsynthError as exc:
        sys.exit(f"error: {exc}")
