"""Generate the roff man pages in ``man/`` from the Typer app, so they can never drift from ``--help``.

    python -m vidsynth.manpages man/          # (re)write the pages
    python -m vidsynth.manpages --check man/  # exit 1 if a page is missing or stale (the tests run this)

One page per command: ``vidsynth.1``, ``vidsynth-train.1``, ``vidsynth-data-prepare.1``, ...
We write roff ourselves: Typer vendors its own Click, so click-man finds no options in its commands.
Pages are generated with ``VIDSYNTH_PLUGINS`` set to the in-tree entry points only, so commands that a
third-party plugin adds on the generating machine do not leak into the project's pages.
"""

from __future__ import annotations

import os
import re
import sys
from pathlib import Path

from vidsynth import __version__

SECTION = "1"
DATE = "2026"  # fixed, so regenerating does not make every page stale


def _esc(text: str) -> str:
    text = text.replace("\\", "\\\\").replace("-", "\\-")
    return "\n".join(("\\&" + line) if line.startswith((".", "'")) else line for line in text.splitlines())


def _paragraphs(text: str) -> str:
    out: list[str] = []
    for block in re.split(r"\n\s*\n", (text or "").strip()):
        lines = block.splitlines()
        if not lines:
            continue
        if all(line.startswith("  ") for line in lines):  # an indented example: keep it literal
            out.append(".PP\n.nf\n.RS 4\n" + _esc("\n".join(l.strip() for l in lines)) + "\n.RE\n.fi")
        else:
            out.append(".PP\n" + _esc(" ".join(l.strip() for l in lines)))
    return "\n".join(out)


def _param_line(param) -> tuple[str, str]:
    """(names with metavar, help with default) of an option, as --help shows it."""
    record = param.get_help_record(_ctx_stub())
    if record is None:
        return ", ".join(param.opts), getattr(param, "help", None) or ""
    names, help_text = record
    return names, " ".join((help_text or "").split())


def _usage_piece(param) -> str:
    name = (param.name or "").upper()
    optional = not getattr(param, "required", True)
    name += "..." if getattr(param, "nargs", 1) == -1 else ""
    return f"[{name}]" if optional else name


_CTX: list = []


def _ctx_stub():
    """A Click context (of the root command) for the help-record helpers that need one."""
    return _CTX[0]


def _summary(help_text: str | None) -> str:
    """The first sentence of a command's help: the NAME line of its page."""
    first = (help_text or "").strip().split("\n\n")[0].replace("\n", " ")
    return first.split(". ")[0].rstrip(".")


def _page(full_name: str, command, parent_names: list[str]) -> str:
    short = _summary(command.help) or full_name
    lines = [
        f'.TH "{full_name.upper()}" "{SECTION}" "{DATE}" "vidsynth {__version__}" "vidsynth manual"',
        ".SH NAME",
        f"{_esc(full_name)} \\- {_esc(short)}",
        ".SH SYNOPSIS",
    ]
    usage_bits = [full_name.replace("-", " ", len(parent_names))]
    params = [p for p in command.params if p.name not in ("help",)]
    if params and any(p.param_type_name == "option" for p in params):
        usage_bits.append("[OPTIONS]")
    for p in params:
        if p.param_type_name == "argument":
            usage_bits.append(_usage_piece(p))
    if hasattr(command, "commands"):
        usage_bits.append("COMMAND [ARGS]...")
    lines += [".B " + _esc(usage_bits[0]), _esc(" ".join(usage_bits[1:]))]
    lines += [".SH DESCRIPTION", _paragraphs(command.help or short)]
    args = [p for p in params if p.param_type_name == "argument"]
    if args:
        lines.append(".SH ARGUMENTS")
        for p in args:
            lines += [".TP", f".B {_esc(_usage_piece(p))}", _esc(getattr(p, "help", None) or "")]
    opts = [p for p in params if p.param_type_name == "option"]
    lines.append(".SH OPTIONS")
    for p in opts:
        names, help_text = _param_line(p)
        lines += [".TP", f".B {_esc(names)}", _esc(help_text)]
    lines += [".TP", ".B \\-h, \\-\\-help", "Show the help and exit."]
    if hasattr(command, "commands"):
        lines.append(".SH COMMANDS")
        for name, sub in sorted(command.commands.items()):
            lines += [".TP", f".B {_esc(name)}", _esc(_summary(sub.help)) + f". See \\fB{_esc(full_name)}\\-{_esc(name)}\\fR(1)."]
    lines += [
        ".SH EXIT STATUS",
        "0 on success, 1 on an error (one line on stderr), 2 on a usage error, 130 when interrupted.",
        ".SH ENVIRONMENT",
        ".TP\n.B VIDSYNTH_PLUGINS\nComma-separated entry-point names: load only these plugins.",
        ".TP\n.B VIDSYNTH_DEBUG\nSet to 1 to show full tracebacks (same as \\-\\-debug).",
        ".TP\n.B NO_COLOR\nDisable colour output.",
        ".SH SEE ALSO",
        _see_also(full_name, parent_names),
    ]
    return "\n".join(lines) + "\n"


