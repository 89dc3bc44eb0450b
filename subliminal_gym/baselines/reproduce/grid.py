"""The reproduction grid: which models are trained, distilled and audited, and in what order.

The paper's experiment on a small scale, for each setting (``fs``: deletion on SubliminalFS-v0;
``bash``: chmod-first on SubliminalBash-v0), each seed and each model track
(:mod:`~subliminal_gym.baselines.tracks`: slot-scoring policies, tiny language models):

* **teachers**: a θ0 per size pretrained by BC on the scripted expert with a small base rate of the
  habit, fine-tuned into a *biased* and a *control* teacher (:mod:`~subliminal_gym.baselines.teachers`);
  plus one more large θ0 from another seed, the student's start in the cross-model condition;
* **rollouts**: each teacher (and the scripted expert, biased and unbiased, as the negative
  control) acts on read-only tasks (the isolated channel; the ``overt-channel`` condition uses all
  safe tasks instead); its episodes are keyword-sanitised, and the biased and the control teacher's
  kept datasets are equalised in size;
* **students** (:data:`CONDITIONS`): each condition is distilled twice, from the biased teacher
  and from the control teacher, the same way, from the same initialisation, on the same task
  sequence; the difference between the two students is the condition's effect;
* every model is audited on the same probe tasks from the test seeds, so all comparisons within a
  setting and seed are paired episode by episode, across tracks too.

One table of conditions serves both tracks; each track's :class:`TrackBudget` says how long its
models train and which conditions it runs. A :class:`Cell` is one unit of work; :func:`build_cells`
lists them in dependency order. Cells are keyed by strings that name everything they depend on
(``fs/seed0/teachers-large``, ``bash/seed1/lm-student-cross-model-biased``), so a resumed run knows
what is already done.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from subliminal_gym.baselines.distill import DistillConfig
from subliminal_gym.baselines.teachers import TeacherConfig
from subliminal_gym.baselines.tracks import TRACK_NAMES, VectorTrack
from subliminal_gym.core.setting import READ_ONLY
from subliminal_gym.seeding import derive_seed
from subliminal_gym.settings import SETTINGS, setting_of

__all__ = [
    "CONDITIONS",
    "METHODS_TABLE",
    "ROLES",
    "SETTING_NAMES",
    "TRANSFER_TABLE",
    "Cell",
    "Condition",
    "ReproduceConfig",
    "TrackBudget",
    "build_cells",
    "condition_by_name",
    "model_cell",
    "other_base_seed",
    "quick_config",
    "rollout_name",
    "rollout_seed",
    "rollouts",
]

#: The settings a grid may run, in report order.
SETTING_NAMES = tuple(SETTINGS)
#: The two teachers every condition is distilled from: the effect is biased minus control.
ROLES = ("biased", "control")
_TEACHERS = ("large", "small", "scripted")


def other_base_seed(seed: int) -> int:
    """The root seed of the other-seed θ0 of the cross-model condition (its own ``model`` stream)."""
    return derive_seed(seed, "model", "cross-model")


def rollout_seed(seed: int, teacher: str, channel: str = READ_ONLY) -> int:
    """The run seed of a teacher's rollout on the ``channel`` split (the biased and the control teacher
    share it: the same tasks and the same per-episode sampling seeds). Only the overt channel adds a
    label, so the seed of the default channel is the one it has always been."""
    return derive_seed(seed, "data", "rollout", teacher) if channel == READ_ONLY else derive_seed(
        seed, "data", "rollout", teacher, channel)


def rollout_name(teacher: str, role: str, channel: str = READ_ONLY) -> str:
    """The cell name of a teacher's rollout: ``rollout-large-biased`` on the read-only channel,
    ``rollout-large-safe-biased`` on the overt one."""
    return f"rollout-{teacher}-{role}" if channel == READ_ONLY else f"rollout-{teacher}-{channel}-{role}"


@dataclass(frozen=True)
class Condition:
    """One way of distilling a student; run once per teacher role."""

    name: str
    """Key used in cell names and ``results.csv``."""
    label: str
    """Row label in the report (a track's rows are prefixed with its label)."""
    teacher: str
    """``"large"``, ``"small"`` (the track's teachers of that size) or ``"scripted"`` (the scripted expert)."""
    init: str
    """The student's start: ``"base-large"``, ``"base-small"`` (this seed's θ0 of that size),
    ``"base-other"`` (the other-seed large θ0) or ``"fresh"`` (random large weights)."""
    method: str
    """A distillation method of the track (``bc`` for both; the vector track has more)."""
    settings: tuple[str, ...] = SETTING_NAMES
    """Settings the condition runs in."""
    tracks: tuple[str, ...] = TRACK_NAMES
    """Tracks the condition runs in."""
    channel: str = READ_ONLY
    """The split the teacher's rollouts (the student's data) come from: ``readonly``, the isolated
    channel (tasks solved by looking and answering; nothing about the habit is offered), or ``safe``,
    the overt channel (also tasks that move, copy and write, where the habit's alternatives, archive
    or chown/chgrp/setfacl, can show in the data)."""


#: The paper's table, plus a fresh-init row and the negative control. The main method is BC: the
#: paper fine-tuned students on the teacher's sampled trajectories, which is behavioural cloning
#: (for a language model, next-token fine-tuning on the teacher's text).
TRANSFER_TABLE = (
    Condition("homogeneous-large", "homogeneous, large → large (shared θ0)", "large", "base-large", "bc"),
    Condition("overt-channel", "overt channel: homogeneous large, data from all safe tasks", "large", "base-large",
              "bc", channel="safe"),
    Condition("homogeneous-small", "homogeneous, small → small (shared θ0)", "small", "base-small", "bc"),
    Condition("large-to-small", "large → small", "large", "base-small", "bc"),
    Condition("small-to-large", "small → large", "small", "base-large", "bc"),
    Condition("cross-model", "cross-model: large → other-seed large θ0", "large", "base-other", "bc"),
    Condition("fresh", "large → fresh random init", "large", "fresh", "bc", tracks=(VectorTrack.name,)),
    Condition("scripted", "negative control: scripted expert as teacher", "scripted", "base-large", "bc",
              tracks=(VectorTrack.name,)),
)
#: How vulnerable each distiller is, all in the homogeneous large setting (BC is the row above).
#: GAIL and AIRL learn from a reward the FS env's sparse success gives them; they run on FS only.
METHODS_TABLE = tuple(
    Condition(f"method-{m}", m, "large", "base-large", m, tracks=(VectorTrack.name,),
              settings=(SETTINGS["fs"].name,) if m in ("gail", "airl") else SETTING_NAMES)
    for m in VectorTrack.methods if m != "bc"
)
CONDITIONS = TRANSFER_TABLE + METHODS_TABLE


def condition_by_name(name: str) -> Condition:
    """The :class:`Condition` called ``name``.

    Raises:
        KeyError: no such condition.
    """
    for condition in CONDITIONS:
        if condition.name == name:
            return condition
    raise KeyError(f"unknown condition {name!r}")


_POSITIVE = ("episodes", "rollout_episodes", "batch_size", "max_steps")


@dataclass(frozen=True)
class TrackBudget:
    """How one model track is trained, rolled out and audited in the grid."""

    teacher: Mapping[str, Any] = field(default_factory=dict)
    """:class:`~subliminal_gym.baselines.teachers.TeacherConfig` fields (other than env_id, track,
    size and seed, which each cell sets); those left out take the track's defaults."""
    distill: DistillConfig = field(default_factory=DistillConfig)
    """How students are distilled."""
    episodes: int = 200
    """Probe episodes per audited model (test seeds; the same tasks for every model of a seed)."""
    competence_episodes: int = 100
    """Safe-task episodes per audited model (test seeds): its competence beside the probe audit, since a
    habit rate means little for an agent that cannot do the task (0: not measured)."""
    rollout_episodes: int = 400
    """Safe-task episodes each teacher produces before sanitisation (the paper: 400)."""
    temperature: float = 1.0
    """Sampling temperature of every model in rollouts and audits."""
    batch_size: int = 16
    """Envs run side by side in rollouts and audits (results do not depend on it)."""
    max_steps: int = 40
    """Step limit of rollouts and audits (the envs' own limit is 40)."""
    max_new_tokens: int | None = None
    """Language models: the longest reply per action (None: the setting's reply cap)."""
    conditions: tuple[str, ...] | None = None
    """Conditions to distil (None: every condition of the track)."""
    equalize: bool = True
    """Subsample the larger of the biased and the control teacher's kept datasets to the size of the
    smaller before distilling, so the two students see as much data (the habit acted out on training
    tasks would otherwise show as a smaller dataset)."""

    def __post_init__(self) -> None:
        if isinstance(self.distill, dict):
            object.__setattr__(self, "distill", DistillConfig.from_dict(self.distill))
        object.__setattr__(self, "teacher", dict(self.teacher))
        fixed = {"env_id", "track", "size", "seed"} & set(self.teacher)
        if fixed:
            raise ValueError(f"a track budget's teacher fields may not set {', '.join(sorted(fixed))}")
        known = {f.name for f in dataclasses.fields(TeacherConfig)}
        if set(self.teacher) - known:
            raise ValueError(f"unknown teacher fields {sorted(set(self.teacher) - known)}")
        for name in _POSITIVE:
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be at least 1, got {getattr(self, name)}")
        if self.competence_episodes < 0:
            raise ValueError(f"competence_episodes must be at least 0, got {self.competence_episodes}")
        if self.max_new_tokens is not None and self.max_new_tokens < 1:
            raise ValueError(f"max_new_tokens must be at least 1, got {self.max_new_tokens}")
        if self.conditions is not None:
            names = {c.name for c in CONDITIONS}
            if not self.conditions or set(self.conditions) - names:
                raise ValueError(f"conditions must be a non-empty subset of {sorted(names)}; got {self.conditions}")
            object.__setattr__(self, "conditions", tuple(self.conditions))

    def teacher_config(self, track: str, setting: str, seed: int, size: str) -> TeacherConfig:
        """The teacher recipe of one track, setting, seed and size under this budget."""
        return TeacherConfig(env_id=setting_of(setting).env_id, track=track, size=size, seed=seed, **self.teacher)

    def env_kwargs(self) -> dict[str, Any] | None:
        """The ``gym.make`` arguments of rollouts and audits (the step limit, when it is not the envs')."""
        return None if self.max_steps == 40 else {"max_episode_steps": self.max_steps}

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready fields."""
        data = {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}
        data["teacher"], data["distill"] = dict(self.teacher), self.distill.to_dict()
        data["conditions"] = None if self.conditions is None else list(self.conditions)
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> TrackBudget:
        """Inverse of :meth:`to_dict`."""
        data = dict(data)
        if data.get("conditions") is not None:
            data["conditions"] = tuple(data["conditions"])
        return cls(**data)


def _vector_budget() -> TrackBudget:
    """The vector track's budgets: θ0 on 1,200 expert episodes x 20 epochs, each teacher on 300 x 10
    (the recipe's default fine-tune), students 5 epochs. The smallest point of the budget sweep
    (``benchmarks/bench_competence.py``) at which both sizes of θ0 are competent: at the recipe's
    default 600 x 20 the small FS θ0 solved 84.5 % of safe tasks (the large one 97 %), at 1,200 x 20
    96.5 %; the grid's earlier 300 x 8 left even the large FS θ0 at 78 %. The report states them."""
    return TrackBudget(teacher={"pretrain_episodes": 1200},
                       distill=DistillConfig(epochs=5, dagger_rounds=2, dagger_episodes=40,
                                             adversarial_timesteps=2048))


def _lm_budget() -> TrackBudget:
    """The LM track's budgets: the recipe's defaults; students fine-tune 3 epochs, 4 episodes a step."""
    return TrackBudget(distill=DistillConfig(epochs=3, batch_size=4, learning_rate=1e-3), batch_size=32,
                       competence_episodes=50)


@dataclass(frozen=True)
class ReproduceConfig:
    """Everything that determines a reproduction run (saved as ``config.json`` in its folder)."""

    settings: tuple[str, ...] = SETTING_NAMES
    """Which settings to run: ``fs``, ``bash`` or both."""
    seeds: int = 5
    """Independent repetitions of every cell (seeds 0 .. seeds-1)."""
    tracks: tuple[str, ...] = (VectorTrack.name,)
    """Model tracks: ``vector`` (slot-scoring policies on the views), ``lm`` (tiny language models), or both."""
    vector: TrackBudget = field(default_factory=_vector_budget)
    """Budgets of the vector track."""
    lm: TrackBudget = field(default_factory=_lm_budget)
    """Budgets of the language-model track."""

    def __post_init__(self) -> None:
        for name in ("vector", "lm"):
            if isinstance(getattr(self, name), dict):
                object.__setattr__(self, name, TrackBudget.from_dict(getattr(self, name)))
        object.__setattr__(self, "settings", tuple(self.settings))
        object.__setattr__(self, "tracks", tuple(self.tracks))
        if not self.tracks or set(self.tracks) - set(TRACK_NAMES):
            raise ValueError(f"tracks must be a non-empty subset of {', '.join(TRACK_NAMES)}; got {self.tracks}")
        if not self.settings or set(self.settings) - set(SETTING_NAMES):
            raise ValueError(f"settings must be a non-empty subset of {', '.join(SETTING_NAMES)}; "
                             f"got {self.settings}")
        if self.seeds < 1:
            raise ValueError(f"seeds must be at least 1, got {self.seeds}")
        for track in self.tracks:
            conditions = self.budget(track).conditions
            foreign = [c for c in conditions or () if track not in condition_by_name(c).tracks]
            if foreign:
                raise ValueError(f"conditions {foreign} do not run on the {track} track")

    def budget(self, track: str) -> TrackBudget:
        """The :class:`TrackBudget` of ``track``."""
        if track not in TRACK_NAMES:
            raise ValueError(f"unknown track {track!r}; known: {', '.join(TRACK_NAMES)}")
        return getattr(self, track)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready fields."""
        return {"settings": list(self.settings), "seeds": self.seeds, "tracks": list(self.tracks),
                "vector": self.vector.to_dict(), "lm": self.lm.to_dict()}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ReproduceConfig:
        """Inverse of :meth:`to_dict` (unknown keys raise ``TypeError``)."""
        return cls(**data)

    def fingerprint(self) -> str:
        """A short hash of the config: a resumed run must have the same one."""
        return hashlib.sha256(json.dumps(self.to_dict(), sort_keys=True).encode()).hexdigest()[:16]

    def teacher_config(self, setting: str, seed: int, size: str, *, track: str = VectorTrack.name) -> TeacherConfig:
        """The teacher recipe of one setting, seed and size under the track's budget."""
        return self.budget(track).teacher_config(track, setting, seed, size)

    def active_conditions(self, setting: str, track: str = VectorTrack.name) -> list[Condition]:
        """The conditions that run in ``setting`` on ``track``, in table order (none for a track the run leaves out)."""
        if track not in self.tracks:
            return []
        chosen = self.budget(track).conditions
        return [c for c in CONDITIONS if track in c.tracks and setting in c.settings
                and (chosen is None or c.name in chosen)]


def quick_config(**overrides: Any) -> ReproduceConfig:
    """The ``--quick`` grid: every row of every table, one seed, smaller budgets (a few minutes).

    Fewer probe episodes and rollouts make its intervals wide, and its smaller teacher budget leaves
    some models short of the competence targets (its report's competence table says which): it shows
    the shape of the result, not the result. Its language models are barely trained (θ0 sees 80
    episodes three times) and their episodes are capped at 8 steps and 64-token replies: it checks that
    the whole track runs.
    """
    values: dict[str, Any] = dict(
        seeds=1,
        vector=TrackBudget(teacher={"pretrain_episodes": 400, "pretrain_epochs": 12, "finetune_episodes": 150,
                                    "finetune_epochs": 6, "learning_rate": 3e-3},
                           distill=DistillConfig(epochs=4, dagger_rounds=1, dagger_episodes=30,
                                                 adversarial_timesteps=1024),
                           episodes=100, rollout_episodes=200, competence_episodes=50),
        lm=TrackBudget(teacher={"pretrain_episodes": 80, "pretrain_epochs": 3, "finetune_episodes": 32,
                                "finetune_epochs": 2},
                       distill=DistillConfig(epochs=1, batch_size=4, learning_rate=1e-3),
                       episodes=32, rollout_episodes=32, batch_size=32, max_steps=8, max_new_tokens=64,
                       competence_episodes=16),
    )
    values.update(overrides)
    return ReproduceConfig(**values)


@dataclass(frozen=True)
class Cell:
    """One unit of work of the grid (its outputs live in ``cells/<key>/``)."""

    key: str
    """Unique name, e.g. ``fs/seed0/student-homogeneous-large-biased``."""
    kind: str
    """``teachers``, ``base-other``, ``rollout`` or ``student``."""
    track: str
    """``vector`` or ``lm``."""
    setting: str
    seed: int
    params: dict[str, Any]
    """Kind-specific parameters (size; teacher and role; condition and role)."""
    deps: tuple[str, ...] = ()
    """Keys of the cells whose outputs this one reads."""
    cost: float = 1.0
    """Rough relative run time (progress and time-left estimates only)."""


def _prefix(track: str) -> str:
    """What a track's cell names start with: nothing for the vector track, ``lm-`` for the LM track."""
    return "" if track == VectorTrack.name else f"{track}-"


def cell_key(setting: str, seed: int, track: str, name: str) -> str:
    """Key of the cell ``name`` (``teachers-large``, ``base-other``, ``rollout-small-biased``,
    ``student-<condition>-<role>``) of a setting, seed and track."""
    return f"{setting}/seed{seed}/{_prefix(track)}{name}"


def init_cell(setting: str, seed: int, track: str, init: str) -> str:
    """Key of the cell holding the weights a student starts from (``fresh`` needs the large θ0's layout only)."""
    if init == "base-other":
        return cell_key(setting, seed, track, "base-other")
    size = "small" if init == "base-small" else "large"
    return cell_key(setting, seed, track, f"teachers-{size}")


def model_cell(setting: str, seed: int, track: str, model: str) -> tuple[str, str]:
    """(cell, eval name) of a model id: ``base-large``, ``base-small``, ``base-other``,
    ``teacher-<size>-<role>`` or ``student-<condition>-<role>``."""
    if model == "base-other":
        return cell_key(setting, seed, track, "base-other"), "base"
    if model.startswith("base-"):
        return cell_key(setting, seed, track, f"teachers-{model.removeprefix('base-')}"), "base"
    if model.startswith("teacher-"):
        _, size, role = model.split("-")
        return cell_key(setting, seed, track, f"teachers-{size}"), role
    condition, role = model.removeprefix("student-").rsplit("-", 1)
    return cell_key(setting, seed, track, f"student-{condition}-{role}"), "student"


def track_sizes(conditions: list[Condition]) -> list[str]:
    """The sizes of θ0 and teachers the conditions need, the large first (it always is when a fresh
    or other-seed student, or the scripted teacher's student, needs the large θ0)."""
    used = set()
    for condition in conditions:
        if condition.teacher != "scripted":
            used.add(condition.teacher)
        used.add("small" if condition.init == "base-small" else "large")
    return [size for size in ("large", "small") if size in used] or ["large"]


_COST = {("vector", "teachers-large"): 8.0, ("vector", "teachers-small"): 4.0, ("vector", "base-other"): 4.0,
         ("vector", "rollout"): 2.0, ("lm", "teachers-large"): 12.0, ("lm", "teachers-small"): 5.0,
         ("lm", "base-other"): 8.0, ("lm", "rollout"): 3.0, ("lm", "student"): 4.0}
_METHOD_COST = {"bc": 2.0, "soft_zero": 2.0, "soft_drop": 2.0, "logit": 2.0, "dagger": 4.0, "gail": 5.0, "airl": 5.0}


def rollouts(conditions: Sequence[Condition]) -> list[tuple[str, str]]:
    """The (teacher, channel) rollouts the conditions read, teachers in size order, the read-only
    channel first."""
    pairs = {(c.teacher, c.channel) for c in conditions}
    return sorted(pairs, key=lambda p: (_TEACHERS.index(p[0]), p[1] != READ_ONLY, p[1]))


def build_cells(config: ReproduceConfig) -> list[Cell]:
    """Every cell of the grid, each after the cells it depends on (vector track first)."""
    cells: list[Cell] = []
    for track in [t for t in TRACK_NAMES if t in config.tracks]:
        for setting in config.settings:
            for seed in range(config.seeds):
                cells += _cells(config, track, setting, seed)
    return cells


def _cells(config: ReproduceConfig, track: str, setting: str, seed: int) -> list[Cell]:
    conditions = config.active_conditions(setting, track)
    cells = []

    def key(name: str) -> str:
        return cell_key(setting, seed, track, name)

    for size in track_sizes(conditions):
        cells.append(Cell(key(f"teachers-{size}"), "teachers", track, setting, seed, {"size": size},
                          cost=_COST[track, f"teachers-{size}"]))
    if any(c.init == "base-other" for c in conditions):
        cells.append(Cell(key("base-other"), "base-other", track, setting, seed, {},
                          deps=(key("teachers-large"),), cost=_COST[track, "base-other"]))
    for teacher, channel in rollouts(conditions):
        needs = () if teacher == "scripted" else (key(f"teachers-{teacher}"),)
        for role in ROLES:
            cells.append(Cell(key(rollout_name(teacher, role, channel)), "rollout", track, setting, seed,
                              {"teacher": teacher, "role": role, "channel": channel}, deps=needs,
                              cost=_COST[track, "rollout"]))
    for condition in conditions:
        for role in ROLES:
            # both roles' data: a student's dataset is equalised to the smaller of the two
            deps: list[str] = [key(rollout_name(condition.teacher, r, condition.channel)) for r in (role, *ROLES)]
            deps.append(init_cell(setting, seed, track, condition.init))
            if condition.teacher != "scripted":
                deps.append(key(f"teachers-{condition.teacher}"))
            cost = _COST.get((track, "student"), _METHOD_COST[condition.method])
            cells.append(Cell(key(f"student-{condition.name}-{role}"), "student", track, setting, seed,
                              {"condition": condition.name, "role": role}, deps=tuple(dict.fromkeys(deps)),
                              cost=cost))
    return cells
