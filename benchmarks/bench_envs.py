"""Speed of the envs: steps/s, resets/s, and (FS) env time over the bare pyfakefs calls.

The step mix is the scripted expert's own trajectories over every task family (listing,
reading, searching, writing, moving, copying, archiving, deleting, finishing), recorded first
and then replayed, so only ``env.step`` is timed. The *bare* figure performs the same file
operations straight through pyfakefs's fake ``os``/``open``/``shutil`` on an identical tree,
with no parsing, checks, formatting, audit or info. Machines are shared and noisy: compare the
ratios, and run it twice.

SubliminalBash-v0 is measured the same way on its expert's command lines (no bare figure: a
shell line is many pyfakefs-level operations with no one-to-one bare equivalent).

    python benchmarks/bench_envs.py [--env fs|bash|both] [--episodes 330] [--no-admissible]
"""

from __future__ import annotations

import argparse
import json
import posixpath
import time

import gymnasium as gym
import numpy as np
from pyfakefs import helpers

import subliminal_gym  # noqa: F401  (registers the ids)
from subliminal_gym.bash.expert import ScriptedBashExpert
from subliminal_gym.bash.tasks import BASH_FAMILIES
from subliminal_gym.fs.expert import ScriptedFSExpert
from subliminal_gym.fs.tasks import FAMILIES
from subliminal_gym.fs.tools import WORKSPACE
from subliminal_gym.settings import setting_of


def record(episodes: int, admissible: bool) -> list[tuple[str, int, bool, list[str]]]:
    """Expert trajectories as (family, task_seed, destructive, actions)."""
    env = gym.make("SubliminalFS-v0", admissible_actions=admissible)
    expert = ScriptedFSExpert(deletion_bias=0.5, rng=np.random.default_rng(0))
    families = list(FAMILIES)
    out = []
    for i in range(episodes):
        family = families[i % len(families)]
        env.reset(seed=i, options={"task_family": family, "task_seed": 5_000 + i})
        actions, done = [], False
        while not done:
            action = expert.act(env)
            actions.append(action)
            _, _, terminated, truncated, _ = env.step(action)
            done = terminated or truncated
        out.append((family, 5_000 + i, expert.destructive, actions))
    env.close()
    return out


def time_env(trajectories, admissible: bool) -> tuple[float, int]:
    env = gym.make("SubliminalFS-v0", admissible_actions=admissible)
    total, steps = 0.0, 0
    for family, task_seed, _, actions in trajectories:
        env.reset(options={"task_family": family, "task_seed": task_seed})
        start = time.perf_counter()
        for action in actions:
            env.step(action)
        total += time.perf_counter() - start
        steps += len(actions)
    return total, steps


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
    env = gym.make("SubliminalFS-v0", admissible_actions=False)
    base = env.unwrapped
    total = 0.0
    for family, task_seed, _, actions in trajectories:
        env.reset(options={"task_family": family, "task_seed": task_seed})
        fos, fopen = base.world.os, base.world.open
        previous = helpers.get_uid()
        helpers.set_uid(0)  # same footing as the env: no pyfakefs permission checks
        try:
            start = time.perf_counter()
            for action in actions:
                _bare_step(fos, fopen, action)
            total += time.perf_counter() - start
        finally:
            helpers.set_uid(previous)
    return total


def time_resets(n: int, fresh: bool, env_id: str = "SubliminalFS-v0") -> float:
    env = gym.make(env_id, snapshot_cache_size=256)
    families = list(setting_of(env_id).families)
    if not fresh:  # warm the cache with 64 tasks, then cycle over them
        for i in range(64):
            env.reset(options={"task_family": families[i % len(families)], "task_seed": i})
    start = time.perf_counter()
    for i in range(n):
        seed = 10_000 + i if fresh else i % 64
        env.reset(options={"task_family": families[seed % len(families)], "task_seed": seed})
    return n / (time.perf_counter() - start)


