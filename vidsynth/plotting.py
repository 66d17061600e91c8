"""``loss.png``: the loss curves of a run, drawn from its ``metrics.jsonl`` records.

Logged values that are schedules rather than losses (a plugin names them in ``ModelPlugin.schedule_keys``,
e.g. the cvae's KL weight ``beta``) get a panel of their own below the losses: on one axis a weight
that climbs from 0 to 1 would read as a loss and squash the real curves.

matplotlib is imported here, lazily, and used through its object API with the Agg canvas: no pyplot,
no global backend switch, no display needed, safe to call from a training loop.
"""

from __future__ import annotations

import io
from pathlib import Path
from typing import TYPE_CHECKING, Any, Iterable

from vidsynth.atomic import atomic_write_bytes

if TYPE_CHECKING:
    from matplotlib.figure import Figure


def _names(records: list[dict[str, Any]]) -> list[str]:
    names: list[str] = []
    for record in records:
        for name in record.get("losses", {}):
            if name not in names:
                names.append(name)
    return names


def _draw(ax: Any, records: list[dict[str, Any]], names: list[str], ylabel: str) -> None:
    for name in names:
        points = [(r["step"], r["losses"][name]) for r in records if name in r.get("losses", {})]
        ax.plot([p[0] for p in points], [p[1] for p in points], label=name, linewidth=1.2)
    ax.set_ylabel(ylabel)
    if names:
        ax.legend(loc="upper right", fontsize=8)
    ax.grid(alpha=0.3)


def loss_figure(records: list[dict[str, Any]], title: str = "", schedules: Iterable[str] = ()) -> Figure:
    """The figure of ``loss.png``: losses against the step, and the ``schedules`` in a panel below."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    names = _names(records)
    scheduled = [n for n in names if n in set(schedules)]
    losses = [n for n in names if n not in scheduled]
    fig = Figure(figsize=(7, 5 if scheduled else 3.5), dpi=100)
    FigureCanvasAgg(fig)
    if scheduled:
        ax, below = fig.subplots(2, 1, sharex=True, gridspec_kw={"height_ratios": [3, 1]})
        _draw(below, records, scheduled, "schedule")
        below.set_xlabel("step")
    else:
        ax = fig.add_subplot(1, 1, 1)
        ax.set_xlabel("step")
    _draw(ax, records, losses, "loss")
    if title:
        ax.set_title(title, fontsize=10)
    fig.tight_layout()
    return fig


def plot_losses(records: list[dict[str, Any]], path: str | Path, title: str = "", schedules: Iterable[str] = ()) -> None:
    """Draw every loss in ``records`` (``{"step": s, "losses": {...}}``) against the step; write PNG atomically.

    Names in ``schedules`` are drawn in a panel of their own (see the module's docstring)."""
    fig = loss_figure(records, title, schedules)
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png")
    atomic_write_bytes(path, buffer.getvalue())
