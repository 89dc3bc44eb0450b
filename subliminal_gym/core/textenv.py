"""The base of the suite's text envs: arguments, task choice, snapshot resets, admissible-action
caching, rendering and pickling. A subclass brings its task families, world builder, interface
(tools or shell), ``step`` and ``info``."""

from __future__ import annotations

from abc import abstractmethod
from collections.abc import Mapping
from typing import Any, ClassVar

import gymnasium as gym
import numpy as np
from gymnasium import spaces

from subliminal_gym.core.episodes import OBSERVATION_CHARSET, AuditScope, TaskCache, TaskRef, encode_observation
from subliminal_gym.core.setting import Setting, split_families
from subliminal_gym.core.users import UserDatabase
from subliminal_gym.core.world import SandboxWorld

__all__ = ["MAX_ADMISSIBLE_NODES", "SEED_RANGES", "TEST_SEEDS", "TRAIN_SEEDS", "TextTaskEnv"]

#: Task seeds for training: [0, 1_000_000).
TRAIN_SEEDS = range(0, 1_000_000)
#: Task seeds for evaluation and the leaderboards: [1_000_000, 2_000_000).
TEST_SEEDS = range(1_000_000, 2_000_000)
#: Nodes whose generic actions (look, read, delete...) ``admissible_actions`` lists, in walk order. A
#: task's tree has a few dozen (its initial list holds at most 189 actions on FS, 71 on Bash); a tree an
#: agent grows to the world's 20,000 nodes would otherwise list 80,000 actions, rebuilt after every change.
MAX_ADMISSIBLE_NODES = 1_000
SEED_RANGES = {"train": TRAIN_SEEDS, "test": TEST_SEEDS}


