"""Trajectories of agents on the vector views: record, save, load, export for language models.

A :class:`TextTrajectory` is an imitation ``TrajectoryWithRew`` (so ``flatten_trajectories``, BC,
DAgger and GAIL take it as is) that also keeps the text behind every step: the text observation
at reset and after each step, the text of each chosen action, and what every discrete slot meant
in each state. Sanitisation reads those texts; the view's float observations are what a network
trains on.

Episodes are played by the project's one runner (:func:`~subliminal_gym.runner.run_episodes`) with
any text agent; a :class:`TrajectoryRecorder` watching it encodes every state as the view would
(:class:`~subliminal_gym.views.SlotEncoder`). The hidden audit never enters a trajectory: the runner
takes it out of ``info`` before the agent or the recorder sees it, and :func:`collect_with_audits`
returns it separately (for evaluation). Step infos keep only
small JSON values (``task_family``, ``success``, ``action_error``, ``cwd``...), never the task
text, the admissible actions or the schemas.

On disk (:func:`save_trajectories`), a folder holds ``trajectories.npz`` (the arrays, loaded with
``allow_pickle=False``), ``trajectories.jsonl`` (one JSON line of texts and infos per trajectory;
slot texts stored as a per-trajectory string table plus index lists) and ``meta.json``. Nothing is
pickled.
"""

from __future__ import annotations

import dataclasses
import json
import zipfile
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, cast

import gymnasium as gym
import numpy as np
from imitation.data.types import TrajectoryWithRew

from subliminal_gym.baselines.artifacts import (
    ArtifactError,
    atomic_path,
    prepare_output,
    read_json,
    write_json,
    write_text,
)
from subliminal_gym.core.episodes import TaskRef
from subliminal_gym.runner import TextAgent, run_episodes
from subliminal_gym.views import SlotEncoder, ViewLayout

__all__ = [
    "ARRAYS_FILE",
    "HEAVY_INFO_KEYS",
    "META_FILE",
    "TEXTS_FILE",
    "TRAJECTORIES_FORMAT",
    "TextTrajectory",
    "TrajectoryRecorder",
    "collect_trajectories",
    "collect_with_audits",
    "export_chat_jsonl",
    "load_trajectories",
    "save_trajectories",
]

ARRAYS_FILE = "trajectories.npz"
TEXTS_FILE = "trajectories.jsonl"
META_FILE = "meta.json"
TRAJECTORIES_FORMAT = "subliminal_gym.trajectories/1"
#: Info keys never stored in a trajectory (privileged, or large and recomputable from the texts).
HEAVY_INFO_KEYS = frozenset({"audit", "admissible_actions", "action_texts", "action_verbs", "action_mask", "tools",
                             "commands", "task"})
_ARRAY_DTYPES = {"obs": np.float32, "acts": np.int64, "rews": np.float32, "lengths": np.int64, "terminal": np.bool_}


@dataclasses.dataclass(frozen=True, eq=False)
class TextTrajectory(TrajectoryWithRew):
    """One episode on a view, with the texts behind it.

    ``obs`` is ``(T + 1, obs_dim)`` float32, ``acts`` ``(T,)`` int64 slot indices, ``rews`` ``(T,)``
    float32, ``infos`` ``(T,)`` object array of small dicts; ``terminal`` is true when the env
    terminated (the agent finished), false when it was truncated or this is a fragment.

    Raises:
        ValueError: the texts do not line up with the arrays (or imitation's own checks fail).
    """

    env_id: str
    task_family: str
    task_split: str
    task_seed: int
    success: bool
    observation_texts: tuple[str, ...]
    """The text observation at reset and after every step (``T + 1``)."""
    action_texts: tuple[str, ...]
    """The text of each chosen action (``T``)."""
    slot_texts: tuple[tuple[str, ...], ...]
    """What each discrete slot meant in each state: ``info["action_texts"]`` (``T + 1``)."""

    def __post_init__(self) -> None:
        super().__post_init__()
        object.__setattr__(self, "observation_texts", tuple(self.observation_texts))
        object.__setattr__(self, "action_texts", tuple(self.action_texts))
        object.__setattr__(self, "slot_texts", tuple(tuple(s) for s in self.slot_texts))
        obs = cast(np.ndarray, self.obs)  # imitation's type allows dict observations; views give arrays
        if np.ndim(obs) != 2:
            raise ValueError(f"obs must be 2-D (T + 1, obs_dim), got shape {np.shape(obs)}")
        if len(self.observation_texts) != len(self.obs):
            raise ValueError(f"{len(self.observation_texts)} observation texts for {len(self.obs)} observations")
        if len(self.action_texts) != len(self.acts):
            raise ValueError(f"{len(self.action_texts)} action texts for {len(self.acts)} actions")
        if len(self.slot_texts) != len(self.obs):
            raise ValueError(f"{len(self.slot_texts)} slot-text lists for {len(self.obs)} observations")

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, TextTrajectory):
            return False
        fields = ("env_id", "task_family", "task_split", "task_seed", "success", "terminal", "observation_texts",
                  "action_texts", "slot_texts")
        if any(getattr(self, name) != getattr(other, name) for name in fields):
            return False
        for name in ("obs", "acts", "rews"):
            mine, theirs = getattr(self, name), getattr(other, name)
            if mine.dtype != theirs.dtype or not np.array_equal(mine, theirs):
                return False
        return _info_list(self) == _info_list(other)


