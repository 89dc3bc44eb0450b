"""`subliminal-gym reproduce`: the grid covers every row, runs resume, same seeds give the same tables."""

from __future__ import annotations

import dataclasses
import os
from pathlib import Path

import pytest

from subliminal_gym.baselines.artifacts import ArtifactError
from subliminal_gym.baselines.distill import DistillConfig
from subliminal_gym.baselines.evaluation import EpisodeRecord
from subliminal_gym.baselines.reproduce import cells as cells_module
from subliminal_gym.baselines.reproduce.cells import RESULT_FILE, cell_dir, is_done
from subliminal_gym.baselines.reproduce.conditions import (
    CONDITIONS,
    MAIN_TABLE,
    METHODS_TABLE,
    SWEEP_TABLE,
    TRANSFER_TABLE,
    defence_condition,
)
from subliminal_gym.baselines.reproduce.grid import (
    ReproduceConfig,
    TrackBudget,
    build_cells,
    cell_key,
    quick_config,
    sweep_config,
)
from subliminal_gym.baselines.reproduce.results import effect
from subliminal_gym.baselines.reproduce.runner import CellFailed, run_grid
from subliminal_gym.cli import main
from subliminal_gym.settings import SETTINGS

#: Every kind of cell and init, small enough to run twice in a test (no GAIL/AIRL: they have a
#: 1024-step floor; their cells are listed by the grid test below).
TINY_CONDITIONS = ("attack", "null", "positive", "large-to-small", "cross-model", "fresh", "scripted",
                   "method-logit", "sweep-bias-0.5")


def student_cell(setting: str, seed: int, condition: str, role: str) -> str:
    return cell_key(setting, seed, "vector", f"student-{condition}-{role}")


def tiny_config(episodes: int = 6, **overrides) -> ReproduceConfig:
    # teachers just good enough that sanitisation leaves some of their 20 safe-task episodes
    vector = TrackBudget(teacher={"pretrain_episodes": 40, "pretrain_epochs": 3, "finetune_episodes": 20,
                                  "finetune_epochs": 1, "learning_rate": 1e-2},
                         distill=DistillConfig(epochs=1, batch_size=8, dagger_rounds=1, dagger_episodes=2,
                                               adversarial_timesteps=1024),
                         attack_method="logit", attack_epochs=2,
                         episodes=episodes, rollout_episodes=20, conditions=TINY_CONDITIONS,
                         competence_episodes=4)
    # three seeds for the main rows (the fewest with a seed-level interval), two for the others
    values = dict(settings=("fs", "bash"), seeds=3, table_seeds=2, vector=vector)
    values.update(overrides)
    return ReproduceConfig(**values)


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("reproduce") / "run"
    run = run_grid(tiny_config(), out, workers=1, progress=False)
    assert run.ran == run.cells and run.resumed == 0
    return out


def test_the_default_grid_has_every_row_seed_and_role():
    config = ReproduceConfig()
    cells = build_cells(config)
    keys = [c.key for c in cells]
    assert len(keys) == len(set(keys))
    position = {k: i for i, k in enumerate(keys)}
    assert all(position[d] < position[c.key] for c in cells for d in c.deps)  # dependencies come first
    assert config.seeds >= 10 and config.vector.episodes >= 200 and config.vector.rollout_episodes == 400
    assert config.vector.attack_method == "logit" and config.vector.attack_epochs == 60
    for setting in ("fs", "bash"):
        for seed in range(config.seeds):
            for condition in MAIN_TABLE:  # the attack and both controls on every seed
                for role in ("biased", "control"):
                    assert student_cell(setting, seed, condition.name, role) in position
            for condition in TRANSFER_TABLE:  # the other rows on the first table_seeds
                assert (student_cell(setting, seed, condition.name, "biased") in position) == (seed < 5)
        # the null's second control teacher: its own fine-tune of θ0; the positive control: probe rollouts
        assert cell_key(setting, 9, "vector", "teacher-large-alt") in position
        assert cell_key(setting, 9, "vector", "rollout-large-probe-biased") in position
        assert not any("sweep" in k for k in keys)
    methods = {c.method for c in METHODS_TABLE}
    assert methods == {"bc", "dagger", "soft_zero", "soft_drop", "logit", "gail", "airl"}
    assert student_cell("fs", 0, "method-gail", "biased") in position
    assert student_cell("bash", 0, "method-gail", "biased") not in position  # adversarial: FS only
    teachers = [c for c in cells if c.kind == "teachers"]
    assert {(c.setting, c.params["size"]) for c in teachers} == {(s, z) for s in ("fs", "bash")
                                                                  for z in ("large", "small")}
    summaries = [c.summary for c in CONDITIONS]
    assert len(summaries) == len(set(summaries))
    assert {"attack_default", "large_to_small", "small_to_large", "cross_init", "fresh_init", "overt_channel",
            "positive_control", "null_teacher_vs_teacher", "method_bc", "method_logit"} <= set(summaries)


