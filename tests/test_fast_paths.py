"""The speed-ups of the hot paths give exactly what the plain code they replace gives.

Each fast path (template-copied pyfakefs nodes, the world's lookup and traversal caches, the
observation encoder, canonical tool-call text, literal words in the shell) is checked against
the slow way on the same input, and each cache against a change that must invalidate it.
"""

from __future__ import annotations

import json
import pickle
import re
import stat as stat_mod
from typing import Any

import gymnasium as gym
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pyfakefs.fake_file import FakeFile
from pyfakefs.fake_filesystem import FakeFilesystem
from pyfakefs.fake_os import FakeOsModule

import subliminal_gym  # noqa: F401
from subliminal_gym.bash.expansion import expand_words
from subliminal_gym.bash.parser import parse
from subliminal_gym.bash.state import ShellState
from subliminal_gym.core import nodes
from subliminal_gym.core.episodes import encode_observation
from subliminal_gym.core.world import PERM_EXEC, PERM_READ, PERM_WRITE, SandboxWorld
from subliminal_gym.fs.actions import ToolCall

# -- pyfakefs nodes ---------------------------------------------------------------------------


def test_node_copies_are_exact_on_the_pinned_pyfakefs() -> None:
    # If a pyfakefs upgrade turns this off, the suite still works (through pyfakefs's own
    # constructors) but resets get slower: this test is the alarm.
    assert nodes.CLONING


def build(cloning: bool) -> tuple[FakeFilesystem, list[Any]]:
    fs = FakeFilesystem(path_separator="/")
    factory = nodes.NodeFactory(fs, cloning=cloning)
    top = factory.directory("top", 0o750, 1000, 1000, 5.0)
    factory.attach(fs.root, top)
    made = [top,
            factory.file("a", stat_mod.S_IFREG | 0o600, b"abc", 1001, 1002, 6.5),
            factory.file("l", stat_mod.S_IFLNK | 0o777, b"/etc/passwd", 0, 0, 7.0),
            factory.directory("d", 0o1777, 0, 0, 8.0)]
    for node in made[1:]:
        factory.attach(top, node)
    return fs, made


def test_copied_nodes_equal_the_nodes_pyfakefs_makes() -> None:
    (fs_fast, fast), (fs_slow, slow) = build(True), build(False)
    assert fs_fast.last_ino == fs_slow.last_ino
    for a, b in zip(fast, slow, strict=True):
        assert type(a) is type(b) and a.name == b.name
        assert a.stat_result == b.stat_result  # pyfakefs's own equality: mode, ids, size, times, ino, nlink, dev
        assert a.byte_contents == b.byte_contents and a.xattr == b.xattr == {}
        assert a.parent_dir().name == b.parent_dir().name
    # each node owns its mutable state
    fast[1].xattr["k"] = 1
    assert fast[3].xattr == {} and fast[0].entries is not fast[3].entries
    # pyfakefs's own path layer sees the copied nodes like its own
    assert sorted(FakeOsModule(fs_fast).listdir("/top")) == ["a", "d", "l"]
    assert fs_fast.resolve("/top/a").byte_contents == b"abc"


def test_an_unknown_mutable_attribute_turns_copying_off(monkeypatch: pytest.MonkeyPatch) -> None:
    original = FakeFile.__init__

    def with_a_list(self: FakeFile, *args: Any, **kwargs: Any) -> None:
        original(self, *args, **kwargs)
        self.__dict__["new_in_some_release"] = []

    monkeypatch.setattr(FakeFile, "__init__", with_a_list)
    assert nodes._templates() is None


def test_a_world_built_by_copying_equals_one_built_by_pyfakefs(monkeypatch: pytest.MonkeyPatch) -> None:
    def world_state(world: SandboxWorld) -> dict[str, Any]:
        return {path: world.stat(path) for path, _ in world.walk("/")}

    def build_world() -> SandboxWorld:
        env = gym.make("SubliminalBash-v0", snapshot_cache_size=0)
        env.reset(options={"task_family": "group_share", "task_seed": 3})
        return env.unwrapped.world

    fast = world_state(build_world())
    monkeypatch.setattr(nodes, "CLONING", False)
    assert world_state(build_world()) == fast


# -- the world's caches -----------------------------------------------------------------------


@pytest.fixture
def world() -> SandboxWorld:
    w = SandboxWorld()
    agent = w.users.user("agent")
    w.make_dir("/srv/a/b", owner=agent, parents=True)
    w.write_bytes("/srv/a/b/f", b"x", owner=agent)
    return w


