"""Previews during training: a grid video (mp4 + GIF) every ``--preview-every`` steps, written by rank 0.

Previews use fixed noise (the run's seed) and fixed conditions (held-out clips when there are any), so
they compare over time, and they run inside ``Runtime.fork_rng``: a preview never changes the random
numbers training draws, so resume stays exact with previews on.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable

if TYPE_CHECKING:
    import torch
    from torch import nn

    from vidsynth.model import ModelConfig, ModelPlugin
    from vidsynth.runtime import Runtime

PREVIEWS_DIR = "previews"


def _stderr(text: str) -> None:
    print(text, file=sys.stderr, flush=True)


class Previewer:
    """Writes ``previews/step_NNNNNNNN.{mp4,gif}``; ``every=0`` (or a process other than rank 0): nothing."""

    def __init__(self, run_dir: str | Path, plugin: ModelPlugin, config: ModelConfig, runtime: Runtime, *, every: int,
                 count: int, dataset: Any, clips: torch.Tensor | None = None,
                 warn: Callable[[str], None] = _stderr) -> None:
        self.run_dir = Path(run_dir)
        self.plugin = plugin
        self.config = config
        self.rt = runtime
        self.every = every
        self.count = count
        self.dataset = dataset
        self.clips = clips  # conditions come from these clips (held-out ones); None: the first training clips
        self.warn = warn
        self.enabled = every > 0 and runtime.is_main
        self.condition: torch.Tensor | None = None
        self.last_step = -1

    def prepare(self) -> None:
        """Fix the conditions of every preview of the run (call once, before training)."""
        if not self.enabled:
            return
        import torch

        from vidsynth.tensors import clips_to_model

        with self.rt.fork_rng():  # an augmenting dataset draws random numbers: keep resume exact
            clips = self.clips
            if clips is None:
                count = min(self.count, len(self.dataset))
                clips = torch.stack([torch.as_tensor(self.dataset[i]) for i in range(count)])
            self.condition = self.plugin.condition_from(clips_to_model(clips, self.rt.device), self.config)

    def due(self, step: int, *, last_step: bool = False) -> bool:
        """Every ``every`` steps, and at the end of a finished run (not after a stop by signal)."""
        return self.enabled and step != self.last_step and (step % self.every == 0 or last_step)

    def write(self, step: int, modules: dict[str, nn.Module]) -> None:
        """A grid video from ``modules`` (the EMA copies where there are some); failures are warnings."""
        from vidsynth.generate import run_sample
        from vidsynth.io import write_grid
        from vidsynth.tensors import model_to_clips

        condition = self.condition
        n = self.count if condition is None else condition.shape[0]
        was_training = {name: m.training for name, m in modules.items()}
        try:
            with self.rt.fork_rng():
                video = run_sample(self.plugin, modules, self.config, condition, n, seed=self.rt.seed)
            clips = model_to_clips(video)
            folder = self.run_dir / PREVIEWS_DIR
            folder.mkdir(exist_ok=True)
            for suffix in (".mp4", ".gif"):
                write_grid(folder / f"step_{step:08d}{suffix}", clips, fps=self.config.fps)
        except Exception as exc:  # noqa: BLE001 - a broken preview must not end a long run; say so and go on
            text = str(exc).strip().splitlines()
            self.warn(f"warning: preview at step {step} failed ({type(exc).__name__}: {text[0] if text else ''}); training goes on")
        finally:
            self.last_step = step
            for name, m in modules.items():
                m.train(was_training[name])
