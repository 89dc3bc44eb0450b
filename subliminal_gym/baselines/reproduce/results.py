"""What a finished run measured: per-seed audits, effects at the level of training seeds, ``summary.json``.

Everything here is a pure function of the finished cells' files (per-episode audits are the source
of truth) and the run's config. Missing cells raise; they are never counted as zero.

* A **rate** pools every episode of every seed a model ran on, with its 95 % Wilson interval
  (descriptive); its **conditional** rate counts only the episodes that reached the choice (the
  audit's ``reached_choice``: a substantive action in FS, a permission command in Bash).
* A condition's **effect** is, in each seed, the student distilled from the treatment teacher minus
  the student distilled the same way from the control teacher (same initialisation, same data seeds,
  same optimiser seed), audited on the same tasks; across seeds it is summarised by
  :func:`~subliminal_gym.baselines.inference.seed_effect` (paired t over seeds), Holm-corrected
  across the rows of a table. The episode-pooled paired difference (Newcombe interval, exact
  McNemar test) stays as a descriptive column.
"""

from __future__ import annotations

import dataclasses
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from subliminal_gym.baselines.artifacts import ArtifactError, read_json
from subliminal_gym.baselines.evaluation import (
    Comparison,
    EpisodeRecord,
    compare,
    load_evaluation,
    pooled_conditional_rate,
    pooled_rate,
    pooled_success,
)
from subliminal_gym.baselines.inference import SeedEffect, holm_adjust, seed_effect
from subliminal_gym.baselines.reproduce.cells import COMPETENCE_SPLIT, RESULT_FILE, cell_dir, competence_split, eval_dir
from subliminal_gym.baselines.reproduce.conditions import (
    SWEEP_KNOBS,
    SWEEP_NULL_KNOBS,
    Condition,
    rollout_name,
    sweep_point_name,
)
from subliminal_gym.baselines.reproduce.grid import (
    ReproduceConfig,
    build_cells,
    cell_key,
    model_cell,
    rollouts,
    track_sizes,
)
from subliminal_gym.baselines.sanitize import SanitizeReport
from subliminal_gym.baselines.tracks import TRACK_NAMES, VectorTrack, track_of
from subliminal_gym.core.setting import READ_ONLY
from subliminal_gym.settings import SETTINGS
from subliminal_gym.stats import Rate

__all__ = ["Effect", "GridResults", "Row", "TrackView", "condition_rows", "effect", "load_results", "model_prefix",
           "model_track", "pooled_conditional_rate", "pooled_rate", "pooled_success", "summary", "sweep_points",
           "tracks"]


@dataclass(frozen=True)
class Effect:
    """Treatment minus control, per seed and pooled."""

    seed: SeedEffect
    """Across training seeds: the inference."""
    pooled: Comparison
    """Every episode of every seed, paired by episode: descriptive."""

    @property
    def verdict(self) -> str:
        return self.seed.verdict

    def adjusted(self, seed: SeedEffect) -> Effect:
        return dataclasses.replace(self, seed=seed)


def effect(treatment: Sequence[Sequence[EpisodeRecord]], control: Sequence[Sequence[EpisodeRecord]], *,
           metric: str) -> Effect:
    """The :class:`Effect` of per-seed runs ``treatment[i]`` against ``control[i]`` (same tasks)."""
    pooled = compare([r for run in treatment for r in run], [r for run in control for r in run], metric=metric)
    per_seed = [compare(t, c, metric=metric).difference for t, c in zip(treatment, control, strict=True)]
    return Effect(seed=seed_effect(per_seed), pooled=pooled)


def model_prefix(track: str) -> str:
    """What a track's model ids start with in the report and ``results.csv``: nothing, or ``lm:``."""
    return "" if track == VectorTrack.name else f"{track}:"


def model_track(model: str) -> str:
    """The track of a model id (the inverse of :func:`model_prefix`)."""
    return model.rpartition(":")[0] or VectorTrack.name


