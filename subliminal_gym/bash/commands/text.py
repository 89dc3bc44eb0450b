"""Text readers: ``cat``, ``head``, ``tail`` and ``wc`` (files or standard input, GNU formats).

``cat [-nbEsT]``, ``head``/``tail`` ``[-n [+-]N | -N | -c [+-]N] [-q | -v]`` with ``==> f <==``
headers for several files, ``wc [-lwmc]`` with GNU's column widths and a ``total`` line.
Files are read through :func:`~subliminal_gym.bash.commands.paths.read_file` (search and read
permission checked); output is capped.
"""

from __future__ import annotations

import errno
from collections.abc import Iterator

from subliminal_gym.bash.commands.argv import OptionSpec, parse_options
from subliminal_gym.bash.commands.display import quote, quote_if_needed
from subliminal_gym.bash.commands.output import CappedText
from subliminal_gym.bash.commands.paths import describe, locate, read_file
from subliminal_gym.bash.numbers import whole_number
from subliminal_gym.bash.state import CommandResult, ShellState, command
from subliminal_gym.core.world import FileSystemError

__all__ = ["cat", "head", "tail", "wc"]

_CAT_SPEC = OptionSpec(
    flags="nbEsTuA",
    long_flags={
        "number": "n",
        "number-nonblank": "b",
        "show-ends": "E",
        "squeeze-blank": "s",
        "show-tabs": "T",
        "show-all": "A",
    },
    usage="Usage: cat [OPTION]... [FILE]...\nConcatenate FILE(s) to standard output.\n",
)
_HEAD_TAIL_LONG = {"lines": "n", "bytes": "c"}
_HEAD_SPEC = OptionSpec(
    flags="qv",
    valued="nc",
    long_flags={"quiet": "q", "silent": "q", "verbose": "v"},
    long_valued=_HEAD_TAIL_LONG,
    numeric="n",
    usage="Usage: head [OPTION]... [FILE]...\nPrint the first 10 lines of each FILE to standard output.\n",
)
_TAIL_SPEC = OptionSpec(
    flags="qvfF",
    valued="nc",
    long_flags={"quiet": "q", "silent": "q", "verbose": "v", "follow": "f"},
    long_valued=_HEAD_TAIL_LONG,
    numeric="n",
    usage="Usage: tail [OPTION]... [FILE]...\nPrint the last 10 lines of each FILE to standard output.\n",
)
_WC_SPEC = OptionSpec(
    flags="lwcm",
    long_flags={"lines": "l", "words": "w", "bytes": "c", "chars": "m"},
    usage="Usage: wc [OPTION]... [FILE]...\nPrint newline, word, and byte counts for each FILE.\n",
)


def _split_lines(data: bytes) -> list[bytes]:
    """Lines with their ``\\n`` kept (only ``\\n`` ends a line, unlike ``bytes.splitlines``)."""
    parts = data.split(b"\n")
    lines = [part + b"\n" for part in parts[:-1]]
    if parts[-1]:
        lines.append(parts[-1])
    return lines


def _decode(data: bytes) -> str:
    return data.decode("utf-8", errors="replace")


def _inputs(state: ShellState, operands: list[str], stdin: str) -> Iterator[tuple[str, bytes | FileSystemError]]:
    """Each operand with its contents or the error reading it (``-`` is standard input)."""
    for text in operands or ["-"]:
        if text == "-":
            yield text, stdin.encode("utf-8", errors="replace")
            continue
        try:
            yield text, read_file(state, text)
        except FileSystemError as exc:
            yield text, exc


@command("cat")
def cat(state: ShellState, argv: list[str], stdin: str) -> CommandResult:
    """Concatenate files (or standard input) to standard output."""
    opts = parse_options("cat", argv, _CAT_SPEC)
    if isinstance(opts, CommandResult):
        return opts
    number_all, number_nonblank = opts.has("n"), opts.has("b")
    show_ends, show_tabs = opts.has("E", "A"), opts.has("T", "A")
    out, err = CappedText(), CappedText()
    status, line_number, previous_blank = 0, 0, False
    for name, data in _inputs(state, opts.operands, stdin):
        if out.full:
            break
        if isinstance(data, FileSystemError):
            err.write(f"cat: {quote_if_needed(name)}: {describe(data)}\n")
            status = 1
            continue
        if not (number_all or number_nonblank or show_ends or show_tabs or opts.has("s")):
            out.write(_decode(data[: out.limit * 4]))
            continue
        for raw in _split_lines(data):
            if out.full:
                break
            line = _decode(raw)
            blank = line == "\n"
            if opts.has("s") and blank and previous_blank:
                continue
            previous_blank = blank
            body, newline = (line[:-1], "\n") if line.endswith("\n") else (line, "")
            if show_tabs:
                body = body.replace("\t", "^I")
            if show_ends and newline:
                body += "$"
            if number_nonblank and not blank or number_all and not number_nonblank:
                line_number += 1
                body = f"{line_number:>6}\t{body}"
            out.write(body + newline)
    return CommandResult(stdout=out.text(), stderr=err.text() + out.note("cat"), status=status)


