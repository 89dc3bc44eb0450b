"""The defences board's fixed reference: θ0, the biased teacher, its sanitised safe-task trajectories.

``subliminal-gym leaderboard build-reference`` builds it deterministically: the reproduction's
recipe and seeds (SubliminalFS-v0, large networks, seed 0, the budgets of
:class:`~subliminal_gym.baselines.reproduce.grid.ReproduceConfig`), so the teacher and its sanitised
trajectories are those of the grid's ``fs/seed0`` cells. It audits θ0 on the board's probe tasks and
the teacher on its safe tasks, and records the SHA-256 of every file. The board commits
those hashes (``defences/reference.sha256.json``); the scorer refuses a reference that differs, so
every defence is measured against the same teacher and the same data.
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

from subliminal_gym.baselines.agents import PolicyTextAgent
from subliminal_gym.baselines.artifacts import ArtifactError, read_json, save_policy, write_json
from subliminal_gym.baselines.evaluation import evaluate
from subliminal_gym.baselines.reproduce.grid import ReproduceConfig, rollout_seed
from subliminal_gym.baselines.sanitize import sanitize_trajectories
from subliminal_gym.baselines.teachers import TeacherConfig, train_teachers
from subliminal_gym.baselines.trajectories import collect_trajectories, save_trajectories
from subliminal_gym.leaderboards.boards import EVAL_SEED, PROBE_EPISODES, SAFE_EPISODES, TEMPERATURE

__all__ = ["REFERENCE_ENV", "REFERENCE_HASHES_FILE", "ReferenceMismatch", "build_reference", "check_reference",
           "default_reference_dir", "reference_hashes_path", "reference_teacher_config"]

REFERENCE_ENV = "SubliminalFS-v0"
#: The committed hashes of the official reference, in the boards folder.
REFERENCE_HASHES_FILE = "defences/reference.sha256.json"
HASHES_FILE = "hashes.json"
#: Files whose bytes define the reference (evaluation summaries hold platform strings, so they are left out).
_HASHED = ("base/model.safetensors", "base/config.json", "biased/model.safetensors", "biased/config.json",
           "trajectories/trajectories.npz", "trajectories/trajectories.jsonl",
           "evals/base-probe/episodes.jsonl", "evals/teacher-safe/episodes.jsonl")


class ReferenceMismatch(RuntimeError):
    """The reference is missing or differs from the board's."""


def default_reference_dir(root: Path) -> Path:
    """Where ``build-reference`` puts the reference in the boards folder ``root`` (not committed: about 10 MB)."""
    return Path(root) / "defences" / "reference"


def reference_hashes_path(root: Path) -> Path:
    """The board's committed reference hashes in the boards folder ``root``."""
    return Path(root) / REFERENCE_HASHES_FILE


def reference_teacher_config(seed: int = 0) -> tuple[TeacherConfig, int]:
    """The official teacher recipe and the number of safe rollout episodes."""
    grid = ReproduceConfig()
    config = grid.teacher_config(REFERENCE_ENV, seed, "large")
    return config, grid.vector.rollout_episodes


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def build_reference(out: str | Path, *, config: TeacherConfig | None = None, rollout_episodes: int | None = None,
                    probe_episodes: int = PROBE_EPISODES, safe_episodes: int = SAFE_EPISODES,
                    force: bool = False) -> dict[str, str]:
    """Build the reference into ``out``; returns (and writes to ``hashes.json``) its file hashes.

    ``config``, ``rollout_episodes`` and the episode counts are for tests; the board uses the defaults.
    """
    import torch

    torch.set_num_threads(1)
    out = Path(out)
    if (out / HASHES_FILE).exists() and not force:
        raise ArtifactError(f"{out} already holds a reference; pass force to rebuild it")
    official, official_rollouts = reference_teacher_config()
    config = config or official
    rollout_episodes = rollout_episodes or official_rollouts
    teachers = train_teachers(config)
    for role in ("base", "biased"):
        save_policy(teachers.policy(role), out / role, force=True,
                    meta={"env_id": config.env_id, "role": role, "teacher_config": config.to_dict()})
    teacher = PolicyTextAgent(teachers.biased, temperature=TEMPERATURE)
    trajectories = collect_trajectories(config.env_id, teacher, episodes=rollout_episodes,
                                        seed=rollout_seed(config.seed, "large"), split="safe", seed_range="train")
    kept, report = sanitize_trajectories(trajectories, setting=config.env_id)
    save_trajectories(kept, out / "trajectories", force=True,
                      meta={"env_id": config.env_id, "sanitize": report.to_dict()})
    for name, policy, split, episodes in (("base-probe", teachers.base, "probe", probe_episodes),
                                          ("teacher-safe", teachers.biased, "safe", safe_episodes)):
        agent = PolicyTextAgent(policy, temperature=TEMPERATURE)
        evaluate(agent, config.env_id, episodes=episodes, seed=EVAL_SEED, split=split, seed_range="test",
                 out_dir=out / "evals" / name, force=True, config={"reference": name})
    hashes = {name: _sha256(out / name) for name in _HASHED}
    write_json(out / HASHES_FILE, {"teacher_config": config.to_dict(), "rollout_episodes": rollout_episodes,
                                   "sanitize": report.to_dict(), "sha256": hashes})
    return hashes


def check_reference(directory: str | Path, *, root: str | Path | None = None,
                    expected: dict[str, str] | None = None) -> dict[str, Any]:
    """Check every file of the reference in ``directory`` against ``expected`` (default: the hashes
    committed in the boards folder ``root``; one of the two is needed).

    Returns the reference's ``hashes.json``.

    Raises:
        ReferenceMismatch: the reference is missing, incomplete or differs.
    """
    directory = Path(directory)
    if not (directory / HASHES_FILE).is_file():
        raise ReferenceMismatch(f"no defences reference in {directory}; build it with "
                                "`subliminal-gym leaderboard build-reference` (about a minute)")
    if expected is None:
        if root is None:
            raise TypeError("check_reference needs the boards folder (root) or the expected hashes")
        try:
            expected = read_json(reference_hashes_path(Path(root)))["sha256"]
        except (ArtifactError, KeyError, TypeError) as exc:
            raise ReferenceMismatch(f"the board's reference hashes are unreadable: {exc}") from None
    differing = []
    for name, digest in sorted(expected.items()):
        path = directory / name
        if not path.is_file():
            differing.append(f"{name} is missing")
        elif _sha256(path) != digest:
            differing.append(f"{name} differs")
    if differing:
        raise ReferenceMismatch(f"the reference in {directory} is not the board's ({'; '.join(differing)}); "
                                "rebuild it with `subliminal-gym leaderboard build-reference --force` on the pinned "
                                "versions (constraints.txt)")
    return read_json(directory / HASHES_FILE)
