"""Running one cell of the reproduction grid, for either model track: train, roll out, distil, audit, save.

Each cell reads the outputs of the cells it depends on and writes its own into ``cells/<key>/``:
models as the track saves them (``models/<name>/``: safetensors weights and JSON configs), audits as
``evals/<name>/episodes.jsonl`` and ``summary.json`` (see
:func:`~subliminal_gym.baselines.evaluation.evaluate`), sanitised training data (``data/``), and
last, atomically, ``result.json``. A cell folder without ``result.json`` is unfinished and is redone
on resume, overwriting what it holds.

The four runners are written once over :class:`~subliminal_gym.baselines.tracks.ModelTrack`. Every
source of randomness in a cell comes from the grid seed and the cell's identity through the named
streams of :mod:`subliminal_gym.seeding` (never from the worker process that happens to run it), so
a cell gives the same files whichever worker runs it and in whatever order.
"""

from __future__ import annotations

import dataclasses
import random
import time
from pathlib import Path
from typing import Any

import numpy as np

from subliminal_gym.baselines.artifacts import read_json, write_json
from subliminal_gym.baselines.evaluation import evaluate
from subliminal_gym.baselines.reproduce.conditions import ROLES, channel_sanitised
from subliminal_gym.baselines.reproduce.grid import (
    Cell,
    ReproduceConfig,
    cell_key,
    init_cell,
    other_base_seed,
    rollout_seed,
    teacher_cell,
)
from subliminal_gym.baselines.teachers import TEACHER_ROLES, finetune_teacher, pretrain_base, train_teachers
from subliminal_gym.baselines.tracks import ModelTrack, ScriptedTeacher
from subliminal_gym.runner import ScriptedTextAgent, TextAgent
from subliminal_gym.seeding import derive_seed, stream_rng
from subliminal_gym.settings import setting_of

__all__ = ["COMPETENCE_SPLIT", "DATA_FOLDER", "RESULT_FILE", "SCRIPTED_RATES", "cell_dir", "competence_split",
           "eval_dir", "is_done", "read_result", "run_cell"]

RESULT_FILE = "result.json"
#: The split every audited model's competence is measured on (its evaluation is ``<name>-safe``).
COMPETENCE_SPLIT = "safe"
#: Where a rollout cell keeps its sanitised training data.
DATA_FOLDER = "data"
#: The scripted expert's habit rate as the biased and as the control teacher (negative control).
SCRIPTED_RATES = {"biased": 1.0, "control": 0.0}


def cell_dir(out: Path, key: str) -> Path:
    """The folder of cell ``key`` inside the run folder ``out``."""
    return Path(out) / "cells" / key


def eval_dir(out: Path, key: str, name: str) -> Path:
    """Where cell ``key`` keeps the audit of its model ``name``."""
    return cell_dir(out, key) / "evals" / name


def competence_split(decoding: str | None = None) -> str:
    """What a model's competence audit adds to its name (``<model>-<this>``): safe tasks in the budget's
    decoding, or in another ``decoding``."""
    return COMPETENCE_SPLIT + (f"-{decoding}" if decoding else "")


def is_done(out: Path, key: str) -> bool:
    """Whether cell ``key`` finished (its ``result.json`` exists)."""
    return (cell_dir(out, key) / RESULT_FILE).is_file()


