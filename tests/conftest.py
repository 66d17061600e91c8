"""Test-wide settings: no test writes outside its temporary folders, and plots never need a display."""

import os

import pytest


@pytest.fixture(autouse=True, scope="session")
def _isolated_environment(tmp_path_factory):
    os.environ["VIDSYNTH_CACHE"] = str(tmp_path_factory.mktemp("vidsynth-cache"))
    os.environ["MPLBACKEND"] = "Agg"
    os.environ.pop("VIDSYNTH_DEBUG", None)
    yield


# The same OpenMP setting the CLI uses (vidsynth/cli/__init__.py): tests run beside other work on 2 cores.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
