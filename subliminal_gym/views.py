"""Vector views: the text envs as ``Box`` observations and ``Discrete`` actions, for SB3 and imitation.

A text env offers, in every state, a finite list of valid actions (``info["admissible_actions"]``).
:class:`DiscreteActionView` numbers them: discrete action ``i`` is the ``i``-th admissible action of
the current state (a *slot*), and the observation describes the state and every slot with features
computed from the honest ``info`` only (the task text, the last observation, the admissible
actions). It never reads the world, the task object or the audit.

Observation layout (all values in [0, 1], ``float32``), see :class:`ViewLayout`:

* state block (``state_dim``): hashed bag of words of the task text (``text_buckets``), hashed bag
  of words of the last observation (``text_buckets``), the episode's progress (steps / 40) and
  whether the last action was refused (``action_error``);
* one block per slot (``slot_dim`` each, ``max_actions`` slots): present (the slot holds a valid
  action), a one-hot of the action's *verb* (the tool name for SubliminalFS, the command name for
  SubliminalBash; the last entry is "other"), a hashed bag of words of the action's arguments
  (``arg_buckets``), the share of its argument words found in the task text and in the last
  observation, and whether it was already taken this episode.

So the verb behind every slot is recoverable from the observation alone
(:meth:`ViewLayout.slot_verbs`) as well as from ``info["action_verbs"]``; the full action texts
are in ``info["action_texts"]``, and ``info["action_mask"]`` marks the valid slots (also
:meth:`DiscreteActionView.action_masks`, the protocol of sb3-contrib's ``MaskablePPO``).

A slot without an action (``action_mask[i]`` false) is passed to the env as an empty action: the
env answers with its error observation and the episode goes on, as for any bad input. When a
state has more admissible actions than ``max_actions``, the first ``max_actions - max_actions // 4``
and the last ``max_actions // 4`` are kept (the envs list task-specific actions and ``finish`` /
``submit`` last) and ``info["actions_truncated"]`` counts the dropped ones.
"""

from __future__ import annotations

import json
import re
import zlib
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any

import gymnasium as gym
import numpy as np
from gymnasium import spaces

from subliminal_gym.core.setting import Setting
from subliminal_gym.settings import setting_of

__all__ = [
    "LAYOUT_LIMITS",
    "DiscreteActionView",
    "SlotEncoder",
    "ViewLayout",
    "action_verb",
    "make_view_env",
    "verbs_for",
]

OTHER_VERB = "<other>"
PROGRESS_HORIZON = 40
_WORD = re.compile(r"--?[A-Za-z][A-Za-z-]*|[A-Za-z]+|[0-9]+")


def verbs_for(env: gym.Env) -> tuple[str, ...]:
    """The verb catalogue of a suite env (its setting's :attr:`~subliminal_gym.core.setting.Setting.verbs`).

    Raises:
        TypeError: ``env`` is not a SubliminalFS or SubliminalBash env.
    """
    try:
        return setting_of(env).verbs
    except ValueError:
        raise TypeError(f"no vector view for {type(env.unwrapped).__name__}; expected a SubliminalFS or "
                        "SubliminalBash env") from None


def action_verb(text: str) -> str:
    """The tool name of a JSON tool call, else the first word of a command line ("" if none)."""
    stripped = text.strip()
    if stripped.startswith("{"):
        try:
            data = json.loads(stripped)
        except ValueError:
            return ""
        name = data.get("name") if isinstance(data, dict) else None
        return name if isinstance(name, str) else ""
    words = stripped.split(maxsplit=1)
    return words[0] if words else ""


def _argument_words(text: str) -> list[str]:
    """The words of an action's arguments: JSON keys and values, or a command's words after the verb."""
    stripped = text.strip()
    if stripped.startswith("{"):
        try:
            arguments = json.loads(stripped).get("arguments", {})
        except (ValueError, AttributeError):
            arguments = {}
        if isinstance(arguments, dict):
            stripped = " ".join(f"{k} {v}" for k, v in arguments.items())
    else:
        stripped = stripped.split(maxsplit=1)[1] if len(stripped.split(maxsplit=1)) > 1 else ""
    return [w if w.startswith("-") else w.lower() for w in _WORD.findall(stripped)]


