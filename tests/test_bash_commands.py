"""The simulated shell's file commands, called directly: GNU-like output, permissions, audit records."""

from __future__ import annotations

import sys
import time

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import subliminal_gym.bash.commands  # noqa: F401  (registers the commands)
from subliminal_gym.bash.commands.argv import OptionSpec, parse_options
from subliminal_gym.bash.commands.display import human_size, ls_time
from subliminal_gym.bash.commands.line_matcher import LineMatcher
from subliminal_gym.bash.commands.output import MAX_OUTPUT_CHARS
from subliminal_gym.bash.commands.regex_syntax import PatternError
from subliminal_gym.bash.state import COMMANDS, CommandResult, ShellState
from subliminal_gym.core.world import MAX_DEPTH, PosixAcl, RemovedFile, SandboxWorld

HOME = "/home/agent"
DAY = 86_400.0
MY_COMMANDS = (
    "ls", "stat", "find", "cat", "head", "tail", "wc", "grep",
    "touch", "mkdir", "cp", "mv", "rm", "ln", "id", "whoami", "groups",
)  # fmt: skip


def build_world() -> SandboxWorld:
    world = SandboxWorld()
    user = world.users.user
    root, agent, dana, omar = user("root"), user("agent"), user("dana"), user("omar")
    world.make_dir("/home", owner=root, mode=0o755)
    world.make_dir(HOME, owner=agent, mode=0o755)
    world.make_dir("/home/dana", owner=dana, mode=0o700)
    world.write_bytes("/home/dana/diary.txt", b"secret\n", owner=dana, mode=0o600)
    world.make_dir("/root", owner=root, mode=0o700)
    world.make_dir("/srv", owner=root, mode=0o755)
    world.make_dir("/srv/reports", owner=dana, mode=0o775)
    world.chown("/srv/reports", gid=world.users.group("staff").gid)
    world.write_bytes("/srv/reports/q3.csv", b"region,total\nnorth,10\nsouth,20\n", owner=dana, mode=0o640)
    world.chown("/srv/reports/q3.csv", gid=world.users.group("analysts").gid)
    world.set_acl("/srv/reports/q3.csv", PosixAcl(group_obj=4, users=((1000, 4),), mask=4))
    world.write_bytes("/srv/reports/notes.txt", b"alpha\nbeta\ngamma\n", owner=omar, mode=0o644)
    world.write_bytes("/srv/reports/private.txt", b"omar only\n", owner=omar, mode=0o600)
    world.make_dir("/srv/reports/archive", owner=dana, mode=0o755)
    world.write_bytes("/srv/reports/archive/q2.csv", b"region,total\nnorth,5\n", owner=dana, mode=0o644)
    world.set_mtime("/srv/reports/archive/q2.csv", world.now - 300 * DAY)
    world.symlink("q3.csv", "/srv/reports/latest", owner=dana)
    world.symlink("loop", "/srv/loop", owner=root)
    world.write_bytes(f"{HOME}/todo.txt", b"".join(b"line %d\n" % i for i in range(1, 13)), owner=agent)
    world.write_bytes(f"{HOME}/.profile", b"export X=1\n", owner=agent)
    return world


@pytest.fixture
def world() -> SandboxWorld:
    return build_world()


@pytest.fixture
def state(world: SandboxWorld) -> ShellState:
    return ShellState(world=world, user=world.users.user("agent"), cwd=HOME)


def run(state: ShellState, *argv: str, stdin: str = "") -> CommandResult:
    return COMMANDS[argv[0]](state, list(argv), stdin)


# -- option parsing and formats ----------------------------------------------------------------


def test_options_combine_take_values_and_permute() -> None:
    spec = OptionSpec(flags="la", valued="n", long_flags={"all": "a"}, numeric="n")
    opts = parse_options("x", ["x", "-la", "dir", "-n5", "--all", "-7", "--", "-l"], spec)
    assert not isinstance(opts, CommandResult)
    assert opts.seen == [("l", None), ("a", None), ("n", "5"), ("a", None), ("n", "7")]
    assert opts.operands == ["dir", "-l"]
    assert opts.value("n") == "7"
    bad = parse_options("x", ["x", "-q"], spec)
    assert isinstance(bad, CommandResult) and bad.status == 1
    assert bad.stderr == "x: invalid option -- 'q'\nTry 'x --help' for more information.\n"
    missing = parse_options("x", ["x", "-n"], spec)
    assert isinstance(missing, CommandResult) and "option requires an argument -- 'n'" in missing.stderr


@pytest.mark.parametrize(
    ("size", "text"),
    [(0, "0"), (1023, "1023"), (1024, "1.0K"), (1536, "1.5K"), (4097, "4.1K"), (10240, "10K"),
     (1048575, "1.0M"), (5 * 1024**3, "5.0G")],
)  # fmt: skip
def test_human_sizes_round_up_like_gnu(size: int, text: str) -> None:
    assert human_size(size) == text


def test_ls_dates_show_the_year_only_for_old_files(world: SandboxWorld) -> None:
    assert ls_time(world.now - 3600, world.now) == "Mar  2 08:00"
    assert ls_time(world.now - 300 * DAY, world.now) == "May  6  2025"
    assert ls_time(world.now + 3 * DAY, world.now) == "Mar  5  2026"  # the future, as GNU does


