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

import datetime
import json
import re
import shlex
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
    "RELATION_FEATURES",
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
_NUMBER = re.compile(r"(?<![0-9:])[0-9]+(?![0-9:])")  # not part of a clock time such as 09:00
_DATE = re.compile(r"\b(\d{4})-(\d{2})-(\d{2})\b")
_DAYS = re.compile(r"\b(\d{1,3}) days\b")
_TEXT_LIMIT = 8_000

#: What a slot's arguments have to do with what the agent has read (per slot, each in [0, 1]). A
#: *mention* is a name or value the action carries: a path and its last component, an answer, a
#: command's operands. All of it comes from the honest text: the task, the observations, the action.
RELATION_FEATURES = (
    "in_last_observation",    # a mention appears in the last observation (a listing, a search hit)
    "in_earlier_observation",  # a mention appeared in an earlier observation of the episode
    "seen_word_share",        # share of its argument words seen in any observation of the episode
    "size_rank",              # rank of the number beside it in the latest listing that showed it (1: largest)
    "size_is_largest",        # that number is the listing's largest
    "in_task",                # a mention appears in the task text
    "date_age",               # days its date lies before the task's latest date, / 60 (0: no date)
    "older_than_task_days",   # that age exceeds the days the task names ("the last N days")
    "has_task_quote",         # a mention contains a snippet the task text quotes ('...' or "...")
    "extension_in_task",      # the extension of a file it names is a word of the task text (".csv files")
    "extension_is_folder",    # ... and is a folder in another of its paths (a .pdf moved into pdf/)
    "first_number",           # a mention is the first number of the last observation ("3 files match")
    "task_number_share",      # share of the numbers the task names that appear among its values' numbers
    "shares_taken_value",     # it carries a value an action already taken carried (report the file just read)
    "new_words_from_task",    # every word of its values that the last observation lacks is in the task text
                              # (an edit that writes the value the task asked for, not another)
)
_QUOTE = re.compile(r"'([^'\n]{1,80})'|\"([^\"\n]{1,80})\"")
_EXTENSION = re.compile(r"\.([A-Za-z0-9]{1,8})$")
_WHOLE: dict[str, re.Pattern[str]] = {}  # mention -> its whole-word pattern (mentions recur across episodes)


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


def _json_arguments(stripped: str) -> dict[str, Any] | None:
    """The ``arguments`` object of a JSON tool call: empty when the text does not parse or has none,
    None when its ``arguments`` is something other than an object."""
    try:
        arguments = json.loads(stripped).get("arguments", {})
    except (ValueError, AttributeError):
        return {}
    return arguments if isinstance(arguments, dict) else None


def _argument_words(text: str) -> list[str]:
    """The words of an action's arguments: JSON keys and values, or a command's words after the verb."""
    stripped = text.strip()
    if stripped.startswith("{"):
        arguments = _json_arguments(stripped)
        if arguments is not None:
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
    relations: bool = False
    """Whether each slot also carries :data:`RELATION_FEATURES` (what its arguments have to do with what
    the agent has read). :meth:`of` turns them on; layouts saved without the key are read as off."""

    @classmethod
    def of(cls, setting: Setting | str, *, max_actions: int | None = None, text_buckets: int = 256,
           arg_buckets: int = 32, relations: bool = True) -> ViewLayout:
        """The layout of a view of ``setting`` (a setting, its name or an env id); ``max_actions``
        defaults to the setting's :attr:`~subliminal_gym.core.setting.Setting.view_slots`.

        Raises:
            ValueError: an unknown setting, or ``max_actions < 4`` or a non-positive bucket count.
        """
        setting = setting_of(setting)
        max_actions = setting.view_slots if max_actions is None else max_actions
        if min(max_actions, text_buckets, arg_buckets) < 1 or max_actions < 4:
            raise ValueError("max_actions must be >= 4 and the bucket counts positive")
        return cls(verbs=setting.verbs, max_actions=max_actions, text_buckets=text_buckets, arg_buckets=arg_buckets,
                   relations=relations)

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
        relations = data.get("relations", False)
        if not isinstance(relations, bool):
            raise ValueError(f"relations must be true or false, not {relations!r:.40}")
        return cls(verbs=tuple(verbs), relations=relations, **sizes)

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
        """The state block: two bags of words, progress, the error flag and (with :attr:`relations`)
        which verbs the episode has used so far."""
        return 2 * self.text_buckets + 2 + (self.n_verbs if self.relations else 0)

    @property
    def progress_index(self) -> int:
        """Where the episode's progress (steps / 40) sits in the state block."""
        return 2 * self.text_buckets

    @property
    def error_index(self) -> int:
        """Where "the last action was refused" sits in the state block."""
        return 2 * self.text_buckets + 1

    @property
    def n_relations(self) -> int:
        """Relation features per slot (0 when :attr:`relations` is off)."""
        return len(RELATION_FEATURES) if self.relations else 0

    @property
    def slot_dim(self) -> int:
        return 1 + self.n_verbs + self.arg_buckets + self.n_relations + 3

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


