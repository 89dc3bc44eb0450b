"""Bounded command output: a hostile ``cat``, ``ls -R /`` or ``yes``-like loop cannot fill memory."""

from __future__ import annotations

__all__ = ["MAX_OUTPUT_CHARS", "CappedText"]

MAX_OUTPUT_CHARS = 256 * 1024
"""The most characters one command writes to stdout or stderr."""


class CappedText:
    """A text buffer that keeps at most ``limit`` characters and remembers that it cut.

    Args:
        limit: the most characters kept.
    """

    def __init__(self, limit: int = MAX_OUTPUT_CHARS) -> None:
        self.limit = limit
        self._parts: list[str] = []
        self._size = 0
        self.truncated = False

    @property
    def full(self) -> bool:
        """Whether nothing more will be kept (callers stop producing output)."""
        return self.truncated or self._size >= self.limit

    def write(self, text: str) -> None:
        """Append ``text``, cut at the limit."""
        if self.full:
            self.truncated = self.truncated or bool(text)
            return
        room = self.limit - self._size
        if len(text) > room:
            text = text[:room]
            self.truncated = True
        self._parts.append(text)
        self._size += len(text)

    def text(self) -> str:
        """Everything kept so far."""
        return "".join(self._parts)

    def note(self, name: str) -> str:
        """The stderr line that says the output was cut (empty when it was not)."""
        if not self.truncated:
            return ""
        return f"{name}: output truncated after {self.limit} characters (sandbox limit)\n"
