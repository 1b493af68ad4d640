"""Reply layouts as GBNF grammars, for servers that can constrain decoding to them (llama.cpp).

Each grammar describes the layout one parser in parsers.py reads, so a constrained reply always
parses. Bounded lengths keep a small model from rambling to its token limit: on a CPU every
generated token costs tens of milliseconds. Used with the embedded model (API.GRAMMARS: auto)
or with any llama.cpp server (API.GRAMMARS: always); other servers never receive them.

Verdict layouts open the reasoning with a sentence that states the finding in the check's own
words ("The question can be answered from the text ..."), the prompts ask every model for the
same opening, and each finding can only end in its own verdict. Without that, the small model
often reasoned one way and wrote the other verdict. (Which finding a 135M model picks follows
the wording and the last worked example far more than the item: see
docs/offline-model-research.md.)

With grammars, answers are copied from the text: a pair's answer must be one of its chunk's
sentences (`answer_rule`), a repair keeps the answer it was given, and a conversation's answer
turns are the pairs' answers word for word. The model only chooses which sentence answers its
question and how to ask it. Without this the small model invented most answers or copied its
worked example's (see grounding.py); a capable model on a llama.cpp server with GRAMMARS: always
gets the same extractive answers.

Does not call models or parse replies.
"""

from __future__ import annotations

from collections.abc import Sequence

REASON = r"[^\n]{0,300}"  # the rest of one line of reasoning
SENTENCE = r"[A-Z] [^\n]{5,300}"  # one line of free text that starts with a capital
QUESTION = r"[A-Z] [^\n?]{5,150} " + '"?"'
ANSWER = r"[A-Z] [^\n]{5,300}"
NAME = "[A-Z] [A-Za-z.'-]{1,20} (\" \" [A-Z] [A-Za-z.'-]{1,20}){1,2}"  # two or three words
MAX_PLAN_FACTS = 4
MIN_ANSWER_WORDS = 4  # shorter pieces of a chunk ("4.", a heading) answer nothing


def verdict_layout(subject: str, findings: tuple[str, str], verdicts: tuple[str, str]) -> str:
    """`<subject> <finding><reasoning>` on one line, then the verdict that finding implies.

    The first finding goes with the first verdict, the second with the second, so the reasoning
    and the verdict can never disagree.
    Example: verdict_layout('The answer', ('agrees with the text', 'disagrees with the text'),
    ('pass', 'fail')) allows 'The answer agrees with the text, ...\nVerdict: pass'.
    """
    (yes, no), (good, bad) = findings, verdicts
    return (
        f'root ::= "{subject} {yes}" reason "\\nVerdict: {good}" '
        f'| "{subject} {no}" reason "\\nVerdict: {bad}"\n'
        f"reason ::= {REASON}\n"
    )


JUDGE_CHUNK = verdict_layout(
    "The text",
    ("can be used to write study questions", "cannot be used to write study questions"),
    ("suitable", "unsuitable"),
)
CHECK_QUESTION = verdict_layout(
    "The question",
    ("can be answered from the text alone", "cannot be answered from the text alone"),
    ("pass", "fail"),
)
CHECK_ANSWER_RELEVANCY = verdict_layout(
    "The answer",
    ("states only what the text says", "adds to what the text says"),
    ("pass", "fail"),
)
CHECK_ANSWER_ACCURACY = verdict_layout(
    "The answer", ("agrees with the text", "disagrees with the text"), ("pass", "fail")
)
VERIFY_CONVERSATION = verdict_layout(
    "The conversation",
    ("asks and answers every question", "leaves out a question or changes an answer"),
    ("pass", "fail"),
)


def one_of(texts: Sequence[str]) -> str:
    """A rule body that matches exactly one of `texts`. Example: ['A.', 'B.'] -> '"A." | "B."'."""
    return " | ".join(f'"{gbnf_text(text)}"' for text in dict.fromkeys(texts))


