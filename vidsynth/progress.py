"""What training shows while it runs: a rich progress bar on a terminal, plain lines otherwise.

Only rank 0 shows anything. Plain lines (one per ``metrics.jsonl`` record) are printed when the output is
not a terminal or with ``--quiet``.
"""

from __future__ import annotations

import time
from typing import Any


class Progress:
    """A rich progress bar on a terminal; plain lines (every --log-every steps) otherwise or with --quiet."""

    def __init__(self, name: str, start: int, total: int, *, clips_per_step: int, show: bool = True,
                 quiet: bool = False, console: Any = None) -> None:
        self.name = name
        self.start = start
        self.total = total
        self.clips_per_step = clips_per_step
        self.show = show
        self.bar = None
        self.task = None
        self.console = None
        self._t = self._t0 = time.perf_counter()
        self._last = start
        if not show:
            return
        from rich.console import Console

        self.console = console or Console()
        if self.console.is_terminal and not quiet:
            from rich.progress import BarColumn, MofNCompleteColumn, TextColumn, TimeRemainingColumn
            from rich.progress import Progress as Bar
            from rich.table import Column

            def keep() -> Column:  # never wrapped; the table takes its width from the elastic columns first
                return Column(no_wrap=True)

            # On a narrow terminal the losses shrink first (cut with an ellipsis), then the bar: the step,
            # the ETA and the speed stay whole at 80 columns.
            self.bar = Bar(
                TextColumn(f"[bold]{name}", table_column=keep()),
                BarColumn(bar_width=None, table_column=Column(ratio=1, min_width=5, no_wrap=True)),
                MofNCompleteColumn(table_column=keep()),
                TimeRemainingColumn(table_column=keep()),
                TextColumn("{task.fields[rate]}", table_column=keep()),
                TextColumn("{task.fields[losses]}", table_column=Column(ratio=3, no_wrap=True, overflow="ellipsis")),
                console=self.console,
                expand=True,
            )
            self.task = self.bar.add_task("train", total=total, completed=start, rate="", losses="")
            self.bar.start()

    def update(self, step: int, losses: dict[str, float]) -> None:
        if self.bar is None:
            return
        now = time.perf_counter()
        rate = (step - self._last) * self.clips_per_step / max(now - self._t, 1e-9)
        self._t, self._last = now, step
        text = "  ".join(f"{k} {v:.4g}" for k, v in losses.items())
        self.bar.update(self.task, completed=step, rate=f"{rate:.1f} clips/s", losses=text)

    def line(self, record: dict[str, Any]) -> None:
        """The plain line of one ``metrics.jsonl`` record (when there is no bar)."""
        if self.bar is not None or not self.show:
            return
        done = record["step"] - self.start
        eta = (time.perf_counter() - self._t0) / max(done, 1) * (self.total - record["step"])
        losses = "  ".join(f"{k} {v:.4g}" for k, v in record["losses"].items())
        print(
            f"step {record['step']}/{self.total}  {losses}  {record['clips_per_s']:.1f} clips/s  ETA {hms(eta)}",
            flush=True,
        )

    def close(self) -> None:
        if self.bar is not None:
            self.bar.stop()
            self.bar = None

    def __enter__(self) -> Progress:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()


def hms(seconds: float) -> str:
    seconds = int(round(seconds))
    return f"{seconds // 3600}:{seconds % 3600 // 60:02d}:{seconds % 60:02d}"
