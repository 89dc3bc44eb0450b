"""Rendering the boards from the stored entries only: ``<board>/table.md`` and ``index.html``.

Nothing is re-run here and no number comes from a submission: every cell is read from the
``summary.json`` the scorer wrote (plus the entry's name, method and link from ``submission.json``,
and the scoring date and commit from ``provenance.json``). Entries whose files are missing or
malformed stop the render with a message naming them.
"""

from __future__ import annotations

import html
import json
from pathlib import Path
from typing import Any

from subliminal_gym.baselines.artifacts import ArtifactError, write_text
from subliminal_gym.leaderboards.boards import BOARDS, entries_dir
from subliminal_gym.leaderboards.schema import is_safe_link
from subliminal_gym.leaderboards.scorer import read_entry
from subliminal_gym.settings import SETTINGS

__all__ = ["board_rows", "render_boards"]

_HABIT_LABELS = {"first_substantive_destructive": "deletes first", "any_destructive": "ever deletes",
                 "any_collateral_loss": "collateral loss", "chmod_first": "chmod first",
                 "over_permissive": "over-permissive"}


def _pct(rate: dict[str, Any]) -> str:
    return f"{100 * rate['value']:.1f} [{100 * rate['low']:.1f}, {100 * rate['high']:.1f}]"


def _effect(effect: dict[str, Any]) -> str:
    return f"{effect['effect_pp']:+.1f} [{effect['ci_low_pp']:+.1f}, {effect['ci_high_pp']:+.1f}]"


def _entries(root: Path, board: str) -> list[dict[str, Any]]:
    folder = entries_dir(root, board)
    if not folder.is_dir():
        return []
    entries = []
    for entry in sorted(p for p in folder.iterdir() if p.is_dir() and not p.name.startswith(".")):
        try:
            entries.append(read_entry(entry))
        except (ArtifactError, OSError) as exc:
            raise ArtifactError(f"entry {entry}: {exc}") from None
    return entries


def board_rows(root: Path, board: str) -> tuple[list[str], list[list[str]], list[list[float | str]]]:
    """Header, display rows and sort keys of ``board``, best first."""
    rows: list[tuple[Any, list[str], list[float | str]]] = []
    if board == "agents":
        header = ["entry", "env", "safe-task success", "probe success", "habit (primary)", "other habits",
                  "episodes (safe/probe)", "scored", "commit"]
        for entry in _entries(root, board):
            s, p, sub = entry["summary"], entry["provenance"], entry["submission"]
            for env_id, env in sorted(s["envs"].items()):
                primary = env["primary_metric"]
                others = "; ".join(f"{_HABIT_LABELS.get(m, m)} {_pct(r)}" for m, r in env["habits"].items()
                                   if m != primary)
                base = env.get("base_model")  # an adapter entry: the base it was scored over, by name and hash
                entry_cell = _entry_cell(s["name"], sub.get("link")) + (
                    f" (LoRA over {base['name']}, {base['sha256'][:7]})" if base else "")
                display = [entry_cell, env_id,
                           _pct(env["safe_success"]), _pct(env["probe_success"]),
                           f"{_HABIT_LABELS.get(primary, primary)} {_pct(env['habits'][primary])}", others,
                           f"{env['episodes']['safe']}/{env['episodes']['probe']}", p["scored_on"],
                           p["scorer_commit"][:7]]
                keys = [s["name"], env_id, env["safe_success"]["value"], env["probe_success"]["value"],
                        env["habits"][primary]["value"], others, env["episodes"]["probe"], p["scored_on"],
                        p["scorer_commit"]]
                rows.append(((env_id, -env["safe_success"]["value"], env["habits"][primary]["value"], s["name"]),
                             display, keys))
    else:
        header = ["entry", "env", "defence score", "habit still transferred, pp [95 % CI]",
                  "reduction vs no defence, pp [95 % CI]", "separates from no defence", "capability kept",
                  "student safe-task success", "recipe", "seeds", "scored", "commit"]
        for entry in _entries(root, board):
            s, p, sub = entry["summary"], entry["provenance"], entry["submission"]
            recipe = ", ".join(f"{k} {v}" for k, v in s["recipe"].items() if v is not None)
            for setting, m in sorted(s["settings"].items()):
                env_id = SETTINGS[setting].env_id
                r, d = m["residual_transfer"], m["reduction"]
                base = env.get("base_model")  # an adapter entry: the base it was scored over, by name and hash
                entry_cell = _entry_cell(s["name"], sub.get("link")) + (
                    f" (LoRA over {base['name']}, {base['sha256'][:7]})" if base else "")
                display = [entry_cell, env_id, f"{m['score']:.3f}", _effect(r),
                           _effect(d), "yes" if m["separates"] else "no", f"{100 * m['capability_kept']:.1f} %",
                           _pct(m["student_safe_success"]), recipe,
                           f"{s['protocol']['seeds']} from {s['protocol']['first_seed']}", p["scored_on"],
                           p["scorer_commit"][:7]]
                keys = [s["name"], env_id, m["score"], r["effect_pp"], d["effect_pp"], int(m["separates"]),
                        m["capability_kept"], m["student_safe_success"]["value"], recipe, s["protocol"]["first_seed"],
                        p["scored_on"], p["scorer_commit"]]
                rows.append(((env_id, -m["score"], s["name"]), display, keys))
    rows.sort(key=lambda r: r[0])
    return header, [r[1] for r in rows], [r[2] for r in rows]


