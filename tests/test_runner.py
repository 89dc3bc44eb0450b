"""The one episode runner and its text agents: the task schedule, batch invariance, replaying what a
view loop does, the audit kept from the agent, kept observations, misuse and hostile action texts."""

from __future__ import annotations

import dataclasses
import itertools
import json
from collections.abc import Sequence
from typing import Any

import gymnasium as gym
import numpy as np
import pytest

import subliminal_gym  # noqa: F401  (registers the ids)
from subliminal_gym.baselines.evaluation import evaluate
from subliminal_gym.core.setting import SPLITS
from subliminal_gym.runner import EpisodeRecord, RandomTextAgent, ScriptedTextAgent, TextAgent, run_episodes
from subliminal_gym.seeding import episode_seed
from subliminal_gym.settings import setting_of
from subliminal_gym.views import ViewLayout, make_view_env

FS, BASH = "SubliminalFS-v0", "SubliminalBash-v0"
PRIMARY = {FS: "first_substantive_destructive", BASH: "chmod_first"}
#: The keys of one line of ``episodes.jsonl`` as runs written before ``observations`` existed have them.
RECORD_KEYS = {"index", "task_family", "task_split", "task_seed", "success", "steps", "episode_return", "audit",
               "first_action", "actions"}


def biased_expert(env_id: str, bias: float) -> ScriptedTextAgent:
    """The scripted expert of ``env_id`` with its habit at rate ``bias``, as a text agent."""
    return ScriptedTextAgent(bias)


def view_loop(env_id: str, choose, *, episodes: int, seed: int, split: str = "probe", seed_range: str = "test",
              view_kwargs: dict | None = None) -> list[tuple[tuple[str, int], list[str]]]:
    """Episodes played the plain Gymnasium way on a view (reset with ``seed``, then plain resets):
    ``choose(view, observation, index)`` picks each slot. Returns each episode's task and actions."""
    view = make_view_env(env_id, split=split, seed_range=seed_range, view_kwargs=view_kwargs)
    played = []
    for index in range(episodes):
        observation, info = view.reset(seed=seed if index == 0 else None)
        task, actions = (view.unwrapped.task_ref.family, info["task_seed"]), []
        while True:
            slot = choose(view, observation, index)
            actions.append(view.action_text(slot))
            observation, _, terminated, truncated, info = view.step(slot)
            if terminated or truncated:
                break
        played.append((task, actions))
    view.close()
    return played


def tasks(records: Sequence[EpisodeRecord]) -> list[tuple[str, int]]:
    return [(r.task_family, r.task_seed) for r in records]


def dicts(records: Sequence[EpisodeRecord]) -> list[dict[str, Any]]:
    return [r.to_dict() for r in records]


class RecordingAgent(TextAgent):
    """Wraps another text agent and checks every ``info`` it is shown: the audit must never be there."""

    def __init__(self, inner: TextAgent) -> None:
        self.inner = inner
        self.privileged = inner.privileged
        self.starts: list[int] = []
        self.seen: list[dict[str, Any]] = []

    def bind(self, envs: Sequence[gym.Env]) -> None:
        self.inner.bind(envs)

    def start(self, slot: int, observation: str, info: dict[str, Any], *, seed: int) -> None:
        assert "audit" not in info
        self.starts.append(slot)
        self.seen.append(info)
        self.inner.start(slot, observation, info, seed=seed)

    def act_batch(self, observations: Sequence[str], infos: Sequence[dict[str, Any]],
                  slots: Sequence[int]) -> list[str]:
        for info in infos:
            assert "audit" not in info
            self.seen.append(info)
        return self.inner.act_batch(observations, infos, slots)


class ConstantAgent(TextAgent):
    """Sends the same action text everywhere (optionally the wrong number of them)."""

    def __init__(self, action: str, *, extra: int = 0) -> None:
        self.action = action
        self.extra = extra
        self.infos: list[dict[str, Any]] = []

    def act_batch(self, observations: Sequence[str], infos: Sequence[dict[str, Any]],
                  slots: Sequence[int]) -> list[str]:
        self.infos.extend(infos)
        return [self.action] * max(len(slots) + self.extra, 0)


