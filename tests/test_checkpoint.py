"""Run directories and checkpoints: atomic, verified, pickle-free, with one-line errors for every bad case."""

from __future__ import annotations

import errno
import json
import os
import random
import signal
import subprocess
import sys
import time

import numpy as np
import pytest
import torch

from tiny_plugin import TinyClips, tiny_plugin_env, tiny_registry, train_tiny  # noqa: F401 - tiny_registry is a fixture
from vidsynth import checkpoint as ckpt_io
from vidsynth.errors import VidsynthError


@pytest.fixture
def run(tmp_path, tiny_registry):
    """A finished 2-step run of the tiny GAN with EMA, checkpoints after steps 1 and 2."""
    train_tiny(tmp_path, tiny_registry, steps=2, preset="ema", checkpoint_every=1)
    return tmp_path / "run"


def test_load_run_gives_eval_modules_with_the_ema_weights(run):
    loaded = ckpt_io.load_run(run, plugin_name="tiny")
    assert loaded.step == 2 and loaded.meta["ema"] and loaded.run_dir == run
    assert not loaded.modules["generator"].training
    ema = ckpt_io.read_tensors(run / "checkpoints" / "step_00000002", "ema.safetensors")
    live = ckpt_io.read_tensors(run / "checkpoints" / "step_00000002", "model.safetensors")
    assert torch.equal(loaded.modules["generator"].fc.weight, ema["generator.fc.weight"])
    assert not torch.equal(ema["generator.fc.weight"], live["generator.fc.weight"])
    assert torch.equal(loaded.modules["critic"].fc.weight, live["critic.fc.weight"])  # no EMA for the critic


def test_load_run_accepts_one_checkpoint_folder(run):
    assert ckpt_io.load_run(run / "checkpoints" / "step_00000001").step == 1


def test_a_checkpoint_of_another_plugin_is_refused_by_name(run):
    with pytest.raises(VidsynthError, match=r"checkpoint .*run is a tiny model, not tiny-keyframes$"):
        ckpt_io.load_run(run, plugin_name="tiny-keyframes")


def test_a_truncated_file_is_reported_as_corrupt(run):
    path = run / "checkpoints" / "step_00000002" / "model.safetensors"
    path.write_bytes(path.read_bytes()[:-100])
    with pytest.raises(VidsynthError, match=r"is corrupt: model.safetensors has \d+ bytes, \d+ were written"):
        ckpt_io.load_run(run)


def test_a_modified_file_is_reported_as_corrupt(run):
    path = run / "checkpoints" / "step_00000002" / "model.safetensors"
    data = bytearray(path.read_bytes())
    data[-1] ^= 0xFF
    path.write_bytes(bytes(data))
    with pytest.raises(VidsynthError, match="is corrupt: model.safetensors does not match its sha256"):
        ckpt_io.load_run(run)


def test_a_shape_mismatch_names_the_tensor_and_both_shapes(run):
    config_path = run / "config.json"
    info = json.loads(config_path.read_text())
    info["config"]["width"] = 4
    config_path.write_text(json.dumps(info))
    with pytest.raises(VidsynthError, match=r"generator.fc.weight has shape \[512, 8\] in the checkpoint, \[256, 8\] in the model"):
        ckpt_io.load_run(run)


def test_a_run_from_a_newer_vidsynth_asks_for_an_upgrade(run):
    config_path = run / "config.json"
    info = json.loads(config_path.read_text())
    info.update(format=ckpt_io.FORMAT_VERSION + 1, vidsynth_version="9.0.0")
    config_path.write_text(json.dumps(info))
    with pytest.raises(VidsynthError, match="written by vidsynth 9.0.0 .* upgrade vidsynth"):
        ckpt_io.load_run(run)


@pytest.mark.parametrize(
    "make, message",
    [
        (lambda p: p, "no run directory or checkpoint at"),
        (lambda p: (p.mkdir(), p)[1], "is not a vidsynth run directory"),
        (lambda p: (p.mkdir(), (p / "config.json").write_text('{"plugin": "tiny", "config": {}}'), p)[2],
         "has no complete checkpoint yet"),
    ],
    ids=["missing", "not-a-run", "no-checkpoint"],
)
def test_what_is_not_a_loadable_run_says_so(tmp_path, tiny_registry, make, message):
    with pytest.raises(VidsynthError, match=message):
        ckpt_io.load_run(make(tmp_path / "x"))


