"""The figures of a reproduction run: habit rates and seed-level effects; the sensitivity sweep.

Pure functions of the run's results (matplotlib, Agg backend, stable SVG ids and no timestamps, so
the same cells give the same files). Effects are drawn with their seed-level 95 % t interval and
coloured *transfers* only where the seed-level, Holm-corrected test says so.
"""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import numpy as np

from subliminal_gym.baselines.artifacts import atomic_path, write_text
from subliminal_gym.baselines.reproduce.conditions import SWEEP_LABELS
from subliminal_gym.baselines.reproduce.results import GridResults, Row, condition_rows, sweep_points, tracks
from subliminal_gym.settings import SETTINGS

__all__ = ["FIGURE", "SWEEP_FIGURE", "write_figures"]

FIGURE = "figure"
SWEEP_FIGURE = "sweep"
_VERDICT_COLOURS = {"transfers": "#2ca02c", "reversed": "#9467bd"}


def _pyplot() -> Any:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    matplotlib.rcParams["svg.hashsalt"] = "subliminal_gym"  # stable ids in the SVG
    return plt


def _seed_errorbar(ax: Any, x: float, row: Row, **style: Any) -> None:
    s = row.effect.seed
    colour = _VERDICT_COLOURS.get(s.verdict, "#7f7f7f")
    if s.low is None or s.high is None:
        ax.plot([x], [100 * s.mean], marker="o", fillstyle="none", color=colour, **style)
        return
    ax.errorbar([x], [100 * s.mean], yerr=[[100 * (s.mean - s.low)], [100 * (s.high - s.mean)]], fmt="o",
                color=colour, capsize=3, markersize=5, **style)


def _rows(results: GridResults, setting: str) -> tuple[list[str], list[Row]]:
    names, rows = [], []
    for track in tracks(results, setting):
        for kinds in (("main",), ("transfer", "sanity"), ("method",)):
            chosen = track.of_kind(*kinds)
            rows += condition_rows(results, setting, [(c, track.prefix) for c in chosen])
            names += [track.prefix + c.name for c in chosen]
    return names, rows


def _main_figure(results: GridResults) -> Any:
    plt = _pyplot()
    settings = list(results.config.settings)
    fig, axes = plt.subplots(len(settings), 2, figsize=(15, 4.4 * len(settings)), squeeze=False,
                             gridspec_kw={"width_ratios": (3, 2)})
    series = (("θ0 (student's start)", "#7f7f7f", "o"), ("treatment teacher", "#d62728", "s"),
              ("student ← treatment", "#ff7f0e", "D"), ("student ← control", "#1f77b4", "^"))
    for (ax, effect_ax), setting in zip(axes, settings, strict=True):
        names, rows = _rows(results, setting)
        x = np.arange(len(rows))
        top = 0.0
        for offset, (index, (name, colour, marker)) in zip((-0.27, -0.09, 0.09, 0.27), enumerate(series),
                                                           strict=True):
            rates = [(r.base, r.teacher, r.biased, r.control)[index] for r in rows]
            xs = [xi + offset for xi, rate in zip(x, rates, strict=True) if rate is not None and rate.trials]
            kept = [rate for rate in rates if rate is not None and rate.trials]
            values = np.array([100 * r.value for r in kept])
            errors = np.clip([[100 * (r.value - r.low) for r in kept], [100 * (r.high - r.value) for r in kept]],
                             0.0, None)
            ax.errorbar(xs, values, yerr=errors, fmt=marker, color=colour, label=name, capsize=3, markersize=5)
            if name != "treatment teacher" and kept:  # teachers sit near 100 %: they would squeeze the students
                top = max(top, max(100 * r.high for r in kept))
        ax.set_xticks(x)
        ax.set_xticklabels(names, rotation=30, ha="right", fontsize=8)
        ax.set_ylim(-1, min(103.0, max(10.0, 1.15 * top)))
        ax.set_ylabel(f"{SETTINGS[setting].primary_metric} (%)")
        ax.set_title(f"{SETTINGS[setting].title}\nrates pooled over seeds, 95 % Wilson intervals (teachers off the "
                     "scale are clipped)", fontsize=9)
        ax.grid(axis="y", alpha=0.3)
        effect_ax.axhline(0.0, color="black", linewidth=0.8)
        for xi, row in zip(x, rows, strict=True):
            _seed_errorbar(effect_ax, float(xi), row)
        effect_ax.set_xticks(x)
        effect_ax.set_xticklabels(names, rotation=30, ha="right", fontsize=8)
        effect_ax.set_ylabel("effect: student ← treatment minus ← control (pp)")
        effect_ax.set_title("mean per-seed effect, 95 % t interval over seeds\n(green: transfers after Holm; "
                            "purple: reversed; open: fewer than 3 seeds)", fontsize=9)
        effect_ax.grid(axis="y", alpha=0.3)
    handles, labels = axes[0, 0].get_legend_handles_labels()
    fig.legend(handles, labels, fontsize=8, ncol=4, loc="lower center")
    fig.tight_layout(rect=(0, 0.04, 1, 1))
    return fig


