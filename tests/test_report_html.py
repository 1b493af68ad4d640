"""report.html after a real run on the scripted server, opened in a real headless Chromium
(tests/browser.py): it loads with no console error and no request beyond itself, shows the same
tables as run_report.md, lists every conversation with its chunk, pairs and verdicts and every
dropped pair with why, and its search box filters the rows as a person types. Text from the data
that looks like markup or script stays text. A screenshot of the page is kept in
tests/artifacts/ (git-ignored; $AUGMENTOOLKIT_TEST_ARTIFACTS moves it), with the page itself.

Without a Chromium the browser tests are skipped, saying how to get one; the checks of the file
itself run anyway."""

from __future__ import annotations

import asyncio
import json
import os
import re
import shutil
from collections.abc import Iterator
from html.parser import HTMLParser
from pathlib import Path

import pytest

from augmentoolkit.control_flow_functions.progress import StageOutcome
from augmentoolkit.generation_functions.engine_wrapper import ModelUsage
from augmentoolkit.pipeline import run_pipeline
from augmentoolkit.report import write_run_report
from augmentoolkit.report_browse import Browse, ConversationView, DroppedView, PairView
from augmentoolkit.report_charts import CHART_NAMES
from augmentoolkit.report_counts import ChartCounts
from augmentoolkit.report_html import REPORT_HTML
from tests.browser import Browser, Page, find_browser
from tests.conftest import REPO, ConfigFactory
from tests.fake_model import reply
from tests.llm_server import ScriptedLLMServer
from tests.test_pipeline import read_jsonl, sample_config

ARTIFACTS = Path(os.environ.get("AUGMENTOOLKIT_TEST_ARTIFACTS", REPO / "tests" / "artifacts"))
NO_BROWSER = (
    "no Chromium on PATH: install Debian's `chromium` package (scripts/install does where "
    "apt-get is available) or point $AUGMENTOOLKIT_CHROMIUM at one"
)
HOSTILE = '</script><script>window.pwned = 1</script><img src=x onerror="window.pwned = 2">"\'&'
KEPT_REPAIRS = ("pass", "reworded")


@pytest.fixture(scope="module")
def browser(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Browser]:
    executable = find_browser()
    if executable is None:
        pytest.skip(NO_BROWSER)
    folder = tmp_path_factory.mktemp("chromium")
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    started = Browser(executable, folder / "profile", ARTIFACTS / "chromium.log")
    yield started
    started.close()


def keep(path: Path, name: str) -> Path:
    kept = ARTIFACTS / name
    shutil.copyfile(path, kept)
    return kept


def search(page: Page, text: str) -> dict[str, int]:
    """Type into the search box (replacing what it held); the rows each list shows once the
    page has filtered for exactly this text."""
    page.evaluate("document.getElementById('search').select()")
    if text:
        page.type(text)
    else:  # typing nothing fires no event: clear it as the browser's clear button would
        page.evaluate(
            "(i => { i.value = ''; i.dispatchEvent(new Event('input')); })"
            "(document.getElementById('search'))"
        )
    query = json.dumps(text)
    page.evaluate(
        "new Promise(done => { const ready = () => document.body.dataset.query === " + query + ";"
        " if (ready()) return done(); new MutationObserver((_, o) => { if (ready()) "
        "{ o.disconnect(); done(); } }).observe(document.body, {attributes: true}); })"
    )
    return dict(
        page.evaluate(
            "Object.fromEntries(['conversations', 'dropped'].map(id => [id, "
            "document.querySelectorAll('#' + id + ' > li:not([hidden])').length]))"
        )
    )


def elsewhere(page: Page, html: Path) -> list[str]:
    """Requests for anything but the page itself and its inline (data:) images."""
    return [u for u in page.requests() if u != html.as_uri() and not u.startswith("data:")]


def markdown_rows(report: str) -> list[list[str]]:
    """Every body row of every table in run_report.md, as cell texts."""
    rows = []
    for line in report.splitlines():
        if line.startswith("| ") and not re.match(r"\| -+:? \|", line):
            rows.append([c.strip().replace("\\|", "|") for c in line[2:-2].split(" | ")])
    return rows


def html_rows(page: Page) -> list[list[str]]:
    cells = "Array.from(r.cells).map(c => c.textContent)"
    return list(page.evaluate(f"Array.from(document.querySelectorAll('tr')).map(r => {cells})"))


