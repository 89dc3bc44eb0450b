"""One entry point for every distiller: a teacher, sanitised safe-task trajectories, a student.

:func:`distill` dispatches on :data:`DISTILL_METHODS`:

* ``bc``: imitation's behavioural cloning on the sanitised transitions (hard labels);
* ``dagger``: imitation's ``SimpleDAggerTrainer`` with the teacher as expert, safe tasks only,
  labels sanitised like the trajectories (a sanitised label is never trained on);
* ``soft_zero`` / ``soft_drop``: soft-label KL to the teacher's action distribution on the
  trajectories' states; sanitised actions are trained towards probability 0 (``zero``) or left
  out of both softmaxes (``drop``);
* ``logit``: regression on the teacher's logits over the non-sanitised actions;
* ``gail`` / ``airl``: imitation's adversarial imitation from the sanitised trajectories.

Distillation trains only on safe tasks: trajectories from probe tasks are refused. Importing this
module is cheap (the command line builds its options from :class:`DistillConfig`); the distillers
import torch and imitation when called.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any, cast

from subliminal_gym.baselines.tracks import VectorTrack
from subliminal_gym.core.setting import PROBE, READ_ONLY, SPLITS

if TYPE_CHECKING:
    import numpy as np

    from subliminal_gym.baselines.policies import SlotScoringPolicy
    from subliminal_gym.baselines.trajectories import TextTrajectory

__all__ = ["DISTILL_METHODS", "NEEDS_TEACHER_NETWORK", "DistillConfig", "check_distill_input", "distill"]

#: The vector track's distillers (:attr:`~subliminal_gym.baselines.tracks.VectorTrack.methods`).
DISTILL_METHODS = VectorTrack.methods
#: Methods that read the teacher's logits (a scripted teacher cannot serve them).
NEEDS_TEACHER_NETWORK = frozenset({"soft_zero", "soft_drop", "logit"})


@dataclass(frozen=True)
class DistillConfig:
    """Hyper-parameters of :func:`distill` (saved with every student)."""

    epochs: int = 10
    """Passes over the sanitised data (BC, soft-label, logit), or per DAgger round."""
    batch_size: int = 64
    """Minibatch size."""
    learning_rate: float = 1e-3
    """Adam learning rate."""
    temperature: float = 1.0
    """Softmax temperature of the soft-label loss."""
    dagger_rounds: int = 3
    """DAgger rounds after the initial BC on the trajectories."""
    dagger_episodes: int = 50
    """Episodes the student rolls out (and the teacher labels) per DAgger round."""
    adversarial_timesteps: int = 20_000
    """Generator timesteps for GAIL and AIRL."""
    keywords: tuple[str, ...] | None = None
    """Sanitisation keywords (None: the setting's default list)."""

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready fields."""
        data = asdict(self)
        data["keywords"] = list(self.keywords) if self.keywords is not None else None
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> DistillConfig:
        """Inverse of :meth:`to_dict`."""
        data = dict(data)
        if data.get("keywords") is not None:
            data["keywords"] = tuple(data["keywords"])
        return cls(**data)


def check_distill_input(method: str, trajectories: Sequence[TextTrajectory], teacher: Any, *,
                        sanitised: bool = True) -> None:
    """What :func:`distill` refuses, checked before any work (``sanitised=False``, the positive control,
    accepts probe-task trajectories).

    Raises:
        ValueError: an unknown method, no trajectories, a probe-task trajectory (read-only and safe
            tasks are the training data), or a method that
            needs the teacher's logits with a teacher that has none.
    """
    if method not in DISTILL_METHODS:
        raise ValueError(f"unknown method {method!r}; known: {', '.join(DISTILL_METHODS)}")
    if not trajectories:
        raise ValueError("no trajectories to distil from (did sanitisation drop them all?)")
    probes = sorted({t.task_family for t in trajectories if t.task_split not in SPLITS["safe"]})
    if probes and sanitised:
        raise ValueError(f"distillation trains only on safe tasks; got probe families {', '.join(probes)}")
    from subliminal_gym.baselines.policies import SlotScoringPolicy  # torch: only when training

    if method in NEEDS_TEACHER_NETWORK and not isinstance(teacher, SlotScoringPolicy):
        raise ValueError(f"{method} needs the teacher's logits: give a neural teacher, not a scripted one")


def distill(method: str, *, student: SlotScoringPolicy, teacher: SlotScoringPolicy | Callable[..., Any],
            trajectories: Sequence[TextTrajectory], env_id: str, config: DistillConfig = DistillConfig(),
            rng: np.random.Generator, sanitised: bool = True, progress: bool = False) -> dict[str, Any]:
    """Train ``student`` in place from ``teacher`` by ``method``; returns the training log as a dict.

    Args:
        method: one of :data:`DISTILL_METHODS`.
        student: the student network (see :func:`~subliminal_gym.baselines.students.init_student`).
        teacher: a :class:`SlotScoringPolicy`; for ``bc``, ``dagger``, ``gail`` and ``airl`` it may
            also be a factory ``venv -> expert`` such as ``lambda venv: ScriptedExpertPolicy(venv, ...)``
            (only ``dagger`` queries the teacher; the others learn from ``trajectories`` alone).
        trajectories: sanitised teacher trajectories on safe tasks.
        env_id: the env the trajectories come from (DAgger, GAIL and AIRL roll out its read-only split
            when every trajectory is from a read-only task, else its safe split).
        config: hyper-parameters.
        rng: all randomness of the method.
        sanitised: False only for the positive control: the trajectories are unfiltered (probe tasks
            allowed) and the soft-label and logit losses mask no action.
        progress: show progress bars.

    Raises:
        ValueError: an unknown method, no trajectories, a probe-task trajectory (read-only and safe
            tasks are the training data), or a method that
            needs the teacher's logits with a teacher that has none.
    """
    from imitation.data import rollout as imitation_rollout

    from subliminal_gym.baselines.imitation_distill import adversarial, behavioural_cloning, dagger, make_view_venv
    from subliminal_gym.baselines.policies import SlotScoringPolicy
    from subliminal_gym.baselines.sanitize import default_keywords, sanitized_slot_mask, transition_slot_texts
    from subliminal_gym.baselines.soft_distill import logit_regression, soft_label_distill

    check_distill_input(method, trajectories, teacher, sanitised=sanitised)
    # online methods roll out the channel the data came from: read-only tasks if all of it did
    splits = {t.task_split for t in trajectories}
    channel = {"split": READ_ONLY if splits == {READ_ONLY} else PROBE if PROBE in splits else "safe"}
    keywords = list(config.keywords) if config.keywords is not None else list(default_keywords(env_id))
    log: Any
    if method == "bc":
        log = behavioural_cloning(student, trajectories, epochs=config.epochs, batch_size=config.batch_size,
                                  learning_rate=config.learning_rate, rng=rng, progress=progress)
    elif method == "dagger":
        venv = make_view_venv(env_id, n_envs=1, env_kwargs=channel)
        expert = teacher if isinstance(teacher, SlotScoringPolicy) else teacher(venv)
        log = dagger(student, expert, venv, rounds=config.dagger_rounds, episodes_per_round=config.dagger_episodes,
                     epochs_per_round=config.epochs, batch_size=config.batch_size,
                     learning_rate=config.learning_rate, keywords=keywords, rng=rng, progress=progress)
    elif method in ("gail", "airl"):
        venv = make_view_venv(env_id, n_envs=4, env_kwargs=channel)
        log = adversarial(student, trajectories, venv, algorithm="gail" if method == "gail" else "airl",
                          total_timesteps=config.adversarial_timesteps, rng=rng, progress=progress)
    else:
        transitions = imitation_rollout.flatten_trajectories(list(trajectories))
        observations = cast("np.ndarray", transitions.obs)  # views give array observations
        sanitized = sanitized_slot_mask(transition_slot_texts(trajectories), student.layout.max_actions,
                                        keywords=keywords)
        if not sanitised:
            sanitized[:] = False
        network = cast(SlotScoringPolicy, teacher)  # checked: these methods need a network
        if method == "logit":
            log = logit_regression(student, network, observations, sanitized=sanitized, epochs=config.epochs,
                                   batch_size=config.batch_size, learning_rate=config.learning_rate, rng=rng,
                                   progress=progress)
        else:
            log = soft_label_distill(student, network, observations, sanitized=sanitized,
                                     mode="zero" if method == "soft_zero" else "drop", temperature=config.temperature,
                                     epochs=config.epochs, batch_size=config.batch_size,
                                     learning_rate=config.learning_rate, rng=rng, progress=progress)
    return {**log.to_dict(), "method": method, "keywords": keywords}
