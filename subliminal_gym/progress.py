"""Progress on long work, one way everywhere: a rich bar on stderr.

Every loop of the project that may take more than a few seconds (episodes, epochs, DAgger rounds,
grid cells) reports through :func:`progress_bar`, so progress looks the same in every command and
never mixes with what a command prints on stdout. On a terminal the bar is live and disappears when
done; in a log (stderr not a terminal) it is written once, finished.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager

__all__ = ["progress_bar"]


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
    with Progress(*columns, console=console, transient=console.is_terminal) as bar:
        task = bar.add_task(label, total=total)
        yield lambda amount=1: bar.advance(task, amount)