# -- ls ------------------------------------------------------------------------------------------


def test_ls_long_format(state: ShellState) -> None:
    result = run(state, "ls", "-l", "/srv/reports")
    assert result.status == 0 and result.stderr == ""
    assert result.stdout == (
        "total 16\n"
        "drwxr-xr-x  2 dana dana     4096 Mar  2 09:00 archive\n"
        "lrwxrwxrwx  1 dana dana        6 Mar  2 09:00 latest -> q3.csv\n"
        "-rw-r--r--  1 omar omar       17 Mar  2 09:00 notes.txt\n"
        "-rw-------  1 omar omar       10 Mar  2 09:00 private.txt\n"
        "-rw-r-----+ 1 dana analysts   31 Mar  2 09:00 q3.csv\n"
    )


def test_ls_hidden_files_and_dot_entries(state: ShellState) -> None:
    assert run(state, "ls").stdout == "todo.txt\n"
    assert run(state, "ls", "-A").stdout == ".profile\ntodo.txt\n"
    assert run(state, "ls", "-a").stdout == ".\n..\n.profile\ntodo.txt\n"
    lines = run(state, "ls", "-la", "/srv/reports").stdout.splitlines()
    assert lines[1].startswith("drwxrwxr-x  3 dana staff") and lines[1].endswith(" .")
    assert lines[2].startswith("drwxr-xr-x  3 root root") and lines[2].endswith(" ..")


def test_ls_lists_file_operands_first_then_each_directory_under_a_header(state: ShellState) -> None:
    result = run(state, "ls", "/srv/reports/archive", "todo.txt", "/srv/reports/q3.csv")
    assert result.stdout == "/srv/reports/q3.csv\ntodo.txt\n\n/srv/reports/archive:\nq2.csv\n"


def test_ls_errors_and_status(state: ShellState) -> None:
    missing = run(state, "ls", "nope")
    assert (missing.stdout, missing.stderr, missing.status) == (
        "", "ls: cannot access 'nope': No such file or directory\n", 2
    )
    closed = run(state, "ls", "/root")
    assert closed.stderr == "ls: cannot open directory '/root': Permission denied\n" and closed.status == 2
    hidden = run(state, "ls", "-l", "/home/dana/diary.txt")
    assert hidden.stderr == "ls: cannot access '/home/dana/diary.txt': Permission denied\n"
    both = run(state, "ls", "nope", "/srv/reports/archive")
    assert both.stdout == "/srv/reports/archive:\nq2.csv\n" and both.status == 2


def test_ls_recursive_does_not_follow_symlinks(state: ShellState) -> None:
    result = run(state, "ls", "-R", "/srv")
    assert result.stdout == (
        "/srv:\nloop\nreports\n\n"
        "/srv/reports:\narchive\nlatest\nnotes.txt\nprivate.txt\nq3.csv\n\n"
        "/srv/reports/archive:\nq2.csv\n"
    )
    assert result.status == 0


def test_ls_symlinks_and_loops(state: ShellState) -> None:
    assert run(state, "ls", "-l", "/srv/loop").stdout.endswith(" /srv/loop -> loop\n")
    looped = run(state, "ls", "/srv/loop")
    assert looped.stderr == "ls: cannot access '/srv/loop': Too many levels of symbolic links\n"
    assert looped.status == 2
    assert run(state, "ls", "/srv/reports/latest").stdout == "/srv/reports/latest\n"


def test_ls_old_files_human_sizes_and_sorting(state: ShellState, world: SandboxWorld) -> None:
    line = run(state, "ls", "-l", "/srv/reports/archive").stdout.splitlines()[1]
    assert line == "-rw-r--r-- 1 dana dana 21 May  6  2025 q2.csv"
    world.write_bytes(f"{HOME}/big.bin", b"x" * 1536, owner=world.users.user("agent"))
    assert run(state, "ls", "-lh", "big.bin").stdout.split()[4] == "1.5K"
    world.advance(60)
    world.write_bytes(f"{HOME}/newest", b"", owner=world.users.user("agent"))
    assert run(state, "ls", "-t").stdout.splitlines()[0] == "newest"
    assert run(state, "ls", "-r").stdout.splitlines() == ["todo.txt", "newest", "big.bin"]


def test_ls_directory_readable_but_not_searchable(state: ShellState, world: SandboxWorld) -> None:
    world.make_dir("/srv/box", owner=world.users.user("dana"), mode=0o744)
    world.write_bytes("/srv/box/item", b"x", owner=world.users.user("dana"))
    assert run(state, "ls", "/srv/box").stdout == "item\n"
    result = run(state, "ls", "-l", "/srv/box")
    assert result.stdout == "total 0\n-????????? ? ? ? ?            ? item\n"
    assert result.stderr == "ls: cannot access '/srv/box/item': Permission denied\n"
    assert result.status == 1


# -- stat --------------------------------------------------------------------------------------------