class TextTaskEnv(gym.Env[str, str]):
    """Text in, text out, one procedurally generated task per episode (see the subclasses).

    Args:
        split: "readonly", "safe", "probe" or "all" families (:data:`~subliminal_gym.core.setting.SPLITS`).
        task_family: one family by name (overrides ``split``).
        seed_range: "train" or "test" task seeds (:data:`SEED_RANGES`).
        step_cost: per-step penalty.
        admissible_actions: compute ``info["admissible_actions"]``.
        snapshot_cache_size: initial trees kept for instant resets.
        max_action_length: longer actions are refused.
        max_observation_length: longer observations are truncated.
        render_mode: "ansi" or "human".

    Raises:
        ValueError: an unknown split, family, seed range or render mode, or a bad limit.
    """

    metadata = {"render_modes": ["ansi", "human"], "render_fps": 4}
    families: ClassVar[Mapping[str, Any]]
    """Family name -> task class (with ``split``, ``generate(rng, seed)``)."""
    setting: ClassVar[Setting]
    """The env family's :class:`~subliminal_gym.core.setting.Setting` (ids, verbs, habit, metrics, expert)."""
    observation_min_length: ClassVar[int] = 1

    def __init__(
        self,
        *,
        split: str = "all",
        task_family: str | None = None,
        seed_range: str = "train",
        step_cost: float = 0.01,
        admissible_actions: bool = True,
        snapshot_cache_size: int = 256,
        max_action_length: int = 16_384,
        max_observation_length: int = 32_768,
        render_mode: str | None = None,
    ) -> None:
        self._families = split_families(self.families, split)
        if task_family is not None:
            self._check_family(task_family)
            self._families = (task_family,)
        if seed_range not in SEED_RANGES:
            raise ValueError(f"unknown seed_range {seed_range!r}; expected 'train' or 'test'")
        if render_mode is not None and render_mode not in self.metadata["render_modes"]:
            raise ValueError(f"unsupported render_mode {render_mode!r}; use 'ansi' or 'human'")
        if snapshot_cache_size < 0 or max_action_length < 1 or max_observation_length < 256:
            raise ValueError("snapshot_cache_size must be >= 0, the length limits positive (>= 256 for observations)")
        self.split = split
        self.seed_range = seed_range
        self.step_cost = float(step_cost)
        self.compute_admissible = admissible_actions
        self.render_mode = render_mode
        self.max_action_length = max_action_length
        self.max_observation_length = max_observation_length
        self.observation_space = spaces.Text(max_length=max_observation_length,
                                             min_length=self.observation_min_length, charset=OBSERVATION_CHARSET)
        self.action_space = spaces.Text(max_length=max_action_length, min_length=0, charset=OBSERVATION_CHARSET)
        self._cache: TaskCache[Any] = TaskCache(snapshot_cache_size)
        self.world = SandboxWorld()
        self.task: Any = None
        self.episode_id = 0
        """Counts resets; lets privileged helpers (the scripted experts) notice a new episode."""
        self._scope = AuditScope(frozenset(), frozenset())
        self._terminated = False
        self._admissible: list[str] = []
        self._admissible_version = -1
        self._transcript: list[str] = []

    def _check_family(self, family: str) -> None:
        if family not in self.families:
            raise ValueError(f"unknown task_family {family!r}; known: {', '.join(self.families)}")

    # -- what a subclass provides -------------------------------------------------------------

    @abstractmethod
    def _build_world(self, task: Any, users: UserDatabase) -> SandboxWorld:
        """A fresh world holding ``task``'s initial tree."""

    @abstractmethod
    def _audit_scope(self, task: Any, world: SandboxWorld) -> AuditScope:
        """The inodes of ``task``'s initial tree the audit watches (``world`` holds that tree)."""

    @abstractmethod
    def _begin(self, task: Any) -> None:
        """Start an episode on ``self.world`` (rebind the interface, reset the audit)."""

    @abstractmethod
    def _compute_admissible(self, task: Any) -> list[str]:
        """The admissible actions of the current state (uncached)."""

    @abstractmethod
    def _info(self, task: Any, action_error: str | None) -> dict[str, Any]:
        """The ``info`` dict every step carries."""

    # -- episode ------------------------------------------------------------------------------

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None) -> tuple[str, dict[str, Any]]:
        super().reset(seed=seed)
        options = dict(options or {})
        unknown = set(options) - {"task_family", "task_seed"}
        if unknown:
            raise ValueError(f"unknown reset option(s): {', '.join(sorted(unknown))}")
        family = options.get("task_family")
        if family is None:
            family = self._families[int(self.np_random.integers(len(self._families)))]
        self._check_family(family)
        task_seed = options.get("task_seed")
        if task_seed is None:
            seeds = SEED_RANGES[self.seed_range]
            task_seed = seeds.start + int(self.np_random.integers(len(seeds)))
        elif not isinstance(task_seed, (int, np.integer)) or task_seed < 0:
            raise ValueError(f"task_seed must be a non-negative int, got {task_seed!r}")
        task_seed = int(task_seed)
        users = self.world.users
        entry, self.world = self._cache.load(
            (family, task_seed), self.world,
            generate=lambda: self.families[family].generate(np.random.default_rng(task_seed), task_seed),
            build=lambda task: self._build_world(task, users),
            scope=self._audit_scope,
        )
        self.task = task = entry.task
        self._scope = entry.scope
        self.episode_id += 1
        self._terminated = False
        self._begin(task)
        self._admissible_version = -1
        if entry.admissible is not None:
            self._admissible, self._admissible_version = entry.admissible, self.world.version
        elif self.compute_admissible:
            entry.admissible = self._cached_admissible(task)
        observation = self._encode(task.text)
        self._transcript = [observation]
        return observation, self._info(task, None)

    def task_schedule(self, seed: int, count: int) -> list[tuple[str, int]]:
        """The ``(task_family, task_seed)`` of ``count`` episodes: ``reset(seed=seed)`` then plain resets.

        Computed without building any world, from the same draws :meth:`reset` makes, so a batch of
        envs can replay one env's task sequence with ``reset(options=...)`` (every agent evaluated
        with the same ``seed`` then faces the same tasks, however its episodes are batched). Leaves
        this env's own random state untouched.

        Raises:
            ValueError: ``seed`` or ``count`` is negative.
        """
        if seed < 0 or count < 0:
            raise ValueError(f"seed and count must be non-negative, got {seed!r} and {count!r}")
        rng, _ = gym.utils.seeding.np_random(int(seed))
        seeds = SEED_RANGES[self.seed_range]
        schedule = []
        for _ in range(count):
            family = self._families[int(rng.integers(len(self._families)))]
            schedule.append((family, seeds.start + int(rng.integers(len(seeds)))))
        return schedule

    @property
    def task_ref(self) -> TaskRef:
        """The current episode's family, split and task seed (**privileged**: ``info`` carries none of
        them, so an agent cannot tell a probe from a training task by anything but the task itself).

        Raises:
            gymnasium.error.ResetNeeded: no episode has started.
        """
        if self.task is None:
            raise gym.error.ResetNeeded("call reset() first")
        return TaskRef(self.task.family, self.task.split, self.task.seed)

    def _require_running(self) -> Any:
        """The current task; raises if no episode is running."""
        if self.task is None:
            raise gym.error.ResetNeeded("call reset() before step()")
        if self._terminated:
            raise gym.error.ResetNeeded("the episode has terminated; call reset()")
        return self.task

    # -- admissible actions -------------------------------------------------------------------

    def admissible_actions(self) -> list[str]:
        """Valid concrete actions for the current state (cached until the tree changes)."""
        if self.task is None:
            raise gym.error.ResetNeeded("call reset() first")
        return list(self._cached_admissible(self.task))

    def _cached_admissible(self, task: Any) -> list[str]:
        if self._admissible_version != self.world.version:
            self._admissible = list(dict.fromkeys(self._compute_admissible(task)))
            self._admissible_version = self.world.version
        return self._admissible

    # -- text ---------------------------------------------------------------------------------

    def _encode(self, text: str) -> str:
        text = encode_observation(text, self.max_observation_length)
        return text if len(text) >= self.observation_min_length else "(no output)"

    def _transcribe(self, shown_action: str, observation: str) -> None:
        """Keep the transcript for ``render`` (and print it in human mode)."""
        if self.render_mode is None:
            return
        self._transcript += [encode_observation(shown_action[:500], 1000), observation]
        if self.render_mode == "human":
            self.render()

    def render(self) -> str | None:  # type: ignore[override]  # ansi frames are text, as Gymnasium's ansi mode says
        if self.render_mode is None:
            gym.logger.warn("render() called without a render_mode; pass render_mode='ansi' to gym.make")
            return None
        text = "\n".join(self._transcript)
        if self.render_mode == "human":
            print(text[-4000:])
            return None
        return text

    def __getstate__(self) -> dict[str, Any]:
        state = self.__dict__.copy()
        state["_cache"] = TaskCache(self._cache.size)  # snapshots are rebuilt on demand
        return state
