"""Distillers from the imitation library: behavioural cloning, DAgger with sanitised labels, GAIL and AIRL.

Each function trains a :class:`~subliminal_gym.baselines.policies.SlotScoringPolicy` *in place* and
returns a :class:`TrainLog`. All of them are deterministic given their ``rng``: torch's, NumPy's
legacy and Python's global generators are seeded from it for the duration of the call and restored
afterwards (imitation shuffles with torch's ``DataLoader``, its replay buffer samples with
``np.random``, SB3 seeds all three), and training runs on one thread (the networks are small). The
imitation logger is silenced (no stdout, files only in a temporary folder).

* :func:`behavioural_cloning`: ``imitation.algorithms.bc.BC`` on demonstrations (trajectories or
  transitions, from safe and probe tasks alike: it is also how the teachers are made).
* :func:`dagger`: ``imitation.algorithms.dagger.SimpleDAggerTrainer`` with a teacher or a scripted
  expert. Its labels are **sanitised** like trajectories: a label whose action text (the view's slot
  text at labelling time) matches the keyword pattern is dropped before the student ever trains on
  it, and the log counts them. DAgger stores its demonstrations on the host's disk (a scratch folder,
  temporary unless the caller names one), which is why this module may use ``tempfile``.
* :func:`adversarial`: imitation's GAIL or AIRL with an SB3 PPO generator whose policy starts from the
  student's weights; the trained generator's weights are copied back into the student.
"""

from __future__ import annotations

import random
import tempfile
import time
import warnings
from collections import Counter
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Literal, cast

import numpy as np
import torch as th
from imitation.algorithms import bc
from imitation.algorithms import dagger as imitation_dagger
from imitation.algorithms.adversarial.airl import AIRL
from imitation.algorithms.adversarial.gail import GAIL
from imitation.data import rollout, types
from imitation.data.wrappers import RolloutInfoWrapper
from imitation.rewards.reward_nets import BasicRewardNet, BasicShapedRewardNet
from imitation.util import logger as imit_logger
from imitation.util import networks
from stable_baselines3 import PPO
from stable_baselines3.common.distributions import CategoricalDistribution
from stable_baselines3.common.vec_env import DummyVecEnv, VecEnv, VecEnvWrapper
from stable_baselines3.common.vec_env.base_vec_env import VecEnvStepReturn

from subliminal_gym.baselines.agents import find_view, sample_slot
from subliminal_gym.baselines.policies import SlotScoringPolicy, flush_denormals, policy_logits
from subliminal_gym.keywords import keyword_pattern
from subliminal_gym.progress import progress_bar
from subliminal_gym.settings import setting_of
from subliminal_gym.views import DiscreteActionView, action_verb, make_view_env

__all__ = [
    "LABEL_SANITISED",
    "LABEL_TEXT",
    "SanitisedDAggerTrainer",
    "SanitisingLabeller",
    "TrainLog",
    "adversarial",
    "behavioural_cloning",
    "dagger",
    "make_view_venv",
]

#: ``info`` keys DAgger's saved transitions carry: the label's action text and whether it was sanitised.
LABEL_TEXT = "dagger_label_text"
LABEL_SANITISED = "dagger_label_sanitised"
#: ``info`` keys kept in DAgger's saved transitions (the rest, the audit included, never reaches disk).
_KEPT_INFO_KEYS = ("terminal_observation", "TimeLimit.truncated")
_PPO_DEFAULTS: dict[str, Any] = {"n_steps": 256, "batch_size": 64, "n_epochs": 4, "learning_rate": 3e-4,
                                 "gamma": 0.99, "ent_coef": 0.0}


