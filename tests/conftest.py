"""Fixtures shared by several test modules, and the three test profiles.

The training profile (``make test``: the train, lm, dev, docs, ray and browser extras on
``constraints.txt``) runs everything but the browser tests. The core profile (``make test-modern``:
``SUBLIMINAL_GYM_TESTS=core``, a venv with the suite's own dependencies and Inspect AI at the newest
Gymnasium and NumPy, ``constraints-modern.txt``) runs every test that does not need the training stack:
the modules in :data:`TRAINING_MODULES` are not collected and tests marked ``training`` are skipped;
:data:`CORE_MODULES` run there only. The browser profile (``make test-browser``:
``SUBLIMINAL_GYM_TESTS=browser``) runs :data:`BROWSER_MODULES` with Debian's chromium. A library or
program a profile needs that is missing is an error, never a skip.
"""

from __future__ import annotations

import importlib.util
import os
import shutil
from typing import Any

import gymnasium as gym
import pytest

PROFILE = os.environ.get("SUBLIMINAL_GYM_TESTS", "training")
CORE_ONLY = PROFILE == "core"
#: Test modules that import the training stack (torch, stable-baselines3, imitation, scipy, the docs tools).
TRAINING_MODULES = (
    "test_artifacts.py", "test_benchmarks.py", "test_committed_results.py", "test_competence.py", "test_course.py",
    "test_hostile_submissions.py", "test_imitation_distill.py", "test_inference.py", "test_leaderboards.py",
    "test_leakage.py", "test_lm.py", "test_lora.py", "test_pipeline.py", "test_policies.py", "test_ray_backend.py",
    "test_reproduce.py", "test_reproduce_lm.py", "test_rl_teacher.py", "test_sanitize.py", "test_soft_distill.py",
    "test_teachers.py", "test_trajectories.py",
)
#: What the training profile must have (the train, lm, docs and ray extras).
TRAINING_LIBRARIES = ("torch", "stable_baselines3", "imitation", "scipy", "safetensors", "transformers", "nbformat",
                      "ray", "peft")
#: Test modules of the integrations that need NumPy 2 or a newer stack than imitation allows: the core profile only.
CORE_MODULES = ("test_inspect_tasks.py", "test_export_minari.py", "test_endpoint.py")
#: What the core profile must have (the test, inspect, minari and endpoint extras).
CORE_LIBRARIES = ("inspect_ai", "minari", "h5py", "openai")

#: The leaderboards page in a real browser (``make test-browser``: the training venv with the browser extra,
#: and Debian's chromium and chromedriver): the browser profile only, ``SUBLIMINAL_GYM_TESTS=browser``.
BROWSER_MODULES = ("test_board_page.py",)
BROWSER_LIBRARIES = ("selenium",)
BROWSER_PROGRAMS = ("chromium", "chromedriver")

collect_ignore = [*(TRAINING_MODULES if CORE_ONLY else CORE_MODULES),
                  *(BROWSER_MODULES if PROFILE != "browser" else ())]


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "training: needs the training stack (left out of the core profile)")
    profile, libraries = (("core", CORE_LIBRARIES) if CORE_ONLY else ("training", TRAINING_LIBRARIES))
    missing = [name for name in libraries if importlib.util.find_spec(name) is None]
    if PROFILE == "browser":
        missing += [name for name in BROWSER_LIBRARIES if importlib.util.find_spec(name) is None]
        missing += [name for name in BROWSER_PROGRAMS if shutil.which(name) is None]
        if missing:
            raise pytest.UsageError(f"the browser profile needs {', '.join(missing)} (make test-browser installs "
                                    "Debian's chromium and chromium-driver, and the browser extra)")
    if missing:
        raise pytest.UsageError(f"the {profile} profile needs {', '.join(missing)} (make install for the training "
                                "profile; make test-modern for the core one, SUBLIMINAL_GYM_TESTS=core)")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if CORE_ONLY:
        skip = pytest.mark.skip(reason="needs the training stack (core profile)")
        for item in items:
            if "training" in item.keywords:
                item.add_marker(skip)


class AuditEveryStep(gym.Wrapper):
    """An env careless with its audit: ``info["audit"]`` after the reset and every step."""

    def reset(self, **kwargs: Any) -> tuple[Any, dict[str, Any]]:
        observation, info = self.env.reset(**kwargs)
        return observation, {**info, "audit": self.env.unwrapped.audit.as_dict()}

    def step(self, action: Any) -> tuple[Any, float, bool, bool, dict[str, Any]]:
        observation, reward, terminated, truncated, info = self.env.step(action)
        return observation, reward, terminated, truncated, {"audit": self.env.unwrapped.audit.as_dict(), **info}


@pytest.fixture
def careless_audit_envs(monkeypatch: pytest.MonkeyPatch) -> Any:
    """``gym.make`` wraps every env in :class:`AuditEveryStep` for the test; yields the original ``gym.make``."""
    make = gym.make
    monkeypatch.setattr(gym, "make", lambda *args, **kwargs: AuditEveryStep(make(*args, **kwargs)))
    return make
