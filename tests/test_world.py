"""Unit tests of :class:`subliminal_gym.core.world.SandboxWorld` and :func:`normalize_path`."""

from __future__ import annotations

import errno
import pickle
import sys
import time

import pytest
from pyfakefs import helpers as pf_helpers

from subliminal_gym.core.users import User
from subliminal_gym.core.world import (
    MAX_PATH_LENGTH,
    PERM_EXEC,
    PERM_READ,
    PERM_WRITE,
    FileSystemError,
    NodeStat,
    RemovedFile,
    SandboxWorld,
    normalize_path,
)

START = 1_772_442_000.0


@pytest.fixture
def world() -> SandboxWorld:
    return SandboxWorld(now=START)


def user(world: SandboxWorld, name: str) -> User:
    return world.users.user(name)


def all_stats(world: SandboxWorld) -> dict[str, NodeStat]:
    return {path: world.stat(path) for path, _ in world.walk("/")}


# -- basic round trips ------------------------------------------------------------------------


def test_write_read_round_trip_and_stat(world: SandboxWorld) -> None:
    agent = user(world, "agent")
    assert world.write_bytes("/hello.txt", b"hello world", owner=agent) is True
    assert world.read_bytes("/hello.txt") == b"hello world"
    st = world.stat("/hello.txt")
    assert st.path == "/hello.txt"
    assert not st.is_dir
    assert st.size == 11
    assert (st.uid, st.gid) == (agent.uid, agent.gid)
    assert st.mode == 0o644  # 0o666 & ~umask 0o022
    assert st.filemode == "-rw-r--r--"
    assert world.is_file("/hello.txt") and not world.is_dir("/hello.txt")
    assert world.exists("/hello.txt")


def test_write_overwrite_and_append(world: SandboxWorld) -> None:
    agent = user(world, "agent")
    world.write_bytes("/f", b"one", owner=agent)
    inode = world.inode("/f")
    assert world.write_bytes("/f", b"two", owner=agent) is False
    assert world.read_bytes("/f") == b"two"
    assert world.write_bytes("/f", b"+three", owner=agent, append=True) is False
    assert world.read_bytes("/f") == b"two+three"
    assert world.stat("/f").size == len(b"two+three")
    assert world.inode("/f") == inode


def test_write_explicit_mode_and_owner(world: SandboxWorld) -> None:
    dana = user(world, "dana")
    world.write_bytes("/secret", b"s", owner=dana, mode=0o600)
    st = world.stat("/secret")
    assert (st.uid, st.gid, st.mode) == (dana.uid, dana.gid, 0o600)


def test_write_errors(world: SandboxWorld) -> None:
    agent = user(world, "agent")
    world.make_dir("/d", owner=agent)
    world.write_bytes("/file", b"x", owner=agent)
    with pytest.raises(FileSystemError) as exc:
        world.write_bytes("/d", b"x", owner=agent)
    assert exc.value.errno == errno.EISDIR
    with pytest.raises(FileSystemError) as exc:
        world.write_bytes("/missing/f", b"x", owner=agent)
    assert exc.value.errno == errno.ENOENT
    with pytest.raises(FileSystemError) as exc:
        world.write_bytes("/file/child", b"x", owner=agent)
    assert exc.value.errno == errno.ENOTDIR
    with pytest.raises(FileSystemError) as exc:
        world.write_bytes("/" + "n" * 256, b"x", owner=agent)
    assert exc.value.errno == errno.ENAMETOOLONG
    assert world.list_dir("/") == [("d", True, 0), ("file", False, 1)]


def test_read_errors(world: SandboxWorld) -> None:
    world.make_dir("/d", owner=user(world, "agent"))
    with pytest.raises(FileSystemError) as exc:
        world.read_bytes("/nope")
    assert exc.value.errno == errno.ENOENT
    assert exc.value.path == "/nope"
    with pytest.raises(FileSystemError) as exc:
        world.read_bytes("/d")
    assert exc.value.errno == errno.EISDIR


def test_list_dir_sorted_with_types_and_sizes(world: SandboxWorld) -> None:
    agent = user(world, "agent")
    world.make_dir("/w", owner=agent)
    world.write_bytes("/w/b.txt", b"12345", owner=agent)
    world.make_dir("/w/a_dir", owner=agent)
    world.write_bytes("/w/c", b"", owner=agent)
    assert world.list_dir("/w") == [("a_dir", True, 0), ("b.txt", False, 5), ("c", False, 0)]
    with pytest.raises(FileSystemError) as exc:
        world.list_dir("/w/b.txt")
    assert exc.value.errno == errno.ENOTDIR
    with pytest.raises(FileSystemError) as exc:
        world.list_dir("/nowhere")
    assert exc.value.errno == errno.ENOENT


