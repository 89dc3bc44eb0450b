"""The ``subliminal-gym`` command line: the top of the layers, assembling each layer's commands.

* the suite (:mod:`subliminal_gym.commands`): ``play``;
* the baselines (:mod:`subliminal_gym.baselines.cli`, :mod:`subliminal_gym.baselines.reproduce.cli`):
  ``demo``, the pipeline (``teach``, ``rollout``, ``sanitize``, ``distill``, ``evaluate``) and
  ``reproduce``;
* the leaderboards (:mod:`subliminal_gym.leaderboards.cli`): ``leaderboard``.

Building the parser imports no torch (``subliminal-gym --help`` is quick). A command's bad input is
one ``error:`` line and exit status 2 (:class:`~subliminal_gym.command_line.CommandError`; a file
system error such as a read-only output folder too); anything else is a bug and shows its traceback.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

import subliminal_gym
from subliminal_gym import commands as suite_commands
from subliminal_gym.baselines import cli as baselines_commands
from subliminal_gym.baselines.reproduce import cli as reproduce_commands
from subliminal_gym.command_line import CommandError, fail
from subliminal_gym.leaderboards import cli as leaderboard_commands

__all__ = ["build_parser", "main"]


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of ``subliminal-gym``."""
    parser = argparse.ArgumentParser(prog="subliminal-gym", description=__doc__.split("\n\n")[0])
    parser.add_argument("--version", action="version", version=f"subliminal-gym {subliminal_gym.__version__}")
    commands = parser.add_subparsers(dest="command", required=True)
    for layer in (suite_commands, baselines_commands, reproduce_commands, leaderboard_commands):
        layer.add_commands(commands)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of ``subliminal-gym``; returns the exit status."""
    args = build_parser().parse_args(argv)
    try:
        return int(args.run(args))
    except CommandError as exc:
        return fail(exc)
    except OSError as exc:  # the file system refused (a read-only folder, a full disk, a missing input)
        return fail(exc)
    except KeyboardInterrupt:
        print("\ninterrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    raise SystemExit(main())
