"""Token counts without a tokenizer: per-character weights, by one of two rules per document.

Each character gets one class byte (from the first byte of its UTF-8 form, so a whole text is
classed by one `bytes.translate`), and a rule counts one token for the first word plus a weight
for each occurrence of its class patterns. Runs are counted with `bytes.count`, never per
character in Python. Both rules are additive: the count of sentences joined by spaces is the sum
of their counts (a space breaks every run).

- ENGLISH: the rule chunking has always used, within ~15% of LLaMA and GPT-4 on English prose:
  one token per character that is not an ASCII letter or digit (punctuation, the space before
  each further word, any other letter), one more per 6 ASCII letters or digits in a row.
- OTHER, for any other language: the embedded model's tokenizer (SmolLM2, trained mostly on
  English) cuts other languages much finer, so this rule is set above its real counts on a
  paragraph of each of 21 languages (bench/languages.py, through the model's own llama.cpp
  tokenizer): digits one each (it splits numbers into digits), ASCII letters one more per 3
  and per 5 in a row, accented Latin letters 3, Greek and Cyrillic 1, Hebrew and Arabic 1.5,
  Indic, Thai, Kana and Han 2.5, Hangul, Georgian, Khmer, Myanmar and Vietnamese's extra
  letters 3. A tokenizer with a larger vocabulary for a language (Qwen for Chinese, LLaMA-3)
  should need fewer tokens: chunks then come out smaller than CHUNK_SIZE allows.

`rule_for(text)`: ENGLISH for text in English (function words, `words.guess_language`) written
mostly in Latin letters with almost no accents; OTHER for everything else.
"""

from __future__ import annotations

from dataclasses import dataclass

from augmentoolkit.control_flow_functions.words import ENGLISH as ENGLISH_CODE
from augmentoolkit.control_flow_functions.words import guess_language

ASCII_LETTERS = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
UTF8_CONTINUATION = bytes(range(0x80, 0xC0))  # deleted: one class byte per character
SAMPLE_CHARS = 4000
MOST_ACCENTED = 0.03  # share of accented Latin letters above which a text is not English


@dataclass(frozen=True)
class TokenRule:
    """Class bytes per UTF-8 first byte ("\\x00", the sentence separator, stays itself), the
    tokens each class pattern adds, and the most tokens one character can add."""

    name: str
    table: bytes
    weights: tuple[tuple[bytes, int], ...]
    most_per_char: int

    def classes(self, text: str) -> bytes:
        """One class byte per character. Example (ENGLISH): 'Hé 42!' -> b'a..aa.'."""
        return text.encode("utf-8", "surrogatepass").translate(self.table, UTF8_CONTINUATION)

    def count(self, classes: bytes, start: int = 0, end: int | None = None) -> int:
        """Tokens of the (whitespace-cleaned) text whose classes[start:end] are given."""
        stop = len(classes) if end is None else end
        if stop <= start:
            return 0
        found = (weight * classes.count(pattern, start, stop) for pattern, weight in self.weights)
        return 1 + sum(found)


def _table(classes: dict[bytes, bytes]) -> bytes:
    table = bytearray(b"." * 256)
    for class_byte, first_bytes in classes.items():
        for byte in first_bytes:
            table[byte] = class_byte[0]
    table[0] = 0
    return bytes(table)


# Tokens per occurrence of each OTHER class pattern: a pair in a row ("hh", "cc") adds one more,
# so long runs weigh 1.5 and 2.5 a character; ASCII letters add one per 3 and one per 5 in a row.
OTHER_WEIGHTS = (
    (b".", 1),
    (b"g", 1),
    (b"h", 1),
    (b"hh", 1),
    (b"c", 2),
    (b"cc", 1),
    (b"l", 3),
    (b"k", 3),
    (b"aaa", 1),
    (b"aaaaa", 1),
)
ENGLISH = TokenRule(
    "english",
    _table({b"a": ASCII_LETTERS + b"0123456789"}),
    ((b".", 1), (b"aaaaaa", 1)),
    most_per_char=1,
)
OTHER = TokenRule(
    "other",
    _table(
        {
            b"a": ASCII_LETTERS,
            b"l": bytes(range(0xC2, 0xCE)),  # U+0080-036F: accented Latin, combining marks
            b"g": bytes(range(0xCE, 0xD6)),  # Greek, Cyrillic, Armenian
            b"h": bytes(range(0xD6, 0xE0)),  # Hebrew, Arabic, Syriac, Thaana
            b"c": bytes([0xE0, *range(0xE3, 0xEA)]),  # Indic and Thai; Kana and Han
            b"k": bytes([0xE1, *range(0xEA, 0xEE)]),  # Georgian, Khmer, Latin ext.; Hangul
        }
    ),
    OTHER_WEIGHTS,
    most_per_char=3,
)


def rule_for(text: str) -> TokenRule:
    """ENGLISH for an English text, OTHER for any other; decided on a sample from the middle
    (where a book's body is). Examples: 'The cat sat.' -> ENGLISH; 'Der Fluss.' -> OTHER."""
    middle = len(text) // 2
    sample = text[max(0, middle - SAMPLE_CHARS // 2) : middle + SAMPLE_CHARS // 2]
    if guess_language(sample) != ENGLISH_CODE:
        return OTHER
    letters = [c for c in sample if c.isalpha()]
    latin = [c for c in letters if c < "\u0250"]
    if len(latin) * 2 < len(letters):  # mostly a script guess_language has no name for
        return OTHER
    accented = sum(not c.isascii() for c in latin)
    return OTHER if accented > MOST_ACCENTED * len(latin) else ENGLISH
