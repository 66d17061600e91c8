"""The plugin manager: finds every plugin through the ``vidsynth`` entry-point group and fills the registry.

In-tree plugins (``plugins/``, installed as ``vidsynth_plugins``) and third-party packages register the
same way, as entry points. Each entry point is loaded on its own, and each plugin's hooks are called on
their own, so a plugin that fails to import or raises while registering is reported as broken (name and
error) and skipped: the rest of the CLI keeps working.

``VIDSYNTH_PLUGINS`` restricts loading to a comma-separated list of entry-point names (empty: none),
which tests and debugging use to get a known set.
"""

from __future__ import annotations

import difflib
import os
import traceback
from dataclasses import dataclass, field
from importlib import metadata
from typing import Any, Callable

import pluggy

from vidsynth import hookspecs
from vidsynth.errors import PluginError

ENTRY_POINT_GROUP = "vidsynth"
ENV_RESTRICT = "VIDSYNTH_PLUGINS"


@dataclass
class PluginInfo:
    """One entry point of the ``vidsynth`` group and what became of it."""

    name: str
    module: str
    distribution: str | None = None
    version: str | None = None
    status: str = "ok"  # ok | broken | disabled
    error: str | None = None
    hooks: list[str] = field(default_factory=list)
    provides: list[str] = field(default_factory=list)  # e.g. ["model:cvae", "dataset:bouncing-balls"]

    def as_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "module": self.module,
            "distribution": self.distribution,
            "version": self.version,
            "status": self.status,
            "error": self.error,
            "hooks": self.hooks,
            "provides": self.provides,
        }


@dataclass
class DatasetSpec:
    """A built-in dataset, used on the command line as ``builtin:NAME``.

    ``factory(**params)`` returns a ``vidsynth.data`` clip source; see ``vidsynth.data`` for the params.
    """

    name: str
    factory: Callable[..., Any]
    description: str = ""


def _one_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0] if text else ''}".rstrip(": ")


class Registry:
    """Everything the installed plugins registered: models, datasets, metrics, extra commands."""

    def __init__(self) -> None:
        self.pm = pluggy.PluginManager("vidsynth")
        self.pm.add_hookspecs(hookspecs)
        self.plugins: list[PluginInfo] = []
        self.models: dict[str, Any] = {}
        self.datasets: dict[str, DatasetSpec] = {}
        self.metrics: dict[str, Any] = {}
        self._module_of: dict[str, PluginInfo] = {}

    # -- loading -------------------------------------------------------------------------------
    def load_entry_points(self) -> "Registry":
        allowed = os.environ.get(ENV_RESTRICT)
        allowed_names = None if allowed is None else {n.strip() for n in allowed.split(",") if n.strip()}
        seen: set[tuple[str, str]] = set()
        for ep in sorted(metadata.entry_points(group=ENTRY_POINT_GROUP), key=lambda e: e.name):
            if (ep.name, ep.value) in seen:  # the same distribution found twice on sys.path
                continue
            seen.add((ep.name, ep.value))
            dist = getattr(ep, "dist", None)
            info = PluginInfo(
                name=ep.name,
                module=ep.value,
                distribution=dist.metadata["Name"] if dist is not None else None,
                version=dist.version if dist is not None else None,
            )
            self.plugins.append(info)
            if allowed_names is not None and ep.name not in allowed_names:
                info.status = "disabled"
                continue
            try:
                module = ep.load()
            except BaseException as exc:  # noqa: BLE001 - any import failure, even SystemExit, is reported
                self._mark_broken(info, exc)
                continue
            self.register_module(module, info)
        self._collect()
        return self

    def register_module(self, module: Any, info: PluginInfo | None = None) -> None:
        """Register a plugin module (an entry point's target) with the plugin manager."""
        info = info or PluginInfo(name=getattr(module, "__name__", repr(module)), module=repr(module))
        if info not in self.plugins:
            self.plugins.append(info)
        try:
            self.pm.register(module, name=info.name)
            self.pm.check_pending()  # a misspelled hook name is an error, not a silently ignored function
        except Exception as exc:  # noqa: BLE001
            if self.pm.is_registered(module):
                self.pm.unregister(module)
            self._mark_broken(info, exc)
            return
        info.hooks = sorted(impl.name for impl in self.pm.get_hookcallers(module) or [])
        self._module_of[info.name] = info

    def _mark_broken(self, info: PluginInfo, exc: BaseException) -> None:
        info.status = "broken"
        info.error = _one_line(exc)
        info.traceback = "".join(traceback.format_exception(exc))  # type: ignore[attr-defined]

    def _collect(self) -> None:
        """Call each plugin's register_* hooks one plugin at a time, so one failure stays with its plugin."""
        from vidsynth.model import ModelPlugin

        def collect(hook_name: str, store: dict, key: Callable[[Any], str], kind: str, check=None):
            for impl in getattr(self.pm.hook, hook_name).get_hookimpls():
                info = self._module_of.get(impl.plugin_name)
                if info is None or info.status != "ok":
                    continue
                found: list[Any] = []
                try:
                    impl.function(register=found.append)
                    for item in found:
                        if check is not None:
                            check(item)
                except Exception as exc:  # noqa: BLE001
                    self._mark_broken(info, exc)
                    continue
                for item in found:
                    name = key(item)
                    if name in store:
                        info.error = f"{kind} {name!r} is already registered by another plugin; ignored"
                        continue
                    store[name] = item
                    info.provides.append(f"{kind}:{name}")

        def check_model(m):
            if not isinstance(m, ModelPlugin):
                raise TypeError(f"register_models got {type(m).__name__}, not a vidsynth.model.ModelPlugin")
            m.validate()

        collect("register_models", self.models, lambda m: m.name, "model", check_model)
        collect("register_datasets", self.datasets, lambda d: d.name, "dataset")
        collect("register_metrics", self.metrics, lambda m: m.name, "metric")

    def add_commands(self, app: Any) -> None:
        for impl in self.pm.hook.register_commands.get_hookimpls():
            info = self._module_of.get(impl.plugin_name)
            if info is None or info.status != "ok":
                continue
            try:
                impl.function(app=app)
            except Exception as exc:  # noqa: BLE001
                self._mark_broken(info, exc)

    # -- lookups -------------------------------------------------------------------------------
    def model(self, name: str):
        """The model plugin called ``name``, or a one-line PluginError that says what to do."""
        if name in self.models:
            return self.models[name]
        for info in self.plugins:
            if info.status == "broken" and (info.name == name or f"model:{name}" in info.provides):
                raise PluginError(f"plugin {name!r} is installed but broken: {info.error}")
        close = difflib.get_close_matches(name, list(self.models), n=1)
        hint = f" (did you mean {close[0]!r}?)" if close else ""
        known = ", ".join(sorted(self.models)) or "none installed"
        raise PluginError(f"unknown plugin {name!r}{hint}; available: {known}. See `vidsynth plugins list`.")

    def dataset(self, name: str) -> DatasetSpec:
        if name in self.datasets:
            return self.datasets[name]
        known = ", ".join(f"builtin:{n}" for n in sorted(self.datasets)) or "none"
        raise PluginError(f"unknown built-in dataset 'builtin:{name}'; available: {known}")


_registry: Registry | None = None


def get_registry() -> Registry:
    """The process-wide registry, loaded on first use."""
    global _registry
    if _registry is None:
        _registry = Registry().load_entry_points()
    return _registry


def reset_registry() -> None:
    """Forget the loaded registry (tests use this after changing ``VIDSYNTH_PLUGINS`` or sys.path)."""
    global _registry
    _registry = None