def test_the_sweep_moves_one_knob_at_a_time_from_the_default_attack():
    config = sweep_config()
    cells = build_cells(config)
    students = {c.params["condition"] for c in cells if c.kind == "student"}
    assert students == {"attack", "null"} | {c.name for c in SWEEP_TABLE}
    assert config.seeds >= 3 and config.tracks == ("vector",)
    keys = {c.key for c in cells}
    # a weaker biased teacher is its own fine-tune of the same θ0; a hotter teacher its own rollouts
    assert cell_key("fs", 0, "vector", "teacher-large-biased25") in keys
    assert cell_key("fs", 0, "vector", "rollout-large-t2-control") in keys
    epochs = next(c for c in SWEEP_TABLE if c.name == "sweep-epochs-5")
    assert epochs.distill_config(config.vector).epochs == 5 and epochs.distill_method(config.vector) == "logit"


def test_quick_keeps_the_instrument_with_one_seed():
    quick = quick_config()
    assert quick.seeds == 1 and len(build_cells(quick)) <= 40  # about 1.5 minutes on two idle cores
    students = {c.params.get("condition") for c in build_cells(quick) if c.kind == "student"}
    assert students == {c.name for c in MAIN_TABLE} | {"cross-model", "scripted"}


def test_bad_configs_are_refused():
    with pytest.raises(ValueError, match="settings"):
        ReproduceConfig(settings=("gpu",))
    with pytest.raises(ValueError, match="conditions"):
        ReproduceConfig(vector=TrackBudget(conditions=("homogeneous-huge",)))
    with pytest.raises(ValueError, match="seeds"):
        ReproduceConfig(seeds=0)
    config = tiny_config()
    assert ReproduceConfig.from_dict(config.to_dict()) == config
    assert config.fingerprint() != tiny_config(seeds=4).fingerprint()
    with pytest.raises(ValueError, match="attack method"):
        ReproduceConfig(vector=TrackBudget(attack_method="sft"))


