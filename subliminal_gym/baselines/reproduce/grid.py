"""The reproduction grid: which models are trained, distilled and audited, and in what order.

The paper's experiment on a small scale, for each setting (``fs``: deletion on SubliminalFS-v0;
``bash``: chmod-first on SubliminalBash-v0) and each seed:

* **teachers** (:data:`TEACHER_SIZES`): a θ0 per size pretrained by BC on the scripted expert
  with a small base rate of the habit, fine-tuned into a *biased* and a *control* teacher (see
  :mod:`subliminal_gym.baselines.teachers`); plus one more large θ0 from another seed, the
  student's starting point in the cross-model condition;
* **rollouts**: each teacher (and the scripted expert, biased and unbiased, as the negative
  control) acts on safe tasks; its trajectories are keyword-sanitised;
* **students** (:data:`CONDITIONS`): each condition is distilled twice, from the biased teacher
  and from the control teacher, the same way, from the same initialisation, on the same task
  sequence; the difference between the two students is the condition's effect;
* every model is audited on the same probe tasks from the test seeds, so all comparisons within a
  setting and seed are paired episode by episode.

A :class:`Cell` is one unit of work; :func:`build_cells` lists them in dependency order. Cells are
keyed by strings that name everything they depend on, so a resumed run knows what is already done.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from dataclasses import dataclass, field
from typing import Any

from subliminal_gym.baselines.distill import DISTILL_METHODS, DistillConfig
from subliminal_gym.baselines.teachers import TeacherConfig
from subliminal_gym.seeding import derive_seed
from subliminal_gym.settings import SETTINGS as SUITE_SETTINGS

__all__ = [
    "CONDITIONS",
    "ENV_IDS",
    "METHODS_TABLE",
    "ROLES",
    "SETTINGS",
    "TEACHER_SIZES",
    "TRACKS",
    "TRANSFER_TABLE",
    "Cell",
    "other_base_seed",
    "rollout_seed",
    "Condition",
    "ReproduceConfig",
    "build_cells",
    "quick_config",
]

#: Setting name -> env id.
ENV_IDS = {name: setting.env_id for name, setting in SUITE_SETTINGS.items()}
SETTINGS = tuple(ENV_IDS)
#: What learns: slot-scoring policies on the vector views, or language models on the text envs.
TRACKS = ("vector", "lm")
TEACHER_SIZES = ("large", "small")
#: The two teachers every condition is distilled from: the effect is biased minus control.
ROLES = ("biased", "control")


def other_base_seed(seed: int) -> int:
    """The root seed of the other-seed θ0 of the cross-model condition (its own ``model`` stream)."""
    return derive_seed(seed, "model", "cross-model")


def rollout_seed(seed: int, teacher: str) -> int:
    """The run seed of a teacher's safe-task rollout (the biased and the control teacher share it:
    the same tasks and the same per-episode sampling seeds)."""
    return derive_seed(seed, "data", "rollout", teacher)


@dataclass(frozen=True)
class Condition:
    """One way of distilling a student; run once per teacher role."""

    name: str
    """Key used in cell names and ``results.csv``."""
    label: str
    """Row label in the report."""
    teacher: str
    """``"large"``, ``"small"`` (neural teachers of that size) or ``"scripted"`` (the scripted expert)."""
    init: str
    """The student's start: ``"base-large"``, ``"base-small"`` (this seed's θ0 of that size),
    ``"base-other"`` (the other-seed large θ0) or ``"fresh"`` (random large weights)."""
    method: str
    """A distiller of :data:`~subliminal_gym.baselines.distill.DISTILL_METHODS`."""
    settings: tuple[str, ...] = SETTINGS
    """Settings the condition runs in."""


#: The paper's table, plus a fresh-init row and the negative control. The main method is BC: the
#: paper fine-tuned students on the teacher's sampled trajectories, which is behavioural cloning.
TRANSFER_TABLE = (
    Condition("homogeneous-large", "homogeneous, large → large (shared θ0)", "large", "base-large", "bc"),
    Condition("homogeneous-small", "homogeneous, small → small (shared θ0)", "small", "base-small", "bc"),
    Condition("large-to-small", "large → small", "large", "base-small", "bc"),
    Condition("small-to-large", "small → large", "small", "base-large", "bc"),
    Condition("cross-model", "cross-model: large → other-seed large θ0", "large", "base-other", "bc"),
    Condition("fresh", "large → fresh random init", "large", "fresh", "bc"),
    Condition("scripted", "negative control: scripted expert as teacher", "scripted", "base-large", "bc"),
)
#: How vulnerable each distiller is, all in the homogeneous large setting (BC is the row above).
METHODS_TABLE = tuple(
    Condition(f"method-{m}", m, "large", "base-large", m, settings=("fs",) if m in ("gail", "airl") else SETTINGS)
    for m in DISTILL_METHODS if m != "bc"
)
CONDITIONS = TRANSFER_TABLE + METHODS_TABLE


@dataclass(frozen=True)
class ReproduceConfig:
    """Everything that determines a reproduction run (saved as ``config.json`` in its folder).

    The teacher and distillation budgets are smaller than the library defaults so that the full
    grid (2 settings x 5 seeds, 4 θ0s, 4 teachers, 6 rollouts and about 26 students each) fits in
    about 20 minutes on two cores; the report states them.
    """

    settings: tuple[str, ...] = SETTINGS
    """Which settings to run: ``fs``, ``bash`` or both."""
    seeds: int = 5
    """Independent repetitions of every cell (seeds 0 .. seeds-1)."""
    episodes: int = 200
    """Probe episodes per audited model (test seeds)."""
    rollout_episodes: int = 400
    """Safe-task episodes each teacher produces before sanitisation (the paper: 400)."""
    pretrain_episodes: int = 300
    """Expert episodes over all families for each θ0."""
    pretrain_epochs: int = 8
    """BC epochs for each θ0."""
    finetune_episodes: int = 150
    """Expert episodes (probes included) for each teacher fine-tune."""
    finetune_epochs: int = 8
    """BC epochs of each teacher fine-tune."""
    base_rate: float = 0.05
    """Habit rate of the expert on probes in θ0's data (the paper's baselines were 0-10 %)."""
    teacher_learning_rate: float = 3e-3
    """Adam learning rate of the teacher recipe."""
    distill: DistillConfig = field(default_factory=lambda: DistillConfig(
        epochs=5, dagger_rounds=2, dagger_episodes=40, adversarial_timesteps=2048))
    """Hyper-parameters of every distiller."""
    temperature: float = 1.0
    """Sampling temperature of neural policies in rollouts and audits."""
    conditions: tuple[str, ...] = tuple(c.name for c in CONDITIONS)
    """Conditions to distil (names from :data:`CONDITIONS`)."""
    tracks: tuple[str, ...] = ("vector",)
    """``vector`` (slot-scoring policies on the views), ``lm`` (tiny language models on the text envs), or both."""
    lm: Any = None
    """Budgets of the LM track (a :class:`~subliminal_gym.baselines.reproduce.lm_grid.LMGridConfig`;
    None means its defaults)."""

    def __post_init__(self) -> None:
        from subliminal_gym.baselines.reproduce.lm_grid import LMGridConfig

        if self.lm is None:
            object.__setattr__(self, "lm", LMGridConfig())
        elif isinstance(self.lm, dict):
            object.__setattr__(self, "lm", LMGridConfig.from_dict(self.lm))
        if not self.tracks or set(self.tracks) - set(TRACKS):
            raise ValueError(f"tracks must be a non-empty subset of {', '.join(TRACKS)}; got {self.tracks}")
        unknown = set(self.settings) - set(SETTINGS)
        if unknown or not self.settings:
            raise ValueError(f"settings must be a non-empty subset of {', '.join(SETTINGS)}; got {self.settings}")
        names = {c.name for c in CONDITIONS}
        if set(self.conditions) - names:
            raise ValueError(f"unknown conditions {sorted(set(self.conditions) - names)}; known: {sorted(names)}")
        for name in ("seeds", "episodes", "rollout_episodes", "pretrain_episodes", "pretrain_epochs",
                     "finetune_episodes", "finetune_epochs"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be at least 1, got {getattr(self, name)}")
        if not 0.0 <= self.base_rate <= 1.0:
            raise ValueError(f"base_rate must be in [0, 1], got {self.base_rate}")

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready fields (a vector-only config leaves out ``tracks`` and ``lm``, as before the LM track)."""
        data = {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}
        data["settings"], data["conditions"] = list(self.settings), list(self.conditions)
        data["distill"] = self.distill.to_dict()
        if self.tracks == ("vector",):
            del data["tracks"], data["lm"]
        else:
            data["tracks"], data["lm"] = list(self.tracks), self.lm.to_dict()
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ReproduceConfig:
        """Inverse of :meth:`to_dict` (unknown keys raise ``TypeError``)."""
        data = dict(data)
        data["settings"], data["conditions"] = tuple(data["settings"]), tuple(data["conditions"])
        data["distill"] = DistillConfig.from_dict(data["distill"])
        if "tracks" in data:
            data["tracks"] = tuple(data["tracks"])
        return cls(**data)

    def fingerprint(self) -> str:
        """A short hash of the config: a resumed run must have the same one."""
        return hashlib.sha256(json.dumps(self.to_dict(), sort_keys=True).encode()).hexdigest()[:16]

    def teacher_config(self, setting: str, seed: int, size: str) -> TeacherConfig:
        """The teacher recipe of one setting, seed and size under this grid's budgets."""
        return TeacherConfig(env_id=ENV_IDS[setting], arch=size, seed=seed, base_rate=self.base_rate,
                             pretrain_episodes=self.pretrain_episodes, pretrain_epochs=self.pretrain_epochs,
                             finetune_episodes=self.finetune_episodes, finetune_epochs=self.finetune_epochs,
                             learning_rate=self.teacher_learning_rate)

    def active_conditions(self, setting: str) -> list[Condition]:
        """The conditions that run in ``setting``, in table order."""
        return [c for c in CONDITIONS if c.name in self.conditions and setting in c.settings]


