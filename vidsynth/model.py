"""The model contract: what a model plugin supplies, and the one tensor convention it works in.

A model plugin is one ``ModelPlugin[XConfig]`` subclass registered with ``register_models``. It declares

* ``name`` and ``task`` (a ``Task``: what the model is given and what it returns),
* ``Config``, a dataclass subclassing ``ModelConfig`` (typed, validated, stored with the weights),
* ``presets``: named overrides of ``Config``'s defaults; ``paper`` follows the model's paper and ``small``
  trains in minutes on a CPU,

and implements three hooks (abstract methods: a subclass that leaves one out cannot be instantiated, so a
plugin that forgets one is listed as broken, with the missing hook named, when it registers):

* ``build(config) -> dict[str, nn.Module]``: the networks, by name (``generator``, ``critic``, ...);
* ``train_step(ctx, video) -> dict[str, float]``: one training iteration on a batch. ``ctx`` is a
  ``vidsynth.trainer.TrainContext``: it holds the modules and optimizers and does backward + step with the
  runtime's precision (``ctx.optimize("generator", loss)``). A GAN owns its D:G schedule here; the trainer
  owns everything else (device, precision, DDP, logging, EMA, checkpoints, resume);
* ``sample(modules, config, condition, n, generator, **options) -> Tensor``: ``n`` videos.

and optionally ``optimizers(modules, config)`` (default: one Adam per module, ``config.lr``/``config.betas``).

Tensor convention (the only one in vidsynth; conversions live in ``vidsynth.tensors``):
  videos are float ``[B, C, T, H, W]`` in ``[-1, 1]``; a condition is the given frames in the same layout,
  ``[B, C, K, H, W]`` with K = 2 (first, last) for ``keyframes``, 1 for ``first-frame``, and the last
  ``k`` known frames for ``next-frame``.

This module does not import torch, so that the CLI's ``--help`` and ``plugins list`` stay fast: plugin
modules follow the same rule and import their networks inside ``build``.
"""

from __future__ import annotations

import abc
import dataclasses
import enum
try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10
    import tomli as tomllib  # type: ignore[no-redef]
import typing
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar, Generic, TypeVar, cast

from vidsynth.errors import ConfigError


class Task(str, enum.Enum):
    """What a model is given (the condition) and must produce."""

    UNCONDITIONAL = "unconditional"  # nothing in, a video out
    FIRST_FRAME = "first-frame"  # one image in, the video that starts from it out
    KEYFRAMES = "keyframes"  # first and last frame in, the in-between video out
    NEXT_FRAME = "next-frame"  # the last k frames in, the following frames out

    @property
    def inputs(self) -> str:
        return {
            "unconditional": "no input image",
            "first-frame": "exactly 1 input image (the first frame)",
            "keyframes": "exactly 2 input images (first and last frame)",
            "next-frame": "at least 1 input image (the starting frame(s))",
        }[self.value]

    def accepts(self, n_images: int) -> bool:
        return {
            "unconditional": n_images == 0,
            "first-frame": n_images == 1,
            "keyframes": n_images == 2,
            "next-frame": n_images >= 1,
        }[self.value]


@dataclass
class ModelConfig:
    """Fields every model has. Plugins subclass this and add their own (with defaults)."""

    frames: int = 16  # T: frames per training clip and per generated video
    size: int = 64  # H = W: frame size in pixels
    channels: int = 3  # C: 3 for RGB, 1 for grayscale
    batch_size: int = 16
    steps: int = 1000  # default length of `vidsynth train` (override with --steps)
    lr: float = 2e-4
    betas: tuple[float, float] = (0.5, 0.999)
    ema: float = 0.0  # EMA decay for the modules in ModelPlugin.ema_modules; 0 disables EMA
    fps: float = 8.0  # frame rate written into sampled videos

    def to_dict(self) -> dict[str, Any]:
        return {f.name: _jsonable(getattr(self, f.name)) for f in dataclasses.fields(self)}


def _jsonable(value: Any) -> Any:
    if isinstance(value, tuple):
        return list(value)
    if isinstance(value, enum.Enum):
        return value.value
    return value