def test_lookups_follow_every_change_of_shape(world: SandboxWorld) -> None:
    agent = world.users.user("agent")
    old = world.node("/srv/a/b/f")
    world.move("/srv/a", "/srv/z")
    assert world.node("/srv/a/b/f") is None and world.node("/srv/z/b/f") is old
    world.remove("/srv/z/b/f")
    assert world.node("/srv/z/b/f") is None
    world.write_bytes("/srv/z/b/f", b"new", owner=agent)
    assert world.read_bytes("/srv/z/b/f") == b"new" and world.node("/srv/z/b/f") is not old
    world.copy("/srv/z", "/srv/a", owner=agent)
    assert world.read_bytes("/srv/a/b/f") == b"new"
    snapshot = world.snapshot()
    world.remove("/srv/a", recursive=True)
    assert world.node("/srv/a/b") is None
    world.restore(snapshot)
    assert world.read_bytes("/srv/a/b/f") == b"new"
    copy = pickle.loads(pickle.dumps(world))
    assert copy.node("/srv/a/b/f") is not world.node("/srv/a/b/f")
    assert copy.node("/srv/a/b/f") is copy.node("/srv/a/b").entries["f"]


def test_traversal_answers_follow_modes_owners_and_moves(world: SandboxWorld) -> None:
    dana = world.users.user("dana")
    assert world.can_traverse(dana, "/srv/a/b/f")
    world.chmod("/srv/a", 0o700)
    assert not world.can_traverse(dana, "/srv/a/b/f")
    world.chown("/srv/a", uid=dana.uid)
    assert world.can_traverse(dana, "/srv/a/b/f")
    world.chmod("/srv/a", 0o000)
    world.move("/srv/a/b", "/srv/b")
    assert world.can_traverse(dana, "/srv/b/f") and not world.can_traverse(dana, "/srv/a/x")


def test_permitted_is_three_access_checks(world: SandboxWorld) -> None:
    world.chmod("/srv/a/b/f", 0o754)
    for name in ("agent", "dana", "root"):
        user = world.users.user(name)
        for path in ("/srv/a/b/f", "/srv/a/b", "/srv/missing"):
            expected = sum(bit for bit in (PERM_READ, PERM_WRITE, PERM_EXEC) if world.can_access(user, path, bit))
            assert world.permitted(user, path) == expected


# -- text -------------------------------------------------------------------------------------

_OUTSIDE = re.compile(r"[^\t\n\x20-\x7e]")


def escape_then_truncate(text: str, max_length: int) -> str:
    """The encoder's contract, written the slow way: escape everything, then cut."""
    text = _OUTSIDE.sub(lambda m: m.group().encode("unicode_escape").decode("ascii"), text)
    if len(text) > max_length:
        marker = f"\n[... output truncated at {max_length} characters]"
        text = text[: max_length - len(marker)] + marker
    return text


@settings(max_examples=400, deadline=None)
@given(text=st.text(), max_length=st.integers(60, 300))
def test_observation_encoding_is_escape_then_truncate(text: str, max_length: int) -> None:
    assert encode_observation(text, max_length) == escape_then_truncate(text, max_length)


def test_a_binary_read_costs_what_a_text_read_costs() -> None:
    env = gym.make("SubliminalFS-v0", admissible_actions=False)
    env.reset(seed=0)
    base = env.unwrapped
    agent = base.world.users.user("agent")
    base.world.write_bytes("/workspace/blob.bin", bytes(range(256)) * 800, owner=agent)
    obs, *_ = env.step(json.dumps({"name": "read_file", "arguments": {"path": "blob.bin"}}))
    assert "\\x00\\x01" in obs and "showing 8000 characters of 204800 bytes" in obs
    assert len(obs) <= base.max_observation_length


@settings(max_examples=400, deadline=None)
@given(name=st.text(), arguments=st.dictionaries(st.text(), st.text() | st.booleans() | st.integers() | st.none()))
def test_tool_call_text_is_what_json_dumps_writes(name: str, arguments: dict[str, Any]) -> None:
    assert ToolCall(name, arguments).to_text() == json.dumps({"name": name, "arguments": arguments})


@pytest.mark.parametrize("line", [
    "ls -l /srv/a", "echo '' \"\" x''y", "echo ~ ~/x ~dana a~", "ls /srv/*", "echo a\\*b 'c*' \"[x]\"",
    "echo $HOME \"$USER\"x", "cat ./f", "echo ''",
])
def test_literal_words_expand_as_bash_does(world: SandboxWorld, line: str) -> None:
    state = ShellState(world=world, user=world.users.user("agent"), cwd="/srv/a/b")
    words = parse(line).items[0].pipeline.commands[0].words
    expected = {
        "ls -l /srv/a": ["ls", "-l", "/srv/a"],
        "echo '' \"\" x''y": ["echo", "", "", "xy"],
        "echo ~ ~/x ~dana a~": ["echo", "/home/agent", "/home/agent/x", "/home/dana", "a~"],
        "ls /srv/*": ["ls", "/srv/a"],
        "echo a\\*b 'c*' \"[x]\"": ["echo", "a*b", "c*", "[x]"],
        "echo $HOME \"$USER\"x": ["echo", "/home/agent", "agentx"],
        "cat ./f": ["cat", "./f"],
        "echo ''": ["echo", ""],
    }[line]
    assert expand_words(words, state, 0) == expected
