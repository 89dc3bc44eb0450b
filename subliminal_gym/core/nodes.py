"""New pyfakefs nodes, made quickly: the world builds tens of them on every fresh reset.

pyfakefs's ``FakeFile.__init__`` costs 6-8 us and ``FakeDirectory.add_entry`` about 5 us, mostly in
``FakeFile.__getattr__``/``__setattr__``, Python-level hooks that forward every ``st_*`` access to
the node's stat result. A :class:`NodeFactory` gives every new node a copy of the state of one
node pyfakefs made (its own name, mode, owner, times, contents and entries), and links it into
its directory by doing what ``add_entry`` does on the stat results directly: about a quarter of
the cost.

That is exact only while pyfakefs's nodes hold nothing else. It is checked once, at import,
against the pyfakefs installed: :data:`CLONING` is False (and every node is made and linked by
pyfakefs itself) when a small tree built both ways differs in any attribute.
"""

from __future__ import annotations

import stat as stat_mod
import weakref
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from pyfakefs import helpers as _pf_helpers
from pyfakefs.fake_file import FakeDirectory, FakeFile
from pyfakefs.fake_filesystem import FakeFilesystem
from pyfakefs.helpers import FakeStatResult

__all__ = ["CLONING", "NodeFactory"]

# attributes a node owns (a fresh object each) or that differ between nodes; the rest is shared
_OWN = ("_filesystem", "name", "stat_result", "_byte_contents", "xattr", "_entries")


class NodeFactory:
    """Regular files, directories and symlinks for one ``FakeFilesystem``, and their linking
    into a directory.

    Args:
        fs: the file system the nodes belong to (they hold a weak reference to it).
        cloning: copy templates (the default when :data:`CLONING` holds), or call pyfakefs's
            constructors and ``add_entry`` every time.
    """

    def __init__(self, fs: FakeFilesystem, *, cloning: bool | None = None) -> None:
        self.fs = fs
        self.cloning = _TEMPLATES is not None and (CLONING if cloning is None else cloning)
        self._fs_ref = weakref.ref(fs)

    def file(self, name: str, mode: int, data: bytes, uid: int, gid: int, when: float) -> FakeFile:
        """A regular file (or, with ``S_IFLNK`` in ``mode``, a symlink whose target is ``data``)."""
        if not self.cloning or _TEMPLATES is None:
            with _as_root():
                node = FakeFile(name, mode, data, filesystem=self.fs)  # type: ignore[type-var]
            _own(node.stat_result, uid, gid, when)
            return node
        template = _TEMPLATES[0]
        node = FakeFile.__new__(FakeFile)
        state = node.__dict__
        state.update(template.shared)
        state["_filesystem"] = self._fs_ref
        state["name"] = name
        state["stat_result"] = _stat(template.stat, mode, len(data), uid, gid, when)
        state["_byte_contents"] = data
        state["xattr"] = {}
        return node

    def directory(self, name: str, perm: int, uid: int, gid: int, when: float) -> FakeDirectory:
        """A directory with permission bits ``perm``."""
        if not self.cloning or _TEMPLATES is None:
            with _as_root():
                node = FakeDirectory(name, perm, filesystem=self.fs)
            _own(node.stat_result, uid, gid, when)
            return node
        template = _TEMPLATES[1]
        node = FakeDirectory.__new__(FakeDirectory)
        state = node.__dict__
        state.update(template.shared)
        state["_filesystem"] = self._fs_ref
        state["name"] = name
        state["stat_result"] = _stat(template.stat, stat_mod.S_IFDIR | perm, 0, uid, gid, when)
        state["_byte_contents"] = template.contents
        state["xattr"] = {}
        state["_entries"] = {}
        return node

    def attach(self, parent: FakeDirectory, node: FakeFile) -> None:
        """``parent.add_entry(node)`` as pyfakefs's root does it (the caller has checked the name
        is free and the user may write), on the stat results directly."""
        if not self.cloning:
            with _as_root():
                parent.add_entry(node)
            return
        st, parent_st = node.stat_result, parent.stat_result
        parent._entries[node.name] = node  # type: ignore[index]  # pyfakefs types names as AnyStr
        node.__dict__["parent_dir"] = weakref.ref(parent)
        if st.st_ino is None:
            self.fs.last_ino += 1
            st.st_ino = self.fs.last_ino
        parent_st.st_nlink += 1
        st.st_nlink += 1
        st.st_dev = parent_st.st_dev
        if st.st_nlink == 1:
            self.fs.change_disk_usage(node.size, node.name, parent_st.st_dev)


