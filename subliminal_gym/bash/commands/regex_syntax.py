"""POSIX regular expressions as GNU ``grep`` reads them (basic and extended syntax), parsed to a tree.

The tree is matched by :mod:`subliminal_gym.bash.commands.line_matcher`, which never backtracks,
so no pattern can make ``grep`` take exponential time. GNU extensions are understood: ``\\+ \\? \\|``
in basic syntax, ``\\w \\W \\s \\S \\b \\B \\< \\>``, ``{,n}``. Back-references are refused (they are
the one feature a linear-time matcher cannot offer).

Tree nodes are tuples: ``("set", CharSet)``, ``("cat", [nodes])``, ``("alt", [nodes])``,
``("rep", node, min, max_or_None)``, ``("assert", kind)`` and ``("empty",)``.
"""

from __future__ import annotations

import string
from dataclasses import dataclass
from typing import Any

from subliminal_gym.bash.numbers import whole_number

__all__ = ["ASSERTIONS", "CharSet", "PatternError", "RegexNode", "literal_tree", "parse_regex"]

RegexNode = tuple[Any, ...]
MAX_PATTERN_LENGTH = 1000
MAX_NESTING = 100
DUP_MAX = 32767

ASSERTIONS = ("bol", "eol", "word_boundary", "not_word_boundary", "word_start", "word_end")
_CLASSES = {
    "alpha": str.isalpha,
    "digit": lambda c: c in string.digits,
    "alnum": str.isalnum,
    "upper": str.isupper,
    "lower": str.islower,
    "space": str.isspace,
    "blank": lambda c: c in " \t",
    "punct": lambda c: c in string.punctuation,
    "print": lambda c: c.isprintable(),
    "graph": lambda c: c.isprintable() and not c.isspace(),
    "cntrl": lambda c: ord(c) < 32 or ord(c) == 127,
    "xdigit": lambda c: c in string.hexdigits,
    "word": lambda c: c.isalnum() or c == "_",
}
_ESCAPE_SETS = {"w": ("word", False), "W": ("word", True), "s": ("space", False), "S": ("space", True)}
_ESCAPE_ASSERTIONS = {
    "b": "word_boundary",
    "B": "not_word_boundary",
    "<": "word_start",
    ">": "word_end",
    "`": "bol",
    "'": "eol",
}


def _digits(text: str) -> bool:
    return text.isascii() and text.isdigit()


class PatternError(Exception):
    """A pattern ``grep`` rejects; the message is what it prints after ``grep:``."""


@dataclass(frozen=True)
class CharSet:
    """What one character position accepts: characters, ranges and named classes, maybe negated."""

    chars: frozenset[str] = frozenset()
    ranges: tuple[tuple[str, str], ...] = ()
    classes: tuple[str, ...] = ()
    negated: bool = False

    def _contains(self, c: str) -> bool:
        return (
            c in self.chars
            or any(lo <= c <= hi for lo, hi in self.ranges)
            or any(_CLASSES[name](c) for name in self.classes)
        )

    def matches(self, c: str, fold: bool = False) -> bool:
        """Whether ``c`` is accepted (``fold``: either case of ``c`` will do)."""
        hit = self._contains(c) or (fold and (self._contains(c.lower()) or self._contains(c.upper())))
        return hit != self.negated and c != "\n"


_ANY = CharSet(negated=True)


def literal_tree(text: str) -> RegexNode:
    """The tree matching ``text`` literally (``grep -F``)."""
    return ("cat", [("set", CharSet(chars=frozenset(c))) for c in text])


def _repeat(node: RegexNode, low: int, high: int | None) -> RegexNode:
    """``node{low,high}``, with stacked ``* + ?`` folded (``a**`` is ``a*``) to keep trees shallow."""
    simple = ((0, 1), (0, None), (1, None))
    if node[0] == "rep" and (node[2], node[3]) in simple and (low, high) in simple:
        inner_high = node[3]
        return ("rep", node[1], node[2] * low, None if inner_high is None or high is None else 1)
    depth = 0
    inner = node
    while inner[0] == "rep":
        depth += 1
        inner = inner[1]
    if depth >= MAX_NESTING:
        raise PatternError("regular expression nested too deeply (sandbox limit)")
    return ("rep", node, low, high)


