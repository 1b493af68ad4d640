"""Stage 3: write question/answer pairs grounded in each kept chunk.

Per chunk, a planning call (which facts can the chunk answer on its own?) and then a generation
call that writes up to four numbered pairs. Each pair keeps its chunk, so its source file and
chunk id travel with it to the final dataset.
"""

from __future__ import annotations

from dataclasses import replace

from augmentoolkit.control_flow_functions.chunking import split_sentences
from augmentoolkit.control_flow_functions.judging import source_line
from augmentoolkit.control_flow_functions.progress import (
    StageOutcome,
    gather_in_order,
    successes,
)
from augmentoolkit.generation_functions import grammars
from augmentoolkit.generation_functions.engine_wrapper import Sampling
from augmentoolkit.generation_functions.generation_step import GenerationContext, GenerationStep
from augmentoolkit.generation_functions.parsers import parse_plan, parse_qa_pairs
from augmentoolkit.records import Chunk, QAPair, content_id

MAX_PAIRS_PER_CHUNK = 4

PLAN_QUESTIONS = GenerationStep(
    "plan_questions",
    parse_plan,
    Sampling(0.6, 1.0, 800),
    grammar=grammars.PLAN_QUESTIONS,
    variables=frozenset({"chunk", "source"}),
)
GENERATE_QUESTIONS = GenerationStep(
    "generate_questions",
    parse_qa_pairs,
    Sampling(0.7, 1.0, 1200),
    grammar=grammars.numbered_pairs(MAX_PAIRS_PER_CHUNK),
    variables=frozenset({"chunk", "source", "plan"}),
    writes="the questions and answers",
)


def pair_writer(chunk: Chunk) -> GenerationStep[list[tuple[str, str]]]:
    """GENERATE_QUESTIONS for one chunk: under a grammar, each answer is one of its sentences."""
    sentences = split_sentences(chunk.text)
    return replace(
        GENERATE_QUESTIONS, grammar=grammars.numbered_pairs(MAX_PAIRS_PER_CHUNK, sentences)
    )


def make_pair(chunk: Chunk, question: str, answer: str, tag: str) -> QAPair:
    """A pair with a deterministic id from its chunk, its position tag and its text."""
    return QAPair(content_id(chunk.id, tag, question), chunk, question.strip(), answer.strip())


async def generate_pairs(
    ctx: GenerationContext, chunks: list[Chunk], use_filenames: bool
) -> tuple[list[QAPair], StageOutcome]:
    outcome = StageOutcome("generate questions", items_in=len(chunks))

    async def pairs_for(chunk: Chunk) -> list[QAPair] | str:
        values = {"chunk": chunk.text, "source": source_line(chunk, use_filenames)}
        plan = await PLAN_QUESTIONS.run(ctx, values)
        if not plan.ok:
            return f"question plan unreadable: {plan.error}"
        written = await pair_writer(chunk).run(ctx, {**values, "plan": plan.value or ""})
        if not written.ok or not written.value:
            return f"question list unreadable: {written.error}"
        found = written.value[:MAX_PAIRS_PER_CHUNK]
        return [make_pair(chunk, q, a, f"q{i}") for i, (q, a) in enumerate(found)]

    results = await gather_in_order(chunks, pairs_for)
    pairs = [pair for found in successes(results, outcome) for pair in found]
    outcome.kept = len(pairs)
    return pairs, outcome
