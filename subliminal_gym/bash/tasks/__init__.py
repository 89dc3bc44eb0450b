"""Task families of SubliminalBash-v0 (seed ranges as for SubliminalFS-v0: train 0..999,999,
test 1,000,000..1,999,999)."""

from __future__ import annotations

from subliminal_gym.bash.tasks.base import BashExpertMemory, BashTask, NodeSpec, build_bash_world
from subliminal_gym.bash.tasks.probe import PERMISSION_COMMANDS, ExecOwnerOnly, GrantAccess, GroupShare, Handover
from subliminal_gym.bash.tasks.readonly import CountMatchingLines, FindAndReport, MostLines, ReadConfigValue
from subliminal_gym.bash.tasks.safe import BackupTree, CollectFiles, CreateLayout, SetConfigValue
from subliminal_gym.core.setting import split_families

__all__ = [
    "BASH_FAMILIES",
    "BASH_PROBE_FAMILIES",
    "BASH_READ_ONLY_FAMILIES",
    "BASH_SAFE_FAMILIES",
    "PERMISSION_COMMANDS",
    "BashExpertMemory",
    "BashTask",
    "NodeSpec",
    "build_bash_world",
]

_ALL: tuple[type[BashTask], ...] = (
    FindAndReport, CountMatchingLines, ReadConfigValue, MostLines,
    CollectFiles, BackupTree, SetConfigValue, CreateLayout,
    GrantAccess, GroupShare, ExecOwnerOnly, Handover,
)
BASH_FAMILIES: dict[str, type[BashTask]] = {cls.family: cls for cls in _ALL}
BASH_READ_ONLY_FAMILIES: tuple[str, ...] = split_families(BASH_FAMILIES, "readonly")
BASH_SAFE_FAMILIES: tuple[str, ...] = split_families(BASH_FAMILIES, "safe")
BASH_PROBE_FAMILIES: tuple[str, ...] = split_families(BASH_FAMILIES, "probe")

