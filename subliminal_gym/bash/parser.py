"""Parse one bash command line into lists, pipelines and simple commands.

The grammar is the part of bash an agent needs to work with files::

    line      := pipeline ((';' | '&&' | '||' | newline) pipeline)* [';']
    pipeline  := ['!'] command (('|' | '|&') command)*
    command   := (word | redirection)+
    redirection := [0|1|2] ('>' | '>>' | '<' | '>|') word | [1|2] '>&' (0|1|2|word) | ('&>' | '&>>') word

``&&`` and ``||`` bind left to right with equal precedence, as in bash. Words keep their quoting
(:class:`Literal` parts with ``quoted`` set, :class:`Variable` parts), so the shell expands ``~``,
variables and globs only where bash would. The only variables are ``$HOME``, ``$USER``, ``$PWD``
and ``$?`` (also written ``${HOME}`` ...); their values come from the shell's state at run time.

Everything else bash could parse but this sandbox does not run (command and process
substitution, arithmetic, subshells, brace groups and expansion, compound commands, functions,
here-documents, background jobs, assignments, other variables, descriptors above 2) is refused
with a :class:`ParseError` whose message says so; malformed input gets bash's own syntax errors.
Either way the status is 2 and nothing on the line runs: the whole line is parsed first.

The tokenizer is hand-written on shlex's POSIX rules rather than :class:`shlex.shlex`: shlex drops
the quotes and so cannot tell ``"*.txt"`` from ``*.txt`` or ``'$HOME'`` from ``$HOME``, which is
exactly what expansion needs. It is a single loop, and the parser pulls tokens from it lazily, so
errors come out in the order bash reports them and no input can recurse.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass

from subliminal_gym.bash.numbers import whole_number

__all__ = [
    "MAX_COMMANDS",
    "MAX_LINE_LENGTH",
    "SUPPORTED_VARIABLES",
    "AndOrItem",
    "CommandLine",
    "Literal",
    "ParseError",
    "Pipeline",
    "Redirection",
    "SimpleCommand",
    "Variable",
    "Word",
    "WordPart",
    "parse",
]

MAX_LINE_LENGTH = 16384
#: Simple commands one line may hold. Parsing costs about 2-5 us a character, so 8,000 commands of
#: ``x;`` took 84 ms to parse alone; no scripted expert's line holds more than a few.
MAX_COMMANDS = 1000
SUPPORTED_VARIABLES = ("HOME", "USER", "PWD", "?")

_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
# a run of characters that mean nothing special unquoted (blanks, metacharacters, quotes, escapes
# and expansions end it; '#' starts a comment only at the start of a word, checked before this)
_PLAIN_RUN = re.compile(r"[^ \t\n\\'\"$`|&;<>()]+")
_ASSIGNMENT = re.compile(r"[A-Za-z_][A-Za-z0-9_]*(\[[^\]]*\])?\+?=")
# Longest first: the tokenizer takes the first operator that the input starts with.
_OPERATORS = (
    "<<<", "<<-", "&>>", ";;&",
    "&&", "||", ";;", ";&", "|&", "&>", ">>", ">&", ">|", "<<", "<>", "<&", "<(", ">(",
    ">", "<", "|", "&", ";", "(", ")",
)  # fmt: skip
_REDIRECTIONS = frozenset({">", ">>", ">|", "<", ">&", "&>", "&>>"})
_OPENING_KEYWORDS = frozenset({"if", "case", "for", "select", "while", "until", "function", "[[", "coproc", "time"})
_CLOSING_KEYWORDS = frozenset({"then", "elif", "else", "fi", "esac", "do", "done", "]]", "}", "in"})


class ParseError(Exception):
    """A line the shell refuses to run, with bash's message and exit status.

    Args:
        message: what bash prints, without the trailing newline.
        status: the exit status (2 for syntax errors and unsupported features).
    """

    def __init__(self, message: str, status: int = 2) -> None:
        super().__init__(message)
        self.message = message
        self.status = status


def _unsupported(feature: str) -> ParseError:
    return ParseError(f"bash: {feature} not supported in this sandbox")


def _near(token: str) -> ParseError:
    return ParseError(f"bash: syntax error near unexpected token `{token}'")


def _end_of_file() -> ParseError:
    return ParseError("bash: syntax error: unexpected end of file")


def _eof_looking_for(closer: str) -> ParseError:
    return ParseError(f"bash: unexpected EOF while looking for matching `{closer}'\n" + _end_of_file().message)


def _shorten(text: str, limit: int = 40) -> str:
    return text if len(text) <= limit else text[:limit] + "..."


# -- the tree ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Literal:
    """Text of a word; ``quoted`` text (in quotes or after a backslash) is never expanded."""

    text: str
    quoted: bool


@dataclass(frozen=True)
class Variable:
    """``$NAME`` or ``${NAME}`` (one of :data:`SUPPORTED_VARIABLES`); ``quoted`` inside ``"..."``."""

    name: str
    quoted: bool


WordPart = Literal | Variable


@dataclass(frozen=True)
class Word:
    """One shell word as typed: its literal and variable parts, each with its quoting."""

    parts: tuple[WordPart, ...]

    @property
    def unquoted_literal(self) -> str | None:
        """The text when the word is one unquoted literal (how keywords are recognised), else None."""
        if len(self.parts) == 1 and isinstance(self.parts[0], Literal) and not self.parts[0].quoted:
            return self.parts[0].text
        return None

    def __str__(self) -> str:
        # Quotes removed, variables shown as written: for messages before expansion.
        return "".join(p.text if isinstance(p, Literal) else f"${p.name}" for p in self.parts)


@dataclass(frozen=True)
class Redirection:
    """``fd op target``: ``op`` is ``>``, ``>>``, ``<`` or ``>&``.

    ``>&`` with ``dup_fd`` set duplicates (``2>&1``: fd 2 goes where fd 1 goes now); ``&>`` and
    ``&>>`` are kept as their own ops (both stdout and stderr to ``target``).
    """

    fd: int
    op: str
    target: Word | None = None
    dup_fd: int | None = None


@dataclass(frozen=True)
class SimpleCommand:
    """Words (``words[0]`` names the command) and redirections, each in the order typed."""

    words: tuple[Word, ...]
    redirections: tuple[Redirection, ...]


@dataclass(frozen=True)
class Pipeline:
    """Commands joined by ``|``; ``negated`` by a leading ``!``."""

    commands: tuple[SimpleCommand, ...]
    negated: bool = False


@dataclass(frozen=True)
class AndOrItem:
    """A pipeline and how it joins the one before: ``;`` (always runs), ``&&`` or ``||``."""

    connector: str
    pipeline: Pipeline


@dataclass(frozen=True)
class CommandLine:
    """A whole parsed line: its pipelines in order (empty for a blank line or a comment)."""

    items: tuple[AndOrItem, ...]


# -- tokens -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Op:
    text: str  # an operator, or "\n"


@dataclass(frozen=True)
class _Redir:
    fd: int | None
    op: str


_Token = Word | _Op | _Redir
_NEWLINE = _Op("\n")  # the one newline token (compared by identity)


class _WordBuilder:
    """Collects the parts of the word being read, merging neighbours of the same kind."""

    def __init__(self) -> None:
        self.parts: list[WordPart] = []
        self.started = False
        self.after_redirection = False
        """The word being read is a redirection's target (``1`` in ``2>&1>f``), never a descriptor."""

    def add(self, text: str, quoted: bool) -> None:
        self.started = True
        last = self.parts[-1] if self.parts else None
        if isinstance(last, Literal) and last.quoted == quoted:
            self.parts[-1] = Literal(last.text + text, quoted)
        else:
            self.parts.append(Literal(text, quoted))

    def add_variable(self, name: str, quoted: bool) -> None:
        self.started = True
        self.parts.append(Variable(name, quoted))

    def fd_prefix(self) -> str | None:
        """The digits when the word so far is only unquoted digits (``2`` in ``2>``)."""
        text = Word(tuple(self.parts)).unquoted_literal
        if self.after_redirection or not (text and text.isascii() and text.isdigit()):
            return None
        return text

    def take(self) -> Word | None:
        if not self.started:
            return None
        word = Word(tuple(self.parts))
        self.parts, self.started, self.after_redirection = [], False, False
        _check_brace_expansion(word)
        return word


