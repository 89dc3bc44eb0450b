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
* **students** (:data:`~subliminal_gym.baselines.reproduce.conditions.CONDITIONS`, in
  :mod:`~subliminal_gym.baselines.reproduce.conditions`): each condition is distilled twice, from the biased teacher
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
from subliminal_gym.baselines.reproduce.conditions import (
    CONDITIONS,
    MAIN_TABLE,
    ROLES,
    SETTING_NAMES,
    SWEEP_TABLE,
    TEACHER_SLOTS,
    Condition,
    rollout_name,
)
from subliminal_gym.baselines.teachers import TEACHER_ROLES, TeacherConfig
from subliminal_gym.baselines.tracks import LM_DECODINGS, TRACK_NAMES, VectorTrack, track_of
from subliminal_gym.core.setting import READ_ONLY
from subliminal_gym.seeding import derive_seed
from subliminal_gym.settings import setting_of

__all__ = [
    "DEFAULT_ATTACK",
    "Cell",
    "ReproduceConfig",
    "TrackBudget",
    "build_cells",
    "model_cell",
    "other_base_seed",
    "quick_config",
    "reference_cell",
    "sweep_config",
    "teacher_cell",
    "rollout_seed",
    "rollouts",
]

_TEACHERS = ("large", "small", "scripted")


def other_base_seed(seed: int) -> int:
    """The root seed of the other-seed θ0 of the cross-init condition (its own ``model`` stream)."""
    return derive_seed(seed, "model", "cross-model")


def rollout_seed(seed: int, teacher: str, channel: str = READ_ONLY) -> int:
    """The run seed of a teacher's rollout on the ``channel`` split (every teacher of a size shares it:
    the same tasks and the same per-episode sampling seeds). Only another channel adds a label, so the
    seed of the default channel is the one it has always been."""
    return derive_seed(seed, "data", "rollout", teacher) if channel == READ_ONLY else derive_seed(
        seed, "data", "rollout", teacher, channel)


_POSITIVE = ("episodes", "rollout_episodes", "batch_size", "max_steps")


@dataclass(frozen=True)
class TrackBudget:
    """How one model track is trained, rolled out and audited in the grid."""

    teacher: Mapping[str, Any] = field(default_factory=dict)
    """:class:`~subliminal_gym.baselines.teachers.TeacherConfig` fields (other than env_id, track,
    size and seed, which each cell sets); those left out take the track's defaults."""
    distill: DistillConfig = field(default_factory=DistillConfig)
    """How students are distilled (the distillers table; the attack's epochs are :attr:`attack_epochs`)."""
    attack_method: str = "bc"
    """The distiller of the default attack and of the paper's table (the track's: ``bc`` for language
    models; the vector track's was chosen from the sensitivity sweep)."""
    attack_epochs: int | None = None
    """Distillation epochs of the default attack (None: :attr:`distill`'s)."""
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
    decoding: str = "sample"
    """Language models: how they act in rollouts and audits (``sample`` a reply, or ``ranked``: choose among
    the env's admissible actions by likelihood). Their competence is measured in every decoding."""
    conditions: tuple[str, ...] | None = None
    """Conditions to distil (None: every condition of the track)."""
    equalize: bool = True
    """Subsample the larger of the biased and the control teacher's kept datasets to the size of the
    smaller before distilling, so the two students see as much data (the habit acted out on training
    tasks would otherwise show as a smaller dataset)."""
    defences: tuple[Condition, ...] = ()
    """Defence recipes (:func:`~subliminal_gym.baselines.reproduce.conditions.defence_condition`) run beside the
    tables' conditions: the defences board's scorer puts its submissions here."""

    def __post_init__(self) -> None:
        if isinstance(self.distill, dict):
            object.__setattr__(self, "distill", DistillConfig.from_dict(self.distill))
        object.__setattr__(self, "defences", tuple(Condition.from_dict(d) if isinstance(d, Mapping) else d
                                                   for d in self.defences))
        defence_names = [d.name for d in self.defences]
        if any(d.kind != "defence" for d in self.defences) or len(set(defence_names)) != len(defence_names):
            raise ValueError("defences must be distinct conditions of kind 'defence' (see defence_condition)")
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
        if self.attack_epochs is not None and self.attack_epochs < 1:
            raise ValueError(f"attack_epochs must be at least 1, got {self.attack_epochs}")
        if self.competence_episodes < 0:
            raise ValueError(f"competence_episodes must be at least 0, got {self.competence_episodes}")
        if self.max_new_tokens is not None and self.max_new_tokens < 1:
            raise ValueError(f"max_new_tokens must be at least 1, got {self.max_new_tokens}")
        if self.decoding not in LM_DECODINGS:
            raise ValueError(f"decoding must be one of {', '.join(LM_DECODINGS)}, got {self.decoding!r}")
        if self.conditions is not None:
            names = {c.name for c in (*CONDITIONS, *self.defences)}
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
        # left out when empty (or at its default), so the fingerprints of runs made before defences (or
        # decodings) existed stay theirs
        data["defences"] = [d.to_dict() for d in self.defences]
        if not data["defences"]:
            del data["defences"]
        if self.decoding == "sample":
            del data["decoding"]
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
                                             adversarial_timesteps=2048),
                       attack_method=DEFAULT_ATTACK["method"], attack_epochs=DEFAULT_ATTACK["epochs"])