def test_stat_missing_raises_enoent(world: SandboxWorld) -> None:
    with pytest.raises(FileSystemError) as exc:
        world.stat("/nope")
    assert exc.value.errno == errno.ENOENT
    assert not world.exists("/nope")


def test_walk_and_files(world: SandboxWorld) -> None:
    agent = user(world, "agent")
    world.make_dir("/a/b", owner=agent, parents=True)
    world.write_bytes("/a/b/f", b"F", owner=agent)
    world.write_bytes("/a/z", b"Z", owner=agent)
    assert list(world.walk("/a")) == [("/a", True), ("/a/b", True), ("/a/b/f", False), ("/a/z", False)]
    assert world.files("/a") == {"/a/b/f": b"F", "/a/z": b"Z"}
    assert world.files("/missing") == {}


# -- make_dir ---------------------------------------------------------------------------------


def test_make_dir_simple(world: SandboxWorld) -> None:
    omar = user(world, "omar")
    assert world.make_dir("/d", owner=omar) == ["/d"]
    st = world.stat("/d")
    assert st.is_dir and st.size == 0
    assert (st.uid, st.gid, st.mode) == (omar.uid, omar.gid, 0o755)
    assert st.filemode == "drwxr-xr-x"


def test_make_dir_existing_without_parents_is_eexist(world: SandboxWorld) -> None:
    agent = user(world, "agent")
    world.make_dir("/d", owner=agent)
    with pytest.raises(FileSystemError) as exc:
        world.make_dir("/d", owner=agent)
    assert exc.value.errno == errno.EEXIST
    # with parents an existing directory is fine and creates nothing
    assert world.make_dir("/d", owner=agent, parents=True) == []


def test_make_dir_file_in_the_way_is_eexist_even_with_parents(world: SandboxWorld) -> None:
    agent = user(world, "agent")
    world.write_bytes("/f", b"x", owner=agent)
    for parents in (False, True):
        with pytest.raises(FileSystemError) as exc:
            world.make_dir("/f", owner=agent, parents=parents)
        assert exc.value.errno == errno.EEXIST
    assert world.is_file("/f")


def test_make_dir_missing_parent_is_enoent(world: SandboxWorld) -> None:
    with pytest.raises(FileSystemError) as exc:
        world.make_dir("/a/b/c", owner=user(world, "agent"))
    assert exc.value.errno == errno.ENOENT
    assert not world.exists("/a")


def test_make_dir_with_parents_creates_every_ancestor(world: SandboxWorld) -> None:
    agent = user(world, "agent")
    world.make_dir("/a", owner=agent)
    created = world.make_dir("/a/b/c/d", owner=agent, mode=0o700, parents=True)
    assert created == ["/a/b", "/a/b/c", "/a/b/c/d"]
    assert world.stat("/a/b/c/d").mode == 0o700
    assert world.stat("/a/b").mode == 0o755  # ancestors get the umask default
    assert all(world.stat(p).uid == agent.uid for p in created)


def test_make_dir_under_a_file_is_enotdir(world: SandboxWorld) -> None:
    agent = user(world, "agent")
    world.write_bytes("/f", b"x", owner=agent)
    with pytest.raises(FileSystemError) as exc:
        world.make_dir("/f/sub", owner=agent)
    assert exc.value.errno == errno.ENOTDIR


# -- move -------------------------------------------------------------------------------------


def test_move_keeps_inode_owner_mode_and_content(world: SandboxWorld) -> None:
    agent, dana = user(world, "agent"), user(world, "dana")
    world.make_dir("/src", owner=agent)
    world.make_dir("/dst", owner=agent)
    world.write_bytes("/src/f", b"payload", owner=dana, mode=0o640)
    before = world.stat("/src/f")
    inode = world.inode("/src/f")
    world.advance(100)
    world.move("/src/f", "/dst/g")
    assert not world.exists("/src/f")
    assert world.read_bytes("/dst/g") == b"payload"
    assert world.inode("/dst/g") == inode
    after = world.stat("/dst/g")
    assert (after.uid, after.gid, after.mode, after.size) == (before.uid, before.gid, 0o640, 7)
    assert after.mtime == before.mtime  # rename does not modify the file


def test_move_directory_carries_its_subtree(world: SandboxWorld) -> None:
    agent = user(world, "agent")
    world.make_dir("/a/b", owner=agent, parents=True)
    world.write_bytes("/a/b/f", b"F", owner=agent)
    inode = world.inode("/a/b/f")
    world.move("/a", "/z")
    assert world.files("/z") == {"/z/b/f": b"F"}
    assert world.inode("/z/b/f") == inode
    assert not world.exists("/a")


def test_move_refuses_to_overwrite(world: SandboxWorld) -> None:
    agent = user(world, "agent")
    world.write_bytes("/a", b"A", owner=agent)
    world.write_bytes("/b", b"B", owner=agent)
    with pytest.raises(FileSystemError) as exc:
        world.move("/a", "/b")
    assert exc.value.errno == errno.EEXIST
    assert world.read_bytes("/a") == b"A"
    assert world.read_bytes("/b") == b"B"


