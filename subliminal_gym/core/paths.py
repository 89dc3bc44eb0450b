"""Turning what an agent typed into an absolute, normalised path."""

from __future__ import annotations

import errno
import posixpath

from subliminal_gym.core.errors import FileSystemError

__all__ = ["MAX_PATH_LENGTH", "normalize_path"]

MAX_PATH_LENGTH = 4096


def normalize_path(path: str, cwd: str = "/", home: str = "/home/agent") -> str:
    """Absolute, normalised form of ``path`` relative to ``cwd`` (``..`` stops at ``/``).

    A leading ``~`` means ``home``.

    Raises:
        FileSystemError: ENOENT for an empty path, EINVAL for one with a NUL byte, ENAMETOOLONG.
    """
    if not path:
        raise FileSystemError(errno.ENOENT, "''", "empty path")
    if "\x00" in path:
        raise FileSystemError(errno.EINVAL, repr(path[:60]), "path contains a NUL byte")
    if len(path) > MAX_PATH_LENGTH:
        raise FileSystemError(errno.ENAMETOOLONG, path[:60] + "...")
    if path == "~" or path.startswith("~/"):
        path = home + path[1:]
    joined = path if path.startswith("/") else posixpath.join(cwd, path)
    normal = posixpath.normpath(joined)
    if normal.startswith("//"):
        normal = "/" + normal.lstrip("/")
    return normal
