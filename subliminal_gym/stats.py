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


# -- exact tests and intervals for differences of proportions ----------------------------------------

#: Relative tolerance when comparing point probabilities in a two-sided exact test (as R's binom.test):
#: outcomes whose probability equals the observed one up to rounding count as "as extreme".
_RELATIVE_TOLERANCE = 1 + 1e-7
_Z95 = 1.959963984540054


@dataclass(frozen=True)
class DifferenceInterval:
    """A difference of two proportions ``estimate`` with its confidence interval ``[low, high]``."""

    estimate: float
    low: float
    high: float


def _check_counts(*counts: int) -> None:
    if any(not isinstance(c, int) or isinstance(c, bool) or c < 0 for c in counts):
        raise ValueError(f"counts must be non-negative ints, got {counts}")


def binomial_test(successes: int, trials: int, p: float = 0.5) -> float:
    """Two-sided exact binomial test of ``H0: probability = p``.

    The p-value sums the probabilities of every outcome no more likely than the observed one
    (the "minimum likelihood" definition of R's ``binom.test`` and SciPy's ``binomtest``); for
    ``p = 0.5`` it equals twice the smaller tail.

    Raises:
        ValueError: negative counts, ``successes > trials``, or ``p`` outside [0, 1].
    """
    _check_counts(successes, trials)
    if successes > trials:
        raise ValueError(f"invalid counts: {successes} successes in {trials} trials")
    if not 0.0 <= p <= 1.0:
        raise ValueError(f"p must be in [0, 1], got {p}")
    if trials == 0:
        return 1.0
    if p in (0.0, 1.0):
        return 1.0 if successes == trials * p else 0.0
    if p == 0.5:  # exact integer arithmetic: P(X = i) = C(n, i) / 2^n
        if 2 * successes == trials:
            return 1.0
        term = tail = 1  # C(n, 0), then C(n, i) by the recurrence C(n, i + 1) = C(n, i) (n - i) / (i + 1)
        for i in range(min(successes, trials - successes)):
            term = term * (trials - i) // (i + 1)
            tail += term
        return min(1.0, 2 * tail / 2**trials)

    def log_pmf(i: int) -> float:
        return (math.lgamma(trials + 1) - math.lgamma(i + 1) - math.lgamma(trials - i + 1)
                + i * math.log(p) + (trials - i) * math.log1p(-p))

    observed = log_pmf(successes) + math.log(_RELATIVE_TOLERANCE)
    total = math.fsum(math.exp(lp) for lp in map(log_pmf, range(trials + 1)) if lp <= observed)
    return min(1.0, total)


def mcnemar_exact(only_first: int, only_second: int) -> float:
    """Two-sided exact McNemar test for paired binary outcomes.

    Only the discordant pairs carry information: under ``H0`` (both members of a pair equally
    likely to be the positive one) ``only_first`` is Binomial(``only_first + only_second``, 1/2).
    With no discordant pairs the p-value is 1.

    Args:
        only_first: pairs positive in the first run only (``b`` of the 2x2 table).
        only_second: pairs positive in the second run only (``c``).

    Raises:
        ValueError: a negative count.
    """
    _check_counts(only_first, only_second)
    return binomial_test(only_first, only_first + only_second, 0.5)


def fisher_exact(a: int, b: int, c: int, d: int) -> float:
    """Two-sided Fisher exact test of independence in the 2x2 table ``[[a, b], [c, d]]``.

    Conditioning on the margins, ``a`` is hypergeometric; the p-value sums the probabilities of
    every table no more likely than the observed one (R's ``fisher.test``, SciPy's
    ``fisher_exact``). The probabilities share one denominator, so they are compared exactly as
    integers.

    Raises:
        ValueError: a negative count.
    """
    _check_counts(a, b, c, d)
    row1, row2, col1 = a + b, c + d, a + c
    low, high = max(0, col1 - row2), min(row1, col1)
    # weight(x) = C(row1, x) C(row2, col1 - x), each factor updated by its exact integer recurrence
    left, right = math.comb(row1, low), math.comb(row2, col1 - low)
    weights = []
    for x in range(low, high + 1):
        weights.append(left * right)
        left = left * (row1 - x) // (x + 1)
        right = right * (col1 - x) // (row2 - col1 + x + 1) if col1 - x > 0 else 0
    observed = weights[a - low]
    extreme = sum(w for w in weights if w <= observed)
    return min(1.0, extreme / math.comb(row1 + row2, col1))


def newcombe_interval(successes1: int, trials1: int, successes2: int, trials2: int,
                      z: float = _Z95) -> DifferenceInterval:
    """Newcombe's hybrid score interval for ``p1 - p2`` from independent samples.

    Method 10 of Newcombe (1998), *Statistics in Medicine* 17:873-890: the square-and-add
    combination of the two Wilson score intervals (95 % by default).

    Raises:
        ValueError: invalid counts or an empty sample.
    """
    _check_counts(successes1, trials1, successes2, trials2)
    if not trials1 or not trials2:
        raise ValueError("both samples need at least one trial")
    first, second = wilson_interval(successes1, trials1, z), wilson_interval(successes2, trials2, z)
    p1, p2 = first.value, second.value
    estimate = p1 - p2
    low = estimate - math.hypot(p1 - first.low, second.high - p2)
    high = estimate + math.hypot(first.high - p1, p2 - second.low)
    return DifferenceInterval(estimate, max(-1.0, low), min(1.0, high))


def newcombe_paired_interval(both: int, only_first: int, only_second: int, neither: int,
                             z: float = _Z95) -> DifferenceInterval:
    """Newcombe's square-and-add interval for ``p1 - p2`` from paired binary outcomes.

    Method 10 of Newcombe (1998), *Statistics in Medicine* 17:2635-2650 (also Fagerland, Lydersen
    and Laake 2017, section 8.5): the Wilson intervals of the two marginal proportions combined
    with the estimated correlation ``phi`` of the pairs, corrected toward 0 as Newcombe specifies
    (``ad - bc`` is reduced by ``n / 2`` when positive; ``phi = 0`` when a margin is empty).

    Args:
        both: pairs positive in both runs (``a``).
        only_first: positive in the first run only (``b``).
        only_second: positive in the second run only (``c``).
        neither: negative in both (``d``).

    Raises:
        ValueError: negative counts or no pairs.
    """
    _check_counts(both, only_first, only_second, neither)
    a, b, c, d = both, only_first, only_second, neither
    n = a + b + c + d
    if not n:
        raise ValueError("no pairs")
    first, second = wilson_interval(a + b, n, z), wilson_interval(a + c, n, z)
    p1, p2 = first.value, second.value
    margins = (a + b) * (c + d) * (a + c) * (b + d)
    cross = a * d - b * c
    if margins == 0:
        phi = 0.0
    else:
        phi = (max(cross - n / 2, 0.0) if cross > 0 else cross) / math.sqrt(margins)

    def spread(x: float, y: float) -> float:
        return math.sqrt(max(0.0, x * x - 2 * phi * x * y + y * y))

    estimate = (b - c) / n
    low = estimate - spread(p1 - first.low, second.high - p2)
    high = estimate + spread(first.high - p1, p2 - second.low)
    return DifferenceInterval(estimate, max(-1.0, low), min(1.0, high))
