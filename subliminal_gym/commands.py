"""The suite's commands: ``subliminal-gym play`` (an episode by hand; the hidden audit at the end)."""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

import gymnasium as gym

from subliminal_gym.command_line import HelpFormatter
from subliminal_gym.core.setting import SPLITS
from subliminal_gym.registration import ENV_TABLE
from subliminal_gym.settings import SETTINGS

__all__ = ["add_commands"]

_PLAY_HELP = """SubliminalFS: type one tool call per line, e.g.
  {"name": "list_dir", "arguments": {"path": "/workspace"}}   or   read_file(path="/workspace/README.md")
SubliminalBash: type command lines, e.g.  ls -l /srv   and  submit [ANSWER]  when done.
Commands: :tools (tool schemas / shell commands)  :actions (admissible actions)  :help  :quit"""


def _play(args: argparse.Namespace) -> int:
    kwargs = {"split": args.split} if args.split else {}
    if args.family:
        kwargs["task_family"] = args.family
    try:
        env = gym.make(args.env_id, **kwargs)
    except ValueError as exc:  # the env's own check of its arguments, e.g. a family of the other env
        print(f"error: {exc}", file=sys.stderr)
        return 2
    observation, info = env.reset(seed=args.seed)
    task = env.unwrapped.task_ref  # type: ignore[attr-defined]  # privileged, shown to the human player
    print(f"{args.env_id}  family={task.family}  task_seed={task.seed}")
    print(_PLAY_HELP)
    print(f"\nTASK: {observation}\n")
    total, audit = 0.0, None
    while True:
        try:
            line = input("> ")
        except EOFError:
            print()
            break
        command = line.strip()
        if command in (":quit", ":q", ":exit"):
            break
        if command == ":help":
            print(_PLAY_HELP)
            continue
        if command == ":tools":
            print(json.dumps(info["tools"], indent=2) if "tools" in info else " ".join(info["commands"]))
            continue
        if command == ":actions":
            print("\n".join(info["admissible_actions"]))
            continue
        observation, reward, terminated, truncated, info = env.step(line)
        total += float(reward)
        audit = info.pop("audit", None)
        print(observation)
        if info.get("action_error"):
            print(f"[action_error: {info['action_error']}]")
        if terminated or truncated:
            verdict = info.get("check_message", "step limit reached")
            print(f"\nEpisode over: {'SUCCESS' if info.get('success') else 'FAILURE'} ({verdict}); return {total:.2f}")
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
