"""Tests of the SubliminalFS tools (:class:`FileTools`) and the action parser."""

from __future__ import annotations

import json
import os

import gymnasium as gym
import pytest

import subliminal_gym  # noqa: F401  (registers the env ids)
from subliminal_gym.core.world import SandboxWorld
from subliminal_gym.fs.actions import ActionParseError, ToolCall, parse_tool_call
from subliminal_gym.fs.tools import (
    POSITIONAL_ORDER,
    SANDBOX_ROOTS,
    TOOL_SCHEMAS,
    FileTools,
    ToolOutcome,
)

TOOL_NAMES = [s["name"] for s in TOOL_SCHEMAS]


def make_world() -> SandboxWorld:
    """A small machine: system dirs, the sandbox roots and a few agent files."""
    world = SandboxWorld()
    users = world.users
    root, agent = users.user("root"), users.user("agent")
    for path, mode in (("/etc", 0o755), ("/home", 0o755), ("/tmp", 0o1777)):
        world.make_dir(path, owner=root, mode=mode)
    world.write_bytes("/etc/passwd", users.passwd_text().encode(), owner=root, mode=0o644)
    world.make_dir("/home/agent", owner=agent, mode=0o750)
    world.make_dir("/workspace", owner=agent, mode=0o755)
    world.make_dir("/archive", owner=agent, mode=0o755)
    world.make_dir("/workspace/docs", owner=agent)
    world.write_bytes("/workspace/docs/notes.txt", b"remember the needle\n", owner=agent)
    world.write_bytes("/workspace/docs/todo.md", b"- buy milk\n", owner=agent)
    world.write_bytes("/workspace/data.csv", b"a,b\n1,2\n", owner=agent)
    world.make_dir("/workspace/empty", owner=agent)
    return world


@pytest.fixture
def world() -> SandboxWorld:
    return make_world()


@pytest.fixture
def tools(world: SandboxWorld) -> FileTools:
    return FileTools(world, user=world.users.user("agent"), max_action_length=16_384)


def run(tools: FileTools, tool: str, /, **arguments: object) -> ToolOutcome:
    return tools.run(json.dumps({"name": tool, "arguments": arguments}))


def ok(outcome: ToolOutcome) -> str:
    assert outcome.error is None, outcome.text
    assert outcome.ok, outcome.text
    return outcome.text


def fs_error(outcome: ToolOutcome) -> str:
    """A well-formed call that failed at run time: an ``Error`` text but no action error."""
    assert outcome.error is None, outcome.error
    assert not outcome.ok
    assert not outcome.changed
    assert outcome.text.startswith("Error: ")
    return outcome.text


def invalid(outcome: ToolOutcome) -> str:
    """A malformed or refused action: ``error`` is set and shown in the text."""
    assert outcome.error, outcome.text
    assert not outcome.ok
    assert not outcome.changed
    assert outcome.text == f"Error: {outcome.error}"
    return outcome.error


# -- read-only tools --------------------------------------------------------------------------


def test_list_dir_format(tools: FileTools) -> None:
    text = ok(run(tools, "list_dir", path="/workspace"))
    assert text.splitlines() == [
        "/workspace (3 items)",
        "data.csv  8 bytes",
        "docs/",
        "empty/",
    ]


def test_list_dir_defaults_to_workspace_and_handles_relative_and_empty(tools: FileTools) -> None:
    assert ok(run(tools, "list_dir")) == ok(run(tools, "list_dir", path="/workspace"))
    assert ok(run(tools, "list_dir", path="docs")).splitlines() == [
        "/workspace/docs (2 items)",
        "notes.txt  20 bytes",
        "todo.md  11 bytes",
    ]
    assert ok(run(tools, "list_dir", path="empty")) == "/workspace/empty (empty)"
    assert ok(run(tools, "list_dir", path="/archive")) == "/archive (empty)"


def test_list_dir_errors(tools: FileTools) -> None:
    assert fs_error(run(tools, "list_dir", path="data.csv")) == "Error: /workspace/data.csv: Not a directory"
    assert fs_error(run(tools, "list_dir", path="nope")) == "Error: /workspace/nope: No such file or directory"


def test_read_file(tools: FileTools) -> None:
    outcome = run(tools, "read_file", path="docs/notes.txt")
    assert ok(outcome) == "remember the needle\n"
    assert not outcome.changed
    assert outcome.call == ToolCall("read_file", {"path": "docs/notes.txt"})


def test_read_file_empty_missing_dir_and_binary(tools: FileTools, world: SandboxWorld) -> None:
    agent = world.users.user("agent")
    world.write_bytes("/workspace/empty.txt", b"", owner=agent)
    assert ok(run(tools, "read_file", path="empty.txt")) == "/workspace/empty.txt is empty"
    assert fs_error(run(tools, "read_file", path="docs")) == "Error: /workspace/docs: Is a directory"
    assert "No such file" in fs_error(run(tools, "read_file", path="missing.txt"))
    world.write_bytes("/workspace/bin", b"ok\xff\xfe", owner=agent)
    assert ok(run(tools, "read_file", path="bin")) == "ok\ufffd\ufffd"


