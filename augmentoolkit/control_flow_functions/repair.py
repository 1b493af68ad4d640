"""Stage 5: rewrite pairs that lean on "the text", "the passage", "the author" to stand alone.

One `repair_context` call per pair: `pass` keeps it, `reworded` replaces question and answer
(same chunk, same id), `fail` drops it. An unreadable reply drops the pair as failed.
"""

from __future__ import annotations

from dataclasses import replace

from augmentoolkit.control_flow_functions.progress import StageOutcome, gather_in_order
from augmentoolkit.generation_functions import grammars
from augmentoolkit.generation_functions.engine_wrapper import Sampling
from augmentoolkit.generation_functions.generation_step import GenerationContext, GenerationStep
from augmentoolkit.generation_functions.parsers import RepairOutcome, parse_repair
from augmentoolkit.records import QAPair

REPAIR_CONTEXT = GenerationStep(
    "repair_context",
    parse_repair,
    Sampling(0.2, 1.0, 900),
    grammar=grammars.REPAIR_CONTEXT,
    variables=frozenset({"chunk", "question", "answer"}),
    writes="a reworded question and answer",
)


async def repair_pairs(
    ctx: GenerationContext, pairs: list[QAPair]
) -> tuple[list[QAPair], list[dict[str, object]], StageOutcome]:
    outcome = StageOutcome("repair context", items_in=len(pairs))

    async def repair(pair: QAPair) -> tuple[RepairOutcome | None, str]:
        values = {"chunk": pair.chunk.text, "question": pair.question, "answer": pair.answer}
        # Under a grammar a rewording keeps the answer: it was checked against the chunk.
        step = replace(REPAIR_CONTEXT, grammar=grammars.repair_context(pair.answer))
        result = await step.run(ctx, values)
        return result.value, result.error

    results = await gather_in_order(pairs, repair)
    kept: list[QAPair] = []
    rows: list[dict[str, object]] = []
    for pair, (verdict, error) in zip(pairs, results, strict=True):
        if verdict is None:
            outcome.fail(f"repair verdict unreadable: {error}")
            rows.append({"pair": pair.to_dict(), "verdict": None, "error": error})
            continue
        if verdict.kind == "fail":
            outcome.drop("cannot stand without the source text")
            rows.append({"pair": pair.to_dict(), "verdict": "fail"})
            continue
        if verdict.kind == "reworded":
            pair = replace(pair, question=verdict.question.strip(), answer=verdict.answer.strip())
        kept.append(pair)
        rows.append({"pair": pair.to_dict(), "verdict": verdict.kind})
    outcome.kept = len(kept)
    return kept, rows, outcome
