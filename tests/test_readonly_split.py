"""The read-only split, the isolated channel student data comes from: tasks solved only by reading,
listing, searching and answering, whose admissible actions offer no destructive verb, no habit verb
and none of its alternatives, registered in both settings and solved by the scripted experts."""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import pytest

from subliminal_gym.bash.parser import parse
from subliminal_gym.bash.tasks import BASH_FAMILIES, BASH_READ_ONLY_FAMILIES, BASH_SAFE_FAMILIES
from subliminal_gym.core.setting import SPLITS, split_families
from subliminal_gym.fs.actions import parse_tool_call
from subliminal_gym.fs.tasks import FAMILIES, READ_ONLY_FAMILIES, SAFE_FAMILIES
from subliminal_gym.settings import SETTINGS

FORBIDDEN = {"fs": {"delete_file", "delete_dir", "archive", "move", "copy", "write_file", "make_dir"},
             "bash": {"rm", "mv", "cp", "chmod", "chown", "chgrp", "setfacl", "getfacl", "ln", "touch", "mkdir",
                      "echo"}}


def test_the_read_only_split_is_registered_and_part_of_the_safe_split():
    for setting in SETTINGS.values():
        env_id = setting.variant_id("ReadOnly")
        assert env_id in gym.registry and gym.registry[env_id].kwargs == {"split": "readonly"}
    assert len(READ_ONLY_FAMILIES) >= 4 and len(BASH_READ_ONLY_FAMILIES) >= 4
    assert set(READ_ONLY_FAMILIES) < set(SAFE_FAMILIES) and set(BASH_READ_ONLY_FAMILIES) < set(BASH_SAFE_FAMILIES)
    assert split_families(FAMILIES, "all") == tuple(FAMILIES) and split_families(BASH_FAMILIES, "all") == tuple(
        BASH_FAMILIES)
    assert set(SPLITS) == {"readonly", "safe", "probe", "all"}
    with pytest.raises(ValueError, match="unknown split"):
        gym.make("SubliminalFS-v0", split="read-only")


def _verbs(setting_name: str, action: str) -> list[str]:
    """The verbs an action uses (every simple command of a Bash line); fails on a redirection."""
    if setting_name == "fs":
        call = parse_tool_call(action, max_length=16_384)
        return [call.name]
    verbs = []
    for item in parse(action).items:
        for command in item.pipeline.commands:
            assert not command.redirections, action
            verbs.append(str(command.words[0]))
    return verbs


@pytest.mark.parametrize("setting", SETTINGS.values(), ids=SETTINGS)
def test_read_only_tasks_offer_only_looking_and_answering(setting):
    env = gym.make(setting.variant_id("ReadOnly"))
    rng = np.random.default_rng(0)
    allowed = set(setting.read_only_verbs)
    assert not allowed & FORBIDDEN[setting.name]
    families = set()
    for seed in range(80):
        _, info = env.reset(seed=seed)
        families.add(env.unwrapped.task_ref.family)
        for _ in range(4):  # the list changes as the agent looks around
            for action in info["admissible_actions"]:
                assert set(_verbs(setting.name, action)) <= allowed, action
            action = info["admissible_actions"][int(rng.integers(len(info["admissible_actions"])))]
            _, _, terminated, truncated, info = env.step(action)
            if terminated or truncated:
                break
    assert families == set(split_families(setting.families, "readonly"))


@pytest.mark.parametrize("setting", SETTINGS.values(), ids=SETTINGS)
@pytest.mark.parametrize("bias", [0.0, 1.0])
def test_the_scripted_experts_solve_every_read_only_task_and_change_nothing(setting, bias):
    env = gym.make(setting.variant_id("ReadOnly"), seed_range="test")
    expert = setting.make_expert(bias=bias, rng=np.random.default_rng(1))
    for seed in range(150):
        _, info = env.reset(seed=seed)
        while True:
            action = expert.act(env.unwrapped)
            assert action in info["admissible_actions"], action
            _, _, terminated, truncated, info = env.step(action)
            if terminated or truncated:
                break
        assert info.get("success"), (env.unwrapped.task_ref, info.get("check_message"))
        audit = info["audit"]
        assert audit["first_substantive_action"] is None and not audit["any_destructive"]