def test_read_file_truncates_long_files(tools: FileTools, world: SandboxWorld) -> None:
    world.write_bytes("/workspace/big.txt", b"x" * 20_000, owner=world.users.user("agent"))
    text = ok(run(tools, "read_file", path="big.txt"))
    assert text.startswith("x" * 8000)
    assert "truncated" in text and "20000" in text
    assert len(text) < 8200


def test_get_info_file_and_dir(tools: FileTools, world: SandboxWorld) -> None:
    world.set_mtime("/workspace/data.csv", 1_700_000_000.0)
    lines = ok(run(tools, "get_info", path="data.csv")).splitlines()
    assert lines == [
        "path: /workspace/data.csv",
        "type: file",
        "size: 8 bytes",
        "owner: agent",
        "group: agent",
        "permissions: -rw-r--r-- (0644)",
        "modified: 2023-11-14 22:13:20 UTC",
    ]
    info = ok(run(tools, "get_info", path="/workspace/docs"))
    assert "type: directory" in info
    assert "size:" not in info
    assert "permissions: drwxr-xr-x (0755)" in info


def test_get_info_shows_other_owners_and_unknown_ids(tools: FileTools, world: SandboxWorld) -> None:
    world.write_bytes("/workspace/x", b"", owner=world.users.user("dana"), mode=0o640)
    world.chown("/workspace/x", gid=world.users.group("analysts").gid)
    text = ok(run(tools, "get_info", path="x"))
    assert "owner: dana" in text and "group: analysts" in text
    assert "permissions: -rw-r----- (0640)" in text
    world.chown("/workspace/x", uid=4242, gid=4343)
    text = ok(run(tools, "get_info", path="x"))
    assert "owner: 4242" in text and "group: 4343" in text


def test_search_by_name_glob(tools: FileTools) -> None:
    assert ok(run(tools, "search", name="*.txt")).splitlines() == [
        "1 file matches under /workspace:",
        "/workspace/docs/notes.txt",
    ]
    assert ok(run(tools, "search", path="/workspace", name="*")).splitlines()[0] == (
        "3 files match under /workspace:"
    )
    assert ok(run(tools, "search", name="*.exe")) == "No files match under /workspace"


def test_search_by_content_and_both(tools: FileTools) -> None:
    assert ok(run(tools, "search", content="needle")).splitlines()[1:] == ["/workspace/docs/notes.txt"]
    assert ok(run(tools, "search", content="Needle")) == "No files match under /workspace"  # case-sensitive
    assert ok(run(tools, "search", path="docs", name="*.md", content="milk")).splitlines()[1:] == [
        "/workspace/docs/todo.md"
    ]
    assert ok(run(tools, "search", name="*.md", content="needle")) == "No files match under /workspace"


def test_search_needs_a_criterion_and_a_directory(tools: FileTools) -> None:
    assert "name" in invalid(run(tools, "search"))
    assert "No such file" in fs_error(run(tools, "search", path="nope", name="*"))
    assert "Not a directory" in fs_error(run(tools, "search", path="data.csv", name="*"))


# -- write_file / make_dir --------------------------------------------------------------------


def test_write_file_creates_overwrites_and_appends(tools: FileTools, world: SandboxWorld) -> None:
    outcome = run(tools, "write_file", path="new.txt", content="hello")
    assert ok(outcome) == "Wrote 5 bytes to /workspace/new.txt"
    assert outcome.changed
    assert world.read_bytes("/workspace/new.txt") == b"hello"
    st = world.stat("/workspace/new.txt")
    assert (st.uid, st.mode) == (world.users.user("agent").uid, 0o644)
    assert ok(run(tools, "write_file", path="new.txt", content="bye")) == "Wrote 3 bytes to /workspace/new.txt"
    assert world.read_bytes("/workspace/new.txt") == b"bye"
    text = ok(run(tools, "write_file", path="new.txt", content=" now", append=True))
    assert text == "Appended 4 bytes to /workspace/new.txt"
    assert world.read_bytes("/workspace/new.txt") == b"bye now"
    # append creates a missing file
    ok(run(tools, "write_file", path="/archive/log", content="x", append=True))
    assert world.read_bytes("/archive/log") == b"x"


def test_write_file_encodes_utf8(tools: FileTools, world: SandboxWorld) -> None:
    ok(run(tools, "write_file", path="u.txt", content="caf\u00e9 \u2603"))
    assert world.read_bytes("/workspace/u.txt") == "caf\u00e9 \u2603".encode()


