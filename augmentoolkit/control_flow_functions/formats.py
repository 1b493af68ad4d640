"""One input file to text, by its suffix: the table `READERS`, the one place that says which
files are inputs (`SUPPORTED_SUFFIXES`, which inputs.py lists).

Plain formats give one text: .txt (decoded by decoding.py), .jsonl (the "text" field of each
line, joined by blank lines) and .pdf (convert_pdf_to_text.extract_pdf_text, imported lazily).
Structured formats give sections, each the text under one heading path (markup.py): .md,
.html/.htm, .docx and .epub. Text files name their encoding in a `warn` line when it is not
UTF-8 (an HTML page's declared charset is taken without one); .txt, .md and .pdf lose a
Project Gutenberg header and footer. Whatever goes wrong with one file (it cannot be read,
vanished after listing, is binary, undecodable, damaged or encrypted) is one `warn` line naming
the file and why, and the reader returns None so the run goes on with the other files.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TypeVar

from augmentoolkit.control_flow_functions.decoding import decode_text
from augmentoolkit.control_flow_functions.markup import (
    Section,
    TooDeep,
    docx_sections,
    epub_sections,
    html_sections,
    markdown_sections,
)

Warn = Callable[[str], None]
Content = str | list[Section]  # a plain text, or a structured file's sections
Reader = Callable[[Path, Warn], Content | None]
_Source = TypeVar("_Source", str, bytes)


def read_content(path: Path, warn: Warn) -> Content | None:
    """The file's text or sections, or None after one `warn` line (see the module)."""
    return READERS[path.suffix.lower()](path, warn)


def as_text(content: Content) -> str:
    """Content as one text: each section after Markdown lines for the headings it opens.
    Example: [Section(('A', 'B'), 'x'), Section(('C',), 'y')] -> '# A\n\n## B\n\nx\n\n# C\n\ny'."""
    if isinstance(content, str):
        return content
    parts: list[str] = []
    shown: tuple[str, ...] = ()
    for section in content:
        for depth, heading in enumerate(section.headings, start=1):
            if shown[:depth] != section.headings[:depth]:
                parts.append(f"{'#' * min(depth, 6)} {heading}")
        shown = section.headings
        parts.append(section.text)
    return "\n\n".join(parts)


# --------------------------------------------------------------------------- plain text

_GUTENBERG_START = re.compile(
    r"\*\*\*[ \t]*START OF (?:THE|THIS) PROJECT GUTENBERG E-?BOOK[^\n]*", re.IGNORECASE
)
_GUTENBERG_END = re.compile(
    r"\*\*\*[ \t]*END OF (?:THE|THIS) PROJECT GUTENBERG E-?BOOK", re.IGNORECASE
)


def strip_gutenberg(text: str) -> str:
    """Drop a Project Gutenberg header and footer. Example: 'lic *** START OF THE PROJECT
    GUTENBERG EBOOK X *** body *** END OF THE PROJECT GUTENBERG EBOOK X ***' -> ' body '."""
    start = _GUTENBERG_START.search(text)
    begin = 0 if start is None else start.end()
    end = _GUTENBERG_END.search(text, begin)
    return text[begin : len(text) if end is None else end.start()]  # one copy at most


def normalise_newlines(text: str) -> str:
    """Example: 'a\\r\\nb\\rc' -> 'a\\nb\\nc'."""
    return text.replace("\r\n", "\n").replace("\r", "\n") if "\r" in text else text


def _read_bytes(path: Path, warn: Warn) -> bytes | None:
    try:
        return path.read_bytes()
    except FileNotFoundError:
        warn(f"{path}: skipped, it no longer exists (removed after the folder was listed).")
    except OSError as error:
        warn(f"{path}: skipped, it cannot be read ({error.strerror or error}).")
    return None


def _decoded(path: Path, data: bytes | None, warn: Warn) -> str | None:
    """The bytes as text with "\\n" line ends, or None (warned)."""
    if data is None:
        return None
    decoded = decode_text(data)
    if isinstance(decoded, str):
        warn(f"{path}: skipped, {decoded}")
        return None
    text, encoding = decoded
    if encoding != "utf-8":
        warn(f"{path}: not UTF-8; read as {encoding}.")
    return normalise_newlines(text)


def _read_txt(path: Path, warn: Warn) -> str | None:
    text = _decoded(path, _read_bytes(path, warn), warn)
    return None if text is None else strip_gutenberg(text)