# -- 1. the task schedule ---------------------------------------------------------------------------


@pytest.mark.parametrize("env_id", [FS, BASH])
@pytest.mark.parametrize("split", ["probe", "safe", "all"])
@pytest.mark.parametrize("seed_range", ["train", "test"])
def test_task_schedule_is_the_sequence_of_one_env_reset_with_the_seed(env_id, split, seed_range):
    env = gym.make(env_id, split=split, seed_range=seed_range)
    base = env.unwrapped
    schedule = base.task_schedule(11, 8)
    _, info = env.reset(seed=11)
    played = [(base.task_ref.family, info["task_seed"])]
    for _ in range(7):
        # asked between resets, for another seed: must not move this env's own stream
        state = base.np_random.bit_generator.state
        assert base.task_schedule(12, 5) != schedule[:5]
        assert base.np_random.bit_generator.state == state
        _, info = env.reset()
        played.append((base.task_ref.family, info["task_seed"]))
    assert schedule == played
    assert all(base.families[f].split in SPLITS[split] for f, _ in schedule)
    seeds = range(1_000_000, 2_000_000) if seed_range == "test" else range(0, 1_000_000)
    assert all(s in seeds for _, s in schedule)
    assert base.task_schedule(11, 3) == schedule[:3] and base.task_schedule(11, 0) == []
    env.close()


def test_task_schedule_rejects_negative_arguments():
    base = gym.make(FS).unwrapped
    for seed, count in ((-1, 3), (0, -1)):
        with pytest.raises(ValueError, match="non-negative"):
            base.task_schedule(seed, count)


# -- 2./3. batching and seeds -----------------------------------------------------------------------


@pytest.mark.parametrize("env_id", [FS, BASH])
def test_records_do_not_depend_on_the_batch_size(env_id):
    for make_agent in (lambda: biased_expert(env_id, 0.5), RandomTextAgent):
        runs = {b: run_episodes(make_agent(), env_id, episodes=20, seed=3, batch_size=b) for b in (1, 3, 8)}
        assert [r.index for r in runs[8]] == list(range(20))
        assert dicts(runs[1]) == dicts(runs[3]) == dicts(runs[8])
    # the biased expert's coin comes out both ways, so a coin tied to the slot would have shown above
    expert = run_episodes(biased_expert(env_id, 0.5), env_id, episodes=20, seed=3, batch_size=8)
    assert 0 < sum(bool(r.audit[PRIMARY[env_id]]) for r in expert) < 20
    assert all(r.success for r in expert)


def test_same_seed_same_records_other_seed_other_tasks():
    first = run_episodes(RandomTextAgent(), FS, episodes=10, seed=5, batch_size=4)
    again = run_episodes(RandomTextAgent(), FS, episodes=10, seed=5, batch_size=4)
    other = run_episodes(RandomTextAgent(), FS, episodes=10, seed=6, batch_size=4)
    assert dicts(first) == dicts(again)
    assert tasks(first) != tasks(other)
    assert [r.actions for r in first] != [r.actions for r in other]


# -- 4./5. pairing with the view harness ------------------------------------------------------------


@pytest.mark.parametrize("env_id,split,seed_range", [(FS, "probe", "test"), (BASH, "all", "train")])
def test_the_runner_replays_a_plain_view_loop_with_the_same_seed(env_id, split, seed_range):
    experts = {}

    def expert_choice(view, observation, index):
        if index not in experts:
            experts[index] = setting_of(env_id).make_expert(bias=0.5, rng=np.random.default_rng(episode_seed(7, index)))
        return view.index_of(experts[index].act(view))

    through_view = view_loop(env_id, expert_choice, episodes=12, seed=7, split=split, seed_range=seed_range)
    _, random = evaluate(RandomTextAgent(), env_id, episodes=12, seed=7, split=split, seed_range=seed_range,
                         batch_size=5)
    summary, expert = evaluate(biased_expert(env_id, 0.5), env_id, episodes=12, seed=7, split=split,
                               seed_range=seed_range, batch_size=4)
    assert tasks(random) == tasks(expert) == [task for task, _ in through_view]
    assert len(set(tasks(expert))) > 1
    # the same tasks and the same per-episode coins: the runner replays the plain loop exactly
    assert [r.actions for r in expert] == [actions for _, actions in through_view]
    assert summary.episodes == 12 and summary.success.successes == 12


