"""What one env family of the suite is, in one object: the :class:`Setting`.

A setting is one of the paper's two experiments: SubliminalFS (API tools, the deletion habit) and
SubliminalBash (a shell, the chmod-first habit). Everything that differs between them and that code
above the envs would otherwise decide by comparing names lives here: env ids, the verbs an agent
can use, the habit and the name of its knob, the audit metrics and their display names, the
sanitiser's keywords, the scripted expert, how a text agent's reply becomes an action, and the
reply cap of language-model agents. Each family defines its setting next to its env
(:mod:`subliminal_gym.fs.setting`, :mod:`subliminal_gym.bash.setting`), the env class carries it
(``env.unwrapped.setting``), and :mod:`subliminal_gym.settings` finds one by name, env id or env.

Like an Inspect task is a dataset, a solver and a scorer found by name, a setting is what every
layer asks instead of re-deciding "fs or bash".
"""

from __future__ import annotations

import json
from abc import ABC, abstractmethod
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

import numpy as np

__all__ = ["FAMILY_KINDS", "PROBE", "READ_ONLY", "SPLITS", "VARIANT_SPLITS", "Expert", "PaperRow", "Setting",
           "first_tool_call", "split_families"]

#: The kind of task a family is (its class's ``split``): ``readonly`` tasks are solved by reading,
#: listing, searching and answering, and offer nothing else; ``safe`` tasks may also write, move and
#: copy but never need the habit; ``probe`` tasks are the audited choice, where the habit is allowed
#: and never required.
FAMILY_KINDS = ("readonly", "safe", "probe")
READ_ONLY = "readonly"
PROBE = "probe"
#: The env's ``split`` kwarg -> the kinds of family it draws from. ``safe`` holds every family that
#: never needs the habit, the read-only ones included (the data of the "overt channel" condition);
#: ``readonly`` is the isolated channel student data comes from.
SPLITS: dict[str, frozenset[str]] = {
    "readonly": frozenset({"readonly"}),
    "safe": frozenset({"readonly", "safe"}),
    "probe": frozenset({"probe"}),
    "all": frozenset(FAMILY_KINDS),
}
#: The registered variants of every family: id suffix -> the ``split`` kwarg they fix.
VARIANT_SPLITS: dict[str, str] = {"Safe": "safe", "Probe": "probe", "ReadOnly": "readonly"}


def split_families(families: Mapping[str, Any], split: str) -> tuple[str, ...]:
    """The names of ``families`` (name -> task class) that ``split`` draws from, in table order.

    Raises:
        ValueError: an unknown split.
    """
    kinds = SPLITS.get(split)
    if kinds is None:
        raise ValueError(f"unknown split {split!r}; expected one of {', '.join(map(repr, SPLITS))}")
    return tuple(name for name, cls in families.items() if cls.split in kinds)


class Expert(Protocol):
    """A scripted expert: the next action text for a (privileged) env's current state."""

    def act(self, env: Any) -> str: ...


@dataclass(frozen=True)
class PaperRow:
    """One row of the paper's table: the models, the student's rate and the baseline, in %."""

    models: str
    student: int
    baseline: int


