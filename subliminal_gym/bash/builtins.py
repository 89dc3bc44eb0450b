"""The shell's builtins: ``cd``, ``pwd``, ``echo``, ``true``, ``false``, ``:``, ``umask``, ``exit``.

They change the session itself (its directory, umask and last status), so they live beside the
shell rather than among the file commands. Messages follow bash's (``bash: cd: /x: No such file
or directory``). ``exit`` sets the status and makes the shell skip the rest of the line; it does
not end the episode (only the environment decides that).

The previous directory (``cd -``) and the last status (``$?``) live on the
:class:`~subliminal_gym.bash.state.ShellState`, so a new :class:`~subliminal_gym.bash.shell.Shell`
over the same state carries on where the last one stopped.
"""

from __future__ import annotations

import re

from subliminal_gym.bash.numbers import whole_number
from subliminal_gym.bash.state import CommandResult, ShellState, command
from subliminal_gym.core.users import User
from subliminal_gym.core.world import PERM_EXEC, FileSystemError, SandboxWorld

__all__ = ["reach_error"]

_NOT_FOUND = "No such file or directory"
_NOT_DIR = "Not a directory"
_DENIED = "Permission denied"


def reach_error(world: SandboxWorld, user: User, path: str) -> str | None:
    """Why ``user`` cannot reach the canonical ``path``: a directory on the way it may not
    search, or a missing or non-directory component. None when ``path`` exists and is reachable
    (``path`` itself may still be unreadable)."""
    if not world.can_traverse(user, path):
        return _DENIED
    if world.node(path) is not None:
        return None
    here = ""
    for part in path.strip("/").split("/")[:-1]:
        here += "/" + part
        if world.node(here) is None or world.is_symlink(here):
            return _NOT_FOUND
        if not world.is_dir(here):
            return _NOT_DIR
    return _NOT_FOUND


# -- directory builtins -----------------------------------------------------------------------


@command("cd")
def cd(state: ShellState, argv: list[str], stdin: str) -> CommandResult:
    """``cd [-L|-P] [dir]``: no operand is the home directory, ``-`` the previous one.

    Symlinks are resolved, so the new working directory is always a canonical path.
    """
    args = argv[1:]
    while args and args[0] in ("-L", "-P"):
        args = args[1:]
    if args and args[0] == "--":
        args = args[1:]
    elif args and args[0].startswith("-") and args[0] != "-":
        return ShellState.fail("bash: cd", f"{args[0]}: invalid option\ncd: usage: cd [-L|-P] [dir]", 2)
    if len(args) > 1:
        return ShellState.fail("bash: cd", "too many arguments")
    announce = False
    if not args:
        target = state.home
    elif args[0] == "-":
        previous = state.oldpwd
        if previous is None:
            return ShellState.fail("bash: cd", "OLDPWD not set")
        target, announce = previous, True
    elif not args[0]:
        return CommandResult()  # bash: `cd ""` stays where it is
    else:
        target = args[0]
    try:
        path = state.world.resolve(state.abspath(target))
    except FileSystemError as err:
        return ShellState.fail("bash: cd", f"{target}: {err.reason}")
    reason = reach_error(state.world, state.user, path)
    if reason is None and not state.world.is_dir(path):
        reason = _NOT_DIR
    if reason is None and not state.world.can_access(state.user, path, PERM_EXEC):
        reason = _DENIED
    if reason is not None:
        return ShellState.fail("bash: cd", f"{target}: {reason}")
    state.oldpwd = state.cwd
    state.cwd = path
    return CommandResult(stdout=f"{path}\n" if announce else "")


@command("pwd")
def pwd(state: ShellState, argv: list[str], stdin: str) -> CommandResult:
    """``pwd [-L|-P]``: the working directory (already canonical, so both agree)."""
    for arg in argv[1:]:
        if arg not in ("-L", "-P"):
            if arg.startswith("-") and arg != "-":
                return ShellState.fail("bash: pwd", f"{arg}: invalid option\npwd: usage: pwd [-LP]", 2)
            break  # bash ignores operands
    return CommandResult(stdout=state.cwd + "\n")


# -- output and status builtins -----------------------------------------------------------------

_ECHO_ESCAPES = {
    "a": "\a", "b": "\b", "e": "\x1b", "E": "\x1b", "f": "\f", "n": "\n", "r": "\r", "t": "\t", "v": "\v", "\\": "\\",
}  # fmt: skip
_OCTAL = re.compile(r"[0-7]{0,3}")
_HEX = re.compile(r"[0-9A-Fa-f]{1,2}")


def _echo_escapes(text: str) -> tuple[str, bool]:
    """``text`` with ``echo -e`` escapes applied, and whether ``\\c`` stopped the output."""
    out: list[str] = []
    i, n = 0, len(text)
    while i < n:
        ch = text[i]
        if ch != "\\" or i + 1 >= n:
            out.append(ch)
            i += 1
            continue
        code = text[i + 1]
        i += 2
        if code in _ECHO_ESCAPES:
            out.append(_ECHO_ESCAPES[code])
        elif code == "c":
            return "".join(out), True
        elif code == "0":
            digits = _OCTAL.match(text, i).group()  # type: ignore[union-attr]
            out.append(chr(int(digits or "0", 8)))
            i += len(digits)
        elif code == "x" and (match := _HEX.match(text, i)):
            out.append(chr(int(match.group(), 16)))
            i = match.end()
        else:
            out.append("\\" + code)
    return "".join(out), False


