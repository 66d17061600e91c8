"""The random-projection critics of manifold-traverse alone: which layers should run as batched tap GEMMs
(``vidsynth.nn.projections._TapConv``) and which as grouped convolutions, measured per preset.

For each threshold T of ``TAPS_MIN_CHANNELS`` (layers with >= T input channels per critic use the taps),
times what a training step asks of the critics: a critic update (forward on real and generated frames or
clips, backward to the weights) and a generator pass (forward, backward to the input, weights frozen).
Thresholds alternate within each round; medians. ``--critics`` scales K down for a quick look (the cost
per critic does not depend on K for the taps; it does a little for grouped convolutions).

    python benchmarks/bench_critics.py --preset paper --critics 8 --rounds 3
    python benchmarks/bench_critics.py --preset small
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch

import vidsynth.nn.projections as projections
from vidsynth.nn.projections import ProjectedFrameCritics, ProjectedVideoCritics
from vidsynth.plugins import get_registry


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--preset", default="paper")
    ap.add_argument("--critics", type=int, default=None, help="K frame critics (K / 3 video critics); default: the preset's")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--thresholds", default="1000000,1024,512,256,128,1")
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args(argv)
    torch.set_num_threads(args.threads)
    c = get_registry().model("manifold-traverse").make_config(args.preset, {})
    k_frames = args.critics or c.frame_critics
    k_video = max(1, args.critics // 3) if args.critics else c.video_critics
    torch.manual_seed(0)
    cases = {
        f"frames: {k_frames} critics {c.frame_critic_widths}, {c.frame_batch} frames": (
            ProjectedFrameCritics(k_frames, c.channels, c.size, c.frame_critic_widths, 0, c.minibatch_std),
            torch.randn(c.frame_batch, c.channels, c.size, c.size)),
        f"video: {k_video} critics {c.video_critic_widths}, {c.batch_size} clips": (
            ProjectedVideoCritics(k_video, c.channels, c.frames, c.size, c.video_critic_widths, 1, c.minibatch_std),
            torch.randn(c.batch_size, c.channels, c.frames, c.size, c.size)),
    }
    thresholds = [int(t) for t in args.thresholds.split(",")]
    print(f"# torch {torch.__version__}, {torch.get_num_threads()} threads; s per (critic update + generator pass), "
          f"median of {args.rounds}")
    for name, (critics, x) in cases.items():

        def step() -> None:
            critics.requires_grad_(True)
            critics(x).sum().backward()  # the critic update's passes: real ...
            critics(x).sum().backward()  # ... and generated
            critics.requires_grad_(False)
            xg = x.clone().requires_grad_()
            critics(xg).sum().backward()  # the generator's pass through frozen critics

        times: dict[int, list[float]] = {t: [] for t in thresholds}
        for r in range(args.rounds + 1):
            for t in thresholds if r % 2 else thresholds[::-1]:
                projections.TAPS_MIN_CHANNELS = t
                t0 = time.perf_counter()
                step()
                if r:  # the first round warms up
                    times[t].append(time.perf_counter() - t0)
        base = statistics.median(times[thresholds[0]])
        print(f"{name}: " + ", ".join(f"T={t}: {statistics.median(v):.3f} s ({base / statistics.median(v):.2f}x)"
                                      for t, v in times.items()))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
