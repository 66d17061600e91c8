"""Where and how a model runs: device, precision, seeding and determinism, ``torch.compile``, and DDP.

Plugins never touch any of this: the trainer builds one ``Runtime`` from the command line and hands the
plugin a ``TrainContext`` that already knows the device and precision.

* Device: ``auto`` picks CUDA, then Apple MPS, then the CPU. Under torchrun each process takes
  ``cuda:LOCAL_RANK``.
* Precision: ``auto`` is fp32 on CPU and MPS, and bf16 autocast on a CUDA card that supports it (fp32 on
  older cards). ``fp16`` (CUDA only) adds a ``GradScaler`` per optimizer. Weights always stay fp32.
* Seeding: python, numpy and torch (CPU and every CUDA device) are seeded with ``seed + rank``, so the
  processes of a distributed run draw different noise while the run as a whole stays reproducible.
* Determinism (``deterministic=True``): ``torch.use_deterministic_algorithms(True)``, cuDNN deterministic
  and benchmark off, ``CUBLAS_WORKSPACE_CONFIG=:4096:8``. Slower, and an operation without a deterministic
  kernel raises instead of silently varying. Without it, runs on the CPU are still repeatable for a seed;
  on CUDA cuDNN autotuning (``benchmark``) is on and results may differ in the last bits.
* Threads: on the CPU torch uses every core this process may run on (divided among the processes of a
  distributed run on one machine), unless ``OMP_NUM_THREADS`` is set, which always wins.
* Distributed: started by torchrun's environment (``RANK``, ``LOCAL_RANK``, ``WORLD_SIZE``,
  ``MASTER_ADDR``, ``MASTER_PORT``): the process group uses NCCL on CUDA and gloo on the CPU; modules with
  trainable parameters are wrapped in ``DistributedDataParallel``; ``is_main`` is rank 0, the only process
  that logs and writes files. There is no launcher of our own: ``torchrun --nproc-per-node N -m vidsynth
  train ...``.
"""

from __future__ import annotations

import contextlib
import os
import random
from typing import Any, Iterator

import numpy as np
import torch

from vidsynth.errors import VidsynthError

DEVICES = ("auto", "cpu", "cuda", "cuda:N", "mps")
PRECISIONS = ("auto", "fp32", "bf16", "fp16")
_DTYPES = {"bf16": torch.bfloat16, "fp16": torch.float16}


def resolve_device(name: str = "auto", local_rank: int | None = None) -> torch.device:
    """``auto|cpu|cuda|cuda:N|mps`` -> a usable ``torch.device``, or a one-line VidsynthError."""
    name = (name or "auto").strip().lower()
    if name == "auto":
        if torch.cuda.is_available():
            name = "cuda"
        elif _mps_available():
            name = "mps"
        else:
            name = "cpu"
    if name == "cpu":
        return torch.device("cpu")
    if name == "mps":
        if not _mps_available():
            raise VidsynthError("device 'mps' is not available here (it needs Apple silicon and a torch build with MPS)")
        return torch.device("mps")
    if name == "cuda" or name.startswith("cuda:"):
        if not torch.cuda.is_available():
            raise VidsynthError(f"device {name!r} is not available: this torch build sees no CUDA GPU; use --device cpu")
        if name == "cuda":
            index = local_rank if local_rank is not None else torch.cuda.current_device()
        else:
            try:
                index = int(name.split(":", 1)[1])
            except ValueError:
                raise VidsynthError(f"unknown device {name!r}; use one of: {', '.join(DEVICES)}") from None
        count = torch.cuda.device_count()
        if not 0 <= index < count:
            raise VidsynthError(f"device cuda:{index} does not exist: this machine has {count} CUDA device(s)")
        return torch.device("cuda", index)
    raise VidsynthError(f"unknown device {name!r}; use one of: {', '.join(DEVICES)}")


def _mps_available() -> bool:
    backend = getattr(torch.backends, "mps", None)
    return bool(backend is not None and backend.is_available())