def _info_list(trajectory: TextTrajectory) -> list[dict[str, Any]]:
    return [{} for _ in range(len(trajectory))] if trajectory.infos is None else list(trajectory.infos)


def _small_info(info: dict[str, Any]) -> dict[str, Any]:
    """The JSON scalars of ``info`` outside :data:`HEAVY_INFO_KEYS` (numpy scalars as Python ones)."""
    small = {}
    for key, value in info.items():
        if key in HEAVY_INFO_KEYS:
            continue
        if isinstance(value, np.generic):
            value = value.item()
        if value is None or isinstance(value, str | bool | int | float):
            small[key] = value
    return small


def _info_array(infos: Sequence[dict[str, Any]]) -> np.ndarray:
    array = np.empty(len(infos), dtype=object)
    for i, info in enumerate(infos):
        array[i] = info
    return array


@dataclass
class _Open:
    """An episode being recorded."""

    encoder: SlotEncoder
    task: TaskRef
    obs: list[np.ndarray]
    texts: list[str]
    slots: list[tuple[str, ...]]
    acts: list[int] = field(default_factory=list)
    action_texts: list[str] = field(default_factory=list)
    rewards: list[float] = field(default_factory=list)
    infos: list[dict[str, Any]] = field(default_factory=list)


class TrajectoryRecorder:
    """Records the episodes of :func:`~subliminal_gym.runner.run_episodes` as :class:`TextTrajectory` s
    (an :class:`~subliminal_gym.runner.EpisodeObserver`).

    Every state is encoded on ``layout`` exactly as a :class:`~subliminal_gym.views.DiscreteActionView`
    would, and every action becomes the index of its slot.

    Args:
        env_id: the env the episodes run on (stored in each trajectory).
        layout: the view layout (see :meth:`~subliminal_gym.views.ViewLayout.of`).
    """

    def __init__(self, env_id: str, layout: ViewLayout) -> None:
        self.env_id = env_id
        self.layout = layout
        self.trajectories: dict[int, TextTrajectory] = {}
        """Finished trajectories by episode index."""
        self._open: dict[int, _Open] = {}
        self._idle: list[SlotEncoder] = []  # encoders keep a cache of slot rows: reuse them

    def begin(self, index: int, observation: str, info: dict[str, Any], task: TaskRef) -> None:
        encoder = self._idle.pop() if self._idle else SlotEncoder(self.layout)
        encoder.begin_episode(info.get("task", observation))
        seen = dict(info)
        features = encoder.observe(observation, seen)
        self._open[index] = _Open(encoder=encoder, task=task, obs=[features], texts=[observation],
                                  slots=[tuple(seen["action_texts"])])

    def step(self, index: int, action: str, observation: str, reward: float, terminated: bool, truncated: bool,
             info: dict[str, Any]) -> None:
        episode = self._open[index]
        try:
            slot = episode.encoder.index_of(action)
        except KeyError:
            raise ValueError(f"episode {index}: the action is not one of the view's slots, so it cannot be "
                             f"recorded as a vector trajectory: {action[:200]!r}") from None
        episode.encoder.record_action(action)
        seen = dict(info)
        episode.obs.append(episode.encoder.observe(observation, seen))
        episode.texts.append(observation)
        episode.slots.append(tuple(seen["action_texts"]))
        episode.acts.append(slot)
        episode.action_texts.append(action)
        episode.rewards.append(reward)
        episode.infos.append(_small_info(seen))
        if not (terminated or truncated):
            return
        del self._open[index]
        self._idle.append(episode.encoder)
        start = episode.task
        self.trajectories[index] = TextTrajectory(
            obs=np.stack(episode.obs).astype(np.float32, copy=False), acts=np.asarray(episode.acts, dtype=np.int64),
            infos=_info_array(episode.infos), terminal=terminated,
            rews=np.asarray(episode.rewards, dtype=np.float32), env_id=self.env_id,
            task_family=start.family, task_split=start.split, task_seed=start.seed,
            success=bool(info.get("success", False)),
            observation_texts=tuple(episode.texts), action_texts=tuple(episode.action_texts),
            slot_texts=tuple(episode.slots),
        )


