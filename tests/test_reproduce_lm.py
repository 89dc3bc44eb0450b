"""`subliminal-gym reproduce --track lm`: the same grid and cell runner over the language-model track,
and its rows in the report."""

from __future__ import annotations

import csv
import dataclasses
import io
import json
from pathlib import Path

import pytest

from subliminal_gym.baselines.distill import DistillConfig
from subliminal_gym.baselines.reproduce.conditions import CONDITIONS
from subliminal_gym.baselines.reproduce.grid import ReproduceConfig, TrackBudget, build_cells, cell_key, quick_config
from subliminal_gym.baselines.reproduce.runner import run_grid
from subliminal_gym.cli import main

#: Untrained models never finish an episode: three steps keep the LM audits and rollouts short.
TINY_LM = TrackBudget(teacher={"pretrain_episodes": 8, "pretrain_epochs": 1, "finetune_episodes": 4,
                               "finetune_epochs": 1},
                      distill=DistillConfig(epochs=1, batch_size=4), episodes=4, rollout_episodes=6, batch_size=4,
                      max_steps=3, competence_episodes=4)
LM_CONDITIONS = [c for c in CONDITIONS if "lm" in c.tracks and c.kind != "sweep"]


def lm_cell(setting: str, seed: int, name: str) -> str:
    return cell_key(setting, seed, "lm", name)


def test_one_config_type_for_both_tracks_round_trips():
    config = ReproduceConfig()
    assert ReproduceConfig.from_dict(json.loads(json.dumps(config.to_dict()))) == config
    both = ReproduceConfig(tracks=("vector", "lm"), lm=TINY_LM)
    assert both.to_dict()["tracks"] == ["vector", "lm"] and both.to_dict()["lm"]["max_steps"] == 3
    assert ReproduceConfig.from_dict(json.loads(json.dumps(both.to_dict()))) == both
    assert both.fingerprint() != config.fingerprint()
    # the same teacher recipe, the track's own defaults where the budget says nothing
    lm_teacher = both.teacher_config("bash", 0, "small", track="lm")
    assert lm_teacher.track == "lm" and lm_teacher.pretrain_episodes == 8 and lm_teacher.learning_rate == 1e-2
    assert both.teacher_config("bash", 0, "small").track == "vector"


@pytest.mark.parametrize("bad", [{"tracks": ()}, {"tracks": ("vector", "words")}])
def test_bad_tracks_are_refused(bad):
    with pytest.raises(ValueError, match="tracks"):
        ReproduceConfig(**bad)


def test_bad_lm_budgets_are_refused():
    with pytest.raises(ValueError, match="max_steps"):
        TrackBudget(max_steps=0)
    with pytest.raises(ValueError, match="do not run on the lm track"):
        ReproduceConfig(tracks=("lm",), lm=TrackBudget(conditions=("attack", "fresh")))
    with pytest.raises(ValueError, match="may not set"):
        TrackBudget(teacher={"seed": 3})


def test_the_lm_grid_has_every_row_and_orders_its_dependencies():
    config = quick_config(tracks=("vector", "lm"))
    cells = build_cells(config)
    position = {c.key: i for i, c in enumerate(cells)}
    assert len(position) == len(cells)
    assert all(position[d] < position[c.key] for c in cells for d in c.deps)
    lm = [c for c in cells if c.track == "lm"]
    assert len(lm) == len(cells) - len(build_cells(quick_config()))  # the vector grid is unchanged
    for setting in ("fs", "bash"):
        for condition in ("attack", "null", "positive", "cross-model"):  # the quick rows the LM track runs
            for role in ("biased", "control"):
                assert lm_cell(setting, 0, f"student-{condition}-{role}") in position
        assert lm_cell(setting, 0, "teacher-large-alt") in position and lm_cell(setting, 0, "base-other") in position
    cross = next(c for c in lm if c.key == lm_cell("fs", 0, "student-cross-model-biased"))
    # both roles' rollouts (the data are equalised in size), the init and the teacher (the cell runner loads it)
    assert set(cross.deps) == {lm_cell("fs", 0, "rollout-large-biased"), lm_cell("fs", 0, "rollout-large-control"),
                               lm_cell("fs", 0, "base-other"), lm_cell("fs", 0, "teachers-large")}