def _count_arg(name: str, opts_value: str | None, unit: str) -> tuple[str, int] | CommandResult:
    """``[+-]N`` as (sign, N); default 10 lines."""
    text = "10" if opts_value is None else opts_value
    sign = text[:1] if text[:1] in "+-" else ""
    digits = text[len(sign) :]
    if not (digits.isascii() and digits.isdigit()) or len(digits) > 18:
        return CommandResult(stderr=f"{name}: invalid number of {unit}: {quote(text)}\n", status=1)
    return sign, whole_number(digits)


def _head_or_tail(name: str, state: ShellState, argv: list[str], stdin: str) -> CommandResult:
    opts = parse_options(name, argv, _HEAD_SPEC if name == "head" else _TAIL_SPEC)
    if isinstance(opts, CommandResult):
        return opts
    if opts.has("f", "F"):
        return CommandResult(stderr=f"{name}: following files (-f) is not supported in this sandbox\n", status=1)
    by_bytes = opts.last_of("n", "c") == "c"
    count = _count_arg(name, opts.value("c" if by_bytes else "n"), "bytes" if by_bytes else "lines")
    if isinstance(count, CommandResult):
        return count
    sign, n = count
    operands = opts.operands or ["-"]
    headers = opts.has("v") or (len(operands) > 1 and not opts.has("q"))
    out, err = CappedText(), CappedText()
    status, first = 0, True
    for text, data in _inputs(state, operands, stdin):
        if out.full:
            break
        if isinstance(data, FileSystemError):
            if data.errno == errno.EISDIR:  # open succeeds, read fails
                err.write(f"{name}: error reading {quote(text)}: Is a directory\n")
            else:
                err.write(f"{name}: cannot open {quote(text)} for reading: {describe(data)}\n")
            status = 1
            continue
        if headers:
            out.write(("" if first else "\n") + f"==> {'standard input' if text == '-' else text} <==\n")
        first = False
        units: list[bytes] | bytes = data if by_bytes else _split_lines(data)
        if name == "head":
            chosen = units[: len(units) - n] if sign == "-" else units[:n]
        elif sign == "+":
            chosen = units[max(n - 1, 0) :]
        else:
            chosen = units[len(units) - n :] if n else units[:0]
        chosen_bytes = chosen if isinstance(chosen, bytes) else b"".join(chosen)
        out.write(_decode(chosen_bytes[-out.limit * 4 :] if name == "tail" else chosen_bytes[: out.limit * 4]))
    return CommandResult(stdout=out.text(), stderr=err.text() + out.note(name), status=status)


@command("head")
def head(state: ShellState, argv: list[str], stdin: str) -> CommandResult:
    """Output the first part of files (``-n N``, ``-N``, ``-n -N``, ``-c N``)."""
    return _head_or_tail("head", state, argv, stdin)


@command("tail")
def tail(state: ShellState, argv: list[str], stdin: str) -> CommandResult:
    """Output the last part of files (``-n N``, ``-N``, ``-n +N``, ``-c N``)."""
    return _head_or_tail("tail", state, argv, stdin)


def _counts(data: bytes) -> dict[str, int]:
    return {"l": data.count(b"\n"), "w": len(data.split()), "m": len(_decode(data)), "c": len(data)}


@command("wc")
def wc(state: ShellState, argv: list[str], stdin: str) -> CommandResult:
    """Print newline, word, character and byte counts (``-l -w -m -c``; default ``-lwc``)."""
    opts = parse_options("wc", argv, _WC_SPEC)
    if isinstance(opts, CommandResult):
        return opts
    shown = [key for key in "lwmc" if opts.has(key)] or ["l", "w", "c"]
    operands = opts.operands
    rows: list[tuple[dict[str, int], str | None]] = []
    err = CappedText()
    status = 0
    # GNU sizes the columns from the total size of the regular files (at least 7 wide when a pipe
    # or directory is counted; 1 when the first operand cannot be found), and prints one count of
    # one input unpadded.
    minimum, regular_total, first_missing = 1, 0, False
    for index, text in enumerate(operands or ["-"]):
        if text == "-":
            minimum = 7
            continue
        try:
            st = state.world.stat(locate(state, text))
        except FileSystemError:
            first_missing = first_missing or index == 0
            continue
        if st.is_dir:
            minimum = 7
        else:
            regular_total += st.size
    width = 1 if first_missing else max(len(str(regular_total)), minimum)
    if len(shown) == 1 and len(operands) <= 1:
        width = 1
    for text, data in _inputs(state, operands, stdin):
        label = text if operands else None
        if isinstance(data, FileSystemError):
            err.write(f"wc: {quote_if_needed(text)}: {describe(data)}\n")
            status = 1
            if data.errno == errno.EISDIR:  # GNU still prints a line of zeros
                rows.append(({key: 0 for key in "lwmc"}, label))
            continue
        rows.append((_counts(data), label))
    if len(operands) > 1:
        rows.append(({key: sum(row[key] for row, _ in rows) for key in "lwmc"}, "total"))
    lines = []
    for values, label in rows:
        fields = " ".join(f"{values[key]:>{width}}" for key in shown)
        lines.append(fields + (f" {label}" if label is not None else "") + "\n")
    return CommandResult(stdout="".join(lines), stderr=err.text(), status=status)
