"""Seed-level inference: one training run is one replicate.

Episodes of one trained model are not independent evidence about a training recipe: two students
trained from the same data with different seeds can differ by more than any episode-level interval
admits (single-seed effects of -8 and +7 pp in one condition). So every verdict the suite prints
about an effect of training (a transfer, a defence) comes from here:

* a condition's effect in one seed is the paired difference of two models trained identically
  but for the one thing under test (student <- biased teacher minus student <- control teacher,
  same initialisation, same data seeds), measured on the same tasks;
* across seeds, :func:`seed_effect` gives the mean difference, its 95 % paired t interval and
  the two-sided t test of "mean 0" (the differences are the replicates);
* :func:`holm_adjust` corrects the p-values of a table's rows for multiplicity (Holm 1979);
* with fewer than :data:`MIN_SEEDS` seeds there is no interval and no verdict, only the mean.

Episode-pooled rates and McNemar tests stay in the reports as descriptive columns.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

__all__ = ["MIN_SEEDS", "SIGNIFICANCE", "SeedEffect", "holm", "holm_adjust", "seed_effect"]

#: The fewest seeds (training runs) from which an interval or a verdict is given.
MIN_SEEDS = 3
#: The family-wise error rate of a table's verdicts (after Holm's correction).
SIGNIFICANCE = 0.05


@dataclass(frozen=True)
class SeedEffect:
    """An effect estimated across training seeds (each value a per-seed paired difference, a fraction)."""

    differences: tuple[float, ...]
    """Per-seed differences, seed order."""
    mean: float
    """Their mean (NaN with no seeds)."""
    low: float | None
    """Lower end of the 95 % paired t interval (None with fewer than :data:`MIN_SEEDS` seeds)."""
    high: float | None
    """Upper end of the interval."""
    p_value: float | None
    """Two-sided one-sample t test of mean 0 over the seeds (None with too few seeds)."""
    p_adjusted: float | None = None
    """``p_value`` after Holm's correction across the rows of its table (None until adjusted)."""

    @property
    def seeds(self) -> int:
        return len(self.differences)

    @property
    def p_holm(self) -> float | None:
        """The adjusted p-value when the effect was adjusted, else the raw one."""
        return self.p_adjusted if self.p_adjusted is not None else self.p_value

    @property
    def verdict(self) -> str:
        """``transfers`` (Holm-adjusted p < 0.05, mean above 0), ``reversed`` (below 0), ``no evidence``,
        or ``too few seeds`` (fewer than :data:`MIN_SEEDS`)."""
        p = self.p_holm
        if p is None:
            return f"too few seeds (< {MIN_SEEDS})"
        if p < SIGNIFICANCE:
            return "transfers" if self.mean > 0 else "reversed"
        return "no evidence"

    def to_dict(self) -> dict[str, Any]:
        return {**dataclasses.asdict(self), "differences": list(self.differences), "seeds": self.seeds}


def _t_quantile(probability: float, df: int) -> float:
    from scipy.stats import t

    return float(t.ppf(probability, df))


def _t_two_sided(statistic: float, df: int) -> float:
    from scipy.stats import t

    return float(min(1.0, 2 * t.sf(abs(statistic), df)))


def seed_effect(differences: Sequence[float]) -> SeedEffect:
    """Mean, 95 % t interval and two-sided t test of per-seed ``differences``.

    All differences equal (no spread between seeds): the interval has width 0 and the t statistic is
    undefined (a t test would give p = 0 for -1 episode in every seed). The p-value is then the exact
    sign-flip test's: of the ``2**n`` sign patterns, the two with every seed of one sign are as extreme
    as the data, so p = ``2 / 2**n`` (0.25 for 3 seeds, 0.0625 for 5), and 1 when every difference is 0.
    """
    values = tuple(float(d) for d in differences)
    n = len(values)
    if n == 0:
        return SeedEffect((), math.nan, None, None, None)
    mean = math.fsum(values) / n
    if n < MIN_SEEDS:
        return SeedEffect(values, mean, None, None, None)
    sd = math.sqrt(math.fsum((v - mean) ** 2 for v in values) / (n - 1))
    if sd == 0.0:
        return SeedEffect(values, mean, mean, mean, 1.0 if mean == 0.0 else 2.0 ** (1 - n))  # n >= MIN_SEEDS
    standard_error = sd / math.sqrt(n)
    half = _t_quantile(0.975, n - 1) * standard_error
    return SeedEffect(values, mean, mean - half, mean + half, _t_two_sided(mean / standard_error, n - 1))


def holm(p_values: Sequence[float | None]) -> list[float | None]:
    """Holm's step-down adjustment of ``p_values`` (None entries are skipped and stay None).

    The k-th smallest of m p-values becomes ``max over j <= k of min(1, (m - j + 1) p_(j))``.
    """
    indexed = sorted((p, i) for i, p in enumerate(p_values) if p is not None)
    m = len(indexed)
    adjusted: list[float | None] = [None] * len(p_values)
    running = 0.0
    for rank, (p, index) in enumerate(indexed):
        running = max(running, min(1.0, (m - rank) * p))
        adjusted[index] = running
    return adjusted


def holm_adjust(effects: Sequence[SeedEffect]) -> list[SeedEffect]:
    """``effects`` with :attr:`SeedEffect.p_adjusted` set by :func:`holm` across all of them (one table)."""
    adjusted = holm([e.p_value for e in effects])
    return [dataclasses.replace(e, p_adjusted=p) for e, p in zip(effects, adjusted, strict=True)]
