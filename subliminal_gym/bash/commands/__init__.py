"""The shell's commands: importing this package registers every one of them in ``COMMANDS``."""

from __future__ import annotations

import contextlib

from subliminal_gym.bash.commands import (  # noqa: F401
    copying,
    files,
    find,
    grep,
    identity,
    listing,
    metadata,
    removal,
    text,
)

with contextlib.suppress(ImportError):
    from subliminal_gym.bash.commands import perms  # noqa: F401
