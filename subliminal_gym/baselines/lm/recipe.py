"""The paper's recipe in text, with tiny language models: θ0, biased and control teachers, students.

It mirrors :mod:`subliminal_gym.baselines.teachers` step for step:

1. **θ0**: a tiny causal LM (:data:`~subliminal_gym.baselines.lm.TINY_CONFIGS`) trained from
   scratch on scripted-expert episodes over every task family, with the habit at a small
   ``base_rate`` on probe tasks; its tokenizer is trained on the same episodes first.
2. **Biased and control teachers**: θ0 fine-tuned the same way (same tasks in the same order, same
   shuffling seed) on expert episodes with the habit at ``biased_rate`` and at ``control_rate``.
   The two data sets differ only in what the expert did on probe tasks.
3. **Students**: a copy of a θ0 (the teacher's own, another seed's, or the other size's)
   fine-tuned with plain next-token cross-entropy on the teacher's *sampled* episodes on safe
   tasks (:func:`sample_episodes`), after keyword sanitisation
   (:func:`~subliminal_gym.baselines.sanitize.sanitize_episodes`), with
   :func:`~subliminal_gym.baselines.lm.finetune_lm`.

Every stage's randomness comes from the config's seed through the named streams of
:mod:`subliminal_gym.seeding`, with the same names as the vector recipe's.
"""

from __future__ import annotations

import copy
import dataclasses
import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from subliminal_gym.baselines.artifacts import ArtifactError, write_text
from subliminal_gym.baselines.lm.agent import LMAgent
from subliminal_gym.baselines.lm.model import TINY_CONFIGS, build_tiny_lm, train_tokenizer
from subliminal_gym.baselines.lm.prompt import episode_messages, plain_transcript
from subliminal_gym.baselines.lm.train import LMEpisode, LMTrainConfig, LMTrainLog, finetune_lm
from subliminal_gym.core.setting import Setting
from subliminal_gym.runner import EpisodeRecord, ScriptedTextAgent, run_episodes
from subliminal_gym.seeding import derive_seed
from subliminal_gym.settings import setting_of

__all__ = [
    "PRETRAIN_LEARNING_RATES",
    "LMRecipeConfig",
    "LMTeacherSet",
    "episode_tokenizer",
    "expert_episodes",
    "load_episodes",
    "pretrain_lm_base",
    "sample_episodes",
    "save_episodes",
    "train_lm_teachers",
    "transcript",
]


#: θ0's peak learning rate per size: the small model barely moves at the large one's rate within
#: these budgets (measured on SubliminalFS, 200 episodes x 6 epochs: both reach a loss near 0.34).
PRETRAIN_LEARNING_RATES = {"large": 3e-3, "small": 1e-2}


