"""The trainer's checkpoints: when to save, what goes in, and how a run is restored from one.

The training loop calls ``checkpointer.save(step, last_step=...)`` after every step and this component
decides (every ``checkpoint_every`` steps, and always at the last step: the end of the run or a stop by
signal), in the way torchtitan's checkpointer does. The file layout is vidsynth.checkpoint's; the JSON
half of the trainer's state is a ``vidsynth.checkpoint.TrainState``.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from vidsynth import checkpoint as ckpt_io
from vidsynth.errors import VidsynthError

if TYPE_CHECKING:
    from vidsynth.trainer import TrainContext


class Checkpointer:
    """Saves and restores the whole training state of one run: weights, EMA, optimizers, scalers, RNGs."""

    def __init__(self, run_dir: Path, ctx: TrainContext, *, plugin_name: str, ema: Any, batches_per_epoch: int,
                 every: int, keep: int) -> None:
        self.run_dir = Path(run_dir)
        self.ctx = ctx
        self.plugin_name = plugin_name
        self.ema = ema
        self.bpe = batches_per_epoch
        self.every = every
        self.keep = keep
        self.last: Path | None = None  # the newest checkpoint written or restored by this run
        self.last_step = -1  # its step (-1: none yet)
        self._rng: tuple[dict[str, Any], dict[str, Any]] | None = None  # restored RNG states, not yet applied

    # -- saving ----------------------------------------------------------------------------------
    def save(self, step: int, *, last_step: bool = False) -> Path | None:
        """Checkpoint after ``step`` steps when it is due: every ``every`` steps, and at the last step.

        Returns the folder written (on rank 0), else None. Every process takes part (RNG states).
        """
        if step == self.last_step or not (last_step or step % self.every == 0):
            return None
        return self.write(step)

    def write(self, step: int) -> Path | None:
        """Checkpoint after ``step`` steps now. Every process must call it; rank 0 writes."""
        from vidsynth.trainer import TrainingError

        rt = self.ctx.runtime
        bad = ckpt_io.first_nonfinite(ckpt_io.module_tensors(self.ctx.bare))
        if bad is not None:
            raise TrainingError(
                f"step {step}: weight {bad} became non-finite (the losses were finite); stopped without saving."
                f" {self.last_good_message()}"
            )
        rng_tensors, rng_info = ckpt_io.rng_state()
        gathered = rt.all_gather_object((rng_tensors, rng_info))
        self.last_step = step
        if not rt.is_main:
            return None
        tensors, optim_info = ckpt_io.optimizer_state(self.ctx.optimizers)
        rng_json = {}
        for rank, (rank_tensors, rank_info) in enumerate(gathered):
            tensors.update({f"rank{rank}.{k}": v for k, v in rank_tensors.items()})
            rng_json[str(rank)] = rank_info
        state = ckpt_io.TrainState(
            step=step, batches_per_epoch=self.bpe, world_size=rt.world_size, seed=rt.seed, optimizers=optim_info,
            scalers={name: s.state_dict() for name, s in self.ctx.scalers.items()}, rng=rng_json,
        )
        self.last = ckpt_io.save_checkpoint(
            self.run_dir, step, self.ctx.bare, plugin_name=self.plugin_name,
            ema=self.ema.state_dict() if self.ema is not None else None,
            trainer_tensors=tensors, trainer_state=state, keep=self.keep,
        )
        return self.last

    def last_good_message(self) -> str:
        """Where to go back to after a failure: the newest checkpoint of the run whose weights are finite."""
        # not simply the newest one: a checkpoint written by an older vidsynth may hold NaN weights
        good = ckpt_io.last_good_checkpoint(self.run_dir) if self.ctx.runtime.is_main else self.last
        if good is None:
            return "No checkpoint was saved before it."
        return f"The last good checkpoint is {good} (continue with --resume {self.run_dir})."

    # -- restoring -------------------------------------------------------------------------------
    def restore(self) -> int:
        """Load the newest complete checkpoint into the modules, EMA, optimizers and scalers; its RNG states
        are put back by ``restore_rng``, which the trainer calls last, once everything is imported and set up.

        Returns its step; 0 when the run has no checkpoint yet (it stopped before its first save: it then
        starts again from step 0, with the config saved in its config.json).
        """
        from vidsynth.trainer import TrainingError

        rt = self.ctx.runtime
        if rt.is_main:
            ckpt_io.remove_stale_staging(self.run_dir)
        rt.barrier()
        path = ckpt_io.latest_checkpoint(self.run_dir)
        if path is None:
            return 0
        meta = ckpt_io.read_checkpoint_meta(path)
        ckpt_io.load_module_tensors(self.ctx.bare, ckpt_io.read_weights(path, "model.safetensors", meta),
                                    source=str(path), plugin_name=self.plugin_name)
        if self.ema is not None:
            if "ema.safetensors" in meta["files"]:
                self.ema.load_state_dict(ckpt_io.read_weights(path, "ema.safetensors", meta))
            else:  # a checkpoint written without EMA: start the average from the restored weights
                for n, m in self.ema.modules.items():
                    m.load_state_dict(self.ctx.bare[n].state_dict())
        tensors, state = ckpt_io.read_train_state(path)
        if state.world_size != rt.world_size:
            raise TrainingError(
                f"run {self.run_dir} was trained by {state.world_size} process(es); resume it with the same number"
                f" (torchrun --nproc-per-node {state.world_size}) to continue exactly"
            )
        if state.batches_per_epoch != self.bpe:
            raise TrainingError(
                f"the data changed since run {self.run_dir} was saved ({state.batches_per_epoch} batches per"
                f" epoch then, {self.bpe} now); resume with the same data and batch size"
            )
        ckpt_io.load_optimizer_state(self.ctx.optimizers, tensors, state.optimizers)
        for name, scaler in self.ctx.scalers.items():
            if name in state.scalers:
                scaler.load_state_dict(state.scalers[name])
        if str(rt.rank) not in state.rng:
            raise VidsynthError(f"checkpoint {path} is corrupt: {ckpt_io.TrainState.FILE} has no RNG state of process {rt.rank}")
        self._rng = (tensors, state.rng[str(rt.rank)])
        self.last, self.last_step = path, state.step
        return state.step

    def restore_rng(self) -> None:
        """Put back the restored RNG states of python, numpy and torch (nothing when nothing was restored).

        Last, because importing a module may draw from the global RNGs (``import rich`` draws from python's
        ``random``): a draw between restoring and the first step would make the resumed run differ."""
        if self._rng is not None:
            tensors, info = self._rng
            ckpt_io.set_rng_state(tensors, info, f"rank{self.ctx.runtime.rank}.")
            self._rng = None
