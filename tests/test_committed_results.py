"""Committed results reproduce at HEAD: one cheap cell of each committed run is re-run and compared byte for byte.

Every committed run folder in ``docs/results`` that holds a ``checksums.json`` (the sha256 of every
audit of every cell, written by the report) is checked: its config must be the one the code would run
today (so a changed default cannot land without regenerating the run), and the cheapest cell without
inputs (the Bash θ0 and teachers of seed 0) is run again here. On a machine whose float arithmetic
is the committed run's (``checksums.float_arithmetic``) it must give the same audits, byte for
byte: a change that moves the numbers fails here until the results are regenerated. On another
machine the bytes cannot match (see :mod:`subliminal_gym.baselines.reproduce.checksums`); the rates
must then be statistically indistinguishable from the committed ones (Fisher's exact test, p ≥
0.001), a weaker guard that the test announces with a warning.
"""

from __future__ import annotations

import csv
import json
import warnings
from pathlib import Path

import pytest
from scipy.stats import fisher_exact

from subliminal_gym.baselines.reproduce.cells import read_result, run_cell
from subliminal_gym.baselines.reproduce.checksums import (
    CHECKSUMS_FILE,
    cell_checksums,
    float_arithmetic,
    read_checksums,
)
from subliminal_gym.baselines.reproduce.grid import CONDITIONS, Cell, ReproduceConfig, build_cells, sweep_config
from subliminal_gym.baselines.reproduce.results import model_prefix

RESULTS = Path(__file__).resolve().parents[1] / "docs" / "results"


def command_config(*argv: str) -> ReproduceConfig:
    """The config ``subliminal-gym reproduce ARGV`` runs today, as the command line builds it."""
    from subliminal_gym.baselines.reproduce.cli import _config
    from subliminal_gym.cli import build_parser

    return _config(build_parser().parse_args(["reproduce", *argv]))


#: The committed runs: the config the code runs for each today, and the cheap cell re-run.
RUNS = {"reproduce": (ReproduceConfig, "bash/seed0/teachers-large"),
        "sweep": (sweep_config, "bash/seed0/teachers-large"),
        "reproduce-lm-bash": (lambda: command_config("--track", "lm", "--setting", "bash", "--seeds", "5",
                                                     "--table-seeds", "3", "--lm-decoding", "ranked"),
                              "bash/seed0/lm-teachers-small")}


def cheap_models(cell: Cell) -> dict[str, str]:
    """The audits of a teachers cell, and the model each one is in the report's ``results.csv``."""
    prefix, size = model_prefix(cell.track), cell.params["size"]
    return {"base": f"{prefix}base-{size}", "biased": f"{prefix}teacher-{size}-biased",
            "control": f"{prefix}teacher-{size}-control"}


def test_every_committed_run_with_checksums_is_checked():
    checked = {path.parent.name for path in RESULTS.glob(f"*/{CHECKSUMS_FILE}")}
    assert checked and checked <= set(RUNS)


@pytest.mark.parametrize("name", sorted(RUNS))
def test_the_committed_config_is_todays(name):
    stored = json.loads((RESULTS / name / "config.json").read_text())
    config = ReproduceConfig.from_dict(stored["config"])
    assert config == RUNS[name][0](), f"docs/results/{name} was made with another config: regenerate it"
    assert stored["fingerprint"] == config.fingerprint()


@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(RUNS))
def test_one_cell_of_the_committed_run_reproduces(name, tmp_path):
    make_config, cheap_cell = RUNS[name]
    config = make_config()
    committed = read_checksums(RESULTS / name)
    cell = next(c for c in build_cells(config) if c.key == cheap_cell)
    assert not cell.deps
    run_cell(cell, config, tmp_path)
    if committed["float_arithmetic"] == float_arithmetic():
        assert cell_checksums(tmp_path, cell.key) == committed["cells"][cell.key]
        return
    warnings.warn(f"docs/results/{name} was made on a machine with other float arithmetic "
                  f"(committed {committed['float_arithmetic']}, here {float_arithmetic()}): its bytes cannot be "
                  "reproduced here, so only its rates are compared (Fisher's exact test)", stacklevel=1)
    setting, seed, models = cell.setting, str(cell.seed), cheap_models(cell)
    with (RESULTS / name / "results.csv").open(newline="") as handle:
        rows = {row["model"]: row for row in csv.DictReader(handle)
                if row["setting"] == setting and row["seed"] == seed and row["model"] in models.values()}
    audits = read_result(tmp_path, cell.key)["audit"]
    for audit, model in models.items():
        row, ours = rows[model], audits[audit]
        episodes = int(row["episodes"])
        for what, theirs, mine in (("habit", row["habit_rate"], ours[row["metric"]]),
                                   ("success", row["task_success_rate"], ours["success"])):
            a, b = round(float(theirs) * episodes), round(float(mine) * episodes)
            p = fisher_exact([[a, episodes - a], [b, episodes - b]]).pvalue
            assert p >= 1e-3, f"{model} {what}: {a}/{episodes} committed, {b}/{episodes} now (p = {p:.2g})"


def test_the_docs_quote_the_committed_sweep():
    """Every effect the sweep table of docs/reproduce.md quotes is the committed summary's."""
    summary = json.loads((RESULTS / "sweep" / "summary.json").read_text())
    page = (RESULTS.parent / "reproduce.md").read_text()
    table = page[page.index("**What it found**"):page.index("The effect grows with every dose")]
    for setting in ("fs", "bash"):
        for key, entry in summary[setting].items():
            if key.endswith("_null") or key == "positive_control":
                continue
            assert f"{entry['effect_pp']:+.1f}".replace("-", "−") in table, (setting, key)  # typographic minus
        low, high = summary[setting]["null_teacher_vs_teacher"]["ci_low_pp"], \
            summary[setting]["null_teacher_vs_teacher"]["ci_high_pp"]
        assert f"[{low:+.1f}, {high:+.1f}]".replace("-", "−") in table


def test_the_committed_summary_says_what_the_report_says():
    """Every row of the report's paper table carries the Holm-adjusted p and verdict that ``summary.json``
    gives under its stable key (one Holm family per table, in both)."""
    folder = RESULTS / "reproduce"
    summary = json.loads((folder / "summary.json").read_text())
    keys = {c.label: c.summary for c in CONDITIONS if c.kind in ("transfer", "sanity")}
    sections = (folder / "REPORT.md").read_text().split("### Transfer (the paper's table")[1:]
    assert len(sections) == 2
    for setting, section in zip(("fs", "bash"), sections, strict=True):
        checked = 0
        for line in section.split("\n\n")[1].splitlines()[2:]:
            cells = [c.strip() for c in line.strip("|").split("|")]
            if cells[0] not in keys:
                continue
            entry = summary[setting][keys[cells[0]]]
            assert float(cells[9]) == pytest.approx(entry["p_holm"], rel=5e-3), (setting, cells[0])
            assert cells[11].strip("*") == entry["verdict"], (setting, cells[0])
            checked += 1
        assert checked == len(keys)
