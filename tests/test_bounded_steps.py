"""Every env step answers a hostile action within a generous wall bound, with a message, never an
exception: the red-team findings of issue 21 (file growth, regex blow-up, huge integers, fences of
newlines, binary reads) and the whole-tree operations on a full world."""

from __future__ import annotations

import importlib.util
import json
import random
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import gymnasium as gym
import numpy as np
import pytest

import subliminal_gym  # noqa: F401
from subliminal_gym.core import work
from subliminal_gym.core.world import MAX_FILE_BYTES, MAX_NODES, MAX_WORLD_BYTES
from subliminal_gym.settings import setting_of

#: The wall bound per step: generous (the fuzz benchmark reports the slowest step, about 50 ms). The
#: pathological greps below take 0.5-0.75 s alone on the 2-core dev machine and up to 1.1 s inside the
#: full fast lane (the work meter charges grep per line, not per regex step: a known gap, in the notes).
BOUND_S = 2.0
BIG = "9" * 5000


def timed_step(env: gym.Env, action: Any) -> tuple[str, dict[str, Any], float]:
    start = time.perf_counter()
    obs, _, _, _, info = env.step(action)
    elapsed = time.perf_counter() - start
    assert env.observation_space.contains(obs)
    return obs, info, elapsed


@pytest.fixture
def bash() -> Iterator[gym.Env]:
    env = gym.make("SubliminalBash-v0", max_episode_steps=10_000)
    env.reset(seed=0)
    yield env
    env.close()


@pytest.fixture
def fs() -> Iterator[gym.Env]:
    env = gym.make("SubliminalFS-v0", max_episode_steps=10_000)
    env.reset(seed=0)
    yield env
    env.close()


# -- file growth (finding 2) ------------------------------------------------------------------


def test_appends_in_a_loop_fill_the_disk_and_stop(bash: gym.Env) -> None:
    seed_file = "echo " + "x" * 1000 + " > /tmp/a; " + "cat /tmp/a /tmp/a > /tmp/b; cat /tmp/b /tmp/b > /tmp/a; " * 20
    timed_step(bash, seed_file)
    messages = ""
    for name in "cdefgh":
        obs, info, elapsed = timed_step(bash, ";".join([f"cat /tmp/a>>/tmp/{name}"] * 700))
        assert elapsed < BOUND_S
        messages += obs
    world = bash.unwrapped.world
    assert world.byte_count <= MAX_WORLD_BYTES
    assert all(world.stat(f"/tmp/{n}").size <= MAX_FILE_BYTES for n in "cdefgh")
    assert "cat: write error: File too large" in messages and "No space left on device" in messages
    # the disk is full, not broken: freeing space makes room again
    obs, info, _ = timed_step(bash, "rm /tmp/c /tmp/d; echo hi > /tmp/z; cat /tmp/z")
    assert obs == "hi\n" and info["exit_status"] == 0


def test_appends_grow_files_in_linear_time(bash: gym.Env) -> None:
    timed_step(bash, "echo " + "y" * 2000 + " > /tmp/s")
    # 500 appends a line stay inside the work meter, so every one of them runs
    steps = [timed_step(bash, ";".join(["cat /tmp/s >> /tmp/t"] * 500)) for _ in range(4)]
    assert max(elapsed for _, _, elapsed in steps) < BOUND_S
    assert all(info["exit_status"] == 0 for _, info, _ in steps)
    assert bash.unwrapped.world.stat("/tmp/t").size == 4 * 500 * 2001


# -- regular expressions (finding 3) ----------------------------------------------------------


@pytest.fixture
def searchable(bash: gym.Env) -> gym.Env:
    world = bash.unwrapped.world
    agent = world.users.user("agent")
    rng = random.Random(0)
    alphabet = "abcdefghijklmnopqrstuvwxyz0123456789 ,.:-_"
    for i in range(3):
        lines = ["".join(rng.choice(alphabet) for _ in range(rng.randint(20, 120))) for _ in range(3500)]
        world.write_bytes(f"/tmp/f{i}", "\n".join(lines).encode()[:262_144], owner=agent)
    return bash


def _alternation(count: int) -> str:
    rng = random.Random(count)
    words = ["".join(rng.choice("abcdefghij") for _ in range(rng.randint(2, 6))) for _ in range(count)]
    return "(" + "|".join(words) + ")"


