"""Stage 1: read the input folder and cut every text into chunks of whole sentences. No LLM.

In order: list the supported files under PATH.INPUT (recursive, sorted, hidden files skipped);
decode each one (BOM-aware UTF-8/UTF-16, then UTF-8, then cp1252/Latin-1), skipping empty, binary
and unreadable files with one warning each; drop a Project Gutenberg header and footer; split the
text into sentences; count tokens; pack sentences greedily into chunks of at most `max_tokens`.

Whitespace: paragraph structure is read from the raw text first, because blank lines, headings
and list items are sentence boundaries that collapsing would erase. Each paragraph is then
collapsed by `clean_whitespace`, so every sentence and chunk is one line with single spaces.

Both the sentence splitter and the token counter are offline regex approximations (no NLTK, no
downloaded tokenizer). `count_tokens` is tuned for English prose, where it lands within about
15% of LLaMA and GPT-4 (cl100k) counts; code, numbers and non-Latin scripts can be further off.

Deliberately not done: splitting a sentence longer than the budget (it becomes a chunk of its
own); sentence boundaries for scripts without spaces (CJK full stops); reading PDFs here (that is
`convert_pdf_to_text.extract_pdf_text`, imported lazily); caching chunks between runs.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

from augmentoolkit.errors import InputError
from augmentoolkit.records import Chunk, SourceInfo, content_id

SUPPORTED_SUFFIXES = (".txt", ".md", ".jsonl", ".pdf")

Warn = Callable[[str], None]


@dataclass(frozen=True)
class InputDocument:
    """One readable input file: where it is, what its name says, and its decoded text."""

    path: Path
    source: SourceInfo
    text: str


# --------------------------------------------------------------------------- finding and naming

# "[title], by [author], published [year]" (the ", published ..." part may be left out).
_TITLE_BY_AUTHOR = re.compile(r"(?P<title>.+?), by (?P<author>.+?)(?:, published (?P<year>.+))?")


def parse_source_info(path: Path) -> SourceInfo:
    """What the filename says. Example: 'T, by A, published 1944.txt' -> title T, author A."""
    match = _TITLE_BY_AUTHOR.fullmatch(path.stem)
    if match is None:
        return SourceInfo(filename=path.name, title=path.stem)
    return SourceInfo(
        filename=path.name,
        title=match["title"].strip(),
        author=match["author"].strip(),
        published=(match["year"] or "").strip(),
    )


def list_input_files(folder: Path) -> list[Path]:
    """Supported files under `folder`, recursively, sorted by relative path; hidden ones skipped."""
    found = []
    for path in folder.rglob("*"):
        relative = path.relative_to(folder)
        if any(part.startswith(".") for part in relative.parts):
            continue
        if path.suffix.lower() in SUPPORTED_SUFFIXES and path.is_file():
            found.append(path)
    return sorted(found, key=lambda p: p.relative_to(folder).as_posix())


# --------------------------------------------------------------------------- decoding

_UTF16_BOMS = (b"\xff\xfe", b"\xfe\xff")
# C0 controls other than tab, newline, vertical tab, form feed and carriage return, plus DEL and
# the C1 range that a Latin-1 decode of binary data produces.
_CONTROL_CHARS = re.compile(r"[\x00-\x08\x0e-\x1f\x7f-\x9f]")
_BINARY_SAMPLE_CHARS = 65536
_BINARY_CONTROL_SHARE = 0.05


def decode_bytes(data: bytes) -> str | None:
    """Decode a text file's bytes, or None if they look binary. Example: b'caf\\xe9' -> 'café'."""
    if data.startswith(_UTF16_BOMS):
        return _decode_or_none(data, "utf-16")
    bom_less_utf16 = _guess_utf16(data)
    if bom_less_utf16:
        return _decode_or_none(data, bom_less_utf16)
    if b"\x00" in data:
        return None
    for encoding in ("utf-8-sig", "cp1252", "latin-1"):
        text = _decode_or_none(data, encoding)
        if text is not None:
            return None if _looks_binary(text) else text
    return None  # unreachable: latin-1 decodes any bytes


def _decode_or_none(data: bytes, encoding: str) -> str | None:
    try:
        return data.decode(encoding)
    except UnicodeDecodeError:
        return None


