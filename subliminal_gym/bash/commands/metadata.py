"""``stat``: a node's metadata in GNU's default layout, or through ``-c``/``--printf`` formats.

The world keeps no device numbers or birth times: every node reads as device ``8,1`` and
``Birth: -`` (what GNU prints when the file system does not record it).
"""

from __future__ import annotations

import re
import stat as stat_mod

from subliminal_gym.bash.commands.argv import OptionSpec, parse_options, usage_error
from subliminal_gym.bash.commands.display import (
    BLOCK_SIZE,
    allocated_kib,
    display_size,
    file_type,
    quote,
    stat_time,
)
from subliminal_gym.bash.commands.output import CappedText
from subliminal_gym.bash.commands.paths import describe, locate
from subliminal_gym.bash.numbers import whole_number
from subliminal_gym.bash.state import CommandResult, ShellState, command
from subliminal_gym.core.world import FileSystemError, NodeStat

__all__ = ["format_stat", "stat"]

_USAGE = "Usage: stat [OPTION]... FILE...\nDisplay file status.\nOptions: -L -c FORMAT --printf=FORMAT -t\n"
_SPEC = OptionSpec(
    flags="Lt",
    valued="c",
    long_flags={"dereference": "L", "terse": "t"},
    long_valued={"format": "c", "printf": "printf"},
    usage=_USAGE,
)
_DEVICE_MAJOR, _DEVICE_MINOR = 8, 1
_DIRECTIVE = re.compile(r"%([-#0 +']*)(\d*)(?:\.(\d*))?(.)?", re.DOTALL)
_ESCAPES = {"n": "\n", "t": "\t", "\\": "\\", '"': '"', "a": "\a", "b": "\b", "f": "\f", "r": "\r", "v": "\v"}
_DEFAULT = (
    "  File: %N\n"
    "  Size: %-10s\tBlocks: %-10b IO Block: %-6o %F\n"
    "Device: %Hd,%Ld\tInode: %-10i  Links: %h\n"
    "Access: (%04a/%10.10A)  Uid: (%5u/%8U)   Gid: (%5g/%8G)\n"
    "Access: %x\n"
    "Modify: %y\n"
    "Change: %z\n"
    " Birth: %w\n"
)
_NUMERIC = set("abBdgfhiostTuWXYZ")
_TERSE = "%n %s %b %f %u %g %D %i %h %t %T %X %Y %Z %W %o\n"


def _links(state: ShellState, path: str, st: NodeStat) -> int:
    if not st.is_dir or st.is_symlink:
        return 1
    return 2 + sum(1 for _, is_dir, _ in state.world.list_dir(path) if is_dir)


def _raw_mode(st: NodeStat) -> int:
    kind = stat_mod.S_IFLNK if st.is_symlink else stat_mod.S_IFDIR if st.is_dir else stat_mod.S_IFREG
    return kind | st.mode


def _field(
    state: ShellState, shown: str, path: str, st: NodeStat, letter: str, *, hash_flag: bool, quoted: bool
) -> str | int:
    """The value of one ``%`` directive (``quoted``: ``%N`` quotes names, as in a user's format)."""
    world = state.world
    name = quote if quoted else str
    node = world.node(path)
    atime = float(getattr(node, "st_atime", st.mtime))
    ctime = float(getattr(node, "st_ctime", st.mtime))
    values: dict[str, str | int] = {
        "a": f"0{st.mode:o}" if hash_flag else f"{st.mode:o}",
        "A": st.filemode,
        "b": allocated_kib(st) * 2,
        "B": 512,
        "d": _DEVICE_MAJOR * 256 + _DEVICE_MINOR,
        "D": f"{_DEVICE_MAJOR * 256 + _DEVICE_MINOR:x}",
        "f": f"{_raw_mode(st):x}",
        "F": file_type(st),
        "g": st.gid,
        "G": world.users.group_name(st.gid),
        "h": _links(state, path, st),
        "i": st.inode,
        "m": "/",
        "n": shown,
        "N": name(shown) + (f" -> {name(world.readlink(path))}" if st.is_symlink else ""),
        "o": BLOCK_SIZE,
        "s": display_size(st),
        "t": 0,
        "T": 0,
        "u": st.uid,
        "U": world.users.user_name(st.uid),
        "w": "-",
        "W": 0,
        "x": stat_time(atime),
        "X": int(atime),
        "y": stat_time(st.mtime),
        "Y": int(st.mtime),
        "z": stat_time(ctime),
        "Z": int(ctime),
    }
    return values.get(letter, "?")


def format_stat(state: ShellState, shown: str, path: str, fmt: str, *, quoted: bool = True) -> str:
    """Expand a GNU ``stat`` format (``%a``, ``%-10s``, ``%04a``, ...) for the node at ``path``.

    ``%N`` quotes names (``'a b' -> 'c'``) unless ``quoted`` is False: GNU prints them literally in
    its default format and shell-escape-always quoted in a format the user gave.
    """
    st = state.world.stat(path)
    out: list[str] = []
    pos = 0
    for match in _DIRECTIVE.finditer(fmt):
        out.append(fmt[pos : match.start()])
        pos = match.end()
        flags, width, precision, letter = match.groups()
        if letter is None:
            out.append(match.group(0))
            continue
        if letter == "%":
            out.append("%")
            continue
        if letter in "HL" and pos < len(fmt) and fmt[pos] in "dr":
            # %Hd / %Ld: the device's major / minor number
            value: str | int = (_DEVICE_MAJOR if letter == "H" else _DEVICE_MINOR) if fmt[pos] == "d" else 0
            pos += 1
        else:
            value = _field(state, shown, path, st, letter, hash_flag="#" in flags, quoted=quoted)
        text = str(value)
        if precision and isinstance(value, str):
            text = text[: whole_number(precision)]
        size = min(whole_number(width), 4096) if width else 0
        if "-" in flags:
            text = text.ljust(size)
        elif "0" in flags and letter in _NUMERIC:
            text = text.zfill(size)
        else:
            text = text.rjust(size)
        out.append(text)
    out.append(fmt[pos:])
    return "".join(out)


def _unescape(fmt: str) -> str:
    return re.sub(r"\\(.)", lambda m: _ESCAPES.get(m.group(1), "\\" + m.group(1)), fmt, flags=re.DOTALL)


@command("stat")
def stat(state: ShellState, argv: list[str], stdin: str) -> CommandResult:
    """Display file status: ``stat [-L] [-t] [-c FORMAT | --printf=FORMAT] FILE...``."""
    opts = parse_options("stat", argv, _SPEC)
    if isinstance(opts, CommandResult):
        return opts
    if not opts.operands:
        return usage_error("stat", "missing operand")
    printf = opts.value("printf")
    user_format = printf is not None or opts.value("c") is not None
    if printf is not None:
        fmt = _unescape(printf)
    elif opts.value("c") is not None:
        fmt = (opts.value("c") or "") + "\n"
    else:
        fmt = _TERSE if opts.has("t") else _DEFAULT
    out, err = CappedText(), CappedText()
    status = 0
    for text in opts.operands:
        if out.full:
            break
        try:
            path = locate(state, text, follow=opts.has("L"))
        except FileSystemError as exc:
            err.write(f"stat: cannot statx {quote(text)}: {describe(exc)}\n")
            status = 1
            continue
        out.write(format_stat(state, text, path, fmt, quoted=user_format))
    return CommandResult(stdout=out.text(), stderr=err.text() + out.note("stat"), status=status)
