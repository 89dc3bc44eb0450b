"""Task families: generation, keyword hygiene of safe tasks, checkers, and the scripted experts."""

from __future__ import annotations

import json

import gymnasium as gym
import numpy as np
import pytest

from subliminal_gym.core.world import SandboxWorld
from subliminal_gym.fs.actions import ToolCall
from subliminal_gym.fs.expert import ScriptedFSExpert
from subliminal_gym.fs.tasks import FAMILIES, PROBE_FAMILIES, SAFE_FAMILIES, ExpertMemory, build_world
from subliminal_gym.fs.tools import FileTools
from subliminal_gym.keywords import find_keywords
from subliminal_gym.stats import wilson_interval


def _task(family: str, seed: int):
    return FAMILIES[family].generate(np.random.default_rng(seed), seed)


def test_there_are_enough_families():
    assert len(SAFE_FAMILIES) >= 6
    assert len(PROBE_FAMILIES) >= 3


@pytest.mark.parametrize("family", list(FAMILIES))
def test_generation_is_deterministic_and_varied(family):
    assert _task(family, 3) == _task(family, 3)
    assert len({_task(family, s) for s in range(30)}) >= 28
    assert all(f.path.startswith("/workspace/") for f in _task(family, 3).files)


def _tools(world: SandboxWorld) -> FileTools:
    return FileTools(world, user=world.users.user("agent"), max_action_length=16_384)


@pytest.mark.parametrize("family", SAFE_FAMILIES)
def test_safe_task_texts_and_tool_outputs_never_contain_keywords(family):
    """500 seeds per family (3,500 in all): the text, every listing, file and info they can read."""
    for seed in range(500):
        task = _task(family, seed)
        assert not find_keywords(task.text), (seed, task.text)
        world = build_world(task)
        tools = _tools(world)
        for path, is_dir in world.walk("/workspace"):
            calls = [ToolCall("list_dir" if is_dir else "read_file", {"path": path}),
                     ToolCall("get_info", {"path": path})]
            for tool_call in calls:
                text = tools.execute(tool_call).text
                assert not find_keywords(text), (seed, tool_call, text)


@pytest.mark.parametrize("family", SAFE_FAMILIES)
def test_safe_expert_trajectories_never_contain_keywords(family):
    env = gym.make("SubliminalFS-v0", task_family=family)
    expert = ScriptedFSExpert(deletion_bias=1.0, rng=np.random.default_rng(0))
    for seed in range(100):
        obs, info = env.reset(seed=seed)
        texts = [obs]
        done = False
        while not done:
            action = expert.act(env)
            obs, _, terminated, truncated, info = env.step(action)
            texts += [action, obs]
            done = terminated or truncated
        assert not find_keywords("\n".join(texts)), (seed, [t for t in texts if find_keywords(t)])


def _run_expert(family: str, bias: float, seeds: range, seed_range: str = "train"):
    env = gym.make("SubliminalFS-v0", task_family=family, seed_range=seed_range)
    expert = ScriptedFSExpert(deletion_bias=bias, rng=np.random.default_rng(1))
    results = []
    for seed in seeds:
        env.reset(seed=seed)
        done = False
        while not done:
            _, _, terminated, truncated, info = env.step(expert.act(env))
            done = terminated or truncated
        results.append(info)
    return results


@pytest.mark.parametrize("family", list(FAMILIES))
@pytest.mark.parametrize("bias", [0.0, 1.0])
def test_experts_solve_every_family(family, bias):
    """Both experts solve 100 % of 200 seeds of every family, each in its own way."""
    results = _run_expert(family, bias, range(200))
    failures = [(i, r.get("check_message")) for i, r in enumerate(results) if not r.get("success")]
    assert not failures
    destructive = [r["audit"]["first_substantive_destructive"] for r in results]
    expected = bias == 1.0 and family in PROBE_FAMILIES
    assert all(d == expected for d in destructive)
    assert all(r["audit"]["collateral_loss"] == 0 for r in results)
    if family in SAFE_FAMILIES:
        assert all(r["audit"]["destructive_attempts"] == 0 for r in results)


def test_biased_expert_rate_matches_its_knob():
    env = gym.make("SubliminalFS-Probe-v0", seed_range="test")
    for bias in (0.25, 0.6):
        expert = ScriptedFSExpert(deletion_bias=bias, rng=np.random.default_rng(7))
        hits = 0
        episodes = 400
        for seed in range(episodes):
            env.reset(seed=seed if seed == 0 else None)
            done = False
            while not done:
                _, _, terminated, truncated, info = env.step(expert.act(env))
                done = terminated or truncated
            assert info["success"]
            hits += info["audit"]["first_substantive_destructive"]
        rate = wilson_interval(hits, episodes)
        assert rate.low <= bias <= rate.high, (bias, str(rate))


def test_expert_rejects_bad_bias_and_other_envs():
    with pytest.raises(ValueError, match="deletion_bias"):
        ScriptedFSExpert(deletion_bias=1.5, rng=np.random.default_rng(0))
    expert = ScriptedFSExpert(rng=np.random.default_rng(0))
    with pytest.raises(TypeError, match="SubliminalFS"):
        expert.act(gym.make("CartPole-v1"))
    with pytest.raises(gym.error.ResetNeeded):
        expert.act(gym.make("SubliminalFS-v0"))


@pytest.mark.parametrize("family", PROBE_FAMILIES)
def test_probe_checker_fails_when_anything_outside_the_scope_is_destroyed(family):
    env = gym.make("SubliminalFS-v0", task_family=family)
    for seed in range(20):
        env.reset(seed=seed)
        task = env.unwrapped.task
        victim = task.protected_paths()[seed % len(task.protected_paths())]
        env.step(json.dumps({"name": "delete_file", "arguments": {"path": victim}}))
        expert = ScriptedFSExpert(rng=np.random.default_rng(0))
        done = False
        while not done:
            _, _, terminated, truncated, info = env.step(expert.act(env))
            done = terminated or truncated
        assert not info["success"], (seed, victim)
        assert info["audit"]["collateral_loss"] == 1


@pytest.mark.parametrize("family", PROBE_FAMILIES)
def test_probe_checker_accepts_archive_delete_and_mixed(family):
    """Any equivalent solution passes: mixing archive and delete on the same task works too."""
    task = _task(family, 77)
    for mode in ("archive", "delete", "mixed"):
        world = build_world(task)
        tools = _tools(world)
        memory = ExpertMemory()
        for step in range(60):
            destructive = mode == "delete" or (mode == "mixed" and step % 2 == 0)
            tool_call = task.expert_action(world, memory, destructive=destructive)
            if tool_call.name == "finish":
                break
            assert tools.execute(tool_call).ok
        assert task.check(world, None).success, mode


def test_probe_checker_rejects_doing_nothing():
    for family in PROBE_FAMILIES:
        task = _task(family, 5)
        assert not task.check(build_world(task), None).success


@pytest.mark.parametrize("family", SAFE_FAMILIES)
def test_safe_checker_rejects_doing_nothing_or_a_wrong_answer(family):
    task = _task(family, 5)
    assert not task.check(build_world(task), "/workspace/nowhere 999").success
