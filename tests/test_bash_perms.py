"""chmod, chown, chgrp, setfacl, getfacl and the world's POSIX ACL semantics."""

from __future__ import annotations

import pytest

import subliminal_gym.bash.commands  # noqa: F401  (registers the commands)
from subliminal_gym.bash.commands.perms import parse_mode
from subliminal_gym.bash.state import COMMANDS, CommandResult, ShellState
from subliminal_gym.core.world import PERM_EXEC, PERM_READ, PERM_WRITE, SandboxWorld

FILE = "/srv/reports/q3.csv"


@pytest.fixture
def world() -> SandboxWorld:
    w = SandboxWorld()
    users = w.users
    w.make_dir("/home/agent", owner=users.user("agent"), parents=True)
    w.make_dir("/srv/reports/sub", owner=users.user("omar"), mode=0o755, parents=True)
    w.write_bytes(FILE, b"a,b\n", owner=users.user("omar"), mode=0o640)
    w.write_bytes("/srv/reports/sub/x.txt", b"x\n", owner=users.user("omar"), mode=0o600)
    return w


def run(world: SandboxWorld, *argv: str, user: str = "agent", admin: bool = True) -> CommandResult:
    state = ShellState(world=world, user=world.users.user(user), cwd="/srv/reports", admin=admin)
    return COMMANDS[argv[0]](state, list(argv), "")


def can(world: SandboxWorld, user: str, want: int, path: str = FILE) -> bool:
    return world.can_access(world.users.user(user), path, want)


@pytest.mark.parametrize("spec,current,is_dir,expected", [
    ("640", 0o777, False, 0o640), ("0755", 0, True, 0o755), ("u+x", 0o644, False, 0o744),
    ("go=", 0o755, False, 0o700), ("a=rX", 0o600, True, 0o555), ("a=rX", 0o600, False, 0o444),
    ("a=rX", 0o700, False, 0o555), ("+x", 0o644, False, 0o755), ("g=u", 0o640, False, 0o660),
    ("u+x,g-r,o+w", 0o644, False, 0o706), ("o-rwx", 0o777, False, 0o770), ("u+s", 0o755, False, 0o4755),
])
def test_parse_mode_octal_and_symbolic(spec, current, is_dir, expected):
    assert parse_mode(spec, current, is_dir=is_dir, umask=0o022) == expected


def test_plus_x_without_who_respects_the_umask():
    assert parse_mode("+w", 0o444, is_dir=False, umask=0o022) == 0o644
    assert parse_mode("a+w", 0o444, is_dir=False, umask=0o022) == 0o666


@pytest.mark.parametrize("spec", ["q+x", "u+z", "999", "u+", "=+-", "8"])
def test_invalid_modes_are_refused(world, spec):
    result = run(world, "chmod", spec, FILE)
    if spec in ("u+", "=+-"):  # valid in GNU chmod: no bits changed
        assert result.status == 0
    else:
        assert result.status == 1 and f"chmod: invalid mode: '{spec}'" in result.stderr


def test_chmod_changes_mode_recursively_and_reports_missing_files(world):
    assert run(world, "chmod", "-R", "g+rwX", "/srv/reports").status == 0
    assert world.stat("/srv/reports/sub").mode == 0o775
    assert world.stat("/srv/reports/sub/x.txt").mode == 0o660
    missing = run(world, "chmod", "644", "nope", FILE)
    assert missing.status == 1 and missing.stderr == "chmod: cannot access 'nope': No such file or directory\n"
    assert world.stat(FILE).mode == 0o644


def test_usage_errors():
    w = SandboxWorld()
    w.make_dir("/srv/reports", owner=w.users.user("agent"), parents=True)
    assert run(w, "chmod").stderr.startswith("chmod: missing operand\n")
    assert run(w, "chown", "dana").stderr.startswith("chown: missing operand after 'dana'\n")
    assert run(w, "chgrp", "-Z", "staff", "x").stderr.startswith("chgrp: invalid option -- 'Z'\n")
    assert run(w, "setfacl", FILE).status == 2 and run(w, "getfacl").status == 2


def test_only_owner_root_or_admin_may_change_permissions(world):
    denied = run(world, "chmod", "777", FILE, admin=False)
    assert denied.status == 1
    assert denied.stderr == "chmod: changing permissions of '/srv/reports/q3.csv': Operation not permitted\n"
    assert world.stat(FILE).mode == 0o640
    assert run(world, "chmod", "600", FILE, user="omar", admin=False).status == 0
    # the owner may hand the group to a group he belongs to, not to another
    assert run(world, "chgrp", "staff", FILE, user="omar", admin=False).status == 0
    assert run(world, "chgrp", "analysts", FILE, user="omar", admin=False).status == 1
    assert run(world, "chown", "dana", FILE, user="omar", admin=False).status == 1
    assert run(world, "chown", "dana", FILE).status == 0 and world.stat(FILE).uid == world.users.user("dana").uid


