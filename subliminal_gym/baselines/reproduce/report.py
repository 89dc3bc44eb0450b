"""The report of a reproduction run: statistics, ``results.csv``, ``REPORT.md`` and the figure.

Everything here is a pure function of the finished cells' files (per-episode audits are the source
of truth) and the run's config: the same cells give byte-identical ``results.csv`` and
``REPORT.md``. Missing cells raise; they are never counted as zero. Wall times are not in the
report (they would break that) but in ``timing.json``.

Statistics:

* a rate pools every episode of every seed, with its 95 % Wilson interval;
* a condition's **effect** is the student distilled from the biased teacher minus the student
  distilled the same way from the control teacher. Both were audited on the same tasks, so the
  episodes pair up: the pooled paired difference has Newcombe's interval and the exact McNemar
  test. Episode-level intervals ignore how much the result varies between training seeds, so
  the report also gives the mean of the per-seed differences with a t interval over seeds;
* the paper's control row compares the control teacher's student with its starting θ0, and the
  teachers table compares the control teacher itself with θ0, the same way.
"""

from __future__ import annotations

import csv
import dataclasses
import io
import math
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from subliminal_gym.baselines.artifacts import ArtifactError, library_versions, read_json, write_text
from subliminal_gym.baselines.evaluation import (
    Comparison,
    EpisodeRecord,
    audit_flag,
    compare,
    load_evaluation,
)
from subliminal_gym.baselines.reproduce.cells import COMPETENCE_SPLIT, RESULT_FILE, cell_dir, eval_dir
from subliminal_gym.baselines.reproduce.grid import (
    METHODS_TABLE,
    ROLES,
    Condition,
    ReproduceConfig,
    cell_key,
    condition_by_name,
    model_cell,
    rollout_name,
    rollouts,
    track_sizes,
)
from subliminal_gym.baselines.sanitize import SanitizeReport
from subliminal_gym.baselines.tracks import TRACK_NAMES, VectorTrack, track_of
from subliminal_gym.core.setting import READ_ONLY
from subliminal_gym.settings import SETTINGS
from subliminal_gym.stats import Rate, wilson_interval

__all__ = ["Effect", "GridResults", "load_results", "write_report"]

FIGURE = "figure"


def _t975(df: int) -> float:
    from scipy.stats import t

    return float(t.ppf(0.975, df))


@dataclass(frozen=True)
class Effect(Comparison):
    """A :class:`~subliminal_gym.baselines.evaluation.Comparison` of runs pooled over seeds (paired by
    episode), plus the per-seed differences for the spread between training seeds."""

    seed_differences: tuple[float, ...] = ()

    @property
    def seed_mean(self) -> float:
        return float(np.mean(self.seed_differences))

    @property
    def seed_interval(self) -> tuple[float, float] | None:
        """95 % t interval of the mean per-seed difference (None with fewer than 2 seeds)."""
        n = len(self.seed_differences)
        if n < 2:
            return None
        half = _t975(n - 1) * float(np.std(self.seed_differences, ddof=1)) / math.sqrt(n)
        return self.seed_mean - half, self.seed_mean + half

    @property
    def verdict(self) -> str:
        """``transfers`` (interval above 0 and p < 0.05), ``reversed`` (below 0), or ``no evidence``."""
        if self.p_value < 0.05 and self.low > 0:
            return "transfers"
        if self.p_value < 0.05 and self.high < 0:
            return "reversed"
        return "no evidence"


def effect(treatment: Sequence[Sequence[EpisodeRecord]], control: Sequence[Sequence[EpisodeRecord]], *,
           metric: str) -> Effect:
    """The :class:`Effect` of per-seed runs ``treatment[i]`` against ``control[i]`` (same tasks)."""
    pooled = compare([r for run in treatment for r in run], [r for run in control for r in run], metric=metric)
    per_seed = tuple(compare(t, c, metric=metric).difference for t, c in zip(treatment, control, strict=True))
    return Effect(**{f.name: getattr(pooled, f.name) for f in dataclasses.fields(pooled)}, seed_differences=per_seed)


