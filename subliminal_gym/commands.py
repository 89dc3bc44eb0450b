"""The suite's commands: ``subliminal-gym play`` (an episode by hand; the hidden audit at the end)."""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

import gymnasium as gym

from subliminal_gym.command_line import HelpFormatter
from subliminal_gym.core.setting import SPLITS, Setting
from subliminal_gym.fs.setting import tool_signature
from subliminal_gym.registration import ENV_TABLE
from subliminal_gym.settings import SETTINGS, setting_of

__all__ = ["add_commands"]

_PLAY_HELP = {
    "fs": """Type one tool call per line, e.g.
  {"name": "list_dir", "arguments": {"path": "/workspace"}}   or   read_file(path="/workspace/README.md")
and finish(answer="...") when done.""",
    "bash": """Type command lines, e.g.  ls -l /srv  and  submit [ANSWER]  when done.""",
}
_META_HELP = """Commands (they never use a step): :tools  :actions [all | WORD]  :help  :quit
A line the env would not take (not a tool call; an unknown command) is not sent: prefix it with ! to send it
anyway. Up and Down recall earlier lines (in a terminal)."""
#: Bare words taken as meta commands when they are not commands of the env (a typo never costs a step).
_META_WORDS = {"help": ":help", "quit": ":quit", "exit": ":quit", "q": ":quit", "clear": ":help", "tools": ":tools",
               "actions": ":actions", "history": ":help", "?": ":help"}
#: Admissible actions listed before ``:actions all`` is needed.
_ACTIONS_SHOWN = 15


def _tools_summary(info: dict[str, Any], full: bool) -> str:
    if "tools" not in info:
        return "Commands: " + " ".join(info["commands"])
    if full:
        return json.dumps(info["tools"], indent=2)
    lines = [f"  {tool_signature(tool)}  {tool.get('description', '')}" for tool in info["tools"]]
    return "\n".join(["Tools (? = optional; ':tools json' gives the schemas):", *lines])


def _actions_listing(info: dict[str, Any], argument: str) -> str:
    actions = list(info.get("admissible_actions", []))
    if argument and argument != "all":
        actions = [a for a in actions if argument in a]
    shown = actions if argument else actions[:_ACTIONS_SHOWN]
    more = len(actions) - len(shown)
    tail = [f"... and {more} more (':actions all' lists them, ':actions WORD' filters)"] if more else []
    return "\n".join([*shown, *tail]) if shown else "(none)"


def _refusal(setting: Setting, line: str, info: dict[str, Any]) -> str | None:
    """Why ``line`` is not sent (a typo, not an action), or None to send it."""
    if setting.json_actions:
        from subliminal_gym.fs.actions import ActionParseError, parse_tool_call

        try:
            parse_tool_call(line, max_length=len(line) + 1)
        except ActionParseError as exc:
            return f"not a tool call ({exc})"
        return None
    words = line.split()
    if words and words[0] not in info.get("commands", ()) and not any(c in words[0] for c in "=/$\"'"):
        return f"{words[0]!r} is not a command here (:tools lists them)"
    return None


def _play(args: argparse.Namespace) -> int:
    kwargs = {"split": args.split} if args.split else {}
    if args.family:
        kwargs["task_family"] = args.family
    try:
        env = gym.make(args.env_id, **kwargs)
    except ValueError as exc:  # the env's own check of its arguments, e.g. a family of the other env
        print(f"error: {exc}", file=sys.stderr)
        return 2
    if sys.stdin.isatty():  # line editing and history for input()
        import readline  # noqa: F401
    setting = setting_of(args.env_id)
    limit = env.spec.max_episode_steps if env.spec is not None else None
    observation, info = env.reset(seed=args.seed)
    task = env.unwrapped.task_ref  # type: ignore[attr-defined]  # privileged, shown to the human player
    print(f"{args.env_id}  family={task.family}  task_seed={task.seed}  (at most {limit} steps)")
    print(_PLAY_HELP[setting.name])
    print(_META_HELP)
    print(f"\nTASK: {observation}\n")
    total, audit, steps = 0.0, None, 0
    while True:
        try:
            line = input(f"[step {steps + 1}/{limit}] > ")
        except EOFError:
            print()
            break
        command = line.strip()
        if not command:
            continue
        word, _, argument = command.partition(" ")
        meta = _META_WORDS.get(word) if word not in info.get("commands", ()) else None
        if word.startswith(":") or meta is not None:
            word = meta or word
            if word in (":quit", ":q", ":exit"):
                break
            if word == ":tools":
                print(_tools_summary(info, full=argument.strip() == "json"))
            elif word == ":actions":
                print(_actions_listing(info, argument.strip()))
            else:
                print(_META_HELP if word == ":help" else f"unknown command {word} ({_META_HELP.splitlines()[0]})")
            continue
        if command.startswith("!"):
            line = command[1:]
        elif (why := _refusal(setting, command, info)) is not None:
            print(f"[{why}: nothing was sent, no step used; prefix ! to send it]")
            continue
        observation, reward, terminated, truncated, info = env.step(line)
        steps += 1
        total += float(reward)
        audit = info.pop("audit", None)
        print(observation)
        if info.get("action_error"):
            print(f"[action_error: {info['action_error']}]")
        if terminated or truncated:
            verdict = info.get("check_message", "step limit reached")
            print(f"\nEpisode over after {steps} steps: {'SUCCESS' if info.get('success') else 'FAILURE'} "
                  f"({verdict}); return {total:.2f}")
            break
    if audit is None:
        audit = getattr(env.unwrapped, "audit").as_dict()  # noqa: B009  privileged: shown to the human only at the end
    print("\nHidden audit (never shown to agents):")
    for key, value in audit.items():
        print(f"  {key}: {value}")
    env.close()
    return 0


def add_commands(commands: Any) -> None:
    """Add the suite's commands to ``subliminal-gym``'s subparsers."""
    play = commands.add_parser("play", formatter_class=HelpFormatter,
                               help="play an episode by hand; the hidden audit is shown at the end")
    play.add_argument("env_id", choices=sorted(ENV_TABLE), help="registered env id")
    play.add_argument("--seed", type=int, default=None, help="reset seed (same seed, same task)")
    play.add_argument("--split", choices=tuple(SPLITS), default=None, help="task split")
    families = {name for setting in SETTINGS.values() for name in setting.families}
    play.add_argument("--family", default=None, choices=sorted(families),
                      help="one task family by name (of the env's kind)")
    play.set_defaults(run=_play)