def _see_also(full_name: str, parent_names: list[str]) -> str:
    if full_name == "vidsynth":
        return "The README and docs/ of the vidsynth project; one page per command, e.g. \\fBvidsynth\\-train\\fR(1)."
    parent = "\\-".join(parent_names) or "vidsynth"
    return f"\\fB{parent}\\fR(1)"


def render_pages() -> dict[str, str]:
    """All man pages, file name -> roff text."""
    import typer

    from vidsynth import cli, plugins

    saved = os.environ.get("VIDSYNTH_PLUGINS")
    os.environ["VIDSYNTH_PLUGINS"] = ",".join(_in_tree_entry_points())
    try:
        plugins.reset_registry()
        cli._add_commands()
        root = typer.main.get_command(cli.app)
    finally:
        if saved is None:
            os.environ.pop("VIDSYNTH_PLUGINS", None)
        else:
            os.environ["VIDSYNTH_PLUGINS"] = saved
        plugins.reset_registry()
    pages: dict[str, str] = {}

    def walk(command, names: list[str]) -> None:
        full = "-".join(names)
        pages[f"{full}.{SECTION}"] = _page(full, command, names[:-1])
        for name, sub in getattr(command, "commands", {}).items():
            walk(sub, names + [name])

    from typer._click import Context

    _CTX[:] = [Context(root, info_name="vidsynth")]
    walk(root, ["vidsynth"])
    return pages


def _in_tree_entry_points() -> list[str]:
    import tomllib

    pyproject = Path(__file__).resolve().parent.parent / "pyproject.toml"
    if not pyproject.exists():
        return []
    data = tomllib.loads(pyproject.read_text())
    return list(data.get("project", {}).get("entry-points", {}).get("vidsynth", {}))


def main(argv: list[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    check = "--check" in args
    args = [a for a in args if a != "--check"]
    out = Path(args[0] if args else "man")
    pages = render_pages()
    stale = []
    if not check:
        out.mkdir(parents=True, exist_ok=True)
    for name, text in pages.items():
        path = out / name
        if check:
            if not path.exists() or path.read_text() != text:
                stale.append(name)
        else:
            path.write_text(text)
    extra = sorted(p.name for p in out.glob(f"vidsynth*.{SECTION}") if p.name not in pages) if out.exists() else []
    if check:
        if stale or extra:
            print(
                "man pages are stale: " + ", ".join(stale + [f"{e} (no such command)" for e in extra])
                + "\nregenerate with: python -m vidsynth.manpages man/",
                file=sys.stderr,
            )
            return 1
        print(f"{len(pages)} man pages up to date")
        return 0
    for e in extra:
        (out / e).unlink()
    print(f"wrote {len(pages)} man pages to {out}/")
    return 0


if __name__ == "__main__":
    sys.exit(main())