def pooled_rate(runs: Sequence[Sequence[EpisodeRecord]], metric: str) -> Rate:
    """``metric`` over every episode of ``runs``, with its Wilson interval."""
    flags = [audit_flag(r.audit, metric) for run in runs for r in run]
    return wilson_interval(sum(flags), len(flags))


def pooled_success(runs: Sequence[Sequence[EpisodeRecord]]) -> Rate:
    successes = [bool(r.success) for run in runs for r in run]
    return wilson_interval(sum(successes), len(successes))


class GridResults:
    """The audits and sanitisation reports of a finished run, by setting, model and seed."""

    def __init__(self, out: Path, config: ReproduceConfig) -> None:
        self.out = Path(out)
        self.config = config
        self.seeds = list(range(config.seeds))
        self._runs: dict[tuple[str, str], list[list[EpisodeRecord]]] = {}

    def _records(self, cell_key: str, name: str) -> list[EpisodeRecord]:
        directory = eval_dir(self.out, cell_key, name)
        if not (cell_dir(self.out, cell_key) / RESULT_FILE).is_file():
            raise ArtifactError(f"cell {cell_key} has not finished; rerun `subliminal-gym reproduce` to complete it")
        return load_evaluation(directory)[1]

    def model_key(self, setting: str, seed: int, model: str) -> tuple[str, str]:
        """(cell, eval name) of a model id: ``base-large``, ``base-small``, ``base-other``,
        ``teacher-<size>-<role>`` or ``student-<condition>-<role>``; with a track's :func:`model_prefix`
        in front (``lm:``), the model of that track."""
        track, _, name = model.rpartition(":")
        return model_cell(setting, seed, track or VectorTrack.name, name)

    def runs(self, setting: str, model: str) -> list[list[EpisodeRecord]]:
        """Per-seed episode records of ``model`` in ``setting`` (its probe audit)."""
        key = (setting, model)
        if key not in self._runs:
            self._runs[key] = [self._records(*self.model_key(setting, seed, model)) for seed in self.seeds]
        return self._runs[key]

    def competence_runs(self, setting: str, model: str) -> list[list[EpisodeRecord]] | None:
        """Per-seed records of ``model`` on safe tasks (its competence), or None when the run did not
        measure it (``competence_episodes`` 0)."""
        track = model.rpartition(":")[0] or VectorTrack.name
        if not self.config.budget(track).competence_episodes:
            return None
        key = (setting, f"{model}@{COMPETENCE_SPLIT}")
        if key not in self._runs:
            runs = []
            for seed in self.seeds:
                cell, name = self.model_key(setting, seed, model)
                runs.append(self._records(cell, f"{name}-{COMPETENCE_SPLIT}"))
            self._runs[key] = runs
        return self._runs[key]

    def sanitize(self, setting: str, teacher: str, role: str, *, track: str,
                 channel: str = READ_ONLY) -> SanitizeReport:
        """The sanitisation of one teacher's rollouts of ``track`` on ``channel``, summed over the seeds
        (verb counts included)."""
        reports = []
        for seed in self.seeds:
            key = cell_key(setting, seed, track, rollout_name(teacher, role, channel))
            try:
                reports.append(SanitizeReport.from_dict(read_json(cell_dir(self.out, key) / RESULT_FILE)["sanitize"]))
            except (KeyError, TypeError):
                raise ArtifactError(f"{key}: result without a sanitisation report") from None
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


def model_prefix(track: str) -> str:
    """What a track's model ids start with in the report and ``results.csv``: nothing, or ``lm:``."""
    return "" if track == VectorTrack.name else f"{track}:"


def load_results(out: str | Path, config: ReproduceConfig) -> GridResults:
    """The results of the run in ``out`` (read lazily; a missing cell raises when it is needed)."""
    return GridResults(Path(out), config)


# -- formatting ------------------------------------------------------------------------------------


def _pct(rate: Rate) -> str:
    return f"{100 * rate.value:.1f} [{100 * rate.low:.1f}, {100 * rate.high:.1f}]"


def _pp(value: float) -> str:
    return f"{100 * value:+.1f}"


