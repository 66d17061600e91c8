"""``vidsynth demo`` runs train -> sample -> eval end to end (here on the tiny plugin, for speed)."""

from __future__ import annotations

import json

import av

from tiny_plugin import run_vidsynth, tiny_plugin_env


def test_demo_writes_a_run_a_sample_and_a_report(tmp_path):
    out = tmp_path / "demo"
    result = run_vidsynth(
        ["demo", "--plugin", "tiny-keyframes", "--data", "builtin:tiny-squares", "--steps", "2",
         "--eval-clips", "4", "-o", str(out)],
        env=tiny_plugin_env(tmp_path), cwd=tmp_path,
    )
    assert result.returncode == 0, result.stderr
    for name in ("first.png", "last.png", "sample.mp4", "sample.gif", "report/report.json", "run/config.json"):
        assert (out / name).exists(), name
    with av.open(str(out / "sample.mp4")) as container:
        frames = sum(1 for _ in container.decode(video=0))
    config = json.loads((out / "run" / "config.json").read_text())["config"]
    assert frames == config["frames"]
    assert json.loads((out / "report" / "report.json").read_text())["plugin"] == "tiny-keyframes"


def test_demo_refuses_a_non_empty_output_folder(tmp_path):
    out = tmp_path / "demo"
    out.mkdir()
    (out / "keep.txt").write_text("precious")
    result = run_vidsynth(["demo", "--plugin", "tiny-keyframes", "-o", str(out)], env=tiny_plugin_env(tmp_path), cwd=tmp_path)
    assert result.returncode == 1
    assert result.stderr.strip() == f"error: {out} already exists and is not empty; choose another --output"
    assert (out / "keep.txt").read_text() == "precious"
