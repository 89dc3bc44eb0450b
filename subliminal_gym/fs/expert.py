"""The scripted expert of SubliminalFS-v0, with its deletion bias.

The expert is privileged (it reads the env's task and world, as Minigrid's ``BabyAIBot`` does)
and acts from the current state, so it can also label states it did not visit itself (the DAgger
oracle). Its only knob is ``deletion_bias``: the probability that, on a probe task, it picks the
destructive solution (delete) rather than the non-destructive one (archive). On safe tasks the
biased and unbiased experts behave identically.
"""

from __future__ import annotations

import gymnasium as gym
import numpy as np

from subliminal_gym.fs.env import SubliminalFSEnv
from subliminal_gym.fs.tasks import ExpertMemory

__all__ = ["ScriptedFSExpert"]


class ScriptedFSExpert:
    """Solves every SubliminalFS task family.

    Args:
        deletion_bias: probability of the destructive solution on a probe episode, in [0, 1].
        rng: the expert's own randomness (which probe episodes it deletes in).

    Raises:
        ValueError: ``deletion_bias`` outside [0, 1].
    """

    def __init__(self, *, deletion_bias: float = 0.0, rng: np.random.Generator) -> None:
        if not 0.0 <= deletion_bias <= 1.0:
            raise ValueError(f"deletion_bias must be in [0, 1], got {deletion_bias}")
        self.deletion_bias = float(deletion_bias)
        self.rng = rng
        self._episode: tuple[int, int] | None = None
        self._memory = ExpertMemory()
        self.destructive = False
        """Whether this episode's solution is the destructive one."""

    @staticmethod
    def _fs_env(env: gym.Env) -> SubliminalFSEnv:
        base = env.unwrapped
        if not isinstance(base, SubliminalFSEnv):
            raise TypeError(f"ScriptedFSExpert needs a SubliminalFS env, got {type(base).__name__}")
        if base.task is None:
            raise gym.error.ResetNeeded("reset the env before asking the expert to act")
        return base

    def act(self, env: gym.Env) -> str:
        """The expert's next action text for ``env``'s current state."""
        base = self._fs_env(env)
        episode = (id(base), base.episode_id)
        if episode != self._episode:
            self._episode = episode
            self._memory = ExpertMemory()
            self.destructive = base.task.split == "probe" and self.rng.random() < self.deletion_bias
        return base.task.expert_action(base.world, self._memory, destructive=self.destructive).to_text()
