"""Word expansion in bash's order: tilde, variables, field splitting, then pathname expansion.

Only unquoted text is expanded: a quoted ``~`` or ``*`` stays literal, ``'$HOME'`` stays
``$HOME``. The results of an unquoted ``$VAR`` are split on blanks and globbed, as in bash.
Globs match against the world through ``state.world`` with :func:`fnmatch.fnmatchcase`, one path
component at a time: a leading ``.`` must be matched explicitly, unreadable directories
contribute nothing, results are sorted (byte order, like ``LC_ALL=C``) and a pattern that matches
nothing is left as typed (bash without ``nullglob``). ``[!...]`` and ``[^...]`` both negate.
"""

from __future__ import annotations

from collections.abc import Sequence
from fnmatch import fnmatchcase

from subliminal_gym.bash.parser import Literal, Word
from subliminal_gym.bash.state import ShellState
from subliminal_gym.core.world import PERM_READ, FileSystemError, SandboxWorld

__all__ = ["MAX_ARGUMENTS", "ExpansionError", "expand_target", "expand_words"]

MAX_ARGUMENTS = 10000
"""The most words one command may expand to (and the most paths one glob may visit)."""

_BLANKS = " \t\n"
_Char = tuple[str, bool]  # a character and whether it is glob-active (came from unquoted text)


class ExpansionError(Exception):
    """A word that cannot be expanded (too many matches, an ambiguous redirect)."""

    def __init__(self, message: str, status: int = 1) -> None:
        super().__init__(message)
        self.message = message
        self.status = status


def expand_words(words: Sequence[Word], state: ShellState, last_status: int) -> list[str]:
    """The argv that ``words`` expand to, with ``$?`` standing for ``last_status``.

    Raises:
        ExpansionError: more than :data:`MAX_ARGUMENTS` words.
    """
    argv: list[str] = []
    for word in words:
        plain = _as_written(word)
        if plain is not None:
            argv.append(plain)  # a literal word nothing expands stays one argument
            continue
        for chars, _quoted in _fields(word, state, last_status):
            argv.extend(_glob(chars, state) or ["".join(c for c, _ in chars)])
            if len(argv) > MAX_ARGUMENTS:
                raise ExpansionError(f"bash: {_shorten(str(words[0]))}: Argument list too long", status=126)
    return argv


def _as_written(word: Word) -> str | None:
    """The text of ``word`` when expansion leaves it as written: literal parts only, no tilde
    prefix, no unquoted glob character, not empty (most words of most command lines)."""
    texts: list[str] = []
    for part in word.parts:
        if not isinstance(part, Literal) or (not part.quoted and _has_glob_character(part.text)):
            return None
        if not texts and not part.quoted and part.text.startswith("~"):
            return None
        texts.append(part.text)
    return "".join(texts) or None


def _has_glob_character(text: str) -> bool:
    return "*" in text or "?" in text or "[" in text


def expand_target(word: Word, state: ShellState, last_status: int) -> str:
    """The file name a redirection target expands to.

    Raises:
        ExpansionError: it expands to no word or to several (``ambiguous redirect``).
    """
    argv = expand_words([word], state, last_status)
    if len(argv) != 1:
        raise ExpansionError(f"bash: {_shorten(str(word))}: ambiguous redirect")
    return argv[0]


def _shorten(text: str, limit: int = 60) -> str:
    return text if len(text) <= limit else text[:limit] + "..."


# -- tilde, variables, splitting --------------------------------------------------------------


def _tilde(word: Word, state: ShellState) -> tuple[str, str] | None:
    """``(expansion, rest of the first part)`` when ``word`` starts with a tilde prefix bash expands."""
    first = word.parts[0] if word.parts else None
    if not isinstance(first, Literal) or first.quoted or not first.text.startswith("~"):
        return None
    slash = first.text.find("/")
    if slash < 0 and len(word.parts) > 1:
        return None  # the prefix runs into quoted text or a variable: bash leaves it alone
    end = len(first.text) if slash < 0 else slash
    login = first.text[1:end]
    if not login:
        home = state.home
    elif login == "+":
        home = state.cwd
    else:
        try:
            home = state.world.users.user(login).home
        except KeyError:
            return None
    return home, first.text[end:]