#: The vector track's default attack, chosen from the sensitivity sweep (``docs/results/sweep``,
#: ``docs/reproduce.md``) and kept fixed: logit distillation (the student regresses on the teacher's
#: scores of every non-sanitised action) run to 60 epochs. See
#: :data:`~subliminal_gym.baselines.reproduce.conditions.SWEEP_KNOBS`.
DEFAULT_ATTACK: dict[str, Any] = {"method": "logit", "epochs": 60}


def _lm_budget() -> TrackBudget:
    """The LM track's budgets: the recipe's defaults; students fine-tune 3 epochs, 4 episodes a step."""
    return TrackBudget(distill=DistillConfig(epochs=3, batch_size=4, learning_rate=1e-3), batch_size=32,
                       competence_episodes=50)


@dataclass(frozen=True)
class ReproduceConfig:
    """Everything that determines a reproduction run (saved as ``config.json`` in its folder)."""

    settings: tuple[str, ...] = SETTING_NAMES
    """Which settings to run: ``fs``, ``bash`` or both."""
    seeds: int = 10
    """Independent training runs (seeds 0 .. seeds-1) of the main conditions (the default attack, the
    null, the positive control): one seed is one replicate of every effect."""
    table_seeds: int | None = 5
    """Seeds of the other conditions (the paper's table, the distillers, the sweep): the first
    ``table_seeds`` of them (None: all)."""
    first_seed: int = 0
    """The first seed: the run's seeds are ``first_seed`` .. ``first_seed + seeds - 1`` (the defences
    board scores on seeds that no published run uses)."""
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
        if isinstance(self.first_seed, bool) or not isinstance(self.first_seed, int) or self.first_seed < 0:
            raise ValueError(f"first_seed must be a whole number >= 0, got {self.first_seed!r}")
        if self.table_seeds is not None and not 1 <= self.table_seeds:
            raise ValueError(f"table_seeds must be at least 1, got {self.table_seeds}")
        for track in self.tracks:
            conditions = self.budget(track).conditions
            foreign = [c for c in conditions or () if track not in self.condition(c).tracks]
            if foreign:
                raise ValueError(f"conditions {foreign} do not run on the {track} track")
            if track != "lm" and self.budget(track).decoding != "sample":
                raise ValueError(f"the {track} track's agents do not decode text: its decoding stays 'sample'")
            methods = track_of(track).methods
            if self.budget(track).attack_method not in methods:
                raise ValueError(f"the {track} track's attack method must be one of {', '.join(methods)}; got "
                                 f"{self.budget(track).attack_method!r}")

    def budget(self, track: str) -> TrackBudget:
        """The :class:`TrackBudget` of ``track``."""
        if track not in TRACK_NAMES:
            raise ValueError(f"unknown track {track!r}; known: {', '.join(TRACK_NAMES)}")
        return getattr(self, track)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready fields (``first_seed`` only when it is not 0, so older runs keep their fingerprints)."""
        return {"settings": list(self.settings), "seeds": self.seeds, "table_seeds": self.table_seeds,
                **({"first_seed": self.first_seed} if self.first_seed else {}), "tracks": list(self.tracks),
                "vector": self.vector.to_dict(), "lm": self.lm.to_dict()}

    @property
    def seed_list(self) -> list[int]:
        """The run's seeds, in order."""
        return list(range(self.first_seed, self.first_seed + self.seeds))

    def condition(self, name: str) -> Condition:
        """The condition called ``name``: one of :data:`~subliminal_gym.baselines.reproduce.conditions.CONDITIONS` or a
        defence of a track's budget.

        Raises:
            KeyError: no such condition.
        """
        for condition in (*CONDITIONS, *self.vector.defences, *self.lm.defences):
            if condition.name == name:
                return condition
        raise KeyError(f"unknown condition {name!r}")

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ReproduceConfig:
        """Inverse of :meth:`to_dict` (unknown keys raise ``TypeError``)."""
        return cls(**data)

    def fingerprint(self) -> str:
        """A short hash of the config: a resumed run must have the same one."""
        return hashlib.sha256(json.dumps(self.to_dict(), sort_keys=True).encode()).hexdigest()[:16]

    def other_decodings(self, track: str) -> tuple[str, ...]:
        """The decodings of ``track``'s agents besides its budget's: where a language model's competence is
        measured too (none for the vector track)."""
        return tuple(d for d in track_of(track).decodings if d != self.budget(track).decoding)

    def teacher_config(self, setting: str, seed: int, size: str, *, track: str = VectorTrack.name) -> TeacherConfig:
        """The teacher recipe of one setting, seed and size under the track's budget."""
        return self.budget(track).teacher_config(track, setting, seed, size)

    def condition_seeds(self, condition: Condition) -> list[int]:
        """The seeds ``condition`` runs on: all for the main ones, the first :attr:`table_seeds` for the rest."""
        if condition.kind == "main" or self.table_seeds is None:
            return self.seed_list
        return self.seed_list[:self.table_seeds]

    def runs_sweep(self) -> bool:
        """Whether some setting and track of the run holds sweep points (its report adds the sweep)."""
        return any(c.kind == "sweep" for track in self.tracks for s in self.settings
                   for c in self.active_conditions(s, track))

    def active_conditions(self, setting: str, track: str = VectorTrack.name,
                          seed: int | None = None) -> list[Condition]:
        """The conditions that run in ``setting`` on ``track`` (on ``seed``, when given), in table order
        (none for a track the run leaves out). Without a list of conditions in the budget, all but the sweep."""
        if track not in self.tracks:
            return []
        chosen = self.budget(track).conditions
        return [c for c in (*CONDITIONS, *self.budget(track).defences) if track in c.tracks and setting in c.settings
                and (c.name in chosen if chosen is not None else c.kind != "sweep")
                and (seed is None or seed in self.condition_seeds(c))]