@pytest.mark.slow
def test_the_report_has_the_paper_column_and_every_row(tiny_run):
    report = (tiny_run / "REPORT.md").read_text()
    for setting in SETTINGS.values():
        for row in setting.paper.values():
            if row.models in ("8B → 8B", "8B → 3B"):
                assert f"{row.student} % ({row.models})" in report
    for name in TINY_CONDITIONS:
        condition = next(c for c in CONDITIONS if c.name == name)
        label = f"| {condition.method} |" if condition in METHODS_TABLE else f"| {condition.label} |"
        assert label in report or condition.kind == "sweep", name
    assert "### The instrument: default attack, null and positive control" in report
    assert "control teacher → student" in report and "sanity check: scripted expert" in report
    # seed-level columns, the null beside every effect, and the rates among episodes that reached the choice
    assert "effect across seeds, pp [95 % t CI] | p (Holm) | seeds | verdict | null: teacher vs teacher" in report
    assert "reached the choice: ← biased / ← control" in report
    assert "too few seeds (< 3)" in report  # the rows on 2 seeds get no interval and no verdict
    # every model's competence, on probes and on safe tasks, against the targets
    assert report.count("### Competence (can the models do the tasks?)") == 2
    assert "| θ0 large |" in report and "student ← biased: default attack: large → large (shared θ0)" in report
    assert "competent (≥ 80 % / ≥ 90 %)" in report and "not measured" not in report
    # the leakage table: the read-only channel carries no habit verb and no alternative
    assert "| biased large teacher | read-only |" in report
    rows = (tiny_run / "results.csv").read_text().splitlines()
    header = rows[0].split(",")
    students = [r for r in rows[1:] if r.split(",")[header.index("model")] == "student"]
    main = sum(c in ("attack", "null", "positive") for c in TINY_CONDITIONS)
    # settings x roles x (3 seeds of the main rows + 2 of the others)
    assert len(students) == 2 * 2 * (3 * main + 2 * (len(TINY_CONDITIONS) - main))
    assert (tiny_run / "figure.png").stat().st_size > 10_000 and (tiny_run / "figure.svg").is_file()
    assert (tiny_run / "sweep.png").is_file()  # the run holds a sweep point


@pytest.mark.slow
def test_same_seeds_give_byte_identical_tables_whatever_the_workers(tiny_run, tmp_path):
    again = tmp_path / "again"
    run_grid(tiny_config(), again, workers=2, progress=False)
    for name in ("REPORT.md", "results.csv", "summary.json", "figure.svg"):
        assert (again / name).read_bytes() == (tiny_run / name).read_bytes(), name
    key = student_cell("fs", 1, "method-logit", "biased")
    assert (cell_dir(again, key) / "evals/student/episodes.jsonl").read_bytes() == \
        (cell_dir(tiny_run, key) / "evals/student/episodes.jsonl").read_bytes()


@pytest.mark.slow
def test_a_run_resumes_from_its_finished_cells(tiny_run, tmp_path):
    out = tmp_path / "resume"
    config = tiny_config(settings=("fs",), seeds=1)
    first = run_grid(config, out, workers=1, progress=False)
    redo = student_cell("fs", 0, "fresh", "control")
    os.remove(cell_dir(out, redo) / RESULT_FILE)
    kept = cell_dir(out, student_cell("fs", 0, "fresh", "biased")) / RESULT_FILE
    before = kept.stat().st_mtime_ns
    report = (out / "REPORT.md").read_bytes()
    second = run_grid(config, out, workers=1, progress=False)
    assert (second.ran, second.resumed, second.cells) == (1, first.cells - 1, first.cells)
    assert kept.stat().st_mtime_ns == before and is_done(out, redo)
    assert (out / "REPORT.md").read_bytes() == report


@pytest.mark.slow
def test_a_failed_cell_keeps_the_others_and_the_run_resumes(tmp_path, monkeypatch):
    out = tmp_path / "failing"
    config = tiny_config(settings=("bash",), seeds=1)
    config = dataclasses.replace(config, vector=dataclasses.replace(config.vector, conditions=("attack",)))
    real = cells_module._RUNNERS["student"]
    failing = student_cell("bash", 0, "attack", "control")

    def flaky(ctx, config):
        if ctx.cell.key == failing:
            raise RuntimeError("simulated crash")
        return real(ctx, config)

    monkeypatch.setitem(cells_module._RUNNERS, "student", flaky)
    with pytest.raises(CellFailed, match="simulated crash"):
        run_grid(config, out, workers=1, progress=False)
    assert is_done(out, student_cell("bash", 0, "attack", "biased")) and not is_done(out, failing)
    assert not (out / "REPORT.md").exists()
    monkeypatch.setitem(cells_module._RUNNERS, "student", real)
    run = run_grid(config, out, workers=1, progress=False)
    assert run.ran == 1 and (out / "REPORT.md").is_file()


