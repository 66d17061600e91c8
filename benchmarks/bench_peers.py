"""vidsynth's ``paper`` presets against the public code of the same models, one training step each.

For every row, one process builds both sides at identical shapes (same batch, widths and precision: fp32
on the CPU), runs warm-up steps, then alternates timed steps (reference, vidsynth, reference, ...) so that
both see the same machine load, and prints the medians and the ratio ``reference s/step / vidsynth
s/step`` (above 1: vidsynth is faster). vidsynth's side is ``ModelPlugin.train_step`` exactly as the
trainer calls it; the reference's side is the reference's own training step (its modules, losses and
optimisers, driven the way its training loop drives them).

Nothing of the references is committed here or imported by vidsynth: each adapter in
``benchmarks/peers/`` imports the reference from a checkout whose path you pass (``--ref NAME=PATH``).
The repositories and the commits measured are listed by ``--list`` and in docs/performance.md.

    python benchmarks/bench_peers.py --list
    python benchmarks/bench_peers.py --ref frameGAN=~/src/frameGAN --ref ConvLSTM_pytorch=~/src/ConvLSTM_pytorch
    python benchmarks/bench_peers.py --ref ... --rows convlstm --steps 5 --warmup 1 --json peers.json
"""

from __future__ import annotations

import argparse
import importlib
import json
import pkgutil
import platform
import statistics
import sys
import time
from pathlib import Path
from typing import Any

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))  # `peers` beside this script

import peers  # noqa: E402
from peers import Peer  # noqa: E402


def discover() -> list[Peer]:
    """Every ``PEER`` (or list ``PEERS``) defined by a module of ``benchmarks/peers/``."""
    found: list[Peer] = []
    for info in sorted(pkgutil.iter_modules(peers.__path__), key=lambda m: m.name):
        module = importlib.import_module(f"peers.{info.name}")
        found += list(getattr(module, "PEERS", [])) + ([module.PEER] if hasattr(module, "PEER") else [])
    return found


def time_pair(ref_step: Any, ours_step: Any, steps: int, warmup: int) -> tuple[list[float], list[float]]:
    for _ in range(warmup):
        ref_step()
        ours_step()
    ref, ours = [], []
    for i in range(steps):
        order = [(ref_step, ref), (ours_step, ours)]
        for step, times in order if i % 2 == 0 else order[::-1]:  # A B B A A B ...: no side always first
            t0 = time.perf_counter()
            step()
            times.append(time.perf_counter() - t0)
    return ref, ours


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--ref", action="append", default=[], metavar="NAME=PATH",
                    help="a checkout of reference NAME (see --list); rows without their checkout are skipped")
    ap.add_argument("--rows", default=None, help="comma-separated row names or prefixes (default: all)")
    ap.add_argument("--steps", type=int, default=5, help="timed steps per side")
    ap.add_argument("--warmup", type=int, default=1, help="untimed steps per side first")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--json", default=None, help="also write the rows to this JSON file")
    ap.add_argument("--list", action="store_true", help="list the rows and the reference each needs, then exit")
    args = ap.parse_args(argv)
    all_peers = discover()
    if args.list:
        for p in all_peers:
            print(f"{p.row}: {p.reference} ({p.repository} @ {p.commit}){' - ' + p.note if p.note else ''}")
        return 0
    paths: dict[str, Path] = {}
    for item in args.ref:
        name, sep, path = item.partition("=")
        if not sep or not Path(path).expanduser().is_dir():
            sys.exit(f"error: --ref wants NAME=PATH to a checkout folder, got {item!r}")
        paths[name] = Path(path).expanduser().resolve()
    wanted = [w.strip() for w in args.rows.split(",")] if args.rows else None
    torch.set_num_threads(args.threads)
    print(f"# torch {torch.__version__}, python {platform.python_version()}, {platform.machine()}, "
          f"{torch.get_num_threads()} threads, fp32 CPU; {args.steps} timed steps per side after {args.warmup} warm-up, "
          "alternating; medians")
    print("| model (step) | reference | shape measured | ref params (M) | vidsynth params (M) | reference s/step | vidsynth s/step | reference / vidsynth |")
    print("|---|---|---|---:|---:|---:|---:|---:|")
    rows = []
    for p in all_peers:
        if wanted and not any(p.row.startswith(w) for w in wanted):
            continue
        needs = p.reference
        if needs and needs not in paths:
            print(f"| {p.row} | {p.repository} | skipped: pass --ref {needs}=PATH (a checkout of {p.repository} @ {p.commit[:10]}) |")
            continue
        torch.manual_seed(0)
        ref_step, ours_step, info = p.build(paths.get(needs))
        ref, ours = time_pair(ref_step, ours_step, args.steps, args.warmup)
        r, o = statistics.median(ref), statistics.median(ours)
        row = {"row": p.row, "repository": p.repository, "commit": p.commit, "ref_s": r, "ours_s": o,
               "ratio": r / o, "ref_times": ref, "ours_times": ours, **info}
        rows.append(row)
        print(f"| {p.row} | {p.repository} | {info.get('shape', '')} | {info.get('ref_params', 0) / 1e6:.2f} | {info.get('ours_params', 0) / 1e6:.2f} "
              f"| {r:.3f} | {o:.3f} | {r / o:.2f}x |")
        sys.stdout.flush()
        del ref_step, ours_step
    if args.json:
        Path(args.json).write_text(json.dumps(rows, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
