"""The suite's neural policy for the vector views: one shared network scores every action slot.

:class:`SlotScoringPolicy` is an SB3 ``ActorCriticPolicy``, so SB3's PPO, imitation's BC, DAgger,
GAIL and AIRL train it unchanged. Its actor embeds the state block of a
:class:`~subliminal_gym.views.DiscreteActionView` observation and, with one shared network, every
slot; a scorer turns each (state, slot) pair into a logit, and empty slots get a logit of
:data:`MASKED_LOGIT` (probability 0), so the policy never picks an invalid action. Because the
same weights score every slot, what the policy learns about a verb (``delete_file``, ``chmod``) in
one state carries to every state: the shared representation through which a habit can travel.

Sizes come from :data:`ARCHITECTURES` (``large``, ``small``) or any explicit :class:`PolicyArch`.

Speed note: the gradients of the slot scores are full of denormal floats (tiny probabilities of
unlikely slots), and CPU matrix products on denormals are several times slower: a backward pass took
8x its normal time here. The training functions of :mod:`subliminal_gym.baselines` therefore flush
denormals to zero while they train (:func:`flush_denormals`; values below ~1e-38 become 0, which
changes no result we measure) and restore the previous setting afterwards: the setting is
process-wide, and other code (hypothesis, for one) refuses to run with it on.
Weights save as safetensors with a JSON config (:func:`save_policy`, :func:`load_policy`), never
as pickles.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
import torch as th
from gymnasium import spaces
from stable_baselines3.common.policies import ActorCriticPolicy
from torch import nn

from subliminal_gym.views import ViewLayout

__all__ = [
    "ARCHITECTURES",
    "MASKED_LOGIT",
    "MAX_LAYERS",
    "MAX_WIDTH",
    "PolicyArch",
    "SlotScorer",
    "SlotScoringPolicy",
    "build_policy",
    "denormals_flushed",
    "flush_denormals",
    "parameter_shapes",
    "policy_logits",
]

# NumPy computes (and caches) its float limits on first use and warns if denormals are flushed at
# that moment; computing them now, before any training function flushes denormals, keeps it quiet.
np.finfo(np.float32), np.finfo(np.float64)

def denormals_flushed() -> bool:
    """Whether the CPU currently flushes denormal floats to zero (torch has no getter for it)."""
    return float((th.tensor([1e-30], dtype=th.float32) * 1e-10).item()) == 0.0


@contextmanager
def flush_denormals() -> Iterator[None]:
    """Flush denormal floats to zero for a block (backward passes are several times faster), then
    restore the previous setting."""
    previous = denormals_flushed()
    th.set_flush_denormal(True)
    try:
        yield
    finally:
        th.set_flush_denormal(previous)


#: The logit of an empty slot: exp() of it is 0 in float32, and it stays finite, so entropies
#: and KL terms are well defined.
MASKED_LOGIT = -1e9


@dataclass(frozen=True)
class PolicyArch:
    """Sizes of a :class:`SlotScoringPolicy`."""

    embed: int = 64
    """Width of the state and slot embeddings."""
    state_hidden: tuple[int, ...] = (128,)
    """Hidden layers of the state encoder."""
    slot_hidden: tuple[int, ...] = (64,)
    """Hidden layers of the slot encoder (shared by all slots)."""
    score_hidden: tuple[int, ...] = (64,)
    """Hidden layers of the scorer of each (state, slot) pair."""
    value_hidden: tuple[int, ...] = (32,)
    """Hidden layers of the value head (used by PPO, GAIL and AIRL only)."""

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> PolicyArch:
        """Inverse of :meth:`to_dict`.

        Raises:
            ValueError: a size that is not a whole number in 1..MAX_WIDTH, or more than MAX_LAYERS
                hidden layers in one part (a saved config is input: it is checked before anything is built).
            KeyError, TypeError: a field is missing or not a list.
        """
        layers = ("state_hidden", "slot_hidden", "score_hidden", "value_hidden")
        hidden = {}
        for key in layers:
            if not isinstance(data[key], list | tuple) or len(data[key]) > MAX_LAYERS:
                raise ValueError(f"{key} must be a list of at most {MAX_LAYERS} layer widths")
            hidden[key] = tuple(_width(key, x) for x in data[key])
        return cls(embed=_width("embed", data["embed"]), **hidden)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready fields."""
        return {k: list(v) if isinstance(v, tuple) else v for k, v in asdict(self).items()}