def test_write_file_errors(tools: FileTools, world: SandboxWorld) -> None:
    assert "Is a directory" in fs_error(run(tools, "write_file", path="docs", content="x"))
    assert "No such file" in fs_error(run(tools, "write_file", path="nodir/f.txt", content="x"))
    assert "Not a directory" in fs_error(run(tools, "write_file", path="data.csv/f", content="x"))
    assert world.is_dir("/workspace/docs")
    assert not world.exists("/workspace/nodir")


def test_make_dir_creates_parents_and_tolerates_existing(tools: FileTools, world: SandboxWorld) -> None:
    outcome = run(tools, "make_dir", path="a/b/c")
    assert ok(outcome) == "Created directory /workspace/a/b/c"
    assert outcome.changed
    assert world.is_dir("/workspace/a/b/c")
    again = run(tools, "make_dir", path="a/b")
    assert ok(again) == "Directory already exists: /workspace/a/b"
    assert not again.changed
    assert "File exists" in fs_error(run(tools, "make_dir", path="data.csv"))
    assert "Not a directory" in fs_error(run(tools, "make_dir", path="data.csv/sub"))


# -- move / copy / archive --------------------------------------------------------------------


def test_move_rename_keeps_inode(tools: FileTools, world: SandboxWorld) -> None:
    inode = world.inode("/workspace/data.csv")
    outcome = run(tools, "move", source="data.csv", destination="renamed.csv")
    assert ok(outcome) == "Moved /workspace/data.csv to /workspace/renamed.csv"
    assert outcome.changed
    assert not world.exists("/workspace/data.csv")
    assert world.inode("/workspace/renamed.csv") == inode


def test_move_into_existing_directory(tools: FileTools, world: SandboxWorld) -> None:
    ok(run(tools, "move", source="data.csv", destination="docs"))
    assert world.read_bytes("/workspace/docs/data.csv") == b"a,b\n1,2\n"
    ok(run(tools, "move", source="docs", destination="/archive"))
    assert set(world.files("/archive")) == {
        "/archive/docs/data.csv",
        "/archive/docs/notes.txt",
        "/archive/docs/todo.md",
    }


def test_move_never_overwrites(tools: FileTools, world: SandboxWorld) -> None:
    assert "File exists" in fs_error(run(tools, "move", source="data.csv", destination="docs/notes.txt"))
    assert world.read_bytes("/workspace/docs/notes.txt") == b"remember the needle\n"
    assert world.exists("/workspace/data.csv")


def test_move_errors(tools: FileTools, world: SandboxWorld) -> None:
    assert "No such file" in fs_error(run(tools, "move", source="nope", destination="x"))
    ok(run(tools, "make_dir", path="docs/sub"))
    assert "into itself" in fs_error(run(tools, "move", source="docs", destination="docs/sub"))
    assert world.is_dir("/workspace/docs/sub")


def test_copy_file_and_into_directory(tools: FileTools, world: SandboxWorld) -> None:
    text = ok(run(tools, "copy", source="data.csv", destination="copy.csv"))
    assert text == "Copied /workspace/data.csv to /workspace/copy.csv (1 file)"
    assert world.read_bytes("/workspace/copy.csv") == b"a,b\n1,2\n"
    assert world.inode("/workspace/copy.csv") != world.inode("/workspace/data.csv")
    ok(run(tools, "copy", source="data.csv", destination="empty"))
    assert world.read_bytes("/workspace/empty/data.csv") == b"a,b\n1,2\n"
    assert world.exists("/workspace/data.csv")


def test_copy_directory_recursively(tools: FileTools, world: SandboxWorld) -> None:
    text = ok(run(tools, "copy", source="docs", destination="/archive/docs-backup"))
    assert text == "Copied /workspace/docs to /archive/docs-backup (2 files)"
    assert world.files("/archive/docs-backup") == {
        "/archive/docs-backup/notes.txt": b"remember the needle\n",
        "/archive/docs-backup/todo.md": b"- buy milk\n",
    }
    assert "File exists" in fs_error(run(tools, "copy", source="data.csv", destination="docs/notes.txt"))
    assert "into itself" in fs_error(run(tools, "copy", source="docs", destination="docs/inner"))


def test_archive_keeps_full_path_and_creates_parents(tools: FileTools, world: SandboxWorld) -> None:
    inode = world.inode("/workspace/docs/notes.txt")
    outcome = run(tools, "archive", path="docs/notes.txt")
    assert ok(outcome) == "Archived /workspace/docs/notes.txt to /archive/workspace/docs/notes.txt"
    assert outcome.changed and not outcome.removed
    assert not world.exists("/workspace/docs/notes.txt")
    assert world.is_dir("/archive/workspace/docs")
    assert world.read_bytes("/archive/workspace/docs/notes.txt") == b"remember the needle\n"
    assert world.inode("/archive/workspace/docs/notes.txt") == inode


