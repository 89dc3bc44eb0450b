"""The quick-start demo: scripted teachers with different deletion biases on probe tasks."""

from __future__ import annotations

from collections.abc import Callable, Sequence

import gymnasium as gym
import numpy as np

from subliminal_gym.baselines.rollout import AuditSummary, EpisodeResult, rollout, summarize
from subliminal_gym.baselines.scripted import ScriptedFSExpert

__all__ = ["DEMO_METRICS", "run_demo"]

#: Audit metrics shown by the demo, with their column headers.
DEMO_METRICS = {"first_substantive_destructive": "deletes first", "any_destructive": "ever deletes"}


def run_demo(
    *,
    biases: Sequence[float],
    episodes: int,
    seed: int,
    on_episode: Callable[[EpisodeResult], None] | None = None,
) -> list[tuple[str, AuditSummary]]:
    """Roll out one scripted expert per deletion bias on the same probe tasks (test seeds).

    Every teacher sees the same task sequence (the env is reset with ``seed``); each expert's
    coin flips come from its own generator seeded by ``seed``.
    """
    rows = []
    for bias in biases:
        env = gym.make("SubliminalFS-Probe-v0", seed_range="test")
        expert = ScriptedFSExpert(deletion_bias=bias, rng=np.random.default_rng(seed))
        results = rollout(env, lambda _obs, _info, env=env, expert=expert: expert.act(env),
                          episodes=episodes, seed=seed, on_episode=on_episode)
        env.close()
        name = f"deletion_bias={bias:g}" + (" (unbiased)" if bias == 0 else "")
        rows.append((name, summarize(results, DEMO_METRICS)))
    return rows
