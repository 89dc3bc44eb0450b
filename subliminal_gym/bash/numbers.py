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
    """``int(text)``, saturated at ``±LONG_MAX`` for numbers too large to be a C ``long``; any number
    of leading zeros is fine (``strtol`` reads ``000...01`` as 1).

    Raises:
        ValueError: ``text`` is not a decimal integer (the caller's own error message applies).
    """
    body = text.strip()
    sign = body[:1] if body[:1] in ("+", "-") else ""
    body = body[len(sign):]
    if not (body.isascii() and body.isdigit()):
        if len(text) > 100:  # not a number; int() would refuse it too, with Python's message
            raise ValueError("not a decimal integer")
        return int(text)
    digits = body.lstrip("0") or "0"
    value = LONG_MAX if len(digits) > len(str(LONG_MAX)) else min(int(digits), LONG_MAX)
    return -value if sign == "-" else value


def numeric_id(text: str) -> int | None:
    """A numeric user or group id as ``chown`` and ``setfacl`` read it, or None when ``text`` is not
    all digits or exceeds :data:`MAX_ID` (the command then reports an invalid user or group)."""
    if not text.isdigit():
        return None
    value = whole_number(text)
    return value if value <= MAX_ID else None
