"""A sandboxed file-system world on pyfakefs's :class:`FakeFilesystem`, used as an object.

Nothing here patches the real ``os``: the world owns one ``FakeFilesystem`` and works on its
node objects (``FakeDirectory``/``FakeFile``) directly, which is both safe (there is no path from
these methods to the host's disk) and fast (pyfakefs's path layer costs 30-400 us per call; a
walk over ``FakeDirectory.entries`` costs about 1 us). ``world.os`` and ``world.open`` give the
same tree through pyfakefs's fake ``os`` module and fake ``open`` for callers that want them.

Permissions follow POSIX and are decided here, for the world's named users, not by pyfakefs
(which checks against the *host* process's uid); pyfakefs calls run as its root user so that its
own checks never depend on who runs the benchmark.
"""

from __future__ import annotations

import copy
import dataclasses
import errno
import posixpath
import stat as stat_mod
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from pyfakefs import helpers as _pf_helpers
from pyfakefs.fake_file import FakeDirectory, FakeFile
from pyfakefs.fake_filesystem import FakeFilesystem, OSType
from pyfakefs.fake_open import FakeFileOpen
from pyfakefs.fake_os import FakeOsModule

from subliminal_gym.core.acl import ACL_XATTR, PosixAcl
from subliminal_gym.core.errors import ERRNO_MESSAGES, FileSystemError
from subliminal_gym.core.nodes import NodeFactory
from subliminal_gym.core.paths import MAX_PATH_LENGTH, normalize_path
from subliminal_gym.core.permissions import PERM_EXEC, PERM_READ, PERM_WRITE, PosixPermissions
from subliminal_gym.core.users import User, UserDatabase, default_users
from subliminal_gym.core.work import BYTES_PER_UNIT, UNMETERED, WorkMeter

DEFAULT_UMASK = 0o022
MAX_NAME_LENGTH = 255
#: Sandbox limits an agent cannot exceed: they bound the time any single action can take.
MAX_DEPTH = 64
MAX_NODES = 20_000
#: Bytes all regular files together may hold, and one file may hold: a small disk, so that no command
#: line can grow the world without bound (a full world answers ENOSPC, an oversized file EFBIG). The
#: suite's tasks use well under 1 MiB.
MAX_WORLD_BYTES = 32 * 1024 * 1024
MAX_FILE_BYTES = 8 * 1024 * 1024
# paths remembered by SandboxWorld.node between changes to the tree's shape (bounds its memory)
_MAX_LOOKUPS = 4096

# Re-exported here so that ``from subliminal_gym.core.world import ...`` stays the one import.
__all__ = [
    "ACL_XATTR",
    "DEFAULT_UMASK",
    "ERRNO_MESSAGES",
    "MAX_DEPTH",
    "MAX_NODES",
    "MAX_PATH_LENGTH",
    "PERM_EXEC",
    "PERM_READ",
    "PERM_WRITE",
    "FileSystemError",
    "NodeStat",
    "PosixAcl",
    "RemovedFile",
    "SandboxWorld",
    "WorldSnapshot",
    "normalize_path",
]


@dataclass(slots=True)
class NodeStat:
    """What ``stat`` tells about a node: a copy, so changing it changes nothing in the tree (not
    frozen: a frozen dataclass costs a microsecond more to make, and commands make one per file)."""

    path: str
    is_dir: bool
    size: int
    mode: int
    """Permission bits only (``st_mode & 0o7777``)."""
    uid: int
    gid: int
    mtime: float
    is_symlink: bool = False
    inode: int = 0

    @property
    def filemode(self) -> str:
        """``ls -l`` style mode string, e.g. ``-rw-r--r--`` (``l`` for a symlink)."""
        kind = stat_mod.S_IFLNK if self.is_symlink else stat_mod.S_IFDIR if self.is_dir else stat_mod.S_IFREG
        return stat_mod.filemode(kind | self.mode)


