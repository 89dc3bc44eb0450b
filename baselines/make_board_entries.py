"""Build the baseline submissions of both boards (the folders under ``leaderboards/*/entries/``).

    python baselines/make_board_entries.py --reproduce-run runs/reproduce --rl-fs RL_FS --rl-bash RL_BASH

Reads the models of a finished ``subliminal-gym reproduce`` run (seed 0) and of two RL teachers
(``subliminal-gym teach --kind rl``), distils the defences board's students from its reference
(``subliminal-gym leaderboard build-reference``), and writes one submission folder per entry into
``--out`` (default: ``submissions/``); score each with ``subliminal-gym leaderboard score FOLDER``.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import torch

from subliminal_gym.baselines.artifacts import clone_policy, load_policy, save_policy, write_json
from subliminal_gym.baselines.distill import DistillConfig, distill
from subliminal_gym.baselines.policies import build_policy
from subliminal_gym.baselines.reproduce.cells import DATA_FOLDER
from subliminal_gym.baselines.trajectories import load_trajectories
from subliminal_gym.leaderboards.boards import default_boards_root
from subliminal_gym.leaderboards.reference import default_reference_dir
from subliminal_gym.seeding import derive_seed, stream_rng
from subliminal_gym.settings import SETTINGS, setting_of

DATE = "2026-12-06"
AUTHORS = ["subliminal_gym developers"]
LINK = ""


def _submission(out: Path, name: str, board: str, method: str, policies: dict) -> None:
    folder = out / name
    spec = {}
    for env_id, policy in policies.items():
        if isinstance(policy, float):
            spec[env_id] = {"kind": "scripted", "bias": policy}
        else:
            short = setting_of(env_id).name
            save_policy(policy, folder / f"policy-{short}", force=True, meta={"env_id": env_id})
            spec[env_id] = {"kind": "slot_scoring", "path": f"policy-{short}"}
    write_json(folder / "submission.json", {"schema_version": 1, "name": name, "authors": AUTHORS, "board": board,
                                             "env_ids": sorted(spec), "method": method, "link": LINK, "date": DATE,
                                             "policies": spec})
    print(f"wrote {folder}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reproduce-run", type=Path, required=True)
    parser.add_argument("--rl-fs", type=Path, required=True, help="an RL teacher model folder for SubliminalFS-v0")
    parser.add_argument("--rl-bash", type=Path, required=True, help="the same for SubliminalBash-v0")
    parser.add_argument("--out", type=Path, default=Path("submissions"))
    args = parser.parse_args()
    torch.set_num_threads(1)
    envs = {setting.env_id: name for name, setting in SETTINGS.items()}

    def model(setting: str, cell: str, name: str):
        return load_policy(args.reproduce_run / "cells" / setting / "seed0" / cell / "models" / name)[0]

    agents = args.out / "agents"
    _submission(agents, "scripted-unbiased", "agents", "The suite's scripted expert, deletion_bias / chmod_bias 0.",
                {e: 0.0 for e in envs})
    _submission(agents, "scripted-biased", "agents", "The suite's scripted expert, deletion_bias / chmod_bias 1.",
                {e: 1.0 for e in envs})
    for role, text in (("base", "θ0 of the reproduction (large, seed 0): BC on the scripted expert, habit 5 % on "
                                "probes."),
                       ("biased", "The reproduction's biased teacher (large, seed 0): θ0 fine-tuned on the expert "
                                  "with the habit at 100 %."),
                       ("control", "The reproduction's control teacher (large, seed 0): θ0 fine-tuned the same way "
                                   "with the habit at 0 %.")):
        name = {"base": "theta0-large", "biased": "biased-teacher-large", "control": "control-teacher-large"}[role]
        _submission(agents, name, "agents", text, {e: model(s, "teachers-large", role) for e, s in envs.items()})
    _submission(agents, "rl-teacher-ppo-50k", "agents",
                "SB3 PPO on the vector view, task reward and step cost only, 50,000 steps, seed 0 "
                "(subliminal-gym teach --kind rl).",
                {"SubliminalFS-v0": load_policy(args.rl_fs)[0], "SubliminalBash-v0": load_policy(args.rl_bash)[0]})

    students = {}
    for env_id, setting in envs.items():
        cells = args.reproduce_run / "cells" / setting / "seed0"
        trajectories = load_trajectories(cells / "rollout-large-biased" / DATA_FOLDER)
        student = clone_policy(model(setting, "teachers-large", "base"))
        distill("bc", student=student, teacher=model(setting, "teachers-large", "biased"), trajectories=trajectories,
                env_id=env_id, config=DistillConfig(epochs=5), rng=stream_rng(0, "optimiser", "board-entry", env_id))
        students[env_id] = student
    _submission(agents, "student-bc-homogeneous-large", "agents",
                "The reproduction's main condition: θ0 distilled by BC from the biased teacher's sanitised "
                "read-only-task trajectories (seed 0, 5 epochs).", students)

    reference = default_reference_dir(default_boards_root())
    base = load_policy(reference / "base")[0]
    teacher = load_policy(reference / "biased")[0]
    trajectories = load_trajectories(reference / "trajectories")
    defences = args.out / "defences"
    for name, method, init, text in (
            ("no-defence-bc-shared", "bc", "shared", "No defence: BC from the teacher's own θ0 (the paper's setting)."),
            ("bc-fresh-init", "bc", "fresh", "Do not share weights: BC from a random large network."),
            ("dagger-shared", "dagger", "shared", "DAgger with sanitised teacher labels, from θ0."),
            ("soft-zero-shared", "soft_zero", "shared",
             "Soft-label KL with sanitised actions trained towards probability 0, from θ0.")):
        student = (clone_policy(base) if init == "shared"
                   else build_policy(base.layout, "large", seed=derive_seed(0, "init", "board-entry", name)))
        distill(method, student=student, teacher=teacher, trajectories=trajectories, env_id="SubliminalFS-v0",
                config=DistillConfig(epochs=5, dagger_rounds=2, dagger_episodes=40),
                rng=stream_rng(0, "optimiser", "board-entry", name))
        _submission(defences, name, "defences", text, {"SubliminalFS-v0": student})


if __name__ == "__main__":
    main()
