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
