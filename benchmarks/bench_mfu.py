"""Model FLOP utilisation (MFU) of each plugin's training step on this machine's CPU.

For every plugin and preset: the FLOPs of one ``ModelPlugin.train_step`` (built exactly as the trainer
builds it, fp32 on the CPU; counted by ``step_flops`` with ``torch.utils.flop_counter``'s per-op formulas:
matrix products and convolutions, forward and backward, the usual MFU convention, so the optimizer's
elementwise work counts as time but not as FLOPs), the median seconds per step after warm-up, and the machine's measured fp32
matmul peak (a large square ``torch.mm`` at the same thread count). MFU = FLOPs / seconds / peak.

    python benchmarks/bench_mfu.py                                   # cvae, cgan, pix2pix-chain: paper
    python benchmarks/bench_mfu.py --plugins cvae --batch-size 20    # cvae paper at its own batch of 20
    python benchmarks/bench_mfu.py --plugins cvae,cgan,pix2pix-chain --presets paper,small --json mfu.json
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import sys
import time
from pathlib import Path
from typing import Any

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))  # `peers` beside this script

from peers import vidsynth_step  # noqa: E402


def matmul_peak(n: int, repeats: int = 5) -> float:
    """FLOP/s of an ``n x n`` fp32 ``torch.mm`` (2 n^3 FLOPs), the best of ``repeats`` after one warm-up."""
    a, b = torch.randn(n, n), torch.randn(n, n)
    torch.mm(a, b)
    best = float("inf")
    for _ in range(repeats):
        t0 = time.perf_counter()
        torch.mm(a, b)
        best = min(best, time.perf_counter() - t0)
    return 2 * n**3 / best


def step_flops(step: Any) -> int:
    """FLOPs of one call of ``step``: matrix products and convolutions, forward and backward (double backward
    included), by ``torch.utils.flop_counter``'s per-op formulas applied in a plain dispatch mode.

    Not ``FlopCounterMode`` itself, for two reasons (torch 2.13): its module tracker's backward hooks fail on
    a gradient penalty's ``autograd.grad`` ("A leaf node was passed to _will_engine_execute_node"; convlstm),
    and its ``convolution_backward`` formula ignores ``groups`` for the weight gradient, counting a grouped
    convolution's weight gradient as if every group met every channel (groups times too many: 20.7 TFLOP of
    convolution backward against 0.67 of forward in a manifold-traverse ``paper`` step, whose 48 critics are
    one grouped convolution). Here a convolution's backward counts exactly its forward FLOPs once per
    gradient it computes (input, weight), the usual convention; the counts equal ``FlopCounterMode``'s
    wherever no convolution is grouped and ``FlopCounterMode`` runs (checked on the cvae and pix2pix-chain
    ``small`` steps)."""
    from torch.utils._python_dispatch import TorchDispatchMode
    from torch.utils.flop_counter import conv_flop_count, flop_registry

    def convolution_backward(grad_out: Any, x: Any, w: Any, _bias: Any, _stride: Any, _padding: Any, _dilation: Any,
                             transposed: bool, _output_padding: Any, _groups: Any, mask: Any, out_val: Any = None) -> int:
        forward = conv_flop_count(tuple(x.shape), tuple(w.shape), tuple(grad_out.shape), transposed=transposed)
        return forward * (int(mask[0]) + int(mask[1]))

    formulas = {**flop_registry, torch.ops.aten.convolution_backward: convolution_backward}

    class Count(TorchDispatchMode):
        total = 0

        def __torch_dispatch__(self, func: Any, types: Any, args: Any = (), kwargs: Any = None) -> Any:
            kwargs = kwargs or {}
            out = func(*args, **kwargs)
            formula = formulas.get(func._overloadpacket)
            if formula is not None:
                self.total += formula(*args, **kwargs, out_val=out)
            return out

    with Count() as counter:
        step()
    return counter.total


def measure(plugin: str, preset: str, batch_size: int | None, steps: int, warmup: int) -> dict[str, Any]:
    overrides = {"batch_size": batch_size} if batch_size else {}
    step, info = vidsynth_step(plugin, preset, overrides)
    for _ in range(warmup):
        step()
    flops = step_flops(step)
    times = []
    for _ in range(steps):
        t0 = time.perf_counter()
        step()
        times.append(time.perf_counter() - t0)
    return {"plugin": plugin, "preset": preset, "batch": info["config"].batch_size, "params": info["ours_params"],
            "flops": flops, "s_per_step": statistics.median(times), "times": times}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--plugins", default="cvae,cgan,pix2pix-chain", help="comma-separated plugin names")
    ap.add_argument("--presets", default="paper", help="comma-separated presets (skipped where a plugin has none)")
    ap.add_argument("--batch-size", type=int, default=None, help="override every config's batch size")
    ap.add_argument("--steps", type=int, default=3, help="timed steps per row (median)")
    ap.add_argument("--warmup", type=int, default=1, help="untimed steps first (the FLOP count is one more)")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--peak-size", type=int, default=4096, help="side of the square matmul that measures the peak")
    ap.add_argument("--json", default=None, help="also write the rows to this JSON file")
    args = ap.parse_args(argv)
    from vidsynth.errors import VidsynthError
    from vidsynth.plugins import get_registry

    torch.set_num_threads(args.threads)
    registry = get_registry()
    try:
        plugins = [registry.model(name) for name in args.plugins.split(",")]
    except VidsynthError as exc:
        sys.exit(f"error: {exc}")
    unknown = [p for p in args.presets.split(",") if not any(p in plugin.presets for plugin in plugins)]
    if unknown:
        known = sorted({p for plugin in plugins for p in plugin.presets})
        sys.exit(f"error: no chosen plugin has preset {', '.join(map(repr, unknown))}; they have: {', '.join(known)}")
    peak = matmul_peak(args.peak_size)
    print(f"# torch {torch.__version__}, python {platform.python_version()}, {platform.machine()}, "
          f"{torch.get_num_threads()} threads, fp32 CPU; matmul peak {peak / 1e9:.1f} GFLOP/s "
          f"({args.peak_size}^2 torch.mm); {args.steps} timed steps after {args.warmup} warm-up, medians")
    print("| plugin | preset | batch | params (M) | GFLOP/step | s/step | GFLOP/s | MFU |")
    print("|---|---|---:|---:|---:|---:|---:|---:|")
    rows = []
    for plugin in plugins:
        for preset in args.presets.split(","):
            if preset not in plugin.presets:
                continue
            torch.manual_seed(0)
            try:
                row = measure(plugin.name, preset, args.batch_size, args.steps, args.warmup)
            except RuntimeError as exc:
                print(f"| {plugin.name} | {preset} | not counted: {str(exc).splitlines()[0][:110]} |")
                sys.stdout.flush()
                continue
            row.update(peak_flops=peak, mfu=row["flops"] / row["s_per_step"] / peak)
            rows.append(row)
            print(f"| {plugin.name} | {preset} | {row['batch']} | {row['params'] / 1e6:.2f} | {row['flops'] / 1e9:.2f} "
                  f"| {row['s_per_step']:.3f} | {row['flops'] / row['s_per_step'] / 1e9:.1f} | {100 * row['mfu']:.0f}% |")
            sys.stdout.flush()
    if args.json:
        Path(args.json).write_text(json.dumps(rows, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
