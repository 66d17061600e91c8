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


def _ball_count_accuracy(video: Any, _: Any = None, data: Any = None) -> Any:
    from vidsynth.metrics.physics import ball_count_accuracy

    return ball_count_accuracy(video, None, data)


def _ball_count_changes(video: Any, _: Any = None) -> Any:
    from vidsynth.metrics.physics import ball_count_changes

    return ball_count_changes(video)


def _ball_roundness(video: Any, _: Any = None) -> Any:
    from vidsynth.metrics.physics import ball_roundness

    return ball_roundness(video)


def _ball_radius(video: Any, _: Any = None) -> Any:
    from vidsynth.metrics.physics import ball_radius

    return ball_radius(video)


def _ball_count(video: Any, _: Any = None) -> Any:
    from vidsynth.metrics.physics import ball_count_per_frame

    return ball_count_per_frame(video)


def _ball_speed(video: Any, _: Any = None) -> Any:
    from vidsynth.metrics.physics import ball_speed

    return ball_speed(video)


def _motion_coherence(video: Any, _: Any = None) -> Any:
    from vidsynth.metrics.physics import motion_coherence

    return motion_coherence(video)


def _motion_energy(video: Any, _: Any = None) -> Any:
    from vidsynth.metrics.appearance import motion_energy

    return motion_energy(video)


def _temporal_coherence(video: Any, _: Any = None) -> Any:
    from vidsynth.metrics.appearance import temporal_coherence

    return temporal_coherence(video)


def _appearance_distance(video: Any, _: Any = None, data: Any = None) -> Any:
    from vidsynth.metrics.appearance import appearance_distance

    return appearance_distance(video, None, data)


BALLS = ("bouncing-balls",)
#: tasks whose models can be judged on any data by how their videos move and look (keyframe models have
#: the in-betweens' ground truth, which says more)
OPEN_ENDED = ("unconditional", "first-frame", "next-frame")

BUILTIN_METRICS: tuple[Metric, ...] = (
    # What a viewer of bouncing balls sees first: the right number of round balls of the right size.
    Metric(
        "ball-count-accuracy", _ball_count_accuracy, higher_is_better=True, kind="statistic", per_frame=True,
        datasets=BALLS, uses_data=True,
        description="fraction of frames showing the data's true number of balls (its balls= setting, 3 by "
        "default; for plain clips the count most real frames show); touching balls count apart",
    ),
    Metric(
        "ball-count-changes", _ball_count_changes, higher_is_better=None, kind="statistic", frames="all",
        datasets=BALLS, description="times per clip the ball count changes between consecutive frames "
        "(balls appearing, vanishing, merging)",
    ),
    Metric(
        "ball-roundness", _ball_roundness, higher_is_better=None, kind="statistic", datasets=BALLS,
        description="mean blob roundness, sqrt of the ratio of the pixel covariance's eigenvalues (1 = disc)",
    ),
    Metric(
        "ball-radius", _ball_radius, higher_is_better=None, kind="statistic", datasets=BALLS, unit="width",
        description="mean blob radius sqrt(area / pi) at intensity 0.25, in frame widths",
    ),
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
        description="Table 2 L2 of Penington et al. 2019: ||255 (x - y)||_F / 100 over the whole video (all frames)",
    ),
    # Any data: motion and appearance, beside real, shuffled and still clips.
    Metric(
        "motion-energy", _motion_energy, higher_is_better=None, kind="statistic", tasks=OPEN_ENDED,
        description="mean absolute pixel change between consecutive frames (still clip: 0)",
    ),
    Metric(
        "temporal-coherence", _temporal_coherence, higher_is_better=None, kind="statistic", tasks=OPEN_ENDED,
        description="mean correlation of consecutive frames (still clip: 1; shuffled frames and noise lower)",
    ),
    Metric(
        "appearance-distance", _appearance_distance, higher_is_better=False, kind="statistic", per_frame=True,
        tasks=OPEN_ENDED, uses_data=True,
        description="total-variation distance of each frame's 32-bin intensity histogram (per channel) to "
        "that of the first batch of real clips; real clips give the floor",
    ),
    Metric(
        "ball-count", _ball_count, higher_is_better=None, kind="statistic", per_frame=True, datasets=BALLS,
        description="mean balls detected per frame (touching balls count apart)",
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
