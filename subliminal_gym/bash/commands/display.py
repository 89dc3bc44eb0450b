"""How GNU tools print names, sizes, times and file types (C locale, UTC).

Every time comes from the world's clock or a node's stored times, formatted with
:func:`time.gmtime`, so outputs never depend on the host's clock or time zone.
"""

from __future__ import annotations

import re
import time

from subliminal_gym.core.world import NodeStat

__all__ = [
    "BLOCK_SIZE",
    "DIR_SIZE",
    "allocated_kib",
    "display_size",
    "file_type",
    "human_size",
    "ls_time",
    "quote",
    "quote_if_needed",
    "stat_time",
]

DIR_SIZE = 4096
"""What a directory's size reads as (ext4's one block); the world stores 0."""
BLOCK_SIZE = 4096
"""The file system's allocation unit (``IO Block`` in ``stat``)."""
SIX_MONTHS = 31_556_952 // 2
MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")
_SAFE_NAME = re.compile(r"[A-Za-z0-9_./,:@%+=^-]+")


def quote(name: str) -> str:
    """``name`` quoted the way GNU diagnostics quote file names (``'x'``), shell-safe."""
    if "'" not in name:
        return f"'{name}'"
    if not any(c in name for c in '"$`\\!'):
        return f'"{name}"'
    return "'" + name.replace("'", "'\\''") + "'"


def quote_if_needed(name: str) -> str:
    """``name`` as is when it is shell-safe, else :func:`quote`'d (GNU's shell-escape style)."""
    if _SAFE_NAME.fullmatch(name) and not name.startswith(("~", "#")):
        return name
    return quote(name)


def _gmtime(seconds: float) -> time.struct_time:
    try:
        return time.gmtime(seconds)
    except (OverflowError, OSError, ValueError):
        return time.gmtime(0)


def ls_time(mtime: float, now: float) -> str:
    """``ls -l``'s date column: ``Mar  1 09:00`` within six months of ``now``, else ``Mar  1  2025``."""
    when = _gmtime(mtime)
    month = MONTHS[when.tm_mon - 1]
    if now - SIX_MONTHS < mtime <= now:
        return f"{month} {when.tm_mday:>2} {when.tm_hour:02d}:{when.tm_min:02d}"
    return f"{month} {when.tm_mday:>2}  {when.tm_year}"


def stat_time(seconds: float) -> str:
    """``stat``'s time format: ``2026-03-02 09:00:00.000000000 +0000``."""
    when = _gmtime(seconds)
    try:
        nanos = min(int(round((seconds % 1) * 1e9)), 999_999_999)
    except (OverflowError, ValueError):
        nanos = 0
    return time.strftime("%Y-%m-%d %H:%M:%S", when) + f".{nanos:09d} +0000"


def human_size(size: int) -> str:
    """``ls -h``'s size: powers of 1024 rounded up, one decimal below 10 (``4.0K``, ``12K``, ``1.3M``)."""
    if size < 1024:
        return str(size)
    units = "KMGTPE"
    for exponent, unit in enumerate(units, start=1):
        scale = 1024**exponent
        if size >= scale * 1024 and unit != units[-1]:
            continue
        tenths = -(-size * 10 // scale)
        if tenths < 100:
            return f"{tenths // 10}.{tenths % 10}{unit}"
        whole = -(-size // scale)
        if whole < 1024 or unit == units[-1]:
            return f"{whole}{unit}"
        return f"1.0{units[exponent]}"
    return str(size)  # unreachable: the loop returns at the last unit


def display_size(st: NodeStat) -> int:
    """The size ``ls -l`` and ``stat`` show (a directory reads as one 4 KiB block)."""
    return DIR_SIZE if st.is_dir and not st.is_symlink else st.size


def allocated_kib(st: NodeStat) -> int:
    """KiB allocated on disk, in whole 4 KiB blocks (a short symlink's target lives in its inode)."""
    if st.is_symlink:
        return 0
    size = display_size(st)
    return -(-size // BLOCK_SIZE) * (BLOCK_SIZE // 1024)


def file_type(st: NodeStat) -> str:
    """``stat``'s ``%F``: ``regular file``, ``regular empty file``, ``directory``, ``symbolic link``."""
    if st.is_symlink:
        return "symbolic link"
    if st.is_dir:
        return "directory"
    return "regular file" if st.size else "regular empty file"
