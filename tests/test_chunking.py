"""Tests for stage 1, read and chunk: a worked packing example with known boundaries, case
tables for the sentence splitter and the token counter, the token counter against published
LLaMA and GPT-4 counts, decoding and reading real files in tmp folders, and the shipped sample."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from augmentoolkit.control_flow_functions import chunking
from augmentoolkit.control_flow_functions.chunking import (
    InputDocument,
    chunk_documents,
    chunk_sentences,
    clean_whitespace,
    count_tokens,
    parse_source_info,
    read_documents,
    split_sentences,
    strip_gutenberg,
)
from augmentoolkit.control_flow_functions.decoding import decode_bytes
from augmentoolkit.control_flow_functions.inputs import list_input_files
from augmentoolkit.errors import InputError
from augmentoolkit.records import content_id

REPO = Path(__file__).resolve().parents[1]
SAMPLE_NAME = "Simple Sabotage, by the Office of Strategic Services, published 1944.txt"
SAMPLE = REPO / "raw_txt_input" / SAMPLE_NAME


def read_all(folder: Path) -> tuple[list[InputDocument], list[str]]:
    warnings: list[str] = []
    return read_documents(folder, warnings.append), warnings


def doc(text: str, name: str = "notes.txt") -> InputDocument:
    return InputDocument(Path(name), parse_source_info(Path(name)), text)


# --------------------------------------------------------------------------- worked example

# Six sentences whose counts follow from the rule in `count_tokens`: one for the first word,
# one per other character (each space before a further word, each punctuation mark), no word
# here reaches 6 letters. "Dogs bark at night." = 1 + 3 spaces + 1 period = 5.
SIX = [
    ("The cat sat.", 4),
    ("Dogs bark at night.", 5),
    ("It rains.", 3),
    ("Birds sing loud songs now.", 6),
    ("Go!", 2),
    ("We all went home at dusk.", 7),
]
SIX_TEXT = " ".join(sentence for sentence, _ in SIX)


@pytest.mark.parametrize(("sentence", "tokens"), SIX)
def test_worked_example_token_counts(sentence: str, tokens: int) -> None:
    assert count_tokens(sentence) == tokens


@pytest.mark.parametrize(
    ("max_tokens", "expected"),
    [
        # 4+5 = 9 fits exactly, and so do 3+6 and 2+7: the limit is inclusive.
        (9, [("The cat sat. Dogs bark at night.", 9), ("It rains. Birds sing loud songs now.", 9),
             ("Go! We all went home at dusk.", 9)]),
        # 4+5 > 8, so the first chunk holds one sentence; the last partial chunk is kept.
        (8, [("The cat sat.", 4), ("Dogs bark at night. It rains.", 8),
             ("Birds sing loud songs now. Go!", 8), ("We all went home at dusk.", 7)]),
        # No two sentences fit together; the one sentence over the budget is cut at a space.
        (6, [("The cat sat.", 4), ("Dogs bark at night.", 5), ("It rains.", 3),
             ("Birds sing loud songs now.", 6), ("Go!", 2), ("We all went home at", 5),
             ("dusk.", 2)]),
        (100, [(SIX_TEXT, 27)]),
    ],
)  # fmt: skip
def test_worked_example_chunk_boundaries(max_tokens: int, expected: list[tuple[str, int]]) -> None:
    assert split_sentences(SIX_TEXT) == [sentence for sentence, _ in SIX]
    if max_tokens >= max(tokens for _, tokens in SIX):  # packing alone never cuts a sentence
        assert chunk_sentences([sentence for sentence, _ in SIX], max_tokens) == expected
    chunks = chunk_documents([doc(SIX_TEXT)], max_tokens)
    assert [(c.text, c.tokens) for c in chunks] == expected
    assert [c.index for c in chunks] == list(range(len(expected)))
    assert [c.id for c in chunks] == [
        content_id("notes.txt", str(i), text) for i, (text, _) in enumerate(expected)
    ]


def test_chunk_sentences_edges() -> None:
    assert chunk_sentences([], 10) == []
    with pytest.raises(ValueError, match="max_tokens"):
        chunk_sentences(["A b."], 0)


# --------------------------------------------------------------------------- sentences

SPLITS = [
    # abbreviations, initials and numbers do not end a sentence
    ("Mr. Smith went to Washington. He arrived late.",
     ["Mr. Smith went to Washington.", "He arrived late."]),
    ("Dr. Jones and Mrs. Brown met St. Peter. Nobody else came.",
     ["Dr. Jones and Mrs. Brown met St. Peter.", "Nobody else came."]),
    ("Tools, e.g. hammers, help. So do nails, i.e. spikes.",
     ["Tools, e.g. hammers, help.", "So do nails, i.e. spikes."]),
    ("Bring pens, etc. We supply the rest.", ["Bring pens, etc. We supply the rest."]),
    ("The U.S. Army landed. It was 1944.", ["The U.S. Army landed.", "It was 1944."]),
    ("J. R. R. Tolkien wrote it. He taught.", ["J. R. R. Tolkien wrote it.", "He taught."]),
    ("Compare A vs. B today. Then rest.", ["Compare A vs. B today.", "Then rest."]),
    ("See No. 5 in Fig. 3 here. Then stop.", ["See No. 5 in Fig. 3 here.", "Then stop."]),
    ("He said no. Then he left.", ["He said no.", "Then he left."]),
    ("It costs 3.5 dollars. Cheap.", ["It costs 3.5 dollars.", "Cheap."]),
    ("Pi is 3.14159 and e is 2.718. Both are irrational.",
     ["Pi is 3.14159 and e is 2.718.", "Both are irrational."]),
    ("He was born in 1944. 17 years later he left.",
     ["He was born in 1944.", "17 years later he left."]),
    # ellipses: inside a sentence when lowercase follows, an end before a capital
    ("Wait... what was that? Nothing.", ["Wait... what was that?", "Nothing."]),
    ("He paused... Then he spoke.", ["He paused...", "Then he spoke."]),
    # ! ? closing quotes and brackets
    ("Is it true? Yes! It is.", ["Is it true?", "Yes!", "It is."]),
    ('"Stop!" she cried. "Why?" he asked.', ['"Stop!" she cried.', '"Why?" he asked.']),
    ("She wrote “Done.” Then she slept.", ["She wrote “Done.”", "Then she slept."]),
    ("It ended (finally.) Everyone left.", ["It ended (finally.)", "Everyone left."]),
    ("Le café est fermé. Ça arrive.", ["Le café est fermé.", "Ça arrive."]),
    # whitespace: wrapped lines join, runs of spaces and tabs collapse
    ("A wrapped\nsentence ends here. Next.", ["A wrapped sentence ends here.", "Next."]),
    ("the end.  Double spaced.\tTab\u00a0too.", ["the end.", "Double spaced.", "Tab too."]),
    # paragraphs, headings and list items are boundaries even without punctuation
    ("The end\n\nA new paragraph", ["The end", "A new paragraph"]),
    ("# Heading\nBody text.", ["# Heading", "Body text."]),
    ("CHAPTER ONE\nIt was a dark night.", ["CHAPTER ONE", "It was a dark night."]),
    ("1. INTRODUCTION\nThe purpose is plain.", ["1. INTRODUCTION", "The purpose is plain."]),
    ("IV. The fourth part. It is short.", ["IV. The fourth part.", "It is short."]),
    ("Items:\n- first\n- second\n3) third\n(d) fourth",
     ["Items:", "- first", "- second", "3) third", "(d) fourth"]),
    ("Title\n=====\nBody.\n\n* * *\n\nMore.", ["Title", "Body.", "More."]),
    ("Line one\r\n\r\nLine two", ["Line one", "Line two"]),
    ("", []),
    ("   \n\n  ", []),
]  # fmt: skip


@pytest.mark.parametrize(("text", "expected"), SPLITS, ids=[t[:30] for t, _ in SPLITS])
def test_split_sentences(text: str, expected: list[str]) -> None:
    assert split_sentences(text) == expected


def test_split_does_not_depend_on_block_size(monkeypatch: pytest.MonkeyPatch) -> None:
    text = strip_gutenberg(SAMPLE.read_text(encoding="utf-8-sig"))
    whole = split_sentences(text)
    monkeypatch.setattr(chunking, "_BLOCK_CHARS", 64)  # cut at nearly every blank line
    assert split_sentences(text) == whole
    assert len(whole) > 400


def test_clean_whitespace() -> None:
    assert clean_whitespace("  a\n b\t\tc \u00a0 ") == "a b c"


# --------------------------------------------------------------------------- tokens

TOKENS = [
    ("", 0),
    ("   \n ", 0),
    ("Hello, world!", 4),  # Hello , world !  (GPT-4: exactly these 4)
    ("2 + 2 = 4", 7),  # digits are words; + and = and the spaces before words count
    ("antidisestablishmentarianism", 5),  # 1 + 28 // 6
    ("sabotage", 2),  # 8 letters: one more piece
    ("café", 2),  # caf + é
    ("  Hello,\n   world!  ", 4),  # whitespace is cleaned first
]


@pytest.mark.parametrize(("text", "tokens"), TOKENS)
def test_count_tokens(text: str, tokens: int) -> None:
    assert count_tokens(text) == tokens


def test_count_tokens_is_additive_over_sentences() -> None:
    sentences = split_sentences(strip_gutenberg(SAMPLE.read_text(encoding="utf-8-sig")))[:80]
    assert count_tokens(" ".join(sentences)) == sum(count_tokens(s) for s in sentences)


# Published token counts, so the "within ~15% on English prose" claim is checked, not assumed.
# LLaMA (1 and 2 share the tokenizer): transformers' tests/test_tokenization_common.py
# sequences with ids from tests/models/llama/test_tokenization_llama.py
# (test_tokenizer_integration, minus the BOS token) and test_simple_encode_decode/integration.
# GPT-4 (cl100k_base): openai-cookbook examples/How_to_count_tokens_with_tiktoken.ipynb.
REFERENCE_COUNTS = {
    "llama": [
        (
            "Transformers (formerly known as pytorch-transformers and pytorch-pretrained-bert) "
            "provides general-purpose architectures (BERT, GPT-2, RoBERTa, XLM, DistilBert, "
            "XLNet...) for Natural Language Understanding (NLU) and Natural Language Generation "
            "(NLG) with over 32+ pretrained models in 100+ languages and deep interoperability "
            "between Jax, PyTorch and TensorFlow.",
            109,
        ),
        (
            "BERT is designed to pre-train deep bidirectional representations from unlabeled "
            "text by jointly conditioning on both left and right context in all layers.",
            33,
        ),
        ("The quick brown fox jumps over the lazy dog.", 12),
        ("This is a test", 4),
        ("The following string should be properly encoded: Hello.", 10),
    ],
    "gpt-4": [
        ("tiktoken is great!", 6),
        ("Hello, world!", 4),
        ("antidisestablishmentarianism", 6),
        ("2 + 2 = 4", 7),
    ],
}


@pytest.mark.parametrize("tokenizer", sorted(REFERENCE_COUNTS))
def test_count_tokens_against_published_counts(tokenizer: str) -> None:
    pairs = REFERENCE_COUNTS[tokenizer]
    ours = sum(count_tokens(text) for text, _ in pairs)
    theirs = sum(count for _, count in pairs)
    assert abs(ours - theirs) <= 0.15 * theirs, (tokenizer, ours, theirs)


@pytest.mark.parametrize(("text", "theirs"), REFERENCE_COUNTS["llama"][:2])
def test_count_tokens_long_sentences_within_15_percent(text: str, theirs: int) -> None:
    # Short sentences can be off by more (one sentence above is +50%); long ones average out.
    assert abs(count_tokens(text) - theirs) <= 0.15 * theirs


def test_count_tokens_on_sample_matches_rule_of_thumb() -> None:
    # OpenAI's rule of thumb for English: about 4 characters per token.
    text = clean_whitespace(strip_gutenberg(SAMPLE.read_text(encoding="utf-8-sig")))
    chars_per_token = len(text) / count_tokens(text)
    assert 4 / 1.15 <= chars_per_token <= 4 * 1.15


# --------------------------------------------------------------------------- Gutenberg

BODY_SENTENCE = "Purposeful stupidity is contrary to human nature."


def test_strip_gutenberg_on_sample() -> None:
    raw = SAMPLE.read_text(encoding="utf-8-sig")
    assert "Project Gutenberg" in raw and BODY_SENTENCE not in raw  # wrapped over two lines
    body = strip_gutenberg(raw)
    assert "Project Gutenberg" not in body
    assert "PROJECT GUTENBERG" not in body
    assert "www.gutenberg.org" not in body
    assert BODY_SENTENCE in split_sentences(body)
    assert body.lstrip().startswith("[Illustration]")


def test_strip_gutenberg_markers() -> None:
    text = (
        "License text.\n*** START OF THIS PROJECT GUTENBERG EBOOK A TITLE ***\nBody.\n"
        "*** END OF THIS PROJECT GUTENBERG EBOOK A TITLE ***\nMore license."
    )
    assert strip_gutenberg(text).strip() == "Body."
    assert strip_gutenberg("No markers. At all.") == "No markers. At all."


# --------------------------------------------------------------------------- decoding

DECODINGS = [
    ("\ufeffCafé “quoted”".encode(), "Café “quoted”"),  # UTF-8 with BOM
    ("Café “quoted”".encode(), "Café “quoted”"),
    ("\ufeffCafé “quoted”".encode("utf-16-le"), "Café “quoted”"),  # UTF-16 LE with BOM
    ("\ufeffCafé “quoted”".encode("utf-16-be"), "Café “quoted”"),
    ("UTF-16 text, no BOM.".encode("utf-16-le"), "UTF-16 text, no BOM."),
    ("Café crème".encode("latin-1"), "Café crème"),
    (b"It\x92s \x93quoted\x94", "It’s “quoted”"),  # cp1252
    (b"", ""),
]  # fmt: skip


@pytest.mark.parametrize(("data", "text"), DECODINGS)
def test_decode_bytes(data: bytes, text: str) -> None:
    assert decode_bytes(data) == text


@pytest.mark.parametrize(
    "data",
    [
        b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00",
        bytes(range(1, 9)) * 100,  # no NUL, but control characters throughout
    ],
)
def test_decode_bytes_binary(data: bytes) -> None:
    assert decode_bytes(data) is None


# --------------------------------------------------------------------------- reading files


def test_read_encodings(tmp_path: Path) -> None:
    (tmp_path / "a_bom.txt").write_bytes("\ufeffÉté à Paris.".encode())
    (tmp_path / "b_utf16.txt").write_bytes("\ufeffÉté à Paris.".encode("utf-16-le"))
    (tmp_path / "c_latin1.txt").write_bytes("Été à Paris.".encode("latin-1"))
    docs, warnings = read_all(tmp_path)
    assert warnings == [  # one line for each file that was not UTF-8, naming the encoding
        f"{tmp_path / 'b_utf16.txt'}: not UTF-8; read as utf-16.",
        f"{tmp_path / 'c_latin1.txt'}: not UTF-8; read as cp1252.",
    ]
    assert [d.path.name for d in docs] == ["a_bom.txt", "b_utf16.txt", "c_latin1.txt"]
    assert [d.text for d in docs] == ["Été à Paris."] * 3


def test_binary_and_empty_files_are_skipped_with_a_warning(tmp_path: Path) -> None:
    (tmp_path / "good.txt").write_text("Fine text.", encoding="utf-8")
    (tmp_path / "empty.txt").write_bytes(b"")
    (tmp_path / "blank.md").write_text(" \n\n ", encoding="utf-8")
    (tmp_path / "image.txt").write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR")
    docs, warnings = read_all(tmp_path)
    assert [d.path.name for d in docs] == ["good.txt"]
    assert len(warnings) == 3
    assert any("empty.txt" in w and "empty" in w for w in warnings)
    assert any("blank.md" in w and "empty" in w for w in warnings)
    assert any("image.txt" in w and "binary" in w for w in warnings)


def test_jsonl_texts_joined_and_bad_lines_warned(tmp_path: Path) -> None:
    lines = [
        json.dumps({"text": "First record."}),
        "{not json",
        json.dumps({"title": "no text field"}),
        "",
        json.dumps({"text": "Second record.", "id": 7}),
        json.dumps(["text"]),
    ]
    (tmp_path / "data.jsonl").write_text("\n".join(lines) + "\n", encoding="utf-8")
    docs, warnings = read_all(tmp_path)
    assert docs[0].text == "First record.\n\nSecond record."
    assert split_sentences(docs[0].text) == ["First record.", "Second record."]
    assert [w.split(": ", 1)[1].split(" skipped")[0] for w in warnings] == [
        "line 2",
        "line 3",
        "line 6",
    ]
    assert all("data.jsonl" in w for w in warnings)


def test_recursion_order_and_what_is_listed(tmp_path: Path) -> None:
    for name in ["b.txt", "a.md", "sub/c.jsonl", "sub/deeper/d.TXT", "z/e.pdf"]:
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text("x", encoding="utf-8")
    for skipped in [".hidden.txt", ".git/f.txt", "notes.rtf", "sub/image.png"]:
        (tmp_path / skipped).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / skipped).write_text("x", encoding="utf-8")
    listed = [p.relative_to(tmp_path).as_posix() for p in list_input_files(tmp_path)]
    assert listed == ["a.md", "b.txt", "sub/c.jsonl", "sub/deeper/d.TXT", "z/e.pdf"]


def test_subfolder_documents_are_read(tmp_path: Path) -> None:
    (tmp_path / "part1").mkdir()
    (tmp_path / "part1" / "one.txt").write_text("One.", encoding="utf-8")
    (tmp_path / "two.md").write_text("Two.", encoding="utf-8")
    docs, _ = read_all(tmp_path)
    assert [(d.source.filename, d.text) for d in docs] == [("one.txt", "One."), ("two.md", "Two.")]


def test_no_usable_files_is_an_input_error_with_a_fix(tmp_path: Path) -> None:
    with pytest.raises(InputError) as error:
        read_all(tmp_path)
    message = str(error.value)
    assert message == (
        f"PATH.INPUT: {tmp_path} has no .txt, .md, .jsonl, .pdf, .docx, .html, .htm or .epub "
        "files. "
        "Put texts there or change PATH.INPUT in config.yaml."
    )
    with pytest.raises(InputError, match="is not a folder"):
        read_all(tmp_path / "missing")
    (tmp_path / "empty.txt").write_bytes(b"")
    with pytest.raises(InputError, match="none of the 1 files"):
        read_all(tmp_path)


def test_pdf_is_read_through_the_converter(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    converter = pytest.importorskip("convert_pdf_to_text")

    def fake_extract(path: Path) -> str:
        if path.name == "bad.pdf":
            raise converter.PdfError("encrypted with a password")
        return "Text from a PDF.\n\nSecond paragraph."

    monkeypatch.setattr(converter, "extract_pdf_text", fake_extract)
    (tmp_path / "good.pdf").write_bytes(b"%PDF-1.4")
    (tmp_path / "bad.pdf").write_bytes(b"%PDF-1.4")
    docs, warnings = read_all(tmp_path)
    assert [d.path.name for d in docs] == ["good.pdf"]
    assert split_sentences(docs[0].text) == ["Text from a PDF.", "Second paragraph."]
    assert warnings == [f"{tmp_path / 'bad.pdf'}: skipped, encrypted with a password"]


# --------------------------------------------------------------------------- the sample


def test_parse_source_info() -> None:
    info = parse_source_info(SAMPLE)
    assert (info.title, info.author, info.published) == (
        "Simple Sabotage",
        "the Office of Strategic Services",
        "1944",
    )
    assert info.filename == SAMPLE.name
    plain = parse_source_info(Path("field notes.md"))
    assert (plain.title, plain.author, plain.published) == ("field notes", "", "")


def test_sample_chunks_fit_the_budget_and_cover_the_text() -> None:
    docs, warnings = read_all(SAMPLE.parent)
    assert warnings == []
    sample = next(d for d in docs if d.path == SAMPLE)
    chunks = chunk_documents([sample], 400)
    sentences = split_sentences(sample.text)
    assert len(chunks) > 20
    for chunk in chunks:
        assert chunk.tokens == count_tokens(chunk.text)
        assert chunk.tokens <= 400 or chunk.text in sentences  # only a lone long sentence
        assert chunk.source.title == "Simple Sabotage"
    assert [c.index for c in chunks] == list(range(len(chunks)))
    assert " ".join(c.text for c in chunks) == " ".join(sentences)
    assert BODY_SENTENCE in " ".join(c.text for c in chunks)
    assert "Project Gutenberg" not in " ".join(c.text for c in chunks)


def test_messy_text_counts_match_count_tokens() -> None:
    # Indented wraps, trailing spaces, tabs, odd spaces, non-Latin letters, CJK and emoji take
    # the fast per-block counting path and the slow per-sentence path; both must agree.
    messy = (
        "  Indented start of text.   \n   Wrapped  line\there.\u2009Next one. \n\n"
        "Он пришёл. Она ушла.\n\n東京は大きい。 Then English again 🙂. Ça va?\n"
        "* * *\n\u00a0Final words… Done."
    ) * 3
    chunks = chunk_documents([doc(messy)], 12)
    for chunk in chunks:
        assert chunk.tokens == count_tokens(chunk.text)
        assert chunk.text == clean_whitespace(chunk.text)
    assert split_sentences(messy)[:3] == [
        "Indented start of text.",
        "Wrapped line here.",
        "Next one.",
    ]
    assert "Final words…" in split_sentences(messy)  # "* * *" is a rule of its own


def test_chunk_ids_are_deterministic_and_distinct() -> None:
    docs, _ = read_all(SAMPLE.parent)
    first = chunk_documents(docs, 400)
    second = chunk_documents(read_all(SAMPLE.parent)[0], 400)
    assert [c.id for c in first] == [c.id for c in second]
    assert len({c.id for c in first}) == len(first)
    renamed = chunk_documents([doc(docs[0].text, "other name.txt")], 400)
    assert renamed[0].text == first[0].text and renamed[0].id != first[0].id


def test_a_file_name_that_is_not_utf8_is_read_not_fatal(tmp_path: Path) -> None:
    from augmentoolkit.control_flow_functions.chunking import chunk_documents, read_documents

    (tmp_path / "good.txt").write_text("A good sentence is here. Another one follows it.")
    bad = os.path.join(os.fsencode(tmp_path), b"caf\xe9 notes.txt")  # Latin-1 bytes in a name
    with open(bad, "wb") as handle:
        handle.write(b"The bad name does not stop the run. Its text is read as well.")
    docs = read_documents(tmp_path, warn=lambda line: None)
    chunks = chunk_documents(docs, 400)
    names = sorted(chunk.source.filename for chunk in chunks)
    assert names == ["caf\ufffd notes.txt", "good.txt"]
    json.dumps([chunk.to_dict() for chunk in chunks], ensure_ascii=False).encode("utf-8")


def test_a_sentence_longer_than_the_budget_is_cut_with_a_warning(tmp_path: Path) -> None:
    from augmentoolkit.control_flow_functions.chunking import count_tokens, iter_chunks

    words = " ".join(f"word{n} and" for n in range(3000))  # one sentence, no stop anywhere
    glued = "x" * 5000  # one "word" alone longer than the budget
    (tmp_path / "table.txt").write_text(f"Short one. {words} {glued}\n\nAfter it.")
    warnings: list[str] = []
    docs = read_documents(tmp_path, warn=warnings.append)
    chunks = list(iter_chunks(docs, 400, warnings.append))
    assert all(chunk.tokens <= 400 for chunk in chunks)
    assert all(count_tokens(chunk.text) == chunk.tokens for chunk in chunks)
    assert [chunk.index for chunk in chunks] == list(range(len(chunks)))
    assert " ".join(chunk.text for chunk in chunks).startswith(f"Short one. {words} x")
    assert "".join("".join(c.text for c in chunks).split()) == "".join(
        f"Short one. {words} {glued} After it.".split()
    )  # nothing lost: the glued word's pieces are only separated
    assert len(warnings) == 1 and "table.txt" in warnings[0] and "was cut into" in warnings[0]


def test_cut_to_budget_worked_example() -> None:
    from augmentoolkit.control_flow_functions.chunking import cut_to_budget

    assert cut_to_budget("a b c d", 2) == [("a b", 2), ("c d", 2)]


def test_odd_entries_in_the_input_folder_are_skipped_with_one_line_each(tmp_path: Path) -> None:
    other = tmp_path / "elsewhere"
    other.mkdir()
    (other / "linked.txt").write_text("A text in a linked folder. It is read.")
    folder = tmp_path / "input"
    folder.mkdir()
    (folder / "plain.txt").write_text("A plain text. It is read.")
    (folder / "books").symlink_to(other)  # a linked folder is followed
    (folder / "again").symlink_to(folder)  # a loop
    (folder / "gone.txt").symlink_to(tmp_path / "missing.txt")
    os.mkfifo(folder / "pipe.txt")
    warnings: list[str] = []
    found = list_input_files(folder, warn=warnings.append)
    assert [p.relative_to(folder).as_posix() for p in found] == ["books/linked.txt", "plain.txt"]
    assert len(warnings) == 3
    assert any("again" in w and "loop" in w for w in warnings)
    assert any("gone.txt" in w and "does not exist" in w for w in warnings)
    assert any("pipe.txt" in w and "not a regular file" in w for w in warnings)


RUSSIAN = (
    "Пчёлы согревают улей, сокращая свои летательные мышцы. "
    "Летом в семье может быть двадцать тысяч рабочих пчёл. "
)
CHINESE = "蜜蜂通过颤动飞行肌肉来保持蜂巢温暖。夏天，一个蜂群可以容纳两万只工蜂。"
JAPANESE = "ミツバチは飛翔筋を震わせて巣を暖かく保つ。夏には一つの群れに二万匹の働き蜂がいる。"


@pytest.mark.parametrize(
    ("text", "encoding", "told"),
    [
        (RUSSIAN * 2, "cp1251", "cp1251"),
        (RUSSIAN * 2, "koi8-r", "koi8-r"),
        (CHINESE * 2, "gb2312", "gb18030"),  # GB18030 is GB2312's superset: same text
        (JAPANESE * 2, "shift_jis", "cp932"),  # Microsoft's Shift_JIS superset: same text
        ("Le café est prêt. Où est la crème brûlée?", "cp1252", "cp1252"),
    ],
)
def test_legacy_encodings_are_detected_and_named(
    tmp_path: Path, text: str, encoding: str, told: str
) -> None:
    (tmp_path / "legacy.txt").write_bytes(text.encode(encoding))
    docs, warnings = read_all(tmp_path)
    assert [d.text for d in docs] == [text]
    assert warnings == [f"{tmp_path / 'legacy.txt'}: not UTF-8; read as {told}."]


def test_bytes_no_encoding_reads_cleanly_are_skipped_with_the_reason(tmp_path: Path) -> None:
    # pieces in three encodings glued into one file: no one encoding reads it all
    glued = (RUSSIAN * 2).encode("koi8-r") + (CHINESE * 2).encode("gb2312")
    glued += ("Le café est prêt. " * 5).encode("cp1252")
    (tmp_path / "noise.txt").write_bytes(glued)
    (tmp_path / "fine.txt").write_text("A fine text. It is read.", encoding="utf-8")
    docs, warnings = read_all(tmp_path)
    assert [d.path.name for d in docs] == ["fine.txt"]
    assert len(warnings) == 1 and "noise.txt: skipped" in warnings[0]
    assert "could not be told with confidence" in warnings[0] and "Save it as UTF-8" in warnings[0]
