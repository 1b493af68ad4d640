"""Tests for convert_pdf_to_text.py: cleaning heuristics on synthetic pages, the real FM 1-05
sample PDF end to end, and the one-line error reports for encrypted, scanned and corrupt files."""

from __future__ import annotations

import logging
import os
import random
import re
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import pytest
from pypdf import PdfWriter
from pypdf.generic import ContentStream, DictionaryObject, NameObject

import convert_pdf_to_text as cv

REPO = Path(__file__).resolve().parents[1]
SCRIPT = REPO / "convert_pdf_to_text.py"
SAMPLES = Path(__file__).resolve().parents[2] / "shared" / "samples"
SAMPLE_PDF = SAMPLES / "FM 1-05 Religious Support, US Army field manual.pdf"

# Sentences from chapter 1 of FM 1-05. Each crosses a line break in the PDF; the last one also
# crosses from page 1-4 to page 1-5, over the running header and footer between them.
CHAPTER_1_SENTENCES = [
    "In July of 1775, the Continental Congress provided for the appointment and pay of "
    "chaplains for the Army.",
    "The First Amendment guarantees all Americans the right to free exercise of their religious "
    "beliefs and prohibits the government from establishing a religion.",
    "It also includes officiating at military funerals, memorial services, and ceremonies, and "
    "providing occasional worship events such as revivals, liturgical or holy day observances, "
    "religious festivals, sacred practices, and spiritual fitness events.",
]


# --------------------------------------------------------------------------- helpers


def run_cli(*args: str | Path, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(SCRIPT), *map(str, args)],
        capture_output=True,
        text=True,
        cwd=cwd,
        timeout=120,
    )


def squash(text: str) -> str:
    return " ".join(text.split())


def _escape(text: str) -> str:
    return text.replace("\\", "\\\\").replace("(", "\\(").replace(")", "\\)")


def add_text_page(writer: PdfWriter, lines: list[str]) -> None:
    """Append a page showing ``lines`` (ASCII) in Helvetica, one text object per line."""
    page = writer.add_blank_page(612, 792)
    ops = [
        f"BT /F1 11 Tf 72 {740 - 14 * i} Td ({_escape(line)}) Tj ET" for i, line in enumerate(lines)
    ]
    stream = ContentStream(None, writer)
    stream.set_data("\n".join(ops).encode("latin-1"))
    font = DictionaryObject(
        {
            NameObject("/Type"): NameObject("/Font"),
            NameObject("/Subtype"): NameObject("/Type1"),
            NameObject("/BaseFont"): NameObject("/Helvetica"),
        }
    )
    page[NameObject("/Resources")] = DictionaryObject(
        {NameObject("/Font"): DictionaryObject({NameObject("/F1"): font})}
    )
    page.replace_contents(stream)


GOOD_PAGES = [
    [
        "Field Notes",
        "The quick brown fox jumps over the lazy dog near the river bank and then",
        "keeps running until the evening comes and the light fades over the hills.",
        "1",
    ],
    [
        "Field Notes",
        "A second page carries on with more ordinary sentences about the fox and",
        "the dog, who are both well-known characters in typing practice texts.",
        "2",
    ],
    [
        "Field Notes",
        "The third page closes the little story with one final sentence for now.",
        "3",
    ],
]


def make_text_pdf(
    path: Path, pages: list[list[str]], user_password: str | None = None, owner: str = "owner"
) -> Path:
    writer = PdfWriter()
    for lines in pages:
        add_text_page(writer, lines)
    if user_password is not None:
        writer.encrypt(user_password=user_password, owner_password=owner)
    with path.open("wb") as fh:
        writer.write(fh)
    return path


def make_blank_pdf(path: Path, pages: int = 2) -> Path:
    writer = PdfWriter()
    for _ in range(pages):
        writer.add_blank_page(612, 792)
    with path.open("wb") as fh:
        writer.write(fh)
    return path


def make_corrupt_pdf(path: Path) -> Path:
    path.write_bytes(random.Random(1).randbytes(4096))
    return path


# --------------------------------------------------------------------------- import


def test_import_has_no_side_effects(tmp_path: Path) -> None:
    code = "import convert_pdf_to_text as m; assert callable(m.main)"
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    proc = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, cwd=tmp_path, env=env
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == "" and proc.stderr == ""
    assert list(tmp_path.iterdir()) == []  # no raw_txt_input/ or anything else created