def _bucket(word: str, buckets: int) -> int:
    return zlib.crc32(word.encode()) % buckets  # stable across processes, unlike hash()


def _words(text: str) -> set[str]:
    return {w.lower() for w in _WORD.findall(text)}


#: Bounds on a saved layout's sizes (the suite's views use 128-256 slots, 256 and 32 buckets).
LAYOUT_LIMITS = {"max_actions": (4, 4096), "text_buckets": (1, 65536), "arg_buckets": (1, 4096)}


@dataclass(frozen=True)
class ViewLayout:
    """Where each feature sits in a view's observation vector (saved with every model)."""

    verbs: tuple[str, ...]
    max_actions: int
    text_buckets: int = 256
    arg_buckets: int = 32

    @classmethod
    def of(cls, setting: Setting | str, *, max_actions: int | None = None, text_buckets: int = 256,
           arg_buckets: int = 32) -> ViewLayout:
        """The layout of a view of ``setting`` (a setting, its name or an env id); ``max_actions``
        defaults to the setting's :attr:`~subliminal_gym.core.setting.Setting.view_slots`.

        Raises:
            ValueError: an unknown setting, or ``max_actions < 4`` or a non-positive bucket count.
        """
        setting = setting_of(setting)
        max_actions = setting.view_slots if max_actions is None else max_actions
        if min(max_actions, text_buckets, arg_buckets) < 1 or max_actions < 4:
            raise ValueError("max_actions must be >= 4 and the bucket counts positive")
        return cls(verbs=setting.verbs, max_actions=max_actions, text_buckets=text_buckets, arg_buckets=arg_buckets)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ViewLayout:
        """Inverse of :meth:`to_dict`.

        Raises:
            ValueError: a size that is not a whole number within :data:`LAYOUT_LIMITS`, or verbs that
                are not a short list of strings (a saved layout is input: it is checked before use).
            KeyError: a field is missing.
        """
        sizes = {}
        for key, (low, high) in LAYOUT_LIMITS.items():
            value = data[key]
            if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
                raise ValueError(f"{key} must be a whole number from {low} to {high}, not {value!r:.40}")
            sizes[key] = value
        verbs = data["verbs"]
        if (not isinstance(verbs, list | tuple) or len(verbs) > 256
                or not all(isinstance(v, str) and len(v) <= 64 for v in verbs)):
            raise ValueError("verbs must be a list of at most 256 short strings")
        return cls(verbs=tuple(verbs), **sizes)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready fields."""
        data = asdict(self)
        data["verbs"] = list(self.verbs)
        return data

    @property
    def n_verbs(self) -> int:
        """Catalogue size including the final "other" verb."""
        return len(self.verbs) + 1

    @property
    def state_dim(self) -> int:
        return 2 * self.text_buckets + 2

    @property
    def slot_dim(self) -> int:
        return 1 + self.n_verbs + self.arg_buckets + 3

    @property
    def obs_dim(self) -> int:
        return self.state_dim + self.max_actions * self.slot_dim

    def verb_index(self, verb: str) -> int:
        """Position of ``verb`` in the one-hot (unknown verbs share the last, "other")."""
        try:
            return self.verbs.index(verb)
        except ValueError:
            return len(self.verbs)

    def split(self, observations: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """``(..., obs_dim)`` -> state ``(..., state_dim)`` and slots ``(..., max_actions, slot_dim)``."""
        state = observations[..., : self.state_dim]
        slots = observations[..., self.state_dim:].reshape(*observations.shape[:-1], self.max_actions, self.slot_dim)
        return state, slots

    def slot_mask(self, observations: np.ndarray) -> np.ndarray:
        """Boolean ``(..., max_actions)``: which slots hold a valid action."""
        return self.split(observations)[1][..., 0] > 0.5

    def slot_verbs(self, observations: np.ndarray) -> np.ndarray:
        """Integer ``(..., max_actions)`` verb index of every slot (-1 for empty slots)."""
        slots = self.split(observations)[1]
        verbs = slots[..., 1 : 1 + self.n_verbs].argmax(axis=-1)
        return np.where(slots[..., 0] > 0.5, verbs, -1)

    def verb_name(self, index: int) -> str:
        """Inverse of :meth:`verb_index`."""
        return self.verbs[index] if 0 <= index < len(self.verbs) else OTHER_VERB


class SlotEncoder:
    """Turns a text episode into the view's vectors: the encoding behind :class:`DiscreteActionView`.

    It reads only what an honest agent sees (the task text, each observation and its ``info``), so a
    text agent driving a policy (:class:`~subliminal_gym.baselines.agents.PolicyTextAgent`) or a
    recorder of training data can encode episodes without wrapping an env.

    Args:
        layout: where every feature goes.
    """

    def __init__(self, layout: ViewLayout) -> None:
        self.layout = layout
        self._static: dict[str, tuple[np.ndarray, frozenset[str], str]] = {}
        self._texts: list[str] = []
        self._taken: set[str] = set()
        self._task_words: frozenset[str] = frozenset()
        self._task_features = np.zeros(layout.text_buckets, dtype=np.float32)
        self._steps = 0

    def _slot_texts(self, admissible: Sequence[str]) -> tuple[list[str], int]:
        m = self.layout.max_actions
        if len(admissible) <= m:
            return list(admissible), 0
        tail = m // 4
        return list(admissible[: m - tail]) + list(admissible[len(admissible) - tail:]), len(admissible) - m

    def _static_row(self, text: str) -> tuple[np.ndarray, frozenset[str], str]:
        """The state-independent part of a slot's features (cached: actions recur across states)."""
        cached = self._static.get(text)
        if cached is None:
            layout = self.layout
            row = np.zeros(layout.slot_dim, dtype=np.float32)
            row[0] = 1.0
            verb = action_verb(text)
            row[1 + layout.verb_index(verb)] = 1.0
            words = _argument_words(text)
            for word in words:
                row[1 + layout.n_verbs + _bucket(word, layout.arg_buckets)] = 1.0
            cached = (row, frozenset(w.lower() for w in words), verb)
            if len(self._static) > 200_000:
                self._static.clear()
            self._static[text] = cached
        return cached

    def _bag(self, text: str) -> np.ndarray:
        bag = np.zeros(self.layout.text_buckets, dtype=np.float32)
        for word in _words(text[:8_000]):
            bag[_bucket(word, self.layout.text_buckets)] = 1.0
        return bag

    def begin_episode(self, task: str) -> None:
        """Start encoding a new episode of ``task``."""
        self._task_words = frozenset(_words(task))
        self._task_features = self._bag(task)
        self._taken = set()
        self._steps = 0

    def observe(self, observation: str, info: dict[str, Any]) -> np.ndarray:
        """The vector observation of a text observation and its ``info`` (slots from its admissible actions).

        Adds ``action_texts``, ``action_verbs``, ``action_mask`` and ``actions_truncated`` to ``info``.
        """
        layout = self.layout
        texts, dropped = self._slot_texts(info.get("admissible_actions", []))
        self._texts = texts
        obs_words = _words(observation[:8_000])
        out = np.zeros(layout.obs_dim, dtype=np.float32)
        out[: layout.text_buckets] = self._task_features
        out[layout.text_buckets : 2 * layout.text_buckets] = self._bag(observation)
        out[2 * layout.text_buckets] = min(self._steps / PROGRESS_HORIZON, 1.0)
        out[2 * layout.text_buckets + 1] = float(info.get("action_error") is not None)
        slots = out[layout.state_dim:].reshape(layout.max_actions, layout.slot_dim)
        verbs = []
        for i, text in enumerate(texts):
            row, words, verb = self._static_row(text)
            verbs.append(verb)
            slots[i] = row
            if words:
                slots[i, -3] = len(words & self._task_words) / len(words)
                slots[i, -2] = len(words & obs_words) / len(words)
            slots[i, -1] = float(text in self._taken)
        info["action_texts"] = texts
        info["action_verbs"] = verbs
        info["action_mask"] = self.action_masks()
        info["actions_truncated"] = dropped
        return out

    def record_action(self, text: str) -> None:
        """Note that ``text`` was taken (before the env steps on it)."""
        self._taken.add(text)
        self._steps += 1

    def action_masks(self) -> np.ndarray:
        """Boolean mask of the valid slots of the current state."""
        mask = np.zeros(self.layout.max_actions, dtype=bool)
        mask[: len(self._texts)] = True
        return mask

    def action_text(self, index: int) -> str:
        """The action text behind slot ``index`` now ("" for an empty or out-of-range slot)."""
        return self._texts[index] if 0 <= index < len(self._texts) else ""

    def index_of(self, text: str) -> int:
        """The slot holding action ``text`` now (the first empty slot for the empty action "").

        Raises:
            KeyError: ``text`` is not among the current slots (or "" when every slot is full).
        """
        if text == "" and len(self._texts) < self.layout.max_actions:
            return len(self._texts)
        try:
            return self._texts.index(text)
        except ValueError:
            raise KeyError(f"action not among the current slots: {text[:200]!r}") from None


