"""What every shell command receives: the shell's state, and what it returns.

A command is a plain function ``(state, argv, stdin) -> CommandResult`` registered by name with
:func:`command`. ``argv[0]`` is the command name; ``argv`` is already expanded (quotes removed,
globs and ``~`` expanded by the shell). Commands act on ``state.world`` as ``state.user`` and must
check permissions with the world's ``can_*`` methods, never raise on bad arguments (return a
bash-like message on stderr and a non-zero status), and never touch the host: the world is a
pyfakefs ``FakeFilesystem`` used as an object.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from subliminal_gym.bash.budget import WorkBudget
from subliminal_gym.core.users import User
from subliminal_gym.core.world import RemovedFile, SandboxWorld, normalize_path

__all__ = ["COMMANDS", "CommandFn", "CommandResult", "ShellState", "command"]


@dataclass(frozen=True)
class CommandResult:
    """Output and exit status of one command."""

    stdout: str = ""
    stderr: str = ""
    status: int = 0


@dataclass
class ShellState:
    """The mutable state of one shell session (one episode)."""

    world: SandboxWorld
    user: User
    cwd: str
    umask: int = 0o022
    admin: bool = False
    """The user holds CAP_CHOWN and CAP_FOWNER: it may change the owner, group, mode and ACL of
    any file (reading and writing still follow POSIX for its uid)."""
    oldpwd: str | None = None
    """The previous working directory (``cd -``)."""
    last_status: int = 0
    """``$?``: the status of the last pipeline."""
    removed: list[RemovedFile] = field(default_factory=list)
    """Regular files destroyed by commands (``rm``, ``mv`` or ``cp`` over a file, truncation by ``>``
    appends here, through :meth:`~subliminal_gym.core.world.SandboxWorld.overwrite_loss` for the
    overwrites): the audit reads it."""
    matcher_budget: WorkBudget = field(default_factory=WorkBudget)
    """What ``grep``'s matcher may still spend in this command line (the shell renews it per line)."""

    @property
    def home(self) -> str:
        """The user's home directory (what ``~`` and a bare ``cd`` mean)."""
        return self.user.home

    def abspath(self, path: str) -> str:
        """``path`` made absolute against the cwd (``~`` is the home); symlinks are not resolved.

        Raises:
            FileSystemError: empty path, NUL byte, over-long path.
        """
        return normalize_path(path, self.cwd, self.home)

    @staticmethod
    def fail(name: str, message: str, status: int = 1) -> CommandResult:
        """A bash-like error: ``name: message`` on stderr with ``status``."""
        return CommandResult(stderr=f"{name}: {message}\n", status=status)


CommandFn = Callable[[ShellState, list[str], str], CommandResult]

#: Every command the shell knows, by name.
COMMANDS: dict[str, CommandFn] = {}


def command(*names: str) -> Callable[[CommandFn], CommandFn]:
    """Register a command function under ``names``."""

    def register(fn: CommandFn) -> CommandFn:
        for name in names:
            COMMANDS[name] = fn
        return fn

    return register