class _Parser:
    def __init__(self, pattern: str, extended: bool) -> None:
        self.p = pattern
        self.i = 0
        self.ere = extended
        self.depth = 0

    def peek(self, k: int = 0) -> str:
        return self.p[self.i + k] if self.i + k < len(self.p) else ""

    def at_alt(self) -> bool:
        return self.peek() == "|" if self.ere else self.p.startswith("\\|", self.i)

    def at_close(self) -> bool:
        return self.peek() == ")" if self.ere else self.p.startswith("\\)", self.i)

    def parse(self) -> RegexNode:
        tree = self.alternation()
        if self.i < len(self.p):  # only a stray close can stop the top level
            raise PatternError("Unmatched ) or \\)")
        return tree

    def alternation(self) -> RegexNode:
        branches = [self.concatenation()]
        while self.at_alt():
            self.i += 1 if self.ere else 2
            branches.append(self.concatenation())
        return branches[0] if len(branches) == 1 else ("alt", branches)

    def concatenation(self) -> RegexNode:
        items: list[RegexNode] = []
        start = self.i
        while self.i < len(self.p) and not self.at_alt() and not (self.depth and self.at_close()):
            if self.at_close():
                raise PatternError("Unmatched ) or \\)")
            atom = self.atom(at_start=self.i == start or items == [("assert", "bol")])
            items.append(self.postfix(atom))
        return ("cat", items) if items else ("empty",)

    def atom(self, at_start: bool) -> RegexNode:
        c = self.peek()
        if c == "\\":
            return self.escape(at_start)
        self.i += 1
        if c == "[":
            return ("set", self.bracket())
        if c == ".":
            return ("set", _ANY)
        if c == "^" and (self.ere or at_start):
            return ("assert", "bol")
        if c == "$" and (self.ere or self.i == len(self.p) or self.at_alt() or self.at_close()):
            return ("assert", "eol")
        if self.ere and c == "(":
            return self.group()
        return ("set", CharSet(chars=frozenset(c)))

    def group(self) -> RegexNode:
        self.depth += 1
        if self.depth > MAX_NESTING:
            raise PatternError("regular expression nested too deeply (sandbox limit)")
        inner = self.alternation()
        if not self.at_close():
            raise PatternError("Unmatched ( or \\(")
        self.i += 1 if self.ere else 2
        self.depth -= 1
        return inner

    def escape(self, at_start: bool) -> RegexNode:
        c = self.peek(1)
        if not c:
            raise PatternError("Trailing backslash")
        self.i += 2
        if not self.ere and c == "(":
            return self.group()
        if not self.ere and c in "{+?" and at_start:
            return ("set", CharSet(chars=frozenset(c)))
        if c in _ESCAPE_SETS:
            name, negated = _ESCAPE_SETS[c]
            return ("set", CharSet(classes=(name,), negated=negated))
        if c in _ESCAPE_ASSERTIONS:
            return ("assert", _ESCAPE_ASSERTIONS[c])
        if c in "123456789":
            raise PatternError("back-references are not supported in this sandbox")
        return ("set", CharSet(chars=frozenset(c)))

    def postfix(self, atom: RegexNode) -> RegexNode:
        if atom[0] == "assert" and atom[1] == "bol" and not self.ere:
            return atom  # a '*' right after a leading '^' is literal in basic syntax
        while True:
            c = self.peek()
            if not c:
                return atom
            bre_op = not self.ere and c == "\\" and self.peek(1) != "" and self.peek(1) in "+?{"
            if c == "*":
                self.i += 1
                bounds: tuple[int, int | None] | None = (0, None)
            elif (self.ere and c in "+?") or (bre_op and self.peek(1) in "+?"):
                op = c if self.ere else self.peek(1)
                self.i += 1 if self.ere else 2
                bounds = (1, None) if op == "+" else (0, 1)
            elif (self.ere and c == "{") or (bre_op and self.peek(1) == "{"):
                bounds = self.interval()
                if bounds is None:
                    return atom
            else:
                return atom
            if bounds is None:  # unreachable: every branch above set bounds or returned
                return atom
            atom = _repeat(atom, *bounds)

    def interval(self) -> tuple[int, int | None] | None:
        """Parse ``{m,n}`` (``\\{m,n\\}`` in basic syntax); None when ``{`` is literal (extended)."""
        start = self.i
        self.i += 1 if self.ere else 2
        close = "}" if self.ere else "\\}"
        end = self.p.find(close, self.i)
        body = self.p[self.i : end] if end >= 0 else ""
        low_text, comma, high_text = body.partition(",")
        valid = end >= 0 and (_digits(low_text) or (comma and not low_text)) and (_digits(high_text) or not high_text)
        if not valid:
            if self.ere:
                self.i = start
                return None
            raise PatternError("Unmatched \\{" if end < 0 else "Invalid content of \\{\\}")
        low = whole_number(low_text) if low_text else 0
        high = whole_number(high_text) if high_text else (None if comma else low)
        if low > DUP_MAX or (high is not None and (high > DUP_MAX or high < low)):
            raise PatternError("Invalid content of \\{\\}")
        self.i = end + len(close)
        return low, high

    def bracket(self) -> CharSet:
        negated = self.peek() == "^"
        self.i += negated
        chars: set[str] = set()
        ranges: list[tuple[str, str]] = []
        classes: list[str] = []
        first = True
        while True:
            c = self.peek()
            if not c:
                raise PatternError("Unmatched [, [^, [:, [., or [=")
            if c == "]" and not first:
                self.i += 1
                return CharSet(frozenset(chars), tuple(ranges), tuple(classes), negated)
            first = False
            if c == "[" and self.peek(1) in ":=.":
                kind = self.peek(1)
                end = self.p.find(kind + "]", self.i + 2)
                if end < 0:
                    raise PatternError("Unmatched [, [^, [:, [., or [=")
                name = self.p[self.i + 2 : end]
                self.i = end + 2
                if kind == ":":
                    if name not in _CLASSES or name == "word":
                        raise PatternError("Invalid character class name")
                    classes.append(name)
                    continue
                if len(name) != 1:
                    raise PatternError("Invalid collation character")
                c = name
            else:
                self.i += 1
            if self.peek() == "-" and self.peek(1) not in ("]", ""):
                self.i += 1
                high = self.peek()
                self.i += 1
                if high < c:
                    raise PatternError("Invalid range end")
                ranges.append((c, high))
            else:
                chars.add(c)


def parse_regex(pattern: str, *, extended: bool) -> RegexNode:
    """Parse a ``grep`` pattern (one line of it) to a tree.

    Raises:
        PatternError: a malformed or unsupported pattern, or one over 1000 characters.
    """
    if len(pattern) > MAX_PATTERN_LENGTH:
        raise PatternError(f"pattern too long (sandbox limit: {MAX_PATTERN_LENGTH} characters)")
    if pattern.startswith("[:") and pattern.endswith(":]") and len(pattern) > 4:
        raise PatternError(f"character class syntax is [{pattern}], not {pattern}")
    return _Parser(pattern, extended).parse()