def _guess_utf16(data: bytes) -> str | None:
    """'utf-16-le'/'utf-16-be' for BOM-less UTF-16 text: NULs in nearly every other byte."""
    sample = data[:4096]
    half = len(sample) // 2
    if half < 2:
        return None
    odd_nuls, even_nuls = sample[1::2].count(0), sample[0::2].count(0)
    if odd_nuls > 0.7 * half and even_nuls < 0.1 * half:
        return "utf-16-le"
    if even_nuls > 0.7 * half and odd_nuls < 0.1 * half:
        return "utf-16-be"
    return None


def _looks_binary(text: str) -> bool:
    sample = text[:_BINARY_SAMPLE_CHARS]
    controls = len(_CONTROL_CHARS.findall(sample))
    return controls > _BINARY_CONTROL_SHARE * max(len(sample), 1)


# --------------------------------------------------------------------------- reading

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
    if start is not None:
        text = text[start.end() :]
    end = _GUTENBERG_END.search(text)
    if end is not None:
        text = text[: end.start()]
    return text


def read_documents(folder: Path, warn: Warn) -> list[InputDocument]:
    """Every usable file under `folder`; a file that cannot be used gets one `warn` line."""
    if not folder.is_dir():
        raise InputError(
            f"PATH.INPUT: {folder} is not a folder. "
            "Create it and put texts there, or change PATH.INPUT in config.yaml."
        )
    paths = list_input_files(folder)
    if not paths:
        raise InputError(
            f"PATH.INPUT: {folder} has no .txt, .md, .jsonl or .pdf files. "
            "Put texts there or change PATH.INPUT in config.yaml."
        )
    docs = [doc for doc in (_read_document(path, warn) for path in paths) if doc is not None]
    if not docs:
        raise InputError(
            f"PATH.INPUT: none of the {len(paths)} files in {folder} has usable text "
            "(see the warnings above). Add readable texts or change PATH.INPUT in config.yaml."
        )
    return docs


def _read_document(path: Path, warn: Warn) -> InputDocument | None:
    text = _read_text(path, warn)
    if text is None:
        return None
    if not text.strip():
        warn(f"{path}: skipped, it is empty.")
        return None
    return InputDocument(path=path, source=parse_source_info(path), text=text)


def _read_text(path: Path, warn: Warn) -> str | None:
    """The file's text with "\\n" line ends and no Gutenberg boilerplate, or None (warned)."""
    suffix = path.suffix.lower()
    if suffix == ".pdf":
        return _read_pdf(path, warn)
    try:
        data = path.read_bytes()
    except OSError as error:
        warn(f"{path}: skipped, it cannot be read ({error.strerror or error}).")
        return None
    text = decode_bytes(data)
    if text is None:
        warn(f"{path}: skipped, it looks like a binary file, not text.")
        return None
    text = _normalise_newlines(text)
    if suffix == ".jsonl":
        return "\n\n".join(_jsonl_texts(path, text, warn))
    return strip_gutenberg(text)


def _normalise_newlines(text: str) -> str:
    return text.replace("\r\n", "\n").replace("\r", "\n") if "\r" in text else text


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
        warn(f"{path}: skipped, PDF support is unavailable ({error}). Install pypdf.")
        return None
    try:
        return strip_gutenberg(_normalise_newlines(extract_pdf_text(path)))
    except PdfError as error:
        warn(f"{path}: skipped, {error}")
        return None


# --------------------------------------------------------------------------- sentences
#
# Everything here runs as a few whole-text regex passes (each begins with a literal character so
# the regex engine can skip ahead quickly); Python code runs once per sentence, never per char.

# Whitespace other than " ", "\n" and "\r" (tabs, no-break and other Unicode spaces).
_ODD_WHITESPACE = "".join(c for c in map(chr, range(0x3001)) if c.isspace() and c not in " \n\r")
_ODD_WHITESPACE_RUN = re.compile(f"[{_ODD_WHITESPACE}]+")
# A heading-like line becomes its own paragraph: a Markdown heading, a line with two or more
# capitals and no lowercase letters ("1. INTRODUCTION"), or a rule such as "-----" or "* * *".
_HEADING_LINE = re.compile(
    r"\n( *+(?:#{1,6} [^\n]*+"
    r"|(?=[^a-z\n]{2,80}+\n)[^A-Z\n]*+[A-Z][^A-Z\n]*+[A-Z][^\n]*+"
    r"|[-=*_~][-=*_~ ]{2,}+(?=\n)))"
)
# A line that opens a list item ("- x", "• x", "3. x", "2) x", "(a) x") starts a paragraph.
_LIST_ITEM_START = re.compile(r"\n(?= *+(?:[-*+•]|\d{1,3}[.)]|\([0-9A-Za-z]{1,3}\)) )")
_PARAGRAPH_BREAK = re.compile(r"\n *\n[\n ]*")
_SPACE_RUN = re.compile(r"  +")
_HAS_WORD = re.compile(r"\w")

