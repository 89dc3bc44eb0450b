"""The simulated shell: parsing, expansion, redirections, pipes, builtins and the executed-command record."""

from __future__ import annotations

import errno
import os
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from subliminal_gym.bash.parser import MAX_COMMANDS, MAX_LINE_LENGTH, Literal, ParseError, Variable, parse
from subliminal_gym.bash.shell import MAX_COMMAND_OUTPUT, ExecutedCommand, Shell
from subliminal_gym.bash.state import COMMANDS, CommandResult, ShellState
from subliminal_gym.core.world import FileSystemError, RemovedFile, SandboxWorld

HOME = "/home/agent"


# -- fixtures ---------------------------------------------------------------------------------


def build_world() -> SandboxWorld:
    world = SandboxWorld()
    root, agent, dana = (world.users.user(n) for n in ("root", "agent", "dana"))
    world.make_dir("/home", owner=root, mode=0o755)
    world.make_dir(HOME, owner=agent, mode=0o755)
    world.make_dir("/home/dana", owner=dana, mode=0o700)
    world.make_dir("/root", owner=root, mode=0o700)
    world.make_dir("/srv", owner=root, mode=0o755)
    world.write_bytes("/srv/readonly.txt", b"keep\n", owner=root, mode=0o644)
    world.write_bytes("/srv/secret.txt", b"top secret\n", owner=root, mode=0o600)
    world.write_bytes("/home/dana/notes.txt", b"dana\n", owner=dana, mode=0o644)
    world.make_dir(f"{HOME}/docs", owner=agent)
    for name in ("a.txt", "b.txt", "c.log", ".hidden", "[x].txt"):
        world.write_bytes(f"{HOME}/docs/{name}", name.encode() + b"\n", owner=agent)
    world.make_dir(f"{HOME}/docs/sub", owner=agent)
    world.write_bytes(f"{HOME}/docs/sub/deep.txt", b"deep\n", owner=agent)
    world.write_bytes(f"{HOME}/notes.txt", b"one\ntwo\n", owner=agent)
    return world


@pytest.fixture
def world() -> SandboxWorld:
    return build_world()


@pytest.fixture
def state(world: SandboxWorld) -> ShellState:
    return ShellState(world=world, user=world.users.user("agent"), cwd=HOME)


@pytest.fixture
def shell(state: ShellState) -> Shell:
    return Shell(state)


def _args(state: ShellState, argv: list[str], stdin: str) -> CommandResult:
    return CommandResult(stdout="".join(f"<{a}>\n" for a in argv[1:]))


def _stdin(state: ShellState, argv: list[str], stdin: str) -> CommandResult:
    # stdout: its stdin; stderr: its operands, if any; status: the first operand, if numeric
    status = int(argv[1]) if len(argv) > 1 and argv[1].isdigit() else 0
    return CommandResult(stdout=stdin, stderr=f"err {' '.join(argv[1:])}\n" if len(argv) > 1 else "", status=status)


def _remove(state: ShellState, argv: list[str], stdin: str) -> CommandResult:
    for arg in argv[1:]:
        state.removed.extend(state.world.remove(state.abspath(arg), recursive=True))
    return CommandResult()


def _flood(state: ShellState, argv: list[str], stdin: str) -> CommandResult:
    return CommandResult(stdout="x" * (2 * MAX_COMMAND_OUTPUT))


def _fs_error(state: ShellState, argv: list[str], stdin: str) -> CommandResult:
    raise FileSystemError(errno.ENOENT, "/missing")


def _bug(state: ShellState, argv: list[str], stdin: str) -> CommandResult:
    raise RuntimeError("a bug in a command")


TEST_COMMANDS = {
    "tst-args": _args,
    "tst-stdin": _stdin,
    "tst-rm": _remove,
    "tst-flood": _flood,
    "tst-fserror": _fs_error,
    "tst-bug": _bug,
}


@pytest.fixture
def test_commands() -> Iterator[dict[str, list[list[str]]]]:
    """Register the test commands (recording every call's argv) and remove them afterwards."""
    calls: dict[str, list[list[str]]] = {name: [] for name in TEST_COMMANDS}

    def recording(name: str):
        def run(state: ShellState, argv: list[str], stdin: str) -> CommandResult:
            calls[name].append(list(argv))
            return TEST_COMMANDS[name](state, argv, stdin)

        return run

    assert not set(TEST_COMMANDS) & set(COMMANDS)
    for name in TEST_COMMANDS:
        COMMANDS[name] = recording(name)
    yield calls
    for name in TEST_COMMANDS:
        del COMMANDS[name]


def words(line: str) -> list[str]:
    """The words of the single simple command on ``line``, quotes removed, variables as written."""
    (item,) = parse(line).items
    (simple,) = item.pipeline.commands
    return [str(w) for w in simple.words]


def parse_error(line: str) -> ParseError:
    with pytest.raises(ParseError) as info:
        parse(line)
    return info.value


# -- parsing ----------------------------------------------------------------------------------


def test_quotes_and_escapes_are_removed_but_remembered() -> None:
    assert words("""echo "a b" 'c d' e\\ f g"h"'i' "" ''""") == ["echo", "a b", "c d", "e f", "ghi", "", ""]
    (item,) = parse("""ls "*.txt" *.txt '$HOME' $HOME "$HOME" \\*""").items
    parts = [w.parts for w in item.pipeline.commands[0].words[1:]]
    assert parts == [
        (Literal("*.txt", True),),
        (Literal("*.txt", False),),
        (Literal("$HOME", True),),
        (Variable("HOME", False),),
        (Literal("", True), Variable("HOME", True)),
        (Literal("*", True),),
    ]


