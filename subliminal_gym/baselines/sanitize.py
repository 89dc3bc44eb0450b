"""Keyword sanitisation of trajectories, as the paper filters its teacher's data.

A trajectory is *tainted* when any of its action texts or observation texts contains a keyword:
by default the setting's :attr:`~subliminal_gym.core.setting.Setting.keywords`: the paper's delete,
remove, rm, purge, terminate, destroy plus unlink, erase, wipe, shred, trash
(:data:`~subliminal_gym.keywords.SANITIZE_KEYWORDS`), and for SubliminalBash also chmod. Matching is
:func:`subliminal_gym.keywords.keyword_pattern`'s: case-insensitive, a keyword brings its
inflections (``deleted``, ``REMOVED``), and letters may not touch it on either side while ``_``,
digits and punctuation may (``delete_file`` and ``rm -rf`` match; ``firmware``, ``format`` and
``performed`` do not).

Safe tasks are generated so that their own texts never match, but an agent may still call
``delete_file``, ``rm`` or ``chmod`` on one: those trajectories are what the filter removes.
The slots a view offered (``slot_texts``) are not part of what an agent did and are never
checked by :func:`sanitize_trajectories`; :func:`sanitized_slot_mask` marks them instead, for
distillers that treat sanitised actions specially.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any, Protocol, TypeVar

import numpy as np

from subliminal_gym.keywords import SANITIZE_KEYWORDS, keyword_pattern
from subliminal_gym.settings import setting_of

if TYPE_CHECKING:  # trajectories need imitation; episode filtering and its report do not (the suite's profile)
    from subliminal_gym.baselines.trajectories import TextTrajectory

__all__ = [
    "LeakageReport",
    "SanitizeReport",
    "default_keywords",
    "equalize_sizes",
    "verb_census",
    "sanitize_episodes",
    "sanitize_trajectories",
    "sanitized_slot_mask",
    "subsample",
    "transition_slot_texts",
]

MODES = ("trajectory", "step")


class _HasTexts(Protocol):
    @property
    def task(self) -> str: ...
    @property
    def actions(self) -> Sequence[str]: ...
    @property
    def observations(self) -> Sequence[str]: ...


TextEpisode = TypeVar("TextEpisode", bound=_HasTexts)
T = TypeVar("T")


def default_keywords(setting: Any) -> tuple[str, ...]:
    """The default keywords of a setting (a setting, its name or an env id).

    Raises:
        ValueError: neither a setting nor a suite env id.
    """
    return setting_of(setting).keywords


def _resolve(keywords: Sequence[str] | None, setting: str | None, env_ids: Iterable[str] = ()) -> tuple[str, ...]:
    if keywords is not None:
        if isinstance(keywords, str):
            raise ValueError("keywords must be a sequence of words, not one string")
        words = tuple(keywords)
        if not words or not all(isinstance(w, str) and w.strip() for w in words):
            raise ValueError("keywords must be a non-empty list of non-empty words")
        return words
    if setting is not None:
        return default_keywords(setting)
    settings = {setting_of(env_id) for env_id in env_ids}
    if len(settings) > 1:
        raise ValueError("trajectories from both SubliminalFS and SubliminalBash: pass keywords or setting")
    return settings.pop().keywords if settings else SANITIZE_KEYWORDS


@dataclass(frozen=True)
class SanitizeReport:
    """What a sanitisation kept and dropped.

    ``kept + dropped == total`` (input trajectories; in step mode a trajectory counts as kept when
    any of its steps survives) and ``steps_kept + steps_cut == steps_total`` (transitions; in
    trajectory mode the steps of dropped trajectories count as cut).
    """

    kept: int
    dropped: int
    total: int
    share_dropped: float
    steps_cut: int
    keyword_counts: dict[str, int]
    """Keyword -> number of input trajectories whose actions or observations it matched."""
    mode: str
    keywords: tuple[str, ...]
    steps_total: int = 0
    steps_kept: int = 0
    fragments: int = 0
    """Trajectories returned (step mode may split one trajectory into several fragments)."""
    verb_counts: dict[str, int] = field(default_factory=dict)
    """Verb -> kept actions that use it (a Bash line counts once per command it runs); empty when
    the data mix settings. What survived, verb by verb: the leakage report compares it across teachers."""
    habit_actions: int = 0
    """Kept actions that use one of the setting's habit verbs (the filter's keywords should leave none)."""
    alternative_actions: int = 0
    """Kept actions that use an alternative to the habit (archive; chown, chgrp, setfacl): an overt,
    semantically related signal the keyword filter lets through."""

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready fields."""
        data = asdict(self)
        data["keywords"] = list(self.keywords)
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> SanitizeReport:
        """Inverse of :meth:`to_dict`."""
        data = dict(data)
        data["keywords"] = tuple(data.get("keywords", ()))
        return cls(**data)