@pytest.mark.parametrize("pattern", [
    _alternation(150), _alternation(150) + "{2,9}[0-9]", "([a-z0-9 ]{0,20}[0-9]){4}q", "(.{1,30}[0-9]){5}z$",
    "(a|b|c|d|e|f|g|h|i|j|k|l|m|n|o|p|q|r|s|t|u|v|w|x|y|z){5,40}[0-9]{3}", "x" * 2000,
])
def test_pathological_patterns_are_answered_within_the_bound(searchable: gym.Env, pattern: str) -> None:
    obs, info, elapsed = timed_step(searchable, f"grep -cE '{pattern}' /tmp/f0 /tmp/f1 /tmp/f2")
    assert elapsed < BOUND_S
    assert info["exit_status"] in (0, 1, 2)
    if info["exit_status"] == 2:
        assert "sandbox limit" in obs


def test_ordinary_alternations_still_search(searchable: gym.Env) -> None:
    obs, info, elapsed = timed_step(searchable, f"grep -cE '{_alternation(40)}' /tmp/f0 /tmp/f1 /tmp/f2")
    assert info["exit_status"] == 0 and obs.count("/tmp/f") == 3 and elapsed < BOUND_S


# -- huge integers (finding 5) ----------------------------------------------------------------


@pytest.mark.parametrize("line", [
    f"stat -c '%{BIG}s' /etc/passwd", f"stat -c '%.{BIG}n' /etc/passwd", f"grep -m {BIG} root /etc/passwd",
    f"grep -A {BIG} root /etc/passwd", f"grep -B {BIG} root /etc/passwd", f"grep -C {BIG} root /etc/passwd",
    f"grep -m {'0' * 5000}1 root /etc/passwd", f"head -n {BIG} /etc/passwd", f"tail -n {BIG} /etc/passwd",
    f"head -c -{BIG} /etc/passwd", f"id {BIG}", f"chown {BIG} /tmp", f"chgrp {BIG} /tmp", f"chown {BIG}:{BIG} /tmp",
    f"setfacl -m u:{BIG}:r /tmp", f"setfacl -m g:{BIG}:rw /tmp", f"chmod {BIG} /tmp", f"find / -maxdepth {BIG} -name x",
    f"find /tmp -uid {BIG}", f"find /tmp -size +{BIG}", f"exit {BIG}", f"echo x {BIG}>&1",
    f"grep -E 'a{{{BIG}}}' /etc/passwd", f"submit {BIG}",
])
def test_huge_integers_get_bash_answers(bash: gym.Env, line: str) -> None:
    obs, info, elapsed = timed_step(bash, line)
    assert elapsed < BOUND_S
    assert isinstance(info["exit_status"], int)
    assert "4300" not in obs and "int_max_str_digits" not in obs and "Traceback" not in obs


def test_huge_integers_in_fs_answers(fs: gym.Env) -> None:
    fs.reset(options={"task_family": "count_by_type", "task_seed": 1})
    obs, info, elapsed = timed_step(fs, json.dumps({"name": "finish", "arguments": {"answer": BIG}}))
    assert elapsed < BOUND_S and info["success"] is False
    fs.reset(options={"task_family": "summarize_logs", "task_seed": 1})
    base = fs.unwrapped
    base.world.write_bytes(base.task.output, f"api: {BIG}\n".encode(), owner=base.world.users.user("agent"))
    obs, info, elapsed = timed_step(fs, json.dumps({"name": "finish", "arguments": {}}))
    assert elapsed < BOUND_S and info["success"] is False


# -- the tool API (findings 4 and 11) ---------------------------------------------------------


@pytest.mark.parametrize("action", [
    "```json" + "\n" * 16_370 + "```", "```" + "\n" * 16_000 + "x```", "[" * 16_000, "{" * 8000 + "}" * 8000,
    json.dumps({"name": "write_file", "arguments": {"path": "n.txt", "content": "\n" * 16_000}}),
])
def test_maximum_length_actions_are_answered_within_the_bound(fs: gym.Env, action: str) -> None:
    obs, info, elapsed = timed_step(fs, action)
    assert elapsed < BOUND_S


def test_reading_a_large_binary_file_is_bounded(fs: gym.Env) -> None:
    world = fs.unwrapped.world
    world.write_bytes("/workspace/big.bin", bytes(range(256)) * 32_768, owner=world.users.user("agent"))
    obs, info, elapsed = timed_step(fs, json.dumps({"name": "read_file", "arguments": {"path": "big.bin"}}))
    assert elapsed < 0.1 and len(obs) <= fs.unwrapped.max_observation_length
    assert "of 8388608 bytes" in obs


