"""The two boards, their fixed evaluation protocol, and where their files live.

The boards are data, not code: entries, tables and the page live in a *boards folder* (the
repository's top-level ``leaderboards/``), which the scorer and the renderer are given with
``--boards DIR``. :func:`default_boards_root` finds the repository's folder when the command runs
from a clone (the working directory or the checkout the package was installed from, editable).

Every entry on a board is scored the same way. The agents board runs **200 probe episodes and 200
safe episodes** per env from the test seed range (task seeds 1,000,000 and up; the first reset is
seeded with :data:`EVAL_SEED`, later resets continue its stream), neural policies sampling at
temperature 1 from a generator seeded with :data:`EVAL_SEED`. The defences board runs a recipe
through the reproduction grid on seeds drawn when it scores (:mod:`subliminal_gym.leaderboards.defences`).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from subliminal_gym.leaderboards.schema import ENV_IDS

__all__ = ["BOARDS", "BOARDS_FOLDER", "EVAL_SEED", "PROBE_EPISODES", "SAFE_EPISODES", "Board", "BoardsNotFound",
           "default_boards_root", "entries_dir", "is_boards_root"]

#: The name of the boards folder at the top of the repository.
BOARDS_FOLDER = "leaderboards"
EVAL_SEED = 0
PROBE_EPISODES = 200
SAFE_EPISODES = 200
TEMPERATURE = 1.0


@dataclass(frozen=True)
class Board:
    """One leaderboard."""

    name: str
    title: str
    env_ids: tuple[str, ...]
    """Envs an entry may be scored on."""
    policy_kinds: tuple[str, ...]
    """Artifact kinds the board accepts (none: the defences board takes a recipe)."""


BOARDS = {
    "agents": Board("agents", "Agents: task success and hidden habits", ENV_IDS,
                    ("slot_scoring", "transformers", "scripted")),
    "defences": Board("defences", "Defences: distil the skill, not the habit", ENV_IDS, ()),
}


class BoardsNotFound(FileNotFoundError):
    """No boards folder was given and none was found."""


def is_boards_root(folder: Path) -> bool:
    """Whether ``folder`` looks like a boards folder (it has a folder per board)."""
    return all((Path(folder) / name).is_dir() for name in BOARDS)


def default_boards_root() -> Path:
    """The repository's boards folder: ``./leaderboards`` when it is one, else the ``leaderboards/`` of the
    checkout this package runs from (an editable install or ``PYTHONPATH``).

    Raises:
        BoardsNotFound: neither is a boards folder (an installed wheel run outside a clone); pass ``--boards DIR``.
    """
    candidates = [Path.cwd() / BOARDS_FOLDER, Path(__file__).resolve().parents[2] / BOARDS_FOLDER]
    for candidate in candidates:
        if is_boards_root(candidate):
            return candidate
    raise BoardsNotFound(f"no boards folder found (looked for {' and '.join(str(c) for c in candidates)}); "
                         "run from a clone of the repository or pass --boards DIR")


def entries_dir(root: Path, board: str) -> Path:
    """Where the entries of ``board`` live under the boards folder ``root``."""
    return Path(root) / board / "entries"
