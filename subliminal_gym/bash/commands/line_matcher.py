"""Does a line match a ``grep`` pattern? Answered in time linear in the line, whatever the pattern.

A pattern tree (:mod:`~subliminal_gym.bash.commands.regex_syntax`) is compiled to a Thompson NFA
and run as a lazily built DFA (the approach of RE2 and GNU grep's own ``dfa.c``): each state is a
set of NFA positions plus the class of the previous character (for ``^ \\b \\< \\>``); its
transitions are computed once per character seen and cached. Python's backtracking ``re`` is
never used on agent patterns, so ``(a+)+$`` or ``(.*)*x`` cost no more than ``abc``.
"""

from __future__ import annotations

from typing import Any

from subliminal_gym.bash.budget import WorkBudget
from subliminal_gym.bash.commands.regex_syntax import (
    MAX_PATTERN_LENGTH,
    CharSet,
    PatternError,
    RegexNode,
    literal_tree,
    parse_regex,
)

__all__ = ["LineMatcher"]

MAX_NFA_STATES = 20_000
MAX_DFA_STATES = 2_000
MAX_TRANSITIONS = 200_000
_CHAR, _SPLIT, _ASSERT, _MATCH = range(4)
_EDGE, _WORD, _OTHER = range(3)
"""Class of the character on one side of a position: none (line start/end), word, other."""

_ASSERTS = {
    "bol": lambda prev, nxt: prev == _EDGE,
    "eol": lambda prev, nxt: nxt == _EDGE,
    "word_boundary": lambda prev, nxt: (prev == _WORD) != (nxt == _WORD),
    "not_word_boundary": lambda prev, nxt: (prev == _WORD) == (nxt == _WORD),
    "word_start": lambda prev, nxt: prev != _WORD and nxt == _WORD,
    "word_end": lambda prev, nxt: prev == _WORD and nxt != _WORD,
    "no_word_before": lambda prev, nxt: prev != _WORD,
    "no_word_after": lambda prev, nxt: nxt != _WORD,
}


def _char_class(c: str) -> int:
    return _WORD if c.isalnum() or c == "_" else _OTHER


class _Nfa:
    """A Thompson NFA in parallel arrays (state ``i`` is ``kind[i], arg[i], out[i], out2[i]``)."""

    def __init__(self, tree: RegexNode, fold: bool) -> None:
        self.work = 0
        """NFA positions visited by :meth:`closure` so far."""
        self.fold = fold
        self.kind: list[int] = []
        self.arg: list[Any] = []
        self.out: list[int] = []
        self.out2: list[int] = []
        self.start = self._compile(tree, self._add(_MATCH, None, -1))

    def _add(self, kind: int, arg: Any, out: int, out2: int = -1) -> int:
        if len(self.kind) >= MAX_NFA_STATES:
            raise PatternError("regular expression too big")
        self.kind.append(kind)
        self.arg.append(arg)
        self.out.append(out)
        self.out2.append(out2)
        return len(self.kind) - 1

    def _compile(self, node: RegexNode, nxt: int) -> int:
        """The state that matches ``node`` and then continues at ``nxt`` (built back to front)."""
        tag = node[0]
        if tag == "set":
            return self._add(_CHAR, node[1], nxt)
        if tag == "assert":
            return self._add(_ASSERT, _ASSERTS[node[1]], nxt)
        if tag == "empty":
            return nxt
        if tag == "cat":
            for child in reversed(node[1]):
                nxt = self._compile(child, nxt)
            return nxt
        if tag == "alt":
            starts = [self._compile(branch, nxt) for branch in node[1]]
            state = starts[-1]
            for branch_start in reversed(starts[:-1]):
                state = self._add(_SPLIT, None, branch_start, state)
            return state
        _, body, low, high = node  # "rep"
        if high is None:
            loop = self._add(_SPLIT, None, -1, nxt)
            self.out[loop] = self._compile(body, loop)
            state = loop
        else:
            state = nxt
            for _ in range(high - low):
                state = self._add(_SPLIT, None, self._compile(body, state), nxt)
        for _ in range(low):
            state = self._compile(body, state)
        return state

    def closure(self, pending: frozenset[int], prev: int, nxt: int) -> tuple[list[int], bool]:
        """The character states reachable from ``pending`` and the start without consuming input,
        and whether the match state is among them."""
        stack = [*pending, self.start]
        seen: set[int] = set()
        chars: list[int] = []
        matched = False
        kind, out, out2, arg = self.kind, self.out, self.out2, self.arg
        while stack:
            s = stack.pop()
            if s in seen:
                continue
            seen.add(s)
            k = kind[s]
            if k == _CHAR:
                chars.append(s)
            elif k == _SPLIT:
                stack.append(out2[s])
                stack.append(out[s])
            elif k == _ASSERT:
                if arg[s](prev, nxt):
                    stack.append(out[s])
            else:
                matched = True
        self.work += len(seen)
        return chars, matched