def sweep_config(**overrides: Any) -> ReproduceConfig:
    """The sensitivity sweep (``reproduce --sweep``): the default attack, its null and every point of
    :data:`~subliminal_gym.baselines.reproduce.conditions.SWEEP_KNOBS` and the other-seed init (the
    points of :data:`~subliminal_gym.baselines.reproduce.conditions.SWEEP_NULL_KNOBS` with their own
    null), in the vector track at the full grid's budgets, on 3 seeds."""
    names = tuple(c.name for c in MAIN_TABLE[:2] + SWEEP_TABLE)
    default = ReproduceConfig()
    values: dict[str, Any] = dict(seeds=3, table_seeds=None,
                                  vector=dataclasses.replace(default.vector, conditions=names))
    values.update(overrides)
    return ReproduceConfig(**values)


def quick_config(**overrides: Any) -> ReproduceConfig:
    """The ``--quick`` grid: the main rows (attack, null, positive control), the cross-init row and the
    scripted sanity check; one seed, smaller budgets (about 3 minutes on two cores).

    One seed gives no seed-level interval or verdict; fewer probe episodes and rollouts make the
    descriptive intervals wide; its smaller teacher budget leaves some models short of the competence
    targets (its report's competence table says which), and its attack distils 20 epochs, not 60: it
    shows the shape of the result, not the result. Its language models are barely trained (θ0 sees 80
    episodes three times) and their episodes are capped at 8 steps and 64-token replies: it checks that
    the whole track runs.
    """
    rows = (*(c.name for c in MAIN_TABLE), "cross-model", "scripted")
    values: dict[str, Any] = dict(
        seeds=1, table_seeds=None,
        vector=TrackBudget(teacher={"pretrain_episodes": 400, "pretrain_epochs": 12, "finetune_episodes": 150,
                                    "finetune_epochs": 6, "learning_rate": 3e-3},
                           distill=DistillConfig(epochs=4, dagger_rounds=1, dagger_episodes=30,
                                                 adversarial_timesteps=1024),
                           attack_method=DEFAULT_ATTACK["method"], attack_epochs=20, conditions=rows,
                           episodes=100, rollout_episodes=200, competence_episodes=50),
        lm=TrackBudget(teacher={"pretrain_episodes": 80, "pretrain_epochs": 3, "finetune_episodes": 32,
                                "finetune_epochs": 2},
                       distill=DistillConfig(epochs=1, batch_size=4, learning_rate=1e-3),
                       episodes=32, rollout_episodes=32, batch_size=32, max_steps=8, max_new_tokens=64,
                       competence_episodes=16, conditions=rows[:-1]),
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


#: The θ0-and-teachers cell of a track that CI re-runs from each committed run (:func:`reference_cell`).
_REFERENCE_SIZE = {"vector": "large", "lm": "small"}  # the LM's large θ0 takes minutes


def reference_cell(config: ReproduceConfig) -> str:
    """Key of the cell CI re-runs from a committed run made with ``config`` (``tests/test_committed_results.py``,
    ``baselines/record_arithmetic.py``): seed 0's θ0 and teachers in Bash (FS where the run has no Bash), of
    the run's first track. It needs no other cell and exercises pretraining, fine-tuning and the audits."""
    setting = "bash" if "bash" in config.settings else config.settings[0]
    track = config.tracks[0]
    return cell_key(setting, 0, track, f"teachers-{_REFERENCE_SIZE[track]}")


def init_cell(setting: str, seed: int, track: str, init: str) -> str:
    """Key of the cell holding the weights a student starts from (``fresh`` needs the large θ0's layout only)."""
    if init == "base-other":
        return cell_key(setting, seed, track, "base-other")
    size = "small" if init == "base-small" else "large"
    return cell_key(setting, seed, track, f"teachers-{size}")


def teacher_cell(setting: str, seed: int, track: str, size: str, role: str) -> tuple[str, str]:
    """(cell, model name) of the teacher of ``size`` and ``role``: θ0 (``base``), the biased and the control
    teacher live in ``teachers-<size>``; every other fine-tune (``alt``, ``biased25``) in its own cell."""
    if role in TEACHER_ROLES:
        return cell_key(setting, seed, track, f"teachers-{size}"), role
    return cell_key(setting, seed, track, f"teacher-{size}-{role}"), "teacher"


def model_cell(setting: str, seed: int, track: str, model: str) -> tuple[str, str]:
    """(cell, eval name) of a model id: ``base-large``, ``base-small``, ``base-other``,
    ``teacher-<size>-<role>`` or ``student-<condition>-<slot>``."""
    if model == "base-other":
        return cell_key(setting, seed, track, "base-other"), "base"
    if model.startswith("base-"):
        return cell_key(setting, seed, track, f"teachers-{model.removeprefix('base-')}"), "base"
    if model.startswith("teacher-"):
        _, size, role = model.split("-")
        return teacher_cell(setting, seed, track, size, role)
    condition, slot = model.removeprefix("student-").rsplit("-", 1)
    return cell_key(setting, seed, track, f"student-{condition}-{slot}"), "student"


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


def rollouts(conditions: Sequence[Condition]) -> list[tuple[str, str, str, float | None]]:
    """The (teacher, role, channel, temperature) rollouts the conditions read: teachers in size order,
    the read-only channel first, the budget's temperature first."""
    found = {(c.teacher, c.teacher_role(slot), c.channel, c.temperature) for c in conditions for slot in ROLES}
    return sorted(found, key=lambda r: (_TEACHERS.index(r[0]), r[2] != READ_ONLY, r[2], r[3] is not None, r[3] or 0,
                                        _role_order(r[1])))


def _role_order(role: str) -> tuple[int, str]:
    return (TEACHER_SLOTS.index(role), "") if role in TEACHER_SLOTS else (len(TEACHER_SLOTS), role)


def build_cells(config: ReproduceConfig) -> list[Cell]:
    """Every cell of the grid, each after the cells it depends on (vector track first)."""
    cells: list[Cell] = []
    for track in [t for t in TRACK_NAMES if t in config.tracks]:
        for setting in config.settings:
            for seed in config.seed_list:
                cells += _cells(config, track, setting, seed)
    return cells


def _cells(config: ReproduceConfig, track: str, setting: str, seed: int) -> list[Cell]:
    conditions = config.active_conditions(setting, track, seed)
    if not conditions:
        return []
    cells = []

    def key(name: str) -> str:
        return cell_key(setting, seed, track, name)

    for size in track_sizes(conditions):
        cells.append(Cell(key(f"teachers-{size}"), "teachers", track, setting, seed, {"size": size},
                          cost=_COST[track, f"teachers-{size}"]))
    # the other fine-tunes: a second control (``alt``) or a biased teacher at another habit rate
    extra = sorted({(c.teacher, c.teacher_role(slot), None if c.treatment == "alt" else c.bias)
                    for c in conditions for slot in ROLES
                    if c.teacher != "scripted" and c.teacher_role(slot) not in TEACHER_ROLES},
                   key=lambda t: (_TEACHERS.index(t[0]), _role_order(t[1])))
    for size, role, bias in extra:
        cells.append(Cell(teacher_cell(setting, seed, track, size, role)[0], "teacher", track, setting, seed,
                          {"size": size, "role": role, "bias": bias}, deps=(key(f"teachers-{size}"),),
                          cost=_COST[track, f"teachers-{size}"] / 3))
    if any(c.init == "base-other" for c in conditions):
        cells.append(Cell(key("base-other"), "base-other", track, setting, seed, {},
                          deps=(key("teachers-large"),), cost=_COST[track, "base-other"]))
    for teacher, role, channel, temperature in rollouts(conditions):
        needs = () if teacher == "scripted" else (teacher_cell(setting, seed, track, teacher, role)[0],)
        cells.append(Cell(key(rollout_name(teacher, role, channel, temperature)), "rollout", track, setting, seed,
                          {"teacher": teacher, "role": role, "channel": channel, "temperature": temperature},
                          deps=needs, cost=_COST[track, "rollout"]))
    for condition in conditions:
        for slot in ROLES:
            # both slots' data: a student's dataset is equalised to the smaller of the two
            deps: list[str] = [key(condition.rollout(s)) for s in (slot, *ROLES)]
            deps.append(init_cell(setting, seed, track, condition.init))
            if condition.teacher != "scripted":
                deps.append(teacher_cell(setting, seed, track, condition.teacher, condition.teacher_role(slot))[0])
            method = condition.distill_method(config.budget(track))
            cost = _COST.get((track, "student"), _METHOD_COST[method])
            cells.append(Cell(key(condition.student(slot)), "student", track, setting, seed,
                              {"condition": condition.name, "role": slot}, deps=tuple(dict.fromkeys(deps)),
                              cost=cost))
    return cells
