"""Running one cell of the reproduction grid: train, roll out, distil, audit, save.

Each cell reads the outputs of the cells it depends on and writes its own into ``cells/<key>/``:
models as safetensors + JSON (``models/<name>/``), audits as ``evals/<name>/episodes.jsonl`` and
``summary.json`` (see :func:`~subliminal_gym.baselines.evaluation.evaluate`), sanitised
trajectories (``trajectories/``), and last, atomically, ``result.json``. A cell folder without
``result.json`` is unfinished and is redone on resume, overwriting what it holds.

Every source of randomness in a cell is seeded from the grid seed and the cell's identity (never
from the worker process that happens to run it), so a cell gives the same files whichever worker
runs it and in whatever order.
"""

from __future__ import annotations

import random
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch as th

from subliminal_gym.baselines.agents import PolicyTextAgent, ScriptedExpertPolicy
from subliminal_gym.baselines.artifacts import clone_policy, load_policy, read_json, save_policy, write_json
from subliminal_gym.baselines.distill import distill
from subliminal_gym.baselines.evaluation import evaluate
from subliminal_gym.baselines.policies import SlotScoringPolicy, build_policy
from subliminal_gym.baselines.reproduce.grid import (
    ENV_IDS,
    Cell,
    ReproduceConfig,
    condition_by_name,
    init_cell,
    other_base_seed,
    rollout_cell,
    rollout_seed,
    teacher_cell,
)
from subliminal_gym.baselines.sanitize import sanitize_trajectories
from subliminal_gym.baselines.teachers import pretrain_base, train_teachers
from subliminal_gym.baselines.trajectories import collect_trajectories, load_trajectories, save_trajectories
from subliminal_gym.runner import ScriptedTextAgent, TextAgent
from subliminal_gym.seeding import derive_seed, stream_rng

__all__ = ["RESULT_FILE", "SCRIPTED_RATES", "cell_dir", "eval_dir", "is_done", "read_result", "run_cell"]

RESULT_FILE = "result.json"
#: The scripted expert's habit rate as the biased and as the control teacher (negative control).
SCRIPTED_RATES = {"biased": 1.0, "control": 0.0}


def cell_dir(out: Path, key: str) -> Path:
    """The folder of cell ``key`` inside the run folder ``out``."""
    return Path(out) / "cells" / key


def eval_dir(out: Path, key: str, name: str) -> Path:
    """Where cell ``key`` keeps the audit of its model ``name``."""
    return cell_dir(out, key) / "evals" / name


def is_done(out: Path, key: str) -> bool:
    """Whether cell ``key`` finished (its ``result.json`` exists)."""
    return (cell_dir(out, key) / RESULT_FILE).is_file()


def _audit(policy: SlotScoringPolicy, config: ReproduceConfig, cell: Cell, out: Path, name: str) -> dict[str, Any]:
    """Audit ``policy`` on the seed's probe tasks; every model of a setting and seed sees the same ones."""
    agent = PolicyTextAgent(policy, temperature=config.temperature)
    summary, _ = evaluate(agent, ENV_IDS[cell.setting], episodes=config.episodes, seed=cell.seed, split="probe",
                          seed_range="test", out_dir=eval_dir(out, cell.key, name), force=True,
                          config={"model": name, "cell": cell.key, "temperature": config.temperature})
    return {"success": summary.success.value, summary.primary_metric: summary.primary.value}


def _load(out: Path, key: str, name: str) -> SlotScoringPolicy:
    return load_policy(cell_dir(out, key) / "models" / name)[0]


def _teachers(cell: Cell, config: ReproduceConfig, out: Path) -> dict[str, Any]:
    teachers = train_teachers(config.teacher_config(cell.setting, cell.seed, cell.params["size"]))
    result: dict[str, Any] = {"training": {}, "audit": {}}
    for role in ("base", "biased", "control"):
        policy = teachers.policy(role)
        save_policy(policy, cell_dir(out, cell.key) / "models" / role, force=True,
                    meta={"env_id": ENV_IDS[cell.setting], "role": role, "cell": cell.key,
                          "teacher_config": teachers.config.to_dict()})
        result["training"][role] = teachers.logs[role].to_dict()
        result["audit"][role] = _audit(policy, config, cell, out, role)
    return result


def _base_other(cell: Cell, config: ReproduceConfig, out: Path) -> dict[str, Any]:
    teacher_config = config.teacher_config(cell.setting, other_base_seed(cell.seed), "large")
    policy, log = pretrain_base(teacher_config)
    save_policy(policy, cell_dir(out, cell.key) / "models" / "base", force=True,
                meta={"env_id": ENV_IDS[cell.setting], "role": "base", "cell": cell.key,
                      "teacher_config": teacher_config.to_dict()})
    return {"training": {"base": log.to_dict()}, "audit": {"base": _audit(policy, config, cell, out, "base")}}


