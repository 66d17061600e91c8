"""The README's Quick start is exactly two commands, and CI runs them as written."""

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def quick_start_lines():
    readme = (ROOT / "README.md").read_text()
    section = readme.split("## Quick start", 1)[1]
    block = re.search(r"```\n(.*?)```", section, re.S).group(1)
    return [line for line in block.splitlines() if line.strip()]


def test_quick_start_is_two_lines_install_and_run_then_test():
    first, second = quick_start_lines()
    assert first.startswith("pip install torch==2.13.0 ") and "vidsynth " in first
    assert second.startswith("pip install torch==2.13.0 ") and "pytest" in second


def test_ci_runs_the_readme_install_and_test_commands_verbatim():
    first, second = quick_start_lines()
    ci = (ROOT / ".ci" / "run").read_text().splitlines()
    install = first.split(" && ")[0]
    assert install in ci, "CI must install exactly as the README says"
    assert second in ci, "CI must run the README's test command"
    assert "python3 -m venv .ci-venv" in ci
