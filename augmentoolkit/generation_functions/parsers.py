"""Parsers: pure functions from a model's reply text to the value a step needs.

One parser per reply layout of the prompts in prompts/ (see each function), plus
`format_qa_list`, the inverse of `parse_qa_pairs`, which renders the `$qa_list` prompt variable.
Replies from small models drift, so the parsers tolerate the usual noise: code fences, markdown
bold or headings around labels, chatter before the layout, any letter case, `Q1:`-style labels.
When the layout is missing they raise ParseError quoting a trimmed snippet of the reply, which
the generation step treats as a retryable failure.

Does not call models, read files or log; does not judge content (that is the validators' job).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

from augmentoolkit.errors import ParseError

SNIPPET_LENGTH = 80
MAX_NAME_WORDS = 8

# Markup a label may carry before it: indentation, quote marks, a bullet, a heading, bold.
LABEL_LEAD = r"^[ \t]*(?:>[ \t]*)*(?:[-*+•][ \t]+)?(?:\#{1,6}[ \t]+)?[*_`]*[ \t]*"
# Between a label and its value: closing markup, then ':' or a spaced dash, then more markup.
# Used only where the value is a keyword, so eating a stray '*' cannot damage content.
KEYWORD_SEPARATOR = r"[ \t*_`]*(?::|[-–—=](?=[ \t]))[ \t*_`]*(?:\n[ \t*_`]*)?"
VERDICT_LABEL = r"(?:(?:my|the)[ \t]+)?(?:(?:final|overall)[ \t]+)?(?:verdict|judge?ment|decision)"

CODE_FENCE_LINE = re.compile(r"^[ \t]*(?:```|~~~).*$\n?", re.MULTILINE)
HORIZONTAL_RULE_LINE = re.compile(r"^[ \t]*(?:[-*_][ \t]*){3,}$")
PASS_FAIL_VERDICT = re.compile(
    LABEL_LEAD + VERDICT_LABEL + KEYWORD_SEPARATOR + r"(?P<value>pass|fail)(?:ed|es|s|ure)?\b",
    re.IGNORECASE | re.MULTILINE,
)
BARE_PASS_FAIL = re.compile(r"^[ \t*_`#>]*(?P<value>pass|fail)(?:ed)?[ \t*_`.!]*$", re.IGNORECASE)
SUITABILITY_VERDICT = re.compile(
    LABEL_LEAD
    + VERDICT_LABEL
    + KEYWORD_SEPARATOR
    + r"(?P<value>not[ \t]+suitable|unsuitable|suitable)\b",
    re.IGNORECASE | re.MULTILINE,
)
BARE_SUITABILITY = re.compile(
    r"^[ \t*_`#>]*(?P<value>not[ \t]+suitable|unsuitable|suitable)[ \t*_`.!]*$", re.IGNORECASE
)
REPAIR_VERDICT = re.compile(
    LABEL_LEAD
    + VERDICT_LABEL
    + KEYWORD_SEPARATOR
    + r"(?P<value>pass(?:ed|es)?|fail(?:ed|s|ure)?|reword(?:ed|s)?|rewrit(?:e|ten)|revised)\b",
    re.IGNORECASE | re.MULTILINE,
)
# `Question 1:`, `Q1:`, `**Answer 2:**`, `1. Question:`, `### Question 3`, `A1)`. Markup after the
# separator is left to `unwrap`, so an italic or bold phrase opening the value survives.
QA_LABEL_LINE = re.compile(
    r"^[ \t]*(?:>[ \t]*)*(?:[-*+•][ \t]+)?(?:\#{1,6}[ \t]+)?[*_]*[ \t]*(?:\(?\d+[.)][ \t]*)?"
    r"[*_]*[ \t]*(?P<kind>question|answer|q|a)(?:[ \t]*\#?[ \t]*(?P<number>\d+))?[ \t]*[*_]*"
    r"[ \t]*(?::|(?<=\d)[.)]|$)(?P<value>.*)$",
    re.IGNORECASE,
)
# An answer label written on the question's own line: `Question: Why? Answer: Because.`
INLINE_ANSWER_LABEL = re.compile(
    r"(?<=\?)[ \t]+(?=(?:\*\*)?(?:answer|a)(?:[ \t]*\d+)?[ \t]*(?:\*\*)?:)", re.IGNORECASE
)
# `Name:`, `**Tom Reed:**`, `**Tom Reed**:`, `- Tom Reed (smiling):`; the label is checked
# against the speakers afterwards, so `Note: ...` inside a turn stays part of that turn.
SPEAKER_LINE = re.compile(
    r"^[ \t]*(?:>[ \t]*)*(?:[-+•][ \t]+)?[*_]*[ \t]*(?P<label>[^:*_\n]{1,60})[*_]*[ \t]*:"
    r"(?P<value>.*)$"
)
PARENTHETICAL = re.compile(r"\s*\([^)]*\)\s*$")
NAME_WORD = re.compile(r"[^\W\d_]{2,}")
# What follows a name and is not part of it: `Tom Reed, a young keeper`, `Tom Reed (age 12)`.
NAME_DESCRIPTION = re.compile(r"\s*(?:,|;|\(|\s[-–—]\s).*$")
CARD_NAME_LINE = re.compile(
    LABEL_LEAD + r"(?:(?:full|character)[ \t]+)?name[ \t*_`]*:(?P<value>.*)$",
    re.IGNORECASE | re.MULTILINE,
)
CARD_FIELD_LINE = re.compile(LABEL_LEAD + r"[A-Za-z][A-Za-z ]{1,30}[ \t*_`]*:[ \t*_`]*\S")
SECONDARY_NAME_LINE = re.compile(
    LABEL_LEAD + r"secondary(?:[ \t]+character)?(?:[ \t]+name)?[ \t*_`]*:(?P<value>.*)$",
    re.IGNORECASE | re.MULTILINE,
)
SCENARIO_LINE = re.compile(
    LABEL_LEAD + r"scenario[ \t*_`]*:(?P<value>.*)$", re.IGNORECASE | re.MULTILINE
)


@dataclass(frozen=True)
class RepairOutcome:
    """What repair_context decided: keep as is, reworded (with the new pair), or drop."""

    kind: Literal["pass", "reworded", "fail"]
    question: str = ""
    answer: str = ""


# ---------------------------------------------------------------- small helpers


def snippet(text: str, from_end: bool = False) -> str:
    """The reply trimmed to SNIPPET_LENGTH characters, whitespace collapsed, for error messages.

    Example: 'a\\n  b' -> 'a b'
    """
    flat = " ".join(text.split())
    if len(flat) <= SNIPPET_LENGTH:
        return flat
    return "…" + flat[-SNIPPET_LENGTH:] if from_end else flat[:SNIPPET_LENGTH] + "…"


def without_fences(text: str) -> str:
    """Drop code-fence lines and Windows line ends. Example: '```\\nhi\\n```' -> 'hi\\n'."""
    return CODE_FENCE_LINE.sub("", text.replace("\r\n", "\n").replace("\r", "\n"))


def unwrap(value: str) -> str:
    """Strip whitespace, an unpaired bold mark left by a label, and bold around the whole value.

    Example: '** Why?' -> 'Why?'; '**Why?**' -> 'Why?'; '**Bees** fly.' -> '**Bees** fly.'
    """
    value = value.strip()
    for mark in ("**", "__"):
        if value.count(mark) % 2 == 1:
            if value.startswith(mark):
                value = value[len(mark) :].strip()
            elif value.endswith(mark):
                value = value[: -len(mark)].strip()
        if value.count(mark) == 2 and value.startswith(mark) and value.endswith(mark):
            value = value[len(mark) : -len(mark)].strip()
    return value


def clean_name(value: str) -> str:
    """A name as written after a label, without markup, description or final period.

    Example: '**Dr. Ada Finch**, a lighthouse keeper.' -> 'Dr. Ada Finch'
    """
    name = NAME_DESCRIPTION.sub("", unwrap(value)).strip(" \t*_`\"'")
    return name[:-1].rstrip() if name.endswith(".") else name


def last_match(pattern: re.Pattern[str], text: str) -> re.Match[str] | None:
    """The last match of a multi-line pattern. Example: two verdict lines -> the second."""
    matches = list(pattern.finditer(text))
    return matches[-1] if matches else None


def last_line(text: str) -> tuple[str, int]:
    """The last non-blank line and where it starts. Example: 'a\\nb\\n\\n' -> ('b', 2)."""
    stripped = text.rstrip()
    start = stripped.rfind("\n") + 1
    return stripped[start:], start


# ---------------------------------------------------------------- verdicts and plans


def parse_verdict(text: str) -> tuple[bool, str]:
    """`Verdict: pass` / `Verdict: fail` ending a reply -> (passed, reasoning before it).

    The last verdict line wins; also read: `**Verdict:** PASS`, `Verdict - fail`,
    `Final verdict: FAILED`, `Verdict:` with the word on the next line, a bare `PASS` last line.
    Example: 'Clear and answerable.\\nVerdict: pass' -> (True, 'Clear and answerable.')
    """
    body = without_fences(text)
    match = last_match(PASS_FAIL_VERDICT, body)
    if match is not None:
        return match.group("value").lower() == "pass", body[: match.start()].strip()
    line, start = last_line(body)
    bare = BARE_PASS_FAIL.match(line)
    if bare is not None:
        return bare.group("value").lower() == "pass", body[:start].strip()
    raise ParseError(
        f"no 'Verdict: pass' or 'Verdict: fail' line in reply: '{snippet(text, True)}'"
    )


# An opening sentence that states the judgement: "The text is (not) suitable for ...".
OPENING_SUITABILITY = re.compile(
    r"^(?:the |this )?(?:text|passage|chunk)\s+is\s+(?P<negation>not\s+|un)?suitable\b",
    re.IGNORECASE,
)


def parse_judgement(text: str) -> bool:
    """`Verdict: suitable` / `Verdict: unsuitable` -> True / False (the last verdict wins).
    With no verdict line, an opening "The text is (not) suitable ..." decides.

    Example: 'Only a table of contents.\\nVerdict: unsuitable' -> False
    """
    body = without_fences(text)
    match = last_match(SUITABILITY_VERDICT, body) or BARE_SUITABILITY.match(last_line(body)[0])
    if match is None:
        opening = OPENING_SUITABILITY.match(body.strip())
        if opening is not None:  # small models often lead with it and never write the line
            return opening.group("negation") is None
        raise ParseError(
            "no 'Verdict: suitable' or 'Verdict: unsuitable' line in reply: "
            f"'{snippet(text, True)}'"
        )
    return match.group("value").lower() == "suitable"


PLAN_MIN_WORDS = 3  # a plan says something: a few words, not a run of punctuation
PLAN_WORD = re.compile(r"[^\W\d_]{2,}")  # two or more letters, in any script


def parse_plan(text: str) -> str:
    """Free text of at least a few words, stripped, code fences removed.
    Example: ' Ask about X and Y. ' -> 'Ask about X and Y.'; '!!!...' -> ParseError."""
    plan = without_fences(text).strip()
    if not plan:
        raise ParseError("the reply is empty; expected a plan in free text")
    if len(PLAN_WORD.findall(plan)) < PLAN_MIN_WORDS:
        raise ParseError(
            f"the reply has fewer than {PLAN_MIN_WORDS} words; expected a plan in free text"
        )
    return plan


# ---------------------------------------------------------------- question/answer pairs


def qa_label(line: str) -> tuple[str, str] | None:
    """(kind, value) when the line opens a question or answer, else None.

    Example: '**Q2:** Why?' -> ('question', '** Why?'); 'A bee stings.' -> None
    """
    match = QA_LABEL_LINE.match(line)
    if match is None:
        return None
    kind = match.group("kind").lower()
    if len(kind) == 1 and not (match.group("number") or match.group("value").strip()):
        return None  # a lone 'A' or 'Q' on a line is text, not a label
    return ("question" if kind.startswith("q") else "answer"), match.group("value")


def qa_fields(text: str) -> list[tuple[str, str, str]]:
    """Labelled fields in order as (kind 'question'|'answer', value, label line).

    A field runs from its label to the next label or blank line; lines outside fields (chatter
    before, between or after the pairs) are ignored.
    Example: 'Q1: Why?\\nA1: Because.' -> [('question', 'Why?', ..), ('answer', 'Because.', ..)]
    """
    fields: list[tuple[str, list[str], str]] = []
    is_open = False
    for raw_line in INLINE_ANSWER_LABEL.sub("\n", without_fences(text)).split("\n"):
        line = raw_line.rstrip()
        label = qa_label(line)
        if label is not None:
            fields.append((label[0], [label[1]], line))
            is_open = True
        elif not line.strip():
            # A blank line ends a field that has text; a bare heading label waits for its text.
            is_open = is_open and not "".join(fields[-1][1]).strip()
        elif is_open:
            fields[-1][1].append(line.strip())
    return [(kind, unwrap("\n".join(parts)), line) for kind, parts, line in fields]


def pair_fields(fields: list[tuple[str, str, str]]) -> list[tuple[str, str]]:
    """Question/answer fields in order -> pairs; ParseError on an unpaired or empty field.

    Example: [('question', 'Why?', l1), ('answer', 'Because.', l2)] -> [('Why?', 'Because.')]
    """
    pairs: list[tuple[str, str]] = []
    pending: tuple[str, str] | None = None  # (question, its label line)
    for kind, value, line in fields:
        if not value:
            raise ParseError(f"{kind} {len(pairs) + 1} is empty: '{snippet(line)}'")
        if kind == "question":
            if pending is not None:
                raise ParseError(f"question has no answer: '{snippet(pending[1])}'")
            pending = (value, line)
        elif pending is None:
            raise ParseError(f"answer without a question before it: '{snippet(line)}'")
        else:
            pairs.append((pending[0], value))
            pending = None
    if pending is not None:
        raise ParseError(f"question has no answer: '{snippet(pending[1])}'")
    return pairs


def parse_qa_pairs(text: str) -> list[tuple[str, str]]:
    """`Question 1: ...` / `Answer 1: ...` pairs -> [(question, answer), ...], at least one.

    Also read: `Q1:`/`A1:`, `1. Question:`, bold labels, an answer continued on the next lines
    (up to a blank line). Numbers are not checked: pairs are taken in the order written.
    Example: 'Question 1: Why?\\nAnswer 1: Because.' -> [('Why?', 'Because.')]
    """
    pairs = pair_fields(qa_fields(text))
    if not pairs:
        raise ParseError(f"no 'Question 1:' / 'Answer 1:' pairs in reply: '{snippet(text)}'")
    return pairs


def parse_single_qa(text: str) -> tuple[str, str]:
    """`Question: ...` / `Answer: ...` -> (question, answer); the first pair if several.

    Example: 'Question: Why?\\nAnswer: Because.' -> ('Why?', 'Because.')
    """
    return parse_qa_pairs(text)[0]


def format_qa_list(pairs: list[tuple[str, str]]) -> str:
    """Pairs -> the numbered `$qa_list` layout the prompts show; inverse of parse_qa_pairs.

    Example: [('Why?', 'Because.')] -> 'Question 1: Why?\\nAnswer 1: Because.'
    """
    return "\n\n".join(
        f"Question {number}: {question.strip()}\nAnswer {number}: {answer.strip()}"
        for number, (question, answer) in enumerate(pairs, start=1)
    )


def parse_repair(text: str) -> RepairOutcome:
    """`Verdict: pass|reworded|fail`; after `reworded`, the new `Question:` and `Answer:`.

    The rewritten pair is read only after the verdict line, so a quote of the original pair in
    the reasoning is never mistaken for it.
    Example: 'Says "the text".\\nVerdict: reworded\\nQuestion: Why?\\nAnswer: So.'
      -> RepairOutcome('reworded', 'Why?', 'So.')
    """
    body = without_fences(text)
    match = last_match(REPAIR_VERDICT, body)
    if match is None:
        raise ParseError(
            "no 'Verdict: pass', 'Verdict: reworded' or 'Verdict: fail' line in reply: "
            f"'{snippet(text, True)}'"
        )
    word = match.group("value").lower()
    if word.startswith("pass"):
        return RepairOutcome("pass")
    if word.startswith("fail"):
        return RepairOutcome("fail")
    try:
        question, answer = parse_single_qa(body[match.end() :])
    except ParseError as error:
        raise ParseError(f"verdict is 'reworded' but no new pair follows it: {error}") from None
    return RepairOutcome("reworded", question, answer)


# ---------------------------------------------------------------- character card and scenario


def card_lines(lines: list[str]) -> list[str]:
    """The card's lines: through the last `Field:` line and its continuation, so a closing
    remark after a blank line is left out. Example: ['Name: A', 'Speech: b', '', 'Hope so!']
    -> ['Name: A', 'Speech: b']"""
    last_field = max((i for i, line in enumerate(lines) if CARD_FIELD_LINE.match(line)), default=0)
    end = last_field + 1
    while end < len(lines) and lines[end].strip():
        end += 1
    return lines[:end]


def usable_name(label: re.Match[str], problem: str) -> str:
    """The cleaned name a label line gives, or ParseError(problem) if it is empty or too long.

    Example: a match of 'Name: **Tom Reed**, a keeper.' -> 'Tom Reed'
    """
    name = clean_name(label.group("value"))
    if not name or len(name.split()) > MAX_NAME_WORDS:
        raise ParseError(f"{problem}: '{snippet(label.group(0))}'")
    return name


def parse_character_card(text: str) -> tuple[str, str]:
    """A card from its `Name:` line on -> (card text, name); needs one more `Field:` line.

    Example: 'Name: Ada Finch\\nTraits: calm' -> ('Name: Ada Finch\\nTraits: calm', 'Ada Finch')
    """
    body = without_fences(text)
    match = CARD_NAME_LINE.search(body)
    if match is None:
        raise ParseError(f"no 'Name:' line in the character card: '{snippet(text)}'")
    name = usable_name(match, "the 'Name:' line holds no usable name")
    lines = body[match.start() :].rstrip().split("\n")
    if not any(CARD_FIELD_LINE.match(line) for line in lines[1:]):
        raise ParseError(
            "the card has a name but no 'Traits:', 'Background:' or 'Speech:' line: "
            f"'{snippet(body[match.start() :])}'"
        )
    return "\n".join(card_lines(lines)).strip(), name


def paragraph_from(body: str, label: re.Match[str]) -> str:
    """A label's value plus the lines after it up to a blank line or another known label (or
    the next paragraph when the label's line is empty).
    Example: 'Scenario:\\n\\nAt dawn.\\nThey meet.\\n\\nBye.' -> 'At dawn. They meet.'"""
    lines = [label.group("value").strip()] if label.group("value").strip() else []
    for line in body[label.end() :].split("\n")[1:]:
        if SECONDARY_NAME_LINE.match(line) or SCENARIO_LINE.match(line):
            break
        if not line.strip():
            if lines:
                break
            continue
        lines.append(line.strip())
    return unwrap(" ".join(lines))


def parse_scenario(text: str) -> tuple[str, str]:
    """`Secondary character: <name>` and `Scenario: <paragraph>` -> (name, scenario).

    Example: 'Secondary character: Tom Reed\\nScenario: Tom visits.' -> ('Tom Reed', 'Tom visits.')
    """
    body = without_fences(text)
    name_match = SECONDARY_NAME_LINE.search(body)
    if name_match is None:
        raise ParseError(f"no 'Secondary character:' line in reply: '{snippet(text)}'")
    scenario_match = SCENARIO_LINE.search(body)
    if scenario_match is None:
        raise ParseError(f"no 'Scenario:' line in reply: '{snippet(text)}'")
    name = usable_name(name_match, "no usable secondary character name")
    scenario = paragraph_from(body, scenario_match)
    if not scenario:
        raise ParseError(f"the 'Scenario:' paragraph is empty: '{snippet(scenario_match[0])}'")
    return name, scenario


# ---------------------------------------------------------------- conversations


def name_words(name: str) -> frozenset[str]:
    """Lower-cased words of a name. Example: 'Dr. Ada Finch' -> {'dr', 'ada', 'finch'}."""
    return frozenset(NAME_WORD.findall(name.casefold()))


def normalise_label(label: str) -> str:
    """Case- and space-insensitive speaker label. Example: ' Tom  Reed (smiling) ' -> 'tom reed'."""
    return " ".join(PARENTHETICAL.sub("", label).casefold().split())


def speaker_of(label: str, asker: str, answerer: str) -> str | None:
    """The speaker a label names: the full name, or words found in that speaker's name only.

    Example: ('Assistant', 'User', 'AI Assistant') -> 'AI Assistant'; ('Note', ...) -> None
    """
    written = normalise_label(label)
    for name in (asker, answerer):
        if written == normalise_label(name):
            return name
    words = name_words(written)
    own = {name: name_words(name) for name in (asker, answerer)}
    matches = [name for name in (asker, answerer) if words and words <= own[name]]
    return matches[0] if len(matches) == 1 else None


def labelled_turns(text: str, asker: str, answerer: str) -> list[tuple[str, list[str], str]]:
    """(speaker, lines, label line) per labelled turn; other lines continue the current turn."""
    turns: list[tuple[str, list[str], str]] = []
    for raw_line in without_fences(text).split("\n"):
        line = raw_line.rstrip()
        label = SPEAKER_LINE.match(line)
        speaker = speaker_of(label.group("label"), asker, answerer) if label else None
        if label is not None and speaker is not None:
            turns.append((speaker, [label.group("value")], line))
        elif turns and not HORIZONTAL_RULE_LINE.match(line):
            turns[-1][1].append(line.strip())
    return turns


def parse_conversation(text: str, asker: str, answerer: str) -> list[tuple[str, str]]:
    """`<asker>: ...` / `<answerer>: ...` lines -> [(speaker, turn text), ...].

    Turns must alternate, asker first. Labels may be bold or use words of one name only
    (`Tom:` for Tom Reed, `Assistant:` for AI Assistant); lines without a speaker label
    continue the current turn; chatter before the first label is ignored.
    Example: ('User: Why?\\nAI Assistant: Because.', 'User', 'AI Assistant')
      -> [('User', 'Why?'), ('AI Assistant', 'Because.')]
    """
    if normalise_label(asker) == normalise_label(answerer):
        raise ParseError(f"both speakers are called '{asker}'; they need different names")
    turns = labelled_turns(text, asker, answerer)
    if not turns:
        raise ParseError(f"no line starts with '{asker}:' or '{answerer}:' in: '{snippet(text)}'")
    result = []
    for index, (speaker, lines, line) in enumerate(turns):
        expected = asker if index % 2 == 0 else answerer
        if speaker != expected:
            raise ParseError(
                f"turn {index + 1} should be {expected}'s but is {speaker}'s: '{snippet(line)}'"
            )
        body = unwrap("\n".join(lines))
        if not body:
            raise ParseError(f"turn {index + 1} ({speaker}) is empty: '{snippet(line)}'")
        result.append((speaker, body))
    return result
