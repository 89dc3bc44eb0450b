"""What every layer's command line shares: the help format, one-line errors, argument types, and
options generated from a config dataclass.

Each layer adds its own commands (:mod:`subliminal_gym.commands` for the suite,
:mod:`subliminal_gym.baselines.cli`, :mod:`subliminal_gym.baselines.reproduce.cli`,
:mod:`subliminal_gym.leaderboards.cli`); :mod:`subliminal_gym.cli` assembles them. Bad input is one
``error:`` line and exit status 2: a command turns the errors it expects from bad input into a
:class:`CommandError` (:func:`bad_input`), so anything else, a bug, still shows its traceback.

:func:`add_config_options` makes one ``--option`` per field of a config dataclass, with the field's
own docstring as help and no default of its own: an option left out keeps the dataclass's default,
which therefore lives in one place.
"""

from __future__ import annotations

import argparse
import ast
import dataclasses
import inspect
import sys
import textwrap
import types
import typing
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from functools import cache
from typing import Any

__all__ = ["CommandError", "HelpFormatter", "add_config_options", "bad_input", "config_kwargs", "config_options",
           "fail", "field_docs", "positive_int", "unit_rate"]


class CommandError(Exception):
    """A problem with a command's input, reported in one line (exit status 2)."""


class HelpFormatter(argparse.ArgumentDefaultsHelpFormatter):
    """Shows "(default: ...)" only where there is a meaningful default."""

    def _get_help_string(self, action: argparse.Action) -> str | None:
        if action.default is None or action.default is False or action.required:
            return action.help
        return super()._get_help_string(action)


@contextmanager
def bad_input(*expected: type[BaseException]) -> Iterator[None]:
    """Turn ``expected`` exceptions (default: ``ValueError``) raised in the block into a :class:`CommandError`.

    Wrap only the calls that check what the user gave (building a config from options, reading an
    input folder), so that the same exception type raised by a bug elsewhere is not mistaken for bad input.
    """
    caught: tuple[type[BaseException], ...] = expected or (ValueError,)
    try:
        yield
    except caught as exc:
        message = exc.args[0] if isinstance(exc, KeyError) and exc.args else exc
        raise CommandError(str(message)) from None


def fail(message: object) -> int:
    """Print ``error: message`` on stderr; returns exit status 2."""
    print(f"error: {message}", file=sys.stderr)
    return 2


def positive_int(text: str) -> int:
    """An argparse type: an integer of at least 1."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be a positive integer, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be a positive integer, got {text}")
    return value


def unit_rate(text: str) -> float:
    """An argparse type: a number in [0, 1]."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be a number in [0, 1], got {text!r}") from None
    if not 0.0 <= value <= 1.0:
        raise argparse.ArgumentTypeError(f"must be in [0, 1], got {text}")
    return value


def _positive_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be a positive number, got {text!r}") from None
    if not value > 0:
        raise argparse.ArgumentTypeError(f"must be positive, got {text}")
    return value


@cache
def field_docs(cls: type) -> dict[str, str]:
    """The docstring under each field of a dataclass (the string literal right after its annotation)."""
    try:
        tree = ast.parse(textwrap.dedent(inspect.getsource(cls)))
    except (OSError, TypeError):  # no source (a frozen or generated class): no help texts
        return {}
    docs: dict[str, str] = {}
    body = tree.body[0].body if tree.body and isinstance(tree.body[0], ast.ClassDef) else []
    for node, following in zip(body, [*body[1:], None], strict=True):
        if (isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name) and isinstance(following, ast.Expr)
                and isinstance(following.value, ast.Constant) and isinstance(following.value.value, str)):
            docs[node.target.id] = " ".join(following.value.value.split())
    return docs


def _argument_type(annotation: Any) -> tuple[Callable[[str], Any], str | None]:
    """The argparse type and metavar of a field annotation (``int | None`` is an int)."""
    args = [a for a in typing.get_args(annotation) if a is not type(None)]
    if isinstance(annotation, types.UnionType) or typing.get_origin(annotation) is typing.Union:
        annotation = args[0] if len(args) == 1 else str
    if typing.get_origin(annotation) is tuple:
        return (lambda text: tuple(w.strip() for w in text.split(",") if w.strip())), "A,B,..."
    if annotation is int:
        return int, "N"
    if annotation is float:
        return float, "X"
    return str, None


def config_options(cls: type) -> dict[str, str]:
    """Field name -> option string (``pretrain_episodes`` -> ``--pretrain-episodes``) of a config dataclass."""
    return {f.name: "--" + f.name.replace("_", "-") for f in dataclasses.fields(cls)}


def add_config_options(parser: argparse.ArgumentParser | Any, cls: type, *, exclude: Sequence[str] = (),
                       types_: dict[str, Callable[[str], Any]] | None = None,
                       notes: dict[str, str] | None = None) -> list[str]:
    """One option per field of the dataclass ``cls`` (not in ``exclude``), its help the field's docstring.

    Every option defaults to ``None`` ("not given"), so :func:`config_kwargs` passes only what the
    user set and the dataclass keeps its own defaults. ``types_`` overrides a field's argument type;
    ``notes`` adds to its help. Returns the fields added.
    """
    hints = typing.get_type_hints(cls)
    docs = field_docs(cls)
    added = []
    for field in dataclasses.fields(cls):
        if field.name in exclude:
            continue
        kind, metavar = _argument_type(hints[field.name])
        if kind is float and field.name.endswith("learning_rate"):
            kind = _positive_float
        elif kind is float and field.name.endswith("_rate"):
            kind, metavar = unit_rate, "P"
        if (types_ or {}).get(field.name) is not None:
            kind = (types_ or {})[field.name]
        default = field.default if field.default is not dataclasses.MISSING else None
        shown = "" if default is None else f" (default: {default})"
        help_text = docs.get(field.name, field.name.replace("_", " ")) + shown + (notes or {}).get(field.name, "")
        parser.add_argument(config_options(cls)[field.name], dest=field.name, type=kind, metavar=metavar,
                            default=None, help=help_text.replace("%", "%%"))
        added.append(field.name)
    return added


def config_kwargs(args: argparse.Namespace, fields: Sequence[str]) -> dict[str, Any]:
    """The options of :func:`add_config_options` the user gave, as keyword arguments."""
    return {name: getattr(args, name) for name in fields if getattr(args, name, None) is not None}
