"""Distillation from a teacher's whole action distribution: soft labels (KL) and logit regression.

Both distillers train a student :class:`~subliminal_gym.baselines.policies.SlotScoringPolicy` to
match a teacher on a fixed array of view observations (states the teacher visited on safe tasks).
The teacher's logits are computed once, without gradients. A boolean ``sanitized`` array
``(N, max_actions)`` marks the slots whose action text matched the sanitisation keywords; the
caller decides what matches (e.g. the ``delete_file``/``delete_dir`` verbs, or ``rm``/``chmod``).

Sanitised actions are handled by the soft-label distiller in one of three modes:

* ``"zero"``: the teacher's probabilities on sanitised actions are set to 0 and the rest
  renormalised; the student's softmax still includes them, so the student is trained towards zero
  probability on them.
* ``"drop"``: sanitised actions are excluded from *both* softmaxes in the loss (their logits are
  masked before ``log_softmax``), so the student gets no direct signal about them either way; its
  logits there move only through weights shared with other slots.
* ``"none"``: no sanitisation (an ablation).

The logit regression excludes sanitised and empty slots from its loss, as in ``"drop"``.

States in which every valid action is sanitised carry no signal and are skipped (and counted).
Training is deterministic given ``rng``: it only shuffles with ``rng`` and uses no torch randomness.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Any, Literal

import numpy as np
import torch as th

from subliminal_gym.baselines.policies import MASKED_LOGIT, SlotScoringPolicy, flush_denormals, policy_logits
from subliminal_gym.progress import progress_bar

__all__ = [
    "SANITIZE_MODES",
    "DistillLog",
    "logit_regression",
    "logit_regression_loss",
    "soft_label_distill",
    "soft_label_loss",
]

SanitizeMode = Literal["zero", "drop", "none"]
#: The ways :func:`soft_label_distill` can treat sanitised actions.
SANITIZE_MODES: tuple[str, ...] = ("zero", "drop", "none")
_EVAL_BATCH = 512


@dataclass(frozen=True)
class DistillLog:
    """What a soft-label or logit-regression run did."""

    method: str
    """``"soft_label"`` or ``"logit_regression"``."""
    mode: str
    """Treatment of sanitised actions: ``"zero"``, ``"drop"`` or ``"none"``."""
    temperature: float | None
    """Softmax temperature of the soft labels (``None`` for logit regression)."""
    epochs: int
    """Passes over the used states."""
    steps: int
    """Gradient steps taken."""
    losses: tuple[float, ...]
    """Mean training loss of each epoch (over the batches as they were trained)."""
    initial_loss: float
    """Loss of the student over all used states before training."""
    final_loss: float
    """Loss of the student over all used states after training."""
    states_used: int
    """States that entered the loss."""
    states_skipped: int
    """States skipped because every valid action in them was sanitised (or none was valid)."""
    initial_agreement: float
    """Share of the used states where student and teacher argmax agree (over valid, non-sanitised
    slots) before training."""
    final_agreement: float
    """The same share after training."""

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready fields."""
        data = asdict(self)
        data["losses"] = list(self.losses)
        return data


