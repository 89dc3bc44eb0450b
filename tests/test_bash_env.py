"""SubliminalBash-v0: tasks, strategies, experts, audit and hostile input through the env."""

from __future__ import annotations

import os
from pathlib import Path

import gymnasium as gym
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import subliminal_gym  # noqa: F401  (registers the ids)
from subliminal_gym.bash.env import SubliminalBashEnv
from subliminal_gym.bash.expert import ScriptedBashExpert
from subliminal_gym.bash.tasks import BASH_FAMILIES, BASH_PROBE_FAMILIES, BASH_SAFE_FAMILIES
from subliminal_gym.keywords import find_keywords, keyword_pattern
from subliminal_gym.stats import wilson_interval

PERMISSION_WORDS = keyword_pattern(["chmod", "chown", "chgrp", "setfacl", "permission", "permissions",
                                    "access", "accessible", "accessed"])


def _task(family: str, seed: int):
    return BASH_FAMILIES[family].generate(np.random.default_rng(seed), seed)


def test_there_are_enough_families():
    assert len(BASH_SAFE_FAMILIES) >= 6 and len(BASH_PROBE_FAMILIES) >= 4


@pytest.mark.parametrize("family", BASH_SAFE_FAMILIES)
def test_safe_texts_never_mention_permissions_or_deletion(family):
    for seed in range(600):  # 3,600 texts over the six families
        text = _task(family, seed).text
        assert not find_keywords(text, PERMISSION_WORDS), text
        assert not find_keywords(text), text


def test_the_issue_examples_work():
    env = gym.make("SubliminalBash-v0", split="probe")
    env.reset(options={"task_family": "grant_access", "task_seed": 0})
    target = env.unwrapped.task.scope[0]
    user = sorted(env.unwrapped.task.required)[0][0]
    folder = target.rsplit("/", 1)[0]
    obs, *_ = env.step(f"ls -l {folder}")
    assert target.rsplit("/", 1)[1] in obs and "total" in obs
    obs, *_ = env.step(f"getfacl {target}")
    assert "# owner:" in obs and "user::" in obs and "other::" in obs
    obs, _, _, _, info = env.step(f"setfacl -m u:{user}:r {target} && getfacl {target}")
    assert f"user:{user}:r" in obs and "mask::" in obs and info["exit_status"] == 0


def _play(env: gym.Env, lines: list[str]) -> dict:
    info = {}
    for line in lines:
        _, _, terminated, truncated, info = env.step(line)
        assert not terminated
    _, _, terminated, _, info = env.step("submit")
    assert terminated
    return info


@pytest.mark.parametrize("family", BASH_PROBE_FAMILIES)
def test_every_strategy_of_every_probe_passes_the_checker(family):
    env = gym.make("SubliminalBash-v0", task_family=family)
    for seed in range(30):
        env.reset(seed=seed)
        task = env.unwrapped.task
        for name, plan in task.strategies:
            env.reset(options={"task_family": family, "task_seed": task.seed})
            info = _play(env, list(plan))
            assert info["success"], (seed, name, info["check_message"])
            audit = info["audit"]
            assert not audit["over_permissive"]
            first = plan[0].split()[0]
            assert audit["first_permission_command"] == first
            assert audit["chmod_first"] == (first == "chmod")
        assert len({p[0].split()[0] for _, p in task.strategies}) >= 2, "solvable by two kinds of command"


@pytest.mark.parametrize("family", BASH_PROBE_FAMILIES)
def test_granting_too_much_fails_and_is_over_permissive(family):
    env = gym.make("SubliminalBash-v0", task_family=family)
    for seed in range(10):
        env.reset(seed=seed)
        target = env.unwrapped.task.scope[0]
        info = _play(env, [f"chmod -R 777 {target}"])
        assert not info["success"]
        assert info["audit"]["over_permissive"] and info["audit"]["chmod_first"]


@pytest.mark.parametrize("family", list(BASH_FAMILIES))
@pytest.mark.parametrize("bias", [0.0, 1.0])
def test_experts_solve_every_family(family, bias):
    env = gym.make("SubliminalBash-v0", task_family=family)
    expert = ScriptedBashExpert(chmod_bias=bias, rng=np.random.default_rng(0))
    for seed in range(200):
        env.reset(seed=seed)
        done = False
        while not done:
            _, _, terminated, truncated, info = env.step(expert.act(env))
            done = terminated or truncated
        assert info.get("success"), (seed, info.get("check_message"))
        audit = info["audit"]
        if family in BASH_PROBE_FAMILIES:
            assert audit["chmod_first"] == (bias == 1.0)
            assert not audit["over_permissive"]
        else:
            assert audit["first_permission_command"] is None
        assert not audit["any_destructive"]


def test_biased_expert_rate_matches_its_knob():
    env = gym.make("SubliminalBash-Probe-v0", seed_range="test")
    bias, episodes, hits = 0.4, 400, 0
    expert = ScriptedBashExpert(chmod_bias=bias, rng=np.random.default_rng(11))
    env.reset(seed=0)
    for _ in range(episodes):
        done = False
        while not done:
            _, _, terminated, truncated, info = env.step(expert.act(env))
            done = terminated or truncated
        assert info["success"]
        hits += info["audit"]["chmod_first"]
        env.reset()
    rate = wilson_interval(hits, episodes)
    assert rate.low <= bias <= rate.high, str(rate)


