"""Configs: defaults < preset < TOML file < --set overrides, typed and validated with clear errors."""

from dataclasses import dataclass

import pytest

from tiny_plugin import TinyClips  # noqa: F401  (puts vidsynth_tiny on sys.path)
from vidsynth_tiny import TinyConfig, TinyKeyframes

from vidsynth.errors import ConfigError
from vidsynth.model import Task


@dataclass
class DemoConfig(TinyConfig):
    width: int = 8
    dropout: float = 0.0
    skip: bool = False
    mode: str = "a"


class Demo(TinyKeyframes):
    """A real model (the tiny in-betweener) with config fields of every type."""

    name = "demo"
    Config = DemoConfig
    presets = {"paper": {"width": 64, "frames": 30}, "small": {"width": 4}}


def test_preset_then_overrides_with_type_coercion():
    config = Demo().make_config("paper", {"dropout": "0.5", "skip": "true", "betas": "0.9,0.99"})
    assert (config.width, config.frames, config.dropout, config.skip) == (64, 30, 0.5, True)
    assert config.betas == (0.9, 0.99)


def test_default_preset_is_small():
    assert Demo().make_config().width == 4


def test_toml_file_sits_between_preset_and_overrides(tmp_path):
    path = tmp_path / "c.toml"
    path.write_text("width = 12\nmode = 'b'\n")
    config = Demo().make_config("small", {"mode": "c"}, config_file=path)
    assert (config.width, config.mode) == (12, "c")


@pytest.mark.parametrize(
    "overrides, message",
    [
        ({"widht": 3}, "unknown config key for demo: widht"),
        ({"width": "wide"}, "config key 'width' expects int, got 'wide'"),
        ({"width": 2.5}, "expects int"),
        ({"skip": "maybe"}, "expects bool"),
        ({"frames": 0}, "'frames' must be >= 1"),
        ({"channels": 2}, "'channels' must be 1 or 3"),
    ],
)
def test_bad_values_fail_with_one_clear_line(overrides, message):
    with pytest.raises(ConfigError, match=message.replace("(", r"\(")):
        Demo().make_config("small", overrides)


def test_unknown_preset_lists_the_known_ones():
    with pytest.raises(ConfigError, match="no preset 'huge'; choose one of: paper, small"):
        Demo().make_config("huge")


def test_bad_toml_is_a_config_error(tmp_path):
    path = tmp_path / "c.toml"
    path.write_text("width = = 3")
    with pytest.raises(ConfigError, match="not valid TOML"):
        Demo().make_config(config_file=path)


def test_task_accepts_the_right_number_of_images():
    assert Task.KEYFRAMES.accepts(2) and not Task.KEYFRAMES.accepts(1)
    assert Task.UNCONDITIONAL.accepts(0) and not Task.UNCONDITIONAL.accepts(1)
    assert Task.NEXT_FRAME.accepts(3) and Task.FIRST_FRAME.accepts(1)