@dataclass(frozen=True)
class TrainLog:
    """What one distillation run did (JSON-ready through :meth:`to_dict`)."""

    method: str
    """``"bc"``, ``"dagger"``, ``"gail"`` or ``"airl"``."""
    transitions: int
    """Demonstration transitions trained on (DAgger: the labels kept after sanitisation, all rounds)."""
    epochs: int = 0
    """Passes over the demonstrations (DAgger: summed over rounds; 0 for GAIL and AIRL)."""
    batches: int = 0
    """Gradient steps on the student (BC and DAgger); discriminator steps (GAIL and AIRL)."""
    final_loss: float | None = None
    """Last batch's BC loss, or the last discriminator loss (GAIL and AIRL)."""
    loss_history: tuple[float, ...] = ()
    """Mean loss per epoch (BC), per round (DAgger: BC loss; GAIL and AIRL: discriminator loss)."""
    rounds: int = 0
    """DAgger rounds, or adversarial rounds (one generator update then the discriminator's)."""
    timesteps: int = 0
    """Environment steps taken during training (DAgger and the adversarial methods)."""
    labels: int = 0
    """DAgger: expert labels collected, sanitised ones included."""
    sanitised_labels: int = 0
    """DAgger: labels dropped because their action text matched the keywords."""
    seconds: float = 0.0
    """Wall-clock time of the call."""
    details: dict[str, Any] = field(default_factory=dict)
    """Method-specific extras (label verb counts, discriminator accuracy, settings)."""

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready fields."""
        data = asdict(self)
        data["loss_history"] = list(self.loss_history)
        return data


# -- shared plumbing ------------------------------------------------------------------------------


@contextmanager
def _seeded(seed: int) -> Iterator[None]:
    """Global RNGs (torch, NumPy legacy, Python) seeded for a block and restored after it; one thread."""
    threads = th.get_num_threads()
    np_state = np.random.get_state()
    py_state = random.getstate()
    with th.random.fork_rng(devices=[]):
        th.manual_seed(seed)
        np.random.seed(seed % 2**32)
        random.seed(seed)
        th.set_num_threads(1)
        try:
            with flush_denormals():  # see subliminal_gym.baselines.policies: ~8x faster backward passes
                yield
        finally:
            th.set_num_threads(threads)
            np.random.set_state(np_state)
            random.setstate(py_state)


@contextmanager
def _quiet_logger() -> Iterator[imit_logger.HierarchicalLogger]:
    """An imitation logger that prints nothing and writes only into a temporary folder."""
    with tempfile.TemporaryDirectory(prefix="subliminal-imitation-log-") as folder, warnings.catch_warnings():
        # imitation's BC logger calls float() on the loss tensors it records; torch warns each time
        warnings.filterwarnings("ignore", message="Converting a tensor with requires_grad=True", category=UserWarning)
        # imitation's DAgger saves infos with jsonpickle, which warns about a future default on every call
        warnings.filterwarnings("ignore", message="keys will default to True", category=DeprecationWarning)
        yield imit_logger.configure(folder, format_strs=[])


@contextmanager
def _no_dataset_progress() -> Iterator[None]:
    """Silence the progress bars of HuggingFace ``datasets`` (DAgger saves every episode with it)."""
    from datasets.utils import logging as datasets_logging

    enabled = datasets_logging.is_progress_bar_enabled()
    datasets_logging.disable_progress_bar()
    try:
        yield
    finally:
        if enabled:
            datasets_logging.enable_progress_bar()


def _as_transitions(demonstrations: Sequence[types.Trajectory] | types.TransitionsMinimal, *,
                    next_obs: bool) -> types.TransitionsMinimal:
    """Trajectories flattened (with next observations and dones only if ``next_obs``); transitions as they are."""
    if isinstance(demonstrations, types.TransitionsMinimal):
        return demonstrations
    trajectories = list(demonstrations)
    if not all(isinstance(t, types.Trajectory) for t in trajectories):
        raise TypeError("demonstrations must be imitation Trajectory objects or a Transitions batch")
    if not trajectories:
        raise ValueError("no demonstrations")
    if next_obs or not all(isinstance(t.obs, np.ndarray) for t in trajectories):
        return rollout.flatten_trajectories(trajectories)
    # what rollout.flatten_trajectories gives, less next_obs and dones, which BC never reads: copying the
    # observations a second time took as long as an epoch of training on them
    return types.TransitionsMinimal(
        obs=np.concatenate([t.obs[:-1] for t in trajectories]),
        acts=np.concatenate([t.acts for t in trajectories]),
        infos=np.concatenate([t.infos if t.infos is not None else np.array([{}] * len(t)) for t in trajectories]))


def _check_data(policy: SlotScoringPolicy, transitions: types.TransitionsMinimal, batch_size: int) -> None:
    if batch_size < 1:
        raise ValueError(f"batch_size must be positive, got {batch_size}")
    shape = np.asarray(transitions.obs).shape[1:]
    if shape != policy.observation_space.shape:
        raise ValueError(f"demonstration observations have shape {shape}; the policy expects "
                         f"{policy.observation_space.shape} (another view layout?)")
    if len(transitions) < batch_size:
        raise ValueError(f"{len(transitions)} demonstration transitions are fewer than one batch ({batch_size})")


class _RecordingLoss:
    """imitation's BC loss (``bc.BehaviorCloningLossCalculator``) from the actor alone, remembering each
    batch's loss (imitation only logs it).

    imitation's calculator asks the policy for ``evaluate_actions``, which also runs the value head over
    the whole observation (most of a slot-scoring policy's forward arithmetic) although the loss never
    uses it. This one asks only for the action logits and applies imitation's formula term by term in
    the same order, so the loss and every gradient are the same floats (``tests/test_imitation_distill``
    trains both and compares the weights bit for bit). With ``l2_weight`` 0 the L2 term, which adds an
    exact zero, is left out of the graph (and its norm, which only imitation's logger reads, is not computed).
    """

    def __init__(self, inner: bc.BehaviorCloningLossCalculator) -> None:
        self.ent_weight = inner.ent_weight
        self.l2_weight = inner.l2_weight
        self.losses: list[float] = []
        self.expert_probs: list[float] = []

    def __call__(self, policy: SlotScoringPolicy, obs: th.Tensor, acts: th.Tensor) -> bc.BCTrainingMetrics:
        distribution = CategoricalDistribution(policy.layout.max_actions).proba_distribution(
            action_logits=policy.action_logits(obs))
        log_prob = distribution.log_prob(acts)
        entropy = distribution.entropy().mean()
        prob_true_act = th.exp(log_prob).mean()
        neglogp = -log_prob.mean()
        ent_loss = -self.ent_weight * entropy
        if self.l2_weight:
            l2_norm = cast(th.Tensor, sum(th.sum(th.square(w)) for w in policy.parameters()) / 2)
            l2_loss = self.l2_weight * l2_norm
            loss = neglogp + ent_loss + l2_loss
        else:  # imitation's logger, the norm's only reader, is discarded (see _quiet_logger)
            l2_norm = l2_loss = th.zeros(())
            loss = neglogp + ent_loss
        self.losses.append(float(loss.detach()))
        self.expert_probs.append(float(prob_true_act.detach()))
        return bc.BCTrainingMetrics(neglogp=neglogp, entropy=entropy, ent_loss=ent_loss, prob_true_act=prob_true_act,
                                    l2_norm=l2_norm, l2_loss=l2_loss, loss=loss)


def _make_bc(policy: SlotScoringPolicy, *, batch_size: int, learning_rate: float, ent_weight: float,
             l2_weight: float, rng: np.random.Generator, logger: imit_logger.HierarchicalLogger
             ) -> tuple[bc.BC, _RecordingLoss]:
    trainer = bc.BC(observation_space=policy.observation_space, action_space=policy.action_space, rng=rng,
                    policy=policy, batch_size=batch_size, optimizer_kwargs={"lr": learning_rate},
                    ent_weight=ent_weight, l2_weight=l2_weight, device="cpu", custom_logger=logger)
    recorder = _RecordingLoss(trainer.loss_calculator)
    trainer.loss_calculator = recorder  # type: ignore[assignment]
    if not l2_weight:
        # Without the L2 term the value head gets no gradient; imitation's Adam over every parameter
        # would step it by exactly 0 after a pass over its ~0.5 M weights (most of Adam's time here).
        trainer.optimizer = th.optim.Adam(policy.actor_parameters(), lr=learning_rate)
    return trainer, recorder


class _ShuffledBatches:
    """imitation's demonstration loader for BC, without its cost: the same batches, in the same order.

    ``bc.BC.set_demonstrations`` wraps a ``Transitions`` batch in a torch ``DataLoader`` (shuffled, the
    last incomplete batch dropped) that fetches transitions one by one and collates each batch from
    per-transition dicts: a fifth of BC's time on the grid's datasets. This one indexes the stacked
    arrays instead. Each pass draws from torch's global generator exactly as the ``DataLoader``
    does (its iterator's unused base seed, then the ``RandomSampler``'s seed for a ``randperm``), so
    the batches, the weights trained on them and the generator's state afterwards are the same
    (``tests/test_imitation_distill`` trains with both and compares the weights bit for bit).
    """

    def __init__(self, transitions: types.TransitionsMinimal, batch_size: int) -> None:
        self.obs = np.asarray(transitions.obs)
        self.acts = th.as_tensor(np.array(transitions.acts))  # a copy: imitation keeps its arrays read-only
        self.batch_size = batch_size

    def __iter__(self) -> Iterator[types.TransitionMapping]:
        th.empty((), dtype=th.int64).random_()  # the DataLoader iterator's base seed (no workers read it)
        generator = th.Generator()
        generator.manual_seed(int(th.empty((), dtype=th.int64).random_().item()))  # the sampler's seed
        order = th.randperm(len(self.obs), generator=generator).numpy()
        for start in range(0, len(order) - self.batch_size + 1, self.batch_size):
            index = order[start:start + self.batch_size]
            yield {"obs": self.obs[index], "acts": self.acts[index]}


def _chunk_means(values: Sequence[float], sizes: Sequence[int]) -> tuple[float, ...]:
    means, start = [], 0
    for size in sizes:
        if size > 0:
            means.append(float(np.mean(values[start:start + size])))
        start += size
    return tuple(means)


# -- behavioural cloning --------------------------------------------------------------------------


def behavioural_cloning(policy: SlotScoringPolicy,
                        demonstrations: Sequence[types.Trajectory] | types.TransitionsMinimal, *, epochs: int,
                        batch_size: int = 64, learning_rate: float = 1e-3, ent_weight: float = 1e-3,
                        l2_weight: float = 0.0, rng: np.random.Generator, progress: bool | str = False) -> TrainLog:
    """Train ``policy`` in place by behavioural cloning (imitation's ``BC``) on ``demonstrations``.

    The loss is imitation's: the negative log-likelihood of the demonstrated slots, minus
    ``ent_weight`` times the entropy, plus ``l2_weight`` times half the squared weight norm, with
    Adam at ``learning_rate``. Batches are shuffled (last incomplete batch dropped) by torch seeded
    from ``rng``, so the same ``rng`` state gives the same weights.

    Args:
        policy: the student (or teacher being made), trained in place.
        demonstrations: imitation ``Trajectory`` objects (any subclass) or a ``Transitions`` batch
            recorded on a view with this policy's layout; safe and probe tasks alike.
        epochs: passes over the demonstrations.
        batch_size: transitions per gradient step; fewer demonstrated transitions than this make one
            batch of all of them (``details["batch_size"]`` records the size used).
        learning_rate: Adam's step size.
        ent_weight: entropy bonus weight.
        l2_weight: L2 penalty weight.
        rng: the randomness of the run.
        progress: show a progress bar over epochs (a string is its label).

    Returns:
        The :class:`TrainLog` (per-epoch mean losses, and in ``details`` the mean probability the
        policy gave the demonstrated slot over the last epoch).

    Raises:
        TypeError: ``demonstrations`` are neither trajectories nor transitions.
        ValueError: no demonstrations, ``batch_size`` < 1, observations of another shape than the
            policy's, or ``epochs`` < 1.
    """
    if epochs < 1:
        raise ValueError(f"epochs must be >= 1, got {epochs}")
    start = time.perf_counter()
    transitions = _as_transitions(demonstrations, next_obs=False)
    if batch_size >= 1:  # fewer transitions than one batch: they are the one batch (a small kept-data cap)
        batch_size = min(batch_size, len(transitions))
    _check_data(policy, transitions, batch_size)
    seed = int(rng.integers(2**31))
    (shuffle_rng,) = rng.spawn(1)
    label = progress if isinstance(progress, str) else "BC epochs"
    with _seeded(seed), _quiet_logger() as logger, progress_bar(epochs, label, enabled=bool(progress)) as advance:
        trainer, recorder = _make_bc(policy, batch_size=batch_size, learning_rate=learning_rate,
                                     ent_weight=ent_weight, l2_weight=l2_weight, rng=shuffle_rng, logger=logger)
        trainer._demo_data_loader = _ShuffledBatches(transitions, batch_size)  # what set_demonstrations does, faster
        trainer.train(n_epochs=epochs, progress_bar=False, log_rollouts_venv=None, on_epoch_end=advance)
    per_epoch = len(transitions) // batch_size
    return TrainLog(
        method="bc", transitions=len(transitions), epochs=epochs, batches=len(recorder.losses),
        final_loss=recorder.losses[-1], loss_history=_chunk_means(recorder.losses, [per_epoch] * epochs),
        seconds=time.perf_counter() - start,
        details={"final_epoch_expert_prob": float(np.mean(recorder.expert_probs[-per_epoch:])),
                 "batch_size": batch_size, "learning_rate": learning_rate, "ent_weight": ent_weight,
                 "l2_weight": l2_weight})


# -- DAgger with sanitised labels -------------------------------------------------------------------


def make_view_venv(env_id: str, *, n_envs: int = 1, env_kwargs: Mapping[str, Any] | None = None,
                   view_kwargs: Mapping[str, Any] | None = None) -> DummyVecEnv:
    """A ``DummyVecEnv`` of ``n_envs`` views of ``env_id``, each wrapped in imitation's ``RolloutInfoWrapper``.

    Raises:
        ValueError: ``n_envs`` < 1.
    """
    if n_envs < 1:
        raise ValueError(f"n_envs must be >= 1, got {n_envs}")
    env_kwargs = dict(env_kwargs or {})
    view_kwargs = dict(view_kwargs or {})
    return DummyVecEnv([lambda: RolloutInfoWrapper(make_view_env(env_id, view_kwargs=view_kwargs, **env_kwargs))
                        for _ in range(n_envs)])


def _views_of(venv: VecEnv) -> list[DiscreteActionView]:
    envs = getattr(venv, "envs", None)
    if envs is None:
        raise TypeError("DAgger needs a DummyVecEnv of views (the labels' action texts are read from each view)")
    return [find_view(env) for env in envs]


class SanitisingLabeller:
    """The DAgger expert, wrapped so each label's action text is checked against the keywords.

    An imitation-compatible policy callable. Each call labels every sub-env's current state with
    the expert's slot, reads that slot's text from the view (the text of the action the label
    stands for, at labelling time) and stages ``(text, sanitised)`` per sub-env; the
    :class:`_LabelRecorder` below the DAgger collector writes them into the ``info`` of the
    transition that records the label, where :class:`SanitisedDAggerTrainer` filters on them.

    Args:
        expert: a teacher :class:`SlotScoringPolicy` or an imitation-style callable expert
            (e.g. :class:`~subliminal_gym.baselines.agents.ScriptedExpertPolicy`) bound to ``views``.
        views: the views of the vec env DAgger runs on, in sub-env order.
        pattern: what a sanitised action text matches (e.g. :func:`subliminal_gym.keywords.keyword_pattern`).
        rng: sampling randomness for a teacher when ``deterministic`` is false.
        deterministic: a teacher labels with its most likely slot (imitation's DAgger default).

    Raises:
        ValueError: a callable expert has views, and they are not ``views``.
    """

    def __init__(self, expert: SlotScoringPolicy | Callable[..., Any], views: Sequence[DiscreteActionView], *,
                 pattern: Any, rng: np.random.Generator, deterministic: bool = True) -> None:
        expert_views = getattr(expert, "views", None)
        if expert_views is not None and [id(v) for v in expert_views] != [id(v) for v in views]:
            raise ValueError("the expert is bound to other envs than the DAgger vec env (build it on the same venv)")
        self.expert = expert
        self.views = list(views)
        self.pattern = pattern
        self.rng = rng
        self.deterministic = deterministic
        self.observation_space = views[0].observation_space
        self.action_space = views[0].action_space
        self.staged: list[tuple[str, bool]] | None = None

    def __call__(self, observations: np.ndarray, states: Any = None, episode_starts: Any = None
                 ) -> tuple[np.ndarray, None]:
        if isinstance(self.expert, SlotScoringPolicy):
            logits = policy_logits(self.expert, np.asarray(observations, dtype=np.float32))
            actions = np.asarray([sample_slot(row, self.rng, deterministic=self.deterministic) for row in logits])
        else:
            actions = np.asarray(self.expert(observations, states, episode_starts)[0])
        texts = [view.action_text(int(a)) for view, a in zip(self.views, actions, strict=True)]
        self.staged = [(text, self.pattern.search(text) is not None) for text in texts]
        return actions.astype(np.int64), None


class _LabelRecorder(VecEnvWrapper):
    """Below DAgger's collector: writes the staged label record into each step's ``info``.

    It also trims ``info`` to what the accumulator needs, so the hidden audit and the long action
    lists never reach DAgger's files.
    """

    def __init__(self, venv: VecEnv, labeller: SanitisingLabeller) -> None:
        super().__init__(venv)
        self.labeller = labeller

    def reset(self) -> Any:
        self.labeller.staged = None
        return self.venv.reset()

    def step_wait(self) -> VecEnvStepReturn:
        observations, rewards, dones, infos = self.venv.step_wait()
        staged = self.labeller.staged
        if staged is None or len(staged) != len(infos):
            raise RuntimeError("a DAgger step was taken without an expert label for every env")
        self.labeller.staged = None
        trimmed = []
        for info, (text, sanitised) in zip(infos, staged, strict=True):
            kept = {k: info[k] for k in _KEPT_INFO_KEYS if k in info}
            kept.update({LABEL_TEXT: text, LABEL_SANITISED: sanitised})
            trimmed.append(kept)
        return observations, rewards, dones, trimmed


def _select(transitions: types.Transitions, keep: np.ndarray) -> types.Transitions:
    infos = np.empty(len(transitions), dtype=object)
    infos[:] = list(transitions.infos)
    return types.Transitions(obs=np.asarray(transitions.obs)[keep], acts=np.asarray(transitions.acts)[keep],
                             infos=infos[keep], next_obs=np.asarray(transitions.next_obs)[keep],
                             dones=np.asarray(transitions.dones)[keep])


class SanitisedDAggerTrainer(imitation_dagger.SimpleDAggerTrainer):
    """imitation's ``SimpleDAggerTrainer`` that never trains on a sanitised label.

    The one change is in loading the aggregated demonstrations before each BC update: every
    transition must carry the :data:`LABEL_SANITISED` record written while labelling (see
    :class:`SanitisingLabeller`), and the flagged ones are dropped. After each load,
    ``labels`` / ``sanitised_labels`` count all and flagged labels so far and ``training_transitions``
    is exactly what BC trains on. Collect rounds with :meth:`collect_round` (imitation's ``train``
    asks the expert for deterministic actions, which a callable expert cannot honour).

    Args:
        **kwargs: those of ``SimpleDAggerTrainer`` except ``expert_trajs`` (initial trajectories carry
            no labelling record: sanitise them and train on them with :func:`behavioural_cloning`).

    Raises:
        ValueError: ``expert_trajs`` given; (on load) a transition has no sanitisation record.
    """

    def __init__(self, **kwargs: Any) -> None:
        if kwargs.pop("expert_trajs", None) is not None:
            raise ValueError("SanitisedDAggerTrainer takes no expert_trajs (they carry no sanitisation record)")
        super().__init__(**kwargs)
        self.labels = 0
        self.sanitised_labels = 0
        self.sanitised_texts: Counter[str] = Counter()
        self.training_transitions: types.Transitions | None = None

    def _load_all_demos(self) -> tuple[types.Transitions, list[int]]:
        transitions, counts = super()._load_all_demos()
        flags = []
        for info in transitions.infos:
            if LABEL_SANITISED not in info:
                raise ValueError("a DAgger transition has no sanitisation record; collect with collect_round")
            flags.append(bool(info[LABEL_SANITISED]))
        flagged = np.asarray(flags, dtype=bool)
        self.labels = len(flagged)
        self.sanitised_labels = int(flagged.sum())
        pairs = zip(transitions.infos, flagged, strict=True)
        self.sanitised_texts = Counter(info[LABEL_TEXT] for info, f in pairs if f)
        self.training_transitions = _select(transitions, ~flagged)
        return self.training_transitions, counts

    def collect_round(self, *, min_episodes: int) -> Sequence[types.TrajectoryWithRew]:
        """Roll out one round (beta of this round) with the expert labelling every state.

        Raises:
            TypeError: the expert is not a :class:`SanitisingLabeller` over this trainer's venv.
        """
        if not isinstance(self.expert_policy, SanitisingLabeller) or not isinstance(self.venv, _LabelRecorder):
            raise TypeError("collect_round needs a SanitisingLabeller expert and its _LabelRecorder venv")
        collector = self.create_trajectory_collector()
        return rollout.generate_trajectories(policy=self.expert_policy, venv=collector,
                                             sample_until=rollout.make_sample_until(min_episodes=min_episodes),
                                             rng=collector.rng)


def _default_keywords(views: Sequence[DiscreteActionView]) -> tuple[str, ...]:
    return setting_of(views[0]).keywords


def dagger(student: SlotScoringPolicy, expert: SlotScoringPolicy | Callable[..., Any], venv: VecEnv, *,
           rounds: int, episodes_per_round: int, epochs_per_round: int, rng: np.random.Generator,
           keywords: Sequence[str] | None = None, batch_size: int = 64, learning_rate: float = 1e-3,
           ent_weight: float = 1e-3, l2_weight: float = 0.0, beta_schedule: Callable[[int], float] | None = None,
           expert_deterministic: bool = True, scratch_dir: str | Path | None = None,
           progress: bool = False) -> TrainLog:
    """Train ``student`` in place by DAgger with sanitised expert labels.

    Each round, the vec env is rolled out for at least ``episodes_per_round`` episodes: in every
    state the expert labels the slot it would take, and with probability ``beta`` (imitation's
    linear schedule from 1 down to 0 over 15 rounds by default) that action is executed, else the
    student's. The label is recorded whatever was executed; if the label's action text matches the
    keywords it is dropped before training (counted in ``sanitised_labels``). Then BC trains the
    student for ``epochs_per_round`` epochs on every kept label of all rounds so far.

    Args:
        student: the policy trained, in place.
        expert: a teacher :class:`SlotScoringPolicy`, or a callable expert bound to ``venv`` such as
            :class:`~subliminal_gym.baselines.agents.ScriptedExpertPolicy` built on this same ``venv``.
        venv: a ``DummyVecEnv`` of views (see :func:`make_view_venv`); seeded from ``rng``.
        rounds: DAgger rounds.
        episodes_per_round: minimum episodes collected per round.
        epochs_per_round: BC epochs over the aggregated data after each round.
        rng: the randomness of the run (env seeds, beta draws, shuffling, student sampling).
        keywords: sanitisation words (default: the setting's
            :attr:`~subliminal_gym.core.setting.Setting.keywords`).
        batch_size: BC batch size.
        learning_rate: BC's Adam step size.
        ent_weight: BC entropy bonus weight.
        l2_weight: BC L2 penalty weight.
        beta_schedule: round -> probability of executing the expert's action.
        expert_deterministic: a teacher labels with its argmax (else it samples with ``rng``).
        scratch_dir: where DAgger keeps its demonstrations (default: a temporary folder, removed after).
        progress: a progress bar over rounds.

    Returns:
        The :class:`TrainLog`; ``details`` holds ``trained_label_verbs`` (verb of every label trained
        on, read from the observation) and ``sanitised_label_verbs``.

    Raises:
        TypeError: ``venv`` is not a ``DummyVecEnv`` of views.
        ValueError: bad counts, an expert bound to another vec env, mismatched spaces, or fewer
            kept labels than one batch after a round.
        FileExistsError: ``scratch_dir`` already holds DAgger demonstrations.
    """
    if min(rounds, episodes_per_round, epochs_per_round) < 1:
        raise ValueError("rounds, episodes_per_round and epochs_per_round must all be >= 1")
    if batch_size < 1:
        raise ValueError(f"batch_size must be positive, got {batch_size}")
    existing = Path(scratch_dir) / "demos" if scratch_dir is not None else None
    if existing is not None and existing.is_dir() and any(existing.iterdir()):
        raise FileExistsError(f"{scratch_dir} already holds DAgger demonstrations")
    start = time.perf_counter()
    views = _views_of(venv)
    if venv.observation_space != student.observation_space or venv.action_space != student.action_space:
        raise ValueError("the student's spaces do not match the vec env's (another view layout?)")
    if isinstance(expert, SlotScoringPolicy) and expert.observation_space != student.observation_space:
        raise ValueError("the teacher's observation space does not match the student's")
    pattern = keyword_pattern(keywords if keywords is not None else _default_keywords(views))
    seed = int(rng.integers(2**31))
    labeller_rng, shuffle_rng, trainer_rng = rng.spawn(3)
    labeller = SanitisingLabeller(expert, views, pattern=pattern, rng=labeller_rng,
                                  deterministic=expert_deterministic)
    recorder_venv = _LabelRecorder(venv, labeller)
    venv.seed(seed)
    losses: list[float] = []
    timesteps = 0
    with _seeded(seed), _quiet_logger() as logger, _no_dataset_progress(), \
            tempfile.TemporaryDirectory(prefix="subliminal-dagger-") as temporary:
        bc_trainer, loss_recorder = _make_bc(student, batch_size=batch_size, learning_rate=learning_rate,
                                             ent_weight=ent_weight, l2_weight=l2_weight,
                                             rng=shuffle_rng, logger=logger)
        trainer = SanitisedDAggerTrainer(venv=recorder_venv, scratch_dir=scratch_dir or temporary,
                                         expert_policy=labeller, rng=trainer_rng,
                                         beta_schedule=beta_schedule, bc_trainer=bc_trainer, custom_logger=logger)
        round_sizes = []
        with progress_bar(rounds, "DAgger rounds", enabled=progress) as advance:
            for _ in range(rounds):
                timesteps += sum(len(t) for t in trainer.collect_round(min_episodes=episodes_per_round))
                before = len(loss_recorder.losses)
                trainer.extend_and_update({"n_epochs": epochs_per_round, "log_rollouts_venv": None,
                                           "progress_bar": False})
                round_sizes.append(len(loss_recorder.losses) - before)
                advance()
        losses = loss_recorder.losses
    kept = trainer.training_transitions
    if kept is None:  # pragma: no cover - extend_and_update always loads
        raise RuntimeError("DAgger trained without loading demonstrations")
    layout = student.layout
    obs = np.asarray(kept.obs)
    verbs = layout.slot_verbs(obs)[np.arange(len(obs)), np.asarray(kept.acts, dtype=np.int64)]
    trained_verbs = Counter(layout.verb_name(int(v)) for v in verbs)
    sanitised_verbs: Counter[str] = Counter()
    for text, count in trainer.sanitised_texts.items():
        sanitised_verbs[action_verb(text)] += count
    return TrainLog(
        method="dagger", transitions=len(kept), epochs=rounds * epochs_per_round, batches=len(losses),
        final_loss=losses[-1] if losses else None, loss_history=_chunk_means(losses, round_sizes), rounds=rounds,
        timesteps=timesteps, labels=trainer.labels, sanitised_labels=trainer.sanitised_labels,
        seconds=time.perf_counter() - start,
        details={"trained_label_verbs": dict(sorted(trained_verbs.items())),
                 "sanitised_label_verbs": dict(sorted(sanitised_verbs.items())),
                 "keywords": list(keywords) if keywords is not None else list(_default_keywords(views)),
                 "batch_size": batch_size, "learning_rate": learning_rate, "episodes_per_round": episodes_per_round,
                 "epochs_per_round": epochs_per_round, "expert_deterministic": expert_deterministic})


# -- GAIL and AIRL --------------------------------------------------------------------------------


def adversarial(student: SlotScoringPolicy, demonstrations: Sequence[types.Trajectory] | types.Transitions,
                venv: VecEnv, *, algorithm: Literal["gail", "airl"], total_timesteps: int, rng: np.random.Generator,
                demo_batch_size: int = 64, n_disc_updates_per_round: int = 2,
                ppo_kwargs: Mapping[str, Any] | None = None, reward_net_kwargs: Mapping[str, Any] | None = None,
                progress: bool = False) -> TrainLog:
    """Train ``student`` in place with imitation's GAIL or AIRL and an SB3 PPO generator.

    The generator is ``PPO(SlotScoringPolicy, venv, ...)`` with the student's layout and
    architecture, loaded with the student's weights; after training its weights are copied back
    into ``student``. The discriminator is small (``hid_sizes=(32,)`` on the state and action):
    GAIL uses ``BasicRewardNet``, AIRL ``BasicShapedRewardNet`` (``RunningNorm`` on its inputs);
    both see neither the next state nor the done flag unless ``reward_net_kwargs`` says so. The
    episodes have variable length (tasks end on ``finish``), which imitation is told to allow.
    Each round runs ``n_steps * num_envs`` generator steps (PPO's ``n_steps``, default 256), then
    ``n_disc_updates_per_round`` discriminator steps; ``total_timesteps // (n_steps * num_envs)``
    rounds are run. Deterministic given ``rng`` on CPU (PPO and the discriminator are seeded from it).

    Args:
        student: the policy trained, in place.
        demonstrations: (sanitised) teacher trajectories, or a ``Transitions`` batch, on ``venv``'s view.
        venv: the vec env the generator acts in (e.g. :func:`make_view_venv`); seeded from ``rng``.
        algorithm: ``"gail"`` or ``"airl"``.
        total_timesteps: the generator's environment-step budget.
        rng: the randomness of the run.
        demo_batch_size: demonstration transitions per discriminator batch (as many generator ones).
        n_disc_updates_per_round: discriminator steps per round.
        ppo_kwargs: PPO settings overriding ``n_steps=256, batch_size=64, n_epochs=4,
            learning_rate=3e-4, gamma=0.99, ent_coef=0.0``.
        reward_net_kwargs: extra keyword arguments of the reward network.
        progress: a progress bar over rounds.

    Returns:
        The :class:`TrainLog` (discriminator losses per round; ``details`` has the last round's
        discriminator accuracy).

    Raises:
        TypeError: demonstrations without next observations, or not trajectories/transitions.
        ValueError: an unknown ``algorithm``, a budget below one round, too few demonstrations, no
            discriminator step per round, or spaces that do not match.
    """
    if algorithm not in ("gail", "airl"):
        raise ValueError(f"algorithm must be 'gail' or 'airl', got {algorithm!r}")
    if n_disc_updates_per_round < 1:
        raise ValueError(f"n_disc_updates_per_round must be >= 1, got {n_disc_updates_per_round}")
    start = time.perf_counter()
    transitions = _as_transitions(demonstrations, next_obs=True)
    if not isinstance(transitions, types.Transitions):
        raise TypeError("GAIL and AIRL need trajectories or Transitions with next observations")
    _check_data(student, transitions, demo_batch_size)
    if venv.observation_space != student.observation_space or venv.action_space != student.action_space:
        raise ValueError("the student's spaces do not match the vec env's (another view layout?)")
    settings = {**_PPO_DEFAULTS, **dict(ppo_kwargs or {})}
    per_round = int(settings["n_steps"]) * venv.num_envs
    n_rounds = total_timesteps // per_round
    if n_rounds < 1:
        raise ValueError(f"total_timesteps={total_timesteps} is below one round ({per_round} generator steps)")
    seed = int(rng.integers(2**31))
    venv.seed(seed)
    disc_losses: list[float] = []
    stats: Mapping[str, float] = {}
    with _seeded(seed), _quiet_logger() as logger:
        policy_kwargs = {"layout": student.layout.to_dict(), "arch": student.arch.to_dict(),
                         "net_arch": student.net_arch, "activation_fn": student.activation_fn}
        generator = PPO(SlotScoringPolicy, venv, policy_kwargs=policy_kwargs, seed=seed, device="cpu", verbose=0,
                        **settings)
        generator.policy.load_state_dict(student.state_dict())
        reward_net: BasicRewardNet | BasicShapedRewardNet
        if algorithm == "gail":
            reward_net = BasicRewardNet(venv.observation_space, venv.action_space,
                                        **{"hid_sizes": (32,), "use_next_state": False, "use_done": False,
                                           **dict(reward_net_kwargs or {})})
            trainer_class: type[GAIL] | type[AIRL] = GAIL
        else:
            reward_net = BasicShapedRewardNet(venv.observation_space, venv.action_space,
                                              **{"reward_hid_sizes": (32,), "potential_hid_sizes": (32,),
                                                 "normalize_input_layer": networks.RunningNorm,
                                                 "use_next_state": False, "use_done": False,
                                                 **dict(reward_net_kwargs or {})})
            trainer_class = AIRL
        trainer = trainer_class(demonstrations=transitions, demo_batch_size=demo_batch_size, venv=venv,
                                gen_algo=generator, reward_net=reward_net,
                                n_disc_updates_per_round=n_disc_updates_per_round, custom_logger=logger,
                                allow_variable_horizon=True, log_dir=logger.get_dir())
        # imitation's AdversarialTrainer.train, with the project's progress bar instead of its own.
        with progress_bar(n_rounds, f"{algorithm.upper()} rounds", enabled=progress) as advance:
            for round_number in range(n_rounds):
                trainer.train_gen(per_round)
                round_losses = []
                for _ in range(n_disc_updates_per_round):
                    with networks.training(trainer.reward_train):
                        stats = trainer.train_disc()
                    round_losses.append(float(stats["disc_loss"]))
                disc_losses.append(float(np.mean(round_losses)))
                logger.dump(round_number)
                advance()
        student.load_state_dict(generator.policy.state_dict())
    return TrainLog(
        method=algorithm, transitions=len(transitions), batches=n_rounds * n_disc_updates_per_round,
        final_loss=disc_losses[-1], loss_history=tuple(disc_losses),
        rounds=n_rounds, timesteps=n_rounds * per_round, seconds=time.perf_counter() - start,
        details={"disc_acc": float(stats["disc_acc"]), "demo_batch_size": demo_batch_size,
                 "n_disc_updates_per_round": n_disc_updates_per_round,
                 "ppo": {k: v for k, v in settings.items() if isinstance(v, int | float | str | bool)}})
