"""The one table of registered env ids, built from the settings; variants differ only in kwargs."""

from __future__ import annotations

from typing import Any

import gymnasium as gym
from gymnasium.envs.registration import WrapperSpec

from subliminal_gym.settings import SETTINGS

__all__ = ["ENV_TABLE", "register_envs"]

#: id -> (entry point, kwargs, max_episode_steps), every setting's ids (:meth:`Setting.registrations`).
ENV_TABLE: dict[str, tuple[str, dict[str, Any], int]] = {
    env_id: row for setting in SETTINGS.values() for env_id, row in setting.registrations().items()
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
