"""Committed results reproduce at HEAD: one cheap cell of each committed run is re-run and compared byte for byte.

Every committed run folder in ``docs/results`` that holds a ``checksums.json`` (the sha256 of every
audit of every cell, written by the report) is checked: its config must be the one the code would run
today (so a changed default cannot land without regenerating the run), and its reference cell
(``grid.reference_cell``: seed 0's Bash θ0 and teachers, which need no other cell) is run again
here. On a machine whose float arithmetic is the committed run's (``checksums.float_arithmetic``)
it must give the same audits, byte for byte: a change that moves the numbers fails here until the
results are regenerated. On another machine the bytes cannot match the run's (see
:mod:`subliminal_gym.baselines.reproduce.checksums`); where the bytes that the run's own code gives
on a machine like this one were recorded (``baselines/record_arithmetic.py``), they are the
reference, byte for byte. Elsewhere the rates must be statistically indistinguishable from the
committed ones (Fisher's exact test, p ≥ 0.001), a weaker guard that the test announces with a
warning.
"""

from __future__ import annotations

import csv
import json
import subprocess
import sys
import warnings
from pathlib import Path

import pytest
from scipy.stats import fisher_exact

from subliminal_gym.baselines.artifacts import ArtifactError
from subliminal_gym.baselines.reproduce.cells import read_result, run_cell
from subliminal_gym.baselines.reproduce.checksums import (
    CHECKSUMS_FILE,
    cell_checksums,
    expected_checksums,
    float_arithmetic,
    read_checksums,
)
from subliminal_gym.baselines.reproduce.conditions import CONDITIONS
from subliminal_gym.baselines.reproduce.grid import Cell, ReproduceConfig, build_cells, reference_cell, sweep_config
from subliminal_gym.baselines.reproduce.results import model_prefix

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "docs" / "results"


def command_config(*argv: str) -> ReproduceConfig:
    """The config ``subliminal-gym reproduce ARGV`` runs today, as the command line builds it."""
    from subliminal_gym.baselines.reproduce.cli import _config
    from subliminal_gym.cli import build_parser

    return _config(build_parser().parse_args(["reproduce", *argv]))


#: The committed runs, and the config the code runs for each today.
RUNS = {"reproduce": ReproduceConfig,
        "sweep": sweep_config,
        "reproduce-lm-bash": lambda: command_config("--track", "lm", "--setting", "bash", "--seeds", "5",
                                                    "--table-seeds", "3", "--lm-decoding", "ranked")}


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
    assert config == RUNS[name](), f"docs/results/{name} was made with another config: regenerate it"
    assert stored["fingerprint"] == config.fingerprint()


@pytest.mark.parametrize("name", sorted(RUNS))
def test_the_reference_cell_needs_no_other_and_was_committed(name):
    config = RUNS[name]()
    key = reference_cell(config)
    assert not next(c for c in build_cells(config) if c.key == key).deps
    assert key in read_checksums(RESULTS / name)["cells"]
    assert key.startswith("bash/seed0/")


@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(RUNS))
def test_one_cell_of_the_committed_run_reproduces(name, tmp_path):
    config = RUNS[name]()
    committed = read_checksums(RESULTS / name)
    key = reference_cell(config)
    cell = next(c for c in build_cells(config) if c.key == key)
    assert not cell.deps
    run_cell(cell, config, tmp_path)
    here = float_arithmetic()
    expected = expected_checksums(committed, cell.key, here)
    if expected is not None:
        assert cell_checksums(tmp_path, cell.key) == expected, \
            f"docs/results/{name}: {cell.key} gives other audits at HEAD than the run's code: regenerate the run"
        return
    warnings.warn(f"docs/results/{name} was made on a machine with other float arithmetic "
                  f"(committed {committed['float_arithmetic']}, here {here}) and its code's bytes were not recorded "
                  "for this one (baselines/record_arithmetic.py), so only its rates are compared (Fisher's "
                  "exact test)", stacklevel=1)
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