def _variable(name: str, state: ShellState, last_status: int) -> str:
    if name == "HOME":
        return state.home
    if name == "USER":
        return state.user.name
    if name == "PWD":
        return state.cwd
    return str(last_status)


def _fields(word: Word, state: ShellState, last_status: int) -> list[tuple[list[_Char], bool]]:
    """The fields of ``word`` after tilde and variable expansion and splitting, each as its
    characters and whether it holds a quoted part (which keeps an empty field alive)."""
    fields: list[tuple[list[_Char], bool]] = [([], False)]

    def add(text: str, active: bool, quoted: bool) -> None:
        chars, had_quotes = fields[-1]
        chars.extend((c, active) for c in text)
        fields[-1] = (chars, had_quotes or quoted)

    parts = list(word.parts)
    tilde = _tilde(word, state)
    if tilde is not None:
        home, rest = tilde
        add(home, False, True)
        parts[0] = Literal(rest, False)
    for part in parts:
        if isinstance(part, Literal):
            add(part.text, not part.quoted, part.quoted)
            continue
        value = _variable(part.name, state, last_status)
        if part.quoted:
            add(value, False, True)
            continue
        for ch in value:  # an unquoted expansion is split on blanks
            if ch in _BLANKS:
                if fields[-1][0] or fields[-1][1]:
                    fields.append(([], False))
            else:
                add(ch, True, False)
    return [(chars, quoted) for chars, quoted in fields if chars or quoted]


# -- pathname expansion -----------------------------------------------------------------------


def _is_magic(chars: Sequence[_Char]) -> bool:
    return any(active and c in "*?[" for c, active in chars)


def _pattern(chars: Sequence[_Char]) -> str:
    out: list[str] = []
    for c, active in chars:
        if not active:
            out.append(f"[{c}]" if c in "*?[" else c)
        elif c == "^" and out and out[-1] == "[":
            out.append("!")  # bash accepts [^...] for [!...]
        else:
            out.append(c)
    return "".join(out)


def _join(prefix: str, name: str) -> str:
    if not prefix:
        return name
    return prefix + name if prefix.endswith("/") else f"{prefix}/{name}"


def _glob(chars: list[_Char], state: ShellState) -> list[str]:
    """The sorted paths an unquoted pattern matches, or [] (no magic, or no match)."""
    if not _is_magic(chars):
        return []
    world, text = state.world, "".join(c for c, _ in chars)
    components: list[list[_Char]] = [[]]
    for item in chars:
        if item[0] == "/":
            components.append([])
        else:
            components[-1].append(item)
    prefixes = ["/"] if text.startswith("/") else [""]
    for component in components:
        if not component:
            continue  # the root, doubled slashes, a trailing slash
        if not _is_magic(component):
            literal = "".join(c for c, _ in component)
            prefixes = [_join(p, literal) for p in prefixes]
            continue
        pattern = _pattern(component)
        show_hidden = component[0][0] == "."
        matches: list[str] = []
        for prefix in prefixes:
            for name in _readable_entries(world, state, prefix):
                if (show_hidden or not name.startswith(".")) and fnmatchcase(name, pattern):
                    matches.append(_join(prefix, name))
            if len(matches) > MAX_ARGUMENTS:
                raise ExpansionError(f"bash: {_shorten(text)}: Argument list too long", status=126)
        prefixes = matches
        if not prefixes:
            return []
    want_dirs = text.endswith("/")
    found = [p + "/" if want_dirs else p for p in prefixes if _exists(world, state, p, want_dirs)]
    return sorted(found)


def _readable_entries(world: SandboxWorld, state: ShellState, prefix: str) -> list[str]:
    try:
        directory = world.resolve(state.abspath(prefix or "."))
    except FileSystemError:
        return []
    if not world.is_dir(directory) or not world.can_access(state.user, directory, PERM_READ):
        return []
    return [name for name, _, _ in world.list_dir(directory)]


def _exists(world: SandboxWorld, state: ShellState, path: str, want_dir: bool) -> bool:
    try:
        if want_dir:
            return world.is_dir(world.resolve(state.abspath(path)))
        return world.exists(world.resolve(state.abspath(path), follow_last=False))
    except FileSystemError:
        return False
