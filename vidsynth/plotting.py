"""``loss.png``: the loss curves of a run, drawn from its ``metrics.jsonl`` records.

matplotlib is imported here, lazily, and used through its object API with the Agg canvas: no pyplot,
no global backend switch, no display needed, safe to call from a training loop.
"""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

from vidsynth.atomic import atomic_write_bytes


def plot_losses(records: list[dict[str, Any]], path: str | Path, title: str = "") -> None:
    """Draw every loss in ``records`` (``{"step": s, "losses": {...}}``) against the step; write PNG atomically."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    names: list[str] = []
    for record in records:
        for name in record.get("losses", {}):
            if name not in names:
                names.append(name)
    fig = Figure(figsize=(7, 3.5), dpi=100)
    FigureCanvasAgg(fig)
    ax = fig.add_subplot(1, 1, 1)
    for name in names:
        points = [(r["step"], r["losses"][name]) for r in records if name in r.get("losses", {})]
        ax.plot([p[0] for p in points], [p[1] for p in points], label=name, linewidth=1.2)
    ax.set_xlabel("step")
    ax.set_ylabel("loss")
    if title:
        ax.set_title(title, fontsize=10)
    if names:
        ax.legend(loc="upper right", fontsize=8)
    ax.grid(alpha=0.3)
    fig.tight_layout()
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png")
    atomic_write_bytes(path, buffer.getvalue())