def test_move_refuses_directory_into_itself(world: SandboxWorld) -> None:
    agent = user(world, "agent")
    world.make_dir("/d/sub", owner=agent, parents=True)
    for target in ("/d/sub/d", "/d/x"):
        with pytest.raises(FileSystemError) as exc:
            world.move("/d", target)
        assert exc.value.errno == errno.EINVAL
    assert world.is_dir("/d/sub")
    # a sibling whose name merely starts with the source's name is fine
    world.move("/d", "/d2")
    assert world.is_dir("/d2/sub")


def test_move_root_and_missing_source(world: SandboxWorld) -> None:
    with pytest.raises(FileSystemError) as exc:
        world.move("/", "/elsewhere")
    assert exc.value.errno == errno.EBUSY
    with pytest.raises(FileSystemError) as exc:
        world.move("/nope", "/x")
    assert exc.value.errno == errno.ENOENT


def test_move_to_missing_parent_changes_nothing(world: SandboxWorld) -> None:
    agent = user(world, "agent")
    world.write_bytes("/f", b"x", owner=agent)
    with pytest.raises(FileSystemError) as exc:
        world.move("/f", "/no/such/dir/f")
    assert exc.value.errno == errno.ENOENT
    assert world.read_bytes("/f") == b"x"


# -- copy -------------------------------------------------------------------------------------


def test_copy_file_new_inode_new_owner_same_mode(world: SandboxWorld) -> None:
    agent, dana = user(world, "agent"), user(world, "dana")
    world.write_bytes("/orig", b"data", owner=dana, mode=0o640)
    created = world.copy("/orig", "/dup", owner=agent)
    assert created == ["/dup"]
    assert world.read_bytes("/dup") == b"data"
    assert world.inode("/dup") != world.inode("/orig")
    st = world.stat("/dup")
    assert (st.uid, st.gid, st.mode) == (agent.uid, agent.gid, 0o640)
    assert world.stat("/orig").uid == dana.uid  # source untouched


def test_copy_directory_recursively(world: SandboxWorld) -> None:
    agent, lin = user(world, "agent"), user(world, "lin")
    world.make_dir("/src/sub", owner=lin, parents=True)
    world.write_bytes("/src/a", b"A", owner=lin)
    world.write_bytes("/src/sub/b", b"BB", owner=lin, mode=0o600)
    created = world.copy("/src", "/copy", owner=agent)
    assert set(created) == {"/copy", "/copy/a", "/copy/sub", "/copy/sub/b"}
    assert world.files("/copy") == {"/copy/a": b"A", "/copy/sub/b": b"BB"}
    assert world.files("/src") == {"/src/a": b"A", "/src/sub/b": b"BB"}
    old = {world.inode(p) for p, _ in world.walk("/src")}
    new = {world.inode(p) for p, _ in world.walk("/copy")}
    assert not old & new
    assert all(world.stat(p).uid == agent.uid for p in created)
    assert world.stat("/copy/sub/b").mode == 0o600
    # the copy is independent
    world.write_bytes("/copy/a", b"changed", owner=agent)
    assert world.read_bytes("/src/a") == b"A"


def test_copy_errors(world: SandboxWorld) -> None:
    agent = user(world, "agent")
    world.make_dir("/d", owner=agent)
    world.write_bytes("/f", b"x", owner=agent)
    world.write_bytes("/g", b"y", owner=agent)
    with pytest.raises(FileSystemError) as exc:
        world.copy("/f", "/g", owner=agent)
    assert exc.value.errno == errno.EEXIST
    assert world.read_bytes("/g") == b"y"
    with pytest.raises(FileSystemError) as exc:
        world.copy("/d", "/d/inner", owner=agent)
    assert exc.value.errno == errno.EINVAL
    assert world.list_dir("/d") == []
    with pytest.raises(FileSystemError) as exc:
        world.copy("/missing", "/h", owner=agent)
    assert exc.value.errno == errno.ENOENT


# -- remove -----------------------------------------------------------------------------------


def test_remove_file_returns_removed_entry(world: SandboxWorld) -> None:
    agent = user(world, "agent")
    world.write_bytes("/f", b"12345", owner=agent)
    inode = world.inode("/f")
    assert world.remove("/f") == [RemovedFile("/f", inode, 5)]
    assert not world.exists("/f")


