"""Convert PDF files (and .docx, .html/.htm, .epub, .md, .jsonl, .txt) into plain-text files
for Augmentoolkit's ``raw_txt_input`` folder.

Usage::

    python convert_pdf_to_text.py FILE_OR_DIR... [--out raw_txt_input]

Each file (directories are searched recursively, in sorted order, for every format the pipeline
reads but .txt) becomes ``<out>/<stem>.txt``, written atomically. One progress line per file
goes to stderr; a file that cannot be converted (encrypted with a password, no text layer,
damaged, binary or not a PDF) gets one ``convert_pdf_to_text: FILE: reason`` line on stderr and
the other files still convert. Exit status: 0 if every file converted, 1 if any failed, 2 on bad
arguments. Formats other than PDF are read by the pipeline's own readers
(``augmentoolkit/control_flow_functions/formats.py``); their headings become Markdown ``#``
lines, and their notes (an encoding that was not UTF-8, a bad JSON line) go to stderr too.

The text layer is read with pypdf and then cleaned up: running headers and footers (lines that
recur at the top or bottom of several pages, digits ignored) and bare page numbers are dropped,
words hyphenated across line breaks are rejoined, the lines of a paragraph are merged into one
line, paragraphs are separated by a blank line, and whitespace is normalised.

Deliberately not done: OCR (scanned PDFs are reported, not read; run an OCR tool such as
ocrmypdf first), password cracking, table or figure reconstruction, and any language-specific
spelling repair. Paragraph and hyphenation decisions are heuristics; a dictionary is not used.

Importing this module has no side effects; the pipeline uses :func:`extract_pdf_text` and
:func:`convert_file`. While extracting, pypdf's warnings and log messages are silenced (they are
noise for damaged-but-readable files); this touches process-wide warning filters and the
``pypdf`` logger level, so do not extract from several threads at once.
"""

from __future__ import annotations

import argparse
import contextlib
import logging
import os
import re
import sys
import tempfile
import warnings
from collections import Counter
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

from pypdf import PasswordType, PdfReader
from pypdf.errors import DependencyError

from augmentoolkit.control_flow_functions.formats import (
    READERS,
    SUPPORTED_SUFFIXES,
    as_text,
    read_content,
)

PROG = "convert_pdf_to_text"
DEFAULT_OUT = Path("raw_txt_input")

EDGE_LINES = 4  # non-blank lines at each end of a page that may be a header or footer
MIN_REPEATS = 3  # a header/footer recurs on at least this many pages ...
REPEAT_PAGES_PER_HIT = 50  # ... and on at least one page in this many (long documents)
MIN_CHARS_PER_PAGE = 10  # fewer letters/digits than this per page on average: no text layer
SHORT_LINE = 0.85  # a line shorter than this share of the usual width may end a paragraph
VERY_SHORT_LINE = 0.6  # shorter than this, followed by a capital: a heading or paragraph end

_SPACES = re.compile(r"[ \t\u00a0\u1680\u2000-\u200a\u202f\u205f\u3000]+")
_INVISIBLE = re.compile(r"[\x00-\x08\x0e-\x1f\u200b-\u200d\u2060\ufeff]")
_LIGATURES = str.maketrans(
    {"\ufb00": "ff", "\ufb01": "fi", "\ufb02": "fl", "\ufb03": "ffi", "\ufb04": "ffl"}
)
_PRIVATE_BULLET = re.compile(r"^[\ue000-\uf8ff](?=\s)")  # Symbol/Wingdings bullets
_BULLET = re.compile(r"^[•●○◦▪■□‣∙·*\-–](?=\s)")
_NUMBERED = re.compile(r"^(?:\d+(?:[-.]\d+)*\.|\(\w{1,3}\)|[a-z]\.)\s")
_LEADERS = re.compile(r"(?:\.\s?){4,}\s*[\w-]+$")  # table-of-contents line: "Preface ..... iii"
_TERMINAL = re.compile(r"[.?!:;][\"'”’)\]]*$")
_PAGE_NUMBER = re.compile(
    r"^(?:page\s*)?[-–—(\[]?\s*\d{1,4}(?:\s*[-–]\s*\d{1,4})?\s*[-–—)\]]?(?:\s*(?:of|/)\s*\d{1,4})?$"
    r"|^[ivxlc]{1,7}$",
    re.IGNORECASE,
)
_ROMAN_UPPER = re.compile(r"^[IVXLC]+$")
_EDGE_ROMAN = re.compile(r"^[ivxlc]{1,7}(?=\s)|(?<=\s)[ivxlc]{1,7}$")
_NUMBER_RUN = re.compile(r"(?:[^\W\d_]+-)?\d+(?:[-–.]\d+)*")  # 12, 1-5, 2.4, A-3, Index-2
_WORD = re.compile(r"[^\W\d_]+(?:-[^\W\d_]+)*")
_HYPHENATED_END = re.compile(r"([^\W\d_]+)-$")
_LEADING_LETTERS = re.compile(r"^[^\W\d_]+")


