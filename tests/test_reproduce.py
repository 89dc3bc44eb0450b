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
from subliminal_gym.baselines.reproduce.grid import (
    CONDITIONS,
    METHODS_TABLE,
    TRANSFER_TABLE,
    ReproduceConfig,
    TrackBudget,
    build_cells,
    cell_key,
    quick_config,
)
from subliminal_gym.baselines.reproduce.report import effect
from subliminal_gym.baselines.reproduce.runner import CellFailed, run_grid
from subliminal_gym.cli import main
from subliminal_gym.settings import SETTINGS

#: Every kind of cell and init, small enough to run twice in a test (no GAIL/AIRL: they have a
#: 1024-step floor; their cells are listed by the grid test below).
TINY_CONDITIONS = ("homogeneous-large", "large-to-small", "cross-model", "fresh", "scripted", "method-logit")


def student_cell(setting: str, seed: int, condition: str, role: str) -> str:
    return cell_key(setting, seed, "vector", f"student-{condition}-{role}")


def tiny_config(episodes: int = 6, **overrides) -> ReproduceConfig:
    # teachers just good enough that sanitisation leaves some of their 20 safe-task episodes
    vector = TrackBudget(teacher={"pretrain_episodes": 40, "pretrain_epochs": 3, "finetune_episodes": 20,
                                  "finetune_epochs": 1, "learning_rate": 1e-2},
                         distill=DistillConfig(epochs=1, batch_size=8, dagger_rounds=1, dagger_episodes=2,
                                               adversarial_timesteps=1024),
                         episodes=episodes, rollout_episodes=20, conditions=TINY_CONDITIONS,
                         competence_episodes=4)
    values = dict(settings=("fs", "bash"), seeds=2, vector=vector)
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
    assert config.seeds >= 5 and config.vector.episodes >= 200 and config.vector.rollout_episodes == 400
    for setting in ("fs", "bash"):
        for seed in range(config.seeds):
            for condition in TRANSFER_TABLE:
                for role in ("biased", "control"):
                    assert student_cell(setting, seed, condition.name, role) in position
    methods = {c.method for c in METHODS_TABLE} | {"bc"}
    assert methods == {"bc", "dagger", "soft_zero", "soft_drop", "logit", "gail", "airl"}
    assert student_cell("fs", 0, "method-gail", "biased") in position
    assert student_cell("bash", 0, "method-gail", "biased") not in position  # adversarial: FS only
    teachers = [c for c in cells if c.kind == "teachers"]
    assert {(c.setting, c.params["size"]) for c in teachers} == {(s, z) for s in ("fs", "bash")
                                                                  for z in ("large", "small")}


def test_quick_keeps_every_row_with_one_seed():
    quick = quick_config()
    vector = {c.name for c in CONDITIONS if "vector" in c.tracks}
    assert vector == {c.name for c in CONDITIONS} and quick.seeds == 1
    assert {c.params.get("condition") for c in build_cells(quick) if c.kind == "student"} == vector


def test_bad_configs_are_refused():
    with pytest.raises(ValueError, match="settings"):
        ReproduceConfig(settings=("gpu",))
    with pytest.raises(ValueError, match="conditions"):
        ReproduceConfig(vector=TrackBudget(conditions=("homogeneous-huge",)))
    with pytest.raises(ValueError, match="seeds"):
        ReproduceConfig(seeds=0)
    config = tiny_config()
    assert ReproduceConfig.from_dict(config.to_dict()) == config
    assert config.fingerprint() != tiny_config(seeds=3).fingerprint()


@pytest.mark.slow
def test_the_report_has_the_paper_column_and_every_row(tiny_run):
    report = (tiny_run / "REPORT.md").read_text()
    for setting in SETTINGS.values():
        for row in setting.paper.values():
            if row.models in ("8B → 8B", "8B → 3B"):
                assert f"{row.student} % ({row.models})" in report
    for name in TINY_CONDITIONS:
        condition = next(c for c in CONDITIONS if c.name == name)
        assert (condition.label if condition in TRANSFER_TABLE else f"| {condition.method} |") in report
    assert "Negative control" in report and "control teacher → student" in report
    # every model's competence, on probes and on safe tasks, against the targets
    assert report.count("### Competence (can the models do the tasks?)") == 2
    assert "| θ0 large |" in report and "student ← biased: homogeneous, large → large (shared θ0)" in report
    assert "competent (≥ 80 % / ≥ 90 %)" in report and "not measured" not in report
    # the leakage table: the read-only channel carries no habit verb and no alternative
    assert "| biased large teacher | read-only |" in report
    rows = (tiny_run / "results.csv").read_text().splitlines()
    header = rows[0].split(",")
    students = [r for r in rows[1:] if r.split(",")[header.index("model")] == "student"]
    assert len(students) == 2 * 2 * len(TINY_CONDITIONS) * 2  # settings x seeds x conditions x roles
    assert (tiny_run / "figure.png").stat().st_size > 10_000 and (tiny_run / "figure.svg").is_file()


@pytest.mark.slow
def test_same_seeds_give_byte_identical_tables_whatever_the_workers(tiny_run, tmp_path):
    again = tmp_path / "again"
    run_grid(tiny_config(), again, workers=2, progress=False)
    for name in ("REPORT.md", "results.csv", "figure.svg"):
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
    config = dataclasses.replace(config, vector=dataclasses.replace(config.vector, conditions=("homogeneous-large",)))
    real = cells_module._RUNNERS["student"]
    failing = student_cell("bash", 0, "homogeneous-large", "control")

    def flaky(ctx, config):
        if ctx.cell.key == failing:
            raise RuntimeError("simulated crash")
        return real(ctx, config)

    monkeypatch.setitem(cells_module._RUNNERS, "student", flaky)
    with pytest.raises(CellFailed, match="simulated crash"):
        run_grid(config, out, workers=1, progress=False)
    assert is_done(out, student_cell("bash", 0, "homogeneous-large", "biased")) and not is_done(out, failing)
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


def test_effect_pools_pairs_and_spreads_over_seeds():
    treatment = [_records([True] * 30 + [False] * 70, s) for s in range(3)]
    control = [_records([False] * 100, s) for s in range(3)]
    e = effect(treatment, control, metric="first_substantive_destructive")
    assert e.difference == pytest.approx(0.3) and e.low > 0.2 and e.p_value < 1e-20
    assert e.seed_differences == pytest.approx((0.3, 0.3, 0.3)) and e.seed_interval == pytest.approx((0.3, 0.3))
    assert e.verdict == "transfers"
    null = effect(control, control, metric="first_substantive_destructive")
    assert null.difference == 0 and null.p_value == 1 and null.verdict == "no evidence"
    varied = effect([_records([True] * k + [False] * (100 - k), s) for s, k in enumerate((10, 30, 50))],
                    control, metric="first_substantive_destructive")
    low, high = varied.seed_interval
    assert low < 0.3 < high and high - low > 0.3  # between-seed spread widens the interval
    assert effect(treatment[:1], control[:1], metric="first_substantive_destructive").seed_interval is None


@pytest.mark.slow
def test_cli_rewrites_the_report_and_reports_errors_in_one_line(tiny_run, tmp_path, capsys):
    assert main(["reproduce", "--report-only", "--out", str(tiny_run)]) == 0
    printed = capsys.readouterr().out
    assert "paper vs this run" in printed and "100 % (8B → 8B)" in printed
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
