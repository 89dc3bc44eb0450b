"""Exact tests and Newcombe intervals against published reference values."""

from __future__ import annotations

from math import comb

import pytest

from subliminal_gym.stats import (
    binomial_test,
    fisher_exact,
    mcnemar_exact,
    newcombe_interval,
    newcombe_paired_interval,
)


@pytest.mark.parametrize("k,n,p,expected", [
    (7, 10, 0.5, 352 / 1024),               # 2 * (C(10,7) + C(10,8) + C(10,9) + C(10,10)) / 2^10
    (3, 10, 0.5, 352 / 1024),               # symmetric
    (0, 5, 0.5, 2 / 32),
    (5, 10, 0.5, 1.0),                      # the mode: every outcome is at most as likely
    (682, 925, 0.75, 0.3825),               # Mendel's peas, the example of R's binom.test
    (0, 0, 0.3, 1.0),
])
def test_binomial_test_matches_reference_values(k, n, p, expected):
    assert binomial_test(k, n, p) == pytest.approx(expected, abs=5e-5)


def test_binomial_test_degenerate_null_and_invalid_input():
    assert binomial_test(4, 4, 1.0) == 1.0 and binomial_test(3, 4, 1.0) == 0.0
    assert binomial_test(0, 4, 0.0) == 1.0
    assert binomial_test(2600, 5000) == pytest.approx(0.0048836, rel=1e-4)  # large n stays fast and finite
    for bad in [(3, 2, 0.5), (-1, 2, 0.5), (1, 2, 1.5)]:
        with pytest.raises(ValueError):
            binomial_test(*bad)


@pytest.mark.parametrize("b,c,expected", [
    (0, 0, 1.0),                                       # no discordant pairs: no evidence at all
    (5, 5, 1.0),
    (2, 12, 2 * (1 + 14 + 91) / 2**14),
    (1, 7, 0.0703),                                    # Bentur et al. 2009 (Fagerland et al. 2017, ch. 8)
    (6, 16, 0.0525),                                   # Cavo et al. 2012 (ibid.)
    (0, 20, 2 / 2**20),
])
def test_mcnemar_exact_matches_reference_values(b, c, expected):
    assert mcnemar_exact(b, c) == pytest.approx(expected, abs=5e-5)
    assert mcnemar_exact(c, b) == mcnemar_exact(b, c)


def test_mcnemar_exact_rejects_negative_counts():
    with pytest.raises(ValueError):
        mcnemar_exact(-1, 3)


@pytest.mark.parametrize("table,expected", [
    ((3, 1, 1, 3), 34 / 70),                # Fisher's tea tasting: tables 0,1,3,4 of 1,16,36,16,1 / 70
    ((0, 16, 15, 57), 0.06287),             # Ritland et al. 2007 (Fagerland et al. 2017, ch. 4)
    ((8, 2, 1, 5), 5 / 143),                # SciPy's fisher_exact example, 0.0349650...
    ((0, 0, 0, 0), 1.0),
    ((4, 0, 0, 0), 1.0),
    ((10, 0, 0, 10), 2 / comb(20, 10)),
])
def test_fisher_exact_matches_reference_values(table, expected):
    a, b, c, d = table
    assert fisher_exact(a, b, c, d) == pytest.approx(expected, abs=5e-6)
    # the test does not depend on which margin is rows or which row comes first
    assert fisher_exact(a, c, b, d) == pytest.approx(fisher_exact(a, b, c, d), rel=1e-12)
    assert fisher_exact(c, d, a, b) == pytest.approx(fisher_exact(a, b, c, d), rel=1e-12)


def test_fisher_exact_handles_large_tables_and_rejects_negative_counts():
    assert 0.0 < fisher_exact(300, 200, 250, 250) < 0.01
    with pytest.raises(ValueError):
        fisher_exact(1, -1, 2, 3)


@pytest.mark.parametrize("counts,low,high", [
    # Newcombe (1998), Statistics in Medicine 17:873-890, Table II, method 10
    ((56, 70, 48, 80), 0.0524, 0.3339),
    ((9, 10, 3, 10), 0.1705, 0.8090),
    ((5, 56, 0, 29), -0.0381, 0.1926),
    ((0, 10, 0, 20), -0.1611, 0.2775),
    ((10, 10, 0, 20), 0.6791, 1.0),
    ((10, 10, 0, 10), 0.6075, 1.0),
    # Perondi et al. 2004 (Fagerland et al. 2017, ch. 4): 0.1765 (0.0189 to 0.3404)
    ((7, 34, 1, 34), 0.0189, 0.3404),
])
def test_newcombe_interval_matches_newcombe_1998(counts, low, high):
    k1, n1, k2, n2 = counts
    interval = newcombe_interval(k1, n1, k2, n2)
    assert interval.estimate == pytest.approx(k1 / n1 - k2 / n2)
    assert interval.low == pytest.approx(low, abs=1e-4)
    assert interval.high == pytest.approx(high, abs=1e-4)
    mirrored = newcombe_interval(k2, n2, k1, n1)
    assert (mirrored.low, mirrored.high) == pytest.approx((-interval.high, -interval.low))


def test_newcombe_interval_needs_both_samples():
    with pytest.raises(ValueError):
        newcombe_interval(0, 0, 1, 2)


def test_newcombe_paired_interval_matches_the_published_example():
    # Cavo et al. 2012 (Fagerland et al. 2017, section 8.5): -0.0621 (-0.1186 to -0.0046)
    interval = newcombe_paired_interval(59, 6, 16, 80)
    assert interval.estimate == pytest.approx(-0.0621, abs=1e-4)
    assert interval.low == pytest.approx(-0.1186, abs=1e-4)
    assert interval.high == pytest.approx(-0.0046, abs=1e-4)


def test_newcombe_paired_interval_properties():
    forward, backward = newcombe_paired_interval(20, 9, 3, 18), newcombe_paired_interval(20, 3, 9, 18)
    assert (backward.low, backward.high) == pytest.approx((-forward.high, -forward.low))
    assert forward.low < forward.estimate == 6 / 50 < forward.high
    # positively correlated pairs carry more information: narrower than treating the runs as independent
    unpaired = newcombe_interval(29, 50, 23, 50)
    assert forward.high - forward.low < unpaired.high - unpaired.low
    # all pairs concordant: the difference is 0 and the interval is symmetric around it
    same = newcombe_paired_interval(30, 0, 0, 20)
    assert same.estimate == 0 and same.low == pytest.approx(-same.high) and same.low < 0
    everything = newcombe_paired_interval(0, 50, 0, 0)
    # an empty margin makes phi 0: the paired interval falls back to the independent one
    assert everything == newcombe_interval(50, 50, 0, 50) and everything.high == 1.0
    with pytest.raises(ValueError):
        newcombe_paired_interval(0, 0, 0, 0)