class ConversionError(Exception):
    """A file that cannot be turned into text; ``str(error)`` is a one-line reason."""


class PdfError(ConversionError):
    """A PDF that cannot be turned into text; ``str(error)`` is a one-line reason."""


@dataclass(frozen=True)
class Extraction:
    """Cleaned text of one file with the counts the progress line reports (pages: PDFs only)."""

    text: str
    pages: int
    unreadable_pages: int
    notes: tuple[str, ...] = ()  # lines worth a look that did not stop the conversion


# --------------------------------------------------------------------------- reading the PDF


@contextlib.contextmanager
def _quiet_pypdf() -> Iterator[None]:
    """Silence pypdf's warnings and log lines (e.g. "EOF marker not found") while reading."""
    logger = logging.getLogger("pypdf")
    saved = logger.level
    logger.setLevel(logging.CRITICAL + 1)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            yield
    finally:
        logger.setLevel(saved)


def _one_line(exc: BaseException) -> str:
    text = " ".join(str(exc).split())
    return text or type(exc).__name__


def _check_header(path: Path) -> None:
    try:
        with path.open("rb") as fh:
            head = fh.read(1024)
    except OSError as exc:
        raise PdfError(f"cannot read file ({exc.strerror or _one_line(exc)})") from None
    if not head:
        raise PdfError("empty file")
    if b"%PDF-" not in head:
        raise PdfError("not a PDF file (no %PDF- header)")


def _unlock(reader: PdfReader) -> None:
    """Open an encrypted PDF that only has an owner password; refuse one that needs a password."""
    if not reader.is_encrypted:
        return
    try:
        result = reader.decrypt("")
    except DependencyError:
        raise PdfError(
            "encrypted with AES; install the 'cryptography' package to read it"
        ) from None
    if result == PasswordType.NOT_DECRYPTED:
        raise PdfError("encrypted (needs a password); remove the password first")


def _page_texts(reader: PdfReader) -> tuple[list[str], int]:
    """Text of every page (unreadable pages give ""), and how many pages could not be read."""
    texts: list[str] = []
    errors: list[Exception] = []
    for page in reader.pages:
        try:
            texts.append(page.extract_text() or "")
        except DependencyError:
            raise
        except Exception as exc:  # pypdf raises many types on broken content streams
            errors.append(exc)
            texts.append("")
    if not texts:
        raise PdfError("PDF has no pages")
    if len(errors) == len(texts):
        raise PdfError(f"damaged PDF, no page readable ({_one_line(errors[0])})")
    return texts, len(errors)


def _read_pages(path: Path) -> tuple[list[str], int]:
    """Return the raw text of every page and how many pages could not be read."""
    _check_header(path)
    try:
        with _quiet_pypdf():
            reader = PdfReader(path)
            _unlock(reader)
            return _page_texts(reader)
    except PdfError:
        raise
    except DependencyError as exc:
        raise PdfError(f"needs an optional package: {_one_line(exc)}") from None
    except Exception as exc:  # damaged files surface as PdfReadError, KeyError, ValueError, ...
        raise PdfError(f"damaged PDF ({_one_line(exc)})") from None


def extract(path: Path) -> Extraction:
    """Read and clean one PDF; raise :class:`PdfError` if it has no usable text."""
    pages, failed = _read_pages(Path(path))
    text = clean_pages(pages)
    if sum(ch.isalnum() for ch in text) < MIN_CHARS_PER_PAGE * len(pages):
        raise PdfError("no text layer (scanned images?); run OCR first")
    return Extraction(text=text, pages=len(pages), unreadable_pages=failed)


