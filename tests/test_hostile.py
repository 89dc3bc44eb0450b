"""Hostile input through ``gym.make("SubliminalFS-v0")``: nothing raises, nothing escapes the sandbox."""

from __future__ import annotations

import builtins
import json
import os
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import gymnasium as gym
import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

import subliminal_gym  # noqa: F401  (registers the env ids)
from subliminal_gym.fs.tools import TOOL_SCHEMAS

ENV_ID = "SubliminalFS-v0"
THIS_FILE = str(Path(__file__).resolve())
HOME = os.path.expanduser("~")
TOOL_NAMES = [s["name"] for s in TOOL_SCHEMAS]
PARAM_NAMES = sorted({p for s in TOOL_SCHEMAS for p in s["parameters"]["properties"]})
SECRET = "SENTINEL-7f3a9c-do-not-leak"
VALID_LIST = '{"name": "list_dir", "arguments": {"path": "/workspace"}}'
HYPOTHESIS = settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])


# -- the real disk ----------------------------------------------------------------------------


def make_sentinel(root: Path) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    (root / "sentinel.txt").write_text(SECRET + "\n")
    (root / "sub").mkdir(exist_ok=True)
    (root / "sub" / "inner.txt").write_text(SECRET + " inner\n")
    return root


def disk_state(root: Path) -> dict[str, tuple[Any, ...]]:
    """Listing, contents, sizes, modes, inodes and mtimes of everything under ``root``."""
    out: dict[str, tuple[Any, ...]] = {}
    for dirpath, dirnames, filenames in os.walk(root):
        for name in sorted(dirnames + filenames):
            path = os.path.join(dirpath, name)
            st_ = os.stat(path)
            content = Path(path).read_bytes() if os.path.isfile(path) else None
            out[path] = (st_.st_mode, st_.st_size, st_.st_ino, st_.st_mtime_ns, content)
    st_root = os.stat(root)
    out[str(root)] = (st_root.st_mode, st_root.st_ino, st_root.st_mtime_ns)
    return out


def host_state() -> tuple[list[str], tuple[int, ...]]:
    passwd = os.stat("/etc/passwd")
    return sorted(os.listdir("/")), (passwd.st_ino, passwd.st_size, passwd.st_mtime_ns, passwd.st_mode)


@pytest.fixture(scope="module")
def sentinel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_sentinel(tmp_path_factory.mktemp("real_disk"))


def fill(action: Any, sentinel: Path) -> Any:
    if not isinstance(action, str):
        return action
    return (
        action.replace("@SENTINEL_DIR@", str(sentinel))
        .replace("@SENTINEL@", str(sentinel / "sentinel.txt"))
        .replace("@THIS_FILE@", THIS_FILE)
        .replace("@HOME@", HOME)
    )


# -- envs -------------------------------------------------------------------------------------


@pytest.fixture
def env() -> Iterator[gym.Env]:
    env = gym.make(ENV_ID)
    env.reset(seed=0)
    yield env
    env.close()


@pytest.fixture(scope="module")
def shared() -> Iterator[SimpleNamespace]:
    """One env for all examples of a hypothesis test, in a holder: hypothesis probes its first
    argument for hooks, which a gymnasium wrapper would answer with deprecation warnings."""
    env = gym.make(ENV_ID, admissible_actions=False)
    env.reset(seed=1)
    yield SimpleNamespace(env=env)
    env.close()


def world_state(env: gym.Env) -> dict[str, tuple[Any, ...]]:
    world = env.unwrapped.world
    return {
        p: (world.stat(p), world.inode(p), None if d else world.read_bytes(p)) for p, d in world.walk("/")
    }


def step_safely(env: gym.Env, action: Any) -> tuple[str, dict[str, Any]]:
    """Step (resetting first if the last episode ended); check the invariants every step keeps."""
    obs, reward, terminated, truncated, info = env.step(action)
    assert isinstance(obs, str)
    assert env.observation_space.contains(obs), obs[:200]
    assert isinstance(reward, float)
    assert SECRET not in obs
    if terminated or truncated:
        env.reset()
    return obs, info


def assert_episode_continues(env: gym.Env) -> None:
    obs, _, terminated, _, info = env.step(VALID_LIST)
    assert info["action_error"] is None
    assert obs.startswith("/workspace (")
    assert not terminated


# -- parametrised hostile actions -------------------------------------------------------------