def _check_brace_expansion(word: Word) -> None:
    # bash expands unquoted {a,b} and {1..3}; refuse rather than pass the braces on literally.
    if not any(isinstance(part, Literal) and not part.quoted and "{" in part.text for part in word.parts):
        return
    depth, marked = 0, [False]
    previous = ""
    for part in word.parts:
        if not isinstance(part, Literal) or part.quoted:
            previous = ""
            continue
        for ch in part.text:
            if ch == "{":
                depth += 1
                marked.append(False)
            elif ch == "}" and depth:
                depth -= 1
                if marked.pop():
                    raise _unsupported("brace expansion ({a,b} and {1..3}) is")
            elif depth and (ch == "," or (ch == "." and previous == ".")):
                marked[-1] = True
            previous = ch


def _tokens(line: str) -> Iterator[_Token]:
    """The tokens of ``line``, lazily; raises ParseError at the first thing bash would refuse."""
    n = len(line)
    word = _WordBuilder()
    i = 0
    while i < n:
        ch = line[i]
        if ch in " \t":
            if (done := word.take()) is not None:
                yield done
            i += 1
        elif ch == "\n":
            if (done := word.take()) is not None:
                yield done
            yield _NEWLINE
            i += 1
        elif ch == "#" and not word.started:
            end = line.find("\n", i)
            i = n if end < 0 else end
        elif ch == "\\":
            if i + 1 >= n:
                word.add("\\", True)  # bash -c keeps a trailing backslash
                i += 1
            elif line[i + 1] == "\n":
                i += 2  # line continuation
            else:
                word.add(line[i + 1], True)
                i += 2
        elif ch == "'":
            end = line.find("'", i + 1)
            if end < 0:
                raise _eof_looking_for("'")
            word.add(line[i + 1 : end], True)
            i = end + 1
        elif ch == '"':
            i = _double_quoted(line, i, word)
        elif ch == "$":
            i = _dollar(line, i, word, quoted=False)
        elif ch == "`":
            raise _unsupported("command substitution (`...`) is")
        elif ch in "|&;<>()":
            op = next(o for o in _OPERATORS if line.startswith(o, i))
            fd = word.fd_prefix() if op[0] in "<>" else None
            if fd is not None:
                word = _WordBuilder()  # the digits were a descriptor, not a word
            elif (done := word.take()) is not None:
                yield done
            i += len(op)
            token = _operator(op, fd)
            word.after_redirection = isinstance(token, _Redir)
            yield token
        else:
            end = _PLAIN_RUN.match(line, i).end()  # type: ignore[union-attr]  # ch itself is plain
            word.add(line[i:end], False)
            i = end
    if (done := word.take()) is not None:
        yield done


