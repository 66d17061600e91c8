"""The config fields and shape rules of the keyframe networks of Penington, Teo & Wang, "Generating Video
from Images" (CS 229 report, Stanford 2019), Table 1, shared by the ``cvae`` and ``cgan`` plugins.

Plain Python (no torch), so that config checks, which run when a plugin registers, keep ``vidsynth --help``
fast; the networks themselves are ``vidsynth.nn.keyframes``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

from vidsynth.errors import ConfigError, VidsynthError
from vidsynth.model import ModelConfig

#: The paper both keyframe plugins follow; each adds the sections it implements.
PENINGTON_2019 = "Penington, Teo, Wang: Generating Video from Images (CS 229 report, Stanford 2019)"


@dataclass
class KeyframeNetConfig(ModelConfig):
    """The networks of Table 1 (shared by ``cvae`` and ``cgan``); the defaults are Table 1."""

    frames: int = 30
    size: int = 64
    channels: int = 3
    batch_size: int = 20
    z_dim: int = 600  # "encoding dimension" of the video latent (the CGAN's noise)
    code_dim: int = 1000  # "image encoding dimension"
    image_widths: tuple[int, ...] = (16, 32, 64, 128)
    image_hidden: int = 256
    video_widths: tuple[int, ...] = (64, 128, 256, 512)  # the CVAE's video encoder, the CGAN's discriminator
    video_hidden: int = 1024
    gen_widths: tuple[int, ...] = (256, 128, 64, 32, 16)  # Linear output channels, then L3..L6 outputs
    time_strides: tuple[int, ...] = (1, 3, 1, 1, 2)  # temporal strides of L3..L7
    act: Literal["relu", "leaky"] = "relu"
    norm: Literal["none", "batch"] = "none"
    inject_layers: tuple[int, ...] = ()  # generator layers (0..4) that also get the raw keyframes
    output: Literal["sigmoid", "residual"] = "sigmoid"
    ramp: Literal["sine", "parabola"] = "sine"
    motion: Literal["none", "costvolume", "flow", "gated"] = "none"  # residual base: lerp, lerp blended with motion paths, optical flow, or per clip one of the last two
    augment: bool = False  # random horizontal flip and time reversal of each training clip


#: The ``small`` networks of both plugins: Table 1's design, narrow, 16 frames of 32 x 32, with the residual
#: output, keyframe injection at several scales and augmentation (docs/models/cvae.md explains each).
SMALL_NETWORKS: dict[str, Any] = {
    "frames": 16,
    "size": 32,
    "batch_size": 8,
    "steps": 500,
    "z_dim": 32,
    "code_dim": 64,
    "image_widths": (8, 16, 32, 32),
    "image_hidden": 128,
    "video_widths": (8, 16, 32, 32),
    "video_hidden": 128,
    "gen_widths": (32, 32, 24, 16, 8),
    "time_strides": (1, 2, 1, 1, 2),
    "inject_layers": (1, 2, 3, 4),
    "output": "residual",
    "augment": True,
}


def check_keyframe_config(c: KeyframeNetConfig) -> None:
    """Shape rules of the Table 1 networks, as one-line ``ConfigError``s."""
    if len(c.gen_widths) != 5 or len(c.time_strides) != 5:
        raise ConfigError("gen_widths and time_strides need 5 entries each (5 transposed Conv3D layers)")
    if len(c.image_widths) != 4:
        raise ConfigError("image_widths needs 4 entries (4 Conv2D layers)")
    if not c.video_widths:
        raise ConfigError("video_widths needs at least 1 entry")
    if any(s < 1 for s in c.time_strides) or any(w < 1 for w in (*c.gen_widths, *c.image_widths, *c.video_widths)):
        raise ConfigError("widths and time_strides must be >= 1")
    up = 1
    for s in c.time_strides:
        up *= s
    if c.frames < 2 or c.frames % up:
        raise ConfigError(f"frames ({c.frames}) must be >= 2 and divisible by the product of time_strides ({up})")
    div = max(8, 2 ** len(c.video_widths))
    if c.size % div:
        raise ConfigError(f"size ({c.size}) must be divisible by {div}")
    if any(i not in range(5) for i in c.inject_layers):
        raise ConfigError(f"inject_layers are generator layer indices 0..4, got {c.inject_layers}")
    if c.motion != "none" and c.output != "residual":
        raise ConfigError(f"motion={c.motion!r} needs output='residual' (the motion base is what the residual adds to)")


def check_keyframe_frames(config: ModelConfig, name: str, frames: int | None) -> None:
    """The Table 1 generators make exactly ``config.frames`` frames: any other ``--frames`` is an error."""
    if frames is not None and frames != config.frames:
        raise VidsynthError(
            f"{name} generates exactly {config.frames} frames (fixed by its 3D-conv generator); "
            f"got --frames {frames}"
        )