def answer_rule(sentences: Sequence[str] = ()) -> str:
    """One of `sentences` (the chunk's, so the answer is the text's own words) that has at least
    MIN_ANSWER_WORDS words; free text when there are none."""
    quotable = [s for s in sentences if len(s.split()) >= MIN_ANSWER_WORDS]
    return one_of(quotable) if quotable else ANSWER


def repair_context(answer: str = "") -> str:
    """The pass / fail / reworded layout; a rewording keeps `answer` when it is given."""
    return (
        'root ::= "The pair stands on its own" reason "\\nVerdict: pass" '
        '| "The pair needs the text" reason "\\n" rewrite\n'
        'rewrite ::= "Verdict: fail" | "Verdict: reworded\\nQuestion: " question "\\nAnswer: " '
        "answer\n"
        f"reason ::= {REASON}\n"
        f"question ::= {QUESTION}\n"
        f"answer ::= {one_of([answer]) if answer else ANSWER}\n"
    )


REPAIR_CONTEXT = repair_context()


def numbered_pairs(max_pairs: int, sentences: Sequence[str] = ()) -> str:
    """`Question 1:` / `Answer 1:` pairs, 1 to max_pairs of them, numbered in order; each answer
    one of `sentences` when they are given."""
    rules = [
        f'pair{n} ::= "Question {n}: " question "\\nAnswer {n}: " answer'
        for n in range(1, max_pairs + 1)
    ]
    nested = f"pair{max_pairs}"
    for n in range(max_pairs - 1, 0, -1):
        nested = f'pair{n} ("\\n\\n" {nested})?'
    return "\n".join(
        [
            f"root ::= {nested}",
            *rules,
            f"question ::= {QUESTION}",
            f"answer ::= {answer_rule(sentences)}",
            "",
        ]
    )


def new_question(sentences: Sequence[str] = ()) -> str:
    """One `Question:` / `Answer:` pair; the answer one of `sentences` when they are given."""
    return (
        'root ::= "Question: " question "\\nAnswer: " answer\n'
        f"question ::= {QUESTION}\n"
        f"answer ::= {answer_rule(sentences)}\n"
    )


NEW_QUESTION = new_question()


def question_plan(max_facts: int = MAX_PLAN_FACTS) -> str:
    """`1. <fact>` ... up to max_facts numbered lines, then an `Avoid: <topics>` line."""
    nested = f'"{max_facts}. " line'
    for n in range(max_facts - 1, 0, -1):
        nested = f'"{n}. " line ("\\n" {nested})?'
    return f'root ::= {nested} "\\nAvoid: " line\nline ::= {SENTENCE}\n'


PLAN_QUESTIONS = question_plan()
FREE_PLAN = f'root ::= line ("\\n" line){{0,5}}\nline ::= {SENTENCE}\n'
CHARACTER_CARD = (
    'root ::= "Name: " name "\\nTraits: " line "\\nBackground: " line "\\nSpeech: " line\n'
    f"name ::= {NAME}\n"
    f"line ::= {SENTENCE}\n"
)
SCENARIO = (
    'root ::= "Secondary character: " name "\\nScenario: " line\n'
    f"name ::= {NAME}\n"
    f"line ::= {SENTENCE}\n"
)


def conversation(asker: str, answerer: str, answers: Sequence[str]) -> str:
    """One `<asker>: ...` line and one `<answerer>: <answer>` line per answer, in order: the
    asker's words are free, each answer turn is its answer word for word."""
    exchanges = [
        f'"{gbnf_text(asker)}: " line "\\n{gbnf_text(answerer)}: " {one_of([answer])}'
        for answer in answers
    ]
    between = ' "\\n" '
    return f"root ::= {between.join(exchanges)}\nline ::= {SENTENCE}\n"


def gbnf_text(text: str) -> str:
    """Text made safe inside a GBNF string literal. Example: 'Ann "Bo"' -> 'Ann \\"Bo\\"'."""
    return text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", " ")