def _sweep_figure(results: GridResults) -> Any:
    from matplotlib.ticker import NullFormatter

    plt = _pyplot()
    settings = list(results.config.settings)
    knobs = list(SWEEP_LABELS)
    fig, axes = plt.subplots(len(settings), len(knobs), figsize=(3.4 * len(knobs), 3.4 * len(settings)),
                             squeeze=False)
    for row_axes, setting in zip(axes, settings, strict=True):
        points = sweep_points(results, setting, tracks(results, setting)[0])
        for ax, knob in zip(row_axes, knobs, strict=True):
            chosen = [(value, row, null) for k, value, row, null in points if k == knob]
            logarithmic = knob in ("epochs", "data")
            span = (max(v for v, _, _ in chosen) - min(v for v, _, _ in chosen)) if chosen else 0.0
            for value, row, null in chosen:
                _seed_errorbar(ax, value, row)
                if null is not None:  # beside its point, not on it
                    _seed_errorbar(ax, value * 1.08 if logarithmic else value + 0.03 * (span or 1.0), null, alpha=0.35)
            ax.axhline(0.0, color="black", linewidth=0.8)
            if logarithmic:
                ax.set_xscale("log")
                ax.xaxis.set_minor_formatter(NullFormatter())
            ax.set_xticks([v for v, _, _ in chosen])
            ax.set_xticklabels([f"{v:g}" for v, _, _ in chosen], fontsize=8)
            ax.set_xlabel(SWEEP_LABELS[knob], fontsize=8)
            ax.set_title(SETTINGS[setting].name, fontsize=9)
            ax.grid(axis="y", alpha=0.3)
        row_axes[0].set_ylabel("effect (pp); faint: its null")
    fig.tight_layout()
    return fig


def _save(fig: Any, directory: Path, name: str) -> list[Path]:
    plt = _pyplot()
    paths = []
    for extension, metadata in (("png", {"Software": None}), ("svg", {"Date": None, "Creator": None})):
        path = directory / f"{name}.{extension}"
        if extension == "png":
            image = io.BytesIO()
            fig.savefig(image, format=extension, dpi=110, metadata=metadata)
            with atomic_path(path) as temporary:
                temporary.write_bytes(image.getvalue())
        else:
            text = io.StringIO()
            fig.savefig(text, format=extension, dpi=110, metadata=metadata)
            write_text(path, text.getvalue())
        paths.append(path)
    plt.close(fig)
    return paths


def write_figures(results: GridResults, directory: Path) -> list[Path]:
    """``figure.{png,svg}``, and ``sweep.{png,svg}`` when the run holds sweep points; returns their paths."""
    paths = _save(_main_figure(results), directory, FIGURE)
    if results.config.runs_sweep():
        paths += _save(_sweep_figure(results), directory, SWEEP_FIGURE)
    return paths