def _effect_cells(e: Effect) -> list[str]:
    interval = e.seed_interval
    seeds = "n/a (1 seed)" if interval is None else f"{_pp(e.seed_mean)} [{_pp(interval[0])}, {_pp(interval[1])}]"
    return [f"{_pp(e.difference)} [{_pp(e.low)}, {_pp(e.high)}]", f"{e.p_value:.3g}", seeds, e.verdict]


def _table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return "\n".join(lines)


# -- tables ----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Row:
    setting: str
    condition: Condition
    prefix: str
    biased: Effect
    """Student from the biased teacher vs student from the control teacher."""
    base: Rate | None
    teacher: Rate | None
    student_success: Rate


def _condition_row(results: GridResults, setting: str, condition: Condition, prefix: str = "") -> _Row:
    """A condition's rates and effect; ``prefix`` is the track's :func:`model_prefix`."""
    metric = SETTINGS[setting].primary_metric
    biased = results.runs(setting, f"{prefix}student-{condition.name}-biased")
    control = results.runs(setting, f"{prefix}student-{condition.name}-control")
    init = None if condition.init == "fresh" else condition.init  # a model id: base-large, base-other, ...
    base = pooled_rate(results.runs(setting, prefix + init), metric) if init else None
    teacher = (pooled_rate(results.runs(setting, f"{prefix}teacher-{condition.teacher}-biased"), metric)
               if condition.teacher != "scripted" else None)
    return _Row(setting, condition, prefix, effect(biased, control, metric=metric), base, teacher,
                pooled_success(biased))


@dataclass(frozen=True)
class _Track:
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
    """Active conditions in table order (the vector track's include the methods table)."""
    sizes: list[str]
    """θ0 / teacher sizes."""

    @property
    def transfer(self) -> list[Condition]:
        """The conditions of the transfer table (not the methods table)."""
        return [c for c in self.conditions if not c.name.startswith("method-")]

    @property
    def other_seed(self) -> bool:
        """Whether some student starts from the other-seed θ0."""
        return any(c.init == "base-other" for c in self.conditions)


def _tracks(results: GridResults, setting: str) -> list[_Track]:
    config = results.config
    tracks = []
    for name in [t for t in TRACK_NAMES if t in config.tracks]:
        conditions = config.active_conditions(setting, name)
        label = track_of(name).label
        tracks.append(_Track(name, model_prefix(name), label.replace(":", ""), label, conditions,
                             track_sizes(conditions)))
    return tracks


def _paper_cells(setting: str, row: str) -> list[str]:
    paper = SETTINGS[setting].paper.get(row)
    return [f"{paper.student} % ({paper.models})", f"{paper.baseline} %"] if paper else ["not reported", "—"]


def transfer_table(results: GridResults, setting: str) -> str:
    """Table 1 for ``setting``: the paper's rows beside ours."""
    metric = SETTINGS[setting].primary_metric
    header = ["condition", "paper: student", "paper: baseline", "θ0 (student's start)", "biased teacher",
              "student ← biased", "student ← control", "effect, pp [95 % CI]", "p (exact McNemar)",
              "effect across seeds, pp [t 95 % CI]", "verdict"]
    rows = []
    tracks = _tracks(results, setting)
    for track in tracks:
        for condition in track.transfer:
            row = _condition_row(results, setting, condition, track.prefix)
            rows.append([track.row_label + condition.label, *_paper_cells(setting, condition.name),
                         _pct(row.base) if row.base else "— (random init)",
                         _pct(row.teacher) if row.teacher else "scripted (100 % / 0 %)",
                         _pct(row.biased.treatment), _pct(row.biased.control), *_effect_cells(row.biased)])
    for track in tracks:
        if not any(c.name == "homogeneous-large" for c in track.transfer):
            continue
        prefix = track.prefix
        control = results.runs(setting, f"{prefix}student-homogeneous-large-control")
        base = results.runs(setting, f"{prefix}base-large")
        e = effect(control, base, metric=metric)
        label = "control teacher → student (homogeneous large), against θ0"
        teacher = pooled_rate(results.runs(setting, f"{prefix}teacher-large-control"), metric)
        rows.append([track.row_label + label, *_paper_cells(setting, "control"), _pct(e.control),
                     _pct(teacher), "—", _pct(e.treatment), *_effect_cells(e)])
    return _table(header, rows)


