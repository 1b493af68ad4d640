"""Stage 1: read the input folder and cut every text into chunks of whole sentences. No LLM.

In order: list the supported files under PATH.INPUT (recursive, sorted, hidden files skipped);
decode each one (BOM-aware UTF-8/UTF-16, then UTF-8, then cp1252/Latin-1), skipping empty, binary
and unreadable files with one warning each; drop a Project Gutenberg header and footer; split the
text into sentences; count tokens; pack sentences greedily into chunks of at most `max_tokens`.

Whitespace: paragraph structure is read from the raw text first, because blank lines, headings
and list items are sentence boundaries that collapsing would erase; then each sentence is
cleaned as by `clean_whitespace`, so every sentence and chunk is one line with single spaces.

Offline by design: no NLTK, no tokenizer download. The sentence splitter is a handful of regexes
(abbreviations, initials, decimals and list numbers are not sentence ends), and `count_tokens`
approximates LLaMA and GPT-4 (cl100k) counts within about 15% on English prose (checked against
published counts in tests/test_chunking.py); code, numbers and non-Latin scripts can be further
off. Speed: whole-text passes run block by block in the CPU cache and Python code runs once per
sentence, never per character, so reading and chunking plain English runs at about 20 MB/s or
more on one core.

A sentence longer than the whole budget (a table flattened to one line, a file with no stops)
is cut at spaces into pieces that fit, or at characters when a "word" alone is too long, with
one warning naming the file: otherwise one chunk could outgrow any model's context.

Deliberately not done: sentence boundaries for scripts without spaces (CJK full stops); reading
PDFs here (that is `convert_pdf_to_text.extract_pdf_text`, imported lazily); caching chunks
between runs.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

from augmentoolkit.control_flow_functions.decoding import decode_text
from augmentoolkit.control_flow_functions.inputs import Warn, input_files
from augmentoolkit.errors import InputError
from augmentoolkit.records import Chunk, SourceInfo, content_id


@dataclass(frozen=True)
class InputDocument:
    """One readable input file: where it is, what its name says, and its decoded text."""

    path: Path
    source: SourceInfo
    text: str


# --------------------------------------------------------------------------- finding and naming

# "[title], by [author], published [year]" (the ", published ..." part may be left out).
_TITLE_BY_AUTHOR = re.compile(r"(?P<title>.+?), by (?P<author>.+?)(?:, published (?P<year>.+))?")


def readable_name(name: str) -> str:
    """A file name as text: bytes that are not UTF-8 (Linux names are bytes) become U+FFFD, so
    ids, prompts and output files can carry it. Example: 'b\udcffd.txt' -> 'b\ufffdd.txt'."""
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
    begin = 0 if start is None else start.end()
    end = _GUTENBERG_END.search(text, begin)
    return text[begin : len(text) if end is None else end.start()]  # one copy at most


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
        doc = _read_document(path, warn)
        if doc is not None:
            usable += 1
            yield doc
    if not usable:
        raise InputError(
            f"PATH.INPUT: none of the {len(paths)} files in {folder} has usable text "
            "(see the warnings above). Add readable texts or change PATH.INPUT in config.yaml."
        )


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
    decoded = decode_text(data)
    if isinstance(decoded, str):
        warn(f"{path}: skipped, {decoded}")
        return None
    text, encoding = decoded
    if encoding != "utf-8":
        warn(f"{path}: not UTF-8; read as {encoding}.")
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
        warn(
            f"{path}: skipped, PDF support is unavailable ({error}). "
            "Install the dependencies (pip install -e .) or convert the PDF to .txt first."
        )
        return None
    try:
        return strip_gutenberg(_normalise_newlines(extract_pdf_text(path)))
    except PdfError as error:
        warn(f"{path}: skipped, {error}")
        return None


# --------------------------------------------------------------------------- sentences
#
# Speed: the text is handled in a few whole-string passes (regexes that begin with a literal
# character, so the engine skips ahead fast, and str/bytes methods); Python code runs once per
# sentence, never once per character. Inside these passes "\x00" separates paragraphs and then
# sentences, since a newline is only a line wrap once paragraph breaks are marked.

# Whitespace other than " ", "\n" and "\r" (tabs, no-break and other Unicode spaces).
_ODD_WHITESPACE = "".join(c for c in map(chr, range(0x3001)) if c.isspace() and c not in " \n\r")
_ODD_WHITESPACE_RUN = re.compile(f"[{_ODD_WHITESPACE}]+")
# A heading-like line: a Markdown heading, a line with two or more capitals and no lowercase
# letters ("1. INTRODUCTION"), or a rule such as "-----" or "* * *".
_HEADING = (
    r"(?:#{1,6}[ ]"
    r"|(?=[^a-z\n]{2,80}+\n)(?=[^A-Z\n]*+[A-Z][^A-Z\n]*+[A-Z])"
    r"|(?=[-=*_~](?:[ ]*+[-=*_~]){2,}+[ ]*+\n))"
)
# Where a paragraph starts: after blank lines, and at a list item ("- x", "• x", "3. x",
# "2) x", "(a) x") or a heading. The match (with any indentation) becomes "\x00".
_PARAGRAPH_START = re.compile(
    r"\n(?=[ \n\-*+•0-9(#A-Z=_~])(?:(?:[ ]*+\n)++[ ]*+"
    r"|[ ]*+(?=(?:[-*+•]|\d{1,3}[.)]|\([0-9A-Za-z]{1,3}\))[ ]|" + _HEADING + "))"
)
# A heading line followed directly by text: end its paragraph too.
_HEADING_LINE = re.compile(r"\x00(" + _HEADING + r"[^\n]*+)\n")
_HAS_WORD = re.compile(r"[^\W_]")  # a letter or digit

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
    return "".join(rf"(?<!\b(?i:{'|'.join(group)})\.[ ])" for _, group in sorted(by_length.items()))


# The spaces between two sentences in a paragraph. The next word must open like a sentence
# (uppercase letter or digit, maybe after opening quotes), and the first space must follow
# ! ? … or several dots, or a period and closers, or a lone period that does not end an
# abbreviation, an initial, a paragraph's enumerator ("1.", "IV.") or "No." before a number.
_SENTENCE_BREAK = re.compile(
    r"[ ](?<=[.!?…" + _CLOSER[1:-1] + r"][ ])"  # cheap filter first: most spaces fail here
    r"(?:(?<=[!?…][ ])|(?<=[!?…]" + _CLOSER + r"[ ])|(?<=[!?…]" + _CLOSER * 2 + r"[ ])"
    r"|(?<=\.\.[ ])|(?<=\." + _CLOSER + r"[ ])|(?<=\." + _CLOSER * 2 + r"[ ])"
    r"|(?<=\.[ ])(?<!\b[A-Za-zÀ-ÖØ-Þ]\.[ ])"
    + _none_before_period(_ABBREVIATIONS)
    + r"(?<!\x00\d\.[ ])(?<!\x00\d\d\.[ ])(?<!\x00\d\d\d\.[ ])(?<!\x00\d\.\d\.[ ])"
    r"(?<!\x00[IVXLCivxlc]{2}\.[ ])(?<!\x00[IVXLCivxlc]{3}\.[ ])(?<!\x00[IVXLCivxlc]{4}\.[ ])"
    r"(?:(?![ ]*+\d)|" + _none_before_period(_NUMBERED_ABBREVIATIONS) + "))"
    r"[ ]*+(?=[\"'“‘(\[_*¿¡]*+[A-Z0-9À-ÖØ-ÞΑ-ΩА-ЯЁ])"
)


def clean_whitespace(text: str) -> str:
    """Newlines to spaces, runs of whitespace to one space, ends stripped. Example: ' a\\n b ' ->
    'a b'. `split_sentences` reads paragraph breaks first, then cleans each sentence so."""
    return " ".join(text.split())


def split_sentences(text: str) -> list[str]:
    """Whole sentences, each whitespace-cleaned. Example: 'Hi there. Mr. X came.' -> ['Hi
    there.', 'Mr. X came.']. Paragraph breaks, heading-like lines and list items also end one;
    pieces without a letter or digit (a lone "* * *") are dropped."""
    return [sentence for batch, _ in _sentence_batches(text) for sentence in batch]


def _sentence_lines(text: str) -> str:
    """The text as "\\x00"-separated sentences (their whitespace not yet cleaned), ending with
    "\\x00". Example: 'A b.\\nC d.\\n\\n# E' -> '\\x00A b. C d.\\x00# E\\x00'."""
    if any(space in text for space in _ODD_WHITESPACE):
        text = _ODD_WHITESPACE_RUN.sub(" ", text)
    text = _PARAGRAPH_START.sub("\x00", "\x00" + text + "\n\n")
    text = _HEADING_LINE.sub("\x00\\1\x00", text).replace("\n", " ")
    return _SENTENCE_BREAK.sub("\x00", text)


# --------------------------------------------------------------------------- tokens and chunks


def _byte_classes() -> bytes:
    """A `bytes.translate` table: ASCII letters and digits -> "a", "\\x00" (the separator) kept,
    any other first byte of a character -> "." (UTF-8 continuation bytes are deleted apart)."""
    table = bytearray(b"." * 256)
    for byte in b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789":
        table[byte] = ord("a")
    table[0] = 0
    return bytes(table)


_BYTE_CLASS = _byte_classes()
_UTF8_CONTINUATION = bytes(range(0x80, 0xC0))
_WORD_PIECE = b"aaaaaa"  # every 6 letters or digits in a row count one more token


def _char_classes(text: str) -> bytes:
    """One class byte per character. Example: 'Hé 42!' -> b'a..aa.'."""
    return text.encode("utf-8", "surrogatepass").translate(_BYTE_CLASS, _UTF8_CONTINUATION)


def count_tokens(text: str) -> int:
    """Approximate LLaMA/GPT-4 token count, within ~15% on English prose. Example: 'Hello,
    world!' -> 4. Additive: the count of texts joined by spaces is the sum of their counts.

    After cleaning whitespace: one token for the first word, one per other character
    (punctuation, the space before each further word, an accented or non-Latin letter) and one
    more per 6 ASCII letters or digits in a row (rarer long words split into pieces)."""
    classes = _char_classes(clean_whitespace(text))
    if not classes:
        return 0
    return 1 + classes.count(b".") + classes.count(_WORD_PIECE)


def chunk_sentences(sentences: list[str], max_tokens: int) -> list[tuple[str, int]]:
    """Greedy packing into (text, tokens) chunks of at most `max_tokens`, never splitting a
    sentence. Example: ['A b.', 'C d.', 'E f.'] at 6 -> [('A b. C d.', 6), ('E f.', 3)]."""
    return list(_pack([(sentences, [count_tokens(s) for s in sentences])], max_tokens))


def _pack(
    batches: Iterable[tuple[list[str], list[int]]], max_tokens: int
) -> Iterator[tuple[str, int]]:
    """`chunk_sentences` over batches of (sentences, their token counts), in order, as a stream:
    a chunk comes out as soon as it is full."""
    if max_tokens < 1:
        raise ValueError(f"max_tokens must be at least 1, got {max_tokens}")
    current: list[str] = []
    total = 0
    for sentences, counts in batches:
        for sentence, tokens in zip(sentences, counts, strict=True):
            if current and total + tokens > max_tokens:
                yield " ".join(current), total
                current, total = [], 0
            current.append(sentence)
            total += tokens
    if current:
        yield " ".join(current), total


def _sentence_batches(text: str) -> Iterator[tuple[list[str], list[int]]]:
    """`split_sentences(text)` with each sentence's `count_tokens`, a block at a time. Each
    character gets one class byte, so a sentence's classes sit at the offsets of its text."""
    for block in _blocks(text):
        lines = _sentence_lines(block)
        classes = _char_classes(lines)
        others = classes.translate(None, b"a").split(b"\x00")  # all but letters and digits
        sentences: list[str] = []
        counts: list[int] = []
        start = 0
        for line, other in zip(lines.split("\x00"), others, strict=True):
            end = start + len(line)
            # Lines whose every character is "other" may still hold a non-ASCII letter.
            if len(other) < len(line) or _HAS_WORD.search(line):
                if line[0] == " " or line[-1] == " " or "  " in line:  # rare: indented lines
                    line = clean_whitespace(line)
                    counts.append(count_tokens(line))
                else:
                    counts.append(1 + len(other) + classes.count(_WORD_PIECE, start, end))
                sentences.append(line)
            start = end + 1
        yield sentences, counts


_BLOCK_CHARS = 1 << 14


def _blocks(text: str) -> Iterator[str]:
    """`text` in pieces of about `_BLOCK_CHARS`, cut only at blank lines (which end sentences
    anyway), so that every pass over a piece runs in the CPU cache."""
    text = _normalise_newlines(text)
    start = 0
    while start < len(text):
        cut = text.find("\n\n", start + _BLOCK_CHARS)
        end = len(text) if cut < 0 else cut
        yield text[start:end]
        start = end


def chunk_documents(docs: Iterable[InputDocument], max_tokens: int) -> list[Chunk]:
    """Chunks of every document in order; ids depend only on filename, position and text."""
    return list(iter_chunks(docs, max_tokens))


def iter_chunks(
    docs: Iterable[InputDocument], max_tokens: int, warn: Warn | None = None
) -> Iterator[Chunk]:
    """`chunk_documents` as a stream: a document's chunks come out before the next is read."""
    for doc in docs:
        packed = _pack(_sentence_batches(doc.text), max_tokens)
        index = 0
        for text, tokens in packed:
            pieces = [(text, tokens)]
            if tokens > max_tokens:
                pieces = cut_to_budget(text, max_tokens)
                if warn is not None:
                    warn(
                        f"{doc.path}: a sentence of about {tokens:,} tokens (more than "
                        f"SYSTEM.CHUNK_SIZE, {max_tokens}) was cut into {len(pieces)} chunks."
                    )
            for piece, piece_tokens in pieces:
                chunk_id = content_id(doc.source.filename, str(index), piece)
                yield Chunk(chunk_id, doc.source, index, piece, piece_tokens)
                index += 1


def cut_to_budget(sentence: str, max_tokens: int) -> list[tuple[str, int]]:
    """Pieces of one over-long sentence, each within `max_tokens`: cut at spaces, and a word
    longer than the budget at characters. Example: ('a b c d', 2) -> [('a b', 2), ('c d', 2)]."""
    words: list[str] = []
    for word in sentence.split(" "):
        if count_tokens(word) <= max_tokens:
            words.append(word)
        else:  # every character counts at most one token, plus one for the piece
            step = max(1, max_tokens - 1)
            words += [word[i : i + step] for i in range(0, len(word), step)]
    return list(_pack([(words, [count_tokens(word) for word in words])], max_tokens))
