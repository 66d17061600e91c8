"""The built-in metrics, registered through the same hook a third-party metric plugin uses.

Entry point ``builtin-metrics = "vidsynth.metrics.builtin"`` in the ``vidsynth`` group. Like every plugin
module this one must import fast: the metric functions import torch when they are first called.
"""

from __future__ import annotations

from typing import Any

import vidsynth
from vidsynth.metrics.metric import CONDITIONAL_TASKS, Metric


def _mse(generated: Any, real: Any) -> Any:
    from vidsynth.metrics.pixel import mse_per_frame

    return mse_per_frame(generated, real)


def _psnr(generated: Any, real: Any) -> Any:
    from vidsynth.metrics.pixel import psnr_per_frame

    return psnr_per_frame(generated, real)


def _ssim(generated: Any, real: Any) -> Any:
    from vidsynth.metrics.pixel import ssim_per_frame

    return ssim_per_frame(generated, real)


def _l2_table2(generated: Any, real: Any) -> Any:
    from vidsynth.metrics.pixel import l2_table2

    return l2_table2(generated, real)


def _ball_count(video: Any, _: Any = None) -> Any:
    from vidsynth.metrics.physics import ball_count_per_frame

    return ball_count_per_frame(video)


def _ball_speed(video: Any, _: Any = None) -> Any:
    from vidsynth.metrics.physics import ball_speed

    return ball_speed(video)


def _motion_coherence(video: Any, _: Any = None) -> Any:
    from vidsynth.metrics.physics import motion_coherence

    return motion_coherence(video)


BALLS = ("bouncing-balls",)

BUILTIN_METRICS: tuple[Metric, ...] = (
    Metric(
        "psnr", _psnr, higher_is_better=True, per_frame=True, tasks=CONDITIONAL_TASKS, unit="dB",
        description="PSNR against the ground-truth clip, mean of per-frame dB values (not pooled); "
        "pixels in [0, 1], capped at 100 dB",
    ),
    Metric(
        "ssim", _ssim, higher_is_better=True, per_frame=True, tasks=CONDITIONAL_TASKS,
        description="SSIM (Wang et al. 2004: Gaussian 11x11, sigma 1.5, K1 0.01, K2 0.03), per-frame mean",
    ),
    Metric(
        "mse", _mse, higher_is_better=False, per_frame=True, tasks=CONDITIONAL_TASKS,
        description="mean squared error per pixel, pixels in [0, 1], per-frame mean",
    ),
    Metric(
        "l2-table2", _l2_table2, higher_is_better=False, frames="all", tasks=CONDITIONAL_TASKS,
        description="seed 001 Table 2 L2: ||255 (x - y)||_F / 100 over the whole video (all frames)",
    ),
    Metric(
        "ball-count", _ball_count, higher_is_better=None, kind="statistic", per_frame=True, datasets=BALLS,
        description="balls (bright blobs) detected per frame; touching balls count as one",
    ),
    Metric(
        "ball-speed", _ball_speed, higher_is_better=None, kind="statistic", datasets=BALLS,
        unit="width/frame", description="mean ball displacement per frame (nearest-ball tracking), in frame widths",
    ),
    Metric(
        "motion-coherence", _motion_coherence, higher_is_better=True, kind="statistic", datasets=BALLS,
        description="fraction of balls where constant velocity predicts them (within 0.05 frame widths); "
        "real clips high, shuffled frames low, frozen clips also high (see ball-speed)",
    ),
)


@vidsynth.hookimpl
def register_metrics(register):
    for metric in BUILTIN_METRICS:
        register(metric)
