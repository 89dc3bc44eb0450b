"""The Gymnasium contract, for every id of the registry that points into the suite (a new id or a new env
family is covered the moment it is registered): the env checker, same seed same episode, pickling mid-
episode, both render modes, vector envs, and the audit on the last step whether the episode ends by the
agent or by truncation, never before."""

from __future__ import annotations

import json
import pickle

import gymnasium as gym
import numpy as np
import pytest
from gymnasium.utils.env_checker import check_env

import subliminal_gym
from subliminal_gym.settings import SETTINGS, setting_of

#: Every registered id whose entry point is in the suite.
ENV_IDS = sorted(env_id for env_id, spec in gym.envs.registry.items()
                 if isinstance(spec.entry_point, str) and spec.entry_point.startswith("subliminal_gym."))


def test_the_registry_holds_every_id_of_every_setting():
    assert ENV_IDS == sorted(subliminal_gym.ENV_TABLE)
    assert ENV_IDS == sorted(env_id for setting in SETTINGS.values() for env_id in setting.env_ids)
    for env_id in ENV_IDS:
        assert gym.spec(env_id).max_episode_steps == setting_of(env_id).max_episode_steps == 40
        assert gym.make(env_id).unwrapped.setting is setting_of(env_id)


@pytest.mark.parametrize("env_id", ENV_IDS)
def test_gymnasium_env_checker_passes(env_id):
    check_env(gym.make(env_id).unwrapped, skip_render_check=True)


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
    assert _episode(gym.make(env_id), seed=12, n_steps=60, policy_seed=3) != first


@pytest.mark.parametrize("env_id", ENV_IDS)
def test_the_env_pickles_mid_episode(env_id):
    env = gym.make(env_id).unwrapped
    _, info = env.reset(seed=5)
    env.step(info["admissible_actions"][0])
    clone = pickle.loads(pickle.dumps(env))
    rng = np.random.default_rng(0)
    for _ in range(4):
        action = env.admissible_actions()[int(rng.integers(len(env.admissible_actions())))]
        assert clone.step(action) == env.step(action)
        if env._terminated:
            break
    assert clone.audit.as_dict() == env.audit.as_dict()
    assert clone.reset(seed=6) == env.reset(seed=6)


@pytest.mark.parametrize("env_id", ENV_IDS)
def test_render_modes(env_id, capsys):
    env = gym.make(env_id, render_mode="ansi")
    obs, info = env.reset(seed=2)
    action = info["admissible_actions"][0]
    step_obs, *_ = env.step(action)
    text = env.render()
    assert obs in text and step_obs in text and action in text
    human = gym.make(env_id, render_mode="human")
    _, info = human.reset(seed=2)
    human.step(info["admissible_actions"][0])
    assert step_obs in capsys.readouterr().out
    plain = gym.make(env_id)
    plain.reset(seed=2)
    with pytest.warns(UserWarning, match="render_mode"):
        assert plain.render() is None  # no render mode: a warning, not an error


#: Gymnasium 1.x gives Text spaces shared memory; 0.29 does not (AsyncVectorEnv needs shared_memory=False there).
GYMNASIUM_1 = int(gym.__version__.split(".")[0]) >= 1


@pytest.mark.parametrize("env_id", ENV_IDS)
@pytest.mark.parametrize("vector_cls,kwargs", [
    (gym.vector.SyncVectorEnv, {}),
    (gym.vector.AsyncVectorEnv, {} if GYMNASIUM_1 else {"shared_memory": False}),  # its defaults on 1.x
])
def test_vector_envs_run_and_truncation_carries_the_audit(env_id, vector_cls, kwargs):
    venv = vector_cls([lambda: gym.make(env_id, max_episode_steps=4) for _ in range(2)], **kwargs)
    obs, info = venv.reset(seed=3)
    assert len(obs) == 2 and all(isinstance(o, str) for o in obs)
    for _ in range(4):
        # the first admissible action only looks (lists, reads): no episode ends before the step limit
        obs, rewards, terminated, truncated, info = venv.step(tuple(a[0] for a in info["admissible_actions"]))
        assert rewards.shape == (2,) and not terminated.any()
    assert truncated.all()
    if GYMNASIUM_1:  # next-step autoreset: the last step's own infos, batched, with a mask per key
        assert info["_audit"].all() and setting_of(env_id).primary_metric in info["audit"]
    else:  # 0.29 resets in the same step and keeps each finished episode's info
        assert all("audit" in final for final in info["final_info"])
    venv.close()


@pytest.mark.skipif(GYMNASIUM_1, reason="Gymnasium 1.x gives Text spaces shared memory")
def test_async_vector_envs_on_gymnasium_0_29_need_the_documented_one_line_fix():
    """README (Vector envs): on Gymnasium 0.29, ``AsyncVectorEnv(..., shared_memory=False)``."""
    with pytest.raises(ValueError, match="shared_memory=False"):
        gym.vector.AsyncVectorEnv([lambda: gym.make("SubliminalFS-v0") for _ in range(2)])


def test_no_two_infos_share_a_mutable_object():
    """Each ``info`` is the caller's own: editing the tool schemas of one changes no other, in this env or a new
    one (Gymnasium 1.x's env checker asks this of every env)."""
    env = gym.make("SubliminalFS-v0")
    _, first = env.reset(seed=0)
    first["tools"][0]["parameters"]["properties"].clear()
    first["tools"][0]["name"] = "edited"
    second = env.step(first["admissible_actions"][0])[-1]
    _, fresh = gym.make("SubliminalFS-v0").reset(seed=0)
    for info in (second, fresh):
        assert info["tools"][0]["name"] == "list_dir" and info["tools"][0]["parameters"]["properties"]
    properties = [tool["parameters"]["properties"] for tool in fresh["tools"]]
    paths = [p["path"] for p in properties if "path" in p]
    assert len({id(path) for path in paths}) == len(paths)  # no schema shares a dict with another


@pytest.mark.parametrize("env_id", ENV_IDS)
def test_the_audit_comes_on_the_last_step_only(env_id):
    setting = setting_of(env_id)
    env = gym.make(env_id, max_episode_steps=5)
    _, info = env.reset(seed=0)
    assert "audit" not in info
    for i in range(5):
        _, _, terminated, truncated, info = env.step(info["admissible_actions"][0])
        assert not terminated and truncated == (i == 4) and ("audit" in info) == (i == 4)
    assert setting.primary_metric in info["audit"]
    # the agent ends the episode: the env itself adds the audit
    env = gym.make(env_id)
    _, info = env.reset(seed=0)
    expert = setting.make_expert(bias=0.0, rng=np.random.default_rng(0))
    for _ in range(40):
        _, _, terminated, truncated, info = env.step(expert.act(env))
        if terminated or truncated:
            break
    assert terminated and not truncated and "audit" in info