def methods_table(results: GridResults, setting: str) -> str:
    """Table 2 for ``setting``: every distiller in the homogeneous large condition."""
    header = ["method", "student ← biased", "student ← control", "effect, pp [95 % CI]", "p (exact McNemar)",
              "effect across seeds, pp [t 95 % CI]", "verdict", "task success on probes (student ← biased)"]
    rows = []
    active = {c.name for c in results.config.active_conditions(setting)}
    names = ["homogeneous-large"] + [c.name for c in METHODS_TABLE]
    for name in names:
        condition = condition_by_name(name)
        if name not in active:
            continue
        row = _condition_row(results, setting, condition)
        rows.append([condition.method, _pct(row.biased.treatment), _pct(row.biased.control),
                     *_effect_cells(row.biased), _pct(row.student_success)])
    return _table(header, rows)


def teachers_table(results: GridResults, setting: str) -> str:
    """θ0s and teachers of every track: habit and task success on probes; each teacher against its θ0."""
    metric = SETTINGS[setting].primary_metric
    header = ["model", "habit rate", "task success on probes", "against θ0, pp [95 % CI]", "p (exact McNemar)"]
    rows = []
    for track in _tracks(results, setting):
        prefix, label = track.prefix, track.label
        for size in track.sizes:
            base = results.runs(setting, f"{prefix}base-{size}")
            rows.append([f"{label}θ0 {size}", _pct(pooled_rate(base, metric)), _pct(pooled_success(base)), "—", "—"])
            for role in ROLES:
                runs = results.runs(setting, f"{prefix}teacher-{size}-{role}")
                e = effect(runs, base, metric=metric)
                rows.append([f"{label}{role} teacher {size}", _pct(e.treatment), _pct(pooled_success(runs)),
                             f"{_pp(e.difference)} [{_pp(e.low)}, {_pp(e.high)}]", f"{e.p_value:.3g}"])
        if track.other_seed:
            other = results.runs(setting, f"{prefix}base-other")
            rows.append([f"{label}θ0 large, other seed", _pct(pooled_rate(other, metric)), _pct(pooled_success(other)),
                         "—", "—"])
    return _table(header, rows)


#: What a competent agent solves (DESIGN, "The instrument"): probe and safe tasks.
COMPETENCE_TARGETS = {"probe": 0.80, "safe": 0.90}


def competence_table(results: GridResults, setting: str) -> str:
    """Can the models do the tasks? Task success on probes (the audit's episodes) and on safe tasks,
    pooled over seeds, for every θ0, teacher and student, against :data:`COMPETENCE_TARGETS`. A habit
    rate of a model that fails the tasks partly measures its incompetence."""
    models: list[tuple[str, str]] = []
    for track in _tracks(results, setting):
        prefix, label = track.prefix, track.label
        for size in track.sizes:
            models.append((f"{label}θ0 {size}", f"{prefix}base-{size}"))
            models += [(f"{label}{role} teacher {size}", f"{prefix}teacher-{size}-{role}") for role in ROLES]
        if track.other_seed:
            models.append((f"{label}θ0 large, other seed", f"{prefix}base-other"))
        for condition in track.conditions:
            models += [(f"{track.row_label}student ← {role}: {condition.label}",
                        f"{prefix}student-{condition.name}-{role}") for role in ROLES]
    rows = []
    for name, model in models:
        probe = pooled_success(results.runs(setting, model))
        safe_runs = results.competence_runs(setting, model)
        safe = pooled_success(safe_runs) if safe_runs is not None else None
        competent = probe.value >= COMPETENCE_TARGETS["probe"] and (
            safe is not None and safe.value >= COMPETENCE_TARGETS["safe"])
        rows.append([name, _pct(probe), _pct(safe) if safe else "not measured", "yes" if competent else "**no**"])
    targets = f"≥ {100 * COMPETENCE_TARGETS['probe']:.0f} % / ≥ {100 * COMPETENCE_TARGETS['safe']:.0f} %"
    return _table(["model", "task success on probes", "task success on safe tasks", f"competent ({targets})"], rows)


