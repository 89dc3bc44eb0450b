"""Run bash command lines against the sandboxed world: :class:`Shell`.

A line is parsed whole first (:func:`~subliminal_gym.bash.parser.parse`); a syntax error or an
unsupported feature runs nothing and gives status 2. Then its pipelines run left to right, ``&&``
and ``||`` skipping as in bash. For each simple command the shell expands the words
(:mod:`~subliminal_gym.bash.expansion`), sets up the redirections left to right (``>`` truncates at
once, as ``open`` does, so ``cat f > f`` empties ``f``), looks the name up in
:data:`~subliminal_gym.bash.state.COMMANDS` and calls it with the previous command's stdout as
stdin. Commands run one after another, a pipeline's too; as bash runs the elements of a
multi-command pipeline in subshells, a ``cd`` or ``umask`` there does not outlast its element
(their file changes do).

What reaches the terminal is, per command, its stdout and then its stderr (a command returns them
separately, so their interleaving is lost). Every command's stdout and stderr are each capped at
:data:`MAX_COMMAND_OUTPUT` characters wherever they go (terminal, pipe or file; this also bounds
how fast files can grow), and one line's terminal output at :data:`MAX_TERMINAL_OUTPUT`.

Files are reached only through ``state.world`` as ``state.user``; nothing here touches the host.
"""

from __future__ import annotations

import posixpath
from dataclasses import dataclass

import subliminal_gym.bash.commands  # noqa: F401  (registers the file commands)
from subliminal_gym.bash import builtins as shell_builtins  # after the commands: builtins win a name clash
from subliminal_gym.bash.budget import WorkBudget
from subliminal_gym.bash.builtins import reach_error
from subliminal_gym.bash.expansion import ExpansionError, expand_target, expand_words
from subliminal_gym.bash.parser import CommandLine, ParseError, Pipeline, Redirection, SimpleCommand, parse
from subliminal_gym.bash.state import COMMANDS, CommandResult, ShellState
from subliminal_gym.core.work import WorkLimitExceeded, metered
from subliminal_gym.core.world import PERM_EXEC, PERM_READ, PERM_WRITE, FileSystemError, RemovedFile

__all__ = ["MAX_COMMAND_OUTPUT", "MAX_TERMINAL_OUTPUT", "ExecutedCommand", "Shell", "ShellRun"]

MAX_COMMAND_OUTPUT = 64 * 1024
"""Characters of one command's stdout (and, separately, stderr) kept; the rest is cut with a marker."""
MAX_TERMINAL_OUTPUT = 4 * MAX_COMMAND_OUTPUT
"""Characters of terminal output kept for one line."""


@dataclass(frozen=True)
class ExecutedCommand:
    """One simple command the shell reached (commands skipped by ``&&``/``||`` get none).

    A command that failed before it could run (an unknown name, a failed redirection or
    expansion) is still recorded, with its status: its redirections may have changed the world.
    """

    name: str
    """``argv[0]`` after expansion (empty for a bare redirection such as ``> f``)."""
    argv: tuple[str, ...]
    status: int
    changed: bool
    """``state.world.version`` moved while the command (its redirections included) ran."""
    removed: tuple[RemovedFile, ...]
    """The files this command appended to ``state.removed``."""


@dataclass(frozen=True)
class ShellRun:
    """What one line did: the terminal text, the final status (``$?``) and the commands run."""

    output: str
    status: int
    executed: tuple[ExecutedCommand, ...]
    error: str | None = None
    """The message when the line did not run at all (a syntax error, an unsupported feature)."""


class Shell:
    """A bash-like shell over one :class:`~subliminal_gym.bash.state.ShellState`.

    Args:
        state: the session (world, user, working directory, umask); the shell mutates it.
    """

    def __init__(self, state: ShellState) -> None:
        self.state = state

    @property
    def last_status(self) -> int:
        """``$?``: the status of the last pipeline run (2 after a line that did not parse)."""
        return self.state.last_status

    def run(self, line: str) -> ShellRun:
        """Parse and run one command line.

        Bad input never raises: it gives bash's message and status. An exception a command
        function raises (other than the world's FileSystemError) is a bug and propagates.

        Raises:
            TypeError: ``line`` is not a str.
        """
        if not isinstance(line, str):
            raise TypeError(f"a command line is a str, not {type(line).__name__}")
        try:
            tree = parse(line)
        except ParseError as err:
            self.state.last_status = err.status
            return ShellRun(output=err.message + "\n", status=err.status, executed=(), error=err.message)
        self.state.matcher_budget = WorkBudget()
        try:
            with metered(self.state.world):  # the whole line shares one work budget
                return _Execution(self.state).run(tree)
        finally:
            self.state.world.seal()  # files grown by >> in this line become immutable bytes again


@dataclass(frozen=True)
class _Sink:
    """Where a descriptor points: ``terminal``, ``pipe``, ``null``, or the file ``path`` (``inode``)."""

    kind: str
    path: str = ""
    inode: int = 0