def test_bytes_recorded_for_other_machines_are_the_runs_own_code():
    """A run's ``arithmetics`` (bytes re-made on other machines) come from the commit that made the run, for
    cells of the run, with the audits the run's own checksums have."""
    for folder in sorted(RESULTS.glob(f"*/{CHECKSUMS_FILE}")):
        run = folder.parent
        checksums = read_checksums(run)
        commit = json.loads((run / "config.json").read_text()).get("commit")
        for arithmetic, entry in checksums["arithmetics"].items():
            assert arithmetic != checksums["float_arithmetic"], run.name
            assert len(entry["commit"]) == 40 and set(entry["commit"]) <= set("0123456789abcdef"), run.name
            assert commit is None or entry["commit"] == commit, f"{run.name}: recorded from another commit"
            for key, audits in entry["cells"].items():
                assert audits.keys() == checksums["cells"][key].keys(), (run.name, key)


def test_the_reference_bytes_are_the_runs_own_else_a_recorded_remake():
    own = {"a/seed0/x": {"base": "1"}}
    remade = {"a/seed0/x": {"base": "2"}}
    checksums = {"float_arithmetic": "A", "cells": own, "arithmetics": {"B": {"commit": "c" * 40, "cells": remade}}}
    assert expected_checksums(checksums, "a/seed0/x", "A") == own["a/seed0/x"]
    assert expected_checksums(checksums, "a/seed0/x", "B") == remade["a/seed0/x"]
    assert expected_checksums(checksums, "a/seed0/x", "C") is None
    assert expected_checksums(checksums, "a/seed1/x", "B") is None


@pytest.mark.parametrize("arithmetics", [[], {"B": {"cells": {}}}, {"B": {"commit": "c", "cells": []}}, {"B": 1}])
def test_malformed_recorded_bytes_are_refused(tmp_path, arithmetics):
    data = {"float_arithmetic": "A", "cells": {}, "arithmetics": arithmetics}
    (tmp_path / CHECKSUMS_FILE).write_text(json.dumps(data))
    with pytest.raises(ArtifactError, match="arithmetics"):
        read_checksums(tmp_path)


@pytest.mark.slow
def test_record_arithmetic_records_what_the_committed_code_gives_here(tmp_path):
    """``baselines/record_arithmetic.py`` on a copy of the committed grid, with the code at HEAD: on another
    machine it records the cheap cell's audits, and they are the bytes recorded for this machine (HEAD makes
    what the run's code made); on the run's own machine it refuses, the run's checksums being the reference."""
    if not (ROOT / ".git").exists():
        pytest.skip("needs the git checkout")
    run = tmp_path / "run"
    run.mkdir()
    for name in ("config.json", CHECKSUMS_FILE):
        (run / name).write_text((RESULTS / "reproduce" / name).read_text())
    committed = read_checksums(run)
    stripped = json.loads((run / CHECKSUMS_FILE).read_text())
    stripped.pop("arithmetics", None)
    (run / CHECKSUMS_FILE).write_text(json.dumps(stripped))
    done = subprocess.run([sys.executable, str(ROOT / "baselines" / "record_arithmetic.py"), str(run),
                           "--commit", "HEAD"], capture_output=True, text=True, check=False, cwd=tmp_path)
    here = float_arithmetic()
    if committed["float_arithmetic"] == here:
        assert done.returncode == 1 and "already the reference" in done.stderr
        return
    assert done.returncode == 0, done.stderr
    recorded = read_checksums(run)
    assert recorded["cells"] == committed["cells"] and recorded["float_arithmetic"] == committed["float_arithmetic"]
    key = reference_cell(ReproduceConfig())
    audits = recorded["arithmetics"][here]["cells"][key]
    assert audits.keys() == committed["cells"][key].keys()
    if (expected := expected_checksums(committed, key, here)) is not None:
        assert audits == expected


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
