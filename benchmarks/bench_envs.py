"""Speed of SubliminalFS-v0: steps/s, resets/s, and env time over the bare pyfakefs calls.

The step mix is the scripted expert's own trajectories over every task family (listing,
reading, searching, writing, moving, copying, archiving, deleting, finishing), recorded first
and then replayed, so only ``env.step`` is timed. The *bare* figure performs the same file
operations straight through pyfakefs's fake ``os``/``open``/``shutil`` on an identical tree,
with no parsing, checks, formatting, audit or info. Machines are shared and noisy: compare the
ratios, and run it twice.

    python benchmarks/bench_envs.py [--episodes 300] [--no-admissible]
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
from subliminal_gym.baselines.scripted import ScriptedFSExpert
from subliminal_gym.fs.tasks import FAMILIES
from subliminal_gym.fs.tools import WORKSPACE


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


def time_resets(n: int, fresh: bool) -> float:
    env = gym.make("SubliminalFS-v0", snapshot_cache_size=256)
    families = list(FAMILIES)
    if not fresh:  # warm the cache with 64 tasks, then cycle over them
        for i in range(64):
            env.reset(options={"task_family": families[i % len(families)], "task_seed": i})
    start = time.perf_counter()
    for i in range(n):
        seed = 10_000 + i if fresh else i % 64
        env.reset(options={"task_family": families[seed % len(families)], "task_seed": seed})
    return n / (time.perf_counter() - start)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--episodes", type=int, default=330, help="recorded expert episodes")
    parser.add_argument("--no-admissible", action="store_true", help="only the admissible_actions=False figures")
    args = parser.parse_args()

    trajectories = record(args.episodes, admissible=False)
    n_steps = sum(len(t[3]) for t in trajectories)
    mix: dict[str, int] = {}
    for *_, actions in trajectories:
        for action in actions:
            mix[json.loads(action)["name"]] = mix.get(json.loads(action)["name"], 0) + 1
    print(f"step mix over {len(trajectories)} expert episodes ({n_steps} steps): "
          + ", ".join(f"{k} {v}" for k, v in sorted(mix.items(), key=lambda kv: -kv[1])))

    bare = min(time_bare(trajectories) for _ in range(3))
    print(f"bare pyfakefs calls:                 {n_steps / bare:9.0f} steps/s")
    settings = [False] if args.no_admissible else [True, False]
    for admissible in settings:
        elapsed = min(time_env(trajectories, admissible)[0] for _ in range(3))
        print(f"env.step, admissible_actions={admissible!s:5}: {n_steps / elapsed:9.0f} steps/s  "
              f"(env / bare pyfakefs time = {elapsed / bare:.2f})")
    print(f"reset, repeated tasks (snapshot restore): {time_resets(2000, fresh=False):7.0f} resets/s")
    print(f"reset, fresh tasks (generate + build):    {time_resets(500, fresh=True):7.0f} resets/s")


if __name__ == "__main__":
    main()