def _coerce(name: str, hint: Any, value: Any) -> Any:
    """Turn ``value`` (from TOML, JSON or a ``--set key=value`` string) into the field's declared type."""
    origin = typing.get_origin(hint)
    args = typing.get_args(hint)
    try:
        if hint is bool:
            if isinstance(value, bool):
                return value
            if isinstance(value, str) and value.lower() in ("1", "true", "yes", "on"):
                return True
            if isinstance(value, str) and value.lower() in ("0", "false", "no", "off"):
                return False
            if isinstance(value, int) and value in (0, 1):
                return bool(value)
            raise ValueError
        if hint is int:
            if isinstance(value, bool):
                raise ValueError
            if isinstance(value, float) and not value.is_integer():
                raise ValueError
            return int(value)
        if hint is float:
            if isinstance(value, bool):
                raise ValueError
            return float(value)
        if hint is str:
            if not isinstance(value, (str, int, float)):
                raise ValueError
            return str(value)
        if origin is typing.Literal:
            if value not in args:
                raise ConfigError(f"config key {name!r} must be one of {', '.join(map(str, args))}, not {value!r}")
            return value
        if origin is tuple:
            items = value.split(",") if isinstance(value, str) else list(value)
            if args and args[-1] is not Ellipsis and len(items) != len(args):
                raise ValueError
            types = [args[0]] * len(items) if args and args[-1] is Ellipsis else list(args)
            return tuple(_coerce(name, t, v.strip() if isinstance(v, str) else v) for t, v in zip(types, items))
        if origin in (typing.Union, getattr(__import__("types"), "UnionType", None)):
            if value is None or (isinstance(value, str) and value.lower() in ("none", "null")):
                if type(None) in args:
                    return None
            for arg in args:
                if arg is type(None):
                    continue
                try:
                    return _coerce(name, arg, value)
                except (ConfigError, ValueError, TypeError):
                    continue
            raise ValueError
    except ConfigError:
        raise
    except (ValueError, TypeError):
        raise ConfigError(f"config key {name!r} expects {_type_name(hint)}, got {value!r}") from None
    return value


def _type_name(hint: Any) -> str:
    return getattr(hint, "__name__", str(hint).replace("typing.", ""))


#: The config dataclass of a plugin: ``class CVAE(ModelPlugin[CVAEConfig])`` types every hook's ``config``.
C = TypeVar("C", bound=ModelConfig)