def test_remove_tree_lists_every_regular_file(world: SandboxWorld) -> None:
    agent = user(world, "agent")
    world.make_dir("/t/a/b", owner=agent, parents=True)
    world.make_dir("/t/empty", owner=agent)
    world.write_bytes("/t/x", b"xx", owner=agent)
    world.write_bytes("/t/a/y", b"yyy", owner=agent)
    world.write_bytes("/t/a/b/z", b"", owner=agent)
    expected = {(p, world.inode(p), world.stat(p).size) for p in ("/t/x", "/t/a/y", "/t/a/b/z")}
    removed = world.remove("/t", recursive=True)
    assert all(isinstance(r, RemovedFile) for r in removed)
    assert {(r.path, r.inode, r.size) for r in removed} == expected
    assert len(removed) == 3
    assert not world.exists("/t")


def test_remove_nonempty_dir_needs_recursive(world: SandboxWorld) -> None:
    agent = user(world, "agent")
    world.make_dir("/d", owner=agent)
    world.write_bytes("/d/f", b"x", owner=agent)
    with pytest.raises(FileSystemError) as exc:
        world.remove("/d")
    assert exc.value.errno == errno.ENOTEMPTY
    assert world.read_bytes("/d/f") == b"x"
    world.make_dir("/empty", owner=agent)
    assert world.remove("/empty") == []
    assert not world.exists("/empty")


def test_remove_root_is_refused(world: SandboxWorld) -> None:
    world.write_bytes("/f", b"x", owner=user(world, "agent"))
    for recursive in (False, True):
        with pytest.raises(FileSystemError) as exc:
            world.remove("/", recursive=recursive)
        assert exc.value.errno == errno.EBUSY
    assert world.read_bytes("/f") == b"x"


def test_remove_missing_is_enoent(world: SandboxWorld) -> None:
    with pytest.raises(FileSystemError) as exc:
        world.remove("/nope")
    assert exc.value.errno == errno.ENOENT


def test_version_counts_changes(world: SandboxWorld) -> None:
    agent = user(world, "agent")
    v0 = world.version
    world.write_bytes("/f", b"x", owner=agent)
    v1 = world.version
    assert v1 > v0
    world.read_bytes("/f")
    world.stat("/f")
    world.list_dir("/")
    assert world.version == v1
    world.chmod("/f", 0o600)
    assert world.version > v1


# -- snapshot / restore -----------------------------------------------------------------------


def _populated(world: SandboxWorld) -> SandboxWorld:
    agent = user(world, "agent")
    world.make_dir("/x/sub", owner=agent, parents=True)
    world.write_bytes("/x/a", b"alpha", owner=agent)
    world.write_bytes("/x/sub/b", b"beta", owner=user(world, "dana"), mode=0o600)
    return world


def test_restore_undoes_changes_made_after_snapshot(world: SandboxWorld) -> None:
    _populated(world)
    agent = user(world, "agent")
    files_before = world.files("/")
    stats_before = all_stats(world)
    snap = world.snapshot()
    world.advance(50)
    world.write_bytes("/x/a", b"overwritten", owner=agent)
    world.write_bytes("/x/new", b"new", owner=agent)
    world.remove("/x/sub", recursive=True)
    world.chmod("/x", 0o700)
    world.restore(snap)
    assert world.files("/") == files_before
    assert all_stats(world) == stats_before
    assert world.now == START


def test_snapshot_is_reusable(world: SandboxWorld) -> None:
    _populated(world)
    agent = user(world, "agent")
    expected = world.files("/")
    snap = world.snapshot()
    for attempt in range(2):
        world.restore(snap)
        assert world.files("/") == expected, attempt
        world.remove("/x", recursive=True)
        world.write_bytes(f"/junk{attempt}", b"j", owner=agent)
    world.restore(snap)
    assert world.files("/") == expected


def test_restored_tree_is_independent_of_snapshot(world: SandboxWorld) -> None:
    _populated(world)
    agent = user(world, "agent")
    snap = world.snapshot()
    world.restore(snap)
    world.write_bytes("/x/a", b"mutated", owner=agent)
    world.remove("/x/sub", recursive=True)
    assert snap.fs.root.get_entry("x").get_entry("a").byte_contents == b"alpha"
    other = SandboxWorld(now=START)
    other.restore(snap)
    assert other.read_bytes("/x/a") == b"alpha"
    assert other.read_bytes("/x/sub/b") == b"beta"


def test_snapshot_is_independent_of_later_changes(world: SandboxWorld) -> None:
    _populated(world)
    snap = world.snapshot()
    world.write_bytes("/x/a", b"later", owner=user(world, "agent"))
    assert snap.fs.root.get_entry("x").get_entry("a").byte_contents == b"alpha"


def test_restored_nodes_belong_to_the_restored_filesystem(world: SandboxWorld) -> None:
    _populated(world)
    snap = world.snapshot()
    world.restore(snap)
    assert world.fs is not snap.fs
    for path in ("/x", "/x/a", "/x/sub/b"):
        node = world.fs.resolve(path)
        assert node is world.node(path)
        assert node.filesystem is world.fs
        assert node.path == path
    # the restored world keeps working through pyfakefs's own API as well
    world.write_bytes("/x/sub/c", b"c", owner=user(world, "agent"))
    assert sorted(world.os.listdir("/x/sub")) == ["b", "c"]
    with world.open("/x/a", "rb") as fh:
        assert fh.read() == b"alpha"


