"""The contract every registered model plugin keeps, checked the same way for each of them."""

from __future__ import annotations

import ast
import math
import re
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from tiny_configs import SEEDED, TINY, one_thread  # noqa: F401  (a fixture)
from tiny_plugin import TinyClips

from vidsynth.checkpoint import load_run
from vidsynth.errors import VidsynthError
from vidsynth.generate import run_sample
from vidsynth.model import Task
from vidsynth.plugins import get_registry
from vidsynth.runtime import Runtime
from vidsynth.trainer import TrainOptions, build_context, train

pytestmark = pytest.mark.usefixtures("one_thread")
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


# -- the contract, for every registered model -------------------------------------------------------
MODELS = get_registry().models


def model_ids() -> list[str]:
    return sorted(MODELS)


def tiny_config(plugin, **overrides):
    """The model's default preset at the tiny size of tiny_configs.TINY (a third-party model: as it is)."""
    return plugin.make_config(None, {**TINY.get(plugin.name, {}), **overrides})


def clips(config, n=None, seed=0):
    g = torch.Generator().manual_seed(seed)
    shape = (n or config.batch_size, config.channels, config.frames, config.size, config.size)
    return torch.rand(shape, generator=g) * 2 - 1


def trained_modules(plugin, config, steps=2):
    """The modules after ``steps`` training steps on random clips (an untrained model may ignore its noise,
    e.g. a residual generator whose gate starts at 0)."""
    with Runtime(device="cpu", precision="fp32", seed=0) as rt:
        ctx = build_context(plugin, config, rt)
        for step in range(steps):
            ctx.step = step
            plugin.train_step(ctx, clips(config, seed=step))
    return {name: ctx.unwrap(name) for name in ctx.modules}


def draw(plugin, modules, config, seed, n=2, mean=False, **options):
    condition = plugin.condition_from(clips(config, n=1, seed=9), config)
    return run_sample(plugin, modules, config, condition, n, seed, mean=mean, options=options)


def test_every_in_tree_model_is_registered_and_has_a_tiny_config():
    assert set(TINY) <= set(MODELS)