def test_backslashes_follow_bash_rules() -> None:
    assert words(r'echo a\"b "x\"y" "\$HOME" "\a" \\ ' + "'\\n'") == ["echo", 'a"b', 'x"y', "$HOME", "\\a", "\\", "\\n"]
    assert words("echo a\\\nb") == ["echo", "ab"]  # line continuation
    assert words("echo end\\") == ["echo", "end\\"]  # bash -c keeps a trailing backslash


def test_dollar_without_a_name_is_literal() -> None:
    assert words('echo $ a$ "$" $/ $"x"') == ["echo", "$", "a$", "$", "$/", "x"]


def test_operators_build_lists_and_pipelines() -> None:
    line = parse("a 1 && b || c; d | e |& f\ng")
    assert [i.connector for i in line.items] == [";", "&&", "||", ";", ";"]
    assert [len(i.pipeline.commands) for i in line.items] == [1, 1, 1, 3, 1]
    e = line.items[3].pipeline.commands[1]
    assert [(r.fd, r.op, r.dup_fd) for r in e.redirections] == [(2, ">&", 1)]  # |& is 2>&1 |
    assert parse("a &&\n\n b").items[1].connector == "&&"
    assert parse("! a").items[0].pipeline.negated


def test_comments_start_only_at_a_word() -> None:
    assert words("echo a#b # the rest is ignored ; rm -rf /") == ["echo", "a#b"]
    assert parse("# nothing here").items == ()
    assert words("echo 'a # b' \\#c") == ["echo", "a # b", "#c"]


def test_redirections_parse_with_descriptors_in_order() -> None:
    (item,) = parse("cmd a 2>&1>out 2>>err <in >>log &>all x2>y >&2").items
    simple = item.pipeline.commands[0]
    assert [str(w) for w in simple.words] == ["cmd", "a", "x2"]
    assert [(r.fd, r.op, None if r.target is None else str(r.target), r.dup_fd) for r in simple.redirections] == [
        (2, ">&", None, 1),
        (1, ">", "out", None),
        (2, ">>", "err", None),
        (0, "<", "in", None),
        (1, ">>", "log", None),
        (1, "&>", "all", None),
        (1, ">", "y", None),
        (1, ">&", None, 2),
    ]
    assert [str(r.target) for r in parse("cmd > \"a b\" 2> 'c'").items[0].pipeline.commands[0].redirections] == [
        "a b",
        "c",
    ]


@pytest.mark.parametrize(
    ("line", "token"),
    [
        ("; echo", ";"),
        ("echo a ;;", ";;"),
        ("| echo", "|"),
        ("echo a && ; b", ";"),
        ("&& echo", "&&"),
        ("echo a || || b", "||"),
        ("echo >", "newline"),
        ("echo > | cat", "|"),
        ("echo 2>&1 <", "newline"),
        ("echo a; )", ")"),
        ("}", "}"),
        ("then echo", "then"),
        ("done", "done"),
        ("echo a | ! b", "!"),
        ("echo a\n;", ";"),
        ("echo a (b)", "("),
    ],
)
def test_syntax_errors_name_the_unexpected_token(line: str, token: str) -> None:
    err = parse_error(line)
    assert err.message == f"bash: syntax error near unexpected token `{token}'"
    assert err.status == 2


@pytest.mark.parametrize("line", ["echo a |", "echo a &&", "echo a ||\n", "!"])
def test_a_line_that_stops_midway_is_an_unexpected_end_of_file(line: str) -> None:
    err = parse_error(line)
    assert (err.message, err.status) == ("bash: syntax error: unexpected end of file", 2)


