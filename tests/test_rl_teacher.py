"""The RL teacher: PPO on the views learns a task from its reward, reproducibly."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch as th

import subliminal_gym  # noqa: F401  (registers the ids)
from subliminal_gym.baselines.agents import PolicyTextAgent
from subliminal_gym.baselines.evaluation import evaluate
from subliminal_gym.baselines.policies import ARCHITECTURES, SlotScoringPolicy, build_policy, policy_logits
from subliminal_gym.baselines.rl_teacher import RLTeacherLog, train_rl_teacher
from subliminal_gym.runner import RandomTextAgent, TextAgent
from subliminal_gym.views import make_view_env

TINY = {"n_steps": 16, "batch_size": 32, "n_epochs": 2}
#: A safe Bash family PPO learns within seconds: create a folder, its sub-folders and a file, then submit.
FAMILY = "create_layout"


def _success(agent: TextAgent, episodes: int):
    summary, _ = evaluate(agent, "SubliminalBash-v0", episodes=episodes, seed=0, split="all",
                          env_kwargs={"task_family": FAMILY})
    return summary.success


def _tiny_run(seed: int, **kwargs) -> tuple[SlotScoringPolicy, RLTeacherLog]:
    kwargs.setdefault("ppo_kwargs", TINY)
    return train_rl_teacher("SubliminalBash-v0", total_timesteps=64, seed=seed, arch="small", n_envs=2, **kwargs)


def _same_weights(a: SlotScoringPolicy, b: SlotScoringPolicy) -> bool:
    sa, sb = a.state_dict(), b.state_dict()
    return sa.keys() == sb.keys() and all(th.equal(sa[k], sb[k]) for k in sa)


def test_same_seed_gives_identical_weights_and_log():
    first, log_a = _tiny_run(seed=3)
    second, log_b = _tiny_run(seed=3)
    other, _ = _tiny_run(seed=4)
    assert _same_weights(first, second)
    assert not _same_weights(first, other)
    assert {k: v for k, v in log_a.to_dict().items() if k not in ("wall_time_s", "steps_per_second")} == \
        {k: v for k, v in log_b.to_dict().items() if k not in ("wall_time_s", "steps_per_second")}
    assert log_a.timesteps == 64 and log_a.env_id == "SubliminalBash-v0" and log_a.seed == 3
    assert log_a.wall_time_s > 0 and log_a.episodes >= 0


def test_the_result_is_a_standalone_policy_for_the_view():
    policy, log = _tiny_run(seed=0)
    view = make_view_env("SubliminalBash-v0")
    assert isinstance(policy, SlotScoringPolicy) and policy.layout == view.layout
    assert policy.arch == ARCHITECTURES["small"] and not policy.training
    obs, info = view.reset(seed=0)
    logits = policy_logits(policy, obs[None])[0]
    assert (logits[~info["action_mask"]] < -1e8).all() and np.isfinite(logits[info["action_mask"]]).all()
    if log.episodes:
        assert -1.0 <= log.mean_return <= 1.0 and 0.0 <= log.success_rate <= 1.0
    else:
        assert math.isnan(log.mean_return) and math.isnan(log.success_rate)


def test_init_gives_the_starting_weights():
    layout = make_view_env("SubliminalBash-v0").layout
    init = build_policy(layout, "small", seed=123)
    frozen, _ = _tiny_run(seed=0, init=init, ppo_kwargs={**TINY, "learning_rate": 0.0})
    assert _same_weights(frozen, init)
    trained, _ = _tiny_run(seed=0, init=init)
    assert not _same_weights(trained, init)
    with pytest.raises(ValueError, match="init"):
        _tiny_run(seed=0, init=build_policy(layout, "large", seed=0))


def test_bad_arguments_raise():
    with pytest.raises(ValueError, match="seed"):
        _tiny_run(seed=0, ppo_kwargs={"seed": 1})
    with pytest.raises(ValueError):
        train_rl_teacher("SubliminalBash-v0", total_timesteps=0, seed=0)
    with pytest.raises(KeyError):
        train_rl_teacher("SubliminalBash-v0", total_timesteps=64, seed=0, arch="huge")
    with pytest.raises(TypeError):
        train_rl_teacher("CartPole-v1", total_timesteps=64, seed=0)


@pytest.mark.slow
def test_ppo_beats_a_random_policy():
    policy, log = train_rl_teacher("SubliminalBash-v0", total_timesteps=12_288, seed=0, arch="small",
                                   task_family=FAMILY, ppo_kwargs={"learning_rate": 1e-3, "n_epochs": 10})
    episodes = 100
    ppo = _success(PolicyTextAgent(policy), episodes)
    random = _success(RandomTextAgent(), episodes)
    assert ppo.low > random.high, (ppo, random, log)
    assert ppo.value >= random.value + 0.2
