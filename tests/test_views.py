"""The vector views: spaces, determinism, what each slot is, truncation, and the audit kept out."""

from __future__ import annotations

import dataclasses
import json
import pickle
from typing import Any

import gymnasium as gym
import numpy as np
import pytest
from gymnasium.utils.env_checker import check_env as gym_check_env

import subliminal_gym  # noqa: F401  (registers the ids)
from subliminal_gym.settings import BASH, FS, setting_of
from subliminal_gym.views import DiscreteActionView, ViewLayout, make_view_env, verbs_for

ENV_IDS = ["SubliminalFS-v0", "SubliminalBash-v0"]
VIEW_KEYS = {"action_texts", "action_verbs", "action_mask", "actions_truncated"}


class ActionRecorder(gym.Wrapper):
    """Records every action text the view passes down to the text env."""

    def __init__(self, env: gym.Env) -> None:
        super().__init__(env)
        self.sent: list[str] = []

    def step(self, action: Any) -> tuple[Any, float, bool, bool, dict[str, Any]]:
        self.sent.append(action)
        return self.env.step(action)


def _valid_slot(info: dict[str, Any], rng: np.random.Generator) -> int:
    return int(rng.choice(np.flatnonzero(info["action_mask"])))


def _canonical(info: dict[str, Any]) -> str:
    return json.dumps(info, sort_keys=True, default=lambda v: v.tolist() if isinstance(v, np.ndarray) else repr(v))


def _rollout(env_id: str, *, seed: int, policy_seed: int, n_steps: int) -> list[bytes | str]:
    """Observation bytes, rewards, flags and infos of a seeded valid-action rollout (with resets)."""
    view = make_view_env(env_id)
    rng = np.random.default_rng(policy_seed)
    obs, info = view.reset(seed=seed)
    log: list[bytes | str] = [obs.tobytes(), _canonical(info)]
    for _ in range(n_steps):
        obs, reward, terminated, truncated, info = view.step(_valid_slot(info, rng))
        log += [obs.tobytes(), repr((reward, terminated, truncated)), _canonical(info)]
        if terminated or truncated:
            obs, info = view.reset()
            log += [obs.tobytes(), _canonical(info)]
    return log


@pytest.mark.training
@pytest.mark.parametrize("env_id", ENV_IDS)
def test_sb3_env_checker_passes(env_id):
    from stable_baselines3.common.env_checker import check_env as sb3_check_env

    sb3_check_env(make_view_env(env_id), warn=True)


# the checker warns that it was given a wrapped env: checking the wrapper is the point here
@pytest.mark.filterwarnings("ignore:.*different from the unwrapped")
@pytest.mark.filterwarnings("ignore:.*env.seed to get variables")
@pytest.mark.parametrize("env_id", ENV_IDS)
def test_gymnasium_env_checker_passes(env_id):
    view = make_view_env(env_id, view_kwargs={"max_actions": 64})
    gym_check_env(view, skip_render_check=True)
    assert gym.make(view.spec).action_space == gym.spaces.Discrete(64)


@pytest.mark.parametrize("env_id", ENV_IDS)
def test_observations_lie_in_the_box(env_id):
    view = make_view_env(env_id)
    rng = np.random.default_rng(0)
    obs, info = view.reset(seed=3)
    assert view.observation_space.shape == (view.layout.obs_dim,)
    assert view.action_space.n == view.layout.max_actions
    for _ in range(30):
        assert obs.dtype == np.float32 and obs.shape == (view.layout.obs_dim,)
        assert view.observation_space.contains(obs)
        obs, _, terminated, truncated, info = view.step(_valid_slot(info, rng))
        if terminated or truncated:
            obs, info = view.reset()


@pytest.mark.parametrize("env_id", ENV_IDS)
def test_same_seed_gives_identical_observations_and_infos(env_id):
    first = _rollout(env_id, seed=5, policy_seed=1, n_steps=50)
    assert first == _rollout(env_id, seed=5, policy_seed=1, n_steps=50)
    assert first != _rollout(env_id, seed=6, policy_seed=1, n_steps=50)


