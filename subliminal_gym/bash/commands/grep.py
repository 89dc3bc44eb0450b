"""``grep``: print lines matching a pattern (GNU grep's options, messages and exit statuses).

Options: ``-E -F -G -e PAT -f FILE -i -y -v -w -x -c -l -L -n -h -H -q -s -r -R -a -I -m NUM
-A NUM -B NUM -C NUM -NUM --include --exclude --exclude-dir --color``. Patterns are matched by
:class:`~subliminal_gym.bash.commands.line_matcher.LineMatcher` (linear time); a file over 1 MiB is
skipped with a message, as is everything after 16 MiB searched in one call.
Exit status: 0 a line was selected, 1 none, 2 an error (unless ``-q`` found a match).
"""

from __future__ import annotations

import fnmatch
import posixpath
from collections.abc import Iterator
from dataclasses import dataclass

from subliminal_gym.bash.budget import MAX_SEARCH_BYTES, BudgetExceeded
from subliminal_gym.bash.commands.argv import Options, OptionSpec, parse_options
from subliminal_gym.bash.commands.line_matcher import LineMatcher
from subliminal_gym.bash.commands.output import CappedText
from subliminal_gym.bash.commands.paths import describe, join_display, locate, read_file
from subliminal_gym.bash.commands.regex_syntax import PatternError
from subliminal_gym.bash.numbers import whole_number
from subliminal_gym.bash.state import CommandResult, ShellState, command
from subliminal_gym.core.world import PERM_EXEC, PERM_READ, FileSystemError

__all__ = ["grep"]

MAX_FILE_BYTES = 1024 * 1024
MAX_GLOB_LENGTH = 1000
STDIN_NAME = "(standard input)"
_USAGE = (
    "Usage: grep [OPTION]... PATTERNS [FILE]...\n"
    "Search for PATTERNS in each FILE.\n"
    "Options: -E -F -G -e -f -i -v -w -x -c -l -L -n -h -H -q -s -r -R -a -I -m -A -B -C\n"
)
_SHORT_USAGE = "Usage: grep [OPTION]... PATTERNS [FILE]...\nTry 'grep --help' for more information.\n"
_SPEC = OptionSpec(
    flags="EFGiyvwxclLnhHqsrRaIUZ",
    valued="efmABC",
    long_flags={
        "extended-regexp": "E",
        "fixed-strings": "F",
        "basic-regexp": "G",
        "ignore-case": "i",
        "invert-match": "v",
        "word-regexp": "w",
        "line-regexp": "x",
        "count": "c",
        "files-with-matches": "l",
        "files-without-match": "L",
        "line-number": "n",
        "no-filename": "h",
        "with-filename": "H",
        "quiet": "q",
        "silent": "q",
        "no-messages": "s",
        "recursive": "r",
        "dereference-recursive": "R",
        "text": "a",
        "only-matching": "o",
    },
    long_valued={
        "regexp": "e",
        "file": "f",
        "max-count": "m",
        "after-context": "A",
        "before-context": "B",
        "context": "C",
        "include": "include",
        "exclude": "exclude",
        "exclude-dir": "exclude-dir",
        "color": "color",
        "colour": "color",
    },
    numeric="C",
    usage_status=2,
    usage=_USAGE,
)