def test_registering_and_validating_the_plugins_does_not_import_torch():
    code = (
        "import sys\n"
        "from vidsynth.plugins import get_registry\n"
        "models = get_registry().models\n"
        f"print(all(n in models for n in {sorted(TINY)!r}), 'torch' in sys.modules)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.split() == ["True", "False"]


@pytest.mark.parametrize("name", model_ids())
def test_every_preset_builds_on_the_meta_device(name):
    plugin = MODELS[name]
    for preset in plugin.presets or [None]:
        config = plugin.make_config(preset)
        with torch.device("meta"):
            modules = plugin.build(config)
            optimizers = plugin.optimizers(modules, config)
        assert modules and all(isinstance(m, torch.nn.Module) for m in modules.values()), preset
        assert optimizers and set(optimizers) <= set(modules), preset
        assert set(plugin.ema_modules) <= set(modules), preset


@pytest.mark.parametrize("name", model_ids())
def test_training_steps_return_finite_losses_and_move_every_optimised_module(name):
    plugin = MODELS[name]
    config = tiny_config(plugin)
    with Runtime(device="cpu", precision="fp32", seed=0) as rt:
        ctx = build_context(plugin, config, rt)
        before = {n: [p.detach().clone() for p in m.parameters()] for n, m in ctx.modules.items()}
        for step in range(4):  # manifold-traverse's tiny config reaches its second phase at step 2
            ctx.step = step
            losses = plugin.train_step(ctx, clips(config, seed=step))
            assert losses and all(isinstance(v, float) and math.isfinite(v) for v in losses.values()), losses
    for module in ctx.optimizers:
        moved = [not torch.equal(a, b) for a, b in zip(before[module], ctx.modules[module].parameters())]
        assert any(moved), f"{module} did not change"


@pytest.mark.parametrize("name", model_ids())
def test_samples_have_the_configs_shape_and_a_seed_gives_the_same_video(name):
    plugin = MODELS[name]
    overrides, options = SEEDED.get(name, ({}, {}))
    config = tiny_config(plugin, **overrides)
    modules = trained_modules(plugin, config)
    video = draw(plugin, modules, config, seed=0, n=3, **options)
    assert video.shape == (3, config.channels, config.frames, config.size, config.size)
    assert video.min() >= -1 and video.max() <= 1
    assert torch.equal(video, draw(plugin, modules, config, seed=0, n=3, **options))
    assert not torch.equal(video, draw(plugin, modules, config, seed=1, n=3, **options))


@pytest.mark.parametrize("name", model_ids())
def test_the_mean_sample_does_not_depend_on_the_seed(name):
    plugin = MODELS[name]
    config = tiny_config(plugin)
    modules = trained_modules(plugin, config)
    assert torch.equal(draw(plugin, modules, config, seed=0, mean=True), draw(plugin, modules, config, seed=1, mean=True))


@pytest.mark.parametrize("name", model_ids())
def test_a_condition_that_does_not_fit_the_model_is_a_clear_error(name):
    plugin = MODELS[name]
    config = tiny_config(plugin)
    modules = plugin.build(config)
    real = clips(config, n=1)
    if plugin.task is Task.UNCONDITIONAL:
        with pytest.raises(VidsynthError, match="unconditional"):
            run_sample(plugin, modules, config, real[:, :, :1], 1, seed=0)
        return
    with pytest.raises(VidsynthError, match=re.escape(f"needs {plugin.task.inputs}")):
        run_sample(plugin, modules, config, None, 1, seed=0)
    condition = plugin.condition_from(real, config)
    wrong_channels = torch.cat([condition, condition[:, :1]], dim=1)
    with pytest.raises(VidsynthError, match=f"{config.channels}-channel"):
        run_sample(plugin, modules, config, wrong_channels, 1, seed=0)
    other_size = torch.nn.functional.interpolate(condition, scale_factor=(1, 2, 2))
    if getattr(plugin, "supports_any_size", False):  # a plugin that samples at any size follows the condition
        assert run_sample(plugin, modules, config, other_size, 1, seed=0).shape[-2:] == other_size.shape[-2:]
        return
    with pytest.raises(VidsynthError, match=f"{config.size}x{config.size}"):
        run_sample(plugin, modules, config, other_size, 1, seed=0)


@pytest.mark.parametrize("name", model_ids())
def test_the_default_preset_samples_its_configs_shape(name):
    plugin = MODELS[name]
    config = plugin.make_config()
    torch.manual_seed(0)
    modules = plugin.build(config)
    video = draw(plugin, modules, config, seed=0, n=1)
    assert video.shape == (1, config.channels, config.frames, config.size, config.size)


@pytest.mark.parametrize("name", model_ids())
def test_resuming_a_run_continues_exactly(name, tmp_path):
    """3 steps in one run == 2 steps, then --resume to 3: bit-identical weights (for manifold-traverse the
    resumed step is the first of its second phase)."""
    plugin = MODELS[name]
    config = tiny_config(plugin)
    data = TinyClips(2 * config.batch_size, config.frames, config.size, config.channels)

    def run(run_dir, steps, resume=False):
        options = TrainOptions(steps=steps, checkpoint_every=1, preview_every=0, quiet=True)
        with Runtime(device="cpu", precision="fp32", seed=0) as rt:
            train(plugin, config, data, runtime=rt, run_dir=tmp_path / run_dir, options=options, resume=resume)

    run("straight", 3)
    run("resumed", 2)
    run("resumed", 3, resume=True)
    a, b = load_run(tmp_path / "straight"), load_run(tmp_path / "resumed")
    assert a.meta["step"] == b.meta["step"] == 3
    for module in a.modules:
        for (key, p), (_, q) in zip(a.modules[module].state_dict().items(), b.modules[module].state_dict().items()):
            assert torch.equal(p, q), f"{module}.{key}"