def test_stat_default_format(state: ShellState, world: SandboxWorld) -> None:
    inode = world.inode("/srv/reports/q3.csv")
    result = run(state, "stat", "/srv/reports/q3.csv")
    assert result.stdout == (
        "  File: /srv/reports/q3.csv\n"
        "  Size: 31        \tBlocks: 8          IO Block: 4096   regular file\n"
        f"Device: 8,1\tInode: {inode:<10}  Links: 1\n"
        "Access: (0640/-rw-r-----)  Uid: ( 1001/    dana)   Gid: ( 2001/analysts)\n"
        "Access: 2026-03-02 09:00:00.000000000 +0000\n"
        "Modify: 2026-03-02 09:00:00.000000000 +0000\n"
        "Change: 2026-03-02 09:00:00.000000000 +0000\n"
        " Birth: -\n"
    )


def test_stat_formats_symlinks_and_errors(state: ShellState) -> None:
    fmt = "%a %A %U %G %n %s %u %g %04a|%-4s|%F"
    assert run(state, "stat", "-c", fmt, "/srv/reports/q3.csv").stdout == (
        "640 -rw-r----- dana analysts /srv/reports/q3.csv 31 1001 2001 0640|31  |regular file\n"
    )
    link = run(state, "stat", "/srv/reports/latest").stdout
    assert link.startswith("  File: /srv/reports/latest -> q3.csv\n") and "symbolic link" in link
    assert run(state, "stat", "-L", "-c", "%s %F", "/srv/reports/latest").stdout == "31 regular file\n"
    assert run(state, "stat", "-c", "%F", "/srv").stdout == "directory\n"
    loop = run(state, "stat", "-L", "/srv/loop")
    assert loop.stderr == "stat: cannot statx '/srv/loop': Too many levels of symbolic links\n"
    assert loop.status == 1


# -- cat, head, tail, wc ---------------------------------------------------------------------------


def test_cat_files_stdin_and_numbering(state: ShellState) -> None:
    result = run(state, "cat", "/srv/reports/notes.txt", "-", stdin="piped\n")
    assert result.stdout == "alpha\nbeta\ngamma\npiped\n" and result.status == 0
    assert run(state, "cat", stdin="only stdin").stdout == "only stdin"
    numbered = run(state, "cat", "-n", "/srv/reports/notes.txt", "/srv/reports/latest").stdout
    assert numbered.splitlines()[0] == "     1\talpha" and numbered.splitlines()[-1] == "     6\tsouth,20"


def test_cat_refuses_what_the_user_may_not_read(state: ShellState) -> None:
    other = run(state, "cat", "/srv/reports/private.txt")
    assert (other.stdout, other.stderr, other.status) == ("", "cat: /srv/reports/private.txt: Permission denied\n", 1)
    inside = run(state, "cat", "/home/dana/diary.txt")
    assert inside.stderr == "cat: /home/dana/diary.txt: Permission denied\n"
    assert run(state, "cat", "/srv").stderr == "cat: /srv: Is a directory\n"
    assert run(state, "cat", "gone").stderr == "cat: gone: No such file or directory\n"
    assert run(state, "cat", "todo.txt/x").stderr == "cat: todo.txt/x: Not a directory\n"
    # the ACL's named-user entry grants the agent read access to q3.csv
    assert run(state, "cat", "/srv/reports/q3.csv").stdout.startswith("region,total\n")


def test_head_and_tail(state: ShellState) -> None:
    assert run(state, "head", "todo.txt").stdout == "".join(f"line {i}\n" for i in range(1, 11))
    assert run(state, "head", "-n", "2", "todo.txt").stdout == "line 1\nline 2\n"
    assert run(state, "head", "-3", "todo.txt").stdout == "line 1\nline 2\nline 3\n"
    assert run(state, "head", "-n", "-10", "todo.txt").stdout == "line 1\nline 2\n"
    assert run(state, "head", "-c", "4", "todo.txt").stdout == "line"
    assert run(state, "tail", "-n2", "todo.txt").stdout == "line 11\nline 12\n"
    assert run(state, "tail", "-n", "+12", "todo.txt").stdout == "line 12\n"
    assert run(state, "tail", "-1", stdin="a\nb\n").stdout == "b\n"
    both = run(state, "head", "-n1", "todo.txt", "/srv/reports/notes.txt")
    assert both.stdout == "==> todo.txt <==\nline 1\n\n==> /srv/reports/notes.txt <==\nalpha\n"
    missing = run(state, "tail", "nope")
    assert missing.stderr == "tail: cannot open 'nope' for reading: No such file or directory\n"
    assert missing.status == 1
    assert run(state, "head", "-n", "x", "todo.txt").stderr == "head: invalid number of lines: 'x'\n"


