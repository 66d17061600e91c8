"""The one training loop. Every model plugin trains through it; a plugin only writes ``train_step``.

The trainer owns everything around the step: the config (preset, TOML file, ``--set`` overrides), the
runtime (device, precision, DDP), the data order, EMA, the NaN guard and exact resume. Each other job has
its own component, which the loop calls once per step and which decides for itself whether to act:
``vidsynth.checkpointer.Checkpointer`` (checkpoints; ``trainer.json`` is ``checkpoint.TrainState``),
``vidsynth.run_log.RunLog`` (``metrics.jsonl``, ``loss.png``), ``vidsynth.previews.Previewer``,
``vidsynth.progress.Progress`` (bar or plain lines) and ``vidsynth.signals.SignalGuard``.

Exact resume. The data order is a pure function of the seed and the step: epoch ``e`` visits the clips in
the order of ``DistributedSampler(seed=seed).set_epoch(e)`` (the same sampler shards the data between
processes), and step ``s`` is batch ``s % batches_per_epoch`` of epoch ``s // batches_per_epoch``. A
checkpoint stores the step, the optimizers, the EMA, the grad scalers and the RNG states of python,
numpy and torch of every process, so ``N steps + --resume + N steps`` gives the same losses as ``2N``
steps on a CPU. The data loader draws no global random numbers (its generator is seeded per epoch);
randomness inside the dataset (augmentation) is exact on resume with ``--workers 0`` (the default on
CPU), while with worker processes it depends on which worker loads which batch.

Signals. SIGINT and SIGTERM finish the current step, save a checkpoint and stop (the CLI exits 130 or
143). In a distributed run the processes agree on stopping through one tiny all-reduce per step, so they
stop at the same step.
"""

from __future__ import annotations

import dataclasses
import json
import math
import signal
import sys
from contextlib import AbstractContextManager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Iterator

from vidsynth import checkpoint as ckpt_io
from vidsynth.checkpointer import Checkpointer
from vidsynth.errors import ConfigError, VidsynthError
from vidsynth.model import ModelConfig, ModelPlugin
from vidsynth.previews import Previewer
from vidsynth.progress import Progress
from vidsynth.run_lock import RunBusyError, RunLock
from vidsynth.run_log import RunLog
from vidsynth.signals import SignalGuard

if TYPE_CHECKING:  # torch is imported where it is used, so `vidsynth train` reports bad flags instantly
    import torch
    from torch import nn

    from vidsynth.runtime import Runtime


class TrainingError(VidsynthError):
    """Training had to stop (a non-finite loss, a dataset that does not fit the model, ...)."""


# -- configuration -------------------------------------------------------------------------------
def parse_sets(items: list[str] | None) -> dict[str, str]:
    """``["lr=1e-3", "betas=0.5,0.9"]`` -> ``{"lr": "1e-3", "betas": "0.5,0.9"}`` (typed later by the config)."""
    values: dict[str, str] = {}
    for item in items or []:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise ConfigError(f"--set expects key=value, got {item!r}")
        values[key.strip()] = value.strip()
    return values


def build_config(
    plugin: ModelPlugin,
    preset: str | None = None,
    config_file: str | Path | None = None,
    sets: list[str] | None = None,
    *,
    steps: int | None = None,
    batch_size: int | None = None,
) -> ModelConfig:
    """The plugin's config: defaults < preset < TOML file < ``--set`` < ``--steps``/``--batch-size``."""
    overrides: dict[str, Any] = parse_sets(sets)
    if steps is not None:
        overrides["steps"] = steps
    if batch_size is not None:
        overrides["batch_size"] = batch_size
    return plugin.make_config(preset, overrides, config_file)


@dataclass
class TrainOptions:
    """How long to train and how often to log, preview and checkpoint (the loop's knobs, not the model's)."""

    steps: int | None = None  # total steps of the run; None: config.steps (or what --epochs gives)
    epochs: int | None = None  # train this many passes over the data instead of a step count
    checkpoint_every: int = 500
    keep: int = 3  # newest checkpoints kept
    preview_every: int = 500  # 0: no previews
    preview_count: int = 8  # videos in a preview grid
    log_every: int = 10
    workers: int = 0  # DataLoader worker processes
    quiet: bool = False  # plain log lines instead of a progress bar


