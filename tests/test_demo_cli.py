"""``vidsynth demo`` runs train -> sample -> eval end to end (here on the tiny plugin, for speed)."""

from __future__ import annotations

import json
import re
import shlex

import av
import pytest

from tiny_plugin import run_vidsynth, tiny_plugin_env


@pytest.fixture(scope="module")
def demo_run(tmp_path_factory):
    """One demo of tiny-keyframes (2 steps) in a fresh folder: (that folder, the finished process)."""
    tmp_path = tmp_path_factory.mktemp("demo")
    result = run_vidsynth(
        ["demo", "--plugin", "tiny-keyframes", "--data", "builtin:tiny-squares", "--steps", "2",
         "--eval-clips", "64", "-o", "demo"],
        env=tiny_plugin_env(tmp_path), cwd=tmp_path,
    )
    assert result.returncode == 0, result.stderr
    return tmp_path, result


def test_demo_writes_a_run_under_runs_a_sample_and_a_report(demo_run):
    tmp_path, result = demo_run
    out = tmp_path / "demo"
    for name in ("first.png", "last.png", "sample.mp4", "sample.gif", "report/report.json"):
        assert (out / name).exists(), name
    runs = list((tmp_path / "runs").iterdir())
    assert len(runs) == 1 and runs[0].name.startswith("tiny-keyframes-demo-")
    with av.open(str(out / "sample.mp4")) as container:
        frames = sum(1 for _ in container.decode(video=0))
    config = json.loads((runs[0] / "config.json").read_text())["config"]
    assert frames == config["frames"]
    report = json.loads((out / "report" / "report.json").read_text())
    assert report["plugin"] == "tiny-keyframes"
    # builtin:tiny-squares has 8 test clips: the demo says how many it really evaluates, not --eval-clips
    assert report["clips"] == 8
    assert "[3/3] evaluating on 8 held-out clips of builtin:tiny-squares" in result.stderr


def test_every_command_the_demo_prints_works_as_printed(demo_run):
    tmp_path, result = demo_run
    hints = [m.group(1) for m in re.finditer(r"^(?:sample with: |  )(vidsynth .*)$", result.stdout + result.stderr, re.M)]
    assert [h.split()[1] for h in hints] == ["sample", "sample", "eval", "train"]
    env = tiny_plugin_env(tmp_path)
    for hint in hints:
        done = run_vidsynth(shlex.split(hint)[1:], env=env, cwd=tmp_path)
        assert done.returncode == 0, f"{hint}\n{done.stderr}"


def test_demo_refuses_a_non_empty_output_folder(tmp_path):
    out = tmp_path / "demo"
    out.mkdir()
    (out / "keep.txt").write_text("precious")
    result = run_vidsynth(["demo", "--plugin", "tiny-keyframes", "-o", str(out)], env=tiny_plugin_env(tmp_path), cwd=tmp_path)
    assert result.returncode == 1
    assert result.stderr.strip() == f"error: {out} already exists and is not empty; choose another --output"
    assert (out / "keep.txt").read_text() == "precious"
