"""``cp`` and ``mv``: copying and renaming, with GNU's target rules and messages.

``cp [-rRapfnvLP] SRC... DEST``: copies are new files owned by the shell's user with the
source's mode less the umask (``-p``/``-a`` keep mode and mtime); ``-r`` copies trees without
following symlinks inside them; a file is copied through a symlink. ``mv [-fnv] SRC... DEST``
renames (inodes kept); replacing an existing file destroys it, and that file is recorded in
``state.removed`` like an ``rm``.
"""

from __future__ import annotations

import posixpath

from subliminal_gym.bash.commands.argv import Options, OptionSpec, parse_options, usage_error
from subliminal_gym.bash.commands.display import quote
from subliminal_gym.bash.commands.output import CappedText
from subliminal_gym.bash.commands.paths import describe, join_display, locate, locate_new, parent_of
from subliminal_gym.bash.state import CommandResult, ShellState, command
from subliminal_gym.core.world import PERM_EXEC, PERM_READ, PERM_WRITE, FileSystemError

__all__ = ["cp", "mv"]

MAX_COPY_NODES = 10_000
"""The most files and directories one ``cp`` creates (a sandbox limit)."""

_CP_SPEC = OptionSpec(
    flags="rRapfnvLPdi",
    long_flags={
        "recursive": "r",
        "archive": "a",
        "force": "f",
        "no-clobber": "n",
        "verbose": "v",
        "dereference": "L",
        "no-dereference": "P",
        "interactive": "i",
    },
    long_valued={"preserve": "preserve"},
    usage="Usage: cp [OPTION]... SOURCE... DEST\nCopy SOURCE to DEST, or multiple SOURCE(s) to DIRECTORY.\n",
)
_MV_SPEC = OptionSpec(
    flags="fnvi",
    long_flags={"force": "f", "no-clobber": "n", "verbose": "v", "interactive": "i"},
    usage="Usage: mv [OPTION]... SOURCE... DEST\nRename SOURCE to DEST, or move SOURCE(s) to DIRECTORY.\n",
)


def _targets(
    name: str, state: ShellState, operands: list[str]
) -> list[tuple[str, str]] | CommandResult:
    """Pair each source with the destination operand text GNU would use (``DIR/base`` or ``DEST``)."""
    if not operands:
        return usage_error(name, "missing file operand")
    if len(operands) == 1:
        return usage_error(name, f"missing destination file operand after {quote(operands[0])}")
    *sources, destination = operands
    try:
        into_dir = state.world.is_dir(locate(state, destination))
    except FileSystemError:
        into_dir = False
    if len(sources) > 1 and not into_dir:
        return CommandResult(stderr=f"{name}: target {quote(destination)} is not a directory\n", status=1)
    if not into_dir:
        return [(sources[0], destination)]
    return [(s, join_display(destination, posixpath.basename(s.rstrip("/")) or s)) for s in sources]


def _resolved(state: ShellState, path: str) -> str | None:
    """``path`` with symlinks followed, or None when that loops."""
    try:
        return state.world.resolve(path)
    except FileSystemError:
        return None


