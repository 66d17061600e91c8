"""The eval engine in-process, with stand-in models whose right answers are known."""

from __future__ import annotations

import json
import sys

import numpy as np
import pytest
import torch

from fake_dist import make_distribution
from tiny_plugin import TinyClips
from vidsynth.errors import VidsynthError
from vidsynth.metrics.baselines import copy_last_frame, linear_interpolation
from vidsynth.metrics.builtin import BUILTIN_METRICS
from vidsynth.metrics.evaluate import EvalOptions, available_metrics, evaluate, make_plan, select_metrics
from vidsynth.plugins import reset_registry
from vidsynth.tensors import clips_to_model

KEYFRAMES = lambda video: video[:, :, [0, -1]]  # noqa: E731 - what plugin.condition_from gives a keyframes task
CLIPS = TinyClips(10, frames=6, size=16)


def metrics_for(task: str, source: str = "") -> list:
    return [m for m in BUILTIN_METRICS if m.applies(task, source)]


def oracle(clips):
    """A 'model' that returns the true clip whose first frame it is given."""
    truth = {clips[i][0].numpy().tobytes(): clips_to_model(clips[i])[0] for i in range(len(clips))}

    def generate(condition, n, seed, frames):
        firsts = ((condition[:, :, 0] + 1) * 127.5).round().to(torch.uint8).permute(0, 2, 3, 1)
        return torch.stack([truth[f.numpy().tobytes()] for f in firsts])[:, :, :frames]

    return generate


def run(generate, task="keyframes", clips=CLIPS, condition=KEYFRAMES, metrics=None, **options):
    return evaluate(generate, clips, task=task, condition_fn=condition,
                    metrics=metrics if metrics is not None else metrics_for(task),
                    options=EvalOptions(batch_size=4, flow=False, **options))


def test_a_perfect_in_betweener_beats_the_cross_fade_with_a_paired_interval():
    report, _ = run(oracle(CLIPS))
    psnr = report["metrics"]["psnr"]
    assert psnr["results"]["model"]["mean"] == 100.0 and psnr["results"]["model"]["n"] == 10
    assert psnr["results"]["linear"]["mean"] < 40
    assert psnr["vs_baselines"]["linear"]["verdict"] == "better" and psnr["vs_baselines"]["linear"]["paired"]
    assert report["metrics"]["l2-table2"]["vs_baselines"]["linear"]["verdict"] == "better"


def test_a_model_that_is_the_cross_fade_ties_with_it_exactly():
    report, _ = run(lambda c, n, seed, frames: linear_interpolation(c, frames))
    for name in ("psnr", "ssim", "mse", "l2-table2"):
        diff = report["metrics"][name]["vs_baselines"]["linear"]
        assert diff["mean"] == 0 and diff["verdict"] == "no clear difference", name


def test_keyframe_models_are_scored_on_the_in_between_frames_only():
    report, _ = run(oracle(CLIPS))
    assert report["plan"] == {"task": "keyframes", "frames": 6, "given_frames": [0, 5], "scored_frames": [1, 2, 3, 4]}
    curve = report["curves"]["psnr"]["linear"]
    assert len(curve) == 6 and curve[0] == curve[-1] == 100.0  # the cross-fade's ends are the keyframes
    # the report's PSNR averages frames 1..4 of each clip
    per_clip = report["metrics"]["psnr"]["results"]["linear"]["mean"]
    assert per_clip == pytest.approx(np.mean(curve[1:5]), rel=1e-6)


def test_next_frame_models_get_the_context_and_are_scored_per_horizon():
    seen = {}

    def copy_model(condition, n, seed, frames):
        seen["context"], seen["frames"] = condition.shape[2], frames
        return copy_last_frame(condition, frames)

    report, videos = run(copy_model, task="next-frame", condition=lambda v: v[:, :, :1], context=2, horizon=3)
    assert seen == {"context": 2, "frames": 5}
    assert report["plan"]["scored_frames"] == [2, 3, 4]
    assert list(report["per_horizon"]["psnr"]) == ["model", "copy-last"]
    assert len(report["per_horizon"]["psnr"]["model"]) == 3
    assert report["per_horizon"]["psnr"]["model"] == report["per_horizon"]["psnr"]["copy-last"]
    assert videos["model"].shape == (4, 5, 16, 16, 3)  # the first --videos clips, uint8 [N, T, H, W, C]


