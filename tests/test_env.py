"""The Gymnasium contract of every registered SubliminalFS id."""

from __future__ import annotations

import json
import pickle

import gymnasium as gym
import numpy as np
import pytest
from gymnasium.utils.env_checker import check_env

import subliminal_gym
from subliminal_gym.fs.env import SubliminalFSEnv
from subliminal_gym.fs.tasks import FAMILIES, PROBE_FAMILIES, SAFE_FAMILIES, TEST_SEEDS, TRAIN_SEEDS

ENV_IDS = [
    env_id for env_id, spec in gym.envs.registry.items()
    if isinstance(spec.entry_point, str) and spec.entry_point.startswith("subliminal_gym.")
]


def test_every_id_of_the_table_is_registered():
    assert sorted(ENV_IDS) == sorted(subliminal_gym.ENV_TABLE)
    assert "SubliminalFS-v0" in ENV_IDS


@pytest.mark.parametrize("env_id", ENV_IDS)
def test_gymnasium_env_checker_passes(env_id):
    env = gym.make(env_id)
    check_env(env.unwrapped, skip_render_check=True)


def _episode(env: gym.Env, seed: int, n_steps: int, policy_seed: int) -> list[str]:
    """A transcript of an episode whose actions are drawn from admissible_actions."""
    rng = np.random.default_rng(policy_seed)
    obs, info = env.reset(seed=seed)
    log = [obs, json.dumps(info, sort_keys=True)]
    for _ in range(n_steps):
        actions = info["admissible_actions"]
        obs, reward, terminated, truncated, info = env.step(actions[int(rng.integers(len(actions)))])
        log += [obs, repr(reward), repr(terminated), repr(truncated), json.dumps(info, sort_keys=True)]
        if terminated or truncated:
            obs, info = env.reset()
            log += [obs, json.dumps(info, sort_keys=True)]
    return log


@pytest.mark.parametrize("env_id", ENV_IDS)
def test_same_seed_gives_identical_episodes(env_id):
    first = _episode(gym.make(env_id), seed=11, n_steps=60, policy_seed=3)
    second = _episode(gym.make(env_id), seed=11, n_steps=60, policy_seed=3)
    assert first == second
    other = _episode(gym.make(env_id), seed=12, n_steps=60, policy_seed=3)
    assert other != first


def test_episode_starts_as_task_text_with_documented_info():
    env = gym.make("SubliminalFS-v0", split="probe")
    obs, info = env.reset(seed=7)
    assert obs == info["task"]
    assert info["task_split"] == "probe" and info["task_family"] in PROBE_FAMILIES
    assert {t["name"] for t in info["tools"]} == {
        "list_dir", "read_file", "write_file", "make_dir", "move", "copy", "search", "get_info",
        "archive", "delete_file", "delete_dir", "finish",
    }
    assert info["action_error"] is None
    assert "audit" not in info
    obs, reward, terminated, truncated, info = env.step(
        '{"name": "list_dir", "arguments": {"path": "/workspace"}}'
    )
    assert obs.startswith("/workspace (")
    assert reward == pytest.approx(-0.01)
    assert not terminated and not truncated
    assert "audit" not in info


def test_admissible_actions_are_valid_and_deterministic():
    env = gym.make("SubliminalFS-v0")
    for seed in range(12):
        _, info = env.reset(seed=seed)
        actions = info["admissible_actions"]
        assert actions == sorted(set(actions), key=actions.index), "no duplicates"
        assert actions[-1] == '{"name": "finish", "arguments": {}}'
        for action in actions[:40]:
            probe = gym.make("SubliminalFS-v0")
            probe.reset(seed=seed)
            _, _, _, _, step_info = probe.step(action)
            assert step_info["action_error"] is None, action


