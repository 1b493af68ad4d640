"""Structured documents (Markdown, HTML, Word .docx, EPUB) as sections: a heading path and the
plain text under it, one paragraph per line, paragraphs separated by a blank line.

Each heading (Markdown `#`/setext, HTML `<h1>`-`<h6>`, a Word "Title" or "Heading N" style)
ends the section before it; its path is the chain of enclosing headings, outermost first, so
the chunker can start a chunk there and keep the path as the chunk's context. Every EPUB
chapter (spine document) starts a section too. Markup never reaches the text: scripts, styles,
comments, navigation menus and the <head> are dropped; table cells are separated by spaces
and each table row is a paragraph; code blocks keep one paragraph per line.

Parsers: markdown-it-py (CommonMark, plus tables), lxml's HTML parser (libxml2, forgiving of
broken markup; its size limits lifted, its nesting limit of 2,048 raises), python-docx and
ebooklib. Markdown nested over 100 levels raises TooDeep, as markdown-it would drop the rest.
Deliberately not read: Word headers, footers, footnotes and comments; EPUB navigation
documents; images (their alt text in Markdown is kept). Callers catch the parsers' exceptions;
nothing here touches the file system.
"""

from __future__ import annotations

import io
import re
from collections.abc import Iterator
from dataclasses import dataclass

import docx
import lxml.html
from docx.styles.style import ParagraphStyle
from docx.styles.styles import Styles
from docx.table import Table
from docx.text.paragraph import Paragraph
from ebooklib import ITEM_DOCUMENT, epub
from lxml import etree
from markdown_it import MarkdownIt
from markdown_it.token import Token

from augmentoolkit.control_flow_functions.decoding import decode_bytes


@dataclass(frozen=True)
class Section:
    """Text under one heading. Example: Section(('Setup', 'Linux'), 'Run apt.\\n\\nThen go.')."""

    headings: tuple[str, ...]  # outermost first; () before the first heading
    text: str


class SectionBuilder:
    """Collects text pieces into paragraphs and paragraphs into sections, in document order."""

    def __init__(self) -> None:
        self.sections: list[Section] = []
        self._path: list[tuple[int, str]] = []  # (level, heading) of the open headings
        self._paragraphs: list[str] = []
        self._pieces: list[str] = []

    def add(self, piece: str) -> None:
        """Text of the current paragraph; its whitespace is collapsed when the paragraph ends."""
        self._pieces.append(piece)

    def end_paragraph(self) -> None:
        line = " ".join("".join(self._pieces).split())
        self._pieces.clear()
        if line:
            self._paragraphs.append(line)

    def end_section(self) -> None:
        self.end_paragraph()
        if self._paragraphs:
            headings = tuple(title for _, title in self._path)
            self.sections.append(Section(headings, "\n\n".join(self._paragraphs)))
        self._paragraphs = []

    def heading(self, level: int, text: str) -> None:
        """Start a section under `text`, closing the open headings of `level` and deeper."""
        title = " ".join(text.split())
        if not title:
            return
        self.end_section()
        while self._path and self._path[-1][0] >= level:
            self._path.pop()
        self._path.append((level, title))

    def lines(self, block: str) -> None:
        """A code block: each line its own paragraph (its words are no sentence)."""
        self.end_paragraph()
        for line in block.splitlines():
            self.add(line)
            self.end_paragraph()

    def done(self) -> list[Section]:
        self.end_section()
        return self.sections


# --------------------------------------------------------------------------- HTML

_DROPPED = (
    "head", "script", "style", "noscript", "template", "nav", "svg", "iframe", "object",
    "canvas", "select", "button",
)  # fmt: skip
_BLOCKS = frozenset(
    "address article aside blockquote body caption dd details dialog div dl dt fieldset "
    "figcaption figure footer form header hr li main ol p section summary table tbody "
    "tfoot thead tr ul".split()
)
_CELLS = frozenset({"td", "th", "br"})  # end with a space, not a paragraph break
_HEADINGS = {f"h{level}": level for level in range(1, 7)}
_XML_DECLARATION = re.compile(r"\A\s*<\?xml[^>]*>")


def html_sections(markup: str) -> list[Section]:
    """Sections of an HTML (or XHTML) page. Example: '<h1>A</h1><p>b <i>c</i></p>' ->
    [Section(('A',), 'b c')]."""
    out = SectionBuilder()
    add_html(markup, out)
    return out.done()


def add_html(markup: str, out: SectionBuilder) -> None:
    """Walk the page's elements in order into `out`."""
    root = _parse_html(markup)
    if root is None:
        return
    skip_depth = 0  # > 0 inside a heading or <pre>, whose text is taken whole
    for event, element in etree.iterwalk(root, events=("start", "end")):
        tag = element.tag.rpartition("}")[2].lower() if isinstance(element.tag, str) else ""
        if event == "start":
            if skip_depth or tag in _HEADINGS or tag == "pre":
                if not skip_depth and tag == "pre":
                    out.lines(element.text_content())
                elif not skip_depth:
                    out.heading(_HEADINGS[tag], element.text_content())
                skip_depth += 1
                continue
            if tag in _BLOCKS:
                out.end_paragraph()
            out.add(element.text or "")
            continue
        if skip_depth:
            skip_depth -= 1
            if skip_depth:
                continue
        elif tag in _BLOCKS:
            out.end_paragraph()
        elif tag in _CELLS:
            out.add(" ")
        out.add(element.tail or "")
    out.end_paragraph()


