"""OUTPUT/report.html: the run report as one self-contained page. The same tables as
run_report.md, the funnel as bars, the charts inline (base64 PNG), and a searchable list of
conversations next to their source chunk, their QA pairs and each pair's verdicts, then the
dropped pairs with why (both bounded, see report_browse.py).

Self-contained: inline CSS and script, no URL at all, and a Content-Security-Policy that lets
the page load nothing from anywhere. Every text from the data (model replies, source text) is
HTML-escaped into the markup, never put into the script, so it can only ever show as text.
"""

from __future__ import annotations

import base64
from collections.abc import Iterator
from html import escape
from pathlib import Path
from typing import TextIO

from augmentoolkit.control_flow_functions.progress import StageOutcome
from augmentoolkit.io_utils import atomic_text_writer
from augmentoolkit.report_browse import Browse, ConversationView, DroppedView
from augmentoolkit.report_tables import FUNNEL, Table, flat

REPORT_HTML = "report.html"
POLICY = "default-src 'none'; img-src data:; style-src 'unsafe-inline'; script-src 'unsafe-inline'"
STYLE = """
body{font:14px/1.45 system-ui,sans-serif;margin:0 auto;max-width:1200px;padding:1em 2em;color:#222}
h1{margin-bottom:.2em}nav a{margin-right:1em}
table{border-collapse:collapse;margin:.5em 0 1em}td,th{border:1px solid #ccc;padding:2px 8px}
th{background:#f3f3f3}td.r{text-align:right;font-variant-numeric:tabular-nums}
.banner{background:#fff3cd;border:1px solid #e0c060;padding:.5em 1em}
.funnel{display:grid;grid-template-columns:14em 1fr 16em;gap:4px 1em;align-items:center}
.bar{display:flex;height:1.2em;background:#eee}.bar span{display:block;height:100%}
.kept{background:#4c9a5b}.dropped{background:#d9a13b}.failed{background:#c2463d}
figure{display:inline-block;margin:.5em}img{max-width:100%}
#search{font-size:1.1em;width:100%;padding:.4em;box-sizing:border-box;margin:.5em 0}
ol.rows{padding-left:2.5em}ol.rows>li{margin:.3em 0}summary{cursor:pointer}
.cols{display:grid;grid-template-columns:1fr 1fr 1fr;gap:1em;margin:.5em 0 1em}
.text,.turn,.q,.a{white-space:pre-wrap;overflow-wrap:anywhere;margin:.2em 0}
.chunk .text{background:#f7f7f2;padding:.5em;max-height:30em;overflow:auto}
.q{font-weight:600}.verdicts{color:#555;font-size:.92em}.human b{color:#1d5fa8}.gpt b{color:#2f7d3b}
"""
SCRIPT = """
(() => {
  const input = document.getElementById('search');
  const lists = Array.from(document.querySelectorAll('ol.rows')).map(list => ({
    count: document.getElementById(list.dataset.count),
    rows: Array.from(list.children).map(row => [row, row.textContent.toLowerCase()]),
  }));
  function filter() {
    const words = input.value.toLowerCase().split(/\\s+/).filter(Boolean);
    for (const list of lists) {
      let shown = 0;
      for (const [row, text] of list.rows) {
        row.hidden = !words.every(word => text.includes(word));
        if (!row.hidden) shown += 1;
      }
      list.count.textContent = shown + ' of ' + list.rows.length + ' shown';
    }
    document.body.dataset.query = input.value;
  }
  input.addEventListener('input', filter);
  filter();
})();
"""


def write_html_report(
    output: Path,
    banner: str,
    tables: list[Table],
    funnel: list[StageOutcome],
    charts: list[Path],
    browse: Browse,
    conversations: int,
) -> Path:
    """Write OUTPUT/report.html, streamed (the lists are written row by row); its path.
    `conversations` is how many the dataset holds, of which `browse` lists the first."""
    path = output / REPORT_HTML
    with atomic_text_writer(path) as out:
        out.write(_head())
        if banner:
            out.write(f'<p class="banner">{escape(banner)}</p>\n')
        out.write(_nav(tables))
        for table in tables:
            out.write(_table(table))
            if table.title == FUNNEL:
                out.write(_funnel(funnel))
        out.write(_charts(charts))
        _write_lists(out, browse, conversations)
        out.write(f"<script>{SCRIPT}</script>\n</body>\n</html>\n")
    return path


def _head() -> str:
    return (
        '<!doctype html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n'
        f'<meta http-equiv="Content-Security-Policy" content="{POLICY}">\n'
        '<meta name="viewport" content="width=device-width, initial-scale=1">\n'
        '<link rel="icon" href="data:,">\n'
        f"<title>Augmentoolkit run report</title>\n<style>{STYLE}</style>\n</head>\n<body>\n"
        "<h1>Run report</h1>\n"
    )


def _anchor(title: str) -> str:
    return "".join(c if c.isalnum() else "-" for c in title.lower()).strip("-")


def _nav(tables: list[Table]) -> str:
    titles = [*(t.title for t in tables), "Charts", "Conversations", "Dropped pairs"]
    links = "".join(f'<a href="#{_anchor(t)}">{escape(t)}</a>' for t in titles)
    return f"<nav>{links}</nav>\n"


