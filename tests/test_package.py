"""The install layout of the design card."""

from __future__ import annotations

import importlib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_top_level_folders_install_inside_the_suite_namespace():
    baselines = importlib.import_module("subliminal_gym.baselines")
    leaderboards = importlib.import_module("subliminal_gym.leaderboards")
    assert Path(baselines.__file__).resolve().parent == ROOT / "baselines"
    assert Path(leaderboards.__file__).resolve().parent == ROOT / "leaderboards"
    assert importlib.import_module("subliminal_gym.baselines.scripted").ScriptedFSExpert


def test_package_is_typed():
    import subliminal_gym

    assert (Path(subliminal_gym.__file__).parent / "py.typed").exists()


def test_ci_runs_the_readme_test_command():
    readme = (ROOT / "README.md").read_text()
    ci = (ROOT / ".ci" / "run").read_text()
    assert "make test" in readme and "make demo" in readme
    assert "make test" in ci
