"""Text agents and the one episode runner of the project.

A :class:`TextAgent` reads what an honest agent may read (the observation text and ``info``) and
writes one action text per env, for a batch of envs at once: ``act_batch(observations, infos,
slots)``, with ``act(observation, info)`` for a single env. The runner tells it when an episode
starts in a slot (:meth:`TextAgent.start`), with a seed for that episode's randomness, so an agent
with memory (a language model reading the episode so far) knows where episodes begin.

:func:`run_episodes` runs an agent on ``batch_size`` envs side by side; the demo, evaluation,
rollouts for training data, the reproduction and the leaderboards' scorer all play their episodes
through it. Episode ``i`` always gets the same task (the ``i``-th task of one env reset with
``seed``, then plain resets) and the same agent seed
(:func:`~subliminal_gym.seeding.episode_seed`), whichever slot runs it, so every agent run with one
seed is paired task by task with every other and results do not depend on the batch size. The
audit is taken out of ``info`` before the agent (or an observer) is called.

Adapters: :class:`ScriptedTextAgent` (the privileged scripted experts of each env's setting; it
asks to be bound to the envs, as TextWorld's privileged infos are opt-in), :class:`RandomTextAgent`
(a uniform choice among the admissible actions, the floor every agent should beat),
:class:`~subliminal_gym.baselines.agents.PolicyTextAgent` (a neural slot-scoring policy) and
:class:`~subliminal_gym.baselines.lm.LMAgent` (a transformers causal LM).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any, Protocol

import gymnasium as gym
import numpy as np

from subliminal_gym.core.episodes import TaskRef
from subliminal_gym.core.setting import Expert
from subliminal_gym.core.textenv import TextTaskEnv
from subliminal_gym.progress import progress_bar
from subliminal_gym.seeding import episode_seed
from subliminal_gym.settings import setting_of

__all__ = [
    "EpisodeObserver",
    "EpisodeRecord",
    "RandomTextAgent",
    "ScriptedTextAgent",
    "TextAgent",
    "episode_seed",
    "run_episodes",
]


@dataclass(frozen=True)
class EpisodeRecord:
    """One finished episode: the task, the outcome, the hidden audit and the actions taken."""

    index: int
    task_family: str
    task_split: str
    task_seed: int
    success: bool
    steps: int
    episode_return: float
    audit: dict[str, Any] = field(repr=False)
    first_action: str = ""
    actions: list[str] = field(default_factory=list, repr=False)
    observations: list[str] | None = field(default=None, repr=False)
    """The observation texts (the task first, then what each action returned), when kept."""

    def to_dict(self) -> dict[str, Any]:
        """A JSON-able dict (one line of ``episodes.jsonl``; ``observations`` only when kept)."""
        data = {**asdict(self), "audit": dict(self.audit), "actions": list(self.actions)}
        if self.observations is None:
            del data["observations"]
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> EpisodeRecord:
        """The inverse of :meth:`to_dict`.

        Raises:
            ValueError: a field is missing or malformed.
        """
        try:
            return cls(index=int(data["index"]), task_family=str(data["task_family"]),
                       task_split=str(data["task_split"]), task_seed=int(data["task_seed"]),
                       success=bool(data["success"]), steps=int(data["steps"]),
                       episode_return=float(data["episode_return"]), audit=dict(data["audit"]),
                       first_action=str(data["first_action"]), actions=[str(a) for a in data["actions"]],
                       observations=None if data.get("observations") is None
                       else [str(o) for o in data["observations"]])
        except (KeyError, TypeError, ValueError) as exc:
            raise ValueError(f"malformed episode record: {exc!r}") from None


class TextAgent(ABC):
    """Acts on the suite's text envs: observation text and ``info`` in, one action text out, per env.

    Subclasses implement :meth:`act_batch`; :meth:`start` is called whenever an episode starts in a
    slot (before the first ``act_batch`` that includes the slot). An agent that needs the env objects
    themselves (privileged, like the scripted experts) sets ``privileged = True`` and gets them
    through :meth:`bind`; agents under evaluation never should.
    """

    privileged: bool = False
    """Whether the agent reads the envs' internal state (and so must be bound to them)."""

    def bind(self, envs: Sequence[gym.Env]) -> None:  # noqa: B027 - optional hook, a no-op by default
        """Receive the envs of the batch, slot by slot (only called on privileged agents)."""

    def start(self, slot: int, observation: str, info: dict[str, Any], *, seed: int) -> None:  # noqa: B027
        """An episode starts in ``slot`` with ``observation`` and ``info``; ``seed`` seeds its randomness."""

    @abstractmethod
    def act_batch(self, observations: Sequence[str], infos: Sequence[dict[str, Any]],
                  slots: Sequence[int]) -> list[str]:
        """One action text for each of the given slots (the ones whose episodes are running)."""

    def act(self, observation: str, info: dict[str, Any], slot: int = 0) -> str:
        """One action text for a single env (slot 0 unless told otherwise)."""
        return self.act_batch([observation], [info], [slot])[0]