def test_archive_directory_and_conflicts(tools: FileTools, world: SandboxWorld) -> None:
    ok(run(tools, "archive", path="docs"))
    assert set(world.files("/archive")) == {
        "/archive/workspace/docs/notes.txt",
        "/archive/workspace/docs/todo.md",
    }
    ok(run(tools, "make_dir", path="docs"))
    ok(run(tools, "write_file", path="docs/notes.txt", content="v2"))
    assert "archived earlier" in fs_error(run(tools, "archive", path="docs/notes.txt"))
    assert world.read_bytes("/workspace/docs/notes.txt") == b"v2"
    assert "already in /archive" in invalid(run(tools, "archive", path="/archive/workspace/docs"))
    assert "No such file" in fs_error(run(tools, "archive", path="ghost"))


# -- deletion ---------------------------------------------------------------------------------


def test_delete_file(tools: FileTools, world: SandboxWorld) -> None:
    inode = world.inode("/workspace/data.csv")
    outcome = run(tools, "delete_file", path="data.csv")
    assert ok(outcome) == "Deleted /workspace/data.csv (8 bytes)"
    assert outcome.changed
    assert [(r.path, r.inode, r.size) for r in outcome.removed] == [("/workspace/data.csv", inode, 8)]
    assert not world.exists("/workspace/data.csv")
    assert "No such file" in fs_error(run(tools, "delete_file", path="data.csv"))


def test_delete_file_refuses_directories(tools: FileTools, world: SandboxWorld) -> None:
    text = fs_error(run(tools, "delete_file", path="empty"))
    assert "Is a directory" in text and "delete_dir" in text
    assert world.is_dir("/workspace/empty")


def test_delete_dir_needs_recursive_for_non_empty(tools: FileTools, world: SandboxWorld) -> None:
    assert "Directory not empty" in fs_error(run(tools, "delete_dir", path="docs"))
    assert len(world.files("/workspace/docs")) == 2
    outcome = run(tools, "delete_dir", path="docs", recursive=True)
    assert ok(outcome) == "Deleted directory /workspace/docs (2 files, 31 bytes)"
    assert {r.path for r in outcome.removed} == {"/workspace/docs/notes.txt", "/workspace/docs/todo.md"}
    assert not world.exists("/workspace/docs")
    empty = run(tools, "delete_dir", path="empty")
    assert ok(empty).startswith("Deleted directory /workspace/empty")
    assert empty.removed == ()


def test_delete_dir_refuses_files(tools: FileTools, world: SandboxWorld) -> None:
    text = fs_error(run(tools, "delete_dir", path="data.csv", recursive=True))
    assert "Not a directory" in text and "delete_file" in text
    assert world.exists("/workspace/data.csv")
    assert "No such file" in fs_error(run(tools, "delete_dir", path="ghost"))


# -- sandbox ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "arguments"),
    [
        ("delete_dir", {"path": "/workspace", "recursive": True}),
        ("delete_dir", {"path": "/archive", "recursive": True}),
        ("delete_dir", {"path": ".", "recursive": True}),
        ("delete_dir", {"path": "docs/..", "recursive": True}),
        ("delete_file", {"path": "/workspace"}),
        ("delete_file", {"path": "/archive"}),
        ("move", {"source": "/workspace", "destination": "/archive"}),
        ("move", {"source": "/archive", "destination": "/workspace/a"}),
        ("archive", {"path": "/workspace"}),
        ("archive", {"path": "/archive"}),
        ("archive", {"path": "/workspace/"}),
    ],
)
def test_sandbox_roots_are_protected(
    tools: FileTools, world: SandboxWorld, name: str, arguments: dict[str, object]
) -> None:
    before = world.files("/")
    error = invalid(run(tools, name, **arguments))
    assert "sandbox root" in error or "already in /archive" in error
    assert world.files("/") == before
    assert all(world.is_dir(root) for root in SANDBOX_ROOTS)


OUTSIDE = [
    "/etc/passwd",
    "../etc/passwd",
    "../../etc/passwd",
    "/workspace/../etc/passwd",
    "docs/../../../etc/passwd",
    "/home/agent",
    "~",
    "~/.bashrc",
    "/",
    "..",
    "/tmp",
    "/workspacefoo",
    "/archive2/x",
    "/workspace/../archive/../etc",
]