def _rollout(cell: Cell, config: ReproduceConfig, out: Path) -> dict[str, Any]:
    teacher, role = cell.params["teacher"], cell.params["role"]
    env_id = ENV_IDS[cell.setting]
    agent: TextAgent
    if teacher == "scripted":
        agent = ScriptedTextAgent(SCRIPTED_RATES[role])
    else:
        agent = PolicyTextAgent(_load(out, teacher_cell(cell.setting, cell.seed, teacher), role),
                                temperature=config.temperature)
    # the same safe tasks and the same per-episode sampling seeds for the biased and the control teacher
    trajectories = collect_trajectories(env_id, agent, episodes=config.rollout_episodes,
                                        seed=rollout_seed(cell.seed, teacher), split="safe",
                                        seed_range="train")
    kept, report = sanitize_trajectories(trajectories, setting=env_id)
    save_trajectories(kept, cell_dir(out, cell.key) / "trajectories", force=True,
                      meta={"env_id": env_id, "cell": cell.key, "teacher": teacher, "role": role,
                            "sanitize": report.to_dict()})
    return {"sanitize": report.to_dict(), "teacher_success": float(np.mean([t.success for t in trajectories]))}


def _student(cell: Cell, config: ReproduceConfig, out: Path) -> dict[str, Any]:
    condition = condition_by_name(cell.params["condition"])
    role = cell.params["role"]
    setting, seed = cell.setting, cell.seed
    rollout = rollout_cell(setting, seed, condition.teacher, role)
    trajectories = load_trajectories(cell_dir(out, rollout) / "trajectories")
    if condition.teacher == "scripted":
        expert_rng = stream_rng(seed, "agent", "scripted-teacher", condition.name)
        teacher: Any = lambda venv: ScriptedExpertPolicy(venv, bias=SCRIPTED_RATES[role], rng=expert_rng)  # noqa: E731
    else:
        teacher = _load(out, teacher_cell(setting, seed, condition.teacher), role)
    if condition.init == "fresh":
        layout = _load(out, teacher_cell(setting, seed, "large"), "base").layout
        student = build_policy(layout, "large", seed=derive_seed(seed, "init", "student", condition.name))
    else:
        student = clone_policy(_load(out, init_cell(setting, seed, condition.init), "base"))
    # the same randomness for the biased and the control student: they differ only in their teacher
    log = distill(condition.method, student=student, teacher=teacher, trajectories=trajectories,
                  env_id=ENV_IDS[setting], config=config.distill,
                  rng=stream_rng(seed, "optimiser", "student", condition.name))
    return {"distill": log, "audit": {"student": _audit(student, config, cell, out, "student")},
            "trajectories": len(trajectories)}


_RUNNERS = {"teachers": _teachers, "base-other": _base_other, "rollout": _rollout, "student": _student}


def run_cell(cell: Cell, config: ReproduceConfig, out: str | Path) -> dict[str, Any]:
    """Run ``cell`` and write its outputs, ``result.json`` last; returns the result (with ``wall_seconds``).

    Raises:
        KeyError: an unknown cell kind.
        ArtifactError: an input cell's files are missing or malformed.
    """
    out = Path(out)
    th.set_num_threads(1)
    # belt and braces: every library call below gets its own seeded generator, but anything that
    # reaches for a global one finds the same state whichever worker runs the cell
    cell_seed = derive_seed(cell.seed, "optimiser", "globals", cell.key)
    random.seed(cell_seed)
    np.random.seed(cell_seed)
    th.manual_seed(cell_seed)
    started = time.perf_counter()
    if cell.kind.startswith("lm-"):
        from subliminal_gym.baselines.reproduce.lm_cells import LM_RUNNERS  # needs the lm extra

        runner = LM_RUNNERS[cell.kind]
    else:
        runner = _RUNNERS[cell.kind]
    result = runner(cell, config, out)
    wall = time.perf_counter() - started
    write_json(cell_dir(out, cell.key) / "timing.json", {"wall_seconds": round(wall, 3)})
    write_json(cell_dir(out, cell.key) / RESULT_FILE, {"key": cell.key, "kind": cell.kind, **result})
    return {**result, "wall_seconds": wall}


def read_result(out: str | Path, key: str) -> dict[str, Any]:
    """The ``result.json`` of a finished cell.

    Raises:
        ArtifactError: the cell has not finished or its result is malformed.
    """
    return read_json(cell_dir(Path(out), key) / RESULT_FILE)