class _Copier:
    """One ``cp`` run: copies trees iteratively (no recursion limit) and collects messages."""

    def __init__(self, state: ShellState, opts: Options) -> None:
        self.state = state
        self.opts = opts
        self.preserve = opts.has("p", "a") or opts.value("preserve") is not None
        self.out, self.err = CappedText(), CappedText()
        self.failed = False
        self.created = 0

    def fail(self, message: str) -> None:
        self.failed = True
        self.err.write(f"cp: {message}\n")

    def copy(self, src_text: str, dst_text: str) -> None:
        world = self.state.world
        recursive = self.opts.has("r", "R", "a")
        follow = self.opts.has("L") or not (recursive or self.opts.has("P", "d"))
        try:
            src = locate(self.state, src_text, follow=follow)
        except FileSystemError as exc:
            self.fail(f"cannot stat {quote(src_text)}: {describe(exc)}")
            return
        st = world.stat(src)
        is_tree = st.is_dir and not st.is_symlink
        if is_tree and not recursive:
            self.fail(f"-r not specified; omitting directory {quote(src_text)}")
            return
        try:
            dst, exists = locate_new(self.state, dst_text, follow=not st.is_symlink)
        except FileSystemError as exc:
            self.fail(f"cannot create regular file {quote(dst_text)}: {describe(exc)}")
            return
        if is_tree and (dst == src or dst.startswith(src.rstrip("/") + "/")):
            self.fail(f"cannot copy a directory, {quote(src_text)}, into itself, {quote(dst_text)}")
            return
        if not is_tree and exists and (dst == src or (not st.is_symlink and _resolved(self.state, dst) == src)):
            self.fail(f"{quote(src_text)} and {quote(dst_text)} are the same file")
            return
        self._copy_tree(src, dst, src_text, dst_text)

    def _copy_tree(self, src: str, dst: str, src_text: str, dst_text: str) -> None:
        world = self.state.world
        fix_modes: list[tuple[str, int]] = []
        stack = [(src, dst, src_text, dst_text)]
        while stack:
            s, d, s_shown, d_shown = stack.pop()
            if self.created >= MAX_COPY_NODES:
                self.fail(f"stopped after {MAX_COPY_NODES} files (sandbox limit)")
                break
            st = world.stat(s)
            mode = st.mode if self.preserve else st.mode & ~self.state.umask & 0o777
            if st.is_dir and not st.is_symlink:
                made = self._copy_dir(s, d, s_shown, d_shown, mode, fix_modes)
                if made:
                    for name, _, _ in reversed(world.list_dir(s)):
                        s_child, d_child = join_display(s, name), join_display(d, name)
                        stack.append((s_child, d_child, join_display(s_shown, name), join_display(d_shown, name)))
                continue
            if self._copy_leaf(s, d, s_shown, d_shown, mode):
                if self.preserve:
                    world.set_mtime(d, st.mtime)
                if self.opts.has("v"):
                    self.out.write(f"{quote(s_shown)} -> {quote(d_shown)}\n")
        for path, mode in reversed(fix_modes):
            world.chmod(path, mode)

    def _copy_dir(self, s: str, d: str, s_shown: str, d_shown: str, mode: int, fix: list[tuple[str, int]]) -> bool:
        world, user = self.state.world, self.state.user
        if not world.can_access(user, s, PERM_READ | PERM_EXEC):
            self.fail(f"cannot access {quote(s_shown)}: Permission denied")
            return False
        node = world.node(d)
        if node is not None:
            if not world.is_dir(d):
                self.fail(f"cannot overwrite non-directory {quote(d_shown)} with directory {quote(s_shown)}")
                return False
            return True
        if not world.can_create_in(user, parent_of(d)):
            self.fail(f"cannot create directory {quote(d_shown)}: Permission denied")
            return False
        world.make_dir(d, owner=user, mode=mode | 0o700)  # writable while it is filled, as GNU does
        fix.append((d, mode))
        self.created += 1
        if self.opts.has("v"):
            self.out.write(f"{quote(s_shown)} -> {quote(d_shown)}\n")
        return True

    def _copy_leaf(self, s: str, d: str, s_shown: str, d_shown: str, mode: int) -> bool:
        """Copy a file (its contents) or, inside a tree, a symlink (as a link)."""
        world, user, state = self.state.world, self.state.user, self.state
        is_link = world.is_symlink(s) and not self.opts.has("L")
        if not is_link and not world.can_access(user, s, PERM_READ):
            self.fail(f"cannot open {quote(s_shown)} for reading: Permission denied")
            return False
        if not is_link and world.is_symlink(d):
            try:  # a file is copied through an existing destination symlink
                d = world.resolve(d)
            except FileSystemError as exc:
                self.fail(f"cannot create regular file {quote(d_shown)}: {describe(exc)}")
                return False
        exists = world.node(d) is not None
        if exists:
            if world.is_dir(d):
                self.fail(f"cannot overwrite directory {quote(d_shown)} with non-directory")
                return False
            if self.opts.last_of("n", "f") == "n":
                return False
            replace = is_link or not world.can_access(user, d, PERM_WRITE)
            if replace:
                if not (self.opts.has("f") or is_link) or not world.can_unlink(user, d):
                    self.fail(f"cannot create regular file {quote(d_shown)}: Permission denied")
                    return False
                state.removed.extend(world.remove(d))
                exists = False
        if not exists and not world.can_create_in(user, parent_of(d)):
            self.fail(f"cannot create regular file {quote(d_shown)}: Permission denied")
            return False
        try:
            if is_link:
                world.symlink(world.readlink(s), d, owner=user)
            else:
                data = world.read_bytes(s)
                lost = world.overwrite_loss(d, data) if exists else None
                world.write_bytes(d, data, owner=user, mode=mode)
                if lost is not None:
                    state.removed.append(lost)
        except FileSystemError as exc:
            self.fail(f"cannot create regular file {quote(d_shown)}: {describe(exc)}")
            return False
        self.created += 1
        return True