@dataclass(frozen=True)
class RemovedFile:
    """A regular file destroyed by :meth:`SandboxWorld.remove`, or (``overwritten``) whose content
    an overwrite or truncation replaced (:meth:`SandboxWorld.overwrite_loss`)."""

    path: str
    inode: int
    size: int
    overwritten: bool = False


MAX_SYMLINK_HOPS = 40


@dataclass(frozen=True)
class WorldSnapshot:
    """A frozen copy of a world's tree and clock; restore it with :meth:`SandboxWorld.restore`."""

    fs: FakeFilesystem
    now: float
    nodes: int
    bytes: int = 0


@contextmanager
def _as_pyfakefs_root() -> Iterator[None]:
    # pyfakefs enforces permissions against a module-global uid that defaults to the host
    # process's uid; the world enforces its own users' permissions, so run pyfakefs as root.
    previous = _pf_helpers.get_uid()
    _pf_helpers.set_uid(0)
    try:
        yield
    finally:
        _pf_helpers.set_uid(previous)


def _stream_memo(fs: FakeFilesystem) -> dict[int, Any]:
    # deepcopy cannot copy the wrapped sys streams in fs.open_files; share them instead.
    memo: dict[int, Any] = {}
    for entry in fs.open_files:
        if entry:
            for wrapper in entry:
                memo[id(wrapper)] = wrapper
    return memo


def _copy_fs(fs: FakeFilesystem) -> FakeFilesystem:
    return copy.deepcopy(fs, _stream_memo(fs))


def _is_dir(node: FakeFile) -> bool:
    return isinstance(node, FakeDirectory)


def _is_link(node: FakeFile) -> bool:
    return stat_mod.S_ISLNK(node.stat_result.st_mode)