@command("echo")
def echo(state: ShellState, argv: list[str], stdin: str) -> CommandResult:
    """``echo [-neE] [arg ...]``: ``-n`` no newline, ``-e`` interpret ``\\n \\t \\\\ \\0nnn \\xHH \\c`` ..."""
    args = argv[1:]
    newline, escapes = True, False
    while args and re.fullmatch(r"-[neE]+", args[0]):
        for flag in args.pop(0)[1:]:
            if flag == "n":
                newline = False
            else:
                escapes = flag == "e"
    text = " ".join(args)
    if escapes:
        text, stopped = _echo_escapes(text)
        if stopped:
            return CommandResult(stdout=text)
    return CommandResult(stdout=text + "\n" if newline else text)


@command("true", ":")
def true(state: ShellState, argv: list[str], stdin: str) -> CommandResult:
    """Succeed (status 0), ignoring operands."""
    return CommandResult()


@command("false")
def false(state: ShellState, argv: list[str], stdin: str) -> CommandResult:
    """Fail (status 1), ignoring operands."""
    return CommandResult(status=1)


@command("exit")
def exit_shell(state: ShellState, argv: list[str], stdin: str) -> CommandResult:
    """``exit [n]``: status ``n & 255`` (default ``$?``). The shell skips the rest of the line;
    the episode goes on."""
    args = argv[1:]
    if not args:
        return CommandResult(status=state.last_status)
    if not re.fullmatch(r"[+-]?[0-9]{1,18}", args[0]):
        return ShellState.fail("bash: exit", f"{args[0]}: numeric argument required", 2)
    if len(args) > 1:
        return ShellState.fail("bash: exit", "too many arguments")
    return CommandResult(status=whole_number(args[0]) & 255)


# -- umask ------------------------------------------------------------------------------------

_WHO_BITS = {"u": 0o700, "g": 0o070, "o": 0o007, "a": 0o777}
_PERM_BITS = {"r": 0o444, "w": 0o222, "x": 0o111}
_SYMBOLIC_CLAUSE = re.compile(r"([ugoa]*)((?:[-+=][rwx]*)+)")


def _symbolic(mask: int) -> str:
    allowed = ~mask & 0o777
    parts = []
    for who, shift in (("u", 6), ("g", 3), ("o", 0)):
        bits = (allowed >> shift) & 7
        parts.append(who + "=" + "".join(p for p, b in (("r", 4), ("w", 2), ("x", 1)) if bits & b))
    return ",".join(parts)


def _apply_symbolic(spec: str, mask: int) -> int | str:
    """The new mask for a symbolic ``umask`` spec, or the character bash would complain about."""
    allowed = ~mask & 0o777
    for clause in spec.split(","):
        match = _SYMBOLIC_CLAUSE.fullmatch(clause)
        if match is None:
            who_len = len(re.match(r"[ugoa]*", clause).group())  # type: ignore[union-attr]
            return clause[who_len : who_len + 1] or clause[-1:] or ","
        who = 0
        for w in match.group(1) or "a":
            who |= _WHO_BITS[w]
        for op, perms in re.findall(r"([-+=])([rwx]*)", match.group(2)):
            bits = 0
            for p in perms:
                bits |= _PERM_BITS[p]
            bits &= who
            if op == "+":
                allowed |= bits
            elif op == "-":
                allowed &= ~bits
            else:
                allowed = (allowed & ~who) | bits
    return ~allowed & 0o777


@command("umask")
def umask(state: ShellState, argv: list[str], stdin: str) -> CommandResult:
    """``umask [-S] [mode]``: show the mask (``0022``, or ``u=rwx,g=rx,o=rx`` with ``-S``) or set
    it from an octal (``077``) or symbolic (``g-w,o=``) mode."""
    args = argv[1:]
    symbolic = False
    while args and args[0].startswith("-") and len(args[0]) > 1:
        flag = args.pop(0)
        if flag == "--":
            break
        if flag != "-S":
            return ShellState.fail("bash: umask", f"{flag}: invalid option\numask: usage: umask [-p] [-S] [mode]", 2)
        symbolic = True
    if args:
        spec = args[0]
        if spec.isascii() and spec.isdigit():
            if not re.fullmatch(r"[0-7]+", spec) or int(spec, 8) > 0o777:
                return ShellState.fail("bash: umask", f"{spec}: octal number out of range")
            state.umask = int(spec, 8)
        else:
            new = _apply_symbolic(spec, state.umask)
            if isinstance(new, str):
                return ShellState.fail("bash: umask", f"`{new}': invalid symbolic mode operator")
            state.umask = new
        if not symbolic:
            return CommandResult()
    return CommandResult(stdout=(_symbolic(state.umask) if symbolic else f"{state.umask:04o}") + "\n")
