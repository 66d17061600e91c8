"""Size rules of the networks, in plain Python so that config checks (run when the plugin registers) do not
import torch."""

from __future__ import annotations

from typing import Any

from vidsynth.errors import ConfigError


def frame_generator_padding(size: int, layers: int) -> int:
    """Padding of G_F's last transposed conv that makes its output ``size`` pixels wide.

    G_F starts at 2x2 and doubles ``layers`` times (r = 2 * 2**layers), then a 4x4 stride-2 transposed conv
    with padding p gives ``2r + 2 - 2p`` pixels: p = 2 makes the authors' 30 from 16, p = 1 makes 32.
    Raises ValueError when no padding in 0..3 fits.
    """
    r = 2 * 2**layers
    twice_p = 2 * r + 2 - size
    if twice_p % 2 or not 0 <= twice_p // 2 <= 3:
        sizes = sorted({2 * r + 2 - 2 * p for p in range(4)})
        raise ValueError(
            f"a frame generator with {layers + 1} frame_widths makes frames of {sizes} pixels, not {size}"
        )
    return twice_p // 2


def check_sizes(config: Any) -> None:
    """ConfigError unless G_F can make ``size`` x ``size`` frames and the critics' projections fit."""
    if config.size < 8:
        raise ConfigError(f"config key 'size' must be >= 8 (the projections are 8x8 filters), got {config.size}")
    try:
        frame_generator_padding(config.size, len(config.frame_widths) - 1)
    except ValueError as exc:
        raise ConfigError(f"config keys 'size' and 'frame_widths' do not fit: {exc}") from None