@pytest.mark.training
@pytest.mark.parametrize("env_id,view_kwargs",
                         [(FS, None), (BASH, None), (FS, {"max_actions": 16, "text_buckets": 64})])
def test_policy_text_agent_acts_as_the_policy_on_its_view(env_id, view_kwargs):
    # a small untrained network: its choices are arbitrary, so any difference in encoding shows
    import torch

    from subliminal_gym.baselines.agents import PolicyTextAgent, sample_slot
    from subliminal_gym.baselines.policies import build_policy

    torch.set_num_threads(1)
    policy = build_policy(ViewLayout.of(env_id, **(view_kwargs or {})), "small", seed=0)
    rngs = {}

    def policy_choice(view, observation, index):
        rng = rngs.setdefault(index, np.random.default_rng(episode_seed(0, index)))
        with torch.no_grad():
            logits = policy.action_logits(torch.as_tensor(observation[None], dtype=torch.float32))[0].numpy()
        return sample_slot(logits, rng)

    through_view = view_loop(env_id, policy_choice, episodes=10, seed=0, view_kwargs=view_kwargs)
    for batch_size in (1, 4):
        _, direct = evaluate(PolicyTextAgent(policy), env_id, episodes=10, seed=0, batch_size=batch_size)
        assert [((r.task_family, r.task_seed), r.actions) for r in direct] == through_view, f"batch_size={batch_size}"
    assert len({a for _, actions in through_view for a in actions}) > 5  # it does more than repeat one action


# -- 6. the audit never reaches the agent -----------------------------------------------------------


@pytest.mark.parametrize("env_id", [FS, BASH])
def test_the_agent_never_sees_the_audit(env_id):
    # the expert ends episodes itself (audit from the env); the random agent mostly by truncation
    # (audit from the AuditAtEpisodeEnd wrapper)
    for inner, kwargs in ((biased_expert(env_id, 0.5), None), (RandomTextAgent(), {"max_episode_steps": 12})):
        agent = RecordingAgent(inner)
        records = run_episodes(agent, env_id, episodes=9, seed=2, batch_size=3, env_kwargs=kwargs)
        assert len(agent.starts) == 9 and len(agent.seen) == 9 + sum(r.steps for r in records)
        assert not any("audit" in info for info in agent.seen)  # not added afterwards to a dict it kept
        assert all(PRIMARY[env_id] in r.audit and "any_destructive" in r.audit for r in records)
    assert any(r.steps == 12 and not r.success for r in records)


@pytest.mark.parametrize("env_id", [FS, BASH])
def test_the_runner_takes_the_audit_out_wherever_the_env_puts_it(env_id, careless_audit_envs):
    agent = RecordingAgent(biased_expert(env_id, 1.0))
    records = run_episodes(agent, env_id, episodes=4, seed=2, batch_size=2)
    assert len(agent.seen) == 4 + sum(r.steps for r in records)
    assert all(r.audit[PRIMARY[env_id]] for r in records)  # the final audit still reaches the record


# -- 7. kept observations and the record format -----------------------------------------------------


@pytest.mark.parametrize("env_id", [FS, BASH])
def test_kept_observations_are_what_the_env_returned(env_id):
    kwargs = {"max_episode_steps": 8}
    kept = run_episodes(RandomTextAgent(), env_id, episodes=6, seed=4, batch_size=3, env_kwargs=kwargs,
                        keep_observations=True)
    plain = run_episodes(RandomTextAgent(), env_id, episodes=6, seed=4, batch_size=3, env_kwargs=kwargs)
    assert [dataclasses.replace(r, observations=None) for r in kept] == plain
    env = gym.make(env_id, split="probe", seed_range="test", **kwargs)
    for record in kept:
        assert len(record.observations) == record.steps + 1
        observation, info = env.reset(options={"task_family": record.task_family, "task_seed": record.task_seed})
        assert record.observations[0] == observation == info["task"]
        replayed = [env.step(action)[0] for action in record.actions]
        assert record.observations[1:] == replayed