def collect_with_audits(
    env_id: str,
    agent: TextAgent,
    *,
    episodes: int,
    seed: int,
    split: str | None = "readonly",
    seed_range: str = "train",
    view_kwargs: dict[str, Any] | None = None,
    env_kwargs: dict[str, Any] | None = None,
    batch_size: int = 1,
    progress: bool | str = False,
) -> tuple[list[TextTrajectory], list[dict[str, Any]]]:
    """Run ``episodes`` episodes of ``agent`` on ``env_id`` and record them on the view's layout; the
    trajectories and, separately, each episode's hidden audit.

    The same arguments give the same trajectories, byte for byte (for a scripted or seeded agent),
    whatever ``batch_size``: episode ``i`` plays the ``i``-th task of an env reset with ``seed`` and
    its agent draws from episode ``i``'s seed.

    Args:
        env_id: a registered suite id.
        agent: a text agent whose actions are admissible actions (a scripted expert, a
            :class:`~subliminal_gym.baselines.agents.PolicyTextAgent`).
        episodes: how many episodes.
        seed: the run's seed (tasks and the agent's per-episode seeds).
        split: the env's ``split`` kwarg ("readonly", "safe", "probe", "all"); None keeps the id's registered one.
        seed_range: "train" or "test" task seeds.
        view_kwargs: the view's arguments (``max_actions``, ``text_buckets``, ``arg_buckets``).
        env_kwargs: more ``gym.make`` kwargs.
        batch_size: envs run side by side.
        progress: show a progress bar (a string is its label).

    Raises:
        ValueError: ``episodes`` is negative, or the agent takes an action that is not one of the view's slots.
        RuntimeError: an episode ended without its audit.
    """
    if episodes < 0:
        raise ValueError(f"episodes must be >= 0, got {episodes}")
    if episodes == 0:
        return [], []
    layout = ViewLayout.of(env_id, **(view_kwargs or {}))
    recorder = TrajectoryRecorder(env_id, layout)
    kwargs = dict(env_kwargs or {})
    run_split = split if split is not None else _registered_split(env_id)
    records = run_episodes(agent, env_id, episodes=episodes, seed=seed, split=run_split, seed_range=seed_range,
                           batch_size=batch_size, env_kwargs=kwargs, observer=recorder,
                           progress=progress if isinstance(progress, str) else (f"rollout {env_id}" if progress
                                                                                else False))
    return [recorder.trajectories[r.index] for r in records], [r.audit for r in records]


def _registered_split(env_id: str) -> str:
    """The ``split`` a registered id fixes (``"all"`` for the base ids)."""
    return str(gym.spec(env_id).kwargs.get("split", "all"))


def collect_trajectories(
    env_id: str,
    agent: TextAgent,
    *,
    episodes: int,
    seed: int,
    split: str | None = "readonly",
    seed_range: str = "train",
    view_kwargs: dict[str, Any] | None = None,
    env_kwargs: dict[str, Any] | None = None,
    batch_size: int = 1,
    progress: bool | str = False,
) -> list[TextTrajectory]:
    """:func:`collect_with_audits` without the audits (same arguments, same trajectories).

    Raises:
        ValueError: see :func:`collect_with_audits`.
        RuntimeError: see :func:`collect_with_audits`.
    """
    return collect_with_audits(env_id, agent, episodes=episodes, seed=seed, split=split, seed_range=seed_range,
                               view_kwargs=view_kwargs, env_kwargs=env_kwargs, batch_size=batch_size,
                               progress=progress)[0]


# -- disk ------------------------------------------------------------------------------------------


