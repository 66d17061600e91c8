"""The progress bar of `vidsynth train` on narrow terminals: the step and the ETA always show; losses give way."""

from __future__ import annotations

import io
import re

import pytest
from rich.console import Console

from vidsynth.progress import Progress

LOSSES = {"wasserstein": 0.123456, "gradient_penalty": 1.2345, "g_loss": -0.5, "d_loss": 3.21}


def rendered(width):
    console = Console(file=io.StringIO(), width=width, force_terminal=True, color_system=None)
    progress = Progress("wgan3d", 0, 20000, clips_per_step=64, console=console)
    try:
        progress.update(1234, LOSSES)
        screen = Console(file=io.StringIO(), width=width, color_system=None)
        screen.print(progress.bar.get_renderable())
        return screen.file.getvalue().rstrip("\n")
    finally:
        progress.close()


@pytest.mark.parametrize("width", [80, 100])
def test_step_total_speed_and_eta_fit_and_losses_give_way(width):
    line = rendered(width)
    assert len(line) <= width and "\n" not in line
    assert " 1234/20000 " in line
    assert re.search(r" (-|\d+):[-\d]{2}:[-\d]{2} ", line), line  # the ETA, whole
    assert re.search(r" \d+(\.\d)? clips/s ", line), line
    assert line.startswith("wgan3d ") and "wasserstein" in line


def test_a_wide_terminal_shows_every_loss():
    assert "d_loss 3.21" in rendered(160)
