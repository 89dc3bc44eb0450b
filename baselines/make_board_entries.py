"""Build the baseline submissions of both boards (the folders under ``leaderboards/*/entries/``).

    python baselines/make_board_entries.py --reproduce-run runs/reproduce --rl-fs RL_FS --rl-bash RL_BASH

Reads the models of a finished ``subliminal-gym reproduce`` run (seed 0) and of two RL teachers
(``subliminal-gym teach --kind rl``) for the agents board, writes the defences board's baseline
recipes, and puts one submission folder per entry into ``--out`` (default: ``submissions/``). Score an
agent with ``subliminal-gym leaderboard score FOLDER``, and the defences together (one draw of seeds,
one run of the default attack beside them): ``subliminal-gym leaderboard score submissions/defences/*``.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import torch

from subliminal_gym.baselines.artifacts import clone_policy, load_policy, save_policy, write_json
from subliminal_gym.baselines.distill import DistillConfig, distill
from subliminal_gym.baselines.reproduce.cells import DATA_FOLDER
from subliminal_gym.baselines.trajectories import load_trajectories
from subliminal_gym.seeding import stream_rng
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
    parser.add_argument("--reproduce-run", type=Path)
    parser.add_argument("--rl-fs", type=Path, help="an RL teacher model folder for SubliminalFS-v0")
    parser.add_argument("--rl-bash", type=Path, help="the same for SubliminalBash-v0")
    parser.add_argument("--board", choices=("agents", "defences", "both"), default="both",
                        help="which board's entries (the defences need no run: they are recipes)")
    parser.add_argument("--out", type=Path, default=Path("submissions"))
    args = parser.parse_args()
    torch.set_num_threads(1)
    envs = {setting.env_id: name for name, setting in SETTINGS.items()}
    if args.board != "agents":
        _defences(args.out / "defences", envs)
    if args.board == "defences":
        return
    if None in (args.reproduce_run, args.rl_fs, args.rl_bash):
        parser.error("the agents board's entries need --reproduce-run, --rl-fs and --rl-bash")

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



def _defences(defences: Path, envs: dict[str, str]) -> None:
    """The defences board's recipes, scored together on seeds drawn at scoring time:
    ``subliminal-gym leaderboard score submissions/defences/* --workers 2``."""
    for name, recipe, text in DEFENCES:
        write_json(defences / name / "submission.json", {
            "schema_version": 1, "name": name, "authors": AUTHORS, "board": "defences",
            "env_ids": sorted(envs), "method": text, "link": LINK, "date": DATE, "defence": recipe})
        print(f"wrote {defences / name}")


#: The baseline defences: no defence (the default attack itself), and one change each to it.
DEFENCES = (
    ("no-defence", {"distiller": "logit"},
     "No defence: the default attack (logit distillation, 60 epochs, from the teacher's own θ0)."),
    ("other-seed-init", {"distiller": "logit", "init": "other-seed"},
     "Do not share the teacher's initialisation: the student starts from a θ0 trained the same way from another "
     "seed."),
    ("fresh-init", {"distiller": "logit", "init": "fresh"},
     "Do not share weights at all: the student starts from random weights."),
    ("hard-labels", {"distiller": "bc"},
     "Distil the teacher's sampled actions (behavioural cloning), not its scores of every action."),
    ("early-stop-5", {"distiller": "logit", "epochs": 5},
     "Stop distilling early: 5 epochs instead of 60."),
    ("teacher-temperature-2", {"distiller": "logit", "temperature": 2.0},
     "Noisier data: the teachers sample their trajectories at temperature 2."),
)


if __name__ == "__main__":
    main()
