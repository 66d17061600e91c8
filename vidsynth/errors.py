"""The errors vidsynth reports to the user as one clear line (exit 1), never as a traceback."""


class VidsynthError(Exception):
    """A problem the user can fix: bad input, missing file, wrong checkpoint. The message is the whole story."""


class PluginError(VidsynthError):
    """Unknown plugin, or a plugin that is installed but failed to load."""


class ConfigError(VidsynthError):
    """An unknown config key, a value of the wrong type, or an unknown preset."""