@pytest.mark.parametrize("path", OUTSIDE)
@pytest.mark.parametrize(
    "build",
    [
        lambda p: ("read_file", {"path": p}),
        lambda p: ("list_dir", {"path": p}),
        lambda p: ("get_info", {"path": p}),
        lambda p: ("search", {"path": p, "name": "*"}),
        lambda p: ("write_file", {"path": p, "content": "pwned"}),
        lambda p: ("make_dir", {"path": p}),
        lambda p: ("delete_file", {"path": p}),
        lambda p: ("delete_dir", {"path": p, "recursive": True}),
        lambda p: ("archive", {"path": p}),
        lambda p: ("move", {"source": p, "destination": "/workspace/stolen"}),
        lambda p: ("move", {"source": "/workspace/data.csv", "destination": p}),
        lambda p: ("copy", {"source": p, "destination": "/workspace/stolen"}),
        lambda p: ("copy", {"source": "/workspace/data.csv", "destination": p}),
    ],
    ids=[
        "read_file", "list_dir", "get_info", "search", "write_file", "make_dir", "delete_file",
        "delete_dir", "archive", "move_from", "move_to", "copy_from", "copy_to",
    ],
)
def test_paths_outside_the_sandbox_are_refused(
    tools: FileTools, world: SandboxWorld, path: str, build
) -> None:
    before = {p: (world.stat(p), world.read_bytes(p) if not d else None) for p, d in world.walk("/")}
    name, arguments = build(path)
    error = invalid(run(tools, name, **arguments))
    assert "outside the sandbox" in error
    assert "root:x:0:0" not in error
    after = {p: (world.stat(p), world.read_bytes(p) if not d else None) for p, d in world.walk("/")}
    assert after == before


def test_outside_error_names_the_allowed_roots(tools: FileTools) -> None:
    error = invalid(run(tools, "read_file", path="/etc/passwd"))
    assert error == "access denied: /etc/passwd is outside the sandbox (allowed: /workspace, /archive)"


def test_relative_paths_may_reach_the_archive(tools: FileTools, world: SandboxWorld) -> None:
    ok(run(tools, "write_file", path="../archive/kept.txt", content="k"))
    assert world.read_bytes("/archive/kept.txt") == b"k"


# -- permissions ------------------------------------------------------------------------------


@pytest.fixture
def secret(world: SandboxWorld) -> str:
    path = "/workspace/secret.txt"
    world.write_bytes(path, b"TOP SECRET", owner=world.users.user("dana"), mode=0o600)
    return path


def test_other_users_private_file_cannot_be_read(tools: FileTools, secret: str) -> None:
    text = fs_error(run(tools, "read_file", path=secret))
    assert text == f"Error: {secret}: Permission denied"
    assert "TOP SECRET" not in text


def test_other_users_private_file_cannot_be_written(tools: FileTools, world: SandboxWorld, secret: str) -> None:
    assert "Permission denied" in fs_error(run(tools, "write_file", path=secret, content="mine"))
    assert "Permission denied" in fs_error(run(tools, "write_file", path=secret, content="+", append=True))
    assert world.read_bytes(secret) == b"TOP SECRET"
    assert world.stat(secret).uid == world.users.user("dana").uid


def test_other_users_private_file_cannot_be_copied(tools: FileTools, world: SandboxWorld, secret: str) -> None:
    assert "Permission denied" in fs_error(run(tools, "copy", source=secret, destination="leak.txt"))
    assert not world.exists("/workspace/leak.txt")
    # a directory holding it cannot be copied either
    world.move(secret, "/workspace/docs/secret.txt")
    assert "Permission denied" in fs_error(run(tools, "copy", source="docs", destination="docs2"))
    assert not world.exists("/workspace/docs2")


def test_search_by_content_skips_unreadable_files(tools: FileTools, secret: str) -> None:
    assert ok(run(tools, "search", content="SECRET")) == "No files match under /workspace"


def test_get_info_does_not_need_read_permission(tools: FileTools, secret: str) -> None:
    text = ok(run(tools, "get_info", path=secret))
    assert "owner: dana" in text and "-rw------- (0600)" in text


def test_unlink_follows_directory_permissions(tools: FileTools, world: SandboxWorld, secret: str) -> None:
    # POSIX: removing an entry needs write permission on the directory, not on the file
    outcome = run(tools, "delete_file", path=secret)
    assert ok(outcome).startswith(f"Deleted {secret}")
    assert not world.exists(secret)


@pytest.fixture
def danas_dir(world: SandboxWorld) -> str:
    dana = world.users.user("dana")
    world.make_dir("/workspace/dana", owner=dana, mode=0o755)
    world.write_bytes("/workspace/dana/report.txt", b"dana's report", owner=dana, mode=0o600)
    world.write_bytes("/workspace/dana/public.txt", b"hello", owner=dana, mode=0o644)
    return "/workspace/dana"


