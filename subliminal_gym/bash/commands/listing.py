"""``ls``: directory listings in GNU coreutils' formats (one name per line, as ``ls`` prints to a pipe).

Options: ``-l -a -A -R -d -h -t -S -r -1 -F -i -n`` (combinable, e.g. ``-lah``), ``--color``
accepted and ignored. ``-l`` shows the mode with a ``+`` for an extended ACL, link count, owner,
group, size, date and ``link -> target``; directories get a ``total`` line in KiB.
"""

from __future__ import annotations

import errno
from dataclasses import dataclass

from subliminal_gym.bash.commands.argv import Options, OptionSpec, parse_options
from subliminal_gym.bash.commands.display import allocated_kib, display_size, human_size, ls_time, quote
from subliminal_gym.bash.commands.output import CappedText
from subliminal_gym.bash.commands.paths import describe, join_display, locate, parent_of
from subliminal_gym.bash.state import CommandResult, ShellState, command
from subliminal_gym.core.world import PERM_EXEC, PERM_READ, FileSystemError, NodeStat

__all__ = ["ls"]

_USAGE = (
    "Usage: ls [OPTION]... [FILE]...\n"
    "List information about the FILEs (the current directory by default).\n"
    "Options: -a -A -d -F -h -i -l -n -r -R -S -t -1\n"
)
_SPEC = OptionSpec(
    flags="laARdhtrS1Fin",
    long_flags={
        "all": "a",
        "almost-all": "A",
        "recursive": "R",
        "directory": "d",
        "human-readable": "h",
        "reverse": "r",
        "classify": "F",
        "inode": "i",
        "numeric-uid-gid": "n",
    },
    long_valued={"color": "color"},
    usage_status=2,
    usage=_USAGE,
)


@dataclass(frozen=True)
class _View:
    """What the options ask ``ls`` to show."""

    long: bool
    all: bool
    almost_all: bool
    recursive: bool
    directory: bool
    human: bool
    sort: str
    """``name``, ``time`` or ``size``."""
    reverse: bool
    classify: bool
    inode: bool
    numeric: bool

    @classmethod
    def from_options(cls, opts: Options) -> _View:
        sort_key = opts.last_of("t", "S")
        return cls(
            long=opts.has("l", "n"),
            all=opts.last_of("a", "A") == "a",
            almost_all=opts.last_of("a", "A") == "A",
            recursive=opts.has("R"),
            directory=opts.has("d"),
            human=opts.has("h"),
            sort={"t": "time", "S": "size"}.get(sort_key or "", "name"),
            reverse=opts.has("r"),
            classify=opts.has("F"),
            inode=opts.has("i"),
            numeric=opts.has("n"),
        )

    @property
    def needs_stat(self) -> bool:
        return self.long or self.sort != "name" or self.classify or self.inode


@dataclass(frozen=True)
class _Entry:
    """One line of a listing."""

    name: str
    path: str
    st: NodeStat | None
    """None when the directory holding it cannot be searched (``ls -l`` shows ``?``)."""
    is_dir: bool


def _sorted(entries: list[_Entry], view: _View) -> list[_Entry]:
    ordered = sorted(entries, key=lambda e: e.name)
    if view.sort == "time":
        ordered.sort(key=lambda e: -(e.st.mtime if e.st else 0.0))
    elif view.sort == "size":
        ordered.sort(key=lambda e: -(display_size(e.st) if e.st else 0))
    if view.reverse:
        ordered.reverse()
    return ordered


def _indicator(entry: _Entry) -> str:
    st = entry.st
    if st is None:
        return "/" if entry.is_dir else ""
    if st.is_symlink:
        return "@"
    if st.is_dir:
        return "/"
    return "*" if st.mode & 0o111 else ""


def _link_count(state: ShellState, entry: _Entry) -> int:
    if entry.st is None or not entry.st.is_dir or entry.st.is_symlink:
        return 1
    try:
        return 2 + sum(1 for _, is_dir, _ in state.world.list_dir(entry.path) if is_dir)
    except FileSystemError:
        return 2


