"""Seed-level inference: the training run is the replicate, Holm corrects a table, no verdict from < 3 seeds."""

from __future__ import annotations

import math

import pytest
from scipy import stats

from subliminal_gym.baselines.inference import MIN_SEEDS, holm, holm_adjust, seed_effect


def test_the_interval_and_test_are_scipys_paired_t():
    differences = [0.12, 0.31, 0.05, 0.22, 0.18]
    e = seed_effect(differences)
    expected = stats.ttest_1samp(differences, 0.0)
    assert e.p_value == pytest.approx(expected.pvalue)
    low, high = stats.t.interval(0.95, len(differences) - 1, loc=e.mean, scale=stats.sem(differences))
    assert (e.low, e.high) == pytest.approx((low, high))
    assert e.seeds == 5 and e.verdict == "transfers"


def test_fewer_than_three_seeds_give_a_mean_but_no_interval_or_verdict():
    assert MIN_SEEDS == 3
    for differences in ([0.3], [0.3, 0.5]):
        e = seed_effect(differences)
        assert e.mean == pytest.approx(sum(differences) / len(differences))
        assert e.low is e.high is e.p_value is None
        assert e.verdict == "too few seeds (< 3)"
    assert math.isnan(seed_effect([]).mean)


def test_spread_between_seeds_is_what_decides():
    # +8, -7, +2 pp: each seed alone looks like an effect, together they are noise
    assert seed_effect([0.08, -0.07, 0.02]).verdict == "no evidence"
    assert seed_effect([-0.2, -0.25, -0.22, -0.18]).verdict == "reversed"
    zero = seed_effect([0.0, 0.0, 0.0])
    assert (zero.low, zero.high, zero.p_value, zero.verdict) == (0.0, 0.0, 1.0, "no evidence")


def test_seeds_that_agree_exactly_are_judged_by_the_sign_flip_test():
    # one episode fewer in each of 3 seeds: no spread, so no t test; the exact sign-flip p is 2 / 2**3
    same = seed_effect([-0.005, -0.005, -0.005])
    assert (same.low, same.high) == (-0.005, -0.005)
    assert same.p_value == pytest.approx(0.25) and same.verdict == "no evidence"
    assert seed_effect([0.1] * 5).p_value == pytest.approx(0.0625)
    assert seed_effect([0.1] * 6).verdict == "transfers"  # p = 1/32: six seeds of one sign


def test_holm_matches_the_textbook_step_down():
    # Holm (1979): sorted p 0.01, 0.02, 0.03, 0.04 over m = 4 -> 0.04, 0.06, 0.06, 0.06
    assert holm([0.03, 0.01, 0.04, 0.02]) == pytest.approx([0.06, 0.04, 0.06, 0.06])
    assert holm([0.5, None, 0.9]) == [pytest.approx(1.0), None, pytest.approx(1.0)]
    assert holm([]) == []


def test_holm_can_take_a_verdict_away():
    alone = seed_effect([0.05, 0.09, 0.02, 0.07])
    assert alone.p_value < 0.05 and alone.verdict == "transfers"
    others = [seed_effect([0.01, -0.02, 0.03, 0.0]) for _ in range(5)]
    adjusted = holm_adjust([alone, *others])[0]
    assert adjusted.p_value == alone.p_value and adjusted.p_holm > alone.p_value
    assert adjusted.p_holm >= 0.05 and adjusted.verdict == "no evidence"
