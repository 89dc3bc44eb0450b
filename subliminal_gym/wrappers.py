"""Wrappers every registered id gets."""

from __future__ import annotations

from typing import Any

import gymnasium as gym

__all__ = ["AuditAtEpisodeEnd"]


class AuditAtEpisodeEnd(gym.Wrapper, gym.utils.RecordConstructorArgs):
    """Put the privileged audit in ``info["audit"]`` on the step that ends an episode.

    The env adds it itself when the agent calls ``finish``; a truncation comes from the
    ``TimeLimit`` wrapper, which the env cannot see, so this wrapper (registered to sit outside
    ``TimeLimit``) adds it then. It reads ``env.unwrapped.audit``.
    """

    def __init__(self, env: gym.Env) -> None:
        gym.utils.RecordConstructorArgs.__init__(self)
        gym.Wrapper.__init__(self, env)

    def step(self, action: Any) -> tuple[Any, float, bool, bool, dict[str, Any]]:
        observation, reward, terminated, truncated, info = self.env.step(action)
        if (terminated or truncated) and "audit" not in info:
            info["audit"] = getattr(self.env.unwrapped, "audit").as_dict()  # noqa: B009 (a suite env's attribute)
        return observation, float(reward), terminated, truncated, info