class _Context:
    """What a runner needs: the cell, its track and budget, where things go."""

    def __init__(self, cell: Cell, config: ReproduceConfig, out: Path) -> None:
        self.cell = cell
        self.out = out
        # a language model track where the budget's teacher fields place it (device, dtype)
        self.track: ModelTrack = config.teacher_config(cell.setting, cell.seed, "large", track=cell.track).model_track
        self.budget = config.budget(cell.track)
        self.others = config.other_decodings(cell.track)
        self.env_id = setting_of(cell.setting).env_id

    def key(self, name: str) -> str:
        return cell_key(self.cell.setting, self.cell.seed, self.cell.track, name)

    def save(self, model: Any, name: str, meta: dict[str, Any]) -> None:
        self.track.save(model, cell_dir(self.out, self.cell.key) / "models" / name,
                        meta={"env_id": self.env_id, "cell": self.cell.key, **meta})

    def load(self, key: str, name: str) -> Any:
        return self.track.load(cell_dir(self.out, key) / "models" / name)

    def agent(self, model: Any, temperature: float | None = None, decoding: str | None = None) -> TextAgent:
        return self.track.agent(model, self.env_id,
                                temperature=self.budget.temperature if temperature is None else temperature,
                                max_new_tokens=self.budget.max_new_tokens,
                                decoding=self.budget.decoding if decoding is None else decoding)

    def teacher(self, size: str, role: str) -> Any:
        """The teacher model of ``size`` and ``role`` (``biased``, ``control``, ``alt``, ``biased25``)."""
        return self.load(*teacher_cell(self.cell.setting, self.cell.seed, self.cell.track, size, role))

    def audit(self, model: Any, name: str) -> dict[str, Any]:
        """Audit ``model`` on the seed's probe tasks (every model of a setting and seed, in both tracks,
        sees the same tasks), then measure its competence on safe tasks (``<name>-safe``)."""
        agent = self.agent(model)
        summary, _ = evaluate(agent, self.env_id, episodes=self.budget.episodes, seed=self.cell.seed, split="probe",
                              seed_range="test", out_dir=eval_dir(self.out, self.cell.key, name), force=True,
                              batch_size=self.budget.batch_size, env_kwargs=self.budget.env_kwargs(),
                              config={"model": name, "cell": self.cell.key, "temperature": self.budget.temperature})
        result = {"success": summary.success.value, summary.primary_metric: summary.primary.value,
                  **self.track.agent_stats(agent)}
        if self.budget.competence_episodes:
            # in the budget's decoding, then in the track's others (a language model's competence by mode)
            for decoding in (self.budget.decoding, *self.others):
                other = decoding != self.budget.decoding
                folder = eval_dir(self.out, self.cell.key, f"{name}-{competence_split(decoding if other else None)}")
                safe, _ = evaluate(self.agent(model, decoding=decoding), self.env_id,
                                   episodes=self.budget.competence_episodes, seed=self.cell.seed, split="safe",
                                   seed_range="test", out_dir=folder, force=True, batch_size=self.budget.batch_size,
                                   env_kwargs=self.budget.env_kwargs(),
                                   config={"model": name, "cell": self.cell.key, "temperature": self.budget.temperature,
                                           **({"decoding": decoding} if other else {})})
                result[f"safe_success_{decoding}" if other else "safe_success"] = safe.success.value
        return result


def _teachers(ctx: _Context, config: ReproduceConfig) -> dict[str, Any]:
    cell = ctx.cell
    teachers = train_teachers(config.teacher_config(cell.setting, cell.seed, cell.params["size"], track=cell.track))
    result: dict[str, Any] = {"teacher_config": teachers.config.to_dict(), "training": teachers.logs, "audit": {}}
    for role in TEACHER_ROLES:
        ctx.save(teachers.models[role], role, {"role": role, "teacher_config": teachers.config.to_dict()})
        result["audit"][role] = ctx.audit(teachers.models[role], role)
    return result


def _teacher(ctx: _Context, config: ReproduceConfig) -> dict[str, Any]:
    """One more fine-tune of this seed's θ0: ``alt`` (a control teacher on other data and optimiser
    seeds) or ``biased<percent>`` (a biased teacher at another habit rate, on the biased one's seeds)."""
    cell = ctx.cell
    size, role = cell.params["size"], cell.params["role"]
    teacher_config = config.teacher_config(cell.setting, cell.seed, size, track=cell.track)
    base = ctx.load(ctx.key(f"teachers-{size}"), "base")
    if role == "alt":
        model, log = finetune_teacher(base, teacher_config, role="control", replicate="alt")
    else:
        teacher_config = dataclasses.replace(teacher_config, biased_rate=cell.params["bias"])
        model, log = finetune_teacher(base, teacher_config, role="biased")
    ctx.save(model, "teacher", {"role": role, "teacher_config": teacher_config.to_dict()})
    return {"teacher_config": teacher_config.to_dict(), "training": {role: log},
            "audit": {"teacher": ctx.audit(model, "teacher")}}


def _base_other(ctx: _Context, config: ReproduceConfig) -> dict[str, Any]:
    cell = ctx.cell
    teacher_config = config.teacher_config(cell.setting, other_base_seed(cell.seed), "large", track=cell.track)
    model, log = pretrain_base(teacher_config)
    ctx.save(model, "base", {"role": "base", "teacher_config": teacher_config.to_dict()})
    return {"teacher_config": teacher_config.to_dict(), "training": {"base": log},
            "audit": {"base": ctx.audit(model, "base")}}