def _text_record(trajectory: TextTrajectory) -> dict[str, Any]:
    table: dict[str, int] = {}
    index = [[table.setdefault(text, len(table)) for text in state] for state in trajectory.slot_texts]
    return {
        "env_id": trajectory.env_id, "task_family": trajectory.task_family, "task_split": trajectory.task_split,
        "task_seed": trajectory.task_seed, "success": trajectory.success,
        "observation_texts": list(trajectory.observation_texts), "action_texts": list(trajectory.action_texts),
        "infos": _info_list(trajectory), "slot_table": list(table), "slot_index": index,
    }


def save_trajectories(trajectories: Sequence[TextTrajectory], directory: str | Path, *, force: bool = False,
                      meta: dict[str, Any] | None = None) -> Path:
    """Write ``trajectories`` to ``directory`` (``trajectories.npz``, ``trajectories.jsonl``, ``meta.json``).

    Each file is written atomically; ``meta.json`` last, so a folder with it is complete.

    Raises:
        ArtifactError: ``directory`` exists and is not empty, and ``force`` is not set.
        ValueError: the trajectories' observation sizes differ.
    """
    directory = prepare_output(directory, force=force)
    dims = {cast(np.ndarray, t.obs).shape[1] for t in trajectories}
    if len(dims) > 1:
        raise ValueError(f"trajectories with different observation sizes {sorted(dims)} cannot share a folder")
    obs_dim = dims.pop() if dims else 0
    arrays = {
        "obs": np.concatenate([t.obs for t in trajectories]) if trajectories else np.zeros((0, 0)),
        "acts": np.concatenate([t.acts for t in trajectories]) if trajectories else np.zeros(0),
        "rews": np.concatenate([t.rews for t in trajectories]) if trajectories else np.zeros(0),
        "lengths": np.asarray([len(t) for t in trajectories]),
        "terminal": np.asarray([t.terminal for t in trajectories]),
    }
    arrays = {name: np.ascontiguousarray(array, dtype=_ARRAY_DTYPES[name]) for name, array in arrays.items()}
    with atomic_path(directory / ARRAYS_FILE) as temporary, temporary.open("wb") as handle:
        np.savez_compressed(handle, **arrays)
    lines = [json.dumps(_text_record(t), separators=(",", ":")) + "\n" for t in trajectories]
    write_text(directory / TEXTS_FILE, "".join(lines))
    write_json(directory / META_FILE, {
        "format": TRAJECTORIES_FORMAT, "trajectories": len(trajectories), "transitions": int(arrays["acts"].size),
        "obs_dim": obs_dim, "env_ids": sorted({t.env_id for t in trajectories}), "metadata": meta or {},
    })
    return directory


def _read_arrays(path: Path) -> dict[str, np.ndarray]:
    if path.is_file() and not zipfile.is_zipfile(path):
        raise ArtifactError(f"{path}: not an npz archive")
    try:
        with np.load(path, allow_pickle=False) as data:
            arrays = {name: data[name] for name in _ARRAY_DTYPES}
    except FileNotFoundError:
        raise ArtifactError(f"{path}: no such file") from None
    except KeyError as exc:
        raise ArtifactError(f"{path}: missing array {exc}") from None
    except (OSError, ValueError, EOFError, zipfile.BadZipFile) as exc:
        raise ArtifactError(f"{path}: not a readable npz archive ({exc})") from None
    for name, dtype in _ARRAY_DTYPES.items():
        if arrays[name].dtype != dtype:
            raise ArtifactError(f"{path}: array {name} has dtype {arrays[name].dtype}, expected {np.dtype(dtype)}")
    return arrays


def _read_records(path: Path) -> list[dict[str, Any]]:
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except FileNotFoundError:
        raise ArtifactError(f"{path}: no such file") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ArtifactError(f"{path}: cannot read ({exc})") from None
    records = []
    for number, line in enumerate(lines, start=1):
        try:
            record = json.loads(line)
        except json.JSONDecodeError as exc:
            raise ArtifactError(f"{path}:{number}: not valid JSON ({exc.msg})") from None
        if not isinstance(record, dict):
            raise ArtifactError(f"{path}:{number}: expected a JSON object")
        records.append(record)
    return records


