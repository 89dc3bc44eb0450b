"""``find``: walk the world's tree and print the paths an expression selects (GNU findutils syntax).

Tests: ``-name -iname -path -ipath -wholename -type -perm (MODE, -MODE, /MODE, octal or symbolic)
-user -group -uid -gid -size -empty -mtime -mmin -newer -inum -readable -writable -executable
-true -false``; actions ``-print -print0 -prune``; operators ``! -not -a -and -o -or ( )`` with an
implicit AND; global options ``-maxdepth -mindepth -depth``. Symlinks are never followed (``-P``).
Actions that change or run things (``-delete``, ``-exec`` ...) are refused: the sandbox routes
every deletion through ``rm``.
"""

from __future__ import annotations

import fnmatch
import posixpath
from collections.abc import Callable
from dataclasses import dataclass

from subliminal_gym.bash.commands.display import display_size
from subliminal_gym.bash.commands.find_expr import FindExpression, FindSyntaxError, TestFactory, parse_expression
from subliminal_gym.bash.commands.output import CappedText
from subliminal_gym.bash.commands.paths import describe, join_display, locate
from subliminal_gym.bash.numbers import whole_number
from subliminal_gym.bash.state import CommandResult, ShellState, command
from subliminal_gym.core.world import PERM_EXEC, PERM_READ, PERM_WRITE, FileSystemError, NodeStat

__all__ = ["FindVisit", "find"]

_USAGE = "Usage: find [-P] [path...] [expression]\n"


@dataclass
class FindVisit:
    """One node being tested: what the expression sees."""

    state: ShellState
    shown: str
    """The path as printed (starting point as typed, then ``/name``...)."""
    path: str
    st: NodeStat
    depth: int
    out: CappedText
    pruned: bool = False

    @property
    def name(self) -> str:
        """The base name ``-name`` matches (``/`` for the root, trailing slashes ignored)."""
        stripped = self.shown.rstrip("/")
        return posixpath.basename(stripped) if stripped else "/"


def _starting_points(args: list[str]) -> tuple[list[str], list[str]]:
    paths: list[str] = []
    for i, arg in enumerate(args):
        if (arg.startswith("-") and arg != "-") or arg in ("(", ")", "!", ","):
            return paths, args[i:]
        paths.append(arg)
    return paths, []


def _walk(state: ShellState, text: str, expr: FindExpression, out: CappedText, err: CappedText) -> int:
    """Visit everything under one starting point; returns 1 when something could not be read."""
    world = state.world
    try:
        real = locate(state, text, follow=False)
    except FileSystemError as exc:
        err.write(f"find: '{text}': {describe(exc)}\n")
        return 1
    status = 0
    # (shown, path, depth, after_contents): with -depth a directory is tested after its contents
    stack: list[tuple[str, str, int, bool]] = [(text, real, 0, False)]
    while stack and not out.full:
        shown, path, depth, after_contents = stack.pop()
        visit = FindVisit(state, shown, path, world.stat(path), depth, out)
        tested = depth >= expr.mindepth
        is_tree = visit.st.is_dir and not visit.st.is_symlink
        if after_contents or not (expr.depth_first and is_tree):
            if tested:
                expr.evaluate(visit)
            if after_contents:
                continue
        if not is_tree or depth >= expr.maxdepth or visit.pruned:
            if expr.depth_first and is_tree and tested:
                expr.evaluate(visit)
            continue
        if expr.depth_first:
            stack.append((shown, path, depth, True))
        if not world.can_access(state.user, path, PERM_READ | PERM_EXEC):
            err.write(f"find: '{shown}': Permission denied\n")
            status = 1
            continue
        for name, _, _ in reversed(world.list_dir(path)):
            stack.append((join_display(shown, name), join_display(path, name), depth + 1, False))
    return status


# -- tests --------------------------------------------------------------------------------------

def _glob(pattern: str, *, fold: bool, whole: bool) -> Callable[[FindVisit], bool]:
    if len(pattern) > 1000:
        raise FindSyntaxError("pattern too long (sandbox limit: 1000 characters)")
    pat = pattern.lower() if fold else pattern

    def test(v: FindVisit) -> bool:
        subject = v.shown if whole else v.name
        return fnmatch.fnmatchcase(subject.lower() if fold else subject, pat)

    return test