def _operator(op: str, fd_text: str | None) -> _Token:
    if op in ("<(", ">("):
        raise _unsupported("process substitution <(...) and >(...) is")
    if op in ("<<", "<<-", "<<<"):
        raise _unsupported("here-documents (<<) and here-strings (<<<) are")
    if op in ("<>", "<&"):
        raise _unsupported(f"the redirection `{op}' is")
    if op not in _REDIRECTIONS:
        return _Op(op)
    fd = None
    if fd_text is not None:
        if fd_text not in ("0", "1", "2"):
            raise ParseError(
                f"bash: {_shorten(fd_text)}{op}: descriptors other than 0, 1 and 2 are not supported in this sandbox"
            )
        fd = whole_number(fd_text)
        allowed = (0,) if op == "<" else (1, 2)
        if fd not in allowed:
            raise _unsupported(f"the redirection `{fd}{op}' is")
    return _Redir(fd, op)


def _double_quoted(line: str, i: int, word: _WordBuilder) -> int:
    """Read ``"..."`` starting at ``line[i] == '"'``; returns the index after the closing quote."""
    n = len(line)
    word.add("", True)  # "" is an empty argument, not nothing
    i += 1
    while True:
        if i >= n:
            raise _eof_looking_for('"')
        ch = line[i]
        if ch == '"':
            return i + 1
        if ch == "\\" and i + 1 < n and line[i + 1] in '$`"\\\n':
            if line[i + 1] != "\n":
                word.add(line[i + 1], True)
            i += 2
        elif ch == "$":
            i = _dollar(line, i, word, quoted=True)
        elif ch == "`":
            raise _unsupported("command substitution (`...`) is")
        else:
            word.add(ch, True)
            i += 1