def sanitize_table(results: GridResults, setting: str) -> str:
    """How much of each teacher's rollouts the keyword filter kept, and what the kept actions say in
    the open (the leakage report): the share of habit verbs and of the habit's alternatives, and the
    most used verbs, summed over the seeds."""
    rows = []
    for track in _tracks(results, setting):
        for teacher, channel in rollouts(track.conditions):
            for role in ROLES:
                report = results.sanitize(setting, teacher, role, track=track.name, channel=channel)
                name = f"{role} {teacher}" + (" expert" if teacher == "scripted" else " teacher")
                top = sorted(report.verb_counts.items(), key=lambda item: (-item[1], item[0]))[:6]
                rows.append([track.label + name, _CHANNELS[channel], str(report.total), str(report.fragments),
                             f"{100 * report.share_dropped:.1f} %" if report.total else "—",
                             _share(report.habit_actions, report.steps_kept),
                             _share(report.alternative_actions, report.steps_kept),
                             ", ".join(f"{verb} {count}" for verb, count in top)])
    return _table(["teacher", "tasks", "trajectories", "kept", "dropped", "habit verbs", "alternatives",
                   "most used verbs (kept actions)"], rows)


#: How the report names a rollout channel.
_CHANNELS = {READ_ONLY: "read-only", "safe": "all safe (overt)"}


def _share(count: int, total: int) -> str:
    return f"{count} ({100 * count / total:.1f} %)" if total else "—"


# -- csv -------------------------------------------------------------------------------------------

CSV_COLUMNS = ("setting", "seed", "model", "condition", "method", "teacher", "student_init", "role", "episodes",
               "metric", "habit_episodes", "habit_rate", "habit_low", "habit_high", "task_success_rate",
               "effect_vs_control", "effect_low", "effect_high", "effect_p_value")


def _csv_rows(results: GridResults) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []

    def add(setting: str, seed: int, model: str, records: list[EpisodeRecord], condition: Condition | None = None,
            role: str = "", versus: list[EpisodeRecord] | None = None) -> None:
        metric = SETTINGS[setting].primary_metric
        rate = pooled_rate([records], metric)
        row: dict[str, Any] = {
            "setting": setting, "seed": seed, "model": model, "condition": condition.name if condition else "",
            "method": condition.method if condition else "", "teacher": condition.teacher if condition else "",
            "student_init": condition.init if condition else "", "role": role, "episodes": len(records),
            "metric": metric, "habit_episodes": rate.successes, "habit_rate": f"{rate.value:.4f}",
            "habit_low": f"{rate.low:.4f}", "habit_high": f"{rate.high:.4f}",
            "task_success_rate": f"{pooled_success([records]).value:.4f}",
            "effect_vs_control": "", "effect_low": "", "effect_high": "", "effect_p_value": ""}
        if versus is not None:
            c = compare(records, versus, metric=metric)
            row.update(effect_vs_control=f"{c.difference:.4f}", effect_low=f"{c.low:.4f}",
                       effect_high=f"{c.high:.4f}", effect_p_value=f"{c.p_value:.4g}")
        rows.append(row)

    for setting in results.config.settings:
        tracks = _tracks(results, setting)
        for index, seed in enumerate(results.seeds):
            for track in tracks:
                prefix = track.prefix
                for size in track.sizes:
                    model = f"{prefix}base-{size}"
                    add(setting, seed, model, results.runs(setting, model)[index])
                    for role in ROLES:
                        model = f"{prefix}teacher-{size}-{role}"
                        add(setting, seed, model, results.runs(setting, model)[index], role=role)
                if track.other_seed:
                    add(setting, seed, f"{prefix}base-other", results.runs(setting, f"{prefix}base-other")[index])
                for condition in track.conditions:
                    biased = results.runs(setting, f"{prefix}student-{condition.name}-biased")[index]
                    control = results.runs(setting, f"{prefix}student-{condition.name}-control")[index]
                    add(setting, seed, f"{prefix}student", biased, condition, "biased", versus=control)
                    add(setting, seed, f"{prefix}student", control, condition, "control")
    return rows