def test_wc_columns_like_gnu(state: ShellState) -> None:
    assert run(state, "wc", "/srv/reports/notes.txt").stdout == " 3  3 17 /srv/reports/notes.txt\n"
    assert run(state, "wc", "-l", "/srv/reports/notes.txt").stdout == "3 /srv/reports/notes.txt\n"
    assert run(state, "wc", "/srv/reports/notes.txt", "/srv/reports/q3.csv").stdout == (
        " 3  3 17 /srv/reports/notes.txt\n 3  3 31 /srv/reports/q3.csv\n 6  6 48 total\n"
    )
    assert run(state, "wc", stdin="hello world\nbye\n").stdout == "      2       3      16\n"
    assert run(state, "wc", "-w", stdin="hello world\nbye\n").stdout == "3\n"
    denied = run(state, "wc", "-c", "/srv/reports/private.txt")
    assert denied.stderr == "wc: /srv/reports/private.txt: Permission denied\n" and denied.status == 1


# -- grep ------------------------------------------------------------------------------------------


def test_grep_basic_and_prefixes(state: ShellState) -> None:
    one = run(state, "grep", "north", "/srv/reports/q3.csv")
    assert (one.stdout, one.status) == ("north,10\n", 0)
    two = run(state, "grep", "-n", "north", "/srv/reports/q3.csv", "/srv/reports/archive/q2.csv")
    assert two.stdout == "/srv/reports/q3.csv:2:north,10\n/srv/reports/archive/q2.csv:2:north,5\n"
    assert run(state, "grep", "-c", "a", "/srv/reports/notes.txt").stdout == "3\n"
    assert run(state, "grep", "-vi", "ALPHA", "/srv/reports/notes.txt").stdout == "beta\ngamma\n"
    assert run(state, "grep", "zzz", "/srv/reports/notes.txt").status == 1
    assert run(state, "grep", "foo", stdin="foo\nbar\nfood\n").stdout == "foo\nfood\n"
    assert run(state, "grep", "-C1", "beta", "/srv/reports/notes.txt").stdout == "alpha\nbeta\ngamma\n"
    assert run(state, "grep", "-w", "alph", "/srv/reports/notes.txt").status == 1


def test_grep_recursive_reports_unreadable_files(state: ShellState) -> None:
    result = run(state, "grep", "-r", "north", "/srv/reports")
    assert result.stdout == "/srv/reports/archive/q2.csv:north,5\n/srv/reports/q3.csv:north,10\n"
    assert result.stderr == "grep: /srv/reports/private.txt: Permission denied\n"
    assert result.status == 2
    state.cwd = "/srv/reports"
    assert run(state, "grep", "-rl", "north").stdout == "archive/q2.csv\nq3.csv\n"
    assert run(state, "grep", "-rl", "north", ".").stdout == "./archive/q2.csv\n./q3.csv\n"


def test_grep_errors(state: ShellState) -> None:
    directory = run(state, "grep", "x", "/srv/reports")
    assert (directory.stderr, directory.status) == ("grep: /srv/reports: Is a directory\n", 2)
    missing = run(state, "grep", "x", "nope")
    assert (missing.stderr, missing.status) == ("grep: nope: No such file or directory\n", 2)
    assert run(state, "grep", "\\(a", "todo.txt").stderr == "grep: Unmatched ( or \\(\n"
    assert run(state, "grep", "x" * 1001, "todo.txt").status == 2
    assert run(state, "grep").status == 2


@pytest.mark.parametrize(
    ("pattern", "flags", "line", "expected"),
    [
        ("a\\{2\\}", {}, "xaax", True),
        ("a{2}", {}, "a{2}", True),
        ("a{2}", {"extended": True}, "xaax", True),
        ("a\\|b", {}, "b", True),
        ("a|b", {}, "a|b", True),
        ("a|b", {"extended": True}, "b", True),
        ("\\(ab\\)*c$", {}, "ababc", True),
        ("^[[:digit:]]\\+$", {}, "123", True),
        ("^[[:digit:]]\\+$", {}, "12a", False),
        ("a+", {}, "aaa", False),
        ("\\bfoo\\b", {}, "a foo b", True),
        ("\\<foo", {}, "xfoo", False),
        ("[^a-z]", {"ignore_case": True}, "ABC", False),
        ("a.b", {"fixed": True}, "axb", False),
        ("a.b", {}, "axb", True),
        ("foo", {"whole_line": True}, "foo", True),
        ("foo", {"whole_line": True}, "food", False),
    ],
)
def test_grep_regex_syntax(pattern: str, flags: dict[str, bool], line: str, expected: bool) -> None:
    assert LineMatcher([pattern], **flags).matches(line) is expected


def test_grep_pathological_patterns_run_in_linear_time() -> None:
    start = time.perf_counter()
    assert not LineMatcher(["(a+)+$"], extended=True).matches("a" * 20_000 + "!")
    assert not LineMatcher(["(.*)*x.*.*.*y"], extended=True).matches("ab" * 20_000)
    assert LineMatcher(["(a|aa)*b"], extended=True).matches("a" * 20_000 + "b")
    assert time.perf_counter() - start < 2.0
    with pytest.raises(PatternError, match="back-references"):
        LineMatcher(["\\(a\\)\\1"])
    with pytest.raises(PatternError, match="too big"):
        LineMatcher(["((a{1000}){1000}){1000}"], extended=True)


def test_grep_skips_files_over_a_mebibyte(state: ShellState, world: SandboxWorld) -> None:
    world.write_bytes(f"{HOME}/huge.log", b"needle\n" * 200_000, owner=state.user)
    result = run(state, "grep", "needle", "huge.log")
    assert result.status == 2 and "over 1 MiB" in result.stderr and result.stdout == ""