_TERMINAL, _PIPE, _NULL = _Sink("terminal"), _Sink("pipe"), _Sink("null")


class _Failure(Exception):
    """A command that fails in the shell itself (a redirection, an expansion)."""

    def __init__(self, message: str, status: int = 1) -> None:
        super().__init__(message)
        self.message = message
        self.status = status


def _cap(text: str) -> str:
    if len(text) <= MAX_COMMAND_OUTPUT:
        return text
    kept = text[:MAX_COMMAND_OUTPUT]
    newline = "" if kept.endswith("\n") else "\n"
    return f"{kept}{newline}[... output truncated: {len(text) - MAX_COMMAND_OUTPUT} more characters ...]\n"


class _Execution:
    """The run of one parsed line: the terminal text and the commands executed so far."""

    def __init__(self, state: ShellState) -> None:
        self.state = state
        self.status = state.last_status
        self.terminal: list[str] = []
        self.terminal_size = 0
        self.executed: list[ExecutedCommand] = []
        self.exited = False
        self.stopped = False
        """The line ran out of work (:mod:`subliminal_gym.core.work`): nothing more of it runs."""

    def run(self, tree: CommandLine) -> ShellRun:
        for item in tree.items:
            if (item.connector == "&&" and self.status != 0) or (item.connector == "||" and self.status == 0):
                continue
            self.status = self.pipeline(item.pipeline)
            self.state.last_status = self.status
            if self.exited or self.stopped:
                break
        return ShellRun(output="".join(self.terminal), status=self.status, executed=tuple(self.executed))

    # -- pipelines --------------------------------------------------------------------------

    def pipeline(self, pipeline: Pipeline) -> int:
        data, status = "", 0
        alone = len(pipeline.commands) == 1
        for index, simple in enumerate(pipeline.commands):
            if self.stopped:
                break
            saved = (self.state.cwd, self.state.umask, self.state.oldpwd)
            piped = index < len(pipeline.commands) - 1
            data, status = self.simple(simple, data, piped=piped, alone=alone)
            if not alone:  # each element ran in a subshell
                self.state.cwd, self.state.umask, self.state.oldpwd = saved
        if pipeline.negated:
            status = 0 if status else 1
        return status

    def simple(self, simple: SimpleCommand, stdin: str, *, piped: bool, alone: bool) -> tuple[str, int]:
        """Run one simple command; returns what it wrote to the pipe and its status."""
        state, world = self.state, self.state.world
        version, removed_from = world.version, len(state.removed)
        sinks = {1: _PIPE if piped else _TERMINAL, 2: _TERMINAL}
        argv: list[str] = []
        try:
            try:
                argv = expand_words(simple.words, state, self.status)
            except ExpansionError as err:
                raise _Failure(err.message, err.status) from None
            stdin = self.redirect(simple.redirections, sinks, stdin)
            result = self.call(argv, stdin) if argv else CommandResult()
        except _Failure as failure:
            result = CommandResult(stderr=failure.message + "\n", status=failure.status)
        except WorkLimitExceeded as limit:
            self.stopped = True
            result = CommandResult(stderr=f"{argv[0] if argv else 'bash'}: {limit}\n", status=1)
        pipe: list[str] = []
        name = argv[0] if argv else ""
        status = result.status
        for fd, text in ((1, result.stdout), (2, result.stderr)):
            try:
                self.write(sinks[fd], _cap(text), pipe)
            except FileSystemError as err:  # a full world or a file at its size limit, as on a full disk
                self.show(f"{name or 'bash'}: write error: {err.reason}\n")
                status = 1
            except WorkLimitExceeded as limit:
                self.stopped = True
                self.show(f"{name or 'bash'}: write error: {limit}\n")
                status = 1
        self.executed.append(
            ExecutedCommand(
                name=name,
                argv=tuple(argv),
                status=status,
                changed=world.version != version,
                removed=tuple(state.removed[removed_from:]),
            )
        )
        if alone and argv and COMMANDS.get(name) is shell_builtins.exit_shell and len(argv) <= 2:
            self.exited = True
        return "".join(pipe), status

    def call(self, argv: list[str], stdin: str) -> CommandResult:
        name = argv[0]
        function = COMMANDS.get(name)
        if function is None:
            return self.not_found(name)
        try:
            return function(self.state, list(argv), stdin)
        except FileSystemError as err:
            return CommandResult(stderr=f"{name}: {err}\n", status=1)

    def not_found(self, name: str) -> CommandResult:
        if "/" not in name:
            return CommandResult(stderr=f"bash: {name}: command not found\n", status=127)
        world, user = self.state.world, self.state.user
        try:
            path = world.resolve(self.state.abspath(name))
        except FileSystemError as err:
            return CommandResult(stderr=f"bash: {name}: {err.reason}\n", status=127)
        reason = reach_error(world, user, path)
        if reason is not None:
            status = 126 if reason == "Permission denied" else 127
            return CommandResult(stderr=f"bash: {name}: {reason}\n", status=status)
        if world.is_dir(path):
            message, status = "Is a directory", 126
        elif not world.can_access(user, path, PERM_EXEC):
            message, status = "Permission denied", 126
        else:
            message, status = "cannot execute: running programs from files is not supported in this sandbox", 126
        return CommandResult(stderr=f"bash: {name}: {message}\n", status=status)

    # -- redirections -----------------------------------------------------------------------

    def redirect(self, redirections: tuple[Redirection, ...], sinks: dict[int, _Sink], stdin: str) -> str:
        """Apply ``redirections`` left to right to ``sinks``; returns the command's stdin."""
        source: str | _Sink = stdin
        for redirection in redirections:
            if redirection.dup_fd is not None:
                sinks[redirection.fd] = sinks.get(redirection.dup_fd, _TERMINAL)
                continue
            if redirection.target is None:
                raise _Failure("bash: redirection without a target")  # the parser never builds one
            try:
                target = expand_target(redirection.target, self.state, self.status)
            except ExpansionError as err:
                raise _Failure(err.message, err.status) from None
            if redirection.op == "<":
                source = self.open_input(target, stdin)
                continue
            sink = self.open_output(target, append=redirection.op in (">>", "&>>"), sinks=sinks)
            if redirection.op in ("&>", "&>>"):
                sinks[1] = sinks[2] = sink
            else:
                sinks[redirection.fd] = sink
        if isinstance(source, str):
            return source
        # Read only now, as the command would: `cat < f > f` sees f already truncated.
        world = self.state.world
        if world.node(source.path) is None or world.inode(source.path) != source.inode:
            return ""
        return world.read_bytes(source.path).decode("utf-8", errors="replace")

    def _canonical(self, target: str) -> str:
        if not target:
            raise _Failure("bash: : No such file or directory")
        try:
            return self.state.world.resolve(self.state.abspath(target))
        except FileSystemError as err:
            raise _Failure(f"bash: {target}: {err.reason}") from None

    def open_input(self, target: str, stdin: str) -> str | _Sink:
        """Open ``< target``: the file to read (or the text, for ``/dev/null`` and ``/dev/stdin``)."""
        path = self._canonical(target)
        if path == "/dev/null":
            return ""
        if path == "/dev/stdin":
            return stdin
        world = self.state.world
        reason = reach_error(world, self.state.user, path)
        if reason is None and world.is_dir(path):
            reason = "Is a directory"
        if reason is None and not world.can_access(self.state.user, path, PERM_READ):
            reason = "Permission denied"
        if reason is not None:
            raise _Failure(f"bash: {target}: {reason}")
        return _Sink("file", path, world.inode(path))

    def open_output(self, target: str, *, append: bool, sinks: dict[int, _Sink]) -> _Sink:
        """Open ``> target`` (truncating it now) or ``>> target``, creating it as the user."""
        path = self._canonical(target)
        special = {"/dev/null": _NULL, "/dev/stdout": sinks[1], "/dev/stderr": sinks[2]}
        if path in special:
            return special[path]
        state, world = self.state, self.state.world
        parent = posixpath.dirname(path)
        reason = reach_error(world, state.user, parent)
        if reason is None and not world.is_dir(parent):
            reason = "Not a directory"
        if reason is None and world.node(path) is not None:
            if world.is_dir(path):
                reason = "Is a directory"
            elif not world.can_access(state.user, path, PERM_WRITE):
                reason = "Permission denied"
        elif reason is None and not world.can_create_in(state.user, parent):
            reason = "Permission denied"
        if reason is not None:
            raise _Failure(f"bash: {target}: {reason}")
        try:
            if world.node(path) is None:
                world.write_bytes(path, b"", owner=state.user, mode=0o666 & ~state.umask)
            elif not append:
                lost = world.overwrite_loss(path, b"")
                world.write_bytes(path, b"", owner=state.user)
                if lost is not None:
                    state.removed.append(lost)
        except FileSystemError as err:
            raise _Failure(f"bash: {target}: {err.reason}") from None
        return _Sink("file", path, world.inode(path))

    def write(self, sink: _Sink, text: str, pipe: list[str]) -> None:
        if not text or sink.kind == "null":
            return
        if sink.kind == "pipe":
            pipe.append(text)
        elif sink.kind == "terminal":
            self.show(text)
        else:
            world = self.state.world
            if world.node(sink.path) is not None and world.inode(sink.path) == sink.inode:
                world.write_bytes(sink.path, _encode(text), owner=self.state.user, append=True)
            # else: the file was removed or replaced while open; the data goes nowhere

    def show(self, text: str) -> None:
        room = MAX_TERMINAL_OUTPUT - self.terminal_size
        if room <= 0:
            return
        if len(text) > room:
            text = text[:room] + "\n[... terminal output truncated for this command line ...]\n"
        self.terminal.append(text)
        self.terminal_size += len(text)


def _encode(text: str) -> bytes:
    try:
        return text.encode("utf-8", errors="surrogateescape")  # round-trips bytes a command decoded so
    except UnicodeEncodeError:
        return text.encode("utf-8", errors="replace")