@dataclass
class _Search:
    """One grep run: options, matcher and what has been printed so far."""

    state: ShellState
    opts: Options
    matcher: LineMatcher
    with_names: bool
    out: CappedText
    err: CappedText
    before: int
    after: int
    max_count: int | None
    selected_any: bool = False
    error: bool = False
    printed_group: bool = False

    def complain(self, message: str) -> None:
        self.error = True
        if not self.opts.has("s"):
            self.err.write(f"grep: {message}\n")

    def search_text(self, name: str, text: str, binary: bool) -> None:
        """Select and print the lines of one input."""
        opts, out = self.opts, self.out
        lines = text.split("\n")
        if lines and lines[-1] == "":
            lines.pop()
        invert = opts.has("v")
        selected: list[int] = []
        for number, line in enumerate(lines):
            if self.max_count is not None and len(selected) >= self.max_count:
                break
            if self.matcher.matches(line) != invert:
                selected.append(number)
        if binary and opts.has("I"):
            selected = []
        # success: a line was selected (with -L, GNU >= 3.5: a file was listed)
        self.selected_any = self.selected_any or (not selected if opts.has("L") else bool(selected))
        prefix = f"{name}:" if self.with_names else ""
        if opts.has("q"):
            return
        if opts.has("l") or opts.has("L"):
            if bool(selected) == opts.has("l"):
                out.write(name + "\n")
            return
        if opts.has("c"):
            out.write(f"{prefix}{len(selected)}\n")
            return
        if not selected:
            return
        if binary and not opts.has("a"):
            self.err.write(f"grep: {name}: binary file matches\n")
            return
        self._print_lines(name, lines, selected)

    def _print_lines(self, name: str, lines: list[str], selected: list[int]) -> None:
        numbered = self.opts.has("n")
        wanted: dict[int, str] = {}
        for number in selected:
            for context in range(max(0, number - self.before), min(len(lines), number + self.after + 1)):
                wanted.setdefault(context, "-")
            wanted[number] = ":"
        last = None
        for number in sorted(wanted):
            if self.out.full:
                return
            if (self.before or self.after) and (last is None or number != last + 1) and self.printed_group:
                self.out.write("--\n")
            self.printed_group = True
            last = number
            sep = wanted[number]
            head = (f"{name}{sep}" if self.with_names else "") + (f"{number + 1}{sep}" if numbered else "")
            self.out.write(f"{head}{lines[number]}\n")

    def search_file(self, shown: str, path: str) -> None:
        """Search one file of the world, reporting why it cannot be searched."""
        name = posixpath.basename(shown.rstrip("/"))
        if self.opts.values("include") and not any(fnmatch.fnmatchcase(name, g) for g in self.opts.values("include")):
            return
        if any(fnmatch.fnmatchcase(name, g) for g in self.opts.values("exclude")):
            return
        world = self.state.world
        if not world.can_access(self.state.user, path, PERM_READ):
            self.complain(f"{shown}: Permission denied")
            return
        size = world.stat(path).size
        if size > MAX_FILE_BYTES:
            self.complain(f"{shown}: file too large to search in this sandbox (over 1 MiB); skipped")
            return
        if not self.state.matcher_budget.take_search_bytes(size):
            self.complain(f"{shown}: skipped: this command line already searched "
                          f"{MAX_SEARCH_BYTES // 2**20} MiB (sandbox limit)")
            return
        data = world.read_bytes(path)
        self.search_text(shown, data.decode("utf-8", errors="replace"), b"\0" in data)


def _walk_files(search: _Search, shown: str, path: str) -> Iterator[tuple[str, str]]:
    """Files under a directory as (shown, path), depth first in name order (as ``find`` lists them);
    symlinks are skipped, or followed with ``-R`` (a directory at most once)."""
    world, user = search.state.world, search.state.user
    follow = search.opts.has("R")
    excluded_dirs = search.opts.values("exclude-dir")
    seen: set[str] = set()
    stack = [(shown, path, True)]
    while stack and not search.out.full:
        here_shown, here, is_dir = stack.pop()
        if not is_dir:
            yield here_shown, here
            continue
        if here in seen:
            search.err.write(f"grep: warning: {here_shown}: recursive directory loop\n")
            continue
        seen.add(here)
        if not world.can_access(user, here, PERM_READ | PERM_EXEC):
            search.complain(f"{here_shown}: Permission denied")
            continue
        children: list[tuple[str, str, bool]] = []
        for name, child_is_dir, _ in world.list_dir(here):
            child_shown, child = join_display(here_shown, name), join_display(here, name)
            if world.is_symlink(child):
                if not follow:
                    continue
                try:
                    child = world.resolve(child)
                except FileSystemError as exc:
                    search.complain(f"{child_shown}: {describe(exc)}")
                    continue
                if world.node(child) is None:
                    search.complain(f"{child_shown}: No such file or directory")
                    continue
                child_is_dir = world.is_dir(child)
            if child_is_dir and any(fnmatch.fnmatchcase(name, g) for g in excluded_dirs):
                continue
            children.append((child_shown, child, child_is_dir))
        stack.extend(reversed(children))


