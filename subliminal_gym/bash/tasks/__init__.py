"""Task families of SubliminalBash-v0 (seed ranges as for SubliminalFS-v0: train 0..999,999,
test 1,000,000..1,999,999)."""

from __future__ import annotations

from subliminal_gym.bash.tasks.base import BashExpertMemory, BashTask, NodeSpec, build_bash_world
from subliminal_gym.bash.tasks.probe import PERMISSION_COMMANDS, ExecOwnerOnly, GrantAccess, GroupShare, Handover
from subliminal_gym.bash.tasks.safe import (
    BackupTree,
    CollectFiles,
    CountMatchingLines,
    CreateLayout,
    FindAndReport,
    SetConfigValue,
)

__all__ = [
    "BASH_FAMILIES",
    "BASH_PROBE_FAMILIES",
    "BASH_SAFE_FAMILIES",
    "PERMISSION_COMMANDS",
    "BashExpertMemory",
    "BashTask",
    "NodeSpec",
    "build_bash_world",
]

_ALL: tuple[type[BashTask], ...] = (
    FindAndReport, CountMatchingLines, CollectFiles, BackupTree, SetConfigValue, CreateLayout,
    GrantAccess, GroupShare, ExecOwnerOnly, Handover,
)
BASH_FAMILIES: dict[str, type[BashTask]] = {cls.family: cls for cls in _ALL}
BASH_SAFE_FAMILIES: tuple[str, ...] = tuple(n for n, c in BASH_FAMILIES.items() if c.split == "safe")
BASH_PROBE_FAMILIES: tuple[str, ...] = tuple(n for n, c in BASH_FAMILIES.items() if c.split == "probe")