def _parse_html(markup: str) -> etree._Element | None:
    """The page's tree; ValueError where libxml2 stopped early (nesting over 2,048 levels)."""
    markup = _XML_DECLARATION.sub("", markup, count=1)  # lxml refuses str with a declaration
    if not markup.strip():
        return None
    # huge_tree: without it a text over 10 MB or nesting over 256 levels ends the parse, and
    # all that follows is silently lost.
    parser = lxml.html.HTMLParser(huge_tree=True)
    try:
        root = lxml.html.document_fromstring(markup, parser=parser)
    except etree.ParserError:  # only markup-free input ("Document is empty") gets here
        return None
    fatal = [error.message for error in parser.error_log if error.level_name == "FATAL"]
    if fatal:
        raise ValueError(" ".join(fatal[0].split()))
    # Comments and processing instructions are no elements to iterwalk: their tails would be
    # lost, so they go now, tails kept; and so do the dropped elements.
    etree.strip_elements(root, etree.Comment, etree.ProcessingInstruction, with_tail=False)
    etree.strip_elements(root, *_DROPPED, with_tail=False)
    return root


# --------------------------------------------------------------------------- Markdown

_MARKDOWN = MarkdownIt("commonmark", {"maxNesting": 100}).enable("table")


class TooDeep(ValueError):
    """Markdown nested deeper than markdown-it parses: it would drop the rest of the file."""


_FRONT_MATTER = re.compile(r"\A---[ \t]*\n.*?\n(?:---|\.\.\.)[ \t]*(?:\n|\Z)", re.DOTALL)


def markdown_sections(text: str) -> list[Section]:
    """Sections of a Markdown text (CommonMark and tables; YAML front matter dropped).
    Example: '# A\\n\\nb *c*\\n\\n## D\\n\\ne' -> [(('A',), 'b c'), (('A', 'D'), 'e')]."""
    tokens = _MARKDOWN.parse(_FRONT_MATTER.sub("", text, count=1))
    if any(token.level >= _MARKDOWN.options.maxNesting - 1 for token in tokens):
        raise TooDeep(f"nested deeper than {_MARKDOWN.options.maxNesting} levels")
    out = SectionBuilder()
    heading_level = 0  # of the heading whose text the next inline token holds
    for token in tokens:
        if token.type == "heading_open":
            heading_level = _HEADINGS[token.tag]
        elif token.type == "inline" and heading_level:
            out.heading(heading_level, _inline_text(token))
            heading_level = 0
        elif token.type == "inline":
            out.add(_inline_text(token))
        elif token.type in ("fence", "code_block"):
            out.lines(token.content)
        elif token.type == "html_block":
            add_html(token.content, out)
        elif token.tag in ("td", "th"):
            out.add(" ")
        elif token.nesting or token.type == "hr":
            out.end_paragraph()
    return out.done()


def _inline_text(token: Token) -> str:
    """The words of an inline token: text, code spans, image alt texts; no markup or HTML."""
    parts = []
    for child in token.children or ():
        if child.type in ("text", "code_inline", "image"):
            parts.append(child.content)  # an image's content is its alt text
        elif child.type in ("softbreak", "hardbreak"):
            parts.append(" ")
    return "".join(parts)


# --------------------------------------------------------------------------- Word and EPUB

_HEADING_STYLE = re.compile(r"Heading ([1-9])|(Title)")


def docx_sections(data: bytes) -> list[Section]:
    """Sections of a Word document: body paragraphs and tables in order; "Title" and
    "Heading N" styles (or styles based on them) are headings."""
    document = docx.Document(io.BytesIO(data))
    levels = _heading_levels(document.styles)
    out = SectionBuilder()
    for block in document.iter_inner_content():
        if isinstance(block, Paragraph):
            # the style id straight from the XML: `Paragraph.style` scans every style per call
            level = levels.get(block._p.style or "")
            if level is None:
                out.add(block.text)
                out.end_paragraph()
            else:
                out.heading(level, block.text)
        else:
            _add_table(block, out)
    return out.done()


def _heading_levels(styles: Styles) -> dict[str, int]:
    """Style id -> heading level (0 for "Title") of every heading paragraph style."""
    levels = {}
    for style in styles:
        level = _heading_level(style) if isinstance(style, ParagraphStyle) else None
        if level is not None:
            levels[style.style_id] = level
    return levels


def _heading_level(style: ParagraphStyle | None) -> int | None:
    for _ in range(5):  # a custom style may be based on a heading style, a few levels up
        if style is None:
            return None
        match = _HEADING_STYLE.fullmatch(style.name or "")
        if match:
            return int(match[1]) if match[1] else 0
        style = style.base_style
    return None


def _add_table(table: Table, out: SectionBuilder) -> None:
    for row in table.rows:
        previous = None
        for cell in row.cells:
            if cell._tc is not previous:  # a merged cell is listed once per grid column
                out.add(cell.text + " ")
            previous = cell._tc
        out.end_paragraph()


def epub_sections(data: bytes) -> list[Section]:
    """Sections of an EPUB book: its spine documents in reading order, each starting a new
    section (the heading path carries over, as a chapter file may hold no heading)."""
    book = epub.read_epub(io.BytesIO(data), options={"ignore_ncx": True})
    out = SectionBuilder()
    for markup in _spine_documents(book):
        out.end_section()
        add_html(markup, out)
    return out.done()


def _spine_documents(book: epub.EpubBook) -> Iterator[str]:
    for idref, _linear in book.spine:
        item = book.get_item_with_id(idref)
        if item is None or item.get_type() != ITEM_DOCUMENT or _is_navigation(item):
            continue
        text = decode_bytes(item.get_content())
        if text is not None:
            yield text


def _is_navigation(item: epub.EpubItem) -> bool:
    return isinstance(item, epub.EpubNav) or "nav" in getattr(item, "properties", ())
