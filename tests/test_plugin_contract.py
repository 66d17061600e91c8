"""The contract every registered model plugin keeps, checked the same way for each of them."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PLUGINS_DIR = Path(__file__).resolve().parent.parent / "plugins"


def imported_modules(path: Path) -> set[str]:
    """Every module a Python file imports (absolute names; relative imports keep their dots)."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            found.add("." * node.level + (node.module or ""))
    return found


@pytest.mark.parametrize("package", sorted(p.name for p in PLUGINS_DIR.iterdir() if (p / "__init__.py").exists()))
def test_no_plugin_imports_another_plugin(package):
    """Code two plugins share lives in vidsynth (e.g. vidsynth.nn), so each plugin stands alone."""
    foreign = set()
    for path in (PLUGINS_DIR / package).rglob("*.py"):
        for name in imported_modules(path):
            parts = name.split(".")
            if name.startswith("vidsynth_plugins.") and parts[1] != package:
                foreign.add(f"{path.name}: {name}")
            if name.startswith("..") and name.strip("."):  # from ..other import x
                foreign.add(f"{path.name}: {name}")
    assert not foreign, f"{package} imports other plugins: {sorted(foreign)}"
