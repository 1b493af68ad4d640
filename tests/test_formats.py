"""Reading .docx, .epub, .html/.htm and .md files that the tests make with the libraries that
write them (python-docx, ebooklib) or by hand, through the run's entry points (read_documents,
iter_chunks): the text that comes out, headings as sections and as each chunk's context, no
markup, EPUB chapters in spine order, and the converter CLI on the same files."""

from __future__ import annotations

import io
import subprocess
import sys
from pathlib import Path

import docx
import pytest
from docx.enum.style import WD_STYLE_TYPE
from ebooklib import epub

from augmentoolkit.control_flow_functions.chunking import (
    InputDocument,
    count_tokens,
    iter_chunks,
    read_documents,
    split_sentences,
)
from augmentoolkit.control_flow_functions.formats import SUPPORTED_SUFFIXES, as_text
from augmentoolkit.control_flow_functions.inputs import list_input_files
from augmentoolkit.control_flow_functions.markup import Section, docx_sections
from augmentoolkit.records import Chunk

REPO = Path(__file__).resolve().parents[1]
MARKUP_WORDS = ("<", ">", "script", "alert", "color:", "{", "Menu", "**", "](", "```")


def read_one(path: Path) -> tuple[InputDocument, list[str]]:
    warnings: list[str] = []
    docs = read_documents(path.parent, warnings.append)
    assert [d.path for d in docs] == [path]
    return docs[0], warnings


def chunks_of(doc: InputDocument, max_tokens: int = 400) -> list[Chunk]:
    return list(iter_chunks([doc], max_tokens))


def headings_and_texts(doc: InputDocument) -> list[tuple[tuple[str, ...], str]]:
    return [(section.headings, section.text) for section in doc.sections]


def assert_no_markup(text: str) -> None:
    leaked = [word for word in MARKUP_WORDS if word in text]
    assert not leaked, (leaked, text)


# --------------------------------------------------------------------------- .docx


def make_docx(path: Path) -> Path:
    document = docx.Document()
    document.add_heading("Field Guide", 0)  # the "Title" style
    document.add_paragraph("Read this first.")
    document.add_heading("Bees", 1)
    para = document.add_paragraph("Bees keep the hive ")
    para.add_run("warm").bold = True
    para.add_run(" in winter.")
    document.add_heading("Workers", 2)
    document.add_paragraph("Workers forage for nectar.")
    table = document.add_table(rows=2, cols=3)
    for column, value in enumerate(["Caste", "Count", "Role"]):
        table.cell(0, column).text = value
    table.cell(1, 0).merge(table.cell(1, 1)).text = "Drones, a few hundred"
    table.cell(1, 2).text = "Mating"
    custom = document.styles.add_style("Chapter Heading", WD_STYLE_TYPE.PARAGRAPH)
    custom.base_style = document.styles["Heading 1"]
    document.add_paragraph("Wasps", style="Chapter Heading")
    document.add_paragraph("Wasps hunt other insects.")
    document.save(str(path))
    return path


def test_docx_paragraphs_tables_and_headings(tmp_path: Path) -> None:
    doc, warnings = read_one(make_docx(tmp_path / "guide.docx"))
    assert warnings == []
    assert headings_and_texts(doc) == [
        (("Field Guide",), "Read this first."),
        (("Field Guide", "Bees"), "Bees keep the hive warm in winter."),
        (("Field Guide", "Bees", "Workers"),
         "Workers forage for nectar.\n\nCaste Count Role\n\nDrones, a few hundred Mating"),
        (("Field Guide", "Wasps"), "Wasps hunt other insects."),  # a style based on Heading 1
    ]  # fmt: skip
    assert doc.text.startswith("# Field Guide\n\nRead this first.\n\n## Bees\n\nBees keep")
    assert [c.text for c in chunks_of(doc)] == [
        "Field Guide. Read this first.",
        "Field Guide > Bees. Bees keep the hive warm in winter.",
        "Field Guide > Bees > Workers. Workers forage for nectar. Caste Count Role "
        "Drones, a few hundred Mating",
        "Field Guide > Wasps. Wasps hunt other insects.",
    ]


def test_docx_sections_reads_bytes_and_refuses_non_docx() -> None:
    buffer = io.BytesIO()
    document = docx.Document()
    document.add_paragraph("Only a line.")
    document.save(buffer)
    assert docx_sections(buffer.getvalue()) == [Section((), "Only a line.")]
    with pytest.raises(Exception, match="zip"):
        docx_sections(b"plain text, not a zip")


# --------------------------------------------------------------------------- .epub


