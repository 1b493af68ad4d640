"""The majority vote asks no more than it must, one vote function serves all three checks, and
a pair that fails is regenerated a bounded number of times."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from augmentoolkit.control_flow_functions.questions import make_pair
from augmentoolkit.control_flow_functions.validation import CHECKS, check_pair, majority_vote
from augmentoolkit.control_flow_functions.verdicts import Ballot
from augmentoolkit.generation_functions.engine_wrapper import Sampling
from augmentoolkit.generation_functions.generation_step import GenerationStep
from augmentoolkit.generation_functions.parsers import parse_verdict
from augmentoolkit.records import Chunk, SourceInfo
from tests.conftest import REPO
from tests.helpers import close_context, make_context
from tests.llm_server import ScriptedLLMServer

CHECK = GenerationStep("check_question", parse_verdict, Sampling(0.2, 1.0, 100))
VALUES = {"chunk": "Bees dance.", "source": "notes", "question": "Do bees dance?", "answer": "Yes."}
PASS, FAIL = "Fine.\nVerdict: pass", "Wrong.\nVerdict: fail"


@pytest.mark.parametrize(
    ("votes", "replies", "passed", "calls"),
    [
        (3, [PASS, PASS], True, 2),
        (3, [FAIL, FAIL], False, 2),
        (3, [PASS, FAIL, PASS], True, 3),
        (3, [FAIL, PASS, FAIL], False, 3),
        (1, [FAIL], False, 1),
        (5, [PASS, PASS, PASS], True, 3),
        (5, [PASS, FAIL, FAIL, PASS, PASS], True, 5),
        (4, [PASS, PASS, FAIL, PASS], True, 4),  # even counts need a strict majority (3 of 4)
        (4, [FAIL, FAIL], False, 2),  # 2 of 4 against: a pass is no longer possible
        (3, ["mumble", PASS, PASS], True, 3),  # an unreadable vote is replaced
    ],
)
def test_vote_stops_once_decided(
    server: ScriptedLLMServer,
    tmp_path: Path,
    votes: int,
    replies: list[str],
    passed: bool,
    calls: int,
) -> None:
    server.script("check_question", replies)
    ctx = make_context(server.base_url, REPO / "prompts", tmp_path, parse_retries=0)

    async def go() -> bool | None:
        try:
            return (await majority_vote(CHECK, ctx, VALUES, votes, salt="pair")).passed
        finally:
            await close_context(ctx)

    assert asyncio.run(go()) is passed
    assert server.count() == calls


def test_vote_gives_up_when_nothing_is_readable(server: ScriptedLLMServer, tmp_path: Path) -> None:
    server.set_responder(lambda request: "mumble")
    ctx = make_context(server.base_url, REPO / "prompts", tmp_path, parse_retries=0)

    async def go() -> bool | None:
        try:
            return (await majority_vote(CHECK, ctx, VALUES, 3, salt="pair")).passed
        finally:
            await close_context(ctx)

    assert asyncio.run(go()) is None
    assert server.count() == 3


def test_the_three_checks_are_distinct_prompts() -> None:
    assert [c.name for c in CHECKS] == [
        "check_question",
        "check_answer_relevancy",
        "check_answer_accuracy",
    ]


def test_an_answer_quoting_a_sentence_of_its_chunk_skips_the_answer_checks(
    server: ScriptedLLMServer, tmp_path: Path
) -> None:
    chunk = Chunk(
        "c0", SourceInfo("notes.txt", "notes"), 0, "Bees dance at dawn. They fan the hive.", 9
    )
    quoted = make_pair(chunk, "When do bees dance?", "Bees dance at dawn.", "q0")
    reworded = make_pair(chunk, "When do bees dance?", "They dance at dawn.", "q1")
    server.set_responder(lambda request: PASS)
    ctx = make_context(server.base_url, REPO / "prompts", tmp_path, parse_retries=0)

    async def go() -> None:
        try:
            assert (await check_pair(ctx, quoted, 1, "notes", 0.5)).problem is None
            assert server.count() == 1 and server.count("check_question") == 1
            assert (await check_pair(ctx, reworded, 1, "notes", 0.5)).problem is None
            assert server.count() == 4  # all three checks for an answer in its own words
        finally:
            await close_context(ctx)

    asyncio.run(go())


def test_every_vote_is_kept_with_its_verdict_and_reason(
    server: ScriptedLLMServer, tmp_path: Path
) -> None:
    server.script("check_question", [PASS, FAIL, "mumble", PASS])
    ctx = make_context(server.base_url, REPO / "prompts", tmp_path, parse_retries=0)

    async def go() -> tuple[Ballot, ...]:
        try:
            return (await majority_vote(CHECK, ctx, VALUES, 3, salt="pair")).ballots
        finally:
            await close_context(ctx)

    ballots = asyncio.run(go())
    assert sorted((b["passed"] is None, b["passed"] is True) for b in ballots) == [
        (False, False),
        (False, True),
        (False, True),
        (True, False),
    ]
    assert {b["reason"] for b in ballots if b["passed"] is not None} == {"Fine.", "Wrong."}
    assert all(b["check"] == "check_question" for b in ballots)
