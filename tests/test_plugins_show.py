"""``vidsynth plugins show NAME``: a model's presets, config keys (value per preset) and sample options."""

from __future__ import annotations

import json

from tiny_plugin import run_vidsynth, tiny_plugin_env


def test_json_lists_every_config_key_per_preset_and_the_sample_options(tmp_path):
    result = run_vidsynth(["plugins", "show", "tiny", "--json"], env=tiny_plugin_env(tmp_path), cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    data = json.loads(result.stdout)
    assert data["name"] == "tiny" and data["task"] == "unconditional" and data["pretrained"] is False
    assert list(data["presets"]) == ["small", "ema", "wide"] and data["default_preset"] == "small"
    assert data["presets"]["wide"]["width"] == 16 and data["presets"]["small"]["width"] == 8
    assert data["presets"]["ema"]["ema"] == 0.9 and data["presets"]["small"]["ema"] == 0.0
    assert data["config"]["betas"] == {"type": "tuple of float"}
    assert data["sample_options"] == {"temperature": {"type": "float", "default": 1.0, "help": "scale of the latent noise"}}


def test_tables_show_keys_presets_and_options(tmp_path):
    env = {**tiny_plugin_env(tmp_path), "COLUMNS": "200"}
    out = run_vidsynth(["plugins", "show", "tiny"], env=env, cwd=tmp_path).stdout
    width_row = next(line for line in out.splitlines() if line.startswith("│ width "))
    assert [cell.strip() for cell in width_row.split("│")[1:-1]] == ["width", "int", "8", "8", "16"]
    assert "small (default)" in out
    assert "│ temperature │ float │ 1.0     │ scale of the latent noise │" in out


def test_an_unknown_plugin_is_a_one_line_error(tmp_path):
    result = run_vidsynth(["plugins", "show", "nosuch"], env=tiny_plugin_env(tmp_path), cwd=tmp_path)
    assert result.returncode == 1
    assert result.stderr.startswith("error: unknown plugin 'nosuch'") and result.stderr.count("\n") == 1


def test_sample_points_its_option_help_to_plugins_show(tmp_path):
    result = run_vidsynth(["sample", "--help"], env={**tiny_plugin_env(tmp_path), "COLUMNS": "300"}, cwd=tmp_path)
    assert "`vidsynth plugins show PLUGIN` lists them" in result.stdout