class SandboxWorld(PosixPermissions):
    """A POSIX-like tree with users, owners, modes and a deterministic clock.

    Paths given to its methods are absolute and normalised (see :func:`normalize_path`); the
    interfaces above (tools, shell) resolve what an agent typed before calling in.

    Args:
        users: the account database (default: :func:`~subliminal_gym.core.users.default_users`).
        now: the clock's start, in seconds since the epoch; it only moves by :meth:`advance`.
        umask: applied to new files (0o666) and directories (0o777).
    """

    def __init__(
        self,
        *,
        users: UserDatabase | None = None,
        now: float = 1_772_442_000.0,
        umask: int = DEFAULT_UMASK,
    ) -> None:
        self.users = users or default_users()
        self.umask = umask
        self._now = float(now)
        self.version = 0
        self.node_count = 1
        """Nodes in the tree (the root included); at most :data:`MAX_NODES`."""
        self.byte_count = 0
        """Bytes in the tree's regular files and links; at most :data:`MAX_WORLD_BYTES`."""
        self._growing: list[FakeFile] = []
        self.meter: WorkMeter = UNMETERED
        """What the running action may still spend (see :mod:`subliminal_gym.core.work`)."""
        with _as_pyfakefs_root():
            fs = FakeFilesystem(path_separator="/")
            if fs.os != OSType.LINUX:  # setting it rebuilds the tree: only on a non-Linux host
                fs.os = OSType.LINUX
        self._set_fs(fs)
        root = self._root_node()
        root.st_mode = stat_mod.S_IFDIR | 0o755
        root.st_uid = root.st_gid = 0  # pyfakefs took the host's ids; "/" belongs to root here
        self._stamp(root)

    # -- plumbing -----------------------------------------------------------------------------

    def _set_fs(self, fs: FakeFilesystem) -> None:
        self.fs = fs
        self._lookups: dict[str, FakeFile] = {}
        """Nodes found by :meth:`node`, by path; emptied by every change to the tree's shape."""
        self._fake_os: FakeOsModule | None = None
        self._fake_open: FakeFileOpen | None = None
        self._factory: NodeFactory | None = None

    @property
    def _nodes(self) -> NodeFactory:
        if self._factory is None:
            self._factory = NodeFactory(self.fs)
        return self._factory

    def _root_node(self) -> FakeDirectory:
        return self.fs.root

    @property
    def os(self) -> FakeOsModule:
        """pyfakefs's fake ``os`` module over this world's tree (never the real one)."""
        if self._fake_os is None:
            self._fake_os = FakeOsModule(self.fs)
        return self._fake_os

    @property
    def open(self) -> FakeFileOpen:
        """pyfakefs's fake ``open`` over this world's tree."""
        if self._fake_open is None:
            self._fake_open = FakeFileOpen(self.fs)
        return self._fake_open

    @property
    def now(self) -> float:
        """The deterministic clock, in seconds since the epoch."""
        return self._now

    def advance(self, seconds: float = 1.0) -> None:
        """Move the clock forward (the env does this once per step)."""
        self._now += seconds

    def _stamp(self, node: FakeFile, when: float | None = None) -> None:
        t = self._now if when is None else when
        st = node.stat_result  # bypasses FakeFile's per-attribute __setattr__ forwarding
        st.st_mtime = t
        st.st_ctime = t
        st.st_atime = t

    def _changed(self, *nodes: FakeFile) -> None:
        self.version += 1
        for node in nodes:
            self._stamp(node)

    # -- snapshots ----------------------------------------------------------------------------

    def snapshot(self) -> WorldSnapshot:
        """A deep copy of the tree and clock, independent of later changes."""
        self.seal()
        return WorldSnapshot(fs=_copy_fs(self.fs), now=self._now, nodes=self.node_count, bytes=self.byte_count)

    def restore(self, snapshot: WorldSnapshot) -> None:
        """Make the tree and clock equal to ``snapshot`` (which stays unchanged, reusable)."""
        self._set_fs(_copy_fs(snapshot.fs))
        self._now = snapshot.now
        self.node_count = snapshot.nodes
        self.byte_count = snapshot.bytes
        self._growing = []
        self.version += 1

    def __getstate__(self) -> dict[str, Any]:
        # The fs holds wrapped sys streams that cannot be pickled: pickle a copy without them.
        self.seal()
        fs = _copy_fs(self.fs)
        fs.open_files = []
        fs._free_fd_heap = []
        state = self.__dict__.copy()
        state["fs"] = fs
        state["_fake_os"] = None
        state["_fake_open"] = None
        state["_factory"] = None  # its templates and lookups belong to self.fs, not the copy
        state["_lookups"] = {}
        state["meter"] = UNMETERED
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        self.fs._add_standard_streams()

    # -- lookups ------------------------------------------------------------------------------

    def node(self, path: str) -> FakeFile | None:
        """The node at absolute ``path``, or None (no symlinks are followed)."""
        self.meter.spend(1)
        found = self._lookups.get(path)
        if found is not None:
            return found
        node: FakeFile = self._root_node()
        if path == "/":
            return node
        for part in path[1:].split("/"):
            if not isinstance(node, FakeDirectory):
                return None
            child = node._entries.get(part)
            if child is None:
                return None
            node = child
        if len(self._lookups) >= _MAX_LOOKUPS:
            self._lookups.clear()
        self._lookups[path] = node
        return node

    def _require(self, path: str) -> FakeFile:
        node = self.node(path)
        if node is None:
            raise FileSystemError(errno.ENOENT, path)
        return node

    def _require_dir(self, path: str) -> FakeDirectory:
        node = self._require(path)
        if not isinstance(node, FakeDirectory):
            raise FileSystemError(errno.ENOTDIR, path)
        return node

    def _parent_dir(self, path: str) -> FakeDirectory:
        parent = posixpath.dirname(path)
        node = self.node(parent)
        if node is None:
            raise FileSystemError(errno.ENOENT, path)
        if not isinstance(node, FakeDirectory):
            raise FileSystemError(errno.ENOTDIR, path)
        return node

    def exists(self, path: str) -> bool:
        """Whether anything is at ``path``."""
        return self.node(path) is not None

    def is_dir(self, path: str) -> bool:
        """Whether ``path`` is a directory."""
        return isinstance(self.node(path), FakeDirectory)

    def is_file(self, path: str) -> bool:
        """Whether ``path`` is a regular file."""
        node = self.node(path)
        return node is not None and not isinstance(node, FakeDirectory)

    def stat(self, path: str) -> NodeStat:
        """Type, size, owner, group, mode and mtime of ``path`` (a symlink itself is described,
        as ``lstat`` does; :meth:`resolve` first to follow it).

        Raises:
            FileSystemError: ENOENT.
        """
        node = self._require(path)
        is_dir = isinstance(node, FakeDirectory)
        st = node.stat_result
        return NodeStat(
            path=path,
            is_dir=is_dir,
            size=0 if is_dir else st.st_size,
            mode=st.st_mode & 0o7777,
            uid=st.st_uid,
            gid=st.st_gid,
            mtime=st.st_mtime,
            is_symlink=_is_link(node),
            inode=int(st.st_ino or 0),  # pyfakefs assigns every node an inode
        )

    def inode(self, path: str) -> int:
        """The inode number of ``path`` (kept across moves, new for copies).

        Raises:
            FileSystemError: ENOENT.
        """
        return int(self._require(path).st_ino)

    def list_dir(self, path: str) -> list[tuple[str, bool, int]]:
        """Entries of a directory as ``(name, is_dir, size)``, sorted by name.

        Raises:
            FileSystemError: ENOENT, ENOTDIR.
        """
        directory = self._require_dir(path)
        self.meter.spend(len(directory._entries))
        out = []
        for name in sorted(directory._entries):
            child = directory._entries[name]
            is_dir = isinstance(child, FakeDirectory)
            out.append((name, is_dir, 0 if is_dir else child.stat_result.st_size))
        return out

    def walk(self, path: str = "/", *, limit: int | None = None) -> list[tuple[str, bool]]:
        """Every node under ``path`` (itself included) as ``(path, is_dir)``, depth first, sorted;
        only the first ``limit`` when given.

        Raises:
            FileSystemError: ENOENT.
        """
        out: list[tuple[str, bool]] = []
        stack = [(path, self._require(path))]
        while stack and (limit is None or len(out) < limit):  # _walk_nodes's order, as one list
            here, node = stack.pop()
            if isinstance(node, FakeDirectory):
                out.append((here, True))
                prefix = "" if here == "/" else here
                entries = node._entries
                self.meter.spend(len(entries))
                stack.extend((f"{prefix}/{name}", entries[name]) for name in sorted(entries, reverse=True))
            else:
                out.append((here, False))
        return out

    def paths_with_mode(self, bits: int, path: str = "/") -> list[str]:
        """Files and directories under ``path`` with any of the permission ``bits`` set
        (symlinks, whose mode means nothing, excluded), in walk order.

        Raises:
            FileSystemError: ENOENT.
        """
        found = []
        stack = [(path, self._require(path))]
        while stack:  # _walk_nodes's order, without its generator (the probes' verdict walks the whole tree)
            here, node = stack.pop()
            mode = node.stat_result.st_mode
            if mode & bits and not stat_mod.S_ISLNK(mode):
                found.append(here)
            if isinstance(node, FakeDirectory):
                prefix = "" if here == "/" else here
                entries = node._entries
                self.meter.spend(len(entries))
                stack.extend((f"{prefix}/{name}", entries[name]) for name in sorted(entries, reverse=True))
        return found

    def files(self, path: str = "/") -> dict[str, bytes]:
        """Contents of every regular file under ``path`` (empty when ``path`` is missing)."""
        if self.node(path) is None:
            return {}
        return {p: self.read_bytes(p) for p, is_dir in self.walk(path) if not is_dir and not self.is_symlink(p)}

    def read_bytes(self, path: str) -> bytes:
        """Contents of a regular file (symlinks are followed).

        Raises:
            FileSystemError: ENOENT, EISDIR, ELOOP.
        """
        node = self._require(path)
        if _is_link(node):
            node = self._require(self.resolve(path))
        if isinstance(node, FakeDirectory):
            raise FileSystemError(errno.EISDIR, path)
        data = node.byte_contents or b""
        self.meter.spend(len(data) // BYTES_PER_UNIT)
        return data

    # -- symlinks -----------------------------------------------------------------------------

    def is_symlink(self, path: str) -> bool:
        """Whether ``path`` itself is a symbolic link."""
        node = self.node(path)
        return node is not None and _is_link(node)

    def readlink(self, path: str) -> str:
        """The target text of the symlink at ``path``.

        Raises:
            FileSystemError: ENOENT, EINVAL (not a symlink).
        """
        node = self._require(path)
        if not _is_link(node):
            raise FileSystemError(errno.EINVAL, path)
        return (node.byte_contents or b"").decode("utf-8", errors="replace")

    def symlink(self, target: str, path: str, *, owner: User) -> None:
        """Create a symlink at ``path`` pointing to ``target`` (which need not exist).

        Raises:
            FileSystemError: EEXIST, ENOENT (no parent), ENOTDIR, ENAMETOOLONG.
        """
        if self.node(path) is not None:
            raise FileSystemError(errno.EEXIST, path)
        name = self._check_name(path)
        parent = self._parent_dir(path)
        node = self._new_link(name, target.encode(), owner)
        self._attach(parent, node)
        self._changed(parent)

    def resolve(self, path: str, *, follow_last: bool = True) -> str:
        """The canonical path of ``path`` with symlinks followed (``realpath``).

        Components that do not exist are kept as written, so the caller reports ENOENT.

        Raises:
            FileSystemError: ELOOP after 40 symlink hops.
        """
        pending = [p for p in reversed(path.split("/")) if p]
        result, hops = "/", 0
        while pending:
            part = pending.pop()
            if part == ".":
                continue
            if part == "..":
                result = posixpath.dirname(result)
                continue
            candidate = result.rstrip("/") + "/" + part
            node = self.node(candidate)
            if node is not None and _is_link(node) and (pending or follow_last):
                hops += 1
                if hops > MAX_SYMLINK_HOPS:
                    raise FileSystemError(errno.ELOOP, path, "Too many levels of symbolic links")
                target = (node.byte_contents or b"").decode("utf-8", errors="replace")
                if target.startswith("/"):
                    result = "/"
                pending.extend(p for p in reversed(target.split("/")) if p)
                continue
            result = candidate
        return result

    # -- ACLs ---------------------------------------------------------------------------------

    def get_acl(self, path: str) -> PosixAcl | None:
        """The extended access ACL of ``path``, or None when it has only the mode bits.

        Raises:
            FileSystemError: ENOENT.
        """
        return self._require(path).xattr.get(ACL_XATTR)

    def set_acl(self, path: str, acl: PosixAcl | None) -> None:
        """Set (or, with None, drop) the extended ACL of ``path``; the mode's group bits follow
        the mask (or, when dropped, the owning group's entry).

        Raises:
            FileSystemError: ENOENT.
        """
        node = self._require(path)
        old: PosixAcl | None = node.xattr.get(ACL_XATTR)
        if acl is None:
            node.xattr.pop(ACL_XATTR, None)
            group_bits = old.group_obj if old is not None else (node.st_mode >> 3) & 7
        else:
            node.xattr[ACL_XATTR] = acl
            group_bits = acl.mask
        node.st_mode = (node.st_mode & ~0o070) | (group_bits << 3)
        self.version += 1
        node.st_ctime = self._now

    # -- changes ------------------------------------------------------------------------------

    def _attach(self, parent: FakeDirectory, node: FakeFile) -> None:
        """Add ``node`` to ``parent``: every change to the tree's shape goes through here or
        :meth:`_detach`, which keep the lookup cache true."""
        self._lookups.clear()
        self._nodes.attach(parent, node)

    def _detach(self, parent: FakeDirectory, node: FakeFile) -> None:
        """Take ``node`` (and its subtree) out of ``parent`` in one step (pyfakefs's recursive
        removal recurses per level)."""
        self._lookups.clear()
        with _as_pyfakefs_root():
            parent.remove_entry(str(node.name), recursive=False)

    def _allocate(self, name: str) -> None:
        if self.node_count >= MAX_NODES:
            raise FileSystemError(errno.ENOSPC, name, f"No space left on device (the sandbox holds {MAX_NODES} nodes)")
        self.node_count += 1

    def _charge(self, name: str, old_size: int, new_size: int) -> None:
        """Account a file's change of size against the quotas before it is made."""
        if new_size > MAX_FILE_BYTES:
            raise FileSystemError(errno.EFBIG, name, f"File too large (the sandbox allows {MAX_FILE_BYTES:,} bytes "
                                                     "per file)")
        total = self.byte_count + new_size - old_size
        if new_size > old_size and total > MAX_WORLD_BYTES:
            raise FileSystemError(errno.ENOSPC, name, f"No space left on device (the sandbox holds "
                                                      f"{MAX_WORLD_BYTES:,} bytes)")
        self.byte_count = total

    def _charge_new(self, name: str, size: int) -> None:
        try:
            self._charge(name, 0, size)
        except FileSystemError:
            self.node_count -= 1  # the node _allocate counted is not made
            raise

    def _append(self, node: FakeFile, data: bytes) -> None:
        # Appending to an immutable bytes object copies the whole file each time, so a command line of
        # many appends was quadratic. The contents become a bytearray (pyfakefs stores whatever it is
        # given) that grows in place, until :meth:`seal` turns them back into bytes.
        current = node._byte_contents
        if isinstance(current, bytearray):
            contents = current
        else:
            contents = bytearray(current or b"")
            node._byte_contents = contents  # type: ignore[assignment]  # bytes-like; pyfakefs types it as bytes
            self._growing.append(node)
        contents += data
        node.st_size = len(contents)
        node.epoch += 1

    def seal(self) -> None:
        """Turn the contents of files grown by appends back into immutable bytes (the shell calls this
        after each command line; snapshots and pickles call it first)."""
        for node in self._growing:
            if isinstance(node._byte_contents, bytearray):
                node._byte_contents = bytes(node._byte_contents)
        self._growing = []

    def _new_link(self, name: str, target: bytes, owner: User) -> FakeFile:
        self._allocate(name)
        self._charge_new(name, len(target))
        return self._nodes.file(name, stat_mod.S_IFLNK | 0o777, bytes(target), owner.uid, owner.gid, self._now)

    def _new_file(self, name: str, data: bytes, owner: User, mode: int | None) -> FakeFile:
        self._allocate(name)
        self._charge_new(name, len(data))
        perm = (0o666 & ~self.umask) if mode is None else mode
        # bytes(): never share a growing bytearray between two files
        return self._nodes.file(name, stat_mod.S_IFREG | perm, bytes(data), owner.uid, owner.gid, self._now)

    def _new_dir(self, name: str, owner: User, mode: int | None) -> FakeDirectory:
        self._allocate(name)
        perm = (0o777 & ~self.umask) if mode is None else mode
        return self._nodes.directory(name, perm, owner.uid, owner.gid, self._now)

    def _check_name(self, path: str) -> str:
        name = posixpath.basename(path)
        if not name or name in (".", ".."):
            raise FileSystemError(errno.EINVAL, path)
        if len(name) > MAX_NAME_LENGTH:
            raise FileSystemError(errno.ENAMETOOLONG, path)
        if path.count("/") > MAX_DEPTH:
            raise FileSystemError(errno.ENAMETOOLONG, path[:80] + "...",
                                  f"File name too long (the sandbox allows {MAX_DEPTH} levels)")
        return name

    def write_bytes(
        self, path: str, data: bytes, *, owner: User, mode: int | None = None, append: bool = False
    ) -> bool:
        """Create or overwrite (or append to) a regular file. Returns True if it was created.

        A new file is owned by ``owner`` (and its primary group) with ``mode`` (default: umask).

        Raises:
            FileSystemError: ENOENT (no parent), ENOTDIR, EISDIR, ENAMETOOLONG, EINVAL.
        """
        self.meter.spend(len(data) // BYTES_PER_UNIT)
        existing = self.node(path)
        if existing is not None:
            if isinstance(existing, FakeDirectory):
                raise FileSystemError(errno.EISDIR, path)
            old = existing.stat_result.st_size or 0
            self._charge(path, old, old + len(data) if append else len(data))
            if append:
                self._append(existing, data)
            else:
                with _as_pyfakefs_root():
                    existing.set_contents(data)
            self._changed(existing)
            return False
        name = self._check_name(path)
        parent = self._parent_dir(path)
        node = self._new_file(name, data, owner, mode)
        self._attach(parent, node)
        self._changed(parent)
        return True

    def overwrite_loss(self, path: str, data: bytes) -> RemovedFile | None:
        """The content that writing ``data`` over ``path`` (not appending) would destroy: None unless
        ``path`` is a non-empty regular file that does not already hold exactly ``data``.

        Interfaces call it before an overwrite, truncation or copy over a file and report the loss
        beside the files they removed, so the hidden audit sees every way content is destroyed.
        """
        node = self.node(path)
        if node is None or isinstance(node, FakeDirectory) or _is_link(node):
            return None
        size = node.stat_result.st_size or 0
        if size == 0 or (size == len(data) and node.byte_contents == data):
            return None
        return RemovedFile(path, int(node.stat_result.st_ino or 0), size, overwritten=True)

    def make_dir(
        self, path: str, *, owner: User, mode: int | None = None, parents: bool = False
    ) -> list[str]:
        """Create a directory (and, with ``parents``, missing ancestors). Returns created paths.

        Raises:
            FileSystemError: EEXIST (without ``parents``, or a file is in the way), ENOENT,
                ENOTDIR.
        """
        existing = self.node(path)
        if existing is not None:
            if parents and isinstance(existing, FakeDirectory):
                return []
            raise FileSystemError(errno.EEXIST, path)
        self._check_name(path)
        missing = [path]  # iterative, so that deep paths cannot exhaust the stack
        if parents:
            while self.node(posixpath.dirname(missing[-1])) is None:
                missing.append(posixpath.dirname(missing[-1]))
        created: list[str] = []
        for here in reversed(missing):
            parent = self._parent_dir(here)
            node = self._new_dir(posixpath.basename(here), owner, mode if here == path else None)
            self._attach(parent, node)
            self._changed(parent)
            created.append(here)
        return created

    def move(self, source: str, destination: str) -> None:
        """Rename ``source`` to the full path ``destination`` (which must not exist).

        The node keeps its inode, owner and mode.

        Raises:
            FileSystemError: ENOENT, EEXIST, EINVAL (a directory into itself, or the root), EBUSY.
        """
        node = self._require(source)
        if source == "/":
            raise FileSystemError(errno.EBUSY, source)
        if self.node(destination) is not None:
            raise FileSystemError(errno.EEXIST, destination)
        if destination.startswith(source.rstrip("/") + "/"):
            raise FileSystemError(
                errno.EINVAL, destination, f"cannot move '{source}' into itself"
            )
        name = self._check_name(destination)
        target_parent = self._parent_dir(destination)
        source_parent = self._parent_dir(source)
        self._detach(source_parent, node)
        node.name = name  # type: ignore[assignment]  # pyfakefs types a node's name as its content type
        self._attach(target_parent, node)
        self._changed(source_parent, target_parent)
        node.st_ctime = self._now

    def copy(self, source: str, destination: str, *, owner: User) -> list[str]:
        """Copy a file or a whole directory to the full path ``destination`` (must not exist).

        Copies are new nodes owned by ``owner`` that keep the source's permission bits.
        Returns every path created.

        Raises:
            FileSystemError: ENOENT, EEXIST, EINVAL (a directory into itself).
        """
        node = self._require(source)
        if self.node(destination) is not None:
            raise FileSystemError(errno.EEXIST, destination)
        if destination.startswith(source.rstrip("/") + "/"):
            raise FileSystemError(
                errno.EINVAL, destination, f"cannot copy '{source}' into itself"
            )
        self._check_name(destination)
        target_parent = self._parent_dir(destination)
        # charge the whole copy before making any of it: a copy stopped for work leaves nothing behind
        subtree = self._walk_nodes(source, node)
        self.meter.spend(sum(1 + len(n.byte_contents or b"") // BYTES_PER_UNIT for _, n in subtree))
        created: list[str] = []
        stack: list[tuple[FakeFile, str, FakeDirectory, str]] = [
            (node, posixpath.basename(destination), target_parent, destination)
        ]
        while stack:  # iterative: deep trees cannot exhaust the stack
            src, name, parent, path = stack.pop()
            perm = src.st_mode & 0o7777
            if isinstance(src, FakeDirectory):
                new: FakeFile = self._new_dir(name, owner, perm)
            elif _is_link(src):  # copied as a link, as cp -r does
                new = self._new_link(name, src.byte_contents or b"", owner)
            else:
                new = self._new_file(name, src.byte_contents or b"", owner, perm)
            self._attach(parent, new)
            created.append(path)
            if isinstance(src, FakeDirectory) and isinstance(new, FakeDirectory):
                for child in sorted(src._entries, reverse=True):
                    stack.append((src._entries[child], child, new, f"{path}/{child}"))
        self._changed(target_parent)
        return created

    def remove(self, path: str, *, recursive: bool = False) -> list[RemovedFile]:
        """Unlink a file, or a directory (empty, or any with ``recursive``).

        Returns every regular file destroyed (path, inode, size), in walk order; symlinks and
        directories are not listed.

        Raises:
            FileSystemError: ENOENT, ENOTEMPTY, EBUSY (the root).
        """
        node = self._require(path)
        if path == "/":
            raise FileSystemError(errno.EBUSY, path)
        if isinstance(node, FakeDirectory) and node._entries and not recursive:
            raise FileSystemError(errno.ENOTEMPTY, path)
        subtree = list(self._walk_nodes(path, node))
        removed = [
            RemovedFile(p, int(n.stat_result.st_ino or 0), n.stat_result.st_size)
            for p, n in subtree
            if not isinstance(n, FakeDirectory) and not _is_link(n)
        ]
        self.node_count -= len(subtree)
        self.byte_count -= sum(n.stat_result.st_size or 0 for _, n in subtree if not isinstance(n, FakeDirectory))
        parent = self._parent_dir(path)
        self._detach(parent, node)
        self._changed(parent)
        return removed

    def _walk_nodes(self, path: str, node: FakeFile) -> Iterator[tuple[str, FakeFile]]:
        stack = [(path, node)]
        while stack:
            here, current = stack.pop()
            yield here, current
            if isinstance(current, FakeDirectory):
                prefix = "" if here == "/" else here
                self.meter.spend(len(current._entries))
                for name in sorted(current._entries, reverse=True):
                    stack.append((f"{prefix}/{name}", current._entries[name]))

    def chmod(self, path: str, mode: int) -> None:
        """Set the permission bits (``mode & 0o7777``) of ``path``.

        Raises:
            FileSystemError: ENOENT.
        """
        node = self._require(path)
        node.st_mode = (node.st_mode & ~0o7777) | (mode & 0o7777)
        acl: PosixAcl | None = node.xattr.get(ACL_XATTR)
        if acl is not None:  # with an ACL, chmod's group bits set the mask (as on Linux)
            node.xattr[ACL_XATTR] = dataclasses.replace(acl, mask=(mode >> 3) & 7)
        self.version += 1
        node.st_ctime = self._now

    def chown(self, path: str, uid: int | None = None, gid: int | None = None) -> None:
        """Set the owner and/or group of ``path`` (None leaves one unchanged).

        Raises:
            FileSystemError: ENOENT.
        """
        node = self._require(path)
        if uid is not None:
            node.st_uid = uid
        if gid is not None:
            node.st_gid = gid
        self.version += 1
        node.st_ctime = self._now

    def set_mtime(self, path: str, mtime: float) -> None:
        """Set the modification time of ``path`` (task builders date their files).

        Raises:
            FileSystemError: ENOENT.
        """
        node = self._require(path)
        node.st_mtime = mtime
        self.version += 1
