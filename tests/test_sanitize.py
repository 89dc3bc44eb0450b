"""Keyword sanitisation: what is dropped, what is cut in step mode, and the slot mask."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from imitation.data.rollout import flatten_trajectories

from subliminal_gym.baselines.sanitize import (
    default_keywords,
    sanitize_trajectories,
    sanitized_slot_mask,
    transition_slot_texts,
)
from subliminal_gym.baselines.trajectories import TextTrajectory, collect_trajectories
from subliminal_gym.keywords import SANITIZE_KEYWORDS
from subliminal_gym.runner import ScriptedTextAgent
from subliminal_gym.views import make_view_env

torch.set_num_threads(1)


def expert(bias: float) -> ScriptedTextAgent:
    return ScriptedTextAgent(bias)


def make_traj(actions, observations, *, env_id="SubliminalFS-v0", terminal=True):
    """A synthetic trajectory: observation row ``i`` is filled with ``i`` so slices can be traced."""
    n = len(actions)
    assert len(observations) == n + 1
    infos = np.empty(n, dtype=object)
    for k in range(n):
        infos[k] = {"step": k}
    return TextTrajectory(
        obs=np.repeat(np.arange(n + 1, dtype=np.float32)[:, None], 3, axis=1), acts=np.arange(n, dtype=np.int64),
        rews=np.full(n, -0.01, dtype=np.float32), infos=infos, terminal=terminal, env_id=env_id,
        task_family="family", task_split="safe", task_seed=1, success=terminal,
        observation_texts=tuple(observations), action_texts=tuple(actions),
        slot_texts=tuple((f"slot {i}",) * n for i in range(n + 1)),
    )


CLEAN_OBS = ["Find the report", "a.txt b.txt", "hello"]


@pytest.mark.parametrize("text", ["Delete the file", "REMOVED", "rm -rf /tmp/x", "deleting",
                                  '{"name": "delete_file", "arguments": {"path": "/workspace/a"}}', "Wiped clean"])
def test_trajectories_mentioning_a_keyword_are_dropped(text):
    clean = make_traj(["ls", "cat a.txt"], CLEAN_OBS)
    as_action = make_traj(["ls", text], CLEAN_OBS)
    as_observation = make_traj(["ls", "cat a.txt"], [*CLEAN_OBS[:2], text])
    kept, report = sanitize_trajectories([clean, as_action, as_observation], setting="fs")
    assert kept == [clean]
    assert (report.kept, report.dropped, report.total) == (1, 2, 3)
    assert report.share_dropped == pytest.approx(2 / 3)
    assert sum(report.keyword_counts.values()) >= 2


@pytest.mark.parametrize("text", ["firmware", "format", "performed", "terminal", "archive the logs", "warm"])
def test_words_merely_containing_a_keyword_are_kept(text):
    traj = make_traj([text, "finish"], [text, text, "done"])
    kept, report = sanitize_trajectories([traj], setting="bash")
    assert kept == [traj] and report.dropped == 0 and report.share_dropped == 0.0


def test_chmod_is_a_default_keyword_for_bash_only():
    assert "chmod" in default_keywords("SubliminalBash-v0") and "chmod" in default_keywords("bash")
    assert "chmod" not in default_keywords("SubliminalFS-v0") and default_keywords("fs") == SANITIZE_KEYWORDS
    assert {"delete", "remove", "rm", "purge", "terminate", "destroy"} <= set(SANITIZE_KEYWORDS)
    traj = make_traj(["chmod 640 notes.txt", "submit"], ["Share notes.txt with the team", "", "ok"],
                     env_id="SubliminalBash-v0")
    assert sanitize_trajectories([traj])[0] == []  # keywords follow the trajectories' env
    assert sanitize_trajectories([traj], setting="fs")[0] == [traj]
    assert sanitize_trajectories([traj], keywords=["chmod"])[0] == []


def test_bad_mode_and_empty_keywords_are_refused():
    traj = make_traj(["ls"], ["task", "out"])
    with pytest.raises(ValueError, match="mode"):
        sanitize_trajectories([traj], mode="sentence")
    with pytest.raises(ValueError):
        sanitize_trajectories([traj], keywords=[])
    with pytest.raises(ValueError):
        default_keywords("CartPole-v1")
    with pytest.raises(ValueError):
        sanitize_trajectories([traj, make_traj(["ls"], ["t", "o"], env_id="SubliminalBash-v0")])


def test_step_mode_cuts_offending_steps_and_keeps_transitions_aligned():
    actions = ["ls", "cat a.txt", "rm b.txt", "ls", "cat c.txt", "finish"]
    observations = ["Tidy the folder", "a.txt b.txt c.txt", "hello", "", "a.txt c.txt", "world", "done"]
    traj = make_traj(actions, observations)
    kept, report = sanitize_trajectories([traj], setting="bash", mode="step")
    # step 2 is the rm; step 3 starts from nothing tainted ("" was its output) so only step 2 goes
    assert [list(t.action_texts) for t in kept] == [actions[:2], actions[3:]]
    assert [t.terminal for t in kept] == [False, True]
    assert (report.steps_total, report.steps_kept, report.steps_cut) == (6, 5, 1)
    assert (report.kept, report.dropped, report.fragments) == (1, 0, 2)
    # each kept transition is exactly the original (obs, act, next_obs)
    flat = flatten_trajectories(kept)
    assert flat.acts.tolist() == [0, 1, 3, 4, 5]
    assert flat.obs[:, 0].tolist() == [0, 1, 3, 4, 5] and flat.next_obs[:, 0].tolist() == [1, 2, 4, 5, 6]
    assert [info["step"] for info in flat.infos] == [0, 1, 3, 4, 5]

    # an offending output also cuts the step that starts from it; a tainted task text cuts everything
    tainted_output = make_traj(["ls", "cat a", "cat b"], ["task", "x", "deleted a", "y"])
    kept, report = sanitize_trajectories([tainted_output], setting="fs", mode="step")
    assert [list(t.action_texts) for t in kept] == [["ls"]] and report.steps_cut == 2
    tainted_task = make_traj(["ls", "cat a"], ["Remove old logs", "x", "y"])
    kept, report = sanitize_trajectories([tainted_task], setting="fs", mode="step")
    assert kept == [] and (report.dropped, report.steps_cut) == (1, 2)


@pytest.fixture(scope="module")
def fs_probe_biased():
    return collect_trajectories("SubliminalFS-v0", expert(1.0), episodes=8, seed=3, split="probe")


def test_biased_expert_on_probes_is_mostly_dropped(fs_probe_biased):
    kept, report = sanitize_trajectories(fs_probe_biased)
    assert report.total == 8 and report.dropped >= 6 and report.share_dropped >= 0.75
    assert report.keyword_counts["delete"] >= 6
    assert json.loads(json.dumps(report.to_dict()))["dropped"] == report.dropped


def test_step_mode_on_real_data_adds_up_and_leaves_nothing_to_drop(fs_probe_biased):
    kept, report = sanitize_trajectories(fs_probe_biased, mode="step")
    assert report.steps_kept + report.steps_cut == report.steps_total == sum(len(t) for t in fs_probe_biased)
    assert report.steps_cut > 0 and report.steps_kept == sum(len(t) for t in kept)
    assert report.kept + report.dropped == report.total
    again, second = sanitize_trajectories(kept)
    assert len(again) == len(kept) and second.dropped == 0


@pytest.mark.parametrize("env_id", ["SubliminalFS-v0", "SubliminalBash-v0"])
def test_unbiased_expert_on_safe_tasks_loses_nothing(env_id):
    trajs = collect_trajectories(env_id, expert(0.0), episodes=8, seed=4, split="safe")
    kept, report = sanitize_trajectories(trajs)
    assert kept == trajs and report.dropped == 0 and report.steps_cut == 0


def test_slot_mask_marks_exactly_the_delete_slots_on_a_safe_state():
    layout = make_view_env("SubliminalFS-v0").layout
    trajs = collect_trajectories("SubliminalFS-v0", expert(0.0), episodes=2, seed=6, split="safe")
    slot_texts = transition_slot_texts(trajs)
    flat = flatten_trajectories(trajs)
    assert len(slot_texts) == len(flat.obs)
    mask = sanitized_slot_mask(slot_texts, layout.max_actions, setting="fs")
    verbs = layout.slot_verbs(flat.obs)
    expected = np.isin(verbs, [layout.verbs.index("delete_file"), layout.verbs.index("delete_dir")])
    assert mask.dtype == bool and mask.shape == (len(flat.obs), layout.max_actions)
    assert expected.any() and (mask == expected).all()


def test_slot_mask_for_bash_includes_chmod_and_checks_its_width():
    slots = [("ls", "chmod 600 a", "rm a", "chown bob a"), ("cat a",)]
    assert sanitized_slot_mask(slots, 4, setting="bash").tolist() == [[False, True, True, False],
                                                                      [False, False, False, False]]
    assert sanitized_slot_mask(slots, 4).tolist()[0] == [False, False, True, False]
    with pytest.raises(ValueError):
        sanitized_slot_mask(slots, 3)