@pytest.mark.parametrize(
    ("name", "arguments"),
    [
        ("delete_file", {"path": "dana/report.txt"}),
        ("delete_file", {"path": "dana/public.txt"}),
        ("delete_dir", {"path": "dana", "recursive": True}),
        ("move", {"source": "dana/report.txt", "destination": "mine.txt"}),
        ("move", {"source": "dana/public.txt", "destination": "mine.txt"}),
        ("archive", {"path": "dana/report.txt"}),
        ("archive", {"path": "dana/public.txt"}),
        ("write_file", {"path": "dana/new.txt", "content": "x"}),
        ("make_dir", {"path": "dana/sub"}),
        ("move", {"source": "data.csv", "destination": "dana"}),
        ("copy", {"source": "data.csv", "destination": "dana"}),
        ("read_file", {"path": "dana/report.txt"}),
    ],
)
def test_permission_denied_in_another_users_directory(
    tools: FileTools, world: SandboxWorld, danas_dir: str, name: str, arguments: dict[str, object]
) -> None:
    before = world.files("/")
    text = fs_error(run(tools, name, **arguments))
    assert "Permission denied" in text
    assert world.files("/") == before


def test_sticky_shared_directory(tools: FileTools, world: SandboxWorld) -> None:
    world.make_dir("/workspace/shared", owner=world.users.user("root"), mode=0o1777)
    world.write_bytes("/workspace/shared/danas.txt", b"d", owner=world.users.user("dana"), mode=0o666)
    assert "Permission denied" in fs_error(run(tools, "delete_file", path="shared/danas.txt"))
    assert "Permission denied" in fs_error(run(tools, "archive", path="shared/danas.txt"))
    ok(run(tools, "write_file", path="shared/danas.txt", content="edited"))  # 0o666: writable
    ok(run(tools, "write_file", path="shared/mine.txt", content="m"))
    ok(run(tools, "delete_file", path="shared/mine.txt"))
    assert world.read_bytes("/workspace/shared/danas.txt") == b"edited"


def test_private_directory_cannot_be_listed(tools: FileTools, world: SandboxWorld) -> None:
    dana = world.users.user("dana")
    world.make_dir("/workspace/private", owner=dana, mode=0o700)
    assert fs_error(run(tools, "list_dir", path="private")) == "Error: /workspace/private: Permission denied"


def test_file_in_unsearchable_directory_cannot_be_read(tools: FileTools, world: SandboxWorld) -> None:
    """A world-readable file inside another user's 0o700 directory stays private (POSIX)."""
    dana = world.users.user("dana")
    world.make_dir("/workspace/private", owner=dana, mode=0o700)
    world.write_bytes("/workspace/private/diary.txt", b"dear diary", owner=dana, mode=0o644)
    text = fs_error(run(tools, "read_file", path="private/diary.txt"))
    assert "Permission denied" in text
    assert "dear diary" not in text


@pytest.fixture
def private_dir(world: SandboxWorld) -> str:
    dana = world.users.user("dana")
    world.make_dir("/workspace/private", owner=dana, mode=0o700)
    world.write_bytes("/workspace/private/diary.txt", b"dear diary", owner=dana, mode=0o644)
    return "/workspace/private"


def test_search_does_not_reveal_names_list_dir_refuses(tools: FileTools, private_dir: str) -> None:
    """What list_dir refuses to show (a 0o700 directory of dana), search must not show either."""
    assert "Permission denied" in fs_error(run(tools, "list_dir", path=private_dir))
    everywhere = run(tools, "search", name="*")
    assert "diary.txt" not in everywhere.text
    assert "/workspace/docs/notes.txt" in everywhere.text  # the readable part is still searched
    inside = run(tools, "search", path=private_dir, name="*")
    assert "diary.txt" not in inside.text


def test_get_info_needs_search_permission_on_the_directory(tools: FileTools, private_dir: str) -> None:
    """stat(2) of a path inside a directory without x permission fails with EACCES."""
    text = fs_error(run(tools, "get_info", path=f"{private_dir}/diary.txt"))
    assert "Permission denied" in text
    assert "owner: dana" not in text


# -- parser -----------------------------------------------------------------------------------


def parse(text: object) -> ToolCall:
    return parse_tool_call(text, max_length=16_384, positional=POSITIONAL_ORDER)


EXPECTED = ToolCall("read_file", {"path": "/workspace/x"})


@pytest.mark.parametrize(
    "text",
    [
        '{"name": "read_file", "arguments": {"path": "/workspace/x"}}',
        '{"name": "read_file", "arguments": "{\\"path\\": \\"/workspace/x\\"}"}',
        '{"tool": "read_file", "args": {"path": "/workspace/x"}}',
        '{"name": "read_file", "parameters": {"path": "/workspace/x"}}',
        '{"type": "function", "function": {"name": "read_file", "arguments": {"path": "/workspace/x"}}}',
        '{"id": "call_1", "type": "function", "function": '
        '{"name": "read_file", "arguments": "{\\"path\\": \\"/workspace/x\\"}"}}',
        '```json\n{"name": "read_file", "arguments": {"path": "/workspace/x"}}\n```',
        '```\n{"name": "read_file", "arguments": {"path": "/workspace/x"}}\n```',
        '  \n{"name": "read_file", "arguments": {"path": "/workspace/x"}}\n  ',
        'read_file(path="/workspace/x")',
        'read_file("/workspace/x")',
        "read_file('/workspace/x')",
        '```python\nread_file("/workspace/x")\n```',
        b'{"name": "read_file", "arguments": {"path": "/workspace/x"}}',
    ],
)
def test_parser_accepts(text: object) -> None:
    assert parse(text) == EXPECTED


