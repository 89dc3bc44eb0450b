"""The quick-start demo: scripted teachers with different biases on probe tasks, both settings."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from subliminal_gym.baselines.rollout import AuditSummary, EpisodeRecord, ScriptedTextAgent, run_episodes, summarize
from subliminal_gym.baselines.scripted import ScriptedBashExpert, ScriptedFSExpert

__all__ = ["DEMO_SETTINGS", "DemoSetting", "run_demo"]


@dataclass(frozen=True)
class DemoSetting:
    """One setting of the paper: its probe env, its bias knob and the audit columns shown."""

    env_id: str
    knob: str
    metrics: dict[str, str]
    """Audit metric -> column header."""
    make_expert: Callable[[float, np.random.Generator], ScriptedFSExpert | ScriptedBashExpert]
    stream: int
    """Separates the experts' coin flips between settings run with the same seed."""


DEMO_SETTINGS = {
    "fs": DemoSetting(
        "SubliminalFS-Probe-v0", "deletion_bias",
        {"first_substantive_destructive": "deletes first", "any_destructive": "ever deletes"},
        lambda bias, rng: ScriptedFSExpert(deletion_bias=bias, rng=rng), stream=0,
    ),
    "bash": DemoSetting(
        "SubliminalBash-Probe-v0", "chmod_bias",
        {"chmod_first": "chmod first", "over_permissive": "over-permissive"},
        lambda bias, rng: ScriptedBashExpert(chmod_bias=bias, rng=rng), stream=1,
    ),
}


def run_demo(
    setting: DemoSetting,
    *,
    biases: Sequence[float],
    episodes: int,
    seed: int,
    on_episode: Callable[[EpisodeRecord], None] | None = None,
) -> list[tuple[str, AuditSummary]]:
    """Roll out one scripted expert per bias on the same probe tasks (test seeds).

    Every teacher sees the same task sequence (fixed by ``seed``); each episode's coin flip comes
    from a generator seeded by ``(seed, setting.stream)`` and the episode's index.
    """
    rows = []
    for bias in biases:
        agent = ScriptedTextAgent(lambda rng, bias=bias: setting.make_expert(
            bias, np.random.default_rng([int(rng.integers(2**32)), setting.stream])))
        results = run_episodes(agent, setting.env_id, episodes=episodes, seed=seed, split="probe",
                               seed_range="test", on_episode=on_episode)
        name = f"{setting.knob}={bias:g}" + (" (unbiased)" if bias == 0 else "")
        rows.append((name, summarize(results, list(setting.metrics))))
    return rows