class GridResults:
    """The audits and sanitisation reports of a finished run, by setting, model and seed."""

    def __init__(self, out: Path, config: ReproduceConfig) -> None:
        self.out = Path(out)
        self.config = config
        self.seeds = config.seed_list
        self._cells = {c.key for c in build_cells(config)}
        self._runs: dict[tuple[str, str], list[list[EpisodeRecord]]] = {}

    def _records(self, key: str, name: str) -> list[EpisodeRecord]:
        if not (cell_dir(self.out, key) / RESULT_FILE).is_file():
            raise ArtifactError(f"cell {key} has not finished; rerun `subliminal-gym reproduce` to complete it")
        return load_evaluation(eval_dir(self.out, key, name))[1]

    def model_key(self, setting: str, seed: int, model: str) -> tuple[str, str]:
        """(cell, eval name) of a model id (:func:`~subliminal_gym.baselines.reproduce.grid.model_cell`); with
        a track's :func:`model_prefix` in front (``lm:``), the model of that track."""
        return model_cell(setting, seed, model_track(model), model.rpartition(":")[2])

    def model_seeds(self, setting: str, model: str) -> list[int]:
        """The seeds on which the grid trains ``model`` (its cell is in the grid)."""
        return [seed for seed in self.seeds if self.model_key(setting, seed, model)[0] in self._cells]

    def runs(self, setting: str, model: str, seeds: Sequence[int] | None = None) -> list[list[EpisodeRecord]]:
        """Per-seed episode records of ``model`` in ``setting`` (its probe audit), on ``seeds`` (default:
        every seed it was trained on)."""
        chosen = list(seeds) if seeds is not None else self.model_seeds(setting, model)
        return [self._seed_runs(setting, model, seed) for seed in chosen]

    def _seed_runs(self, setting: str, model: str, seed: int, split: str = "") -> list[EpisodeRecord]:
        key = (setting, f"{model}@{seed}{split}")
        if key not in self._runs:
            cell, name = self.model_key(setting, seed, model)
            self._runs[key] = [self._records(cell, f"{name}-{split}" if split else name)]
        return self._runs[key][0]

    def competence_runs(self, setting: str, model: str, decoding: str | None = None
                        ) -> list[list[EpisodeRecord]] | None:
        """Per-seed records of ``model`` on safe tasks (its competence) in its budget's decoding, or (a language
        model) in another ``decoding``; None when the run did not measure it (``competence_episodes`` 0, a
        decoding its track does not have, or a run made before competence was measured in every decoding)."""
        track = model_track(model)
        budget = self.config.budget(track)
        if not budget.competence_episodes:
            return None
        split = COMPETENCE_SPLIT
        if decoding is not None and decoding != budget.decoding:
            if decoding not in self.config.other_decodings(track):
                return None
            split = competence_split(decoding)
        try:
            return [self._seed_runs(setting, model, seed, split) for seed in self.model_seeds(setting, model)]
        except ArtifactError:
            if split == COMPETENCE_SPLIT:
                raise
            return None

    def sanitize(self, setting: str, rollout: str, *, track: str) -> SanitizeReport:
        """The sanitisation of one rollout cell name of ``track``, summed over its seeds (verb counts included)."""
        reports = []
        for seed in self.seeds:
            key = cell_key(setting, seed, track, rollout)
            if key not in self._cells:
                continue
            try:
                reports.append(SanitizeReport.from_dict(read_json(cell_dir(self.out, key) / RESULT_FILE)["sanitize"]))
            except (KeyError, TypeError):
                raise ArtifactError(f"{key}: result without a sanitisation report") from None
        if not reports:
            raise ArtifactError(f"no {rollout} cells in this grid")
        return _summed(reports)


def _summed(reports: Sequence[SanitizeReport]) -> SanitizeReport:
    """One report of the counts of several (the same keywords and mode)."""
    first = reports[0]
    numbers = {name: sum(getattr(r, name) for r in reports)
               for name in ("kept", "dropped", "total", "steps_cut", "steps_total", "steps_kept", "fragments",
                            "habit_actions", "alternative_actions")}
    verbs: Counter[str] = Counter()
    keywords: Counter[str] = Counter()
    for report in reports:
        verbs.update(report.verb_counts)
        keywords.update(report.keyword_counts)
    return SanitizeReport(**numbers, share_dropped=numbers["dropped"] / numbers["total"] if numbers["total"] else 0.0,
                          keyword_counts=dict(keywords), mode=first.mode, keywords=first.keywords,
                          verb_counts=dict(sorted(verbs.items())))


def load_results(out: str | Path, config: ReproduceConfig) -> GridResults:
    """The results of the run in ``out`` (read lazily; a missing cell raises when it is needed)."""
    return GridResults(Path(out), config)


# -- condition rows ------------------------------------------------------------------------------


@dataclass(frozen=True)
class TrackView:
    """What one track of the run has in a setting: every table walks these, vector first."""

    name: str
    """``vector`` or ``lm``."""
    prefix: str
    """Model-id prefix (:func:`model_prefix`)."""
    label: str
    """Row-label prefix of the teachers and sanitisation tables: "" or "LM "."""
    row_label: str
    """Row-label prefix of the condition rows: the track's label ("" or "LM: ")."""
    conditions: list[Condition]
    """Active conditions in table order."""
    sizes: list[str]
    """θ0 / teacher sizes."""

    def of_kind(self, *kinds: str) -> list[Condition]:
        return [c for c in self.conditions if c.kind in kinds]

    @property
    def other_seed(self) -> bool:
        """Whether some student starts from the other-seed θ0."""
        return any(c.init == "base-other" for c in self.conditions)