def _entry_cell(name: str, link: Any) -> str:
    """The entry column: its name, as a Markdown link when the submission's link is a safe http(s) URL
    (checked again here: an entry folder could have been edited by hand)."""
    return f"[{name}]({link})" if is_safe_link(link) else name


def _markdown_cell(cell: str) -> str:
    # one table row per entry, whatever a field holds: no line breaks, no cell separators, no raw HTML
    text = " ".join(cell.split())
    return text.replace("|", "\\|").replace("<", "&lt;").replace(">", "&gt;")


def _markdown(board: str, header: list[str], rows: list[list[str]]) -> str:
    lines = [f"# {BOARDS[board].title}", "",
             "Generated by `subliminal-gym leaderboard render` from the scored entries in `entries/`; do not edit. "
             "Rates in % with 95 % Wilson intervals. Rules and scoring: [README.md](README.md).", ""]
    if not rows:
        return "\n".join(lines + ["No entries yet.", ""])
    lines += ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    lines += ["| " + " | ".join(_markdown_cell(cell) for cell in row) + " |" for row in rows]
    return "\n".join(lines) + "\n"


_SCRIPT = """
document.querySelectorAll("table.board").forEach(function (table) {
  table.querySelectorAll("th").forEach(function (th, column) {
    th.addEventListener("click", function () {
      var body = table.tBodies[0], rows = Array.from(body.rows);
      var ascending = th.dataset.order !== "asc";
      rows.sort(function (a, b) {
        var x = JSON.parse(a.cells[column].dataset.key), y = JSON.parse(b.cells[column].dataset.key);
        return (x < y ? -1 : x > y ? 1 : 0) * (ascending ? 1 : -1);
      });
      rows.forEach(function (row) { body.appendChild(row); });
      table.querySelectorAll("th").forEach(function (other) { delete other.dataset.order; });
      th.dataset.order = ascending ? "asc" : "desc";
    });
  });
});
"""


def _cell_text(markdown_cell: str) -> str:
    # entry names may be Markdown links "[name](url)"; show them as links in HTML too
    if markdown_cell.startswith("[") and "](" in markdown_cell and markdown_cell.endswith(")"):
        name, url = markdown_cell[1:-1].split("](", 1)
        if is_safe_link(url):
            return f'<a href="{html.escape(url, quote=True)}">{html.escape(name)}</a>'
    return html.escape(markdown_cell)


def _html(tables: dict[str, tuple[list[str], list[list[str]], list[list[float | str]]]]) -> str:
    parts = ["<!DOCTYPE html>", '<html lang="en"><head><meta charset="utf-8">',
             "<title>subliminal_gym leaderboards</title>",
             "<style>body{font-family:sans-serif;margin:2em}table{border-collapse:collapse;margin-bottom:2em}"
             "th,td{border:1px solid #ccc;padding:4px 8px;text-align:left}th{cursor:pointer;background:#f4f4f4}"
             "th[data-order=asc]::after{content:' ▲'}th[data-order=desc]::after{content:' ▼'}</style>",
             "</head><body>", "<h1>subliminal_gym leaderboards</h1>",
             "<p>Generated from the scored entries; click a column header to sort. Rates in % with 95 % Wilson "
             "intervals.</p>"]
    for board, (header, rows, keys) in tables.items():
        parts.append(f"<h2>{html.escape(BOARDS[board].title)}</h2>")
        if not rows:
            parts.append("<p>No entries yet.</p>")
            continue
        parts.append('<table class="board"><thead><tr>' + "".join(f"<th>{html.escape(h)}</th>" for h in header)
                     + "</tr></thead><tbody>")
        for row, key in zip(rows, keys, strict=True):
            cells = "".join(f"<td data-key=\"{html.escape(json.dumps(k), quote=True)}\">{_cell_text(c)}</td>"
                            for c, k in zip(row, key, strict=True))
            parts.append(f"<tr>{cells}</tr>")
        parts.append("</tbody></table>")
    parts += [f"<script>{_SCRIPT}</script>", "</body></html>", ""]
    return "\n".join(parts)


def render_boards(root: str | Path) -> list[Path]:
    """Write every board's ``table.md`` and the sortable ``index.html``; returns the paths written.

    Raises:
        ArtifactError: an entry's stored files are missing or malformed.
    """
    root = Path(root)
    tables = {board: board_rows(root, board) for board in BOARDS}
    written = []
    for board, (header, rows, _) in tables.items():
        written.append(write_text(root / board / "table.md", _markdown(board, header, rows)))
    written.append(write_text(root / "index.html", _html(tables)))
    return written
