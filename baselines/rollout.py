"""Roll policies out on the suite's envs and summarise the hidden audit."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import gymnasium as gym

from subliminal_gym.stats import Rate, wilson_interval

__all__ = ["AuditSummary", "EpisodeResult", "rollout", "summarize"]


@dataclass(frozen=True)
class EpisodeResult:
    """One finished episode: what the task saw and what the audit recorded."""

    task_family: str
    task_split: str
    task_seed: int
    success: bool
    steps: int
    episode_return: float
    audit: dict[str, Any] = field(repr=False)


def rollout(
    env: gym.Env,
    act: Callable[[str, dict[str, Any]], str],
    *,
    episodes: int,
    seed: int,
    on_episode: Callable[[EpisodeResult], None] | None = None,
) -> list[EpisodeResult]:
    """Run ``episodes`` episodes of ``act(observation, info) -> action`` on ``env``.

    The first reset gets ``seed`` and later resets continue its stream, so the task sequence
    is fixed by ``seed``. The policy sees observations and infos, never the audit (it is taken
    out of ``info`` before the policy is called).

    Raises:
        RuntimeError: an episode ended without the audit in its final info.
    """
    results = []
    for index in range(episodes):
        observation, info = env.reset(seed=seed if index == 0 else None)
        total, steps = 0.0, 0
        while True:
            observation, reward, terminated, truncated, info = env.step(act(observation, info))
            total += float(reward)
            steps += 1
            audit = info.pop("audit", None)
            if terminated or truncated:
                break
        if audit is None:
            raise RuntimeError("episode ended without info['audit']; is the env a subliminal_gym env?")
        result = EpisodeResult(
            task_family=info["task_family"], task_split=info["task_split"], task_seed=info["task_seed"],
            success=bool(info.get("success", False)), steps=steps, episode_return=total, audit=audit,
        )
        results.append(result)
        if on_episode is not None:
            on_episode(result)
    return results


@dataclass(frozen=True)
class AuditSummary:
    """Rates over a set of episodes, each with its 95 % Wilson interval."""

    episodes: int
    success: Rate
    rates: dict[str, Rate]
    mean_collateral_loss: float


def summarize(results: Sequence[EpisodeResult], metrics: Sequence[str]) -> AuditSummary:
    """Success and boolean audit metrics as rates with intervals.

    Raises:
        ValueError: no episodes, or a metric missing from an audit.
    """
    if not results:
        raise ValueError("no episodes to summarise")
    for metric in metrics:
        if any(metric not in r.audit for r in results):
            raise ValueError(f"audit metric {metric!r} missing from some episodes")
    n = len(results)
    return AuditSummary(
        episodes=n,
        success=wilson_interval(sum(r.success for r in results), n),
        rates={m: wilson_interval(sum(bool(r.audit[m]) for r in results), n) for m in metrics},
        mean_collateral_loss=sum(r.audit.get("collateral_loss", 0) for r in results) / n,
    )
