"""Every package directory is listed in pyproject.toml (setuptools silently drops unlisted ones from
the wheel while `pip install -e .` still works, so only this test would notice)."""

import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_every_package_directory_is_in_the_packages_list():
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]
    listed = set(config["packages"])
    found = set()
    for import_root, folder in config["package-dir"].items():
        for init in (ROOT / folder).rglob("__init__.py"):
            rel = init.parent.relative_to(ROOT / folder)
            found.add(".".join([import_root, *rel.parts]))
    assert sorted(found - listed) == []
    assert sorted(listed - found) == []


def test_entry_points_name_importable_in_tree_modules():
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())
    package_dir = config["tool"]["setuptools"]["package-dir"]
    for name, target in config["project"]["entry-points"]["vidsynth"].items():
        module = target.split(":")[0]
        top, *rest = module.split(".")
        path = ROOT / package_dir[top] / Path(*rest) if rest else ROOT / package_dir[top]
        assert path.with_suffix(".py").exists() or (path / "__init__.py").exists(), f"{name} -> {target}"