def _number(option: str, text: str) -> tuple[str, int]:
    """``+N``, ``-N`` or ``N`` as (comparison, N)."""
    sign = text[:1] if text[:1] in "+-" else ""
    digits = text[len(sign) :]
    if not digits.isdigit() or len(digits) > 18:
        raise FindSyntaxError(f"invalid argument '{text}' to '{option}'")
    return sign, whole_number(digits)


def _compare(sign: str, value: int, n: int) -> bool:
    return value > n if sign == "+" else value < n if sign == "-" else value == n


def _size(state: ShellState, text: str) -> Callable[[FindVisit], bool]:
    units = {"c": 1, "w": 2, "b": 512, "k": 1024, "M": 1024**2, "G": 1024**3}
    unit = units.get(text[-1:]) if text else None
    sign, n = _number("-size", text[:-1] if unit else text)
    scale = unit or 512
    return lambda v: _compare(sign, -(-display_size(v.st) // scale), n)


def _age(option: str, seconds: int) -> TestFactory:
    def factory(state: ShellState, text: str) -> Callable[[FindVisit], bool]:
        sign, n = _number(option, text)
        return lambda v: _compare(sign, int((state.world.now - v.st.mtime) // seconds), n)

    return factory


def _newer(state: ShellState, text: str) -> Callable[[FindVisit], bool]:
    try:
        reference = state.world.stat(locate(state, text)).mtime
    except FileSystemError as exc:
        raise FindSyntaxError(f"'{text}': {describe(exc)}") from exc
    return lambda v: v.st.mtime > reference


def _types(state: ShellState, text: str) -> Callable[[FindVisit], bool]:
    letters = text.split(",")
    if not text or any(len(t) != 1 or t not in "fdlbcpsD" for t in letters):
        raise FindSyntaxError(f"Unknown argument to -type: {text}")

    def kind(st: NodeStat) -> str:
        return "l" if st.is_symlink else "d" if st.is_dir else "f"

    return lambda v: kind(v.st) in letters


def _symbolic_mode(text: str) -> int | None:
    """The bits a symbolic mode (``u=rwx,g+w``) sets, starting from nothing; None if invalid."""
    bits = 0
    for clause in text.split(","):
        who = clause[: len(clause) - len(clause.lstrip("ugoa"))]
        rest = clause[len(who) :]
        if not rest or rest[0] not in "+-=" or any(c not in "rwxXst" for c in rest[1:]):
            return None
        targets = who.replace("a", "ugo") or "ugo"
        value = 0
        for perm in rest[1:]:
            for target in targets:
                shift = {"u": 6, "g": 3, "o": 0}[target]
                if perm in "rwxX":
                    value |= {"r": 4, "w": 2, "x": 1, "X": 1}[perm] << shift
                elif perm == "s" and target in "ug":
                    value |= 0o4000 if target == "u" else 0o2000
                elif perm == "t":
                    value |= 0o1000
        bits = bits & ~value if rest[0] == "-" else bits | value
    return bits


def _perm(state: ShellState, text: str) -> Callable[[FindVisit], bool]:
    kind = text[:1] if text[:1] in "-/" else ""
    body = text[len(kind) :]
    if body and all(c in "01234567" for c in body) and len(body) <= 5:
        mode: int | None = int(body, 8)
    else:
        mode = _symbolic_mode(body) if body else None
    if mode is None or mode > 0o7777:
        raise FindSyntaxError(f"invalid mode '{text}'")
    if kind == "-":
        return lambda v: v.st.mode & mode == mode
    if kind == "/":
        return lambda v: mode == 0 or bool(v.st.mode & mode)
    return lambda v: v.st.mode == mode


def _user(state: ShellState, text: str) -> Callable[[FindVisit], bool]:
    try:
        uid = state.world.users.user(text).uid
    except KeyError:
        if not text.isdigit():
            raise FindSyntaxError(f"'{text}' is not the name of a known user") from None
        uid = whole_number(text)
    return lambda v: v.st.uid == uid


def _group(state: ShellState, text: str) -> Callable[[FindVisit], bool]:
    try:
        gid = state.world.users.group(text).gid
    except KeyError:
        if not text.isdigit():
            raise FindSyntaxError(f"'{text}' is not the name of an existing group") from None
        gid = whole_number(text)
    return lambda v: v.st.gid == gid


def _numeric_field(option: str, read: Callable[[NodeStat], int]) -> TestFactory:
    def factory(state: ShellState, text: str) -> Callable[[FindVisit], bool]:
        sign, n = _number(option, text)
        return lambda v: _compare(sign, read(v.st), n)

    return factory


def _access(want: int) -> Callable[[FindVisit], bool]:
    return lambda v: v.state.world.can_access(v.state.user, v.path, want)


def _empty(v: FindVisit) -> bool:
    if v.st.is_symlink:
        return False
    if v.st.is_dir:
        return not v.state.world.list_dir(v.path)
    return v.st.size == 0


def _print(terminator: str) -> Callable[[FindVisit], bool]:
    def action(v: FindVisit) -> bool:
        v.out.write(v.shown + terminator)
        return True

    return action


def _prune(v: FindVisit) -> bool:
    v.pruned = True
    return True


_TESTS: dict[str, TestFactory] = {
    "-name": lambda s, t: _glob(t, fold=False, whole=False),
    "-iname": lambda s, t: _glob(t, fold=True, whole=False),
    "-path": lambda s, t: _glob(t, fold=False, whole=True),
    "-wholename": lambda s, t: _glob(t, fold=False, whole=True),
    "-ipath": lambda s, t: _glob(t, fold=True, whole=True),
    "-iwholename": lambda s, t: _glob(t, fold=True, whole=True),
    "-type": _types,
    "-perm": _perm,
    "-user": _user,
    "-group": _group,
    "-uid": _numeric_field("-uid", lambda st: st.uid),
    "-gid": _numeric_field("-gid", lambda st: st.gid),
    "-inum": _numeric_field("-inum", lambda st: st.inode),
    "-size": _size,
    "-mtime": _age("-mtime", 86400),
    "-mmin": _age("-mmin", 60),
    "-newer": _newer,
}
"""Tests taking one argument: a factory from the argument to the test."""

_FLAG_TESTS: dict[str, Callable[[FindVisit], bool]] = {
    "-empty": _empty,
    "-readable": _access(PERM_READ),
    "-writable": _access(PERM_WRITE),
    "-executable": _access(PERM_EXEC),
    "-true": lambda v: True,
    "-false": lambda v: False,
    "-nouser": lambda v: v.state.world.users.user_by_uid(v.st.uid) is None,
    "-nogroup": lambda v: v.state.world.users.group_by_gid(v.st.gid) is None,
    "-print": _print("\n"),
    "-print0": _print("\0"),
    "-prune": _prune,
}
"""Tests and actions without an argument."""


@command("find")
def find(state: ShellState, argv: list[str], stdin: str) -> CommandResult:
    """Search for files in a directory hierarchy (see the module docstring)."""
    args = argv[1:]
    while args and args[0] in ("-P", "-H", "-L", "--help"):
        if args[0] == "--help":
            return CommandResult(stdout=_USAGE)
        if args[0] != "-P":
            return CommandResult(stderr=f"find: {args[0]} is not supported in this sandbox\n", status=1)
        args = args[1:]
    if args[:1] == ["--"]:
        args = args[1:]
    paths, rest = _starting_points(args)
    try:
        expr = parse_expression(state, rest, _TESTS, _FLAG_TESTS)
    except FindSyntaxError as exc:
        return CommandResult(stderr=f"find: {exc}\n", status=1)
    out, err = CappedText(), CappedText()
    err.write(expr.warnings)
    status = 0
    for text in paths or ["."]:
        status = max(status, _walk(state, text, expr, out, err))
    return CommandResult(stdout=out.text(), stderr=err.text() + out.note("find"), status=status)