@command("cp")
def cp(state: ShellState, argv: list[str], stdin: str) -> CommandResult:
    """Copy files and directories (see the module docstring)."""
    opts = parse_options("cp", argv, _CP_SPEC)
    if isinstance(opts, CommandResult):
        return opts
    if opts.last_of("i", "f", "n") == "i":
        return CommandResult(stderr="cp: interactive mode (-i) is not supported in this sandbox\n", status=1)
    pairs = _targets("cp", state, opts.operands)
    if isinstance(pairs, CommandResult):
        return pairs
    copier = _Copier(state, opts)
    for src_text, dst_text in pairs:
        copier.copy(src_text, dst_text)
    return CommandResult(stdout=copier.out.text(), stderr=copier.err.text(), status=1 if copier.failed else 0)


def _move_one(state: ShellState, src_text: str, dst_text: str, opts: Options) -> str | None:
    """Rename one source; returns the error message, ``""`` when ``-n`` skipped it, or None."""
    world, user = state.world, state.user
    try:
        src = locate(state, src_text, follow=False)
    except FileSystemError as exc:
        return f"cannot stat {quote(src_text)}: {describe(exc)}"
    failure = f"cannot move {quote(src_text)} to {quote(dst_text)}"
    try:
        dst, exists = locate_new(state, dst_text)
    except FileSystemError as exc:
        return f"{failure}: {describe(exc)}"
    src_is_dir = world.is_dir(src)
    if dst == src:
        return f"{quote(src_text)} and {quote(dst_text)} are the same file"
    if src_is_dir and dst.startswith(src.rstrip("/") + "/"):
        return f"cannot move {quote(src_text)} to a subdirectory of itself, {quote(dst_text)}"
    if src == "/" or not world.can_unlink(user, src):
        return f"{failure}: Permission denied"
    if not world.can_create_in(user, parent_of(dst)):
        return f"{failure}: Permission denied"
    if src_is_dir and parent_of(src) != parent_of(dst) and not world.can_access(user, src, PERM_WRITE):
        return f"{failure}: Permission denied"  # its '..' entry must change
    if exists:
        if opts.last_of("n", "f", "i") == "n":
            return ""
        dst_is_dir = world.is_dir(dst)
        if dst_is_dir and not src_is_dir:
            return f"cannot overwrite directory {quote(dst_text)} with non-directory"
        if src_is_dir and not dst_is_dir:
            return f"cannot overwrite non-directory {quote(dst_text)} with directory {quote(src_text)}"
        if dst_is_dir and world.list_dir(dst):
            return f"{failure}: Directory not empty"
        if not world.can_unlink(user, dst):
            return f"{failure}: Permission denied"
        state.removed.extend(world.remove(dst))
    try:
        world.move(src, dst)
    except FileSystemError as exc:
        return f"{failure}: {describe(exc)}"
    return None


@command("mv")
def mv(state: ShellState, argv: list[str], stdin: str) -> CommandResult:
    """Move or rename files (see the module docstring)."""
    opts = parse_options("mv", argv, _MV_SPEC)
    if isinstance(opts, CommandResult):
        return opts
    if opts.last_of("i", "f", "n") == "i":
        return CommandResult(stderr="mv: interactive mode (-i) is not supported in this sandbox\n", status=1)
    pairs = _targets("mv", state, opts.operands)
    if isinstance(pairs, CommandResult):
        return pairs
    out, err = CappedText(), CappedText()
    status = 0
    for src_text, dst_text in pairs:
        error = _move_one(state, src_text, dst_text, opts)
        if error:
            err.write(f"mv: {error}\n")
            status = 1
        elif error is None and opts.has("v"):
            out.write(f"renamed {quote(src_text)} -> {quote(dst_text)}\n")
    return CommandResult(stdout=out.text(), stderr=err.text(), status=status)