@pytest.mark.parametrize("env_id", ENV_IDS)
def test_masks_and_verbs_are_recoverable_from_the_observation(env_id):
    view = make_view_env(env_id)
    layout = view.layout
    rng = np.random.default_rng(2)
    obs, info = view.reset(seed=4)
    for _ in range(40):
        mask = info["action_mask"]
        np.testing.assert_array_equal(mask, layout.slot_mask(obs))
        np.testing.assert_array_equal(mask, view.action_masks())
        assert mask.sum() == len(info["action_texts"]) == len(info["action_verbs"])
        verbs = layout.slot_verbs(obs)
        assert [layout.verb_name(int(v)) for v in verbs[mask]] == info["action_verbs"]
        assert (verbs[~mask] == -1).all()
        assert [view.action_verb(i) for i in range(int(mask.sum()))] == info["action_verbs"]
        obs, _, terminated, truncated, info = view.step(_valid_slot(info, rng))
        if terminated or truncated:
            obs, info = view.reset()


@pytest.mark.parametrize("env_id", ENV_IDS)
def test_slot_i_sends_exactly_its_action_text(env_id):
    recorder = ActionRecorder(gym.make(env_id))
    view = DiscreteActionView(recorder)
    plain = gym.make(env_id)
    rng = np.random.default_rng(7)
    obs, info = view.reset(seed=9)
    text_obs, text_info = plain.reset(seed=9)
    for _ in range(40):
        assert info["action_texts"] == text_info["admissible_actions"]
        slot = _valid_slot(info, rng)
        expected = info["action_texts"][slot]
        assert view.action_text(slot) == expected and view.index_of(expected) == slot
        obs, reward, terminated, truncated, info = view.step(slot)
        assert recorder.sent[-1] == expected
        text_obs, text_reward, text_terminated, text_truncated, text_info = plain.step(expected)
        assert (reward, terminated, truncated) == (text_reward, text_terminated, text_truncated)
        assert {k: v for k, v in info.items() if k not in VIEW_KEYS} == text_info
        if terminated or truncated:
            obs, info = view.reset()
            text_obs, text_info = plain.reset()
    with pytest.raises(KeyError):
        view.index_of("not an action")


@pytest.mark.parametrize("env_id", ENV_IDS)
def test_an_empty_slot_sends_an_empty_action_and_the_episode_goes_on(env_id):
    recorder = ActionRecorder(gym.make(env_id))
    view = DiscreteActionView(recorder)
    obs, info = view.reset(seed=1)
    version, slots = view.unwrapped.world.version, info["action_texts"]
    empty = int(np.flatnonzero(~info["action_mask"])[0])
    assert view.action_text(empty) == "" and view.action_text(view.layout.max_actions + 5) == ""
    obs, reward, terminated, truncated, info = view.step(empty)
    assert recorder.sent == [""]
    assert not terminated and not truncated and reward == -view.unwrapped.step_cost
    assert view.unwrapped.world.version == version and info["action_texts"] == slots
    refused = obs[view.layout.error_index]  # the "last action was refused" feature
    if env_id.startswith("SubliminalFS"):
        assert info["action_error"] and refused == 1.0  # FS refuses an empty tool call
    else:
        assert info["action_error"] is None and info["exit_status"] == 0 and refused == 0.0  # a blank shell line
    obs, *_ = view.step(_valid_slot(info, np.random.default_rng(0)))
    assert obs[view.layout.error_index] == 0.0


@pytest.mark.parametrize("env_id", ENV_IDS)
@pytest.mark.parametrize("bias", [0.0, 1.0])
def test_the_scripted_expert_acts_through_the_slots_and_solves_its_tasks(env_id, bias):
    view = make_view_env(env_id)
    expert = setting_of(env_id).make_expert(bias=bias, rng=np.random.default_rng(0))
    failures = []
    for episode in range(50):
        obs, info = view.reset(seed=1_000 + episode)
        done = False
        while not done:
            slot = view.index_of(expert.act(view))  # KeyError if the expert's action is not a slot
            assert info["action_mask"][slot]
            obs, _, terminated, truncated, info = view.step(slot)
            done = terminated or truncated
        if not info.get("success"):
            failures.append((view.unwrapped.task_ref.family, info["task_seed"]))
    assert failures == []


