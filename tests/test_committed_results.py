"""Committed results reproduce at HEAD: one cheap cell of each committed run is re-run and compared byte for byte.

Every committed run folder in ``docs/results`` that holds a ``checksums.json`` (the sha256 of every
audit of every cell, written by the report) is checked: its config must be the one the code would run
today (so a changed default cannot land without regenerating the run), and the cheapest cell without
inputs (the Bash θ0 and teachers of seed 0) is run again here and must give the same audits, byte
for byte. A change that moves the numbers fails here until the results are regenerated.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from subliminal_gym.baselines.reproduce.cells import run_cell
from subliminal_gym.baselines.reproduce.grid import ReproduceConfig, build_cells, sweep_config
from subliminal_gym.baselines.reproduce.report import CHECKSUMS_FILE, cell_checksums

RESULTS = Path(__file__).resolve().parents[1] / "docs" / "results"
#: The committed runs and the config the code runs for each today.
RUNS = {"sweep": sweep_config}
CHEAP_CELL = "bash/seed0/teachers-large"


def test_every_committed_run_with_checksums_is_checked():
    checked = {path.parent.name for path in RESULTS.glob(f"*/{CHECKSUMS_FILE}")}
    assert checked and checked <= set(RUNS)


@pytest.mark.parametrize("name", sorted(RUNS))
def test_the_committed_config_is_todays(name):
    stored = json.loads((RESULTS / name / "config.json").read_text())
    config = ReproduceConfig.from_dict(stored["config"])
    assert config == RUNS[name](), f"docs/results/{name} was made with another config: regenerate it"
    assert stored["fingerprint"] == config.fingerprint()


@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(RUNS))
def test_one_cell_of_the_committed_run_reproduces_byte_for_byte(name, tmp_path):
    config = RUNS[name]()
    committed = json.loads((RESULTS / name / CHECKSUMS_FILE).read_text())
    cell = next(c for c in build_cells(config) if c.key == CHEAP_CELL)
    assert not cell.deps
    run_cell(cell, config, tmp_path)
    assert cell_checksums(tmp_path, cell.key) == committed[cell.key]


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
