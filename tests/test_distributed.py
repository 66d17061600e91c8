"""``torchrun --nproc-per-node 2 -m vidsynth train``: two CPU processes (gloo), DDP, one set of files."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
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


def test_the_small_cvae_trains_in_two_processes(tmp_path):
    """DDP needs a gradient for every trainable parameter in every step: the gated base's two branches
    (each clip takes one) and its frozen cost-volume temperature must not leave one without."""
    pytest.importorskip("cv2")
    run = tmp_path / "ddp-cvae"
    result = subprocess.run(
        [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node", "2",
         "-m", "vidsynth", "train", "cvae", "builtin:bouncing-balls", "--set", "frames=8", "--set", "size=16",
         "--set", "channels=3", "--set", "batch_size=2", "--steps", "2", "--log-every", "1",
         "--preview-every", "0", "--run-dir", str(run), "--quiet"],
        cwd=tmp_path, capture_output=True, text=True, timeout=240,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert [step for step, _ in ckpt_io.list_checkpoints(run)] == [2]