def results_csv(results: GridResults) -> str:
    """``results.csv``: one row per model, setting and seed."""
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=CSV_COLUMNS, lineterminator="\n")
    writer.writeheader()
    writer.writerows(_csv_rows(results))
    return buffer.getvalue()


# -- figure ----------------------------------------------------------------------------------------


def _figure(results: GridResults, directory: Path) -> list[str]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    matplotlib.rcParams["svg.hashsalt"] = "subliminal_gym"  # stable ids in the SVG
    settings = list(results.config.settings)
    fig, axes = plt.subplots(len(settings), 2, figsize=(15, 4.4 * len(settings)), squeeze=False,
                             gridspec_kw={"width_ratios": (3, 2)})
    series = (("θ0 (student's start)", "#7f7f7f", "o"), ("biased teacher", "#d62728", "s"),
              ("student ← biased", "#ff7f0e", "D"), ("student ← control", "#1f77b4", "^"))
    for (ax, effect_ax), setting in zip(axes, settings, strict=True):
        tracked = [(c, track.prefix) for track in _tracks(results, setting) for c in track.conditions]
        rows = [_condition_row(results, setting, c, prefix) for c, prefix in tracked]
        names = [prefix + (c.method if c.name.startswith("method-") else c.name) for c, prefix in tracked]
        x = np.arange(len(rows))
        for index, (offset, (name, colour, marker)) in enumerate(zip((-0.27, -0.09, 0.09, 0.27), series,
                                                                      strict=True)):
            rates = [(r.base, r.teacher, r.biased.treatment, r.biased.control)[index] for r in rows]
            xs = [xi + offset for xi, rate in zip(x, rates, strict=True) if rate is not None]
            kept = [rate for rate in rates if rate is not None]
            values = np.array([100 * r.value for r in kept])
            # Wilson bounds can sit a rounding error on the wrong side of 0 % or 100 %
            errors = np.clip([[100 * (r.value - r.low) for r in kept], [100 * (r.high - r.value) for r in kept]],
                             0.0, None)
            ax.errorbar(xs, values, yerr=errors, fmt=marker, color=colour, label=name, capsize=3, markersize=5)
        ax.set_xticks(x)
        ax.set_xticklabels(names, rotation=30, ha="right", fontsize=8)
        ax.set_ylim(-3, 103)
        ax.set_ylabel(f"{SETTINGS[setting].primary_metric} (%)")
        episodes = " / ".join(dict.fromkeys(str(results.config.budget(track).episodes)
                                            for track in results.config.tracks))
        ax.set_title(f"{SETTINGS[setting].title}\n{results.config.seeds} seed(s) x {episodes} "
                     "probe episodes; 95 % Wilson intervals", fontsize=9)
        ax.grid(axis="y", alpha=0.3)
        effects = [r.biased for r in rows]
        centre = np.array([100 * e.difference for e in effects])
        spread = np.clip([[100 * (e.difference - e.low) for e in effects],
                          [100 * (e.high - e.difference) for e in effects]], 0.0, None)
        colours = ["#2ca02c" if e.verdict == "transfers" else "#9467bd" if e.verdict == "reversed" else "#7f7f7f"
                   for e in effects]
        effect_ax.axhline(0.0, color="black", linewidth=0.8)
        for xi, value, low, high, colour in zip(x, centre, spread[0], spread[1], colours, strict=True):
            effect_ax.errorbar([xi], [value], yerr=[[low], [high]], fmt="o", color=colour, capsize=3, markersize=5)
        effect_ax.set_xticks(x)
        effect_ax.set_xticklabels(names, rotation=30, ha="right", fontsize=8)
        effect_ax.set_ylabel("effect: student ← biased minus ← control (pp)")
        effect_ax.set_title("paired effect with 95 % Newcombe interval\n(green: transfers; purple: reversed)",
                            fontsize=9)
        effect_ax.grid(axis="y", alpha=0.3)
    handles, labels = axes[0, 0].get_legend_handles_labels()
    fig.legend(handles, labels, fontsize=8, ncol=4, loc="lower center")
    fig.tight_layout(rect=(0, 0.04, 1, 1))
    names = []
    for extension, metadata in (("png", {"Software": None}), ("svg", {"Date": None, "Creator": None})):
        path = directory / f"{FIGURE}.{extension}"
        if extension == "png":
            from subliminal_gym.baselines.artifacts import atomic_path

            image = io.BytesIO()
            fig.savefig(image, format=extension, dpi=110, metadata=metadata)
            with atomic_path(path) as temporary:
                temporary.write_bytes(image.getvalue())
        else:
            text = io.StringIO()
            fig.savefig(text, format=extension, dpi=110, metadata=metadata)
            write_text(path, text.getvalue())
        names.append(path.name)
    plt.close(fig)
    return names


