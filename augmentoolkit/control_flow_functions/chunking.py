"""Stage 1: cut every input document into chunks of whole sentences. No LLM.

Reading is documents.py's (files: inputs.py; formats: formats.py and markup.py), re-exported
here. Then: split the text into sentences; count tokens; pack sentences greedily into chunks of
at most `max_tokens`. A structured document (.md, .html, .docx, .epub) is chunked section by
section: each heading starts a new chunk, and every chunk of a section opens with its heading
path as a sentence of its own ("Setup > Linux. Run the installer."), counted in the budget.

Whitespace: paragraph structure is read from the raw text first, because blank lines, headings
and list items are sentence boundaries that collapsing would erase; then each sentence is
cleaned as by `clean_whitespace`, so every sentence and chunk is one line with single spaces.

Offline by design: no NLTK, no tokenizer download. The sentence splitter is a handful of regexes
(abbreviations, initials, decimals and list numbers are not sentence ends), and `count_tokens`
approximates LLaMA and GPT-4 (cl100k) counts within about 15% on English prose (checked against
published counts in tests/test_chunking.py); code and numbers can be further off, and other
languages get a rule of their own (below). Speed: whole-text passes run block by block in the
CPU cache and Python code runs once per sentence, never per character, so reading and chunking
plain English runs at about 20 MB/s or more on one core.

A sentence longer than the whole budget (a table flattened to one line, a file with no stops)
is cut at spaces into pieces that fit, or at characters when a "word" alone is too long, with
one warning naming the file: otherwise one chunk could outgrow any model's context.

Other scripts: Chinese and Japanese full stops end a sentence with no space after them, a line
wrap between CJK characters is no space, the danda and the Arabic question mark end one, and
in Thai (no full stops) a space does; a period before a letter of a script without capitals
ends one too. Tokens are counted by one of two rules (tokens.py), chosen per document: an
English document keeps the rule above and its sentences, byte for byte (its chunk ids stay as
they were, and it skips looking for the other scripts' stops); any other language gets a
conservative rule, set above the embedded model's real tokenizer (SmolLM2, which splits
non-English text finely) on a paragraph per script (bench/languages.py).

Deliberately not done: caching chunks between runs.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator

from augmentoolkit.control_flow_functions.documents import (  # re-exported: callers read here
    InputDocument,
    iter_documents,
    parse_source_info,
    read_documents,
)
from augmentoolkit.control_flow_functions.formats import Warn, strip_gutenberg
from augmentoolkit.control_flow_functions.formats import normalise_newlines as _normalise_newlines
from augmentoolkit.control_flow_functions.tokens import ENGLISH, TokenRule, rule_for
from augmentoolkit.records import Chunk, content_id

__all__ = [
    "InputDocument",
    "chunk_documents",
    "chunk_sentences",
    "clean_whitespace",
    "count_tokens",
    "cut_to_budget",
    "iter_chunks",
    "iter_documents",
    "parse_source_info",
    "read_documents",
    "split_sentences",
    "strip_gutenberg",
]


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


# Letters of scripts without capitals, any of which may open a sentence: Hebrew, Arabic, the
# Indic scripts, Thai, Georgian, Kana and Han, Hangul.
_CASELESS = "\u05d0-\u06ff\u0900-\u0dff\u0e00-\u0e7f\u10d0-\u10ff\u3040-\u9fff\uac00-\ud7af"
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
    r"[ ]*+(?=[\"'“‘(\[_*¿¡]*+[A-Z0-9À-ÖØ-ÞΑ-ΩЀ-ЯҐԱ-Ֆ" + _CASELESS + "])"
)
# Stops of their own: Chinese and Japanese full stops need no space after them, and the
# Devanagari danda and the Arabic question mark end a sentence before any letter (no capitals
# there). Thai writes no full stop: a space between Thai words ends a sentence or a clause.
_OWN_STOP = re.compile("([。！？｡।॥؟۔][」』）】〕〉》”’\"')]*+)[ ]*+(?=[^\x00 ])")
_THAI_SPACE = re.compile("(?<=[\u0e00-\u0e7f])[ ]++(?=[\u0e00-\u0e7f])")
# A line wrap between two CJK characters is no space: those scripts put none between words.
_CJK = "\u3000-\u9fff\uf900-\ufaff\uff00-\uffef"
_CJK_WRAP = re.compile(f"(?<=[{_CJK}])\n(?=[{_CJK}])")
_OWN_RULES = re.compile(f"[{_CJK}।॥؟۔\u0e00-\u0e7f]")  # a text that needs the three above


def clean_whitespace(text: str) -> str:
    """Newlines to spaces, runs of whitespace to one space, ends stripped. Example: ' a\\n b ' ->
    'a b'. `split_sentences` reads paragraph breaks first, then cleans each sentence so."""
    return " ".join(text.split())


def split_sentences(text: str) -> list[str]:
    """Whole sentences, each whitespace-cleaned. Example: 'Hi there. Mr. X came.' -> ['Hi
    there.', 'Mr. X came.']. Paragraph breaks, heading-like lines and list items also end one;
    pieces without a letter or digit (a lone "* * *") are dropped."""
    return [sentence for batch, _ in _sentence_batches(text) for sentence in batch]


def _sentence_lines(text: str, own_rules: bool | None = None) -> str:
    """The text as "\\x00"-separated sentences (their whitespace not yet cleaned), ending with
    "\\x00". Example: 'A b.\\nC d.\\n\\n# E' -> '\\x00A b. C d.\\x00# E\\x00'.
    `own_rules`: apply the stops of other scripts (None: when the text has their characters)."""
    if any(space in text for space in _ODD_WHITESPACE):
        text = _ODD_WHITESPACE_RUN.sub(" ", text)
    if own_rules is None:
        own_rules = not text.isascii() and _OWN_RULES.search(text) is not None
    text = _PARAGRAPH_START.sub("\x00", "\x00" + text + "\n\n")
    text = _HEADING_LINE.sub("\x00\\1\x00", text)
    if own_rules:
        text = _CJK_WRAP.sub("", text)
    text = _SENTENCE_BREAK.sub("\x00", text.replace("\n", " "))
    if own_rules:
        text = _THAI_SPACE.sub("\x00", _OWN_STOP.sub("\\1\x00", text))
    return text


# --------------------------------------------------------------------------- tokens and chunks


_WORD_PIECE = b"aaaaaa"  # ENGLISH: every 6 letters or digits in a row count one more token


def _char_classes(text: str) -> bytes:
    """One ENGLISH class byte per character. Example: 'Hé 42!' -> b'a..aa.'."""
    return ENGLISH.classes(text)


def count_tokens(text: str, rule: TokenRule = ENGLISH) -> int:
    """Approximate token count (tokens.py). ENGLISH, the default: LLaMA/GPT-4 within ~15% on
    English prose. Example: 'Hello, world!' -> 4. Additive: the count of texts joined by spaces
    is the sum of their counts.

    After cleaning whitespace: one token for the first word, one per other character
    (punctuation, the space before each further word, an accented or non-Latin letter) and one
    more per 6 ASCII letters or digits in a row (rarer long words split into pieces). OTHER
    weighs characters by script (tokens.py)."""
    return rule.count(rule.classes(clean_whitespace(text)))


def chunk_sentences(
    sentences: list[str], max_tokens: int, rule: TokenRule = ENGLISH
) -> list[tuple[str, int]]:
    """Greedy packing into (text, tokens) chunks of at most `max_tokens`, never splitting a
    sentence. Example: ['A b.', 'C d.', 'E f.'] at 6 -> [('A b. C d.', 6), ('E f.', 3)]."""
    return list(_pack([(sentences, [count_tokens(s, rule) for s in sentences])], max_tokens))


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


def _sentence_batches(
    text: str, rule: TokenRule | None = None
) -> Iterator[tuple[list[str], list[int]]]:
    """`split_sentences(text)` with each sentence's `count_tokens`, a block at a time. Each
    character gets one class byte, so a sentence's classes sit at the offsets of its text.
    A document's `rule` decides the other scripts' stops too (an English document keeps its old
    sentences, and skips looking for them); None: the ENGLISH count, stops where the text has
    them."""
    own_rules = None if rule is None else rule is not ENGLISH
    rule = rule or ENGLISH
    for block in _blocks(text):
        lines = _sentence_lines(block, own_rules)
        if rule is not ENGLISH:
            kept = [clean_whitespace(ln) for ln in lines.split("\x00") if _HAS_WORD.search(ln)]
            yield kept, [count_tokens(line, rule) for line in kept]
            continue
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
        index = 0
        rule = rule_for(doc.text)  # English text keeps the English rule: its ids never change
        for context, text in _parts(doc, max_tokens, rule):
            budget = max_tokens - count_tokens(context, rule)
            for piece, piece_tokens in _fitted(doc, text, budget, warn, rule):
                if context:
                    piece = f"{context} {piece}"
                    piece_tokens = count_tokens(piece, rule)
                chunk_id = content_id(doc.source.filename, str(index), piece)
                yield Chunk(chunk_id, doc.source, index, piece, piece_tokens)
                index += 1


def _parts(
    doc: InputDocument, max_tokens: int, rule: TokenRule = ENGLISH
) -> Iterator[tuple[str, str]]:
    """(context, text) pairs to chunk apart: the whole text with no context, or each section
    with its heading path (at most a quarter of the budget)."""
    if not doc.sections:
        yield "", doc.text
    for section in doc.sections:
        yield _heading_context(section.headings, max_tokens // 4, rule), section.text


def _heading_context(headings: tuple[str, ...], budget: int, rule: TokenRule = ENGLISH) -> str:
    """The heading path as a sentence within `budget` tokens, outer headings dropped first (""
    if even the last is too long). Example: ('Setup', 'On Linux') -> 'Setup > On Linux.'."""
    for start in range(len(headings)):
        path = " > ".join(headings[start:])
        context = path if path[-1] in ".!?…" else f"{path}."
        if count_tokens(context, rule) <= budget:
            return context
    return ""


def _fitted(
    doc: InputDocument, text: str, max_tokens: int, warn: Warn | None, rule: TokenRule = ENGLISH
) -> Iterator[tuple[str, int]]:
    """`text` packed into chunks; a sentence over the budget is cut to fit, with a warning."""
    for packed, tokens in _pack(_sentence_batches(text, rule), max_tokens):
        if tokens <= max_tokens:
            yield packed, tokens
            continue
        pieces = cut_to_budget(packed, max_tokens, rule)
        if warn is not None:
            warn(
                f"{doc.path}: a sentence of about {tokens:,} tokens (more than "
                f"SYSTEM.CHUNK_SIZE, {max_tokens}) was cut into {len(pieces)} chunks."
            )
        yield from pieces


def cut_to_budget(
    sentence: str, max_tokens: int, rule: TokenRule = ENGLISH
) -> list[tuple[str, int]]:
    """Pieces of one over-long sentence, each within `max_tokens`: cut at spaces, and a word
    longer than the budget at characters. Example: ('a b c d', 2) -> [('a b', 2), ('c d', 2)]."""
    words: list[str] = []
    for word in sentence.split(" "):
        if count_tokens(word, rule) <= max_tokens:
            words.append(word)
        else:  # a character counts at most rule.most_per_char tokens, plus one for the piece
            step = max(1, (max_tokens - 1) // rule.most_per_char)
            words += [word[i : i + step] for i in range(0, len(word), step)]
    return list(_pack([(words, [count_tokens(word, rule) for word in words])], max_tokens))