def make_epub(path: Path) -> Path:
    book = epub.EpubBook()
    book.set_identifier("test-book-1")
    book.set_title("Three Chapters")
    book.set_language("en")
    style = epub.EpubItem(
        uid="style", file_name="style.css", media_type="text/css", content=b"p {color: red}"
    )
    book.add_item(style)
    chapters = {}
    bodies = {
        "one": "<h1>Chapter One</h1><p>The first chapter opens here.</p>"
        "<script>alert('no')</script><style>p {color: red}</style>",
        "two": "<h1>Chapter Two</h1><h2>A Scene</h2><p>The second chapter &amp; its scene.</p>",
        "three": "<p>A chapter file with no heading of its own.</p>",
    }
    for name in ("three", "two", "one"):  # manifest order differs from reading order
        chapter = epub.EpubHtml(title=name, file_name=f"{name}.xhtml", lang="en")
        chapter.content = bodies[name]
        chapter.add_item(style)
        book.add_item(chapter)
        chapters[name] = chapter
    book.toc = [chapters["one"], chapters["two"], chapters["three"]]
    book.add_item(epub.EpubNcx())
    book.add_item(epub.EpubNav())
    book.spine = ["nav", chapters["one"], chapters["two"], chapters["three"]]
    epub.write_epub(str(path), book)
    return path


def test_epub_chapters_in_spine_order_without_markup(tmp_path: Path) -> None:
    doc, warnings = read_one(make_epub(tmp_path / "book.epub"))
    assert warnings == []
    assert headings_and_texts(doc) == [
        (("Chapter One",), "The first chapter opens here."),
        (("Chapter Two", "A Scene"), "The second chapter & its scene."),
        # a new chapter file starts a new section; the heading path carries over
        (("Chapter Two", "A Scene"), "A chapter file with no heading of its own."),
    ]
    assert_no_markup(doc.text)
    assert "Three Chapters" not in doc.text  # the navigation document is not read
    texts = [c.text for c in chunks_of(doc)]
    assert texts[1] == "Chapter Two > A Scene. The second chapter & its scene."
    assert len(texts) == 3


# --------------------------------------------------------------------------- .html / .htm

PAGE = """<!DOCTYPE html>
<html><head><title>Page title</title><style>body {color: red}</style>
<script>alert("head")</script></head>
<body><nav><a href="/">Menu</a> <a href="/about">About</a></nav>
<h1>Hive <em>Care</em></h1>
<p>Check the hive <b>every</b> week.<!-- a comment -->Wear gloves &amp; a veil.</p>
<script>alert("body")</script>
<div>Smoke calms bees.<br>It masks their alarm scent.</div>
<h2>Tools</h2>
<ul><li>Hive tool</li><li>Smoker</li></ul>
<table><tr><th>Tool</th><th>Use</th></tr><tr><td>Brush</td><td>Moves bees</td></tr></table>
<pre>step 1: open
step 2: look</pre>
</body></html>
"""


def test_html_text_without_markup_and_headings_as_sections(tmp_path: Path) -> None:
    path = tmp_path / "care.html"
    path.write_text(PAGE, encoding="utf-8")
    doc, warnings = read_one(path)
    assert warnings == []
    assert headings_and_texts(doc) == [
        (("Hive Care",), "Check the hive every week.Wear gloves & a veil.\n\n"
         "Smoke calms bees. It masks their alarm scent."),
        (("Hive Care", "Tools"),
         "Hive tool\n\nSmoker\n\nTool Use\n\nBrush Moves bees\n\nstep 1: open\n\nstep 2: look"),
    ]  # fmt: skip
    assert_no_markup(doc.text)
    assert "Page title" not in doc.text and "About" not in doc.text


def test_htm_suffix_and_declared_charset(tmp_path: Path) -> None:
    page = '<html><head><meta charset="windows-1251"></head><body><p>Пчёлы спят.</p></body></html>'
    path = tmp_path / "legacy.htm"
    path.write_bytes(page.encode("cp1251"))
    doc, warnings = read_one(path)
    assert warnings == []  # the page said which encoding it uses: no guess to report
    assert doc.text == "Пчёлы спят."


def test_html_of_only_markup_is_skipped_with_a_line(tmp_path: Path) -> None:
    (tmp_path / "empty.html").write_text("<html><script>x()</script><p> </p></html>")
    (tmp_path / "good.html").write_text("<p>Some words.</p>")
    warnings: list[str] = []
    docs = read_documents(tmp_path, warnings.append)
    assert [d.path.name for d in docs] == ["good.html"]
    assert warnings == [f"{tmp_path / 'empty.html'}: skipped, it holds no text (empty, or only "
                        "markup and headings)."]  # fmt: skip


# --------------------------------------------------------------------------- .md

MARKDOWN = """---
title: front matter is dropped
---
An opening line before any heading.

# Install

Use the *installer* from [the site](https://example.com/get) ![logo](logo.png "Logo").

## On Linux

Run `make install` as **root**.
Then log out.

```sh
# not a heading
make install
```

Setext Heading
==============

| Option | Meaning |
| ------ | ------- |
| -v     | verbose |

<div class="note">An <span>HTML</span> note.</div>
"""


