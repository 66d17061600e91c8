"""The one training loop. Every model plugin trains through it; a plugin only writes ``train_step``.

The trainer owns everything around the step: the config (preset, TOML file, ``--set`` overrides), the
runtime (device, precision, DDP), the data order, logging (progress, ``metrics.jsonl``, ``loss.png``),
previews, EMA, checkpoints, signals, the NaN guard and exact resume.

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
import threading
import time
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from vidsynth import checkpoint as ckpt_io
from vidsynth.errors import ConfigError, VidsynthError
from vidsynth.model import ModelConfig, ModelPlugin

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
@dataclass
class _Window:
    """Losses and time since the last log line."""

    start: float = field(default_factory=time.perf_counter)
    steps: int = 0
    sums: dict[str, float] = field(default_factory=dict)
    counts: dict[str, int] = field(default_factory=dict)

    def add(self, losses: dict[str, float]) -> None:
        self.steps += 1
        for k, v in losses.items():
            self.sums[k] = self.sums.get(k, 0.0) + v
            self.counts[k] = self.counts.get(k, 0) + 1

    def means(self) -> dict[str, float]:
        return {k: self.sums[k] / self.counts[k] for k in self.sums}


class Trainer:
    """One training run. ``Trainer(...).run()``; ``train(...)`` is the one-call form."""

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
        self.preview_clips = preview_clips
        self.console = console
        self._stop_signal = 0
        self._elapsed_before = 0.0
        self.history: list[dict[str, Any]] = []

        if len(dataset) == 0:
            raise TrainingError("the dataset has no clips")
        self.bpe = batches_per_epoch(len(dataset), config.batch_size, runtime.world_size)
        if self.bpe == 0:
            raise TrainingError(
                f"the dataset has {len(dataset)} clips, fewer than one batch of {config.batch_size}"
                + (f" per process x {runtime.world_size} processes" if runtime.world_size > 1 else "")
                + "; use a smaller --batch-size or more data"
            )
        if self.opts.epochs is not None:
            if self.opts.epochs < 1:
                raise ConfigError(f"--epochs must be >= 1, got {self.opts.epochs}")
            total = self.opts.epochs * self.bpe
        else:
            total = self.opts.steps if self.opts.steps is not None else config.steps
        if total < 1:
            raise ConfigError(f"--steps must be >= 1, got {total}")
        self.config = dataclasses.replace(config, steps=total)
        for name, value in (("checkpoint_every", self.opts.checkpoint_every), ("log_every", self.opts.log_every)):
            if value < 1:
                raise ConfigError(f"--{name.replace('_', '-')} must be >= 1, got {value}")
        self._check_clip_shape()

    # -- setup ---------------------------------------------------------------------------------
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

    def _build(self) -> None:
        self.ctx = build_context(self.plugin, self.config, self.rt)
        self.bare, self.modules = self.ctx.bare, self.ctx.modules
        self.optimizers, self.scalers = self.ctx.optimizers, self.ctx.scalers
        # DDP broadcast rank 0's initial weights when it wrapped them: the EMA copies only now
        self.ema = None
        if self.config.ema > 0 and self.plugin.ema_modules:
            from vidsynth.ema import EMA

            missing = [n for n in self.plugin.ema_modules if n not in self.bare]
            if missing:
                raise TrainingError(f"plugin {self.plugin.name}: ema_modules names unknown module(s) {', '.join(missing)}")
            self.ema = EMA({n: self.bare[n] for n in self.plugin.ema_modules}, self.config.ema)

    def _write_config(self) -> None:
        info = {
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
        ckpt_io.write_run_config(self.run_dir, info)

    def _restore(self) -> int:
        """Load the newest complete checkpoint of ``run_dir`` into this trainer; return its step."""
        if self.rt.is_main:
            ckpt_io.remove_stale_staging(self.run_dir)
        self.rt.barrier()
        path = ckpt_io.latest_checkpoint(self.run_dir)
        if path is None:
            raise TrainingError(f"run {self.run_dir} has no complete checkpoint to resume from; start a new run instead")
        meta = ckpt_io.read_checkpoint_meta(path)
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
        ckpt_io.load_module_tensors(self.bare, ckpt_io.read_tensors(path, "model.safetensors", meta), source=str(path), plugin_name=name)
        if self.ema is not None:
            if "ema.safetensors" in meta["files"]:
                self.ema.load_state_dict(ckpt_io.read_tensors(path, "ema.safetensors", meta))
            else:  # a checkpoint written without EMA: start the average from the restored weights
                for n, m in self.ema.modules.items():
                    m.load_state_dict(self.bare[n].state_dict())
        tensors, state = ckpt_io.read_trainer_state(path)
        saved_world = state.get("world_size", 1)
        if saved_world != self.rt.world_size:
            raise TrainingError(
                f"run {self.run_dir} was trained by {saved_world} process(es); resume it with the same number"
                f" (torchrun --nproc-per-node {saved_world}) to continue exactly"
            )
        if state.get("batches_per_epoch") != self.bpe:
            raise TrainingError(
                f"the data changed since run {self.run_dir} was saved ({state.get('batches_per_epoch')} batches per"
                f" epoch then, {self.bpe} now); resume with the same data and batch size"
            )
        ckpt_io.load_optimizer_state(self.optimizers, tensors, state["optimizers"])
        for name, scaler in self.scalers.items():
            if name in state.get("scalers", {}):
                scaler.load_state_dict(state["scalers"][name])
        prefix = f"rank{self.rt.rank}."
        ckpt_io.set_rng_state(tensors, state["rng"][str(self.rt.rank)], prefix)
        self.last_checkpoint = path
        return int(state["step"])

    # -- checkpoints ---------------------------------------------------------------------------
    def _check_weights(self, step: int) -> None:
        import torch

        for name, module in self.bare.items():
            for pname, p in module.named_parameters():
                if not torch.isfinite(p).all():
                    raise TrainingError(
                        f"step {step}: weight {name}.{pname} became non-finite (the losses were finite); stopped"
                        f" without saving. {self._last_good()}"
                    )

    def _last_good(self) -> str:
        if self.last_checkpoint is None:
            return "No checkpoint was saved before it."
        return f"The last good checkpoint is {self.last_checkpoint} (continue with --resume {self.run_dir})."

    def save(self, step: int) -> Path | None:
        """Checkpoint after ``step`` steps. Every process takes part (RNG states); rank 0 writes."""
        self._check_weights(step)
        rng_tensors, rng_info = ckpt_io.rng_state()
        gathered = self.rt.all_gather_object((rng_tensors, rng_info))
        if not self.rt.is_main:
            return None
        tensors, optim_info = ckpt_io.optimizer_state(self.optimizers)
        rng_json = {}
        for rank, (rt_tensors, rt_info) in enumerate(gathered):
            tensors.update({f"rank{rank}.{k}": v for k, v in rt_tensors.items()})
            rng_json[str(rank)] = rt_info
        epoch, batch = divmod(step, self.bpe)
        state = {
            "epoch": epoch,
            "batch_in_epoch": batch,
            "batches_per_epoch": self.bpe,
            "world_size": self.rt.world_size,
            "seed": self.rt.seed,
            "optimizers": optim_info,
            "scalers": {name: s.state_dict() for name, s in self.scalers.items()},
            "rng": rng_json,
        }
        path = ckpt_io.save_checkpoint(
            self.run_dir,
            step,
            self.bare,
            plugin_name=self.plugin.name,
            ema=self.ema.state_dict() if self.ema is not None else None,
            trainer_tensors=tensors,
            trainer_state=state,
            keep=self.opts.keep,
        )
        self.last_checkpoint = path
        return path

    # -- logs and previews ---------------------------------------------------------------------
    @property
    def metrics_path(self) -> Path:
        return self.run_dir / "metrics.jsonl"

    def _load_history(self, upto: int) -> None:
        """Keep the records of steps <= ``upto`` (a resumed run repeats the steps after its checkpoint)."""
        if not self.metrics_path.exists():
            return
        kept = []
        for line in self.metrics_path.read_text().splitlines():
            try:
                record = json.loads(line)
            except json.JSONDecodeError:
                continue  # a line cut short when the process was killed
            if record.get("step", 0) <= upto:
                kept.append(record)
        self.history = kept
        self._elapsed_before = float(kept[-1].get("elapsed", 0.0)) if kept else 0.0
        ckpt_io.atomic_write_bytes(self.metrics_path, "".join(json.dumps(r) + "\n" for r in kept).encode())

    def _log(self, step: int, window: _Window, elapsed: float) -> dict[str, Any]:
        seconds = max(time.perf_counter() - window.start, 1e-9)
        record = {
            "step": step,
            "time": round(time.time(), 3),
            "elapsed": round(self._elapsed_before + elapsed, 3),  # training time, summed over resumes
            "epoch": (step - 1) // self.bpe,
            "losses": window.means(),
            "lr": {name: opt.param_groups[0]["lr"] for name, opt in self.optimizers.items()},
            "clips_per_s": window.steps * self.config.batch_size * self.rt.world_size / seconds,
        }
        self.history.append(record)
        with open(self.metrics_path, "a") as f:
            f.write(json.dumps(record) + "\n")
        return record

    def _plot(self) -> None:
        from vidsynth.plotting import plot_losses

        try:
            plot_losses(self.history, self.run_dir / "loss.png", title=f"{self.plugin.name} ({self.run_dir.name})")
        except Exception as exc:  # noqa: BLE001 - a plot must never stop training
            self._say(f"warning: could not draw loss.png: {exc}")

    def _preview_condition(self) -> torch.Tensor | None:
        import torch

        from vidsynth.tensors import clips_to_model

        clips = self.preview_clips
        if clips is None:
            count = min(self.opts.preview_count, len(self.dataset))
            clips = torch.stack([torch.as_tensor(self.dataset[i]) for i in range(count)])
        return self.plugin.condition_from(clips_to_model(clips, self.rt.device), self.config)

    def preview(self, step: int) -> None:
        """A grid video (mp4 + GIF) from fixed noise and fixed conditions: previews are comparable over time."""
        from vidsynth.generate import run_sample
        from vidsynth.io import write_grid
        from vidsynth.tensors import model_to_clips

        modules = dict(self.bare)
        if self.ema is not None:
            modules.update(self.ema.modules)
        condition = self._condition
        n = self.opts.preview_count if condition is None else condition.shape[0]
        was_training = {name: m.training for name, m in modules.items()}
        try:
            with self.rt.fork_rng():
                video = run_sample(self.plugin, modules, self.config, condition, n, seed=self.rt.seed)
            clips = model_to_clips(video)
            folder = self.run_dir / "previews"
            folder.mkdir(exist_ok=True)
            for suffix in (".mp4", ".gif"):
                write_grid(folder / f"step_{step:08d}{suffix}", clips, fps=self.config.fps)
        except Exception as exc:  # noqa: BLE001 - a broken preview must not end a long run; say so and go on
            text = str(exc).strip().splitlines()
            self._say(f"warning: preview at step {step} failed ({type(exc).__name__}: {text[0] if text else ''}); training goes on")
        finally:
            for name, m in modules.items():
                m.train(was_training[name])

    def _say(self, text: str) -> None:
        if self.rt.is_main:
            print(text, file=sys.stderr, flush=True)

    # -- signals -------------------------------------------------------------------------------
    def _install_signals(self) -> dict[int, Any]:
        if threading.current_thread() is not threading.main_thread():
            return {}

        def handler(signum: int, _frame: Any) -> None:
            if self._stop_signal:  # a second Ctrl-C: stop now, without a checkpoint
                raise KeyboardInterrupt
            self._stop_signal = signum
            self._say(f"\n{signal.Signals(signum).name} received: finishing this step, saving a checkpoint (again to abort)")

        return {sig: signal.signal(sig, handler) for sig in (signal.SIGINT, signal.SIGTERM)}

    # -- run -----------------------------------------------------------------------------------
    def run(self) -> TrainResult:
        self.last_checkpoint: Path | None = None
        self._build()
        start = 0
        if self.resume:
            start = self._restore()
            if start >= self.config.steps:
                self._say(f"run {self.run_dir} already has {start} steps (target {self.config.steps}); nothing to do")
                return TrainResult(self.run_dir, start, "finished", checkpoint=self.last_checkpoint)
        if self.rt.is_main:
            if self.resume:
                self._load_history(start)
                config_path = self.run_dir / ckpt_io.CONFIG_FILE
                info = json.loads(config_path.read_text())
                info.setdefault("trainer", {})["steps"] = self.config.steps
                info["config"]["steps"] = self.config.steps
                ckpt_io.atomic_write_json(config_path, info)
            else:
                if (self.run_dir / ckpt_io.CONFIG_FILE).exists():
                    raise TrainingError(f"{self.run_dir} already holds a run; continue it with --resume {self.run_dir}")
                self.run_dir.mkdir(parents=True, exist_ok=True)
                self._write_config()
        self._condition = None
        if self.opts.preview_every > 0 and self.rt.is_main:
            with self.rt.fork_rng():  # an augmenting dataset draws random numbers: keep resume exact
                self._condition = self._preview_condition()
        old_handlers = self._install_signals()
        try:
            return self._loop(start)
        finally:
            for sig, old in old_handlers.items():
                signal.signal(sig, old)

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

    def _loop(self, start: int) -> TrainResult:
        from vidsynth.tensors import clips_to_model

        total = self.config.steps
        step = start
        window = _Window()
        t0 = time.perf_counter()
        progress = _Progress(self, start, total)
        last_saved = start if self.resume else -1
        last_preview = -1
        status = "finished"
        try:
            while step < total:
                epoch, offset = divmod(step, self.bpe)
                for clips in self._loader(epoch, offset):
                    video = self.rt.prepare_input(clips_to_model(clips, self.rt.device))
                    self.ctx.step = step
                    losses = _as_floats(self.plugin.train_step(self.ctx, video), self.plugin.name)
                    step += 1
                    if self.ema is not None:
                        self.ema.update(self.bare)
                    bad = next((k for k, v in losses.items() if not math.isfinite(v)), None)
                    stop, nonfinite = self.rt.all_reduce_max([float(self._stop_signal), 1.0 if bad else 0.0])
                    if nonfinite:
                        self._nonfinite(step, bad, losses)
                    window.add(losses)
                    progress.update(step, losses)
                    if step % self.opts.log_every == 0 or step == total:
                        if self.rt.is_main:
                            record = self._log(step, window, time.perf_counter() - t0)
                            progress.line(record, total, t0, start)
                        window = _Window()
                    if self.rt.is_main and self.opts.preview_every > 0 and step % self.opts.preview_every == 0:
                        self.preview(step)
                        last_preview = step
                    if step % self.opts.checkpoint_every == 0 and step < total and not stop:
                        self.save(step)
                        last_saved = step
                        if self.rt.is_main:
                            self._plot()
                    if stop:
                        self._stop_signal = int(stop)
                        status = "interrupted"
                        break
                    if step >= total:
                        break
                if status == "interrupted":
                    break
        finally:
            progress.close()
        if step != last_saved:
            self.save(step)
        if self.rt.is_main:
            if window.steps:
                self._log(step, window, time.perf_counter() - t0)
            if self.opts.preview_every > 0 and last_preview != step and status == "finished":
                self.preview(step)
            self._plot()
        self.rt.barrier()
        sig = self._stop_signal or None
        return TrainResult(self.run_dir, step, status, signal=sig, checkpoint=self.last_checkpoint)

    def _nonfinite(self, step: int, bad: str | None, losses: dict[str, float]) -> None:
        reports = self.rt.all_gather_object((self.rt.rank, bad, losses.get(bad) if bad else None))
        rank, name, value = next(r for r in reports if r[1] is not None)
        where = f" on process {rank}" if self.rt.world_size > 1 else ""
        raise TrainingError(
            f"step {step}: loss {name!r} is {value}{where}; training stopped. {self._last_good()}"
            " Try a lower learning rate (--set lr=...) or fp32 (--precision fp32)."
        )


def _as_floats(losses: Any, plugin_name: str) -> dict[str, float]:
    if not isinstance(losses, dict):
        raise TrainingError(f"plugin {plugin_name}: train_step must return a dict of losses, got {type(losses).__name__}")
    try:
        return {str(k): float(v) for k, v in losses.items()}
    except (TypeError, ValueError):
        raise TrainingError(f"plugin {plugin_name}: train_step returned a loss that is not a number: {losses!r}") from None


class _Progress:
    """A rich progress bar on a terminal; plain lines (every --log-every steps) otherwise or with --quiet."""

    def __init__(self, trainer: Trainer, start: int, total: int) -> None:
        self.trainer = trainer
        self.bar = None
        if not trainer.rt.is_main:
            return
        from rich.console import Console

        console = trainer.console or Console()
        self.console = console
        if console.is_terminal and not trainer.opts.quiet:
            from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

            self.bar = Progress(
                TextColumn(f"[bold]{trainer.plugin.name}"),
                BarColumn(),
                MofNCompleteColumn(),
                TextColumn("{task.fields[rate]}"),
                TimeRemainingColumn(),
                TextColumn("{task.fields[losses]}"),
                console=console,
            )
            self.task = self.bar.add_task("train", total=total, completed=start, rate="", losses="")
            self.bar.start()
            self._t = time.perf_counter()
            self._last = start

    def update(self, step: int, losses: dict[str, float]) -> None:
        if self.bar is None:
            return
        now = time.perf_counter()
        rate = (step - self._last) * self.trainer.config.batch_size * self.trainer.rt.world_size / max(now - self._t, 1e-9)
        self._t, self._last = now, step
        text = "  ".join(f"{k} {v:.4g}" for k, v in losses.items())
        self.bar.update(self.task, completed=step, rate=f"{rate:.1f} clips/s", losses=text)

    def line(self, record: dict[str, Any], total: int, t0: float, start: int) -> None:
        if self.bar is not None or not self.trainer.rt.is_main:
            return
        done = record["step"] - start
        eta = (time.perf_counter() - t0) / max(done, 1) * (total - record["step"])
        losses = "  ".join(f"{k} {v:.4g}" for k, v in record["losses"].items())
        print(
            f"step {record['step']}/{total}  {losses}  {record['clips_per_s']:.1f} clips/s  ETA {_hms(eta)}",
            flush=True,
        )

    def close(self) -> None:
        if self.bar is not None:
            self.bar.stop()


def _hms(seconds: float) -> str:
    seconds = int(round(seconds))
    return f"{seconds // 3600}:{seconds % 3600 // 60:02d}:{seconds % 60:02d}"


def train(
    plugin: ModelPlugin,
    config: ModelConfig,
    dataset: Any,
    *,
    runtime: Runtime,
    run_dir: str | Path,
    options: TrainOptions | None = None,
    resume: bool = False,
    **kwargs: Any,
) -> TrainResult:
    """Train ``plugin`` on ``dataset`` (any map-style dataset of uint8 ``[T, H, W, C]`` clips) into ``run_dir``.

    ``resume=True`` continues the newest checkpoint of ``run_dir`` exactly. Returns how it ended; a
    ``TrainingError`` says why training had to stop (e.g. a NaN loss: the message names the step and loss).
    """
    return Trainer(plugin, config, dataset, runtime=runtime, run_dir=run_dir, options=options, resume=resume, **kwargs).run()