def _patterns(state: ShellState, opts: Options, stdin: str) -> list[str] | CommandResult:
    patterns: list[str] = []
    for text in opts.values("e"):
        patterns.extend(text.split("\n"))
    for source in opts.values("f"):
        try:
            text = stdin if source == "-" else read_file(state, source).decode("utf-8", errors="replace")
        except FileSystemError as exc:
            return CommandResult(stderr=f"grep: {source}: {describe(exc)}\n", status=2)
        patterns.extend(text.split("\n")[:-1] if text.endswith("\n") else text.split("\n") if text else [])
    if not opts.values("e") and not opts.values("f"):
        if not opts.operands:
            return CommandResult(stderr=_SHORT_USAGE, status=2)
        patterns.extend(opts.operands.pop(0).split("\n"))
    return patterns


def _count(text: str | None, option: str) -> int | CommandResult:
    if text is None:
        return 0
    if not text.isascii() or not text.isdigit():
        return CommandResult(stderr=f"grep: {text}: invalid {option} length argument\n", status=2)
    return min(whole_number(text), 1_000_000)


@command("grep")
def grep(state: ShellState, argv: list[str], stdin: str) -> CommandResult:
    """Print lines that match patterns (see the module docstring)."""
    opts = parse_options("grep", argv, _SPEC)
    if isinstance(opts, CommandResult):
        return opts
    if opts.has("o"):
        return CommandResult(stderr="grep: -o is not supported in this sandbox\n", status=2)
    globs = opts.values("include") + opts.values("exclude") + opts.values("exclude-dir")
    if any(len(glob) > MAX_GLOB_LENGTH for glob in globs):
        return CommandResult(stderr=f"grep: file name pattern too long (sandbox limit: {MAX_GLOB_LENGTH})\n", status=2)
    patterns = _patterns(state, opts, stdin)
    if isinstance(patterns, CommandResult):
        return patterns
    syntax = opts.last_of("E", "F", "G")
    try:
        matcher = LineMatcher(
            patterns,
            extended=syntax == "E",
            fixed=syntax == "F",
            ignore_case=opts.has("i", "y"),
            whole_word=opts.has("w"),
            whole_line=opts.has("x"),
            budget=state.matcher_budget,
        )
    except PatternError as exc:
        return CommandResult(stderr=f"grep: {exc}\n", status=2)
    context: dict[str, int] = {}
    for key in "ABC":
        value = _count(opts.value(key), "context")
        if isinstance(value, CommandResult):
            return value
        context[key] = value
    max_text = opts.value("m")
    if max_text is not None and not (max_text.isascii() and max_text.lstrip("-").isdigit()):
        return CommandResult(stderr="grep: invalid max count\n", status=2)
    recursive = opts.has("r", "R")
    operands = opts.operands or (["."] if recursive else ["-"])
    search = _Search(
        state,
        opts,
        matcher,
        False,
        CappedText(),
        CappedText(),
        before=context["B"] if opts.has("B") else context["C"],
        after=context["A"] if opts.has("A") else context["C"],
        max_count=None if max_text is None or max_text.startswith("-") else whole_number(max_text),
    )
    try:
        _search_operands(search, state, opts, operands, recursive, stdin)
    except BudgetExceeded as exc:
        search.error = True
        search.err.write(f"grep: {exc}\n")
    status = 0 if search.selected_any else 1
    if search.error and not (opts.has("q") and search.selected_any):
        status = 2
    return CommandResult(stdout=search.out.text(), stderr=search.err.text() + search.out.note("grep"), status=status)


def _search_operands(search: _Search, state: ShellState, opts: Options, operands: list[str], recursive: bool,
                     stdin: str) -> None:
    names = opts.last_of("h", "H")
    implicit_dot = not opts.operands and recursive
    for text in operands:
        if search.out.full or (opts.has("q") and search.selected_any):
            break
        search.with_names = names == "H" or (names is None and len(operands) > 1)
        if text == "-":
            search.search_text(STDIN_NAME, stdin, "\0" in stdin)
            continue
        try:
            path = locate(state, text)
        except FileSystemError as exc:
            search.complain(f"{text}: {describe(exc)}")
            continue
        if not state.world.is_dir(path):
            search.search_file(text, path)
        elif not recursive:
            search.complain(f"{text}: Is a directory")
        else:
            search.with_names = names != "h"
            for shown, file_path in _walk_files(search, "." if implicit_dot else text, path):
                if opts.has("q") and search.selected_any:
                    break
                search.search_file(shown[2:] if implicit_dot else shown, file_path)