def test_a_folder_without_its_marker_is_not_a_checkpoint(run):
    latest = run / "checkpoints" / "step_00000002"
    (latest / "meta.json").unlink()
    assert ckpt_io.latest_checkpoint(run) == run / "checkpoints" / "step_00000001"
    assert ckpt_io.load_run(run).step == 1


def test_new_run_dirs_never_collide_and_never_reuse_a_folder(tmp_path):
    a = ckpt_io.new_run_dir("tiny", tmp_path)
    b = ckpt_io.new_run_dir("tiny", tmp_path)
    assert a != b and a.name.startswith("tiny-") and not any(a.iterdir())
    (a / "keep.txt").write_text("precious")
    with pytest.raises(VidsynthError, match="already exists and is not empty"):
        ckpt_io.new_run_dir("tiny", tmp_path, run_dir=a)
    assert (a / "keep.txt").read_text() == "precious"


def test_find_latest_run_picks_the_newest_run_of_that_plugin(tmp_path, tiny_registry):
    train_tiny(tmp_path / "runs", tiny_registry, steps=1, run="old")
    train_tiny(tmp_path / "runs", tiny_registry, plugin="tiny-keyframes", steps=1, run="other")
    time.sleep(0.05)
    train_tiny(tmp_path / "runs", tiny_registry, steps=1, run="new")
    assert ckpt_io.find_latest_run("tiny", tmp_path / "runs") == tmp_path / "runs" / "new"
    assert ckpt_io.find_latest_run("tiny-keyframes", tmp_path / "runs") == tmp_path / "runs" / "other"
    assert ckpt_io.find_latest_run("cvae", tmp_path / "runs") is None


def test_optimizer_state_round_trips_through_tensors_and_json():
    torch.manual_seed(0)
    model = torch.nn.Linear(3, 2)
    opt = torch.optim.Adam(model.parameters(), lr=0.01, betas=(0.8, 0.9))
    model(torch.randn(4, 3)).sum().backward()
    opt.step()
    tensors, info = ckpt_io.optimizer_state({"m": opt})
    json.dumps(info)  # the JSON half really is JSON
    fresh = torch.optim.Adam(model.parameters(), lr=0.5)
    ckpt_io.load_optimizer_state({"m": fresh}, tensors, info)
    assert fresh.param_groups[0]["betas"] == (0.8, 0.9) and fresh.param_groups[0]["lr"] == 0.01
    for p in model.parameters():
        for key in ("exp_avg", "exp_avg_sq", "step"):
            assert torch.equal(fresh.state[p][key], opt.state[p][key])


def test_rng_state_round_trips_for_python_numpy_and_torch():
    tensors, info = ckpt_io.rng_state()
    assert all(t.dtype == torch.uint8 for t in tensors.values())
    first = (random.random(), np.random.rand(), torch.rand(1).item())
    ckpt_io.set_rng_state(tensors, json.loads(json.dumps(info)))
    assert (random.random(), np.random.rand(), torch.rand(1).item()) == first


