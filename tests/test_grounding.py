"""Pairs not built from their chunk's words are sent back before any check call is paid for, and a
question asked twice about one chunk is kept once."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from augmentoolkit.control_flow_functions.grounding import (
    grounding_problem,
    question_signature,
    word_stem,
)
from augmentoolkit.control_flow_functions.progress import StageOutcome
from augmentoolkit.control_flow_functions.questions import make_pair
from augmentoolkit.control_flow_functions.validation import CHECKS, validate_pairs
from augmentoolkit.records import Chunk, QAPair, SourceInfo
from tests.conftest import REPO
from tests.helpers import close_context, make_context
from tests.llm_server import ScriptedLLMServer

STARTER = (
    "A sourdough starter is a paste of flour and water in which wild yeasts and lactic acid "
    "bacteria live together. Fed daily, it doubles in volume within four to eight hours."
)
BEES = "A beekeeper keeps beehives, and the queen lays every egg in the colony."
GROUNDED = "It is a paste of flour and water holding wild yeasts and bacteria."


@pytest.mark.parametrize(
    ("word", "stem"),
    [("sabotage", "sabot"), ("saboteur", "sabot"), ("feeds", "feed"), ("feeding", "feed")],
)
def test_related_words_share_a_stem(word: str, stem: str) -> None:
    assert word_stem(word) == stem


def test_an_answer_from_the_chunk_is_grounded() -> None:
    assert grounding_problem("What is a sourdough starter?", GROUNDED, STARTER, 0.5) is None


def test_an_answer_about_something_else_names_the_strange_words() -> None:
    problem = grounding_problem("What lives in a starter?", BEES, STARTER, 0.5)
    assert problem is not None
    assert "answer" in problem and "0% are; needs 50%" in problem
    assert "beekeeper" in problem and "queen" in problem


def test_a_question_with_no_word_of_the_chunk_is_not_grounded() -> None:
    problem = grounding_problem("Who keeps beehives?", GROUNDED, STARTER, 0.5)
    assert problem is not None and "question" in problem and "beehives" in problem


def test_the_share_is_a_threshold() -> None:
    half = "flour water beekeeper queen"  # two of four content words are the chunk's
    assert grounding_problem("flour?", half, STARTER, 0.5) is None
    assert grounding_problem("flour?", half, STARTER, 0.6) is not None


def test_zero_turns_the_check_off_and_bare_answers_pass() -> None:
    assert grounding_problem("Who keeps beehives?", BEES, STARTER, 0.0) is None
    assert grounding_problem("Does a starter double in volume?", "Yes.", STARTER, 0.5) is None


def test_rewordings_share_a_signature_and_other_questions_do_not() -> None:
    same = question_signature("What's a sourdough starter?")
    assert same == question_signature("What is the sourdough starter")
    assert same != question_signature("How fast does a sourdough starter rise?")


def chunk(text: str, index: int) -> Chunk:
    return Chunk(f"c{index}", SourceInfo("notes.txt", "notes"), index, text, 40)


def validate(
    server: ScriptedLLMServer, tmp_path: Path, pairs: list[QAPair]
) -> tuple[list[QAPair], list[dict[str, object]], StageOutcome]:
    """validate_pairs with one vote per check, one regeneration, grounding at 0.5, and every
    model check passing."""
    server.set_responder(lambda request: "Consistent with the text.\nVerdict: pass")
    ctx = make_context(server.base_url, REPO / "prompts", tmp_path, parse_retries=0)

    async def go() -> tuple[list[QAPair], list[dict[str, object]], StageOutcome]:
        try:
            return await validate_pairs(ctx, pairs, 1, 1, False, 0.5)
        finally:
            await close_context(ctx)

    return asyncio.run(go())


def test_validation_regenerates_ungrounded_pairs_and_drops_repeats_without_checks(
    server: ScriptedLLMServer, tmp_path: Path
) -> None:
    starter, other = chunk(STARTER, 0), chunk(STARTER + " Other facts.", 1)
    pairs = [
        make_pair(starter, "What is a sourdough starter?", GROUNDED, "q0"),
        make_pair(starter, "What's the sourdough starter?", GROUNDED, "q1"),  # a repeat
        make_pair(starter, "What lives in a starter?", BEES, "q2"),  # not from the chunk
        make_pair(other, "What is a sourdough starter?", GROUNDED, "q0"),  # other chunk: no repeat
    ]
    server.script(
        "new_question",
        ["Question: How fast does a fed starter rise?\nAnswer: It doubles within eight hours."],
    )
    kept, rows, outcome = validate(server, tmp_path, pairs)
    repeats = outcome.reasons["duplicate_question"]
    assert [p.question for p in kept] == [
        "What is a sourdough starter?",
        "How fast does a fed starter rise?",
        "What is a sourdough starter?",
    ]
    assert repeats == 1 and rows[1]["kept"] is False
    # Three pairs reach the model checks, one vote per check each; the repeat and the
    # ungrounded original reach none.
    assert all(server.count(check.name) == 3 for check in CHECKS)
    (rewrite,) = [r for r in server.requests if r.step == "new_question"]
    told = rewrite.body["messages"][-1]["content"]
    assert "Reason: grounding: the answer's words" in told and "beekeeper" in told


def test_a_regenerated_pair_that_repeats_a_kept_one_is_dropped(
    server: ScriptedLLMServer, tmp_path: Path
) -> None:
    starter = chunk(STARTER, 0)
    pairs = [
        make_pair(starter, "What is a sourdough starter?", GROUNDED, "q0"),
        make_pair(starter, "What lives in a starter?", BEES, "q1"),
    ]
    server.script("new_question", [f"Question: What is a sourdough starter?\nAnswer: {GROUNDED}"])
    kept, rows, _ = validate(server, tmp_path, pairs)
    assert len(kept) == 1
    assert rows[1]["kept"] is False
    assert "duplicate_question" in str(rows[1]["history"])


def test_two_questions_with_one_answer_keep_the_first(
    server: ScriptedLLMServer, tmp_path: Path
) -> None:
    starter = chunk(STARTER, 0)
    pairs = [
        make_pair(starter, "What is a sourdough starter?", GROUNDED, "q0"),
        make_pair(starter, "What lives in a sourdough starter?", GROUNDED, "q1"),
    ]
    kept, _, _ = validate(server, tmp_path, pairs)
    assert [pair.question for pair in kept] == ["What is a sourdough starter?"]
