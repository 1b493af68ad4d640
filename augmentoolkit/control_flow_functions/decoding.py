"""A text file's bytes to text, in whatever encoding it came in.

In order: a UTF-16 byte-order mark, or BOM-less UTF-16 (NULs in nearly every other byte); any
other NUL means binary; strict UTF-8 (with or without BOM); Windows-1252 when its reading is
clean (the commonest legacy encoding of Western text, and short texts give a detector too
little to go on); otherwise the encoding `charset-normalizer` finds most likely (Cyrillic
cp1251 and KOI8-R, Chinese GB2312/GB18030 and Big5, Japanese Shift_JIS and EUC-JP, ...).
A file is refused when it looks binary or when no encoding reads it cleanly, with the reason.
Uses charset-normalizer (well kept, pure Python, what `requests` uses) rather than a hand-made
table of byte statistics.
"""

from __future__ import annotations

import re

from charset_normalizer import from_bytes
from charset_normalizer.md import mess_ratio

_UTF16_BOMS = (b"\xff\xfe", b"\xfe\xff")
# C0 controls other than tab, newline, vertical tab, form feed and carriage return, plus DEL:
# what binary data is full of, and what no text encoding produces from real text.
_RAW_CONTROLS = re.compile(rb"[\x00-\x08\x0e-\x1f\x7f]")
# The same and the C1 range, in decoded text.
_CONTROL_CHARS = re.compile(r"[\x00-\x08\x0e-\x1f\x7f-\x9f]")
_SAMPLE = 65536
_BINARY_CONTROL_SHARE = 0.05
CLEAN = 0.2  # most "mess" (charset-normalizer's measure) a reading may show to count as clean
BINARY = "it looks like a binary file, not text."
UNREADABLE = (
    "its encoding could not be told with confidence (not UTF-8, Windows-1252 or another "
    "common encoding). Save it as UTF-8."
)


def decode_bytes(data: bytes) -> str | None:
    """The text, or None when the bytes are binary or undecodable.
    Example: b'caf\\xe9' -> 'café'."""
    decoded = decode_text(data)
    return None if isinstance(decoded, str) else decoded[0]


def decode_text(data: bytes) -> tuple[str, str] | str:
    """(text, encoding used), or the reason the bytes cannot be read as text."""
    if data.startswith(_UTF16_BOMS):
        return _decoded(data, "utf-16") or BINARY
    bom_less_utf16 = _guess_utf16(data)
    if bom_less_utf16:
        return _decoded(data, bom_less_utf16) or BINARY
    if b"\x00" in data or _looks_binary(data):
        return BINARY
    utf8 = _decoded(data, "utf-8-sig")  # with or without a byte-order mark
    if utf8 is not None:
        return utf8[0], "utf-8"
    western = _decoded(data, "cp1252")
    if western is not None and mess_ratio(western[0][:_SAMPLE], 1.0) <= CLEAN:
        return western
    best = from_bytes(data[: _SAMPLE * 4]).best()
    if best is None or best.percent_chaos > CLEAN * 100:
        return UNREADABLE
    found = _decoded(data, best.encoding)
    if found is None or _CONTROL_CHARS.search(found[0][:_SAMPLE]):
        return UNREADABLE
    return found


def _decoded(data: bytes, encoding: str) -> tuple[str, str] | None:
    try:
        return data.decode(encoding), encoding.replace("_", "-")
    except (UnicodeDecodeError, LookupError):
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


def _looks_binary(data: bytes) -> bool:
    sample = data[:_SAMPLE]
    return len(_RAW_CONTROLS.findall(sample)) > _BINARY_CONTROL_SHARE * max(len(sample), 1)