def test_plans_refuse_horizons_beyond_the_clip_and_context_for_other_tasks():
    with pytest.raises(VidsynthError, match="longer than the test clips"):
        make_plan("next-frame", 6, 1, context=2, horizon=5)
    with pytest.raises(VidsynthError, match="apply to next-frame models"):
        make_plan("keyframes", 6, 2, horizon=2)
    assert make_plan("first-frame", 6, 1).scored == (1, 2, 3, 4, 5)
    with pytest.raises(VidsynthError, match="one frame inside the clip"):
        make_plan("first-frame", 6, 1, given=(6,))


def test_a_model_conditioned_on_the_middle_frame_is_scored_on_both_sides_by_distance():
    plan = make_plan("first-frame", 7, 1, given=(3,))
    assert plan.given == (3,) and plan.scored == (0, 1, 2, 4, 5, 6)
    assert plan.horizons == {1: [2, 4], 2: [1, 5], 3: [0, 6]}

    def copy_middle(condition, n, seed, frames):
        return condition.expand(-1, -1, frames, -1, -1)

    clips = TinyClips(6, frames=7, size=16)
    report, _ = evaluate(copy_middle, clips, task="first-frame", condition_fn=lambda v: v[:, :, 3:4],
                         given_fn=lambda frames: (frames // 2,), metrics=metrics_for("first-frame"),
                         options=EvalOptions(batch_size=3, flow=False))
    assert report["plan"]["given_frames"] == [3]
    curve = report["curves"]["psnr"]["model"]
    assert curve[3] == 100.0  # the given frame is exact and not scored
    per_h = report["per_horizon"]["psnr"]["model"]
    assert per_h == pytest.approx([np.mean([curve[2], curve[4]]), np.mean([curve[1], curve[5]]),
                                   np.mean([curve[0], curve[6]])])
    # the copy baseline holds the given (middle) frame: the model here is that baseline
    assert report["metrics"]["psnr"]["vs_baselines"]["copy-given"]["mean"] == pytest.approx(0, abs=1e-5)


def test_metric_selection_checks_names_and_tasks():
    found = available_metrics()
    with pytest.raises(VidsynthError, match="unknown metric 'psnrr'"):
        select_metrics(found, "keyframes", "", ["psnrr"])
    with pytest.raises(VidsynthError, match="does not apply to unconditional"):
        select_metrics(found, "unconditional", "", ["psnr"])
    names = [m.name for m in select_metrics(found, "unconditional", "builtin:bouncing-balls", None)]
    # what a viewer sees leads: the ball count, its stability, the balls' shape and size; then motion
    assert names == ["ball-count-accuracy", "ball-count-changes", "ball-roundness", "ball-radius",
                     "motion-energy", "temporal-coherence", "appearance-distance",
                     "ball-count", "ball-speed", "motion-coherence"]
    assert [m.name for m in select_metrics(found, "unconditional", "clips/", None)] == [
        "motion-energy", "temporal-coherence", "appearance-distance"]


def test_unconditional_models_are_compared_with_real_and_shuffled_clips_of_bouncing_balls():
    from vidsynth.data import open_clips

    test = open_clips("builtin:bouncing-balls", frames=12, size=32, channels=1, split="test", progress=False)
    train = open_clips("builtin:bouncing-balls", frames=12, size=32, channels=1, split="train", progress=False)

    def real_clips_model(condition, n, seed, frames):  # a 'perfect' generator: unseen real clips
        return clips_to_model(torch.stack([train[seed * 8 + i] for i in range(n)]))

    report, _ = run(real_clips_model, task="unconditional", clips=test, condition=lambda v: None,
                    metrics=metrics_for("unconditional", "builtin:bouncing-balls"), n=16)
    assert report["systems"] == ["model", "real", "shuffled", "still"]
    coherence = report["metrics"]["motion-coherence"]
    assert coherence["results"]["model"]["n"] == 8 and coherence["results"]["reference"]["n"] == 8
    assert coherence["vs_baselines"]["shuffled"]["verdict"] == "better" and not coherence["vs_baselines"]["shuffled"]["paired"]
    for name in ("ball-count", "ball-speed", "motion-coherence"):
        assert 0.8 < report["metrics"][name]["ratio_to_real"]["model"] < 1.2, name
    json.dumps(report, allow_nan=False)


def test_fvd_comes_with_the_real_vs_real_floor(tmp_path):
    from test_metrics_frechet import FakeI3D

    path = tmp_path / "i3d.pt"
    torch.jit.script(FakeI3D()).save(str(path))
    report, _ = run(oracle(CLIPS), detector=str(path))
    fvd = report["distribution"]["fvd"]
    assert fvd["reference_size"] == 5 and fvd["sizes"]["model"] == 5  # odd clips against even clips
    assert fvd["model"] == pytest.approx(fvd["floor"]) and fvd["floor"] == fvd["real"]  # the oracle is real
    assert fvd["convention"]["covariance"] == "population (1/N), float64" and fvd["frames"] == 6
    assert not any(note.startswith("FVD") for note in report["notes"])


def test_a_metric_plugin_registered_through_the_hook_joins_the_report(tmp_path, monkeypatch):
    site = make_distribution(tmp_path / "site", "vidsynth-mae", {"vidsynth_mae": '''
        import vidsynth
        from vidsynth.metrics import Metric

        def mae(generated, real):
            return (generated - real).abs().mean(dim=(1, 3, 4))

        def broken(generated, real):
            raise RuntimeError("this metric is broken")

        @vidsynth.hookimpl
        def register_metrics(register):
            register(Metric("mae", mae, higher_is_better=False, per_frame=True, description="mean abs error"))
            register(Metric("broken", broken, higher_is_better=True))
    '''}, {"mae": "vidsynth_mae"})
    monkeypatch.syspath_prepend(str(site))
    reset_registry()
    try:
        found = available_metrics()
        assert {"mae", "broken", "psnr"} <= set(found)
        report, _ = run(lambda c, n, seed, frames: linear_interpolation(c, frames),
                        metrics=[m for m in found.values() if m.applies("keyframes")])
    finally:
        sys.modules.pop("vidsynth_mae", None)
        reset_registry()
    assert report["metrics"]["mae"]["vs_baselines"]["linear"]["mean"] == 0
    assert report["metrics"]["broken"]["error"] == "RuntimeError: this metric is broken"
    assert "psnr" in report["metrics"] and report["metrics"]["psnr"]["results"]["model"]["n"] == 10


def test_samples_scores_the_mean_of_k_draws_with_distinct_seeds():
    seeds = []

    def model(noise):
        def generate(condition, n, seed, frames):  # a fixed guess in [-0.5, 0.5] plus noise (clamping never cuts)
            seeds.append(seed)
            g = torch.Generator().manual_seed(seed)
            guess = 0.5 * copy_last_frame(condition, frames)
            return guess + noise * torch.randn(guess.shape, generator=g)
        return generate

    first = lambda v: v[:, :, :1]  # noqa: E731
    exact, _ = run(model(0.0), task="first-frame", condition=first)
    seeds[:] = []
    one, _ = run(model(0.1), task="first-frame", condition=first)
    first_seeds, seeds[:] = list(seeds), []
    many, _ = run(model(0.1), task="first-frame", condition=first, samples=8)
    assert many["samples"] == 8 and len(seeds) == 8 * len(first_seeds) and len(set(seeds)) == len(seeds)
    assert set(first_seeds) <= set(seeds)  # sample 0 of each batch is the single-sample draw
    # MSE above the noiseless guess = the noise variance, (0.1 / 2)^2 in [0, 1] pixels, /8 for 8 draws
    # (up to the noise-error cross term, which is zero only on average: ~1e-4 on these few pixels)
    mse = lambda r: r["metrics"]["mse"]["results"]["model"]["mean"]  # noqa: E731
    assert mse(one) - mse(exact) == pytest.approx(0.05**2, rel=0.1)
    assert 0 < mse(many) - mse(exact) < 0.25 * (mse(one) - mse(exact))
    with pytest.raises(VidsynthError, match="does not combine with --mean"):
        run(model(0.1), task="first-frame", condition=first, samples=2, mean=True)
    with pytest.raises(VidsynthError, match="unconditional"):
        run(model(0.1), task="unconditional", condition=lambda v: None, samples=2)


def test_a_keyframes_eval_without_opencv_says_in_one_note_how_to_get_the_flow_baseline(monkeypatch):
    from vidsynth.metrics import baselines

    monkeypatch.setattr(baselines, "opencv_available", lambda: False)
    report, _ = evaluate(lambda c, n, seed, frames: linear_interpolation(c, frames), CLIPS, task="keyframes",
                         condition_fn=KEYFRAMES, metrics=metrics_for("keyframes"),
                         options=EvalOptions(batch_size=4, flow=None))
    assert "flow" not in report["systems"]
    notes = [n for n in report["notes"] if n.startswith("flow baseline skipped")]
    assert len(notes) == 1 and "pip install opencv-python-headless" in notes[0] and "\n" not in notes[0]


def test_the_flow_baseline_joins_a_keyframes_eval_when_opencv_is_installed():
    pytest.importorskip("cv2")
    report, _ = evaluate(lambda c, n, seed, frames: linear_interpolation(c, frames), CLIPS, task="keyframes",
                         condition_fn=KEYFRAMES, metrics=metrics_for("keyframes"),
                         options=EvalOptions(batch_size=4, flow=None))
    assert report["systems"] == ["model", "linear", "flow"]
    assert not any(n.startswith("flow baseline skipped") for n in report["notes"])


def bouncing(balls: int, split: str, frames: int = 10):
    from vidsynth.data import open_clips

    return open_clips(f"builtin:bouncing-balls?balls={balls}", frames=frames, size=32, channels=1, split=split,
                      progress=False)


def test_bouncing_balls_reports_lead_with_the_count_accuracy_against_the_datas_own_ball_count():
    test = bouncing(4, "test")

    def clips_of(balls):  # a 'generator' that returns unseen real clips with that many balls
        train = bouncing(balls, "train")
        return lambda c, n, seed, frames: clips_to_model(torch.stack([train[seed * 8 + i] for i in range(n)]))

    source = "builtin:bouncing-balls?balls=4"
    good, _ = run(clips_of(4), task="unconditional", clips=test, condition=lambda v: None,
                  metrics=metrics_for("unconditional", source), n=16)
    wrong, _ = run(clips_of(3), task="unconditional", clips=test, condition=lambda v: None,
                   metrics=metrics_for("unconditional", source), n=16)
    assert list(good["metrics"])[:4] == ["ball-count-accuracy", "ball-count-changes", "ball-roundness", "ball-radius"]
    accuracy = good["metrics"]["ball-count-accuracy"]["results"]
    assert accuracy["reference"]["mean"] > 0.9 and accuracy["real"]["mean"] > 0.9  # the real-vs-real figure
    assert accuracy["model"]["mean"] > 0.9 and accuracy["still"]["mean"] > 0.9
    assert wrong["metrics"]["ball-count-accuracy"]["results"]["model"]["mean"] < 0.2
    assert wrong["metrics"]["ball-count-accuracy"]["vs_baselines"]["real"]["verdict"] == "worse"
    assert 0.8 < good["metrics"]["ball-radius"]["ratio_to_real"]["model"] < 1.2


def colour_videos(folder, count: int = 6, frames: int = 12, size: int = 24):
    """A folder of small colour videos: a coloured stripe pattern drifting across each one."""
    from fixtures_media import encode

    folder.mkdir()
    y, x = np.mgrid[0:size, 0:size]
    for v in range(count):
        colour = np.array([(60 * v) % 256, 255 - 30 * v, 128], dtype=float)
        clip = [np.clip(colour * (0.5 + 0.5 * np.sin((x + 2 * t + 3 * v) / 3.0))[..., None] / 255 * np.ones(3) * 255
                        * (0.6 + 0.4 * y[..., None] / size), 0, 255) for t in range(frames)]
        clip = [np.stack([f[..., 0] * (c + 1) / 3 for c in range(3)], axis=-1) for f in clip]
        encode(folder / f"clip{v}.mp4", np.rint(np.stack(clip)).astype(np.uint8))
    return folder


def test_unconditional_models_get_motion_and_appearance_numbers_on_any_folder(tmp_path):
    from vidsynth.data import open_clips

    clips = open_clips(colour_videos(tmp_path / "videos"), frames=6, size=16, split="all",
                       cache_dir=tmp_path / "cache", progress=False)
    assert len(clips) >= 8

    def noise(condition, n, seed, frames):
        return torch.rand(n, 3, frames, 16, 16, generator=torch.Generator().manual_seed(seed)) * 2 - 1

    report, _ = run(noise, task="unconditional", clips=clips, condition=lambda v: None,
                    metrics=metrics_for("unconditional", str(tmp_path / "videos")))
    assert report["systems"] == ["model", "real", "shuffled", "still"]
    assert list(report["metrics"]) == ["motion-energy", "temporal-coherence", "appearance-distance"]
    mean = lambda metric, system: report["metrics"][metric]["results"][system]["mean"]  # noqa: E731
    assert mean("motion-energy", "still") == 0 and mean("motion-energy", "shuffled") > mean("motion-energy", "real") > 0
    assert mean("temporal-coherence", "still") == pytest.approx(1)
    assert mean("temporal-coherence", "real") > mean("temporal-coherence", "shuffled") > mean("temporal-coherence", "model")
    assert mean("appearance-distance", "model") > 1.5 * mean("appearance-distance", "real")
    for metric in report["metrics"].values():  # each beside real, shuffled and still, with its interval
        assert set(metric["vs_baselines"]) == {"real", "shuffled", "still"}
        assert all(len(d["ci95"]) == 2 for d in metric["vs_baselines"].values())
    assert report["metrics"]["appearance-distance"]["vs_baselines"]["real"]["verdict"] == "worse"


def test_first_frame_models_get_the_same_numbers_beside_shuffled_frames_and_the_held_frame(tmp_path):
    from vidsynth.data import open_clips

    clips = open_clips(colour_videos(tmp_path / "videos"), frames=6, size=16, split="all",
                       cache_dir=tmp_path / "cache", progress=False)
    report, videos = run(lambda c, n, seed, frames: copy_last_frame(c, frames), task="first-frame", clips=clips,
                         condition=lambda v: v[:, :, :1], metrics=metrics_for("first-frame", "videos"))
    assert report["systems"] == ["model", "copy-given"] and report["statistics_only"] == ["shuffled"]
    energy = report["metrics"]["motion-energy"]
    assert energy["results"]["model"]["mean"] == 0 and energy["results"]["real"]["mean"] > 0
    assert energy["vs_baselines"]["copy-given"]["mean"] == 0 and energy["vs_baselines"]["shuffled"]["paired"]
    assert "shuffled" not in report["metrics"]["psnr"]["results"]  # only the statistics see shuffled frames
    assert "shuffled" not in videos


def test_size_options_parse_square_sizes_and_refuse_plugins_without_any_size_support():
    from vidsynth.metrics.options import check_eval_size, parse_size

    assert parse_size(None) is None and parse_size("64") == 64 and parse_size("48x48") == 48
    for bad in ("0", "x", "64x", "-3", "64x32"):
        with pytest.raises(VidsynthError):
            parse_size(bad)

    class Fixed:
        name = "fixed"

    class Flexible:
        name = "flexible"
        supports_any_size = True

    check_eval_size(Fixed(), 64, None)
    check_eval_size(Fixed(), 64, 64)
    check_eval_size(Flexible(), 64, 32)
    with pytest.raises(VidsynthError, match="plugin fixed samples only at its training size 64x64"):
        check_eval_size(Fixed(), 64, 32)


def test_the_default_split_is_all_only_for_a_folder_the_run_did_not_train_on(tmp_path):
    from vidsynth.metrics.options import default_split

    assert default_split("builtin:bouncing-balls?balls=4", "builtin:bouncing-balls") == "test"
    assert default_split(str(tmp_path / "clips"), None) == "test"  # nothing recorded: the usual split
    assert default_split(str(tmp_path / "clips"), str(tmp_path / "clips")) == "test"
    assert default_split(str(tmp_path / "clips") + "/", str(tmp_path / "clips")) == "test"
    assert default_split(str(tmp_path / "other"), str(tmp_path / "clips")) == "all"
    assert default_split(str(tmp_path / "other"), "builtin:bouncing-balls") == "all"


def test_a_torchscript_notice_names_the_flag_the_file_and_its_sha256(tmp_path):
    import hashlib

    from vidsynth.metrics.files import torchscript_notice

    class Doubler(torch.nn.Module):
        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return 2 * x

    path = tmp_path / "tiny.pt"
    torch.jit.script(Doubler()).save(str(path))
    notice = torchscript_notice("--inception", path)
    assert notice.startswith(f"--inception {path}: loading TorchScript (sha256 {hashlib.sha256(path.read_bytes()).hexdigest()})")
    assert "\n" not in notice and "use only files you trust" in notice
