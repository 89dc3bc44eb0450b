"""``subliminal-gym leaderboard validate | score | render``.

Every expected failure (an invalid or duplicate submission, unreadable files, a failed grid) prints
one ``error:`` line per problem and exits with status 2; the boards are left untouched.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from subliminal_gym.baselines.reproduce.ray_backend import add_backend_options, backend_of
from subliminal_gym.command_line import HelpFormatter

__all__ = ["add_commands", "run_leaderboard"]


def add_commands(commands: Any) -> None:
    """Add ``leaderboard`` and its subcommands to ``subliminal-gym``."""
    board = commands.add_parser("leaderboard", formatter_class=HelpFormatter,
                                help="validate, score and render leaderboard submissions",
                                description="Submissions are folders with a submission.json (see "
                                            "leaderboards/submission.schema.json): safetensors policies for the "
                                            "agents board, a distillation recipe for the defences board. The "
                                            "scorer measures everything itself; numbers in a submission are "
                                            "ignored.")
    actions = board.add_subparsers(dest="action", required=True)
    validate = actions.add_parser("validate", formatter_class=HelpFormatter,
                                  help="check a submission folder without running it")
    validate.add_argument("path", type=Path, help="the submission folder")
    score = actions.add_parser("score", formatter_class=HelpFormatter,
                               help="validate, run on the board's protocol, and add to the board")
    for parser in (validate, score):
        parser.add_argument("--base-models", type=Path, metavar="DIR",
                            help="agents: the base models LoRA-adapter entries apply to, one folder each (DIR/NAME/, "
                                 "NAME as the entry's base_model gives it); never downloaded")
    score.add_argument("paths", type=Path, nargs="+", metavar="path",
                       help="the submission folder (or an entry's folder, to re-score it); several defences are "
                            "scored together, on one draw of seeds beside one run of the default attack")
    score.add_argument("--first-seed", type=int, default=None,
                       help="defences: the first training seed (default: an entry's own when re-scoring it alone, "
                            "else drawn now, so no submitter can know it)")
    score.add_argument("--workers", type=int, default=2, help="defences: processes running the grid's cells")
    score.add_argument("--work", type=Path, default=None,
                       help="defences: keep the grid in this folder (an interrupted scoring resumes from it; default: "
                            "a temporary folder)")
    add_backend_options(score)
    render = actions.add_parser("render", formatter_class=HelpFormatter,
                                help="regenerate every board's table.md and index.html from the stored entries")
    for parser in (score, render):
        parser.add_argument("--boards", type=Path, default=None,
                            help="the boards folder (default: ./leaderboards, or leaderboards/ of the checkout the "
                                 "package runs from)")
    board.set_defaults(run=run_leaderboard)


def run_leaderboard(args: argparse.Namespace) -> int:
    """Run a ``leaderboard`` subcommand; returns the exit status."""
    from subliminal_gym.baselines.artifacts import ArtifactError
    from subliminal_gym.leaderboards.boards import BoardsNotFound, default_boards_root

    if args.action == "score":
        import torch

        torch.set_num_threads(1)  # small networks: one thread is faster and steadier on small machines
    from subliminal_gym.leaderboards.submission import SubmissionError, load_submission

    try:
        if args.action == "validate":
            submission = load_submission(args.path, base_models=args.base_models)
            print(f"{args.path}: valid {submission.board} submission {submission.name!r} "
                  f"({', '.join(submission.env_ids)}); artifact SHA-256 {submission.artifact_sha256()}")
        elif args.action == "score":
            from subliminal_gym.leaderboards.scorer import score_defences, score_submission

            root = args.boards or default_boards_root()
            if args.workers < 1:
                raise SubmissionError([f"--workers must be at least 1, got {args.workers}"])
            try:
                ray = backend_of(args)
            except ValueError as exc:
                raise SubmissionError([str(exc)]) from None
            if len(args.paths) == 1:
                scored = [score_submission(args.paths[0], root=root, first_seed=args.first_seed, workers=args.workers,
                                           work=args.work, ray=ray, base_models=args.base_models)]
            else:
                scored = score_defences(args.paths, root=root, first_seed=args.first_seed, workers=args.workers,
                                        work=args.work, ray=ray)
            for summary in scored:
                print(f"scored {summary['name']!r} on the {summary['board']} board: {summary.folder}")
                print(_one_line(summary))
        elif args.action == "render":
            from subliminal_gym.leaderboards.render import render_boards

            for path in render_boards(args.boards or default_boards_root()):
                print(f"wrote {path}")
        return 0
    except SubmissionError as exc:
        for problem in exc.problems:
            print(f"error: {problem}", file=sys.stderr)
        return 2
    except (ArtifactError, BoardsNotFound) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2


def _one_line(summary: dict[str, Any]) -> str:
    if summary["board"] == "defences":
        lines = []
        for setting, m in summary["settings"].items():
            r, d = m["residual_transfer"], m["reduction"]
            lines.append(f"{setting}: defence score {m['score']:.3f}; habit still transferred {r['effect_pp']:+.1f} pp "
                         f"[{r['ci_low_pp']:+.1f}, {r['ci_high_pp']:+.1f}], reduction vs no defence "
                         f"{d['effect_pp']:+.1f} pp [{d['ci_low_pp']:+.1f}, {d['ci_high_pp']:+.1f}] over "
                         f"{d['seeds']} seeds; capability kept {100 * m['capability_kept']:.1f} %")
        return "\n".join(lines)
    parts = []
    for env_id, env in sorted(summary["envs"].items()):
        habit = env["habits"][env["primary_metric"]]
        parts.append(f"{env_id}: safe success {100 * env['safe_success']['value']:.1f} %, probe success "
                     f"{100 * env['probe_success']['value']:.1f} %, {env['primary_metric']} "
                     f"{100 * habit['value']:.1f} % [{100 * habit['low']:.1f}, {100 * habit['high']:.1f}]")
    return "\n".join(parts)
