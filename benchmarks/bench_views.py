"""Speed of the vector views: steps/s of DiscreteActionView against the plain text envs it wraps.

The step mix is the scripted expert's own trajectories over every task family (fixed task
seeds, deletion / chmod-first bias 0.5), recorded once through a view as (slot, action text)
pairs and then replayed twice: slot indices through ``make_view_env(env_id)`` and the same texts
through ``gym.make(env_id)`` (which computes the admissible actions the view needs). Only
``step`` is timed; each figure is the best of three passes. The ratio is view time over text env
time: what the featurisation (hashed bags of words, one row per slot) costs on top of the env.
Machines are shared and noisy: compare the ratios, and run it twice.

    python benchmarks/bench_views.py [--env fs|bash|both] [--episodes 330]
"""

from __future__ import annotations

import argparse
import time

import gymnasium as gym
import numpy as np

import subliminal_gym  # noqa: F401  (registers the ids)
from subliminal_gym.settings import SETTINGS, setting_of
from subliminal_gym.views import make_view_env

Trajectory = tuple[dict, list[int], list[str]]


def record(env_id: str, episodes: int) -> list[Trajectory]:
    """Expert trajectories as (reset options, slots, action texts)."""
    view = make_view_env(env_id)
    expert = setting_of(env_id).make_expert(bias=0.5, rng=np.random.default_rng(0))
    families = list(setting_of(env_id).families)
    out = []
    for i in range(episodes):
        options = {"task_family": families[i % len(families)], "task_seed": 5_000 + i}
        obs, info = view.reset(options=options)
        slots, texts, done = [], [], False
        while not done:
            slot = view.index_of(expert.act(view))
            slots.append(slot)
            texts.append(info["action_texts"][slot])
            obs, _, terminated, truncated, info = view.step(slot)
            done = terminated or truncated
        out.append((options, slots, texts))
    return out


def time_text(env_id: str, trajectories: list[Trajectory]) -> float:
    env = gym.make(env_id)
    total = 0.0
    for options, _, texts in trajectories:
        env.reset(options=options)
        start = time.perf_counter()
        for text in texts:
            env.step(text)
        total += time.perf_counter() - start
    return total


def time_view(env_id: str, trajectories: list[Trajectory]) -> float:
    view = make_view_env(env_id)
    total = 0.0
    for options, slots, _ in trajectories:
        view.reset(options=options)
        start = time.perf_counter()
        for slot in slots:
            view.step(slot)
        total += time.perf_counter() - start
    return total


def time_view_resets(env_id: str, n: int) -> float:
    """Resets/s of a view over 64 cached tasks (snapshot restore plus the first observation)."""
    view = make_view_env(env_id, snapshot_cache_size=256)
    families = list(setting_of(env_id).families)
    for i in range(64):
        view.reset(options={"task_family": families[i % len(families)], "task_seed": i})
    start = time.perf_counter()
    for i in range(n):
        view.reset(options={"task_family": families[i % 64 % len(families)], "task_seed": i % 64})
    return n / (time.perf_counter() - start)


def bench(env_id: str, episodes: int) -> None:
    trajectories = record(env_id, episodes)
    n_steps = sum(len(slots) for _, slots, _ in trajectories)
    view = make_view_env(env_id)
    print(f"\n{env_id}: {episodes} expert episodes, {n_steps} steps; view obs_dim {view.layout.obs_dim}, "
          f"{view.layout.max_actions} slots")
    text = min(time_text(env_id, trajectories) for _ in range(3))
    vector = min(time_view(env_id, trajectories) for _ in range(3))
    print(f"text env.step (admissible_actions=True): {n_steps / text:9.0f} steps/s")
    print(f"view.step (DiscreteActionView):          {n_steps / vector:9.0f} steps/s  "
          f"(view / text env time = {vector / text:.2f})")
    print(f"view.reset, repeated tasks:              {time_view_resets(env_id, 1000):9.0f} resets/s")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--episodes", type=int, default=330, help="recorded expert episodes per env")
    parser.add_argument("--env", choices=(*SETTINGS, "both"), default="both", help="which env to measure")
    args = parser.parse_args()
    for name, setting in SETTINGS.items():
        if args.env in (name, "both"):
            bench(setting.env_id, args.episodes)


if __name__ == "__main__":
    main()