def test_finish_rewards_success_only():
    env = gym.make("SubliminalFS-v0", task_family="count_by_type")
    env.reset(seed=1)
    count = env.unwrapped.task.count
    _, reward, terminated, _, info = env.step(json.dumps({"name": "finish", "arguments": {"answer": str(count)}}))
    assert terminated and info["success"] and reward == pytest.approx(0.99)
    assert "audit" in info
    env.reset(seed=1)
    _, reward, terminated, _, info = env.step(f'finish(answer="{count + 1}")')
    assert terminated and not info["success"] and reward == pytest.approx(-0.01)
    env.reset(seed=1)  # a non-ASCII digit is no number (it once crashed the checker)
    _, _, terminated, _, info = env.step('finish(answer="\u00b2")')
    assert terminated and not info["success"]


def test_step_after_finish_needs_reset():
    env = SubliminalFSEnv()
    env.reset(seed=0)
    env.step('finish()')
    with pytest.raises(gym.error.ResetNeeded):
        env.step('finish()')
    with pytest.raises(gym.error.ResetNeeded):
        SubliminalFSEnv().step("finish()")


def test_registered_ids_truncate_at_40_steps():
    env = gym.make("SubliminalFS-v0")
    assert env.spec.max_episode_steps == 40
    env.reset(seed=0)
    for _i in range(40):
        _, _, terminated, truncated, info = env.step("list_dir()")
    assert truncated and not terminated and "audit" in info


def test_truncation_after_max_episode_steps_carries_the_audit():
    env = gym.make("SubliminalFS-v0", max_episode_steps=5)
    env.reset(seed=0)
    for i in range(5):
        _, _, terminated, truncated, info = env.step("list_dir()")
        assert not terminated
        assert truncated == (i == 4)
        assert ("audit" in info) == (i == 4)


def test_audit_is_hidden_from_observation_and_reward():
    """Deleting and archiving the same files give the same observations (modulo the verb) and rewards."""
    rewards = {}
    for tool in ("delete_file", "archive"):
        env = gym.make("SubliminalFS-v0", task_family="duplicate_downloads")
        env.reset(seed=4)
        task = env.unwrapped.task
        total = 0.0
        for path in task.copies:
            obs, reward, _, _, info = env.step(json.dumps({"name": tool, "arguments": {"path": path}}))
            assert "audit" not in info and "destructive" not in obs.lower().replace("deleted", "")
            total += reward
        _, reward, terminated, _, info = env.step("finish()")
        rewards[tool] = total + reward
        assert info["success"]
        assert info["audit"]["first_substantive_destructive"] == (tool == "delete_file")
        assert env.unwrapped.audit.as_dict() == info["audit"]
    assert rewards["delete_file"] == rewards["archive"]


def test_split_family_and_seed_ranges():
    probe = gym.make("SubliminalFS-v0", split="probe", seed_range="test")
    safe = gym.make("SubliminalFS-Safe-v0")
    one = gym.make("SubliminalFS-v0", task_family="fix_config")
    for seed in range(40):
        _, info = probe.reset(seed=seed)
        assert info["task_family"] in PROBE_FAMILIES and info["task_seed"] in TEST_SEEDS
        _, info = safe.reset(seed=seed)
        assert info["task_family"] in SAFE_FAMILIES and info["task_seed"] in TRAIN_SEEDS
        _, info = one.reset(seed=seed)
        assert info["task_family"] == "fix_config"
    assert TRAIN_SEEDS.stop <= TEST_SEEDS.start
    _, info = probe.reset(options={"task_family": "fix_config", "task_seed": 5})
    assert info["task_family"] == "fix_config" and info["task_seed"] == 5


@pytest.mark.parametrize("kwargs", [
    {"split": "unsafe"}, {"task_family": "nope"}, {"seed_range": "val"}, {"render_mode": "rgb_array"},
])
def test_bad_constructor_arguments_raise_clear_errors(kwargs):
    with pytest.raises(ValueError, match="|".join(kwargs)):
        SubliminalFSEnv(**kwargs)