@contextmanager
def _as_root() -> Iterator[None]:
    # pyfakefs checks permissions against a module-global uid (the host's by default)
    previous = _pf_helpers.get_uid()
    _pf_helpers.set_uid(0)
    try:
        yield
    finally:
        _pf_helpers.set_uid(previous)


def _own(st: FakeStatResult, uid: int, gid: int, when: float) -> None:
    st.st_uid, st.st_gid = uid, gid
    st.st_atime = st.st_mtime = st.st_ctime = when


def _stat(template: FakeStatResult, mode: int, size: int, uid: int, gid: int, when: float) -> FakeStatResult:
    st = FakeStatResult.__new__(FakeStatResult)
    state = st.__dict__
    state.update(template.__dict__)
    state["st_mode"] = mode
    state["_st_size"] = size
    _own(st, uid, gid, when)
    return st


@dataclass(frozen=True)
class _Template:
    shared: dict[str, Any]
    """The node state every copy shares (immutable values only)."""
    stat: FakeStatResult
    contents: bytes | None


def _templates() -> tuple[_Template, _Template] | None:
    fs = FakeFilesystem(path_separator="/")
    made = []
    with _as_root():
        for node in (FakeFile("file", stat_mod.S_IFREG | 0o644, b"", filesystem=fs),  # type: ignore[type-var]
                     FakeDirectory("dir", 0o755, filesystem=fs)):
            state = vars(node)
            shared = {k: v for k, v in state.items() if k not in _OWN}
            if any(isinstance(v, (dict, list, set, bytearray)) for v in shared.values()):
                return None  # a mutable attribute this module does not know: copies would share it
            made.append(_Template(shared, node.stat_result, state.get("_byte_contents")))
    return made[0], made[1]


def _state(node: FakeFile, fs: FakeFilesystem) -> tuple[Any, ...]:
    state = dict(vars(node))
    parent = state.pop("parent_dir", None)
    entries = state.pop("_entries", None)
    return (type(node), state.pop("_filesystem")() is fs, state.pop("stat_result").__dict__,
            parent().name if parent is not None else None, sorted(entries) if entries is not None else None, state)


def _cloning_is_exact() -> bool:
    """Whether copied and attached nodes equal pyfakefs's own, on the pyfakefs installed."""
    if _TEMPLATES is None:
        return False
    cases: list[tuple[str, tuple[Any, ...]]] = [
        ("file", ("a.txt", stat_mod.S_IFREG | 0o640, b"data", 1000, 1001, 1_772_442_000.5)),
        ("file", ("link", stat_mod.S_IFLNK | 0o777, b"/etc", 0, 0, 12.0)),
        ("directory", ("d", 0o1777, 7, 8, 3.25)),
    ]
    try:
        trees = []
        for cloning in (True, False):
            fs = FakeFilesystem(path_separator="/")
            factory = NodeFactory(fs, cloning=cloning)
            top = factory.directory("top", 0o755, 0, 0, 1.0)
            factory.attach(fs.root, top)
            nodes = [top] + [getattr(factory, kind)(*args) for kind, args in cases]
            for node in nodes[1:]:
                factory.attach(top, node)
            trees.append(([_state(n, fs) for n in nodes], fs.last_ino, repr(fs.mount_points)))
        return trees[0] == trees[1]
    except Exception:  # any surprise from another pyfakefs version: use its constructors  # noqa: BLE001
        return False


_TEMPLATES = _templates()
#: Whether :class:`NodeFactory` copies templates and links nodes itself (checked against the
#: installed pyfakefs: False means every node goes through pyfakefs's constructors and ``add_entry``).
CLONING = _cloning_is_exact()
