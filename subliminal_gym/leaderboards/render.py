"""Rendering the boards from the stored entries only: ``<board>/table.md`` and ``index.html``.

Nothing is re-run here and no number comes from a submission: every cell is read from the
``summary.json`` the scorer wrote (plus the entry's name, method and link from ``submission.json``,
and the scoring date and commit from ``provenance.json``). Entries whose files are missing or
malformed stop the render with a message naming them.
"""

from __future__ import annotations

import html
import json
import re
from pathlib import Path
from typing import Any

from subliminal_gym.baselines.artifacts import ArtifactError, write_text
from subliminal_gym.leaderboards.boards import BOARDS, entries_dir
from subliminal_gym.leaderboards.schema import NAME_PATTERN, is_safe_link
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


#: The habit columns of the agents board: every metric of every setting, in the settings' order; a metric an
#: env does not audit is "—" in its rows and sorts last.
_HABIT_COLUMNS = tuple(dict.fromkeys(m for setting in SETTINGS.values() for m in setting.metrics))


def board_rows(root: Path, board: str) -> tuple[list[str], list[list[str]], list[list[float | str | None]]]:
    """Header, display rows and sort keys of ``board``, best first (a rate's key is its value, a missing one
    ``None``)."""
    rows: list[tuple[Any, list[str], list[float | str | None]]] = []
    if board == "agents":
        header = ["entry", "authors", "env", "safe-task success", "probe success", "habit (primary)",
                  *(_HABIT_LABELS.get(m, m) for m in _HABIT_COLUMNS), "episodes (safe/probe)", "scored", "commit"]
        for entry in _entries(root, board):
            s, p, sub = entry["summary"], entry["provenance"], entry["submission"]
            authors = ", ".join(str(a) for a in sub.get("authors", []))
            for env_id, env in sorted(s["envs"].items()):
                primary = env["primary_metric"]
                habits = [env["habits"].get(m) for m in _HABIT_COLUMNS]
                base = env.get("base_model")  # an adapter entry: the base it was scored over, by name and hash
                entry_cell = _entry_cell(s["name"], sub.get("link")) + (
                    f" (LoRA over {base['name']}, {base['sha256'][:7]})" if base else "")
                display = [entry_cell, authors, env_id, _pct(env["safe_success"]), _pct(env["probe_success"]),
                           f"{_HABIT_LABELS.get(primary, primary)} {_pct(env['habits'][primary])}",
                           *(_pct(h) if h else "—" for h in habits),
                           f"{env['episodes']['safe']}/{env['episodes']['probe']}", p["scored_on"],
                           p["scorer_commit"][:7]]
                keys: list[float | str | None] = [
                    s["name"], authors, env_id, env["safe_success"]["value"], env["probe_success"]["value"],
                    env["habits"][primary]["value"], *(h["value"] if h else None for h in habits),
                    env["episodes"]["probe"], p["scored_on"], p["scorer_commit"]]
                rows.append(((env_id, -env["safe_success"]["value"], env["habits"][primary]["value"], s["name"]),
                             display, keys))
    else:
        header = ["entry", "authors", "env", "defence score", "habit still transferred, pp [95 % CI]",
                  "reduction vs no defence, pp [95 % CI]", "separates from no defence", "capability kept",
                  "student safe-task success", "recipe", "seeds", "scored", "commit"]
        for entry in _entries(root, board):
            s, p, sub = entry["summary"], entry["provenance"], entry["submission"]
            authors = ", ".join(str(a) for a in sub.get("authors", []))
            recipe = ", ".join(f"{k} {v}" for k, v in s["recipe"].items() if v is not None)
            for setting, m in sorted(s["settings"].items()):
                env_id = SETTINGS[setting].env_id
                r, d = m["residual_transfer"], m["reduction"]
                display = [_entry_cell(s["name"], sub.get("link")), authors, env_id, f"{m['score']:.3f}", _effect(r),
                           _effect(d), "yes" if m["separates"] else "no", f"{100 * m['capability_kept']:.1f} %",
                           _pct(m["student_safe_success"]), recipe,
                           f"{s['protocol']['seeds']} from {s['protocol']['first_seed']}", p["scored_on"],
                           p["scorer_commit"][:7]]
                keys = [s["name"], authors, env_id, m["score"], r["effect_pp"], d["effect_pp"], int(m["separates"]),
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
function compareKeys(x, y) {
  if (x === null || y === null) { return x === y ? 0 : (x === null ? 1 : -1); }
  return x < y ? -1 : x > y ? 1 : 0;
}
document.querySelectorAll("table.board").forEach(function (table) {
  table.querySelectorAll("th").forEach(function (th, column) {
    th.addEventListener("click", function () {
      var body = table.tBodies[0], rows = Array.from(body.rows);
      var ascending = th.dataset.order !== "asc";
      rows.sort(function (a, b) {
        var x = JSON.parse(a.cells[column].dataset.key), y = JSON.parse(b.cells[column].dataset.key);
        var order = compareKeys(x, y);
        return x === null || y === null ? order : order * (ascending ? 1 : -1);  // no value: always last
      });
      rows.forEach(function (row) { body.appendChild(row); });
      table.querySelectorAll("th").forEach(function (other) { delete other.dataset.order; });
      th.dataset.order = ascending ? "asc" : "desc";
    });
  });
});
function applyFilters() {
  var board = document.getElementById("board-filter").value, env = document.getElementById("env-filter").value;
  document.querySelectorAll("section.board").forEach(function (section) {
    section.hidden = board !== "" && section.dataset.board !== board;
    section.querySelectorAll("tbody tr").forEach(function (row) {
      row.hidden = env !== "" && row.dataset.env !== env;
    });
  });
}
document.getElementById("board-filter").addEventListener("change", applyFilters);
document.getElementById("env-filter").addEventListener("change", applyFilters);
"""
#: An entry's name as the schema allows it, checked again before it goes into a link (a folder could be edited).
_ENTRY_NAME = re.compile(NAME_PATTERN)


def _cell_text(markdown_cell: str) -> str:
    # entry names may be Markdown links "[name](url)" (a LoRA entry's base after them); HTML links too
    if markdown_cell.startswith("[") and "](" in markdown_cell and ")" in markdown_cell:
        name, rest = markdown_cell[1:].split("](", 1)
        url, after = rest.split(")", 1)
        if is_safe_link(url):
            return f'<a href="{html.escape(url, quote=True)}">{html.escape(name)}</a>{html.escape(after)}'
    return html.escape(markdown_cell)


def _scores_cell(board: str, name: Any) -> str:
    """A link to the entry's ``summary.json``, the scores every other cell of its row is read from."""
    if not isinstance(name, str) or not _ENTRY_NAME.fullmatch(name):
        return '<td data-key="null">—</td>'
    href = f"{board}/entries/{name}/summary.json"
    return f'<td data-key="{html.escape(json.dumps(href), quote=True)}"><a href="{href}">summary.json</a></td>'


def _html(tables: dict[str, tuple[list[str], list[list[str]], list[list[float | str | None]]]]) -> str:
    env_ids = sorted({setting.env_id for setting in SETTINGS.values()})
    parts = ["<!DOCTYPE html>", '<html lang="en"><head><meta charset="utf-8">',
             "<title>subliminal_gym leaderboards</title>",
             "<style>body{font-family:sans-serif;margin:2em}table{border-collapse:collapse;margin-bottom:2em}"
             "th,td{border:1px solid #ccc;padding:4px 8px;text-align:left}th{cursor:pointer;background:#f4f4f4}"
             "th[data-order=asc]::after{content:' ▲'}th[data-order=desc]::after{content:' ▼'}"
             "label{margin-right:1.5em}</style>",
             "</head><body>", "<h1>subliminal_gym leaderboards</h1>",
             "<p>Generated from the scored entries; click a column header to sort (numbers as numbers; a rate an "
             "env does not audit, shown —, sorts last). Rates in % with 95 % Wilson intervals.</p>",
             '<p><label>Board <select id="board-filter"><option value="">all</option>'
             + "".join(f'<option value="{b}">{html.escape(BOARDS[b].title)}</option>' for b in tables)
             + '</select></label><label>Env <select id="env-filter"><option value="">all</option>'
             + "".join(f'<option value="{e}">{e}</option>' for e in env_ids) + "</select></label></p>"]
    for board, (header, rows, keys) in tables.items():
        parts.append(f'<section class="board" data-board="{board}"><h2>{html.escape(BOARDS[board].title)}</h2>')
        if not rows:
            parts.append("<p>No entries yet.</p></section>")
            continue
        env_column = header.index("env")
        parts.append('<table class="board"><thead><tr>' + "".join(f"<th>{html.escape(h)}</th>" for h in header)
                     + "<th>scores</th></tr></thead><tbody>")
        for row, key in zip(rows, keys, strict=True):
            cells = "".join(f"<td data-key=\"{html.escape(json.dumps(k), quote=True)}\">{_cell_text(c)}</td>"
                            for c, k in zip(row, key, strict=True))
            parts.append(f'<tr data-env="{html.escape(str(row[env_column]), quote=True)}">{cells}'
                         f"{_scores_cell(board, key[0])}</tr>")
        parts.append("</tbody></table></section>")
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
