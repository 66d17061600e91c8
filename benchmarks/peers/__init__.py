"""Adapters for benchmarks/bench_peers.py: one module per reference repository.

A module defines ``PEER`` (or a list ``PEERS``) of :class:`Peer`. ``build(path)`` gets the checkout's
path (``None`` when ``reference`` is empty, e.g. a port written here) and returns ``(reference_step,
vidsynth_step, info)``: two zero-argument callables that each run one full training step (forward,
backward, optimiser updates) at identical shapes, and ``info`` with at least ``ref_params`` and
``ours_params`` (parameter counts) and ``shape`` (a short description). Import the reference inside
``build`` (e.g. ``sys.path.insert(0, str(path))``), never at module level, and never copy its code here.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

Step = Callable[[], None]


@dataclass(frozen=True)
class Peer:
    row: str  # e.g. "manifold-traverse phase 1 (48 critics + G_F, 64 frames)"
    reference: str  # the NAME of --ref NAME=PATH ("" when nothing needs checking out)
    repository: str  # owner/name on GitHub, or a description for a port
    commit: str  # the commit measured
    build: Callable[[Path | None], tuple[Step, Step, dict[str, Any]]]
    note: str = ""


def vidsynth_step(plugin_name: str, preset: str = "paper", overrides: dict[str, Any] | None = None,
                  start_step: int = 0) -> tuple[Step, dict[str, Any]]:
    """vidsynth's side: ``train_step`` of ``plugin_name`` built exactly as the trainer builds it (CPU, fp32),
    on random uint8 clips of the config's shape. Returns the step and ``{"ours_params": ..., "config": ...}``."""
    import torch

    from vidsynth.plugins import get_registry
    from vidsynth.runtime import Runtime
    from vidsynth.tensors import clips_to_model
    from vidsynth.trainer import build_context

    plugin = get_registry().model(plugin_name)
    config = plugin.make_config(preset, dict(overrides or {}))
    runtime = Runtime(device="cpu", precision="fp32", seed=0)
    runtime.__enter__()  # lives as long as the step; the benchmark process ends right after
    ctx = build_context(plugin, config, runtime)
    clips = torch.randint(0, 256, (config.batch_size, config.frames, config.size, config.size, config.channels),
                          dtype=torch.uint8)
    video = runtime.prepare_input(clips_to_model(clips, runtime.device))
    counter = iter(range(start_step, 1 << 62))

    def step() -> None:
        ctx.step = next(counter)
        plugin.train_step(ctx, video)

    params = sum(p.numel() for m in ctx.bare.values() for p in m.parameters())
    return step, {"ours_params": params, "config": config}