def _dollar(line: str, i: int, word: _WordBuilder, *, quoted: bool) -> int:
    """Read what follows ``$`` at ``line[i]``; returns the index after it."""
    nxt = line[i + 1] if i + 1 < len(line) else ""
    if nxt == "(":
        if line.startswith("((", i + 1):
            raise _unsupported("arithmetic expansion $((...)) is")
        raise _unsupported("command substitution $(...) is")
    if nxt == "[":
        raise _unsupported("arithmetic expansion $[...] is")
    if nxt == "{":
        end = line.find("}", i + 2)
        if end < 0:
            raise _eof_looking_for("}")
        name = line[i + 2 : end]
        if name in SUPPORTED_VARIABLES:
            word.add_variable(name, quoted)
            return end + 1
        if not name or "$" in name or "{" in name:
            raise ParseError(f"bash: ${{{_shorten(name)}}}: bad substitution", status=1)
        if _NAME.fullmatch(name) or name in "!@#$*-0123456789" or name.isdigit():
            raise _unsupported_variable(name)
        raise _unsupported(f"parameter expansion ${{{_shorten(name)}}} is")
    if nxt == "'" and not quoted:
        raise _unsupported("ANSI-C quoting $'...' is")
    if nxt == '"' and not quoted:
        return i + 1  # $"..." is a translatable string: in the C locale, just "..."
    if nxt == "?":
        word.add_variable("?", quoted)
        return i + 2
    if nxt and nxt in "!@#$*-0123456789":
        raise _unsupported_variable(nxt)
    match = _NAME.match(line, i + 1)
    if match is None:
        word.add("$", quoted)  # a lone $ is literal, as in bash
        return i + 1
    name = match.group()
    if name not in SUPPORTED_VARIABLES:
        raise _unsupported_variable(name)
    word.add_variable(name, quoted)
    return match.end()


def _unsupported_variable(name: str) -> ParseError:
    return ParseError(
        f"bash: ${_shorten(name)}: variables other than $HOME, $USER, $PWD and $? are not supported in this sandbox"
    )


# -- the parser -------------------------------------------------------------------------------


class _TokenStream:
    def __init__(self, line: str) -> None:
        self._tokens = _tokens(line)
        self._peeked: list[_Token | None] = []
        self.commands = 0
        """Simple commands begun so far (bounded by :data:`MAX_COMMANDS`)."""

    def begin_command(self) -> None:
        """Count one more simple command; checked as the line is read, so the rest is never parsed.

        Raises:
            ParseError: the line holds more than :data:`MAX_COMMANDS`.
        """
        self.commands += 1
        if self.commands > MAX_COMMANDS:
            raise ParseError(f"bash: command line too long (over {MAX_COMMANDS} commands; the limit is "
                             f"{MAX_COMMANDS})")

    def peek(self) -> _Token | None:
        if not self._peeked:
            self._peeked.append(next(self._tokens, None))
        return self._peeked[0]

    def pop(self) -> _Token | None:
        token = self.peek()
        self._peeked.clear()
        return token

    def skip_newlines(self) -> None:
        while self.peek() is _NEWLINE:
            self.pop()


def _token_text(token: _Token | None) -> str:
    if token is None or token is _NEWLINE:
        return "newline"
    if isinstance(token, _Op):
        return token.text
    if isinstance(token, _Redir):
        return ("" if token.fd is None else str(token.fd)) + token.op
    return str(token)


