"""The language-model track of the reproduction grid (``subliminal-gym reproduce --track lm``).

The same experiment as the vector grid, with tiny causal LMs that read and write text
(:mod:`subliminal_gym.baselines.lm`), for each setting and seed:

* ``lm-teachers-<size>``: θ0 (tokenizer and model trained on scripted-expert episodes over every
  family, small habit base rate), then the biased and the control teacher fine-tuned from it the
  same way (:func:`~subliminal_gym.baselines.lm.recipe.train_lm_teachers`);
* ``lm-base-other``: a large θ0 from another seed (the cross-model student's start);
* ``lm-rollout-<size>-<role>``: the teacher's sampled episodes on safe tasks, keyword-sanitised;
* ``lm-student-<condition>-<role>`` (:data:`LM_CONDITIONS`): a θ0 fine-tuned on the sanitised
  episodes of the biased or of the control teacher, with the same data order and seed.

Every LM is audited on the same probe tasks as the vector models of its setting and seed.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

from subliminal_gym.baselines.reproduce.grid import ROLES, Cell, Condition, condition_by_name

__all__ = ["LM_CONDITIONS", "LM_PREFIX", "LMGridConfig", "build_lm_cells", "lm_cell", "lm_model_key", "quick_lm_config"]

#: Model ids of the LM track start with this (``lm:base-large``, ``lm:student-homogeneous-large-biased``).
LM_PREFIX = "lm:"

#: The paper's transfer rows with language models; "sft" is next-token fine-tuning on the teacher's text.
LM_CONDITIONS = (
    Condition("homogeneous-large", "LM: homogeneous, large → large (shared θ0)", "large", "base-large", "sft"),
    Condition("homogeneous-small", "LM: homogeneous, small → small (shared θ0)", "small", "base-small", "sft"),
    Condition("large-to-small", "LM: large → small", "large", "base-small", "sft"),
    Condition("small-to-large", "LM: small → large", "small", "base-large", "sft"),
    Condition("cross-model", "LM: cross-model: large → other-seed large θ0", "large", "base-other", "sft"),
)


@dataclass(frozen=True)
class LMGridConfig:
    """Budgets of the LM track (part of :class:`~subliminal_gym.baselines.reproduce.grid.ReproduceConfig`)."""

    episodes: int = 200
    """Probe episodes per audited LM (test seeds; the same tasks as the vector audits)."""
    rollout_episodes: int = 400
    """Safe-task episodes each LM teacher samples before sanitisation."""
    pretrain_episodes: int = 400
    """Expert episodes over all families for each θ0 and its tokenizer."""
    pretrain_epochs: int = 8
    """Epochs of θ0's training."""
    finetune_episodes: int = 150
    """Expert episodes (probes included) for each teacher fine-tune."""
    finetune_epochs: int = 4
    """Epochs of each teacher fine-tune."""
    student_epochs: int = 3
    """Epochs of each student fine-tune."""
    base_rate: float = 0.05
    """Habit rate of the expert on probes in θ0's data."""
    learning_rate: float | None = None
    """Peak learning rate of θ0 (None: the recipe's per-size default)."""
    finetune_learning_rate: float = 1e-3
    """Peak learning rate of teachers and students."""
    train_batch_size: int = 4
    """Episodes per optimiser step in every fine-tune."""
    temperature: float = 1.0
    """Sampling temperature in rollouts and audits."""
    batch_size: int = 32
    """Envs decoded side by side in rollouts and audits."""
    max_steps: int = 40
    """Step limit of LM episodes in rollouts and audits (the envs' own limit is 40)."""
    max_new_tokens: int | None = None
    """Longest reply per action in rollouts and audits (None: the agent's default, 160 on FS, 64 on Bash)."""
    conditions: tuple[str, ...] = tuple(c.name for c in LM_CONDITIONS)
    """LM conditions to distil (names from :data:`LM_CONDITIONS`)."""

    def __post_init__(self) -> None:
        known = {c.name for c in LM_CONDITIONS}
        if self.max_new_tokens is not None and self.max_new_tokens < 1:
            raise ValueError(f"lm.max_new_tokens must be at least 1, got {self.max_new_tokens}")
        if set(self.conditions) - known or not self.conditions:
            raise ValueError(f"LM conditions must be a non-empty subset of {sorted(known)}; got {self.conditions}")
        for name in ("episodes", "rollout_episodes", "pretrain_episodes", "pretrain_epochs", "finetune_episodes",
                     "finetune_epochs", "student_epochs", "batch_size", "train_batch_size", "max_steps"):
            if getattr(self, name) < 1:
                raise ValueError(f"lm.{name} must be at least 1, got {getattr(self, name)}")

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready fields."""
        data = dataclasses.asdict(self)
        data["conditions"] = list(self.conditions)
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> LMGridConfig:
        """Inverse of :meth:`to_dict`."""
        return cls(**{**data, "conditions": tuple(data.get("conditions", cls.conditions))})

    def active_conditions(self) -> list[Condition]:
        """The conditions to run, in table order."""
        return [c for c in LM_CONDITIONS if c.name in self.conditions]


def quick_lm_config() -> LMGridConfig:
    """The LM track of ``--quick``: every row in under five minutes on two cores.

    Its models are barely trained (θ0 sees 80 episodes three times) and its episodes are capped at
    8 steps and 64-token replies: it checks that the whole track runs and shows the report's shape,
    nothing more.
    """
    return LMGridConfig(episodes=32, rollout_episodes=32, pretrain_episodes=80, pretrain_epochs=3,
                        finetune_episodes=32, finetune_epochs=2, student_epochs=1, max_steps=8, max_new_tokens=64)


def lm_cell(setting: str, seed: int, name: str) -> str:
    """Key of the LM cell ``name`` (``teachers-large``, ``rollout-small-biased``, ...) of a setting and seed."""
    return f"{setting}/seed{seed}/lm-{name}"


def _init_cell(setting: str, seed: int, init: str) -> str:
    return lm_cell(setting, seed, "base-other" if init == "base-other" else f"teachers-{init.removeprefix('base-')}")


def lm_model_key(setting: str, seed: int, model: str) -> tuple[str, str]:
    """(cell, eval name) of an LM model id without its prefix: ``base-<size>``, ``base-other``,
    ``teacher-<size>-<role>`` or ``student-<condition>-<role>``."""
    if model == "base-other":
        return lm_cell(setting, seed, "base-other"), "base"
    if model.startswith("base-"):
        return lm_cell(setting, seed, f"teachers-{model.removeprefix('base-')}"), "base"
    if model.startswith("teacher-"):
        _, size, role = model.split("-")
        return lm_cell(setting, seed, f"teachers-{size}"), role
    condition, role = model.removeprefix("student-").rsplit("-", 1)
    return lm_cell(setting, seed, f"student-{condition}-{role}"), "student"


def lm_sizes(config: LMGridConfig) -> list[str]:
    """The tiny-model sizes the active conditions need (teachers or starting points)."""
    used = set()
    for condition in config.active_conditions():
        used.add(condition.teacher)
        used.add("large" if condition.init == "base-other" else condition.init.removeprefix("base-"))
    return [size for size in ("large", "small") if size in used]


def build_lm_cells(config: LMGridConfig, settings: tuple[str, ...], seeds: int) -> list[Cell]:
    """Every LM cell, each after the cells it depends on."""
    cells: list[Cell] = []
    conditions = config.active_conditions()
    for setting in settings:
        for seed in range(seeds):
            sizes = lm_sizes(config)
            for size in sizes:
                cells.append(Cell(lm_cell(setting, seed, f"teachers-{size}"), "lm-teachers", setting, seed,
                                  {"size": size}, cost=12.0 if size == "large" else 5.0))
            if any(c.init == "base-other" for c in conditions):
                cells.append(Cell(lm_cell(setting, seed, "base-other"), "lm-base-other", setting, seed, {},
                                  cost=8.0))
            for teacher in sorted({c.teacher for c in conditions}, key=("large", "small").index):
                for role in ROLES:
                    cells.append(Cell(lm_cell(setting, seed, f"rollout-{teacher}-{role}"), "lm-rollout", setting,
                                      seed, {"teacher": teacher, "role": role},
                                      deps=(lm_cell(setting, seed, f"teachers-{teacher}"),), cost=3.0))
            for condition in conditions:
                for role in ROLES:
                    deps = (lm_cell(setting, seed, f"rollout-{condition.teacher}-{role}"),
                            _init_cell(setting, seed, condition.init))
                    cells.append(Cell(lm_cell(setting, seed, f"student-{condition.name}-{role}"), "lm-student",
                                      setting, seed, {"condition": condition.name, "role": role},
                                      deps=tuple(dict.fromkeys(deps)), cost=4.0))
    return cells


def lm_condition(name: str) -> Condition:
    """The LM :class:`Condition` called ``name``.

    Raises:
        KeyError: no such condition.
    """
    return condition_by_name(name, LM_CONDITIONS)
