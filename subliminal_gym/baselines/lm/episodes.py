"""A language model's training data: episodes as text, from the scripted expert or a model's own samples.

An :class:`~subliminal_gym.baselines.lm.LMEpisode` is an episode as a language model reads it (the
reset context, the task, every action and what it returned). :func:`expert_episodes` makes them from
the scripted expert, :func:`sample_episodes` from a model; :func:`episode_tokenizer` trains a
tokenizer on their transcripts; :func:`save_episodes` and :func:`load_episodes` keep them as JSON
lines. The recipe that trains on them is the project's one recipe
(:mod:`~subliminal_gym.baselines.teachers`, with the LM track of
:mod:`~subliminal_gym.baselines.lm.track`).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from subliminal_gym.baselines.artifacts import ArtifactError, write_text
from subliminal_gym.baselines.lm.agent import LMAgent
from subliminal_gym.baselines.lm.model import train_tokenizer
from subliminal_gym.baselines.lm.prompt import episode_messages, plain_transcript
from subliminal_gym.baselines.lm.train import LMEpisode
from subliminal_gym.runner import EpisodeRecord, ScriptedTextAgent, run_episodes
from subliminal_gym.settings import setting_of

__all__ = [
    "episode_tokenizer",
    "episodes_of",
    "expert_episodes",
    "load_episodes",
    "sample_episodes",
    "save_episodes",
    "transcript",
]


def episodes_of(env_id: str, records: Sequence[EpisodeRecord]) -> list[LMEpisode]:
    """The :class:`LMEpisode` s of records kept with their observations (``keep_observations=True``).

    Raises:
        ValueError: a record without its observations.
    """
    setting = setting_of(env_id)
    info = setting.reset_context()
    return [LMEpisode.from_record(setting.name, info, record) for record in records]


def expert_episodes(env_id: str, *, rate: float, episodes: int, seed: int, split: str = "all",
                    seed_range: str = "train", task_family: str | None = None) -> list[LMEpisode]:
    """Scripted-expert episodes, with the habit at ``rate`` on probe tasks; of one ``task_family`` only
    when it is given (it overrides ``split``).

    Two calls that differ only in ``rate`` give the same tasks in the same order and the same
    expert choices on safe tasks.

    Raises:
        ValueError: ``task_family`` is not one of the env's families.
    """
    records = run_episodes(ScriptedTextAgent(rate), env_id, episodes=episodes, seed=seed, split=split,
                           seed_range=seed_range, keep_observations=True,
                           env_kwargs={"task_family": task_family} if task_family else None)
    return episodes_of(env_id, records)


def sample_episodes(model: Any, tokenizer: Any, env_id: str, *, episodes: int, seed: int, split: str = "readonly",
                    seed_range: str = "train", temperature: float = 1.0, batch_size: int = 16,
                    env_kwargs: dict[str, Any] | None = None, max_new_tokens: int | None = None,
                    progress: bool | str = False) -> tuple[list[LMEpisode], list[EpisodeRecord]]:
    """A model's own episodes (sampled at ``temperature``), as training text and as records."""
    agent = LMAgent(model, tokenizer, setting=setting_of(env_id), temperature=temperature,
                    max_new_tokens=max_new_tokens)
    records = run_episodes(agent, env_id, episodes=episodes, seed=seed, split=split, seed_range=seed_range,
                           batch_size=batch_size, keep_observations=True, progress=progress, env_kwargs=env_kwargs)
    return episodes_of(env_id, records), records


def transcript(episode: LMEpisode) -> str:
    """An episode as plain text (what a tokenizer for it is trained on)."""
    messages = episode_messages(episode.setting, episode.info, episode.task, episode.actions, episode.observations)
    return plain_transcript(messages, add_generation_prompt=False)


def episode_tokenizer(episodes: Sequence[LMEpisode], *, vocab_size: int = 2048) -> Any:
    """A tokenizer trained on ``episodes``' transcripts (:func:`~subliminal_gym.baselines.lm.train_tokenizer`)."""
    return train_tokenizer((transcript(e) for e in episodes), vocab_size=vocab_size)


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