def _read_jsonl(path: Path, warn: Warn) -> str | None:
    text = _decoded(path, _read_bytes(path, warn), warn)
    return None if text is None else "\n\n".join(_jsonl_texts(path, text, warn))


def _jsonl_texts(path: Path, text: str, warn: Warn) -> Iterator[str]:
    """The "text" field of each JSON line; a bad line gets a warning naming its number."""
    for number, line in enumerate(text.split("\n"), start=1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except json.JSONDecodeError:
            warn(f"{path}: line {number} skipped, it is not valid JSON.")
            continue
        value = record.get("text") if isinstance(record, dict) else None
        if not isinstance(value, str):
            warn(f'{path}: line {number} skipped, it has no "text" string field.')
            continue
        yield value


def _read_pdf(path: Path, warn: Warn) -> str | None:
    try:
        from convert_pdf_to_text import PdfError, extract_pdf_text
    except ImportError as error:
        warn(
            f"{path}: skipped, PDF support is unavailable ({error}). "
            "Install the dependencies (pip install -e .) or convert the PDF to .txt first."
        )
        return None
    try:
        return strip_gutenberg(normalise_newlines(extract_pdf_text(path)))
    except PdfError as error:
        warn(f"{path}: skipped, {error}")
        return None


# --------------------------------------------------------------------------- structured

_META_CHARSET = re.compile(rb"""<meta[^>]+charset\s*=\s*["']?([A-Za-z0-9_.:-]+)""", re.I)
_OLE_MAGIC = b"\xd0\xcf\x11\xe0"  # Office's older container: .doc, or any password-locked file


def _read_markdown(path: Path, warn: Warn) -> Content | None:
    text = _decoded(path, _read_bytes(path, warn), warn)
    if text is None:
        return None
    text = strip_gutenberg(text)
    try:
        return _parsed(path, "Markdown", markdown_sections, text, warn)
    except TooDeep as error:  # no text is lost: read it as plain text instead
        warn(f"{path}: {error}; read as plain text, markup and all.")
        return text


def _read_html(path: Path, warn: Warn) -> list[Section] | None:
    data = _read_bytes(path, warn)
    text = None if data is None else _declared_html_text(data)
    if text is None:
        text = _decoded(path, data, warn)
    return None if text is None else _parsed(path, "HTML", html_sections, text, warn)


def _declared_html_text(data: bytes) -> str | None:
    """The page read in the charset its <meta> declares, unless it is valid UTF-8 anyway (a
    stale declaration is common) or the declaration is unknown or wrong."""
    declared = _META_CHARSET.search(data[:4096])
    if declared is None or data.startswith((b"\xff\xfe", b"\xfe\xff")):  # UTF-16: decoding.py
        return None
    for encoding in ("utf-8", declared[1].decode("ascii")):
        try:
            return normalise_newlines(data.decode(encoding))
        except (UnicodeDecodeError, LookupError):
            continue
    return None


def _read_docx(path: Path, warn: Warn) -> list[Section] | None:
    data = _read_bytes(path, warn)
    if data is not None and data.startswith(_OLE_MAGIC):
        warn(
            f"{path}: skipped, it is password-protected or an old .doc file renamed; "
            "save it from Word as .docx without a password."
        )
        return None
    return None if data is None else _parsed(path, "Word .docx", docx_sections, data, warn)


def _read_epub(path: Path, warn: Warn) -> list[Section] | None:
    data = _read_bytes(path, warn)
    return None if data is None else _parsed(path, "EPUB", epub_sections, data, warn)


def _parsed(
    path: Path,
    kind: str,
    parse: Callable[[_Source], list[Section]],
    source: _Source,
    warn: Warn,
) -> list[Section] | None:
    try:
        return parse(source)
    except TooDeep:
        raise
    except Exception as error:  # each parser raises its own many types on damaged files
        reason = " ".join(str(error).split()) or type(error).__name__
        warn(f"{path}: skipped, it is not a readable {kind} file ({reason}).")
        return None


READERS: dict[str, Reader] = {
    ".txt": _read_txt,
    ".md": _read_markdown,
    ".jsonl": _read_jsonl,
    ".pdf": _read_pdf,
    ".docx": _read_docx,
    ".html": _read_html,
    ".htm": _read_html,
    ".epub": _read_epub,
}
SUPPORTED_SUFFIXES = tuple(READERS)