def extract_pdf_text(path: Path) -> str:
    """Return the cleaned text of the PDF at ``path``; raise :class:`PdfError` on failure."""
    return extract(path).text


def extract_any(path: Path) -> Extraction:
    """A PDF by :func:`extract` (any suffix the pipeline does not read is tried as a PDF), any
    other format by the pipeline's reader; :class:`ConversionError` if it has no usable text."""
    path = Path(path)
    if path.suffix.lower() not in READERS or path.suffix.lower() == ".pdf":
        return extract(path)
    lines: list[str] = []
    content = read_content(path, lines.append)
    notes = tuple(line.removeprefix(f"{path}: ") for line in lines)
    if content is None:
        raise ConversionError(notes[-1].removeprefix("skipped, ") if notes else "unreadable")
    text = as_text(content)
    if not text.strip():
        raise ConversionError("no text in it")
    return Extraction(text=text.strip() + "\n", pages=0, unreadable_pages=0, notes=notes)


# --------------------------------------------------------------------------- cleaning the text


def normalise_line(line: str) -> str:
    """Collapse whitespace, drop invisible characters, expand ligatures, unify odd bullets."""
    line = _INVISIBLE.sub("", line).translate(_LIGATURES)
    line = _SPACES.sub(" ", line).strip()
    return _PRIVATE_BULLET.sub("•", line)


def _page_lines(page: str) -> list[str]:
    lines = [normalise_line(line) for line in page.splitlines()]
    while lines and not lines[0]:
        lines.pop(0)
    while lines and not lines[-1]:
        lines.pop()
    return lines


def _edge_indices(lines: Sequence[str]) -> list[int]:
    filled = [i for i, line in enumerate(lines) if line]
    return sorted(set(filled[:EDGE_LINES] + filled[-EDGE_LINES:]))


def header_key(line: str) -> str:
    """Comparison key for header/footer lines: case, spaces and page-number values ignored.

    Digit runs such as "3", "1-5" or "2.4" and a lower-case roman numeral at either end of the
    line all become "#", so "Page 3"/"Page 4", "FM 1-05 1-5"/"FM 1-05 iii" compare equal.
    """
    line = _EDGE_ROMAN.sub("#", line)
    line = _NUMBER_RUN.sub("#", line)
    return re.sub(r"\s+", "", line.lower())


def is_page_number(line: str) -> bool:
    """True for a line that is only a page number: "12", "- 12 -", "Page 3 of 9", "iv", "1-5"."""
    stripped = line.strip()
    return bool(_PAGE_NUMBER.match(stripped)) and not _ROMAN_UPPER.match(stripped)


