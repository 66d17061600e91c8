"""A stand-in for the trainer's TrainContext that records the loss handed to each optimiser and steps
nothing: the plugin tests use it to check a training step's losses against hand-computed values."""

from __future__ import annotations

import contextlib

import torch


class RecordingContext:
    """``modules`` as built by a plugin; ``seen[name]`` is the last loss given to ``optimize(name, ...)``."""

    def __init__(self, modules, config=None, step=0):
        self.modules, self.config, self.step = modules, config, step
        self.device, self.seen = torch.device("cpu"), {}

    def unwrap(self, name):
        return self.modules[name]

    def autocast(self):
        return contextlib.nullcontext()

    def optimize(self, name, loss):
        self.seen[name] = loss.item()
