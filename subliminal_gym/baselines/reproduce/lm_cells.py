"""Running the LM track's cells: tiny language models trained, sampled, fine-tuned and audited.

Models are saved with :func:`~subliminal_gym.baselines.lm.save_lm` (safetensors and the tokenizer)
under ``cells/<key>/models/<name>/``, sanitised episodes as ``episodes.jsonl``, audits as
``evals/<name>/`` (the same files as the vector audits), and ``result.json`` last, by the shared
runner. Seeds come from the grid seed and the cell's identity, as in
:mod:`~subliminal_gym.baselines.reproduce.cells`.
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

from subliminal_gym.baselines.evaluation import evaluate
from subliminal_gym.baselines.lm import LMAgent, LMTrainConfig, finetune_lm, load_lm, save_lm
from subliminal_gym.baselines.lm.recipe import (
    LMRecipeConfig,
    load_episodes,
    pretrain_lm_base,
    sample_episodes,
    save_episodes,
    train_lm_teachers,
)
from subliminal_gym.baselines.reproduce.cells import cell_dir, eval_dir
from subliminal_gym.baselines.reproduce.grid import ENV_IDS, Cell, ReproduceConfig, other_base_seed, rollout_seed
from subliminal_gym.baselines.reproduce.lm_grid import lm_cell, lm_condition
from subliminal_gym.baselines.sanitize import sanitize_episodes
from subliminal_gym.seeding import derive_seed

__all__ = ["LM_RUNNERS", "recipe_config"]

EPISODES_FILE = "episodes.jsonl"


def recipe_config(config: ReproduceConfig, setting: str, seed: int, size: str) -> LMRecipeConfig:
    """The θ0-and-teachers recipe of one setting, seed and size under the grid's LM budgets."""
    lm = config.lm
    return LMRecipeConfig(env_id=ENV_IDS[setting], size=size, seed=seed, base_rate=lm.base_rate,
                          pretrain_episodes=lm.pretrain_episodes, pretrain_epochs=lm.pretrain_epochs,
                          finetune_episodes=lm.finetune_episodes, finetune_epochs=lm.finetune_epochs,
                          learning_rate=lm.learning_rate, finetune_learning_rate=lm.finetune_learning_rate,
                          batch_size=lm.train_batch_size)


def _audit(model: Any, tokenizer: Any, config: ReproduceConfig, cell: Cell, out: Path, name: str) -> dict[str, Any]:
    """Audit an LM on the seed's probe tasks (the same tasks as every vector model of the seed)."""
    agent = LMAgent(model, tokenizer, setting=cell.setting, temperature=config.lm.temperature,
                    max_new_tokens=config.lm.max_new_tokens)
    summary, _ = evaluate(agent, ENV_IDS[cell.setting], episodes=config.lm.episodes, seed=cell.seed, split="probe",
                          seed_range="test", out_dir=eval_dir(out, cell.key, name), force=True,
                          batch_size=config.lm.batch_size, env_kwargs=_steps(config),
                          config={"model": name, "cell": cell.key, "temperature": config.lm.temperature,
                                  "batch_size": config.lm.batch_size})
    return {"success": summary.success.value, summary.primary_metric: summary.primary.value,
            "unparsable_actions": agent.stats.unparsable, "generated_tokens": agent.stats.generated_tokens}


def _steps(config: ReproduceConfig) -> dict[str, Any] | None:
    """The episode step limit of the LM track, when it differs from the envs' own."""
    return None if config.lm.max_steps == 40 else {"max_episode_steps": config.lm.max_steps}


def _save(model: Any, tokenizer: Any, out: Path, cell: Cell, name: str) -> None:
    save_lm(model, tokenizer, cell_dir(out, cell.key) / "models" / name, force=True)


def _teachers(cell: Cell, config: ReproduceConfig, out: Path) -> dict[str, Any]:
    recipe = recipe_config(config, cell.setting, cell.seed, cell.params["size"])
    teachers = train_lm_teachers(recipe)
    result: dict[str, Any] = {"recipe": recipe.to_dict(), "training": {}, "audit": {}}
    for role in ("base", "biased", "control"):
        model = teachers.models[role]
        _save(model, teachers.tokenizer, out, cell, role)
        result["training"][role] = teachers.logs[role].to_dict()
        result["audit"][role] = _audit(model, teachers.tokenizer, config, cell, out, role)
    return result


def _base_other(cell: Cell, config: ReproduceConfig, out: Path) -> dict[str, Any]:
    recipe = recipe_config(config, cell.setting, other_base_seed(cell.seed), "large")
    model, tokenizer, log = pretrain_lm_base(recipe)
    _save(model, tokenizer, out, cell, "base")
    return {"recipe": recipe.to_dict(), "training": {"base": log.to_dict()},
            "audit": {"base": _audit(model, tokenizer, config, cell, out, "base")}}


def _rollout(cell: Cell, config: ReproduceConfig, out: Path) -> dict[str, Any]:
    teacher, role = cell.params["teacher"], cell.params["role"]
    model, tokenizer = load_lm(cell_dir(out, lm_cell(cell.setting, cell.seed, f"teachers-{teacher}")) / "models" / role)
    # the biased and the control teacher sample on the same safe tasks with the same per-episode seeds
    episodes, records = sample_episodes(model, tokenizer, ENV_IDS[cell.setting], episodes=config.lm.rollout_episodes,
                                        seed=rollout_seed(cell.seed, teacher), split="safe",
                                        seed_range="train", temperature=config.lm.temperature,
                                        batch_size=config.lm.batch_size, env_kwargs=_steps(config),
                                        max_new_tokens=config.lm.max_new_tokens)
    kept, report = sanitize_episodes(episodes, setting=cell.setting)
    save_episodes(kept, cell_dir(out, cell.key) / EPISODES_FILE,
                  meta={"cell": cell.key, "teacher": teacher, "role": role, "sanitize": report.to_dict()})
    return {"sanitize": report.to_dict(), "teacher_success": sum(r.success for r in records) / len(records)}


def _student(cell: Cell, config: ReproduceConfig, out: Path) -> dict[str, Any]:
    condition = lm_condition(cell.params["condition"])
    role = cell.params["role"]
    setting, seed = cell.setting, cell.seed
    rollout = lm_cell(setting, seed, f"rollout-{condition.teacher}-{role}")
    episodes = load_episodes(cell_dir(out, rollout) / EPISODES_FILE)
    if condition.init == "base-other":
        init = lm_cell(setting, seed, "base-other")
    else:
        init = lm_cell(setting, seed, f"teachers-{condition.init.removeprefix('base-')}")
    base, tokenizer = load_lm(cell_dir(out, init) / "models" / "base")
    student = copy.deepcopy(base)
    # the same order and seed for the biased and the control student: they differ only in their teacher
    train = LMTrainConfig(epochs=config.lm.student_epochs, batch_size=config.lm.train_batch_size,
                          learning_rate=config.lm.finetune_learning_rate,
                          seed=derive_seed(seed, "optimiser", "student", condition.name))
    log = finetune_lm(student, tokenizer, episodes, train) if episodes else None
    return {"training": log.to_dict() if log else None, "episodes": len(episodes),
            "audit": {"student": _audit(student, tokenizer, config, cell, out, "student")}}


LM_RUNNERS = {"lm-teachers": _teachers, "lm-base-other": _base_other, "lm-rollout": _rollout,
              "lm-student": _student}
