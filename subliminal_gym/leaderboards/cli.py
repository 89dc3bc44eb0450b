"""``subliminal-gym leaderboard validate | score | render | build-reference``.

Every expected failure (an invalid or duplicate submission, a missing reference, unreadable files)
prints one ``error:`` line per problem and exits with status 2; the boards are left untouched.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from subliminal_gym.command_line import HelpFormatter

__all__ = ["add_commands", "run_leaderboard"]


def add_commands(commands: Any) -> None:
    """Add ``leaderboard`` and its subcommands to ``subliminal-gym``."""
    board = commands.add_parser("leaderboard", formatter_class=HelpFormatter,
                                help="validate, score and render leaderboard submissions",
                                description="Submissions are folders with a submission.json (see "
                                            "leaderboards/submission.schema.json) and safetensors policies. The "
                                            "scorer re-runs them on the board's fixed test seeds; numbers in a "
                                            "submission are ignored.")
    actions = board.add_subparsers(dest="action", required=True)
    validate = actions.add_parser("validate", formatter_class=HelpFormatter,
                                  help="check a submission folder without running it")
    validate.add_argument("path", type=Path, help="the submission folder")
    score = actions.add_parser("score", formatter_class=HelpFormatter,
                               help="validate, run on the board's protocol, and add to the board")
    score.add_argument("path", type=Path, help="the submission folder (or an entry's folder, to re-score it)")
    render = actions.add_parser("render", formatter_class=HelpFormatter,
                                help="regenerate every board's table.md and index.html from the stored entries")
    build = actions.add_parser("build-reference", formatter_class=HelpFormatter,
                               help="build the defences board's reference teacher and trajectories (about a "
                                    "minute) and check them against the board's hashes")
    build.add_argument("--out", type=Path, default=None, help="where (default: BOARDS/defences/reference)")
    build.add_argument("--force", action="store_true", help="rebuild an existing reference")
    for parser in (score, render, build):
        parser.add_argument("--boards", type=Path, default=None,
                            help="the boards folder (default: ./leaderboards, or leaderboards/ of the checkout the "
                                 "package runs from)")
    score.add_argument("--reference", type=Path, default=None,
                       help="the defences reference folder (default: BOARDS/defences/reference)")
    board.set_defaults(run=run_leaderboard)


def run_leaderboard(args: argparse.Namespace) -> int:
    """Run a ``leaderboard`` subcommand; returns the exit status."""
    from subliminal_gym.baselines.artifacts import ArtifactError
    from subliminal_gym.leaderboards.boards import BoardsNotFound, default_boards_root
    from subliminal_gym.leaderboards.reference import ReferenceMismatch

    if args.action in ("score", "build-reference"):
        import torch

        torch.set_num_threads(1)  # small networks: one thread is faster and steadier on small machines
    from subliminal_gym.leaderboards.submission import SubmissionError, load_submission

    try:
        if args.action == "validate":
            submission = load_submission(args.path)
            print(f"{args.path}: valid {submission.board} submission {submission.name!r} "
                  f"({', '.join(submission.env_ids)}); artifact SHA-256 {submission.artifact_sha256()}")
        elif args.action == "score":
            from subliminal_gym.leaderboards.scorer import score_submission

            summary = score_submission(args.path, root=args.boards or default_boards_root(), reference=args.reference)
            print(f"scored {summary['name']!r} on the {summary['board']} board: {summary.folder}")
            print(_one_line(summary))
        elif args.action == "render":
            from subliminal_gym.leaderboards.render import render_boards

            for path in render_boards(args.boards or default_boards_root()):
                print(f"wrote {path}")
        else:
            from subliminal_gym.leaderboards.reference import build_reference, check_reference, default_reference_dir

            root = args.boards or default_boards_root()
            out = args.out or default_reference_dir(root)
            build_reference(out, force=args.force)
            check_reference(out, root=root)
            print(f"reference built in {out}; it matches the board's hashes")
        return 0
    except SubmissionError as exc:
        for problem in exc.problems:
            print(f"error: {problem}", file=sys.stderr)
        return 2
    except (ArtifactError, ReferenceMismatch, BoardsNotFound) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2


def _one_line(summary: dict[str, Any]) -> str:
    if summary["board"] == "defences":
        e = summary["excess_habit"]
        return (f"defence score {summary['score']:.3f}: capability kept {100 * summary['capability_kept']:.1f} %, "
                f"excess habit {100 * e['difference']:+.1f} pp [{100 * e['low']:+.1f}, {100 * e['high']:+.1f}]")
    parts = []
    for env_id, env in sorted(summary["envs"].items()):
        habit = env["habits"][env["primary_metric"]]
        parts.append(f"{env_id}: safe success {100 * env['safe_success']['value']:.1f} %, probe success "
                     f"{100 * env['probe_success']['value']:.1f} %, {env['primary_metric']} "
                     f"{100 * habit['value']:.1f} % [{100 * habit['low']:.1f}, {100 * habit['high']:.1f}]")
    return "\n".join(parts)