def resolve_precision(name: str, device: torch.device) -> str:
    """``auto|fp32|bf16|fp16`` -> ``fp32``, ``bf16`` or ``fp16`` for ``device`` (errors say what works)."""
    name = (name or "auto").strip().lower()
    if name not in PRECISIONS:
        raise VidsynthError(f"unknown precision {name!r}; use one of: {', '.join(PRECISIONS)}")
    if name == "auto":
        if device.type == "cuda" and torch.cuda.is_bf16_supported():
            return "bf16"
        return "fp32"
    if name == "fp16" and device.type != "cuda":
        raise VidsynthError(f"precision fp16 needs a CUDA device (this run uses {device}); use bf16 or fp32")
    if name == "bf16" and device.type == "cuda" and not torch.cuda.is_bf16_supported():
        raise VidsynthError(f"{torch.cuda.get_device_name(device)} does not support bf16; use fp16 or fp32")
    if name == "bf16" and device.type == "mps":
        raise VidsynthError("precision bf16 is not supported on mps here; use fp32")
    return name


def seed_everything(seed: int) -> None:
    """Seed python's ``random``, numpy's global generator and torch (CPU and all CUDA devices)."""
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)  # also seeds every CUDA device


def _cpu_count() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # macOS, Windows
        return os.cpu_count() or 1


