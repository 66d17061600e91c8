"""Run directories and checkpoints: JSON + safetensors, written atomically, loaded without unpickling.

A run directory (default ``runs/<plugin>-<YYYYmmdd-HHMMSS>``; an existing directory is never reused)::

    runs/tiny-20250101-120000/
      config.json                  plugin, preset, full config, data, trainer and runtime settings, version
      metrics.jsonl                one JSON line per logged step (written by the trainer)
      loss.png                     loss curves, refreshed as training goes
      train.lock                   the process training the run now (vidsynth.run_lock); empty when none
      previews/step_00000100.mp4   preview grids (and .gif) from fixed noise and fixed conditions
      checkpoints/step_00000100/
        model.safetensors          weights of every module, keys "<module>.<param>"
        ema.safetensors            EMA weights (when the plugin keeps an EMA)
        trainer.safetensors        optimizer tensors and the RNG states of every process (uint8 tensors)
        trainer.json               step, data position, optimizer hyper-parameters, grad scalers
        meta.json                  written last: step, version, sha256 of every file above

A checkpoint is written into a hidden staging folder, every file fsynced, ``meta.json`` written last, and
the folder renamed into place (the pattern of torchtitan's checkpointer). A folder without ``meta.json`` is
ignored, so a process killed while writing leaves the previous checkpoint as the newest one, and the sha256
sums catch a file truncated or changed afterwards. Loading reads only JSON and safetensors: no pickle.

What a run's JSON names is never trusted as a path: the files listed in ``meta.json`` must lie inside
their checkpoint folder (``check_inside``); ``trainer.json`` holds no paths; the one path in
``config.json``, the data source, is only ever opened for reading. Deleting (pruning, cleanup) never
follows a symlink. Files and folders get the permissions the umask gives (one policy for the whole run).
"""

from __future__ import annotations

import datetime as _dt
import errno
import hashlib
import json
import os
import random
import re
import shutil
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from vidsynth import __version__
from vidsynth.errors import ConfigError, VidsynthError

if TYPE_CHECKING:  # torch and numpy load only when tensors are touched: reading config.json stays instant
    import torch

#: Version of the run-directory layout. A run written with a newer layout is refused with a clear message.
FORMAT_VERSION = 1
CONFIG_FILE = "config.json"
CHECKPOINTS = "checkpoints"
MARKER = "meta.json"
_STEP_DIR = re.compile(r"^step_(\d+)$")
#: Test hook: seconds to sleep after each file of a checkpoint is written (before ``meta.json``), so a test
#: can kill the process while a checkpoint is half written. Never set it outside tests.
_PAUSE_ENV = "VIDSYNTH_TEST_CHECKPOINT_PAUSE"


# -- atomic files: vidsynth.atomic (re-exported here for the trainer and plotting) ----------------
from vidsynth.atomic import atomic_write_bytes, atomic_write_json  # noqa: E402,F401
from vidsynth.atomic import fsync_dir as _fsync_dir  # noqa: E402
from vidsynth.atomic import fsync_file as _fsync_file  # noqa: E402


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def now_iso() -> str:
    return _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")


# -- run directories -----------------------------------------------------------------------------
def new_run_dir(plugin_name: str, root: str | Path = "runs", run_dir: str | Path | None = None) -> Path:
    """Create the directory of a new run. Never reuses a directory that has anything in it.

    ``run_dir`` given: it must not exist or be empty. Otherwise ``root/<plugin>-<YYYYmmdd-HHMMSS>``, with
    ``-2``, ``-3``... appended when that name is taken (two runs started in the same second).
    """
    if run_dir is not None:
        path = Path(run_dir)
        if path.is_dir() and (path / CONFIG_FILE).is_file() and latest_checkpoint(path) is None:
            raise VidsynthError(
                f"run directory {path} holds a run that stopped before its first checkpoint; continue it from step 0"
                f" with its saved config with --resume {path}, or choose another --run-dir"
            )
        if path.exists() and (not path.is_dir() or any(path.iterdir())):
            raise VidsynthError(
                f"run directory {path} already exists and is not empty; choose another --run-dir,"
                f" or continue it with --resume {path}"
            )
        path.mkdir(parents=True, exist_ok=True)
        return path
    root = Path(root)
    root.mkdir(parents=True, exist_ok=True)
    stem = f"{plugin_name}-{time.strftime('%Y%m%d-%H%M%S')}"
    for i in range(1, 10_000):
        path = root / (stem if i == 1 else f"{stem}-{i}")
        try:
            path.mkdir()  # atomic: fails if another run took the name
            return path
        except FileExistsError:
            continue
    raise VidsynthError(f"could not create a new run directory under {root}")


