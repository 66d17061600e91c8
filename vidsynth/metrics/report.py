"""An eval report: a rich table on the terminal, ``report.json``, a comparison video and ``curves.png``.

The report dict comes from ``vidsynth.metrics.evaluate.evaluate``; nothing here computes a metric. Every
file is written atomically (a failed write leaves no half file under the final name).
"""

from __future__ import annotations

import io
import json
import math
from pathlib import Path
from typing import Any

import numpy as np

from vidsynth.atomic import atomic_file, write_text_atomic
from vidsynth.metrics.files import CURVES_FILE, REPORT_FILE, VIDEO_FILE



def fmt(x: float | None, digits: int = 4) -> str:
    """A number with ``digits`` significant digits, '-' for missing."""
    if x is None or (isinstance(x, float) and not math.isfinite(x)):
        return "-"
    if x == 0:
        return "0"
    magnitude = math.floor(math.log10(abs(x)))
    decimals = max(0, digits - 1 - magnitude)
    return f"{x:.{decimals}f}"


def _cell(summary: dict[str, Any] | None) -> str:
    if not summary or summary.get("mean") is None:
        return "-"
    ci = summary.get("ci95")
    if ci is None:
        return fmt(summary["mean"])
    return f"{fmt(summary['mean'])} ± {fmt((ci[1] - ci[0]) / 2, 2)}"


def _diff_cell(diff: dict[str, Any]) -> str:
    if diff.get("mean") is None:
        return "-"
    ci = diff.get("ci95")
    text = fmt(diff["mean"], 3) + (f" [{fmt(ci[0], 3)}, {fmt(ci[1], 3)}]" if ci else "")
    verdict = diff.get("verdict")
    return f"{text} {verdict}" if verdict else text


def render_tables(report: dict[str, Any], console: Any) -> None:
    """Print the report: metrics (mean ± 95% half-interval), model − baseline, ratios, Fréchet distances."""
    from rich.table import Table

    systems = list(report["systems"]) + list(report.get("statistics_only", []))  # shuffled: statistics only
    metrics = report["metrics"]
    stat_ref = "real" if report["task"] != "unconditional" else "reference"
    has_stats = any(m["kind"] == "statistic" for m in metrics.values())
    diff_names = [s for s in systems if any(s in m.get("vs_baselines", {}) for m in metrics.values())]

    def label(name: str, m: dict[str, Any]) -> str:
        arrow = {True: " ↑", False: " ↓", None: ""}[m["higher_is_better"]]
        return f"{name}{arrow}" + (f" ({m['unit']})" if m.get("unit") else "")

    title = (f"{report.get('plugin', 'model')} ({report['task']}) on {report['clips']} clips of "
             f"{report.get('source') or 'test data'}: mean ± 95% interval")
    table = Table(title=title, title_justify="left")
    table.add_column("metric")
    for name in systems:
        table.add_column(name, justify="right")
    if has_stats:
        table.add_column(f"{stat_ref} clips", justify="right")
    for name, m in metrics.items():
        if "error" in m:
            table.add_row(label(name, m), f"not computed: {m['error']}", *[""] * (len(systems) - 1 + has_stats))
            continue
        row = [label(name, m)] + [_cell(m["results"].get(s)) for s in systems]
        if has_stats:
            row.append(_cell(m["results"].get(stat_ref)) if m["kind"] == "statistic" else "")
        table.add_row(*row)
    if metrics:
        console.print(table)
    else:
        console.print(f"no per-clip metric applies to a {report['task']} model on {report.get('source') or 'this data'}"
                      " (pixel metrics need a ground truth; the physics metrics need bouncing balls)")

    if diff_names:
        kind = "paired per clip" if report["task"] != "unconditional" else "Welch, unpaired"
        dt = Table(title=f"model − baseline: mean [95% interval] ({kind})", title_justify="left")
        dt.add_column("metric")
        for b in diff_names:
            dt.add_column(f"vs {b}", justify="right")
        for name, m in metrics.items():
            if m.get("vs_baselines"):
                dt.add_row(label(name, m), *[_diff_cell(m["vs_baselines"][b]) if b in m["vs_baselines"] else ""
                                              for b in diff_names])
        console.print(dt)

    ratios = {n: m["ratio_to_real"] for n, m in metrics.items() if m.get("ratio_to_real")}
    if ratios:
        rt = Table(title=f"ratio to {stat_ref} clips (1 = like real clips)", title_justify="left")
        rt.add_column("metric")
        cols = [s for s in systems if any(s in r for r in ratios.values())]
        for s in cols:
            rt.add_column(s, justify="right")
        for name, r in ratios.items():
            rt.add_row(name, *[fmt(r.get(s), 3) for s in cols])
        console.print(rt)

    for kind, d in report.get("distribution", {}).items():
        if "error" in d:
            console.print(f"{kind.upper()}: {d['error']}")
            continue
        sizes = d.get("sizes", {})
        parts = [f"{s} {fmt(d[s])}" for s in systems if s != "real" and d.get(s) is not None]
        console.print(
            f"{kind.upper()} (lower is better; {d.get('reference_size')} reference vs "
            f"{sizes.get('model', '?')} clips): " + ", ".join(parts)
            + f"; real-vs-real floor {fmt(d.get('floor'))}"
        )
    for note in report.get("notes", []):
        console.print(f"note: {note}", style="dim")


def write_report_json(report: dict[str, Any], out_dir: Path) -> Path:
    path = out_dir / REPORT_FILE
    write_text_atomic(path, json.dumps(report, indent=2, allow_nan=False, default=_json_default) + "\n")
    return path


def _json_default(value: Any) -> Any:
    if isinstance(value, (np.floating, np.integer)):
        return value.item()
    raise TypeError(f"{type(value).__name__} is not JSON serializable")