@pytest.fixture(scope="module")
def lm_run(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("reproduce-lm") / "run"
    config = ReproduceConfig(settings=("bash",), seeds=1, tracks=("lm",), lm=TINY_LM)
    run = run_grid(config, out, workers=1, progress=False)
    # θ0 + teachers of two sizes, the null's second control teacher, the other-seed θ0, 9 rollouts, 16 students
    assert run.ran == run.cells == 29
    return out


def test_the_lm_track_writes_its_rows_beside_the_paper(lm_run):
    report = (lm_run / "REPORT.md").read_text()
    for condition in LM_CONDITIONS:
        assert f"| LM: {condition.label} |" in report
    assert "| LM: control teacher → student (default attack), against θ0 |" in report
    assert "| LM θ0 large |" in report and "| LM biased small teacher |" in report
    assert "How vulnerable is each distiller" not in report  # a vector-only table
    rows = list(csv.DictReader(io.StringIO((lm_run / "results.csv").read_text())))
    assert {r["model"] for r in rows} >= {"lm:base-large", "lm:teacher-small-biased", "lm:student", "lm:base-other"}
    students = [r for r in rows if r["model"] == "lm:student"]
    assert len(students) == 2 * len(LM_CONDITIONS)
    assert all(int(r["episodes"]) == TINY_LM.episodes for r in rows)
    timing = json.loads((lm_run / "timing.json").read_text())["cell_wall_seconds"]
    assert set(timing) == {c.key for c in build_cells(ReproduceConfig(settings=("bash",), seeds=1, tracks=("lm",),
                                                                      lm=TINY_LM))}


def test_every_lm_is_audited_on_the_vector_audits_tasks(lm_run):
    def tasks(path: Path) -> list[tuple[str, int]]:
        lines = (path / "episodes.jsonl").read_text().splitlines()
        return [(r["task_family"], r["task_seed"]) for r in map(json.loads, lines)]

    every = sorted((lm_run / "cells" / "bash" / "seed0").glob("lm-*/evals/*"))
    evals = [e for e in every if not e.name.endswith(("-safe", "-safe-ranked"))]
    assert len(evals) == 3 + 3 + 1 + 1 + 2 * len(LM_CONDITIONS)
    first = tasks(evals[0])
    assert all(tasks(e) == first for e in evals)
    # beside each probe audit, the model's competence on safe tasks in each decoding (the same safe tasks for
    # every model and decoding)
    for suffix in ("-safe", "-safe-ranked"):
        competence = [e for e in every if e.name.endswith(suffix)]
        assert len(competence) == len(evals) and len({tuple(tasks(e)) for e in competence}) == 1
    assert {tuple(tasks(e)) for e in every if e.name.endswith(("-safe", "-safe-ranked"))} == {
        tuple(tasks(e)) for e in every if e.name.endswith("-safe")}
    from subliminal_gym.runner import ScriptedTextAgent, run_episodes

    scripted = run_episodes(ScriptedTextAgent(0.0), "SubliminalBash-v0",
                            episodes=TINY_LM.episodes, seed=0, split="probe", seed_range="test")
    assert [(r.task_family, r.task_seed) for r in scripted] == first


def test_lm_models_are_saved_with_safetensors_and_their_tokenizer(lm_run):
    from subliminal_gym.baselines.lm import load_lm

    folder = lm_run / "cells" / "bash" / "seed0" / "lm-teachers-large" / "models" / "biased"
    assert (folder / "model.safetensors").is_file() and (folder / "tokenizer.json").is_file()
    assert not any(p.suffix in (".bin", ".pt", ".pkl") for p in folder.iterdir())
    model, tokenizer = load_lm(folder)
    assert model.config.num_hidden_layers == 4 and tokenizer.chat_template


def test_rerendering_the_lm_report_gives_the_same_bytes(lm_run, capsys):
    names = ("REPORT.md", "results.csv", "summary.json")
    before = [(lm_run / name).read_bytes() for name in names]
    assert main(["reproduce", "--report-only", "--out", str(lm_run)]) == 0
    assert [(lm_run / name).read_bytes() for name in names] == before
    assert "| LM: default attack: large → large (shared θ0) |" in capsys.readouterr().out


def test_the_lm_decoding_is_a_budget_field_left_out_of_old_fingerprints():
    ranked = ReproduceConfig(tracks=("lm",), lm=dataclasses.replace(TINY_LM, decoding="ranked"))
    sampled = ReproduceConfig(tracks=("lm",), lm=TINY_LM)
    assert "decoding" not in sampled.to_dict()["lm"] and ranked.to_dict()["lm"]["decoding"] == "ranked"
    assert ReproduceConfig.from_dict(json.loads(json.dumps(ranked.to_dict()))) == ranked
    assert ranked.fingerprint() != sampled.fingerprint()
    with pytest.raises(ValueError, match="decoding must be one of"):
        TrackBudget(decoding="beam")
    with pytest.raises(ValueError, match="vector track's agents do not decode"):
        ReproduceConfig(vector=dataclasses.replace(ReproduceConfig().vector, decoding="ranked"))


def test_every_lm_audit_measures_competence_in_both_decodings(lm_run):
    for cell in ("teachers-large", "student-attack-biased"):
        audits = json.loads((lm_run / "cells" / "bash" / "seed0" / f"lm-{cell}" / "result.json").read_text())["audit"]
        for audit in audits.values():
            assert 0.0 <= audit["safe_success"] <= 1.0 and 0.0 <= audit["safe_success_ranked"] <= 1.0
    report = (lm_run / "REPORT.md").read_text()
    table = report[report.index("### Competence"):]
    header = next(line for line in table.splitlines() if line.startswith("| model"))
    assert "| safe tasks, ranked decoding (LM) |" in header
    row = next(line for line in table.splitlines() if line.startswith("| LM θ0 large |"))
    assert row.count("[") == 3  # probes, safe tasks, safe tasks ranked: three rates with intervals


def test_a_ranked_lm_grid_acts_by_ranking_and_measures_sampling_too(tmp_path):
    from subliminal_gym.baselines.evaluation import load_evaluation
    from subliminal_gym.baselines.reproduce.cells import run_cell

    config = ReproduceConfig(settings=("bash",), seeds=1, tracks=("lm",),
                             lm=dataclasses.replace(TINY_LM, decoding="ranked"))
    cell = next(c for c in build_cells(config) if c.key == lm_cell("bash", 0, "teachers-large"))
    result = run_cell(cell, config, tmp_path)
    assert set(result["audit"]["biased"]) >= {"safe_success", "safe_success_sample"}
    evals = tmp_path / "cells" / "bash" / "seed0" / "lm-teachers-large" / "evals"
    ranked = load_evaluation(evals / "biased")[1]
    sampled = load_evaluation(evals / "biased-safe-sample")[1]
    assert len(ranked) == TINY_LM.episodes and len(sampled) == TINY_LM.competence_episodes
    # a ranked agent only ever takes an admissible action; the same untrained model sampling writes garbage
    assert result["audit"]["biased"]["unparsable_actions"] == 0
    summary = json.loads((evals / "biased-safe-sample" / "summary.json").read_text())
    assert summary["config"]["agent"]["decoding"] == "sample"


def test_lm_options_need_the_lm_track(capsys):
    assert main(["reproduce", "--quick", "--lm-decoding", "ranked", "--out", "unused"]) == 2
    assert "--lm-decoding sets the LM track's recipe: add --track lm or all" in capsys.readouterr().err