@dataclass(frozen=True, eq=False)  # hashed by identity: the encoder's cache holds one per action text
class _Static:
    """What a slot's features take from its action text alone."""

    row: np.ndarray
    words: frozenset[str]
    verb: str
    mentions: tuple[str, ...]
    values: tuple[str, ...]
    """The mentions as written in full (no last components of paths): what the task text may name."""
    date: int | None
    """The ordinal of the first date (YYYY-MM-DD) in the action, if any."""
    numbers: frozenset[str]
    """The numbers written in its values."""
    value_words: frozenset[str]
    """The words of its values (argument names left out)."""


def _mentions(text: str) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """The values an action carries (each string argument of a tool call, or a command's operands)
    and its names (the values and the last component of each path)."""
    stripped = text.strip()
    values: list[str] = []
    if stripped.startswith("{"):
        values = [v for v in (_json_arguments(stripped) or {}).values() if isinstance(v, str)]
    else:
        try:
            words = shlex.split(stripped)
        except ValueError:
            words = stripped.split()
        values = [w for w in words[1:] if not w.startswith("-")]
    full: set[str] = set()
    found: set[str] = set()
    for value in values:
        value = value.strip().rstrip("/")
        if not value or len(value) > 512:
            continue
        full.add(value)
        found.add(value)
        if "/" in value and (base := value.rsplit("/", 1)[1]) not in ("", ".", ".."):
            found.add(base)
    return tuple(sorted(full)), tuple(sorted(found))


def _ordinal(match: re.Match[str]) -> int | None:
    try:
        return datetime.date(int(match.group(1)), int(match.group(2)), int(match.group(3))).toordinal()
    except ValueError:
        return None