PARSE_ERRORS: list[Any] = [
    "",
    "   ",
    "{",
    '{"name": "list_dir", "arguments": {"path": "/workspace"}',
    "not json at all",
    "rm -rf /",
    "rm -rf / --no-preserve-root",
    "; rm -rf ~",
    "$(rm -rf /)",
    "`cat /etc/passwd`",
    "import os; os.system('rm -rf /')",
    "__import__('os').system('rm -rf /')",
    "read_file(path=__import__('os').getcwd())",
    "read_file(__import__('os').remove('@SENTINEL@'))",
    "delete_file(path=open('@SENTINEL@').read())",
    "read_file(path='a' + 'b')",
    "read_file(path=[x for x in 'ab'])",
    "list_dir(path=(lambda: '/')())",
    "read_file(path=exec('1'))",
    "list_dir(path=" + "(" * 5000 + "'/'" + ")" * 5000 + ")",
    "list_dir(path=" + "-" * 15000 + "1)",
    "list_dir(path=" + "9" * 5000 + ")",
    "[" * 100_000,
    "[" * 16_000,
    '{"a":' * 2_500 + "1" + "}" * 2_500,
    '{"name": "list_dir", "arguments": "' + "[" * 15_000 + '"}',
    "x" * 1_000_000,
    json.dumps({"name": "write_file", "arguments": {"path": "big.txt", "content": "x" * 1_000_000}}),
    '[{"name": "list_dir", "arguments": {"path": "/workspace"}}]',
    '{"name": "shell", "arguments": {"command": "rm -rf /"}}',
    '{"name": "__import__", "arguments": {}}',
    '{"name": "list_dir", "arguments": {"path": "/workspace", "exec": "rm -rf /"}}',
    '{"name": "read_file", "arguments": {"path": 123}}',
    '{"name": "read_file", "arguments": {"path": ["/etc/passwd"]}}',
    '{"name": "read_file", "arguments": {"path": {"$ne": null}}}',
    '{"name": "delete_dir", "arguments": {"path": "/workspace/x", "recursive": "true"}}',
    '{"name": "write_file", "arguments": {"path": "a.txt"}}',
    '{"name": "read_file", "arguments": {"path": "/workspace/a\\u0000/../../etc/passwd"}}',
    '{"name": "write_file", "arguments": {"path": "a.txt", "content": "x\\u0000y"}}',
    'read_file("/workspace/\x00")',
    '{"name": "delete_dir", "arguments": {"path": "/", "recursive": true}}',
    '{"name": "delete_file", "arguments": {"path": "/etc/passwd"}}',
    '{"name": "write_file", "arguments": {"path": "/etc/passwd", "content": "root::0:0::/:/bin/sh"}}',
    '{"name": "read_file", "arguments": {"path": "../../etc/passwd"}}',
    '{"name": "read_file", "arguments": {"path": "/workspace/../../../../etc/shadow"}}',
    '{"name": "move", "arguments": {"source": "/workspace", "destination": "/tmp"}}',
    '{"name": "copy", "arguments": {"source": "/etc", "destination": "/workspace/etc"}}',
    '{"name": "list_dir", "arguments": {"path": "~"}}',
    '{"name": "delete_dir", "arguments": {"path": "/workspace", "recursive": true}}',
    '{"name": "archive", "arguments": {"path": "/archive"}}',
    'read_file("@THIS_FILE@")',
    'delete_file("@THIS_FILE@")',
    'list_dir("@HOME@")',
    'delete_dir("@HOME@", True)',
    'read_file("@SENTINEL@")',
    'delete_file("@SENTINEL@")',
    'move("@SENTINEL@", "/workspace/stolen.txt")',
    'copy("@SENTINEL@", "/workspace/stolen.txt")',
    'write_file("@SENTINEL@", "overwritten")',
    'delete_dir("@SENTINEL_DIR@", recursive=True)',
    'read_file("../../../../../../..@SENTINEL@")',
    'delete_file("/workspace/../../../..@SENTINEL@")',
    b"\xff\xfe\xfd",
    b"rm -rf /",
    b'{"name": "delete_dir", "arguments": {"path": "/", "recursive": true}}',
    None,
    0,
    42,
    -1,
    3.5,
    True,
    [],
    {},
    {"name": "list_dir", "arguments": {"path": "/workspace"}},
    ("list_dir", "/workspace"),
    object(),
]

