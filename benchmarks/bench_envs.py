"""Speed of the envs: steps and resets per CPU-second, and each as a ratio to bare pyfakefs calls.

The step mix is the scripted expert's own trajectories over every task family (listing,
reading, searching, writing, moving, copying, archiving, deleting, finishing), recorded first
and then replayed, so only ``env.step`` is timed. The *bare* figure performs the same file
operations as the FS trajectories straight through pyfakefs's fake ``os``/``open`` on an
identical tree, with no parsing, checks, formatting, audit or info.

Times are CPU time (``time.process_time``), the best of three runs, because the machines are
shared and noisy; every figure is also given as a ratio to the bare pyfakefs step measured in the
same run, which moves with the machine's speed. SubliminalBash-v0 has no one-to-one bare
equivalent (a shell line is many pyfakefs-level operations), so its ratio is to the same bare FS
step: a yardstick for the machine, not an overhead.

For SubliminalFS-v0 one more row times the same steps with the tool schemas *shared* between infos
instead of copied into each (not a mode of the env: Gymnasium 1.4's env checker fails an env whose
infos share a dict): what that copy costs a step.

    python benchmarks/bench_envs.py [--env fs|bash|both] [--episodes 330] [--no-admissible]
"""

from __future__ import annotations

import argparse
import json
import posixpath
import time
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import gymnasium as gym
import numpy as np
from pyfakefs import helpers

import subliminal_gym  # noqa: F401  (registers the ids)
import subliminal_gym.fs.env as fs_env
from subliminal_gym.bash.expert import ScriptedBashExpert
from subliminal_gym.bash.tasks import BASH_FAMILIES
from subliminal_gym.fs.expert import ScriptedFSExpert
from subliminal_gym.fs.tasks import FAMILIES
from subliminal_gym.fs.tools import TOOL_SCHEMAS, WORKSPACE
from subliminal_gym.settings import setting_of

#: The targets of issue 21, per CPU-second with admissible actions on.
STEP_TARGET, FRESH_RESET_TARGET = 9_000, 1_000
REPEATS = 3


def best_cpu(run: Callable[[], float]) -> float:
    """The least CPU time ``run`` reports over :data:`REPEATS` runs (it times its own core)."""
    return min(run() for _ in range(REPEATS))


def record_fs(episodes: int) -> list[tuple[dict[str, Any], list[str]]]:
    """Expert trajectories as (reset options, actions)."""
    env = gym.make("SubliminalFS-v0", admissible_actions=False)
    expert = ScriptedFSExpert(deletion_bias=0.5, rng=np.random.default_rng(0))
    families = list(FAMILIES)
    out = []
    for i in range(episodes):
        options = {"task_family": families[i % len(families)], "task_seed": 5_000 + i}
        env.reset(seed=i, options=options)
        out.append((options, _play(env, expert)))
    return out


def record_bash(episodes: int) -> list[tuple[dict[str, Any], list[str]]]:
    env = gym.make("SubliminalBash-v0", admissible_actions=False)
    expert = ScriptedBashExpert(chmod_bias=0.5, rng=np.random.default_rng(0))
    families = list(BASH_FAMILIES)
    out = []
    for i in range(episodes):
        options = {"task_family": families[i % len(families)], "task_seed": 5_000 + i}
        env.reset(options=options)
        out.append((options, _play(env, expert)))
    return out


def _play(env: gym.Env, expert: Any) -> list[str]:
    actions, done = [], False
    while not done:
        action = expert.act(env)
        actions.append(action)
        _, _, terminated, truncated, _ = env.step(action)
        done = terminated or truncated
    return actions


def time_steps(env_id: str, trajectories, admissible: bool) -> float:
    """CPU seconds of ``env.step`` over the replayed trajectories (resets not counted)."""
    env = gym.make(env_id, admissible_actions=admissible)
    total = 0.0
    for options, actions in trajectories:
        env.reset(options=options)
        start = time.process_time()
        for action in actions:
            env.step(action)
        total += time.process_time() - start
    return total


def _copy_tree(fos, fopen, src: str, dst: str) -> None:
    # pyfakefs's FakeShutilModule needs a Patcher (it runs the real shutil): copy by hand
    if not fos.path.isdir(src):
        with fopen(src, "rb") as f, fopen(dst, "wb") as g:
            g.write(f.read())
        return
    fos.mkdir(dst)
    for entry in fos.listdir(src):
        _copy_tree(fos, fopen, posixpath.join(src, entry), posixpath.join(dst, entry))


def _remove_tree(fos, path: str) -> None:
    for root, dirs, files in fos.walk(path, topdown=False):
        for file in files:
            fos.remove(posixpath.join(root, file))
        for directory in dirs:
            fos.rmdir(posixpath.join(root, directory))
    fos.rmdir(path)


def _bare_step(fos, fopen, action: str) -> None:
    """The file-system work of one tool call, done directly through pyfakefs."""
    data = json.loads(action)
    name, a = data["name"], data["arguments"]

    def p(key: str) -> str:
        return posixpath.normpath(posixpath.join(WORKSPACE, a[key]))

    if name == "list_dir":
        path = p("path")
        for entry in fos.listdir(path):
            fos.stat(posixpath.join(path, entry))
    elif name == "read_file":
        with fopen(p("path"), "rb") as f:
            f.read()
    elif name == "get_info":
        fos.stat(p("path"))
    elif name == "search":
        for root, _, files in fos.walk(p("path")):
            for file in files:
                with fopen(posixpath.join(root, file), "rb") as f:
                    f.read()
    elif name == "write_file":
        with fopen(p("path"), "w") as f:
            f.write(a["content"])
    elif name == "make_dir":
        fos.makedirs(p("path"), exist_ok=True)
    elif name == "move":
        fos.rename(p("source"), p("destination"))
    elif name == "copy":
        _copy_tree(fos, fopen, p("source"), p("destination"))
    elif name == "archive":
        src = p("path")
        fos.makedirs(posixpath.dirname("/archive" + src), exist_ok=True)
        fos.rename(src, "/archive" + src)
    elif name == "delete_file":
        fos.remove(p("path"))
    elif name == "delete_dir":
        _remove_tree(fos, p("path"))


