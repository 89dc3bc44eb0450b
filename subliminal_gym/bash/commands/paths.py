"""Turning what the agent typed into world paths, with the errors the real system calls give.

Every command goes through :func:`locate` (``stat``/``lstat`` of an operand: search permission on
the way, symlinks, ``ENOENT`` vs ``ENOTDIR``) and :func:`read_file` (``open`` for reading), so
their permission checks and messages agree.
"""

from __future__ import annotations

import errno
import posixpath

from subliminal_gym.bash.state import ShellState
from subliminal_gym.core.world import ERRNO_MESSAGES, PERM_READ, FileSystemError, SandboxWorld

__all__ = [
    "MAX_READ_BYTES",
    "describe",
    "join_display",
    "locate",
    "locate_new",
    "missing_errno",
    "parent_of",
    "read_file",
]

MAX_READ_BYTES = 64 * 1024 * 1024
"""Files larger than this are refused by the text commands (the sandbox never needs them)."""



def describe(exc: FileSystemError) -> str:
    """The ``strerror`` text of ``exc`` (the world's own wording is kept for unusual errors)."""
    return ERRNO_MESSAGES.get(exc.errno, exc.reason)


def missing_errno(world: SandboxWorld, path: str) -> int:
    """Why ``path`` is missing: ``ENOTDIR`` when a component is not a directory, else ``ENOENT``."""
    here = ""
    parts = path.strip("/").split("/")
    for part in parts[:-1]:
        here = f"{here}/{part}"
        if world.node(here) is None:
            return errno.ENOENT
        if not world.is_dir(here):
            return errno.ENOTDIR
    return errno.ENOENT


def locate(state: ShellState, text: str, *, follow: bool = True) -> str:
    """The world path an operand names, after checking that the user can reach it.

    Args:
        state: the shell.
        text: the operand as typed (relative to the cwd, ``~`` expanded by ``abspath``).
        follow: follow a symlink in the last component (``stat``), or describe it (``lstat``).
            A trailing ``/`` always follows and requires a directory.

    Returns:
        The absolute path of the existing node, symlinks in directory components resolved.

    Raises:
        FileSystemError: EACCES (no search permission on the way), ENOENT, ENOTDIR, ELOOP,
            EINVAL (NUL byte), ENAMETOOLONG.
    """
    world, user = state.world, state.user
    path = state.abspath(text)
    must_be_dir = text.endswith("/") and path != "/"
    lexical = world.resolve(path, follow_last=False)
    if not world.can_traverse(user, lexical):
        raise FileSystemError(errno.EACCES, text)
    real = world.resolve(path) if (follow or must_be_dir) else lexical
    if real != lexical and not world.can_traverse(user, real):
        raise FileSystemError(errno.EACCES, text)
    if world.node(real) is None:
        raise FileSystemError(missing_errno(world, real), text)
    if must_be_dir and not world.is_dir(real):
        raise FileSystemError(errno.ENOTDIR, text)
    return real


def locate_new(state: ShellState, text: str, *, follow: bool = False) -> tuple[str, bool]:
    """Where an operand would be created, and whether something is already there.

    Args:
        state: the shell.
        text: the operand as typed.
        follow: follow a symlink in the last component (``touch`` and ``cp`` write through
            one; ``mkdir``, ``ln`` and ``mv`` do not).

    Returns:
        ``(path, exists)``: the absolute path (symlinks in directory components resolved).

    Raises:
        FileSystemError: EACCES (no search permission on the way), ENOENT or ENOTDIR (no parent
            directory), ELOOP, EINVAL (NUL byte), ENAMETOOLONG.
    """
    world = state.world
    path = world.resolve(state.abspath(text), follow_last=follow)
    if not world.can_traverse(state.user, path):
        raise FileSystemError(errno.EACCES, text)
    if world.node(path) is not None:
        return path, True
    parent = parent_of(path)
    if world.node(parent) is None:
        raise FileSystemError(missing_errno(world, path), text)
    if not world.is_dir(parent):
        raise FileSystemError(errno.ENOTDIR, text)
    return path, False


def read_file(state: ShellState, text: str) -> bytes:
    """Contents of the file an operand names, as ``open(O_RDONLY)`` + ``read`` would give them.

    Raises:
        FileSystemError: what :func:`locate` raises, EISDIR, EACCES (no read permission),
            EFBIG (over :data:`MAX_READ_BYTES`).
    """
    real = locate(state, text)
    if state.world.is_dir(real):
        raise FileSystemError(errno.EISDIR, text)
    if not state.world.can_access(state.user, real, PERM_READ):
        raise FileSystemError(errno.EACCES, text)
    if state.world.stat(real).size > MAX_READ_BYTES:
        raise FileSystemError(errno.EFBIG, text)
    return state.world.read_bytes(real)


def join_display(base: str, name: str) -> str:
    """``base/name`` as GNU tools print it (no doubled slash after ``/`` or ``dir/``)."""
    return base + name if base.endswith("/") else f"{base}/{name}"


def parent_of(path: str) -> str:
    """The directory holding absolute ``path``."""
    return posixpath.dirname(path) or "/"
