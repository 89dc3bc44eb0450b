"""The RL teacher: SB3's PPO trains a :class:`SlotScoringPolicy` on the vector views from the task reward alone.

The reward is the env's own (``+1`` for a task the checker accepts, minus a small cost per step);
nothing rewards or punishes a habit. Whatever bias the teacher ends up with (deleting on the FS
probes, ``chmod`` first in Bash) therefore *emerges* from the step costs and the tasks, unlike the
scripted teachers whose bias is a knob. The audit is never shown to the policy: PPO only sees the
view's observation vector, and :class:`~subliminal_gym.views.DiscreteActionView` builds it from the
honest ``info``.

    policy, log = train_rl_teacher("SubliminalFS-v0", total_timesteps=100_000, seed=0)

Training is deterministic given ``seed`` (PPO's seeding plus the vec env's reset seeds) on one
CPU thread.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Any

import gymnasium as gym
import numpy as np
import torch as th
from stable_baselines3 import PPO
from stable_baselines3.common.callbacks import BaseCallback
from stable_baselines3.common.monitor import Monitor
from stable_baselines3.common.vec_env import DummyVecEnv

from subliminal_gym.baselines.agents import find_view
from subliminal_gym.baselines.policies import (
    ARCHITECTURES,
    PolicyArch,
    SlotScoringPolicy,
    build_policy,
    flush_denormals,
)
from subliminal_gym.progress import progress_bar
from subliminal_gym.views import make_view_env

__all__ = ["DEFAULT_PPO_KWARGS", "RLTeacherLog", "train_rl_teacher"]

#: PPO settings for short (<= 40 step), sparse-reward episodes; ``ppo_kwargs`` overrides any of them.
DEFAULT_PPO_KWARGS: dict[str, Any] = {
    "n_steps": 256,
    "batch_size": 256,
    "n_epochs": 4,
    "learning_rate": 3e-4,
    "ent_coef": 0.01,
    "gamma": 0.99,
    "gae_lambda": 0.95,
    "clip_range": 0.2,
}
_RESERVED = {"policy", "env", "seed", "policy_kwargs", "device"}
_WINDOW = 100


@dataclass(frozen=True)
class RLTeacherLog:
    """What a PPO run did (the last-100 figures are over the training episodes, not an evaluation)."""

    env_id: str
    """The env trained on."""
    seed: int
    """PPO's and the vec env's seed."""
    timesteps: int
    """Environment steps taken (a whole number of rollouts: at least ``total_timesteps``)."""
    episodes: int
    """Episodes finished during training."""
    mean_return: float
    """Mean episode return over the last 100 training episodes (nan if none finished)."""
    success_rate: float
    """Share of the last 100 training episodes the checker accepted (nan if none finished)."""
    wall_time_s: float
    """Seconds the training took."""

    @property
    def steps_per_second(self) -> float:
        """Training throughput (env steps and PPO updates together)."""
        return self.timesteps / self.wall_time_s if self.wall_time_s > 0 else float("nan")

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready fields (plus ``steps_per_second``)."""
        return {**asdict(self), "steps_per_second": self.steps_per_second}


class _EpisodeTracker(BaseCallback):
    """Counts finished episodes and keeps the returns and successes of the last :data:`_WINDOW`."""

    def __init__(self, advance: Callable[..., None]) -> None:
        super().__init__()
        self.advance = advance
        self.episodes = 0
        self.returns: deque[float] = deque(maxlen=_WINDOW)
        self.successes: deque[bool] = deque(maxlen=_WINDOW)

    def _on_step(self) -> bool:
        for info in self.locals["infos"]:
            episode = info.get("episode")  # added by Monitor on the last step of an episode
            if episode is not None:
                self.episodes += 1
                self.returns.append(float(episode["r"]))
                self.successes.append(bool(info.get("success", False)))
        self.advance(len(self.locals["infos"]))
        return True


def _resolve_arch(arch: str | PolicyArch) -> PolicyArch:
    if isinstance(arch, PolicyArch):
        return arch
    if arch not in ARCHITECTURES:
        raise KeyError(f"unknown architecture {arch!r}; known: {', '.join(ARCHITECTURES)}")
    return ARCHITECTURES[arch]


def _env_factory(env_id: str, env_kwargs: dict[str, Any]) -> Callable[[], gym.Env]:
    return lambda: Monitor(make_view_env(env_id, **env_kwargs))