def test_markdown_headings_are_sections_and_markup_is_gone(tmp_path: Path) -> None:
    path = tmp_path / "guide.md"
    path.write_text(MARKDOWN, encoding="utf-8")
    doc, warnings = read_one(path)
    assert warnings == []
    assert headings_and_texts(doc) == [
        ((), "An opening line before any heading."),
        (("Install",), "Use the installer from the site logo."),
        (("Install", "On Linux"),
         "Run make install as root. Then log out.\n\n# not a heading\n\nmake install"),
        (("Setext Heading",), "Option Meaning\n\n-v verbose\n\nAn HTML note."),
    ]  # fmt: skip
    assert "front matter" not in doc.text and "example.com" not in doc.text


def test_each_heading_starts_a_chunk_with_its_path_as_context(tmp_path: Path) -> None:
    long_section = " ".join(f"Sentence number {n} is here." for n in range(40))
    path = tmp_path / "long.md"
    path.write_text(f"# Guide\n\nShort intro.\n\n## Install\n\n{long_section}\n\n# End\n\nBye.")
    doc, _ = read_one(path)
    chunks = chunks_of(doc, 60)
    assert chunks[0].text == "Guide. Short intro."
    install = [c for c in chunks if c.text.startswith("Guide > Install. ")]
    assert len(install) > 3  # the long section spans several chunks, each with its context
    assert " ".join(c.text.removeprefix("Guide > Install. ") for c in install) == long_section
    assert chunks[-1].text == "End. Bye."
    for chunk in chunks:
        assert chunk.tokens == count_tokens(chunk.text) <= 60
        assert split_sentences(chunk.text)[0] in ("Guide.", "Guide > Install.", "End.")
    assert [c.index for c in chunks] == list(range(len(chunks)))


def test_a_long_heading_path_keeps_the_inner_headings_that_fit(tmp_path: Path) -> None:
    outer = "A very long outer heading with a great many words in it for sure"
    path = tmp_path / "deep.md"
    path.write_text(f"# {outer}\n\n## Inner\n\nText under the inner heading.")
    doc, _ = read_one(path)
    assert chunks_of(doc, 400)[0].text == f"{outer} > Inner. Text under the inner heading."
    # at 40 tokens the context may take 10: the outer heading is dropped; at 4 it may take 1,
    # and even "Inner." (2) is too long
    assert chunks_of(doc, 40)[0].text == "Inner. Text under the inner heading."
    assert chunks_of(doc, 4)[0].text.startswith("Text under")


def test_as_text_writes_headings_as_markdown_lines() -> None:
    sections = [Section(("A", "B"), "x"), Section(("A", "B"), "y"), Section(("C",), "z")]
    assert as_text(sections) == "# A\n\n## B\n\nx\n\ny\n\n# C\n\nz"
    assert as_text("plain") == "plain"


# --------------------------------------------------------------------------- listing and CLI


def test_every_format_is_listed(tmp_path: Path) -> None:
    assert set(SUPPORTED_SUFFIXES) == {
        ".txt", ".md", ".jsonl", ".pdf", ".docx", ".html", ".htm", ".epub"
    }  # fmt: skip
    for suffix in SUPPORTED_SUFFIXES:
        (tmp_path / f"file{suffix.upper()}").write_text("x")
    (tmp_path / "file.rtf").write_text("x")
    assert len(list_input_files(tmp_path)) == len(SUPPORTED_SUFFIXES)


def test_converter_cli_reads_the_same_formats(tmp_path: Path) -> None:
    src = tmp_path / "src"
    src.mkdir()
    make_docx(src / "guide.docx")
    make_epub(src / "book.epub")
    (src / "care.html").write_text(PAGE, encoding="utf-8")
    (src / "notes.md").write_text(MARKDOWN, encoding="utf-8")
    (src / "already.txt").write_text("Plain text is left where it is.")
    out = tmp_path / "out"
    proc = subprocess.run(
        [sys.executable, str(REPO / "convert_pdf_to_text.py"), str(src), "--out", str(out)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    names = [line.split()[1] for line in proc.stderr.splitlines()]
    assert names == ["book.epub", "care.html", "guide.docx", "notes.md"]
    written = sorted(p.name for p in out.iterdir())
    assert written == ["book.txt", "care.txt", "guide.txt", "notes.txt"]
    guide = (out / "guide.txt").read_text(encoding="utf-8")
    assert guide.startswith("# Field Guide\n\nRead this first.\n\n## Bees\n\n")
    assert "### Workers\n\nWorkers forage for nectar." in guide
    assert_no_markup((out / "care.txt").read_text(encoding="utf-8"))
