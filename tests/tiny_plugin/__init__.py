"""The tiny test plugin (``vidsynth_tiny``), installed the way a third-party plugin is, and tiny data for it.

``vidsynth_tiny.py`` (next to this file) registers two real model plugins, ``tiny`` (unconditional GAN)
and ``tiny-keyframes`` (keyframe in-betweener), 4 frames of 8x8 RGB by default: see its docstring.
It is registered through an entry point like any installed package: ``install_tiny_plugin(folder)``
writes a ``vidsynth_tiny-0.1.dist-info/`` (METADATA + ``entry_points.txt`` with ``[vidsynth] tiny =
vidsynth_tiny``) into ``folder``; with ``folder`` and this directory on the path, ``importlib.metadata``
finds the entry point and ``vidsynth`` loads the plugin. By default both helpers below also set
``VIDSYNTH_PLUGINS`` to ``TEST_PLUGINS`` (the tiny plugin plus vidsynth's built-in datasets and metrics),
so these tests neither pay for nor depend on the in-tree model plugins.

Use in tests (any test file may import this package, e.g. the ``vidsynth eval`` tests)::

    from tiny_plugin import tiny_plugin_env, tiny_plugin_loaded, TinyClips, run_vidsynth

    def test_cli(tmp_path):
        env = tiny_plugin_env(tmp_path)                     # for subprocesses (PYTHONPATH set)
        result = run_vidsynth(["plugins", "list"], env=env, cwd=tmp_path)

    def test_in_process(tmp_path):
        with tiny_plugin_loaded(tmp_path) as registry:      # sys.path + a fresh registry
            plugin = registry.model("tiny")

For in-process tests there is also a pytest fixture and a one-call trainer::

    from tiny_plugin import tiny_registry, train_tiny       # import the fixture into the test module

    def test_something(tmp_path, tiny_registry):
        train_tiny(tmp_path / "runs", tiny_registry, plugin="tiny-keyframes", run="kf", steps=2)
        loaded = vidsynth.checkpoint.load_run(tmp_path / "runs" / "kf")

``TinyClips(n, frames, size, channels, seed)`` is a map-style dataset of ``uint8 [T, H, W, C]`` clips (a
bright square moving across a dark frame) for training the tiny models in-process. The plugin also
registers a built-in dataset, ``builtin:tiny-squares``, with the same clips for CLI tests.
"""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
from pathlib import Path
from typing import Iterator

import pytest

HERE = Path(__file__).resolve().parent
if str(HERE) not in sys.path:  # vidsynth_tiny is a top-level module, as an installed plugin would be
    sys.path.insert(0, str(HERE))

from vidsynth_tiny import TinyClips  # noqa: E402  (needs HERE on sys.path)

DIST_NAME = "vidsynth_tiny"
#: The entry points the tests load (``VIDSYNTH_PLUGINS``): the tiny plugin and vidsynth's own built-ins, so
#: the tests neither wait for nor depend on the in-tree model plugins.
TEST_PLUGINS = "tiny,builtin-datasets,builtin-metrics"
DIST_VERSION = "0.1"

__all__ = ["HERE", "TEST_PLUGINS", "TinyClips", "install_tiny_plugin", "run_vidsynth", "tiny_plugin_env", "tiny_plugin_loaded",
           "tiny_registry", "train_tiny"]


def install_tiny_plugin(folder: str | os.PathLike) -> Path:
    """Write ``vidsynth_tiny-0.1.dist-info`` into ``folder`` (created); return the folder."""
    from fake_dist import make_distribution  # the module itself stays here, next to this file

    return make_distribution(Path(folder), DIST_NAME, {}, {"tiny": "vidsynth_tiny"}, version=DIST_VERSION)


def tiny_plugin_env(tmp_path: str | os.PathLike, base: dict[str, str] | None = None,
                    plugins: str | None = TEST_PLUGINS) -> dict[str, str]:
    """An environment for ``python -m vidsynth`` subprocesses in which the tiny plugin is installed.

    ``plugins`` becomes ``VIDSYNTH_PLUGINS`` (None: load every installed plugin).
    """
    site = install_tiny_plugin(Path(tmp_path) / "tiny-site")
    env = dict(os.environ if base is None else base)
    env.pop("VIDSYNTH_DEBUG", None)
    if plugins is not None:
        env["VIDSYNTH_PLUGINS"] = plugins
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(site), str(HERE), env.get("PYTHONPATH", "")) if p)
    env.setdefault("MPLBACKEND", "Agg")
    # One thread: the tiny models gain nothing from more, and on a busy CI machine several OpenMP
    # threads per process spin against each other (a 10 ms step became 700 ms on 2 shared cores).
    env["OMP_NUM_THREADS"] = "1"
    return env


@contextlib.contextmanager
def tiny_plugin_loaded(tmp_path: str | os.PathLike, plugins: str | None = TEST_PLUGINS) -> Iterator[object]:
    """In-process: put the tiny plugin's dist-info on ``sys.path`` and yield a freshly loaded registry.

    ``plugins`` restricts loading like ``VIDSYNTH_PLUGINS`` (None: every installed plugin).
    """
    from vidsynth.plugins import ENV_RESTRICT, get_registry, reset_registry

    site = str(install_tiny_plugin(Path(tmp_path) / "tiny-site"))
    sys.path.insert(0, site)
    saved = os.environ.get(ENV_RESTRICT)
    if plugins is not None:
        os.environ[ENV_RESTRICT] = plugins
    reset_registry()
    try:
        yield get_registry()
    finally:
        sys.path.remove(site)
        if saved is None:
            os.environ.pop(ENV_RESTRICT, None)
        else:
            os.environ[ENV_RESTRICT] = saved
        reset_registry()


def run_vidsynth(args: list[str], *, env: dict[str, str], cwd: str | os.PathLike | None = None, timeout: float = 120) -> subprocess.CompletedProcess:
    """``python -m vidsynth ARGS`` in a subprocess (text output captured)."""
    return subprocess.run(
        [sys.executable, "-m", "vidsynth", *args], capture_output=True, text=True, env=env, cwd=cwd, timeout=timeout
    )


@pytest.fixture
def tiny_registry(tmp_path, monkeypatch):
    """Fixture: the tiny plugin loaded in this process, torch on one thread (restored afterwards).

    Import it into a test module (``from tiny_plugin import tiny_registry``) to use it.
    """
    import torch

    monkeypatch.setenv("OMP_NUM_THREADS", "1")  # vidsynth.runtime.Runtime honours it
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        with tiny_plugin_loaded(tmp_path) as registry:
            yield registry
    finally:
        torch.set_num_threads(previous)


def train_tiny(tmp_path, registry, *, plugin: str = "tiny", steps: int = 4, run: str = "run", resume: bool = False,
               sets: list[str] | None = None, preset: str | None = None, dataset=None, seed: int = 0, **options):
    """Train a tiny model in-process into ``tmp_path / run``; returns the ``TrainResult``."""
    from vidsynth.runtime import Runtime
    from vidsynth.trainer import TrainOptions, build_config, train

    model = registry.model(plugin)
    config = build_config(model, preset, None, sets, steps=None if resume else steps)
    defaults = dict(checkpoint_every=1000, preview_every=0, log_every=1, quiet=True)
    defaults.update(options)
    if resume:
        defaults["steps"] = steps
    dataset = dataset if dataset is not None else TinyClips(16, config.frames, config.size, config.channels)
    with Runtime(device="cpu", seed=seed) as rt:
        return train(model, config, dataset, runtime=rt, run_dir=Path(tmp_path) / run,
                     options=TrainOptions(**defaults), resume=resume, preset=preset)