def train_rl_teacher(
    env_id: str,
    *,
    total_timesteps: int,
    seed: int,
    arch: str | PolicyArch = "large",
    split: str = "all",
    task_family: str | None = None,
    n_envs: int = 4,
    ppo_kwargs: dict[str, Any] | None = None,
    init: SlotScoringPolicy | None = None,
    progress: bool = False,
) -> tuple[SlotScoringPolicy, RLTeacherLog]:
    """Train a :class:`SlotScoringPolicy` with PPO on ``n_envs`` views of ``env_id`` (training task seeds).

    Sets torch to one thread (small nets train faster and reproducibly that way) and, as SB3
    does, seeds Python's, NumPy's and torch's global generators with ``seed``.

    Args:
        env_id: a suite id, e.g. ``"SubliminalFS-v0"``.
        total_timesteps: env steps to train for (rounded up to whole rollouts by SB3).
        seed: seeds PPO (network initialisation, sampling, minibatches) and the envs' resets.
        arch: an :data:`ARCHITECTURES` name or a :class:`PolicyArch`.
        split: "readonly", "safe", "probe" or "all" task families.
        task_family: train on one family only (overrides ``split``).
        n_envs: parallel views in the ``DummyVecEnv``.
        ppo_kwargs: overrides of :data:`DEFAULT_PPO_KWARGS` (any ``PPO`` argument except
            ``policy``, ``env``, ``seed``, ``policy_kwargs`` and ``device``).
        init: start from these weights instead of a fresh initialisation (e.g. a pretrained base);
            its architecture must be ``arch``.
        progress: show a progress bar over timesteps.

    Returns:
        A standalone copy of the trained policy (in evaluation mode) and the run's :class:`RLTeacherLog`.

    Raises:
        KeyError: an unknown architecture name.
        ValueError: a non-positive ``total_timesteps`` or ``n_envs``, a reserved key in
            ``ppo_kwargs``, ``init`` not matching ``arch`` or the env's layout, or bad env arguments.
        TypeError: ``env_id`` is not a SubliminalFS or SubliminalBash env.
    """
    if total_timesteps < 1 or n_envs < 1:
        raise ValueError(f"total_timesteps and n_envs must be positive, got {total_timesteps} and {n_envs}")
    reserved = _RESERVED & set(ppo_kwargs or {})
    if reserved:
        raise ValueError(f"ppo_kwargs may not set {', '.join(sorted(reserved))}")
    resolved = _resolve_arch(arch)
    th.set_num_threads(1)

    env_kwargs: dict[str, Any] = {"split": split, "task_family": task_family, "seed_range": "train"}
    venv = DummyVecEnv([_env_factory(env_id, env_kwargs) for _ in range(n_envs)])
    layout = find_view(venv.envs[0]).layout
    if init is not None and (init.arch != resolved or init.layout != layout):
        venv.close()
        raise ValueError(f"init has arch {init.arch} and layout {init.layout}; expected {resolved} and {layout}")

    kwargs = {**DEFAULT_PPO_KWARGS, **(ppo_kwargs or {})}
    kwargs.setdefault("verbose", 0)
    model = PPO(SlotScoringPolicy, venv, seed=seed, device="cpu",
                policy_kwargs={"layout": layout.to_dict(), "arch": resolved.to_dict()}, **kwargs)
    if init is not None:
        model.policy.load_state_dict(init.state_dict())
    start = time.perf_counter()
    with flush_denormals(), progress_bar(total_timesteps, "PPO steps", enabled=progress) as advance:
        tracker = _EpisodeTracker(advance)
        model.learn(total_timesteps=total_timesteps, callback=tracker)
    wall = time.perf_counter() - start
    venv.close()

    policy = build_policy(layout, resolved, seed=0)
    policy.load_state_dict(model.policy.state_dict())
    policy.set_training_mode(False)
    log = RLTeacherLog(
        env_id=env_id, seed=seed, timesteps=int(model.num_timesteps), episodes=tracker.episodes,
        mean_return=float(np.mean(tracker.returns)) if tracker.returns else float("nan"),
        success_rate=float(np.mean(tracker.successes)) if tracker.successes else float("nan"),
        wall_time_s=wall,
    )
    return policy, log