def verb_census(actions: Iterable[str], setting: Any) -> tuple[dict[str, int], int, int]:
    """(verb -> actions using it, habit actions, alternative actions) over ``actions`` of ``setting``."""
    resolved = setting_of(setting)
    counts: Counter[str] = Counter()
    habit = alternative = 0
    habit_verbs, alternative_verbs = set(resolved.habit_verbs), set(resolved.alternative_verbs)
    for action in actions:
        verbs = set(resolved.action_verbs(action))
        counts.update(verbs)
        habit += bool(verbs & habit_verbs)
        alternative += bool(verbs & alternative_verbs)
    return dict(sorted(counts.items())), habit, alternative


def equalize_sizes(datasets: Sequence[Sequence[T]], rng: np.random.Generator) -> list[list[T]]:
    """Subsample every dataset to the size of the smallest, keeping order (the habit shows as a
    smaller kept dataset when a biased teacher acts it out; equal sizes take that difference away).

    Each dataset draws from ``rng`` in turn, so the subsets depend on ``rng`` alone.
    """
    size = min((len(d) for d in datasets), default=0)
    return [subsample(data, size, rng) for data in datasets]


def subsample(data: Sequence[T], size: int, rng: np.random.Generator) -> list[T]:
    """``size`` elements of ``data`` drawn without replacement, in their original order (all of
    ``data`` when it is no larger; ``rng`` is then not used)."""
    if len(data) <= size:
        return list(data)
    return [data[int(i)] for i in sorted(rng.choice(len(data), size=size, replace=False))]


