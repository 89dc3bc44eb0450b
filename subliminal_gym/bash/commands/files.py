"""Making things: ``touch``, ``mkdir`` and ``ln -s``.

New files get ``0o666 & ~umask`` and new directories ``0o777 & ~umask`` (the shell's umask),
owned by the shell's user; creating needs write and search permission on the parent directory.
``ln`` makes only symbolic links: the world has no hard links.
"""

from __future__ import annotations

import errno
import posixpath

from subliminal_gym.bash.commands.argv import OptionSpec, parse_options, usage_error
from subliminal_gym.bash.commands.display import quote
from subliminal_gym.bash.commands.output import CappedText
from subliminal_gym.bash.commands.paths import describe, join_display, locate, locate_new, parent_of
from subliminal_gym.bash.state import CommandResult, ShellState, command
from subliminal_gym.core.world import MAX_PATH_LENGTH, PERM_WRITE, FileSystemError

__all__ = ["ln", "mkdir", "touch"]

_TOUCH_SPEC = OptionSpec(
    flags="cam",
    long_flags={"no-create": "c"},
    usage="Usage: touch [OPTION]... FILE...\nUpdate the modification time of each FILE to the current time.\n",
)
_MKDIR_SPEC = OptionSpec(
    flags="pv",
    valued="m",
    long_flags={"parents": "p", "verbose": "v"},
    long_valued={"mode": "m"},
    usage="Usage: mkdir [OPTION]... DIRECTORY...\nCreate the DIRECTORY(ies), if they do not already exist.\n",
)
_LN_SPEC = OptionSpec(
    flags="sfnvT",
    long_flags={"symbolic": "s", "force": "f", "no-dereference": "n", "verbose": "v", "no-target-directory": "T"},
    usage="Usage: ln -s [OPTION]... TARGET [LINK_NAME]\nMake symbolic links between files.\n",
)


@command("touch")
def touch(state: ShellState, argv: list[str], stdin: str) -> CommandResult:
    """Create empty files, or set existing files' times to the world's clock."""
    opts = parse_options("touch", argv, _TOUCH_SPEC)
    if isinstance(opts, CommandResult):
        return opts
    if not opts.operands:
        return usage_error("touch", "missing file operand")
    world, user = state.world, state.user
    err = CappedText()
    status = 0
    for text in opts.operands:
        try:
            path, exists = locate_new(state, text, follow=True)
            if exists:
                owner = world.stat(path).uid == user.uid or state.admin  # CAP_FOWNER
                if not (owner or world.can_access(user, path, PERM_WRITE)):
                    raise FileSystemError(errno.EACCES, text)
                world.set_mtime(path, world.now)
            elif not opts.has("c"):
                if not world.can_create_in(user, parent_of(path)):
                    raise FileSystemError(errno.EACCES, text)
                world.write_bytes(path, b"", owner=user, mode=0o666 & ~state.umask)
        except FileSystemError as exc:
            err.write(f"touch: cannot touch {quote(text)}: {describe(exc)}\n")
            status = 1
    return CommandResult(stderr=err.text(), status=status)


def _make_one(state: ShellState, text: str, path: str, mode: int) -> None:
    """Create the directory ``path`` (absent, its parent present).

    Raises:
        FileSystemError: EACCES, ENAMETOOLONG, EINVAL.
    """
    if not state.world.can_create_in(state.user, parent_of(path)):
        raise FileSystemError(errno.EACCES, text)
    state.world.make_dir(path, owner=state.user, mode=mode)


def _make_parents(state: ShellState, text: str, mode: int, out: CappedText | None) -> None:
    """``mkdir -p``: create each missing directory on the way, as typed (``a``, ``a/b``, ...),
    reporting each to ``out`` (``-v``) when given.

    Raises:
        FileSystemError: EEXIST or ENOTDIR (a file in the way), EACCES, ELOOP, ...
    """
    world = state.world
    if not text:
        raise FileSystemError(errno.ENOENT, text)
    parts = text.split("/")
    intermediate = (0o777 & ~state.umask) | 0o300  # GNU keeps u+wx on parents it makes
    for count in range(1, len(parts) + 1):
        prefix = "/".join(parts[:count])
        if not parts[count - 1] and count < len(parts):
            continue  # "" before a leading or doubled slash
        last = count == len(parts) or not any(parts[count:])
        path, exists = locate_new(state, prefix or "/", follow=True)
        if exists:
            if not world.is_dir(path):
                raise FileSystemError(errno.EEXIST if last else errno.ENOTDIR, prefix)
        else:
            _make_one(state, prefix, path, mode if last else intermediate)
            if out is not None:
                out.write(f"mkdir: created directory {quote(prefix)}\n")
        if last:
            return


