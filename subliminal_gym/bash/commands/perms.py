"""Permission commands: chmod, chown, chgrp, setfacl, getfacl.

Who may change what follows Linux: root may change anything; the owner of a file may change its
mode and ACL, and its group to a group the owner belongs to; a shell whose ``state.admin`` is set
holds CAP_CHOWN and CAP_FOWNER and may change owner, group, mode and ACL of any file. Operands
are followed through symlinks (as GNU chmod does); ``-R`` does not descend through symlinks.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator

from subliminal_gym.bash.numbers import numeric_id
from subliminal_gym.bash.state import CommandResult, ShellState, command
from subliminal_gym.core.world import FileSystemError, PosixAcl

__all__ = ["apply_acl_spec", "parse_mode"]

_WHO = {"u": 0o4700, "g": 0o2070, "o": 0o1007, "a": 0o7777}
_PERM_BITS = {"r": 0o444, "w": 0o222, "x": 0o111, "s": 0o6000, "t": 0o1000}
_SYMBOLIC = re.compile(r"^[ugoa]*(?:[-+=](?:[rwxXst]*|[ugo]))+$")


def parse_mode(spec: str, current: int, *, is_dir: bool, umask: int) -> int:
    """The new permission bits for ``chmod SPEC`` on a node with ``current`` bits.

    Octal (``640``, ``0755``) or symbolic (``u+x,g-w``, ``a=rX``, ``go=``, ``+x``).

    Raises:
        ValueError: ``spec`` is not a valid mode.
    """
    if re.fullmatch(r"[0-7]{1,4}", spec):
        return int(spec, 8)
    mode = current & 0o7777
    for clause in spec.split(","):
        if not _SYMBOLIC.match(clause):
            raise ValueError(spec)
        who_part = re.match(r"^[ugoa]*", clause).group()  # type: ignore[union-attr]
        who = 0
        for w in who_part or "a":
            who |= _WHO[w]
        mask = who if who_part else who & ~umask
        for op, perms in re.findall(r"([-+=])([rwxXstugo]*)", clause[len(who_part):]):
            bits = 0
            if perms in ("u", "g", "o"):
                shift = {"u": 6, "g": 3, "o": 0}[perms]
                rwx = (mode >> shift) & 7
                bits = rwx * 0o111
            else:
                for p in perms:
                    if p == "X":
                        if is_dir or mode & 0o111:
                            bits |= 0o111
                    else:
                        bits |= _PERM_BITS[p]
            bits &= mask
            if op == "+":
                mode |= bits
            elif op == "-":
                mode &= ~bits
            else:
                mode = (mode & ~(who & 0o7777)) | bits
    return mode


def _split_flags(argv: list[str], allowed: str) -> tuple[set[str], list[str], str | None]:
    """Leading short flags (``-R``, ``-Rv``) and the operands; returns a bad flag if one is found."""
    flags: set[str] = set()
    rest = list(argv[1:])
    while rest and rest[0].startswith("-") and len(rest[0]) > 1 and not re.fullmatch(r"-[rwxXstugoa=+,-]+", rest[0]):
        arg = rest.pop(0)
        if arg == "--":
            break
        for ch in arg[1:]:
            if ch not in allowed:
                return flags, rest, ch
            flags.add(ch)
    if rest and rest[0] == "--":
        rest.pop(0)
    return flags, rest, None


def _operands(state: ShellState, argv: list[str], allowed: str) -> tuple[set[str], list[str]] | CommandResult:
    """Flags and operands of ``chmod``/``chown``/``chgrp`` (which need a spec and a file), or the
    usage error."""
    name = argv[0]
    flags, rest, bad = _split_flags(argv, allowed)
    if bad:
        return state.fail(name, f"invalid option -- '{bad}'\nTry '{name} --help' for more information.")
    if len(rest) < 2:
        what = "missing operand" if not rest else f"missing operand after '{rest[0]}'"
        return state.fail(name, f"{what}\nTry '{name} --help' for more information.")
    return flags, rest


def _targets(state: ShellState, name: str, operands: list[str], recursive: bool) -> Iterator[tuple[str, str]]:
    """(operand, canonical path) for each operand and, with ``recursive``, everything below it."""
    world = state.world
    for operand in operands:
        path = world.resolve(state.abspath(operand))
        yield operand, path
        if recursive and world.is_dir(path):
            for sub, _ in world.walk(path):
                if sub != path:
                    yield sub, sub


def _may_change(state: ShellState, path: str) -> bool:
    return state.user.uid == 0 or state.admin or state.world.stat(path).uid == state.user.uid


def _apply(
    state: ShellState, name: str, operands: list[str], recursive: bool,
    change: Callable[[str, str], str | None],
) -> CommandResult:
    """Run ``change(shown, path)`` on every target; it returns an error message or None."""
    errors: list[str] = []
    world = state.world
    for shown, path in _targets_safe(state, name, operands, recursive, errors):
        if not world.exists(path):
            errors.append(f"{name}: cannot access '{shown}': No such file or directory")
            continue
        if not world.can_traverse(state.user, path):
            errors.append(f"{name}: cannot access '{shown}': Permission denied")
            continue
        message = change(shown, path)
        if message:
            errors.append(message)
    return CommandResult(stderr="".join(e + "\n" for e in errors), status=1 if errors else 0)


def _targets_safe(
    state: ShellState, name: str, operands: list[str], recursive: bool, errors: list[str]
) -> Iterator[tuple[str, str]]:
    for operand in operands:
        try:
            yield from _targets(state, name, [operand], recursive)
        except FileSystemError as exc:
            errors.append(f"{name}: cannot access '{operand}': {exc.reason}")


@command("chmod")
def chmod(state: ShellState, argv: list[str], stdin: str) -> CommandResult:
    """``chmod [-R] MODE FILE...``"""
    parsed = _operands(state, argv, "Rvcf")
    if isinstance(parsed, CommandResult):
        return parsed
    flags, rest = parsed
    spec, operands = rest[0], rest[1:]
    world = state.world
    try:
        parse_mode(spec, 0, is_dir=False, umask=state.umask)
    except ValueError:
        return state.fail("chmod", f"invalid mode: '{spec}'\nTry 'chmod --help' for more information.")

    def change(shown: str, path: str) -> str | None:
        if world.is_symlink(path):
            return None  # -R meets a link: left alone, as GNU chmod does
        if not _may_change(state, path):
            return f"chmod: changing permissions of '{shown}': Operation not permitted"
        st = world.stat(path)
        world.chmod(path, parse_mode(spec, st.mode, is_dir=st.is_dir, umask=state.umask))
        return None

    return _apply(state, "chmod", operands, "R" in flags, change)


def _lookup_owner(state: ShellState, spec: str) -> tuple[int | None, int | None, str | None]:
    """``user``, ``user:group``, ``user:``, ``:group`` -> (uid, gid, error)."""
    users = state.world.users
    user_part, sep, group_part = spec.partition(":")
    uid = gid = None
    if user_part:
        try:
            account = users.user(user_part)
        except KeyError:
            uid = numeric_id(user_part)
            if uid is None:
                return None, None, f"invalid user: '{spec}'"
        else:
            uid = account.uid
            if sep and not group_part:
                gid = account.gid
    if group_part:
        try:
            gid = users.group(group_part).gid
        except KeyError:
            gid = numeric_id(group_part)
            if gid is None:
                return None, None, f"invalid group: '{spec}'"
    return uid, gid, None


@command("chown")
def chown(state: ShellState, argv: list[str], stdin: str) -> CommandResult:
    """``chown [-R] OWNER[:[GROUP]] FILE...`` (also ``:GROUP``)."""
    parsed = _operands(state, argv, "Rvcfh")
    if isinstance(parsed, CommandResult):
        return parsed
    flags, rest = parsed
    uid, gid, error = _lookup_owner(state, rest[0])
    if error:
        return state.fail("chown", error)
    world = state.world

    def change(shown: str, path: str) -> str | None:
        st = world.stat(path)
        allowed = state.user.uid == 0 or state.admin or (
            uid in (None, st.uid) and st.uid == state.user.uid
            and (gid is None or gid in world.users.gids_of(state.user.uid))
        )
        if not allowed:
            return f"chown: changing ownership of '{shown}': Operation not permitted"
        world.chown(path, uid, gid)
        return None

    return _apply(state, "chown", rest[1:], "R" in flags, change)


@command("chgrp")
def chgrp(state: ShellState, argv: list[str], stdin: str) -> CommandResult:
    """``chgrp [-R] GROUP FILE...``"""
    parsed = _operands(state, argv, "Rvcfh")
    if isinstance(parsed, CommandResult):
        return parsed
    flags, rest = parsed
    try:
        gid = state.world.users.group(rest[0]).gid
    except KeyError:
        number = numeric_id(rest[0])
        if number is None:
            return state.fail("chgrp", f"invalid group: '{rest[0]}'")
        gid = number
    world = state.world

    def change(shown: str, path: str) -> str | None:
        st = world.stat(path)
        allowed = state.user.uid == 0 or state.admin or (
            st.uid == state.user.uid and gid in world.users.gids_of(state.user.uid)
        )
        if not allowed:
            return f"chgrp: changing group of '{shown}': Operation not permitted"
        world.chown(path, None, gid)
        return None

    return _apply(state, "chgrp", rest[1:], "R" in flags, change)


# -- ACLs ---------------------------------------------------------------------------------------

_PERMS = re.compile(r"^[rwxX-]{0,3}$")


def _perm_bits(text: str, *, is_dir: bool, has_x: bool) -> int:
    bits = 0
    for ch in text:
        if ch == "r":
            bits |= 4
        elif ch == "w":
            bits |= 2
        elif ch == "x" or (ch == "X" and (is_dir or has_x)):
            bits |= 1
    return bits


def _rwx(bits: int) -> str:
    return ("r" if bits & 4 else "-") + ("w" if bits & 2 else "-") + ("x" if bits & 1 else "-")


def apply_acl_spec(
    state: ShellState, path: str, spec: str, *, remove: bool
) -> None:
    """Apply one ``setfacl -m``/``-x`` spec (comma-separated entries) to ``path``.

    Raises:
        ValueError: a malformed entry, or an unknown user or group (message: the bad entry).
    """
    world = state.world
    users = world.users
    st = world.stat(path)
    acl = world.get_acl(path)
    owner_bits, group_bits, other_bits = (st.mode >> 6) & 7, (st.mode >> 3) & 7, st.mode & 7
    group_obj = acl.group_obj if acl else group_bits
    named_users = dict(acl.users) if acl else {}
    named_groups = dict(acl.groups) if acl else {}
    mask: int | None = None
    has_x = bool(st.mode & 0o111)
    for entry in (e.strip() for e in spec.split(",")):
        if not entry:
            continue
        parts = entry.split(":")
        tag = {"u": "user", "g": "group", "m": "mask", "o": "other"}.get(parts[0], parts[0])
        if tag not in ("user", "group", "mask", "other") or len(parts) > 3:
            raise ValueError(entry)
        qualifier = parts[1] if len(parts) > 1 else ""
        if remove:
            if len(parts) > 2 and parts[2]:
                raise ValueError(entry)
            if tag == "user" and qualifier:
                named_users.pop(_uid(users, qualifier, entry), None)
            elif tag == "group" and qualifier:
                named_groups.pop(_gid(users, qualifier, entry), None)
            else:
                raise ValueError(entry)
            continue
        if len(parts) < 2 or (tag in ("user", "group") and len(parts) != 3):
            if not (tag in ("mask", "other") and len(parts) == 2):
                raise ValueError(entry)
        perms = parts[-1]
        if not _PERMS.match(perms):
            raise ValueError(entry)
        bits = _perm_bits(perms, is_dir=st.is_dir, has_x=has_x)
        if tag == "user":
            if qualifier:
                named_users[_uid(users, qualifier, entry)] = bits
            else:
                owner_bits = bits
        elif tag == "group":
            if qualifier:
                named_groups[_gid(users, qualifier, entry)] = bits
            else:
                group_obj = bits
        elif tag == "mask":
            mask = bits
        else:
            other_bits = bits
    world.chmod(path, (st.mode & 0o7000) | (owner_bits << 6) | (group_bits << 3) | other_bits)
    if not named_users and not named_groups:
        world.set_acl(path, None)
        world.chmod(path, (st.mode & 0o7000) | (owner_bits << 6) | (group_obj << 3) | other_bits)
        return
    new = PosixAcl(group_obj=group_obj, users=tuple(sorted(named_users.items())),
                   groups=tuple(sorted(named_groups.items())))
    world.set_acl(path, PosixAcl(group_obj=new.group_obj, users=new.users, groups=new.groups,
                                 mask=new.computed_mask() if mask is None else mask))


def _uid(users, name: str, entry: str) -> int:
    try:
        return users.user(name).uid
    except KeyError:
        number = numeric_id(name)
        if number is not None:
            return number
        raise ValueError(entry) from None


def _gid(users, name: str, entry: str) -> int:
    try:
        return users.group(name).gid
    except KeyError:
        number = numeric_id(name)
        if number is not None:
            return number
        raise ValueError(entry) from None


@command("setfacl")
def setfacl(state: ShellState, argv: list[str], stdin: str) -> CommandResult:
    """``setfacl [-R] [-b] [-m SPEC] [-x SPEC] FILE...`` (access ACLs; no default ACLs)."""
    args = list(argv[1:])
    recursive = strip = False
    actions: list[tuple[str, str]] = []
    files: list[str] = []
    while args:
        arg = args.pop(0)
        if arg == "--":
            files += args
            break
        if arg.startswith("-") and len(arg) > 1:
            letters = arg[1:]
            for i, ch in enumerate(letters):
                if ch == "R":
                    recursive = True
                elif ch in ("b", "k"):
                    strip = strip or ch == "b"
                elif ch in ("m", "x"):
                    value = letters[i + 1:] or (args.pop(0) if args else None)
                    if value is None:
                        return state.fail("setfacl", f"option requires an argument -- '{ch}'")
                    actions.append((ch, value))
                    break
                elif ch == "d":
                    return state.fail("setfacl", "default ACLs (-d) are not supported in this sandbox")
                else:
                    return state.fail("setfacl", f"invalid option -- '{ch}'\nTry `setfacl --help' for more info.")
        else:
            files.append(arg)
    if not actions and not strip:
        return state.fail("setfacl", "Usage: setfacl [-bkndRLP] { -m|-M|-x|-X ... } file ...", status=2)
    if not files:
        return state.fail("setfacl", "No filename found", status=2)
    world = state.world

    def change(shown: str, path: str) -> str | None:
        if world.is_symlink(path):
            return None
        if not _may_change(state, path):
            return f"setfacl: {shown}: Operation not permitted"
        if strip:
            world.set_acl(path, None)
        for flag, spec in actions:
            try:
                apply_acl_spec(state, path, spec, remove=flag == "x")
            except ValueError as exc:
                return f"setfacl: Option -{flag}: Invalid argument near character 1 ({exc})"
        return None

    return _apply(state, "setfacl", files, recursive, change)


def _effective(text: str, bits: int, mask: int) -> str:
    effective = bits & mask
    return f"{text}\t#effective:{_rwx(effective)}" if effective != bits else text


@command("getfacl")
def getfacl(state: ShellState, argv: list[str], stdin: str) -> CommandResult:
    """``getfacl FILE...`` in the format of the Linux acl tools."""
    files = [a for a in argv[1:] if not a.startswith("-")]
    if not files:
        return state.fail("getfacl", "Usage: getfacl [-aceEsRLPtpndvh] file ...", status=2)
    world, users = state.world, state.world.users
    out: list[str] = []
    errors: list[str] = []
    stripped = False
    for operand in files:
        try:
            path = world.resolve(state.abspath(operand))
        except FileSystemError as exc:
            errors.append(f"getfacl: {operand}: {exc.reason}")
            continue
        if not world.exists(path):
            errors.append(f"getfacl: {operand}: No such file or directory")
            continue
        if not world.can_traverse(state.user, path):
            errors.append(f"getfacl: {operand}: Permission denied")
            continue
        st = world.stat(path)
        acl = world.get_acl(path)
        shown = operand
        if operand.startswith("/"):
            shown = operand.lstrip("/") or "."
            stripped = True
        lines = [f"# file: {shown}", f"# owner: {users.user_name(st.uid)}", f"# group: {users.group_name(st.gid)}",
                 f"user::{_rwx((st.mode >> 6) & 7)}"]
        if acl is None:
            lines += [f"group::{_rwx((st.mode >> 3) & 7)}"]
        else:
            mask = acl.mask
            lines += [_effective(f"user:{users.user_name(uid)}:{_rwx(b)}", b, mask) for uid, b in acl.users]
            lines += [_effective(f"group::{_rwx(acl.group_obj)}", acl.group_obj, mask)]
            lines += [_effective(f"group:{users.group_name(gid)}:{_rwx(b)}", b, mask) for gid, b in acl.groups]
            lines += [f"mask::{_rwx(acl.mask)}"]
        lines += [f"other::{_rwx(st.mode & 7)}", ""]
        out += lines
    if stripped:
        errors.insert(0, "getfacl: Removing leading '/' from absolute path names")
    return CommandResult(stdout="".join(line + "\n" for line in out),
                         stderr="".join(e + "\n" for e in errors), status=1 if len(errors) > stripped else 0)