def test_sigkill_while_writing_a_checkpoint_leaves_the_previous_one(tmp_path, tiny_registry):
    """A real process, killed between two files of its second checkpoint: the first stays the newest, loads,
    and resuming from it works and clears the half-written folder."""
    env = tiny_plugin_env(tmp_path)
    env["VIDSYNTH_TEST_CHECKPOINT_PAUSE"] = "0.5"  # sleep after each file of a checkpoint, before meta.json
    run = tmp_path / "killed"
    proc = subprocess.Popen(
        [sys.executable, "-m", "vidsynth", "train", "tiny", "builtin:tiny-squares", "--steps", "100",
         "--checkpoint-every", "2", "--preview-every", "0", "--run-dir", str(run), "--quiet"],
        env=env, cwd=tmp_path, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
    )
    checkpoints = run / "checkpoints"
    deadline = time.monotonic() + 90
    try:
        while time.monotonic() < deadline:
            partial = [p for p in checkpoints.glob(".step_00000004.tmp-*") if (p / "model.safetensors").exists()]
            if partial and (checkpoints / "step_00000002" / "meta.json").exists():
                break
            assert proc.poll() is None, proc.stderr.read()
            time.sleep(0.05)
        else:
            pytest.fail("the second checkpoint never started")
        os.kill(proc.pid, signal.SIGKILL)
    finally:
        proc.kill()
        proc.wait()
    assert proc.returncode == -signal.SIGKILL
    assert [step for step, _ in ckpt_io.list_checkpoints(run)] == [2]
    assert ckpt_io.load_run(run).step == 2

    result = train_tiny(tmp_path, tiny_registry, run="killed", steps=3, resume=True, dataset=TinyClips(32))
    assert result.step == 3
    assert sorted(p.name for p in checkpoints.iterdir()) == ["step_00000002", "step_00000003"]


def outside_folder(tmp_path, marker=True):
    """A folder outside the run that looks like a checkpoint (with meta.json unless ``marker`` is False)."""
    folder = tmp_path / "outside"
    folder.mkdir()
    (folder / "model.safetensors").write_bytes(b"precious")
    if marker:
        (folder / "meta.json").write_text("{}")
    return folder


def test_pruning_never_deletes_through_a_symlinked_checkpoint(run, tmp_path):
    outside = outside_folder(tmp_path)
    (run / "checkpoints" / "step_00000000").symlink_to(outside, target_is_directory=True)
    ckpt_io.prune_checkpoints(run, keep=1)
    assert sorted(p.name for p in outside.iterdir()) == ["meta.json", "model.safetensors"]  # the target is untouched
    assert not (run / "checkpoints" / "step_00000000").is_symlink()  # the link itself is gone
    assert [step for step, _ in ckpt_io.list_checkpoints(run)] == [2]


def test_cleanup_and_saving_never_delete_through_a_symlink(run, tmp_path):
    outside = outside_folder(tmp_path, marker=False)  # no meta.json: looks like a half-written checkpoint
    link = run / "checkpoints" / "step_00000003"
    link.symlink_to(outside, target_is_directory=True)
    ckpt_io.remove_stale_staging(run)
    assert not link.is_symlink() and (outside / "model.safetensors").read_bytes() == b"precious"
    link.symlink_to(outside, target_is_directory=True)
    ckpt_io.save_checkpoint(run, 3, ckpt_io.load_run(run).modules, plugin_name="tiny")  # replaces the link
    assert not link.is_symlink() and (link / "meta.json").is_file()
    assert sorted(p.name for p in outside.iterdir()) == ["model.safetensors"]


DISK_FULL = {
    # what safetensors raises on a full disk: the OS error is only in its text
    "safetensors": ("safetensors.torch.save_file",
                    'Error while serializing: IoError(Os { code: 28, kind: StorageFull, message: "No space left on device" })'),
    "trainer.json": ("vidsynth.checkpoint.TrainState.write", None),
    "metrics.jsonl": ("vidsynth.run_log.open", None),
}


@pytest.mark.parametrize("where", DISK_FULL)
def test_a_full_disk_names_the_last_good_checkpoint_which_stays_intact(run, tmp_path, tiny_registry, monkeypatch, where):
    from safetensors import SafetensorError

    target, text = DISK_FULL[where]

    def full(*args, **kwargs):
        if text is not None:
            raise SafetensorError(text)
        raise OSError(errno.ENOSPC, "No space left on device", str(run / where))

    monkeypatch.setattr(target, full, raising=False)
    with pytest.raises(VidsynthError) as info:
        train_tiny(tmp_path, tiny_registry, steps=4, preset="ema", resume=True, checkpoint_every=1)
    message = str(info.value)
    assert message.startswith("no space left on device writing ") and "\n" not in message
    assert str(run / "checkpoints" / "step_00000002") in message
    monkeypatch.undo()
    assert [step for step, _ in ckpt_io.list_checkpoints(run)] == [1, 2]
    assert not list((run / "checkpoints").glob(".step_*"))  # no staging folder left behind
    assert ckpt_io.load_run(run).step == 2