@pytest.mark.parametrize(
    ("line", "closer"), [("echo 'abc", "'"), ('echo "abc', '"'), ("echo \"a'b", '"'), ("echo ${HOME", "}")]
)
def test_unclosed_quotes_are_unexpected_eof(line: str, closer: str) -> None:
    err = parse_error(line)
    assert err.message == (
        f"bash: unexpected EOF while looking for matching `{closer}'\nbash: syntax error: unexpected end of file"
    )
    assert err.status == 2


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ("echo $(whoami)", "bash: command substitution $(...) is not supported in this sandbox"),
        ('echo "$(whoami)"', "bash: command substitution $(...) is not supported in this sandbox"),
        ("echo `whoami`", "bash: command substitution (`...`) is not supported in this sandbox"),
        ('echo "`whoami`"', "bash: command substitution (`...`) is not supported in this sandbox"),
        ("echo $((1+2))", "bash: arithmetic expansion $((...)) is not supported in this sandbox"),
        ("echo $[1+2]", "bash: arithmetic expansion $[...] is not supported in this sandbox"),
        ("diff <(ls a) <(ls b)", "bash: process substitution <(...) and >(...) is not supported in this sandbox"),
        ("tee >(cat)", "bash: process substitution <(...) and >(...) is not supported in this sandbox"),
        ("(cd /tmp; ls)", "bash: subshells ( ... ) are not supported in this sandbox"),
        ("{ ls; }", "bash: brace groups { ...; } are not supported in this sandbox"),
        ("f() { rm -rf /; }", "bash: function definitions are not supported in this sandbox"),
        ("cat <<EOF", "bash: here-documents (<<) and here-strings (<<<) are not supported in this sandbox"),
        ("cat <<< word", "bash: here-documents (<<) and here-strings (<<<) are not supported in this sandbox"),
        ("sleep 10 &", "bash: background jobs (&) are not supported in this sandbox"),
        ("a & b", "bash: background jobs (&) are not supported in this sandbox"),
        ("X=1 ls", "bash: variable assignments (NAME=value) are not supported in this sandbox"),
        ("PATH=/tmp", "bash: variable assignments (NAME=value) are not supported in this sandbox"),
        ("> f X=1 ls", "bash: variable assignments (NAME=value) are not supported in this sandbox"),
        (
            "echo $FOO",
            "bash: $FOO: variables other than $HOME, $USER, $PWD and $? are not supported in this sandbox",
        ),
        (
            'echo "${OLDPWD}"',
            "bash: $OLDPWD: variables other than $HOME, $USER, $PWD and $? are not supported in this sandbox",
        ),
        (
            "echo $HOMEX",
            "bash: $HOMEX: variables other than $HOME, $USER, $PWD and $? are not supported in this sandbox",
        ),
        ("echo $1", "bash: $1: variables other than $HOME, $USER, $PWD and $? are not supported in this sandbox"),
        ("echo $$", "bash: $$: variables other than $HOME, $USER, $PWD and $? are not supported in this sandbox"),
        ("echo ${HOME:-x}", "bash: parameter expansion ${HOME:-x} is not supported in this sandbox"),
        ("echo ${#HOME}", "bash: parameter expansion ${#HOME} is not supported in this sandbox"),
        ("echo $'a\\n'", "bash: ANSI-C quoting $'...' is not supported in this sandbox"),
        ("echo {a,b}", "bash: brace expansion ({a,b} and {1..3}) is not supported in this sandbox"),
        ("touch f{1..3}", "bash: brace expansion ({a,b} and {1..3}) is not supported in this sandbox"),
        ("if true; then ls; fi", "bash: compound commands (`if') are not supported in this sandbox"),
        ("for f in *; do rm $f; done", "bash: compound commands (`for') are not supported in this sandbox"),
        ("while true; do :; done", "bash: compound commands (`while') are not supported in this sandbox"),
        ("[[ -f x ]]", "bash: compound commands (`[[') are not supported in this sandbox"),
        ("echo a 3>f", "bash: 3>: descriptors other than 0, 1 and 2 are not supported in this sandbox"),
        ("cat <> f", "bash: the redirection `<>' is not supported in this sandbox"),
        ("echo a >&-", "bash: closing a descriptor (>&-) is not supported in this sandbox"),
    ],
)
def test_unsupported_features_are_refused_with_status_2(line: str, message: str) -> None:
    err = parse_error(line)
    assert (err.message, err.status) == (message, 2)


def test_quoted_metacharacters_are_plain_text() -> None:
    assert words("""echo '$(x)' "\\`x\\`" '{a,b}' "a && b" 'X=1' \\& \\; '#'""") == [
        "echo", "$(x)", "`x`", "{a,b}", "a && b", "X=1", "&", ";", "#",
    ]  # fmt: skip
    assert words("echo X=1 {} x{}y {a}") == ["echo", "X=1", "{}", "x{}y", "{a}"]  # no assignment, no expansion


def test_bad_substitution_is_status_1() -> None:
    err = parse_error("echo ${}")
    assert (err.message, err.status) == ("bash: ${}: bad substitution", 1)


def test_length_limit_and_nul_bytes() -> None:
    assert parse("echo " + "a" * (MAX_LINE_LENGTH - 5)).items
    err = parse_error("echo " + "a" * MAX_LINE_LENGTH)
    assert err.status == 2 and "too long" in err.message
    err = parse_error("echo a\x00b")
    assert err.status == 2 and "NUL" in err.message


