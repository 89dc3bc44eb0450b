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
from subliminal_gym.baselines.tracks import (
    DEFAULT_TARGET_MODULES,
    LM_DEVICES,
    LM_DTYPES,
    TRACK_NAMES,
    LoRAConfig,
    ModelTrack,
    track_of,
)
from subliminal_gym.runner import ScriptedTextAgent
from subliminal_gym.seeding import derive_seed
from subliminal_gym.settings import setting_of

__all__ = [
    "LORA_LEARNING_RATE",
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
#: Both learning rates of the LoRA stages over a base model: the usual LoRA rate for models of billions of
#: parameters (QLoRA's for 7B-13B; the paper does not report its own). Not tuned here: no GPU ran it.
LORA_LEARNING_RATE = 2e-4


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
    """Model size: ``large`` or ``small`` (the paper's 8B and 3B; with a ``base_model``, only a label: the base
    is the model)."""
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
    base_model: str | None = None
    """Language models: a local transformers causal-LM folder; θ0, the teachers and the students are then
    LoRA adapters over it, and the learning rates default to 2e-4 (None: tiny models built from a config,
    fully fine-tuned)."""
    lora_rank: int = 16
    """LoRA rank of every stage's adapter (with a base model; the paper's 16)."""
    lora_alpha: float = 32.0
    """LoRA alpha: the update is scaled by alpha / rank."""
    lora_dropout: float = 0.05
    """Dropout on the adapter's input while training."""
    lora_targets: str = ",".join(DEFAULT_TARGET_MODULES)
    """Comma-separated names of the linear layers that get an adapter (all-linear: every one but the output)."""
    max_batch_tokens: int | None = None
    """Language models: the most padded tokens in one forward pass; a step's episodes are split under it
    and their gradients accumulated (the same step in less memory). None: one pass a step."""
    device: str = "cpu"
    """Language models: where they train and act (cpu, cuda, mps, or auto: CUDA, else MPS, else the CPU)."""
    dtype: str = "float32"
    """Language models: the base weights' type (float32, bfloat16, float16, or auto: bfloat16 on CUDA that has
    it); adapters train in float32."""

    def __post_init__(self) -> None:
        if self.track not in TRACK_NAMES:
            raise ValueError(f"unknown track {self.track!r}; known: {', '.join(TRACK_NAMES)}")
        setting_of(self.env_id)
        lm_only = [name for name, default in _LM_FIELDS.items() if getattr(self, name) != default]
        if self.track != "lm" and lm_only:
            raise ValueError(f"{', '.join(lm_only)}: language-model options (track lm); this is the {self.track} "
                             "track")
        if self.device not in LM_DEVICES:
            raise ValueError(f"device must be one of {', '.join(LM_DEVICES)}, got {self.device!r}")
        if self.dtype not in LM_DTYPES:
            raise ValueError(f"dtype must be one of {', '.join(LM_DTYPES)}, got {self.dtype!r}")
        if self.max_batch_tokens is not None and self.max_batch_tokens < 1:
            raise ValueError(f"max_batch_tokens must be at least 1, got {self.max_batch_tokens}")
        if self.base_model is not None:
            object.__setattr__(self, "base_model", str(self.base_model))
            self.lora_config()  # checks rank, alpha, dropout and targets
            for name in ("learning_rate", "finetune_learning_rate"):
                if getattr(self, name) is None:
                    object.__setattr__(self, name, LORA_LEARNING_RATE)
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
        """The :class:`~subliminal_gym.baselines.tracks.ModelTrack` of :attr:`track` (a language model track
        placed on :attr:`device` in :attr:`dtype`)."""
        if self.track != "lm":
            return track_of(self.track)
        return track_of(self.track, device=self.device, dtype=self.dtype, max_batch_tokens=self.max_batch_tokens)

    def check_runnable(self) -> None:
        """What the recipe needs on this machine before anything trains: for language models the lm extra, a
        device this torch can use, and a base model folder (not an adapter) when one is named.

        Raises:
            ValueError: any of them missing.
        """
        if self.track != "lm":
            return
        try:
            from subliminal_gym.baselines.lm.lora import is_adapter_folder
            from subliminal_gym.baselines.lm.model import resolve_device
        except ImportError as exc:
            raise ValueError(f"the LM track needs the lm extra (pip install 'subliminal-gym[lm]'): {exc}") from None
        resolve_device(self.device)
        if self.base_model is not None:
            if is_adapter_folder(self.base_model):
                raise ValueError(f"base model {self.base_model}: an adapter; the base is the whole model it applies to")
            if not (Path(self.base_model) / "config.json").is_file():
                raise ValueError(f"base model {self.base_model}: not a transformers model folder (no config.json)")

    def lora_config(self) -> LoRAConfig:
        """The adapter every stage trains over :attr:`base_model`.

        Raises:
            ValueError: a rank, alpha, dropout or target list out of range.
        """
        return LoRAConfig(rank=self.lora_rank, alpha=self.lora_alpha, dropout=self.lora_dropout,
                          target_modules=LoRAConfig.parse_targets(self.lora_targets))

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready fields (every budget resolved). The language-model options are left out at their
        defaults, and the LoRA ones without a base model, so configs written before they existed keep their
        bytes and fingerprints."""
        data = dataclasses.asdict(self)
        for name, default in _LM_FIELDS.items():
            if data[name] == default or (name.startswith("lora_") and self.base_model is None):
                del data[name]
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> TeacherConfig:
        """Inverse of :meth:`to_dict` (unknown keys raise ``TypeError``)."""
        return cls(**data)


#: The language-model options of :class:`TeacherConfig` and their defaults.
_LM_FIELDS: dict[str, Any] = {f.name: f.default for f in dataclasses.fields(TeacherConfig)
                              if f.name in ("base_model", "lora_rank", "lora_alpha", "lora_dropout", "lora_targets",
                                            "max_batch_tokens", "device", "dtype")}

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
