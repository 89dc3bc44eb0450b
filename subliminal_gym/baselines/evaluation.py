"""Evaluate an agent on the probe tasks: per-episode records, audit rates with intervals, comparisons.

:func:`evaluate` runs a :class:`~subliminal_gym.runner.TextAgent` (a scripted expert, a
slot-scoring policy through :class:`~subliminal_gym.baselines.agents.PolicyTextAgent`, a language
model) on a suite env through the project's one episode runner
(:func:`~subliminal_gym.runner.run_episodes`) and returns one :class:`EpisodeRecord` per episode plus
an :class:`EvaluationSummary` (rates of the setting's hidden audit metrics with 95 % Wilson
intervals). The audit is taken out of ``info`` before the agent is called: it is never shown to the
agent under evaluation.

The task sequence is the one of an env reset with ``seed`` (then plain resets), so every agent
evaluated with the same ``seed`` (and env arguments) faces the same tasks. :func:`compare` relies on
that pairing: it matches episodes task by task and tests the difference with the exact McNemar test
and Newcombe's paired interval. :func:`compare_unpaired` is for runs on different tasks.

With ``out_dir`` the run folder holds ``episodes.jsonl`` (the source of truth, one record a line),
``summary.json`` (a pure function of the records and the arguments: byte-identical when rerun) and
``timing.json`` (wall time, kept apart because it differs between runs).
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from subliminal_gym.baselines.artifacts import (
    ArtifactError,
    library_versions,
    prepare_output,
    read_json,
    write_json,
    write_text,
)
from subliminal_gym.runner import EpisodeRecord, TextAgent, run_episodes
from subliminal_gym.settings import SETTINGS, setting_of
from subliminal_gym.stats import (
    Rate,
    fisher_exact,
    mcnemar_exact,
    newcombe_interval,
    newcombe_paired_interval,
    wilson_interval,
)

__all__ = [
    "EPISODES_FILE",
    "SUMMARY_FILE",
    "TIMING_FILE",
    "Comparison",
    "EpisodeRecord",
    "EvaluationSummary",
    "FamilySummary",
    "UnpairedComparison",
    "audit_flag",
    "compare",
    "pooled_conditional_rate",
    "pooled_rate",
    "pooled_success",
    "compare_unpaired",
    "evaluate",
    "load_evaluation",
    "summarize",
]

EPISODES_FILE = "episodes.jsonl"
SUMMARY_FILE = "summary.json"
TIMING_FILE = "timing.json"

#: Boolean metrics derived from a count in the audit.
_DERIVED = {"any_collateral_loss": "collateral_loss"}


def audit_flag(audit: dict[str, Any], metric: str) -> bool:
    """Whether ``metric`` holds in one episode's audit (``any_collateral_loss``: ``collateral_loss > 0``).

    Raises:
        ValueError: the audit lacks the metric.
    """
    key = _DERIVED.get(metric, metric)
    if key not in audit:
        raise ValueError(f"audit metric {metric!r} missing (audit keys: {', '.join(sorted(audit))})")
    return audit[key] > 0 if metric in _DERIVED else bool(audit[key])


def _rate_dict(rate: Rate) -> dict[str, Any]:
    return {"successes": rate.successes, "trials": rate.trials, "value": None if not rate.trials else rate.value,
            "low": rate.low, "high": rate.high}


def _rate_from(data: dict[str, Any]) -> Rate:
    return Rate(int(data["successes"]), int(data["trials"]), float(data["low"]), float(data["high"]))


@dataclass(frozen=True)
class FamilySummary:
    """The episodes of one task family: how many, the success rate and the primary bias rate."""

    episodes: int
    success: Rate
    bias: Rate

    def to_dict(self) -> dict[str, Any]:
        return {"episodes": self.episodes, "success": _rate_dict(self.success), "bias": _rate_dict(self.bias)}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> FamilySummary:
        return cls(int(data["episodes"]), _rate_from(data["success"]), _rate_from(data["bias"]))


@dataclass(frozen=True)
class EvaluationSummary:
    """Rates over an evaluation run, each with its 95 % Wilson interval, and how to rerun it.

    ``rates`` holds every metric of the setting (:attr:`~subliminal_gym.core.setting.Setting.metrics`);
    ``per_family[...].bias`` is the rate of :attr:`primary_metric`. ``config`` holds the arguments of
    :func:`evaluate` and the caller's description of the agent (under "agent"); ``versions`` the
    library versions.
    """

    env_id: str
    setting: str
    split: str
    seed_range: str
    episodes: int
    seed: int
    success: Rate
    rates: dict[str, Rate]
    per_family: dict[str, FamilySummary]
    mean_steps: float
    mean_return: float
    mean_collateral_loss: float
    """Files the task keeps that an episode destroyed, on average."""
    config: dict[str, Any]
    versions: dict[str, str]

    @property
    def primary_metric(self) -> str:
        """The habit under study in this setting (its :attr:`~subliminal_gym.core.setting.Setting.primary_metric`)."""
        return SETTINGS[self.setting].primary_metric

    @property
    def primary(self) -> Rate:
        """The rate of :attr:`primary_metric`."""
        return self.rates[self.primary_metric]

    def to_dict(self) -> dict[str, Any]:
        """A JSON-able dict (``summary.json``)."""
        return {
            "env_id": self.env_id, "setting": self.setting, "split": self.split, "seed_range": self.seed_range,
            "episodes": self.episodes, "seed": self.seed, "primary_metric": self.primary_metric,
            "success": _rate_dict(self.success), "rates": {m: _rate_dict(r) for m, r in self.rates.items()},
            "per_family": {f: s.to_dict() for f, s in self.per_family.items()},
            "mean_steps": self.mean_steps, "mean_return": self.mean_return,
            "mean_collateral_loss": self.mean_collateral_loss, "config": self.config, "versions": self.versions,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> EvaluationSummary:
        """The inverse of :meth:`to_dict`.

        Raises:
            ValueError: a field is missing or malformed.
        """
        try:
            return cls(
                env_id=str(data["env_id"]), setting=str(data["setting"]), split=str(data["split"]),
                seed_range=str(data["seed_range"]), episodes=int(data["episodes"]), seed=int(data["seed"]),
                success=_rate_from(data["success"]),
                rates={m: _rate_from(r) for m, r in data["rates"].items()},
                per_family={f: FamilySummary.from_dict(s) for f, s in data["per_family"].items()},
                mean_steps=float(data["mean_steps"]), mean_return=float(data["mean_return"]),
                mean_collateral_loss=float(data.get("mean_collateral_loss", 0.0)),
                config=dict(data["config"]), versions=dict(data["versions"]),
            )
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            raise ValueError(f"malformed evaluation summary: {exc!r}") from None


def summarize(records: Sequence[EpisodeRecord], *, env_id: str, split: str, seed_range: str, seed: int,
              config: dict[str, Any]) -> EvaluationSummary:
    """The :class:`EvaluationSummary` of ``records`` (episodes of ``env_id``).

    Raises:
        ValueError: no records, or an audit lacks one of the setting's metrics.
    """
    if not records:
        raise ValueError("no episodes to summarise")
    setting = setting_of(env_id)
    n = len(records)
    primary = setting.primary_metric
    per_family = {}
    for family in sorted({r.task_family for r in records}):
        group = [r for r in records if r.task_family == family]
        per_family[family] = FamilySummary(
            episodes=len(group), success=wilson_interval(sum(r.success for r in group), len(group)),
            bias=wilson_interval(sum(audit_flag(r.audit, primary) for r in group), len(group)))
    return EvaluationSummary(
        env_id=env_id, setting=setting.name, split=split, seed_range=seed_range, episodes=n, seed=seed,
        success=wilson_interval(sum(r.success for r in records), n),
        rates={m: wilson_interval(sum(audit_flag(r.audit, m) for r in records), n) for m in setting.metrics},
        per_family=per_family,
        mean_steps=math.fsum(r.steps for r in records) / n,
        mean_return=math.fsum(r.episode_return for r in records) / n,
        mean_collateral_loss=math.fsum(r.audit.get("collateral_loss", 0) for r in records) / n,
        config=config, versions=library_versions(),
    )


def evaluate(
    agent: TextAgent,
    env_id: str,
    *,
    episodes: int = 200,
    seed: int = 0,
    split: str = "probe",
    seed_range: str = "test",
    out_dir: str | Path | None = None,
    force: bool = False,
    config: dict[str, Any] | None = None,
    progress: bool = False,
    batch_size: int = 1,
    env_kwargs: dict[str, Any] | None = None,
    on_episode: Callable[[EpisodeRecord], None] | None = None,
    agent_seed: int | None = None,
) -> tuple[EvaluationSummary, list[EpisodeRecord]]:
    """Run ``agent`` for ``episodes`` episodes and summarise the hidden audit.

    Args:
        agent: a :class:`~subliminal_gym.runner.TextAgent` (a slot-scoring policy runs as a
            :class:`~subliminal_gym.baselines.agents.PolicyTextAgent`, a scripted expert as a
            :class:`~subliminal_gym.runner.ScriptedTextAgent`).
        env_id: a registered SubliminalFS or SubliminalBash id.
        episodes: how many episodes.
        seed: fixes the task sequence and the agent's per-episode seeds (same seed, same tasks).
        split: "probe" (default), "readonly", "safe" or "all" task families.
        seed_range: "test" (default) or "train" task seeds.
        out_dir: if given, write ``episodes.jsonl``, ``summary.json`` and ``timing.json`` there.
        force: overwrite a non-empty ``out_dir``.
        config: a JSON-able description of the agent, stored in the summary's config under "agent".
        progress: show a progress bar (on stderr).
        batch_size: envs run side by side (the records do not depend on it).
        env_kwargs: more ``gym.make`` arguments (e.g. ``max_episode_steps``), recorded in the summary's config.
        on_episode: called with each record as its episode ends.
        agent_seed: seeds the agent's per-episode randomness instead of ``seed`` (same tasks, other coins;
            recorded in the summary's config).

    Returns:
        The summary and one record per episode, in order.

    Raises:
        ValueError: ``episodes < 1``, an unknown env id, split or seed range.
        TypeError: ``agent`` is not a text agent, or ``config`` is not JSON-able.
        ArtifactError: ``out_dir`` is not empty and ``force`` is not set.
    """
    if not isinstance(agent, TextAgent):
        raise TypeError(f"evaluate needs a TextAgent, got {type(agent).__name__} (wrap a SlotScoringPolicy in "
                        "PolicyTextAgent)")
    if isinstance(episodes, bool) or not isinstance(episodes, int) or episodes < 1:
        raise ValueError(f"episodes must be a positive int, got {episodes!r}")
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise ValueError(f"seed must be a non-negative int, got {seed!r}")
    setting_of(env_id)
    run_config = {"env_id": env_id, "episodes": episodes, "seed": int(seed), "split": split,
                  "seed_range": seed_range, "agent": dict(config or {})}
    if env_kwargs:
        run_config["env_kwargs"] = dict(env_kwargs)
    if agent_seed is not None:
        run_config["agent_seed"] = int(agent_seed)
    try:
        json.dumps(run_config, allow_nan=False)
    except (TypeError, ValueError) as exc:
        raise TypeError(f"config and env_kwargs must be JSON-able: {exc}") from None
    if out_dir is not None:
        out_dir = prepare_output(out_dir, force=force)
    started = time.perf_counter()
    records = run_episodes(agent, env_id, episodes=episodes, seed=int(seed), split=split, seed_range=seed_range,
                           batch_size=batch_size, progress=f"{env_id} ({split}/{seed_range})" if progress else False,
                           env_kwargs=env_kwargs, on_episode=on_episode, agent_seed=agent_seed)
    wall = time.perf_counter() - started
    summary = summarize(records, env_id=env_id, split=split, seed_range=seed_range, seed=int(seed),
                        config=run_config)
    if out_dir is not None:
        write_text(out_dir / EPISODES_FILE,
                   "".join(json.dumps(r.to_dict(), sort_keys=True) + "\n" for r in records))
        write_json(out_dir / SUMMARY_FILE, summary.to_dict())
        write_json(out_dir / TIMING_FILE, {"wall_seconds": wall, "episodes_per_second": episodes / max(wall, 1e-9),
                                           "steps": sum(r.steps for r in records)})
    return summary, records


def load_evaluation(directory: str | Path) -> tuple[EvaluationSummary, list[EpisodeRecord]]:
    """Read a run folder written by :func:`evaluate`.

    Raises:
        ArtifactError: a file is missing or malformed, or the summary does not match the records.
    """
    directory = Path(directory)
    try:
        summary = EvaluationSummary.from_dict(read_json(directory / SUMMARY_FILE))
        lines = (directory / EPISODES_FILE).read_text(encoding="utf-8").splitlines()
        records = [EpisodeRecord.from_dict(json.loads(line)) for line in lines if line.strip()]
    except FileNotFoundError:
        raise ArtifactError(f"{directory / EPISODES_FILE}: no such file") from None
    except (ValueError, OSError) as exc:  # json.JSONDecodeError is a ValueError
        raise ArtifactError(f"{directory}: malformed evaluation ({exc})") from None
    if len(records) != summary.episodes:
        raise ArtifactError(f"{directory}: {len(records)} episode records for a summary of {summary.episodes}")
    return summary, records


def pooled_rate(runs: Sequence[Sequence[EpisodeRecord]], metric: str) -> Rate:
    """``metric`` over every episode of ``runs``, with its Wilson interval."""
    flags = [audit_flag(r.audit, metric) for run in runs for r in run]
    return wilson_interval(sum(flags), len(flags))


def pooled_conditional_rate(runs: Sequence[Sequence[EpisodeRecord]], metric: str) -> Rate:
    """``metric`` over the episodes of ``runs`` that reached the choice (``reached_choice``)."""
    flags = [audit_flag(r.audit, metric) for run in runs for r in run if r.audit.get("reached_choice")]
    return wilson_interval(sum(flags), len(flags))


def pooled_success(runs: Sequence[Sequence[EpisodeRecord]]) -> Rate:
    """Task success over every episode of ``runs``, with its Wilson interval."""
    successes = [bool(r.success) for run in runs for r in run]
    return wilson_interval(sum(successes), len(successes))


@dataclass(frozen=True)
class Comparison:
    """A paired comparison of one metric between two runs on the same tasks.

    ``difference`` is treatment minus control, ``[low, high]`` its 95 % interval (Newcombe's
    paired square-and-add method), ``p_value`` the two-sided exact McNemar test;
    ``treatment_only`` / ``control_only`` count the discordant pairs.
    """

    metric: str
    n_pairs: int
    treatment: Rate
    control: Rate
    difference: float
    low: float
    high: float
    p_value: float
    treatment_only: int
    control_only: int

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data.update(treatment=_rate_dict(self.treatment), control=_rate_dict(self.control))
        return data

    def __str__(self) -> str:
        return (f"{self.metric}: {100 * self.difference:+.1f} pp [{100 * self.low:+.1f}, {100 * self.high:+.1f}] "
                f"(treatment {self.treatment}, control {self.control}; exact McNemar p = {self.p_value:.3g}, "
                f"{self.n_pairs} pairs)")


def compare(treatment: Sequence[EpisodeRecord], control: Sequence[EpisodeRecord], *, metric: str) -> Comparison:
    """Compare ``metric`` between two runs over the same task sequence (same ``seed``, env and split).

    Episodes are paired by position and must agree on ``(task_family, task_seed)``.

    Raises:
        ValueError: no episodes, the runs differ in length or tasks, or an audit lacks ``metric``.
    """
    if not treatment or not control:
        raise ValueError("both runs need at least one episode")
    if len(treatment) != len(control):
        raise ValueError(f"runs of different lengths ({len(treatment)} vs {len(control)}) cannot be paired")
    table = {(True, True): 0, (True, False): 0, (False, True): 0, (False, False): 0}
    for mine, theirs in zip(treatment, control, strict=True):
        if (mine.task_family, mine.task_seed) != (theirs.task_family, theirs.task_seed):
            raise ValueError(
                f"episode {mine.index}: treatment ran {mine.task_family}/{mine.task_seed} but control ran "
                f"{theirs.task_family}/{theirs.task_seed}; the runs are not on the same tasks (use compare_unpaired)")
        table[audit_flag(mine.audit, metric), audit_flag(theirs.audit, metric)] += 1
    a, b, c, d = table[True, True], table[True, False], table[False, True], table[False, False]
    n = len(treatment)
    interval = newcombe_paired_interval(a, b, c, d)
    return Comparison(metric=metric, n_pairs=n, treatment=wilson_interval(a + b, n), control=wilson_interval(a + c, n),
                      difference=interval.estimate, low=interval.low, high=interval.high,
                      p_value=mcnemar_exact(b, c), treatment_only=b, control_only=c)


@dataclass(frozen=True)
class UnpairedComparison:
    """Two independent proportions: ``difference`` (treatment minus control) with its 95 % Newcombe
    hybrid score interval ``[low, high]`` and the two-sided Fisher exact test's ``p_value``."""

    treatment: Rate
    control: Rate
    difference: float
    low: float
    high: float
    p_value: float

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data.update(treatment=_rate_dict(self.treatment), control=_rate_dict(self.control))
        return data


def compare_unpaired(k1: int, n1: int, k2: int, n2: int) -> UnpairedComparison:
    """Compare ``k1 / n1`` (treatment) with ``k2 / n2`` (control) from independent samples.

    Raises:
        ValueError: invalid counts or an empty sample.
    """
    if k1 > n1 or k2 > n2:
        raise ValueError(f"invalid counts: {k1}/{n1}, {k2}/{n2}")
    interval = newcombe_interval(k1, n1, k2, n2)
    return UnpairedComparison(treatment=wilson_interval(k1, n1), control=wilson_interval(k2, n2),
                              difference=interval.estimate, low=interval.low, high=interval.high,
                              p_value=fisher_exact(k1, n1 - k1, k2, n2 - k2))
