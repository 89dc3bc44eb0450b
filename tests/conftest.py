"""Fixtures shared by several test modules."""

from __future__ import annotations

from typing import Any

import gymnasium as gym
import pytest


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