RUNTIME_ERRORS = [
    '{"name": "read_file", "arguments": {"path": "/workspace/does/not/exist"}}',
    '{"name": "delete_file", "arguments": {"path": "/workspace/nope.txt"}}',
    '{"name": "delete_dir", "arguments": {"path": "/workspace/nope", "recursive": true}}',
    '{"name": "move", "arguments": {"source": "/workspace/nope", "destination": "/archive"}}',
    '{"name": "list_dir", "arguments": {"path": "/workspace/' + "n" * 300 + '"}}',
    '{"name": "read_file", "arguments": {"path": "/workspace"}}',
    '{"name": "read_file", "arguments": {"path": "/workspace/__import__(\'os\').getcwd()"}}',
    'read_file("/workspace/@SENTINEL@")',
    'delete_dir("/archive/@SENTINEL_DIR@", True)',
]


def _ids(actions: list[Any]) -> list[str]:
    plain = (str, bytes, int, float, type(None), list, dict, tuple)
    return [repr(a)[:40] if isinstance(a, plain) else type(a).__name__ for a in actions]


@pytest.mark.parametrize("action", PARSE_ERRORS, ids=_ids(PARSE_ERRORS))
def test_hostile_action_is_an_action_error(env: gym.Env, sentinel: Path, action: Any) -> None:
    before_disk, before_host, before_world = disk_state(sentinel), host_state(), world_state(env)
    obs, info = step_safely(env, fill(action, sentinel))
    assert info["action_error"], obs[:200]
    assert obs.startswith("Error")
    assert len(info["action_error"]) < 1000
    assert "root:x:0:0" not in obs  # the (fake or real) passwd never shows
    assert "def test_hostile_action_is_an_action_error" not in obs
    assert world_state(env) == before_world
    assert disk_state(sentinel) == before_disk and host_state() == before_host
    assert_episode_continues(env)


@pytest.mark.parametrize("action", RUNTIME_ERRORS, ids=_ids(RUNTIME_ERRORS))
def test_failing_well_formed_call_reports_error(env: gym.Env, sentinel: Path, action: str) -> None:
    before_disk, before_world = disk_state(sentinel), world_state(env)
    obs, info = step_safely(env, fill(action, sentinel))
    assert info["action_error"] is None
    assert obs.startswith("Error")
    assert world_state(env) == before_world
    assert disk_state(sentinel) == before_disk
    assert_episode_continues(env)


def test_outside_paths_mention_the_sandbox(env: gym.Env, sentinel: Path) -> None:
    for action in ('read_file("@THIS_FILE@")', 'list_dir("@HOME@")', 'delete_file("@SENTINEL@")',
                   'read_file("../../etc/passwd")', '{"name": "delete_dir", "arguments": {"path": "/"}}'):
        obs, info = step_safely(env, fill(action, sentinel))
        assert "sandbox" in info["action_error"], action


def test_many_hostile_actions_in_one_episode(env: gym.Env, sentinel: Path) -> None:
    """Errors never end or corrupt the episode: 39 bad steps, then the last step still works."""
    before = world_state(env)
    bad = [a for a in PARSE_ERRORS if not isinstance(a, str) or len(a) < 20_000][:39]
    for i, action in enumerate(bad):
        obs, _, terminated, truncated, info = env.step(fill(action, sentinel))
        assert info["action_error"] and not terminated and not truncated, (i, action)
    assert world_state(env) == before
    obs, _, terminated, truncated, info = env.step(VALID_LIST)
    assert obs.startswith("/workspace (") and truncated and not terminated  # step 40 of 40
    assert info["audit"]["destructive_attempts"] == 0


def test_render_survives_hostile_actions(sentinel: Path) -> None:
    env = gym.make(ENV_ID, render_mode="ansi", admissible_actions=False)
    env.reset(seed=2)
    for action in (None, b"\xff", "x" * 1_000_000, "\x1b[2J\r\x00", 7):
        step_safely(env, action)
    text = env.render()
    assert isinstance(text, str)
    assert "> None" in text and "> 7" in text
    assert len(text) < 50_000
    env.close()


# -- the real disk ----------------------------------------------------------------------------


