"""Fuzz both envs with hostile actions from a grammar, and report the slowest step.

Every action is drawn from a grammar of what a hostile or confused agent types: for the shell,
command lines that grow files by appending in loops, ``grep`` with long and pathological regular
expressions, integers of thousands of digits in every numeric option (``stat`` formats, ``grep
-m/-A/-B/-C``, ``head``/``tail``, ``id``, ``chown``, ``chgrp``, ``setfacl`` qualifiers, modes),
deep paths, globs, quoting and raw shell metacharacters; for the tool API, well-formed and broken
tool calls with huge, binary and escaped arguments, code fences around runs of newlines, reads of
large binary files and random text. The same seed gives the same actions and, the envs being
deterministic, the same observations: the digest printed at the end is a fingerprint to compare
across runs and machines.

It prints, per env, the steps run, the exceptions raised out of ``env.step`` (there must be none),
steps per second, the slowest step (target: at most 50 ms on the 2-core dev machine) with the
action that took it, and the digest. Exit status 1 if any step raised.

    python benchmarks/bench_fuzz.py [--steps 10000] [--seed 0] [--env fs|bash|both]
"""

from __future__ import annotations

import argparse
import hashlib
import json
import random
import sys
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field

import gymnasium as gym

import subliminal_gym  # noqa: F401  (registers the ids)

#: Target for the slowest single step, in milliseconds (issue 21).
SLOWEST_STEP_TARGET_MS = 50.0

# -- the shell grammar ------------------------------------------------------------------------

_PATHS = ("/tmp/a", "/tmp/b", "/tmp/c", "/tmp/d/e", "/srv", "/srv/*", "/etc/passwd", "/etc", ".", "..", "~",
          "/", "/tmp", "/tmp/*", "*", "/home/agent", "/root", "/var/log", "'/tmp/a b'", "/tmp/" + "d/" * 40 + "x",
          "../" * 30 + "etc/shadow", "/dev/zero", "/proc/self/mem", "~dana", "$HOME/x", "\"$PWD\"/y")
_NAMES = ("root", "agent", "dana", "omar", "lin", "nobody", "staff", "analysts", "0", "1000", "65534")


def _huge_int(rng: random.Random) -> str:
    return rng.choice((
        "0", "1", "-1", "7", "2147483647", "2147483648", "4294967295", "4294967296", "9223372036854775807",
        "9223372036854775808", "18446744073709551616", "-9223372036854775809", "1" + "0" * rng.randint(20, 400),
        "9" * rng.randint(4300, 9000), "-" + "9" * rng.randint(4300, 6000), "0" * 5000 + "1", "1e9", "0x10", "",
    ))


def _regex(rng: random.Random) -> str:
    """A regular expression, often a pathological one (bounded repeats over classes, wide alternations)."""
    atoms = ("a", "b", "[a-z]", "[0-9]", ".", "[^x]", "\\w", "(ab|cd)", "x*", "[[:alpha:]]", "(a|b|c|d|e)")
    pieces = []
    for _ in range(rng.randint(1, 8)):
        atom = rng.choice(atoms)
        pieces.append(atom + rng.choice(("", "*", "+", "?", f"{{{rng.randint(0, 9)},{rng.randint(9, 60)}}}",
                                         f"{{{_huge_int(rng)[:30]}}}")))
    pattern = "".join(pieces)
    kind = rng.random()
    if kind < 0.2:
        count = rng.randint(20, 250)
        words = ["".join(rng.choice("abcdefghij") for _ in range(rng.randint(2, 6))) for _ in range(count)]
        pattern = "(" + "|".join(words) + ")"
    elif kind < 0.35:
        pattern = f"({pattern}){{{rng.randint(2, 9)}}}"
    elif kind < 0.45:
        pattern = pattern * rng.randint(10, 120)  # long patterns, over the length limit at times
    elif kind < 0.5:
        pattern = "(" * rng.randint(1, 300) + "a" + ")" * rng.randint(0, 300)
    return pattern.replace("'", "")


