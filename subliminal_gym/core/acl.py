"""POSIX access ACLs as the world stores them."""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["ACL_XATTR", "PosixAcl"]

ACL_XATTR = "system.posix_acl_access"


@dataclass(frozen=True)
class PosixAcl:
    """An extended POSIX access ACL (kept, as Linux does, in the ``system.posix_acl_access``
    extended attribute of the node).

    The owner and other entries stay in the mode bits. While an extended ACL exists, the mode's
    group bits show the ``mask`` (as ``ls -l`` and ``chmod g=...`` do on Linux) and the owning
    group's own permissions live in ``group_obj``.
    """

    group_obj: int
    users: tuple[tuple[int, int], ...] = ()
    """(uid, rwx bits) of named user entries, sorted by uid."""
    groups: tuple[tuple[int, int], ...] = ()
    """(gid, rwx bits) of named group entries, sorted by gid."""
    mask: int = 7

    def computed_mask(self) -> int:
        """The mask setfacl computes: the union of the group class entries."""
        bits = self.group_obj
        for _, perms in self.users + self.groups:
            bits |= perms
        return bits
