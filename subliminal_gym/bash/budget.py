"""Work a command line may spend in the parts of the shell whose cost depends on the input's shape.

A cached DFA makes ordinary ``grep`` patterns nearly free, but a pattern whose DFA keeps outgrowing
its cache (many bounded repetitions over varied text) rebuilds states all the time: one ``grep -E``
over 768 KB took 12 s before this bound. The shell gives every command line one :class:`WorkBudget`;
the matcher spends from it, and a command that runs it out fails with a sandbox-limit message.
"""

from __future__ import annotations

__all__ = ["MAX_MATCHER_WORK", "MAX_SEARCH_BYTES", "BudgetExceeded", "WorkBudget"]

#: Matcher work (NFA positions visited while building DFA states) one command line may spend:
#: about 0.4 s on the 2-core dev machine (a pattern that thrashes its DFA cache spends it all).
MAX_MATCHER_WORK = 1_000_000
#: Bytes the ``grep`` commands of one command line may search together (one grep per line could search
#: this much before, and a line may hold hundreds of them).
MAX_SEARCH_BYTES = 16 * 1024 * 1024


class BudgetExceeded(Exception):
    """A command line ran out of its work budget; ``str(error)`` is the message shown to the agent."""


class WorkBudget:
    """Work a command line may still spend (shared by every command of the line)."""

    def __init__(self, limit: int = MAX_MATCHER_WORK, search_bytes: int = MAX_SEARCH_BYTES) -> None:
        self.left = limit
        self.search_bytes_left = search_bytes

    def take_search_bytes(self, size: int) -> bool:
        """Whether ``size`` more bytes may be searched in this line (and if so, count them)."""
        if size > self.search_bytes_left:
            return False
        self.search_bytes_left -= size
        return True

    def spend(self, work: int) -> None:
        """Take ``work`` from the budget.

        Raises:
            BudgetExceeded: the budget is spent.
        """
        self.left -= work
        if self.left < 0:
            raise BudgetExceeded("pattern too complex for this input (sandbox limit on the matcher's work per "
                                 "command line)")
