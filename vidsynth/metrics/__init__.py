"""Metrics, baselines and reports: how ``vidsynth eval`` tells whether a model learned anything.

Importing this package is cheap (it is imported whenever the plugin registry loads, for the built-in
metrics); the torch-based parts load on first attribute access.

* ``Metric`` — what a metric plugin registers (``vidsynth.metrics.metric``).
* pixel metrics — ``psnr_per_frame``, ``ssim_per_frame``, ``mse_per_frame``, ``l2_table2``
  (``vidsynth.metrics.pixel``).
* Fréchet distances — ``frechet_distance``, ``feature_statistics``, ``i3d_features``,
  ``inception_features``, ``load_detector`` (``vidsynth.metrics.frechet``).
* bouncing-balls physics — ``detect_balls``, ``true_ball_count``, ``ball_count_accuracy``,
  ``ball_count_changes``, ``ball_roundness``, ``ball_radius``, ``ball_count_per_frame``, ``ball_speed``,
  ``motion_coherence`` (``vidsynth.metrics.physics``).
* any video — ``motion_energy``, ``temporal_coherence``, ``appearance_distance``
  (``vidsynth.metrics.appearance``).
* baselines — ``linear_interpolation``, ``flow_interpolation``, ``copy_last_frame``, ``shuffle_frames``,
  ``baselines_for`` (``vidsynth.metrics.baselines``).
* statistics — ``summarize``, ``paired_difference``, ``welch_difference`` (``vidsynth.metrics.stats``).
* the engine — ``evaluate`` (``vidsynth.metrics.evaluate``), ``EvalOptions`` and its torch-free checks
  (``vidsynth.metrics.options``); reports in ``vidsynth.metrics.report``.
"""

from __future__ import annotations

import importlib
from typing import Any

from vidsynth.metrics.metric import ALL_TASKS, CONDITIONAL_TASKS, Metric

_LAZY = {
    "pixel": ("psnr", "ssim", "psnr_per_frame", "ssim_per_frame", "mse_per_frame", "l2_table2", "psnr_from_mse"),
    "frechet": (
        "frechet_distance", "frechet_distance_of_features", "feature_statistics", "i3d_features",
        "inception_features", "load_detector",
    ),
    "physics": (
        "detect_balls", "true_ball_count", "ball_count_accuracy", "ball_count_changes", "ball_roundness",
        "ball_radius", "ball_count_per_frame", "ball_speed", "motion_coherence",
    ),
    "appearance": ("motion_energy", "temporal_coherence", "appearance_distance"),
    "baselines": (
        "linear_interpolation", "flow_interpolation", "copy_last_frame", "shuffle_frames", "baselines_for",
        "Baseline",
    ),
    "stats": ("summarize", "paired_difference", "welch_difference", "student_t_quantile"),
    "evaluate": ("evaluate", "EvalOptions", "available_metrics"),
}
_WHERE = {name: module for module, names in _LAZY.items() for name in names}

__all__ = ["ALL_TASKS", "CONDITIONAL_TASKS", "Metric", *_WHERE]


def __getattr__(name: str) -> Any:
    module = _WHERE.get(name)
    if module is None:
        raise AttributeError(f"module 'vidsynth.metrics' has no attribute {name!r}")
    return getattr(importlib.import_module(f"vidsynth.metrics.{module}"), name)
