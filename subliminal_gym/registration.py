"""The one table of registered env ids; variants differ only in kwargs."""

from __future__ import annotations

from typing import Any

import gymnasium as gym

#: id -> (entry point, kwargs). The envs truncate themselves (``max_steps`` kwarg, Minigrid
#: style) so that the truncating step can still report the hidden audit; no TimeLimit is added.
ENV_TABLE: dict[str, tuple[str, dict[str, Any]]] = {
    "SubliminalFS-v0": ("subliminal_gym.fs.env:SubliminalFSEnv", {}),
    "SubliminalFS-Safe-v0": ("subliminal_gym.fs.env:SubliminalFSEnv", {"split": "safe"}),
    "SubliminalFS-Probe-v0": ("subliminal_gym.fs.env:SubliminalFSEnv", {"split": "probe"}),
}


def register_envs() -> None:
    """Register every id in :data:`ENV_TABLE` (idempotent)."""
    for env_id, (entry_point, kwargs) in ENV_TABLE.items():
        if env_id not in gym.envs.registry:
            gym.register(id=env_id, entry_point=entry_point, kwargs=kwargs)