def repeated_edge_keys(pages: Sequence[Sequence[str]]) -> set[str]:
    """Keys of lines found near the top or bottom of enough pages to be headers or footers."""
    if len(pages) < 2:
        return set()
    counts: Counter[str] = Counter()
    for lines in pages:
        counts.update({header_key(lines[i]) for i in _edge_indices(lines)})
    needed = max(MIN_REPEATS, -(-len(pages) // REPEAT_PAGES_PER_HIT))
    needed = min(needed, len(pages))
    return {key for key, count in counts.items() if key and count >= needed}


def strip_headers_footers(pages: Sequence[Sequence[str]]) -> list[list[str]]:
    """Drop repeated running headers/footers and bare page numbers from each page's edges."""
    repeated = repeated_edge_keys(pages)
    result: list[list[str]] = []
    for lines in pages:
        drop = {
            i
            for i in _edge_indices(lines)
            if header_key(lines[i]) in repeated or is_page_number(lines[i])
        }
        kept = [line for i, line in enumerate(lines) if i not in drop]
        result.append(_page_lines("\n".join(kept)))
    return result


def _typical_width(lines: Sequence[str]) -> int:
    lengths = sorted(len(line) for line in lines if line)
    return lengths[int(0.9 * (len(lengths) - 1))] if lengths else 0


def _vocabulary(lines: Sequence[str]) -> set[str]:
    """Lower-cased words of the text, leaving out the halves of line-end hyphenations."""
    words: set[str] = set()
    previous_hyphenated = False
    for line in lines:
        tokens = _WORD.findall(line.lower())
        if previous_hyphenated and tokens:
            tokens = tokens[1:]
        previous_hyphenated = bool(_HYPHENATED_END.search(line))
        if previous_hyphenated and tokens:
            tokens = tokens[:-1]
        words.update(tokens)
    return words


def _keep_hyphen(head: str, tail: str, vocabulary: set[str]) -> bool:
    """Decide whether "head-\\ntail" is a real compound ("large-scale") or a split word."""
    head, tail = head.lower(), tail.lower()
    if head + tail in vocabulary:
        return False
    if f"{head}-{tail}" in vocabulary:
        return True
    return head in vocabulary and tail in vocabulary


def dehyphenate(left: str, right: str, vocabulary: set[str]) -> str | None:
    """Join ``right`` onto ``left`` if ``left`` ends in a word split by a hyphen, else None."""
    if left.endswith("\u00ad") and right[:1].isalpha():
        return left[:-1] + right
    if not left.endswith("-"):
        return None
    match = _HYPHENATED_END.search(left[-80:])  # ``left`` may be a whole paragraph so far
    leading = _LEADING_LETTERS.match(right)
    if match is None or leading is None:
        return None
    if right[0].isupper() or _keep_hyphen(match.group(1), leading.group(0), vocabulary):
        return left + right
    return left[:-1] + right


def _is_heading(line: str) -> bool:
    """An all-capitals line such as "RELIGIOUS SUPPORT FOUNDATIONS" (not "(UMT).")."""
    if not line[:1].isalnum() or line.endswith(",") or line != line.upper():
        return False
    return sum(ch.isalpha() for ch in line) >= 3


def _starts_block(line: str) -> bool:
    return bool(_BULLET.match(line) or _NUMBERED.match(line)) or _is_heading(line)


def _ends_block(line: str, width: int) -> bool:
    if _is_heading(line) or _LEADERS.search(line):
        return True
    return len(line) < SHORT_LINE * width and bool(_TERMINAL.search(line))


def paragraph_break(previous: str, line: str, width: int) -> bool:
    """Whether ``line`` starts a new paragraph after the physical line ``previous``."""
    if _starts_block(line) or _ends_block(previous, width):
        return True
    return len(previous) < VERY_SHORT_LINE * width and line[:1].isupper()


def _glue(left: str, right: str) -> str:
    if left[-1:] in "-–—/" and not left[-2:-1].isspace():
        return left + right
    return f"{left} {right}"


def join_lines(lines: Sequence[str]) -> list[str]:
    """Merge physical lines into paragraphs; a blank line always ends a paragraph."""
    width = _typical_width(lines)
    vocabulary = _vocabulary(lines)
    paragraphs: list[str] = []
    current = previous = ""
    for line in lines:
        if not line:
            _flush(paragraphs, current)
            current = ""
        elif not current:
            current = line
        else:
            joined = dehyphenate(current, line, vocabulary)
            if joined is not None:
                current = joined
            elif paragraph_break(previous, line, width):
                _flush(paragraphs, current)
                current = line
            else:
                current = _glue(current, line)
        previous = line
    _flush(paragraphs, current)
    return paragraphs


def _flush(paragraphs: list[str], current: str) -> None:
    if current:
        paragraphs.append(current.replace("\u00ad", ""))


def clean_pages(pages: Sequence[str]) -> str:
    """Turn raw per-page text into clean paragraphs separated by blank lines."""
    page_lines = strip_headers_footers([_page_lines(page) for page in pages])
    lines = [line for page in page_lines for line in page]
    paragraphs = join_lines(lines)
    return "\n\n".join(paragraphs) + "\n" if paragraphs else ""


# --------------------------------------------------------------------------- writing files


def output_path(pdf: Path, out_dir: Path) -> Path:
    """Where :func:`convert_file` writes the text of ``pdf``."""
    return out_dir / f"{pdf.stem}.txt"


def write_atomic(target: Path, text: str) -> None:
    """Write ``text`` to a temporary file next to ``target``, then rename it into place."""
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="\n") as fh:
            fh.write(text)
            fh.flush()
            os.fsync(fh.fileno())
        os.chmod(tmp, 0o644)
        os.replace(tmp, target)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


def _convert(pdf: Path, out_dir: Path) -> tuple[Path, Extraction]:
    target = output_path(pdf, out_dir)
    if target.exists() and target.samefile(pdf):
        raise ConversionError(f"it would overwrite itself; choose another --out than {out_dir}")
    extraction = extract_any(pdf)
    write_atomic(target, extraction.text)
    return target, extraction


def convert_file(pdf: Path, out_dir: Path) -> Path:
    """Convert one PDF (or other input file) to ``<out_dir>/<stem>.txt`` and return that path.

    Raises :class:`ConversionError` (:class:`PdfError` for a PDF) if the file has no usable
    text, ``OSError`` if writing fails.
    """
    return _convert(Path(pdf), Path(out_dir))[0]


# --------------------------------------------------------------------------- command line


_FOUND_IN_FOLDERS = tuple(suffix for suffix in SUPPORTED_SUFFIXES if suffix != ".txt")


def find_pdfs(inputs: Sequence[Path]) -> list[Path]:
    """Expand files and directories into the paths to convert (in directories: PDFs and the
    other formats the pipeline reads, but not .txt); ``ValueError`` for a bad argument."""
    found: list[Path] = []
    for item in inputs:
        if item.is_dir():
            pdfs = sorted(
                p for p in item.rglob("*") if p.suffix.lower() in _FOUND_IN_FOLDERS and p.is_file()
            )
            if not pdfs:
                raise ValueError(f"no PDF or other convertible files found in directory {item}")
            found.extend(pdfs)
        elif item.exists():
            found.append(item)
        else:
            raise ValueError(f"no such file or directory: {item}")
    unique: dict[Path, Path] = {}
    for pdf in found:
        unique.setdefault(pdf.resolve(), pdf)
    return list(unique.values())


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog=PROG,
        description="Convert PDFs (and .docx, .html, .epub, .md, .jsonl) to plain text for "
        "raw_txt_input (no OCR).",
        epilog="Exit status: 0 all converted, 1 some file failed, 2 bad arguments.",
    )
    parser.add_argument(
        "paths",
        nargs="+",
        type=Path,
        metavar="FILE_OR_DIR",
        help="PDF (or .docx, .html, .htm, .epub, .md, .jsonl, .txt) files, or folders searched "
        "recursively for them (.txt left out)",
    )
    parser.add_argument(
        "--out",
        type=Path,
        default=DEFAULT_OUT,
        help=f"folder for the .txt files (default: {DEFAULT_OUT})",
    )
    return parser


