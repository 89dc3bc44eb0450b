"""Decimal numbers from a command line: what ``strtol`` would make of them, in bounded time.

Python refuses to convert strings of more than 4,300 digits (a ValueError whose message is Python's,
not bash's), and no number a command takes can exceed a C ``long``; every decimal number the shell
reads from agent text goes through :func:`whole_number`, which saturates at the ``long`` range as
``strtol`` does, so the command then answers as GNU does for an out-of-range value.
"""

from __future__ import annotations

__all__ = ["LONG_MAX", "MAX_ID", "numeric_id", "whole_number"]

LONG_MAX = 2**63 - 1
#: The largest user or group id (``uid_t`` is 32 bits; its all-ones value means "no change").
MAX_ID = 2**32 - 2


def whole_number(text: str) -> int:
    """``int(text)``, saturated at ``±LONG_MAX`` for numbers too long to be a C ``long``.

    Raises:
        ValueError: ``text`` is not a decimal integer (the caller's own error message applies).
    """
    digits = text.strip().lstrip("+-").lstrip("0")
    if len(digits) > 18 and digits.isdigit():
        return -LONG_MAX if text.strip().startswith("-") else LONG_MAX
    return int(text)


def numeric_id(text: str) -> int | None:
    """A numeric user or group id as ``chown`` and ``setfacl`` read it, or None when ``text`` is not
    all digits or exceeds :data:`MAX_ID` (the command then reports an invalid user or group)."""
    if not text.isdigit():
        return None
    value = whole_number(text)
    return value if value <= MAX_ID else None