def _funnel(outcomes: list[StageOutcome]) -> str:
    rows = []
    for o in outcomes:
        parts = (("kept", o.kept), ("dropped", o.dropped), ("failed", o.failed))
        whole = max(o.items_in, sum(n for _, n in parts), 1)
        spans = "".join(
            f'<span class="{kind}" style="width:{100 * n / whole:.2f}%" title="{kind} {n}"></span>'
            for kind, n in parts
        )
        label = f"{o.items_in} in: {o.kept} kept, {o.dropped} dropped, {o.failed} failed"
        rows.append(f'<div>{escape(o.stage)}</div><div class="bar">{spans}</div><div>{label}</div>')
    legend = (
        '<p><span class="kept">&nbsp;&nbsp;</span> kept <span class="dropped">&nbsp;&nbsp;</span>'
        ' dropped <span class="failed">&nbsp;&nbsp;</span> failed</p>'
    )
    return f'{legend}\n<div class="funnel">{"".join(rows)}</div>\n'


def _table(table: Table) -> str:
    head = "".join(f"<th>{escape(c)}</th>" for c in table.columns)
    body = "".join(
        "<tr>"
        + "".join(
            f'<td class="{a}">{escape(flat(cell))}</td>'
            for a, cell in zip(table.align, row, strict=True)
        )
        + "</tr>\n"
        for row in table.rows
    )
    note = f"<p>{escape(table.note)}</p>\n" if table.note else ""
    title = f'<h2 id="{_anchor(table.title)}">{escape(table.title)}</h2>\n'
    return f"{title}<table>\n<tr>{head}</tr>\n{body}</table>\n{note}"


def _charts(charts: list[Path]) -> str:
    figures = []
    for chart in charts:
        data = base64.b64encode(chart.read_bytes()).decode("ascii")
        alt = escape(chart.stem.replace("_", " "))
        figures.append(f'<figure><img alt="{alt}" src="data:image/png;base64,{data}"></figure>')
    return '<h2 id="charts">Charts</h2>\n' + "\n".join(figures) + "\n"


def _write_lists(out: TextIO, browse: Browse, conversations: int) -> None:
    listed = len(browse.conversations)
    out.write(
        '<h2 id="conversations">Conversations</h2>\n'
        f"<p>The first {listed} of the dataset's {conversations} conversations, in chunk order "
        f"(report.html lists at most {browse.limit}; every one is in master_list.jsonl). Open a "
        "row for its source chunk, its QA pairs with their verdicts, and the conversation. The "
        "search box filters both lists: rows holding every word typed stay.</p>\n"
        '<input id="search" type="search" autocomplete="off" '
        'placeholder="Search conversations, chunks, pairs, verdicts, files">\n'
    )
    _write_rows(out, "conversations", (_conversation(c) for c in browse.conversations))
    out.write(
        '<h2 id="dropped-pairs">Dropped pairs</h2>\n'
        f"<p>Pairs a pair stage dropped, with its reasons: {len(browse.dropped)} listed, from the "
        f"chunks read for the list above (at most {browse.dropped_limit}).</p>\n"
    )
    _write_rows(out, "dropped", (_dropped(d) for d in browse.dropped))


def _write_rows(out: TextIO, name: str, rows: Iterator[str]) -> None:
    out.write(
        f'<p id="{name}-shown"></p>\n<ol class="rows" id="{name}" data-count="{name}-shown">\n'
    )
    for row in rows:
        out.write(row)
    out.write("</ol>\n")


def _chunk(source: str, chunk_id: str, text: str) -> str:
    return (
        f'<div class="chunk"><h4>Source chunk</h4><p>{escape(source)}, chunk '
        f'<code>{escape(chunk_id)}</code></p><p class="text">{escape(text)}</p></div>'
    )


def _conversation(view: ConversationView) -> str:
    pairs = "".join(
        f'<li><p class="q">{escape(p.question)}</p><p class="a">{escape(p.answer)}</p>'
        f'<ul class="verdicts">{"".join(f"<li>{escape(v)}</li>" for v in p.verdicts)}</ul></li>'
        for p in view.pairs
    )
    turns = "".join(
        f'<p class="turn {escape(role)}"><b>{escape(speaker)}:</b> {escape(text)}</p>'
        for speaker, role, text in view.turns
    )
    first = view.pairs[0].question if view.pairs else ""
    count = f"{len(view.pairs)} pair{'' if len(view.pairs) == 1 else 's'}"
    summary = f"{view.source} · chunk {view.chunk_id} · {count} · {first}"
    return (
        f'<li><details><summary>{escape(summary)}</summary><div class="cols">'
        f"{_chunk(view.source, view.chunk_id, view.chunk)}"
        f'<div class="pairs"><h4>QA pairs and verdicts</h4><ol>{pairs}</ol></div>'
        f'<div class="turns"><h4>Conversation</h4>{turns}</div></div></details></li>\n'
    )


def _dropped(view: DroppedView) -> str:
    reasons = "".join(f"<li>{escape(r)}</li>" for r in view.reasons)
    summary = f"{view.source} · chunk {view.chunk_id} · dropped by {view.stage} · {view.question}"
    return (
        f'<li><details><summary>{escape(summary)}</summary><div class="cols">'
        f"{_chunk(view.source, view.chunk_id, view.chunk)}"
        f'<div class="pairs"><h4>The pair</h4><p class="q">{escape(view.question)}</p>'
        f'<p class="a">{escape(view.answer)}</p></div>'
        f'<div class="verdicts"><h4>Why {escape(view.stage)} dropped it</h4><ul>{reasons}</ul>'
        "</div></div></details></li>\n"
    )
