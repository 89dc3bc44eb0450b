"""GNU-style option parsing for the shell's commands (``getopt_long`` with argument permutation).

Short options combine (``-la``, ``-rf``), a short option's value may be attached or separate
(``-n5``, ``-n 5``), long options may be abbreviated to a unique prefix and take ``=VALUE`` or
the next word, ``--`` ends the options, and ``-`` alone is an operand (standard input). Options
may follow operands (``ls /srv -l``), as GNU tools allow.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from subliminal_gym.bash.state import CommandResult

__all__ = ["OptionSpec", "Options", "parse_options", "usage_error"]


@dataclass(frozen=True)
class OptionSpec:
    """Which options a command accepts."""

    flags: str = ""
    """Short options without a value, e.g. ``"laRdhA"``."""
    valued: str = ""
    """Short options that take a value, e.g. ``"n"``."""
    long_flags: Mapping[str, str] = field(default_factory=dict)
    """Long options without a value, mapped to the key they set (``{"all": "a"}``)."""
    long_valued: Mapping[str, str] = field(default_factory=dict)
    """Long options that take a value, mapped to their key (``{"lines": "n"}``)."""
    numeric: str | None = None
    """Key set by the obsolete ``-NUM`` form (``head -5`` means ``-n 5``)."""
    usage_status: int = 1
    """Exit status of a usage error (``ls`` and ``grep`` use 2)."""
    usage: str = ""
    """What ``--help`` prints (``--help`` is accepted only when this is set)."""


@dataclass
class Options:
    """The parsed command line."""

    seen: list[tuple[str, str | None]] = field(default_factory=list)
    """Every option in order, as ``(key, value or None)``."""
    operands: list[str] = field(default_factory=list)

    def has(self, *keys: str) -> bool:
        """Whether any of ``keys`` was given."""
        for key, _ in self.seen:
            if key in keys:
                return True
        return False

    def value(self, key: str) -> str | None:
        """The last value given for ``key`` (None when absent)."""
        found = None
        for k, v in self.seen:
            if k == key:
                found = v
        return found

    def values(self, key: str) -> list[str]:
        """Every value given for ``key``, in order."""
        return [v for k, v in self.seen if k == key and v is not None]

    def last_of(self, *keys: str) -> str | None:
        """Which of ``keys`` came last (for options that override each other, e.g. ``-f``/``-i``)."""
        found = None
        for k, _ in self.seen:
            if k in keys:
                found = k
        return found


def usage_error(name: str, message: str, status: int = 1) -> CommandResult:
    """``name: message`` plus GNU's ``Try 'name --help'`` line."""
    return CommandResult(
        stderr=f"{name}: {message}\nTry '{name} --help' for more information.\n", status=status
    )


def _match_long(name: str, text: str, spec: OptionSpec) -> tuple[str, bool] | CommandResult:
    """The long option ``text`` (without ``--``) names, as (option, takes_value), or an error."""
    options = {**{k: False for k in spec.long_flags}, **{k: True for k in spec.long_valued}}
    if spec.usage:
        options["help"] = False
    if text in options:
        return text, options[text]
    candidates = sorted(k for k in options if k.startswith(text))
    if len(candidates) == 1:
        return candidates[0], options[candidates[0]]
    if candidates:
        listed = " ".join(f"'--{c}'" for c in candidates)
        return usage_error(name, f"option '--{text}' is ambiguous; possibilities: {listed}", spec.usage_status)
    return usage_error(name, f"unrecognized option '--{text}'", spec.usage_status)


def parse_options(name: str, argv: list[str], spec: OptionSpec) -> Options | CommandResult:
    """Split ``argv[1:]`` into options and operands the way GNU ``getopt_long`` does.

    Returns:
        The options, or the usage error to return (``invalid option -- 'z'`` and the like).
    """
    parsed = Options()
    args = argv[1:]
    i = 0
    while i < len(args):
        arg = args[i]
        i += 1
        if arg == "--":
            parsed.operands.extend(args[i:])
            break
        if arg.startswith("--"):
            text, eq, attached = arg[2:].partition("=")
            match = _match_long(name, text, spec)
            if isinstance(match, CommandResult):
                return match
            option, takes_value = match
            if takes_value:
                if eq:
                    value = attached
                elif i < len(args):
                    value = args[i]
                    i += 1
                else:
                    return usage_error(name, f"option '--{option}' requires an argument", spec.usage_status)
                parsed.seen.append((spec.long_valued[option], value))
            elif eq:
                return usage_error(name, f"option '--{option}' doesn't allow an argument", spec.usage_status)
            elif option == "help" and "help" not in spec.long_flags:
                return CommandResult(stdout=spec.usage)
            else:
                parsed.seen.append((spec.long_flags[option], None))
            continue
        if not arg.startswith("-") or arg == "-":
            parsed.operands.append(arg)
            continue
        j = 1
        if spec.numeric is not None and arg[1].isdigit():
            digits = arg[1:]
            end = len(digits) - len(digits.lstrip("0123456789"))
            parsed.seen.append((spec.numeric, digits[:end]))
            j = 1 + end
        while j < len(arg):
            letter = arg[j]
            j += 1
            if letter in spec.valued:
                if j < len(arg):
                    value = arg[j:]
                elif i < len(args):
                    value = args[i]
                    i += 1
                else:
                    return usage_error(name, f"option requires an argument -- '{letter}'", spec.usage_status)
                parsed.seen.append((letter, value))
                break
            if letter not in spec.flags:
                return usage_error(name, f"invalid option -- '{letter}'", spec.usage_status)
            parsed.seen.append((letter, None))
    return parsed
