"""The in-tree model plugins of vidsynth, installed as ``vidsynth_plugins``.

Each plugin is registered through the ``vidsynth`` entry-point group in pyproject.toml, exactly like a
third-party package, so nothing here is special-cased by the core.
"""