def _long_lines(state: ShellState, entries: list[_Entry], view: _View) -> list[str]:
    world = state.world
    rows: list[tuple[str, ...]] = []
    acls: list[bool] = []
    for entry in entries:
        st = entry.st
        suffix = _indicator(entry) if view.classify and not (st and st.is_symlink) else ""
        if st is None:
            kind = "d" if entry.is_dir else "-"
            rows.append(("?", kind + "?" * 9, "?", "?", "?", "?", "?", entry.name + suffix))
            acls.append(False)
            continue
        name = entry.name + suffix
        if st.is_symlink:
            name += " -> " + world.readlink(entry.path)
        size = display_size(st)
        rows.append(
            (
                str(st.inode),
                st.filemode,
                str(_link_count(state, entry)),
                str(st.uid) if view.numeric else world.users.user_name(st.uid),
                str(st.gid) if view.numeric else world.users.group_name(st.gid),
                human_size(size) if view.human else str(size),
                ls_time(st.mtime, world.now),
                name,
            )
        )
        acls.append(world.get_acl(entry.path) is not None)
    widths = [max((len(row[i]) for row in rows), default=0) for i in range(8)]
    any_acl = any(acls)
    lines = []
    for row, has_acl in zip(rows, acls, strict=True):
        inode, mode, links, owner, group, size_text, date, name = row
        mode_text = mode + ("+" if has_acl else " ") if any_acl else mode
        head = f"{inode:>{widths[0]}} " if view.inode else ""
        lines.append(
            f"{head}{mode_text} {links:>{widths[2]}} {owner:<{widths[3]}} {group:<{widths[4]}} "
            f"{size_text:>{widths[5]}} {date:>12} {name}\n"
        )
    return lines


def _format(state: ShellState, entries: list[_Entry], view: _View) -> str:
    entries = _sorted(entries, view)
    if view.long:
        return "".join(_long_lines(state, entries, view))
    width = max((len(str(e.st.inode)) for e in entries if e.st), default=1)
    lines = []
    for entry in entries:
        head = ""
        if view.inode:
            head = f"{entry.st.inode if entry.st else '?':>{width}} "
        lines.append(head + entry.name + (_indicator(entry) if view.classify else "") + "\n")
    return "".join(lines)


def _read_directory(state: ShellState, display: str, real: str, view: _View, err: CappedText) -> list[_Entry]:
    """The entries of a directory the user may read; per-entry problems go to ``err``.

    Raises:
        FileSystemError: EACCES when the directory cannot be read.
    """
    world, user = state.world, state.user
    if not world.can_access(user, real, PERM_READ):
        raise FileSystemError(errno.EACCES, display)
    searchable = world.can_access(user, real, PERM_EXEC)
    entries: list[_Entry] = []
    if view.all:
        for name, path in ((".", real), ("..", parent_of(real))):
            entries.append(_Entry(name, path, world.stat(path) if searchable else None, True))
    for name, is_dir, _ in world.list_dir(real):
        if name.startswith(".") and not (view.all or view.almost_all):
            continue
        path = join_display(real, name)
        if searchable:
            entries.append(_Entry(name, path, world.stat(path), is_dir))
        else:
            if view.needs_stat:
                err.write(f"ls: cannot access {quote(join_display(display, name))}: Permission denied\n")
            entries.append(_Entry(name, path, None, is_dir))
    return entries


@command("ls")
def ls(state: ShellState, argv: list[str], stdin: str) -> CommandResult:
    """List directory contents (see the module docstring for the options)."""
    opts = parse_options("ls", argv, _SPEC)
    if isinstance(opts, CommandResult):
        return opts
    view = _View.from_options(opts)
    operands = opts.operands or ["."]
    world = state.world
    out, err = CappedText(), CappedText()
    status = 0
    files: list[_Entry] = []
    dirs: list[tuple[str, str]] = []
    follow = not (view.long or view.directory or view.classify)
    for text in operands:
        try:
            real = locate(state, text, follow=follow)
        except FileSystemError as exc:
            err.write(f"ls: cannot access {quote(text)}: {describe(exc)}\n")
            status = 2
            continue
        st = world.stat(real)
        if st.is_dir and not view.directory:
            dirs.append((text, real))
        else:
            files.append(_Entry(text, real, st, st.is_dir))
    if files:
        out.write(_format(state, files, view))
    show_headers = len(operands) > 1 or view.recursive
    first = not files
    stack = [(display, real, True) for display, real in sorted(dirs, reverse=True)]
    while stack and not out.full:
        display, real, top = stack.pop()
        try:
            entries = _read_directory(state, display, real, view, err)
        except FileSystemError:
            err.write(f"ls: cannot open directory {quote(display)}: Permission denied\n")
            status = max(status, 2 if top else 1)
            continue
        if any(e.st is None for e in entries) and view.needs_stat:
            status = max(status, 1)
        if not first:
            out.write("\n")
        first = False
        if show_headers:
            out.write(f"{display}:\n")
        if view.long:
            total = sum(allocated_kib(e.st) for e in entries if e.st)
            out.write(f"total {human_size(total * 1024) if view.human else total}\n")
        out.write(_format(state, entries, view))
        if view.recursive:
            subdirs = [e for e in _sorted(entries, view) if e.is_dir and e.name not in (".", "..")]
            subdirs = [e for e in subdirs if not (e.st and e.st.is_symlink)]
            stack.extend((join_display(display, e.name), e.path, False) for e in reversed(subdirs))
    return CommandResult(stdout=out.text(), stderr=err.text() + out.note("ls"), status=status)
