"""``torchrun --nproc-per-node 2 -m vidsynth train``: two CPU processes (gloo), DDP, one set of files."""

from __future__ import annotations

import json
import subprocess
import sys

import torch

from tiny_plugin import tiny_plugin_env
from vidsynth import checkpoint as ckpt_io


def test_two_processes_train_together_and_rank0_writes_one_checkpoint(tmp_path):
    env = tiny_plugin_env(tmp_path)
    run = tmp_path / "ddp"
    result = subprocess.run(
        [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node", "2",
         "-m", "vidsynth", "train", "tiny", "builtin:tiny-squares", "--steps", "3", "--log-every", "1",
         "--preview-every", "0", "--run-dir", str(run), "--quiet"],
        env=env, cwd=tmp_path, capture_output=True, text=True, timeout=240,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert result.stdout.count("done: 3 steps") == 1  # rank 0 reports, rank 1 stays quiet

    assert [step for step, _ in ckpt_io.list_checkpoints(run)] == [3]
    info = json.loads((run / "config.json").read_text())
    assert info["trainer"]["world_size"] == 2 and info["trainer"]["batches_per_epoch"] == 4  # 32 clips / 2 / 4
    tensors, state = ckpt_io.read_trainer_state(run / "checkpoints" / "step_00000003")
    assert state["world_size"] == 2 and set(state["rng"]) == {"0", "1"}
    assert not torch.equal(tensors["rank0.rng.torch"], tensors["rank1.rng.torch"])  # each process its own noise

    steps = [json.loads(line)["step"] for line in (run / "metrics.jsonl").read_text().splitlines()]
    assert steps == [1, 2, 3]  # written once, by rank 0