def test_real_disk_untouched_by_an_episode(tmp_path: Path) -> None:
    root = make_sentinel(tmp_path / "host")
    target = str(root / "sentinel.txt")
    escapes = ["../" * 12 + target.lstrip("/"), "/workspace/" + "../" * 12 + target.lstrip("/"),
               "/archive/../.." + target, "~/../../.." + target]
    before_disk, before_host = disk_state(root), host_state()
    env = gym.make(ENV_ID)
    env.reset(seed=3)
    actions: list[str] = []
    for path in [target, str(root), str(root / "sub" / "inner.txt"), "/", "/etc/passwd", *escapes]:
        actions += [
            json.dumps({"name": "read_file", "arguments": {"path": path}}),
            json.dumps({"name": "list_dir", "arguments": {"path": path}}),
            json.dumps({"name": "get_info", "arguments": {"path": path}}),
            json.dumps({"name": "search", "arguments": {"path": path, "content": "SENTINEL"}}),
            json.dumps({"name": "delete_file", "arguments": {"path": path}}),
            json.dumps({"name": "delete_dir", "arguments": {"path": path, "recursive": True}}),
            json.dumps({"name": "move", "arguments": {"source": path, "destination": "/workspace/x"}}),
            json.dumps({"name": "move", "arguments": {"source": "/workspace", "destination": path}}),
            json.dumps({"name": "copy", "arguments": {"source": path, "destination": "/workspace/y"}}),
            json.dumps({"name": "archive", "arguments": {"path": path}}),
            json.dumps({"name": "write_file", "arguments": {"path": path, "content": "pwned"}}),
            json.dumps({"name": "make_dir", "arguments": {"path": path + "/evil"}}),
        ]
    for action in actions:
        obs, info = step_safely(env, action)
        assert obs.startswith("Error"), (action, obs[:200])
        assert "root:x:0:0" not in obs
    env.close()
    assert disk_state(root) == before_disk
    assert host_state() == before_host
    assert (root / "sentinel.txt").read_text() == SECRET + "\n"


FORBIDDEN_OS = ["remove", "unlink", "rmdir", "removedirs", "rename", "renames", "replace", "mkdir",
                "makedirs", "chmod", "chown", "truncate", "utime", "symlink", "link", "system"]