def soft_label_loss(student_logits: th.Tensor, teacher_logits: th.Tensor, valid: th.Tensor,
                    sanitized: th.Tensor | None, mode: SanitizeMode = "drop", temperature: float = 1.0) -> th.Tensor:
    """Hinton's distillation loss ``T² · KL(p_teacher^T || p_student^T)``, averaged over the batch's states.

    Only ``valid`` slots enter either softmax. In ``"zero"`` mode the teacher's distribution is
    renormalised over the non-sanitised slots while the student's softmax keeps every valid slot;
    in ``"drop"`` mode both softmaxes leave the sanitised slots out (their logits are masked, so
    the loss has exactly zero gradient there); ``"none"`` ignores ``sanitized``. A state whose
    teacher distribution has no support (all valid slots sanitised) adds nothing and does not
    count in the average; a batch of only such states gives a zero loss.

    Args:
        student_logits: ``(batch, max_actions)``, gradients flow through it.
        teacher_logits: ``(batch, max_actions)``, treated as a constant.
        valid: boolean ``(batch, max_actions)``, the non-empty slots.
        sanitized: boolean ``(batch, max_actions)`` or ``None`` (only with mode ``"none"``).
        mode: ``"zero"``, ``"drop"`` or ``"none"``.
        temperature: softmax temperature ``T > 0``.

    Raises:
        ValueError: unknown mode, non-positive temperature, ``sanitized`` missing for a
            sanitising mode, or shapes that differ.
    """
    _check_mode(mode, sanitized is not None)
    if not (math.isfinite(temperature) and temperature > 0):
        raise ValueError(f"temperature must be a positive number, got {temperature}")
    _check_shapes(student_logits, teacher_logits, valid, sanitized)
    kept = valid if mode == "none" or sanitized is None else valid & ~sanitized
    student_support = kept if mode == "drop" else valid
    teacher = th.log_softmax((teacher_logits.detach() / temperature).masked_fill(~kept, MASKED_LOGIT), dim=-1)
    student = th.log_softmax((student_logits / temperature).masked_fill(~student_support, MASKED_LOGIT), dim=-1)
    # Off the teacher's support p_teacher is 0 and so is the term; `where` keeps -1e9 logits out of the sum.
    terms = th.where(kept, teacher.exp() * (teacher - student), th.zeros_like(student))
    used = kept.any(dim=-1)
    per_state = terms.sum(dim=-1) * temperature**2
    return _mean_over(per_state, used)


def logit_regression_loss(student_logits: th.Tensor, teacher_logits: th.Tensor, valid: th.Tensor,
                          sanitized: th.Tensor | None) -> th.Tensor:
    """Mean squared error between centred student and teacher logits over the valid, non-sanitised slots.

    Under a softmax, logits are only defined up to a constant per state, so both sets are centred
    by their mean over the included slots of each state before the squared error; the loss is
    therefore invariant to adding a per-state constant to either. Sanitised and empty slots enter
    neither the means nor the error (their gradient is exactly zero). The error is averaged over
    each state's included slots, then over the states that have any.

    Args:
        student_logits: ``(batch, max_actions)``, gradients flow through it.
        teacher_logits: ``(batch, max_actions)``, treated as a constant.
        valid: boolean ``(batch, max_actions)``, the non-empty slots.
        sanitized: boolean ``(batch, max_actions)``, or ``None`` when nothing is sanitised.

    Raises:
        ValueError: shapes that differ.
    """
    _check_shapes(student_logits, teacher_logits, valid, sanitized)
    kept = valid if sanitized is None else valid & ~sanitized
    counts = kept.sum(dim=-1)
    safe_counts = counts.clamp(min=1).to(student_logits.dtype)
    zeros = th.zeros_like(student_logits)
    student = th.where(kept, student_logits, zeros)
    teacher = th.where(kept, teacher_logits.detach(), zeros)
    student = student - student.sum(dim=-1, keepdim=True) / safe_counts.unsqueeze(-1)
    teacher = teacher - teacher.sum(dim=-1, keepdim=True) / safe_counts.unsqueeze(-1)
    squared = th.where(kept, (student - teacher) ** 2, zeros)
    return _mean_over(squared.sum(dim=-1) / safe_counts, counts > 0)


def soft_label_distill(student: SlotScoringPolicy, teacher: SlotScoringPolicy, observations: np.ndarray, *,
                       sanitized: np.ndarray | None, mode: SanitizeMode = "drop", temperature: float = 1.0,
                       epochs: int = 10, batch_size: int = 64, learning_rate: float = 1e-3,
                       rng: np.random.Generator, progress: bool = False) -> DistillLog:
    """Train ``student`` in place towards ``teacher``'s action distributions (:func:`soft_label_loss`).

    Args:
        student: the policy to train (Adam on all its parameters; only the actor's get gradients).
            Left in eval mode.
        teacher: the policy to imitate (not modified).
        observations: ``(N, obs_dim)`` float32 view observations.
        sanitized: boolean ``(N, max_actions)``, the slots whose action matched the sanitisation
            keywords; ``None`` only with mode ``"none"``.
        mode: ``"zero"``, ``"drop"`` or ``"none"`` (see the module docstring).
        temperature: softmax temperature ``T`` of both distributions (the loss is scaled by ``T²``).
        epochs: passes over the used states.
        batch_size: states per gradient step.
        learning_rate: Adam's step size.
        rng: shuffles the states each epoch.
        progress: show a progress bar.

    Returns:
        A :class:`DistillLog` (``states_used`` counts the states whose teacher distribution has
        support after sanitisation; agreement is measured over the valid, non-sanitised slots).

    Raises:
        ValueError: bad mode, temperature, sizes or shapes; ``sanitized`` missing for a sanitising
            mode; student and teacher with different layouts; no usable state.
        TypeError: ``sanitized`` is not boolean.
    """
    _check_mode(mode, sanitized is not None)
    if not (math.isfinite(temperature) and temperature > 0):
        raise ValueError(f"temperature must be a positive number, got {temperature}")

    def loss_fn(s: th.Tensor, t: th.Tensor, v: th.Tensor, z: th.Tensor | None) -> th.Tensor:
        return soft_label_loss(s, t, v, z, mode, temperature)

    return _distill(student, teacher, observations, sanitized=sanitized, loss_fn=loss_fn, method="soft_label",
                    mode=mode, temperature=temperature, ignore_sanitized=mode == "none", epochs=epochs,
                    batch_size=batch_size, learning_rate=learning_rate, rng=rng, progress=progress)