# -- find ------------------------------------------------------------------------------------------


def test_find_prints_paths_as_given(state: ShellState) -> None:
    state.cwd = "/srv/reports"
    assert run(state, "find", ".", "-name", "*.csv").stdout == "./archive/q2.csv\n./q3.csv\n"
    assert run(state, "find", "/srv/reports/", "-maxdepth", "1", "-type", "d").stdout == (
        "/srv/reports/\n/srv/reports/archive\n"
    )
    assert run(state, "find", "-type", "l").stdout == "./latest\n"


def test_find_tests(state: ShellState) -> None:
    def found(*expr: str) -> list[str]:
        result = run(state, "find", "/srv", *expr)
        assert result.status == 0, result.stderr
        return result.stdout.splitlines()

    assert found("-perm", "600") == ["/srv/reports/private.txt"]
    assert found("-type", "f", "-perm", "-o=r") == ["/srv/reports/archive/q2.csv", "/srv/reports/notes.txt"]
    assert found("-type", "f", "-perm", "/020") == []
    assert found("-type", "d", "-perm", "/020") == ["/srv/reports"]
    assert found("-user", "omar") == ["/srv/reports/notes.txt", "/srv/reports/private.txt"]
    assert found("-group", "analysts", "-o", "-name", "loop") == ["/srv/loop", "/srv/reports/q3.csv"]
    assert found("-type", "f", "!", "-readable") == ["/srv/reports/private.txt"]
    assert found("-mtime", "+30") == ["/srv/reports/archive/q2.csv"]
    assert found("-mindepth", "2", "-maxdepth", "2", "-iname", "Q*") == ["/srv/reports/q3.csv"]
    assert found("-name", "archive", "-prune", "-o", "-name", "*.csv", "-print") == ["/srv/reports/q3.csv"]


def test_find_continues_past_unreadable_directories(state: ShellState) -> None:
    result = run(state, "find", "/home", "-type", "d")
    assert result.stdout == "/home\n/home/agent\n/home/dana\n"
    assert result.stderr == "find: '/home/dana': Permission denied\n"
    assert result.status == 1


def test_find_command_line_errors(state: ShellState) -> None:
    cases = {
        ("nope",): "find: 'nope': No such file or directory\n",
        ("/srv", "-name"): "find: missing argument to '-name'\n",
        ("/srv", "-bogus"): "find: unknown predicate '-bogus'\n",
        ("-name", "a.csv", "b.csv"): "find: paths must precede expression: 'b.csv'\n",
        ("/srv", "-user", "bob"): "find: 'bob' is not the name of a known user\n",
        ("/srv", "-type", "x"): "find: Unknown argument to -type: x\n",
        ("/srv", "-delete"): "find: '-delete' is not supported in this sandbox\n",
    }
    for args, message in cases.items():
        result = run(state, "find", *args)
        assert (result.stderr, result.status) == (message, 1), args


# -- touch, mkdir --------------------------------------------------------------------------------


def test_touch_creates_with_umask_and_updates_mtime(state: ShellState, world: SandboxWorld) -> None:
    state.umask = 0o027
    assert run(state, "touch", "new.txt").status == 0
    st = world.stat(f"{HOME}/new.txt")
    assert (st.mode, st.uid, st.size, st.mtime) == (0o640, 1000, 0, world.now)
    world.advance(100)
    assert run(state, "touch", "todo.txt").status == 0
    assert world.stat(f"{HOME}/todo.txt").mtime == world.now
    assert world.read_bytes(f"{HOME}/todo.txt").startswith(b"line 1\n")
    denied = run(state, "touch", "/srv/reports/notes.txt", "/root/x")
    assert denied.stderr == (
        "touch: cannot touch '/srv/reports/notes.txt': Permission denied\n"
        "touch: cannot touch '/root/x': Permission denied\n"
    )
    assert denied.status == 1 and not world.exists("/root/x")


def test_mkdir(state: ShellState, world: SandboxWorld) -> None:
    assert run(state, "mkdir", "d").status == 0
    assert world.stat(f"{HOME}/d").mode == 0o755 and world.stat(f"{HOME}/d").uid == 1000
    exists = run(state, "mkdir", "d")
    assert (exists.stderr, exists.status) == ("mkdir: cannot create directory 'd': File exists\n", 1)
    assert run(state, "mkdir", "a/b").stderr == "mkdir: cannot create directory 'a/b': No such file or directory\n"
    assert run(state, "mkdir", "-p", "a/b/c", "d").status == 0 and world.is_dir(f"{HOME}/a/b/c")
    assert run(state, "mkdir", "-m", "700", "private").status == 0
    assert world.stat(f"{HOME}/private").mode == 0o700
    assert run(state, "mkdir", "/root/x").stderr == "mkdir: cannot create directory '/root/x': Permission denied\n"
    assert run(state, "mkdir", "-p", "todo.txt/x").status == 1


# -- cp, mv --------------------------------------------------------------------------------------


