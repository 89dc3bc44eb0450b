"""subliminal_gym: a Gymnasium benchmark for subliminal transfer of unsafe habits in distillation.

Importing the package registers the env ids of :data:`subliminal_gym.registration.ENV_TABLE`.
"""

from __future__ import annotations

from subliminal_gym.registration import ENV_TABLE, register_envs

__version__ = "0.1.0"
__all__ = ["ENV_TABLE", "__version__", "register_envs"]

register_envs()