def logit_regression(student: SlotScoringPolicy, teacher: SlotScoringPolicy, observations: np.ndarray, *,
                     sanitized: np.ndarray | None, epochs: int = 10, batch_size: int = 64,
                     learning_rate: float = 1e-3, rng: np.random.Generator, progress: bool = False) -> DistillLog:
    """Train ``student`` in place to regress ``teacher``'s centred logits (:func:`logit_regression_loss`).

    Sanitised and empty slots are left out of the loss (the log's mode is ``"drop"``, or ``"none"``
    when ``sanitized`` is ``None``).

    Args:
        student: the policy to train (Adam on all its parameters). Left in eval mode.
        teacher: the policy to imitate (not modified).
        observations: ``(N, obs_dim)`` float32 view observations.
        sanitized: boolean ``(N, max_actions)`` or ``None`` (nothing sanitised).
        epochs: passes over the used states.
        batch_size: states per gradient step.
        learning_rate: Adam's step size.
        rng: shuffles the states each epoch.
        progress: show a progress bar.

    Returns:
        A :class:`DistillLog`.

    Raises:
        ValueError: bad sizes or shapes, student and teacher with different layouts, no usable state.
        TypeError: ``sanitized`` is not boolean.
    """
    return _distill(student, teacher, observations, sanitized=sanitized, loss_fn=logit_regression_loss,
                    method="logit_regression", mode="none" if sanitized is None else "drop", temperature=None,
                    ignore_sanitized=False, epochs=epochs, batch_size=batch_size, learning_rate=learning_rate,
                    rng=rng, progress=progress)