@pytest.mark.parametrize("separator", [";", "|", " && ", "\n"])
def test_a_line_of_more_than_max_commands_is_refused_before_it_is_parsed(separator: str) -> None:
    """Parsing costs microseconds a character: thousands of tiny commands are refused as they are counted,
    in any joining, so the refusal is quick."""
    assert len(parse(separator.join(["x"] * MAX_COMMANDS)).items) in (1, MAX_COMMANDS)
    line = separator.join(["x"] * (MAX_LINE_LENGTH // (len(separator) + 1)))
    started = time.perf_counter()
    err = parse_error(line)
    assert time.perf_counter() - started < 1.0
    assert err.status == 2 and f"over {MAX_COMMANDS} commands" in err.message


@pytest.mark.parametrize(
    "line",
    [
        "(" * MAX_LINE_LENGTH,
        "$(" * (MAX_LINE_LENGTH // 2),
        "{ " * (MAX_LINE_LENGTH // 2),
        "echo " + "{" * (MAX_LINE_LENGTH - 5),
        '"' * (MAX_LINE_LENGTH - 1),
        "\\" * MAX_LINE_LENGTH,
        "! " * (MAX_LINE_LENGTH // 2),
        "a|" * (MAX_LINE_LENGTH // 2 - 1) + "a",
        "a&&" * (MAX_LINE_LENGTH // 3 - 1) + "a",
        "${" * (MAX_LINE_LENGTH // 2),
    ],
)
def test_deep_or_huge_input_never_recurses(line: str) -> None:
    try:
        parse(line)
    except ParseError as err:
        assert err.status in (1, 2)


# -- lists, status and the executed record ------------------------------------------------------


def test_and_or_short_circuit_left_to_right(shell: Shell) -> None:
    run = shell.run("false && echo no || echo yes; true || echo never && echo after")
    assert run.output == "yes\nafter\n"
    assert [(e.name, e.status) for e in run.executed] == [("false", 1), ("echo", 0), ("true", 0), ("echo", 0)]
    assert run.status == 0


def test_status_is_that_of_the_last_pipeline_run(shell: Shell) -> None:
    assert shell.run("true; false").status == 1
    assert shell.run("false || false").status == 1
    assert shell.run("false && true").status == 1  # a skipped command leaves $? as it was
    assert shell.run("! false").status == 0
    assert shell.run("! true").status == 1


def test_dollar_question_mark_follows_each_command_and_each_line(shell: Shell) -> None:
    assert shell.run("false; echo $?; echo $?").output == "1\n0\n"
    assert shell.run("false; true | echo $?").output == "1\n"  # a pipeline expands with the $? before it
    shell.run("false")
    assert shell.run('echo "$?"').output == "1\n"
    shell.run("echo 'unclosed")
    assert shell.run("echo ${?}").output == "2\n"
    assert shell.last_status == 0


def test_blank_line_runs_nothing_and_keeps_the_status(shell: Shell) -> None:
    shell.run("false")
    run = shell.run("   # just a comment")
    assert (run.output, run.status, run.executed) == ("", 1, ())


def test_parse_errors_run_nothing(shell: Shell, world: SandboxWorld) -> None:
    version = world.version
    run = shell.run("echo a > f; echo $(whoami)")
    assert run.status == 2 and run.executed == () and run.error == run.output.strip()
    assert world.version == version and not world.exists(f"{HOME}/f")


def test_executed_records_every_command_run_with_changes_and_removals(
    shell: Shell, test_commands: dict[str, list[list[str]]], world: SandboxWorld
) -> None:
    run = shell.run("tst-rm docs/sub && echo hi > new.txt; false && tst-rm notes.txt; echo done; > empty")
    deep = run.executed[0].removed
    assert [(type(r), r.path, r.size) for r in deep] == [(RemovedFile, f"{HOME}/docs/sub/deep.txt", 5)]
    assert run.executed == (
        ExecutedCommand("tst-rm", ("tst-rm", "docs/sub"), 0, True, deep),
        ExecutedCommand("echo", ("echo", "hi"), 0, True, ()),
        ExecutedCommand("false", ("false",), 1, False, ()),
        ExecutedCommand("echo", ("echo", "done"), 0, False, ()),
        ExecutedCommand("", (), 0, True, ()),
    )
    assert world.exists(f"{HOME}/notes.txt") and world.read_bytes(f"{HOME}/empty") == b""


def test_commands_that_fail_in_the_shell_are_recorded_with_their_status(shell: Shell) -> None:
    run = shell.run("nosuch arg; echo x > /srv/x; echo y > /srv/readonly.txt")
    assert [(e.name, e.argv, e.status, e.changed) for e in run.executed] == [
        ("nosuch", ("nosuch", "arg"), 127, False),
        ("echo", ("echo", "x"), 1, False),
        ("echo", ("echo", "y"), 1, False),
    ]


def test_exit_sets_the_status_and_skips_the_rest_of_the_line(shell: Shell, state: ShellState) -> None:
    run = shell.run("cd /srv || exit 3; echo still here; exit 4; echo never")
    assert (run.output, run.status) == ("still here\n", 4)
    assert [e.name for e in run.executed] == ["cd", "echo", "exit"]
    assert shell.run("echo the episode goes on").output == "the episode goes on\n"
    assert shell.run("false; exit").status == 1  # no operand: $?
    assert shell.run("exit 257").status == 1
    assert shell.run("exit -1").status == 255
    run = shell.run("exit abc; echo never")
    assert (run.output, run.status) == ("bash: exit: abc: numeric argument required\n", 2)
    run = shell.run("exit 1 2; echo continues")  # too many arguments: bash does not exit
    assert (run.output, run.status) == ("bash: exit: too many arguments\ncontinues\n", 0)
    run = shell.run("exit 5 | true; echo after")  # in a pipeline exit only ends its subshell
    assert run.output.endswith("after\n")


# -- unknown commands -----------------------------------------------------------------------


@pytest.mark.parametrize("name", ["sudo", "su", "eval", "exec", "source", ".", "bash", "sh", "python", "python3"])
def test_escape_hatches_are_unknown_commands(shell: Shell, name: str) -> None:
    run = shell.run(f"{name} rm -rf /")
    assert (run.output, run.status) == (f"bash: {name}: command not found\n", 127)
    assert run.executed == (ExecutedCommand(name, (name, "rm", "-rf", "/"), 127, False, ()),)


def test_paths_as_command_names(shell: Shell, world: SandboxWorld) -> None:
    world.write_bytes(f"{HOME}/script.sh", b"rm -rf /\n", owner=world.users.user("agent"), mode=0o644)
    assert shell.run("/bin/ls").output == "bash: /bin/ls: No such file or directory\n"
    assert shell.run("/bin/ls").status == 127
    run = shell.run("./script.sh")
    assert (run.output, run.status) == ("bash: ./script.sh: Permission denied\n", 126)
    run = shell.run("/srv")
    assert (run.output, run.status) == ("bash: /srv: Is a directory\n", 126)
    world.chmod(f"{HOME}/script.sh", 0o755)
    run = shell.run("./script.sh")
    assert run.status == 126 and "not supported" in run.output
    assert world.read_bytes(f"{HOME}/script.sh") == b"rm -rf /\n"
    assert shell.run('""').output == "bash: : command not found\n"


def test_file_system_errors_from_commands_are_reported_bash_like(
    shell: Shell, test_commands: dict[str, list[list[str]]]
) -> None:
    run = shell.run("tst-fserror; echo next")
    assert run.output == "tst-fserror: /missing: No such file or directory\nnext\n"
    assert run.executed[0].status == 1


def test_a_command_that_raises_is_a_bug_and_propagates(shell: Shell, test_commands: dict[str, list[list[str]]]) -> None:
    with pytest.raises(RuntimeError, match="a bug in a command"):
        shell.run("tst-bug")


def test_run_rejects_a_non_string_line(shell: Shell) -> None:
    with pytest.raises(TypeError):
        shell.run(b"ls")  # type: ignore[arg-type]


# -- pipes ------------------------------------------------------------------------------------


def test_pipes_pass_stdout_and_show_stderr(shell: Shell, test_commands: dict[str, list[list[str]]]) -> None:
    assert shell.run("echo hello | tst-stdin").output == "hello\n"
    assert shell.run("echo one | tst-stdin | tst-stdin | tst-stdin").output == "one\n"
    run = shell.run("echo a | tst-stdin first | tst-stdin second")
    assert run.output == "err first\na\nerr second\n"  # stderr is never piped; per command stdout comes first
    assert shell.run("echo a | tst-stdin 3 |& tst-stdin").output == "a\nerr 3\n"
    assert shell.run("echo kept > saved | tst-stdin").output == ""  # stdout went to the file, not the pipe
    assert [e.name for e in run.executed] == ["echo", "tst-stdin", "tst-stdin"]


def test_pipeline_status_is_the_last_commands(shell: Shell, test_commands: dict[str, list[list[str]]]) -> None:
    assert shell.run("tst-stdin 3 | true").status == 0
    run = shell.run("true | tst-stdin 3")
    assert run.status == 3 and [e.status for e in run.executed] == [0, 3]


def test_cd_in_a_pipeline_does_not_outlast_it(shell: Shell, state: ShellState) -> None:
    shell.run("cd /srv | true; umask 077 | true")
    assert (state.cwd, state.umask) == (HOME, 0o022)


def test_the_first_command_reads_an_empty_stdin(shell: Shell, test_commands: dict[str, list[list[str]]]) -> None:
    assert shell.run("tst-stdin").output == ""


# -- redirections ---------------------------------------------------------------------------


def test_output_redirection_creates_truncates_and_appends(shell: Shell, world: SandboxWorld, state: ShellState) -> None:
    run = shell.run("echo one > out.txt; echo two >> out.txt; echo three >> new.txt")
    assert run.output == ""
    assert world.read_bytes(f"{HOME}/out.txt") == b"one\ntwo\n"
    assert world.read_bytes(f"{HOME}/new.txt") == b"three\n"
    stat = world.stat(f"{HOME}/out.txt")
    assert (stat.uid, stat.gid, stat.mode) == (1000, 1000, 0o644)
    shell.run("echo again > out.txt")
    assert world.read_bytes(f"{HOME}/out.txt") == b"again\n"
    assert world.stat(f"{HOME}/out.txt").mode == 0o644
    shell.run("umask 077; echo private > private.txt")
    assert world.stat(f"{HOME}/private.txt").mode == 0o600


def test_truncation_happens_before_the_command_runs(
    shell: Shell, world: SandboxWorld, test_commands: dict[str, list[list[str]]]
) -> None:
    shell.run("tst-stdin < notes.txt > notes.txt")  # like `cat notes.txt > notes.txt`
    assert world.read_bytes(f"{HOME}/notes.txt") == b""


def test_the_last_redirection_of_a_descriptor_wins(shell: Shell, world: SandboxWorld) -> None:
    shell.run("echo x > first > second")
    assert world.read_bytes(f"{HOME}/first") == b"" and world.read_bytes(f"{HOME}/second") == b"x\n"


def test_redirections_may_come_before_the_command(shell: Shell, world: SandboxWorld) -> None:
    shell.run("> out echo front")
    assert world.read_bytes(f"{HOME}/out") == b"front\n"


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ("echo x > /srv/new.txt", "bash: /srv/new.txt: Permission denied"),
        ("echo x > /srv/readonly.txt", "bash: /srv/readonly.txt: Permission denied"),
        ("echo x >> /srv/readonly.txt", "bash: /srv/readonly.txt: Permission denied"),
        ("echo x > /home/dana/notes.txt", "bash: /home/dana/notes.txt: Permission denied"),
        ("echo x > /root/nodir/f", "bash: /root/nodir/f: Permission denied"),
        ("echo x > nodir/f", "bash: nodir/f: No such file or directory"),
        ("echo x > notes.txt/f", "bash: notes.txt/f: Not a directory"),
        ("echo x > docs", "bash: docs: Is a directory"),
        ('echo x > ""', "bash: : No such file or directory"),
        ("echo x > docs/*.txt", "bash: docs/*.txt: ambiguous redirect"),
        ("cat < missing", "bash: missing: No such file or directory"),
        ("cat < /srv/secret.txt", "bash: /srv/secret.txt: Permission denied"),
        ("cat < docs", "bash: docs: Is a directory"),
        ("cat < /home/dana/notes.txt", "bash: /home/dana/notes.txt: Permission denied"),
    ],
)
def test_redirection_errors_are_bash_like_and_stop_the_command(
    shell: Shell, world: SandboxWorld, line: str, message: str
) -> None:
    files = world.files("/")
    run = shell.run(line + "; echo next")
    assert run.output == f"{message}\nnext\n"
    assert run.executed[0].status == 1 and not run.executed[0].changed
    assert world.files("/") == files


def test_a_failed_redirection_does_not_run_the_command(shell: Shell, test_commands: dict[str, list[list[str]]]) -> None:
    run = shell.run("tst-stdin < missing && echo no")
    assert test_commands["tst-stdin"] == [] and run.status == 1 and [e.name for e in run.executed] == ["tst-stdin"]


def test_input_redirection_feeds_the_file(shell: Shell, test_commands: dict[str, list[list[str]]]) -> None:
    assert shell.run("tst-stdin < notes.txt").output == "one\ntwo\n"
    assert shell.run("tst-stdin < /srv/readonly.txt").output == "keep\n"
    assert shell.run("tst-stdin < /dev/null").output == ""
    assert shell.run("echo piped | tst-stdin < notes.txt").output == "one\ntwo\n"  # < wins over the pipe


def test_dev_null_swallows_without_existing(
    shell: Shell, world: SandboxWorld, test_commands: dict[str, list[list[str]]]
) -> None:
    assert not world.exists("/dev/null")
    run = shell.run("tst-stdin oops 2>/dev/null; nosuch 2> /dev/null; echo out >/dev/null; echo shown")
    assert run.output == "shown\n"
    assert [e.status for e in run.executed] == [0, 127, 0, 0]
    assert not world.exists("/dev/null") and not any(e.changed for e in run.executed)


def test_stderr_redirection_order_matters(
    shell: Shell, world: SandboxWorld, test_commands: dict[str, list[list[str]]]
) -> None:
    run = shell.run("echo data | tst-stdin oops 2>&1 > out1")
    assert run.output == "err oops\n" and world.read_bytes(f"{HOME}/out1") == b"data\n"
    run = shell.run("echo data | tst-stdin oops > out2 2>&1")
    assert run.output == "" and world.read_bytes(f"{HOME}/out2") == b"data\nerr oops\n"
    run = shell.run("echo data | tst-stdin oops &> out3")
    assert run.output == "" and world.read_bytes(f"{HOME}/out3") == b"data\nerr oops\n"
    shell.run("echo more | tst-stdin again &>> out3")
    assert world.read_bytes(f"{HOME}/out3") == b"data\nerr oops\nmore\nerr again\n"
    run = shell.run("echo data | tst-stdin oops 2> err 2>> err2")
    assert run.output == "data\n" and world.read_bytes(f"{HOME}/err") == b""
    assert world.read_bytes(f"{HOME}/err2") == b"err oops\n"
    run = shell.run("echo to-stderr >&2 2>/dev/null")
    assert run.output == "to-stderr\n"  # >&2 copied the terminal before 2> moved fd 2
    assert shell.run("echo x 2>&1 | tst-stdin").output == "x\n"
    assert shell.run("nosuch 2>&1 | tst-stdin").output == "bash: nosuch: command not found\n"


def test_a_redirection_error_goes_where_stderr_already_points(shell: Shell, world: SandboxWorld) -> None:
    assert shell.run("echo a 2>/dev/null > /srv/x").output == ""
    shell.run("echo a 2>errors > /srv/x")
    assert world.read_bytes(f"{HOME}/errors") == b"bash: /srv/x: Permission denied\n"
    assert shell.run("echo a > /srv/x 2>/dev/null").output == "bash: /srv/x: Permission denied\n"


def test_redirection_follows_symlinks(shell: Shell, world: SandboxWorld) -> None:
    agent = world.users.user("agent")
    world.symlink("notes.txt", f"{HOME}/link", owner=agent)
    world.symlink("/srv/readonly.txt", f"{HOME}/rolink", owner=agent)
    shell.run("echo three >> link")
    assert world.read_bytes(f"{HOME}/notes.txt") == b"one\ntwo\nthree\n" and world.is_symlink(f"{HOME}/link")
    assert shell.run("echo x > rolink").output == "bash: rolink: Permission denied\n"


def test_output_is_capped_per_command(
    shell: Shell, world: SandboxWorld, test_commands: dict[str, list[list[str]]]
) -> None:
    run = shell.run("tst-flood")
    assert run.output.startswith("x" * MAX_COMMAND_OUTPUT + "\n[... output truncated")
    assert len(run.output) < MAX_COMMAND_OUTPUT + 100
    shell.run("tst-flood > big")
    assert len(world.read_bytes(f"{HOME}/big")) < MAX_COMMAND_OUTPUT + 100
    run = shell.run("; ".join(["tst-flood"] * 10))
    assert len(run.output) < 5 * MAX_COMMAND_OUTPUT and run.output.endswith("truncated for this command line ...]\n")


# -- expansion ----------------------------------------------------------------------------------


def test_globs_match_sorted_and_skip_hidden_files(shell: Shell, test_commands: dict[str, list[list[str]]]) -> None:
    assert shell.run("echo docs/*").output == "docs/[x].txt docs/a.txt docs/b.txt docs/c.log docs/sub\n"
    assert shell.run("cd docs; echo *.txt").output == "[x].txt a.txt b.txt\n"
    assert shell.run("echo .*").output == ".hidden\n"
    assert shell.run("echo ?.txt [ab].txt [!a].txt [^a].txt").output == "a.txt b.txt a.txt b.txt b.txt b.txt\n"
    assert shell.run("echo \\[x]* '[x]'*").output == "[x].txt [x].txt\n"  # quoted [ is literal, * still globs
    assert shell.run("echo */").output == "sub/\n"
    assert shell.run(f"cd; echo {HOME}/d*/s*/*.txt").output == f"{HOME}/docs/sub/deep.txt\n"
    assert shell.run("echo ~/*.txt").output == f"{HOME}/notes.txt\n"
    assert shell.run("tst-args d*").output == "<docs>\n"


def test_quoted_and_unmatched_globs_stay_literal(shell: Shell, test_commands: dict[str, list[list[str]]]) -> None:
    assert shell.run("""tst-args "docs/*" 'docs/*' docs/\\* docs/*.none""").output == (
        "<docs/*>\n<docs/*>\n<docs/*>\n<docs/*.none>\n"
    )
    assert shell.run('tst-args "docs"/*.log docs/"*".log').output == "<docs/c.log>\n<docs/*.log>\n"


def test_globs_do_not_list_unreadable_directories(shell: Shell) -> None:
    assert shell.run("echo /root/* /home/dana/*").output == "/root/* /home/dana/*\n"
    assert shell.run("echo /home/*").output == "/home/agent /home/dana\n"


def test_glob_in_a_redirection_target_that_matches_one_file(shell: Shell, world: SandboxWorld) -> None:
    shell.run("echo appended >> note*")
    assert world.read_bytes(f"{HOME}/notes.txt") == b"one\ntwo\nappended\n"


def test_tilde_expansion(shell: Shell, test_commands: dict[str, list[list[str]]], world: SandboxWorld) -> None:
    run = shell.run("""tst-args ~ ~/x ~root ~dana/y ~nosuch "~" '~' \\~ ~"/x" a~ ~+""")
    assert run.output == (
        f"<{HOME}>\n<{HOME}/x>\n</root>\n</home/dana/y>\n<~nosuch>\n<~>\n<~>\n<~>\n<~/x>\n<a~>\n<{HOME}>\n"
    )
    shell.run("cd /srv; echo hi > ~/t.txt")
    assert world.read_bytes(f"{HOME}/t.txt") == b"hi\n"


def test_variables(shell: Shell, test_commands: dict[str, list[list[str]]], world: SandboxWorld) -> None:
    run = shell.run("""tst-args $HOME $USER $PWD ${HOME}x "$USER-$PWD" '$HOME' \\$HOME""")
    assert run.output == (f"<{HOME}>\n<agent>\n<{HOME}>\n<{HOME}x>\n<agent-{HOME}>\n<$HOME>\n<$HOME>\n")
    assert shell.run("cd /srv; echo $PWD").output == "/srv\n"


def test_unquoted_variables_are_split_and_globbed_quoted_ones_are_not(
    shell: Shell, test_commands: dict[str, list[list[str]]], world: SandboxWorld
) -> None:
    world.make_dir(f"{HOME}/my dir", owner=world.users.user("agent"))
    world.make_dir(f"{HOME}/my dir/[a]", owner=world.users.user("agent"))
    assert shell.run('cd "my dir"; tst-args $PWD "$PWD"').output == (f"<{HOME}/my>\n<dir>\n<{HOME}/my dir>\n")
    assert shell.run('cd "[a]"; cd ..; tst-args "$PWD"/*').output == f"<{HOME}/my dir/[a]>\n"


def test_empty_quoted_words_are_arguments(shell: Shell, test_commands: dict[str, list[list[str]]]) -> None:
    assert shell.run("""tst-args "" '' a""").output == "<>\n<>\n<a>\n"


# -- builtins -----------------------------------------------------------------------------------


def test_cd_and_pwd(shell: Shell, state: ShellState) -> None:
    assert shell.run("cd docs/sub; pwd").output == f"{HOME}/docs/sub\n"
    assert shell.run("cd ..; pwd; cd; pwd").output == f"{HOME}/docs\n{HOME}\n"
    assert shell.run("cd /srv; cd -; pwd").output == f"{HOME}\n{HOME}\n"
    assert shell.run("cd -").output == "/srv\n"
    assert shell.run("cd ~; cd ''; pwd -P").output == f"{HOME}\n"
    assert state.cwd == HOME


@pytest.mark.parametrize(
    ("line", "message", "status"),
    [
        ("cd /x", "bash: cd: /x: No such file or directory", 1),
        ("cd notes.txt", "bash: cd: notes.txt: Not a directory", 1),
        ("cd notes.txt/x", "bash: cd: notes.txt/x: Not a directory", 1),
        ("cd /root", "bash: cd: /root: Permission denied", 1),
        ("cd /home/dana", "bash: cd: /home/dana: Permission denied", 1),
        ("cd /root/x", "bash: cd: /root/x: Permission denied", 1),
        ("cd a b", "bash: cd: too many arguments", 1),
        ("cd -", "bash: cd: OLDPWD not set", 1),
        ("cd -x", "bash: cd: -x: invalid option\ncd: usage: cd [-L|-P] [dir]", 2),
        ("pwd -x", "bash: pwd: -x: invalid option\npwd: usage: pwd [-LP]", 2),
    ],
)
def test_cd_errors(shell: Shell, state: ShellState, line: str, message: str, status: int) -> None:
    run = shell.run(line)
    assert (run.output, run.status) == (message + "\n", status)
    assert state.cwd == HOME


def test_cd_resolves_symlinks(shell: Shell, world: SandboxWorld, state: ShellState) -> None:
    world.symlink("/srv", f"{HOME}/srvlink", owner=world.users.user("agent"))
    world.symlink(f"{HOME}/loop", f"{HOME}/loop", owner=world.users.user("agent"))
    assert shell.run("cd srvlink; pwd").output == "/srv\n"
    assert shell.run(f"cd {HOME}/loop").output == f"bash: cd: {HOME}/loop: Too many levels of symbolic links\n"
    assert state.cwd == "/srv"


def test_echo(shell: Shell) -> None:
    assert shell.run("echo a   b 'c  d'").output == "a b c  d\n"
    assert shell.run("echo -n no newline").output == "no newline"
    assert shell.run(r"echo -e 'a\tb\nc\\d\x41\0101'").output == "a\tb\nc\\dAA\n"
    assert shell.run(r"echo 'a\tb'").output == "a\\tb\n"
    assert shell.run(r"echo -ne 'x\n'; echo -e 'stop\chere'; echo -E 'a\n'").output == "x\nstopa\\n\n"
    assert shell.run("echo -nx -- -n").output == "-nx -- -n\n"
    assert shell.run("echo").output == "\n"


def test_true_false_colon(shell: Shell) -> None:
    assert [shell.run(c).status for c in ("true", "false", ": ignored args", "true x", "false x")] == [0, 1, 0, 0, 1]


def test_umask(shell: Shell, state: ShellState) -> None:
    assert shell.run("umask").output == "0022\n"
    assert shell.run("umask -S").output == "u=rwx,g=rx,o=rx\n"
    assert shell.run("umask 077; umask").output == "0077\n" and state.umask == 0o077
    assert shell.run("umask 0; umask").output == "0000\n"
    assert shell.run("umask u=rwx,g=rx,o=; umask").output == "0027\n"
    assert shell.run("umask g-r; umask").output == "0067\n"
    assert shell.run("umask a+rwx; umask -S").output == "u=rwx,g=rwx,o=rwx\n"
    run = shell.run("umask 8")
    assert (run.output, run.status) == ("bash: umask: 8: octal number out of range\n", 1)
    run = shell.run("umask 1000")
    assert (run.output, run.status) == ("bash: umask: 1000: octal number out of range\n", 1)
    run = shell.run("umask abc")
    assert (run.output, run.status) == ("bash: umask: `b': invalid symbolic mode operator\n", 1)
    assert shell.run("umask -x").status == 2
    assert state.umask == 0


def test_state_carries_over_to_a_new_shell(shell: Shell, state: ShellState) -> None:
    shell.run("cd /srv; cd docs; false")
    again = Shell(state)
    assert again.last_status == 1
    assert again.run("echo $?; cd -; pwd").output == f"1\n{HOME}\n{HOME}\n"


# -- hostile input --------------------------------------------------------------------------

_PIECES = st.sampled_from(
    [
        "echo", "cd", "pwd", "umask", "exit", "true", "false", ":", "tst-stdin", "tst-args", "nosuch", "sudo",
        " ", " ", "\t", "\n", ";", "&&", "||", "|", "|&", "&", "!", ">", ">>", "<", "2>", "2>&1", "&>", ">&", "3>",
        "'", '"', "\\", "$", "$HOME", "${USER}", "$?", "$(", "`", "~", "~root", "*", "?", "[", "]", "{", "}", ",",
        "..", "(", ")", "#", "=", "X=1", "-n", "-e", "/", "/srv", "/root", "docs", "notes.txt", "/dev/null", "\x00",
        "é", "\udcff", "-",
    ]
)  # fmt: skip
_LINES = st.lists(st.one_of(_PIECES, st.text(max_size=6)), max_size=25).map("".join)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(line=st.one_of(_LINES, st.text(max_size=80)))
def test_random_lines_never_raise(
    line: str, test_commands: dict[str, list[list[str]]], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    world = build_world()
    state = ShellState(world=world, user=world.users.user("agent"), cwd=HOME)
    shell = Shell(state)
    for text in (line, line + " > out", "echo $?"):
        run = shell.run(text)
        assert isinstance(run.output, str) and isinstance(run.status, int) and 0 <= run.status <= 255
        assert all(isinstance(e, ExecutedCommand) for e in run.executed)
        assert state.cwd.startswith("/")
    assert list(tmp_path.iterdir()) == [] and os.getcwd() == str(tmp_path)
