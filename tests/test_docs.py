"""The documentation site builds without a warning, and the code in its pages runs.

* The MkDocs site (``mkdocs.yml``) builds in strict mode: a broken link, a missing page, an object
  mkdocstrings cannot collect or a docstring it cannot parse fails the build. The environment pages
  must show the sections of the env docstrings, so the reference cannot silently go missing.
* Every fenced ``python`` block of ``docs/**/*.md`` runs (one fresh namespace per page, the page's
  blocks in order, in a scratch directory). The course (``docs/course/``, with its own notebook
  tests) and the generated reports (``docs/results/``) are not part of this check.
* Every fenced ``bash`` block either runs (each line must be a ``subliminal-gym`` command, executed
  through :func:`subliminal_gym.cli.main` in the same scratch directory) or is marked, on the line
  right above it, with ``<!-- docs-test: skip (why) -->``.
"""

from __future__ import annotations

import contextlib
import io
import logging
import re
import shlex
import textwrap
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"
#: Folders of docs/ whose Markdown is not checked here (see the module docstring).
NOT_CHECKED = ("course", "results")
PAGES = sorted(p for p in DOCS.rglob("*.md") if p.relative_to(DOCS).parts[0] not in NOT_CHECKED)

FENCE = re.compile(r"^(?P<indent>[ \t]*)```(?P<lang>[\w-]*)[^\n]*\n(?P<body>.*?)^(?P=indent)```[ \t]*$",
                   re.MULTILINE | re.DOTALL)
SKIP = re.compile(r"^\s*<!--\s*docs-test:\s*skip\s*\((?P<reason>[^)]*\S[^)]*)\)\s*-->\s*$")
CLI_PREFIXES = ("subliminal-gym", ".venv/bin/subliminal-gym")

#: Building the site and running its code blocks takes about a minute: the full lane (make test-full).
pytestmark = pytest.mark.slow


@dataclass(frozen=True)
class Block:
    page: Path
    line: int
    lang: str
    body: str
    skip_reason: str | None

    @property
    def where(self) -> str:
        page = self.page.relative_to(ROOT) if self.page.is_relative_to(ROOT) else self.page
        return f"{page}:{self.line}"


def code_blocks(page: Path) -> list[Block]:
    """The fenced blocks of a page, in order, with the skip marker right above each (if any)."""
    text = page.read_text()
    blocks = []
    for match in FENCE.finditer(text):
        before = text[: match.start()].splitlines()
        above = next((line for line in reversed(before) if line.strip()), "")
        marker = SKIP.match(above)
        blocks.append(Block(page, len(before) + 1, match["lang"], textwrap.dedent(match["body"]),
                            marker["reason"].strip() if marker else None))
    return blocks


def cli_lines(block: Block) -> list[list[str]]:
    """The commands of a bash block as argument lists for ``cli.main`` (continuations joined)."""
    commands = []
    for line in block.body.replace("\\\n", " ").splitlines():
        words = shlex.split(line, comments=True)
        if not words:
            continue
        if words[0] not in CLI_PREFIXES:
            raise AssertionError(f"{block.where}: `{line.strip()}` is not a subliminal-gym command; mark the "
                                 "block with <!-- docs-test: skip (why) --> if it cannot run here")
        commands.append(words[1:])
    return commands


def page_id(page: Path) -> str:
    return str(page.relative_to(DOCS))


# -- the site ---------------------------------------------------------------------------------