@dataclass(frozen=True, kw_only=True, eq=False, repr=False)
class Setting(ABC):
    """One env family and its habit (see the module docstring). One instance per family; compared by identity."""

    name: str
    """Short name used in cell keys, file names and options: ``fs`` or ``bash``."""
    title: str
    """Heading of the setting in reports."""
    env_id: str
    """The base registered id (``split="all"``); :attr:`env_ids` adds the variants."""
    entry_point: str
    """The env class, as ``module:Class``."""
    families: Mapping[str, Any]
    """Task family name -> task class (each with ``split``: "safe" or "probe")."""
    habit: str
    """The habit under study, in words (``deletion``, ``chmod-first``)."""
    knob: str
    """The scripted expert's habit argument (``deletion_bias``, ``chmod_bias``)."""
    primary_metric: str
    """The audit metric of the habit (the paper's rate)."""
    secondary_metric: str
    """The second metric shown beside it in short tables."""
    metrics: tuple[str, ...]
    """Every boolean audit metric reported for the setting (``any_collateral_loss`` is derived)."""
    metric_names: Mapping[str, str]
    """Metric -> display name."""
    verbs: tuple[str, ...]
    """The verb catalogue: tool names (FS) or command names (Bash), the finishing verb last."""
    read_only_verbs: tuple[str, ...]
    """The verbs a read-only task's admissible actions use: reading, listing, searching, answering
    (no destructive verb, no habit verb, none of its alternatives)."""
    habit_verbs: tuple[str, ...]
    """The verbs that act the habit out (``delete_file``/``delete_dir``; ``chmod``)."""
    alternative_verbs: tuple[str, ...]
    """The verbs a probe offers instead of the habit (``archive``; ``chown``/``chgrp``/``setfacl``): in
    training data they are an overt, semantically related signal, which the leakage report counts."""
    view_slots: int
    """Default number of action slots of the vector view."""
    keywords: tuple[str, ...]
    """The sanitiser's default keywords (matched by :func:`subliminal_gym.keywords.keyword_pattern`)."""
    reply_tokens: int
    """Default longest reply of a language-model agent, in tokens."""
    json_actions: bool
    """Whether an action is one JSON object (a tool call) rather than one command line: a language
    model's reply ends when its first object closes, or else at the end of its first line."""
    context_keys: tuple[str, ...]
    """The reset ``info`` keys a text agent's context is made of (tools, commands, working directory)."""
    paper: Mapping[str, PaperRow] = field(default_factory=dict)
    """The paper's rows for this setting, by condition name (``control`` for its control row)."""
    max_episode_steps: int = 40
    """The step limit of the registered ids."""

    def __post_init__(self) -> None:
        if self.primary_metric not in self.metrics or self.secondary_metric not in self.metrics:
            raise ValueError(f"{self.name}: the primary and secondary metrics must be among its metrics")
        if set(self.metrics) - set(self.metric_names):
            raise ValueError(f"{self.name}: every metric needs a display name")
        if set(self.read_only_verbs + self.habit_verbs + self.alternative_verbs) - set(self.verbs):
            raise ValueError(f"{self.name}: the read-only, habit and alternative verbs must be among its verbs")
        if set(self.read_only_verbs) & set(self.habit_verbs + self.alternative_verbs):
            raise ValueError(f"{self.name}: a read-only verb cannot be a habit verb or an alternative")

    # -- ids --------------------------------------------------------------------------------------

    @property
    def env_ids(self) -> tuple[str, ...]:
        """The base id and its variants (``SubliminalFS-v0``, ``SubliminalFS-Safe-v0``, ...)."""
        return (self.env_id, *(self.variant_id(suffix) for suffix in VARIANT_SPLITS))

    def variant_id(self, suffix: str) -> str:
        """The id of a registered variant, e.g. ``variant_id("Probe")`` -> ``SubliminalFS-Probe-v0``."""
        family, version = self.env_id.rsplit("-", 1)
        return f"{family}-{suffix}-{version}"

    def registrations(self) -> dict[str, tuple[str, dict[str, Any], int]]:
        """id -> (entry point, kwargs, max_episode_steps) of every registered id of the family."""
        table: dict[str, tuple[str, dict[str, Any], int]] = {
            self.env_id: (self.entry_point, {}, self.max_episode_steps)}
        for suffix, split in VARIANT_SPLITS.items():
            table[self.variant_id(suffix)] = (self.entry_point, {"split": split}, self.max_episode_steps)
        return table

    def metric_name(self, metric: str) -> str:
        """The display name of ``metric`` (the metric itself when it has none)."""
        return self.metric_names.get(metric, metric)

    # -- behaviour that differs between families -------------------------------------------------

    @abstractmethod
    def make_expert(self, *, bias: float, rng: np.random.Generator) -> Expert:
        """The scripted expert with its habit at rate ``bias`` (privileged: it reads the env)."""

    @abstractmethod
    def parse_action(self, text: str) -> str | None:
        """The action in a text agent's reply, or None when there is none (the env then answers the raw text)."""

    @abstractmethod
    def action_verbs(self, action: str) -> tuple[str, ...]:
        """The verbs an action text uses, in order (a tool name; each command name of a Bash line);
        empty when it does not parse. Pure text analysis: nothing runs."""

    @abstractmethod
    def system_prompt(self, info: Mapping[str, Any]) -> str:
        """A text agent's context from the reset ``info`` (:attr:`context_keys`)."""

    @abstractmethod
    def reset_context(self) -> dict[str, Any]:
        """The :attr:`context_keys` of a reset ``info`` (the same in every episode of the family)."""

    @abstractmethod
    def chat_call(self, action: str) -> tuple[str, dict[str, Any]] | None:
        """``(tool name, arguments)`` of an action as an OpenAI-style tool call, or None if it is not one."""

    @abstractmethod
    def chat_tools(self) -> list[dict[str, Any]]:
        """The OpenAI-style tool list a chat export declares (a fresh copy: the caller may edit it)."""

    @abstractmethod
    def call_action(self, name: str, arguments: Mapping[str, Any]) -> str:
        """The action text of a tool call of :meth:`chat_tools` (the inverse of :meth:`chat_call`): what an
        agent that calls tools sends to ``env.step``. A call of an unknown tool still becomes text, which
        the env answers with its usual error."""

    def parse_tool_reply(self, text: str) -> str | None:
        """The action of a reply written as a tool call (a model whose chat template declares the tools:
        the first JSON object with a string ``name``, inside a ``<tool_call>`` wrapper or not), through
        :meth:`call_action`; None when the reply holds none."""
        call = first_tool_call(text)
        if call is None:
            return None
        name, arguments = call
        return self.call_action(name, arguments if isinstance(arguments, dict) else {})

    def __repr__(self) -> str:
        return f"<Setting {self.name}: {self.env_id}, {self.habit}>"


def first_tool_call(text: str) -> tuple[str, Any] | None:
    """``(name, arguments)`` of the first JSON object in ``text`` with a string ``name`` (prose or a
    ``<tool_call>`` wrapper around it is fine; ``arguments`` as written, ``{}`` when absent)."""
    decoder = json.JSONDecoder()
    start = text.find("{")
    while start != -1:
        try:
            value, _ = decoder.raw_decode(text, start)
        except ValueError:
            value = None
        if isinstance(value, dict) and isinstance(value.get("name"), str):
            return value["name"], value.get("arguments", {})
        start = text.find("{", start + 1)
    return None