@pytest.mark.slow
def test_another_config_on_the_same_folder_is_refused(tiny_run):
    with pytest.raises(ArtifactError, match="different configuration"):
        run_grid(tiny_config(episodes=7), tiny_run, workers=1, progress=False, report=False)


def test_the_report_refuses_missing_cells(tmp_path):
    from subliminal_gym.baselines.reproduce.report import write_report

    with pytest.raises(ArtifactError, match="has not finished"):
        write_report(tmp_path, tiny_config())


def _records(flags: list[bool], seed: int) -> list[EpisodeRecord]:
    return [EpisodeRecord(index=i, task_family="f", task_split="probe", task_seed=1000 * seed + i, success=True,
                          steps=1, episode_return=1.0, audit={"first_substantive_destructive": flag})
            for i, flag in enumerate(flags)]


def test_effect_is_inferred_over_seeds_and_pooled_only_for_description():
    treatment = [_records([True] * k + [False] * (100 - k), s) for s, k in enumerate((28, 30, 32))]
    control = [_records([False] * 100, s) for s in range(3)]
    e = effect(treatment, control, metric="first_substantive_destructive")
    assert e.pooled.difference == pytest.approx(0.3) and e.pooled.p_value < 1e-20
    assert e.seed.differences == pytest.approx((0.28, 0.3, 0.32)) and e.seed.low < 0.3 < e.seed.high
    assert e.verdict == "transfers"
    # three seeds that agree exactly have no spread to test against: the sign-flip p of 3 seeds, 0.25
    same = effect([_records([True] * 30 + [False] * 70, s) for s in range(3)], control,
                  metric="first_substantive_destructive")
    assert same.seed.p_value == pytest.approx(0.25) and same.verdict == "no evidence"
    null = effect(control, control, metric="first_substantive_destructive")
    assert null.seed.mean == 0 and null.seed.p_value == 1 and null.verdict == "no evidence"
    # one seed at +8 and two near 0: 300 pooled episodes look decisive, three training runs do not
    varied = effect([_records([True] * k + [False] * (100 - k), s) for s, k in enumerate((8, 0, 1))],
                    control, metric="first_substantive_destructive")
    assert varied.pooled.p_value < 0.01 and varied.verdict == "no evidence"
    assert varied.seed.low < 0 < varied.seed.high
    assert effect(treatment[:2], control[:2], metric="first_substantive_destructive").verdict.startswith("too few")


@pytest.mark.slow
def test_the_summary_has_the_stable_keys(tiny_run):
    import json

    summary = json.loads((tiny_run / "summary.json").read_text())
    assert set(summary) == {"fs", "bash", "config_fingerprint", "commit"}
    assert summary["config_fingerprint"] == tiny_config().fingerprint()
    keys = {"effect_pp", "ci_low_pp", "ci_high_pp", "p_holm", "seeds", "student_probe_success_pct",
            "student_safe_success_pct", "habit_rate_biased_pct", "habit_rate_control_pct",
            "conditional_rate_biased_pct", "conditional_rate_control_pct", "null_effect_pp"}
    for setting in ("fs", "bash"):
        for name in ("attack_default", "homogeneous_large", "null_teacher_vs_teacher", "positive_control",
                     "large_to_small", "cross_init", "fresh_init", "method_logit"):
            assert keys <= set(summary[setting][name]), (setting, name)
        assert summary[setting]["attack_default"]["seeds"] == 3 and summary[setting]["cross_init"]["seeds"] == 2
        assert summary[setting]["cross_init"]["ci_low_pp"] is None  # two seeds: no interval
        null = summary[setting]["null_teacher_vs_teacher"]
        assert summary[setting]["attack_default"]["null_effect_pp"] == null["effect_pp"]