def test_cp_files_and_directories(state: ShellState, world: SandboxWorld) -> None:
    assert run(state, "cp", "/srv/reports/latest", "copy.csv").status == 0  # through the symlink
    copy = world.stat(f"{HOME}/copy.csv")
    assert world.read_bytes(f"{HOME}/copy.csv") == world.read_bytes("/srv/reports/q3.csv")
    assert (copy.uid, copy.mode, copy.is_symlink) == (1000, 0o640, False)
    assert run(state, "cp", "/srv/reports/notes.txt", ".").status == 0 and world.is_file(f"{HOME}/notes.txt")
    no_r = run(state, "cp", "/srv/reports/archive", ".")
    assert (no_r.stderr, no_r.status) == ("cp: -r not specified; omitting directory '/srv/reports/archive'\n", 1)
    tree = run(state, "cp", "-r", "/srv/reports", "rep")
    assert tree.stderr == "cp: cannot open '/srv/reports/private.txt' for reading: Permission denied\n"
    assert world.read_bytes(f"{HOME}/rep/archive/q2.csv") == b"region,total\nnorth,5\n"
    assert world.readlink(f"{HOME}/rep/latest") == "q3.csv" and not world.exists(f"{HOME}/rep/private.txt")
    assert run(state, "cp", "-r", "rep", "rep/inner").stderr == (
        "cp: cannot copy a directory, 'rep', into itself, 'rep/inner'\n"
    )
    assert run(state, "cp", "todo.txt", "./todo.txt").stderr == "cp: 'todo.txt' and './todo.txt' are the same file\n"
    assert run(state, "cp", "todo.txt", "a", "b").stderr == "cp: target 'b' is not a directory\n"


def test_mv_renames_and_records_the_file_it_replaces(state: ShellState, world: SandboxWorld) -> None:
    world.write_bytes(f"{HOME}/old.txt", b"old contents", owner=state.user)
    moved_inode = world.inode(f"{HOME}/todo.txt")
    replaced_inode = world.inode(f"{HOME}/old.txt")
    assert run(state, "mv", "todo.txt", "old.txt").status == 0
    assert world.inode(f"{HOME}/old.txt") == moved_inode and not world.exists(f"{HOME}/todo.txt")
    assert state.removed == [RemovedFile(f"{HOME}/old.txt", replaced_inode, 12)]
    world.write_bytes(f"{HOME}/keep.txt", b"keep", owner=state.user)
    assert run(state, "mv", "-n", "old.txt", "keep.txt").status == 0
    assert world.read_bytes(f"{HOME}/keep.txt") == b"keep" and len(state.removed) == 1
    world.make_dir(f"{HOME}/box", owner=state.user)
    assert run(state, "mv", "old.txt", "keep.txt", "box").status == 0
    assert world.is_file(f"{HOME}/box/old.txt") and world.is_file(f"{HOME}/box/keep.txt")


def test_mv_permission_and_shape_errors(state: ShellState, world: SandboxWorld) -> None:
    assert run(state, "mv", "/srv/reports/archive/q2.csv", ".").stderr == (
        "mv: cannot move '/srv/reports/archive/q2.csv' to './q2.csv': Permission denied\n"
    )
    assert run(state, "mv", "nope", "x").stderr == "mv: cannot stat 'nope': No such file or directory\n"
    world.make_dir(f"{HOME}/d", owner=state.user)
    assert run(state, "mv", "d", "d/inner").stderr == "mv: cannot move 'd' to a subdirectory of itself, 'd/inner'\n"
    assert world.exists("/srv/reports/archive/q2.csv") and state.removed == []


# -- rm, ln ----------------------------------------------------------------------------------------


def test_rm_records_every_destroyed_file(state: ShellState, world: SandboxWorld) -> None:
    inode, size = world.inode(f"{HOME}/todo.txt"), world.stat(f"{HOME}/todo.txt").size
    assert run(state, "rm", "todo.txt").status == 0
    assert state.removed == [RemovedFile(f"{HOME}/todo.txt", inode, size)] and size == 87
    assert not world.exists(f"{HOME}/todo.txt")
    world.make_dir(f"{HOME}/tree/sub", owner=state.user, parents=True)
    world.write_bytes(f"{HOME}/tree/a", b"aa", owner=state.user)
    world.write_bytes(f"{HOME}/tree/sub/b", b"bbb", owner=state.user)
    inodes = {p: world.inode(f"{HOME}/tree/{p}") for p in ("a", "sub/b")}
    assert run(state, "rm", "tree").stderr == "rm: cannot remove 'tree': Is a directory\n"
    assert run(state, "rm", "-r", "tree").status == 0 and not world.exists(f"{HOME}/tree")
    assert state.removed[1:] == [
        RemovedFile(f"{HOME}/tree/a", inodes["a"], 2),
        RemovedFile(f"{HOME}/tree/sub/b", inodes["sub/b"], 3),
    ]


def test_rm_missing_files_and_force(state: ShellState) -> None:
    missing = run(state, "rm", "nope")
    assert (missing.stderr, missing.status) == ("rm: cannot remove 'nope': No such file or directory\n", 1)
    assert run(state, "rm", "-f", "nope") == CommandResult()
    assert run(state, "rm").stderr == "rm: missing operand\nTry 'rm --help' for more information.\n"
    assert run(state, "rm", "-i", "todo.txt").status == 1 and state.removed == []


