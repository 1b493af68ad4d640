"""Checks that a written conversation carries its question/answer pairs faithfully.

Two layers: a programmatic check with no model (the turns alternate, there is one question turn
and one answer turn per pair, each answer turn holds most of its answer's content words (words.py's
strict rule: words of 4+ letters, unstemmed; character bigrams in scripts without spaces), and no
answer turn repeats another), run as the writing step's validator so a failing reply is simply
retried; then a `verify_conversation` model call that reads the whole conversation against the
pairs and gives a pass/fail verdict.
"""

from __future__ import annotations

from augmentoolkit.control_flow_functions.words import coverage_words
from augmentoolkit.errors import ParseError
from augmentoolkit.generation_functions import grammars
from augmentoolkit.generation_functions.engine_wrapper import Sampling
from augmentoolkit.generation_functions.generation_step import GenerationStep
from augmentoolkit.generation_functions.parsers import parse_verdict
from augmentoolkit.records import QAPair

# Share of an answer's content words that its answer turn must contain.
MIN_ANSWER_COVERAGE = 0.5

VERIFY_CONVERSATION = GenerationStep(
    "verify_conversation",
    parse_verdict,
    Sampling(0.2, 1.0, 700),
    grammar=grammars.VERIFY_CONVERSATION,
    variables=frozenset({"conversation", "qa_list"}),
)


def coverage(answer: str, turn: str) -> float:
    """Share of the answer's content words found in the turn (1.0 when the answer has none)."""
    wanted = coverage_words(answer)
    return len(wanted & coverage_words(turn)) / len(wanted) if wanted else 1.0


def check_carries_pairs(turns: list[tuple[str, str]], pairs: tuple[QAPair, ...]) -> None:
    """Raise ParseError naming the first way the turns fail to carry the pairs."""
    if len(turns) != 2 * len(pairs):
        raise ParseError(
            f"conversation has {len(turns)} turns; expected {2 * len(pairs)} "
            f"(a question and an answer for each of {len(pairs)} pairs)"
        )
    answers = [text for _, text in turns[1::2]]
    for number, (pair, answer_turn) in enumerate(zip(pairs, answers, strict=True), start=1):
        share = coverage(pair.answer, answer_turn)
        if share < MIN_ANSWER_COVERAGE:
            raise ParseError(f"answer turn {number} holds only {share:.0%} of answer {number}")
    normalised = [" ".join(a.lower().split()) for a in answers]
    if len(set(normalised)) != len(normalised):
        raise ParseError("an answer turn is repeated word for word")