def _bash_command(rng: random.Random) -> str:
    path = lambda: rng.choice(_PATHS)  # noqa: E731
    big = lambda: _huge_int(rng)  # noqa: E731
    choice = rng.randrange(26)
    if choice == 24:  # grow the tree towards its node limit, a thousand names at a time
        stem = rng.choice(("/tmp/n", "/tmp/d/", "f", "/srv/x"))
        names = " ".join(f"{stem}{rng.randrange(10**6)}" for _ in range(rng.randint(1, 1200)))
        return f"mkdir -p /tmp/d; touch {names}"
    if choice == 25:  # double a tree by copying it into itself, over and over
        doubling = f"mkdir -p /tmp/t/u; cp -r /tmp/t /tmp/t/u/{rng.randrange(10**6)}; cp -r /tmp /tmp/t/c"
        return "; ".join([doubling] * rng.randint(1, 40))
    if choice == 0:
        return "; ".join([f"cat {path()} >> {path()}"] * rng.randint(1, 400))
    if choice == 1:
        appends = "; ".join(["cat /tmp/a >> /tmp/b"] * rng.randint(1, 500))
        return f"echo {'x' * rng.randint(0, 5000)} > {path()}; {appends}"
    if choice == 2:
        flags = " ".join(rng.sample(("-E", "-c", "-i", "-v", "-r", "-n", "-o", "-l", "-w", "-x", "-F"),
                                    rng.randint(0, 4)))
        return f"grep {flags} '{_regex(rng)}' {path()} {path()} {path()}"
    if choice == 3:
        return f"grep -{rng.choice('mABC')} {big()} x {path()}"
    if choice == 4:
        return f"stat -c '%{big()}{rng.choice('snUGaAyF')}' {path()}"
    if choice == 5:
        return f"{rng.choice(('head', 'tail'))} -{rng.choice('nc')} {big()} {path()}"
    if choice == 6:
        return f"id {rng.choice((big(), rng.choice(_NAMES)))}"
    if choice == 7:
        return f"chown {rng.choice((big(), rng.choice(_NAMES)))}:{rng.choice((big(), rng.choice(_NAMES)))} {path()}"
    if choice == 8:
        return f"chgrp {rng.choice((big(), rng.choice(_NAMES)))} {path()}"
    if choice == 9:
        rights = rng.choice(("rwx", "r", "-", big()))
        return f"setfacl -{rng.choice('mx')} {rng.choice('ugmo')}:{big()}:{rights} {path()}"
    if choice == 10:
        return f"chmod {rng.choice((big(), 'u+s', '777', 'g+rwX', '-R 000', '=' * 50))} {path()}"
    if choice == 11:
        return f"mkdir -p {'/tmp/' + '/'.join(['d'] * rng.randint(1, 80))}"
    if choice == 12:
        return f"{rng.choice(('cp -r', 'mv', 'cp', 'ln -s'))} {path()} {path()}"
    if choice == 13:
        return f"rm {rng.choice(('-rf', '-r', '-f', ''))} {path()}"
    if choice == 14:
        return f"ls {rng.choice(('-laR', '-l', '-1', '-i', '-d'))} {path()}"
    if choice == 15:
        name = rng.choice(("*", "*.log", "[a-", "**", "?" * 300))
        return f"find {path()} -name '{name}' {rng.choice(('', '-maxdepth ' + big(), '-type f'))}"
    if choice == 16:
        text = rng.choice(("hi", "$USER", "$?", "~", '"$HOME"'))
        return f"touch {path()}; echo {text} >> {path()}"
    if choice == 17:
        return f"cat {path()} | grep -c '{_regex(rng)}' | head -n {big()}"
    if choice == 18:
        return f"getfacl {path()}; wc -l {path()}; sort {path()} | uniq -c"
    if choice == 19:
        return f"cd {path()} && pwd && ls"
    if choice == 20:
        return "".join(rng.choice("ab /.*?[]-;|&><'\"$`~\\\n{}()!#=%^") for _ in range(rng.randint(1, 200)))
    if choice == 21:
        return rng.choice(("submit", f"submit {big()}", "rm -rf /", ":(){ :|:& };:", "$(id)", "`id`", "eval ls",
                           "sudo su", "exit", "cat < /dev/zero", "yes", "python3 -c 1"))
    if choice == 22:
        return f"tee {path()} < {path()} > {path()} 2>&1"
    return f"{rng.choice(('head', 'tail', 'cat', 'wc -c'))} {path()} {path()}"


def bash_action(rng: random.Random) -> str:
    """One command line (up to the env's length limit, sometimes past it)."""
    parts = [_bash_command(rng) for _ in range(rng.randint(1, 4))]
    joiners = ("; ", " && ", " || ", " | ", "\n")
    line = parts[0]
    for part in parts[1:]:
        line += rng.choice(joiners) + part
    return line


# -- the tool-call grammar --------------------------------------------------------------------

_TOOLS = ("list_dir", "read_file", "get_info", "search", "write_file", "make_dir", "move", "copy", "archive",
          "delete_file", "delete_dir", "finish", "rm", "")
_FS_PATHS = ("/workspace", ".", "..", "/", "/archive", "/etc/passwd", "README.md", "notes", "big.bin", "x" * 300,
             "a/" * 60 + "b", "../" * 40, "/workspace/big.bin", "\x00", "~", "*", "/tmp/../etc")


def _fs_value(rng: random.Random) -> object:
    return rng.choice((
        rng.choice(_FS_PATHS), "", True, None, 1e308, -1, [], {}, {"path": "."}, "\n" * rng.randint(1, 5000),
        "".join(chr(rng.randrange(0x110000)) for _ in range(rng.randint(1, 200))).encode("utf-8", "surrogatepass")
        .decode("utf-8", "replace"),
        "\\u0000" * rng.randint(1, 100), "x" * rng.randint(1000, 16000), "9" * 5000,
    ))


