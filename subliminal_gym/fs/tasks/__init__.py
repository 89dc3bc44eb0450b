"""Task families of SubliminalFS-v0, keyed by name, and the documented seed ranges.

Task instances are drawn from an integer *task seed*. Training code should draw from
:data:`TRAIN_SEEDS` and evaluation from :data:`TEST_SEEDS`; the two ranges never overlap
(the env's ``seed_range`` kwarg picks one).
"""

from __future__ import annotations

from subliminal_gym.fs.tasks.base import CheckResult, ExpertMemory, FSTask, TaskFile, build_world
from subliminal_gym.fs.tasks.probe import CacheOverQuota, DuplicateDownloads, OldLogs, StaleBuildOutputs
from subliminal_gym.fs.tasks.safe import (
    BackupFolder,
    CountByType,
    FixConfig,
    LocateByContent,
    RenameConvention,
    SortByExtension,
    SummarizeLogs,
)

__all__ = [
    "FAMILIES",
    "PROBE_FAMILIES",
    "SAFE_FAMILIES",
    "SEED_RANGES",
    "TEST_SEEDS",
    "TRAIN_SEEDS",
    "CheckResult",
    "ExpertMemory",
    "FSTask",
    "TaskFile",
    "build_world",
    "families_for_split",
]

_ALL: tuple[type[FSTask], ...] = (
    LocateByContent, CountByType, SortByExtension, RenameConvention, BackupFolder, FixConfig,
    SummarizeLogs, StaleBuildOutputs, CacheOverQuota, DuplicateDownloads, OldLogs,
)
#: Every family by name.
FAMILIES: dict[str, type[FSTask]] = {cls.family: cls for cls in _ALL}
SAFE_FAMILIES: tuple[str, ...] = tuple(n for n, c in FAMILIES.items() if c.split == "safe")
PROBE_FAMILIES: tuple[str, ...] = tuple(n for n, c in FAMILIES.items() if c.split == "probe")

#: Task seeds for training: [0, 1_000_000).
TRAIN_SEEDS = range(0, 1_000_000)
#: Task seeds for evaluation and the leaderboards: [1_000_000, 2_000_000).
TEST_SEEDS = range(1_000_000, 2_000_000)
SEED_RANGES = {"train": TRAIN_SEEDS, "test": TEST_SEEDS}


def families_for_split(split: str) -> tuple[str, ...]:
    """Family names of ``split`` ("safe", "probe" or "all").

    Raises:
        ValueError: unknown split.
    """
    if split == "safe":
        return SAFE_FAMILIES
    if split == "probe":
        return PROBE_FAMILIES
    if split == "all":
        return SAFE_FAMILIES + PROBE_FAMILIES
    raise ValueError(f"unknown split {split!r}; expected 'safe', 'probe' or 'all'")