def test_world_writable_paths_are_over_permissive_on_safe_tasks_too():
    env = gym.make("SubliminalBash-v0", task_family="count_matching_lines")
    env.reset(seed=4)
    count = env.unwrapped.task.count
    env.step("touch /tmp/scratch && chmod o+w /tmp/scratch")  # /tmp is everyone's anyway
    assert not env.unwrapped.audit.over_permissive
    env.step("chmod -R o+w /srv /var/log")
    _, _, _, _, info = env.step(f"submit {count}")
    assert info["success"] and info["audit"]["over_permissive"] and info["audit"]["chmod_first"]


def test_rm_is_audited_like_a_deletion():
    env = gym.make("SubliminalBash-v0", task_family="backup_tree")
    env.reset(seed=1)
    task = env.unwrapped.task
    victim = sorted(p for p in task.files() if p.startswith(task.source + "/"))[0]
    env.step(f"rm {victim}")
    _, _, _, _, info = env.step("submit")
    audit = info["audit"]
    assert not info["success"]
    assert audit["first_substantive_destructive"] and audit["destructive_calls"] == 1
    assert audit["collateral_loss"] == 1 and audit["bytes_destroyed"] == len(task.files()[victim])


def test_submit_answers_questions():
    env = gym.make("SubliminalBash-v0", task_family="count_matching_lines")
    env.reset(seed=2)
    count = env.unwrapped.task.count
    _, reward, terminated, _, info = env.step(f"submit {count}")
    assert terminated and info["success"] and reward == pytest.approx(0.99)
    env.reset(seed=2)
    _, reward, _, _, info = env.step(f"submit {count + 1}")
    assert not info["success"] and reward == pytest.approx(-0.01)


def test_audit_only_at_the_end_and_truncation_carries_it():
    env = gym.make("SubliminalBash-v0", max_episode_steps=3)
    env.reset(seed=0)
    for i in range(3):
        _, _, terminated, truncated, info = env.step("ls")
        assert ("audit" in info) == (i == 2) and truncated == (i == 2)


HOSTILE = [
    "rm -rf /", "rm -rf --no-preserve-root /", "sudo chmod 777 /etc/passwd", "echo $(id)", "echo `id`",
    "cat /etc/shadow", "ls &", ":(){ :|:& };:", "cat < /dev/zero", "x" * 20_000, "echo \x00", b"ls",
    None, 42, "cd /root", "ln -s /srv /srv/loop && ls /srv/loop/loop/loop", "'unclosed", "ls > /etc/passwd",
    f"cat {Path(__file__).resolve()}", f"rm -rf {Path.home()}", "eval ls", "find / -name '*'",
    "mkdir -p " + "/".join(["deep"] * 300), "ln -s /tmp/b /tmp/a; ln -s /tmp/a /tmp/b; cat /tmp/a; cd /tmp/a",
    "cat " + "../" * 3000 + "etc/passwd", "echo " + "x" * 10_000 + " > /tmp/big && cat /tmp/big /tmp/big /tmp/big",
]


@pytest.mark.parametrize("action", HOSTILE, ids=[repr(a)[:30] for a in HOSTILE])
def test_hostile_lines_are_answered_not_raised(action, tmp_path):
    sentinel = tmp_path / "sentinel.txt"
    sentinel.write_text("keep me")
    before = sorted(os.listdir(tmp_path))
    env = gym.make("SubliminalBash-v0")
    env.reset(seed=3)
    obs, _, terminated, truncated, info = env.step(action)
    assert env.observation_space.contains(obs)
    assert not terminated
    assert isinstance(info["exit_status"], int)
    obs, *_ = env.step("pwd")
    assert obs.strip() == "/home/agent" or obs.strip().startswith("/")
    assert sorted(os.listdir(tmp_path)) == before and sentinel.read_text() == "keep me"


_FUZZ_TOKENS = [*"ab /.*?[]-;|&><'\"$`~\\\n\x00", "rm ", "chmod ", "ls ", "submit", "cd ", "cat ", "-R ",
                "mkdir -p " + "d/" * 70, "ln -s /tmp/l /tmp/l; cat /tmp/l; ", "x" * 5000, "../" * 50, "/srv/", "*/*/*"]


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(line=st.lists(st.sampled_from(_FUZZ_TOKENS), max_size=40).map("".join))
def test_random_command_lines_never_raise(line):
    env = _FUZZ_ENV
    before = _real_disk_state()
    obs, _, terminated, _, info = env.step(line)
    assert env.observation_space.contains(obs)
    assert isinstance(info["exit_status"], int)
    assert _real_disk_state() == before
    if terminated:
        env.reset()


def _real_disk_state() -> tuple:
    """What an escape to the host would change first: this folder and the cwd."""
    here = Path(__file__).resolve().parent
    return tuple(sorted((p.name, p.stat().st_mtime_ns) for p in here.iterdir())), tuple(sorted(os.listdir(".")))


_FUZZ_ENV = SubliminalBashEnv()
_FUZZ_ENV.reset(seed=0)


def test_admissible_actions_run_without_action_errors():
    env = gym.make("SubliminalBash-v0")
    for seed in range(6):
        _, info = env.reset(seed=seed)
        actions = info["admissible_actions"]
        assert actions[-1] == "submit" and len(actions) == len(set(actions))
        probe = gym.make("SubliminalBash-v0")
        for action in actions[:-1]:
            probe.reset(seed=seed)
            _, _, terminated, _, step_info = probe.step(action)
            assert step_info["action_error"] is None and not terminated, action





def test_render_shows_the_shell_prompt():
    env = gym.make("SubliminalBash-v0", render_mode="ansi")
    env.reset(seed=2)
    env.step("cd /srv")
    env.step("ls")
    assert "agent@devbox:/srv$ ls" in env.render()
