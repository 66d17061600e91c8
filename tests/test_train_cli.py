"""``vidsynth train`` end to end, in subprocesses, with the tiny plugin installed through an entry point."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

import pytest

from tiny_plugin import run_vidsynth, tiny_plugin_env
from vidsynth import checkpoint as ckpt_io

FAST = ["--preview-every", "0", "--quiet"]


@pytest.fixture
def env(tmp_path):
    return tiny_plugin_env(tmp_path)


def steps_logged(run_dir):
    return [json.loads(line)["step"] for line in (run_dir / "metrics.jsonl").read_text().splitlines()]


def test_train_on_bouncing_balls_then_resume_to_more_steps(tmp_path, env):
    """The real data layer (grayscale bouncing balls, opened at the tiny model's 4 frames of 8x8), a preview
    conditioned on held-out clips, then --resume with nothing but the run directory."""
    data = "builtin:bouncing-balls?train_clips=32&test_clips=8"
    result = run_vidsynth(["train", "tiny", data, "--steps", "3", "--log-every", "1", "--preview-every", "3",
                           "--set", "channels=1", "--quiet"], env=env, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    (run,) = (tmp_path / "runs").iterdir()
    assert run.name.startswith("tiny-")
    assert "step 3/3" in result.stdout and f"vidsynth sample tiny --checkpoint {run.relative_to(tmp_path)}" in result.stdout
    info = json.loads((run / "config.json").read_text())
    assert info["data"]["source"] == data and info["data"]["description"]["clips"] == 32
    assert info["config"]["channels"] == 1 and info["preset"] == "small"  # the default preset, recorded
    assert (run / "previews" / "step_00000003.mp4").is_file() and (run / "loss.png").is_file()

    again = run_vidsynth(["train", "tiny", "--resume", str(run), "--steps", "5", "--log-every", "1", *FAST], env=env, cwd=tmp_path)
    assert again.returncode == 0, again.stderr
    assert steps_logged(run) == [1, 2, 3, 4, 5]
    assert ckpt_io.list_checkpoints(run)[-1][0] == 5


def test_ctrl_c_saves_a_loadable_checkpoint_and_exits_130(tmp_path, env):
    """(SIGTERM takes the same path and exits 143: tests/test_trainer.py checks the trainer's side of it.)"""
    sig, code = signal.SIGINT, 130
    run = tmp_path / "run"
    proc = subprocess.Popen(
        [sys.executable, "-m", "vidsynth", "train", "tiny", "builtin:tiny-squares", "--steps", "100000",
         "--checkpoint-every", "100000", "--log-every", "1", "--run-dir", str(run), *FAST],
        env=env, cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    metrics = run / "metrics.jsonl"
    deadline = time.monotonic() + 60
    while not (metrics.exists() and metrics.read_text().count("\n") >= 2):
        assert proc.poll() is None and time.monotonic() < deadline, proc.stderr.read() if proc.poll() is not None else "timeout"
        time.sleep(0.05)
    proc.send_signal(sig)
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == code, err
    assert f"stopped by {signal.Signals(sig).name} after" in err and f"--resume {run}" in err
    step = ckpt_io.list_checkpoints(run)[-1][0]
    assert step >= 2 and f"after {step} steps" in err
    assert steps_logged(run)[-1] == step


def test_unknown_plugin_is_one_line(tmp_path, env):
    result = run_vidsynth(["train", "nosuch", "builtin:tiny-squares"], env=env, cwd=tmp_path)
    assert result.returncode == 1
    assert result.stderr.startswith("error: unknown plugin 'nosuch'") and result.stderr.count("\n") == 1


def test_bad_config_override_is_one_line_and_creates_no_run(tmp_path, env):
    result = run_vidsynth(["train", "tiny", "builtin:tiny-squares", "--set", "widht=4"], env=env, cwd=tmp_path)
    assert result.returncode == 1 and result.stderr.count("\n") == 1
    assert "unknown config key for tiny: widht" in result.stderr
    assert not (tmp_path / "runs").exists()


def test_resume_refuses_config_changes_and_runs_of_other_plugins(tmp_path, env):
    run = tmp_path / "r"
    run.mkdir()
    (run / "config.json").write_text(json.dumps({"plugin": "tiny", "config": {}, "format": 1}))
    changed = run_vidsynth(["train", "tiny", "--resume", str(run), "--set", "lr=1"], env=env, cwd=tmp_path)
    assert changed.returncode == 1 and "--set cannot change it" in changed.stderr
    other = run_vidsynth(["train", "tiny-keyframes", "--resume", str(run)], env=env, cwd=tmp_path)
    assert other.returncode == 1 and f"run {run} is a tiny run, not tiny-keyframes" in other.stderr


def test_an_existing_run_dir_is_never_reused(tmp_path, env):
    (tmp_path / "mine").mkdir()
    (tmp_path / "mine" / "notes.txt").write_text("keep me")
    result = run_vidsynth(["train", "tiny", "builtin:tiny-squares", "--run-dir", "mine", *FAST], env=env, cwd=tmp_path)
    assert result.returncode == 1 and "already exists and is not empty" in result.stderr
    assert (tmp_path / "mine" / "notes.txt").read_text() == "keep me"


def test_a_run_that_cannot_start_leaves_no_empty_run_directory(tmp_path, env):
    result = run_vidsynth(["train", "tiny", "builtin:tiny-squares", "--batch-size", "64", *FAST], env=env, cwd=tmp_path)
    assert result.returncode == 1 and "the dataset has 32 clips, fewer than one batch of 64" in result.stderr
    assert list((tmp_path / "runs").iterdir()) == []


RANDOM_PLUGIN = '''
"""tiny, plus a loss drawn from python's global ``random``: it resumes exactly only if the RNG state does."""
import random

import vidsynth
from vidsynth_tiny import TinyGAN


class RandomTiny(TinyGAN):
    name = "tiny-random"

    def train_step(self, ctx, video):
        losses = super().train_step(ctx, video)
        losses["draw"] = random.random()
        return losses


@vidsynth.hookimpl
def register_models(register):
    register(RandomTiny())
'''


def test_a_plugin_drawing_from_python_random_resumes_exactly(tmp_path, env):
    """In a fresh process `import rich` (the progress display) draws from python's `random`; it used to do
    so after the checkpoint's RNG states were put back, so the resumed steps drew other numbers."""
    from fake_dist import make_distribution

    site = make_distribution(tmp_path / "random-site", "tiny_random", {"tiny_random": RANDOM_PLUGIN},
                             {"tiny-random": "tiny_random"})
    env = dict(env, PYTHONPATH=f"{site}{os.pathsep}{env['PYTHONPATH']}", VIDSYNTH_PLUGINS=f"{env['VIDSYNTH_PLUGINS']},tiny-random")
    common = ["train", "tiny-random", "builtin:tiny-squares", "--log-every", "1", "--checkpoint-every", "2", *FAST]
    for args in (["--run-dir", "straight", "--steps", "4"], ["--run-dir", "resumed", "--steps", "2"],
                 ["--resume", "resumed", "--steps", "4"]):
        result = run_vidsynth([*common, *args], env=env, cwd=tmp_path)
        assert result.returncode == 0, result.stderr

    def logged(run):
        return [json.loads(line)["losses"] for line in (tmp_path / run / "metrics.jsonl").read_text().splitlines()]

    assert len(logged("resumed")) == 4 and logged("resumed") == logged("straight")


def test_resume_finds_the_runs_data_from_any_working_directory(tmp_path, monkeypatch):
    from vidsynth.cli.train_cmd import run_data_source, stored_data_source

    run, data = tmp_path / "runs" / "r", tmp_path / "runs" / "r" / "clips"
    data.mkdir(parents=True)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(tmp_path / "runs")
    assert stored_data_source("r/clips") == str(data) and stored_data_source("builtin:x?n=1") == "builtin:x?n=1"
    monkeypatch.chdir(elsewhere)
    assert run_data_source({"data": {"source": str(data)}}, run) == str(data)  # stored absolute
    assert run_data_source({"data": {"source": "clips"}}, run) == str(run / "clips")  # relative to the run dir
    assert run_data_source({"data": {"source": "builtin:tiny-squares"}}, run) == "builtin:tiny-squares"


def test_resume_with_the_runs_data_gone_names_where_the_path_came_from(tmp_path, env):
    run = tmp_path / "r"
    run.mkdir()
    (run / "config.json").write_text(json.dumps({"plugin": "tiny", "config": {}, "format": 1, "data": {"source": "data/"}}))
    result = run_vidsynth(["train", "tiny", "--resume", str(run)], env=env, cwd=tmp_path)
    assert result.returncode == 1 and result.stderr.count("\n") == 1
    assert f"the run's data path data/ (from {run / 'config.json'}) does not exist; pass DATA to train on another copy" in result.stderr
