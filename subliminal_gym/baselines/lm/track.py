"""The language-model track of the recipe (a :class:`~subliminal_gym.baselines.tracks.ModelTrack`).

Models are tiny causal LMs (:data:`~subliminal_gym.baselines.lm.TINY_CONFIGS`) with a BPE tokenizer
trained on θ0's own data, fully fine-tuned; or, given a base-model folder
(``TeacherConfig.base_model``), LoRA adapters over it (:mod:`~subliminal_gym.baselines.lm.lora`):
θ0 is a fresh adapter trained on the expert, every teacher and student a copy of θ0's adapter trained
further, so each saved model is one adapter folder over the same base. Models and their tokenizer
are kept together as a :class:`LanguageModel`; training data are
:class:`~subliminal_gym.baselines.lm.LMEpisode` s (every observation kept); ``bc`` is plain
next-token cross-entropy on the teacher's replies (:func:`~subliminal_gym.baselines.lm.finetune_lm`).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from subliminal_gym.baselines.artifacts import ArtifactError
from subliminal_gym.baselines.lm.agent import LMAgent
from subliminal_gym.baselines.lm.episodes import (
    episode_tokenizer,
    episodes_of,
    load_episodes,
    save_episodes,
)
from subliminal_gym.baselines.lm.lora import (
    adapter_base,
    attach_lora,
    clone_adapter,
    is_adapter_folder,
    load_adapter,
    save_adapter,
)
from subliminal_gym.baselines.lm.model import build_tiny_lm, load_lm, place_lm, save_lm
from subliminal_gym.baselines.lm.train import LMTrainConfig, finetune_lm
from subliminal_gym.baselines.tracks import LM_DECODINGS, ModelTrack
from subliminal_gym.runner import TextAgent, run_episodes

if TYPE_CHECKING:
    from subliminal_gym.baselines.distill import DistillConfig
    from subliminal_gym.baselines.sanitize import SanitizeReport
    from subliminal_gym.baselines.teachers import TeacherConfig

__all__ = ["EPISODES_FILE", "PRETRAIN_LEARNING_RATES", "LanguageModel", "LanguageModelTrack"]

EPISODES_FILE = "episodes.jsonl"
#: θ0's peak learning rate per size: the small model barely moves at the large one's rate within
#: these budgets (measured on SubliminalFS, 200 episodes x 6 epochs: both reach a loss near 0.34).
PRETRAIN_LEARNING_RATES = {"large": 3e-3, "small": 1e-2}


@dataclass
class LanguageModel:
    """A causal LM and its tokenizer (teachers and students share θ0's tokenizer)."""

    model: Any
    tokenizer: Any
    base_model: str | None = None
    """The base-model folder the model is an adapter over (None: a whole model)."""


class LanguageModelTrack(ModelTrack):
    """Tiny causal language models on the text envs."""

    name = "lm"
    label = "LM: "
    sizes = ("large", "small")
    methods = ("bc",)
    decodings = LM_DECODINGS
    teacher_defaults = {"pretrain_episodes": 400, "pretrain_epochs": 8, "finetune_episodes": 150,
                        "finetune_epochs": 4, "batch_size": 4, "learning_rate": None,
                        "finetune_learning_rate": 1e-3}

    def __init__(self, *, device: str = "cpu", dtype: str = "float32", max_batch_tokens: int | None = None) -> None:
        self.device = device
        """Where models are trained and act (:data:`~subliminal_gym.baselines.tracks.LM_DEVICES`)."""
        self.dtype = dtype
        """Their base weights' type (:data:`~subliminal_gym.baselines.tracks.LM_DTYPES`)."""
        self.max_batch_tokens = max_batch_tokens
        """The most padded tokens in one training forward pass (:class:`~subliminal_gym.baselines.lm.LMTrainConfig`)."""

    def pretrain_learning_rate(self, size: str) -> float:
        return PRETRAIN_LEARNING_RATES[size]

    def collect(self, agent: TextAgent, env_id: str, *, episodes: int, seed: int, split: str,
                seed_range: str = "train", batch_size: int = 1, env_kwargs: dict[str, Any] | None = None,
                progress: bool | str = False) -> tuple[Any, list[bool]]:
        records = run_episodes(agent, env_id, episodes=episodes, seed=seed, split=split, seed_range=seed_range,
                               batch_size=batch_size, env_kwargs=env_kwargs, keep_observations=True,
                               progress=progress)
        return episodes_of(env_id, records), [r.success for r in records]

    def sanitize(self, data: Any, env_id: str) -> tuple[Any, SanitizeReport]:
        from subliminal_gym.baselines.sanitize import sanitize_episodes

        return sanitize_episodes(data, setting=env_id)

    def save_data(self, data: Any, folder: Path, *, meta: dict[str, Any]) -> None:
        save_episodes(data, Path(folder) / EPISODES_FILE, meta=meta)

    def load_data(self, folder: Path) -> Any:
        return load_episodes(Path(folder) / EPISODES_FILE)

    def new_model(self, config: TeacherConfig, *, seed: int, data: Any) -> Any:
        if config.base_model is not None:  # the base's weights and tokenizer, a fresh adapter
            if is_adapter_folder(config.base_model):
                raise ArtifactError(f"{config.base_model}: an adapter; base_model must be a whole model folder")
            base, tokenizer = load_lm(config.base_model)
            try:
                model = attach_lora(place_lm(base, device=self.device, dtype=self.dtype), config.lora_config(),
                                    seed=seed)
            except ValueError as exc:  # target modules the base does not have
                raise ArtifactError(f"{config.base_model}: {exc}") from None
            return LanguageModel(model, tokenizer, base_model=config.base_model)
        tokenizer = episode_tokenizer(data, vocab_size=config.vocab_size)
        return LanguageModel(place_lm(build_tiny_lm(config.size, tokenizer, seed=seed), device=self.device,
                                      dtype=self.dtype), tokenizer)

    def fit(self, model: Any, data: Any, *, epochs: int, batch_size: int, learning_rate: float, seed: int,
            progress: bool | str = False) -> dict[str, Any]:
        train = LMTrainConfig(epochs=epochs, batch_size=batch_size, learning_rate=learning_rate, seed=seed,
                              max_batch_tokens=self.max_batch_tokens)
        return finetune_lm(model.model, model.tokenizer, data, train).to_dict()

    def clone(self, model: Any) -> Any:  # a whole model is copied whole, an adapter over its shared base
        return LanguageModel(clone_adapter(model.model), model.tokenizer, base_model=model.base_model)

    def agent(self, model: Any, env_id: str, *, temperature: float = 1.0, max_new_tokens: int | None = None,
              decoding: str = "sample") -> TextAgent:
        return LMAgent(model.model, model.tokenizer, setting=env_id, temperature=temperature,
                       max_new_tokens=max_new_tokens, decoding=decoding)

    def agent_stats(self, agent: TextAgent) -> dict[str, Any]:
        stats = agent.stats if isinstance(agent, LMAgent) else None
        return {} if stats is None else {"unparsable_actions": stats.unparsable,
                                         "generated_tokens": stats.generated_tokens}

    def save(self, model: Any, folder: Path, *, meta: dict[str, Any]) -> None:
        if model.base_model is not None:
            save_adapter(model.model, folder, base_model=model.base_model, force=True)
        else:
            save_lm(model.model, model.tokenizer, folder, force=True)

    def load(self, folder: Path) -> Any:
        if is_adapter_folder(folder):  # the base placed first, so the adapter keeps its float32 weights
            base = adapter_base(folder)
            model, tokenizer = load_adapter(folder, base, device=self.device, dtype=self.dtype)
            return LanguageModel(model, tokenizer, base_model=base)
        model, tokenizer = load_lm(folder)
        return LanguageModel(place_lm(model, device=self.device, dtype=self.dtype), tokenizer)

    def distill(self, method: str, *, student: Any, teacher: Any, data: Any, env_id: str,
                config: DistillConfig, seed: int, sanitised: bool = True, progress: bool = False) -> dict[str, Any]:
        if method not in self.methods:
            raise ValueError(f"the LM track distils by {', '.join(self.methods)} only, not {method!r}")
        if not data:  # sanitisation may drop every episode of a weak teacher: the student stays its start
            return {"method": method, "episodes": 0}
        return {"method": method, "episodes": len(data),
                **self.fit(student, data, epochs=config.epochs, batch_size=config.batch_size,
                           learning_rate=config.learning_rate, seed=seed, progress=progress)}