def test_chown_forms(world):
    users = world.users
    assert run(world, "chown", "dana:analysts", FILE).status == 0
    st = world.stat(FILE)
    assert (st.uid, st.gid) == (users.user("dana").uid, users.group("analysts").gid)
    assert run(world, "chown", "lin:", FILE).status == 0
    assert world.stat(FILE).gid == users.user("lin").gid  # "user:" means the user's login group
    assert run(world, "chown", ":staff", FILE).status == 0
    assert world.stat(FILE).uid == users.user("lin").uid and world.stat(FILE).gid == users.group("staff").gid
    assert run(world, "chown", "zed", FILE).stderr == "chown: invalid user: 'zed'\n"
    assert run(world, "chgrp", "nogroup", FILE).stderr == "chgrp: invalid group: 'nogroup'\n"


def test_setfacl_grants_exactly_one_user_and_getfacl_shows_it(world):
    assert not can(world, "dana", PERM_READ)
    assert run(world, "setfacl", "-m", "u:dana:r", FILE).status == 0
    assert can(world, "dana", PERM_READ) and not can(world, "dana", PERM_WRITE)
    assert not can(world, "lin", PERM_READ)  # nobody else gained anything
    assert world.stat(FILE).filemode == "-rw-r-----"
    out = run(world, "getfacl", FILE)
    assert out.stdout == (
        "# file: srv/reports/q3.csv\n# owner: omar\n# group: omar\n"
        "user::rw-\nuser:dana:r--\ngroup::r--\nmask::r--\nother::---\n\n"
    )
    assert out.stderr == "getfacl: Removing leading '/' from absolute path names\n"


def test_the_acl_mask_limits_named_entries_and_chmod_sets_it(world):
    run(world, "setfacl", "-m", "u:dana:rw,g:analysts:r", FILE)
    assert can(world, "dana", PERM_WRITE) and can(world, "lin", PERM_READ)  # lin is in analysts
    assert run(world, "chmod", "g-w", FILE).status == 0  # with an ACL, the group bits are the mask
    assert not can(world, "dana", PERM_WRITE) and can(world, "dana", PERM_READ)
    assert "user:dana:rw-\t#effective:r--" in run(world, "getfacl", "q3.csv").stdout
    run(world, "setfacl", "-m", "m::---", FILE)
    assert not can(world, "dana", PERM_READ) and not can(world, "lin", PERM_READ)
    assert can(world, "omar", PERM_READ | PERM_WRITE)  # the owner is not masked


def test_setfacl_remove_and_strip(world):
    run(world, "setfacl", "-m", "u:dana:r,u:lin:r", FILE)
    assert run(world, "setfacl", "-x", "u:dana", FILE).status == 0
    assert not can(world, "dana", PERM_READ) and can(world, "lin", PERM_READ)
    assert run(world, "setfacl", "-b", FILE).status == 0
    assert world.get_acl(FILE) is None and world.stat(FILE).mode == 0o640 and not can(world, "lin", PERM_READ)


def test_setfacl_recursive_and_capital_x(world):
    assert run(world, "setfacl", "-R", "-m", "g:analysts:rwX", "/srv/reports").status == 0
    assert can(world, "lin", PERM_READ | PERM_WRITE | PERM_EXEC, "/srv/reports/sub")
    assert can(world, "lin", PERM_READ | PERM_WRITE, "/srv/reports/sub/x.txt")
    assert not can(world, "lin", PERM_EXEC, "/srv/reports/sub/x.txt")  # X: only directories here


@pytest.mark.parametrize("spec", ["u:nobody:r", "q:dana:r", "u:dana:rwz", "u:dana"])
def test_setfacl_malformed_entries(world, spec):
    result = run(world, "setfacl", "-m", spec, FILE)
    assert result.status == 1 and "setfacl: Option -m: Invalid argument" in result.stderr
    assert world.get_acl(FILE) is None


def test_default_acls_are_refused_clearly(world):
    result = run(world, "setfacl", "-d", "-m", "u:dana:r", "/srv/reports")
    assert result.status == 1 and "not supported" in result.stderr


def test_acl_survives_snapshot_restore_independently(world):
    run(world, "setfacl", "-m", "u:dana:r", FILE)
    snapshot = world.snapshot()
    run(world, "setfacl", "-b", FILE)
    world.restore(snapshot)
    assert can(world, "dana", PERM_READ)
    run(world, "setfacl", "-x", "u:dana", FILE)
    world.restore(snapshot)
    assert can(world, "dana", PERM_READ)