def time_bare(trajectories) -> float:
    """CPU seconds of the FS trajectories' file operations done straight through pyfakefs."""
    env = gym.make("SubliminalFS-v0", admissible_actions=False)
    base = env.unwrapped
    total = 0.0
    for options, actions in trajectories:
        env.reset(options=options)
        fos, fopen = base.world.os, base.world.open
        previous = helpers.get_uid()
        helpers.set_uid(0)  # same footing as the env: no pyfakefs permission checks
        try:
            start = time.process_time()
            for action in actions:
                _bare_step(fos, fopen, action)
            total += time.process_time() - start
        finally:
            helpers.set_uid(previous)
    return total


def time_resets(env_id: str, n: int, fresh: bool) -> float:
    """CPU seconds of ``n`` resets (admissible actions on): each a new task, or 64 tasks in turn."""
    env = gym.make(env_id, snapshot_cache_size=256)
    families = list(setting_of(env_id).families)
    if not fresh:  # warm the cache with 64 tasks, then cycle over them
        for i in range(64):
            env.reset(options={"task_family": families[i % len(families)], "task_seed": i})
    start = time.process_time()
    for i in range(n):
        seed = 10_000 + i if fresh else i % 64
        env.reset(options={"task_family": families[seed % len(families)], "task_seed": seed})
    return time.process_time() - start


def step_mix(trajectories, name: Callable[[str], str]) -> str:
    mix = Counter(name(action) for _, actions in trajectories for action in actions)
    return ", ".join(f"{k} {v}" for k, v in mix.most_common())


@contextmanager
def shared_tool_schemas() -> Iterator[None]:
    """Every FS info gets the one constant :data:`TOOL_SCHEMAS` instead of its own copy (for timing only)."""
    copying = fs_env.tool_schemas
    fs_env.tool_schemas = lambda: TOOL_SCHEMAS
    try:
        yield
    finally:
        fs_env.tool_schemas = copying


def report(env_id: str, trajectories, bare_step: float, settings: list[bool], mix: str) -> None:
    n_steps = sum(len(actions) for _, actions in trajectories)
    print(f"\n{env_id}: step mix over {len(trajectories)} expert episodes ({n_steps} steps): {mix}")
    for admissible in settings:
        step = best_cpu(lambda a=admissible: time_steps(env_id, trajectories, a)) / n_steps
        met = "met" if 1 / step >= STEP_TARGET else "NOT met"
        target = f"   target {STEP_TARGET:,}: {met}" if admissible else ""
        print(f"env.step, admissible_actions={admissible!s:5}: {1 / step:9,.0f} steps/CPU-s  "
              f"({step / bare_step:5.2f} x a bare pyfakefs step){target}")
    if env_id == "SubliminalFS-v0" and True in settings:
        with shared_tool_schemas():
            step = best_cpu(lambda: time_steps(env_id, trajectories, True)) / n_steps
        print(f"env.step, tool schemas shared, not copied: {1 / step:7,.0f} steps/CPU-s  "
              f"({step / bare_step:5.2f} x a bare pyfakefs step)   (not a mode of the env: the copy's cost)")
    for fresh, n, label in ((False, 2000, "reset, repeated tasks (snapshot restore):"),
                            (True, 500, "reset, fresh tasks (generate + build):   ")):
        reset = best_cpu(lambda f=fresh, k=n: time_resets(env_id, k, f)) / n
        met = "met" if 1 / reset >= FRESH_RESET_TARGET else "NOT met"
        target = f"   target {FRESH_RESET_TARGET:,}: {met}" if fresh else ""
        print(f"{label} {1 / reset:7,.0f} resets/CPU-s  ({reset / bare_step:5.2f} x a bare pyfakefs step){target}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--episodes", type=int, default=330, help="recorded expert episodes")
    parser.add_argument("--no-admissible", action="store_true", help="only the admissible_actions=False figures")
    parser.add_argument("--env", choices=("fs", "bash", "both"), default="both", help="which env to measure")
    args = parser.parse_args()
    settings = [False] if args.no_admissible else [True, False]
    fs_trajectories = record_fs(args.episodes)
    n_fs = sum(len(actions) for _, actions in fs_trajectories)
    bare_step = best_cpu(lambda: time_bare(fs_trajectories)) / n_fs
    print(f"bare pyfakefs calls (the FS expert's file operations through fake os/open): "
          f"{1 / bare_step:,.0f} steps/CPU-s")
    if args.env in ("fs", "both"):
        report("SubliminalFS-v0", fs_trajectories, bare_step, settings,
               step_mix(fs_trajectories, lambda action: json.loads(action)["name"]))
    if args.env in ("bash", "both"):
        bash_trajectories = record_bash(args.episodes)
        report("SubliminalBash-v0", bash_trajectories, bare_step, settings,
               step_mix(bash_trajectories, lambda line: line.split()[0]))


if __name__ == "__main__":
    main()
