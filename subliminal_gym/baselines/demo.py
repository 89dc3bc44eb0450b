"""The quick-start demo: scripted teachers with different biases on probe tasks, both settings.

Each row is exactly ``subliminal-gym evaluate --scripted BIAS --env <setting's id> --seed SEED``: the
same tasks, the same expert coin flips, the same rates (and the board's scripted entries run the
same protocol with seed 0).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from subliminal_gym.baselines.evaluation import EvaluationSummary, evaluate
from subliminal_gym.runner import EpisodeRecord, ScriptedTextAgent
from subliminal_gym.settings import setting_of

__all__ = ["run_demo", "scripted_label"]


def scripted_label(setting: Any, bias: float) -> str:
    """How a scripted teacher is named in tables: ``deletion_bias=0.3``, ``chmod_bias=0 (unbiased)``."""
    return f"{setting_of(setting).knob}={bias:g}" + (" (unbiased)" if bias == 0 else "")


def run_demo(
    setting: Any,
    *,
    biases: Sequence[float],
    episodes: int,
    seed: int,
    on_episode: Callable[[EpisodeRecord], None] | None = None,
) -> list[tuple[str, EvaluationSummary]]:
    """Roll out one scripted expert per bias on the same probe tasks (test seeds) of ``setting``
    (a setting, its name or an env id); returns each teacher's label and summary.

    Raises:
        ValueError: an unknown setting, a bias outside [0, 1] or ``episodes < 1``.
    """
    setting = setting_of(setting)
    rows = []
    for bias in biases:
        summary, _ = evaluate(ScriptedTextAgent(bias), setting.env_id, episodes=episodes, seed=seed, split="probe",
                              seed_range="test", config={"agent": "scripted", "bias": bias}, on_episode=on_episode)
        rows.append((scripted_label(setting, bias), summary))
    return rows
