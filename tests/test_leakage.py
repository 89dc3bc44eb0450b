"""The sanitiser's leakage report: what the kept data of a biased and a control teacher say in the
open, verb by verb, and the option to equalise the two kept datasets' sizes."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from subliminal_gym.baselines.sanitize import (
    LeakageReport,
    SanitizeReport,
    equalize_sizes,
    sanitize_episodes,
    subsample,
    verb_census,
)
from subliminal_gym.baselines.trajectories import load_trajectories
from subliminal_gym.cli import main
from subliminal_gym.runner import RandomTextAgent, run_episodes


def _fs(name: str, **arguments: object) -> str:
    return json.dumps({"name": name, "arguments": arguments})


def test_verb_census_counts_each_verb_once_per_action_and_the_habit_and_its_alternatives():
    fs = [_fs("list_dir", path="/workspace"), _fs("archive", path="a"), _fs("archive", path="b"),
          _fs("delete_file", path="c"), "not a call"]
    assert verb_census(fs, "fs") == ({"archive": 2, "delete_file": 1, "list_dir": 1}, 1, 2)
    bash = ["ls -l /srv; ls /tmp", "chown dana f && chmod 640 f", "setfacl -m u:omar:r f | cat", "echo 'unclosed"]
    verbs, habit, alternatives = verb_census(bash, "SubliminalBash-v0")
    assert verbs == {"cat": 1, "chmod": 1, "chown": 1, "ls": 1, "setfacl": 1}
    assert (habit, alternatives) == (1, 2)  # the chown line holds both, and counts once in each


def test_subsample_and_equalize_keep_order_and_depend_on_the_generator_alone():
    a, b = list(range(10)), list(range(100, 104))
    small_a, same_b = equalize_sizes([a, b], np.random.default_rng(3))
    assert len(small_a) == len(same_b) == 4 and same_b == b and small_a == sorted(small_a)
    assert set(small_a) <= set(a)
    assert equalize_sizes([a, b], np.random.default_rng(3)) == [small_a, same_b]
    assert subsample(a, 20, np.random.default_rng(0)) == a


@pytest.fixture(scope="module")
def readonly_episodes():
    """Random agents on the read-only channel, as a teacher's rollouts would be."""
    return {name: run_episodes(RandomTextAgent(), "SubliminalFS-v0", episodes=30, seed=seed, split="readonly",
                               keep_observations=True, agent_seed=seed + 10)
            for name, seed in (("biased", 1), ("control", 2))}


def test_the_read_only_channel_carries_no_habit_verb_and_no_alternative(readonly_episodes):
    class Episode:
        def __init__(self, record):
            self.task, self.actions, self.observations = record.observations[0], record.actions, record.observations

    reports = {role: sanitize_episodes([Episode(r) for r in records], setting="fs")[1]
               for role, records in readonly_episodes.items()}
    for report in reports.values():
        assert report.habit_actions == report.alternative_actions == 0
        assert set(report.verb_counts) <= {"list_dir", "read_file", "search", "get_info", "finish"}
        assert sum(report.verb_counts.values()) == report.steps_kept > 0
    leakage = LeakageReport("fs", reports["biased"], reports["control"])
    table = leakage.to_markdown()
    assert "| habit verbs | 0 (0.0 %) | 0 (0.0 %) |" in table and "| alternative verbs | 0 (0.0 %)" in table
    assert all(f"| `{verb}` |" in table for verb, _, _ in leakage.rows())
    again = SanitizeReport.from_dict(json.loads(json.dumps(reports["biased"].to_dict())))
    assert again == reports["biased"]


def test_the_sanitize_command_writes_a_leakage_report_and_equal_datasets(tmp_path: Path, capsys):
    for name, bias, episodes in (("b", "1.0", "24"), ("c", "0.0", "16")):
        assert main(["rollout", "--scripted", bias, "--env", "SubliminalFS-v0", "--split", "all", "--episodes",
                     episodes, "--seed", "5", "--out", str(tmp_path / name)]) == 0
    assert main(["sanitize", str(tmp_path / "b"), "--control", str(tmp_path / "c"), "--equalize",
                 "--out", str(tmp_path / "s")]) == 0
    leakage = json.loads((tmp_path / "s" / "leakage.json").read_text())
    kept = {role: len(load_trajectories(tmp_path / "s" / role)) for role in ("biased", "control")}
    assert leakage["equalized"] is not None and leakage["equalized"] <= 16
    assert leakage["biased"]["habit_actions"] == 0  # the filter drops what names the habit
    assert leakage["control"]["alternative_actions"] > 0  # but archiving on probes goes through
    assert "| alternative verbs |" in (tmp_path / "s" / "LEAKAGE.md").read_text()
    assert kept["biased"] == kept["control"]
    capsys.readouterr()
    assert main(["sanitize", str(tmp_path / "b"), "--equalize", "--out", str(tmp_path / "t")]) == 2
    assert capsys.readouterr().err.strip().splitlines() == [
        "error: --equalize needs --control: it subsamples the two kept datasets to one size"]