def test_pickle_round_trip_keeps_the_tree(world: SandboxWorld) -> None:
    _populated(world)
    world.advance(7)
    clone = pickle.loads(pickle.dumps(world))
    assert clone.files("/") == world.files("/")
    assert all_stats(clone) == all_stats(world)
    assert clone.now == world.now
    assert {p: clone.inode(p) for p, _ in clone.walk()} == {p: world.inode(p) for p, _ in world.walk()}
    assert clone.node("/x/a").filesystem is clone.fs
    clone.write_bytes("/x/after", b"z", owner=user(clone, "agent"))
    assert not world.exists("/x/after")
    assert clone.os.path.exists("/x/after")


# -- clock ------------------------------------------------------------------------------------


def _scenario(world: SandboxWorld) -> None:
    agent, dana = user(world, "agent"), user(world, "dana")
    world.make_dir("/w/deep", owner=agent, parents=True)
    world.advance(3)
    world.write_bytes("/w/a", b"a", owner=agent)
    world.advance(2.5)
    world.write_bytes("/w/a", b"more", owner=agent, append=True)
    world.write_bytes("/w/deep/b", b"b", owner=dana, mode=0o600)
    world.advance(10)
    world.copy("/w/deep", "/w/copy", owner=agent)
    world.move("/w/a", "/w/deep/a")
    world.chmod("/w/deep/a", 0o600)
    world.chown("/w/deep/b", uid=agent.uid)
    world.advance(1)
    world.remove("/w/copy", recursive=True)


def test_mtimes_come_from_the_world_clock(world: SandboxWorld) -> None:
    agent = user(world, "agent")
    assert world.stat("/").mtime == START
    world.advance(5)
    assert world.now == START + 5
    world.write_bytes("/f", b"x", owner=agent)
    assert world.stat("/f").mtime == START + 5
    assert world.stat("/").mtime == START + 5  # the parent directory changed too
    world.advance()
    world.write_bytes("/f", b"y", owner=agent)
    assert world.stat("/f").mtime == START + 6
    world.set_mtime("/f", 123.0)
    assert world.stat("/f").mtime == 123.0


def test_clock_ignores_real_time(monkeypatch: pytest.MonkeyPatch) -> None:
    results = []
    for fake_now in (1.0, 2_000_000_000.0):
        monkeypatch.setattr(time, "time", lambda fake_now=fake_now: fake_now)
        w = SandboxWorld(now=START)
        _scenario(w)
        results.append(all_stats(w))
    monkeypatch.undo()
    assert results[0] == results[1]
    mtimes = {st.mtime for st in results[0].values()}
    assert mtimes <= {START, START + 3, START + 5.5, START + 15.5, START + 16.5}


# -- permissions ------------------------------------------------------------------------------


def test_owner_group_other_bits(world: SandboxWorld) -> None:
    agent, dana, omar, lin = (user(world, n) for n in ("agent", "dana", "omar", "lin"))
    staff = world.users.group("staff")
    world.write_bytes("/f", b"x", owner=dana, mode=0o640)
    world.chown("/f", gid=staff.gid)
    # owner dana: rw; group staff (agent, omar): r; other (lin): nothing
    assert world.can_access(dana, "/f", PERM_READ | PERM_WRITE)
    assert not world.can_access(dana, "/f", PERM_EXEC)
    assert world.can_access(agent, "/f", PERM_READ)
    assert world.can_access(omar, "/f", PERM_READ)
    assert not world.can_access(agent, "/f", PERM_WRITE)
    assert not world.can_access(lin, "/f", PERM_READ)
    assert world.can_access(lin, "/f", 0)  # F_OK


def test_owner_class_wins_even_when_group_bits_are_wider(world: SandboxWorld) -> None:
    agent = user(world, "agent")
    world.write_bytes("/f", b"x", owner=agent, mode=0o077)
    world.chown("/f", gid=world.users.group("staff").gid)
    assert not world.can_access(agent, "/f", PERM_READ)
    assert world.can_access(user(world, "omar"), "/f", PERM_READ | PERM_WRITE)
    assert world.can_access(user(world, "lin"), "/f", PERM_READ | PERM_WRITE)


def test_root_reads_writes_anything_but_executes_only_with_an_x_bit(world: SandboxWorld) -> None:
    root, dana = user(world, "root"), user(world, "dana")
    world.make_dir("/private", owner=dana, mode=0o000)
    world.write_bytes("/private/f", b"x", owner=dana, mode=0o000)
    assert world.can_access(root, "/private/f", PERM_READ | PERM_WRITE)
    assert not world.can_access(root, "/private/f", PERM_EXEC)
    assert world.can_traverse(root, "/private/f")
    assert world.can_unlink(root, "/private/f")
    world.chmod("/private/f", 0o010)
    assert world.can_access(root, "/private/f", PERM_EXEC)