# Words whose period does not end a sentence, and words whose period does not end one when a
# number follows ("No. 3", "Fig. 2"). Single letters ("J.", "U.S.", "e.g.") are always exempt.
_ABBREVIATIONS = (
    "mr mrs ms messrs dr prof rev hon st mt jr sr gen col capt lt sgt cmdr gov sen rep "
    "etc cf vs viz al approx"
).split()
_NUMBERED_ABBREVIATIONS = "no nos fig figs vol vols pp ch chap sec art eq".split()
_CLOSER = "[\"'’”)\\]»_*]"  # may follow the stop: closing quotes, brackets, emphasis marks


def _none_before_period(words: list[str]) -> str:
    """Negative lookbehinds (one per word length, as lookbehinds need a fixed width) that fail
    when the text just before "<period><space>" is one of `words`, case-insensitively."""
    by_length: dict[int, list[str]] = {}
    for word in words:
        by_length.setdefault(len(word), []).append(word)
    return "".join(
        rf"(?<!\b(?i:{'|'.join(group)})\.[ ])" for _, group in sorted(by_length.items())
    )


# The space between two sentences, in flattened text (one paragraph per line). The next word
# must open like a sentence (uppercase letter or digit, maybe after opening quotes), and the
# space must follow ! ? … or several dots, or a period plus closers, or a lone period that does
# not end an abbreviation, an initial, a paragraph's enumerator ("1.", "IV.") or "No." before
# a number.
_SENTENCE_BOUNDARY = re.compile(
    r"[ ](?<=[.!?…" + _CLOSER[1:-1] + r"][ ])"
    r"(?=[\"'“‘(\[_*¿¡]*+[A-Z0-9À-ÖØ-ÞΑ-ΩА-ЯЁ])"
    r"(?:(?<=[!?…][ ])|(?<=[!?…]" + _CLOSER + r"[ ])|(?<=[!?…]" + _CLOSER * 2 + r"[ ])"
    r"|(?<=\.\.[ ])|(?<=\." + _CLOSER + r"[ ])|(?<=\." + _CLOSER * 2 + r"[ ])"
    r"|(?<=\.[ ])(?<!\b[A-Za-zÀ-ÖØ-Þ]\.[ ])" + _none_before_period(_ABBREVIATIONS)
    + r"(?<!\n\d\.[ ])(?<!\n\d\d\.[ ])(?<!\n\d\d\d\.[ ])(?<!\n\d\.\d\.[ ])"
    r"(?<!\n[IVXLCivxlc]{2}\.[ ])(?<!\n[IVXLCivxlc]{3}\.[ ])(?<!\n[IVXLCivxlc]{4}\.[ ])"
    r"(?:(?!\d)|" + _none_before_period(_NUMBERED_ABBREVIATIONS) + "))"
)


def clean_whitespace(text: str) -> str:
    """Newlines to spaces, runs of whitespace to one space, ends stripped. Example: ' a\\n b ' ->
    'a b'. `split_sentences` does the same, paragraph by paragraph, after reading the breaks."""
    return " ".join(text.split())


def split_sentences(text: str) -> list[str]:
    """Whole sentences, each whitespace-cleaned. Example: 'Hi there. Mr. X came.' -> ['Hi
    there.', 'Mr. X came.']. Paragraph breaks, heading-like lines and list items also end one;
    pieces without a letter or digit (a lone "* * *") are dropped."""
    return [line for line in _sentence_lines(text).split("\n") if _HAS_WORD.search(line)]


def _sentence_lines(text: str) -> str:
    """The text as one sentence per line, after a leading newline."""
    return _SENTENCE_BOUNDARY.sub("\n", _flatten(text))


def _flatten(text: str) -> str:
    """One paragraph per line, single spaces inside, and a leading newline; headings and list
    items are paragraphs of their own. Example: 'A\\nb.\\n\\nC' -> '\\nA b.\\nC'."""
    text = _normalise_newlines(text)
    if any(space in text for space in _ODD_WHITESPACE):
        text = _ODD_WHITESPACE_RUN.sub(" ", text)
    text = _HEADING_LINE.sub("\n\n\\1\n", "\n" + text + "\n")
    text = _LIST_ITEM_START.sub("\n\n", text)
    text = _PARAGRAPH_BREAK.sub("\x00", text).replace("\n", " ").replace("\x00", "\n")
    text = _SPACE_RUN.sub(" ", text).replace(" \n", "\n").replace("\n ", "\n")
    return "\n" + text.strip(" \n")