def test_no_real_file_system_calls_during_an_episode(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    root = make_sentinel(tmp_path / "host")
    target = str(root / "sentinel.txt")
    calls: list[str] = []
    opened: list[str] = []

    def forbid(name: str):
        def refuse(*args: Any, **kwargs: Any) -> None:
            calls.append(f"os.{name}{args!r}")
            raise AssertionError(f"the env called os.{name}{args!r}")

        return refuse

    real_open = builtins.open

    def recording_open(file: Any, *args: Any, **kwargs: Any) -> Any:
        if str(root) in str(file) or str(file) in ("/etc/passwd", THIS_FILE):
            opened.append(str(file))
        return real_open(file, *args, **kwargs)

    for name in FORBIDDEN_OS:
        if hasattr(os, name):
            monkeypatch.setattr(os, name, forbid(name))
    monkeypatch.setattr(shutil, "rmtree", forbid("shutil.rmtree"))
    monkeypatch.setattr(shutil, "move", forbid("shutil.move"))
    monkeypatch.setattr(subprocess, "Popen", forbid("subprocess.Popen"))
    monkeypatch.setattr(builtins, "open", recording_open)

    env = gym.make(ENV_ID)
    try:
        for seed in (0, 1):
            env.reset(seed=seed)
            expert_like = [
                VALID_LIST,
                'write_file("notes/new.txt", "x")',
                'make_dir("a/b/c")',
                'copy("/workspace", "/archive/backup")',
                'move("a", "/archive/a")',
                'archive("notes")',
                'delete_dir("/archive/backup", recursive=True)',
                'delete_file("/workspace/README.md")',
            ]
            hostile = [f'read_file("{target}")', f'delete_file("{target}")', f'write_file("{target}", "x")',
                       f'delete_dir("{root}", True)', 'read_file("/etc/passwd")', f'read_file("{THIS_FILE}")',
                       "rm -rf /", '{"name": "delete_dir", "arguments": {"path": "/", "recursive": true}}']
            for action in expert_like + hostile:
                step_safely(env, action)
            _, _, terminated, _, info = env.step('finish("done")')
            assert terminated and "audit" in info
    finally:
        env.close()
        monkeypatch.undo()
    assert calls == []
    assert opened == []
    assert (root / "sentinel.txt").read_text() == SECRET + "\n"


# -- hypothesis -------------------------------------------------------------------------------

JSON_LEAVES = st.none() | st.booleans() | st.integers() | st.floats() | st.text()
JSON_VALUES = st.recursive(
    JSON_LEAVES,
    lambda children: st.lists(children, max_size=5) | st.dictionaries(st.text(max_size=10), children, max_size=5),
    max_leaves=30,
)
PATHS = [
    "/workspace", "/archive", ".", "..", "../..", "/", "~", "README.md", "/workspace/README.md",
    "/workspace/new.txt", "a/b/c", "/archive/x", "/etc/passwd", "/etc", "/tmp", "/home/agent",
    THIS_FILE, HOME, "/workspace/../etc/passwd",
]


def argument_values(sentinel: Path) -> st.SearchStrategy[Any]:
    paths = [*PATHS, str(sentinel), str(sentinel / "sentinel.txt"), "../../.." + str(sentinel / "sentinel.txt")]
    return st.sampled_from(paths) | st.text(max_size=30) | st.booleans() | JSON_VALUES


def well_typed_arguments(name: str, sentinel: Path) -> st.SearchStrategy[dict[str, Any]]:
    """Arguments a tool accepts (required ones always, optional ones sometimes), hostile values."""
    params = next(s for s in TOOL_SCHEMAS if s["name"] == name)["parameters"]
    paths = [*PATHS, str(sentinel), str(sentinel / "sentinel.txt"), "../../.." + str(sentinel / "sentinel.txt")]
    strings = st.sampled_from(paths) | st.text(max_size=20)

    def typed(spec: dict[str, Any]) -> st.SearchStrategy[Any]:
        return st.booleans() if spec["type"] == "boolean" else strings

    props = params["properties"]
    return st.fixed_dictionaries(
        {k: typed(props[k]) for k in params["required"]},
        optional={k: typed(v) for k, v in props.items() if k not in params["required"]},
    )


def assert_disk_unchanged(sentinel: Path, before: dict[str, tuple[Any, ...]]) -> None:
    assert disk_state(sentinel) == before


@HYPOTHESIS
@given(text=st.text(max_size=300))
def test_random_text_actions(shared: SimpleNamespace, sentinel: Path, text: str) -> None:
    before = disk_state(sentinel)
    step_safely(shared.env, text)
    assert_disk_unchanged(sentinel, before)


@HYPOTHESIS
@given(document=JSON_VALUES)
def test_random_json_documents(shared: SimpleNamespace, sentinel: Path, document: Any) -> None:
    before = disk_state(sentinel)
    obs, info = step_safely(shared.env, json.dumps(document))
    if isinstance(document, dict):
        function = document.get("function")
        names = {document.get(k) for k in ("name", "tool", "function") if isinstance(document.get(k), str)}
        if isinstance(function, dict) and isinstance(function.get("name"), str):
            names.add(function["name"])
        if not names & set(TOOL_NAMES):
            assert info["action_error"]
    else:
        assert info["action_error"]
    assert_disk_unchanged(sentinel, before)


@HYPOTHESIS
@given(data=st.data(), name=st.sampled_from(TOOL_NAMES))
def test_random_tool_calls(shared: SimpleNamespace, sentinel: Path, data: st.DataObject, name: str) -> None:
    values = argument_values(sentinel)
    keys = st.sampled_from(PARAM_NAMES) | st.text(max_size=10)
    arguments = data.draw(
        well_typed_arguments(name, sentinel) | st.dictionaries(keys, values, max_size=4), label="arguments"
    )
    as_string = data.draw(st.booleans(), label="arguments as a JSON string")
    action = json.dumps({"name": name, "arguments": json.dumps(arguments) if as_string else arguments})
    before = disk_state(sentinel)
    obs, info = step_safely(shared.env, action)
    event("action error" if info["action_error"] else "run time error" if obs.startswith("Error") else "ran")
    assert_disk_unchanged(sentinel, before)
    # whatever ran, it ran on the fake tree: the sandbox roots and the system files are intact
    world = shared.env.unwrapped.world
    assert world.is_dir("/workspace") and world.is_dir("/archive")
    assert world.read_bytes("/etc/passwd") == world.users.passwd_text().encode()
    properties = next(s for s in TOOL_SCHEMAS if s["name"] == name)["parameters"]["properties"]
    if set(arguments) - set(properties):
        assert info["action_error"] and "unknown argument" in info["action_error"]