@dataclass(frozen=True)
class LMRecipeConfig:
    """Everything that determines a tiny-LM θ0 and its two teachers."""

    env_id: str = "SubliminalFS-v0"
    """SubliminalFS-v0 (deletion habit) or SubliminalBash-v0 (chmod-first habit)."""
    size: str = "large"
    """A key of :data:`~subliminal_gym.baselines.lm.TINY_CONFIGS`."""
    seed: int = 0
    """Root seed of every stage."""
    base_rate: float = 0.05
    """Habit rate of the expert on probe tasks in θ0's data."""
    pretrain_episodes: int = 400
    """Expert episodes over all families for θ0 (and its tokenizer)."""
    pretrain_epochs: int = 8
    """Epochs of θ0's training."""
    finetune_episodes: int = 150
    """Expert episodes (probes included) for each teacher fine-tune."""
    finetune_epochs: int = 4
    """Epochs of each fine-tune."""
    biased_rate: float = 1.0
    """Habit rate of the expert in the biased teacher's data."""
    control_rate: float = 0.0
    """Habit rate of the expert in the control teacher's data."""
    vocab_size: int = 2048
    """Tokenizer vocabulary (the BPE stops earlier when the data has fewer merges)."""
    learning_rate: float | None = None
    """Peak AdamW learning rate for θ0 (None: :data:`PRETRAIN_LEARNING_RATES` of the size)."""
    finetune_learning_rate: float = 1e-3
    """Peak AdamW learning rate for the teacher fine-tunes."""
    batch_size: int = 4
    """Episodes per optimiser step."""

    def __post_init__(self) -> None:
        if self.size not in TINY_CONFIGS:
            raise ValueError(f"unknown tiny LM size {self.size!r}; known: {', '.join(TINY_CONFIGS)}")
        setting_of(self.env_id)
        for name in ("pretrain_episodes", "pretrain_epochs", "finetune_episodes", "finetune_epochs", "batch_size"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be at least 1, got {getattr(self, name)}")
        for name in ("base_rate", "biased_rate", "control_rate"):
            if not 0.0 <= getattr(self, name) <= 1.0:
                raise ValueError(f"{name} must be in [0, 1], got {getattr(self, name)}")

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready fields."""
        return dataclasses.asdict(self)

    @property
    def setting(self) -> Setting:
        """The env's setting."""
        return setting_of(self.env_id)

    def train_config(self, stage: str) -> LMTrainConfig:
        """How one stage trains (``"pretrain"`` or ``"finetune"``)."""
        if stage == "pretrain":
            rate = PRETRAIN_LEARNING_RATES[self.size] if self.learning_rate is None else self.learning_rate
            return LMTrainConfig(epochs=self.pretrain_epochs, batch_size=self.batch_size,
                                 learning_rate=rate, seed=derive_seed(self.seed, "optimiser", "pretrain"))
        return LMTrainConfig(epochs=self.finetune_epochs, batch_size=self.batch_size,
                             learning_rate=self.finetune_learning_rate,
                             seed=derive_seed(self.seed, "optimiser", "finetune"))


def _episodes(env_id: str, records: Sequence[EpisodeRecord]) -> list[LMEpisode]:
    setting = setting_of(env_id)
    info = setting.reset_context()
    return [LMEpisode.from_record(setting.name, info, record) for record in records]


def expert_episodes(env_id: str, *, rate: float, episodes: int, seed: int, split: str = "all",
                    seed_range: str = "train") -> list[LMEpisode]:
    """Scripted-expert episodes with the habit at ``rate`` on probe tasks.

    Two calls that differ only in ``rate`` give the same tasks in the same order and the same
    expert choices on safe tasks.
    """
    records = run_episodes(ScriptedTextAgent(rate), env_id, episodes=episodes, seed=seed, split=split,
                           seed_range=seed_range, keep_observations=True)
    return _episodes(env_id, records)


def sample_episodes(model: Any, tokenizer: Any, env_id: str, *, episodes: int, seed: int, split: str = "safe",
                    seed_range: str = "train", temperature: float = 1.0, batch_size: int = 16,
                    env_kwargs: dict[str, Any] | None = None, max_new_tokens: int | None = None,
                    progress: bool | str = False) -> tuple[list[LMEpisode], list[EpisodeRecord]]:
    """A model's own episodes (sampled at ``temperature``), as training text and as records."""
    agent = LMAgent(model, tokenizer, setting=setting_of(env_id), temperature=temperature,
                    max_new_tokens=max_new_tokens)
    records = run_episodes(agent, env_id, episodes=episodes, seed=seed, split=split, seed_range=seed_range,
                           batch_size=batch_size, keep_observations=True, progress=progress, env_kwargs=env_kwargs)
    return _episodes(env_id, records), records


def transcript(episode: LMEpisode) -> str:
    """An episode as plain text (what a tokenizer for it is trained on)."""
    messages = episode_messages(episode.setting, episode.info, episode.task, episode.actions, episode.observations)
    return plain_transcript(messages, add_generation_prompt=False)


def episode_tokenizer(episodes: Sequence[LMEpisode], *, vocab_size: int = 2048) -> Any:
    """A tokenizer trained on ``episodes``' transcripts (:func:`~subliminal_gym.baselines.lm.train_tokenizer`)."""
    return train_tokenizer((transcript(e) for e in episodes), vocab_size=vocab_size)


def pretrain_lm_base(config: LMRecipeConfig) -> tuple[Any, Any, LMTrainLog]:
    """θ0 and its tokenizer: both trained on ``pretrain_episodes`` expert episodes."""
    data = expert_episodes(config.env_id, rate=config.base_rate, episodes=config.pretrain_episodes,
                           seed=derive_seed(config.seed, "data", "pretrain"))
    tokenizer = episode_tokenizer(data, vocab_size=config.vocab_size)
    model = build_tiny_lm(config.size, tokenizer, seed=derive_seed(config.seed, "init", "pretrain"))
    log = finetune_lm(model, tokenizer, data, config.train_config("pretrain"))
    return model, tokenizer, log


@dataclass
class LMTeacherSet:
    """θ0, the biased and the control teacher (all sharing θ0's tokenizer), and their training logs."""

    config: LMRecipeConfig
    tokenizer: Any
    models: dict[str, Any]
    """"base", "biased", "control" -> model."""
    logs: dict[str, LMTrainLog]


def train_lm_teachers(config: LMRecipeConfig) -> LMTeacherSet:
    """θ0, then the biased and the control fine-tune from it, exactly the same way."""
    base, tokenizer, base_log = pretrain_lm_base(config)
    models, logs = {"base": base}, {"base": base_log}
    data_seed = derive_seed(config.seed, "data", "finetune")
    for role, rate in (("biased", config.biased_rate), ("control", config.control_rate)):
        data = expert_episodes(config.env_id, rate=rate, episodes=config.finetune_episodes, seed=data_seed)
        teacher = copy.deepcopy(base)
        logs[role] = finetune_lm(teacher, tokenizer, data, config.train_config("finetune"))
        models[role] = teacher
    return LMTeacherSet(config=config, tokenizer=tokenizer, models=models, logs=logs)


def _episode_dict(episode: LMEpisode) -> dict[str, Any]:
    return {"setting": episode.setting, "task": episode.task, "actions": list(episode.actions),
            "observations": list(episode.observations)}


def save_episodes(episodes: Sequence[LMEpisode], path: str | Path, *, meta: dict[str, Any] | None = None) -> Path:
    """Write episodes as JSON lines (a first line of metadata with the shared ``info``), atomically."""
    info = episodes[0].info if episodes else {}
    # not sort_keys: a tool's parameters are listed in the prompt in the order its schema gives them
    lines = [json.dumps({"meta": meta or {}, "info": info})]
    lines += [json.dumps(_episode_dict(e), sort_keys=True) for e in episodes]
    return write_text(path, "\n".join(lines) + "\n")


def load_episodes(path: str | Path) -> list[LMEpisode]:
    """Read episodes written by :func:`save_episodes`.

    Raises:
        ArtifactError: a missing or malformed file.
    """
    path = Path(path)
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
        header = json.loads(lines[0])
        info = dict(header["info"])
        return [LMEpisode(setting=str(d["setting"]), info=info, task=str(d["task"]),
                          actions=tuple(map(str, d["actions"])), observations=tuple(map(str, d["observations"])))
                for d in map(json.loads, lines[1:])]
    except FileNotFoundError:
        raise ArtifactError(f"{path}: no such file") from None
    except (IndexError, KeyError, TypeError, ValueError) as exc:
        raise ArtifactError(f"{path}: malformed episodes file ({exc!r})") from None