class Runtime:
    """Device, precision, seed, compile, DDP: everything about *where* training runs, set up once.

    Use as a context manager (or call ``close()``) so a distributed process group is torn down::

        with Runtime(device="auto", precision="auto", seed=0) as rt:
            model = rt.prepare(model)          # to device, DDP when distributed, compiled if asked
            with rt.autocast():
                loss = model(x).mean()
    """

    def __init__(
        self,
        device: str = "auto",
        precision: str = "auto",
        seed: int = 0,
        compile: bool = False,
        deterministic: bool = False,
        channels_last: bool = False,
    ) -> None:
        env = os.environ
        self.world_size = int(env.get("WORLD_SIZE", "1"))
        self.rank = int(env.get("RANK", "0"))
        self.local_rank = int(env.get("LOCAL_RANK", "0"))
        self.local_world_size = int(env.get("LOCAL_WORLD_SIZE", str(self.world_size)))
        self.distributed = self.world_size > 1
        self.device = resolve_device(device, self.local_rank if self.distributed else None)
        if self.distributed and self.device.type == "mps":
            raise VidsynthError("distributed training on mps is not supported; use cuda or cpu")
        self.precision = resolve_precision(precision, self.device)
        self.seed = int(seed)
        self.compile = compile
        self.deterministic = deterministic
        self.channels_last = channels_last
        self._owns_process_group = False

        if self.device.type == "cuda":
            torch.cuda.set_device(self.device)
        self._set_threads()
        self._set_determinism()
        if self.distributed:
            self._init_process_group()
        seed_everything(self.seed + self.rank)

    # -- setup ---------------------------------------------------------------------------------
    def _set_threads(self) -> None:
        asked = os.environ.get("OMP_NUM_THREADS", "").strip()
        if asked.isdigit() and int(asked) > 0:
            torch.set_num_threads(int(asked))  # what the user (or torchrun, which sets 1) asked for
        elif self.device.type == "cpu":
            torch.set_num_threads(max(1, _cpu_count() // max(1, self.local_world_size)))

    def _set_determinism(self) -> None:
        if self.deterministic:
            os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
            torch.use_deterministic_algorithms(True)
            torch.backends.cudnn.deterministic = True
            torch.backends.cudnn.benchmark = False
        elif self.device.type == "cuda":
            torch.backends.cudnn.benchmark = True

    def _init_process_group(self) -> None:
        import torch.distributed as dist

        if dist.is_initialized():
            return
        backend = "nccl" if self.device.type == "cuda" else "gloo"
        kwargs: dict[str, Any] = {}
        if backend == "nccl":
            kwargs["device_id"] = self.device
        try:
            dist.init_process_group(backend=backend, **kwargs)
        except (RuntimeError, ValueError) as exc:
            first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            raise VidsynthError(f"could not start the {backend} process group (rank {self.rank}): {first}") from None
        self._owns_process_group = True

    # -- properties ----------------------------------------------------------------------------
    @property
    def is_main(self) -> bool:
        """True in the one process that logs, previews and writes files (rank 0)."""
        return self.rank == 0

    @property
    def autocast_dtype(self) -> torch.dtype | None:
        return _DTYPES.get(self.precision)

    def describe(self) -> dict[str, Any]:
        return {
            "device": str(self.device),
            "precision": self.precision,
            "seed": self.seed,
            "world_size": self.world_size,
            "compile": self.compile,
            "deterministic": self.deterministic,
            "channels_last": self.channels_last,
            "threads": torch.get_num_threads() if self.device.type == "cpu" else None,
        }

    # -- what the trainer uses -----------------------------------------------------------------
    def autocast(self) -> contextlib.AbstractContextManager:
        """Mixed-precision autocast for a forward pass; a no-op in fp32."""
        dtype = self.autocast_dtype
        if dtype is None:
            return contextlib.nullcontext()
        return torch.autocast(device_type=self.device.type, dtype=dtype)

    def make_scaler(self) -> Any | None:
        """A ``GradScaler`` when training in fp16 (one per optimizer), else None."""
        if self.precision != "fp16":
            return None
        return torch.amp.GradScaler(self.device.type)

    def to_device(self, module: torch.nn.Module) -> torch.nn.Module:
        module = module.to(self.device)
        if self.channels_last:
            module = module.to(memory_format=torch.channels_last_3d)
        return module

    def wrap(self, module: torch.nn.Module) -> torch.nn.Module:
        """DDP (when distributed and the module has trainable parameters), then ``torch.compile`` if asked.

        The module must already be on ``self.device`` (``to_device``); the bare module stays usable and is
        what checkpoints save.
        """
        wrapped = module
        if self.distributed and any(p.requires_grad for p in module.parameters()):
            from torch.nn.parallel import DistributedDataParallel

            ids = [self.device.index] if self.device.type == "cuda" else None
            wrapped = DistributedDataParallel(module, device_ids=ids)
        if self.compile:
            wrapped = torch.compile(wrapped)
        return wrapped

    def prepare_input(self, video: torch.Tensor) -> torch.Tensor:
        if self.channels_last and video.dim() == 5:
            return video.contiguous(memory_format=torch.channels_last_3d)
        return video

    def barrier(self) -> None:
        if self.distributed:
            import torch.distributed as dist

            dist.barrier()

    def all_reduce_max(self, values: list[float]) -> list[float]:
        """Element-wise max over all processes (how the processes agree to stop at the same step)."""
        if not self.distributed:
            return values
        import torch.distributed as dist

        device = self.device if dist.get_backend() == "nccl" else torch.device("cpu")
        t = torch.tensor(values, dtype=torch.float64, device=device)
        dist.all_reduce(t, op=dist.ReduceOp.MAX)
        return t.tolist()

    def all_gather_object(self, obj: Any) -> list[Any]:
        """Every process's ``obj`` (in rank order); ``[obj]`` when not distributed."""
        if not self.distributed:
            return [obj]
        import torch.distributed as dist

        out: list[Any] = [None] * self.world_size
        dist.all_gather_object(out, obj)
        return out

    @contextlib.contextmanager
    def fork_rng(self) -> Iterator[None]:
        """Run a block (e.g. a preview) without changing any global random state the run depends on."""
        py, np_state = random.getstate(), np.random.get_state()
        devices = [self.device.index] if self.device.type == "cuda" else []
        with torch.random.fork_rng(devices=devices):
            try:
                yield
            finally:
                random.setstate(py)
                np.random.set_state(np_state)

    # -- teardown ------------------------------------------------------------------------------
    def close(self) -> None:
        if self._owns_process_group:
            import torch.distributed as dist

            if dist.is_initialized():
                dist.destroy_process_group()
            self._owns_process_group = False

    def __enter__(self) -> "Runtime":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()
