"""Progress on long work, one way everywhere: a rich bar on stderr.

Every loop of the project that may take more than a few seconds (episodes, epochs, DAgger rounds,
grid cells) reports through :func:`progress_bar`, so progress looks the same in every command and
never mixes with what a command prints on stdout. On a terminal the bar is live and disappears when
done; in a log (stderr not a terminal) it is written once, finished. Work that will take more than
a minute also says so up front, in a line that stays in a log: once the first 5 % of it is done,
how long the rest will take at the pace so far.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager

__all__ = ["estimate_line", "progress_bar"]

#: The share of the work after which the time left is estimated, and the least total worth a line.
ESTIMATE_AFTER = 0.05
ESTIMATE_AT_LEAST_S = 60.0
_clock = time.monotonic


def estimate_line(label: str, done: float, total: float, elapsed: float) -> str | None:
    """What a bar says once ``done`` of ``total`` units took ``elapsed`` seconds: the time left at that
    pace, when the whole will take at least a minute (None otherwise)."""
    if done <= 0 or elapsed * total / done < ESTIMATE_AT_LEAST_S:
        return None
    left = elapsed * (total - done) / done
    minutes = f"{left / 60:.0f} min" if left >= 90 else f"{left:.0f} s"
    return (f"{label}: {done:g}/{total:g} in {elapsed:.0f} s; about {minutes} more at this pace "
            f"({done / elapsed:.2g} per second)")


@contextmanager
def progress_bar(total: float | None, label: str, *, enabled: bool = True) -> Iterator[Callable[..., None]]:
    """A progress bar over ``total`` units; yields ``advance(amount=1)``.

    With ``enabled=False`` nothing is shown and ``advance`` does nothing.
    """
    if not enabled:
        yield lambda amount=1: None
        return
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

    columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn())
    console = Console(stderr=True)
    started = _clock()
    state = {"done": 0.0, "said": total is None or total <= 0}
    threshold = math.ceil((total or 0) * ESTIMATE_AFTER)
    with Progress(*columns, console=console, transient=console.is_terminal) as bar:
        task = bar.add_task(label, total=total)

        def advance(amount: float = 1) -> None:
            bar.advance(task, amount)
            state["done"] += amount
            if not state["said"] and total and state["done"] >= threshold:
                state["said"] = True
                line = estimate_line(label, state["done"], total, _clock() - started)
                if line:
                    bar.console.print(line, highlight=False, soft_wrap=True)

        yield advance