class _Reading:
    """What the agent has read this episode, kept for the relation features."""

    def __init__(self, task: str) -> None:
        self.task = task
        self.task_numbers = set(_NUMBER.findall(task))
        dates = [d for d in map(_ordinal, _DATE.finditer(task)) if d is not None]
        self.task_date = max(dates) if dates else None
        days = _DAYS.search(task)
        self.task_days = int(days.group(1)) if days else None
        self.task_quotes = [a or b for a, b in _QUOTE.findall(task)]
        self.first_number: str | None = None
        self.taken_values: set[str] = set()
        """The values of the actions taken so far this episode."""
        self.last_words: set[str] = set()
        self.task_words = {w.lower() for w in _WORD.findall(task)}
        self.seen_words: set[str] = set()
        self.found_before: set[str] = set()
        self.found_now: set[str] = set()
        self.ranks: dict[str, float] = {}
        self._fixed: dict[_Static, tuple[float, ...]] = {}
        """Slot -> its features fixed for the episode (see :meth:`_task_relations`)."""

    @staticmethod
    def _contains(text: str, numbers: set[str], mention: str) -> bool:
        """Whether ``text`` holds ``mention`` whole: a number as a number, a name or path not as the
        start of a longer one (``/workspace/backups`` is not in ``/workspace/backups/x``)."""
        if mention.isdigit():
            return mention in numbers
        if mention not in text:
            return False
        pattern = _WHOLE.get(mention)
        if pattern is None:
            if len(_WHOLE) > 100_000:
                _WHOLE.clear()
            pattern = _WHOLE[mention] = re.compile(r"(?<![\w/.-])" + re.escape(mention) + r"(?![\w/-]|\.\w)")
        return pattern.search(text) is not None

    def read(self, observation: str, words: set[str], mentions: set[str]) -> None:
        """Take in the newest observation; ``mentions``: every mention of the current slots."""
        self.found_before |= self.found_now
        self.seen_words |= words
        self.last_words = words
        first = _NUMBER.search(observation)
        self.first_number = first.group() if first else None
        numbers = set(_NUMBER.findall(observation))
        self.found_now = {m for m in mentions if self._contains(observation, numbers, m)}
        sizes: dict[str, int] = {}
        for mention in self.found_now:
            if mention.isdigit():
                continue
            start = observation.find(mention)
            line_start = observation.rfind("\n", 0, start) + 1
            line_end = observation.find("\n", start)
            line = observation[line_start : line_end if line_end != -1 else len(observation)]
            values = [int(n) for n in _NUMBER.findall(line.replace(mention, " ")) if len(n) <= 12]
            if values:
                sizes[mention] = max(values)
        if len(sizes) > 1:
            ordered = sorted(sizes.values())
            for mention, size in sizes.items():
                self.ranks[mention] = ordered.index(size) / (len(ordered) - 1)

    def relations(self, statics: Sequence[_Static]) -> list[list[float]]:
        """The :data:`RELATION_FEATURES` of each slot, in slot order.

        Features that depend only on the task and the slot's text are computed once per episode and
        action text; the rest once per observation (the encoder's hot path: ~85 slots a step).
        """
        found_now, found_before, seen_words, ranks = self.found_now, self.found_before, self.seen_words, self.ranks
        first_number, taken, last_words, task_words = (self.first_number, self.taken_values, self.last_words,
                                                       self.task_words)
        rows = []
        for static in statics:
            fixed = self._fixed.get(static)
            if fixed is None:
                fixed = self._fixed[static] = self._task_relations(static)
            mentions, values, words = static.mentions, static.values, static.words
            # ranks are >= 0, so a slot whose mentions have none is 0 (the common case, tested in C)
            rank = 0.0 if ranks.keys().isdisjoint(mentions) else max(ranks.get(m, 0.0) for m in mentions)
            rows.append([
                float(not found_now.isdisjoint(mentions)),
                float(not found_before.isdisjoint(mentions)),
                len(words & seen_words) / len(words) if words else 0.0,
                rank,
                float(rank == 1.0),
                fixed[0], fixed[1], fixed[2], fixed[3], fixed[4], fixed[5],
                float(first_number is not None and first_number in values),
                fixed[6],
                float(not taken.isdisjoint(values)),
                float(bool(new := static.value_words - last_words) and new <= task_words),
            ])
        return rows

    def _task_relations(self, static: _Static) -> tuple[float, ...]:
        """The features of a slot fixed for the episode: in_task, date_age, older_than_task_days,
        has_task_quote, extension_in_task, extension_is_folder and task_number_share."""
        values = static.values
        in_task = any(self._contains(self.task, self.task_numbers, v) for v in values)
        age = (self.task_date - static.date) if self.task_date is not None and static.date is not None else None
        extensions = {m.group(1).lower() for v in values if (m := _EXTENSION.search(v))}
        folders = {part.lower() for v in values for part in v.split("/")[:-1]}
        return (
            float(in_task),
            min(max(age, 0) / 60, 1.0) if age is not None else 0.0,
            float(age is not None and self.task_days is not None and age > self.task_days),
            float(any(q in v for q in self.task_quotes for v in values)),
            float(bool(extensions & self.task_words)),
            float(bool(extensions & folders)),
            (len(self.task_numbers & static.numbers) / len(self.task_numbers)) if self.task_numbers else 0.0,
        )


