"""Checks on a question/answer pair that need no model: is it built from its chunk's words, and
does it repeat the question or the answer of an earlier pair on the same chunk?

Models leak their worked examples and invent facts; small models do it most. A pair whose answer
is mostly words its chunk never uses did not come from the chunk, whatever a model judge says, so
it is sent back for regeneration before any check call is paid for. Words are compared by a crude
stem (`word_stem`: one ending cut, then the first five letters), so "saboteur" matches "sabotage"
and "feeds" matches "feeding", though "fed" does not. The required share is lenient on purpose: it
catches answers about something else, not paraphrase.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from augmentoolkit.records import QAPair

STEM_LETTERS = 5
ENDINGS = ("ing", "ed", "es", "e", "s")

# English function words: they say nothing about where an answer came from.
STOPWORDS = frozenset(
    """
    a about above after again against all also am an and any are as at be because been before
    being below between both but by can could did do does doing done down during each either
    else ever every few for from further had has have having he her here hers herself him
    himself his how however i if in into is it its itself just least less let like many may me
    might more most much must my myself neither no nor not now of off often on once one only or
    other others our ours ourselves out over own per perhaps quite rather same shall she should
    since so some such than that the their theirs them themselves then there these they this
    those though through thus to too under until up upon us very was we were what whatever when
    where whether which while who whom whose why will with within without would yes yet you your
    yours yourself yourselves
    """.split()
)

WORD = re.compile(r"[a-z0-9]+")


def word_stem(word: str) -> str:
    """Example: 'sabotage' and 'saboteur' -> 'sabot'; 'feeds' and 'feeding' -> 'feed'."""
    for ending in ENDINGS:
        if word.endswith(ending) and len(word) - len(ending) >= 3:
            word = word[: -len(ending)]
            break
    return word[:STEM_LETTERS]


def content_words(text: str) -> list[str]:
    """Words that carry meaning, lower-cased, in order. Example: 'What is a hive?' -> ['hive']."""
    words = WORD.findall(text.lower())
    return [w for w in words if w not in STOPWORDS and (len(w) > 2 or w.isdigit())]


def grounding_problem(question: str, answer: str, chunk: str, min_share: float) -> str | None:
    """None when the pair is built from the chunk's words, else what is wrong, for the model that
    rewrites the pair and for the report. min_share: the share of the answer's content words
    that must occur in the chunk; 0 turns the check off.

    Example: an answer about beehives checked against a chunk about sabotage ->
    "the answer's words are mostly not in the text (0% are; needs 50%): beekeeper, beehive".
    """
    if min_share <= 0:
        return None
    known = {word_stem(word) for word in content_words(chunk)}
    asked = content_words(question)
    if asked and not any(word_stem(word) in known for word in asked):
        return f"the question shares no word with the text: {_listing(asked)}"
    said = content_words(answer)
    if not said:
        return None
    missing = [word for word in said if word_stem(word) not in known]
    share = 1 - len(missing) / len(said)
    if share >= min_share:
        return None
    return (
        f"the answer's words are mostly not in the text ({share:.0%} are; needs "
        f"{min_share:.0%}): {_listing(missing)}"
    )


def question_signature(question: str) -> tuple[str, ...]:
    """What two questions must share to count as the same question: their content words, in
    order. Example: "What's a starter?" and "What is a starter" have the same signature."""
    return tuple(word_stem(word) for word in content_words(question))


Signature = tuple[str, str, tuple[str, ...]]  # chunk id, "question" or "answer", its words


def is_repeat(pair: QAPair, asked: set[Signature]) -> bool:
    """True when `asked` already holds this pair's question, or its answer word for word, for its
    chunk; else records both. (Two questions with one answer would make a conversation say the
    same thing twice.)"""
    signatures = {
        (pair.chunk.id, "question", question_signature(pair.question)),
        (pair.chunk.id, "answer", tuple(pair.answer.lower().split())),
    }
    if signatures & asked:
        return True
    asked.update(signatures)
    return False


def _listing(words: Iterable[str], most: int = 8) -> str:
    unique = list(dict.fromkeys(words))
    shown = ", ".join(unique[:most])
    return shown + (", ..." if len(unique) > most else "")