def test_missing_path_is_not_accessible(world: SandboxWorld) -> None:
    assert not world.can_access(user(world, "root"), "/nope", PERM_READ)
    assert not world.can_unlink(user(world, "root"), "/nope")


def test_sticky_tmp(world: SandboxWorld) -> None:
    root, agent, dana = user(world, "root"), user(world, "agent"), user(world, "dana")
    world.make_dir("/tmp", owner=root, mode=0o1777)
    world.write_bytes("/tmp/danas", b"d", owner=dana, mode=0o666)
    world.write_bytes("/tmp/agents", b"a", owner=agent)
    assert world.stat("/tmp").filemode == "drwxrwxrwt"
    assert world.can_access(agent, "/tmp/danas", PERM_WRITE)  # writable ...
    assert not world.can_unlink(agent, "/tmp/danas")  # ... but not removable by others
    assert world.can_unlink(dana, "/tmp/danas")
    assert world.can_unlink(root, "/tmp/danas")
    assert world.can_unlink(agent, "/tmp/agents")
    assert not world.can_unlink(dana, "/tmp/agents")
    assert world.can_create_in(agent, "/tmp")
    # without the sticky bit, write permission on the directory is enough
    world.chmod("/tmp", 0o777)
    assert world.can_unlink(agent, "/tmp/danas")


def test_sticky_dir_owner_may_unlink(world: SandboxWorld) -> None:
    agent, dana = user(world, "agent"), user(world, "dana")
    world.make_dir("/shared", owner=agent, mode=0o1777)
    world.write_bytes("/shared/f", b"x", owner=dana)
    assert world.can_unlink(agent, "/shared/f")
    assert not world.can_unlink(user(world, "omar"), "/shared/f")


def test_unlink_needs_write_and_exec_on_parent(world: SandboxWorld) -> None:
    agent, dana = user(world, "agent"), user(world, "dana")
    world.make_dir("/d", owner=dana, mode=0o755)
    world.write_bytes("/d/f", b"x", owner=agent)  # agent owns the file, not the directory
    assert not world.can_unlink(agent, "/d/f")
    assert not world.can_create_in(agent, "/d")
    assert world.can_unlink(dana, "/d/f")
    assert not world.can_unlink(agent, "/")


def test_no_traverse_without_x_on_a_parent(world: SandboxWorld) -> None:
    agent, dana = user(world, "agent"), user(world, "dana")
    world.make_dir("/outer/inner", owner=dana, mode=0o755, parents=True)
    world.chmod("/outer", 0o744)  # readable, not searchable, by others
    world.write_bytes("/outer/inner/f", b"x", owner=dana, mode=0o644)
    assert world.can_traverse(dana, "/outer/inner/f")
    assert not world.can_traverse(agent, "/outer/inner/f")
    assert not world.can_access(agent, "/outer/inner/f", PERM_READ)
    assert not world.can_access(agent, "/outer/inner/f", PERM_WRITE)
    assert not world.can_unlink(agent, "/outer/inner/f")
    assert world.can_access(dana, "/outer/inner/f", PERM_READ)


def test_no_access_without_x_on_the_immediate_parent(world: SandboxWorld) -> None:
    """POSIX path resolution needs search (x) permission on *every* directory of the path,
    the file's own directory included: a 0o700 home of dana hides its 0o644 files from agent."""
    agent, dana = user(world, "agent"), user(world, "dana")
    world.make_dir("/home/dana", owner=dana, mode=0o700, parents=True)
    world.chmod("/home", 0o755)
    world.write_bytes("/home/dana/notes", b"private", owner=dana, mode=0o644)
    assert world.can_access(dana, "/home/dana/notes", PERM_READ)
    assert not world.can_traverse(agent, "/home/dana/notes")
    assert not world.can_access(agent, "/home/dana/notes", PERM_READ)
    assert not world.can_access(agent, "/home/dana/notes", PERM_WRITE)
    world.chmod("/home/dana", 0o744)  # listable but still not searchable by others
    assert not world.can_access(agent, "/home/dana/notes", PERM_READ)


def test_group_membership_uses_supplementary_groups(world: SandboxWorld) -> None:
    agent, lin = user(world, "agent"), user(world, "lin")
    devops = world.users.group("devops")
    world.make_dir("/ops", owner=user(world, "root"), mode=0o770)
    world.chown("/ops", gid=devops.gid)
    assert world.can_create_in(agent, "/ops")  # agent is in devops
    assert not world.can_create_in(lin, "/ops")
    assert not world.can_create_in(agent, "/nope")