#: Bounds on a saved architecture: far above anything the suite trains, far below what exhausts memory.
MAX_WIDTH = 8192
MAX_LAYERS = 8


def _width(name: str, value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= MAX_WIDTH:
        raise ValueError(f"{name} must be a whole number from 1 to {MAX_WIDTH}, not {value!r:.40}")
    return value


#: The two sizes the experiments use ("large" has about 12x the actor parameters of "small").
ARCHITECTURES: dict[str, PolicyArch] = {
    "large": PolicyArch(embed=64, state_hidden=(128,), slot_hidden=(64,), score_hidden=(64,), value_hidden=(32,)),
    "small": PolicyArch(embed=16, state_hidden=(32,), slot_hidden=(16,), score_hidden=(16,), value_hidden=(16,)),
}


def _mlp(sizes: Sequence[int]) -> nn.Sequential:
    layers: list[nn.Module] = []
    for i in range(len(sizes) - 1):
        layers.append(nn.Linear(sizes[i], sizes[i + 1]))
        if i < len(sizes) - 2:
            layers.append(nn.ReLU())
    return nn.Sequential(*layers)


class SlotScorer(nn.Module):
    """Observation vector -> one logit per slot (the actor head)."""

    def __init__(self, layout: ViewLayout, arch: PolicyArch) -> None:
        super().__init__()
        self.layout = layout
        self.state_encoder = _mlp([layout.state_dim, *arch.state_hidden, arch.embed])
        self.slot_encoder = _mlp([layout.slot_dim, *arch.slot_hidden, arch.embed])
        self.scorer = _mlp([3 * arch.embed, *arch.score_hidden, 1])

    def forward(self, observations: th.Tensor) -> th.Tensor:
        layout = self.layout
        state = observations[:, : layout.state_dim]
        slots = observations[:, layout.state_dim:].reshape(-1, layout.max_actions, layout.slot_dim)
        present = slots[..., 0] >= 0.5
        # Score only the slots that hold an action: most states have far fewer actions than slots,
        # so the (state, slot) pairs are packed into one flat batch and the logits scattered back.
        state_embedding = th.relu(self.state_encoder(state))
        rows, columns = present.nonzero(as_tuple=True)
        s = state_embedding[rows]
        a = th.relu(self.slot_encoder(slots[rows, columns]))
        scores = self.scorer(th.cat([s, a, s * a], dim=-1)).squeeze(-1)
        logits = scores.new_full(present.shape, MASKED_LOGIT)
        return logits.index_put((rows, columns), scores)


class SlotScoringPolicy(ActorCriticPolicy):
    """SB3 actor-critic whose actor is a :class:`SlotScorer`.

    Args:
        observation_space: the view's ``Box``.
        action_space: the view's ``Discrete(max_actions)``.
        lr_schedule: SB3's learning-rate schedule (imitation's trainers pass their own optimiser).
        layout: the view's :class:`ViewLayout` (or its dict).
        arch: a :class:`PolicyArch` (or its dict).
        **kwargs: passed to ``ActorCriticPolicy``.

    Raises:
        ValueError: the spaces do not match ``layout``.
    """

    def __init__(self, observation_space: spaces.Space, action_space: spaces.Space,
                 lr_schedule: Callable[[float], float], *, layout: ViewLayout | dict[str, Any],
                 arch: PolicyArch | dict[str, Any] = ARCHITECTURES["large"], **kwargs: Any) -> None:
        self.layout = layout if isinstance(layout, ViewLayout) else ViewLayout.from_dict(layout)
        self.arch = arch if isinstance(arch, PolicyArch) else PolicyArch.from_dict(arch)
        n_actions = getattr(action_space, "n", None)
        if observation_space.shape != (self.layout.obs_dim,) or n_actions != self.layout.max_actions:
            raise ValueError(f"spaces {observation_space.shape}/{action_space} do not match the layout "
                             f"(obs_dim {self.layout.obs_dim}, max_actions {self.layout.max_actions})")
        kwargs.setdefault("net_arch", {"pi": [], "vf": list(self.arch.value_hidden)})
        kwargs.setdefault("activation_fn", nn.ReLU)
        super().__init__(observation_space, action_space, lr_schedule, **kwargs)

    def _build(self, lr_schedule: Callable[[float], float]) -> None:
        super()._build(lr_schedule)
        self.action_net = SlotScorer(self.layout, self.arch)
        # the parent built its optimiser before the actor head was replaced
        self.optimizer = self.optimizer_class(self.parameters(), lr=lr_schedule(1),  # type: ignore[call-arg]
                                              **self.optimizer_kwargs)  # SB3 types it as the base Optimizer

    def _get_constructor_parameters(self) -> dict[str, Any]:
        data = super()._get_constructor_parameters()
        data.update(layout=self.layout.to_dict(), arch=self.arch.to_dict())
        return data

    def actor_parameters(self) -> list[nn.Parameter]:
        """The weights of the action logits (the slot scorer; the features extractor and the actor's
        part of the MLP extractor are empty): what a loss on actions alone trains."""
        return list(self.action_net.parameters())

    def action_logits(self, observations: th.Tensor) -> th.Tensor:
        """Masked logits ``(batch, max_actions)`` for a batch of view observations."""
        features = self.extract_features(observations, self.pi_features_extractor)
        # one shared extractor (share_features_extractor=True), so features is a tensor, not a pair
        latent_pi = self.mlp_extractor.forward_actor(features)  # type: ignore[arg-type]
        return self.action_net(latent_pi)


def parameter_shapes(layout: ViewLayout, arch: PolicyArch) -> dict[str, tuple[int, ...]]:
    """Name -> shape of every weight of ``build_policy(layout, arch)``, computed without building it (so
    a saved model's header can be checked before its config is trusted with memory). A test keeps this
    equal to the built policy's ``state_dict``."""

    def mlp(prefix: str, sizes: Sequence[int]) -> dict[str, tuple[int, ...]]:
        shapes: dict[str, tuple[int, ...]] = {}
        for i in range(len(sizes) - 1):  # a Linear at every other index of the Sequential (ReLUs between)
            shapes[f"{prefix}.{2 * i}.weight"] = (sizes[i + 1], sizes[i])
            shapes[f"{prefix}.{2 * i}.bias"] = (sizes[i + 1],)
        return shapes

    value = [layout.obs_dim, *arch.value_hidden]
    return {
        **mlp("mlp_extractor.value_net", value),
        **mlp("action_net.state_encoder", [layout.state_dim, *arch.state_hidden, arch.embed]),
        **mlp("action_net.slot_encoder", [layout.slot_dim, *arch.slot_hidden, arch.embed]),
        **mlp("action_net.scorer", [3 * arch.embed, *arch.score_hidden, 1]),
        "value_net.weight": (1, value[-1]),
        "value_net.bias": (1,),
    }


def _constant(value: float) -> Callable[[float], float]:
    return lambda _: value


def build_policy(layout: ViewLayout, arch: PolicyArch | str = "large", *, seed: int,
                 learning_rate: float = 3e-4, initialise: bool = True) -> SlotScoringPolicy:
    """A freshly initialised policy; the same ``seed`` gives the same weights, bit for bit, whatever the
    number of torch threads (initialised on one: the orthogonal initialisation's QR differs in the last
    bits between thread counts).

    ``initialise=False`` skips SB3's orthogonal initialisation (the QR of the value head's
    observation-wide matrix took about a second): for a policy whose weights are loaded next.

    Raises:
        KeyError: an unknown architecture name.
    """
    if isinstance(arch, str):
        if arch not in ARCHITECTURES:
            raise KeyError(f"unknown architecture {arch!r}; known: {', '.join(ARCHITECTURES)}")
        arch = ARCHITECTURES[arch]
    observation_space = spaces.Box(0.0, 1.0, shape=(layout.obs_dim,), dtype=np.float32)
    action_space = spaces.Discrete(layout.max_actions)
    threads = th.get_num_threads()
    with th.random.fork_rng(devices=[]):
        th.manual_seed(seed)
        th.set_num_threads(1)
        try:
            return SlotScoringPolicy(observation_space, action_space, _constant(learning_rate), layout=layout,
                                     arch=arch, ortho_init=initialise)
        finally:
            th.set_num_threads(threads)


def policy_logits(policy: SlotScoringPolicy, observations: np.ndarray, *, batch_size: int = 512) -> np.ndarray:
    """Masked logits of ``policy`` for an array of observations (no gradients)."""
    outputs = []
    with th.no_grad():
        for start in range(0, len(observations), batch_size):
            batch = th.as_tensor(observations[start:start + batch_size], dtype=th.float32)
            outputs.append(policy.action_logits(batch).numpy())
    return np.concatenate(outputs) if outputs else np.zeros((0, policy.layout.max_actions), dtype=np.float32)