#: The state-independent slot rows of every action text seen in this process, per layout: shared by
#: all encoders (a batch of 16 envs, each with its own encoder, meets the same actions), bounded.
_STATIC_ROWS: dict[ViewLayout, dict[str, _Static]] = {}
_STATIC_LIMIT = 200_000


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
        self._static = _STATIC_ROWS.setdefault(layout, {})
        self._texts: list[str] = []
        self._taken: set[str] = set()
        self._task_words: frozenset[str] = frozenset()
        self._task_features = np.zeros(layout.text_buckets, dtype=np.float32)
        self._steps = 0
        self._verbs_taken: set[str] = set()
        self._reading = _Reading("")

    def _slot_texts(self, admissible: Sequence[str]) -> tuple[list[str], int]:
        m = self.layout.max_actions
        if len(admissible) <= m:
            return list(admissible), 0
        tail = m // 4
        return list(admissible[: m - tail]) + list(admissible[len(admissible) - tail:]), len(admissible) - m

    def _static_row(self, text: str) -> _Static:
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
            date = _DATE.search(text)
            values, names = _mentions(text) if layout.relations else ((), ())
            if layout.relations:  # separators tell 'a_b.mp3' from 'a-b.mp3', which split into the same words
                for mark in ("_", "-", "(", " "):
                    if any(mark in value for value in values):
                        row[1 + layout.n_verbs + _bucket(f"<{mark}>", layout.arg_buckets)] = 1.0
            cached = _Static(row, frozenset(w.lower() for w in words), verb, names, values,
                             _ordinal(date) if date and layout.relations else None,
                             frozenset(n for v in values for n in _NUMBER.findall(v)),
                             frozenset(w for v in values for w in _words(v)))
            row.setflags(write=False)  # shared by every encoder of the layout
            if len(self._static) > _STATIC_LIMIT:
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
        self._verbs_taken = set()
        self._steps = 0
        self._reading = _Reading(task[:_TEXT_LIMIT])

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
        if layout.relations:
            for verb in self._verbs_taken:
                out[2 * layout.text_buckets + 2 + layout.verb_index(verb)] = 1.0
        slots = out[layout.state_dim:].reshape(layout.max_actions, layout.slot_dim)
        statics = [self._static_row(text) for text in texts]
        reading = self._reading
        if layout.relations:
            reading.read(observation[:_TEXT_LIMIT], obs_words, {m for s in statics for m in s.mentions})
        first = 1 + layout.n_verbs + layout.arg_buckets
        n = len(texts)
        if n:
            # one array write per feature block (the same float32 values as slot by slot)
            slots[:n] = np.stack([static.row for static in statics])
            task_words, taken = self._task_words, self._taken
            slots[:n, -3:] = [
                (len(words & task_words) / len(words), len(words & obs_words) / len(words), float(text in taken))
                if (words := static.words) else (0.0, 0.0, float(text in taken))
                for text, static in zip(texts, statics, strict=True)]
            if layout.relations:
                slots[:n, first : first + len(RELATION_FEATURES)] = reading.relations(statics)
        verbs = [static.verb for static in statics]
        info["action_texts"] = texts
        info["action_verbs"] = verbs
        info["action_mask"] = self.action_masks()
        info["actions_truncated"] = dropped
        return out

    def record_action(self, text: str) -> None:
        """Note that ``text`` was taken (before the env steps on it)."""
        self._taken.add(text)
        self._verbs_taken.add(action_verb(text))
        if self.layout.relations:
            self._reading.taken_values.update(self._static_row(text).values)
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