def fs_action(rng: random.Random) -> str:
    """One action for SubliminalFS-v0: a tool call in any accepted form, or something that is not."""
    kind = rng.randrange(10)
    name = rng.choice(_TOOLS)
    keys = ("path", "content", "name", "source", "destination", "recursive", "answer", "mode")
    arguments = {rng.choice(keys): _fs_value(rng) for _ in range(rng.randint(0, 3))}
    if kind == 0:
        return "```json" + "\n" * rng.randint(1, 16_400) + "```"  # the quadratic fence of the red-team pass
    if kind == 1:
        return "```" + json.dumps({"name": name, "arguments": arguments}) + "\n" * rng.randint(0, 9000) + "```"
    if kind == 2:
        return json.dumps({"name": "write_file", "arguments": {"path": "big.bin", "content": _fs_value(rng)}})
    if kind == 3:
        return json.dumps({"name": "read_file", "arguments": {"path": rng.choice(("big.bin", "/workspace/big.bin"))}})
    if kind == 4:
        return f"{name}({', '.join(repr(v) for v in arguments.values())})"
    if kind == 5:
        return "[" * rng.randint(1, 5000) + "]" * rng.randint(0, 5000)
    if kind == 6:
        return json.dumps({"function": {"name": name, "arguments": json.dumps(arguments)}})
    if kind == 7:
        return "".join(chr(rng.randrange(32, 0x2FFF)) for _ in range(rng.randint(0, 400)))
    return json.dumps({"name": name, "arguments": arguments})


# -- the runner -------------------------------------------------------------------------------


@dataclass
class FuzzReport:
    """What one env did with the fuzzed actions."""

    env_id: str
    steps: int = 0
    exceptions: int = 0
    first_exception: str = ""
    seconds: float = 0.0
    slowest_ms: float = 0.0
    slowest_action: str = ""
    digest: str = ""
    times_ms: list[float] = field(default_factory=list)


def fuzz(env_id: str, action: Callable[[random.Random], str], steps: int, seed: int,
         setup: Callable[[gym.Env], None] = lambda env: None) -> FuzzReport:
    """Run ``steps`` fuzzed actions on ``env_id`` (a new episode every 40 steps or when one ends)."""
    rng = random.Random(seed)
    env = gym.make(env_id, max_episode_steps=10_000)
    report = FuzzReport(env_id)
    digest = hashlib.sha256()
    episode = 0
    env.reset(seed=seed)
    setup(env)
    for i in range(steps):
        text = action(rng)
        start = time.perf_counter()
        try:
            obs, reward, terminated, truncated, _ = env.step(text)
        except Exception:  # the point of the exercise: count, never stop  # noqa: BLE001
            elapsed = time.perf_counter() - start
            report.exceptions += 1
            report.first_exception = report.first_exception or "".join(traceback.format_exc().splitlines(True)[-12:])
            obs, reward, terminated, truncated = "<exception>", 0.0, True, False
        else:
            elapsed = time.perf_counter() - start
        report.seconds += elapsed
        report.times_ms.append(elapsed * 1000)
        if elapsed * 1000 > report.slowest_ms:
            report.slowest_ms, report.slowest_action = elapsed * 1000, text
        digest.update(obs.encode("utf-8", "surrogatepass"))
        digest.update(repr(reward).encode())
        report.steps += 1
        if terminated or truncated or (i + 1) % 40 == 0:
            episode += 1
            env.reset(seed=seed + episode)
            setup(env)
    report.digest = digest.hexdigest()[:16]
    return report


def _big_binary_file(env: gym.Env) -> None:
    world = env.unwrapped.world
    world.write_bytes("/workspace/big.bin", bytes(range(256)) * 8192, owner=world.users.user("agent"))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=10_000, help="fuzzed steps per env")
    parser.add_argument("--seed", type=int, default=0, help="seed of the grammar and the envs")
    parser.add_argument("--env", choices=("fs", "bash", "both"), default="both", help="which env to fuzz")
    args = parser.parse_args(argv)
    runs = []
    if args.env in ("fs", "both"):
        runs.append(fuzz("SubliminalFS-v0", fs_action, args.steps, args.seed, _big_binary_file))
    if args.env in ("bash", "both"):
        runs.append(fuzz("SubliminalBash-v0", bash_action, args.steps, args.seed))
    for r in runs:
        ordered = sorted(r.times_ms)
        p99 = ordered[int(0.99 * (len(ordered) - 1))]
        verdict = "met" if r.slowest_ms <= SLOWEST_STEP_TARGET_MS else "NOT met"
        print(f"{r.env_id}: {r.steps} fuzzed steps, {r.exceptions} exceptions, {r.steps / r.seconds:,.0f} steps/s, "
              f"p99 {p99:.1f} ms, slowest {r.slowest_ms:.1f} ms (target {SLOWEST_STEP_TARGET_MS:.0f} ms: {verdict}), "
              f"digest {r.digest}")
        print(f"  slowest action ({len(r.slowest_action)} characters): {r.slowest_action[:160]!r}")
        if r.exceptions:
            print(f"  first exception:\n{r.first_exception}")
    return 1 if any(r.exceptions for r in runs) else 0


if __name__ == "__main__":
    sys.exit(main())
