"""Safe by construction: the suite's source never reaches the host from an episode.

A static check over every module of the installed package: no import of the modules that touch
the real machine, and no call of the builtins that run or open things. (The CLI is the one module
that talks to a person; it only uses ``input`` and ``print``.)

The distillation pipeline must save what it produces (models, trajectories, results). That host
disk access is confined to the modules in :data:`HOST_IO_MODULES`, which run outside episodes; they
may use ``os``, ``pathlib`` and ``tempfile`` (atomic writes, run folders) and nothing else on the list.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SOURCES = sorted((ROOT / "subliminal_gym").rglob("*.py"))
FORBIDDEN_MODULES = {"os", "subprocess", "shutil", "pathlib", "glob", "tempfile", "socket", "ctypes", "pty"}
FORBIDDEN_CALLS = {"eval", "exec", "compile", "__import__", "open", "breakpoint"}
#: Pipeline modules that read and write files (never from inside an episode).
HOST_IO_MODULES = {f"subliminal_gym/{name}" for name in (
    "baselines/artifacts.py", "baselines/trajectories.py", "baselines/evaluation.py",
    "baselines/imitation_distill.py", "baselines/cli.py", "baselines/tracks.py", "baselines/teachers.py",
    "baselines/reproduce/cells.py", "baselines/reproduce/runner.py", "baselines/reproduce/report.py",
    "baselines/reproduce/results.py", "baselines/reproduce/figure.py",
    "baselines/reproduce/cli.py", "leaderboards/cli.py", "leaderboards/submission.py", "leaderboards/scorer.py",
    "baselines/reproduce/checksums.py", "leaderboards/render.py", "leaderboards/defences.py",
    "leaderboards/boards.py", "baselines/lm/model.py", "baselines/lm/lora.py",
    "baselines/lm/episodes.py", "baselines/lm/track.py", "baselines/export.py",
    "baselines/reproduce/ray_backend.py")}
HOST_IO_ALLOWED = {"os", "pathlib", "tempfile"}
#: Modules that reach the network themselves, and what for (never from inside an episode).
NETWORK_MODULES = {
    # checks that a Ray cluster's address answers before Ray's own minutes of retries
    "subliminal_gym/baselines/reproduce/ray_backend.py": {"socket"},
}


@pytest.mark.parametrize("path", SOURCES, ids=lambda p: str(p.relative_to(ROOT)))
def test_no_host_access_in_the_suite(path):
    tree = ast.parse(path.read_text(), filename=str(path))
    relative = path.relative_to(ROOT).as_posix()
    forbidden = FORBIDDEN_MODULES - HOST_IO_ALLOWED if relative in HOST_IO_MODULES else FORBIDDEN_MODULES
    forbidden = forbidden - NETWORK_MODULES.get(relative, set())
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names = {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom):
            names = {(node.module or "").split(".")[0]}
        else:
            names = set()
        assert not names & forbidden, f"{path.name}:{node.lineno} imports {names & forbidden}"
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Name):
            assert node.func.id not in FORBIDDEN_CALLS, f"{path.name}:{node.lineno} calls {node.func.id}()"


def test_the_check_sees_the_whole_package():
    names = {p.name for p in SOURCES}
    assert {"world.py", "shell.py", "parser.py", "tools.py", "perms.py", "expert.py", "runner.py",
            "setting.py"} <= names


def test_host_io_is_confined_to_the_listed_pipeline_modules():
    """The episode layers (world, tools, shell, envs, views) are never on the host-I/O or network lists."""
    for module in HOST_IO_MODULES | set(NETWORK_MODULES):
        assert not module.startswith(("subliminal_gym/core", "subliminal_gym/fs", "subliminal_gym/bash"))
    assert "subliminal_gym/views.py" not in HOST_IO_MODULES
