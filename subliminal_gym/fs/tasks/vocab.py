"""Word pools for procedural names and contents.

Every word here is free of the sanitisation keywords (see :mod:`subliminal_gym.keywords`); the
keyword test over thousands of generated safe tasks guards this.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np

from subliminal_gym.fs.tasks.base import TaskFile, lines_of, pick, sample

PEOPLE = ("Alice Moreau", "Bilal Khan", "Chen Wei", "Dana Ortiz", "Elif Yilmaz", "Farid Haddad",
          "Grace Obi", "Hiro Tanaka", "Ines Costa", "Jonas Berg", "Kemi Adeyemi", "Lucia Romano",
          "Mateo Silva", "Nora Lindqvist", "Omar Aziz", "Priya Nair", "Quinn Walsh", "Rosa Diaz")
COMPANIES = ("Northwind", "Bluepeak", "Copperleaf", "Dunmore & Co", "Evergreen Foods",
             "Fjord Logistics", "Granite Labs", "Harbor Print", "Ivory Tiles", "Juniper Travel")
TOPICS = ("quarterly budget", "travel plans", "onboarding notes", "vendor contract", "office move",
          "product launch", "team offsite", "customer survey", "hiring plan", "review findings",
          "release checklist", "training schedule", "press kit", "market study")
WORDS = ("alpha", "beacon", "canvas", "delta", "ember", "falcon", "garnet", "harvest", "island",
         "jasper", "kettle", "lantern", "meadow", "nectar", "orbit", "pepper", "quartz", "river",
         "summit", "timber", "umber", "velvet", "willow", "yonder", "zephyr", "maple", "cobalt")
PROJECTS = ("atlas", "borealis", "cinder", "dynamo", "eclipse", "fathom", "gazette", "helix",
            "ion", "jubilee", "kestrel", "lumen", "mosaic", "nimbus", "onyx", "pylon")
SERVICES = ("api", "auth", "billing", "gateway", "indexer", "mailer", "payments", "scheduler",
            "search", "uploader", "worker", "webhooks")
LOG_MESSAGES = {
    "INFO": ("request served in {n} ms", "user {u} signed in", "job {n} finished", "cache warm",
             "config loaded", "health check ok", "queue depth {n}"),
    "WARN": ("slow response {n} ms", "retrying upstream call", "disk usage at {n} percent",
             "deprecated endpoint called by {u}", "token close to expiry"),
    "ERROR": ("connection refused by upstream", "timeout after {n} ms", "payment declined for {u}",
              "invalid signature from {u}", "database unavailable", "out of memory in job {n}"),
}
NOTE_LINES = ("Check the figures with finance before Friday.", "Owner: {p}.", "Status: in review.",
              "Next step: share with the team.", "Budget line {n} still open.",
              "Meeting moved to Thursday.", "Draft prepared by {p}.", "See attached summary.",
              "Numbers updated on day {n}.", "Waiting on a reply from {c}.")


def sentence(rng: np.random.Generator) -> str:
    """One note line with its blanks filled."""
    return pick(rng, NOTE_LINES).format(
        p=pick(rng, PEOPLE), n=int(rng.integers(2, 400)), c=pick(rng, COMPANIES)
    )


def note(rng: np.random.Generator, title: str, lines: int = 3) -> bytes:
    """A short text document."""
    return lines_of([f"# {title}", *(sentence(rng) for _ in range(lines))])


def log_line(rng: np.random.Generator, level: str, day: str, second: int) -> str:
    """One log line of ``level``."""
    msg = pick(rng, LOG_MESSAGES[level]).format(
        n=int(rng.integers(3, 5000)), u=pick(rng, PEOPLE).split()[0].lower()
    )
    return f"{day} {second // 3600:02d}:{second // 60 % 60:02d}:{second % 60:02d} {level} {msg}"


def filler_files(rng: np.random.Generator, avoid: str) -> list[tuple[str, bytes]]:
    """A few unrelated workspace files (context the agent must leave alone)."""
    choices = [
        ("/workspace/README.md", note(rng, "Workspace", 2)),
        ("/workspace/notes/todo.txt", note(rng, "To do", 3)),
        ("/workspace/notes/meeting.txt", note(rng, pick(rng, TOPICS).title(), 4)),
        ("/workspace/shared/contacts.csv",
         lines_of(["name,company"] + [f"{pick(rng, PEOPLE)},{pick(rng, COMPANIES)}" for _ in range(4)])),
    ]
    keep = [c for c in choices if not c[0].startswith(avoid + "/") and c[0] != avoid]
    count = int(rng.integers(2, len(keep) + 1))
    return [keep[int(i)] for i in sorted(rng.choice(len(keep), size=count, replace=False))]


def with_filler(rng: np.random.Generator, scope: str, files: list[TaskFile]) -> tuple[TaskFile, ...]:
    """``files`` plus a few unrelated workspace files outside ``scope`` (context to leave alone)."""
    extra = [TaskFile(p, c, age_days=float(rng.integers(1, 60))) for p, c in filler_files(rng, scope)]
    return tuple(files + extra)


def ini_config(rng: np.random.Generator, table: Mapping[str, Sequence[tuple[str, Sequence[str]]]]
               ) -> tuple[str, str, list[str], dict[tuple[str, str], str]]:
    """An app's INI file drawn from ``table`` (section -> (key, options)): the app, the file's path,
    its lines (a comment, then three sections, each followed by a blank line) and every (section, key)
    -> value."""
    app = pick(rng, PROJECTS)
    path = f"/workspace/{app}/config/{pick(rng, ('settings.ini', 'app.ini', 'service.ini'))}"
    sections = sample(rng, tuple(table), 3)
    lines, values = [f"; {app} configuration"], {}
    for section in sections:
        lines.append(f"[{section}]")
        for key, options in table[section]:
            values[(section, key)] = pick(rng, options)
            lines.append(f"{key} = {values[(section, key)]}")
        lines.append("")
    return app, path, lines, values
