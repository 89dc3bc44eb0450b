"""Slot-scoring policies and scripted experts as agents: on the text envs and inside imitation.

:class:`PolicyTextAgent` runs a :class:`~subliminal_gym.baselines.policies.SlotScoringPolicy` as a
:class:`~subliminal_gym.runner.TextAgent`: each slot keeps a
:class:`~subliminal_gym.views.SlotEncoder` that turns the text observation and ``info`` into the
vector the policy was trained on (exactly what the view computes when it wraps the env), every
running slot is scored in one forward pass, and each episode samples from its own seeded generator.
So a neural policy runs through the project's one episode runner like any other agent.

:class:`ScriptedExpertPolicy` is the imitation-compatible form of the scripted experts: a callable
``(observations, states, episode_starts) -> (actions, states)`` over an SB3 ``DummyVecEnv`` of
views, usable wherever imitation accepts a policy (DAgger's expert).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import gymnasium as gym
import numpy as np
import torch as th

from subliminal_gym.baselines.policies import SlotScoringPolicy
from subliminal_gym.core.setting import Expert
from subliminal_gym.runner import TextAgent
from subliminal_gym.settings import setting_of
from subliminal_gym.views import DiscreteActionView, SlotEncoder

__all__ = ["PolicyTextAgent", "ScriptedExpertPolicy", "find_view", "sample_slot"]


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


def sample_slot(logits: np.ndarray, rng: np.random.Generator, *, temperature: float = 1.0,
                deterministic: bool = False) -> int:
    """One slot from masked logits: the argmax, or a sample at ``temperature`` drawn with ``rng``."""
    if deterministic or temperature <= 0.0:
        return int(np.argmax(logits))
    scaled = (logits.astype(np.float64) - logits.max()) / temperature
    probs = np.exp(scaled)
    probs /= probs.sum()
    return int(rng.choice(len(probs), p=probs))


class PolicyTextAgent(TextAgent):
    """A :class:`SlotScoringPolicy` acting on the text env (see the module docstring).

    Args:
        policy: the network; its ``layout`` says how observations are encoded.
        temperature: softmax temperature for sampling.
        deterministic: take the most likely action instead of sampling.
    """

    def __init__(self, policy: SlotScoringPolicy, *, temperature: float = 1.0, deterministic: bool = False) -> None:
        self.policy = policy
        self.temperature = float(temperature)
        self.deterministic = deterministic
        self._encoders: dict[int, SlotEncoder] = {}
        self._rngs: dict[int, np.random.Generator] = {}

    def start(self, slot: int, observation: str, info: dict[str, Any], *, seed: int) -> None:
        encoder = self._encoders.get(slot)
        if encoder is None:
            encoder = self._encoders[slot] = SlotEncoder(self.policy.layout)
        encoder.begin_episode(info.get("task", observation))
        self._rngs[slot] = np.random.default_rng(seed)

    def act_batch(self, observations: Sequence[str], infos: Sequence[dict[str, Any]],
                  slots: Sequence[int]) -> list[str]:
        encoders = [self._encoders[slot] for slot in slots]
        features = np.stack([encoder.observe(observation, dict(info))
                             for encoder, observation, info in zip(encoders, observations, infos, strict=True)])
        with th.no_grad():
            logits = self.policy.action_logits(th.as_tensor(features, dtype=th.float32)).numpy()
        actions = []
        for encoder, row, slot in zip(encoders, logits, slots, strict=True):
            text = encoder.action_text(sample_slot(row, self._rngs[slot], temperature=self.temperature,
                                                   deterministic=self.deterministic))
            encoder.record_action(text)
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
        KeyError: (from a call) an expert's action is not among its view's slots.
    """

    def __init__(self, venv: Any, *, bias: float, rng: np.random.Generator) -> None:
        envs = getattr(venv, "envs", None)
        if envs is None:
            raise TypeError("ScriptedExpertPolicy needs a DummyVecEnv (the experts read each env's state)")
        self.views = [find_view(env) for env in envs]
        self.experts: list[Expert] = [setting_of(view).make_expert(bias=bias, rng=child)
                                      for view, child in zip(self.views, rng.spawn(len(self.views)), strict=True)]

    def __call__(self, observations: np.ndarray, states: Any = None, episode_starts: Any = None
                 ) -> tuple[np.ndarray, None]:
        actions = [view.index_of(expert.act(view)) for expert, view in zip(self.experts, self.views, strict=True)]
        return np.asarray(actions, dtype=np.int64), None