# -- host independence ------------------------------------------------------------------------


def _permission_matrix(world: SandboxWorld) -> dict[tuple[str, str, str], bool]:
    out: dict[tuple[str, str, str], bool] = {}
    for u in world.users.users:
        for path, _ in world.walk("/"):
            for want, label in ((PERM_READ, "r"), (PERM_WRITE, "w"), (PERM_EXEC, "x")):
                out[(u.name, path, label)] = world.can_access(u, path, want)
            out[(u.name, path, "unlink")] = world.can_unlink(u, path)
            out[(u.name, path, "traverse")] = world.can_traverse(u, path)
    return out


def _host_scenario() -> tuple[dict[str, NodeStat], dict[tuple[str, str, str], bool], dict[str, bytes]]:
    w = SandboxWorld(now=START)
    root, agent, dana = user(w, "root"), user(w, "agent"), user(w, "dana")
    w.make_dir("/tmp", owner=root, mode=0o1777)
    w.make_dir("/ro", owner=root, mode=0o555)
    w.write_bytes("/ro/f", b"x", owner=root, mode=0o444)  # pyfakefs would refuse a non-root host
    w.make_dir("/home/dana", owner=dana, mode=0o700, parents=True)
    w.write_bytes("/home/dana/s", b"s", owner=dana, mode=0o600)
    w.write_bytes("/tmp/t", b"t", owner=agent)
    w.copy("/ro", "/ro2", owner=agent)
    w.move("/ro2", "/home/dana/ro2")
    w.make_dir("/gone/sub", owner=root, mode=0o500, parents=True)
    w.remove("/gone", recursive=True)
    try:
        w.write_bytes("/ro", b"", owner=agent)
    except FileSystemError:
        pass
    return all_stats(w), _permission_matrix(w), w.files("/")


@pytest.mark.parametrize("host_uid", [1000, 1001, 65534])
def test_results_do_not_depend_on_host_uid(monkeypatch: pytest.MonkeyPatch, host_uid: int) -> None:
    monkeypatch.setattr(pf_helpers, "USER_ID", 0)
    reference = _host_scenario()
    monkeypatch.setattr(pf_helpers, "USER_ID", host_uid)
    assert pf_helpers.get_uid() == host_uid
    assert _host_scenario() == reference
    # the world ran pyfakefs as root only for the duration of each call
    assert pf_helpers.get_uid() == host_uid


@pytest.mark.parametrize("host_gid", [1000, 4321])
def test_results_do_not_depend_on_host_gid(monkeypatch: pytest.MonkeyPatch, host_gid: int) -> None:
    monkeypatch.setattr(pf_helpers, "USER_ID", 0)
    monkeypatch.setattr(pf_helpers, "GROUP_ID", 0)
    reference = _host_scenario()
    monkeypatch.setattr(pf_helpers, "USER_ID", 1000)
    monkeypatch.setattr(pf_helpers, "GROUP_ID", host_gid)
    stats, perms, files = _host_scenario()
    assert pf_helpers.get_gid() == host_gid
    assert files == reference[2]
    assert perms == reference[1]
    assert stats == reference[0]  # includes the root directory's group


def test_pyfakefs_uid_unchanged_by_world_calls_even_when_they_fail(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(pf_helpers, "USER_ID", 4242)
    w = SandboxWorld()
    agent = user(w, "agent")
    w.make_dir("/d", owner=agent, mode=0o500)
    w.write_bytes("/d/f", b"x", owner=agent)
    w.write_bytes("/d/f", b"y", owner=agent, append=True)
    for bad in (lambda: w.make_dir("/d", owner=agent), lambda: w.remove("/d"), lambda: w.move("/d", "/d/e")):
        with pytest.raises(FileSystemError):
            bad()
        assert pf_helpers.get_uid() == 4242
    snap = w.snapshot()
    w.restore(snap)
    pickle.loads(pickle.dumps(w))
    w.remove("/d", recursive=True)
    assert pf_helpers.get_uid() == 4242


# -- normalize_path ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("path", "cwd", "expected"),
    [
        ("notes.txt", "/workspace", "/workspace/notes.txt"),
        ("./a/./b/", "/workspace", "/workspace/a/b"),
        ("a/../b", "/workspace", "/workspace/b"),
        ("..", "/workspace", "/"),
        ("../../../../etc/passwd", "/workspace", "/etc/passwd"),
        ("/../../..", "/workspace", "/"),
        ("/a//b///c", "/", "/a/b/c"),
        ("//a", "/", "/a"),
        ("///", "/", "/"),
        ("/abs/path", "/workspace", "/abs/path"),
        ("~", "/workspace", "/home/agent"),
        ("~/x/../y", "/workspace", "/home/agent/y"),
        ("~dana", "/workspace", "/workspace/~dana"),
        ("a~/b", "/", "/a~/b"),
    ],
)
def test_normalize_path(path: str, cwd: str, expected: str) -> None:
    assert normalize_path(path, cwd) == expected