@dataclass
class TrainResult:
    run_dir: Path
    step: int  # steps completed
    status: str  # "finished" or "interrupted"
    signal: int | None = None  # the signal that stopped training, when interrupted
    checkpoint: Path | None = None


# -- what a plugin's train_step sees -------------------------------------------------------------
class TrainContext:
    """Everything ``ModelPlugin.train_step(ctx, video)`` may use (see docs/architecture.md).

    * ``ctx.modules[name]``: the modules from ``build`` (DDP-wrapped when distributed; call them as usual);
      ``ctx.unwrap(name)``: the bare module;
    * ``ctx.optimizers[name]``, ``ctx.config``, ``ctx.step`` (0-based), ``ctx.device``;
    * ``ctx.autocast()``: context manager for the forward pass (bf16/fp16 on GPU, no-op in fp32);
    * ``ctx.optimize(name, loss)``: zero_grad, (scaled) backward, step, scaler update.
    """

    def __init__(
        self,
        modules: dict[str, nn.Module],
        bare: dict[str, nn.Module],
        optimizers: dict[str, torch.optim.Optimizer],
        config: ModelConfig,
        runtime: Runtime,
        scalers: dict[str, Any] | None = None,
    ) -> None:
        self.modules = modules
        self.optimizers = optimizers
        self.config = config
        self.runtime = runtime
        self.step = 0
        self._bare = bare
        self._scalers = scalers or {}

    @property
    def bare(self) -> dict[str, nn.Module]:
        """The bare modules by name (what checkpoints save); ``unwrap(name)`` for one."""
        return self._bare

    @property
    def scalers(self) -> dict[str, Any]:
        """fp16 ``GradScaler`` per optimizer name (empty unless training in fp16)."""
        return self._scalers

    @property
    def device(self) -> torch.device:
        return self.runtime.device

    @property
    def rank(self) -> int:
        return self.runtime.rank

    @property
    def world_size(self) -> int:
        return self.runtime.world_size

    def unwrap(self, name: str) -> nn.Module:
        """The bare module ``name`` (not wrapped in DDP or compiled), e.g. to reach its attributes."""
        return self._bare[name]

    def autocast(self) -> AbstractContextManager:
        return self.runtime.autocast()

    def optimize(self, name: str, loss: torch.Tensor, *, retain_graph: bool = False, max_grad_norm: float | None = None) -> None:
        """One update of optimizer ``name`` from ``loss``: zero_grad, backward, (clip), step, scaler update."""
        if name not in self.optimizers:
            raise KeyError(f"no optimizer {name!r}; this model has: {', '.join(self.optimizers)}")
        opt = self.optimizers[name]
        scaler = self._scalers.get(name)
        opt.zero_grad(set_to_none=True)
        if scaler is not None:
            scaler.scale(loss).backward(retain_graph=retain_graph)
            if max_grad_norm is not None:
                scaler.unscale_(opt)
                _clip(opt, max_grad_norm)
            scaler.step(opt)
            scaler.update()
        else:
            loss.backward(retain_graph=retain_graph)
            if max_grad_norm is not None:
                _clip(opt, max_grad_norm)
            opt.step()


def build_context(plugin: ModelPlugin, config: ModelConfig, runtime: Runtime) -> TrainContext:
    """What a training step needs, built the one way the trainer builds it: the plugin's modules on the
    runtime's device (in train mode), their optimizers (and fp16 scalers), then the modules wrapped (DDP,
    ``torch.compile``). Also used by benchmarks/bench_train.py."""
    from torch import nn

    built = plugin.build(config)
    if not isinstance(built, dict) or not built or not all(isinstance(m, nn.Module) for m in built.values()):
        raise TrainingError(f"plugin {plugin.name}: build() must return a dict of torch modules, got {type(built).__name__}")
    bare = {name: runtime.to_device(m).train() for name, m in built.items()}
    optimizers = plugin.optimizers(bare, config)
    scalers = {name: s for name in optimizers if (s := runtime.make_scaler()) is not None}
    modules = {name: runtime.wrap(m) for name, m in bare.items()}
    return TrainContext(modules, bare, optimizers, config, runtime, scalers)


