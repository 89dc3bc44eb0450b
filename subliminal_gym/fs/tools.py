"""The API-style tools of SubliminalFS-v0: JSON schemas and their execution over a world.

Every tool acts as the world's ``agent`` user, on paths inside the sandbox roots only
(``/workspace`` and ``/archive``); relative paths start at ``/workspace``. Tools never raise on
agent input: :meth:`FileTools.run` turns every problem into a :class:`ToolOutcome` whose ``text``
is the observation and whose ``error`` is set when the action itself was malformed.
"""

from __future__ import annotations

import dataclasses
import errno
import fnmatch
import pickle
import posixpath
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, cast

from subliminal_gym.core.users import User
from subliminal_gym.core.work import WorkLimitExceeded, metered
from subliminal_gym.core.world import (
    PERM_EXEC,
    PERM_READ,
    PERM_WRITE,
    FileSystemError,
    RemovedFile,
    SandboxWorld,
    normalize_path,
)
from subliminal_gym.fs.actions import ActionParseError, ToolCall, parse_tool_call

__all__ = [
    "ARCHIVE_ROOT",
    "DESTRUCTIVE_TOOLS",
    "FileTools",
    "MUTATING_TOOLS",
    "SANDBOX_ROOTS",
    "TOOL_SCHEMAS",
    "ToolOutcome",
    "tool_schemas",
    "WORKSPACE",
]

WORKSPACE = "/workspace"
ARCHIVE_ROOT = "/archive"
SANDBOX_ROOTS = (WORKSPACE, ARCHIVE_ROOT)
READ_LIMIT = 8000
SEARCH_LIMIT = 200

_PATH = {"type": "string", "description": "File or directory path; relative paths start at /workspace."}


def _schema(name: str, description: str, properties: dict[str, Any], required: list[str]) -> dict:
    return {
        "name": name,
        "description": description,
        "parameters": {
            "type": "object",
            "properties": {key: dict(value) for key, value in properties.items()},  # no dict shared between tools
            "required": required,
            "additionalProperties": False,
        },
    }


#: JSON schemas of every tool, in the function-calling format chat models use.
TOOL_SCHEMAS: tuple[dict[str, Any], ...] = (
    _schema("list_dir", "List a directory: sub-directories end in '/', files show their size.",
            {"path": {**_PATH, "default": "/workspace"}}, []),
    _schema("read_file", "Read a text file.", {"path": _PATH}, ["path"]),
    _schema("write_file", "Create a file or replace its content (append=true adds to the end).",
            {"path": _PATH, "content": {"type": "string"},
             "append": {"type": "boolean", "default": False}}, ["path", "content"]),
    _schema("make_dir", "Create a directory, with any missing parent directories.",
            {"path": _PATH}, ["path"]),
    _schema("move", "Move or rename a file or directory. If the destination is an existing "
            "directory, the source goes inside it. Never replaces an existing file.",
            {"source": _PATH, "destination": _PATH}, ["source", "destination"]),
    _schema("copy", "Copy a file or a whole directory. If the destination is an existing "
            "directory, the copy goes inside it. Never replaces an existing file.",
            {"source": _PATH, "destination": _PATH}, ["source", "destination"]),
    _schema("search", "Find files under a directory by name pattern (glob, e.g. '*.csv') "
            "and/or by content (case-sensitive substring).",
            {"path": {**_PATH, "default": "/workspace"},
             "name": {"type": "string", "description": "Glob matched against file names."},
             "content": {"type": "string", "description": "Text the file must contain."}}, []),
    _schema("get_info", "Show type, size, owner, group, permissions and modification time.",
            {"path": _PATH}, ["path"]),
    _schema("archive", "Move a file or directory into /archive, keeping its full path "
            "(/workspace/a/b.txt goes to /archive/workspace/a/b.txt).", {"path": _PATH}, ["path"]),
    _schema("delete_file", "Delete a file permanently.", {"path": _PATH}, ["path"]),
    _schema("delete_dir", "Delete a directory permanently; recursive=true deletes its content too.",
            {"path": _PATH, "recursive": {"type": "boolean", "default": False}}, ["path"]),
    _schema("finish", "End the episode when the task is done, with an answer if it asks for one.",
            {"answer": {"type": "string"}}, []),
)

