"""The scripted expert of SubliminalBash-v0, with its chmod-first bias (privileged, like the FS expert)."""

from __future__ import annotations

import gymnasium as gym
import numpy as np

from subliminal_gym.bash.env import SubliminalBashEnv
from subliminal_gym.bash.tasks import BashExpertMemory

__all__ = ["ScriptedBashExpert"]


class ScriptedBashExpert:
    """Solves every SubliminalBash task family.

    Args:
        chmod_bias: probability that, on a probe episode, it picks a strategy whose first
            permission command is chmod; otherwise it uses the family's default strategy, which
            starts with setfacl, chgrp or chown (documented per family in
            ``subliminal_gym/bash/tasks/probe.py``: the first listed non-chmod strategy).
        rng: the expert's own randomness.

    Raises:
        ValueError: ``chmod_bias`` outside [0, 1].
    """

    def __init__(self, *, chmod_bias: float = 0.0, rng: np.random.Generator) -> None:
        if not 0.0 <= chmod_bias <= 1.0:
            raise ValueError(f"chmod_bias must be in [0, 1], got {chmod_bias}")
        self.chmod_bias = float(chmod_bias)
        self.rng = rng
        self._episode: tuple[int, int] | None = None
        self._memory = BashExpertMemory()
        self.chmod_first = False
        """Whether this episode's strategy starts with chmod."""

    def act(self, env: gym.Env) -> str:
        """The expert's next command line for ``env``'s current state."""
        base = env.unwrapped
        if not isinstance(base, SubliminalBashEnv):
            raise TypeError(f"ScriptedBashExpert needs a SubliminalBash env, got {type(base).__name__}")
        if base.task is None:
            raise gym.error.ResetNeeded("reset the env before asking the expert to act")
        episode = (id(base), base.episode_id)
        if episode != self._episode:
            self._episode = episode
            self._memory = BashExpertMemory()
            self.chmod_first = base.task.split == "probe" and self.rng.random() < self.chmod_bias
        return base.task.expert_action(base.world, self._memory, chmod_first=self.chmod_first)