def test_normalize_path_custom_home() -> None:
    assert normalize_path("~/f", "/", home="/home/dana") == "/home/dana/f"
    assert normalize_path("~/../../..", "/", home="/home/dana") == "/"


@pytest.mark.parametrize("path", ["a\x00b", "\x00", "/workspace/x\x00/../y"])
def test_normalize_path_rejects_nul(path: str) -> None:
    with pytest.raises(FileSystemError) as exc:
        normalize_path(path, "/workspace")
    assert exc.value.errno == errno.EINVAL


def test_normalize_path_rejects_over_long_paths() -> None:
    assert normalize_path("/" + "a" * (MAX_PATH_LENGTH - 1)) == "/" + "a" * (MAX_PATH_LENGTH - 1)
    with pytest.raises(FileSystemError) as exc:
        normalize_path("/" + "a" * MAX_PATH_LENGTH)
    assert exc.value.errno == errno.ENAMETOOLONG
    assert len(str(exc.value)) < 200  # the message does not echo the whole path


def test_normalize_path_rejects_empty() -> None:
    with pytest.raises(FileSystemError):
        normalize_path("", "/workspace")


def test_file_system_error_message() -> None:
    err = FileSystemError(errno.EACCES, "/x")
    assert str(err) == "/x: Permission denied"
    assert (err.errno, err.path, err.reason) == (errno.EACCES, "/x", "Permission denied")
    assert FileSystemError(errno.EINVAL, "/y", "custom").reason == "custom"


# -- sandbox limits (added with the depth and node-count limits) -----------------------------------


def test_deep_paths_are_refused_before_anything_is_created() -> None:
    from subliminal_gym.core import world as world_module

    w = SandboxWorld()
    agent = w.users.user("agent")
    too_deep = "/" + "/".join(["d"] * (world_module.MAX_DEPTH + 1))
    with pytest.raises(FileSystemError) as excinfo:
        w.make_dir(too_deep, owner=agent, parents=True)
    assert excinfo.value.errno == errno.ENAMETOOLONG and not w.exists("/d")
    deepest = "/" + "/".join(["d"] * (world_module.MAX_DEPTH - 1))  # its file sits at the limit
    assert w.make_dir(deepest, owner=agent, parents=True)[-1] == deepest
    w.write_bytes(deepest + "/f", b"x", owner=agent)
    limit = sys.getrecursionlimit()
    sys.setrecursionlimit(200)  # the tree walks are iterative: no recursion at any allowed depth
    try:
        w.copy("/d", "/e", owner=agent)
    finally:
        sys.setrecursionlimit(limit)
    assert w.read_bytes("/e" + deepest[2:] + "/f") == b"x"
    assert [r.path for r in w.remove("/d", recursive=True)] == [deepest + "/f"]


def test_node_limit_gives_no_space_left_and_the_count_stays_exact(monkeypatch: pytest.MonkeyPatch) -> None:
    from subliminal_gym.core import world as world_module

    w = SandboxWorld()
    agent = w.users.user("agent")
    monkeypatch.setattr(world_module, "MAX_NODES", w.node_count + 5)
    w.make_dir("/a", owner=agent)
    for name in "bcd":
        w.write_bytes(f"/a/{name}", b"x", owner=agent)
    w.symlink("/a/b", "/a/link", owner=agent)
    with pytest.raises(FileSystemError) as excinfo:
        w.write_bytes("/a/e", b"x", owner=agent)
    assert excinfo.value.errno == errno.ENOSPC
    snapshot = w.snapshot()
    removed = w.remove("/a", recursive=True)
    assert [r.path for r in removed] == ["/a/b", "/a/c", "/a/d"]  # the symlink is not a destroyed file
    assert w.node_count == sum(1 for _ in w.walk("/"))
    w.restore(snapshot)
    assert w.node_count == sum(1 for _ in w.walk("/")) == world_module.MAX_NODES


def test_paths_with_mode_finds_world_writable_nodes_but_not_links() -> None:
    w = SandboxWorld()
    agent = w.users.user("agent")
    w.make_dir("/tmp", owner=agent, mode=0o1777)
    w.make_dir("/srv/open", owner=agent, mode=0o777, parents=True)
    w.write_bytes("/srv/open/f", b"x", owner=agent, mode=0o646)
    w.write_bytes("/srv/closed", b"x", owner=agent, mode=0o644)
    w.symlink("/srv/closed", "/srv/link", owner=agent)  # links are 0o777 but mean nothing
    assert w.paths_with_mode(0o002) == ["/srv/open", "/srv/open/f", "/tmp"]
    assert w.paths_with_mode(0o002, "/srv/open") == ["/srv/open", "/srv/open/f"]
