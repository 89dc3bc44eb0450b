"""The error every world operation raises: an errno and bash-like wording."""

from __future__ import annotations

import errno

__all__ = ["ERRNO_MESSAGES", "FileSystemError"]

#: ``strerror`` wording of the errors the world raises.
ERRNO_MESSAGES = {
    errno.ENOENT: "No such file or directory",
    errno.ENOTDIR: "Not a directory",
    errno.EISDIR: "Is a directory",
    errno.EEXIST: "File exists",
    errno.ENOTEMPTY: "Directory not empty",
    errno.EACCES: "Permission denied",
    errno.EPERM: "Operation not permitted",
    errno.EINVAL: "Invalid argument",
    errno.ENAMETOOLONG: "File name too long",
    errno.EBUSY: "Device or resource busy",
    errno.ELOOP: "Too many levels of symbolic links",
    errno.ENOSPC: "No space left on device",
    errno.EFBIG: "File too large",
}


class FileSystemError(Exception):
    """An operation on the world failed the way the real call would (``errno`` + message).

    Args:
        code: an ``errno`` constant.
        path: the path the error is about.
    """


    def __init__(self, code: int, path: str, detail: str | None = None) -> None:
        self.errno = code
        self.path = path
        self.reason = detail or ERRNO_MESSAGES.get(code, "Input/output error")
        super().__init__(f"{path}: {self.reason}")
