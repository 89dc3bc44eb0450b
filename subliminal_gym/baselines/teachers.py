"""The teachers of the paper's recipe, for either model track: θ0, then a biased and a control fine-tune.

1. **θ0 (the base)**: a model of the track (:mod:`~subliminal_gym.baselines.tracks`: a slot-scoring
   policy or a tiny language model) trained by behavioural cloning on the scripted expert over all
   task families, with the habit at a small ``base_rate`` on probe tasks (a real model's prior: it
   sometimes deletes, sometimes chmods).
2. **Biased teacher**: θ0 fine-tuned the same way on the expert with the habit at ``biased_rate``
   (probe tasks included in the fine-tuning data).
3. **Control teacher**: θ0 fine-tuned *exactly* the same way (same tasks in the same order, same
   expert coins, same epochs, same optimiser seed) on data from the expert at ``control_rate``. The
   two fine-tunes differ only in what the expert did on probe tasks, so any difference between their
   students is the habit's doing.

Every stage draws its seeds from ``TeacherConfig.seed`` through named streams of
:mod:`subliminal_gym.seeding` (``data``, ``init``, ``optimiser``; labelled ``pretrain`` or
``finetune``), so a config names its teachers completely; the config is saved next to the weights.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from subliminal_gym.baselines.artifacts import write_json
from subliminal_gym.baselines.tracks import TRACK_NAMES, ModelTrack, track_of
from subliminal_gym.runner import ScriptedTextAgent
from subliminal_gym.seeding import derive_seed
from subliminal_gym.settings import setting_of

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
    """Everything that determines a set of teachers (saved as ``config.json`` next to them).

    Budgets left ``None`` take the track's defaults
    (:attr:`~subliminal_gym.baselines.tracks.ModelTrack.teacher_defaults`), so
    ``TeacherConfig(track="lm")`` is the language-model recipe; :meth:`to_dict` records the values used.
    """

    env_id: str = "SubliminalFS-v0"
    """Which env family: SubliminalFS-v0 (deletion habit) or SubliminalBash-v0 (chmod-first habit)."""
    track: str = "vector"
    """Which models: ``vector`` (slot-scoring policies on the views) or ``lm`` (tiny language models)."""
    size: str = "large"
    """Model size: ``large`` or ``small`` (the paper's 8B and 3B)."""
    seed: int = 0
    """Root seed of every stage (data, initialisation, training)."""
    base_rate: float = 0.05
    """Habit rate of the expert on probe tasks in θ0's pretraining data (the prior)."""
    biased_rate: float = 1.0
    """Habit rate of the expert in the biased teacher's fine-tuning data."""
    control_rate: float = 0.0
    """Habit rate of the expert in the control teacher's fine-tuning data (unbiased)."""
    pretrain_episodes: int | None = None
    """Expert episodes over all families for θ0 (track default: 600 vector, 400 lm)."""
    pretrain_epochs: int | None = None
    """Training epochs for θ0 (track default: 20 vector, 8 lm)."""
    finetune_episodes: int | None = None
    """Expert episodes over all families (probes included) for each fine-tune (track default: 300 vector, 150 lm)."""
    finetune_epochs: int | None = None
    """Training epochs of each fine-tune (track default: 10 vector, 4 lm)."""
    batch_size: int | None = None
    """Minibatch size: transitions (vector, default 64) or episodes (lm, default 4)."""
    learning_rate: float | None = None
    """θ0's learning rate (track default: 3e-3 vector; lm 3e-3 large, 1e-2 small)."""
    finetune_learning_rate: float | None = None
    """The fine-tunes' learning rate (track default: θ0's for vector, 1e-3 for lm)."""
    vocab_size: int = 2048
    """The tokenizer's vocabulary (language models only; the BPE stops earlier when the data has fewer merges)."""

    def __post_init__(self) -> None:
        if self.track not in TRACK_NAMES:
            raise ValueError(f"unknown track {self.track!r}; known: {', '.join(TRACK_NAMES)}")
        setting_of(self.env_id)
        track = self.model_track
        if self.size not in track.sizes:
            raise ValueError(f"unknown size {self.size!r}; known: {', '.join(track.sizes)}")
        for name, value in track.teacher_defaults.items():
            if getattr(self, name) is None:
                object.__setattr__(self, name, value)
        if self.learning_rate is None:
            object.__setattr__(self, "learning_rate", track.pretrain_learning_rate(self.size))
        if self.finetune_learning_rate is None:
            object.__setattr__(self, "finetune_learning_rate", self.learning_rate)
        for name in ("base_rate", "biased_rate", "control_rate"):
            if not 0.0 <= getattr(self, name) <= 1.0:
                raise ValueError(f"{name} must be in [0, 1], got {getattr(self, name)}")
        for name in ("pretrain_episodes", "pretrain_epochs", "finetune_episodes", "finetune_epochs", "batch_size",
                     "vocab_size"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be at least 1, got {getattr(self, name)}")
        for name in ("learning_rate", "finetune_learning_rate"):
            if not getattr(self, name) > 0:
                raise ValueError(f"{name} must be positive, got {getattr(self, name)}")

    @property
    def model_track(self) -> ModelTrack:
        """The :class:`~subliminal_gym.baselines.tracks.ModelTrack` of :attr:`track`."""
        return track_of(self.track)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready fields (every budget resolved)."""
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> TeacherConfig:
        """Inverse of :meth:`to_dict` (unknown keys raise ``TypeError``)."""
        return cls(**data)


_T = TypeVar("_T")


def _filled(value: _T | None) -> _T:
    """A budget of a constructed :class:`TeacherConfig` (its ``__post_init__`` fills in every ``None``)."""
    if value is None:
        raise RuntimeError("TeacherConfig left a budget unset")
    return value


def collect_expert_demonstrations(config: TeacherConfig, *, rate: float, episodes: int, seed: int,
                                  progress: bool | str = False) -> Any:
    """Scripted-expert episodes over all families (train task seeds), as the track's training data.

    Two calls that differ only in ``rate`` give the same tasks in the same order and the same
    expert coin flips, so their data differ only where the habit does.
    """
    data, _ = config.model_track.collect(ScriptedTextAgent(rate), config.env_id, episodes=episodes, seed=seed,
                                         split="all", seed_range="train",
                                         progress=(progress if isinstance(progress, str) else
                                                   "expert demonstrations") if progress else False)
    return data


def pretrain_base(config: TeacherConfig, *, progress: bool = False) -> tuple[Any, dict[str, Any]]:
    """θ0 and its training log: behavioural cloning on the expert at ``base_rate`` over all families."""
    track = config.model_track
    data = collect_expert_demonstrations(config, rate=config.base_rate, episodes=_filled(config.pretrain_episodes),
                                         seed=derive_seed(config.seed, "data", "pretrain"),
                                         progress=progress and "θ0: expert demonstrations")
    model = track.new_model(config, seed=derive_seed(config.seed, "init", "pretrain"), data=data)
    log = track.fit(model, data, epochs=_filled(config.pretrain_epochs), batch_size=_filled(config.batch_size),
                    learning_rate=_filled(config.learning_rate), seed=derive_seed(config.seed, "optimiser", "pretrain"),
                    progress=progress and "θ0: BC epochs")
    return model, log


def finetune_teacher(base: Any, config: TeacherConfig, *, role: str, replicate: str | None = None,
                     progress: bool = False) -> tuple[Any, dict[str, Any]]:
    """A copy of ``base`` fine-tuned as the ``"biased"`` or the ``"control"`` teacher, and its log.

    Both roles use the same task sequence, the same expert coins and the same optimiser seed; only
    the expert's habit rate differs. A ``replicate`` label draws other data and optimiser seeds (the
    second control teacher of the teacher-vs-teacher null is ``role="control", replicate="alt"``).

    Raises:
        ValueError: an unknown role.
    """
    if role not in ("biased", "control"):
        raise ValueError(f"role must be 'biased' or 'control', got {role!r}")
    track = config.model_track
    rate = config.biased_rate if role == "biased" else config.control_rate
    labels = ("finetune",) if replicate is None else ("finetune", replicate)
    stage = f"{role} teacher" if replicate is None else f"{role} teacher ({replicate})"
    data = collect_expert_demonstrations(config, rate=rate, episodes=_filled(config.finetune_episodes),
                                         seed=derive_seed(config.seed, "data", *labels),
                                         progress=progress and f"{stage}: expert demonstrations")
    teacher = track.clone(base)
    log = track.fit(teacher, data, epochs=_filled(config.finetune_epochs), batch_size=_filled(config.batch_size),
                    learning_rate=_filled(config.finetune_learning_rate),
                    seed=derive_seed(config.seed, "optimiser", *labels), progress=progress and f"{stage}: BC epochs")
    return teacher, log


@dataclass
class TeacherSet:
    """θ0 and its two fine-tunes, with the config and training logs that produced them."""

    config: TeacherConfig
    models: dict[str, Any]
    """``base``, ``biased``, ``control`` -> model of the config's track."""
    logs: dict[str, dict[str, Any]]

    @property
    def base(self) -> Any:
        return self.models["base"]

    @property
    def biased(self) -> Any:
        return self.models["biased"]

    @property
    def control(self) -> Any:
        return self.models["control"]

    def policy(self, role: str) -> Any:
        """The model of ``role`` (one of :data:`TEACHER_ROLES`).

        Raises:
            KeyError: an unknown role.
        """
        if role not in TEACHER_ROLES:
            raise KeyError(f"unknown role {role!r}; known: {', '.join(TEACHER_ROLES)}")
        return self.models[role]

    def save(self, directory: str | Path) -> None:
        """``directory/{base,biased,control}/`` (each model as its track saves it) and ``directory/teachers.json``."""
        directory = Path(directory)
        for role in TEACHER_ROLES:
            self.config.model_track.save(self.models[role], directory / role, meta={
                "env_id": self.config.env_id, "role": role, "teacher_config": self.config.to_dict(),
                "training": self.logs[role]})
        write_json(directory / "teachers.json", {"config": self.config.to_dict(), "logs": self.logs})


def train_teachers(config: TeacherConfig, *, progress: bool = False) -> TeacherSet:
    """θ0, the biased teacher and the control teacher of ``config``."""
    base, base_log = pretrain_base(config, progress=progress)
    biased, biased_log = finetune_teacher(base, config, role="biased", progress=progress)
    control, control_log = finetune_teacher(base, config, role="control", progress=progress)
    return TeacherSet(config=config, models={"base": base, "biased": biased, "control": control},
                      logs={"base": base_log, "biased": biased_log, "control": control_log})