def comparison_columns(report: dict[str, Any], videos: dict[str, np.ndarray]) -> list[str]:
    """Columns of the side-by-side video: the truth, then the baselines, then the model."""
    truth = "ground truth" if report["task"] != "unconditional" else "real"
    others = [s for s in report["systems"] if s not in ("model", truth)]
    return [c for c in [truth, *others, "model"] if c in videos]


#: pixels of the label strip above the comparison video's columns (PIL's default bitmap font is ~11 px)
HEADER_HEIGHT = 16
GRID_PAD = 2  # pixels between the tiles, as vidsynth.io.tile_videos draws them


def _text_width(label: str) -> int:
    from PIL import ImageDraw, ImageFont

    font = ImageFont.load_default()
    left, _, right, _ = ImageDraw.Draw(_blank(1, 1)).textbbox((0, 0), label, font=font)
    return int(right - left)


def _blank(width: int, height: int):
    from PIL import Image

    return Image.new("L", (width, height), 0)


def label_header(labels: list[str], tile_width: int, pad: int = GRID_PAD) -> np.ndarray:
    """A strip ``uint8 [HEADER_HEIGHT, W]`` with each label centred over its column of a tiled grid."""
    from PIL import ImageDraw, ImageFont

    width = len(labels) * tile_width + (len(labels) + 1) * pad
    strip = _blank(width, HEADER_HEIGHT)
    draw = ImageDraw.Draw(strip)
    font = ImageFont.load_default()
    for i, label in enumerate(labels):
        left = pad + i * (tile_width + pad)
        text_left = left + max(0, (tile_width - _text_width(label)) // 2)
        draw.text((text_left, 2), label, fill=255, font=font)
    return np.asarray(strip, dtype=np.uint8)


def comparison_frames(report: dict[str, Any], videos: dict[str, np.ndarray]) -> tuple[np.ndarray, list[str]] | None:
    """The comparison video's frames ``uint8 [T, H, W, C]``: one row per clip, one column per system, and
    a header strip naming each column. Tiles are enlarged (nearest neighbour, a whole factor) until the
    longest name fits its column."""
    from vidsynth.io import tile_videos

    columns = comparison_columns(report, videos)
    if not columns:
        return None
    rows = min(len(videos[c]) for c in columns)
    if rows == 0:
        return None
    tile_width = videos[columns[0]].shape[3]
    scale = max(1, math.ceil((max(_text_width(c) for c in columns) + 4) / tile_width))
    tiles = [videos[c][i].repeat(scale, axis=1).repeat(scale, axis=2) for i in range(rows) for c in columns]
    grid = tile_videos(tiles, ncols=len(columns), pad=GRID_PAD)
    header = label_header(columns, tile_width * scale)[None, :, :, None]  # [1, h, W, 1]
    header = np.broadcast_to(header, (grid.shape[0], header.shape[1], grid.shape[2], grid.shape[3]))
    return np.concatenate([header, grid], axis=1), columns


def write_comparison_video(report: dict[str, Any], videos: dict[str, np.ndarray], out_dir: Path,
                           fps: float) -> tuple[Path, list[str]] | None:
    """One row per clip: ground truth | baseline(s) | model (unconditional: real | shuffled | still | model),
    under a header naming each column."""
    from vidsynth.io import write_video

    made = comparison_frames(report, videos)
    if made is None:
        return None
    frames, columns = made
    return write_video(out_dir / VIDEO_FILE, frames, fps=fps), columns


def write_curves(report: dict[str, Any], out_dir: Path) -> Path | None:
    """``curves.png``: each per-frame metric against the frame index (or horizon), one line per system."""
    curves = report.get("curves") or {}
    if not curves:
        return None
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    plan = report["plan"]
    given = plan["given_frames"]
    horizon = report["task"] in ("first-frame", "next-frame")
    offset = max(given) if (horizon and given) else 0  # x = frames after the (last) given frame
    scored = plan["scored_frames"]
    names = list(dict.fromkeys([*report["systems"], *report.get("statistics_only", []), "real", "reference"]))
    colour = {name: f"C{i}" for i, name in enumerate(names)}  # one colour per system in every panel
    ncols = min(3, len(curves))
    nrows = math.ceil(len(curves) / ncols)
    fig = Figure(figsize=(max(6.5, 5.0 * ncols), 3.6 * nrows + 0.3), dpi=100)
    FigureCanvasAgg(fig)
    for i, (name, per_system) in enumerate(curves.items(), start=1):
        ax = fig.add_subplot(nrows, ncols, i)
        frames = range(len(next(iter(per_system.values()))))
        if report["metrics"].get(name, {}).get("frames", "generated") == "generated":
            frames = scored  # given frames are not scored (and often exact: 100 dB)
        for system, values in per_system.items():
            xs = [t - offset if horizon else t for t in frames]
            ys = [np.nan if values[t] is None else values[t] for t in frames]
            ax.plot(xs, ys, marker="o", markersize=2.5, linewidth=1.2, label=system, color=colour.get(system))
        for t in given:
            x = t - offset if horizon else t
            ax.axvspan(x - 0.5, x + 0.5, color="0.85", zorder=0)
        unit = report["metrics"].get(name, {}).get("unit")
        ax.set_title(name + (f" ({unit})" if unit else ""), fontsize=10)
        ax.set_xlabel("horizon (frames after the last given frame; < 0: before it)" if horizon else "frame")
        ax.xaxis.get_major_locator().set_params(integer=True)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7)
    fig.suptitle("mean over test clips per frame" + ("; gray: frames given to the model" if given else ""), fontsize=9)
    fig.tight_layout()
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png")
    path = out_dir / CURVES_FILE
    with atomic_file(path) as temp:
        temp.write_bytes(buffer.getvalue())
    return path
