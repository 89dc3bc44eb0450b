"""The model families the recipe trains, behind one small interface: a :class:`ModelTrack`.

The paper's recipe (θ0, a biased and a control fine-tune, rollouts on safe tasks, keyword
sanitisation, a student distilled from what is left, audits on probe tasks) is written once
(:mod:`~subliminal_gym.baselines.teachers`, :mod:`~subliminal_gym.baselines.reproduce`) over a track,
which says how its models are built, trained, run, saved and distilled, and what its training data is:

* ``vector`` (:class:`VectorTrack`): slot-scoring policies
  (:class:`~subliminal_gym.baselines.policies.SlotScoringPolicy`) on the vector views; data are
  :class:`~subliminal_gym.baselines.trajectories.TextTrajectory` s; every distiller of
  :data:`~subliminal_gym.baselines.distill.DISTILL_METHODS`;
* ``lm`` (:class:`~subliminal_gym.baselines.lm.track.LanguageModelTrack`, needs the ``lm`` extra):
  tiny causal language models on the text envs; data are
  :class:`~subliminal_gym.baselines.lm.LMEpisode` s; ``bc`` is next-token fine-tuning on the
  teacher's text (behavioural cloning for a language model).

Both play every episode through :func:`~subliminal_gym.runner.run_episodes` with a
:class:`~subliminal_gym.runner.TextAgent`, so both see the same tasks for the same seeds.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

from subliminal_gym.runner import TextAgent

if TYPE_CHECKING:
    from subliminal_gym.baselines.distill import DistillConfig
    from subliminal_gym.baselines.sanitize import SanitizeReport
    from subliminal_gym.baselines.teachers import TeacherConfig

__all__ = ["DEFAULT_TARGET_MODULES", "LM_DECODINGS", "LM_DEVICES", "LM_DTYPES", "MAX_ADAPTER_RANK", "TRACK_NAMES",
           "LoRAConfig", "ModelTrack", "ScriptedTeacher", "VectorTrack", "track_of"]

#: The tracks, in the order reports list them.
TRACK_NAMES = ("vector", "lm")
#: How a language-model agent chooses its action (:class:`~subliminal_gym.baselines.lm.LMAgent`): ``sample``
#: a reply and parse it, or rank the env's admissible actions by the model's likelihood (``ranked``).
LM_DECODINGS = ("sample", "ranked")
#: Where a language model runs (``auto``: CUDA, else Apple's MPS, else the CPU) and in which weight type
#: (``auto``: bfloat16 on a CUDA device that has it, else float32); see :func:`~subliminal_gym.baselines.lm.place_lm`.
LM_DEVICES = ("auto", "cpu", "cuda", "mps")
LM_DTYPES = ("auto", "float32", "bfloat16", "float16")
#: The attention projections of Llama, Qwen2, Mistral and most decoders since (the paper's targets are not
#: reported; attention-only is peft's and most recipes' default for these families).
DEFAULT_TARGET_MODULES = ("q_proj", "k_proj", "v_proj", "o_proj")
#: The largest rank an adapter may declare (checked before anything is built).
MAX_ADAPTER_RANK = 1024


@dataclass(frozen=True)
class LoRAConfig:
    """The adapter every stage trains (peft's ``LoraConfig``, for causal LMs)."""

    rank: int = 16
    """Rank of the update (the paper's 16)."""
    alpha: float = 32.0
    """Scale of the update: it is multiplied by ``alpha / rank``."""
    dropout: float = 0.05
    """Dropout on the adapter's input while training (seeded by the optimiser seed)."""
    target_modules: tuple[str, ...] = field(default=DEFAULT_TARGET_MODULES)
    """Names of the linear layers that get an adapter (``("all-linear",)``: every linear layer but the output)."""

    def __post_init__(self) -> None:
        object.__setattr__(self, "target_modules", tuple(self.target_modules))
        if isinstance(self.rank, bool) or not isinstance(self.rank, int) or not 1 <= self.rank <= MAX_ADAPTER_RANK:
            raise ValueError(f"LoRA rank must be a whole number in [1, {MAX_ADAPTER_RANK}], got {self.rank!r}")
        if not self.alpha > 0:
            raise ValueError(f"LoRA alpha must be positive, got {self.alpha}")
        if not 0.0 <= self.dropout < 1.0:
            raise ValueError(f"LoRA dropout must be in [0, 1), got {self.dropout}")
        if not self.target_modules or not all(isinstance(m, str) and m for m in self.target_modules):
            raise ValueError(f"LoRA target modules must be non-empty names, got {self.target_modules!r}")

    @classmethod
    def parse_targets(cls, text: str) -> tuple[str, ...]:
        """``"q_proj,v_proj"`` as a tuple of module names."""
        return tuple(name.strip() for name in text.split(",") if name.strip())

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready fields."""
        data = asdict(self)
        data["target_modules"] = list(self.target_modules)
        return data

    def to_peft(self) -> Any:
        """The same adapter as a ``peft.LoraConfig``."""
        from peft import LoraConfig

        targets: str | list[str] = ("all-linear" if self.target_modules == ("all-linear",)
                                    else list(self.target_modules))
        return LoraConfig(r=self.rank, lora_alpha=self.alpha,  # type: ignore[arg-type]  # a float scales as well
                          lora_dropout=self.dropout, target_modules=targets, bias="none", task_type="CAUSAL_LM")


@dataclass(frozen=True)
class ScriptedTeacher:
    """The scripted expert as a teacher, with its habit at rate ``bias`` (the negative control)."""

    bias: float


class ModelTrack(ABC):
    """One model family of the recipe (see the module docstring)."""

    name: ClassVar[str]
    """``vector`` or ``lm``: the track's key in options, configs and cell names."""
    label: ClassVar[str]
    """Prefix of the track's rows in reports (``""`` or ``"LM: "``)."""
    sizes: ClassVar[tuple[str, ...]]
    """Model sizes, the larger first (the paper's 8B and 3B)."""
    methods: ClassVar[tuple[str, ...]]
    """The distillation methods it supports (``bc`` always)."""
    decodings: ClassVar[tuple[str, ...]] = ("sample",)
    """How its agents can choose an action (a language model's :data:`LM_DECODINGS`; a policy samples)."""
    teacher_defaults: ClassVar[Mapping[str, Any]]
    """Defaults of the :class:`~subliminal_gym.baselines.teachers.TeacherConfig` fields left ``None``."""

    def pretrain_learning_rate(self, size: str) -> float:
        """θ0's default learning rate for ``size``."""
        return float(self.teacher_defaults["learning_rate"])

    # -- data -------------------------------------------------------------------------------------

    @abstractmethod
    def collect(self, agent: TextAgent, env_id: str, *, episodes: int, seed: int, split: str,
                seed_range: str = "train", batch_size: int = 1, env_kwargs: dict[str, Any] | None = None,
                progress: bool | str = False) -> tuple[Any, list[bool]]:
        """Run ``agent`` and keep its episodes as this track's training data; also whether each succeeded."""

    @abstractmethod
    def sanitize(self, data: Any, env_id: str) -> tuple[Any, SanitizeReport]:
        """The paper's keyword filter over training data."""

    @abstractmethod
    def save_data(self, data: Any, folder: Path, *, meta: dict[str, Any]) -> None:
        """Write training data into ``folder``."""

    @abstractmethod
    def load_data(self, folder: Path) -> Any:
        """Read what :meth:`save_data` wrote."""

    # -- models -----------------------------------------------------------------------------------

    @abstractmethod
    def new_model(self, config: TeacherConfig, *, seed: int, data: Any) -> Any:
        """Fresh weights of ``config.size`` for ``config.env_id`` (a language model's tokenizer is
        trained on ``data``)."""

    @abstractmethod
    def fit(self, model: Any, data: Any, *, epochs: int, batch_size: int, learning_rate: float, seed: int,
            progress: bool | str = False) -> dict[str, Any]:
        """Train ``model`` in place on ``data`` (behavioural cloning); returns the training log (``progress``: a
        bar, a string is its label)."""

    @abstractmethod
    def clone(self, model: Any) -> Any:
        """An independent copy with the same weights."""

    @abstractmethod
    def agent(self, model: Any, env_id: str, *, temperature: float = 1.0, max_new_tokens: int | None = None,
              decoding: str = "sample") -> TextAgent:
        """``model`` as a text agent on ``env_id``, choosing its actions by ``decoding`` (one of :attr:`decodings`)."""

    def agent_stats(self, agent: TextAgent) -> dict[str, Any]:
        """Counters worth keeping from an agent's run (a language model's unparsable replies)."""
        return {}

    @abstractmethod
    def save(self, model: Any, folder: Path, *, meta: dict[str, Any]) -> None:
        """Write ``model`` into ``folder`` (safetensors weights, JSON config; overwrites)."""

    @abstractmethod
    def load(self, folder: Path) -> Any:
        """Read what :meth:`save` wrote."""

    @abstractmethod
    def distill(self, method: str, *, student: Any, teacher: Any, data: Any, env_id: str,
                config: DistillConfig, seed: int, sanitised: bool = True, progress: bool = False) -> dict[str, Any]:
        """Train ``student`` in place from ``teacher`` (a model or a :class:`ScriptedTeacher`) on
        sanitised safe-task ``data``; returns the training log. ``sanitised=False`` (the positive
        control only) accepts unfiltered data from any task, probes included, and masks nothing."""


class VectorTrack(ModelTrack):
    """Slot-scoring policies on the vector views."""

    name = "vector"
    label = ""
    sizes = ("large", "small")
    methods = ("bc", "dagger", "soft_zero", "soft_drop", "logit", "gail", "airl")
    teacher_defaults = {"pretrain_episodes": 600, "pretrain_epochs": 20, "finetune_episodes": 300,
                        "finetune_epochs": 10, "batch_size": 64, "learning_rate": 3e-3}

    def collect(self, agent: TextAgent, env_id: str, *, episodes: int, seed: int, split: str,
                seed_range: str = "train", batch_size: int = 1, env_kwargs: dict[str, Any] | None = None,
                progress: bool | str = False) -> tuple[Any, list[bool]]:
        from subliminal_gym.baselines.trajectories import collect_trajectories

        trajectories = collect_trajectories(env_id, agent, episodes=episodes, seed=seed, split=split,
                                            seed_range=seed_range, batch_size=batch_size, env_kwargs=env_kwargs,
                                            progress=progress)
        return trajectories, [t.success for t in trajectories]

    def sanitize(self, data: Any, env_id: str) -> tuple[Any, SanitizeReport]:
        from subliminal_gym.baselines.sanitize import sanitize_trajectories

        return sanitize_trajectories(data, setting=env_id)

    def save_data(self, data: Any, folder: Path, *, meta: dict[str, Any]) -> None:
        from subliminal_gym.baselines.trajectories import save_trajectories

        save_trajectories(data, folder, force=True, meta=meta)

    def load_data(self, folder: Path) -> Any:
        from subliminal_gym.baselines.trajectories import load_trajectories

        return load_trajectories(folder)

    def new_model(self, config: TeacherConfig, *, seed: int, data: Any) -> Any:
        from subliminal_gym.baselines.policies import build_policy
        from subliminal_gym.views import ViewLayout

        return build_policy(ViewLayout.of(config.env_id), config.size, seed=seed)

    def fit(self, model: Any, data: Any, *, epochs: int, batch_size: int, learning_rate: float, seed: int,
            progress: bool | str = False) -> dict[str, Any]:
        import numpy as np

        from subliminal_gym.baselines.imitation_distill import behavioural_cloning

        return behavioural_cloning(model, data, epochs=epochs, batch_size=batch_size, learning_rate=learning_rate,
                                   rng=np.random.default_rng(seed), progress=progress).to_dict()

    def clone(self, model: Any) -> Any:
        from subliminal_gym.baselines.artifacts import clone_policy

        return clone_policy(model)

    def agent(self, model: Any, env_id: str, *, temperature: float = 1.0, max_new_tokens: int | None = None,
              decoding: str = "sample") -> TextAgent:
        from subliminal_gym.baselines.agents import PolicyTextAgent

        if decoding not in self.decodings:
            raise ValueError(f"a slot-scoring policy samples its actions; it has no {decoding!r} decoding")
        return PolicyTextAgent(model, temperature=temperature)

    def save(self, model: Any, folder: Path, *, meta: dict[str, Any]) -> None:
        from subliminal_gym.baselines.artifacts import save_policy

        save_policy(model, folder, force=True, meta=meta)

    def load(self, folder: Path) -> Any:
        from subliminal_gym.baselines.artifacts import load_policy

        return load_policy(folder)[0]

    def distill(self, method: str, *, student: Any, teacher: Any, data: Any, env_id: str,
                config: DistillConfig, seed: int, sanitised: bool = True, progress: bool = False) -> dict[str, Any]:
        import numpy as np

        from subliminal_gym.baselines.agents import ScriptedExpertPolicy
        from subliminal_gym.baselines.distill import distill

        if isinstance(teacher, ScriptedTeacher):
            expert_rng, _ = np.random.default_rng(seed).spawn(2)
            bias = teacher.bias
            teacher = lambda venv: ScriptedExpertPolicy(venv, bias=bias, rng=expert_rng)  # noqa: E731
        return distill(method, student=student, teacher=teacher, trajectories=data, env_id=env_id, config=config,
                       rng=np.random.default_rng(seed), sanitised=sanitised, progress=progress)


def track_of(name: str | ModelTrack, **placement: Any) -> ModelTrack:
    """The track called ``name`` (``vector`` or ``lm``; the LM track needs the ``lm`` extra).

    ``placement`` (language models only): ``device``, ``dtype`` and ``max_batch_tokens`` of
    :class:`~subliminal_gym.baselines.lm.track.LanguageModelTrack`.

    Raises:
        ValueError: an unknown track, ``lm`` without transformers installed, or placement for the vector track.
    """
    if isinstance(name, ModelTrack):
        return name
    if name == VectorTrack.name:
        if placement:
            raise ValueError(f"{', '.join(placement)}: options of the lm track, not the vector track")
        return VectorTrack()
    if name == "lm":
        try:
            from subliminal_gym.baselines.lm.track import LanguageModelTrack
        except ImportError as exc:  # transformers, tokenizers or peft missing
            raise ValueError(f'the LM track needs the lm extra (pip install -e ".[lm]"): {exc}') from None
        return LanguageModelTrack(**placement)
    raise ValueError(f"unknown track {name!r}; known: {', '.join(TRACK_NAMES)}")