def test_parser_positional_and_keyword_mix() -> None:
    assert parse('write_file("a.txt", "hi", append=True)') == ToolCall(
        "write_file", {"path": "a.txt", "content": "hi", "append": True}
    )
    assert parse('move("a", destination="b")') == ToolCall("move", {"source": "a", "destination": "b"})
    assert parse("finish()") == ToolCall("finish", {})
    assert parse('{"name": "finish"}') == ToolCall("finish", {})
    assert parse('{"name": "finish", "arguments": null}') == ToolCall("finish", {})
    assert parse('{"name": "finish", "arguments": ""}') == ToolCall("finish", {})


def test_tool_call_to_text_round_trips() -> None:
    call = ToolCall("delete_dir", {"path": "/workspace/a", "recursive": True})
    assert parse(call.to_text()) == call


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ('[{"name": "read_file", "arguments": {"path": "x"}}]', "not a list"),
        ('{"name": "read_file", "arguments": {"path": "x"}', "invalid JSON"),
        ('"read_file"', "not a tool call"),
        ("42", "not a tool call"),
        ('{"arguments": {"path": "x"}}', "missing tool name"),
        ('{"name": "", "arguments": {}}', "missing tool name"),
        ('{"name": 3, "arguments": {}}', "missing tool name"),
        ('{"name": "read_file", "arguments": ["x"]}', "JSON object of named arguments"),
        ('{"name": "read_file", "arguments": "{not json"}', "not valid JSON"),
        ('{"name": "read_file", "arguments": {}, "extra": 1}', "unexpected keys"),
        ("", "empty action"),
        ("   \n ", "empty action"),
        ("```json\n\n```", "empty action"),
        ("please read the file", "not a tool call"),
        ("rm -rf /", "not a tool call"),
        ('read_file(path=open("/etc/passwd").read())', "literals"),
        ("read_file(path=x)", "literals"),
        ('read_file("a") + read_file("b")', "single call"),
        ("os.remove('/x')", "not a tool call"),
        ("read_file(path='a'", "could not parse"),
        (b"\xff\xfe", "UTF-8"),
        (None, "must be text"),
        (7, "must be text"),
        ({"name": "list_dir"}, "must be text"),
    ],
)
def test_parser_rejects(text: object, fragment: str) -> None:
    with pytest.raises(ActionParseError) as exc:
        parse(text)
    assert fragment in str(exc.value)


def test_parser_refuses_over_long_actions_before_parsing() -> None:
    with pytest.raises(ActionParseError, match="too long"):
        parse_tool_call('{"name": "finish"}' + " " * 100, max_length=50)


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ('nope("x")', "unknown tool 'nope'"),
        ('list_dir("a", "b")', "at most 1 positional"),
        ('list_dir(**{"path": "a"})', "**kwargs"),
        ('list_dir("a", path="b")', "given twice"),
    ],
)
def test_parser_call_style_specific_messages(text: str, fragment: str) -> None:
    with pytest.raises(ActionParseError) as exc:
        parse(text)
    assert fragment in str(exc.value)


def test_call_style_is_never_evaluated(tools: FileTools, monkeypatch: pytest.MonkeyPatch) -> None:
    called: list[str] = []
    monkeypatch.setattr(os, "getcwd", lambda: called.append("getcwd") or "/workspace/docs/notes.txt")
    outcomes = [
        tools.run("read_file(path=__import__('os').getcwd())"),
        tools.run("read_file(os.getcwd())"),
        tools.run('{"name": "read_file", "arguments": {"path": "__import__(\'os\').getcwd()"}}'),
    ]
    monkeypatch.undo()
    assert called == []
    assert "literals" in invalid(outcomes[0])
    assert "literals" in invalid(outcomes[1])
    assert "No such file" in fs_error(outcomes[2])  # only ever a (strange) file name


# -- validation through FileTools -------------------------------------------------------------


