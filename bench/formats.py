"""Reading speed of every input format, on samples generated from the same text.

What: the body of the shipped sample (Simple Sabotage, Gutenberg header and footer removed),
repeated in sections of 20 paragraphs under a heading until it holds about --mb MB of text
(10^6 bytes of UTF-8), is written as .txt, .jsonl (one paragraph per line), .md, .html (with
a <nav>, <script> and <style> to drop), .docx (python-docx), .epub (ebooklib, 10 sections per
chapter) and .pdf (pypdf, 50 lines of 90 characters per page; --pdf-mb, smaller, as pypdf is the
slowest reader). Then each file is read through the run's reader (`documents.read_document`),
and read and chunked (CHUNK_SIZE 400), --reps times in this process; the best time counts.
MB/s is megabytes of extracted text per second, so zipped and unzipped formats compare on the
same footing (the file's own size is in the table too). There is no target: the RESULT lines
are the figures themselves, `RESULT: read_<format> = <MB/s>`.

Run: .venv/bin/python bench/formats.py [--mb 4] [--pdf-mb 1] [--reps 3]
"""

from __future__ import annotations

import argparse
import json
import textwrap
import time
from collections.abc import Callable
from html import escape
from pathlib import Path

import common
import docx
from ebooklib import epub
from pypdf import PdfWriter

from augmentoolkit.control_flow_functions.chunking import iter_chunks
from augmentoolkit.control_flow_functions.documents import read_document
from augmentoolkit.control_flow_functions.formats import strip_gutenberg
from tests.test_pdf import add_text_page

MB = 1_000_000
Sections = list[tuple[str, list[str]]]


def sample_sections(megabytes: float) -> Sections:
    """(heading, 20 paragraphs) pairs of the sample's body, repeated to `megabytes` of text."""
    sample = next(common.SAMPLE_DIR.glob("*.txt")).read_text(encoding="utf-8")
    paragraphs = [" ".join(p.split()) for p in strip_gutenberg(sample).split("\n\n") if p.strip()]
    sections: Sections = []
    size = 0
    while size < megabytes * MB:
        start = 20 * len(sections) % len(paragraphs)
        chosen = (paragraphs * 2)[start : start + 20]
        sections.append((f"Section {len(sections) + 1}", chosen))
        size += sum(len(p.encode("utf-8")) + 2 for p in chosen)
    return sections


def write_txt(path: Path, sections: Sections) -> None:
    path.write_text("\n\n".join(f"{h}\n\n" + "\n\n".join(ps) for h, ps in sections))


def write_jsonl(path: Path, sections: Sections) -> None:
    lines = (json.dumps({"text": p}) for _, ps in sections for p in ps)
    path.write_text("\n".join(lines) + "\n")


def write_md(path: Path, sections: Sections) -> None:
    path.write_text("\n\n".join(f"## {h}\n\n" + "\n\n".join(ps) for h, ps in sections))


def _html_body(sections: Sections) -> str:
    return "".join(
        f"<h2>{escape(h)}</h2>" + "".join(f"<p>{escape(p)}</p>\n" for p in ps) for h, ps in sections
    )


def write_html(path: Path, sections: Sections) -> None:
    head = "<head><title>Sample</title><style>p {margin: 0}</style><script>go()</script></head>"
    nav = "<nav><a href='/'>Home</a></nav>"
    path.write_text(f"<!DOCTYPE html><html>{head}<body>{nav}{_html_body(sections)}</body></html>")


def write_docx(path: Path, sections: Sections) -> None:
    document = docx.Document()
    for heading, paragraphs in sections:
        document.add_heading(heading, 2)
        for paragraph in paragraphs:
            document.add_paragraph(paragraph)
    document.save(str(path))


def write_epub(path: Path, sections: Sections) -> None:
    book = epub.EpubBook()
    book.set_identifier("bench-formats")
    book.set_title("Sample")
    book.set_language("en")
    chapters = []
    for number, start in enumerate(range(0, len(sections), 10), start=1):
        chapter = epub.EpubHtml(title=f"Chapter {number}", file_name=f"c{number}.xhtml")
        chapter.content = f"<h1>Chapter {number}</h1>" + _html_body(sections[start : start + 10])
        book.add_item(chapter)
        chapters.append(chapter)
    book.toc = chapters
    book.add_item(epub.EpubNcx())
    book.add_item(epub.EpubNav())
    book.spine = ["nav", *chapters]
    epub.write_epub(str(path), book)


def write_pdf(path: Path, sections: Sections) -> None:
    lines: list[str] = []
    for heading, paragraphs in sections:
        lines += [heading, ""]
        for paragraph in paragraphs:
            lines += textwrap.wrap(paragraph.encode("ascii", "replace").decode(), 90) + [""]
    writer = PdfWriter()
    for start in range(0, len(lines), 50):
        add_text_page(writer, lines[start : start + 50])
    with path.open("wb") as out:
        writer.write(out)


WRITERS: dict[str, Callable[[Path, Sections], None]] = {
    "txt": write_txt,
    "jsonl": write_jsonl,
    "md": write_md,
    "html": write_html,
    "docx": write_docx,
    "epub": write_epub,
    "pdf": write_pdf,
}


def measure(path: Path, reps: int) -> tuple[int, float, float, int]:
    """(text bytes, best read seconds, best read+chunk seconds, chunks) for one file."""
    reads, totals = [], []
    text_bytes = chunks = 0
    for _ in range(reps):
        started = time.perf_counter()
        doc = read_document(path, lambda line: None)
        reads.append(time.perf_counter() - started)
        if doc is None:
            raise SystemExit(f"{path}: the reader gave no document")
        chunks = sum(1 for _ in iter_chunks([doc], 400))
        totals.append(time.perf_counter() - started)
        text_bytes = len(doc.text.encode("utf-8"))
    return text_bytes, min(reads), min(totals), chunks


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mb", type=float, default=4.0, help="text per sample, in MB")
    parser.add_argument("--pdf-mb", type=float, default=1.0, help="text in the PDF sample, MB")
    parser.add_argument("--reps", type=int, default=3, help="reads of each file; best counts")
    args = parser.parse_args()
    rows, results = [], []
    with common.temp_dir() as folder:
        for name, write in WRITERS.items():
            path = folder / f"sample.{name}"
            write(path, sample_sections(args.pdf_mb if name == "pdf" else args.mb))
            text_bytes, read_s, total_s, chunks = measure(path, args.reps)
            mbps = text_bytes / MB / read_s
            rows.append([name, path.stat().st_size / MB, text_bytes / MB, read_s, mbps,
                         text_bytes / MB / total_s, chunks])  # fmt: skip
            results.append(f"RESULT: read_{name} = {mbps:.2f} (MB/s of text; no target)")
    headers = ["format", "file MB", "text MB", "read s", "read MB/s", "read+chunk MB/s", "chunks"]
    print(common.table(headers, rows))
    print("\n".join(results))


if __name__ == "__main__":
    main()