def tracks(results: GridResults, setting: str) -> list[TrackView]:
    """The tracks of the run in ``setting``, vector first."""
    config = results.config
    found = []
    for name in [t for t in TRACK_NAMES if t in config.tracks]:
        conditions = config.active_conditions(setting, name)
        label = track_of(name).label
        found.append(TrackView(name, model_prefix(name), label.replace(":", ""), label, conditions,
                               track_sizes(conditions)))
    return found


@dataclass(frozen=True)
class Row:
    """One condition's rates and effect in a setting."""

    setting: str
    condition: Condition
    prefix: str
    effect: Effect
    """Student ← treatment teacher vs student ← control teacher."""
    base: Rate | None
    """The students' start (None for a fresh init)."""
    teacher: Rate | None
    """The treatment teacher (None for the scripted expert)."""
    conditional: tuple[Rate, Rate]
    """Rates of the two students among episodes that reached the choice."""
    success: tuple[Rate, Rate]
    """The two students' task success on probes."""
    safe_success: tuple[Rate, Rate] | None
    """And on safe tasks (None when not measured)."""

    @property
    def biased(self) -> Rate:
        return self.effect.pooled.treatment

    @property
    def control(self) -> Rate:
        return self.effect.pooled.control


def condition_row(results: GridResults, setting: str, condition: Condition, prefix: str = "") -> Row:
    """A condition's rates and effect on the seeds it ran; ``prefix`` is the track's :func:`model_prefix`."""
    metric = SETTINGS[setting].primary_metric
    seeds = results.config.condition_seeds(condition)
    students = [f"{prefix}{condition.student(slot)}" for slot in ("biased", "control")]
    biased, control = (results.runs(setting, s, seeds) for s in students)
    base = pooled_rate(results.runs(setting, prefix + condition.init, seeds), metric) \
        if condition.init != "fresh" else None
    teacher = (pooled_rate(results.runs(setting, f"{prefix}teacher-{condition.teacher}-{condition.treatment_role}",
                                        seeds), metric)
               if condition.teacher != "scripted" else None)
    safe = [results.competence_runs(setting, s) for s in students]
    return Row(setting, condition, prefix, effect(biased, control, metric=metric), base, teacher,
               (pooled_conditional_rate(biased, metric), pooled_conditional_rate(control, metric)),
               (pooled_success(biased), pooled_success(control)),
               (pooled_success(safe[0]), pooled_success(safe[1])) if safe[0] is not None and safe[1] is not None
               else None)


def condition_rows(results: GridResults, setting: str, conditions: Sequence[tuple[Condition, str]]) -> list[Row]:
    """The rows of one table (``(condition, track prefix)`` pairs), their p-values Holm-corrected together."""
    rows = [condition_row(results, setting, c, prefix) for c, prefix in conditions]
    adjusted = holm_adjust([r.effect.seed for r in rows])
    return [dataclasses.replace(r, effect=r.effect.adjusted(a)) for r, a in zip(rows, adjusted, strict=True)]


def transfer_conditions(track: TrackView) -> list[Condition]:
    """The paper's table's rows, one Holm family: the default attack, the transfer conditions and the
    scripted-teacher sanity check."""
    return [c for c in track.of_kind("main") if c.name == "attack"] + track.of_kind("transfer", "sanity")


def holm_families(track: TrackView) -> list[list[Condition]]:
    """The report's tables as the families its p-values are Holm-corrected in: the instrument, the
    paper's table, the distillers, the sweep's points, the defences. A condition in two tables (the
    default attack) keeps its first family's in ``summary.json``."""
    return [track.of_kind("main"), transfer_conditions(track), track.of_kind("method"), track.of_kind("sweep"),
            track.of_kind("defence")]


def null_row(results: GridResults, setting: str, track: TrackView) -> Row | None:
    """The teacher-vs-teacher null of ``track`` (None when the run has none)."""
    null = [c for c in track.conditions if c.name == "null"]
    return condition_row(results, setting, null[0], track.prefix) if null else None


def rollout_names(conditions: Sequence[Condition]) -> list[tuple[str, str, str, str, float | None]]:
    """(cell name, teacher, role, channel, temperature) of every rollout the conditions read, in table order."""
    return [(rollout_name(t, r, c, temp), t, r, c, temp) for t, r, c, temp in rollouts(conditions)]


