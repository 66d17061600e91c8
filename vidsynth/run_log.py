"""The run log: ``metrics.jsonl`` (one JSON line per ``--log-every`` steps), its history in memory, ``loss.png``.

Every process counts losses (so all of them agree on when a window closes); only the writer (rank 0)
writes. A line averages the losses of the steps since the previous line.
"""

from __future__ import annotations

import json
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from vidsynth.atomic import atomic_write_bytes

METRICS_FILE = "metrics.jsonl"
PLOT_FILE = "loss.png"


@dataclass
class _Window:
    """Losses and time since the last log line."""

    start: float = field(default_factory=time.perf_counter)
    steps: int = 0
    sums: dict[str, float] = field(default_factory=dict)
    counts: dict[str, int] = field(default_factory=dict)

    def add(self, losses: dict[str, float]) -> None:
        self.steps += 1
        for k, v in losses.items():
            self.sums[k] = self.sums.get(k, 0.0) + v
            self.counts[k] = self.counts.get(k, 0) + 1

    def means(self) -> dict[str, float]:
        return {k: self.sums[k] / self.counts[k] for k in self.sums}


def _stderr(text: str) -> None:
    print(text, file=sys.stderr, flush=True)


class RunLog:
    """``metrics.jsonl`` + history + ``loss.png`` of one run.

    ``add(losses)`` after each step; ``due(step, last_step=...)`` says when a line is written, ``write``
    writes it (averaging the window) and returns the record.
    """

    def __init__(self, run_dir: str | Path, *, every: int, batches_per_epoch: int, clips_per_step: int,
                 writer: bool = True, title: str = "", schedule_keys: tuple[str, ...] = (),
                 warn: Callable[[str], None] = _stderr) -> None:
        self.run_dir = Path(run_dir)
        self.every = every
        self.bpe = batches_per_epoch
        self.clips_per_step = clips_per_step
        self.writer = writer
        self.title = title
        self.schedule_keys = tuple(schedule_keys)  # logged values that are not losses: their own panel in loss.png
        self.warn = warn
        self.history: list[dict[str, Any]] = []
        self.elapsed_before = 0.0  # training time of earlier sessions of this run (from the last kept line)
        self.started = time.perf_counter()  # start of this session's training
        self.window = _Window()

    @property
    def path(self) -> Path:
        return self.run_dir / METRICS_FILE

    def resume(self, upto: int) -> None:
        """Keep the records of steps <= ``upto`` (a resumed run repeats the steps after its checkpoint)."""
        if not self.writer or not self.path.exists():
            return
        kept = []
        for line in self.path.read_text().splitlines():
            try:
                record = json.loads(line)
            except json.JSONDecodeError:
                continue  # a line cut short when the process was killed
            if record.get("step", 0) <= upto:
                kept.append(record)
        self.history = kept
        self.elapsed_before = float(kept[-1].get("elapsed", 0.0)) if kept else 0.0
        atomic_write_bytes(self.path, "".join(json.dumps(r) + "\n" for r in kept).encode())

    def start(self) -> None:
        """Training starts now (the clock of ``elapsed`` and of the first window)."""
        self.started = time.perf_counter()
        self.window = _Window()

    def add(self, losses: dict[str, float]) -> None:
        self.window.add(losses)

    def due(self, step: int, *, last_step: bool = False) -> bool:
        return bool(self.window.steps) and (step % self.every == 0 or last_step)

    def write(self, step: int, lr: dict[str, float]) -> dict[str, Any] | None:
        """Close the window: append its line to ``metrics.jsonl`` (writer only) and return the record."""
        window, self.window = self.window, _Window()
        if not self.writer:
            return None
        seconds = max(time.perf_counter() - window.start, 1e-9)
        record = {
            "step": step,
            "time": round(time.time(), 3),
            "elapsed": round(self.elapsed_before + time.perf_counter() - self.started, 3),  # summed over resumes
            "epoch": (step - 1) // self.bpe,
            "losses": window.means(),
            # usually --log-every; fewer in the first line after a resume from a step between two lines
            # and in the last line of a run stopped (or ending) between two
            "steps_averaged": window.steps,
            "lr": lr,
            "clips_per_s": window.steps * self.clips_per_step / seconds,
        }
        self.history.append(record)
        with open(self.path, "a") as f:
            f.write(json.dumps(record) + "\n")
        return record

    def plot(self) -> None:
        """Redraw ``loss.png`` from the history (a failure is a warning: a plot never stops training)."""
        if not self.writer:
            return
        from vidsynth.plotting import plot_losses

        try:
            plot_losses(self.history, self.run_dir / PLOT_FILE, title=self.title, schedules=self.schedule_keys)
        except Exception as exc:  # noqa: BLE001 - a plot must never stop training
            self.warn(f"warning: could not draw {PLOT_FILE}: {exc}")
