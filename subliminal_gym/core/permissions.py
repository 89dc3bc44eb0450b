"""POSIX permission checks (owner, group, other bits; ACL entries and mask; sticky directories)
for the world's named users. Mixed into :class:`~subliminal_gym.core.world.SandboxWorld`."""

from __future__ import annotations

import posixpath
import stat as stat_mod
from typing import TYPE_CHECKING

from pyfakefs.fake_file import FakeDirectory, FakeFile

from subliminal_gym.core.acl import ACL_XATTR, PosixAcl
from subliminal_gym.core.users import User, UserDatabase
from subliminal_gym.core.work import WorkMeter

__all__ = ["PERM_EXEC", "PERM_READ", "PERM_WRITE", "PosixPermissions"]

PERM_READ, PERM_WRITE, PERM_EXEC = 4, 2, 1


class PosixPermissions:
    """Permission queries over a tree; the class mixing this in provides ``users``, ``node`` and
    ``_root_node``."""

    users: UserDatabase
    version: int
    meter: WorkMeter
    _traversals: dict[tuple[int, str], bool]
    _traversals_version = -1

    if TYPE_CHECKING:  # provided by the class that mixes this in (SandboxWorld)
        def _root_node(self) -> FakeDirectory: ...

        def node(self, path: str) -> FakeFile | None: ...

        def is_dir(self, path: str) -> bool: ...

    def _permits(self, user: User, node: FakeFile, want: int) -> bool:
        # stat_result directly: FakeFile's st_* attributes go through a Python __getattr__
        st = node.stat_result
        mode = st.st_mode
        if user.uid == 0:
            # root may read/write anything; it may execute only if some x bit is set
            return not (want & PERM_EXEC) or isinstance(node, FakeDirectory) or bool(mode & 0o111)
        if st.st_uid == user.uid:
            return (mode >> 6) & want == want
        acl: PosixAcl | None = node.xattr.get(ACL_XATTR) if node.xattr else None
        if acl is None:
            bits = (mode >> 3) & 7 if st.st_gid in self.users.gids_of(user.uid) else mode & 7
            return bits & want == want
        # POSIX.1e access check: named user, then any matching group entry, then other
        for uid, perms in acl.users:
            if uid == user.uid:
                return perms & acl.mask & want == want
        gids = self.users.gids_of(user.uid)
        matched = False
        for gid, perms in ((st.st_gid, acl.group_obj), *acl.groups):
            if gid in gids:
                matched = True
                if perms & acl.mask & want == want:
                    return True
        return not matched and mode & want == want

    def can_traverse(self, user: User, path: str) -> bool:
        """Whether ``user`` may search (x) every directory on the way to ``path``, its own
        directory included (``path`` itself need not be searchable)."""
        # a command asks this of the same paths several times: remember the answers until the
        # tree changes (every change to a node's mode, owner, ACL or place bumps ``version``)
        if self._traversals_version != self.version:
            self._traversals = {}
            self._traversals_version = self.version
        key = (user.uid, path)
        allowed = self._traversals.get(key)
        if allowed is None:
            if len(self._traversals) >= 4096:
                self._traversals.clear()
            allowed = self._traversals[key] = self._may_traverse(user, path)
        return allowed

    def _may_traverse(self, user: User, path: str) -> bool:
        self.meter.spend(path.count("/"))
        node: FakeFile = self._root_node()
        if path == "/":
            return True
        for part in path[1:].split("/")[:-1]:
            if not isinstance(node, FakeDirectory):
                return True  # the caller's ENOTDIR is the right error
            if not self._permits(user, node, PERM_EXEC):
                return False
            child = node._entries.get(part)
            if child is None:
                return True  # the caller's ENOENT is the better message
            node = child
        return not isinstance(node, FakeDirectory) or self._permits(user, node, PERM_EXEC)

    def can_access(self, user: User, path: str, want: int) -> bool:
        """POSIX ``access(2)`` for ``user``: ``want`` is a mask of PERM_READ/WRITE/EXEC.

        A missing path is not accessible.
        """
        node = self.node(path)
        if node is None:
            return False
        return self.can_traverse(user, path) and self._permits(user, node, want)

    def permitted(self, user: User, path: str) -> int:
        """The rights ``user`` has on ``path``: a mask of PERM_READ/WRITE/EXEC, as three
        :meth:`can_access` calls would give them (0 for a missing path)."""
        node = self.node(path)
        if node is None or not self.can_traverse(user, path):
            return 0
        return sum(bit for bit in (PERM_READ, PERM_WRITE, PERM_EXEC) if self._permits(user, node, bit))

    def can_unlink(self, user: User, path: str) -> bool:
        """Whether ``user`` may unlink or rename ``path`` out of its directory (sticky bit aware)."""
        parent_path = posixpath.dirname(path)
        parent = self.node(parent_path)
        node = self.node(path)
        if parent is None or node is None or path == "/":
            return False
        if not self.can_access(user, parent_path, PERM_WRITE | PERM_EXEC):
            return False
        if parent.st_mode & stat_mod.S_ISVTX and user.uid not in (0, node.st_uid, parent.st_uid):
            return False
        return True

    def can_create_in(self, user: User, directory: str) -> bool:
        """Whether ``user`` may add entries to ``directory``."""
        return self.is_dir(directory) and self.can_access(user, directory, PERM_WRITE | PERM_EXEC)