def test_the_report_page_of_a_real_run(
    server: ScriptedLLMServer,
    make_config: ConfigFactory,
    sample_input: Path,
    tmp_path: Path,
    browser: Browser,
) -> None:
    server.set_responder(reply)
    output = tmp_path / "output"
    asyncio.run(run_pipeline(sample_config(make_config, server, sample_input, output)))
    html = output / REPORT_HTML
    conversations = read_jsonl(output / "multi_turn_convs" / "conversations.jsonl")
    validation = read_jsonl(output / "qatuples_validated" / "validation.jsonl")
    repairs = read_jsonl(output / "qatuples_revised" / "repairs.jsonl")
    dropped = sum(not r["kept"] for r in validation) + sum(
        r["verdict"] not in KEPT_REPAIRS for r in repairs
    )

    page = browser.page()
    page.open(html.as_uri())
    assert page.errors() == []
    assert elsewhere(page, html) == []
    report = (output / "run_report.md").read_text(encoding="utf-8")
    shown = html_rows(page)
    for row in markdown_rows(report):
        assert row in shown, row  # every number of the Markdown report, on the page

    total = search(page, "")
    assert total == {"conversations": len(conversations), "dropped": dropped}
    assert 0 < total["conversations"] <= 200
    first_row = "document.querySelector('#conversations > li')"
    text = page.evaluate(f"{first_row}.textContent")
    assert "validate pairs: kept" in text and "repair context: kept" in text
    assert conversations[0]["turns"][0]["text"].strip()[:40] in text

    chunk_id = conversations[0]["plan"]["pairs"][0]["chunk_id"]
    same_chunk = sum(c["plan"]["pairs"][0]["chunk_id"] == chunk_id for c in conversations)
    found = search(page, chunk_id)
    assert found["conversations"] == same_chunk < total["conversations"]
    hidden_rows = "#conversations > li[hidden]"
    assert page.evaluate(f"document.querySelectorAll('{hidden_rows}').length") > 0
    assert search(page, "no such words anywhere qqq") == {"conversations": 0, "dropped": 0}
    assert page.evaluate("document.getElementById('conversations-shown').textContent") == (
        f"0 of {total['conversations']} shown"
    )
    assert search(page, "") == total
    assert page.errors() == []

    page.evaluate(f"{first_row}.querySelector('details').open = true")
    shot = page.screenshot(ARTIFACTS / "report_html.png")
    keep(html, "report.html")
    print(f"screenshot of report.html: {shot}")
    assert shot.read_bytes().startswith(b"\x89PNG")


def hostile_report(output: Path) -> Path:
    """A report whose every text field from the data is markup or script."""
    pair = PairView(HOSTILE, HOSTILE, (f"validate pairs: kept ({HOSTILE})",))
    turns = ((HOSTILE, "human", HOSTILE), ("Model", "gpt", HOSTILE))
    conversation = ConversationView("c1", f"{HOSTILE}.txt", "abc", HOSTILE, (pair,), turns)
    dropped = DroppedView("x.txt", "abc", HOSTILE, HOSTILE, HOSTILE, "validate pairs", (HOSTILE,))
    outcome = StageOutcome("judge chunks", items_in=2, kept=1, dropped=1)
    outcome.drop(HOSTILE)
    usage = {"small-model": ModelUsage(requests=1, prompt_tokens=1, completion_tokens=1)}
    browse = Browse([conversation], [dropped])
    write_run_report(output, [outcome], usage, {}, {}, ChartCounts(), HOSTILE, None, browse)
    return output / REPORT_HTML


class Tags(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.tags: list[tuple[str, dict[str, str | None]]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))


def test_the_file_is_self_contained_and_escaped(tmp_path: Path) -> None:
    html = hostile_report(tmp_path).read_text(encoding="utf-8")
    parser = Tags()
    parser.feed(html)
    assert [tag for tag, _ in parser.tags].count("script") == 1
    assert [tag for tag, _ in parser.tags].count("img") == len(CHART_NAMES)
    for _, attrs in parser.tags:
        for name in ("src", "href"):
            assert (attrs.get(name) or "#").startswith(("data:", "#")), attrs
        assert not any(name.startswith("on") for name in attrs), attrs
    assert HOSTILE not in html and "http://" not in html and "https://" not in html


def test_markup_in_the_data_stays_text_in_the_browser(tmp_path: Path, browser: Browser) -> None:
    html = hostile_report(tmp_path)
    page = browser.page()
    page.open(html.as_uri())
    assert page.errors() == []
    assert page.evaluate("typeof window.pwned") == "undefined"
    assert page.evaluate("document.scripts.length") == 1
    row = page.evaluate("document.querySelector('#conversations > li').textContent")
    assert row.count(HOSTILE) >= 4  # chunk, question, answer, turns: shown as written
    assert HOSTILE in page.evaluate("document.querySelector('.banner').textContent")
    assert search(page, "pwned = 2") == {"conversations": 1, "dropped": 1}
    assert elsewhere(page, html) == []