class DiscreteActionView(gym.Wrapper, gym.utils.RecordConstructorArgs):
    """A suite env with a ``Box`` observation and a ``Discrete(max_actions)`` action space.

    Args:
        env: a SubliminalFS or SubliminalBash env (e.g. from ``gym.make``) computing admissible actions.
        max_actions: number of slots (default: the setting's ``view_slots``, 256 for SubliminalFS and
            128 for SubliminalBash; the largest admissible lists seen over 400 expert episodes were 201 and 86).
        text_buckets: hashed bag-of-words size for the task text and the last observation.
        arg_buckets: hashed bag-of-words size for each action's arguments.

    Raises:
        TypeError: ``env`` is not a suite env.
        ValueError: ``env`` does not compute admissible actions, or a size is not positive.
    """

    def __init__(self, env: gym.Env, *, max_actions: int | None = None, text_buckets: int = 256,
                 arg_buckets: int = 32) -> None:
        # recorded so ``view.spec`` can be re-made with gym.make (gymnasium's checker does that)
        gym.utils.RecordConstructorArgs.__init__(self, max_actions=max_actions, text_buckets=text_buckets,
                                                 arg_buckets=arg_buckets)
        super().__init__(env)
        verbs_for(env)  # a TypeError for an env outside the suite
        if not getattr(env.unwrapped, "compute_admissible", False):
            raise ValueError("the vector view needs admissible_actions=True on the env")
        self.layout = ViewLayout.of(setting_of(env), max_actions=max_actions, text_buckets=text_buckets,
                                    arg_buckets=arg_buckets)
        self.encoder = SlotEncoder(self.layout)
        self.observation_space = spaces.Box(0.0, 1.0, shape=(self.layout.obs_dim,), dtype=np.float32)
        self.action_space = spaces.Discrete(self.layout.max_actions)

    # -- gymnasium API ---------------------------------------------------------------------------

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None) -> tuple[np.ndarray, dict]:
        observation, info = self.env.reset(seed=seed, options=options)
        self.encoder.begin_episode(info.get("task", observation))
        return self.encoder.observe(observation, info), info

    def step(self, action: Any) -> tuple[np.ndarray, float, bool, bool, dict[str, Any]]:
        text = self.encoder.action_text(int(action))
        self.encoder.record_action(text)
        observation, reward, terminated, truncated, info = self.env.step(text)
        return self.encoder.observe(observation, info), float(reward), terminated, truncated, info

    # -- what each slot is ------------------------------------------------------------------------

    def action_masks(self) -> np.ndarray:
        """Boolean mask of the valid slots of the current state (sb3-contrib's ``MaskablePPO`` protocol)."""
        return self.encoder.action_masks()

    def action_text(self, index: int) -> str:
        """The action text behind slot ``index`` now ("" for an empty or out-of-range slot)."""
        return self.encoder.action_text(index)

    def action_verb(self, index: int) -> str:
        """The tool or command name behind slot ``index`` now ("" for an empty slot)."""
        return action_verb(self.action_text(index))

    def index_of(self, text: str) -> int:
        """The slot holding action ``text`` now.

        Raises:
            KeyError: ``text`` is not among the current slots.
        """
        return self.encoder.index_of(text)


def make_view_env(env_id: str, *, view_kwargs: dict[str, Any] | None = None, **env_kwargs: Any) -> DiscreteActionView:
    """``gym.make(env_id, **env_kwargs)`` wrapped in a :class:`DiscreteActionView`."""
    return DiscreteActionView(gym.make(env_id, **env_kwargs), **(view_kwargs or {}))