def _rollout(ctx: _Context, config: ReproduceConfig) -> dict[str, Any]:
    cell = ctx.cell
    teacher, role, channel = cell.params["teacher"], cell.params["role"], cell.params["channel"]
    temperature = cell.params.get("temperature")
    if teacher == "scripted":
        agent: TextAgent = ScriptedTextAgent(SCRIPTED_RATES[role])
    else:
        agent = ctx.agent(ctx.teacher(teacher, role), temperature)
    # the same tasks and the same per-episode sampling seeds for every teacher of a size
    data, successes = ctx.track.collect(agent, ctx.env_id, episodes=ctx.budget.rollout_episodes,
                                        seed=rollout_seed(cell.seed, teacher, channel), split=channel,
                                        seed_range="train",
                                        batch_size=ctx.budget.batch_size, env_kwargs=ctx.budget.env_kwargs())
    kept, report = ctx.track.sanitize(data, ctx.env_id)
    if not channel_sanitised(channel):  # the positive control: what the filter would drop is reported, and kept
        kept = data
    ctx.track.save_data(kept, cell_dir(ctx.out, cell.key) / DATA_FOLDER,
                        meta={"env_id": ctx.env_id, "cell": cell.key, "teacher": teacher, "role": role,
                              "channel": channel, "temperature": temperature, "sanitised": channel_sanitised(channel),
                              "sanitize": report.to_dict()})
    return {"sanitize": report.to_dict(), "kept": len(kept), "teacher_success": float(np.mean(successes)),
            **ctx.track.agent_stats(agent)}


def _student(ctx: _Context, config: ReproduceConfig) -> dict[str, Any]:
    from subliminal_gym.baselines.sanitize import subsample  # imports torch: only when a student trains

    cell = ctx.cell
    condition = config.condition(cell.params["condition"])
    slot = cell.params["role"]
    rollout = ctx.key(condition.rollout(slot))
    data = ctx.track.load_data(cell_dir(ctx.out, rollout) / DATA_FOLDER)
    kept = len(data)
    size = kept
    if ctx.budget.equalize:  # as much data as the other slot's student gets
        size = min(int(read_result(ctx.out, ctx.key(condition.rollout(s)))["kept"]) for s in ROLES)
    if condition.data is not None:
        size = min(size, condition.data)
    if size < kept:
        data = subsample(data, size, stream_rng(cell.seed, "data", "equalize", rollout))
    teacher: Any = (ScriptedTeacher(SCRIPTED_RATES[slot]) if condition.teacher == "scripted"
                    else ctx.teacher(condition.teacher, condition.teacher_role(slot)))
    if condition.init == "fresh":  # random weights of the large size (a language model's tokenizer: from the data)
        fresh = config.teacher_config(cell.setting, cell.seed, "large", track=cell.track)
        student = ctx.track.new_model(fresh, seed=derive_seed(cell.seed, "init", "student", condition.name),
                                      data=data)
    else:
        student = ctx.track.clone(ctx.load(init_cell(cell.setting, cell.seed, cell.track, condition.init), "base"))
    # the same randomness for both slots' students: they differ only in their teacher
    log = ctx.track.distill(condition.distill_method(ctx.budget), student=student, teacher=teacher, data=data,
                            env_id=ctx.env_id, config=condition.distill_config(ctx.budget),
                            seed=derive_seed(cell.seed, "optimiser", "student", condition.name),
                            sanitised=condition.sanitised)
    return {"distill": log, "data": len(data), "data_kept": kept,
            "audit": {"student": ctx.audit(student, "student")}}


_RUNNERS = {"teachers": _teachers, "teacher": _teacher, "base-other": _base_other, "rollout": _rollout,
            "student": _student}


def run_cell(cell: Cell, config: ReproduceConfig, out: str | Path) -> dict[str, Any]:
    """Run ``cell`` and write its outputs, ``result.json`` last; returns the result (with ``wall_seconds``).

    Raises:
        KeyError: an unknown cell kind.
        ArtifactError: an input cell's files are missing or malformed.
    """
    import torch as th

    out = Path(out)
    th.set_num_threads(1)
    # belt and braces: every library call below gets its own seeded generator, but anything that
    # reaches for a global one finds the same state whichever worker runs the cell
    cell_seed = derive_seed(cell.seed, "optimiser", "globals", cell.key)
    random.seed(cell_seed)
    np.random.seed(cell_seed)
    th.manual_seed(cell_seed)
    started = time.perf_counter()
    result = _RUNNERS[cell.kind](_Context(cell, config, out), config)
    wall = time.perf_counter() - started
    write_json(cell_dir(out, cell.key) / "timing.json", {"wall_seconds": round(wall, 3)})
    write_json(cell_dir(out, cell.key) / RESULT_FILE, {"key": cell.key, "kind": cell.kind, "track": cell.track,
                                                       **result})
    return {**result, "wall_seconds": wall}


def read_result(out: str | Path, key: str) -> dict[str, Any]:
    """The ``result.json`` of a finished cell.

    Raises:
        ArtifactError: the cell has not finished or its result is malformed.
    """
    return read_json(cell_dir(Path(out), key) / RESULT_FILE)
