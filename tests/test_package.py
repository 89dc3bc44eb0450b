"""The install layout: the folder is the import path, and what ships is what the tests import."""

from __future__ import annotations

import importlib
import os
import re
import subprocess
import sys
import sysconfig
import tarfile
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "subliminal_gym"


def _source_modules() -> set[str]:
    """Every module under subliminal_gym/, named by its path."""
    names = set()
    for path in PACKAGE.rglob("*.py"):
        parts = path.relative_to(ROOT).with_suffix("").parts
        names.add(".".join(parts[:-1] if parts[-1] == "__init__" else parts))
    return names


#: Modules of optional integrations -> the library their extra installs (the training profile lacks it).
OPTIONAL_INTEGRATIONS = {"subliminal_gym.inspect_tasks": "inspect_ai"}


@pytest.mark.training
def test_every_folder_is_its_import_path():
    for name in ("subliminal_gym.baselines", "subliminal_gym.baselines.lm", "subliminal_gym.baselines.reproduce",
                 "subliminal_gym.leaderboards"):
        module = importlib.import_module(name)
        assert Path(module.__file__).resolve().parent == ROOT / Path(*name.split("."))


def test_the_top_level_folders_hold_data_and_scripts_not_packages():
    # baselines/ holds the scripts that make the boards' baseline entries, leaderboards/ the board data
    for folder in ("baselines", "leaderboards"):
        assert not (ROOT / folder / "__init__.py").exists()
    assert (ROOT / "leaderboards" / "agents" / "entries").is_dir()
    assert (ROOT / "baselines" / "make_board_entries.py").is_file()


def test_package_is_typed():
    import subliminal_gym

    assert (Path(subliminal_gym.__file__).parent / "py.typed").exists()


def test_ci_runs_the_readme_test_commands():
    readme = (ROOT / "README.md").read_text()
    ci = (ROOT / ".ci" / "run").read_text()
    ci_targets = re.findall(r"^make ([\w-]+)$", ci, re.MULTILINE)
    readme_targets = set(re.findall(r"^make ([\w-]+) +#", readme, re.MULTILINE))
    assert ci_targets and set(ci_targets) <= readme_targets
    assert {t for t in readme_targets if t.startswith("test") or t == "lint"} == set(ci_targets)
    assert {"lint", "test", "test-full", "test-modern", "test-browser"} <= set(ci_targets)


def _run(command: list[str], **kwargs) -> subprocess.CompletedProcess:
    result = subprocess.run(command, capture_output=True, text=True, timeout=600, **kwargs)
    assert result.returncode == 0, f"{' '.join(command)} failed:\n{result.stdout[-3000:]}\n{result.stderr[-3000:]}"
    return result


@pytest.mark.slow
def test_the_built_wheel_installs_and_ships_every_module(tmp_path):
    """Build the sdist and wheel, install the wheel alone into a fresh virtual environment (its
    dependencies come from this one's site-packages, without the editable install), then import every
    module it ships, make every registered id and run the command line."""
    dist = tmp_path / "dist"
    # the wheel is built from the sdist, so an incomplete sdist fails here (and nothing is built in the tree)
    _run([sys.executable, "-m", "build", "--no-isolation", "--outdir", str(dist), str(ROOT)])
    wheel = next(dist.glob("*.whl"))
    sdist = next(dist.glob("*.tar.gz"))
    shipped = set()
    with zipfile.ZipFile(wheel) as archive:
        files = archive.namelist()
    for name in files:
        if name.endswith(".py"):
            parts = Path(name).with_suffix("").parts
            shipped.add(".".join(parts[:-1] if parts[-1] == "__init__" else parts))
    assert shipped == _source_modules()
    assert "subliminal_gym/py.typed" in files
    assert not any(name.startswith(("leaderboards/", "baselines/", "tests/")) for name in files)
    assert not any(name.endswith(".safetensors") for name in files)  # board data is not package code
    with tarfile.open(sdist) as archive:
        members = {Path(m.name).relative_to(Path(m.name).parts[0]).as_posix() for m in archive.getmembers()
                   if len(Path(m.name).parts) > 1}
    assert {"pyproject.toml", "README.md", "subliminal_gym/baselines/lm/agent.py"} <= members

    venv = tmp_path / "venv"
    _run([sys.executable, "-m", "venv", "--without-pip", str(venv)])
    python = venv / "bin" / "python"
    site = Path(_run([str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"]).stdout.strip())
    # this environment's dependencies, added as a plain path: its .pth files (the editable install) stay inactive
    (site / "dependencies.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    _run([sys.executable, "-m", "pip", "--python", str(python), "install", "--no-deps", "--no-index", "-q",
          str(wheel)], env={**os.environ, "PIP_DISABLE_PIP_VERSION_CHECK": "1"})
    check = f"""
import importlib, importlib.util, gymnasium as gym, subliminal_gym
assert subliminal_gym.__file__.startswith({str(site)!r}), subliminal_gym.__file__
for name in sorted({sorted(shipped)!r}):
    if name in {OPTIONAL_INTEGRATIONS!r} and importlib.util.find_spec({OPTIONAL_INTEGRATIONS!r}[name]) is None:
        try:  # an extra this environment lacks: one clear error naming it
            importlib.import_module(name)
        except ModuleNotFoundError as exc:
            assert "pip install 'subliminal-gym[" in str(exc), exc
        else:
            raise AssertionError(name + " imported without its extra")
        continue
    importlib.import_module(name)
for env_id in subliminal_gym.ENV_TABLE:
    env = gym.make(env_id)
    env.reset(seed=0)
    env.close()
print("ok")
"""
    assert _run([str(python), "-I", "-c", check], cwd=tmp_path).stdout.strip() == "ok"
    help_text = _run([str(venv / "bin" / "subliminal-gym"), "--help"], cwd=tmp_path).stdout
    for command in ("play", "demo", "evaluate", "reproduce", "leaderboard"):
        assert command in help_text
    # outside a clone, the scorer asks for the boards folder instead of writing into site-packages
    result = subprocess.run([str(venv / "bin" / "subliminal-gym"), "leaderboard", "render"], cwd=tmp_path,
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 2 and "--boards" in result.stderr and len(result.stderr.splitlines()) == 1


def test_the_layer_contracts_name_every_module_of_the_suite():
    """A new module of the suite must be placed in the layer contracts (``make lint`` checks them)."""
    import tomllib

    contracts = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["importlinter"]["contracts"]
    suite = next(c for c in contracts if c["name"].startswith("The suite never imports"))
    upper = {"subliminal_gym.baselines", "subliminal_gym.leaderboards", "subliminal_gym.cli"}
    assert set(suite["forbidden_modules"]) == upper
    top_level = {f"subliminal_gym.{p.stem if p.suffix else p.name}" for p in PACKAGE.iterdir()
                 if (p.suffix == ".py" and p.stem != "__init__") or (p / "__init__.py").is_file()}
    assert top_level - upper == set(suite["source_modules"])


@pytest.mark.parametrize("module", ["subliminal_gym.baselines.evaluation", "subliminal_gym.cli"])
def test_the_evaluator_and_the_command_line_import_without_torch(module):
    code = (f"import sys, time; t = time.perf_counter(); import {module}; "
            "print(time.perf_counter() - t, 'torch' in sys.modules, 'transformers' in sys.modules)")
    seconds, torch_loaded, transformers_loaded = _run([sys.executable, "-c", code]).stdout.split()
    assert torch_loaded == "False" and transformers_loaded == "False"
    assert float(seconds) < 1.5, f"importing {module} took {float(seconds):.2f} s"