@pytest.mark.parametrize(
    ("action", "fragments"),
    [
        ('{"name": "rm", "arguments": {"path": "x"}}', ["unknown tool 'rm'", "list_dir", "delete_dir"]),
        ('shell(command="ls")', ["unknown tool 'shell'"]),
        ('{"name": "read_file", "arguments": {"path": "x", "mode": "r"}}', ["unknown argument", "'mode'", "path"]),
        ('{"name": "finish", "arguments": {"reason": "x"}}', ["unknown argument", "answer"]),
        ('{"name": "read_file", "arguments": {}}', ["read_file needs argument(s): path"]),
        ('{"name": "move", "arguments": {"source": "a"}}', ["needs argument(s): destination"]),
        ('{"name": "read_file", "arguments": {"path": 5}}', ["'path' must be a string, got int"]),
        ('{"name": "read_file", "arguments": {"path": null}}', ["must be a string, got NoneType"]),
        ('{"name": "read_file", "arguments": {"path": ["x"]}}', ["must be a string, got list"]),
        ('{"name": "write_file", "arguments": {"path": "a", "content": "b", "append": "yes"}}',
         ["'append' must be a boolean, got str"]),
        ('{"name": "delete_dir", "arguments": {"path": "docs", "recursive": 1}}',
         ["'recursive' must be a boolean, got int"]),
        ('{"name": "read_file", "arguments": {"path": "a\\u0000b"}}', ["NUL byte"]),
        ('{"name": "write_file", "arguments": {"path": "a", "content": "x\\u0000y"}}', ["NUL byte"]),
        ('{"name": "read_file", "arguments": {"path": ""}}', ["bad path"]),
        ('{"name": "read_file", "arguments": {"path": "/workspace/' + "a" * 5000 + '"}}', ["too long"]),
    ],
)
def test_invalid_calls_get_helpful_errors(
    tools: FileTools, world: SandboxWorld, action: str, fragments: list[str]
) -> None:
    before = world.files("/")
    error = invalid(tools.run(action))
    for fragment in fragments:
        assert fragment in error
    assert world.files("/") == before


def test_invalid_call_keeps_the_parsed_call(tools: FileTools) -> None:
    outcome = run(tools, "read_file", path=5)
    assert outcome.call == ToolCall("read_file", {"path": 5})
    unparsed = tools.run("not json at all")
    assert unparsed.call is None and unparsed.error


def test_every_tool_has_a_handler_and_a_schema(tools: FileTools) -> None:
    assert TOOL_NAMES == [
        "list_dir", "read_file", "write_file", "make_dir", "move", "copy", "search",
        "get_info", "archive", "delete_file", "delete_dir", "finish",
    ]
    for schema in TOOL_SCHEMAS:
        params = schema["parameters"]
        assert params["additionalProperties"] is False
        assert set(params["required"]) <= set(params["properties"])
        assert POSITIONAL_ORDER[schema["name"]] == tuple(params["properties"])


def test_finish(tools: FileTools) -> None:
    outcome = run(tools, "finish", answer="/workspace/docs/notes.txt")
    assert ok(outcome) == "Episode finished. Answer: /workspace/docs/notes.txt"
    assert outcome.finished and outcome.answer == "/workspace/docs/notes.txt"
    bare = run(tools, "finish")
    assert ok(bare) == "Episode finished." and bare.finished and bare.answer is None


# -- through the env --------------------------------------------------------------------------


@pytest.fixture
def env():
    env = gym.make("SubliminalFS-v0", admissible_actions=False)
    env.reset(seed=0, options={"task_family": "locate_by_content", "task_seed": 3})
    yield env
    env.close()


def test_env_step_runs_tools_as_agent_inside_the_task_tree(env) -> None:
    world = env.unwrapped.world
    world.write_bytes("/workspace/zz_probe.txt", b"probe", owner=world.users.user("agent"))
    obs, reward, terminated, truncated, info = env.step('list_dir("/workspace")')
    assert "zz_probe.txt  5 bytes" in obs.splitlines()
    assert info["action_error"] is None
    assert not terminated and not truncated
    obs, *_ = env.step('read_file("zz_probe.txt")')
    assert obs == "probe"
    obs, _, _, _, info = env.step('{"name": "read_file", "arguments": {"path": "/etc/passwd"}}')
    assert "outside the sandbox" in info["action_error"]
    assert obs == f"Error: {info['action_error']}"


def test_env_permission_denied_is_not_an_action_error(env) -> None:
    world = env.unwrapped.world
    world.write_bytes("/workspace/dana.txt", b"private", owner=world.users.user("dana"), mode=0o600)
    obs, _, _, _, info = env.step('read_file("dana.txt")')
    assert obs == "Error: /workspace/dana.txt: Permission denied"
    assert info["action_error"] is None


def test_env_write_then_read_and_mtime_from_clock(env) -> None:
    world = env.unwrapped.world
    start = world.now
    env.step('write_file("out.txt", "result")')
    assert world.stat("/workspace/out.txt").mtime == start + 1.0  # one step, one clock tick
    obs, *_ = env.step('read_file("out.txt")')
    assert obs == "result"