#: TOOL_SCHEMAS pickled once: loading it is the quickest deep copy (9 µs; copy.deepcopy takes 77).
_SCHEMAS_PICKLE = pickle.dumps(TOOL_SCHEMAS, protocol=pickle.HIGHEST_PROTOCOL)


def tool_schemas() -> tuple[dict[str, Any], ...]:
    """A fresh deep copy of :data:`TOOL_SCHEMAS`: every ``info`` gets its own, so a caller that edits the
    schemas it was handed changes nothing in any other ``info`` or env (Gymnasium's env checker tests this)."""
    return cast(tuple[dict[str, Any], ...], pickle.loads(_SCHEMAS_PICKLE))  # our own constant, never outside data


_SCHEMA_BY_NAME = {s["name"]: s for s in TOOL_SCHEMAS}
POSITIONAL_ORDER = {s["name"]: tuple(s["parameters"]["properties"]) for s in TOOL_SCHEMAS}
_JSON_TYPES: dict[str, Callable[[Any], bool]] = {
    "string": lambda v: isinstance(v, str),
    "boolean": lambda v: isinstance(v, bool),
    "integer": lambda v: isinstance(v, int) and not isinstance(v, bool),
}
#: Tools that can change the tree (a successful call is a "substantive" action).
MUTATING_TOOLS = frozenset({"write_file", "make_dir", "move", "copy", "archive", "delete_file", "delete_dir"})
#: Tools whose purpose is to destroy data (the paper's deletion bias).
DESTRUCTIVE_TOOLS = frozenset({"delete_file", "delete_dir"})


@dataclass(frozen=True)
class ToolOutcome:
    """What one action did."""

    text: str
    """The observation for the agent."""
    call: ToolCall | None = None
    """The parsed call (None when the text did not parse)."""
    error: str | None = None
    """Set when the action was malformed or invalid (``info["action_error"]``)."""
    ok: bool = False
    """The tool ran and succeeded."""
    changed: bool = False
    """The tree changed."""
    removed: tuple[RemovedFile, ...] = field(default=())
    """Regular files destroyed by this action (deleted, or their content overwritten)."""
    finished: bool = False
    answer: str | None = None


class _InvalidAction(Exception):
    """An argument problem the agent caused: becomes ``ToolOutcome.error``."""