def test_oversized_admissible_lists_keep_the_first_and_last_actions():
    view = make_view_env("SubliminalFS-v0", view_kwargs={"max_actions": 16})
    assert view.action_space.n == 16 and view.layout.max_actions == 16
    obs, info = view.reset(seed=0)
    admissible = info["admissible_actions"]
    assert len(admissible) > 16
    assert info["action_texts"] == admissible[:12] + admissible[-4:]
    assert info["actions_truncated"] == len(admissible) - 16
    assert info["action_mask"].all() and view.observation_space.contains(obs)
    assert json.loads(info["action_texts"][-1])["name"] == "finish"  # finish is listed last, so it survives
    wide = make_view_env("SubliminalFS-v0")
    _, wide_info = wide.reset(seed=0)
    assert wide_info["actions_truncated"] == 0 and wide_info["action_texts"] == admissible


def _poison(audit: Any) -> None:
    """Change every audit field, as if the episode had gone very differently."""
    for field in dataclasses.fields(audit):
        value = getattr(audit, field.name)
        if isinstance(value, bool):
            setattr(audit, field.name, not value)
        elif isinstance(value, int):
            setattr(audit, field.name, value + 7)
        else:
            setattr(audit, field.name, "poisoned")


@pytest.mark.parametrize("env_id", ENV_IDS)
def test_the_audit_never_reaches_the_observation(env_id):
    honest, poisoned = make_view_env(env_id, split="probe"), make_view_env(env_id, split="probe")
    rng = np.random.default_rng(3)
    obs_a, info_a = honest.reset(seed=2)
    obs_b, info_b = poisoned.reset(seed=2)
    audits = []
    for _ in range(60):
        _poison(poisoned.unwrapped.audit)
        assert obs_a.tobytes() == obs_b.tobytes()
        assert obs_a.shape == (honest.layout.obs_dim,)
        assert set(info_a) - set(info_b) == set() and "audit" not in VIEW_KEYS
        slot = _valid_slot(info_a, rng)
        obs_a, _, terminated, truncated, info_a = honest.step(slot)
        obs_b, _, _, _, info_b = poisoned.step(slot)
        if terminated or truncated:
            audits.append((info_a["audit"], info_b["audit"]))
            obs_a, info_a = honest.reset()
            obs_b, info_b = poisoned.reset()
    assert audits and all(a != b for a, b in audits)  # the poison did change the audits


@pytest.mark.parametrize("env_id", ENV_IDS)
def test_pickle_round_trip(env_id):
    view = make_view_env(env_id)
    rng = np.random.default_rng(0)
    _, info = view.reset(seed=8)
    view.step(_valid_slot(info, rng))
    clone = pickle.loads(pickle.dumps(view))
    assert clone.layout == view.layout and clone.observation_space == view.observation_space
    assert clone.action_masks().tolist() == view.action_masks().tolist()
    slot = _valid_slot(info, rng)  # mid-episode: the clone goes on from the same state
    obs_a, *_ = view.step(slot)
    obs_b, *_ = clone.step(slot)
    assert obs_a.tobytes() == obs_b.tobytes()
    assert view.reset(seed=8)[0].tobytes() == clone.reset(seed=8)[0].tobytes()


def test_verbs_for_knows_the_suite_only():
    assert verbs_for(gym.make("SubliminalFS-v0")) == FS.verbs
    assert verbs_for(gym.make("SubliminalBash-Probe-v0")) == BASH.verbs
    # the catalogue is what each env offers: FS its tools' names, Bash its commands (submit last)
    assert tuple(gym.make("SubliminalBash-v0").reset(seed=0)[1]["commands"]) == BASH.verbs
    assert tuple(t["name"] for t in gym.make("SubliminalFS-v0").reset(seed=0)[1]["tools"]) == FS.verbs
    assert ViewLayout.of("fs") == make_view_env("SubliminalFS-v0").layout
    assert ViewLayout.of(BASH, max_actions=16).max_actions == 16
    with pytest.raises(TypeError):
        verbs_for(gym.make("CartPole-v1"))
    with pytest.raises(TypeError):
        DiscreteActionView(gym.make("CartPole-v1"))


@pytest.mark.parametrize("env_id", ENV_IDS)
def test_the_view_needs_admissible_actions(env_id):
    with pytest.raises(ValueError, match="admissible"):
        make_view_env(env_id, admissible_actions=False)
    with pytest.raises(ValueError):
        make_view_env(env_id, view_kwargs={"max_actions": 3})