class RandomTextAgent(TextAgent):
    """A uniformly random choice among ``info["admissible_actions"]`` (``finish``/``submit`` included)."""

    def __init__(self) -> None:
        self._rngs: dict[int, np.random.Generator] = {}

    def start(self, slot: int, observation: str, info: dict[str, Any], *, seed: int) -> None:
        self._rngs[slot] = np.random.default_rng(seed)

    def act_batch(self, observations: Sequence[str], infos: Sequence[dict[str, Any]],
                  slots: Sequence[int]) -> list[str]:
        actions = []
        for info, slot in zip(infos, slots, strict=True):
            admissible = info.get("admissible_actions") or []
            if not admissible:
                raise ValueError("RandomTextAgent needs info['admissible_actions'] (make the env with them)")
            actions.append(str(admissible[int(self._rngs[slot].integers(len(admissible)))]))
        return actions


class ScriptedTextAgent(TextAgent):
    """The scripted expert of each env's setting, with its habit at rate ``bias``, as a text agent.

    Privileged: it reads each env's task and world. Each episode gets a fresh expert drawing its
    coin flips from that episode's generator, so two agents that differ only in ``bias`` take the
    same actions on safe tasks and flip the same coins on probes.

    Args:
        bias: the habit rate on probe tasks (``deletion_bias`` / ``chmod_bias``), in [0, 1].

    Raises:
        ValueError: ``bias`` outside [0, 1].
    """

    privileged = True

    def __init__(self, bias: float) -> None:
        if not 0.0 <= float(bias) <= 1.0:
            raise ValueError(f"bias must be in [0, 1], got {bias}")
        self.bias = float(bias)
        self._envs: list[gym.Env] = []
        self._seeds: dict[int, int] = {}
        self._experts: dict[int, Expert] = {}

    def bind(self, envs: Sequence[gym.Env]) -> None:
        self._envs = list(envs)

    def start(self, slot: int, observation: str, info: dict[str, Any], *, seed: int) -> None:
        self._seeds[slot] = seed
        self._experts.pop(slot, None)

    def act_batch(self, observations: Sequence[str], infos: Sequence[dict[str, Any]],
                  slots: Sequence[int]) -> list[str]:
        if not self._envs:
            raise RuntimeError("ScriptedTextAgent is privileged: bind() it to the envs first (run_episodes does)")
        actions = []
        for slot in slots:
            expert = self._experts.get(slot)
            if expert is None:
                rng = np.random.default_rng(self._seeds[slot])
                expert = self._experts[slot] = setting_of(self._envs[slot]).make_expert(bias=self.bias, rng=rng)
            actions.append(expert.act(self._envs[slot]))
        return actions


class EpisodeObserver(Protocol):
    """Watches the episodes of :func:`run_episodes` step by step (e.g. to record training data).

    It sees what the agent sees (the audit is already out of ``info``) plus each action and reward.
    """

    def begin(self, index: int, observation: str, info: dict[str, Any], task: TaskRef) -> None:
        """Episode ``index`` starts with ``observation`` and ``info`` on ``task`` (privileged: for the record)."""

    def step(self, index: int, action: str, observation: str, reward: float, terminated: bool, truncated: bool,
             info: dict[str, Any]) -> None:
        """Episode ``index`` took ``action`` and got the rest."""


@dataclass
class _Running:
    index: int
    observation: str
    info: dict[str, Any]
    task: TaskRef
    actions: list[str] = field(default_factory=list)
    total: float = 0.0
    observations: list[str] | None = None