def test_records_round_trip_and_keep_the_old_format_without_observations():
    plain = run_episodes(RandomTextAgent(), FS, episodes=3, seed=1, env_kwargs={"max_episode_steps": 5})
    kept = run_episodes(RandomTextAgent(), FS, episodes=3, seed=1, env_kwargs={"max_episode_steps": 5},
                        keep_observations=True)
    for record in plain:
        data = record.to_dict()
        assert set(data) == RECORD_KEYS  # episodes.jsonl of existing runs is unchanged
        assert EpisodeRecord.from_dict(json.loads(json.dumps(data))) == record
    for record in kept:
        data = record.to_dict()
        assert set(data) == RECORD_KEYS | {"observations"} and data["observations"] == record.observations
        assert EpisodeRecord.from_dict(json.loads(json.dumps(data))) == record
    with pytest.raises(ValueError, match="malformed"):
        EpisodeRecord.from_dict({k: v for k, v in plain[0].to_dict().items() if k != "audit"})


# -- 8./9. misuse and hostile action texts ----------------------------------------------------------


def test_misuse_raises_precise_errors():
    for bad in ({"episodes": 0}, {"episodes": 2, "batch_size": 0}, {"episodes": True}):
        with pytest.raises(ValueError):
            run_episodes(RandomTextAgent(), FS, **{"episodes": 1, **bad})
    for extra in (-1, 1):
        with pytest.raises(RuntimeError, match="actions for"):
            run_episodes(ConstantAgent("finish()", extra=extra), FS, episodes=4, batch_size=2)
    with pytest.raises(ValueError, match="admissible_actions"):
        run_episodes(RandomTextAgent(), FS, episodes=1, env_kwargs={"admissible_actions": False})

    agent = biased_expert(FS, 0.0)
    env = gym.make(FS)
    observation, info = env.reset(seed=0)
    agent.start(0, observation, info, seed=0)
    with pytest.raises(RuntimeError, match="bind"):
        agent.act(observation, info)
    agent.bind([env])
    assert json.loads(agent.act(observation, info))["name"]  # bound, it acts


@pytest.mark.parametrize("env_id", [FS, BASH])
@pytest.mark.parametrize("garbage", ["\x00rm -rf /", "x" * 100_000])
def test_garbage_actions_get_error_observations_and_episodes_still_end(env_id, garbage):
    agent = ConstantAgent(garbage)
    records = run_episodes(agent, env_id, episodes=3, batch_size=2, env_kwargs={"max_episode_steps": 6},
                           keep_observations=True)
    assert [r.steps for r in records] == [6, 6, 6] and not any(r.success for r in records)
    assert all(not r.audit["any_destructive"] and r.audit["collateral_loss"] == 0 for r in records)
    errors = [info["action_error"] for info in agent.infos if info["action_error"] is not None]
    assert len(errors) == len(agent.infos) - 3  # every step refused (the 3 first infos are the resets')
    prefix = "Error:" if env_id == FS else "bash:"
    assert all(o.startswith(prefix) for r in records for o in r.observations[1:])


def test_long_work_says_up_front_how_long_it_will_take(monkeypatch, capsys):
    from subliminal_gym import progress

    clock = itertools.chain([0.0, 60.0], itertools.repeat(61.0))  # the 10th of 200 episodes ends a minute in
    monkeypatch.setattr(progress, "_clock", lambda: next(clock))
    with progress.progress_bar(200, "SubliminalBash-v0 (probe/test)") as advance:
        for _ in range(10):
            advance()
    err = capsys.readouterr().err
    assert "SubliminalBash-v0 (probe/test): 10/200 in 60 s; about 19 min more at this pace (0.17 per second)" in err
    assert err.count("more at this pace") == 1  # said once
    # quick work says nothing; neither does work of unknown length
    assert progress.estimate_line("x", 10, 200, 2.0) is None
    with progress.progress_bar(None, "open-ended") as advance:
        advance()
    assert "at this pace" not in capsys.readouterr().err
