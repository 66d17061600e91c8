"""Install a plugin the way pip would, without pip: a module plus a ``*.dist-info`` with entry points.

``importlib.metadata`` finds entry points through ``*.dist-info/entry_points.txt`` on ``sys.path``, which
is exactly what an installed third-party package provides; putting such a folder on ``PYTHONPATH``
registers a plugin for real, in milliseconds.
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path


def make_distribution(root: Path, name: str, modules: dict[str, str], entry_points: dict[str, str], version: str = "0.1.0") -> Path:
    """Write ``modules`` (module name -> source) and a dist-info for ``name`` into ``root``; return root."""
    root.mkdir(parents=True, exist_ok=True)
    for module, source in modules.items():
        (root / f"{module}.py").write_text(textwrap.dedent(source))
    info = root / f"{name.replace('-', '_')}-{version}.dist-info"
    info.mkdir(exist_ok=True)
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n")
    lines = ["[vidsynth]"] + [f"{k} = {v}" for k, v in entry_points.items()]
    (info / "entry_points.txt").write_text("\n".join(lines) + "\n")
    return root


def run_cli(*args: str, pythonpath: list[Path] | None = None, env: dict[str, str] | None = None, timeout: float = 120, cwd=None):
    """Run ``python -m vidsynth ARGS`` in a subprocess; returns the CompletedProcess (text)."""
    full_env = dict(os.environ)
    full_env.pop("VIDSYNTH_DEBUG", None)
    if pythonpath:
        full_env["PYTHONPATH"] = os.pathsep.join([str(p) for p in pythonpath] + [full_env.get("PYTHONPATH", "")])
    full_env.update(env or {})
    return subprocess.run(
        [sys.executable, "-m", "vidsynth", *args], capture_output=True, text=True, env=full_env, timeout=timeout, cwd=cwd
    )
