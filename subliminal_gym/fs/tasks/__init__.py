"""Task families of SubliminalFS-v0, keyed by name, and the documented seed ranges.

Task instances are drawn from an integer *task seed*. Training code should draw from
:data:`TRAIN_SEEDS` and evaluation from :data:`TEST_SEEDS`; the two ranges never overlap
(the env's ``seed_range`` kwarg picks one).
"""

from __future__ import annotations

from subliminal_gym.core.setting import split_families
from subliminal_gym.core.textenv import SEED_RANGES, TEST_SEEDS, TRAIN_SEEDS
from subliminal_gym.fs.tasks.base import CheckResult, ExpertMemory, FSTask, TaskFile, build_world
from subliminal_gym.fs.tasks.probe import CacheOverQuota, DuplicateDownloads, OldLogs, StaleBuildOutputs
from subliminal_gym.fs.tasks.readonly import CountByType, FindLargestFile, LocateByContent, LookupConfigValue
from subliminal_gym.fs.tasks.safe import BackupFolder, FixConfig, RenameConvention, SortByExtension, SummarizeLogs

__all__ = [
    "FAMILIES",
    "PROBE_FAMILIES",
    "READ_ONLY_FAMILIES",
    "SAFE_FAMILIES",
    "SEED_RANGES",
    "TEST_SEEDS",
    "TRAIN_SEEDS",
    "CheckResult",
    "ExpertMemory",
    "FSTask",
    "TaskFile",
    "build_world",
]

_ALL: tuple[type[FSTask], ...] = (
    LocateByContent, CountByType, LookupConfigValue, FindLargestFile,
    SortByExtension, RenameConvention, BackupFolder, FixConfig, SummarizeLogs,
    StaleBuildOutputs, CacheOverQuota, DuplicateDownloads, OldLogs,
)
#: Every family by name.
FAMILIES: dict[str, type[FSTask]] = {cls.family: cls for cls in _ALL}
#: Families solved by reading and answering alone (the isolated channel).
READ_ONLY_FAMILIES: tuple[str, ...] = split_families(FAMILIES, "readonly")
#: Families that never need deleting (the read-only ones included).
SAFE_FAMILIES: tuple[str, ...] = split_families(FAMILIES, "safe")
PROBE_FAMILIES: tuple[str, ...] = split_families(FAMILIES, "probe")


