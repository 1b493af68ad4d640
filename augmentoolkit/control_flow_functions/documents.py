"""Stage 1's reading: the usable documents under PATH.INPUT, one file at a time.

Which files: inputs.py. How each format becomes text: formats.py (and markup.py for the
structured ones). Here: what a file's name says (title, author, year), one `warn` line for a
file with no text, and a last guard so that no file, however broken, stops the run. Chunking
is chunking.py's.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

from augmentoolkit.control_flow_functions.formats import Warn, as_text, read_content
from augmentoolkit.control_flow_functions.inputs import input_files
from augmentoolkit.control_flow_functions.markup import Section
from augmentoolkit.errors import InputError
from augmentoolkit.records import SourceInfo


@dataclass(frozen=True)
class InputDocument:
    """One readable input file: where it is, what its name says, and its text. A structured
    file (.md, .html, .docx, .epub) also has its sections, which the chunker cuts at; its
    `text` is then `formats.as_text` of them (headings as Markdown lines)."""

    path: Path
    source: SourceInfo
    text: str
    sections: tuple[Section, ...] = ()


# "[title], by [author], published [year]" (the ", published ..." part may be left out).
_TITLE_BY_AUTHOR = re.compile(r"(?P<title>.+?), by (?P<author>.+?)(?:, published (?P<year>.+))?")


def readable_name(name: str) -> str:
    """A file name as text: bytes that are not UTF-8 (Linux names are bytes) become U+FFFD, so
    ids, prompts and output files can carry it. Example: 'b\\udcffd.txt' -> 'b\\ufffdd.txt'."""
    return name.encode("utf-8", "surrogateescape").decode("utf-8", "replace")


def parse_source_info(path: Path) -> SourceInfo:
    """What the filename says. Example: 'T, by A, published 1944.txt' -> title T, author A."""
    name, stem = readable_name(path.name), readable_name(path.stem)
    match = _TITLE_BY_AUTHOR.fullmatch(stem)
    if match is None:
        return SourceInfo(filename=name, title=stem)
    return SourceInfo(
        filename=name,
        title=match["title"].strip(),
        author=match["author"].strip(),
        published=(match["year"] or "").strip(),
    )


def read_documents(folder: Path, warn: Warn) -> list[InputDocument]:
    """Every usable file under `folder`; a file that cannot be used gets one `warn` line."""
    return list(iter_documents(folder, warn))


def iter_documents(
    folder: Path,
    warn: Warn,
    skip: Path | None = None,
    pick: Callable[[list[Path]], list[Path]] | None = None,
) -> Iterator[InputDocument]:
    """`read_documents` one file at a time: only the file being chunked is held in memory.
    Nothing under `skip` (the OUTPUT folder) is read; `pick` may choose among the files."""
    paths = input_files(folder, skip, warn)
    if pick is not None:
        paths = pick(paths)
    usable = 0
    for path in paths:
        doc = read_document(path, warn)
        if doc is not None:
            usable += 1
            yield doc
    if not usable:
        raise InputError(
            f"PATH.INPUT: none of the {len(paths)} files in {folder} has usable text "
            "(see the warnings above). Add readable texts or change PATH.INPUT in config.yaml."
        )


def read_document(path: Path, warn: Warn) -> InputDocument | None:
    """The file as a document, or None after one `warn` line saying why."""
    try:
        content = read_content(path, warn)
    except Exception as error:  # a reader's bug must cost one file, not the run
        reason = " ".join(str(error).split())
        warn(f"{path}: skipped, reading it failed ({type(error).__name__}: {reason}).")
        return None
    if content is None:
        return None
    if isinstance(content, str):
        if not content.strip():
            warn(f"{path}: skipped, it is empty.")
            return None
        return InputDocument(path=path, source=parse_source_info(path), text=content)
    if not content:
        warn(f"{path}: skipped, it holds no text (empty, or only markup and headings).")
        return None
    return InputDocument(path, parse_source_info(path), as_text(content), tuple(content))
