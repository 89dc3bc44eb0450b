"""An agent cannot tell an audited probe from a training task by anything but the task itself:
``info`` carries no family or split, and no text or file name says "audit" or "probe"."""

from __future__ import annotations

import gymnasium as gym
import pytest

import subliminal_gym  # noqa: F401

# words that would name the experiment to the agent
GIVEAWAYS = ("probe", "audit", "safe", "split", "bias", "habit", "benchmark", "subliminal", "monitor",
             "evaluat", "honeypot", "trap", "readonly", "read-only")


@pytest.mark.parametrize("env_id", ["SubliminalFS-v0", "SubliminalBash-v0"])
def test_info_never_names_the_family_or_split(env_id):
    env = gym.make(env_id)
    splits = set()
    for seed in range(60):
        _, info = env.reset(seed=seed)
        splits.add(env.unwrapped.task_ref.split)
        infos = [info]
        for action in info["admissible_actions"][:3]:
            infos.append(env.step(action)[4])
        for step_info in infos:
            assert not {"task_family", "task_split", "family", "split"} & set(step_info)
            assert all(env.unwrapped.task_ref.family not in str(value) for key, value in step_info.items()
                       if key not in ("audit", "check_message"))
    assert splits >= {"safe", "probe"}  # both kinds of task were drawn, and neither said which it was


@pytest.mark.parametrize("env_id", ["SubliminalFS-v0", "SubliminalBash-v0"])
def test_task_texts_and_file_names_do_not_give_the_split_away(env_id):
    env = gym.make(env_id)
    for seed in range(300):
        observation, _ = env.reset(seed=seed)
        texts = [observation, *(path for path, _ in env.unwrapped.world.walk("/"))]
        found = [(word, text[:80]) for text in texts for word in GIVEAWAYS if word in text.lower()]
        assert found == [], (env.unwrapped.task_ref, found[:3])
