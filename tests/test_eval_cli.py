"""``vidsynth eval`` end to end: a trained tiny model, the real CLI in a subprocess, the files it writes."""

from __future__ import annotations

import json

import av
import pytest
import torch

from test_metrics_frechet import FakeI3D
from tiny_plugin import run_vidsynth, tiny_plugin_env, tiny_registry, train_tiny  # noqa: F401 - fixture


def env(tmp_path) -> dict[str, str]:
    """The tiny plugin installed, and only it and the built-in metrics loaded (fast, independent of others)."""
    return {**tiny_plugin_env(tmp_path), "VIDSYNTH_PLUGINS": "tiny,builtin-metrics"}


def frame_count(path) -> int:
    with av.open(str(path)) as container:
        return sum(1 for _ in container.decode(video=0))


@pytest.fixture
def trained(tmp_path, tiny_registry):
    """A tiny keyframes model of 16x16 frames (SSIM needs 11x11), trained for 2 steps."""
    train_tiny(tmp_path, tiny_registry, plugin="tiny-keyframes", steps=2, sets=["size=16"])
    return tmp_path / "run"


def test_eval_writes_the_report_the_comparison_video_and_the_curves(tmp_path, trained):
    out = tmp_path / "report"
    result = run_vidsynth(["eval", "tiny-keyframes", "builtin:tiny-squares", "--checkpoint", str(trained),
                           "-o", str(out), "-n", "6", "--videos", "3", "--json"], env=env(tmp_path))
    assert result.returncode == 0, result.stderr
    printed = json.loads(result.stdout)
    assert printed == json.loads((out / "report.json").read_text())
    assert {"plugin", "run", "step", "config", "data", "task", "plan", "systems", "metrics", "curves",
            "distribution", "conventions", "files"} <= set(printed)
    assert printed["plugin"] == "tiny-keyframes" and printed["step"] == 2 and printed["clips"] == 6
    assert printed["systems"][:2] == ["model", "linear"]
    assert set(printed["metrics"]) == {"psnr", "ssim", "mse", "l2-table2"}
    psnr = printed["metrics"]["psnr"]
    assert psnr["results"]["model"]["n"] == 6 and len(psnr["results"]["model"]["ci95"]) == 2
    assert psnr["vs_baselines"]["linear"]["verdict"] in ("better", "worse", "no clear difference")
    assert any("FVD not computed" in note and "--detector" in note for note in printed["notes"])

    assert printed["files"]["video_columns"][0] == "ground truth" and printed["files"]["video_columns"][-1] == "model"
    assert frame_count(out / "comparison.mp4") == 4  # the tiny model's 4 frames
    assert (out / "curves.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_eval_of_an_unconditional_model_reports_fvd_beside_its_floor(tmp_path, tiny_registry):
    train_tiny(tmp_path, tiny_registry, plugin="tiny", steps=2)
    detector = tmp_path / "i3d_torchscript.pt"
    torch.jit.script(FakeI3D()).save(str(detector))
    out = tmp_path / "report"
    result = run_vidsynth(["eval", "tiny", "builtin:tiny-squares", "--checkpoint", str(tmp_path / "run"), "-o", str(out),
                           "--detector", str(detector)], env=env(tmp_path))
    assert result.returncode == 0, result.stderr
    assert "FVD" in result.stdout and "real-vs-real floor" in result.stdout
    fvd = json.loads((out / "report.json").read_text())["distribution"]["fvd"]
    assert {"model", "shuffled", "floor"} <= set(fvd) and fvd["floor"] is not None
    assert frame_count(out / "comparison.mp4") == 4


def test_a_missing_detector_file_is_a_one_line_error_that_says_what_to_get(tmp_path):
    result = run_vidsynth(["eval", "tiny", "builtin:tiny-squares", "-o", str(tmp_path / "r"),
                           "--detector", str(tmp_path / "i3d_torchscript.pt")], env=env(tmp_path))
    assert result.returncode == 1
    assert result.stderr.count("\n") == 1 and result.stderr.startswith("error: --detector file")
    assert "i3d_torchscript.pt" in result.stderr and "stylegan-v" in result.stderr
    assert not (tmp_path / "r").exists()


@pytest.mark.parametrize("args, message", [
    (["--samples", "0"], "error: --samples must be at least 1"),
    (["--samples", "2"], "it does not combine with an unconditional one"),
])
def test_bad_samples_are_one_line_errors_before_any_run_is_loaded(tmp_path, args, message):
    result = run_vidsynth(["eval", "tiny", "builtin:tiny-squares", "-o", str(tmp_path / "r"), *args],
                          env=env(tmp_path))
    assert result.returncode == 1 and result.stderr.count("\n") == 1 and message in result.stderr
    assert not (tmp_path / "r").exists()


def test_an_existing_report_is_not_replaced_without_force(tmp_path):
    out = tmp_path / "r"
    out.mkdir()
    (out / "report.json").write_text("{}")
    result = run_vidsynth(["eval", "tiny", "builtin:tiny-squares", "-o", str(out)], env=env(tmp_path))
    assert result.returncode == 1 and "already exists; pass --force" in result.stderr
    assert (out / "report.json").read_text() == "{}"


@pytest.fixture
def unconditional_run(tmp_path, tiny_registry):
    """A tiny unconditional model trained for 2 steps, its config.json naming the data it trained on."""
    train_tiny(tmp_path, tiny_registry, plugin="tiny", steps=2)
    config = tmp_path / "run" / "config.json"
    info = json.loads(config.read_text())
    info["data"] = {"source": "builtin:tiny-squares", "description": {}}
    config.write_text(json.dumps(info))
    return tmp_path / "run"


def test_eval_on_a_folder_the_run_did_not_train_on_uses_every_clip_and_says_so(tmp_path, unconditional_run):
    from test_metrics_evaluate import colour_videos

    folder = colour_videos(tmp_path / "videos", count=4, frames=8)
    out = tmp_path / "report"
    result = run_vidsynth(["eval", "tiny", str(folder), "--checkpoint", str(unconditional_run), "-o", str(out),
                           "--videos", "0"], env={**env(tmp_path), "VIDSYNTH_CACHE": str(tmp_path / "cache")})
    assert result.returncode == 0, result.stderr
    said = [line for line in result.stderr.splitlines() if "is not the data this run trained on" in line]
    assert len(said) == 1 and "evaluating all 8 of its clips" in said[0] and "builtin:tiny-squares" in said[0]
    report = json.loads((out / "report.json").read_text())
    assert report["data"]["split"] == "all" and report["clips"] == 8
    assert {"motion-energy", "temporal-coherence", "appearance-distance"} <= set(report["metrics"])
    assert report["systems"] == ["model", "real", "shuffled", "still"]


def test_an_empty_split_is_a_one_line_error_with_the_fix(tmp_path, unconditional_run):
    from test_metrics_evaluate import colour_videos

    folder = colour_videos(tmp_path / "videos", count=2, frames=8)  # 10% of 2 videos: no test video
    result = run_vidsynth(["eval", "tiny", str(folder), "--checkpoint", str(unconditional_run), "--split", "test",
                           "-o", str(tmp_path / "r")], env={**env(tmp_path), "VIDSYNTH_CACHE": str(tmp_path / "cache")})
    error = result.stderr.splitlines()[-1]  # after the progress lines: the error, one line
    assert result.returncode == 1 and error.startswith("error: the test split of"), result.stderr
    assert error.endswith("evaluate every clip with --split all") and "Traceback" not in result.stderr
    assert not (tmp_path / "r").exists()


def test_too_few_clips_for_an_unconditional_model_is_a_one_line_error_with_the_fix(tmp_path, unconditional_run):
    from test_metrics_evaluate import colour_videos

    folder = colour_videos(tmp_path / "videos", count=1, frames=8)  # 2 clips: fewer than the 4 needed
    result = run_vidsynth(["eval", "tiny", str(folder), "--checkpoint", str(unconditional_run), "--split", "all",
                           "-o", str(tmp_path / "r")], env={**env(tmp_path), "VIDSYNTH_CACHE": str(tmp_path / "cache")})
    error = result.stderr.splitlines()[-1]
    assert result.returncode == 1 and "has 2 clips" in error and "needs at least 4" in error, result.stderr
    assert error.endswith("add videos to DATA") and "Traceback" not in result.stderr
    assert not (tmp_path / "r").exists()


def test_a_detector_file_is_announced_with_its_sha256_before_it_runs(tmp_path, unconditional_run):
    import hashlib

    detector = tmp_path / "i3d_torchscript.pt"
    torch.jit.script(FakeI3D()).save(str(detector))
    digest = hashlib.sha256(detector.read_bytes()).hexdigest()
    result = run_vidsynth(["eval", "tiny", "builtin:tiny-squares", "--checkpoint", str(unconditional_run),
                           "-o", str(tmp_path / "r"), "--detector", str(detector), "--videos", "0"], env=env(tmp_path))
    assert result.returncode == 0, result.stderr
    notice = [line for line in result.stderr.splitlines() if digest in line]
    assert len(notice) == 1 and notice[0].startswith("--detector") and "use only files you trust" in notice[0]


def test_help_says_a_torchscript_file_is_code(tmp_path):
    result = run_vidsynth(["eval", "--help"], env=env(tmp_path))
    assert result.returncode == 0 and "only files you trust" in " ".join(result.stdout.split())


def test_size_is_refused_in_one_line_naming_a_plugin_that_samples_only_at_its_training_size(tmp_path, trained):
    result = run_vidsynth(["eval", "tiny-keyframes", "builtin:tiny-squares", "--checkpoint", str(trained),
                           "-o", str(tmp_path / "r"), "--size", "32"], env=env(tmp_path))
    error = result.stderr.splitlines()[-1]
    assert result.returncode == 1 and error.startswith("error: plugin tiny-keyframes samples only at its training "
                                                       "size 16x16"), result.stderr
    assert "supports_any_size" in error and "Traceback" not in result.stderr and not (tmp_path / "r").exists()


@pytest.mark.parametrize("args, message", [
    (["--size", "0"], "--size takes N or WxH"),
    (["--size", "big"], "--size takes N or WxH"),
    (["--size", "64x48"], "square frames"),
    (["--split", "val"], "unknown split 'val'"),
])
def test_bad_size_and_split_are_one_line_errors_before_any_run_is_loaded(tmp_path, args, message):
    result = run_vidsynth(["eval", "tiny", "builtin:tiny-squares", "-o", str(tmp_path / "r"), *args], env=env(tmp_path))
    assert result.returncode == 1 and result.stderr.count("\n") == 1 and message in result.stderr, result.stderr


def test_a_plugin_that_samples_at_any_size_is_evaluated_at_the_size_asked_for(tmp_path, trained, tiny_registry,
                                                                              monkeypatch):
    from vidsynth.cli import main

    # the tiny in-betweener is fully convolutional: declared here as a plugin would declare it
    monkeypatch.setattr(type(tiny_registry.model("tiny-keyframes")), "supports_any_size", True, raising=False)
    out = tmp_path / "report"
    main(["eval", "tiny-keyframes", "builtin:tiny-squares", "--checkpoint", str(trained), "-o", str(out),
          "-n", "4", "--size", "24x24", "--videos", "2", "--json"])
    report = json.loads((out / "report.json").read_text())
    assert report["data"]["size"] == 24 and report["config"]["size"] == 16
    assert report["metrics"]["psnr"]["results"]["model"]["n"] == 4
    with av.open(str(out / "comparison.mp4")) as container:
        frame = next(container.decode(video=0))
    assert frame.height > 2 * 24  # two rows of 24-pixel clips (enlarged to fit the labels) under the header