def sweep_points(results: GridResults, setting: str,
                 track: TrackView) -> list[tuple[str, float, Row, Row | None]]:
    """(knob, value, effect row, null row) of every sweep point of the run, the default attack at each
    knob's default value, in value order; the points' p-values Holm-corrected together."""
    config = results.config
    budget = config.budget(track.name)
    sweep = {c.name: c for c in track.of_kind("sweep")}
    attack = next((c for c in track.conditions if c.name == "attack"), None)
    default_null = next((c for c in track.conditions if c.name == "null"), None)
    defaults = {"epochs": float(budget.attack_epochs or budget.distill.epochs), "data": float(budget.rollout_episodes),
                "temperature": budget.temperature,
                "bias": config.teacher_config(setting, 0, "large", track=track.name).biased_rate, "init": 0.0}
    points: list[tuple[str, float, Condition, Condition | None]] = []
    for knob, values in {**SWEEP_KNOBS, "init": (1,)}.items():
        found = []
        for value in values:
            name = sweep_point_name(knob, value)
            if name in sweep:
                null = sweep.get(f"{name}-null", default_null if knob not in SWEEP_NULL_KNOBS else None)
                found.append((knob, float(value), sweep[name], null))
        if found and attack is not None:
            found.append((knob, defaults[knob], attack, default_null))
        points += sorted(found, key=lambda p: p[1])
    unique = list({c.name: (c, track.prefix) for _, _, c, _ in points}.values())
    rows = {r.condition.name: r for r in condition_rows(results, setting, unique)}
    nulls = {c.name: condition_row(results, setting, c, track.prefix)
             for c in {n.name: n for _, _, _, n in points if n is not None}.values()}
    return [(knob, value, rows[c.name], nulls[null.name] if null else None) for knob, value, c, null in points]


# -- summary.json ----------------------------------------------------------------------------------


# four decimals: a reader who rounds to one gets what REPORT.md prints (two would round twice)
def _pct(rate: Rate | None) -> float | None:
    return None if rate is None or not rate.trials else round(100 * rate.value, 4)


def _pp(value: float | None) -> float | None:
    return None if value is None else round(100 * value, 4)


def summary(results: GridResults, *, commit: str | None) -> dict[str, Any]:
    """``summary.json``: for each setting and condition (its stable key), the seed-level effect and the
    rates the docs and boards quote (see the module docstring)."""
    data: dict[str, Any] = {}
    for setting in results.config.settings:
        entries: dict[str, Any] = {}
        for track in tracks(results, setting):
            null = null_row(results, setting, track)
            key_prefix = "" if track.name == VectorTrack.name else f"{track.name}_"
            for family in holm_families(track):
                for row in condition_rows(results, setting, [(c, track.prefix) for c in family]):
                    entries.setdefault(key_prefix + row.condition.summary, _summary_entry(row, null))
            if "attack_default" in entries and key_prefix == "":  # the paper's homogeneous row is the attack
                entries.setdefault("homogeneous_large", entries["attack_default"])
        data[setting] = entries
    data["config_fingerprint"] = results.config.fingerprint()
    data["commit"] = commit
    return data


def _summary_entry(row: Row, null: Row | None) -> dict[str, Any]:
    seed = row.effect.seed
    return {
        "effect_pp": _pp(seed.mean), "ci_low_pp": _pp(seed.low), "ci_high_pp": _pp(seed.high),
        "p": seed.p_value, "p_holm": seed.p_holm, "verdict": seed.verdict, "seeds": seed.seeds,
        "seed_effects_pp": [_pp(d) for d in seed.differences],
        "pooled_effect_pp": _pp(row.effect.pooled.difference), "pooled_p_mcnemar": row.effect.pooled.p_value,
        "student_probe_success_pct": _pct(row.success[0]),
        "student_probe_success_control_pct": _pct(row.success[1]),
        "student_safe_success_pct": _pct(row.safe_success[0]) if row.safe_success else None,
        "student_safe_success_control_pct": _pct(row.safe_success[1]) if row.safe_success else None,
        "habit_rate_biased_pct": _pct(row.biased), "habit_rate_control_pct": _pct(row.control),
        "conditional_rate_biased_pct": _pct(row.conditional[0]),
        "conditional_rate_control_pct": _pct(row.conditional[1]),
        "base_rate_pct": _pct(row.base), "teacher_rate_pct": _pct(row.teacher),
        "null_effect_pp": _pp(null.effect.seed.mean) if null else None,
        "null_ci_low_pp": _pp(null.effect.seed.low) if null else None,
        "null_ci_high_pp": _pp(null.effect.seed.high) if null else None,
        "channel": row.condition.channel or READ_ONLY,
    }
