"""The expression language of ``find``: operators, precedence, global options and error messages.

Grammar (GNU findutils): ``expr := and ( (-o | -or) and )*``, ``and := unary ( [-a | -and] unary )*``,
``unary := (! | -not) unary | '(' expr ')' | primary``. AND and OR chains are kept flat so a long
command line cannot exhaust Python's stack, and nesting is bounded.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING

from subliminal_gym.bash.numbers import whole_number

if TYPE_CHECKING:
    from subliminal_gym.bash.commands.find import FindVisit
    from subliminal_gym.bash.state import ShellState

__all__ = ["FindExpression", "FindSyntaxError", "Test", "TestFactory", "parse_expression"]

Test = Callable[["FindVisit"], bool]
TestFactory = Callable[["ShellState", str], Test]

MAX_NESTING = 100
_GLOBAL_WITH_ARG = ("-maxdepth", "-mindepth")
_GLOBAL_FLAGS = ("-depth", "-d", "-xdev", "-mount", "-noleaf", "-ignore_readdir_race", "-nowarn", "-warn")
_REFUSED = (
    "-delete", "-exec", "-execdir", "-ok", "-okdir", "-fprint", "-fprint0", "-fprintf", "-fls",
    "-printf", "-ls", "-regex", "-iregex", "-quit", "-follow", "-newerXY", "-samefile",
)  # fmt: skip
_ACTIONS = ("-print", "-print0")


class FindSyntaxError(Exception):
    """A bad ``find`` command line; the message is what ``find:`` prints."""


@dataclass(frozen=True)
class FindExpression:
    """A parsed expression and the global options that came with it."""

    evaluate: Test
    maxdepth: int = sys.maxsize
    mindepth: int = 0
    depth_first: bool = False
    """``-depth``: a directory is tested after its contents."""
    warnings: str = ""


def _binary_error(operator: str | None, where: str) -> str:
    return f"invalid expression; you have used a binary operator '{operator}' with nothing {where} it."


def _all(terms: list[Test]) -> Test:
    return terms[0] if len(terms) == 1 else (lambda v: all(t(v) for t in terms))


def _any(terms: list[Test]) -> Test:
    return terms[0] if len(terms) == 1 else (lambda v: any(t(v) for t in terms))


class _Parser:
    def __init__(
        self,
        state: ShellState,
        tokens: list[str],
        with_arg: Mapping[str, TestFactory],
        flags: Mapping[str, Test],
    ) -> None:
        self.state = state
        self.tokens = tokens
        self.pos = 0
        self.with_arg = with_arg
        self.flags = flags
        self.maxdepth = sys.maxsize
        self.mindepth = 0
        self.depth_first = False
        self.has_action = False
        self.first_test: str | None = None
        self.warnings: list[str] = []
        self.nesting = 0

    def peek(self) -> str | None:
        return self.tokens[self.pos] if self.pos < len(self.tokens) else None

    def take(self) -> str | None:
        token = self.peek()
        self.pos += token is not None
        return token

    def parse(self) -> FindExpression:
        evaluate: Test = lambda v: True  # noqa: E731
        if self.tokens:
            evaluate = self.or_expr()
            if self.peek() is not None:
                raise FindSyntaxError("invalid expression; you have too many ')'")
        if not self.has_action:
            evaluate = _all([evaluate, self.flags["-print"]])
        return FindExpression(evaluate, self.maxdepth, self.mindepth, self.depth_first, "".join(self.warnings))

    def or_expr(self) -> Test:
        terms = [self.and_expr()]
        while self.peek() in ("-o", "-or", ","):
            operator = self.take()
            if self.peek() in (None, ")", "-o", "-or", "-a", "-and", ","):
                raise FindSyntaxError(_binary_error(operator, "after"))
            terms.append(self.and_expr())
        return _any(terms)

    def and_expr(self) -> Test:
        terms = [self.unary()]
        while self.peek() not in (None, ")", "-o", "-or", ","):
            if self.peek() in ("-a", "-and"):
                operator = self.take()
                if self.peek() in (None, ")", "-o", "-or", "-a", "-and", ","):
                    raise FindSyntaxError(_binary_error(operator, "after"))
            terms.append(self.unary())
        return _all(terms)

    def unary(self) -> Test:
        token = self.take()
        if token is None:
            raise FindSyntaxError("invalid expression")
        if token in ("!", "-not", "("):
            self.nesting += 1
            if self.nesting > MAX_NESTING:
                raise FindSyntaxError("expression nested too deeply (sandbox limit)")
            try:
                if token == "(":
                    if self.peek() == ")":
                        raise FindSyntaxError("invalid expression; empty parentheses are not allowed.")
                    inner = self.or_expr()
                    if self.take() != ")":
                        raise FindSyntaxError(
                            "invalid expression; I was expecting to find a ')' somewhere but did not see one."
                        )
                    return inner
                if self.peek() is None:
                    raise FindSyntaxError(f"expected an expression after '{token}'")
                operand = self.unary()
                return lambda v: not operand(v)
            finally:
                self.nesting -= 1
        if token == ")":
            raise FindSyntaxError("invalid expression; you have too many ')'")
        if token in ("-o", "-or", "-a", "-and", ","):
            raise FindSyntaxError(_binary_error(token, "before"))
        return self.primary(token)

    def global_option(self, token: str) -> Test:
        if self.first_test is not None:
            self.warnings.append(
                f"find: warning: you have specified the global option {token} after the argument "
                f"{self.first_test}, but global options are not positional, i.e., {token} affects tests "
                "specified before it as well as those specified after it.  Please specify global options "
                "before other arguments.\n"
            )
        if token in _GLOBAL_WITH_ARG:
            value = self.take()
            if value is None:
                raise FindSyntaxError(f"missing argument to '{token}'")
            if not value.isdigit() or len(value) > 9:
                raise FindSyntaxError(
                    f"Expected a positive decimal integer argument to {token}, but got '{value}'"
                )
            if token == "-maxdepth":
                self.maxdepth = whole_number(value)
            else:
                self.mindepth = whole_number(value)
        elif token in ("-depth", "-d"):
            self.depth_first = True
        return lambda v: True

    def primary(self, token: str) -> Test:
        if token in _GLOBAL_WITH_ARG or token in _GLOBAL_FLAGS:
            return self.global_option(token)
        if token in _REFUSED:
            raise FindSyntaxError(f"'{token}' is not supported in this sandbox")
        if token in self.with_arg:
            value = self.take()
            if value is None:
                raise FindSyntaxError(f"missing argument to '{token}'")
            self.first_test = self.first_test or token
            return self.with_arg[token](self.state, value)
        if token in self.flags:
            self.first_test = self.first_test or token
            self.has_action = self.has_action or token in _ACTIONS
            return self.flags[token]
        if token.startswith("-"):
            raise FindSyntaxError(f"unknown predicate '{token}'")
        raise FindSyntaxError(f"paths must precede expression: '{token}'")


def parse_expression(
    state: ShellState,
    tokens: list[str],
    with_arg: Mapping[str, TestFactory],
    flags: Mapping[str, Test],
) -> FindExpression:
    """Parse the expression part of a ``find`` command line.

    Args:
        state: the shell (tests such as ``-newer`` look things up while parsing).
        tokens: the words after the starting points.
        with_arg: tests taking one argument, as factories from the argument to the test.
        flags: tests and actions without an argument (must include ``-print``).

    Raises:
        FindSyntaxError: the message ``find`` prints for a bad expression.
    """
    return _Parser(state, tokens, with_arg, flags).parse()
