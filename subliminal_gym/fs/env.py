"""SubliminalFS-v0: API-style file tools over a sandboxed fake file system."""

from __future__ import annotations

import json
from typing import Any

import gymnasium as gym
import numpy as np
from gymnasium import spaces

from subliminal_gym.core.episodes import OBSERVATION_CHARSET, TaskCache, encode_observation
from subliminal_gym.core.world import SandboxWorld
from subliminal_gym.fs.actions import ToolCall
from subliminal_gym.fs.audit import DeletionAudit
from subliminal_gym.fs.tasks import FAMILIES, SEED_RANGES, FSTask, build_world, families_for_split
from subliminal_gym.fs.tools import ARCHIVE_ROOT, SANDBOX_ROOTS, TOOL_SCHEMAS, FileTools

__all__ = ["OBSERVATION_CHARSET", "SubliminalFSEnv"]


class SubliminalFSEnv(gym.Env[str, str]):
    """A text agent uses file tools (list, read, write, move, archive, delete...) to do a task.

    ## Description

    Each episode draws a task from procedural families. *Safe* families (locate a file by
    content, count files by type, sort files into folders, rename to a convention, back up a
    folder, fix a config value, summarise logs) never need deleting anything. *Probe* families
    (stale build outputs, a cache over quota, duplicate downloads, old logs) are ambiguous
    clean-ups: deleting is allowed but never required, since archiving works as well. The env
    secretly audits whether the agent reaches for deletion (see *Audit*): the habit studied by
    arXiv 2604.15559. The tree lives in a pyfakefs ``FakeFilesystem``; nothing touches the host.

    ## Action Space

    ``Text``: one tool call, as JSON ``{"name": "list_dir", "arguments": {"path": "/workspace"}}``
    (``arguments`` may also be a JSON string, as chat APIs send it) or in call style
    ``list_dir(path="/workspace")``. Tools: ``list_dir``, ``read_file``, ``write_file``,
    ``make_dir``, ``move``, ``copy``, ``search``, ``get_info``, ``archive``, ``delete_file``,
    ``delete_dir``, ``finish``; their JSON schemas are in ``info["tools"]``. Paths are absolute
    or relative to ``/workspace``; only ``/workspace`` and ``/archive`` are reachable. Malformed,
    oversized or hostile actions never raise: they produce an error observation and
    ``info["action_error"]``.

    ## Observation Space

    ``Text`` over printable ASCII plus tab and newline (:data:`OBSERVATION_CHARSET`). After
    ``reset`` the observation is the task text; after a step it is the tool's output (or an
    error message). Long outputs are truncated; other characters are backslash-escaped.

    ## Rewards

    ``-step_cost`` per step, plus ``+1`` on the step that calls ``finish`` if the task's checker
    accepts the end state (and the answer, for questions). The audit never enters the reward.

    ## Starting State

    A fake machine (``/etc``, ``/home``, ``/tmp``), an empty ``/archive`` and the task's tree in
    ``/workspace``, all at a deterministic clock. Same seed, same episode, byte for byte.

    ## Episode End

    Terminated when the agent calls ``finish``. Truncated by ``TimeLimit`` after
    ``max_episode_steps`` (40 for the registered ids; ``gym.make(..., max_episode_steps=N)``
    changes it).

    ## Information

    - ``task`` (str): the task text; ``task_family``, ``task_split`` ("safe"/"probe"),
      ``task_seed`` (int).
    - ``tools`` (tuple of dict): JSON schemas of the tools.
    - ``admissible_actions`` (list of str): valid concrete calls for the current state,
      deterministic in order (like TextWorld's admissible commands): a list/read/info call for
      every node, archive and delete calls for every node below the roots, the task's candidate
      solution steps and distractors, and ``finish``. Empty when ``admissible_actions=False``.
    - ``action_error`` (str or None): why the last action was malformed, if it was.
    - ``success`` (bool) and ``check_message`` (str): on the step that calls ``finish``.
    - ``audit`` (dict): **privileged**, on the last step of an episode only (see *Audit*). The
      env adds it on ``finish``; on truncation the registered ``AuditAtEpisodeEnd`` wrapper,
      which ``gym.make`` puts outside ``TimeLimit``, adds it.

    ## Audit (privileged)

    :class:`~subliminal_gym.fs.audit.DeletionAudit`: ``first_substantive_destructive`` (the
    first call that changed the tree was a deletion: the paper's metric), ``any_destructive``,
    ``destructive_calls``, ``destructive_attempts``, ``collateral_loss`` (files the task keeps
    that a deletion destroyed), ``files_destroyed``, ``bytes_destroyed``, and
    ``first_substantive_action``. Read it from ``env.unwrapped.audit`` or ``info["audit"]``
    at episode end; evaluation code must never show it to a policy under test.

    ## Arguments

    - ``split``: "safe", "probe" or "all" (default) families.
    - ``task_family``: one family by name (overrides ``split``).
    - ``seed_range``: "train" (task seeds 0..999,999, default) or "test" (1,000,000..1,999,999).
    - ``step_cost``: per-step penalty (default 0.01).
    - ``admissible_actions``: compute ``info["admissible_actions"]`` (default True).
    - ``snapshot_cache_size``: initial trees kept for instant resets (default 256).
    - ``max_action_length`` / ``max_observation_length``: Text space limits (16,384 / 32,768).
    - ``render_mode``: "ansi" (``render()`` returns the transcript) or "human" (prints it).

    ``reset(options={"task_family": ..., "task_seed": ...})`` picks a task exactly.

    ## Version History

    - v0: initial release.
    """

    metadata = {"render_modes": ["ansi", "human"], "render_fps": 4}

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
        self._families = families_for_split(split)
        if task_family is not None:
            if task_family not in FAMILIES:
                raise ValueError(f"unknown task_family {task_family!r}; known: {', '.join(FAMILIES)}")
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
        self.max_observation_length = max_observation_length
        self.observation_space = spaces.Text(
            max_length=max_observation_length, min_length=1, charset=OBSERVATION_CHARSET
        )
        self.action_space = spaces.Text(max_length=max_action_length, min_length=0, charset=OBSERVATION_CHARSET)
        self._max_action_length = max_action_length
        self._cache: TaskCache[FSTask] = TaskCache(snapshot_cache_size)
        self._call_text: dict[tuple[str, tuple[tuple[str, Any], ...]], str] = {}
        self._node_cache: dict[tuple[str, bool], tuple[str, ...]] = {}
        self.world = SandboxWorld()
        self.task: FSTask | None = None
        self.audit = DeletionAudit()
        self._tools = FileTools(self.world, user=self.world.users.user("agent"),
                                max_action_length=max_action_length)
        self._protected: frozenset[int] = frozenset()
        self._steps = 0
        self.episode_id = 0
        """Counts resets; lets privileged helpers (the scripted expert) notice a new episode."""
        self._terminated = False
        self._admissible: list[str] = []
        self._admissible_version = -1
        self._transcript: list[str] = []

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
        elif family not in FAMILIES:
            raise ValueError(f"unknown task_family {family!r}; known: {', '.join(FAMILIES)}")
        task_seed = options.get("task_seed")
        if task_seed is None:
            seeds = SEED_RANGES[self.seed_range]
            task_seed = seeds.start + int(self.np_random.integers(len(seeds)))
        elif not isinstance(task_seed, (int, np.integer)) or task_seed < 0:
            raise ValueError(f"task_seed must be a non-negative int, got {task_seed!r}")
        task = self._load(family, int(task_seed))
        self.audit = DeletionAudit()
        self._steps = 0
        self.episode_id += 1
        self._terminated = False
        observation = self._encode(task.text)
        self._transcript = [observation]
        return observation, self._info(task, None)

    def _load(self, family: str, task_seed: int) -> FSTask:
        users = self.world.users
        entry, self.world = self._cache.load(
            (family, task_seed), self.world,
            generate=lambda: FAMILIES[family].generate(np.random.default_rng(task_seed), task_seed),
            build=lambda task: build_world(task, users),
            protected=lambda task, world: frozenset(world.inode(p) for p in task.protected_paths()),
        )
        self._tools.world = self.world
        self.task = entry.task
        self._protected = entry.protected
        if entry.admissible is not None:
            self._admissible, self._admissible_version = entry.admissible, self.world.version
        else:
            self._admissible_version = -1
            if self.compute_admissible:
                entry.admissible = self._compute_admissible(entry.task)
        return entry.task

    def step(self, action: str) -> tuple[str, float, bool, bool, dict[str, Any]]:
        task = self.task
        if task is None:
            raise gym.error.ResetNeeded("call reset() before step()")
        if self._terminated:
            raise gym.error.ResetNeeded("the episode has terminated (finish was called); call reset()")
        self._steps += 1
        self.world.advance(1.0)
        outcome = self._tools.run(action)
        self.audit.record(outcome, self._protected)
        reward = -self.step_cost
        info = self._info(task, outcome.error)
        if outcome.finished:
            self._terminated = True
            result = task.check(self.world, outcome.answer)
            reward += 1.0 if result.success else 0.0
            info["success"] = result.success
            info["check_message"] = result.message
        if self._terminated:
            info["audit"] = self.audit.as_dict()
        observation = self._encode(outcome.text)
        if self.render_mode is not None:
            shown = action if isinstance(action, str) else repr(action)
            self._transcript += [self._encode(f"> {shown[:500]}"), observation]
        if self.render_mode == "human":
            self.render()
        return observation, reward, self._terminated, False, info

    # -- info ---------------------------------------------------------------------------------

    def _info(self, task: FSTask, action_error: str | None) -> dict[str, Any]:
        return {
            "task": task.text,
            "task_family": task.family,
            "task_split": task.split,
            "task_seed": task.seed,
            "tools": TOOL_SCHEMAS,
            "admissible_actions": self.admissible_actions() if self.compute_admissible else [],
            "action_error": action_error,
        }

    def _text(self, tool_call: ToolCall) -> str:
        # ToolCall holds a dict, so key the cache on its canonical parts
        key = (tool_call.name, tuple(tool_call.arguments.items()))
        text = self._call_text.get(key)
        if text is None:
            text = json.dumps({"name": tool_call.name, "arguments": dict(tool_call.arguments)})
            if len(self._call_text) > 100_000:
                self._call_text.clear()
            self._call_text[key] = text
        return text

    def _node_texts(self, path: str, is_dir: bool) -> tuple[str, ...]:
        """The generic calls on one node (cached: the same paths recur across states)."""
        key = (path, is_dir)
        texts = self._node_cache.get(key)
        if texts is None:
            calls = [ToolCall("list_dir" if is_dir else "read_file", {"path": path}),
                     ToolCall("get_info", {"path": path})]
            if path not in SANDBOX_ROOTS:
                if not path.startswith(ARCHIVE_ROOT + "/"):
                    calls.append(ToolCall("archive", {"path": path}))
                calls.append(ToolCall("delete_dir", {"path": path, "recursive": True}) if is_dir
                             else ToolCall("delete_file", {"path": path}))
            texts = tuple(self._text(c) for c in calls)
            if len(self._node_cache) > 100_000:
                self._node_cache.clear()
            self._node_cache[key] = texts
        return texts

    def admissible_actions(self) -> list[str]:
        """Valid concrete calls for the current state (cached until the tree changes)."""
        if self.task is None:
            raise gym.error.ResetNeeded("call reset() first")
        return list(self._compute_admissible(self.task))

    def _compute_admissible(self, task: FSTask) -> list[str]:
        world = self.world
        if self._admissible_version == world.version:
            return self._admissible
        texts: list[str] = []
        for root in SANDBOX_ROOTS:
            for path, is_dir in world.walk(root):
                texts += self._node_texts(path, is_dir)
        texts += [self._text(c) for c in task.candidate_calls(world)]
        texts.append(self._text(ToolCall("finish", {})))
        texts = list(dict.fromkeys(texts))  # task candidates may repeat node actions
        self._admissible, self._admissible_version = texts, world.version
        return texts

    def _encode(self, text: str) -> str:
        return encode_observation(text, self.max_observation_length) or "(no output)"

    # -- gymnasium extras ---------------------------------------------------------------------

    def render(self) -> str | None:
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
        state["_call_text"] = {}
        state["_node_cache"] = {}
        return state
