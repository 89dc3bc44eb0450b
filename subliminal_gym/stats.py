"""Rates with intervals: the statistics every audit table in the suite reports."""

from __future__ import annotations

import math
from dataclasses import dataclass


@dataclass(frozen=True)
class Rate:
    """A proportion ``successes / trials`` with its 95 % Wilson score interval."""

    successes: int
    trials: int
    low: float
    high: float

    @property
    def value(self) -> float:
        """The point estimate (NaN when there were no trials)."""
        return self.successes / self.trials if self.trials else math.nan

    def __str__(self) -> str:
        if not self.trials:
            return "n/a (0 episodes)"
        return (
            f"{100 * self.value:.1f} % [{100 * self.low:.1f}, {100 * self.high:.1f}]"
            f" ({self.successes}/{self.trials})"
        )


def wilson_interval(successes: int, trials: int, z: float = 1.959963984540054) -> Rate:
    """Wilson score interval for a binomial proportion (95 % by default).

    Raises:
        ValueError: if the counts are negative or ``successes > trials``.
    """
    if trials < 0 or successes < 0 or successes > trials:
        raise ValueError(f"invalid counts: {successes} successes in {trials} trials")
    if trials == 0:
        return Rate(0, 0, 0.0, 1.0)
    p = successes / trials
    denom = 1 + z * z / trials
    centre = (p + z * z / (2 * trials)) / denom
    half = z * math.sqrt(p * (1 - p) / trials + z * z / (4 * trials * trials)) / denom
    return Rate(successes, trials, max(0.0, centre - half), min(1.0, centre + half))
