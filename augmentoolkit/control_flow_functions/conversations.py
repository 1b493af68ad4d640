"""Stage 7: write each planned conversation with the large model, then verify it.

Assistant mode uses `write_conversation_assistant` (User / AI Assistant); character mode uses
`write_conversation_characters` with the card and scenario. A reply whose turns do not carry the
pairs (see verification.py) is retried by the step like any unparseable reply. A conversation the
verifier rejects is written once more (a fresh call), verified again, and dropped if it fails.
"""

from __future__ import annotations

from dataclasses import replace
from functools import partial

from augmentoolkit.control_flow_functions.judging import source_line
from augmentoolkit.control_flow_functions.planning import ASSISTANT_NAME, USER_NAME
from augmentoolkit.control_flow_functions.progress import StageOutcome, gather_in_order
from augmentoolkit.control_flow_functions.verification import (
    VERIFY_CONVERSATION,
    check_carries_pairs,
)
from augmentoolkit.generation_functions import grammars
from augmentoolkit.generation_functions.engine_wrapper import Sampling
from augmentoolkit.generation_functions.generation_step import GenerationContext, GenerationStep
from augmentoolkit.generation_functions.parsers import format_qa_list, parse_conversation
from augmentoolkit.records import Conversation, ConversationPlan, Turn

WRITE_SAMPLING = Sampling(0.7, 1.0, 2500)
WRITE_ATTEMPTS = 2  # a conversation the verifier rejects is written once more

# The two writers as declared (names, role, the values their prompts get); each plan gets its
# own copy whose parser knows the speakers and whose validator knows the pairs.
WRITERS = {
    True: GenerationStep(
        "write_conversation_assistant",
        partial(parse_conversation, asker=USER_NAME, answerer=ASSISTANT_NAME),
        WRITE_SAMPLING,
        role="large",
        variables=frozenset({"qa_list"}),
        writes="the conversation",
    ),
    False: GenerationStep(
        "write_conversation_characters",
        partial(parse_conversation, asker=USER_NAME, answerer=ASSISTANT_NAME),
        WRITE_SAMPLING,
        role="large",
        variables=frozenset(
            {"qa_list", "source", "character_card", "scenario", "primary_name", "secondary_name"}
        ),
        writes="the conversation",
    ),
}
WRITE_STEPS = tuple(step.name for step in WRITERS.values())


def writing_step(plan: ConversationPlan) -> GenerationStep[list[tuple[str, str]]]:
    """The writing step for one plan: its parser knows the speakers, its validator the pairs."""
    return replace(
        WRITERS[plan.assistant_mode],
        parser=partial(parse_conversation, asker=plan.secondary_name, answerer=plan.primary_name),
        validator=lambda turns: check_carries_pairs(turns, plan.pairs),
        grammar=grammars.conversation(
            plan.secondary_name, plan.primary_name, [pair.answer for pair in plan.pairs]
        ),
    )


def writing_values(plan: ConversationPlan, use_filenames: bool) -> dict[str, str]:
    qa_list = format_qa_list([(p.question, p.answer) for p in plan.pairs])
    if plan.assistant_mode:
        return {"qa_list": qa_list}
    return {
        "qa_list": qa_list,
        "source": source_line(plan.pairs[0].chunk, use_filenames),
        "character_card": plan.character_card,
        "scenario": plan.scenario,
        "primary_name": plan.primary_name,
        "secondary_name": plan.secondary_name,
    }


def to_conversation(plan: ConversationPlan, turns: list[tuple[str, str]]) -> Conversation:
    shaped = tuple(
        Turn(speaker, "human" if i % 2 == 0 else "gpt", text)
        for i, (speaker, text) in enumerate(turns)
    )
    raw = "\n\n".join(f"{speaker}: {text}" for speaker, text in turns)
    return Conversation(plan, shaped, raw)


async def write_one(
    ctx: GenerationContext, plan: ConversationPlan, use_filenames: bool
) -> Conversation | tuple[str, str]:
    """The verified conversation, or (dropped|failed, reason)."""
    step = writing_step(plan)
    values = writing_values(plan, use_filenames)
    outcome: tuple[str, str] = ("failed", "not attempted")
    for attempt in range(WRITE_ATTEMPTS):
        written = await step.run(ctx, values, salt=f"{plan.id}:write{attempt}")
        if not written.ok or written.value is None:
            outcome = ("failed", f"conversation unusable: {written.error}")
            continue
        conversation = to_conversation(plan, written.value)
        verdict = await VERIFY_CONVERSATION.run(
            ctx, {"conversation": conversation.raw_text, "qa_list": values["qa_list"]}
        )
        if verdict.ok and verdict.value is not None and verdict.value[0]:
            return conversation
        if verdict.ok:
            outcome = ("dropped", "verifier found the conversation unfaithful")
        else:
            outcome = ("failed", f"verification unreadable: {verdict.error}")
    return outcome


async def write_conversations(
    ctx: GenerationContext, plans: list[ConversationPlan], use_filenames: bool
) -> tuple[list[Conversation], StageOutcome]:
    outcome = StageOutcome("write conversations", items_in=len(plans))
    results = await gather_in_order(plans, lambda plan: write_one(ctx, plan, use_filenames))
    conversations = []
    for result in results:
        if isinstance(result, Conversation):
            conversations.append(result)
        elif result[0] == "dropped":
            outcome.drop(result[1])
        else:
            outcome.fail(result[1])
    outcome.kept = len(conversations)
    return conversations, outcome
