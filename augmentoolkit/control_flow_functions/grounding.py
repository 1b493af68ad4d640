"""Checks on a question/answer pair that need no model: is it built from its chunk's words, and
does it repeat the question or the answer of an earlier pair on the same chunk?

Models leak their worked examples and invent facts; small models do it most. A pair whose answer
is mostly words its chunk never uses did not come from the chunk, whatever a model judge says, so
it is sent back for regeneration before any check call is paid for. Words are compared by stem
(words.py: in English a crude one, one ending cut, then the first five letters, so "saboteur"
matches "sabotage" and "feeds" matches "feeding", though "fed" does not; Snowball stemmers for
the languages it covers; character bigrams for Chinese, Japanese, Thai and other scripts written
without spaces), in the language of the chunk. The required share is lenient on purpose: it
catches answers about something else, not paraphrase. A pair written in another language than
its chunk (SYSTEM.OUTPUT_LANGUAGE) cannot be compared word for word; the model checks judge it.
"""

from __future__ import annotations

from collections.abc import Iterable

from augmentoolkit.control_flow_functions.words import (
    content_words,
    english_stem,
    guess_language,
    same_language,
    stem,
    stems,
    vocabulary,
)
from augmentoolkit.records import QAPair

__all__ = ["grounding_problem", "is_repeat", "question_signature", "word_stem", "Signature"]

word_stem = english_stem  # the English stem, under the name it has always had here


def grounding_problem(question: str, answer: str, chunk: str, min_share: float) -> str | None:
    """None when the pair is built from the chunk's words, else what is wrong, for the model that
    rewrites the pair and for the report. min_share: the share of the answer's content words
    that must occur in the chunk; 0 turns the check off.

    Example: an answer about beehives checked against a chunk about sabotage ->
    "the answer's words are mostly not in the text (0% are; needs 50%): beekeeper, beehive".
    """
    if min_share <= 0:
        return None
    language = guess_language(chunk)
    if not same_language(guess_language(f"{question} {answer}", language), language):
        return None
    known = vocabulary(chunk, language)
    asked = content_words(question, language)
    if asked and not any(stem(word, language) in known for word in asked):
        return f"the question shares no word with the text: {_listing(asked)}"
    said = content_words(answer, language)
    if not said:
        return None
    missing = [word for word in said if stem(word, language) not in known]
    share = 1 - len(missing) / len(said)
    if share >= min_share:
        return None
    return (
        f"the answer's words are mostly not in the text ({share:.0%} are; needs "
        f"{min_share:.0%}): {_listing(missing)}"
    )


def question_signature(question: str, language: str | None = None) -> tuple[str, ...]:
    """What two questions must share to count as the same question: their content words'
    stems, in order, in `language` (else the question's own, guessed). Example: "What's a
    starter?" and "What is a starter" have the same signature; so do "Кто основал
    обсерваторию?" and "Кем была основана обсерватория"."""
    return tuple(stems(question, language or guess_language(question)))


Signature = tuple[str, str, tuple[str, ...]]  # chunk id, "question" or "answer", its words


def is_repeat(pair: QAPair, asked: set[Signature]) -> bool:
    """True when `asked` already holds this pair's question, or its answer word for word, for its
    chunk; else records both. (Two questions with one answer would make a conversation say the
    same thing twice.)"""
    language = guess_language(pair.chunk.text)
    signatures = {
        (pair.chunk.id, "question", question_signature(pair.question, language)),
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