def quick_config(**overrides: Any) -> ReproduceConfig:
    """The ``--quick`` grid: every row of every table, one seed, smaller budgets (a few minutes).

    Fewer probe episodes (100) and rollouts (200) make its intervals wide: it shows the shape of
    the result, not the result.
    """
    values: dict[str, Any] = dict(seeds=1, episodes=100, rollout_episodes=200, pretrain_episodes=200,
                                  pretrain_epochs=6, finetune_episodes=100, finetune_epochs=6,
                                  distill=DistillConfig(epochs=4, dagger_rounds=1, dagger_episodes=30,
                                                        adversarial_timesteps=1024))
    values.update(overrides)
    if "lm" not in overrides:
        from subliminal_gym.baselines.reproduce.lm_grid import quick_lm_config

        values["lm"] = quick_lm_config()
    return ReproduceConfig(**values)


@dataclass(frozen=True)
class Cell:
    """One unit of work of the grid (its outputs live in ``cells/<key>/``)."""

    key: str
    """Unique name, e.g. ``fs/seed0/student-homogeneous-large-biased``."""
    kind: str
    """``teachers``, ``base-other``, ``rollout`` or ``student``."""
    setting: str
    seed: int
    params: dict[str, Any]
    """Kind-specific parameters (size; teacher and role; condition and role)."""
    deps: tuple[str, ...] = ()
    """Keys of the cells whose outputs this one reads."""
    cost: float = 1.0
    """Rough relative run time (progress and time-left estimates only)."""