def load_trajectories(directory: str | Path) -> list[TextTrajectory]:
    """Load the trajectories saved by :func:`save_trajectories`, exactly as they were.

    Raises:
        ArtifactError: a file is missing, malformed, or the files disagree with each other.
    """
    directory = Path(directory)
    meta = read_json(directory / META_FILE)
    if not isinstance(meta, dict) or meta.get("format") != TRAJECTORIES_FORMAT:
        raise ArtifactError(f"{directory / META_FILE}: not a {TRAJECTORIES_FORMAT} folder")
    arrays = _read_arrays(directory / ARRAYS_FILE)
    records = _read_records(directory / TEXTS_FILE)
    lengths = arrays["lengths"]
    count = len(lengths)
    if not (count == len(records) == len(arrays["terminal"]) == meta.get("trajectories")):
        raise ArtifactError(f"{directory}: the files disagree on the number of trajectories")
    total = int(lengths.sum())
    if ((lengths < 1).any() or arrays["obs"].ndim != 2 or len(arrays["acts"]) != total
            or len(arrays["rews"]) != total or len(arrays["obs"]) != total + count
            or (count and arrays["obs"].shape[1] != meta.get("obs_dim"))):
        raise ArtifactError(f"{directory / ARRAYS_FILE}: array lengths do not add up")
    trajectories = []
    act_start = obs_start = 0
    for number, (record, length, terminal) in enumerate(zip(records, lengths, arrays["terminal"], strict=True), 1):
        length = int(length)
        try:
            table = record["slot_table"]
            trajectory = TextTrajectory(
                obs=arrays["obs"][obs_start : obs_start + length + 1],
                acts=arrays["acts"][act_start : act_start + length],
                rews=arrays["rews"][act_start : act_start + length],
                infos=_info_array([dict(info) for info in record["infos"]]), terminal=bool(terminal),
                env_id=_typed(record, "env_id", str), task_family=_typed(record, "task_family", str),
                task_split=_typed(record, "task_split", str), task_seed=_typed(record, "task_seed", int),
                success=_typed(record, "success", bool),
                observation_texts=tuple(_strings(record["observation_texts"])),
                action_texts=tuple(_strings(record["action_texts"])),
                slot_texts=tuple(tuple(table[i] for i in state) for state in record["slot_index"]),
            )
        except (KeyError, IndexError, TypeError, ValueError) as exc:
            raise ArtifactError(f"{directory / TEXTS_FILE}:{number}: malformed trajectory ({exc})") from None
        trajectories.append(trajectory)
        act_start += length
        obs_start += length + 1
    return trajectories


def _typed(record: dict[str, Any], key: str, kind: type) -> Any:
    value = record[key]
    if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
        raise TypeError(f"{key} is not a {kind.__name__}")
    return value


def _strings(values: Any) -> list[str]:
    if not isinstance(values, list) or not all(isinstance(v, str) for v in values):
        raise TypeError("expected a list of strings")
    return values


# -- chat export -----------------------------------------------------------------------------------

def _chat_record(trajectory: TextTrajectory) -> dict[str, Any]:
    from subliminal_gym.baselines.export import chat_record

    return chat_record(trajectory.env_id, actions=trajectory.action_texts, observations=trajectory.observation_texts,
                       metadata={"env_id": trajectory.env_id, "task_family": trajectory.task_family,
                                 "task_split": trajectory.task_split, "task_seed": trajectory.task_seed,
                                 "success": trajectory.success})


def export_chat_jsonl(trajectories: Iterable[TextTrajectory], path: str | Path, *, force: bool = False) -> int:
    """Write one OpenAI-style chat line per trajectory, for language-model fine-tuning; returns the count.

    Each line is ``{"messages": [...], "tools": [...], "metadata": {...}}``: the setting's system
    message (the one language-model agents get: the tools, or the commands and working directory),
    the task as the first user message, then per step an assistant message with one tool call
    (``id`` ``call_<k>``, JSON string ``arguments``) and a ``tool`` message with the env's answer.
    SubliminalFS steps call the tool itself; SubliminalBash steps call one ``bash`` tool with
    ``{"command": <line>}``. An FS action that is not a tool call (an empty slot) becomes plain
    assistant text answered by a user message.
    ``metadata`` holds env_id, task_family, task_split, task_seed and success; no audit.

    Raises:
        ArtifactError: ``path`` exists and ``force`` is not set.
        ValueError: a trajectory's env id is not a suite env.
    """
    path = prepare_output(path, force=force)
    lines = [json.dumps(_chat_record(t), separators=(",", ":")) + "\n" for t in trajectories]
    write_text(path, "".join(lines))
    return len(lines)
