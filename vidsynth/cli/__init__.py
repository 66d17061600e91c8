"""The ``vidsynth`` command line: a thin Typer app. Each command group lives in its own module here and
adds itself with ``register(app)``; plugins add more through the ``register_commands`` hook.

Rules every command follows: heavy imports (torch, av) happen inside the command, so ``--help`` stays
fast; problems the user can fix raise ``VidsynthError`` and print as one line on stderr with exit 1
(usage errors exit 2); a traceback appears only with ``--debug`` or ``VIDSYNTH_DEBUG=1``.
"""

from __future__ import annotations

import importlib
import os
import sys

import typer

from vidsynth import __version__
from vidsynth.errors import VidsynthError

# The command modules of the core, in the order their commands appear in --help.
COMMAND_MODULES = ("train", "sample", "eval", "data", "plugins", "demo")

app = typer.Typer(
    name="vidsynth",
    help="Train, sample and evaluate video-generation models.\n\n"
    "Examples:\n\n"
    "  vidsynth demo\n\n"
    "  vidsynth train wgan3d builtin:bouncing-balls --preset small\n\n"
    "  vidsynth sample cvae --in first.jpg last.jpg -o out.mp4\n\n"
    "  vidsynth plugins list\n\n"
    "  vidsynth plugins show cvae",
    no_args_is_help=True,
    add_completion=False,
    context_settings={"help_option_names": ["-h", "--help"]},
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
)

_state = {"debug": False}


def debug_enabled() -> bool:
    return _state["debug"] or os.environ.get("VIDSYNTH_DEBUG", "") not in ("", "0")


def _version(value: bool) -> None:
    if value:
        typer.echo(f"vidsynth {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: bool = typer.Option(False, "--version", callback=_version, is_eager=True, help="Print the version and exit."),
    debug: bool = typer.Option(False, "--debug", help="Show full tracebacks on errors (also VIDSYNTH_DEBUG=1)."),
) -> None:
    _state["debug"] = debug


def _add_commands() -> None:
    for name in COMMAND_MODULES:
        module = importlib.import_module(f"vidsynth.cli.{name}_cmd")
        module.register(app)
    # Plugins' own commands. Loading the registry imports plugin modules, which must stay light.
    from vidsynth.plugins import get_registry

    get_registry().add_commands(app)


def error(message: str) -> None:
    """Print one error line on stderr (the format of every error vidsynth reports)."""
    print(f"error: {message}", file=sys.stderr)


def main(argv: list[str] | None = None) -> None:
    """Entry point of the ``vidsynth`` script and ``python -m vidsynth``."""
    # OpenMP's default busy-waiting makes 2-thread training 2-15x slower whenever anything else runs on the
    # CPU (measured: docs/training.md). It must be set before torch loads libgomp; an explicit value wins.
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    from typer._click import exceptions as click_exc  # Typer vendors Click

    if "--debug" in (argv if argv is not None else sys.argv[1:]):
        _state["debug"] = True
    try:
        _add_commands()
        rv = app(args=argv, prog_name="vidsynth", standalone_mode=False)
        if isinstance(rv, int) and rv:  # click returns Exit codes instead of raising when not standalone
            sys.exit(rv)
    except click_exc.UsageError as exc:
        exc.show()
        sys.exit(2)
    except typer.Exit as exc:
        sys.exit(exc.exit_code)
    except (typer.Abort, KeyboardInterrupt):
        error("interrupted")
        sys.exit(130)
    except VidsynthError as exc:
        if debug_enabled():
            raise
        error(str(exc))
        sys.exit(1)
    except click_exc.ClickException as exc:
        exc.show()
        sys.exit(exc.exit_code)
    except BrokenPipeError:
        sys.exit(0)
    except Exception as exc:  # noqa: BLE001 - the last line of defence: still one line, still non-zero
        if debug_enabled():
            raise
        text = str(exc).strip().splitlines()
        error(f"unexpected {type(exc).__name__}: {text[0] if text else ''} (run with --debug for the traceback)")
        sys.exit(1)