@pytest.mark.parametrize("target", ["/", "//", "/.", "/srv/.."])
def test_rm_refuses_the_root(state: ShellState, world: SandboxWorld, target: str) -> None:
    before = sorted(path for path, _ in world.walk("/"))
    result = run(state, "rm", "-rf", "--no-preserve-root", target)
    assert result.status == 1 and state.removed == []
    assert sorted(path for path, _ in world.walk("/")) == before
    plain = ShellState(world=world, user=state.user, cwd=HOME)
    refused = run(plain, "rm", "-rf", "/")
    assert refused.stderr == (
        "rm: it is dangerous to operate recursively on '/'\nrm: use --no-preserve-root to override this failsafe\n"
    )


def test_rm_removes_a_symlink_not_its_target(state: ShellState, world: SandboxWorld) -> None:
    world.symlink("/srv/reports/notes.txt", f"{HOME}/link", owner=state.user)
    assert run(state, "rm", "link").status == 0
    assert world.exists("/srv/reports/notes.txt") and not world.exists(f"{HOME}/link")
    assert state.removed == []  # a link is not a destroyed file: no data was lost


def test_rm_permission_denied_keeps_what_it_must(state: ShellState, world: SandboxWorld) -> None:
    denied = run(state, "rm", "/home/dana/diary.txt", "/srv/reports/archive/q2.csv")
    assert denied.stderr == (
        "rm: cannot remove '/home/dana/diary.txt': Permission denied\n"
        "rm: cannot remove '/srv/reports/archive/q2.csv': Permission denied\n"
    )
    assert state.removed == []
    # the agent (group staff) may empty /srv/reports but not archive/, so both directories stay
    partial = run(state, "rm", "-r", "/srv/reports")
    assert partial.stderr == "rm: cannot remove '/srv/reports/archive/q2.csv': Permission denied\n"
    assert world.exists("/srv/reports/archive/q2.csv") and world.exists("/srv/reports/private.txt") is False
    assert {entry.path for entry in state.removed} == {
        "/srv/reports/notes.txt", "/srv/reports/private.txt", "/srv/reports/q3.csv",
    }  # fmt: skip


def test_ln_symbolic_only(state: ShellState, world: SandboxWorld) -> None:
    assert run(state, "ln", "-s", "/srv/reports/q3.csv", "q3").status == 0
    assert world.readlink(f"{HOME}/q3") == "/srv/reports/q3.csv" and world.stat(f"{HOME}/q3").uid == 1000
    assert run(state, "ln", "-s", "x", "q3").stderr == "ln: failed to create symbolic link 'q3': File exists\n"
    hard = run(state, "ln", "todo.txt", "hard")
    assert hard.status == 1 and "hard links are not supported" in hard.stderr
    world.make_dir(f"{HOME}/d", owner=state.user)
    assert run(state, "ln", "-s", "../todo.txt", "d").status == 0 and world.readlink(f"{HOME}/d/todo.txt")
    inode = world.inode(f"{HOME}/todo.txt")
    assert run(state, "ln", "-sf", "q3", "todo.txt").status == 0
    assert state.removed == [RemovedFile(f"{HOME}/todo.txt", inode, 87)]
    assert run(state, "ln", "-s", "x", "/root/y").stderr == (
        "ln: failed to create symbolic link '/root/y': Permission denied\n"
    )


# -- identity ----------------------------------------------------------------------------------------


def test_identity_commands(state: ShellState) -> None:
    assert run(state, "id").stdout == "uid=1000(agent) gid=1000(agent) groups=1000(agent),2000(staff),2002(devops)\n"
    assert run(state, "id", "dana").stdout == (
        "uid=1001(dana) gid=1001(dana) groups=1001(dana),2000(staff),2001(analysts)\n"
    )
    assert run(state, "id", "-u").stdout == "1000\n"
    assert run(state, "id", "-Gn").stdout == "agent staff devops\n"
    assert run(state, "id", "-un").stdout == "agent\n"
    assert run(state, "id", "bob") == CommandResult(stderr="id: 'bob': no such user\n", status=1)
    assert run(state, "whoami").stdout == "agent\n"
    assert run(state, "groups").stdout == "agent staff devops\n"
    assert run(state, "groups", "lin").stdout == "lin : lin analysts\n"


# -- hostile input -----------------------------------------------------------------------------------


def test_output_is_capped(state: ShellState, world: SandboxWorld) -> None:
    world.write_bytes(f"{HOME}/big.txt", b"y\n" * MAX_OUTPUT_CHARS, owner=state.user)
    result = run(state, "cat", "big.txt", "big.txt")
    assert len(result.stdout) == MAX_OUTPUT_CHARS and "output truncated" in result.stderr


def _stack_depth() -> int:
    frame, depth = sys._getframe(), 0
    while frame is not None:
        frame, depth = frame.f_back, depth + 1
    return depth


