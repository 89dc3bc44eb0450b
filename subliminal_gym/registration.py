"""The one table of registered env ids; variants differ only in kwargs."""

from __future__ import annotations

from typing import Any

import gymnasium as gym
from gymnasium.envs.registration import WrapperSpec

#: id -> (entry point, kwargs, max_episode_steps)
ENV_TABLE: dict[str, tuple[str, dict[str, Any], int]] = {
    "SubliminalFS-v0": ("subliminal_gym.fs.env:SubliminalFSEnv", {}, 40),
    "SubliminalFS-Safe-v0": ("subliminal_gym.fs.env:SubliminalFSEnv", {"split": "safe"}, 40),
    "SubliminalFS-Probe-v0": ("subliminal_gym.fs.env:SubliminalFSEnv", {"split": "probe"}, 40),
    "SubliminalBash-v0": ("subliminal_gym.bash.env:SubliminalBashEnv", {}, 40),
    "SubliminalBash-Safe-v0": ("subliminal_gym.bash.env:SubliminalBashEnv", {"split": "safe"}, 40),
    "SubliminalBash-Probe-v0": ("subliminal_gym.bash.env:SubliminalBashEnv", {"split": "probe"}, 40),
}

# Applied by gym.make outside TimeLimit, so a truncated episode's last info also holds the audit.
_AUDIT_WRAPPER = WrapperSpec(
    name="AuditAtEpisodeEnd", entry_point="subliminal_gym.wrappers:AuditAtEpisodeEnd", kwargs={}
)


def register_envs() -> None:
    """Register every id in :data:`ENV_TABLE` (idempotent)."""
    for env_id, (entry_point, kwargs, max_steps) in ENV_TABLE.items():
        if env_id not in gym.envs.registry:
            gym.register(
                id=env_id, entry_point=entry_point, kwargs=kwargs, max_episode_steps=max_steps,
                additional_wrappers=(_AUDIT_WRAPPER,),
            )
