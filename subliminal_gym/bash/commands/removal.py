"""``rm``: unlink files and (with ``-r``) whole trees, recording every destroyed file.

Every :class:`~subliminal_gym.core.world.RemovedFile` the world returns is appended to
``state.removed``: the hidden deletion audit reads that list, so no removal may bypass it.
``rm`` never prompts (the agent's shell has no terminal), refuses ``-i``/``-I``, refuses ``/``
with GNU's ``--preserve-root`` message and never honours ``--no-preserve-root``. A tree is removed
bottom-up without recursion, each entry needing write and search permission on its directory;
when something inside cannot be removed its ancestors are left in place, silently, as GNU does.
"""

from __future__ import annotations

import errno
import posixpath

from subliminal_gym.bash.commands.argv import Options, OptionSpec, parse_options, usage_error
from subliminal_gym.bash.commands.display import quote
from subliminal_gym.bash.commands.output import CappedText
from subliminal_gym.bash.commands.paths import describe, join_display, locate, parent_of
from subliminal_gym.bash.state import CommandResult, ShellState, command
from subliminal_gym.core.world import PERM_EXEC, PERM_READ, FileSystemError

__all__ = ["rm"]

_SPEC = OptionSpec(
    flags="rRfdviI",
    long_flags={
        "recursive": "r",
        "force": "f",
        "dir": "d",
        "verbose": "v",
        "interactive": "i",
        "no-preserve-root": "no-preserve-root",
        "preserve-root": "preserve-root",
        "one-file-system": "one-file-system",
    },
    usage="Usage: rm [OPTION]... [FILE]...\nRemove (unlink) the FILE(s).\nOptions: -f -r -R -d -v\n",
)


class _Remover:
    """One ``rm`` run: removes operands, records destroyed files, collects messages."""

    def __init__(self, state: ShellState, opts: Options) -> None:
        self.state = state
        self.opts = opts
        self.out, self.err = CappedText(), CappedText()
        self.failed = False

    def fail(self, message: str) -> None:
        self.failed = True
        self.err.write(f"rm: {message}\n")

    def _unlink(self, path: str, shown: str) -> bool:
        """Remove one file, link or empty directory the user may unlink; True when removed."""
        world = self.state.world
        is_dir = world.is_dir(path)
        if not world.can_unlink(self.state.user, path):
            self.fail(f"cannot remove {quote(shown)}: Permission denied")
            return False
        try:
            removed = world.remove(path)
        except FileSystemError as exc:
            self.fail(f"cannot remove {quote(shown)}: {describe(exc)}")
            return False
        self.state.removed.extend(removed)
        if self.opts.has("v"):
            self.out.write(f"removed {'directory ' if is_dir else ''}{quote(shown)}\n")
        return True

    def remove_tree(self, root: str, shown_root: str, *, keep_root: bool = False) -> None:
        """``rm -r``: remove everything under ``root`` bottom-up (and ``root`` unless ``keep_root``)."""
        world, user = self.state.world, self.state.user
        blocked: set[str] = set()  # directories that must stay because something inside did
        stack: list[tuple[str, str, bool]] = [(root, shown_root, False)]
        while stack:
            path, shown, emptied = stack.pop()
            is_tree = world.is_dir(path)
            if is_tree and not emptied and world.list_dir(path):
                if not world.can_access(user, path, PERM_READ | PERM_EXEC):
                    self.fail(f"cannot remove {quote(shown)}: Permission denied")
                    blocked.add(parent_of(path))
                    continue
                stack.append((path, shown, True))
                for name, _, _ in reversed(world.list_dir(path)):
                    stack.append((join_display(path, name), join_display(shown, name), False))
                continue
            if path in blocked:
                blocked.add(parent_of(path))
                continue
            if path == root and keep_root:
                continue
            if not self._unlink(path, shown):
                blocked.add(parent_of(path))

    def remove(self, text: str) -> None:
        world = self.state.world
        recursive = self.opts.has("r", "R")
        base = posixpath.basename(text.rstrip("/"))
        if base in (".", ".."):
            self.fail(f"refusing to remove '.' or '..' directory: skipping {quote(text)}")
            return
        try:
            path = self.state.abspath(text)
            is_root = path == "/" or (text.endswith("/") and world.resolve(path) == "/")
        except FileSystemError as exc:
            if not (self.opts.has("f") and exc.errno in (errno.ENOENT, errno.ENOTDIR)):
                self.fail(f"cannot remove {quote(text)}: {describe(exc)}")
            return
        if is_root and recursive:
            same = "" if text == "/" else " (same as '/')"
            self.fail(f"it is dangerous to operate recursively on {quote(text)}{same}")
            if self.opts.has("no-preserve-root"):
                self.fail("--no-preserve-root is not honoured in this sandbox")
            else:
                self.fail("use --no-preserve-root to override this failsafe")
            return
        try:
            real = locate(self.state, text, follow=False)
        except FileSystemError as exc:
            if not (self.opts.has("f") and exc.errno in (errno.ENOENT, errno.ENOTDIR)):
                self.fail(f"cannot remove {quote(text)}: {describe(exc)}")
            return
        if not world.is_dir(real):
            self._unlink(real, text)
            return
        through_link = world.is_symlink(world.resolve(path, follow_last=False))
        if recursive:
            # "rm -r link/" empties the directory the link points to and keeps both (as GNU does)
            self.remove_tree(real, text, keep_root=through_link)
            if through_link:
                self.fail(f"cannot remove {quote(text)}: Not a directory")
        elif self.opts.has("d") and not through_link:
            if world.list_dir(real):
                self.fail(f"cannot remove {quote(text)}: Directory not empty")
            else:
                self._unlink(real, text)
        else:
            self.fail(f"cannot remove {quote(text)}: Is a directory")


@command("rm")
def rm(state: ShellState, argv: list[str], stdin: str) -> CommandResult:
    """Remove files or directories (see the module docstring)."""
    opts = parse_options("rm", argv, _SPEC)
    if isinstance(opts, CommandResult):
        return opts
    if opts.last_of("i", "I", "f") in ("i", "I"):
        return CommandResult(stderr="rm: interactive mode (-i/-I) is not supported in this sandbox\n", status=1)
    if not opts.operands:
        return CommandResult() if opts.has("f") else usage_error("rm", "missing operand")
    remover = _Remover(state, opts)
    for text in opts.operands:
        remover.remove(text)
    return CommandResult(stdout=remover.out.text(), stderr=remover.err.text(), status=1 if remover.failed else 0)