# --------------------------------------------------------------------------- unit: cleaning


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        ("12", True),
        ("- 12 -", True),
        ("Page 3", True),
        ("page 3 of 10", True),
        ("iv", True),
        ("1-5", True),
        ("IV. Results", False),
        ("12 angry men", False),
        ("MIX", False),
        ("XIV", False),
    ],
)
def test_is_page_number(line: str, expected: bool) -> None:
    assert cv.is_page_number(line) is expected


def test_header_key_ignores_page_numbers() -> None:
    assert cv.header_key("Page 3") == cv.header_key("Page 14")
    assert cv.header_key("FM 1-05 1-5") == cv.header_key("FM 1-05 1-6")
    assert cv.header_key("21 January 2019 FM 1-05 iii") == cv.header_key(
        "21 J anuary 2019 FM 1-05 4-2"
    )
    assert cv.header_key("Chapter 3") != cv.header_key("Summary")


def test_hyphenated_words_are_joined_on_synthetic_pages() -> None:
    pages = [
        "The report gave us useful infor-\n"
        "mation about a well-known problem with the old bridge near town.\n"
        "Its large-scale repair was planned and the large-\n"
        "scale works began before the non-\n"
        "European crews arrived for the co-\n"
        "operation with local staff on the site.",
        "Second page text, with a soft hyphen in pro\u00ad\n"
        "duction and a long range 1-\n"
        "05 reference that must not break.",
    ]
    text = squash(cv.clean_pages(pages))
    assert "useful information about a well-known problem" in text
    assert "the large-scale works" in text  # "large-scale" occurs mid-line: a real compound
    assert "the non-European crews" in text  # capital after the hyphen: keep it
    assert "for the cooperation with" in text  # neither half stands alone: a split word
    assert "in production and" in text
    assert "range 1-05 reference" in text
    assert "-\n" not in cv.clean_pages(pages)


def test_lines_merge_into_paragraphs_with_blank_lines_between() -> None:
    page = (
        "INTRODUCTION\n"
        "This first paragraph is spread over three lines of roughly equal length\n"
        "so that the joiner has to glue them together into one single line of\n"
        "text again.\n"
        "\n"
        "A second paragraph follows after a blank line and has two lines of text\n"
        "that also belong together in the output file.\n"
        "1-2. A numbered paragraph starts here even without a blank line before it\n"
        "and it includes the following—\n"
        "\uf06c A first bullet item that is long enough to wrap onto a second line\n"
        "of the page.\n"
        "\u2022 A second bullet item.\n"
    )
    paragraphs = cv.clean_pages([page]).rstrip("\n").split("\n\n")
    assert paragraphs == [
        "INTRODUCTION",
        "This first paragraph is spread over three lines of roughly equal length so that the "
        "joiner has to glue them together into one single line of text again.",
        "A second paragraph follows after a blank line and has two lines of text that also "
        "belong together in the output file.",
        "1-2. A numbered paragraph starts here even without a blank line before it and it "
        "includes the following—",
        "• A first bullet item that is long enough to wrap onto a second line of the page.",
        "• A second bullet item.",
    ]


def test_whitespace_is_normalised() -> None:
    text = cv.clean_pages(
        ["  Tabs\tand\u00a0non-breaking   spaces, \ufb01ne liga\u200btures.  \n\n\n"]
    )
    assert text == "Tabs and non-breaking spaces, fine ligatures.\n"


TOPICS = ["rivers", "hills", "weather", "birds", "roads", "towns"]


def _body(n: int) -> list[str]:
    topic = TOPICS[n - 1]
    return [
        f"Body text of this page talks about {topic} in some detail, as one would expect,",
        f"and this second line about {topic} ends the paragraph with a full stop.",
    ]


def _synthetic_book() -> list[str]:
    pages = []
    for n in range(1, 7):
        body = _body(n)
        header = ["Chapter 2  Rivers and Hills" if n % 2 else "A Field Guide to Nowhere"]
        footer = [f"Page {n}", f"Draft 1-{n} - not for distribution"]
        pages.append("\n".join(header + body + footer))
    pages[2] = "Chapter 2  Rivers and Hills\n- 3 -\n" + pages[2].split("\n", 1)[1]
    return pages


def test_repeated_headers_footers_and_page_numbers_are_dropped() -> None:
    pages = [cv._page_lines(page) for page in _synthetic_book()]
    stripped = cv.strip_headers_footers(pages)
    assert stripped == [_body(n) for n in range(1, 7)]