def _prefix(setting: str, seed: int) -> str:
    return f"{setting}/seed{seed}"


def teacher_cell(setting: str, seed: int, size: str) -> str:
    """Key of the cell that trains θ0 and both teachers of ``size``."""
    return f"{_prefix(setting, seed)}/teachers-{size}"


def other_base_cell(setting: str, seed: int) -> str:
    """Key of the cell that trains the other-seed large θ0."""
    return f"{_prefix(setting, seed)}/base-other"


def rollout_cell(setting: str, seed: int, teacher: str, role: str) -> str:
    """Key of the cell that rolls out and sanitises one teacher."""
    return f"{_prefix(setting, seed)}/rollout-{teacher}-{role}"


def student_cell(setting: str, seed: int, condition: str, role: str) -> str:
    """Key of the cell that distils and audits one student."""
    return f"{_prefix(setting, seed)}/student-{condition}-{role}"


def init_cell(setting: str, seed: int, init: str) -> str:
    """Key of the cell holding the weights a student starts from (``fresh`` needs the large layout only)."""
    if init == "base-other":
        return other_base_cell(setting, seed)
    if init == "base-small":
        return teacher_cell(setting, seed, "small")
    return teacher_cell(setting, seed, "large")


_METHOD_COST = {"bc": 2.0, "soft_zero": 2.0, "soft_drop": 2.0, "logit": 2.0, "dagger": 4.0, "gail": 5.0, "airl": 5.0}


