"""Can the vector track's agents do the tasks? Competence at the reproduction's budgets.

A habit rate means little for an agent that cannot do the task, so before any effect is read the
grid's models must be competent (DESIGN, "The instrument": at least 90 % of safe and 80 % of probe
tasks). This runs the reproduction's own cells (``teachers-large``, the large teacher's read-only
rollouts, the default attack's students) for a few seeds with the reproduction's vector budget,
with the competence measurement every audit now has (test-seed probe and safe tasks at temperature
1), and prints the report's competence table.

    python benchmarks/bench_competence.py [--setting fs|bash|both] [--seeds 2] [--episodes 200]
        [--pretrain-episodes N] [--pretrain-epochs N] [--families] [--out DIR]

``--pretrain-episodes`` / ``--pretrain-epochs`` override θ0's budget: one point of the budget sweep
the reproduction's defaults were chosen from (docs/reproduce.md). ``--families`` adds success per
task family. Seeds, tasks and training are those of the reproduction, so the numbers are the ones
its models reach.
"""

from __future__ import annotations

import argparse
import collections
import dataclasses
import tempfile
import time
from pathlib import Path

import torch

from subliminal_gym.baselines.reproduce import ReproduceConfig, run_grid
from subliminal_gym.baselines.reproduce.report import competence_table
from subliminal_gym.baselines.reproduce.results import load_results
from subliminal_gym.baselines.tracks import track_of
from subliminal_gym.settings import SETTINGS

MODELS = (("θ0 large", "base-large"), ("biased teacher", "teacher-large-biased"),
          ("control teacher", "teacher-large-control"), ("student ← biased", "student-attack-biased"),
          ("student ← control", "student-attack-control"))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--setting", choices=("fs", "bash", "both"), default="both")
    parser.add_argument("--seeds", type=int, default=2)
    parser.add_argument("--episodes", type=int, help="probe episodes per model (default: the reproduction's; "
                        "safe episodes: half as many)")
    parser.add_argument("--pretrain-episodes", type=int, help="θ0's expert episodes (default: the reproduction's)")
    parser.add_argument("--pretrain-epochs", type=int, help="θ0's epochs (default: the reproduction's)")
    parser.add_argument("--finetune-episodes", type=int, help="each teacher's fine-tuning episodes")
    parser.add_argument("--finetune-epochs", type=int, help="each teacher's fine-tuning epochs")
    parser.add_argument("--distill-epochs", type=int, help="the students' epochs (the default attack's)")
    parser.add_argument("--distill-lr", type=float, help="the students' learning rate")
    parser.add_argument("--families", action="store_true", help="also print success per task family")
    parser.add_argument("--out", type=Path, help="keep the cells here (default: a temporary folder)")
    args = parser.parse_args()
    torch.set_num_threads(1)

    default = ReproduceConfig()
    teacher = {**track_of("vector").teacher_defaults, **default.vector.teacher}
    for name in ("pretrain_episodes", "pretrain_epochs", "finetune_episodes", "finetune_epochs"):
        if getattr(args, name):
            teacher[name] = getattr(args, name)
    settings = tuple(SETTINGS) if args.setting == "both" else (args.setting,)
    distill = default.vector.distill
    if args.distill_lr:
        distill = dataclasses.replace(distill, learning_rate=args.distill_lr)
    vector = dataclasses.replace(default.vector, teacher=teacher, distill=distill, conditions=("attack",),
                                 attack_epochs=args.distill_epochs or default.vector.attack_epochs)
    if args.episodes:
        vector = dataclasses.replace(vector, episodes=args.episodes, competence_episodes=max(args.episodes // 2, 1))
    config = ReproduceConfig(settings=settings, seeds=args.seeds, table_seeds=None, tracks=("vector",), vector=vector)
    print(f"θ0: {teacher.get('pretrain_episodes')} expert episodes x {teacher.get('pretrain_epochs')} epochs; "
          f"teachers: {teacher.get('finetune_episodes')} x {teacher.get('finetune_epochs')}; "
          f"students: {vector.rollout_episodes} read-only rollouts, the default attack ({vector.attack_method}, "
          f"{vector.attack_epochs} epochs) at learning rate {vector.distill.learning_rate:g}")
    with tempfile.TemporaryDirectory() as scratch:
        out = args.out or Path(scratch) / "grid"
        started = time.perf_counter()
        run_grid(config, out, workers=1, progress=False, report=False)
        print(f"trained and evaluated in {time.perf_counter() - started:.0f} s")
        results = load_results(out, config)
        for setting in settings:
            print(f"\n{SETTINGS[setting].env_id}: {args.seeds} seeds x {vector.episodes} probe and "
                  f"{vector.competence_episodes} safe test episodes per model\n")
            print(competence_table(results, setting))
            if args.families:
                for _, model in MODELS:
                    for split, runs in (("probe", results.runs(setting, model)),
                                        ("safe", results.competence_runs(setting, model) or [])):
                        families: dict[str, list[bool]] = collections.defaultdict(list)
                        for record in (r for run in runs for r in run):
                            families[record.task_family].append(record.success)
                        shown = ", ".join(f"{f} {100 * sum(v) / len(v):.0f} %" for f, v in sorted(families.items()))
                        print(f"  {model} ({split}): {shown}")


if __name__ == "__main__":
    main()