def poison(ckpt, name="model.safetensors", key="generator.fc.weight"):
    """Put a NaN into one tensor of a checkpoint and re-seal its meta.json (as a buggy writer would have)."""
    from safetensors.torch import save_file

    tensors = ckpt_io.read_tensors(ckpt, name)
    tensors[key] = tensors[key].clone()
    tensors[key][0, 0] = float("nan")
    save_file(tensors, str(ckpt / name))
    meta = json.loads((ckpt / "meta.json").read_text())
    meta["files"][name] = {"sha256": ckpt_io._sha256(ckpt / name), "bytes": (ckpt / name).stat().st_size}
    (ckpt / "meta.json").write_text(json.dumps(meta))


def test_a_checkpoint_holding_nan_weights_is_refused_on_load(run):
    poison(run / "checkpoints" / "step_00000002")
    with pytest.raises(VidsynthError, match=r"step_00000002 is unusable: model.safetensors holds non-finite values "
                                            r"\(generator.fc.weight\); the last good checkpoint is .*step_00000001$"):
        ckpt_io.load_run(run)


def test_resume_refuses_a_nan_checkpoint_and_names_the_last_finite_one(run, tmp_path, tiny_registry):
    """(Before, it loaded, and the NaN guard of the resumed run then called it "the last good checkpoint".)"""
    poison(run / "checkpoints" / "step_00000002", "ema.safetensors")
    assert ckpt_io.last_good_checkpoint(run) == run / "checkpoints" / "step_00000001"
    with pytest.raises(VidsynthError, match=r"step_00000002 is unusable: ema.safetensors holds non-finite values "
                                            r"\(generator.fc.weight\); the last good checkpoint is .*step_00000001$"):
        train_tiny(tmp_path, tiny_registry, steps=4, preset="ema", resume=True)


@pytest.mark.parametrize("entry", ["../../config.json", "/etc/hostname", "model.safetensors"], ids=["dotdot", "absolute", "link"])
def test_a_meta_json_entry_outside_its_checkpoint_is_refused_in_one_line(run, tmp_path, entry):
    ckpt = run / "checkpoints" / "step_00000002"
    meta = json.loads((ckpt / "meta.json").read_text())
    if entry == "model.safetensors":  # a listed file that is a symlink out of the run
        (tmp_path / "elsewhere.safetensors").write_bytes((ckpt / entry).read_bytes())
        (ckpt / entry).unlink()
        (ckpt / entry).symlink_to(tmp_path / "elsewhere.safetensors")
    else:
        meta["files"][entry] = {"sha256": "0" * 64, "bytes": 1}
        (ckpt / "meta.json").write_text(json.dumps(meta))
    with pytest.raises(VidsynthError) as info:
        ckpt_io.load_run(run)
    message = str(info.value)
    assert message.startswith(f"{ckpt / 'meta.json'}: entry files[{entry!r}] ") and "\n" not in message
    assert "refusing to use it" in message


@pytest.mark.parametrize("umask", [0o022, 0o077])
def test_every_file_of_a_checkpoint_has_the_permissions_the_umask_gives(tmp_path, umask):
    previous = os.umask(umask)
    try:
        ckpt = ckpt_io.save_checkpoint(tmp_path, 1, {"m": torch.nn.Linear(2, 2)}, plugin_name="tiny", ema={"m.w": torch.ones(1)},
                                       trainer_state={"batches_per_epoch": 1})
    finally:
        os.umask(previous)
    assert ckpt.stat().st_mode & 0o777 == 0o777 & ~umask
    modes = {p.name: p.stat().st_mode & 0o777 for p in ckpt.iterdir()}
    assert modes == dict.fromkeys(["model.safetensors", "ema.safetensors", "trainer.safetensors", "trainer.json", "meta.json"],
                                  0o666 & ~umask)
