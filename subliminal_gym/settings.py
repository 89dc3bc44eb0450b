"""The suite's settings, found by name, env id or env: the one place that answers "which family is this?".

:data:`SETTINGS` holds :data:`~subliminal_gym.fs.setting.FS` and
:data:`~subliminal_gym.bash.setting.BASH`; :func:`setting_of` resolves anything that names one.
Code above the envs asks the setting instead of comparing names.
"""

from __future__ import annotations

from typing import Any

import gymnasium as gym

from subliminal_gym.bash.setting import BASH
from subliminal_gym.core.setting import Setting
from subliminal_gym.fs.setting import FS

__all__ = ["BASH", "FS", "SETTINGS", "Setting", "setting_of"]

#: Every setting by name, in the order reports list them.
SETTINGS: dict[str, Setting] = {setting.name: setting for setting in (FS, BASH)}


def setting_of(thing: Any) -> Setting:
    """The :class:`Setting` of ``thing``: a setting, its name (``"fs"``), a registered env id (any
    variant, or an id registered elsewhere with one of the suite's entry points) or an env.

    Raises:
        ValueError: ``thing`` names no setting of the suite.
    """
    if isinstance(thing, Setting):
        return thing
    if isinstance(thing, gym.Env):
        setting = getattr(thing.unwrapped, "setting", None)
        if isinstance(setting, Setting):
            return setting
        raise ValueError(f"{type(thing.unwrapped).__name__} is not a SubliminalFS or SubliminalBash env")
    if not isinstance(thing, str):
        raise ValueError(f"expected a setting, its name, an env id or an env; got {type(thing).__name__}")
    if thing in SETTINGS:
        return SETTINGS[thing]
    for setting in SETTINGS.values():
        if thing in setting.env_ids:
            return setting
    try:
        entry_point = str(gym.spec(thing).entry_point)
    except gym.error.Error:
        known = ", ".join([*SETTINGS, *(i for s in SETTINGS.values() for i in s.env_ids)])
        raise ValueError(f"unknown setting or env id {thing!r}; known: {known}") from None
    for setting in SETTINGS.values():
        if entry_point == setting.entry_point:
            return setting
    raise ValueError(f"{thing!r} is not a SubliminalFS or SubliminalBash env")
