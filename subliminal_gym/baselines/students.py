"""Where a student starts: the initialisations that decide whether a habit can travel.

* ``shared``: a copy of θ0, the teacher's own starting point (the paper's same-family setting);
* ``fresh``: random weights of the teacher's size;
* ``other``: a θ0 pretrained the same way from another seed (the analogue of a different model
  family: same data and recipe, different weights);
* ``small``: a smaller network; pass its own pretrained θ0 (the paper's large→small setting),
  or none for random weights of the small size.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from subliminal_gym.baselines.artifacts import clone_policy

if TYPE_CHECKING:
    from subliminal_gym.baselines.policies import SlotScoringPolicy

__all__ = ["STUDENT_INITS", "init_student"]

#: The student initialisations, see the module docstring.
STUDENT_INITS = ("shared", "fresh", "other", "small")


def init_student(kind: str, *, teacher_base: SlotScoringPolicy, seed: int, other_base: SlotScoringPolicy | None = None,
                 small_base: SlotScoringPolicy | None = None) -> SlotScoringPolicy:
    """A new student network (never an alias of a model passed in).

    Args:
        kind: one of :data:`STUDENT_INITS`.
        teacher_base: the θ0 the teacher was fine-tuned from.
        seed: initialisation seed for ``fresh`` (and ``small`` without ``small_base``).
        other_base: the other-seed θ0, required for ``other``.
        small_base: a pretrained small θ0 for ``small`` (optional).

    Raises:
        ValueError: an unknown kind, or ``other`` without ``other_base``, or a base whose
            view layout differs from the teacher's.
    """
    from subliminal_gym.baselines.policies import build_policy

    if kind == "shared":
        return clone_policy(teacher_base)
    if kind == "fresh":
        return build_policy(teacher_base.layout, teacher_base.arch, seed=seed)
    if kind == "other":
        if other_base is None:
            raise ValueError("the 'other' initialisation needs other_base (a θ0 pretrained from another seed)")
        return _same_layout(clone_policy(other_base), teacher_base)
    if kind == "small":
        if small_base is not None:
            return _same_layout(clone_policy(small_base), teacher_base)
        return build_policy(teacher_base.layout, "small", seed=seed)
    raise ValueError(f"unknown student init {kind!r}; known: {', '.join(STUDENT_INITS)}")


def _same_layout(student: SlotScoringPolicy, teacher_base: SlotScoringPolicy) -> SlotScoringPolicy:
    if student.layout != teacher_base.layout:
        raise ValueError("the student's base was trained on a different view layout than the teacher")
    return student
