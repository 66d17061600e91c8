"""The ``Metric`` record: what a metric plugin registers, and what every eval report computes.

This module imports no torch, so that registering metrics (which happens whenever the plugin registry
loads, e.g. for ``vidsynth --help``) stays fast; the metric functions import torch when they run.

A third-party metric is a module with an entry point in the ``vidsynth`` group::

    import vidsynth
    from vidsynth.metrics import Metric

    def mean_abs_error(generated, real):          # float [B, C, T, H, W] in [0, 1] -> [B, T]
        return (generated - real).abs().mean(dim=(1, 3, 4))

    @vidsynth.hookimpl
    def register_metrics(register):
        register(Metric("mae", mean_abs_error, higher_is_better=False, per_frame=True,
                        description="mean absolute pixel error, per-frame mean"))
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, Literal

ALL_TASKS: tuple[str, ...] = ("unconditional", "first-frame", "keyframes", "next-frame")
CONDITIONAL_TASKS: tuple[str, ...] = ("first-frame", "keyframes", "next-frame")


@dataclass(frozen=True)
class Metric:
    """A number computed for each evaluated video.

    ``fn`` receives float tensors ``[B, C, T, H, W]`` with pixel values in ``[0, 1]`` on the runtime's
    device and returns one value per video (``[B]``), or one value per frame (``[B, T]``) when
    ``per_frame`` is true; the engine then averages the frames the model had to produce (see
    ``frames``) and plots the per-frame curve.

    * ``kind="paired"``: ``fn(generated, real)`` compares a video with its own ground truth (the clip whose
      condition produced it). Only meaningful for conditional tasks.
    * ``kind="statistic"``: ``fn(video, None)`` describes a video on its own (e.g. ball count). The report
      shows it for the real clips too, and the ratio generated / real.

    ``higher_is_better`` is ``None`` for statistics where closer to the real clips is better.
    ``frames="all"`` scores the whole video (Table 2 L2 of Penington et al. 2019 did); ``"generated"`` scores only the
    frames the model produced (not the keyframes, first frame or context it was given).
    ``datasets`` limits a metric to data sources whose name contains one of these strings (e.g.
    ``("bouncing-balls",)``); empty means every dataset.
    ``uses_data=True``: ``fn(video, real, data)`` also gets what the engine knows about the evaluated
    data, a dict with ``"description"`` (the data source's ``describe()``, e.g. its ball count) and
    ``"reference"`` (real evaluated clips, float ``[N, C, T, H, W]`` in [0, 1]: the first batch).
    """

    name: str
    fn: Callable[[Any, Any], Any]
    higher_is_better: bool | None
    kind: Literal["paired", "statistic"] = "paired"
    per_frame: bool = False
    frames: Literal["generated", "all"] = "generated"
    tasks: tuple[str, ...] = ALL_TASKS
    datasets: tuple[str, ...] = ()
    unit: str = ""
    description: str = ""
    uses_data: bool = False

    def __post_init__(self) -> None:
        if self.kind not in ("paired", "statistic"):
            raise TypeError(f"metric {self.name!r}: kind must be 'paired' or 'statistic', not {self.kind!r}")
        if self.frames not in ("generated", "all"):
            raise TypeError(f"metric {self.name!r}: frames must be 'generated' or 'all', not {self.frames!r}")
        unknown = [t for t in self.tasks if t not in ALL_TASKS]
        if unknown:
            raise TypeError(f"metric {self.name!r}: unknown task(s) {unknown}; tasks are {ALL_TASKS}")
        if not callable(self.fn):
            raise TypeError(f"metric {self.name!r}: fn must be callable")

    def applies(self, task: str, source: str = "") -> bool:
        """Whether an eval of a ``task`` model on data ``source`` computes this metric."""
        if task not in self.tasks:
            return False
        if self.kind == "paired" and task == "unconditional":
            return False  # an unconditional sample has no ground truth to be compared with
        return not self.datasets or any(d in source for d in self.datasets)

    def info(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "kind": self.kind,
            "higher_is_better": self.higher_is_better,
            "per_frame": self.per_frame,
            "frames": self.frames,
            "tasks": list(self.tasks),
            "datasets": list(self.datasets),
            "unit": self.unit,
            "description": self.description,
        }