class _Warnings(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.records: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(f"{record.name}: {record.getMessage()}")


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    from mkdocs.commands.build import build
    from mkdocs.config import load_config

    site_dir = tmp_path_factory.mktemp("site")
    warnings = _Warnings()
    loggers = [logging.getLogger("mkdocs"), logging.getLogger("griffe")]
    for logger in loggers:
        logger.addHandler(warnings)
    try:
        # strict: any warning aborts the build with mkdocs.exceptions.Abort
        build(load_config(config_file=str(ROOT / "mkdocs.yml"), strict=True, site_dir=str(site_dir)))
    finally:
        for logger in loggers:
            logger.removeHandler(warnings)
    assert warnings.records == []
    yield site_dir


def _text(html_file: Path) -> str:
    import html

    return html.unescape(re.sub(r"<[^>]+>", " ", html_file.read_text()))


@pytest.mark.parametrize(("page", "env_class"), [("subliminal_fs", "subliminal_gym.fs.env.SubliminalFSEnv"),
                                                 ("subliminal_bash", "subliminal_gym.bash.env.SubliminalBashEnv")])
def test_env_pages_render_the_env_docstrings(site: Path, page: str, env_class: str) -> None:
    html = (site / page / "index.html").read_text()
    assert f'id="{env_class}"' in html
    text = _text(site / page / "index.html")
    for section in ("Description", "Action Space", "Observation Space", "Rewards", "Starting State", "Episode End",
                    "Information", "Audit (privileged)", "Arguments", "Version History"):
        slug = re.sub(r"[^a-z]+", "-", section.lower()).strip("-")  # "Audit (privileged)" -> "audit-privileged"
        assert f'id="{env_class}--{slug}"' in html, section
        assert section in text
    assert "admissible_actions" in text and "privileged" in text


def test_api_reference_covers_the_packages(site: Path) -> None:
    expected = {
        "subliminal_gym": ["subliminal_gym.views.DiscreteActionView", "subliminal_gym.stats.wilson_interval",
                           "subliminal_gym.keywords.DESTRUCTIVE_KEYWORDS", "subliminal_gym.fs.audit.DeletionAudit",
                           "subliminal_gym.bash.audit.ShellAudit", "subliminal_gym.registration.ENV_TABLE"],
        "baselines": ["subliminal_gym.baselines.teachers.TeacherConfig", "subliminal_gym.baselines.distill.distill",
                      "subliminal_gym.baselines.sanitize.sanitize_trajectories",
                      "subliminal_gym.baselines.evaluation.compare",
                      "subliminal_gym.baselines.reproduce.grid.ReproduceConfig",
                      "subliminal_gym.baselines.reproduce.report.render_report"],
        "leaderboards": ["subliminal_gym.leaderboards.scorer.score_submission",
                         "subliminal_gym.leaderboards.schema.schema_problems",
                         "subliminal_gym.leaderboards.render.render_boards"],
    }
    for page, identifiers in expected.items():
        html = (site / "api" / page / "index.html").read_text()
        for identifier in identifiers:
            assert f'id="{identifier}"' in html, identifier
        assert ":class:`" not in html and ":func:`" not in html  # Sphinx roles became links or code


def test_leaderboards_page_shows_every_entry_on_the_boards(site: Path) -> None:
    text = _text(site / "leaderboards" / "index.html")
    for board in ("agents", "defences"):
        table = (ROOT / "leaderboards" / board / "table.md").read_text()
        names = re.findall(r"^\| (?:\[)?([\w.-]+)", table, re.MULTILINE)
        entries = [n for n in names if n != "entry"]
        assert entries, f"no entries found in {board}/table.md"
        for name in entries:
            assert name in text, (board, name)


def test_the_course_notebooks_are_pages_of_the_site(site: Path) -> None:
    """Each notebook is rendered as a page (its prose and its code, as stored: clean), with its .ipynb beside it
    to download, and the lecture notes link to those pages."""
    import nbformat

    notebooks = sorted((DOCS / "course").glob("*.ipynb"))
    assert len(notebooks) == 6
    for notebook in notebooks:
        page = site / "course" / notebook.stem / "index.html"
        assert page.is_file(), notebook.name
        text = " ".join(_text(page).split())
        cells = nbformat.read(notebook, as_version=4).cells
        heading = next(c.source for c in cells if c.cell_type == "markdown").splitlines()[0].lstrip("# ").strip()
        code = next(c.source for c in cells if c.cell_type == "code").splitlines()[0]
        assert heading in text and " ".join(code.split()) in text, notebook.name
        assert (site / "course" / notebook.stem / notebook.name).is_file()  # the download
    lecture = (site / "course" / "lecture" / "index.html").read_text()
    assert 'href="../02_distil_a_biased_teacher/"' in lecture


def test_reproduction_report_and_figure_are_on_the_site(site: Path) -> None:
    assert (site / "results" / "reproduce" / "figure.png").is_file()
    report = _text(site / "results" / "reproduce" / "REPORT" / "index.html")
    assert "homogeneous, large → large" in report
    assert 'src="../results/reproduce/figure.png"' in (site / "reproduce" / "index.html").read_text()


# -- the code in the pages ----------------------------------------------------------------------


def test_every_bash_block_is_run_or_marked_with_a_reason() -> None:
    from subliminal_gym.cli import build_parser

    parser = build_parser()
    run = skipped = 0
    for page in PAGES:
        for block in code_blocks(page):
            if block.lang in ("bash", "sh", "shell", "console"):
                if block.skip_reason is not None:
                    skipped += 1
                    continue
                commands = cli_lines(block)
                assert commands, f"{block.where}: an unmarked bash block with no command"
                for argv in commands:
                    args = parser.parse_args(argv)  # exits (fails the test) on a command that does not parse
                    assert args.command != "play", f"{block.where}: `play` is interactive; mark the block"
                run += 1
            else:
                assert block.skip_reason is None or block.lang == "python", (
                    f"{block.where}: a skip marker above a {block.lang or 'plain'} block that is never run")
    assert run >= 3 and skipped >= 3


def test_the_marker_is_recognised_only_right_above_a_block(tmp_path: Path) -> None:
    page = tmp_path / "page.md"
    page.write_text("<!-- docs-test: skip (slow) -->\n```bash\nmake demo\n```\n\n"
                    "<!-- docs-test: skip () -->\n```bash\nmake demo\n```\n\n"
                    "<!-- docs-test: skip (slow) -->\ntext between\n```bash\nmake demo\n```\n")
    blocks = code_blocks(page)
    assert [b.skip_reason for b in blocks] == ["slow", None, None]
    with pytest.raises(AssertionError, match="not a subliminal-gym command"):
        cli_lines(Block(page, 1, "bash", "make demo\n", None))
    assert cli_lines(Block(page, 1, "bash", "subliminal-gym demo --episodes 2 \\\n   --setting fs  # note\n", None)) \
        == [["demo", "--episodes", "2", "--setting", "fs"]]


@pytest.mark.parametrize("page", [p for p in PAGES if any(b.lang in ("python", "bash") for b in code_blocks(p))],
                         ids=page_id)
def test_code_blocks_of_a_page_run(page: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from subliminal_gym.cli import main

    monkeypatch.chdir(tmp_path)
    namespace: dict[str, object] = {"__name__": f"docs_{page.stem}"}
    for block in code_blocks(page):
        if block.skip_reason is not None or block.lang not in ("python", "bash"):
            continue
        if block.lang == "python":
            code = compile(block.body, block.where, "exec")
            with contextlib.redirect_stdout(io.StringIO()):
                exec(code, namespace)  # the docs' own code, from this repository
        else:
            for argv in cli_lines(block):
                with contextlib.redirect_stdout(io.StringIO()) as out:
                    status = main(argv)
                command = shlex.join(argv)
                assert status == 0, f"{block.where}: subliminal-gym {command} exited {status}\n{out.getvalue()}"


def test_wide_tables_are_not_squeezed_into_the_themes_text_column(site: Path) -> None:
    """The reports' tables (a dozen columns) need the width: every page loads the stylesheet that lifts the
    theme's 800 px cap and lets table cells wrap."""
    css = (site / "css" / "wide.css").read_text()
    assert "max-width: 1400px" in css and "white-space: normal" in css
    for page in ("index.html", "reproduce/index.html", "leaderboards/index.html"):
        html = (site / page).read_text()
        assert 'href="../css/wide.css"' in html or 'href="css/wide.css"' in html, page
