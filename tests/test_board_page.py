"""The leaderboards page in a real headless browser: Debian's chromium and its chromedriver, driven with
Selenium (``make test-browser``, the browser profile). The committed ``leaderboards/index.html`` is served
from 127.0.0.1 as a user's browser would get it; its numeric columns sort as numbers (a rate an env does
not audit sorts last both ways), the board and env filters show exactly the rows they name, and every
link on the page resolves."""

from __future__ import annotations

import functools
import http.server
import json
import re
import shutil
import threading
import urllib.parse
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
from selenium import webdriver
from selenium.webdriver.chrome.options import Options
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import Select

from subliminal_gym.leaderboards.render import board_rows

ROOT = Path(__file__).resolve().parents[1]
BOARDS = ROOT / "leaderboards"
FS, BASH = "SubliminalFS-v0", "SubliminalBash-v0"


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: object) -> None:  # noqa: A002  (the base class's name)
        pass


@pytest.fixture(scope="module")
def site() -> Iterator[str]:
    """The boards folder served over HTTP on 127.0.0.1 (any free port)."""
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(_QuietHandler,
                                                                                 directory=str(BOARDS)))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/"
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture(scope="module")
def browser(site: str) -> Iterator[webdriver.Chrome]:
    options = Options()
    options.binary_location = shutil.which("chromium") or ""
    for argument in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                     "--window-size=1600,1200"):
        options.add_argument(argument)
    driver = webdriver.Chrome(service=Service(shutil.which("chromedriver") or ""), options=options)
    try:
        yield driver
    finally:
        driver.quit()


@pytest.fixture
def page(browser: webdriver.Chrome, site: str) -> webdriver.Chrome:
    browser.get(site + "index.html")  # a fresh load: no sorting or filter left from another test
    return browser


def table(driver: webdriver.Chrome, board: str):
    return driver.find_element(By.CSS_SELECTOR, f'section[data-board="{board}"] table.board')


def header_index(driver: webdriver.Chrome, board: str, name: str) -> int:
    names = [th.text.rstrip(" ▲▼") for th in table(driver, board).find_elements(By.TAG_NAME, "th")]
    return names.index(name)


def column(driver: webdriver.Chrome, board: str, name: str) -> list[str]:
    """The shown text of column ``name``, top to bottom, of the rows on display."""
    index = header_index(driver, board, name)
    rows = table(driver, board).find_elements(By.CSS_SELECTOR, "tbody tr")
    return [row.find_elements(By.TAG_NAME, "td")[index].text for row in rows if row.is_displayed()]


def click_header(driver: webdriver.Chrome, board: str, name: str) -> None:
    table(driver, board).find_elements(By.TAG_NAME, "th")[header_index(driver, board, name)].click()


def leading_number(text: str) -> float:
    return float(re.match(r"[+-]?\d+(\.\d+)?", text).group(0))  # type: ignore[union-attr]


@pytest.mark.parametrize(("board", "name"), [("agents", "probe success"), ("agents", "habit (primary)"),
                                             ("defences", "defence score"),
                                             ("defences", "reduction vs no defence, pp [95 % CI]")])
def test_numeric_columns_sort_as_numbers_both_ways(page, board, name):
    if name == "habit (primary)":  # "chmod first 12.0 [..]": the number after the label
        def value(text: str) -> float:
            return leading_number(text.split(" ", 2)[-1])
    else:
        value = leading_number
    click_header(page, board, name)
    ascending = [value(t) for t in column(page, board, name)]
    assert ascending == sorted(ascending) and len(set(ascending)) > 1
    click_header(page, board, name)
    descending = [value(t) for t in column(page, board, name)]
    assert descending == sorted(ascending, reverse=True)


def test_a_sort_by_text_would_differ_on_the_committed_board(page):
    """The check above can fail: on the committed board, ordering the shown probe-success texts as text
    puts 100.0 before the smaller rates, where the page puts it last."""
    click_header(page, "agents", "probe success")
    shown = column(page, "agents", "probe success")
    assert sorted(shown) != shown


def test_a_rate_an_env_does_not_audit_sorts_last_both_ways(page):
    for _ in range(2):
        click_header(page, "agents", "chmod first")
        shown = column(page, "agents", "chmod first")
        missing = [t == "—" for t in shown]
        assert any(missing) and not all(missing)
        assert missing == sorted(missing)  # False (a value) before True (none)
        envs = column(page, "agents", "env")
        assert all(env == FS for env, m in zip(envs, missing, strict=True) if m)


def test_the_filters_show_exactly_the_rows_they_name(page):
    counts = {env: sum(row[2] == env for row in board_rows(BOARDS, "agents")[1]) for env in (FS, BASH)}
    assert all(counts.values())
    env_filter = Select(page.find_element(By.ID, "env-filter"))
    for env in (BASH, FS):
        env_filter.select_by_value(env)
        assert column(page, "agents", "env") == [env] * counts[env]
        assert set(column(page, "defences", "env")) <= {env}
    env_filter.select_by_value("")
    assert len(column(page, "agents", "env")) == sum(counts.values())
    board_filter = Select(page.find_element(By.ID, "board-filter"))
    board_filter.select_by_value("defences")
    assert not page.find_element(By.CSS_SELECTOR, 'section[data-board="agents"]').is_displayed()
    assert page.find_element(By.CSS_SELECTOR, 'section[data-board="defences"]').is_displayed()
    board_filter.select_by_value("agents")
    assert not page.find_element(By.CSS_SELECTOR, 'section[data-board="defences"]').is_displayed()
    env_filter.select_by_value(BASH)  # both at once
    assert column(page, "agents", "env") == [BASH] * counts[BASH]


def test_every_link_on_the_page_resolves(page, site):
    links = [a.get_attribute("href") for a in page.find_elements(By.TAG_NAME, "a")]
    local = [link for link in links if link.startswith(site)]
    rows = sum(len(board_rows(BOARDS, board)[1]) for board in ("agents", "defences"))
    assert len(local) == rows  # every row links to the scores it was rendered from
    for link in local:
        with urllib.request.urlopen(link, timeout=10) as answer:  # noqa: S310  (our own 127.0.0.1 server)
            assert answer.status == 200
            summary = json.loads(answer.read())
        assert summary["name"] == urllib.parse.urlparse(link).path.split("/")[-2]
    for link in set(links) - set(local):  # a submission's paper or code: no network here, so its form only
        assert urllib.parse.urlparse(link).scheme in ("http", "https") and " " not in link, link


def test_the_page_shows_authors_and_one_column_per_habit(page):
    names = [th.text.rstrip(" ▲▼") for th in table(page, "agents").find_elements(By.TAG_NAME, "th")]
    assert {"authors", "deletes first", "ever deletes", "collateral loss", "chmod first", "over-permissive"} <= set(
        names)
    assert set(column(page, "agents", "authors")) == {"subliminal_gym developers"}