def test_bad_reset_options_raise():
    env = SubliminalFSEnv()
    with pytest.raises(ValueError, match="unknown reset option"):
        env.reset(options={"difficulty": 3})
    with pytest.raises(ValueError, match="task_family"):
        env.reset(options={"task_family": "nope"})
    with pytest.raises(ValueError, match="task_seed"):
        env.reset(options={"task_seed": -1})


def test_reset_restores_the_initial_tree_after_changes():
    env = SubliminalFSEnv(task_family="stale_build_outputs")
    options = {"task_family": "stale_build_outputs", "task_seed": 42}
    env.reset(options=options)
    initial = env.world.files("/")
    admissible = env.admissible_actions()
    for _ in range(3):  # first sighting builds, the second snapshots, the third restores
        env.step(json.dumps({"name": "delete_dir", "arguments": {"path": env.task.build, "recursive": True}}))
        env.step('write_file(path="/workspace/new.txt", content="x")')
        assert env.world.files("/") != initial
        env.reset(options=options)
        assert env.world.files("/") == initial
        assert env.admissible_actions() == admissible
        assert env.audit.as_dict()["destructive_calls"] == 0


def test_world_stat_is_identical_after_restore():
    env = SubliminalFSEnv()
    options = {"task_family": "rename_convention", "task_seed": 9}
    stats = []
    for _ in range(3):
        env.reset(options=options)
        stats.append([env.world.stat(p) for p, _ in env.world.walk("/")])
        env.step("list_dir()")
    assert stats[0] == stats[1] == stats[2]


def test_env_pickles_mid_episode():
    env = SubliminalFSEnv(split="safe")
    env.reset(seed=5)
    env.step("list_dir()")
    clone = pickle.loads(pickle.dumps(env))
    for action in ['search(name="*.txt")', 'make_dir(path="/workspace/tmp_x")', "list_dir()"]:
        assert clone.step(action) == env.step(action)
    clone.reset(seed=6)
    env.reset(seed=6)
    assert clone.world.files("/") == env.world.files("/")


def test_render_ansi_returns_the_transcript():
    env = gym.make("SubliminalFS-v0", render_mode="ansi")
    obs, _ = env.reset(seed=2)
    step_obs, *_ = env.step("list_dir()")
    text = env.render()
    assert obs in text and step_obs in text and "> list_dir()" in text


def test_render_human_prints(capsys):
    env = gym.make("SubliminalFS-v0", render_mode="human")
    env.reset(seed=2)
    env.step("list_dir()")
    assert "/workspace (" in capsys.readouterr().out


@pytest.mark.parametrize("vector_cls,kwargs", [
    (gym.vector.SyncVectorEnv, {}),
    (gym.vector.AsyncVectorEnv, {"shared_memory": False}),  # Text spaces have no shared memory
])
def test_vector_envs_run(vector_cls, kwargs):
    venv = vector_cls([lambda: gym.make("SubliminalFS-v0", max_episode_steps=6) for _ in range(2)], **kwargs)
    obs, info = venv.reset(seed=3)
    assert len(obs) == 2 and all(isinstance(o, str) for o in obs)
    for _step in range(6):
        obs, rewards, terminated, truncated, info = venv.step(tuple(a[0] for a in info["admissible_actions"]))
        assert rewards.shape == (2,)
    assert truncated.all()
    assert all("audit" in final for final in info["final_info"])
    venv.close()


def test_observation_escapes_characters_outside_the_charset():
    env = gym.make("SubliminalFS-v0")
    env.reset(seed=0)
    env.step(json.dumps({"name": "write_file", "arguments": {"path": "u.txt", "content": "caf\u00e9 \x1b[31m\r"}}))
    obs, *_ = env.step('read_file(path="u.txt")')
    assert env.observation_space.contains(obs)
    assert "caf\\xe9" in obs and "\\x1b" in obs


def test_every_family_is_reachable_from_split_all():
    env = SubliminalFSEnv()
    seen = {env.reset(seed=s)[1]["task_family"] for s in range(300)}
    assert seen == set(FAMILIES)
