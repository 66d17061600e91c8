"""``vidsynth plugins``: what is installed, what it provides, and what is broken."""

from __future__ import annotations

import json

import typer

plugins_app = typer.Typer(help="List installed plugins (models, datasets, metrics, commands).", no_args_is_help=True)


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


def register(app: typer.Typer) -> None:
    app.add_typer(plugins_app, name="plugins")