@pytest.mark.slow
def test_cli_rewrites_the_report_and_reports_errors_in_one_line(tiny_run, tmp_path, capsys):
    assert main(["reproduce", "--report-only", "--out", str(tiny_run)]) == 0
    printed = capsys.readouterr().out
    assert "the default attack, its null and the positive control" in printed and "p (Holm)" in printed
    assert main(["reproduce", "--report-only", "--out", str(tmp_path / "nothing")]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error:") and len(err.strip().splitlines()) == 1
    with pytest.raises(SystemExit) as exit_info:
        main(["reproduce", "--seeds", "0"])
    assert exit_info.value.code == 2


def test_config_dataclass_round_trips_through_json_fields():
    config = quick_config(settings=("fs",))
    data = config.to_dict()
    assert data["settings"] == ["fs"] and isinstance(data["vector"]["distill"], dict)
    assert ReproduceConfig.from_dict(data) == config
    assert dataclasses.replace(config, seeds=2).fingerprint() != config.fingerprint()


def test_a_run_may_start_at_any_seed_and_carry_defences_without_moving_old_fingerprints():
    config = ReproduceConfig(seeds=3, table_seeds=None, first_seed=10_000)
    assert config.seed_list == [10_000, 10_001, 10_002]
    keys = [c.key for c in build_cells(config)]
    assert keys and all("/seed1000" in k for k in keys) and not any("/seed0/" in k for k in keys)
    # a config without defences and starting at 0 serialises as before they existed
    assert "first_seed" not in ReproduceConfig().to_dict() and "defences" not in ReproduceConfig().vector.to_dict()
    defence = defence_condition("slow", method="bc", init="other-seed", epochs=3, settings=("bash",))
    vector = dataclasses.replace(ReproduceConfig().vector, conditions=("attack", defence.name), defences=(defence,))
    carried = ReproduceConfig(settings=("bash",), seeds=3, first_seed=7, vector=vector)
    again = ReproduceConfig.from_dict(carried.to_dict())
    assert again == carried and again.fingerprint() == carried.fingerprint()
    assert carried.condition(defence.name).init == "base-other"
    names = {c.key.rsplit("/", 1)[1] for c in build_cells(carried)}
    assert {"base-other", "student-defence-slow-biased", "student-attack-control"} <= names
    with pytest.raises(ValueError, match="fs setting only"):
        defence_condition("g", method="gail", settings=("fs", "bash"))
    with pytest.raises(ValueError, match="first_seed"):
        ReproduceConfig(first_seed=-1)


def test_a_report_remade_from_the_same_cells_keeps_where_they_were_made(tmp_path, monkeypatch):
    """``checksums.json`` names the arithmetic of the machine that made the cells: re-making the report from
    the same cells (``--report-only``, perhaps elsewhere) keeps it and the bytes recorded for other machines;
    a re-run cell starts afresh with this machine's."""
    import json

    from subliminal_gym.baselines.reproduce import checksums as checksums_module

    monkeypatch.setattr(checksums_module, "float_arithmetic", lambda: "here")
    audit = tmp_path / "cells" / "bash" / "seed0" / "teachers-large" / "evals" / "base" / "episodes.jsonl"
    audit.parent.mkdir(parents=True)
    audit.write_text('{"episode": 0}\n')
    keys = ["bash/seed0/teachers-large", "bash/seed0/rollout-large-biased"]  # the second has no audits yet
    path = checksums_module.write_checksums(tmp_path, keys)
    first = json.loads(path.read_text())
    assert first["float_arithmetic"] == "here" and list(first["cells"]) == keys[:1]
    made_elsewhere = {**first, "float_arithmetic": "there",
                      "arithmetics": {"here": {"commit": "c" * 40, "cells": first["cells"]}}}
    path.write_text(json.dumps(made_elsewhere))
    checksums_module.write_checksums(tmp_path, keys)
    assert json.loads(path.read_text()) == made_elsewhere
    audit.write_text('{"episode": 1}\n')
    checksums_module.write_checksums(tmp_path, keys)
    again = json.loads(path.read_text())
    assert again["float_arithmetic"] == "here" and "arithmetics" not in again
    assert again["cells"] != first["cells"]
