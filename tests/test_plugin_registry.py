"""Plugin discovery: entry points, broken plugins, restriction by env var, a real pip-installed plugin."""

import json
import subprocess
import sys
from pathlib import Path

import pytest
from fake_dist import make_distribution, run_cli

from vidsynth.errors import PluginError
from vidsynth.plugins import Registry

EXAMPLE = Path(__file__).resolve().parent.parent / "examples" / "vidsynth-hello"
HELLO_SOURCE = (EXAMPLE / "vidsynth_hello.py").read_text()


def listing(*pythonpath, env=None):
    result = run_cli("plugins", "list", "--json", pythonpath=list(pythonpath), env=env)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def test_a_plugin_package_registers_models_datasets_and_commands(tmp_path):
    make_distribution(tmp_path, "vidsynth-hello", {"vidsynth_hello": HELLO_SOURCE}, {"hello": "vidsynth_hello"})
    data = listing(tmp_path)
    hello = next(m for m in data["models"] if m["name"] == "hello-fade")
    assert hello["task"] == "first-frame"
    assert hello["distribution"] == "vidsynth-hello" and hello["version"] == "0.1.0"
    assert hello["presets"] == ["small", "long"]
    assert "builtin:hello-fades" in data["datasets"]
    result = run_cli("hello", "--name", "tester", pythonpath=[tmp_path])
    assert result.returncode == 0 and "hello, tester" in result.stdout


def test_a_plugin_that_raises_on_import_is_listed_as_broken_and_the_cli_keeps_working(tmp_path):
    make_distribution(tmp_path, "vidsynth-bad", {"vidsynth_bad": "raise RuntimeError('boom at import')\n"}, {"bad": "vidsynth_bad"})
    make_distribution(tmp_path, "vidsynth-hello", {"vidsynth_hello": HELLO_SOURCE}, {"hello": "vidsynth_hello"})
    data = listing(tmp_path)
    bad = next(p for p in data["plugins"] if p["name"] == "bad")
    assert bad["status"] == "broken"
    assert bad["error"] == "RuntimeError: boom at import"
    assert any(m["name"] == "hello-fade" for m in data["models"])
    table = run_cli("plugins", "list", pythonpath=[tmp_path], env={"COLUMNS": "200"})
    assert table.returncode == 0 and "broken: RuntimeError: boom at import" in table.stdout
    assert run_cli("--version", pythonpath=[tmp_path]).returncode == 0


def test_a_plugin_whose_register_hook_raises_is_broken(tmp_path):
    source = "import vidsynth\n@vidsynth.hookimpl\ndef register_models(register):\n    raise ValueError('no model today')\n"
    make_distribution(tmp_path, "vidsynth-raises", {"vidsynth_raises": source}, {"raises": "vidsynth_raises"})
    bad = next(p for p in listing(tmp_path)["plugins"] if p["name"] == "raises")
    assert bad["status"] == "broken" and "no model today" in bad["error"]


def test_a_misspelled_hook_name_is_an_error_not_silence(tmp_path):
    source = "import vidsynth\n@vidsynth.hookimpl\ndef register_model(register):\n    pass\n"
    make_distribution(tmp_path, "vidsynth-typo", {"vidsynth_typo": source}, {"typo": "vidsynth_typo"})
    bad = next(p for p in listing(tmp_path)["plugins"] if p["name"] == "typo")
    assert bad["status"] == "broken" and "register_model" in bad["error"]


def test_registering_something_that_is_not_a_model_plugin_is_an_error(tmp_path):
    source = "import vidsynth\n@vidsynth.hookimpl\ndef register_models(register):\n    register(object())\n"
    make_distribution(tmp_path, "vidsynth-odd", {"vidsynth_odd": source}, {"odd": "vidsynth_odd"})
    bad = next(p for p in listing(tmp_path)["plugins"] if p["name"] == "odd")
    assert bad["status"] == "broken" and "ModelPlugin" in bad["error"]


def test_env_var_restricts_which_plugins_load(tmp_path):
    make_distribution(tmp_path, "vidsynth-hello", {"vidsynth_hello": HELLO_SOURCE}, {"hello": "vidsynth_hello"})
    data = listing(tmp_path, env={"VIDSYNTH_PLUGINS": ""})
    assert data["models"] == []
    assert next(p for p in data["plugins"] if p["name"] == "hello")["status"] == "disabled"


def test_unknown_model_name_suggests_the_closest(tmp_path, monkeypatch):
    make_distribution(tmp_path, "vidsynth-hello", {"vidsynth_hello": HELLO_SOURCE}, {"hello": "vidsynth_hello"})
    monkeypatch.syspath_prepend(str(tmp_path))
    registry = Registry().load_entry_points()
    assert registry.model("hello-fade").name == "hello-fade"
    with pytest.raises(PluginError, match="did you mean 'hello-fade'"):
        registry.model("hello-fad")


def test_the_example_plugin_installs_with_pip_and_shows_up(tmp_path):
    target = tmp_path / "site"
    subprocess.run(
        [sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--no-build-isolation",
         "--target", str(target), str(EXAMPLE)],
        check=True, capture_output=True, text=True,
    )
    data = listing(target)
    assert any(m["name"] == "hello-fade" and m["distribution"] == "vidsynth-hello" for m in data["models"])


def test_a_model_plugin_without_one_of_the_three_hooks_is_broken_with_the_hook_named(tmp_path):
    source = (
        "import vidsynth\n"
        "from vidsynth.model import ModelPlugin, Task\n"
        "class Forgetful(ModelPlugin):\n"
        "    name = 'forgetful'\n"
        "    task = Task.UNCONDITIONAL\n"
        "    def build(self, config):\n"
        "        return {}\n"
        "    def sample(self, modules, config, condition, n, generator, **options):\n"
        "        return None\n"
        "@vidsynth.hookimpl\n"
        "def register_models(register):\n"
        "    register(Forgetful())\n"
    )
    make_distribution(tmp_path, "vidsynth-forgetful", {"vidsynth_forgetful": source}, {"forgetful": "vidsynth_forgetful"})
    data = listing(tmp_path)
    bad = next(p for p in data["plugins"] if p["name"] == "forgetful")
    assert bad["status"] == "broken" and "\n" not in bad["error"]
    assert bad["error"].startswith("TypeError: ") and "train_step" in bad["error"]
    assert all(m["name"] != "forgetful" for m in data["models"])