def _progress(pdf: Path, target: Path, extraction: Extraction) -> str:
    skipped = (
        f", {extraction.unreadable_pages} unreadable pages skipped"
        if extraction.unreadable_pages
        else ""
    )
    pages = f"{extraction.pages} pages, " if extraction.pages else ""
    return f"converted {pdf.name} -> {target} ({pages}{len(extraction.text):,} chars{skipped})"


def _convert_one(pdf: Path, out_dir: Path, claimed: dict[Path, Path]) -> bool:
    """Convert one file and report it on stderr; return whether it succeeded."""
    target = output_path(pdf, out_dir)
    if target in claimed:
        reason = f"same output name as {claimed[target]}; rename one of them"
        print(f"{PROG}: {pdf}: {reason}", file=sys.stderr)
        return False
    claimed[target] = pdf
    try:
        target, extraction = _convert(pdf, out_dir)
    except ConversionError as exc:
        print(f"{PROG}: {pdf}: {exc}", file=sys.stderr)
        return False
    except OSError as exc:
        print(f"{PROG}: {pdf}: cannot write {target} ({_one_line(exc)})", file=sys.stderr)
        return False
    for note in extraction.notes:
        print(f"{PROG}: {pdf}: {note}", file=sys.stderr)
    print(_progress(pdf, target, extraction), file=sys.stderr)
    return True


def main(argv: Sequence[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    try:
        pdfs = find_pdfs(args.paths)
    except ValueError as exc:
        parser.error(str(exc))  # exits with status 2
    claimed: dict[Path, Path] = {}
    try:
        results = [_convert_one(pdf, args.out, claimed) for pdf in pdfs]
    except KeyboardInterrupt:
        print(f"{PROG}: interrupted", file=sys.stderr)
        return 130
    return 0 if all(results) else 1


if __name__ == "__main__":
    sys.exit(main())