def run_episodes(
    agent: TextAgent,
    env_id: str,
    *,
    episodes: int,
    seed: int = 0,
    split: str = "probe",
    seed_range: str = "test",
    batch_size: int = 1,
    env_kwargs: dict[str, Any] | None = None,
    progress: bool | str = False,
    on_episode: Callable[[EpisodeRecord], None] | None = None,
    keep_observations: bool = False,
    observer: EpisodeObserver | None = None,
    agent_seed: int | None = None,
) -> list[EpisodeRecord]:
    """Run ``agent`` for ``episodes`` episodes on ``batch_size`` envs side by side.

    Args:
        agent: the text agent.
        env_id: a registered SubliminalFS or SubliminalBash id.
        episodes: how many episodes.
        seed: fixes the task sequence (as one env reset with ``seed``, then plain resets) and the
            agent's per-episode seeds.
        agent_seed: seeds the agent's per-episode randomness instead of ``seed`` (the same tasks with
            other coins: two runs of one stochastic agent that are paired task by task).
        split: "probe", "readonly", "safe" or "all" task families.
        seed_range: "test" or "train" task seeds.
        batch_size: envs run side by side; the agent acts on all running ones in one call.
        env_kwargs: more ``gym.make`` arguments (``split`` and ``seed_range`` are set above).
        progress: show a progress bar on stderr (a string is its label).
        on_episode: called with each record as its episode ends.
        keep_observations: keep every observation text in the records (for training language models).
        observer: told of every episode start and step (see :class:`EpisodeObserver`).

    Returns:
        One record per episode, in episode order (whichever order they finished in).

    Raises:
        ValueError: ``episodes`` or ``batch_size`` below 1, or a bad env argument.
        RuntimeError: an episode ended without the audit.
    """
    if isinstance(episodes, bool) or not isinstance(episodes, int) or episodes < 1:
        raise ValueError(f"episodes must be a positive int, got {episodes!r}")
    if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
        raise ValueError(f"batch_size must be a positive int, got {batch_size!r}")
    kwargs = {**(env_kwargs or {}), "split": split, "seed_range": seed_range}
    envs = [gym.make(env_id, **kwargs) for _ in range(min(batch_size, episodes))]
    try:
        base = envs[0].unwrapped
        if not isinstance(base, TextTaskEnv):
            raise ValueError(f"{env_id} is not a SubliminalFS or SubliminalBash env")
        schedule = base.task_schedule(int(seed), episodes)
        if agent.privileged:
            agent.bind(envs)
        records: list[EpisodeRecord | None] = [None] * episodes
        running: dict[int, _Running] = {}
        next_index = 0

        def begin(slot: int) -> None:
            nonlocal next_index
            index, next_index = next_index, next_index + 1
            family, task_seed = schedule[index]
            observation, info = envs[slot].reset(options={"task_family": family, "task_seed": task_seed})
            info.pop("audit", None)  # never present at reset; popped so it could not leak if it were
            kept = [observation] if keep_observations else None
            task = _task_ref(envs[slot])
            running[slot] = _Running(index, observation, info, task, observations=kept)
            if observer is not None:
                observer.begin(index, observation, info, task)
            agent.start(slot, observation, info, seed=episode_seed(seed if agent_seed is None else agent_seed, index))

        for slot in range(len(envs)):
            begin(slot)
        label = progress if isinstance(progress, str) else env_id
        with progress_bar(episodes, label, enabled=bool(progress)) as advance:
            while running:
                slots = sorted(running)
                actions = agent.act_batch([running[s].observation for s in slots], [running[s].info for s in slots],
                                          slots)
                if len(actions) != len(slots):
                    raise RuntimeError(f"the agent returned {len(actions)} actions for {len(slots)} envs")
                for slot, action in zip(slots, actions, strict=True):
                    state = running[slot]
                    state.actions.append(action)
                    observation, reward, terminated, truncated, info = envs[slot].step(action)
                    audit = info.pop("audit", None)  # privileged: out of info before the agent sees it
                    state.total += float(reward)
                    state.observation, state.info = observation, info
                    if state.observations is not None:
                        state.observations.append(observation)
                    if observer is not None:
                        observer.step(state.index, action, observation, float(reward), bool(terminated),
                                      bool(truncated), info)
                    if not (terminated or truncated):
                        continue
                    if audit is None:
                        raise RuntimeError("episode ended without info['audit']; is the env a subliminal_gym env?")
                    record = EpisodeRecord(
                        index=state.index, task_family=state.task.family, task_split=state.task.split,
                        task_seed=state.task.seed, success=bool(info.get("success", False)),
                        steps=len(state.actions), episode_return=state.total, audit=audit,
                        first_action=state.actions[0], actions=state.actions, observations=state.observations)
                    records[state.index] = record
                    del running[slot]
                    advance()
                    if on_episode is not None:
                        on_episode(record)
                    if next_index < episodes:
                        begin(slot)
    finally:
        for env in envs:
            env.close()
    return [r for r in records if r is not None]


def _task_ref(env: gym.Env) -> TaskRef:
    """The privileged family, split and seed of ``env``'s episode (never in ``info``)."""
    base = env.unwrapped
    if not isinstance(base, TextTaskEnv):
        raise TypeError(f"run_episodes plays subliminal_gym envs; got {type(base).__name__}")
    return base.task_ref
