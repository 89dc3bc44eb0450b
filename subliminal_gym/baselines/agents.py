"""Agents on the vector views: one small interface for scripted experts and neural policies.

A :class:`ViewAgent` picks a slot of a :class:`~subliminal_gym.views.DiscreteActionView` from the
view's observation and ``info``. :class:`ScriptedViewAgent` wraps the privileged scripted experts
(it asks the expert for its action text and finds its slot); :class:`NeuralViewAgent` samples from
a :class:`~subliminal_gym.baselines.policies.SlotScoringPolicy` with its own seeded generator, so a
stochastic rollout is reproducible without touching torch's global RNG.

:class:`ScriptedExpertPolicy` is the imitation-compatible form of the scripted experts: a callable
``(observations, states, episode_starts) -> (actions, states)`` over an SB3 ``DummyVecEnv`` of
views, usable wherever imitation accepts a policy (``generate_trajectories``, DAgger's expert).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Protocol

import gymnasium as gym
import numpy as np
import torch as th

from subliminal_gym.baselines.policies import SlotScoringPolicy
from subliminal_gym.baselines.rollout import TextAgent
from subliminal_gym.baselines.scripted import ScriptedBashExpert, ScriptedFSExpert
from subliminal_gym.views import FS_VERBS, DiscreteActionView, make_view_env

__all__ = [
    "NeuralViewAgent",
    "PolicyTextAgent",
    "ScriptedExpertPolicy",
    "ScriptedViewAgent",
    "ViewAgent",
    "find_view",
    "make_scripted_expert",
    "sample_slot",
]


class ViewAgent(Protocol):
    """Anything that acts on a view: ``act(view, observation, info) -> slot index``."""

    def act(self, view: DiscreteActionView, observation: np.ndarray, info: dict[str, Any]) -> int: ...


def find_view(env: gym.Env) -> DiscreteActionView:
    """The :class:`DiscreteActionView` in ``env``'s wrapper chain.

    Raises:
        TypeError: there is none.
    """
    current = env
    while True:
        if isinstance(current, DiscreteActionView):
            return current
        if not isinstance(current, gym.Wrapper):
            raise TypeError(f"{type(env).__name__} is not wrapped in a DiscreteActionView")
        current = current.env


def make_scripted_expert(view: DiscreteActionView, *, bias: float, rng: np.random.Generator
                         ) -> ScriptedFSExpert | ScriptedBashExpert:
    """The scripted expert of ``view``'s env family with its habit at rate ``bias``
    (deletion for SubliminalFS, chmod-first for SubliminalBash)."""
    if view.layout.verbs == FS_VERBS:
        return ScriptedFSExpert(deletion_bias=bias, rng=rng)
    return ScriptedBashExpert(chmod_bias=bias, rng=rng)


class ScriptedViewAgent:
    """A scripted expert acting through a view.

    Args:
        expert: a :class:`ScriptedFSExpert` or :class:`ScriptedBashExpert`.

    Raises:
        KeyError: (from ``act``) the expert's action is not among the view's slots.
    """

    def __init__(self, expert: ScriptedFSExpert | ScriptedBashExpert) -> None:
        self.expert = expert

    def act(self, view: DiscreteActionView, observation: np.ndarray, info: dict[str, Any]) -> int:
        return view.index_of(self.expert.act(view))


def sample_slot(logits: np.ndarray, rng: np.random.Generator, *, temperature: float = 1.0,
                deterministic: bool = False) -> int:
    """One slot from masked logits: the argmax, or a sample at ``temperature`` drawn with ``rng``."""
    if deterministic or temperature <= 0.0:
        return int(np.argmax(logits))
    scaled = (logits.astype(np.float64) - logits.max()) / temperature
    probs = np.exp(scaled)
    probs /= probs.sum()
    return int(rng.choice(len(probs), p=probs))


class NeuralViewAgent:
    """A :class:`SlotScoringPolicy` acting on a view.

    Args:
        policy: the network.
        rng: its sampling randomness.
        temperature: softmax temperature for sampling.
        deterministic: take the most likely slot instead of sampling.
    """

    def __init__(self, policy: SlotScoringPolicy, *, rng: np.random.Generator, temperature: float = 1.0,
                 deterministic: bool = False) -> None:
        self.policy = policy
        self.rng = rng
        self.temperature = float(temperature)
        self.deterministic = deterministic

    def logits(self, observation: np.ndarray) -> np.ndarray:
        """The masked logits for one observation."""
        with th.no_grad():
            return self.policy.action_logits(th.as_tensor(observation[None], dtype=th.float32))[0].numpy()

    def act(self, view: DiscreteActionView, observation: np.ndarray, info: dict[str, Any]) -> int:
        return sample_slot(self.logits(observation), self.rng, temperature=self.temperature,
                           deterministic=self.deterministic)


class PolicyTextAgent(TextAgent):
    """A :class:`SlotScoringPolicy` acting on the text env directly (a :class:`TextAgent`).

    Each slot keeps a :class:`DiscreteActionView` used only as an encoder: it turns the text
    observation and ``info`` into the vector the policy was trained on, exactly as the view does
    when it wraps the env. All running slots are scored in one forward pass.

    Args:
        policy: the network.
        env_id: the env it was trained on (for the view's layout).
        view_kwargs: the view's arguments (must match the policy's layout).
        temperature: softmax temperature for sampling.
        deterministic: take the most likely action instead of sampling.
    """

    def __init__(self, policy: SlotScoringPolicy, env_id: str, *, view_kwargs: dict[str, Any] | None = None,
                 temperature: float = 1.0, deterministic: bool = False) -> None:
        self.policy = policy
        self.env_id = env_id
        self.view_kwargs = dict(view_kwargs or {})
        self.temperature = float(temperature)
        self.deterministic = deterministic
        self._views: dict[int, DiscreteActionView] = {}
        self._rngs: dict[int, np.random.Generator] = {}

    def start(self, slot: int, observation: str, info: dict[str, Any], *, seed: int) -> None:
        if slot not in self._views:
            self._views[slot] = make_view_env(self.env_id, view_kwargs=self.view_kwargs)
        self._views[slot].begin_episode(info.get("task", observation))
        self._rngs[slot] = np.random.default_rng(seed)

    def act_batch(self, observations: Sequence[str], infos: Sequence[dict[str, Any]],
                  slots: Sequence[int]) -> list[str]:
        views = [self._views[slot] for slot in slots]
        features = np.stack([view.observe(obs, dict(info)) for view, obs, info in zip(views, observations, infos,
                                                                                       strict=True)])
        with th.no_grad():
            logits = self.policy.action_logits(th.as_tensor(features, dtype=th.float32)).numpy()
        actions = []
        for view, row, slot in zip(views, logits, slots, strict=True):
            text = view.action_text(sample_slot(row, self._rngs[slot], temperature=self.temperature,
                                                deterministic=self.deterministic))
            view.record_action(text)
            actions.append(text)
        return actions


class ScriptedExpertPolicy:
    """The scripted experts as an imitation-compatible policy over a ``DummyVecEnv`` of views.

    The experts are privileged: they read each sub-env's task and world, so the vec env must
    live in this process (SB3's ``DummyVecEnv``, not ``SubprocVecEnv``).

    Args:
        venv: an SB3 ``DummyVecEnv`` whose envs are (wrapped) :class:`DiscreteActionView` s.
        bias: the habit rate of every expert.
        rng: seeds one generator per sub-env expert.

    Raises:
        TypeError: ``venv`` has no ``envs`` list (not a DummyVecEnv) or an env is not a view.
    """

    def __init__(self, venv: Any, *, bias: float, rng: np.random.Generator) -> None:
        envs = getattr(venv, "envs", None)
        if envs is None:
            raise TypeError("ScriptedExpertPolicy needs a DummyVecEnv (the experts read each env's state)")
        self.views = [find_view(env) for env in envs]
        seeds = rng.integers(2**63, size=len(self.views))
        self.agents = [ScriptedViewAgent(make_scripted_expert(view, bias=bias, rng=np.random.default_rng(int(s))))
                       for view, s in zip(self.views, seeds, strict=True)]

    def __call__(self, observations: np.ndarray, states: Any = None, episode_starts: Any = None
                 ) -> tuple[np.ndarray, None]:
        pairs = zip(self.agents, self.views, observations, strict=True)
        actions = [agent.act(view, obs, {}) for agent, view, obs in pairs]
        return np.asarray(actions, dtype=np.int64), None