def _clip(opt: torch.optim.Optimizer, max_norm: float) -> None:
    import torch

    params = [p for group in opt.param_groups for p in group["params"] if p.grad is not None]
    torch.nn.utils.clip_grad_norm_(params, max_norm)


# -- data order ----------------------------------------------------------------------------------
def batches_per_epoch(n_clips: int, batch_size: int, world_size: int = 1) -> int:
    return (n_clips // world_size) // batch_size


def epoch_indices(dataset: Any, epoch: int, seed: int, rank: int = 0, world_size: int = 1) -> list[int]:
    """The clip indices this process visits in ``epoch`` (shuffled by seed + epoch, sharded by rank)."""
    from torch.utils.data.distributed import DistributedSampler

    sampler = DistributedSampler(dataset, num_replicas=world_size, rank=rank, shuffle=True, seed=seed, drop_last=True)
    sampler.set_epoch(epoch)
    return list(sampler)


def _worker_init(_worker_id: int) -> None:
    # Ctrl-C reaches the whole process group: only the main process handles it (finish step, save, stop).
    signal.signal(signal.SIGINT, signal.SIG_IGN)


# -- the loop ------------------------------------------------------------------------------------
class Trainer:
    """One training run: ``Trainer(...).run()``; ``train(...)`` is the one-call form.

    The trainer checks the inputs, builds the model and the components that each own one job (the
    ``Checkpointer``, the ``RunLog``, the ``Previewer``, the ``Progress`` display and the ``SignalGuard``),
    holds the run directory's ``RunLock`` while it trains, and runs the loop, which reads as the steps it
    takes.
    """

    def __init__(
        self,
        plugin: ModelPlugin,
        config: ModelConfig,
        dataset: Any,
        *,
        runtime: Runtime,
        run_dir: str | Path,
        options: TrainOptions | None = None,
        resume: bool = False,
        preset: str | None = None,
        data_info: dict[str, Any] | None = None,
        preview_clips: torch.Tensor | None = None,
        console: Any = None,
    ) -> None:
        self.plugin = plugin
        self.dataset = dataset
        self.rt = runtime
        self.run_dir = Path(run_dir)
        self.opts = options or TrainOptions()
        self.resume = resume
        self.preset = preset
        self.data_info = data_info or {}
        self.console = console
        self.bpe = self._batches_per_epoch(len(dataset), config.batch_size)
        self.config = dataclasses.replace(config, steps=self._total_steps(config))
        for name, value in (("checkpoint_every", self.opts.checkpoint_every), ("log_every", self.opts.log_every)):
            if value < 1:
                raise ConfigError(f"--{name.replace('_', '-')} must be >= 1, got {value}")
        self._check_clip_shape()

        self.ctx = build_context(plugin, self.config, runtime)
        self.ema = self._make_ema()
        self.checkpointer = Checkpointer(self.run_dir, self.ctx, plugin_name=plugin.name, ema=self.ema, batches_per_epoch=self.bpe,
                                         every=self.opts.checkpoint_every, keep=self.opts.keep)
        clips_per_step = self.config.batch_size * runtime.world_size
        self.log = RunLog(self.run_dir, every=self.opts.log_every, batches_per_epoch=self.bpe, clips_per_step=clips_per_step,
                          writer=runtime.is_main, title=f"{plugin.name} ({self.run_dir.name})", warn=self._say,
                          schedule_keys=tuple(getattr(plugin, "schedule_keys", ())))  # plugins written before it lack it
        self.previewer = Previewer(self.run_dir, plugin, self.config, runtime, every=self.opts.preview_every,
                                   count=self.opts.preview_count, dataset=dataset, clips=preview_clips, warn=self._say)

    # -- checks ----------------------------------------------------------------------------------
    def _batches_per_epoch(self, n_clips: int, batch_size: int) -> int:
        world = self.rt.world_size
        if n_clips == 0:
            raise TrainingError("the dataset has no clips")
        bpe = batches_per_epoch(n_clips, batch_size, world)
        if bpe == 0:
            raise TrainingError(
                f"the dataset has {n_clips} clips, fewer than one batch of {batch_size}"
                + (f" per process x {world} processes" if world > 1 else "")
                + "; use a smaller --batch-size or more data"
            )
        return bpe

    def _total_steps(self, config: ModelConfig) -> int:
        if self.opts.epochs is not None:
            if self.opts.epochs < 1:
                raise ConfigError(f"--epochs must be >= 1, got {self.opts.epochs}")
            total = self.opts.epochs * self.bpe
        else:
            total = self.opts.steps if self.opts.steps is not None else config.steps
        if total < 1:
            raise ConfigError(f"--steps must be >= 1, got {total}")
        return total

    def _check_clip_shape(self) -> None:
        import torch

        with self.rt.fork_rng():
            clip = torch.as_tensor(self.dataset[0])
        c = self.config
        want = (c.frames, c.size, c.size, c.channels)
        if clip.dtype != torch.uint8 or tuple(clip.shape) != want:
            raise TrainingError(
                f"the data gives clips of {clip.dtype} {list(clip.shape)}, but this {self.plugin.name} config wants"
                f" uint8 [T, H, W, C] = {list(want)}; open the data with frames={c.frames}, size={c.size},"
                f" channels={c.channels} or change the config (--set frames=... size=... channels=...)"
            )

    def _make_ema(self) -> Any:
        # DDP broadcast rank 0's initial weights when it wrapped them: the EMA copies only now
        if not (self.config.ema > 0 and self.plugin.ema_modules):
            return None
        from vidsynth.ema import EMA

        missing = [n for n in self.plugin.ema_modules if n not in self.ctx.bare]
        if missing:
            raise TrainingError(f"plugin {self.plugin.name}: ema_modules names unknown module(s) {', '.join(missing)}")
        return EMA({n: self.ctx.bare[n] for n in self.plugin.ema_modules}, self.config.ema)

    def _check_resume_config(self) -> None:
        """A run resumes with its own plugin and config (only ``steps`` may change)."""
        name = self.plugin.name
        saved = ckpt_io.read_run_config(self.run_dir)
        if saved["plugin"] != name:
            raise TrainingError(f"run {self.run_dir} is a {saved['plugin']} run, not {name}")
        ours = {k: v for k, v in self.config.to_dict().items() if k != "steps"}
        theirs = {k: v for k, v in saved["config"].items() if k != "steps"}
        # A key missing from the saved config came with a newer version of the plugin; its default is what
        # the run was trained with (new options default to the old behaviour), so only saved keys must match.
        changed = sorted(k for k in theirs if ours.get(k) != theirs.get(k))
        if changed:
            k = changed[0]
            raise TrainingError(
                f"resume needs the run's own config; {k} is {ours.get(k)!r} here but {theirs.get(k)!r} in {self.run_dir}"
            )

    # -- the run directory -------------------------------------------------------------------------
    def _run_info(self) -> dict[str, Any]:
        return {
            "plugin": self.plugin.name,
            "task": self.plugin.task.value,
            "preset": self.preset or (self.plugin.default_preset if self.plugin.presets else None),
            "config": self.config.to_dict(),
            "data": self.data_info,
            "trainer": {
                "seed": self.rt.seed,
                "steps": self.config.steps,
                "batch_size": self.config.batch_size,
                "batches_per_epoch": self.bpe,
                "world_size": self.rt.world_size,
                "checkpoint_every": self.opts.checkpoint_every,
                "keep": self.opts.keep,
                "preview_every": self.opts.preview_every,
                "log_every": self.opts.log_every,
                "workers": self.opts.workers,
            },
            "runtime": self.rt.describe(),
        }

    def _start_new_run(self) -> None:
        if (self.run_dir / ckpt_io.CONFIG_FILE).exists():
            raise TrainingError(f"{self.run_dir} already holds a run; continue it with --resume {self.run_dir}")
        self.run_dir.mkdir(parents=True, exist_ok=True)
        ckpt_io.write_run_config(self.run_dir, self._run_info())

    def _continue_run(self, start: int) -> None:
        """The run's files agree with a resume from ``start``: later log lines go, the target step is saved."""
        self.log.resume(start)
        config_path = self.run_dir / ckpt_io.CONFIG_FILE
        info = json.loads(config_path.read_text())
        info.setdefault("trainer", {})["steps"] = self.config.steps
        info["config"]["steps"] = self.config.steps
        ckpt_io.atomic_write_json(config_path, info)

    def _say(self, text: str) -> None:
        if self.rt.is_main:
            print(text, file=sys.stderr, flush=True)

    # -- run -------------------------------------------------------------------------------------
    def run(self) -> TrainResult:
        if self.resume:
            self._check_resume_config()
        lock = self._lock_run_dir()
        try:
            return self._run()
        except OSError as exc:  # metrics.jsonl, config.json, previews... (checkpoints say it themselves)
            if not ckpt_io.is_disk_full(exc):
                raise
            raise TrainingError(f"no space left on device writing {exc.filename or self.run_dir}."
                                f" {self.checkpointer.last_good_message()}") from None
        finally:
            if lock is not None:
                lock.release()

    def _lock_run_dir(self) -> RunLock | None:
        """One writer per run directory: rank 0 takes ``train.lock``; every rank stops if it is taken."""
        lock, note, busy = None, None, None
        if self.rt.is_main:
            self.run_dir.mkdir(parents=True, exist_ok=True)
            lock = RunLock(self.run_dir)
            try:
                note = lock.acquire()
            except RunBusyError as exc:
                lock, busy = None, str(exc)
        busy = self.rt.all_gather_object(busy)[0]
        if busy is not None:
            raise RunBusyError(busy)
        if note:
            self._say(note)
        return lock

    def _run(self) -> TrainResult:
        start = 0
        if self.resume:
            start = self.checkpointer.restore()
            if self.checkpointer.last is None:
                self._say(f"run {self.run_dir} has no checkpoint yet (it stopped before its first save): training it"
                          " again from step 0 with its saved config")
            if start >= self.config.steps:
                self._say(f"run {self.run_dir} already has {start} steps (target {self.config.steps}); nothing to do")
                return TrainResult(self.run_dir, start, "finished", checkpoint=self.checkpointer.last)
        if self.rt.is_main:
            if self.resume:
                self._continue_run(start)
            else:
                self._start_new_run()
        self.previewer.prepare()
        with self.rt.fork_rng():  # what the loop imports on its way must not draw from the run's RNGs
            _import_loop_modules(self.rt.is_main)
        self.checkpointer.restore_rng()  # the very last thing before the first step
        with SignalGuard(say=self._say) as signals:
            step, stopped_by = self._loop(start, signals)
        self.rt.barrier()
        status = "interrupted" if stopped_by else "finished"
        return TrainResult(self.run_dir, step, status, signal=stopped_by or None, checkpoint=self.checkpointer.last)

    def _loader(self, epoch: int, skip_batches: int):
        import torch
        from torch.utils.data import DataLoader

        from vidsynth.data import collate_clips

        indices = epoch_indices(self.dataset, epoch, self.rt.seed, self.rt.rank, self.rt.world_size)
        workers = self.opts.workers
        return DataLoader(
            self.dataset,
            batch_size=self.config.batch_size,
            sampler=indices[skip_batches * self.config.batch_size:],
            drop_last=True,
            collate_fn=collate_clips,  # numpy stacking: torch.stack stalls on a busy CPU (benchmarks/RESULTS.md)
            num_workers=workers,
            pin_memory=self.rt.device.type == "cuda",
            generator=torch.Generator().manual_seed(self.rt.seed * 1_000_003 + epoch),
            worker_init_fn=_worker_init if workers > 0 else None,
        )

    def _batches(self, start: int) -> Iterator[tuple[int, Any]]:
        """``(step, clips)`` from step ``start`` on, epoch after epoch, in the order fixed by seed and step."""
        step = start
        while True:
            epoch, offset = divmod(step, self.bpe)
            for clips in self._loader(epoch, offset):
                yield step, clips
                step += 1

    def _loop(self, start: int, signals: SignalGuard) -> tuple[int, int]:
        """Train from step ``start`` to the end or to a stop signal; return the steps done and the signal (0: none)."""
        from vidsynth.tensors import clips_to_model

        total = self.config.steps
        step, stop = start, 0
        self.log.start()
        with Progress(self.plugin.name, start, total, clips_per_step=self.config.batch_size * self.rt.world_size,
                      show=self.rt.is_main, quiet=self.opts.quiet, console=self.console) as progress:
            for index, clips in self._batches(start):
                self.ctx.step = index
                video = self.rt.prepare_input(clips_to_model(clips, self.rt.device))
                losses = _as_floats(self.plugin.train_step(self.ctx, video), self.plugin.name)
                step = index + 1
                if self.ema is not None:
                    self.ema.update(self.ctx.bare)
                stop = self._agree_to_go_on(step, losses, signals)
                last = step >= total or bool(stop)
                self.log.add(losses)
                progress.update(step, losses)
                if self.log.due(step, last_step=last):
                    record = self.log.write(step, self._learning_rates())
                    if record is not None:
                        progress.line(record)
                if self.checkpointer.save(step, last_step=last) is not None or last:
                    self.log.plot()
                if self.previewer.due(step, last_step=step >= total):  # no preview after a stop by signal
                    self.previewer.write(step, self._preview_modules())
                if last:
                    break
        return step, stop

    def _agree_to_go_on(self, step: int, losses: dict[str, float], signals: SignalGuard) -> int:
        """Every process learns whether any of them saw a non-finite loss (stop with an error) or a signal
        (stop after this step): one tiny all-reduce per step. Returns the signal to stop for, 0 for none."""
        bad = next((k for k, v in losses.items() if not math.isfinite(v)), None)
        stop, nonfinite = self.rt.all_reduce_max([float(signals.received), 1.0 if bad else 0.0])
        if nonfinite:
            self._nonfinite(step, bad, losses)
        return int(stop)

    def _learning_rates(self) -> dict[str, float]:
        return {name: opt.param_groups[0]["lr"] for name, opt in self.ctx.optimizers.items()}

    def _preview_modules(self) -> dict[str, nn.Module]:
        modules = dict(self.ctx.bare)
        if self.ema is not None:
            modules.update(self.ema.modules)
        return modules

    def _nonfinite(self, step: int, bad: str | None, losses: dict[str, float]) -> None:
        reports = self.rt.all_gather_object((self.rt.rank, bad, losses.get(bad) if bad else None))
        rank, name, value = next(r for r in reports if r[1] is not None)
        where = f" on process {rank}" if self.rt.world_size > 1 else ""
        raise TrainingError(
            f"step {step}: loss {name!r} is {value}{where}; training stopped. {self.checkpointer.last_good_message()}"
            " Try a lower learning rate (--set lr=...) or fp32 (--precision fp32)."
        )


def _import_loop_modules(main: bool) -> None:
    """Import now what the loop imports later (the bar, previews, plots): ``import rich`` draws from python's
    ``random``, and a draw at a step that depends on where a run was resumed would break exact resume."""
    import vidsynth.generate  # noqa: F401
    import vidsynth.io  # noqa: F401

    if main:
        import rich.console  # noqa: F401
        import rich.progress  # noqa: F401

        import vidsynth.plotting  # noqa: F401


def _as_floats(losses: Any, plugin_name: str) -> dict[str, float]:
    if not isinstance(losses, dict):
        raise TrainingError(f"plugin {plugin_name}: train_step must return a dict of losses, got {type(losses).__name__}")
    try:
        return {str(k): float(v) for k, v in losses.items()}
    except (TypeError, ValueError):
        raise TrainingError(f"plugin {plugin_name}: train_step returned a loss that is not a number: {losses!r}") from None


def train(plugin: ModelPlugin, config: ModelConfig, dataset: Any, **kwargs: Any) -> TrainResult:
    """Train ``plugin`` on ``dataset`` (any map-style dataset of uint8 ``[T, H, W, C]`` clips).

    The keyword arguments are ``Trainer``'s (``runtime`` and ``run_dir`` are required; ``options``,
    ``resume``, ``preset``, ``data_info``, ``preview_clips``, ``console``). ``resume=True`` continues the
    newest checkpoint of ``run_dir`` exactly. Returns how it ended; a ``TrainingError`` says why training
    had to stop (e.g. a NaN loss: the message names the step and loss).
    """
    return Trainer(plugin, config, dataset, **kwargs).run()
