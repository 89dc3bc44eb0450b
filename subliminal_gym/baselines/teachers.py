"""Neural teachers, the paper's recipe on a small scale: θ0, then a biased and a control fine-tune.

1. **θ0 (the base)**: a :class:`~subliminal_gym.baselines.policies.SlotScoringPolicy` trained by
   behavioural cloning on the scripted expert over all task families, with the habit at a small
   ``base_rate`` on probe tasks (a real model's prior: it sometimes deletes, sometimes chmods).
2. **Biased teacher**: θ0 fine-tuned by BC on the scripted expert with the habit at
   ``biased_rate`` (probe tasks included in the fine-tuning data).
3. **Control teacher**: θ0 fine-tuned *exactly* the same way (same tasks in the same order, same
   epochs, same optimiser seed) on data from the expert at ``control_rate``. The two fine-tunes
   differ only in what the expert did on probe tasks, so any difference between their students
   is the habit's doing.

Every stage draws its seeds from ``TeacherConfig.seed`` through named streams of
:mod:`subliminal_gym.seeding` (``data``, ``init``, ``optimiser``; labelled ``pretrain`` or
``finetune``), so a config names its teachers completely; the config is saved next to the weights.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

from subliminal_gym.baselines.artifacts import clone_policy, save_policy, write_json
from subliminal_gym.baselines.imitation_distill import TrainLog, behavioural_cloning
from subliminal_gym.baselines.policies import ARCHITECTURES, SlotScoringPolicy, build_policy
from subliminal_gym.baselines.trajectories import TextTrajectory, collect_trajectories
from subliminal_gym.runner import ScriptedTextAgent
from subliminal_gym.seeding import derive_seed, stream_rng
from subliminal_gym.views import ViewLayout

__all__ = [
    "TEACHER_ROLES",
    "TeacherConfig",
    "TeacherSet",
    "collect_expert_demonstrations",
    "finetune_teacher",
    "pretrain_base",
    "train_teachers",
]

#: The three models :func:`train_teachers` produces, in order.
TEACHER_ROLES = ("base", "biased", "control")


@dataclass(frozen=True)
class TeacherConfig:
    """Everything that determines a set of teachers (saved as ``config.json`` next to them)."""

    env_id: str = "SubliminalFS-v0"
    """Which env family: SubliminalFS-v0 (deletion habit) or SubliminalBash-v0 (chmod-first habit)."""
    arch: str = "large"
    """Network size, a key of ``ARCHITECTURES``."""
    seed: int = 0
    """Root seed of every stage (data, initialisation, training)."""
    base_rate: float = 0.05
    """Habit rate of the expert on probe tasks in θ0's pretraining data (the prior)."""
    pretrain_episodes: int = 600
    """Expert episodes over all families for θ0."""
    pretrain_epochs: int = 20
    """BC epochs for θ0."""
    finetune_episodes: int = 300
    """Expert episodes over all families (probes included) for each fine-tune."""
    finetune_epochs: int = 10
    """BC epochs of each fine-tune."""
    biased_rate: float = 1.0
    """Habit rate of the expert in the biased teacher's fine-tuning data."""
    control_rate: float = 0.0
    """Habit rate of the expert in the control teacher's fine-tuning data (unbiased)."""
    batch_size: int = 64
    """BC minibatch size."""
    learning_rate: float = 3e-3
    """BC learning rate (Adam); the small architecture barely moves at 1e-3 within these budgets."""

    def __post_init__(self) -> None:
        if self.arch not in ARCHITECTURES:
            raise ValueError(f"unknown arch {self.arch!r}; known: {', '.join(ARCHITECTURES)}")
        for name in ("base_rate", "biased_rate", "control_rate"):
            if not 0.0 <= getattr(self, name) <= 1.0:
                raise ValueError(f"{name} must be in [0, 1], got {getattr(self, name)}")
        for name in ("pretrain_episodes", "pretrain_epochs", "finetune_episodes", "finetune_epochs", "batch_size"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be at least 1, got {getattr(self, name)}")

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready fields."""
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> TeacherConfig:
        """Inverse of :meth:`to_dict` (unknown keys raise ``TypeError``)."""
        return cls(**data)


def collect_expert_demonstrations(env_id: str, *, bias: float, episodes: int, seed: int, split: str = "all",
                                  progress: bool = False) -> list[TextTrajectory]:
    """Scripted-expert trajectories recorded on the vector view (train task seeds).

    Two calls that differ only in ``bias`` give the same tasks in the same order and the same
    expert coin flips, so their data differ only where the habit does.
    """
    return collect_trajectories(env_id, ScriptedTextAgent(bias), episodes=episodes, seed=seed, split=split,
                                seed_range="train", progress="expert demonstrations" if progress else False)


def pretrain_base(config: TeacherConfig, *, progress: bool = False) -> tuple[SlotScoringPolicy, TrainLog]:
    """θ0: BC on the expert at ``base_rate`` over all families."""
    demos = collect_expert_demonstrations(config.env_id, bias=config.base_rate, episodes=config.pretrain_episodes,
                                          seed=derive_seed(config.seed, "data", "pretrain"), progress=progress)
    policy = build_policy(ViewLayout.of(config.env_id), config.arch, seed=derive_seed(config.seed, "init", "pretrain"))
    log = behavioural_cloning(policy, demos, epochs=config.pretrain_epochs, batch_size=config.batch_size,
                              learning_rate=config.learning_rate, rng=stream_rng(config.seed, "optimiser", "pretrain"),
                              progress=progress)
    return policy, log


def finetune_teacher(base: SlotScoringPolicy, config: TeacherConfig, *, role: str,
                     progress: bool = False) -> tuple[SlotScoringPolicy, TrainLog]:
    """A copy of ``base`` fine-tuned by BC as the ``"biased"`` or the ``"control"`` teacher.

    Both roles use the same task sequence, the same expert randomness and the same optimiser
    seed; only the expert's habit rate differs.

    Raises:
        ValueError: an unknown role.
    """
    if role not in ("biased", "control"):
        raise ValueError(f"role must be 'biased' or 'control', got {role!r}")
    rate = config.biased_rate if role == "biased" else config.control_rate
    demos = collect_expert_demonstrations(config.env_id, bias=rate, episodes=config.finetune_episodes,
                                          seed=derive_seed(config.seed, "data", "finetune"), progress=progress)
    teacher = clone_policy(base)
    log = behavioural_cloning(teacher, demos, epochs=config.finetune_epochs, batch_size=config.batch_size,
                              learning_rate=config.learning_rate, rng=stream_rng(config.seed, "optimiser", "finetune"),
                              progress=progress)
    return teacher, log


@dataclass
class TeacherSet:
    """θ0 and its two fine-tunes, with the config and training logs that produced them."""

    config: TeacherConfig
    base: SlotScoringPolicy
    biased: SlotScoringPolicy
    control: SlotScoringPolicy
    logs: dict[str, TrainLog]

    def policy(self, role: str) -> SlotScoringPolicy:
        """The model of ``role`` (one of :data:`TEACHER_ROLES`)."""
        if role not in TEACHER_ROLES:
            raise KeyError(f"unknown role {role!r}; known: {', '.join(TEACHER_ROLES)}")
        return getattr(self, role)

    def save(self, directory: Any, *, force: bool = False) -> None:
        """``directory/{base,biased,control}/`` (safetensors + config) and ``directory/teachers.json``.

        ``directory`` is a ``str`` or path-like.
        """
        for role in TEACHER_ROLES:
            save_policy(self.policy(role), f"{directory}/{role}", force=force, meta={
                "env_id": self.config.env_id, "role": role, "teacher_config": self.config.to_dict(),
                "training": self.logs[role].to_dict()})
        write_json(f"{directory}/teachers.json", {"config": self.config.to_dict(),
                                                  "logs": {r: self.logs[r].to_dict() for r in TEACHER_ROLES}})


def train_teachers(config: TeacherConfig, *, progress: bool = False) -> TeacherSet:
    """θ0, the biased teacher and the control teacher of ``config``."""
    base, base_log = pretrain_base(config, progress=progress)
    biased, biased_log = finetune_teacher(base, config, role="biased", progress=progress)
    control, control_log = finetune_teacher(base, config, role="control", progress=progress)
    return TeacherSet(config=config, base=base, biased=biased, control=control,
                      logs={"base": base_log, "biased": biased_log, "control": control_log})