# --------------------------------------------------------------------------- tokens and chunks


def _byte_classes() -> bytes:
    """A `bytes.translate` table from UTF-8 bytes to classes: "a" ASCII letter, " " space,
    "\\n" newline, "c" first byte of a CJK character or emoji, "." anything else (punctuation,
    digits, accented and other non-ASCII letters). UTF-8 continuation bytes are deleted apart."""
    table = bytearray(b"." * 256)
    for byte in b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz":
        table[byte] = ord("a")
    for byte in b" \t\r\x0b\x0c":
        table[byte] = ord(" ")
    table[ord("\n")] = ord("\n")
    for byte in range(0xE3, 0x100):  # U+3000 and up: CJK, Hangul, emoji, ...
        table[byte] = ord("c")
    return bytes(table)


_BYTE_CLASS = _byte_classes()
_UTF8_CONTINUATION = bytes(range(0x80, 0xC0))
_LONG_WORD_PIECE = b"a" * 6


def _token_marks(text: str) -> bytes:
    """One byte per token, newlines kept. `text` must start with whitespace.

    A run of ASCII letters is one token, plus one per further 6 letters (rarer long words split
    into pieces); other characters (punctuation, digits, accented letters) count one per two in
    a row; a CJK character or emoji counts one; whitespace is free (BPE joins it to the next
    word). All whole-string byte operations, so it runs at memory speed."""
    marks = text.encode("utf-8", "surrogatepass").translate(_BYTE_CLASS, _UTF8_CONTINUATION)
    for before in (b" ", b"\n", b".", b"c"):  # the first letter of a run becomes its mark "T"
        marks = marks.replace(before + b"a", before + b"T")
    marks = marks.replace(_LONG_WORD_PIECE, b"T").replace(b"..", b".")
    return marks.translate(None, b"a ")


def count_tokens(text: str) -> int:
    """Approximate LLaMA/GPT-4 token count, within ~15% on English prose. Example: 'Hello,
    world!' -> 4. Additive: the count of texts joined by spaces is the sum of their counts."""
    marks = _token_marks(" " + text)
    return len(marks) - marks.count(b"\n")


def chunk_sentences(sentences: list[str], max_tokens: int) -> list[tuple[str, int]]:
    """Greedy packing into (text, tokens) chunks of at most `max_tokens`, never splitting a
    sentence. Example: ['A b.', 'C d.', 'E f.'] at 6 -> [('A b. C d.', 6), ('E f.', 3)]."""
    return _pack(sentences, [count_tokens(sentence) for sentence in sentences], max_tokens)


def _pack(sentences: list[str], counts: list[int], max_tokens: int) -> list[tuple[str, int]]:
    if max_tokens < 1:
        raise ValueError(f"max_tokens must be at least 1, got {max_tokens}")
    chunks: list[tuple[str, int]] = []
    current: list[str] = []
    total = 0
    for sentence, tokens in zip(sentences, counts, strict=True):
        if current and total + tokens > max_tokens:
            chunks.append((" ".join(current), total))
            current, total = [], 0
        current.append(sentence)
        total += tokens
    if current:
        chunks.append((" ".join(current), total))
    return chunks


def _sentences_with_tokens(text: str) -> tuple[list[str], list[int]]:
    """`split_sentences(text)` and each sentence's `count_tokens`, counted in one pass."""
    lines = _sentence_lines(text)
    pairs = zip(lines.split("\n"), map(len, _token_marks(lines).split(b"\n")), strict=True)
    kept = [(line, tokens) for line, tokens in pairs if tokens and _HAS_WORD.search(line)]
    return [line for line, _ in kept], [tokens for _, tokens in kept]


def chunk_documents(docs: list[InputDocument], max_tokens: int) -> list[Chunk]:
    """Chunks of every document in order; ids depend only on filename, position and text."""
    chunks = []
    for doc in docs:
        packed = _pack(*_sentences_with_tokens(doc.text), max_tokens)
        for index, (text, tokens) in enumerate(packed):
            chunk_id = content_id(doc.source.filename, str(index), text)
            chunks.append(Chunk(chunk_id, doc.source, index, text, tokens))
    return chunks