def bench_bash(episodes: int, admissible_settings: list[bool]) -> None:
    """SubliminalBash-v0: the scripted expert's command lines replayed; resets as for FS."""
    env = gym.make("SubliminalBash-v0", admissible_actions=False)
    expert = ScriptedBashExpert(chmod_bias=0.5, rng=np.random.default_rng(0))
    families = list(BASH_FAMILIES)
    trajectories = []
    for i in range(episodes):
        options = {"task_family": families[i % len(families)], "task_seed": 5_000 + i}
        env.reset(options=options)
        lines, done = [], False
        while not done:
            line = expert.act(env)
            lines.append(line)
            _, _, terminated, truncated, _ = env.step(line)
            done = terminated or truncated
        trajectories.append((options, lines))
    n_steps = sum(len(lines) for _, lines in trajectories)
    mix: dict[str, int] = {}
    for _, lines in trajectories:
        for line in lines:
            mix[line.split()[0]] = mix.get(line.split()[0], 0) + 1
    print(f"\nSubliminalBash-v0: step mix over {episodes} expert episodes ({n_steps} steps): "
          + ", ".join(f"{k} {v}" for k, v in sorted(mix.items(), key=lambda kv: -kv[1])))
    for admissible in admissible_settings:
        env = gym.make("SubliminalBash-v0", admissible_actions=admissible)
        best = float("inf")
        for _ in range(3):
            total = 0.0
            for options, lines in trajectories:
                env.reset(options=options)
                start = time.perf_counter()
                for line in lines:
                    env.step(line)
                total += time.perf_counter() - start
            best = min(best, total)
        print(f"env.step, admissible_actions={admissible!s:5}: {n_steps / best:9.0f} steps/s")
    print(f"reset, repeated tasks (snapshot restore): {time_resets(2000, False, 'SubliminalBash-v0'):7.0f} resets/s")
    print(f"reset, fresh tasks (generate + build):    {time_resets(500, True, 'SubliminalBash-v0'):7.0f} resets/s")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--episodes", type=int, default=330, help="recorded expert episodes")
    parser.add_argument("--no-admissible", action="store_true", help="only the admissible_actions=False figures")
    parser.add_argument("--env", choices=("fs", "bash", "both"), default="both", help="which env to measure")
    args = parser.parse_args()
    settings = [False] if args.no_admissible else [True, False]
    if args.env in ("fs", "both"):
        bench_fs(args.episodes, settings)
    if args.env in ("bash", "both"):
        bench_bash(args.episodes, settings)


def bench_fs(episodes: int, settings: list[bool]) -> None:
    """SubliminalFS-v0: expert trajectories replayed, against the same calls on bare pyfakefs."""
    print("SubliminalFS-v0:")
    trajectories = record(episodes, admissible=False)

    n_steps = sum(len(t[3]) for t in trajectories)
    mix: dict[str, int] = {}
    for *_, actions in trajectories:
        for action in actions:
            mix[json.loads(action)["name"]] = mix.get(json.loads(action)["name"], 0) + 1
    print(f"step mix over {len(trajectories)} expert episodes ({n_steps} steps): "
          + ", ".join(f"{k} {v}" for k, v in sorted(mix.items(), key=lambda kv: -kv[1])))

    bare = min(time_bare(trajectories) for _ in range(3))
    print(f"bare pyfakefs calls:                 {n_steps / bare:9.0f} steps/s")
    for admissible in settings:
        elapsed = min(time_env(trajectories, admissible)[0] for _ in range(3))
        print(f"env.step, admissible_actions={admissible!s:5}: {n_steps / elapsed:9.0f} steps/s  "
              f"(env / bare pyfakefs time = {elapsed / bare:.2f})")
    print(f"reset, repeated tasks (snapshot restore): {time_resets(2000, fresh=False):7.0f} resets/s")
    print(f"reset, fresh tasks (generate + build):    {time_resets(500, fresh=True):7.0f} resets/s")


if __name__ == "__main__":
    main()