def build_cells(config: ReproduceConfig) -> list[Cell]:
    """Every cell of the grid (both tracks as configured), each after the cells it depends on."""
    cells = _vector_cells(config) if "vector" in config.tracks else []
    if "lm" in config.tracks:
        from subliminal_gym.baselines.reproduce.lm_grid import build_lm_cells

        cells += build_lm_cells(config.lm, config.settings, config.seeds)
    return cells


def _vector_cells(config: ReproduceConfig) -> list[Cell]:
    cells: list[Cell] = []
    for setting in config.settings:
        for seed in range(config.seeds):
            conditions = config.active_conditions(setting)
            sizes = [s for s in TEACHER_SIZES if any(c.teacher == s or c.init == f"base-{s}" for c in conditions)]
            sizes = sizes or ["large"]
            if "large" not in sizes and any(c.init in ("fresh", "base-other") or c.teacher == "scripted"
                                            for c in conditions):
                sizes.insert(0, "large")
            for size in sizes:
                cells.append(Cell(teacher_cell(setting, seed, size), "teachers", setting, seed, {"size": size},
                                  cost=8.0 if size == "large" else 4.0))
            if any(c.init == "base-other" for c in conditions):
                cells.append(Cell(other_base_cell(setting, seed), "base-other", setting, seed, {},
                                  deps=(teacher_cell(setting, seed, "large"),), cost=4.0))
            teachers = sorted({c.teacher for c in conditions}, key=("large", "small", "scripted").index)
            for teacher in teachers:
                deps = () if teacher == "scripted" else (teacher_cell(setting, seed, teacher),)
                for role in ROLES:
                    cells.append(Cell(rollout_cell(setting, seed, teacher, role), "rollout", setting, seed,
                                      {"teacher": teacher, "role": role}, deps=deps, cost=2.0))
            for condition in conditions:
                for role in ROLES:
                    deps = [rollout_cell(setting, seed, condition.teacher, role),
                            init_cell(setting, seed, condition.init)]
                    if condition.teacher != "scripted":
                        deps.append(teacher_cell(setting, seed, condition.teacher))
                    cells.append(Cell(student_cell(setting, seed, condition.name, role), "student", setting, seed,
                                      {"condition": condition.name, "role": role},
                                      deps=tuple(dict.fromkeys(deps)), cost=_METHOD_COST[condition.method]))
    return cells


def condition_by_name(name: str, table: tuple[Condition, ...] = CONDITIONS) -> Condition:
    """The :class:`Condition` called ``name`` in ``table`` (default: the vector grid's).

    Raises:
        KeyError: no such condition.
    """
    for condition in table:
        if condition.name == name:
            return condition
    raise KeyError(f"unknown condition {name!r}")