class ModelPlugin(abc.ABC, Generic[C]):
    """Base class of every model plugin. Subclass as ``ModelPlugin[YourConfig]``, set the class attributes
    (``Config = YourConfig``), implement the three abstract hooks."""

    name: ClassVar[str]
    task: ClassVar[Task]
    Config: ClassVar[type[ModelConfig]] = ModelConfig
    presets: ClassVar[dict[str, dict[str, Any]]] = {}
    default_preset: ClassVar[str] = "small"
    description: ClassVar[str] = ""
    paper: ClassVar[str] = ""  # the paper this model follows (a citation)
    ema_modules: ClassVar[tuple[str, ...]] = ()  # modules the trainer keeps an EMA of (when config.ema > 0)
    schedule_keys: ClassVar[tuple[str, ...]] = ()  # logged values that are schedules (a KL weight), not losses: loss.png plots them apart
    #: Extra sample-time options, ``name -> (type, default, help)``; the CLI passes them as
    #: ``--option name=value`` (validated against this table) into ``sample(..., **options)``.
    sample_options: ClassVar[dict[str, tuple[type, Any, str]]] = {}

    # -- configuration -------------------------------------------------------------------------
    def validate(self) -> None:
        """Called at registration: catch a malformed plugin early, with its name in the message."""
        for attr in ("name", "task"):
            if not hasattr(self, attr):
                raise TypeError(f"{type(self).__name__} has no {attr!r}")
        if not isinstance(self.task, Task):
            raise TypeError(f"{self.name}: task must be a vidsynth.model.Task, not {self.task!r}")
        if not (isinstance(self.Config, type) and issubclass(self.Config, ModelConfig)):
            raise TypeError(f"{self.name}: Config must subclass vidsynth.model.ModelConfig")
        for preset, overrides in self.presets.items():
            self.make_config(preset, {})  # raises ConfigError on a bad preset
        if self.presets and self.default_preset not in self.presets:
            raise TypeError(f"{self.name}: default preset {self.default_preset!r} is not one of its presets")

    def make_config(
        self,
        preset: str | None = None,
        overrides: dict[str, Any] | None = None,
        config_file: str | Path | None = None,
    ) -> C:
        """Defaults, then the preset, then a TOML file, then ``overrides`` (later wins); all validated."""
        values: dict[str, Any] = {}
        if self.presets:
            preset = preset or self.default_preset
            if preset not in self.presets:
                raise ConfigError(
                    f"{self.name} has no preset {preset!r}; choose one of: {', '.join(self.presets)}"
                )
            values.update(self.presets[preset])
        elif preset not in (None, "default"):
            raise ConfigError(f"{self.name} has no presets")
        if config_file is not None:
            path = Path(config_file)
            try:
                data = tomllib.loads(path.read_text())
            except FileNotFoundError:
                raise ConfigError(f"config file {path} does not exist") from None
            except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
                raise ConfigError(f"config file {path} is not valid TOML: {exc}") from None
            values.update(data.get(self.name, data))
        values.update(overrides or {})
        return self.config_from_dict(values)

    def config_from_dict(self, values: dict[str, Any]) -> C:
        """Build and validate ``Config`` from plain values (also what loading a checkpoint does)."""
        hints = typing.get_type_hints(self.Config)
        fields = {f.name for f in dataclasses.fields(self.Config)}
        unknown = sorted(set(values) - fields)
        if unknown:
            raise ConfigError(
                f"unknown config key{'s' if len(unknown) > 1 else ''} for {self.name}: {', '.join(unknown)}"
                f" (known: {', '.join(sorted(fields))})"
            )
        typed = {k: _coerce(k, hints[k], v) for k, v in values.items()}
        config = cast(C, self.Config(**typed))
        self.check_config(config)
        return config

    def check_config(self, config: C) -> None:
        """Cross-field checks; raise ConfigError with a clear message. Override to add your own."""
        for key in ("frames", "size", "channels", "batch_size", "steps"):
            if getattr(config, key) < 1:
                raise ConfigError(f"config key {key!r} must be >= 1, got {getattr(config, key)}")
        if config.channels not in (1, 3):
            raise ConfigError(f"config key 'channels' must be 1 or 3, got {config.channels}")
        if not 0.0 <= config.ema < 1.0:
            raise ConfigError(f"config key 'ema' must be in [0, 1), got {config.ema}")

    # -- the three hooks -----------------------------------------------------------------------
    @abc.abstractmethod
    def build(self, config: C) -> dict[str, Any]:
        """Return the networks by name, e.g. ``{"generator": G, "critic": D}`` (torch ``nn.Module``s)."""

    def optimizers(self, modules: dict[str, Any], config: C) -> dict[str, Any]:
        """One optimizer per trainable module by default: Adam(config.lr, config.betas) (``adam``)."""
        return {
            name: adam(module.parameters(), lr=config.lr, betas=tuple(config.betas))
            for name, module in modules.items()
            if any(p.requires_grad for p in module.parameters())
        }

    @abc.abstractmethod
    def train_step(self, ctx: Any, video: Any) -> dict[str, float]:
        """One training iteration on ``video`` (float [B, C, T, H, W] in [-1, 1]); return losses by name."""

    @abc.abstractmethod
    def sample(self, modules: dict[str, Any], config: C, condition: Any, n: int, generator: Any, **options: Any) -> Any:
        """Generate ``n`` videos [n, C, T, H, W] in [-1, 1]; ``condition`` is [n, C, K, H, W] or None.

        The core (``vidsynth.generate.run_sample``) has already checked the condition against the task (K
        frames, or None when unconditional) and the config (channels, size) and expanded it to ``n``;
        check here only what is particular to the model (e.g. which ``frames`` it can make).

        ``generator`` is a ``torch.Generator`` on the modules' device: draw all noise from it so that a seed
        gives the same video. ``options`` always holds ``frames`` (int or None: the config's length) and
        ``mean`` (bool: the deterministic best guess, e.g. z = 0), plus this plugin's ``sample_options``.
        Called under ``torch.no_grad()`` with the modules in eval mode (EMA weights where there are some).
        """

    def condition_from(self, video: Any, config: C) -> Any:
        """The condition the task takes from a real clip (used by training previews and by eval)."""
        if self.task is Task.UNCONDITIONAL:
            return None
        if self.task is Task.KEYFRAMES:
            return video[:, :, [0, -1]]
        return video[:, :, :1]

    def given_frames(self, config: C, frames: int) -> tuple[int, ...] | None:
        """Where the frames of ``condition_from`` sit in a clip of ``frames`` frames, when not where the
        task puts them (keyframes: first and last; first-frame: frame 0; next-frame: the first K).

        Eval uses it to score the other frames and to measure each one's horizon (its distance to the
        nearest given frame); a model conditioned on the middle frame returns ``(frames // 2,)``.
        """
        return None

    def info(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "task": self.task.value,
            "presets": list(self.presets),
            "default_preset": self.default_preset,
            "description": self.description,
            "paper": self.paper,
        }


#: Devices where torch has a fused Adam kernel (one pass over every parameter instead of ~10 per tensor).
FUSED_ADAM_DEVICES = ("cpu", "cuda")


def adam(params: Any, *, lr: float, betas: tuple[float, float], **kwargs: Any) -> Any:
    """``torch.optim.Adam`` with its fused kernel where the parameters' device has one (the same update as
    the default implementation to float rounding, ~1e-7; a step of a 1M-parameter model went from tens of ms
    to ~1 ms on a 2-core CPU: benchmarks/RESULTS.md). Elsewhere (e.g. mps) it is torch's default Adam."""
    import torch

    params = list(params)
    devices = {p.device.type for p in params if isinstance(p, torch.Tensor)}
    fused = bool(devices) and devices <= set(FUSED_ADAM_DEVICES) and "foreach" not in kwargs and "fused" not in kwargs
    return torch.optim.Adam(params, lr=lr, betas=betas, **({"fused": True} if fused else {}), **kwargs)
