"""vidsynth: train, sample and evaluate video-generation models from the command line.

Importing this package is cheap (no torch): the CLI's ``--help`` and ``plugins list`` depend on it.
Plugin authors need only ``vidsynth.hookimpl`` and the contract in ``vidsynth.model``.
"""

import pluggy

__version__ = "0.1.0"

#: Decorator for plugin hook implementations, e.g. ``@vidsynth.hookimpl def register_models(register): ...``
hookimpl = pluggy.HookimplMarker("vidsynth")

__all__ = ["__version__", "hookimpl"]