def test_lines_recurring_on_too_few_pages_are_kept() -> None:
    pages = [
        ["Summary", "One page of text that ends here."],
        ["Summary", "Another page of text, also short."],
        ["Something else", "A third page that is different."],
        ["More", "The fourth page."],
    ]
    assert cv.strip_headers_footers(pages) == [list(lines) for lines in pages]


def test_extract_raises_pdf_error_without_leaking_warnings(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    logger = logging.getLogger("pypdf")
    level = logger.level
    cases = {
        make_text_pdf(tmp_path / "locked.pdf", GOOD_PAGES, user_password="secret"): "encrypted",
        make_blank_pdf(tmp_path / "blank.pdf"): "no text layer",
        make_corrupt_pdf(tmp_path / "corrupt.pdf"): "not a PDF",
        tmp_path / "missing.pdf": "cannot read file",
    }
    truncated = tmp_path / "truncated.pdf"
    truncated.write_bytes((tmp_path / "locked.pdf").read_bytes()[:300])
    cases[truncated] = "damaged PDF"
    with caplog.at_level(logging.DEBUG):
        for path, reason in cases.items():
            with pytest.raises(cv.PdfError, match=reason) as info:
                cv.extract_pdf_text(path)
            assert "\n" not in str(info.value)
    assert not [r for r in caplog.records if r.name.startswith("pypdf")]
    assert logger.level == level


def test_owner_password_only_pdf_converts(tmp_path: Path) -> None:
    pdf = make_text_pdf(tmp_path / "owner_only.pdf", GOOD_PAGES, user_password="")
    target = cv.convert_file(pdf, tmp_path / "out")
    assert target == tmp_path / "out" / "owner_only.txt"
    assert "keeps running until the evening" in squash(target.read_text(encoding="utf-8"))


def test_write_atomic_leaves_old_file_on_failure(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    target = tmp_path / "book.txt"
    cv.write_atomic(target, "first\n")
    assert target.read_text(encoding="utf-8") == "first\n"

    def broken_replace(src: str, dst: str) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(cv.os, "replace", broken_replace)
    with pytest.raises(OSError):
        cv.write_atomic(target, "second\n")
    assert target.read_text(encoding="utf-8") == "first\n"
    assert [p.name for p in tmp_path.iterdir()] == ["book.txt"]


# --------------------------------------------------------------------------- CLI


def test_cli_reports_bad_files_on_one_line_each_and_converts_the_rest(tmp_path: Path) -> None:
    bad = {
        make_text_pdf(tmp_path / "locked.pdf", GOOD_PAGES, user_password="secret"): "encrypted",
        make_blank_pdf(tmp_path / "scan.pdf"): "no text layer (scanned images?); run OCR first",
        make_corrupt_pdf(tmp_path / "corrupt.pdf"): "not a PDF",
    }
    good = make_text_pdf(tmp_path / "good.pdf", GOOD_PAGES)
    out = tmp_path / "out"
    proc = run_cli(*bad, good, "--out", out)

    assert proc.returncode == 1
    assert proc.stdout == ""
    assert "Traceback" not in proc.stderr
    lines = proc.stderr.splitlines()
    assert len(lines) == 4, proc.stderr
    for line, (path, reason) in zip(lines, bad.items(), strict=False):
        assert line.startswith(f"convert_pdf_to_text: {path}: "), line
        assert reason in line
    assert re.fullmatch(
        rf"converted good\.pdf -> {re.escape(str(out / 'good.txt'))} \(3 pages, [\d,]+ chars\)",
        lines[3],
    )
    assert sorted(p.name for p in out.iterdir()) == ["good.txt"]
    text = (out / "good.txt").read_text(encoding="utf-8")
    assert "Field Notes" not in text  # repeated header
    assert "and then keeps running" in squash(text)
    assert not re.search(r"^\d+$", text, re.MULTILINE)  # bare page numbers


def test_cli_searches_directories_recursively_in_sorted_order(tmp_path: Path) -> None:
    src = tmp_path / "src"
    (src / "b_sub").mkdir(parents=True)
    make_text_pdf(src / "b_sub" / "beta.PDF", GOOD_PAGES)
    make_text_pdf(src / "alpha.pdf", GOOD_PAGES)
    (src / "notes.txt").write_text("not a pdf", encoding="utf-8")
    proc = run_cli(src, "--out", tmp_path / "out")
    assert proc.returncode == 0, proc.stderr
    names = [line.split()[1] for line in proc.stderr.splitlines()]
    assert names == ["alpha.pdf", "beta.PDF"]
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["alpha.txt", "beta.txt"]


def test_cli_refuses_to_overwrite_a_sibling_with_the_same_stem(tmp_path: Path) -> None:
    for folder in ("a", "b"):
        (tmp_path / folder).mkdir()
    first = make_text_pdf(tmp_path / "a" / "same.pdf", GOOD_PAGES)
    second = make_text_pdf(tmp_path / "b" / "same.pdf", GOOD_PAGES)
    proc = run_cli(first, second, "--out", tmp_path / "out")
    assert proc.returncode == 1
    lines = proc.stderr.splitlines()
    assert lines[0].startswith("converted same.pdf")
    assert lines[1] == (
        f"convert_pdf_to_text: {second}: same output name as {first}; rename one of them"
    )


@pytest.mark.parametrize("args", [[], ["does-not-exist.pdf"], ["empty_dir"], ["--bogus", "x"]])
def test_cli_bad_arguments_exit_2(tmp_path: Path, args: list[str]) -> None:
    (tmp_path / "empty_dir").mkdir()
    proc = run_cli(*args, cwd=tmp_path)
    assert proc.returncode == 2
    assert "Traceback" not in proc.stderr
    assert proc.stderr.strip().splitlines()[-1].startswith("convert_pdf_to_text: error:")
    assert not (tmp_path / "raw_txt_input").exists()


# --------------------------------------------------------------------------- the real sample


@dataclass(frozen=True)
class SampleRun:
    proc: subprocess.CompletedProcess[str]
    out: Path
    text: str
    seconds: float


@pytest.fixture(scope="module")
def sample(tmp_path_factory: pytest.TempPathFactory) -> SampleRun:
    """Convert the FM 1-05 sample once through the CLI (about 3 s) and share the result."""
    if not SAMPLE_PDF.is_file():
        pytest.skip(f"sample PDF not found: {SAMPLE_PDF} (shared/samples is outside the repo)")
    out = tmp_path_factory.mktemp("sample_out")
    start = time.perf_counter()
    proc = run_cli(SAMPLE_PDF, "--out", out)
    seconds = time.perf_counter() - start
    assert proc.returncode == 0, proc.stderr
    text = (out / f"{SAMPLE_PDF.stem}.txt").read_text(encoding="utf-8")
    return SampleRun(proc=proc, out=out, text=text, seconds=seconds)


def test_sample_progress_line_and_output(sample: SampleRun) -> None:
    target = sample.out / f"{SAMPLE_PDF.stem}.txt"
    assert sample.proc.stderr.splitlines() == [
        f"converted {SAMPLE_PDF.name} -> {target} (48 pages, {len(sample.text):,} chars)"
    ]
    assert [p.name for p in sample.out.iterdir()] == [target.name]  # no temp files left
    assert sample.seconds < 30


@pytest.mark.parametrize("sentence", CHAPTER_1_SENTENCES)
def test_sample_sentences_come_out_intact(sample: SampleRun, sentence: str) -> None:
    assert sentence in squash(sample.text)


def test_sample_sentences_sit_on_one_line(sample: SampleRun) -> None:
    lines = sample.text.splitlines()
    for sentence in CHAPTER_1_SENTENCES:
        assert any(sentence in line for line in lines), sentence


def test_sample_keeps_real_compound_hyphens(sample: SampleRun) -> None:
    text = squash(sample.text)
    assert "include task-organization changes, religious-support coordination" in text
    assert "ready for large-scale combat operations regardless" in text


def test_sample_running_headers_and_footers_are_gone(sample: SampleRun) -> None:
    # The footer is on 40 of the 48 pages; the running header on every odd page of chapter 1.
    assert sample.text.count("21 January 2019 FM 1-05") == 0
    assert sample.text.count("FM 1-05 21 January 2019") == 0
    assert sample.text.count("Religious Support for the Army") <= 1
    assert sample.text.count("This page intentionally left blank.") <= 1
    paragraphs = sample.text.split("\n\n")
    assert not [p for p in paragraphs if cv.is_page_number(p)]
    assert "\n\n\n" not in sample.text and "  " not in sample.text