# -- whole-tree work on a full world ------------------------------------------------------------


@pytest.fixture
def full(bash: gym.Env) -> gym.Env:
    for k in range(17):
        timed_step(bash, "touch " + " ".join(f"/tmp/n{k}_{i}" for i in range(1200)))
    assert bash.unwrapped.world.node_count == MAX_NODES
    return bash


@pytest.mark.parametrize("command", [
    "ls -laR /", "find / -name '*x*'", "chmod -R 777 /tmp", "chown -R dana /tmp", "setfacl -R -m u:dana:rwx /tmp",
    "grep -r x /tmp", "rm -rf /tmp/n*", "cp -r /tmp /home/agent/t", "ls /tmp/*",
])
def test_whole_tree_commands_stop_at_the_work_limit(full: gym.Env, command: str) -> None:
    line = "; ".join([command] * 200)  # repeated, each one would have taken 0.1-0.3 s on this tree
    obs, info, elapsed = timed_step(full, line)
    assert elapsed < BOUND_S
    if "did too much work" in obs:
        assert info["exit_status"] == 1 and obs.count("did too much work") == 1  # the rest of the line did not run


def test_a_stopped_line_leaves_the_world_usable(full: gym.Env) -> None:
    obs, info, _ = timed_step(full, "chmod -R 700 /tmp; echo not reached")
    assert "did too much work" in obs and "not reached" not in obs
    obs, info, _ = timed_step(full, "echo next line")
    assert obs == "next line\n" and info["exit_status"] == 0


def test_a_stopped_copy_leaves_nothing_behind(fs: gym.Env) -> None:
    world = fs.unwrapped.world
    agent = world.users.user("agent")
    world.make_dir("/workspace/many", owner=agent)
    for i in range(work.MAX_ACTION_WORK + 10):
        if world.node_count >= MAX_NODES:
            break
        world.write_bytes(f"/workspace/many/f{i}", b"x", owner=agent)
    nodes_before = world.node_count
    copy = {"name": "copy", "arguments": {"source": "many", "destination": "again"}}
    obs, info, elapsed = timed_step(fs, json.dumps(copy))
    assert elapsed < BOUND_S
    assert "did too much work" in obs and not world.exists("/workspace/again") and world.node_count == nodes_before


def test_expert_actions_spend_a_small_share_of_the_budget(monkeypatch: pytest.MonkeyPatch) -> None:
    peak = [0.0]
    original = work.WorkMeter.spend

    def spend(self: work.WorkMeter, units: int) -> None:
        original(self, units)
        if self.limit != float("inf"):
            peak[0] = max(peak[0], self.limit - self.left)

    monkeypatch.setattr(work.WorkMeter, "spend", spend)
    for env_id in ("SubliminalFS-v0", "SubliminalBash-v0"):
        setting = setting_of(env_id)
        env = gym.make(env_id)
        for i, family in enumerate(setting.families):
            env.reset(options={"task_family": family, "task_seed": i})
            expert = setting.make_expert(bias=1.0, rng=np.random.default_rng(i))
            done = False
            while not done:
                *_, terminated, truncated, _ = env.step(expert.act(env))
                done = terminated or truncated
    assert 0 < peak[0] < work.MAX_ACTION_WORK / 20


# -- the fuzz benchmark -------------------------------------------------------------------------


def _bench_fuzz() -> Any:
    path = Path(__file__).resolve().parents[1] / "benchmarks" / "bench_fuzz.py"
    spec = importlib.util.spec_from_file_location("bench_fuzz", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


@pytest.mark.slow
def test_fuzzed_steps_never_raise_and_repeat_exactly() -> None:
    fuzz = _bench_fuzz()
    for env_id, action in (("SubliminalFS-v0", fuzz.fs_action), ("SubliminalBash-v0", fuzz.bash_action)):
        first = fuzz.fuzz(env_id, action, 1500, seed=7)
        assert first.exceptions == 0, first.first_exception
        assert first.slowest_ms < BOUND_S * 1000, first.slowest_action[:200]
        assert fuzz.fuzz(env_id, action, 300, seed=7).digest == fuzz.fuzz(env_id, action, 300, seed=7).digest