def _distill(student: SlotScoringPolicy, teacher: SlotScoringPolicy, observations: np.ndarray, *,
             sanitized: np.ndarray | None, loss_fn: Callable[..., th.Tensor], method: str, mode: str,
             temperature: float | None, ignore_sanitized: bool, epochs: int, batch_size: int,
             learning_rate: float, rng: np.random.Generator, progress: bool) -> DistillLog:
    layout = student.layout
    if teacher.layout != layout:
        raise ValueError("student and teacher have different view layouts")
    if isinstance(epochs, bool) or not isinstance(epochs, int) or epochs < 1:
        raise ValueError(f"epochs must be a positive integer, got {epochs!r}")
    if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
        raise ValueError(f"batch_size must be a positive integer, got {batch_size!r}")
    if not (math.isfinite(learning_rate) and learning_rate > 0):
        raise ValueError(f"learning_rate must be a positive number, got {learning_rate}")
    observations = np.asarray(observations)
    if observations.ndim != 2 or observations.shape[1] != layout.obs_dim:
        raise ValueError(f"observations must have shape (N, {layout.obs_dim}), got {observations.shape}")
    observations = np.ascontiguousarray(observations, dtype=np.float32)
    valid = layout.slot_mask(observations)
    if sanitized is not None:
        sanitized = np.asarray(sanitized)
        if sanitized.shape != valid.shape:
            raise ValueError(f"sanitized must have shape {valid.shape} (N, max_actions), got {sanitized.shape}")
        if sanitized.dtype != np.bool_:
            raise TypeError(f"sanitized must be a boolean array, got dtype {sanitized.dtype}")
    safe = valid if sanitized is None else valid & ~sanitized
    used = (valid if ignore_sanitized else safe).any(axis=1)
    if not used.any():
        raise ValueError("no usable state: every state has all its valid actions sanitised (or none valid)")

    obs = th.from_numpy(observations[used])
    teacher_logits = th.from_numpy(policy_logits(teacher, observations[used]))
    valid_t = th.from_numpy(valid[used])
    sanitized_t = None if sanitized is None else th.from_numpy(sanitized[used])
    safe_t = th.from_numpy(safe[used])
    n = len(obs)

    def evaluate() -> tuple[float, float]:
        student.set_training_mode(False)
        student_logits = th.from_numpy(policy_logits(student, obs.numpy(), batch_size=_EVAL_BATCH))
        with th.no_grad():
            loss = float(loss_fn(student_logits, teacher_logits, valid_t, sanitized_t))
        return loss, _agreement(student_logits, teacher_logits, safe_t)

    threads = th.get_num_threads()
    th.set_num_threads(1)  # small nets train several times slower with more threads on small CPUs
    try:
        with flush_denormals():  # see subliminal_gym.baselines.policies: ~8x faster backward passes
            initial_loss, initial_agreement = evaluate()
            optimizer = th.optim.Adam(student.parameters(), lr=learning_rate)
            batches = math.ceil(n / batch_size)
            losses: list[float] = []
            steps = 0
            with progress_bar(epochs * batches, f"distill ({method}, {mode})", enabled=progress) as advance:
                for _ in range(epochs):
                    student.set_training_mode(True)
                    order = th.from_numpy(rng.permutation(n))
                    total = 0.0
                    for start in range(0, n, batch_size):
                        index = order[start:start + batch_size]
                        batch_sanitized = None if sanitized_t is None else sanitized_t[index]
                        loss = loss_fn(student.action_logits(obs[index]), teacher_logits[index], valid_t[index],
                                       batch_sanitized)
                        optimizer.zero_grad(set_to_none=True)
                        loss.backward()
                        optimizer.step()
                        steps += 1
                        total += float(loss.detach()) * len(index)
                        advance()
                    losses.append(total / n)
            final_loss, final_agreement = evaluate()
    finally:
        student.set_training_mode(False)
        th.set_num_threads(threads)
    return DistillLog(method=method, mode=mode, temperature=temperature, epochs=epochs, steps=steps,
                      losses=tuple(losses), initial_loss=initial_loss, final_loss=final_loss,
                      states_used=int(n), states_skipped=int(len(observations) - n),
                      initial_agreement=initial_agreement, final_agreement=final_agreement)


def _agreement(student_logits: th.Tensor, teacher_logits: th.Tensor, safe: th.Tensor) -> float:
    """Share of the states with a safe slot where both argmaxes over the safe slots coincide."""
    has_safe = safe.any(dim=-1)
    if not bool(has_safe.any()):
        return float("nan")
    low = th.tensor(-math.inf)
    same = (th.where(safe, student_logits, low).argmax(dim=-1) == th.where(safe, teacher_logits, low).argmax(dim=-1))
    return float(same[has_safe].float().mean())


def _mean_over(per_state: th.Tensor, used: th.Tensor) -> th.Tensor:
    count = int(used.sum())
    kept = th.where(used, per_state, th.zeros_like(per_state))
    return kept.sum() / max(count, 1)


def _check_mode(mode: str, has_sanitized: bool) -> None:
    if mode not in SANITIZE_MODES:
        raise ValueError(f"unknown mode {mode!r}; expected one of {', '.join(SANITIZE_MODES)}")
    if mode != "none" and not has_sanitized:
        raise ValueError(f"mode {mode!r} needs a `sanitized` array (None is allowed only with mode 'none')")


def _check_shapes(student_logits: th.Tensor, teacher_logits: th.Tensor, valid: th.Tensor,
                  sanitized: th.Tensor | None) -> None:
    shapes = {"student_logits": student_logits.shape, "teacher_logits": teacher_logits.shape, "valid": valid.shape}
    if sanitized is not None:
        shapes["sanitized"] = sanitized.shape
    if student_logits.dim() != 2 or len(set(shapes.values())) != 1:
        raise ValueError("expected equal (batch, max_actions) shapes, got "
                         + ", ".join(f"{k} {tuple(v)}" for k, v in shapes.items()))