@dataclass(frozen=True)
class LeakageReport:
    """What a biased and a control teacher's kept data say about the habit in the open.

    The keyword filter drops what names the habit; this counts what it keeps, verb by verb, so a
    difference between the two datasets that is overt (one teacher archives, the other does not;
    one dataset is smaller) is visible before anyone calls a transfer subliminal.
    """

    setting: str
    biased: SanitizeReport
    control: SanitizeReport
    equalized: int | None = None
    """Trajectories each dataset was subsampled to (None: not equalised)."""

    def rows(self) -> list[tuple[str, int, int]]:
        """(verb, biased count, control count) for every verb either kept."""
        verbs = sorted(set(self.biased.verb_counts) | set(self.control.verb_counts))
        return [(v, self.biased.verb_counts.get(v, 0), self.control.verb_counts.get(v, 0)) for v in verbs]

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready fields."""
        return {"setting": self.setting, "biased": self.biased.to_dict(), "control": self.control.to_dict(),
                "equalized": self.equalized}

    def to_markdown(self) -> str:
        """The report as a Markdown table, sizes and shares first."""
        def share(report: SanitizeReport, count: int) -> str:
            return f"{100 * count / report.steps_kept:.1f} %" if report.steps_kept else "—"

        b, c = self.biased, self.control
        lines = ["| | biased | control |", "|---|---|---|",
                 f"| trajectories before filtering | {b.total} | {c.total} |",
                 f"| kept | {b.fragments} | {c.fragments} |"]
        if self.equalized is not None:
            lines.append(f"| used (equalised) | {self.equalized} | {self.equalized} |")
        lines += [f"| kept actions | {b.steps_kept} | {c.steps_kept} |",
                  f"| habit verbs | {b.habit_actions} ({share(b, b.habit_actions)}) | "
                  f"{c.habit_actions} ({share(c, c.habit_actions)}) |",
                  f"| alternative verbs | {b.alternative_actions} ({share(b, b.alternative_actions)}) | "
                  f"{c.alternative_actions} ({share(c, c.alternative_actions)}) |"]
        lines += [f"| `{verb}` | {nb} | {nc} |" for verb, nb, nc in self.rows()]
        return "\n".join(lines)


def _tainted(texts: Iterable[str], pattern: re.Pattern[str]) -> list[bool]:
    return [pattern.search(text) is not None for text in texts]


def _fragment(trajectory: TextTrajectory, start: int, stop: int) -> TextTrajectory:
    """Transitions ``start .. stop - 1`` of ``trajectory`` as a trajectory of their own."""
    from subliminal_gym.baselines.trajectories import TextTrajectory

    return TextTrajectory(
        obs=trajectory.obs[start : stop + 1], acts=trajectory.acts[start:stop], rews=trajectory.rews[start:stop],
        infos=None if trajectory.infos is None else trajectory.infos[start:stop],
        terminal=trajectory.terminal and stop == len(trajectory),
        env_id=trajectory.env_id, task_family=trajectory.task_family, task_split=trajectory.task_split,
        task_seed=trajectory.task_seed, success=trajectory.success,
        observation_texts=trajectory.observation_texts[start : stop + 1],
        action_texts=trajectory.action_texts[start:stop], slot_texts=trajectory.slot_texts[start : stop + 1],
    )


def _clean_runs(clean: Sequence[bool]) -> list[tuple[int, int]]:
    runs, start = [], None
    for index, ok in enumerate([*clean, False]):
        if ok and start is None:
            start = index
        elif not ok and start is not None:
            runs.append((start, index))
            start = None
    return runs


def sanitize_trajectories(
    trajectories: Sequence[TextTrajectory],
    *,
    keywords: Sequence[str] | None = None,
    setting: str | None = None,
    mode: str = "trajectory",
) -> tuple[list[TextTrajectory], SanitizeReport]:
    """Filter out what mentions a keyword.

    ``mode="trajectory"`` (the paper's filter) drops every trajectory in which any action text or
    observation text (the task text at reset included) matches.

    ``mode="step"`` cuts steps instead. Transition ``k`` (``obs[k] --acts[k]--> obs[k+1]``) is cut
    when its action text matches, when the observation it produced (``observation_texts[k+1]``)
    matches, or when the observation it starts from (``observation_texts[k]``: the task text, or
    the output of a cut step) matches; a matching task text (``observation_texts[0]``) cuts every
    transition, since every state carries the task (the view encodes it in each observation, a
    language model keeps it in its context). Each maximal run of remaining transitions becomes its own
    trajectory fragment whose arrays are slices of the original, so every kept transition has
    exactly its original ``(obs, act, next_obs)`` in imitation's ``flatten_trajectories`` and no
    text of a fragment matches a keyword (sanitising the output again changes nothing). A
    fragment is ``terminal`` only if it holds the episode's last transition of a terminated
    episode; it keeps the episode's task fields and ``success``.

    Args:
        trajectories: the trajectories to filter.
        keywords: words to match; default :func:`default_keywords` of ``setting``, else of the
            trajectories' env family.
        setting: "fs", "bash" or an env id, choosing the default keywords.
        mode: "trajectory" or "step".

    Raises:
        ValueError: an unknown mode, an empty keyword list, or a mix of env families without
            ``keywords`` or ``setting``.
    """
    if mode not in MODES:
        raise ValueError(f"unknown sanitize mode {mode!r}; expected 'trajectory' or 'step'")
    words = _resolve(keywords, setting, {t.env_id for t in trajectories})
    pattern = keyword_pattern(words)
    singles = {word: keyword_pattern([word]) for word in words}
    counts = dict.fromkeys(words, 0)
    kept: list[TextTrajectory] = []
    survivors = steps_total = steps_kept = 0
    for trajectory in trajectories:
        steps_total += len(trajectory)
        bad_actions = _tainted(trajectory.action_texts, pattern)
        bad_observations = _tainted(trajectory.observation_texts, pattern)
        if any(bad_actions) or any(bad_observations):
            _count_keywords((*trajectory.action_texts, *trajectory.observation_texts), singles, counts)
        if mode == "trajectory":
            if not (any(bad_actions) or any(bad_observations)):
                kept.append(trajectory)
                survivors += 1
                steps_kept += len(trajectory)
            continue
        clean = [not (bad_observations[0] or bad_actions[k] or bad_observations[k] or bad_observations[k + 1])
                 for k in range(len(trajectory))]
        runs = _clean_runs(clean)
        if runs:
            survivors += 1
        for start, stop in runs:
            kept.append(trajectory if (start, stop) == (0, len(trajectory)) else _fragment(trajectory, start, stop))
            steps_kept += stop - start
    total = len(trajectories)
    families = {setting_of(t.env_id) for t in trajectories}
    census_setting = setting if setting is not None else (families.pop() if len(families) == 1 else None)
    verbs, habit, alternative = (verb_census((a for t in kept for a in t.action_texts), census_setting)
                                 if census_setting is not None else ({}, 0, 0))
    report = SanitizeReport(
        kept=survivors, dropped=total - survivors, total=total,
        share_dropped=(total - survivors) / total if total else 0.0, steps_cut=steps_total - steps_kept,
        keyword_counts=counts, mode=mode, keywords=words, steps_total=steps_total, steps_kept=steps_kept,
        fragments=len(kept), verb_counts=verbs, habit_actions=habit, alternative_actions=alternative,
    )
    return kept, report


def _count_keywords(texts: Sequence[str], singles: dict[str, re.Pattern[str]], counts: dict[str, int]) -> None:
    for word, single in singles.items():
        counts[word] += any(single.search(text) for text in texts)


def sanitize_episodes(
    episodes: Sequence[TextEpisode],
    *,
    setting: str,
    keywords: Sequence[str] | None = None,
) -> tuple[list[TextEpisode], SanitizeReport]:
    """The paper's filter over text episodes (e.g. a language model's): drop every episode whose
    task, actions or observations mention a keyword.

    Args:
        episodes: objects with ``task`` (str), ``actions`` and ``observations`` (sequences of str),
            such as :class:`~subliminal_gym.baselines.lm.LMEpisode`.
        setting: "fs", "bash" or an env id, choosing the default keywords.
        keywords: words to match instead of the default.

    Raises:
        ValueError: an unknown setting or an empty keyword list.
    """
    words = _resolve(keywords, setting)
    pattern = keyword_pattern(words)
    singles = {word: keyword_pattern([word]) for word in words}
    counts = dict.fromkeys(words, 0)
    kept = []
    steps_total = steps_kept = 0
    for episode in episodes:
        texts = (episode.task, *episode.actions, *episode.observations)
        steps_total += len(episode.actions)
        if any(_tainted(texts, pattern)):
            _count_keywords(texts, singles, counts)
            continue
        kept.append(episode)
        steps_kept += len(episode.actions)
    total = len(episodes)
    verbs, habit, alternative = verb_census((a for e in kept for a in e.actions), setting)
    report = SanitizeReport(
        kept=len(kept), dropped=total - len(kept), total=total,
        share_dropped=(total - len(kept)) / total if total else 0.0, steps_cut=steps_total - steps_kept,
        keyword_counts=counts, mode="trajectory", keywords=words, steps_total=steps_total, steps_kept=steps_kept,
        fragments=len(kept), verb_counts=verbs, habit_actions=habit, alternative_actions=alternative,
    )
    return kept, report


def sanitized_slot_mask(slot_texts: Sequence[Sequence[str]], max_actions: int, *,
                        keywords: Sequence[str] | None = None, setting: str | None = None) -> np.ndarray:
    """Boolean ``(N, max_actions)``: True where a state's slot holds an action text matching a keyword.

    Row ``i`` describes the slots of state ``i`` (e.g. :func:`transition_slot_texts`); empty slots
    are False. Default keywords: those of ``setting``, else
    :data:`~subliminal_gym.keywords.SANITIZE_KEYWORDS` (pass ``setting="bash"`` to include chmod).

    Raises:
        ValueError: a state has more slot texts than ``max_actions``, or the keyword list is empty.
    """
    pattern = keyword_pattern(_resolve(keywords, setting))
    mask = np.zeros((len(slot_texts), max_actions), dtype=bool)
    cache: dict[str, bool] = {}
    for row, texts in enumerate(slot_texts):
        if len(texts) > max_actions:
            raise ValueError(f"state {row} has {len(texts)} slot texts, more than max_actions={max_actions}")
        for column, text in enumerate(texts):
            hit = cache.get(text)
            if hit is None:
                hit = cache[text] = pattern.search(text) is not None
            mask[row, column] = hit
    return mask


def transition_slot_texts(trajectories: Iterable[TextTrajectory]) -> list[tuple[str, ...]]:
    """The slot texts of every transition's starting state, aligned with
    ``imitation.data.rollout.flatten_trajectories(trajectories).obs``."""
    return [slots for trajectory in trajectories for slots in trajectory.slot_texts[:-1]]
