"""Streaming through stages: each chunk goes on to its next stage as soon as its previous stage
is done, instead of waiting for every chunk to finish that stage.

Pairs only meet other pairs of their own chunk (conversations are planned per chunk), so stages
2 to 7 run as one flow per chunk, all flows at once under the engine's concurrency limit. The
flows' results are merged in chunk order, which gives exactly the rows, files and datasets that
stage-by-stage runs give (the store is keyed by content, and orderings are seeded per chunk).
Does not write files; PipelineRun saves the merged results like it saves stage results.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from augmentoolkit.config import Config
from augmentoolkit.control_flow_functions.conversations import write_conversations
from augmentoolkit.control_flow_functions.judging import judge_chunks
from augmentoolkit.control_flow_functions.planning import plan_conversations
from augmentoolkit.control_flow_functions.progress import StageOutcome
from augmentoolkit.control_flow_functions.questions import generate_pairs
from augmentoolkit.control_flow_functions.repair import repair_pairs
from augmentoolkit.control_flow_functions.validation import validate_pairs
from augmentoolkit.generation_functions.generation_step import GenerationContext
from augmentoolkit.records import Chunk, Conversation, ConversationPlan, QAPair


@dataclass
class Flow:
    """What stages 2 to 7 produced for some chunks, in stage order."""

    judgements: list[dict[str, Any]] = field(default_factory=list)
    raw_pairs: list[QAPair] = field(default_factory=list)
    validation: list[dict[str, Any]] = field(default_factory=list)
    repairs: list[dict[str, Any]] = field(default_factory=list)
    kept_pairs: list[QAPair] = field(default_factory=list)
    plans: list[ConversationPlan] = field(default_factory=list)
    conversations: list[Conversation] = field(default_factory=list)
    outcomes: list[StageOutcome] = field(default_factory=list)


async def flow_chunk(ctx: GenerationContext, config: Config, chunk: Chunk) -> Flow:
    """Run one chunk through judging, questions, validation, repair, planning and writing."""
    system = config.SYSTEM
    names = system.USE_FILENAMES
    kept, judgements, judged = await judge_chunks(ctx, [chunk], names)
    raw_pairs, asked = await generate_pairs(ctx, kept, names)
    valid, validation, validated = await validate_pairs(
        ctx,
        raw_pairs,
        system.DOUBLE_CHECK_COUNTER,
        system.QA_REGENERATIONS,
        names,
        system.MIN_ANSWER_GROUNDING,
    )
    repaired, repairs, fixed = await repair_pairs(ctx, valid)
    plans, planned = await plan_conversations(
        ctx, repaired, system.REARRANGEMENTS_TO_TAKE, system.SEED, system.ASSISTANT_MODE, names
    )
    conversations, written = await write_conversations(ctx, plans, names)
    return Flow(
        judgements,
        raw_pairs,
        validation,
        repairs,
        repaired,
        plans,
        conversations,
        [judged, asked, validated, fixed, planned, written],
    )


def merge_flows(flows: list[Flow]) -> Flow:
    """One Flow from many, rows in the order of the flows, stage counts added up."""
    merged = Flow()
    for flow in flows:
        merged.judgements += flow.judgements
        merged.raw_pairs += flow.raw_pairs
        merged.validation += flow.validation
        merged.repairs += flow.repairs
        merged.kept_pairs += flow.kept_pairs
        merged.plans += flow.plans
        merged.conversations += flow.conversations
        if not merged.outcomes:
            merged.outcomes = [StageOutcome(o.stage) for o in flow.outcomes]
        for total, part in zip(merged.outcomes, flow.outcomes, strict=True):
            total.items_in += part.items_in
            total.kept += part.kept
            total.dropped += part.dropped
            total.failed += part.failed
            total.reasons.update(part.reasons)
    return merged
