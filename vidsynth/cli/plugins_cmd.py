"""``vidsynth plugins``: what is installed, what it provides, and what is broken."""

from __future__ import annotations

import json

import typer

plugins_app = typer.Typer(help="List installed plugins (models, datasets, metrics, commands); show one model's presets,"
                          " config keys and sample options.", no_args_is_help=True)


@plugins_app.command("list")
def list_plugins(
    as_json: bool = typer.Option(False, "--json", help="Print JSON (models and plugins) instead of a table."),
) -> None:
    """List model plugins and every installed plugin package, with broken ones and their errors.

    Examples:

      vidsynth plugins list

      vidsynth plugins list --json | python -m json.tool

      VIDSYNTH_PLUGINS=cvae,wgan3d vidsynth plugins list   (load only these entry points)
    """
    from vidsynth import pretrained
    from vidsynth.plugins import get_registry

    registry = get_registry()
    shipped = pretrained.available()
    owner = {p: info for info in registry.plugins for p in info.provides}
    models = []
    for name, model in sorted(registry.models.items()):
        info = owner.get(f"model:{name}")
        models.append(
            {
                **model.info(),
                "plugin": info.name if info else None,
                "distribution": info.distribution if info else None,
                "version": info.version if info else None,
                "status": "ok",
                "pretrained": name in shipped,
            }
        )
    if as_json:
        data = {
            "models": models,
            "datasets": sorted(f"builtin:{n}" for n in registry.datasets),
            "metrics": sorted(registry.metrics),
            "plugins": [p.as_dict() for p in registry.plugins],
        }
        typer.echo(json.dumps(data, indent=2))
        return

    from rich.console import Console
    from rich.table import Table

    console = Console()
    if models:
        table = Table(title="Models", title_justify="left")
        for col in ("name", "task", "presets", "pretrained", "distribution", "status"):
            table.add_column(col)
        for m in models:
            dist = f"{m['distribution']} {m['version']}" if m["distribution"] else "-"
            presets = ", ".join(p + ("*" if p == m["default_preset"] else "") for p in m["presets"]) or "-"
            table.add_row(m["name"], m["task"], presets, "yes" if m["pretrained"] else "-", dist, "ok")
        console.print(table)
        console.print("* default preset; pretrained: vidsynth ships a trained model that `sample` and `eval` use"
                      " when ./runs has none. Options and config keys: `vidsynth plugins show NAME`.")
    else:
        console.print(
            "No model plugins are installed. A model plugin is a package with an entry point in the "
            "'vidsynth' group; see docs/plugins.md (or `man vidsynth-plugins`) for a complete example."
        )
    other = [p for p in registry.plugins if p.status != "ok" or not any(x.startswith("model:") for x in p.provides)]
    if other:
        table = Table(title="Other plugins", title_justify="left")
        for col in ("name", "provides", "distribution", "status"):
            table.add_column(col)
        for p in other:
            dist = f"{p.distribution} {p.version}" if p.distribution else "-"
            status = p.status if p.status != "broken" else f"broken: {p.error}"
            table.add_row(p.name, ", ".join(p.provides) or "-", dist, status)
        console.print(table)


@plugins_app.command("show")
def show_plugin(
    name: str = typer.Argument(..., help="Model plugin, e.g. cvae (`vidsynth plugins list` names them)."),
    as_json: bool = typer.Option(False, "--json", help="Print JSON instead of tables."),
) -> None:
    """Show one model plugin: its task, presets, every config key with its value in each preset, and its
    sample options (what `vidsynth sample --option KEY=VALUE` and `vidsynth eval --option` take).

    Config keys are what `vidsynth train --set KEY=VALUE` and `--config FILE.toml` change.

    Examples:

      vidsynth plugins show cvae

      vidsynth plugins show wgan3d --json
    """
    from vidsynth import pretrained

    data = describe_model(name)
    data["pretrained"] = pretrained.find(data["name"]) is not None
    if as_json:
        typer.echo(json.dumps(data, indent=2))
        return

    from rich.console import Console
    from rich.table import Table

    console = Console()
    console.print(f"{data['name']}: {data['task']}. {data['description']}".rstrip(), highlight=False)
    if data["paper"]:
        console.print(f"source: {data['paper']}", highlight=False)
    console.print("pretrained: " + ("yes (`vidsynth sample` and `eval` use it when ./runs has no run)" if data["pretrained"]
                                    else f"no (train one: vidsynth train {data['name']} DATA)"), highlight=False)
    presets = list(data["presets"])
    table = Table(title="Config keys (vidsynth train --set KEY=VALUE)", title_justify="left")
    table.add_column("key")
    table.add_column("type")
    for preset in presets:
        table.add_column(preset + (" (default)" if preset == data["default_preset"] else ""))
    for key, spec in data["config"].items():
        table.add_row(key, spec["type"], *(_show(data["presets"][p][key]) for p in presets))
    console.print(table)
    console.print("channels follows the training data (3 for colour videos, 1 for grayscale) unless --set gives it.")
    options = data["sample_options"]
    if options:
        table = Table(title="Sample options (vidsynth sample/eval --option KEY=VALUE)", title_justify="left")
        for col in ("option", "type", "default", "meaning"):
            table.add_column(col)
        for key, spec in options.items():
            table.add_row(key, spec["type"], _show(spec["default"]), spec["help"])
        console.print(table)
    else:
        console.print(f"{data['name']} has no sample options (beyond --frames, --mean, --seed).")


def describe_model(name: str) -> dict:
    """What `plugins show` prints: a model plugin's config keys, their value in each preset, its sample options."""
    import dataclasses
    import typing

    from vidsynth.plugins import get_registry

    model = get_registry().model(name)
    hints = typing.get_type_hints(model.Config)
    names = list(model.presets) or ["default"]
    presets = {p: model.make_config(p if model.presets else None).to_dict() for p in names}
    return {
        **model.info(),
        "default_preset": model.default_preset if model.presets else "default",
        "config": {f.name: {"type": _type_text(hints[f.name])} for f in dataclasses.fields(model.Config)},
        "presets": presets,
        "sample_options": {k: {"type": t.__name__, "default": d, "help": h} for k, (t, d, h) in model.sample_options.items()},
    }


def _type_text(hint) -> str:
    """``int``, ``float``, ``a | b`` for a choice, ``tuple of int``: what a value given with --set must be."""
    import typing

    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if origin is typing.Literal:
        return " | ".join(str(a) for a in args)
    if origin is tuple:
        items = [a for a in args if a is not Ellipsis]
        return f"tuple of {_type_text(items[0])}" if items else "tuple"
    if origin is not None and type(None) in args:
        return " | ".join(_type_text(a) for a in args if a is not type(None)) + " | none"
    return getattr(hint, "__name__", str(hint).replace("typing.", ""))


def _show(value) -> str:
    if isinstance(value, (list, tuple)):
        return ", ".join(str(v) for v in value)
    return str(value)


def register(app: typer.Typer) -> None:
    app.add_typer(plugins_app, name="plugins")
