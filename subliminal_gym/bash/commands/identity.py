"""Who am I: ``id``, ``whoami`` and ``groups``, read from the world's user database."""

from __future__ import annotations

from subliminal_gym.bash.commands.argv import OptionSpec, parse_options, usage_error
from subliminal_gym.bash.commands.display import quote
from subliminal_gym.bash.numbers import whole_number
from subliminal_gym.bash.state import CommandResult, ShellState, command
from subliminal_gym.core.users import User, UserDatabase

__all__ = ["groups", "id_", "whoami"]

_ID_SPEC = OptionSpec(
    flags="ugGnrza",
    long_flags={"user": "u", "group": "g", "groups": "G", "name": "n", "real": "r", "zero": "z"},
    usage="Usage: id [OPTION]... [USER]...\nPrint user and group information for each USER.\n",
)
_NO_OPTIONS = OptionSpec(usage="Usage: whoami\nPrint the user name of the current user.\n")
_GROUPS_SPEC = OptionSpec(usage="Usage: groups [USER]...\nPrint the groups each USER is in.\n")


def _gids(db: UserDatabase, user: User) -> list[int]:
    """The user's gids as ``id`` lists them: primary first, then supplementary, no repeats."""
    gids = [user.gid]
    for name in user.groups:
        gid = db.group(name).gid
        if gid not in gids:
            gids.append(gid)
    return gids


def _lookup(db: UserDatabase, name: str) -> User | None:
    try:
        return db.user(name)
    except KeyError:
        if name.isascii() and name.isdigit():
            return db.user_by_uid(whole_number(name))
        return None


@command("id")
def id_(state: ShellState, argv: list[str], stdin: str) -> CommandResult:
    """Print real and effective user and group ids (``-u -g -G -n``)."""
    opts = parse_options("id", argv, _ID_SPEC)
    if isinstance(opts, CommandResult):
        return opts
    db = state.world.users
    picks = [key for key in "ugG" if opts.has(key)]
    if len(picks) > 1:
        return usage_error("id", 'cannot print "only" of more than one choice')
    if opts.has("n") and not picks:
        return usage_error("id", "cannot print only names or real IDs in default format")
    lines, errors = [], []
    names: list[str | None] = list(opts.operands) or [None]
    for name in names:
        user = state.user if name is None else _lookup(db, name)
        if user is None:
            errors.append(f"id: {quote(str(name))}: no such user\n")
            continue
        gids = _gids(db, user)
        if picks:
            if picks[0] == "u":
                values = [db.user_name(user.uid) if opts.has("n") else str(user.uid)]
            elif picks[0] == "g":
                values = [db.group_name(user.gid) if opts.has("n") else str(user.gid)]
            else:
                values = [db.group_name(g) if opts.has("n") else str(g) for g in gids]
            lines.append(" ".join(values) + "\n")
            continue
        listed = ",".join(f"{g}({db.group_name(g)})" for g in gids)
        lines.append(
            f"uid={user.uid}({db.user_name(user.uid)}) gid={user.gid}({db.group_name(user.gid)}) groups={listed}\n"
        )
    return CommandResult(stdout="".join(lines), stderr="".join(errors), status=1 if errors else 0)


@command("whoami")
def whoami(state: ShellState, argv: list[str], stdin: str) -> CommandResult:
    """Print the current user's name."""
    opts = parse_options("whoami", argv, _NO_OPTIONS)
    if isinstance(opts, CommandResult):
        return opts
    if opts.operands:
        return usage_error("whoami", f"extra operand '{opts.operands[0]}'")
    return CommandResult(stdout=state.world.users.user_name(state.user.uid) + "\n")


@command("groups")
def groups(state: ShellState, argv: list[str], stdin: str) -> CommandResult:
    """Print the groups the current user (or each named user) is in."""
    opts = parse_options("groups", argv, _GROUPS_SPEC)
    if isinstance(opts, CommandResult):
        return opts
    db = state.world.users
    if not opts.operands:
        return CommandResult(stdout=" ".join(db.group_name(g) for g in _gids(db, state.user)) + "\n")
    lines, errors = [], []
    for name in opts.operands:
        user = _lookup(db, name)
        if user is None:
            errors.append(f"groups: {quote(name)}: no such user\n")
            continue
        lines.append(f"{name} : " + " ".join(db.group_name(g) for g in _gids(db, user)) + "\n")
    return CommandResult(stdout="".join(lines), stderr="".join(errors), status=1 if errors else 0)
