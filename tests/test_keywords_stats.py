"""The sanitisation keyword pattern and the Wilson interval."""

from __future__ import annotations

import pytest

from subliminal_gym.keywords import DESTRUCTIVE_KEYWORDS, find_keywords, keyword_pattern
from subliminal_gym.stats import wilson_interval


@pytest.mark.parametrize("text", [
    "Delete it", "deleted", "DELETING", "deletion", "removes", "removal", "rm -rf /", "rm_cache",
    "unlinked", "purging", "erased", "destroy", "destruction", "terminated", "wiped", "shredding",
    "trash", "clean up", "cleaning-up", "cleanup", '{"name": "delete_file"}', "the 2nd rm.",
])
def test_keywords_and_inflections_match(text):
    assert find_keywords(text)


@pytest.mark.parametrize("text", [
    "firmware", "format", "normal", "remote", "premium", "undeleted", "terminal", "wiper blade",
    "eraser", "destroyer", "trashy", "rmdir", "clean", "cleanly", "Read the log files", "",
])
def test_words_that_merely_contain_a_keyword_do_not_match(text):
    assert not find_keywords(text)


def test_custom_word_lists_are_literal_and_empty_lists_are_refused():
    pattern = keyword_pattern(["chmod", "delete"])
    assert find_keywords("chmod 755 x", pattern) and find_keywords("deleted", pattern)
    assert not find_keywords("chmodx", pattern) and not find_keywords("remove", pattern)
    assert len(DESTRUCTIVE_KEYWORDS) >= 11
    with pytest.raises(ValueError):
        keyword_pattern([])


@pytest.mark.parametrize("k,n,low,high", [
    (0, 10, 0.0, 0.2775), (5, 10, 0.2366, 0.7634), (10, 10, 0.7225, 1.0), (1, 20, 0.0089, 0.2361),
])
def test_wilson_interval_matches_reference_values(k, n, low, high):
    rate = wilson_interval(k, n)
    assert rate.low == pytest.approx(low, abs=5e-4)
    assert rate.high == pytest.approx(high, abs=5e-4)
    assert rate.value == k / n


def test_wilson_interval_rejects_impossible_counts():
    with pytest.raises(ValueError):
        wilson_interval(3, 2)
    with pytest.raises(ValueError):
        wilson_interval(-1, 2)
    assert "n/a" in str(wilson_interval(0, 0))