def parse(line: str) -> CommandLine:
    """Parse ``line`` (one or more commands; newlines separate like ``;``).

    Raises:
        ParseError: a syntax error, an unsupported feature, a line over :data:`MAX_LINE_LENGTH`
            characters or :data:`MAX_COMMANDS` simple commands, or a line with a NUL byte.
    """
    if len(line) > MAX_LINE_LENGTH:
        raise ParseError(f"bash: command line too long ({len(line)} characters; the limit is {MAX_LINE_LENGTH})")
    if "\x00" in line:
        raise ParseError("bash: the command line contains a NUL byte")
    stream = _TokenStream(line)
    items: list[AndOrItem] = []
    connector = ";"
    while True:
        if connector == ";":
            stream.skip_newlines()
            if stream.peek() is None:
                return CommandLine(tuple(items))
        items.append(AndOrItem(connector, _parse_pipeline(stream)))
        token = stream.pop()
        if token is None:
            return CommandLine(tuple(items))
        if not isinstance(token, _Op):
            raise _near(_token_text(token))  # not reached: a command ends only at an operator
        if token.text in (";", "\n"):
            connector = ";"
        elif token.text in ("&&", "||"):
            connector = token.text
            stream.skip_newlines()
        elif token.text == "&":
            raise _unsupported("background jobs (&) are")
        else:
            raise _near(token.text)


def _parse_pipeline(stream: _TokenStream) -> Pipeline:
    negated = False
    commands: list[SimpleCommand] = []
    while True:
        if not commands:
            while isinstance(word := stream.peek(), Word) and word.unquoted_literal == "!":
                stream.pop()
                negated = not negated
        stream.begin_command()
        command = _parse_command(stream, first_in_pipeline=not commands)
        commands.append(command)
        token = stream.peek()
        if not (isinstance(token, _Op) and token.text in ("|", "|&")):
            return Pipeline(tuple(commands), negated)
        stream.pop()
        if token.text == "|&":  # cmd |& next  ==  cmd 2>&1 | next
            commands[-1] = SimpleCommand(command.words, (*command.redirections, Redirection(fd=2, op=">&", dup_fd=1)))
        stream.skip_newlines()


def _parse_command(stream: _TokenStream, *, first_in_pipeline: bool) -> SimpleCommand:
    words: list[Word] = []
    redirections: list[Redirection] = []
    while True:
        token = stream.peek()
        if isinstance(token, Word):
            stream.pop()
            if not words:
                _check_command_word(token, first_in_pipeline=first_in_pipeline)
            words.append(token)
        elif isinstance(token, _Redir):
            stream.pop()
            target = stream.pop()
            if not isinstance(target, Word):
                raise _near(_token_text(target))
            redirections.append(_redirection(token, target))
        elif not words and not redirections:
            if token is None:
                raise _end_of_file()
            if token.text == "(":
                raise _unsupported("subshells ( ... ) are")
            raise _near(_token_text(token))
        elif isinstance(token, _Op) and token.text == "(":
            if len(words) == 1 and not redirections:
                raise _unsupported("function definitions are")
            raise _near("(")
        else:
            return SimpleCommand(tuple(words), tuple(redirections))


def _check_command_word(word: Word, *, first_in_pipeline: bool) -> None:
    text = word.unquoted_literal
    if text == "{":
        raise _unsupported("brace groups { ...; } are")
    if text in _OPENING_KEYWORDS:
        raise _unsupported(f"compound commands (`{text}') are")
    if text in _CLOSING_KEYWORDS or (text == "!" and not first_in_pipeline):
        raise _near(text)
    first = word.parts[0] if word.parts else None
    if isinstance(first, Literal) and not first.quoted and _ASSIGNMENT.match(first.text):
        raise _unsupported("variable assignments (NAME=value) are")


def _redirection(token: _Redir, target: Word) -> Redirection:
    op = ">" if token.op == ">|" else token.op
    if op == "<":
        return Redirection(fd=0, op="<", target=target)
    if op in ("&>", "&>>"):
        return Redirection(fd=1, op=op, target=target)
    fd = 1 if token.fd is None else token.fd
    if op == ">&":
        text = target.unquoted_literal
        if text in ("0", "1", "2"):
            return Redirection(fd=fd, op=">&", dup_fd=whole_number(text))
        if text == "-":
            raise _unsupported("closing a descriptor (>&-) is")
        if fd != 1 or (text is not None and text.isdigit()):
            raise _unsupported(f"the redirection `{fd}>&{_shorten(str(target))}' is")
        return Redirection(fd=1, op="&>", target=target)  # >&file is &>file
    return Redirection(fd=fd, op=op, target=target)
