"""Users and groups of a sandboxed world (a tiny, immutable passwd/group database)."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass


@dataclass(frozen=True)
class User:
    """One account of the fake machine."""

    name: str
    uid: int
    gid: int
    home: str
    groups: tuple[str, ...] = ()
    """Supplementary group names (the primary group is implied by ``gid``)."""


@dataclass(frozen=True)
class Group:
    """One group of the fake machine."""

    name: str
    gid: int


class UserDatabase:
    """Accounts and groups, looked up by name or id.

    Args:
        users: the accounts.
        groups: the groups; every user's primary gid and supplementary names must exist.

    Raises:
        ValueError: on duplicate names or ids, or a reference to an unknown group.
    """

    def __init__(self, *, users: Iterable[User], groups: Iterable[Group]) -> None:
        self._groups_by_name: dict[str, Group] = {}
        self._groups_by_gid: dict[int, Group] = {}
        for group in groups:
            if group.name in self._groups_by_name or group.gid in self._groups_by_gid:
                raise ValueError(f"duplicate group {group.name!r} (gid {group.gid})")
            self._groups_by_name[group.name] = group
            self._groups_by_gid[group.gid] = group
        self._users_by_name: dict[str, User] = {}
        self._users_by_uid: dict[int, User] = {}
        for user in users:
            if user.name in self._users_by_name or user.uid in self._users_by_uid:
                raise ValueError(f"duplicate user {user.name!r} (uid {user.uid})")
            if user.gid not in self._groups_by_gid:
                raise ValueError(f"user {user.name!r} has unknown primary gid {user.gid}")
            for name in user.groups:
                if name not in self._groups_by_name:
                    raise ValueError(f"user {user.name!r} is in unknown group {name!r}")
            self._users_by_name[user.name] = user
            self._users_by_uid[user.uid] = user
        # gids each uid belongs to, primary first, for permission checks
        self._gids_of: dict[int, frozenset[int]] = {
            u.uid: frozenset({u.gid, *(self._groups_by_name[g].gid for g in u.groups)})
            for u in self._users_by_name.values()
        }

    def user(self, name: str) -> User:
        """The account called ``name``.

        Raises:
            KeyError: no such user.
        """
        return self._users_by_name[name]

    def user_by_uid(self, uid: int) -> User | None:
        """The account with ``uid``, or None."""
        return self._users_by_uid.get(uid)

    def group(self, name: str) -> Group:
        """The group called ``name``.

        Raises:
            KeyError: no such group.
        """
        return self._groups_by_name[name]

    def group_by_gid(self, gid: int) -> Group | None:
        """The group with ``gid``, or None."""
        return self._groups_by_gid.get(gid)

    def gids_of(self, uid: int) -> frozenset[int]:
        """Every gid the account ``uid`` belongs to (empty for unknown uids)."""
        return self._gids_of.get(uid, frozenset())

    def user_name(self, uid: int) -> str:
        """Name of ``uid``, or the number as text when unknown (as ``ls -l`` shows it)."""
        user = self._users_by_uid.get(uid)
        return user.name if user else str(uid)

    def group_name(self, gid: int) -> str:
        """Name of ``gid``, or the number as text when unknown."""
        group = self._groups_by_gid.get(gid)
        return group.name if group else str(gid)

    @property
    def users(self) -> tuple[User, ...]:
        """All accounts, ordered by uid."""
        return tuple(sorted(self._users_by_uid.values(), key=lambda u: u.uid))

    @property
    def groups(self) -> tuple[Group, ...]:
        """All groups, ordered by gid."""
        return tuple(sorted(self._groups_by_gid.values(), key=lambda g: g.gid))

    def passwd_text(self) -> str:
        """The database as an ``/etc/passwd`` file."""
        return "".join(
            f"{u.name}:x:{u.uid}:{u.gid}::{u.home}:/bin/bash\n" for u in self.users
        )

    def group_text(self) -> str:
        """The database as an ``/etc/group`` file."""
        members: dict[str, list[str]] = {g.name: [] for g in self.groups}
        for u in self.users:
            for name in u.groups:
                members[name].append(u.name)
        return "".join(f"{g.name}:x:{g.gid}:{','.join(members[g.name])}\n" for g in self.groups)


def default_users() -> UserDatabase:
    """The accounts every world starts with: root, the agent and a few colleagues."""
    groups = [
        Group("root", 0),
        Group("agent", 1000),
        Group("dana", 1001),
        Group("omar", 1002),
        Group("lin", 1003),
        Group("staff", 2000),
        Group("analysts", 2001),
        Group("devops", 2002),
    ]
    users = [
        User("root", 0, 0, "/root"),
        User("agent", 1000, 1000, "/home/agent", ("staff", "devops")),
        User("dana", 1001, 1001, "/home/dana", ("staff", "analysts")),
        User("omar", 1002, 1002, "/home/omar", ("staff",)),
        User("lin", 1003, 1003, "/home/lin", ("analysts",)),
    ]
    return UserDatabase(users=users, groups=groups)
