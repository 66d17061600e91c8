"""The training loop, driven in-process with the tiny test plugin (a real GAN and a real in-betweener)."""

from __future__ import annotations

import json
import os
import shutil
import signal

import av
import pytest
import torch

from tiny_plugin import TinyClips, tiny_registry, train_tiny  # noqa: F401 - tiny_registry is a fixture
from vidsynth import checkpoint as ckpt_io
from vidsynth.errors import ConfigError, VidsynthError
from vidsynth.runtime import Runtime
from vidsynth.trainer import TrainingError, TrainOptions, build_config, epoch_indices, parse_sets, train


def losses(run_dir):
    return [json.loads(line)["losses"] for line in (run_dir / "metrics.jsonl").read_text().splitlines()]


def frame_count(path):
    with av.open(str(path)) as container:
        return sum(1 for _ in container.decode(video=0))


class RandomlyFlipped(TinyClips):
    """Augmentation that draws from torch's global RNG, as ``vidsynth.data``'s ``augment=True`` does."""

    def __getitem__(self, index):
        clip = super().__getitem__(index)
        return clip.flip(2) if torch.rand(()) < 0.5 else clip


def test_a_short_run_writes_every_artifact(tmp_path, tiny_registry):
    result = train_tiny(tmp_path, tiny_registry, preset="ema", steps=4, checkpoint_every=2, preview_every=4,
                        preview_count=4, log_every=2)
    run = tmp_path / "run"
    assert (result.status, result.step) == ("finished", 4)

    config = json.loads((run / "config.json").read_text())
    assert config["plugin"] == "tiny" and config["preset"] == "ema" and config["config"]["ema"] == 0.9
    assert config["config"]["steps"] == 4 and config["vidsynth_version"] and config["trainer"]["seed"] == 0

    assert [step for step, _ in ckpt_io.list_checkpoints(run)] == [2, 4]
    latest = run / "checkpoints" / "step_00000004"
    for name in ("model.safetensors", "ema.safetensors", "trainer.safetensors", "trainer.json", "meta.json"):
        assert (latest / name).is_file(), name
    assert json.loads((latest / "trainer.json").read_text())["step"] == 4

    records = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    assert [r["step"] for r in records] == [2, 4]
    assert set(records[0]) >= {"step", "time", "losses", "lr", "clips_per_s"}
    assert set(records[0]["losses"]) == {"d_loss", "g_loss"} and records[0]["lr"]["generator"] == 1e-3

    assert (run / "loss.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert frame_count(run / "previews" / "step_00000004.mp4") == 4
    assert frame_count(run / "previews" / "step_00000004.gif") == 4


def test_resume_continues_exactly(tmp_path, tiny_registry):
    """6 steps in one go == 4 steps, then --resume up to 6: the same losses and the same weights, bit for bit."""
    data = RandomlyFlipped(12)  # 3 batches per epoch: the resume point (step 4) is inside epoch 1, not at its start
    common = dict(preset="ema", dataset=data, preview_every=2, preview_count=2)  # previews must not disturb the RNG
    train_tiny(tmp_path, tiny_registry, run="straight", steps=6, **common)
    train_tiny(tmp_path, tiny_registry, run="resumed", steps=4, **common)
    train_tiny(tmp_path, tiny_registry, run="resumed", steps=6, resume=True, **common)

    assert losses(tmp_path / "resumed") == losses(tmp_path / "straight")  # bit-identical on CPU
    a = ckpt_io.load_run(tmp_path / "straight")
    b = ckpt_io.load_run(tmp_path / "resumed")
    for (name, p), (_, q) in zip(a.modules["generator"].state_dict().items(), b.modules["generator"].state_dict().items()):
        assert torch.equal(p, q), name


def test_resume_refuses_another_config(tmp_path, tiny_registry):
    train_tiny(tmp_path, tiny_registry, steps=2)
    with pytest.raises(TrainingError, match="width is 16 here but 8"):
        train_tiny(tmp_path, tiny_registry, steps=4, sets=["width=16"], resume=True)


def test_resume_accepts_a_run_saved_before_a_config_key_existed(tmp_path, tiny_registry):
    """A newer plugin version adds a config key (its default keeps the old behaviour): an older run, whose
    config.json lacks it, still resumes; a key the run did save must still match."""
    train_tiny(tmp_path, tiny_registry, steps=2)
    path = tmp_path / "run" / "config.json"
    info = json.loads(path.read_text())
    del info["config"]["poison_step"]  # as written by a version without that key
    path.write_text(json.dumps(info))
    result = train_tiny(tmp_path, tiny_registry, steps=4, resume=True)
    assert (result.status, result.step) == ("finished", 4)
    with pytest.raises(TrainingError, match="width is 16 here but 8"):
        train_tiny(tmp_path, tiny_registry, steps=6, sets=["width=16"], resume=True)


def test_nan_loss_stops_with_step_and_loss_and_keeps_the_last_good_checkpoint(tmp_path, tiny_registry):
    with pytest.raises(TrainingError) as info:
        train_tiny(tmp_path, tiny_registry, steps=10, sets=["poison_step=4"], checkpoint_every=2)
    message = str(info.value)
    assert "step 5: loss 'd_loss' is nan" in message
    assert "step_00000004" in message and "\n" not in message
    assert [step for step, _ in ckpt_io.list_checkpoints(tmp_path / "run")] == [2, 4]
    loaded = ckpt_io.load_run(tmp_path / "run")
    assert all(torch.isfinite(p).all() for p in loaded.modules["generator"].parameters())


def test_keeps_only_the_newest_checkpoints(tmp_path, tiny_registry):
    train_tiny(tmp_path, tiny_registry, steps=5, checkpoint_every=1, keep=2)
    assert [step for step, _ in ckpt_io.list_checkpoints(tmp_path / "run")] == [4, 5]


def test_epochs_set_the_number_of_steps(tmp_path, tiny_registry):
    result = train_tiny(tmp_path, tiny_registry, steps=None, epochs=2, dataset=TinyClips(8))  # 2 batches of 4
    assert result.step == 4


def test_keyframes_model_trains_and_previews_from_real_keyframes(tmp_path, tiny_registry):
    train_tiny(tmp_path, tiny_registry, plugin="tiny-keyframes", steps=2, preview_every=2, preview_count=3)
    assert frame_count(tmp_path / "run" / "previews" / "step_00000002.gif") == 4
    assert set(losses(tmp_path / "run")[0]) == {"l1"}


def test_clips_of_the_wrong_shape_are_refused_before_training(tmp_path, tiny_registry):
    with pytest.raises(TrainingError, match=r"clips of torch.uint8 \[4, 16, 16, 3\].*wants uint8 \[T, H, W, C\] = \[4, 8, 8, 3\]"):
        train_tiny(tmp_path, tiny_registry, dataset=TinyClips(8, size=16))
    assert not (tmp_path / "run").exists()


def test_a_dataset_smaller_than_one_batch_is_an_error(tmp_path, tiny_registry):
    with pytest.raises(TrainingError, match="3 clips, fewer than one batch of 4"):
        train_tiny(tmp_path, tiny_registry, dataset=TinyClips(3))


def test_a_new_run_never_reuses_a_run_directory(tmp_path, tiny_registry):
    train_tiny(tmp_path, tiny_registry, steps=1)
    with pytest.raises(TrainingError, match="already holds a run"):
        train_tiny(tmp_path, tiny_registry, steps=1)


def test_config_layers_preset_then_sets_then_flags(tiny_registry):
    plugin = tiny_registry.model("tiny")
    config = build_config(plugin, "wide", None, ["lr=0.01", "betas=0.9,0.99"], steps=7, batch_size=2)
    assert (config.width, config.lr, config.betas, config.steps, config.batch_size) == (16, 0.01, (0.9, 0.99), 7, 2)
    with pytest.raises(ConfigError, match="unknown config key for tiny: nope"):
        build_config(plugin, None, None, ["nope=1"])
    with pytest.raises(ConfigError, match="--set expects key=value"):
        parse_sets(["lr"])


def test_data_order_depends_only_on_seed_and_epoch_and_shards_are_disjoint():
    data = TinyClips(10)
    assert epoch_indices(data, 0, seed=1) == epoch_indices(data, 0, seed=1)
    assert epoch_indices(data, 0, seed=1) != epoch_indices(data, 1, seed=1)
    rank0 = epoch_indices(data, 3, seed=1, rank=0, world_size=2)
    rank1 = epoch_indices(data, 3, seed=1, rank=1, world_size=2)
    assert len(rank0) == len(rank1) == 5 and not set(rank0) & set(rank1)


def test_train_step_gets_a_context_with_the_contract(tmp_path, tiny_registry):
    """ctx.modules / unwrap / optimizers / config / step / device / autocast / optimize, as documented."""
    from vidsynth.model import ModelPlugin, Task

    seen = []
    base = tiny_registry.model("tiny-keyframes")

    class Probe(type(base)):
        def train_step(self, ctx, video):
            seen.append((ctx.step, ctx.device.type, tuple(video.shape), float(video.min()) >= -1, float(video.max()) <= 1,
                         ctx.unwrap("refiner") is ctx.modules["refiner"], sorted(ctx.optimizers), ctx.config.frames))
            return super().train_step(ctx, video)

    assert issubclass(Probe, ModelPlugin) and Probe.task is Task.KEYFRAMES
    plugin = Probe()
    config = build_config(plugin, None, None, [], steps=2)
    with Runtime(device="cpu", seed=0) as rt:
        train(plugin, config, TinyClips(8), runtime=rt, run_dir=tmp_path / "probe",
              options=TrainOptions(preview_every=0, quiet=True))
    assert seen == [(0, "cpu", (4, 3, 4, 8, 8), True, True, True, ["refiner"], 4),
                    (1, "cpu", (4, 3, 4, 8, 8), True, True, True, ["refiner"], 4)]


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
def test_a_signal_finishes_the_step_saves_and_reports_it(tmp_path, tiny_registry, sig):
    base = tiny_registry.model("tiny-keyframes")

    class SignalledAtStep3(type(base)):
        def train_step(self, ctx, video):
            if ctx.step == 2:
                os.kill(os.getpid(), sig)  # arrives in the middle of this step
            return super().train_step(ctx, video)

    plugin = SignalledAtStep3()
    config = build_config(plugin, None, None, [], steps=100)
    previous = signal.getsignal(sig)
    with Runtime(device="cpu", seed=0) as rt:
        result = train(plugin, config, TinyClips(8), runtime=rt, run_dir=tmp_path / "run",
                       options=TrainOptions(preview_every=0, checkpoint_every=1000, quiet=True))
    assert (result.status, result.step, result.signal) == ("interrupted", 3, sig)
    assert result.checkpoint == tmp_path / "run" / "checkpoints" / "step_00000003"
    assert ckpt_io.load_run(tmp_path / "run").step == 3
    assert signal.getsignal(sig) == previous  # the trainer's handlers are gone again


def test_a_run_killed_before_its_first_checkpoint_resumes_from_step_0_with_its_config(tmp_path, tiny_registry, capsys):
    train_tiny(tmp_path, tiny_registry, run="straight", steps=3, preset="wide")
    train_tiny(tmp_path, tiny_registry, run="killed", steps=3, preset="wide")
    run = tmp_path / "killed"
    shutil.rmtree(run / "checkpoints")  # as if killed before its first save: config.json and a metrics line
    result = train_tiny(tmp_path, tiny_registry, run="killed", steps=3, preset="wide", resume=True)
    assert (result.status, result.step) == ("finished", 3)
    assert f"run {run} has no checkpoint yet (it stopped before its first save): training it again from step 0" \
        in capsys.readouterr().err
    assert losses(run) == losses(tmp_path / "straight")  # one line per step, the same as a run never killed


def test_reusing_the_folder_of_a_run_killed_before_its_first_checkpoint_points_at_resume(tmp_path, tiny_registry):
    train_tiny(tmp_path, tiny_registry, steps=1)
    shutil.rmtree(tmp_path / "run" / "checkpoints")
    with pytest.raises(VidsynthError, match="stopped before its first checkpoint; continue it from step 0 with its saved"
                                            " config with --resume"):
        ckpt_io.new_run_dir("tiny", tmp_path, run_dir=tmp_path / "run")


def test_each_metrics_line_says_how_many_steps_it_averages(tmp_path, tiny_registry):
    """Resumed from step 3 with --log-every 2, the line of step 4 averages one step only: it says so."""
    train_tiny(tmp_path, tiny_registry, steps=3, log_every=2)
    train_tiny(tmp_path, tiny_registry, steps=6, log_every=2, resume=True)
    records = [json.loads(line) for line in (tmp_path / "run" / "metrics.jsonl").read_text().splitlines()]
    assert [(r["step"], r["steps_averaged"]) for r in records] == [(2, 2), (3, 1), (4, 1), (6, 2)]


def test_loss_png_draws_a_plugins_schedules_apart_from_its_losses(tmp_path, tiny_registry, monkeypatch):
    """A plugin names the logged values that are schedules (cvae: the KL weight `beta`); they get a panel of
    their own in loss.png instead of being drawn as a loss."""
    from vidsynth import plotting

    drawn = []
    original = plotting.loss_figure
    monkeypatch.setattr(plotting, "loss_figure", lambda *a, **k: drawn.append(original(*a, **k)) or drawn[-1])
    base = tiny_registry.model("tiny")

    class Scheduled(type(base)):
        schedule_keys = ("g_loss",)  # stands for a schedule here

    config = build_config(Scheduled(), None, None, [], steps=2)
    with Runtime(device="cpu", seed=0) as rt:
        train(Scheduled(), config, TinyClips(8), runtime=rt, run_dir=tmp_path / "run",
              options=TrainOptions(preview_every=0, log_every=1, quiet=True))
    losses_ax, schedule_ax = drawn[-1].axes
    assert [line.get_label() for line in losses_ax.lines] == ["d_loss"]
    assert [line.get_label() for line in schedule_ax.lines] == ["g_loss"] and schedule_ax.get_ylabel() == "schedule"
    assert (tmp_path / "run" / "loss.png").read_bytes()[:4] == b"\x89PNG"