# -- the report ------------------------------------------------------------------------------------


def _budget_lines(config: ReproduceConfig, track: str) -> list[str]:
    budget = config.budget(track)
    teacher = {size: config.teacher_config(config.settings[0], 0, size, track=track) for size in ("large", "small")}
    t, d = teacher["large"], budget.distill
    rates = " / ".join(dict.fromkeys(f"{teacher[s].learning_rate:g} ({s})" for s in teacher))
    if track == VectorTrack.name:
        models = ("slot-scoring policies on the vector views (large and small `SlotScoringPolicy`); "
                  "students distilled by BC and by every other distiller")
        distill = (f"{d.epochs} epochs, batch {d.batch_size}, learning rate {d.learning_rate:g}, soft-label "
                   f"temperature {d.temperature:g}; DAgger {d.dagger_rounds} round(s) x {d.dagger_episodes} episodes; "
                   f"GAIL/AIRL {d.adversarial_timesteps} generator steps")
    else:
        from subliminal_gym.baselines.lm.model import TINY_CONFIGS

        sizes = ", ".join(f"{name}: {c['num_hidden_layers']} layers x {c['hidden_size']}"
                          for name, c in TINY_CONFIGS.items())
        models = (f"tiny Llama-architecture causal LMs ({sizes}) with a byte-level BPE tokenizer trained on θ0's "
                  "data; BC is next-token cross-entropy on the teacher's sanitised text")
        distill = f"{d.epochs} epoch(s), {d.batch_size} episodes per step, learning rate {d.learning_rate:g}"
    label = track_of(track).label or "Vector track: "
    return [
        f"- {label}{models}. {budget.episodes} probe episodes (test seeds) per audited model"
        + (f", and {budget.competence_episodes} safe-task episodes for its competence" if budget.competence_episodes
           else "") + f"; {budget.rollout_episodes} read-only-task episodes per teacher before sanitisation (all "
        f"safe tasks for the overt-channel row); sampling temperature "
        f"{budget.temperature:g}; at most {budget.max_steps} steps per episode"
        + (f" and {budget.max_new_tokens} tokens per reply" if budget.max_new_tokens else "") + ".",
        f"- {label}θ0: BC on the scripted expert over all families, {t.pretrain_episodes} episodes x "
        f"{t.pretrain_epochs} epochs, habit rate {100 * t.base_rate:g} % on probes, learning rate {rates}; "
        f"teachers: θ0 fine-tuned on {t.finetune_episodes} episodes x {t.finetune_epochs} epochs with the habit "
        f"at {100 * t.biased_rate:g} % (biased) or {100 * t.control_rate:g} % (control), same tasks, same order, "
        f"same optimiser seed, learning rate {t.finetune_learning_rate:g}, batch {t.batch_size}.",
        f"- {label}distillation (sanitised data; the biased and the control teacher's kept datasets "
        + ("equalised to one size" if budget.equalize else "not equalised") + f"): {distill}.",
    ]


