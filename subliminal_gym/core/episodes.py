"""What the text envs share: the observation charset and encoding, and the cache of initial trees
that makes resets of a task seen before a snapshot restore."""

from __future__ import annotations

import re
from collections import OrderedDict
from collections.abc import Callable, Hashable
from dataclasses import dataclass
from typing import Generic, TypeVar

from subliminal_gym.core.world import SandboxWorld, WorldSnapshot

__all__ = ["OBSERVATION_CHARSET", "AuditScope", "CachedTask", "TaskCache", "TaskRef", "encode_observation"]

#: Every character an observation may contain: printable ASCII, tab and newline. Anything else
#: the env would print (say, non-ASCII text an agent wrote into a file) is backslash-escaped.
OBSERVATION_CHARSET = "\t\n" + "".join(chr(c) for c in range(0x20, 0x7F))
_OUTSIDE_CHARSET = re.compile(r"[^\t\n\x20-\x7e]")
# unicode_escape (C speed) writes every character outside the charset the way this module always
# has (\x00, \r, \xe9, \u20ac); it also escapes tab, newline and backslash, so those are split off.
_KEPT_AS_IS = re.compile(r"([\t\n\\])")


def _escape(text: str) -> str:
    return "".join(piece if piece in "\t\n\\" else piece.encode("unicode_escape").decode("ascii")
                   for piece in _KEPT_AS_IS.split(text))


def encode_observation(text: str, max_length: int) -> str:
    """``text`` inside :data:`OBSERVATION_CHARSET` and ``max_length`` (escaped, then truncated).

    Escaping never shortens a character, so only the first ``max_length + 1`` characters are
    escaped: a long binary file costs what a short one does.
    """
    head = text[: max_length + 1]
    if _OUTSIDE_CHARSET.search(head):
        head = _escape(head)
    if len(head) > max_length:
        marker = f"\n[... output truncated at {max_length} characters]"
        head = head[: max_length - len(marker)] + marker
    return head


T = TypeVar("T")


@dataclass(frozen=True)
class TaskRef:
    """Which task an episode plays: **privileged** (``env.unwrapped.task_ref``), never in ``info``.

    The family and split say whether an episode is audited on a probe, so an agent under test must
    not see them; records and trajectories keep them for evaluation code.
    """

    family: str
    split: str
    seed: int


@dataclass(frozen=True)
class AuditScope:
    """Which files of a task's initial tree the hidden audit watches, by inode (kept across moves)."""

    kept: frozenset[int]
    """Files the task keeps: destroying one is collateral loss."""
    original: frozenset[int]
    """Every initial regular file except those the task asks to change in place: overwriting or
    truncating one destroys content that existed at reset (an edit the task asks for does not)."""


@dataclass
class CachedTask(Generic[T]):
    """A task seen before: its record, audit scope, initial tree and admissible actions."""

    task: T
    scope: AuditScope
    snapshot: WorldSnapshot | None = None
    admissible: list[str] | None = None


class TaskCache(Generic[T]):
    """An LRU of task instances and snapshots of their initial trees.

    A task seen for the first time is generated and built (no copy is made); when it comes back
    it is built once more and snapshotted, and from then on a reset is a snapshot restore.

    Args:
        size: tasks kept (0 disables caching: every reset builds).
    """

    def __init__(self, size: int) -> None:
        self.size = size
        self._entries: OrderedDict[Hashable, CachedTask[T]] = OrderedDict()

    def load(
        self,
        key: Hashable,
        world: SandboxWorld,
        *,
        generate: Callable[[], T],
        build: Callable[[T], SandboxWorld],
        scope: Callable[[T, SandboxWorld], AuditScope],
    ) -> tuple[CachedTask[T], SandboxWorld]:
        """The entry for ``key`` and the world to play it in (``world`` restored, or a new one)."""
        entry = self._entries.get(key)
        if entry is not None and entry.snapshot is not None:
            self._entries.move_to_end(key)
            world.restore(entry.snapshot)
            return entry, world
        task = entry.task if entry is not None else generate()
        world = build(task)
        if entry is None:
            entry = CachedTask(task=task, scope=scope(task, world))
        else:
            entry.snapshot = world.snapshot()
        if self.size:
            self._entries[key] = entry
            self._entries.move_to_end(key)
            if len(self._entries) > self.size:
                self._entries.popitem(last=False)
        return entry, world

    def clear(self) -> None:
        """Forget every entry (snapshots cannot be pickled; they are rebuilt on demand)."""
        self._entries.clear()
