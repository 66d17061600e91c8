"""The hooks a vidsynth plugin can implement. Each takes a ``register`` callback (or the CLI app).

A plugin is any module registered under the ``vidsynth`` entry-point group that implements one or
more of these with ``@vidsynth.hookimpl``. See docs/plugins.md for a worked example of each.
"""

import pluggy

hookspec = pluggy.HookspecMarker("vidsynth")


@hookspec
def register_models(register):
    """Register model plugins: ``register(MyModel())``, a ``vidsynth.model.ModelPlugin`` instance."""


@hookspec
def register_datasets(register):
    """Register datasets: ``register(DatasetSpec(name, factory, description))``; used as ``builtin:NAME``."""


@hookspec
def register_metrics(register):
    """Register metrics: ``register(Metric(...))`` from ``vidsynth.metrics``; they join every eval report."""


@hookspec
def register_commands(app):
    """Add commands to the ``vidsynth`` Typer app: ``@app.command() def hello(): ...``."""
