"""Network blocks shared by two or more model plugins (one place for each block).

This package imports no torch itself (``vidsynth.nn.keyframe_config`` is read when plugins register);
the modules with networks do.
"""

from vidsynth.nn.freeze import frozen

__all__ = ["frozen"]