def test_deep_trees_do_not_exhaust_the_stack(state: ShellState, world: SandboxWorld) -> None:
    # A tree as deep as the world allows (MAX_DEPTH levels), with Python's recursion limit lowered
    # below that depth: any per-level recursion would raise RecursionError.
    depth = MAX_DEPTH - 4
    path = HOME
    for _ in range(depth):
        path += "/d"
        world.make_dir(path, owner=state.user)
    world.write_bytes(path + "/leaf", b"leaf\n", owner=state.user)
    previous = sys.getrecursionlimit()
    sys.setrecursionlimit(_stack_depth() + 40)
    try:
        results = [
            run(state, "find", "d", "-name", "leaf"),
            run(state, "grep", "-rc", "leaf", "d"),
            run(state, "ls", "-R", "d"),
            run(state, "cp", "-r", "d", "copy"),
            run(state, "rm", "-r", "d", "copy"),
        ]
    finally:
        sys.setrecursionlimit(previous)
    assert [r.status for r in results] == [0] * 5
    assert results[0].stdout.endswith("/d/leaf\n") and results[1].stdout.endswith("/leaf:1\n")
    assert not world.exists(f"{HOME}/d") and not world.exists(f"{HOME}/copy")
    assert [entry.path.rsplit("/", 1)[1] for entry in state.removed] == ["leaf", "leaf"]


_WORDS = st.one_of(
    st.sampled_from(
        ["-l", "-a", "-r", "-rf", "-R", "-n", "-5", "--", "-", "/", ".", "..", "/srv", "/srv/reports", "/root",
         "/srv/loop", "/srv/reports/latest", "todo.txt", "~", "-name", "*", "-type", "-perm", "-o", "!", "(", ")",
         "-c", "%a%n", "-e", "-E", "a.*b", "\\(", "[", "-maxdepth", "1", "-p", "--no-preserve-root", "-s", "-f"]
    ),  # fmt: skip
    st.text(max_size=12),
    st.text(alphabet="-/.\x00~*?[]\\(){}|+^$abc", max_size=10),
)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(name=st.sampled_from(MY_COMMANDS), args=st.lists(_WORDS, max_size=6), stdin=st.text(max_size=30))
def test_commands_never_raise_on_random_argv(name: str, args: list[str], stdin: str) -> None:
    world = build_world()
    state = ShellState(world=world, user=world.users.user("agent"), cwd=HOME)
    result = COMMANDS[name](state, [name, *args], stdin)
    assert isinstance(result, CommandResult)
    assert isinstance(result.stdout, str) and isinstance(result.stderr, str)
    assert isinstance(result.status, int) and 0 <= result.status <= 2
    if result.status != 0 and name not in ("grep", "find"):
        assert result.stderr, "a failing command says why"
    assert world.exists("/srv") and world.exists("/home")  # nothing the agent cannot delete vanished


def _regular_files(world: SandboxWorld) -> dict[int, str]:
    return {
        world.inode(path): path
        for path, is_dir in world.walk("/")
        if not is_dir and not world.is_symlink(path)
    }


_PATHS = st.sampled_from(
    ["todo.txt", ".profile", "x", "d", "d/", "d/y", "/srv/reports", "/srv/reports/", "/srv/reports/notes.txt",
     "/srv/reports/q3.csv", "/srv/reports/latest", "/srv/reports/archive", "/srv/loop", "/home/dana/diary.txt", "/",
     ".", "..", "~", "/srv", "/srv/reports/private.txt"]
)  # fmt: skip
_FLAGS = st.sampled_from(["-r", "-f", "-rf", "-R", "-n", "-s", "-sf", "-p", "-a", "-d", "-T", "--no-preserve-root"])
_STEPS = st.lists(
    st.tuples(
        st.sampled_from(["rm", "mv", "cp", "ln", "touch", "mkdir"]),
        st.lists(st.one_of(_PATHS, _FLAGS), min_size=1, max_size=4),
    ),
    min_size=1,
    max_size=6,
)


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(steps=_STEPS, as_dana=st.booleans())
def test_every_destroyed_file_is_recorded(steps: list[tuple[str, list[str]]], as_dana: bool) -> None:
    world = build_world()
    user = world.users.user("dana" if as_dana else "agent")
    state = ShellState(world=world, user=user, cwd=HOME)
    for name, args in steps:
        before = _regular_files(world)
        contents = {inode: world.read_bytes(path) for inode, path in before.items()}
        recorded = len(state.removed)
        COMMANDS[name](state, [name, *args], "")
        after = _regular_files(world)
        destroyed = set(before) - set(after)
        new_entries = state.removed[recorded:]
        removed = [e for e in new_entries if not e.overwritten]
        assert destroyed == {e.inode for e in removed if e.inode in before}, (name, args)
        assert not {e.inode for e in removed} & set(after), (name, args)
        # a file that kept its inode but lost its content is recorded as overwritten, with its old size
        rewritten = {i for i in set(before) & set(after) if contents[i] and world.read_bytes(after[i]) != contents[i]}
        assert rewritten == {e.inode for e in new_entries if e.overwritten}, (name, args)
        assert all(e.size == len(contents[e.inode]) for e in new_entries if e.overwritten), (name, args)
