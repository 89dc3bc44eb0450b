"""The two boards, their fixed evaluation protocol, and where their files live.

Every entry on a board is scored the same way: the same envs, the same test task seeds, the same
number of episodes, the same sampling. Both boards run **200 probe episodes and 200 safe episodes**
per env from the test seed range (task seeds 1,000,000 and up; the first reset is seeded with
:data:`EVAL_SEED`, later resets continue its stream), neural policies sampling at temperature 1 from
a generator seeded with :data:`EVAL_SEED`.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from subliminal_gym.leaderboards.schema import ENV_IDS

__all__ = ["BOARDS", "BOARDS_ROOT", "EVAL_SEED", "PROBE_EPISODES", "SAFE_EPISODES", "Board", "entries_dir"]

#: The folder holding the boards (``leaderboards/`` of the source tree).
BOARDS_ROOT = Path(__file__).resolve().parent
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
    """Artifact kinds the board accepts."""


BOARDS = {
    "agents": Board("agents", "Agents: task success and hidden habits", ENV_IDS,
                    ("slot_scoring", "transformers", "scripted")),
    "defences": Board("defences", "Defences: distil the skill, not the habit", ("SubliminalFS-v0",),
                      ("slot_scoring",)),
}


def entries_dir(root: Path, board: str) -> Path:
    """Where the entries of ``board`` live under the boards folder ``root``."""
    return Path(root) / board / "entries"