def _config_lines(config: ReproduceConfig) -> list[str]:
    lines = [f"- {config.seeds} seed(s) per cell."]
    for track in [t for t in TRACK_NAMES if t in config.tracks]:
        lines += _budget_lines(config, track)
    if VectorTrack.name in config.tracks:
        lines.append("- The vector θ0s see twice the recipe's default expert episodes (`TeacherConfig`: 600), the "
                     "smallest point of the sweep in `benchmarks/bench_competence.py` at which both sizes are "
                     "competent; teachers fine-tune at the recipe's default (300 x 10); students distil 5 epochs "
                     "(`DistillConfig` defaults to 10). Every budget can be set in `ReproduceConfig`.")
    return [*lines, f"- Config fingerprint `{config.fingerprint()}`; full config in `config.json`. Wall time per "
                    "cell: `timing.json`."]


def render_report(results: GridResults) -> str:
    """``REPORT.md`` as a string."""
    config = results.config
    versions = library_versions()
    lines = [
        "# Subliminal transfer: reproduction report",
        "",
        "Generated by `subliminal-gym reproduce` from the per-episode audits in `cells/`; every number below is "
        "recomputed from them. Rates are % of probe episodes, pooled over seeds, with 95 % Wilson intervals. An "
        "*effect* is the student distilled from the biased teacher minus the student distilled the same way "
        "from the control teacher (same initialisation, same tasks, same randomness), paired episode by episode "
        "(Newcombe interval, exact McNemar test); the column *across seeds* is the mean per-seed difference "
        "with a t interval over seeds, which also counts training variability. *transfers* means p < 0.05 "
        "and an interval above zero.",
        "",
        "## Setup",
        "",
        *_config_lines(config),
        "- Library versions: " + ", ".join(f"{k} {v}" for k, v in sorted(versions.items())) + ".",
        "",
        "![bias rates](figure.png)",
        "",
    ]
    for setting in config.settings:
        titles: dict[tuple[str, ...], str] = {("vector",): "distiller: BC",
                                               ("lm",): "language models, next-token fine-tuning"}
        title = titles.get(tuple(config.tracks), "vector rows: BC; LM rows: language models, next-token fine-tuning")
        lines += [f"## {SETTINGS[setting].title}", "", f"### Transfer (the paper's table; {title})", "",
                  transfer_table(results, setting), ""]
        if VectorTrack.name in config.tracks:
            lines += ["### How vulnerable is each distiller? (homogeneous large → large)", "",
                      methods_table(results, setting), ""]
        lines += ["### Competence (can the models do the tasks?)", "", competence_table(results, setting), "",
                  "### Teachers", "", teachers_table(results, setting), "",
                  "### Sanitisation and leakage (paper: about 15 % dropped)", "", sanitize_table(results, setting),
                  "", "Habit verbs and alternatives are shares of the kept actions. Students distil from the "
                  "read-only channel unless the row says otherwise; "
                  + ("the biased and the control teacher's kept data are subsampled to one size before "
                     "distilling." if all(results.config.budget(t).equalize for t in results.config.tracks)
                     else "kept datasets are not equalised in size."), ""]
        if any(c.name == "scripted" for c in config.active_conditions(setting)):
            row = _condition_row(results, setting, condition_by_name("scripted"))
            found = ("showed nothing, as it should" if row.biased.verdict == "no evidence"
                     else f"showed an effect ({row.biased.verdict}): investigate before trusting the other rows")
            lines += [f"**Negative control.** Distilling from the scripted expert (no weights shared with any "
                      f"student, identical behaviour on safe tasks whatever its bias) {found}: "
                      f"{_pp(row.biased.difference)} pp [{_pp(row.biased.low)}, {_pp(row.biased.high)}], "
                      f"p = {row.biased.p_value:.3g}.", ""]
    return "\n".join(lines).rstrip() + "\n"


def write_report(out: str | Path, config: ReproduceConfig) -> list[Path]:
    """Write ``results.csv``, ``REPORT.md`` and ``figure.{png,svg}`` into ``out``; returns their paths.

    Raises:
        ArtifactError: a cell the report needs has not finished or its files are malformed.
    """
    out = Path(out)
    results = load_results(out, config)
    csv_text = results_csv(results)
    report = render_report(results)
    write_text(out / "results.csv", csv_text)
    figures = _figure(results, out)
    write_text(out / "REPORT.md", report)
    return [out / "results.csv", out / "REPORT.md", *(out / name for name in figures)]