def write_run_config(run_dir: str | Path, info: dict[str, Any]) -> None:
    """Write ``config.json``; ``info`` holds plugin, preset, config, data, trainer and runtime settings."""
    data = {"format": FORMAT_VERSION, "vidsynth_version": __version__, "created": now_iso(), **info}
    atomic_write_json(Path(run_dir) / CONFIG_FILE, data)


def read_run_config(run_dir: str | Path) -> dict[str, Any]:
    """Read and check ``config.json`` of a run (exists, is JSON, layout not newer than this vidsynth)."""
    run_dir = Path(run_dir)
    if not run_dir.exists():
        raise VidsynthError(f"run directory {run_dir} does not exist")
    if not run_dir.is_dir():
        raise VidsynthError(f"{run_dir} is not a run directory (it is a file)")
    path = run_dir / CONFIG_FILE
    if not path.is_file():
        raise VidsynthError(f"{run_dir} is not a vidsynth run directory (no {CONFIG_FILE})")
    try:
        data = json.loads(path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise VidsynthError(f"{path} is not valid JSON ({exc}); the run directory is damaged") from None
    if not isinstance(data, dict) or "plugin" not in data or "config" not in data:
        raise VidsynthError(f"{path} is not a vidsynth run config (no plugin/config)")
    fmt = data.get("format", 1)
    if not isinstance(fmt, int) or fmt > FORMAT_VERSION:
        raise VidsynthError(
            f"run {run_dir} was written by vidsynth {data.get('vidsynth_version', '?')} (run format {fmt});"
            f" this vidsynth {__version__} reads format {FORMAT_VERSION}: upgrade vidsynth to load it"
        )
    return data


# -- listing checkpoints -------------------------------------------------------------------------
def list_checkpoints(run_dir: str | Path) -> list[tuple[int, Path]]:
    """Complete checkpoints of a run (those with ``meta.json``), oldest first."""
    root = Path(run_dir) / CHECKPOINTS
    if not root.is_dir():
        return []
    found = []
    for child in root.iterdir():
        m = _STEP_DIR.match(child.name)
        if m and child.is_dir() and (child / MARKER).is_file():
            found.append((int(m.group(1)), child))
    return sorted(found)


def latest_checkpoint(run_dir: str | Path) -> Path | None:
    ckpts = list_checkpoints(run_dir)
    return ckpts[-1][1] if ckpts else None


def find_latest_run(plugin_name: str, root: str | Path = "runs") -> Path | None:
    """The run under ``root`` of ``plugin_name`` whose newest complete checkpoint is the most recent."""
    root = Path(root)
    if not root.is_dir():
        return None
    best: tuple[float, Path] | None = None
    for run in root.iterdir():
        cfg = run / CONFIG_FILE
        if not cfg.is_file():
            continue
        try:
            if json.loads(cfg.read_text()).get("plugin") != plugin_name:
                continue
        except (OSError, ValueError):
            continue
        ckpt = latest_checkpoint(run)
        if ckpt is None:
            continue
        stamp = (ckpt / MARKER).stat().st_mtime
        if best is None or stamp > best[0]:
            best = (stamp, run)
    return best[1] if best else None


# -- saving --------------------------------------------------------------------------------------
def _cpu_tensors(flat: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Detached, contiguous CPU copies (copies also untie shared weights, which safetensors refuses)."""
    return {k: v.detach().to("cpu", copy=True).contiguous() for k, v in flat.items()}


def module_tensors(modules: dict[str, torch.nn.Module]) -> dict[str, torch.Tensor]:
    """Flat ``{"<module>.<key>": tensor}`` of bare modules' state dicts (the layout of model.safetensors)."""
    return {f"{name}.{k}": v for name, m in modules.items() for k, v in m.state_dict().items()}


def _pause_for_tests() -> None:
    pause = os.environ.get(_PAUSE_ENV)
    if pause:
        time.sleep(float(pause))


def save_checkpoint(
    run_dir: str | Path,
    step: int,
    modules: dict[str, torch.nn.Module],
    *,
    plugin_name: str,
    ema: dict[str, torch.Tensor] | None = None,
    trainer_tensors: dict[str, torch.Tensor] | None = None,
    trainer_state: TrainState | dict[str, Any] | None = None,
    keep: int | None = None,
) -> Path:
    """Write checkpoint ``step`` of a run atomically and return its folder; then keep only the newest ``keep``.

    ``modules`` are bare (not DDP or compiled) modules; ``ema`` and ``trainer_tensors`` are flat tensor
    dicts; ``trainer_state`` must be JSON-able. A complete checkpoint of the same step is left as it is.
    """
    from safetensors.torch import save_file

    root = Path(run_dir) / CHECKPOINTS
    root.mkdir(parents=True, exist_ok=True)
    final = root / f"step_{step:08d}"
    if (final / MARKER).is_file():
        return final
    if final.exists() or final.is_symlink():  # a folder without its marker is not a checkpoint: replace it
        _remove_entry(final)
    previous = latest_checkpoint(run_dir)  # stays untouched whatever happens below (pruning comes last)
    stage = Path(tempfile.mkdtemp(prefix=f".step_{step:08d}.tmp-", dir=root))
    try:
        header = {"plugin": plugin_name, "vidsynth_version": __version__, "step": str(step)}
        files: dict[str, dict[str, Any]] = {}

        def put(name: str, tensors: dict[str, torch.Tensor]) -> None:
            path = stage / name
            save_file(_cpu_tensors(tensors), str(path), metadata=header)
            _fsync_file(path)
            files[name] = {"sha256": _sha256(path), "bytes": path.stat().st_size}
            _pause_for_tests()

        put("model.safetensors", module_tensors(modules))
        if ema:
            put("ema.safetensors", ema)
        put("trainer.safetensors", trainer_tensors or {})
        if isinstance(trainer_state, TrainState):
            state_path = trainer_state.write(stage)
        else:  # a plain dict (callers other than the trainer): stored as given, after the step
            state_path = stage / TrainState.FILE
            state_path.write_text(json.dumps({"step": step, **(trainer_state or {})}, indent=2) + "\n")
            _fsync_file(state_path)
        files[TrainState.FILE] = {"sha256": _sha256(state_path), "bytes": state_path.stat().st_size}
        _pause_for_tests()
        meta = {
            "format": FORMAT_VERSION,
            "vidsynth_version": __version__,
            "plugin": plugin_name,
            "step": step,
            "created": now_iso(),
            "files": files,
        }
        (stage / MARKER).write_text(json.dumps(meta, indent=2) + "\n")
        _fsync_file(stage / MARKER)
        _follow_umask(stage)
        _fsync_dir(stage)
        os.replace(stage, final)  # the checkpoint appears whole, or not at all
        _fsync_dir(root)
    except BaseException as exc:
        shutil.rmtree(stage, ignore_errors=True)
        if is_disk_full(exc):
            last = f"the last good checkpoint is {previous} (intact)" if previous else "no earlier checkpoint exists"
            raise VidsynthError(f"no space left on device writing {final}; {last}") from None
        raise
    if keep is not None:
        prune_checkpoints(run_dir, keep)
    return final


def _remove_entry(path: Path) -> None:
    """Delete a checkpoint folder of the run, never through a symlink: a link (to a folder anywhere) is
    unlinked itself and its target left as it is; a real folder loses its marker first, so that it never
    looks complete while half deleted (``shutil.rmtree`` does not follow the links inside it)."""
    if path.is_symlink():
        path.unlink()
        return
    marker = path / MARKER
    if marker.is_file() or marker.is_symlink():
        marker.unlink()
    shutil.rmtree(path, ignore_errors=True)


def _umask() -> int:
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def _follow_umask(folder: Path) -> None:
    """One permission policy for a whole run directory: what the user's umask gives any new file (0644 and
    0755 with the usual umask 022). The staging folder comes from ``mkdtemp`` (0700) and safetensors writes
    0600 files; without this a checkpoint would be private while meta.json and the rest of the run were not."""
    mask = _umask()
    os.chmod(folder, 0o777 & ~mask)
    for child in folder.iterdir():
        os.chmod(child, 0o666 & ~mask)


def prune_checkpoints(run_dir: str | Path, keep: int) -> None:
    """Delete all but the newest ``keep`` complete checkpoints (``_remove_entry``: never through a symlink)."""
    keep = max(1, keep)
    for _, path in list_checkpoints(run_dir)[:-keep]:
        _remove_entry(path)


def remove_stale_staging(run_dir: str | Path) -> list[Path]:
    """Delete staging folders left by a process killed while writing a checkpoint (call before resuming)."""
    root = Path(run_dir) / CHECKPOINTS
    removed = []
    if root.is_dir():
        for child in root.iterdir():
            if child.name.startswith(".step_") or (_STEP_DIR.match(child.name) and not (child / MARKER).exists()):
                _remove_entry(child)
                removed.append(child)
    return removed


def is_disk_full(exc: BaseException) -> bool:
    """``exc`` says the disk (or the quota) is full: an ``OSError`` with ENOSPC/EDQUOT, or safetensors'
    error, which carries the OS error only in its text ("... (os error 28)" / "code: 28")."""
    if isinstance(exc, OSError) and exc.errno in (errno.ENOSPC, getattr(errno, "EDQUOT", errno.ENOSPC)):
        return True
    return type(exc).__name__ == "SafetensorError" and bool(_ENOSPC_TEXT.search(str(exc)))


_ENOSPC_TEXT = re.compile(rf"os error {errno.ENOSPC}\b|code: {errno.ENOSPC}\b|No space left on device")


# -- reading checkpoint files --------------------------------------------------------------------
def read_checkpoint_meta(ckpt: Path) -> dict[str, Any]:
    try:
        meta = json.loads((ckpt / MARKER).read_text())
    except FileNotFoundError:
        raise VidsynthError(f"{ckpt} is not a complete checkpoint (no {MARKER})") from None
    except (json.JSONDecodeError, UnicodeDecodeError):
        raise VidsynthError(f"checkpoint {ckpt} is corrupt: {MARKER} is not valid JSON") from None
    if not isinstance(meta, dict):
        raise VidsynthError(f"checkpoint {ckpt} is corrupt: {MARKER} is not a JSON object")
    fmt = meta.get("format", 1)
    if not isinstance(fmt, int) or fmt > FORMAT_VERSION:
        raise VidsynthError(
            f"checkpoint {ckpt} was written by vidsynth {meta.get('vidsynth_version', '?')} (format {fmt});"
            f" this vidsynth {__version__} reads format {FORMAT_VERSION}: upgrade vidsynth to load it"
        )
    files = meta.get("files", {})
    if not isinstance(files, dict):
        raise VidsynthError(f"checkpoint {ckpt} is corrupt: {MARKER} has no table of files")
    for name in files:
        check_inside(ckpt, name, source=f"{ckpt / MARKER}", entry=f"files[{name!r}]")
    return meta


def check_inside(folder: Path, relative: str, *, source: str, entry: str) -> Path:
    """``folder / relative``, when it stays inside ``folder`` once resolved (links followed); else a one-line
    error naming the file it was read from and the entry. Every path read from a run's JSON files goes
    through here: a crafted ``../`` or absolute entry must never make vidsynth read or write elsewhere."""
    if not isinstance(relative, str) or not relative or Path(relative).is_absolute():
        raise VidsynthError(f"{source}: entry {entry} is not a path inside {folder}; refusing to use it")
    root = Path(folder).resolve()
    path = Path(folder) / relative
    try:
        path.resolve().relative_to(root)
    except ValueError:
        raise VidsynthError(f"{source}: entry {entry} points outside {folder}; refusing to use it") from None
    return path


def _verified(ckpt: Path, name: str, meta: dict[str, Any]) -> Path:
    path = ckpt / name
    expected = meta.get("files", {}).get(name)
    if expected is None:
        raise VidsynthError(f"checkpoint {ckpt} has no {name} recorded in {MARKER}")
    if not path.is_file():
        raise VidsynthError(f"checkpoint {ckpt} is incomplete: {name} is missing")
    size = path.stat().st_size
    if size != expected.get("bytes"):
        raise VidsynthError(
            f"checkpoint {ckpt} is corrupt: {name} has {size} bytes, {expected.get('bytes')} were written"
            " (truncated or modified)"
        )
    if _sha256(path) != expected.get("sha256"):
        raise VidsynthError(f"checkpoint {ckpt} is corrupt: {name} does not match its sha256 (modified after writing)")
    return path


def read_tensors(ckpt: str | Path, name: str, meta: dict[str, Any] | None = None, *, verify: bool = True) -> dict[str, torch.Tensor]:
    """Load one safetensors file of a checkpoint on the CPU after checking its size and sha256."""
    from safetensors import SafetensorError
    from safetensors.torch import load_file

    ckpt = Path(ckpt)
    meta = meta if meta is not None else read_checkpoint_meta(ckpt)
    path = _verified(ckpt, name, meta) if verify else ckpt / name
    try:
        return load_file(str(path), device="cpu")
    except (SafetensorError, OSError, ValueError) as exc:
        raise VidsynthError(f"checkpoint {ckpt} is corrupt: {name} is not a valid safetensors file ({exc})") from None


def first_nonfinite(flat: dict[str, torch.Tensor]) -> str | None:
    """The first key of ``flat`` whose floating-point tensor holds a NaN or an infinity (None: all finite)."""
    import torch

    for key, tensor in flat.items():
        if tensor.is_floating_point() and not torch.isfinite(tensor).all():
            return key
    return None


def read_weights(ckpt: str | Path, name: str, meta: dict[str, Any] | None = None, *, verify: bool = True) -> dict[str, torch.Tensor]:
    """``read_tensors`` for weights (model or EMA): a file holding NaN or inf is refused in one line that
    names the newest checkpoint of the run that is finite."""
    ckpt = Path(ckpt)
    flat = read_tensors(ckpt, name, meta, verify=verify)
    bad = first_nonfinite(flat)
    if bad is not None:
        good = last_good_checkpoint(ckpt.parent.parent, before=ckpt) if ckpt.parent.name == CHECKPOINTS else None
        hint = f"the last good checkpoint is {good}" if good else "the run has no earlier finite checkpoint"
        raise VidsynthError(f"checkpoint {ckpt} is unusable: {name} holds non-finite values ({bad}); {hint}")
    return flat


def checkpoint_is_finite(ckpt: Path) -> bool:
    """The checkpoint is complete, intact (size and sha256) and its weights hold no NaN or inf."""
    try:
        meta = read_checkpoint_meta(ckpt)
        return all(first_nonfinite(read_tensors(ckpt, name, meta)) is None
                   for name in ("model.safetensors", "ema.safetensors") if name in meta.get("files", {}))
    except VidsynthError:
        return False


def last_good_checkpoint(run_dir: str | Path, before: Path | None = None) -> Path | None:
    """The newest checkpoint of a run that ``checkpoint_is_finite`` (older than ``before`` when given).

    It reads the checkpoints from the newest back until one is good: for error messages, not for loops."""
    found = [path for _, path in list_checkpoints(run_dir)]
    if before is not None:
        found = [p for p in found if p.name < Path(before).name]
    return next((p for p in reversed(found) if checkpoint_is_finite(p)), None)


def read_trainer_state(ckpt: str | Path) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
    """``trainer.safetensors`` and ``trainer.json`` (as a dict) of a checkpoint, both verified."""
    tensors, state = read_train_state(ckpt)
    return tensors, state.to_json()


def read_train_state(ckpt: str | Path) -> tuple[dict[str, torch.Tensor], TrainState]:
    """``trainer.safetensors`` and the ``TrainState`` of ``trainer.json`` of a checkpoint, both verified."""
    ckpt = Path(ckpt)
    meta = read_checkpoint_meta(ckpt)
    tensors = read_tensors(ckpt, "trainer.safetensors", meta)
    return tensors, TrainState.read(ckpt, meta)


# -- trainer.json --------------------------------------------------------------------------------
@dataclass
class TrainState:
    """Where training stands at a checkpoint: the one owner of the ``trainer.json`` layout.

    The tensors that go with it (optimizer moments, RNG states) live in ``trainer.safetensors``; this is
    the JSON half: the step and data position, the optimizers' hyper-parameters and scalar state, the
    fp16 grad scalers and the scalar part of every process's RNG state (by rank, as a string).
    """

    FILE = "trainer.json"

    step: int
    batches_per_epoch: int
    world_size: int = 1
    seed: int = 0
    optimizers: dict[str, Any] = field(default_factory=dict)
    scalers: dict[str, Any] = field(default_factory=dict)
    rng: dict[str, Any] = field(default_factory=dict)

    @property
    def epoch(self) -> int:
        return self.step // self.batches_per_epoch if self.batches_per_epoch else 0

    @property
    def batch_in_epoch(self) -> int:
        return self.step % self.batches_per_epoch if self.batches_per_epoch else 0

    def to_json(self) -> dict[str, Any]:
        # epoch and batch_in_epoch are derived, but stored so that a reader needs no arithmetic
        return {"step": self.step, "epoch": self.epoch, "batch_in_epoch": self.batch_in_epoch,
                "batches_per_epoch": self.batches_per_epoch, "world_size": self.world_size, "seed": self.seed,
                "optimizers": self.optimizers, "scalers": self.scalers, "rng": self.rng}

    @classmethod
    def from_json(cls, data: Any, source: str = FILE) -> TrainState:
        """Parse ``trainer.json`` (also those written before this class existed: same keys)."""
        if not isinstance(data, dict):
            raise VidsynthError(f"{source} is corrupt: not a JSON object")
        try:
            return cls(step=int(data["step"]), batches_per_epoch=int(data.get("batches_per_epoch") or 0),
                       world_size=int(data.get("world_size", 1)), seed=int(data.get("seed", 0)),
                       optimizers=dict(data.get("optimizers", {})), scalers=dict(data.get("scalers") or {}),
                       rng=dict(data.get("rng", {})))
        except (KeyError, TypeError, ValueError) as exc:
            raise VidsynthError(f"{source} is corrupt: bad or missing entry {exc}") from None

    def write(self, folder: Path) -> Path:
        """Write ``folder/trainer.json`` and flush it to disk; return its path."""
        path = Path(folder) / self.FILE
        path.write_text(json.dumps(self.to_json(), indent=2) + "\n")
        _fsync_file(path)
        return path

    @classmethod
    def read(cls, ckpt: str | Path, meta: dict[str, Any] | None = None) -> TrainState:
        """Read the verified ``trainer.json`` of checkpoint ``ckpt``."""
        ckpt = Path(ckpt)
        path = _verified(ckpt, cls.FILE, meta if meta is not None else read_checkpoint_meta(ckpt))
        try:
            data = json.loads(path.read_text())
        except (json.JSONDecodeError, UnicodeDecodeError):
            raise VidsynthError(f"checkpoint {ckpt} is corrupt: {cls.FILE} is not valid JSON") from None
        return cls.from_json(data, source=str(path))


def load_module_tensors(
    modules: dict[str, torch.nn.Module], flat: dict[str, torch.Tensor], *, source: str, plugin_name: str, strict_modules: bool = True
) -> None:
    """Copy ``flat`` (``"<module>.<key>"``) into ``modules``, with one-line errors for any mismatch."""
    by_module: dict[str, dict[str, torch.Tensor]] = {}
    for key, value in flat.items():
        name, _, rest = key.partition(".")
        by_module.setdefault(name, {})[rest] = value
    extra = sorted(set(by_module) - set(modules))
    if extra:
        raise VidsynthError(
            f"checkpoint {source} does not match the {plugin_name} model: it has module(s) {', '.join(extra)}"
            f" that the model does not build ({', '.join(modules)})"
        )
    for name, module in modules.items():
        saved = by_module.get(name)
        if saved is None:
            if strict_modules:
                raise VidsynthError(f"checkpoint {source} does not match the {plugin_name} model: no weights for module {name!r}")
            continue
        expected = module.state_dict()
        missing = sorted(set(expected) - set(saved))
        unexpected = sorted(set(saved) - set(expected))
        if missing or unexpected:
            what = f"missing {name}.{missing[0]}" if missing else f"unexpected {name}.{unexpected[0]}"
            more = len(missing) + len(unexpected) - 1
            raise VidsynthError(
                f"checkpoint {source} does not match the {plugin_name} model: {what}"
                + (f" (and {more} more differences)" if more else "")
            )
        for key, tensor in expected.items():
            if tuple(saved[key].shape) != tuple(tensor.shape):
                raise VidsynthError(
                    f"checkpoint {source} does not match the {plugin_name} model: {name}.{key} has shape"
                    f" {list(saved[key].shape)} in the checkpoint, {list(tensor.shape)} in the model"
                    " (was it trained with another config?)"
                )
        module.load_state_dict(saved)


# -- optimizer and RNG state as tensors + JSON ---------------------------------------------------
def optimizer_state(optimizers: dict[str, torch.optim.Optimizer]) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
    """Split optimizers' state dicts into tensors (for safetensors) and JSON (hyper-parameters, scalars)."""
    import torch

    tensors: dict[str, torch.Tensor] = {}
    info: dict[str, Any] = {}
    for name, opt in optimizers.items():
        sd = opt.state_dict()
        scalars: dict[str, dict[str, Any]] = {}
        for idx, state in sd["state"].items():
            for key, value in state.items():
                if isinstance(value, torch.Tensor):
                    tensors[f"optim.{name}.{idx}.{key}"] = value
                else:
                    scalars.setdefault(str(idx), {})[key] = value
        info[name] = {"param_groups": sd["param_groups"], "scalars": scalars}
    return tensors, json.loads(json.dumps(info, default=_json_default))


def _json_default(value: Any) -> Any:
    import torch

    if isinstance(value, tuple):
        return list(value)
    if isinstance(value, torch.Tensor) and value.numel() == 1:
        return value.item()
    raise TypeError(f"cannot store {type(value).__name__} in trainer.json")


#: Optimizer options that choose an implementation of the same update (kept from the optimizer on load).
IMPLEMENTATION_FLAGS = ("foreach", "fused")


def load_optimizer_state(
    optimizers: dict[str, torch.optim.Optimizer], tensors: dict[str, torch.Tensor], info: dict[str, Any]
) -> None:
    for name, opt in optimizers.items():
        if name not in info:
            raise VidsynthError(f"the checkpoint has no state for optimizer {name!r}")
        saved = info[name]
        state: dict[int, dict[str, Any]] = {}
        prefix = f"optim.{name}."
        for key, value in tensors.items():
            if key.startswith(prefix):
                idx, _, field_name = key[len(prefix):].partition(".")
                state.setdefault(int(idx), {})[field_name] = value
        for idx, scalars in saved["scalars"].items():
            state.setdefault(int(idx), {}).update(scalars)
        groups = []
        for current, loaded in zip(opt.state_dict()["param_groups"], saved["param_groups"]):
            # JSON turned tuples (Adam's betas) into lists: give back the types the optimizer uses
            group = {k: tuple(v) if isinstance(current.get(k), tuple) and isinstance(v, list) else v for k, v in loaded.items()}
            # how the update is computed (fused / foreach kernels) is this process's choice, not the run's:
            # a checkpoint of an older version resumes on the kernels this version picks
            group.update({k: current[k] for k in IMPLEMENTATION_FLAGS if k in current})
            groups.append(group)
        if len(groups) != len(opt.state_dict()["param_groups"]):
            raise VidsynthError(f"optimizer {name!r} of the checkpoint has another number of parameter groups")
        try:
            opt.load_state_dict({"state": state, "param_groups": groups})
        except (ValueError, KeyError, RuntimeError) as exc:
            raise VidsynthError(f"cannot restore optimizer {name!r} from the checkpoint: {exc}") from None


def rng_state(prefix: str = "") -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
    """The RNG states of python, numpy and torch (CPU + CUDA) as uint8 tensors plus a few JSON scalars."""
    import numpy as np
    import torch

    version, py_words, gauss = random.getstate()
    np_kind, np_keys, np_pos, np_has_gauss, np_gauss = np.random.get_state()
    tensors = {
        f"{prefix}rng.python": torch.from_numpy(np.asarray(py_words, dtype=np.uint32).view(np.uint8).copy()),
        f"{prefix}rng.numpy": torch.from_numpy(np.asarray(np_keys, dtype=np.uint32).view(np.uint8).copy()),
        f"{prefix}rng.torch": torch.get_rng_state(),
    }
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        for i, state in enumerate(torch.cuda.get_rng_state_all()):
            tensors[f"{prefix}rng.cuda.{i}"] = state
    info = {"python_version": version, "python_gauss": gauss, "numpy_kind": np_kind, "numpy_pos": int(np_pos),
            "numpy_has_gauss": int(np_has_gauss), "numpy_gauss": float(np_gauss)}
    return tensors, info


def set_rng_state(tensors: dict[str, torch.Tensor], info: dict[str, Any], prefix: str = "") -> None:
    import numpy as np
    import torch

    words = tuple(int(w) for w in tensors[f"{prefix}rng.python"].numpy().view(np.uint32))
    random.setstate((info["python_version"], words, info["python_gauss"]))
    keys = tensors[f"{prefix}rng.numpy"].numpy().view(np.uint32)
    np.random.set_state((info["numpy_kind"], keys, info["numpy_pos"], info["numpy_has_gauss"], info["numpy_gauss"]))
    torch.set_rng_state(tensors[f"{prefix}rng.torch"])
    cuda = sorted((k for k in tensors if k.startswith(f"{prefix}rng.cuda.")), key=lambda k: int(k.rsplit(".", 1)[1]))
    if cuda and torch.cuda.is_available():
        torch.cuda.set_rng_state_all([tensors[k] for k in cuda][: torch.cuda.device_count()])


# -- loading a run for sample / eval -------------------------------------------------------------
@dataclass
class LoadedRun:
    """A trained model ready to sample: the plugin, its config, its modules (eval mode), where it came from."""

    plugin: Any
    config: Any
    modules: dict[str, torch.nn.Module]
    run_dir: Path
    meta: dict[str, Any] = field(default_factory=dict)

    @property
    def step(self) -> int:
        return int(self.meta.get("step", 0))

    @property
    def device(self) -> torch.device:
        import torch

        for module in self.modules.values():
            for p in module.parameters():
                return p.device
        return torch.device("cpu")


def _resolve_checkpoint(path: Path) -> tuple[Path, Path]:
    """``path`` is a run directory or one of its checkpoint folders -> (run_dir, checkpoint folder)."""
    if not path.exists():
        raise VidsynthError(f"no run directory or checkpoint at {path}")
    if _STEP_DIR.match(path.name) and path.parent.name == CHECKPOINTS:
        run_dir = path.parent.parent
        if not (path / MARKER).is_file():
            raise VidsynthError(f"{path} is not a complete checkpoint (no {MARKER}: it was interrupted while being written)")
        return run_dir, path
    read_run_config(path)  # clear error when this is not a run directory
    ckpt = latest_checkpoint(path)
    if ckpt is None:
        raise VidsynthError(f"run {path} has no complete checkpoint yet (it stopped before its first save)")
    return path, ckpt


def plugin_and_config(info: dict[str, Any], what: str, plugin_name: str | None = None) -> tuple[Any, Any]:
    """The installed plugin and typed config of a saved model's ``config.json`` (``info``).

    ``what`` names the model in errors ("checkpoint runs/x"); a model of another plugin than ``plugin_name``
    or a config the installed plugin no longer accepts is a one-line error.
    """
    from vidsynth.plugins import get_registry

    saved_plugin = info["plugin"]
    if plugin_name is not None and saved_plugin != plugin_name:
        raise VidsynthError(f"{what} is a {saved_plugin} model, not {plugin_name}")
    plugin = get_registry().model(saved_plugin)
    try:
        config = plugin.config_from_dict(info["config"])
    except ConfigError as exc:
        raise VidsynthError(f"{what} does not fit the installed {saved_plugin} plugin: {exc}") from None
    return plugin, config


def load_run(path: str | Path, plugin_name: str | None = None, device: str | torch.device = "cpu") -> LoadedRun:
    """Load a run's newest complete checkpoint (or the checkpoint folder given) for sampling or eval.

    Checks the plugin name (``checkpoint runs/x is a wgan3d model, not cvae``), the layout version, the
    files' sha256 and every tensor's shape. The modules come back in eval mode on ``device``, holding
    the EMA weights for the modules that have them.
    """
    run_dir, ckpt = _resolve_checkpoint(Path(path))
    info = read_run_config(run_dir)
    saved_plugin = info["plugin"]
    plugin, config = plugin_and_config(info, f"checkpoint {path}", plugin_name)
    meta = read_checkpoint_meta(ckpt)
    if meta.get("plugin", saved_plugin) != saved_plugin:
        raise VidsynthError(f"checkpoint {ckpt} holds a {meta.get('plugin')} model but its run is {saved_plugin}")
    has_ema = "ema.safetensors" in meta.get("files", {})
    weight_files = ["model.safetensors"] + (["ema.safetensors"] if has_ema else [])
    for name in weight_files:  # sizes and sha256 first: a damaged checkpoint fails before torch even loads
        _verified(ckpt, name, meta)

    import torch

    from vidsynth.runtime import resolve_device

    dev = resolve_device(str(device)) if not isinstance(device, torch.device) else device
    with torch.random.fork_rng(devices=[]):  # building initialises weights: don't disturb the caller's RNG
        modules = plugin.build(config)
    for name in weight_files:
        load_module_tensors(modules, read_weights(ckpt, name, meta, verify=False), source=str(path),
                            plugin_name=saved_plugin, strict_modules=name == "model.safetensors")
    for module in modules.values():
        module.to(dev).eval()
    full_meta = {**info, "step": meta["step"], "checkpoint": str(ckpt), "checkpoint_created": meta.get("created"), "ema": has_ema}
    return LoadedRun(plugin=plugin, config=config, modules=modules, run_dir=run_dir, meta=full_meta)


# -- which model sample / eval use ---------------------------------------------------------------
def resolve_run(plugin_name: str, checkpoint: str | Path | None = None, runs_dir: str | Path = "runs") -> tuple[Path, str | None]:
    """The model ``sample`` and ``eval`` load for ``plugin_name``, and the line to print about it (or None).

    ``checkpoint`` given: that run directory or checkpoint, or ``pretrained`` for the model vidsynth ships.
    Otherwise the newest run of the plugin under ``runs_dir``, else the shipped pretrained model (with a
    line saying so); with neither, a one-line error saying how to train one. Load the answer with
    ``vidsynth.pretrained.load_model``, which reads both run directories and shipped models.
    """
    from vidsynth import pretrained

    if checkpoint is not None and str(checkpoint) == pretrained.KEYWORD:
        shipped = pretrained.find(plugin_name)
        if shipped is None:
            raise VidsynthError(pretrained.missing_message(plugin_name))
        return shipped, pretrained.note(shipped)
    if checkpoint is not None:
        return Path(checkpoint), None
    run = find_latest_run(plugin_name, runs_dir)
    if run is not None:
        return run, None
    shipped = pretrained.find(plugin_name)
    if shipped is not None:
        return shipped, pretrained.note(shipped)
    raise VidsynthError(
        f"no trained {plugin_name} model under ./{Path(runs_dir).as_posix()}; train one with"
        f" `vidsynth train {plugin_name} DATA` or pass --checkpoint RUN_DIR (vidsynth ships no pretrained {plugin_name})"
    )
