"""Sampling a model: the one place that calls ``ModelPlugin.sample`` (for ``sample``, ``eval`` and previews).

It puts the modules in eval mode under ``torch.no_grad()``, draws all noise from a ``torch.Generator``
seeded with ``seed`` on the modules' device (so a seed gives the same video), passes the plugin's
sample options with their defaults filled in, and checks what comes back: ``[n, C, T, H, W]`` with the
model's channels and size, ``T`` = the frames asked for, finite values in ``[-1, 1]``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from vidsynth.errors import ConfigError, VidsynthError
from vidsynth.model import ModelConfig, ModelPlugin, Task, _coerce

if TYPE_CHECKING:  # torch loads on first sampling, so option and input checks answer instantly
    import torch

#: Values in (1, 1 + this] are clamped quietly (rounding in a plugin's last op); beyond it is a plugin bug.
_RANGE_SLACK = 1e-3


def parse_options(plugin: ModelPlugin, items: list[str] | None) -> dict[str, Any]:
    """``--option key=value`` strings -> typed values for ``plugin.sample_options`` (defaults filled in)."""
    raw: dict[str, Any] = {}
    for item in items or []:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise ConfigError(f"--option expects key=value, got {item!r}")
        raw[key.strip()] = value.strip()
    return check_options(plugin, raw)


def check_options(plugin: ModelPlugin, options: dict[str, Any]) -> dict[str, Any]:
    """Validate and type sample options against ``plugin.sample_options``; unknown names are an error."""
    table = plugin.sample_options
    unknown = sorted(set(options) - set(table))
    if unknown:
        known = ", ".join(f"{k} ({t.__name__}, default {d!r}: {h})" for k, (t, d, h) in table.items())
        raise ConfigError(
            f"unknown sample option{'s' if len(unknown) > 1 else ''} for {plugin.name}: {', '.join(unknown)}; "
            + (f"it has: {known}" if table else "it has no sample options")
        )
    typed = {name: default for name, (_type, default, _help) in table.items()}
    for name, value in options.items():
        typed[name] = _coerce(name, table[name][0], value)
    return typed


def sample_noise(shape: tuple[int, ...], generator: torch.Generator, *, mean: bool = False, scale: float = 1.0) -> torch.Tensor:
    """The noise of a plugin's ``sample``: ``scale * N(0, I)`` of ``shape`` drawn from ``generator`` on its
    device (so a seed gives the same video), or zeros when ``mean`` (the deterministic best guess) or when
    ``scale`` is 0. Zeros draw nothing from ``generator``."""
    import torch

    if mean or scale == 0:
        return torch.zeros(shape, device=generator.device)
    noise = torch.randn(shape, generator=generator, device=generator.device)
    return noise if scale == 1 else scale * noise


def module_device(modules: dict[str, torch.nn.Module]) -> torch.device:
    import torch

    for module in modules.values():
        for p in module.parameters():
            return p.device
    return torch.device("cpu")


def run_sample(
    plugin: ModelPlugin,
    modules: dict[str, torch.nn.Module],
    config: ModelConfig,
    condition: torch.Tensor | None,
    n: int,
    seed: int,
    *,
    frames: int | None = None,
    mean: bool = False,
    options: dict[str, Any] | None = None,
) -> torch.Tensor:
    """``plugin.sample`` in eval mode, without gradients, seeded; returns a checked ``[n, C, T, H, W]``.

    The one place a condition is checked (``check_condition``: its kind and shape against the task and
    the config) and a single condition is expanded to ``n``: plugins get ``[n, C, K, H, W]`` or None."""
    import torch

    if n < 1:
        raise VidsynthError(f"the number of videos must be >= 1, got {n}")
    if frames is not None and frames < 1:
        raise VidsynthError(f"--frames must be >= 1, got {frames}")
    opts = check_options(plugin, options or {})
    check_condition(plugin, config, condition)
    device = module_device(modules)
    if condition is not None:
        condition = condition.to(device)
        if condition.shape[0] == 1 and n > 1:
            condition = condition.expand(n, *condition.shape[1:])
        elif condition.shape[0] != n:
            raise VidsynthError(f"got {condition.shape[0]} conditions for {n} videos")
    generator = torch.Generator(device=device).manual_seed(int(seed))
    for module in modules.values():
        module.eval()
    with torch.no_grad():
        video = plugin.sample(modules, config, condition, n, generator, frames=frames, mean=mean, **opts)
    return check_video(video, plugin, config, n, frames or config.frames, frame_size(plugin, config, condition))


def frame_size(plugin: ModelPlugin, config: ModelConfig, condition: Any) -> tuple[int, int]:
    """``(H, W)`` of the frames a plugin samples: the config's square size, or, for a plugin that declares
    ``supports_any_size``, the size of the condition it was given (e.g. a photo's own size)."""
    if condition is not None and getattr(plugin, "supports_any_size", False):
        return int(condition.shape[-2]), int(condition.shape[-1])
    return config.size, config.size


def check_video(video: Any, plugin: ModelPlugin, config: ModelConfig, n: int, frames: int,
                size: tuple[int, int] | None = None) -> torch.Tensor:
    """Check a plugin's output against the contract; a mismatch is a plugin bug reported in one line."""
    import torch

    if not isinstance(video, torch.Tensor):
        raise VidsynthError(f"plugin {plugin.name}: sample() returned {type(video).__name__}, not a tensor")
    want = (n, config.channels, frames, *(size or (config.size, config.size)))
    if tuple(video.shape) != want:
        raise VidsynthError(
            f"plugin {plugin.name}: sample() returned shape {list(video.shape)}, expected [n, C, T, H, W] = {list(want)}"
        )
    video = video.float()
    if not torch.isfinite(video).all():
        raise VidsynthError(f"plugin {plugin.name}: sample() returned NaN or infinite values")
    low, high = float(video.min()), float(video.max())
    if low < -1 - _RANGE_SLACK or high > 1 + _RANGE_SLACK:
        raise VidsynthError(f"plugin {plugin.name}: sample() returned values in [{low:.3f}, {high:.3f}], outside [-1, 1]")
    return video.clamp(-1, 1)


def check_condition(plugin: ModelPlugin, config: ModelConfig, condition: torch.Tensor | None) -> None:
    """The condition must fit the task: none for unconditional, ``[B, C, K, H, W]`` at the model's size."""
    task = plugin.task
    if task is Task.UNCONDITIONAL:
        if condition is not None:
            raise VidsynthError(f"{plugin.name} is unconditional: it takes no input images")
        return
    if condition is None:
        raise VidsynthError(f"{plugin.name} ({task.value}) needs {task.inputs}")
    if condition.dim() != 5:
        raise VidsynthError(f"a condition must be [B, C, K, H, W], got shape {list(condition.shape)}")
    _, c, k, h, w = condition.shape
    if not task.accepts(k):
        raise VidsynthError(f"{plugin.name} ({task.value}) needs {task.inputs}, got {k}")
    if c != config.channels or (not getattr(plugin, "supports_any_size", False) and (h, w) != (config.size, config.size)):
        raise VidsynthError(
            f"{plugin.name} works on {config.channels}-channel {config.size}x{config.size} frames; the condition is"
            f" {c}-channel {h}x{w}"
        )


def generate(
    loaded: Any,
    condition: torch.Tensor | None,
    n: int,
    seed: int,
    frames: int | None = None,
    mean: bool = False,
    **options: Any,
) -> torch.Tensor:
    """``n`` videos float ``[n, C, T, H, W]`` in ``[-1, 1]`` from a ``LoadedRun`` (see ``checkpoint.load_run``).

    ``condition``: None, or ``[1 or n, C, K, H, W]`` in ``[-1, 1]`` (``vidsynth.tensors.images_to_condition``).
    ``options``: the plugin's ``sample_options`` (strings are typed like ``--option key=value``).
    """
    return run_sample(
        loaded.plugin, loaded.modules, loaded.config, condition, n, seed, frames=frames, mean=mean, options=options
    )