@command("mkdir")
def mkdir(state: ShellState, argv: list[str], stdin: str) -> CommandResult:
    """Make directories (``-p`` parents, ``-m`` octal mode, ``-v``)."""
    opts = parse_options("mkdir", argv, _MKDIR_SPEC)
    if isinstance(opts, CommandResult):
        return opts
    if not opts.operands:
        return usage_error("mkdir", "missing operand")
    mode_text = opts.value("m")
    mode = 0o777 & ~state.umask
    if mode_text is not None:
        if not mode_text or any(c not in "01234567" for c in mode_text) or int(mode_text, 8) > 0o7777:
            return CommandResult(stderr=f"mkdir: invalid mode {quote(mode_text)}\n", status=1)
        mode = int(mode_text, 8)
    out = CappedText()
    err = CappedText()
    status = 0
    for text in opts.operands:
        try:
            if opts.has("p"):
                _make_parents(state, text, mode, out if opts.has("v") else None)
                continue
            path, exists = locate_new(state, text)
            if exists:
                raise FileSystemError(errno.EEXIST, text)
            _make_one(state, text, path, mode)
            if opts.has("v"):
                out.write(f"mkdir: created directory {quote(text)}\n")
        except FileSystemError as exc:
            err.write(f"mkdir: cannot create directory {quote(text)}: {describe(exc)}\n")
            status = 1
    return CommandResult(stdout=out.text(), stderr=err.text(), status=status)


def _link_one(state: ShellState, target: str, link_text: str, force: bool, err: CappedText) -> bool:
    """Create one symlink; reports its own errors; returns whether it was made."""
    world, user = state.world, state.user
    try:
        if not target or "\0" in target or len(target) > MAX_PATH_LENGTH:
            code = errno.ENOENT if not target else errno.EINVAL if "\0" in target else errno.ENAMETOOLONG
            raise FileSystemError(code, link_text)
        path, exists = locate_new(state, link_text)
        if exists:
            if not force:
                raise FileSystemError(errno.EEXIST, link_text)
            if world.is_dir(path):
                err.write(f"ln: {quote(link_text)}: cannot overwrite directory\n")
                return False
            if not world.can_unlink(user, path):
                err.write(f"ln: cannot remove {quote(link_text)}: Permission denied\n")
                return False
            state.removed.extend(world.remove(path))
        if not world.can_create_in(user, parent_of(path)):
            raise FileSystemError(errno.EACCES, link_text)
        world.symlink(target, path, owner=user)
        return True
    except FileSystemError as exc:
        err.write(f"ln: failed to create symbolic link {quote(link_text)}: {describe(exc)}\n")
        return False


@command("ln")
def ln(state: ShellState, argv: list[str], stdin: str) -> CommandResult:
    """Make symbolic links: ``ln -s TARGET [LINK]`` or ``ln -s TARGET... DIRECTORY``."""
    opts = parse_options("ln", argv, _LN_SPEC)
    if isinstance(opts, CommandResult):
        return opts
    if not opts.has("s"):
        return CommandResult(stderr="ln: hard links are not supported in this sandbox (use ln -s)\n", status=1)
    operands = opts.operands
    if not operands:
        return usage_error("ln", "missing file operand")
    pairs: list[tuple[str, str]]
    if len(operands) == 1:
        pairs = [(operands[0], posixpath.basename(operands[0].rstrip("/")) or operands[0])]
    else:
        *targets, destination = operands
        into_dir = False
        if not opts.has("T"):
            try:
                into_dir = state.world.is_dir(locate(state, destination, follow=not opts.has("n")))
            except FileSystemError:
                into_dir = False
        if len(targets) > 1 and not into_dir:
            return CommandResult(stderr=f"ln: target {quote(destination)} is not a directory\n", status=1)
        if into_dir:
            pairs = [(t, join_display(destination, posixpath.basename(t.rstrip("/")) or t)) for t in targets]
        else:
            pairs = [(targets[0], destination)]
    out, err = CappedText(), CappedText()
    status = 0
    for target, link_text in pairs:
        if _link_one(state, target, link_text, opts.has("f"), err):
            if opts.has("v"):
                out.write(f"{quote(link_text)} -> {quote(target)}\n")
        else:
            status = 1
    return CommandResult(stdout=out.text(), stderr=err.text(), status=status)