class _DfaState:
    __slots__ = ("pending", "prev", "trans", "end")

    def __init__(self, pending: frozenset[int], prev: int) -> None:
        self.pending = pending
        self.prev = prev
        self.trans: dict[str, tuple[_DfaState, bool]] = {}
        self.end: bool | None = None


_BRE_SPECIALS = frozenset("\\.[]*^$")
_ERE_SPECIALS = _BRE_SPECIALS | frozenset("+?(){}|")


class LineMatcher:
    """Tests lines against ``grep`` patterns (any of them matching selects the line).

    Args:
        patterns: the patterns (one per ``-e``, or per line of the pattern argument).
        extended: ``-E`` syntax (else basic, ``-G``).
        fixed: ``-F``: the patterns are plain strings.
        ignore_case: ``-i``.
        whole_word: ``-w``: the match must not touch a word character on either side.
        whole_line: ``-x``: the match must be the whole line.
        budget: the command line's :class:`WorkBudget` (default: a fresh one); :meth:`matches` raises
            :class:`~subliminal_gym.bash.budget.BudgetExceeded` once it is spent.

    Raises:
        PatternError: a pattern ``grep`` would reject, an unsupported one, or one too big.
    """

    def __init__(
        self,
        patterns: list[str],
        *,
        extended: bool = False,
        fixed: bool = False,
        ignore_case: bool = False,
        whole_word: bool = False,
        whole_line: bool = False,
        budget: WorkBudget | None = None,
    ) -> None:
        self._fold = ignore_case
        self._budget = budget or WorkBudget()
        self._fixed: list[str] | None = None
        if any(len(p) > MAX_PATTERN_LENGTH for p in patterns):
            raise PatternError(f"pattern too long (sandbox limit: {MAX_PATTERN_LENGTH} characters)")
        specials = _ERE_SPECIALS if extended else _BRE_SPECIALS
        if not fixed and not any(c in specials for p in patterns for c in p):
            fixed = True  # a pattern with no special character is a plain string: match it as one (fast)
        if fixed and not (whole_word or whole_line):
            self._fixed = [p.lower() if ignore_case else p for p in patterns]
            return
        trees = [literal_tree(p) if fixed else parse_regex(p, extended=extended) for p in patterns]
        tree: RegexNode = trees[0] if len(trees) == 1 else ("alt", trees)
        if whole_line:
            tree = ("cat", [("assert", "bol"), tree, ("assert", "eol")])
        elif whole_word:
            tree = ("cat", [("assert", "no_word_before"), tree, ("assert", "no_word_after")])
        self._nfa = _Nfa(tree, ignore_case)
        self._states: dict[tuple[frozenset[int], int], _DfaState] = {}
        self._transitions = 0
        self._start = self._intern(frozenset(), _EDGE)

    def _intern(self, pending: frozenset[int], prev: int) -> _DfaState:
        key = (pending, prev)
        state = self._states.get(key)
        if state is None:
            state = self._states[key] = _DfaState(pending, prev)
        return state

    def _step(self, state: _DfaState, c: str) -> tuple[_DfaState, bool]:
        if len(self._states) > MAX_DFA_STATES or self._transitions > MAX_TRANSITIONS:
            # Bound memory as RE2 does: forget the cache and rebuild what is still needed.
            self._states.clear()
            self._transitions = 0
            self._start = self._intern(frozenset(), _EDGE)
            state = self._intern(state.pending, state.prev)
        nfa = self._nfa
        cls = _char_class(c)
        before = nfa.work
        chars, matched = nfa.closure(state.pending, state.prev, cls)
        self._budget.spend(nfa.work - before + len(chars))
        arg, out, fold = nfa.arg, nfa.out, nfa.fold
        following = frozenset(out[s] for s in chars if CharSet.matches(arg[s], c, fold))
        result = (self._intern(following, cls), matched)
        state.trans[c] = result
        self._transitions += 1
        return result

    def matches(self, line: str) -> bool:
        """Whether some pattern matches somewhere in ``line`` (which holds no newline)."""
        if self._fixed is not None:
            subject = line.lower() if self._fold else line
            return any(p in subject for p in self._fixed)
        state = self._start
        for c in line:
            step = state.trans.get(c)
            state, matched = step if step is not None else self._step(state, c)
            if matched:
                return True
        if state.end is None:
            state.end = self._nfa.closure(state.pending, state.prev, _EDGE)[1]
        return state.end