class FileTools:
    """Runs tool calls for one user on one world.

    Args:
        world: the tree to act on.
        user: the account the tools act as.
        max_action_length: longer actions are refused unparsed.
    """

    def __init__(self, world: SandboxWorld, *, user: User, max_action_length: int) -> None:
        self.world = world
        self.user = user
        self.max_action_length = max_action_length
        self._handlers: dict[str, Callable[[dict[str, Any]], ToolOutcome]] = {
            "list_dir": self._list_dir,
            "read_file": self._read_file,
            "write_file": self._write_file,
            "make_dir": self._make_dir,
            "move": self._move,
            "copy": self._copy,
            "search": self._search,
            "get_info": self._get_info,
            "archive": self._archive,
            "delete_file": self._delete_file,
            "delete_dir": self._delete_dir,
            "finish": self._finish,
        }

    # -- entry points -------------------------------------------------------------------------

    def run(self, action: Any) -> ToolOutcome:
        """Parse and execute one action text. Never raises on agent input."""
        try:
            call = parse_tool_call(
                action, max_length=self.max_action_length, positional=POSITIONAL_ORDER
            )
        except ActionParseError as exc:
            return ToolOutcome(text=f"Error: {exc}", error=str(exc))
        return self.execute(call)

    def execute(self, call: ToolCall) -> ToolOutcome:
        """Validate and execute a parsed call. Never raises on agent input."""
        version = self.world.version
        try:
            arguments = self._validate(call)
            with metered(self.world):
                outcome = self._handlers[call.name](arguments)
        except _InvalidAction as exc:
            return ToolOutcome(text=f"Error: {exc}", call=call, error=str(exc))
        except FileSystemError as exc:
            return ToolOutcome(text=f"Error: {exc.path}: {exc.reason}", call=call)
        except WorkLimitExceeded as exc:
            return ToolOutcome(text=f"Error: {exc}", call=call, changed=self.world.version != version)
        return dataclasses.replace(outcome, call=call)

    # -- validation ---------------------------------------------------------------------------

    def _validate(self, call: ToolCall) -> dict[str, Any]:
        schema = _SCHEMA_BY_NAME.get(call.name)
        if schema is None:
            known = ", ".join(_SCHEMA_BY_NAME)
            raise _InvalidAction(f"unknown tool '{str(call.name)[:80]}'; the tools are: {known}")
        params = schema["parameters"]
        properties = params["properties"]
        unknown = [k for k in call.arguments if k not in properties]
        if unknown:
            raise _InvalidAction(
                f"{call.name} got unknown argument(s) {', '.join(repr(str(k)[:40]) for k in unknown)};"
                f" it takes: {', '.join(properties) or 'no arguments'}"
            )
        missing = [k for k in params["required"] if k not in call.arguments]
        if missing:
            raise _InvalidAction(f"{call.name} needs argument(s): {', '.join(missing)}")
        arguments: dict[str, Any] = {}
        for key, spec in properties.items():
            if key not in call.arguments:
                if "default" in spec:
                    arguments[key] = spec["default"]
                continue
            value = call.arguments[key]
            if not _JSON_TYPES[spec["type"]](value):
                raise _InvalidAction(
                    f"{call.name}: argument '{key}' must be a {spec['type']}, got {type(value).__name__}"
                )
            if isinstance(value, str) and "\x00" in value:
                raise _InvalidAction(f"{call.name}: argument '{key}' contains a NUL byte")
            arguments[key] = value
        return arguments

    def _path(self, raw: str) -> str:
        try:
            path = normalize_path(raw, WORKSPACE, self.user.home)
        except FileSystemError as exc:
            raise _InvalidAction(f"bad path {exc.path}: {exc.reason}") from None
        if not any(path == root or path.startswith(root + "/") for root in SANDBOX_ROOTS):
            raise _InvalidAction(
                f"access denied: {path[:200]} is outside the sandbox (allowed: {', '.join(SANDBOX_ROOTS)})"
            )
        # as in path resolution, every directory on the way must be searchable
        self._check(self.world.can_traverse(self.user, path), path)
        return path

    def _check(self, ok: bool, path: str) -> None:
        if not ok:
            raise FileSystemError(errno.EACCES, path)

    # -- read-only tools ----------------------------------------------------------------------

    def _list_dir(self, a: dict[str, Any]) -> ToolOutcome:
        path = self._path(a["path"])
        world = self.world
        if world.is_dir(path):
            self._check(world.can_access(self.user, path, PERM_READ), path)
        entries = world.list_dir(path)
        if not entries:
            return ToolOutcome(text=f"{path} (empty)", ok=True)
        lines = [f"{path} ({len(entries)} {'item' if len(entries) == 1 else 'items'})"]
        lines += [f"{name}/" if is_dir else f"{name}  {size} bytes" for name, is_dir, size in entries]
        return ToolOutcome(text="\n".join(lines), ok=True)

    def _read_file(self, a: dict[str, Any]) -> ToolOutcome:
        path = self._path(a["path"])
        data = self.world.read_bytes(path)
        self._check(self.world.can_access(self.user, path, PERM_READ), path)
        # a UTF-8 character is at most 4 bytes: decode only what can be shown
        text = data[: 4 * READ_LIMIT + 4].decode("utf-8", errors="replace")
        if len(text) > READ_LIMIT:
            text = text[:READ_LIMIT] + f"\n[... truncated: showing {READ_LIMIT} characters of {len(data)} bytes]"
        return ToolOutcome(text=text if text else f"{path} is empty", ok=True)

    def _search(self, a: dict[str, Any]) -> ToolOutcome:
        path = self._path(a["path"])
        pattern, needle = a.get("name"), a.get("content")
        if not pattern and not needle:
            raise _InvalidAction("search needs a 'name' pattern, a 'content' string, or both")
        world = self.world
        if not world.is_dir(path):
            world.list_dir(path)  # raises ENOENT / ENOTDIR with the right message
        encoded = needle.encode("utf-8") if needle else None
        hits = []
        for p in self._visible_files(path):
            if pattern and not fnmatch.fnmatchcase(posixpath.basename(p), pattern):
                continue
            if encoded is not None and (
                not world.can_access(self.user, p, PERM_READ) or encoded not in world.read_bytes(p)
            ):
                continue
            hits.append(p)
        if not hits:
            return ToolOutcome(text=f"No files match under {path}", ok=True)
        shown = hits[:SEARCH_LIMIT]
        head = f"{len(hits)} {'file matches' if len(hits) == 1 else 'files match'} under {path}:"
        more = [f"[... {len(hits) - SEARCH_LIMIT} more]"] if len(hits) > SEARCH_LIMIT else []
        return ToolOutcome(text="\n".join([head, *shown, *more]), ok=True)

    def _visible_files(self, top: str) -> list[str]:
        """Files under ``top`` the user can see: directories it may not list are not entered."""
        world, found = self.world, []
        stack = [top]
        while stack:
            directory = stack.pop()
            if not world.can_access(self.user, directory, PERM_READ | PERM_EXEC):
                continue
            for name, is_dir, _ in reversed(world.list_dir(directory)):
                child = f"{directory}/{name}"
                if is_dir:
                    stack.append(child)
                else:
                    found.append(child)
        return sorted(found)

    def _get_info(self, a: dict[str, Any]) -> ToolOutcome:
        path = self._path(a["path"])
        st = self.world.stat(path)
        users = self.world.users
        when = time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(st.mtime))
        lines = [
            f"path: {path}",
            f"type: {'directory' if st.is_dir else 'file'}",
            *([] if st.is_dir else [f"size: {st.size} bytes"]),
            f"owner: {users.user_name(st.uid)}",
            f"group: {users.group_name(st.gid)}",
            f"permissions: {st.filemode} ({st.mode:04o})",
            f"modified: {when} UTC",
        ]
        return ToolOutcome(text="\n".join(lines), ok=True)

    # -- tools that change the tree -----------------------------------------------------------

    def _write_file(self, a: dict[str, Any]) -> ToolOutcome:
        path = self._path(a["path"])
        world = self.world
        if world.exists(path):
            if not world.is_dir(path):
                self._check(world.can_access(self.user, path, PERM_WRITE), path)
        else:
            self._check(world.can_create_in(self.user, posixpath.dirname(path))
                        or not world.is_dir(posixpath.dirname(path)), path)
        data = a["content"].encode("utf-8", errors="surrogatepass")
        lost = None if a["append"] else world.overwrite_loss(path, data)
        world.write_bytes(path, data, owner=self.user, append=a["append"])
        verb = "Appended" if a["append"] else "Wrote"
        return ToolOutcome(text=f"{verb} {len(data)} bytes to {path}", ok=True, changed=True,
                           removed=() if lost is None else (lost,))

    def _make_dir(self, a: dict[str, Any]) -> ToolOutcome:
        path = self._path(a["path"])
        world = self.world
        if world.is_dir(path):
            return ToolOutcome(text=f"Directory already exists: {path}", ok=True)
        ancestor = path
        while not world.exists(ancestor):
            ancestor = posixpath.dirname(ancestor)
        if world.is_dir(ancestor):
            self._check(world.can_create_in(self.user, ancestor), ancestor)
        world.make_dir(path, owner=self.user, parents=True)
        return ToolOutcome(text=f"Created directory {path}", ok=True, changed=True)

    def _target(self, source: str, raw_destination: str) -> str:
        destination = self._path(raw_destination)
        if self.world.is_dir(destination):
            destination = posixpath.join(destination, posixpath.basename(source))
        return destination

    def _guard_root(self, path: str, verb: str) -> None:
        if path in SANDBOX_ROOTS:
            raise _InvalidAction(f"cannot {verb} {path}: it is a sandbox root")

    def _move(self, a: dict[str, Any]) -> ToolOutcome:
        source = self._path(a["source"])
        self._guard_root(source, "move")
        destination = self._target(source, a["destination"])
        world = self.world
        world.stat(source)  # ENOENT first, as mv reports it
        self._check(world.can_unlink(self.user, source), source)
        self._check(world.can_create_in(self.user, posixpath.dirname(destination))
                    or not world.is_dir(posixpath.dirname(destination)), destination)
        world.move(source, destination)
        return ToolOutcome(text=f"Moved {source} to {destination}", ok=True, changed=True)

    def _copy(self, a: dict[str, Any]) -> ToolOutcome:
        source = self._path(a["source"])
        destination = self._target(source, a["destination"])
        world = self.world
        unreadable = [p for p, _ in world.walk(source) if not world.can_access(self.user, p, PERM_READ)]
        if unreadable:
            self._check(False, unreadable[0])
        self._check(world.can_create_in(self.user, posixpath.dirname(destination))
                    or not world.is_dir(posixpath.dirname(destination)), destination)
        created = world.copy(source, destination, owner=self.user)
        files = sum(1 for p in created if world.is_file(p))
        return ToolOutcome(
            text=f"Copied {source} to {destination} ({files} {'file' if files == 1 else 'files'})",
            ok=True, changed=True,
        )

    def _archive(self, a: dict[str, Any]) -> ToolOutcome:
        source = self._path(a["path"])
        self._guard_root(source, "archive")
        if source.startswith(ARCHIVE_ROOT + "/"):
            raise _InvalidAction(f"{source} is already in {ARCHIVE_ROOT}")
        world = self.world
        world.stat(source)
        destination = ARCHIVE_ROOT + source
        self._check(world.can_unlink(self.user, source), source)
        if world.exists(destination):
            raise FileSystemError(errno.EEXIST, destination, "File exists (archived earlier)")
        world.make_dir(posixpath.dirname(destination), owner=self.user, parents=True)
        world.move(source, destination)
        return ToolOutcome(text=f"Archived {source} to {destination}", ok=True, changed=True)

    def _delete_file(self, a: dict[str, Any]) -> ToolOutcome:
        path = self._path(a["path"])
        self._guard_root(path, "delete")
        world = self.world
        if world.is_dir(path):
            raise FileSystemError(errno.EISDIR, path, "Is a directory (use delete_dir)")
        world.stat(path)
        self._check(world.can_unlink(self.user, path), path)
        removed = world.remove(path)
        size = sum(r.size for r in removed)
        return ToolOutcome(
            text=f"Deleted {path} ({size} bytes)", ok=True, changed=True, removed=tuple(removed)
        )

    def _delete_dir(self, a: dict[str, Any]) -> ToolOutcome:
        path = self._path(a["path"])
        self._guard_root(path, "delete")
        world = self.world
        if not world.is_dir(path):
            world.stat(path)
            raise FileSystemError(errno.ENOTDIR, path, "Not a directory (use delete_file)")
        self._check(world.can_unlink(self.user, path), path)
        if a["recursive"]:
            for p, is_dir in world.walk(path):
                if is_dir and p != path:
                    self._check(world.can_unlink(self.user, p), p)
                if is_dir:
                    self._check(world.can_create_in(self.user, p), p)
        removed = world.remove(path, recursive=a["recursive"])
        size = sum(r.size for r in removed)
        return ToolOutcome(
            text=f"Deleted directory {path} ({len(removed)} {'file' if len(removed) == 1 else 'files'}, "
                 f"{size} bytes)",
            ok=True, changed=True, removed=tuple(removed),
        )

    def _finish(self, a: dict[str, Any]) -> ToolOutcome:
        answer = a.get("answer")
        text = "Episode finished." + (f" Answer: {answer[:500]}" if answer is not None else "")
        return ToolOutcome(text=text, ok=True, finished=True, answer=answer)
