"""The pipeline, declared once: `STAGES`, the model stages in run order.

Each row names the stage, the prompts (and files) it may use, its model role, what it consumes
and produces, its output folder, its control-flow function, how to read its kept items back
from the rows it wrote, what the run report counts from those rows, and what it is likely to
cost. The orchestration (run.py), the cost estimate, the run report, the progress lines,
`--check`'s prompt list and the notebook's cells all read this table; nothing else names a
stage. Adding a stage is one row here plus its function.

Reading and chunking (before the table: it makes the items) and export (after it: it reads the
table's last rows) are not model stages.

Every stage function has one signature: `(ctx, config, items of one chunk) -> StageResult`,
whose rows are what the stage appends to its folder for that chunk.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from augmentoolkit.config import Config
from augmentoolkit.control_flow_functions.conversations import WRITERS, write_conversations
from augmentoolkit.control_flow_functions.judging import JUDGE_CHUNK, judge_chunks
from augmentoolkit.control_flow_functions.planning import CHARACTER_STEPS, plan_conversations
from augmentoolkit.control_flow_functions.progress import StageResult
from augmentoolkit.control_flow_functions.questions import (
    GENERATE_QUESTIONS,
    MAX_PAIRS_PER_CHUNK,
    PLAN_QUESTIONS,
    generate_pairs,
)
from augmentoolkit.control_flow_functions.repair import REPAIR_CONTEXT, repair_pairs
from augmentoolkit.control_flow_functions.validation import CHECKS, NEW_QUESTION, validate_pairs
from augmentoolkit.control_flow_functions.verification import VERIFY_CONVERSATION
from augmentoolkit.generation_functions.generation_step import (
    GenerationContext,
    GenerationStep,
    Role,
)
from augmentoolkit.records import Chunk, Conversation, ConversationPlan, QAPair
from augmentoolkit.report import ChartCounts

StageFunction = Callable[[GenerationContext, Config, list[Any]], Awaitable[StageResult]]
PAIRS_PER_CHUNK_GUESS = 3  # for the estimate: pairs that survive to validation per chunk


@dataclass(frozen=True)
class CallGuess:
    """For the estimate: calls one input item of a stage likely makes to one prompt."""

    prompt: str
    per_item: float
    reply_tokens: int
    role: Role = "small"


@dataclass(frozen=True)
class Stage:
    name: str  # as printed in progress lines and the run report
    folder: str  # under OUTPUT
    file: str  # the JSONL in that folder, one line per row, appended as chunks finish
    consumes: type
    produces: type
    role: Role  # the model role of its main step
    run: StageFunction
    kept: Callable[[list[dict[str, Any]]], list[Any]]  # its rows -> items for the next stage
    needs: Callable[[Config], tuple[GenerationStep[Any], ...]]  # the steps (prompts) it runs
    guess: Callable[[Config], tuple[CallGuess, ...]]  # likely calls per input item
    fanout: Callable[[Config], float]  # likely items out per item in
    count: Callable[[ChartCounts, list[dict[str, Any]]], None] | None = None  # report charts
    description: str = ""  # what it does, for the notebook
    files: Callable[[Config], tuple[str, ...]] = lambda c: ()  # other prompt-folder files

    @property
    def path(self) -> str:
        return f"{self.folder}/{self.file}"


# --- the control-flow function of each stage, in the one signature -------------------------


async def judge(ctx: GenerationContext, config: Config, chunks: list[Chunk]) -> StageResult:
    _, rows, outcome = await judge_chunks(ctx, chunks, config.SYSTEM.USE_FILENAMES)
    return StageResult(rows, outcome)


async def ask(ctx: GenerationContext, config: Config, chunks: list[Chunk]) -> StageResult:
    pairs, outcome = await generate_pairs(ctx, chunks, config.SYSTEM.USE_FILENAMES)
    return StageResult([pair.to_dict() for pair in pairs], outcome)


async def validate(ctx: GenerationContext, config: Config, pairs: list[QAPair]) -> StageResult:
    s = config.SYSTEM
    _, rows, outcome = await validate_pairs(
        ctx,
        pairs,
        s.DOUBLE_CHECK_COUNTER,
        s.QA_REGENERATIONS,
        s.USE_FILENAMES,
        s.MIN_ANSWER_GROUNDING,
    )
    return StageResult(rows, outcome)


async def repair(ctx: GenerationContext, config: Config, pairs: list[QAPair]) -> StageResult:
    _, rows, outcome = await repair_pairs(ctx, pairs)
    return StageResult(rows, outcome)


async def plan(ctx: GenerationContext, config: Config, pairs: list[QAPair]) -> StageResult:
    s = config.SYSTEM
    plans, outcome = await plan_conversations(
        ctx, pairs, s.REARRANGEMENTS_TO_TAKE, s.SEED, s.ASSISTANT_MODE, s.USE_FILENAMES
    )
    return StageResult([p.to_dict() for p in plans], outcome)


async def converse(
    ctx: GenerationContext, config: Config, plans: list[ConversationPlan]
) -> StageResult:
    written, outcome = await write_conversations(ctx, plans, config.SYSTEM.USE_FILENAMES)
    return StageResult([c.to_dict() for c in written], outcome)


# --- reading kept items back from rows ------------------------------------------------------


def worthy_chunks(rows: list[dict[str, Any]]) -> list[Any]:
    return [Chunk.from_dict(row["chunk"]) for row in rows if row["suitable"] is True]


def all_pairs(rows: list[dict[str, Any]]) -> list[Any]:
    return [QAPair.from_dict(row) for row in rows]


def valid_pairs(rows: list[dict[str, Any]]) -> list[Any]:
    return [QAPair.from_dict(row["pair"]) for row in rows if row["kept"]]


def repaired_pairs(rows: list[dict[str, Any]]) -> list[Any]:
    return [QAPair.from_dict(row["pair"]) for row in rows if row["verdict"] in ("pass", "reworded")]


def all_plans(rows: list[dict[str, Any]]) -> list[Any]:
    return [ConversationPlan.from_dict(row) for row in rows]


def all_conversations(rows: list[dict[str, Any]]) -> list[Any]:
    return [Conversation.from_dict(row) for row in rows]


# --- what each stage likely costs, for the estimate -----------------------------------------


def votes(config: Config) -> int:
    """Calls a majority vote needs when every vote agrees."""
    return config.SYSTEM.DOUBLE_CHECK_COUNTER // 2 + 1


def conversations_per_pair(config: Config) -> float:
    return config.SYSTEM.REARRANGEMENTS_TO_TAKE / PAIRS_PER_CHUNK_GUESS


def character_mode(config: Config) -> bool:
    return not config.SYSTEM.ASSISTANT_MODE


def writer(config: Config) -> GenerationStep[Any]:
    return WRITERS[config.SYSTEM.ASSISTANT_MODE]


def setting_guesses(config: Config) -> tuple[CallGuess, ...]:
    if not character_mode(config):
        return ()
    return tuple(
        CallGuess(step.name, conversations_per_pair(config), 250) for step in CHARACTER_STEPS
    )


STAGES: tuple[Stage, ...] = (
    Stage(
        "judge chunks",
        "worthy_for_questions",
        "judgements.jsonl",
        Chunk,
        Chunk,
        "small",
        judge,
        worthy_chunks,
        needs=lambda c: (JUDGE_CHUNK,),
        guess=lambda c: (CallGuess(JUDGE_CHUNK.name, 1, 120),),
        fanout=lambda c: 1.0,
        count=ChartCounts.add_judgements,
        description="The small model keeps chunks worth asking questions about (not tables of "
        "contents, licences, indexes).",
    ),
    Stage(
        "generate questions",
        "qatuples_raw",
        "pairs.jsonl",
        Chunk,
        QAPair,
        "small",
        ask,
        all_pairs,
        needs=lambda c: (PLAN_QUESTIONS, GENERATE_QUESTIONS),
        guess=lambda c: (
            CallGuess(PLAN_QUESTIONS.name, 1, 200),
            CallGuess(GENERATE_QUESTIONS.name, 1, 400),
        ),
        fanout=lambda c: float(min(PAIRS_PER_CHUNK_GUESS, MAX_PAIRS_PER_CHUNK)),
        count=ChartCounts.add_raw_pairs,
        description="A plan and then up to four question/answer pairs per kept chunk.",
    ),
    Stage(
        "validate pairs",
        "qatuples_validated",
        "validation.jsonl",
        QAPair,
        QAPair,
        "small",
        validate,
        valid_pairs,
        needs=lambda c: (*CHECKS, NEW_QUESTION),
        guess=lambda c: tuple(CallGuess(check.name, votes(c), 150) for check in CHECKS),
        fanout=lambda c: 1.0,
        count=ChartCounts.add_validation,
        description="Three checks per pair (question sensible, answer relevant, answer "
        "accurate), each a majority vote of `SYSTEM.DOUBLE_CHECK_COUNTER` calls that stops once "
        "decided; failed pairs are regenerated a bounded number of times.",
    ),
    Stage(
        "repair context",
        "qatuples_revised",
        "repairs.jsonl",
        QAPair,
        QAPair,
        "small",
        repair,
        repaired_pairs,
        needs=lambda c: (REPAIR_CONTEXT,),
        guess=lambda c: (CallGuess(REPAIR_CONTEXT.name, 1, 150),),
        fanout=lambda c: 1.0,
        count=ChartCounts.add_repairs,
        description='Pairs that lean on "the text" or "the author" are rewritten to stand '
        "alone, or dropped.",
    ),
    Stage(
        "plan conversations",
        "multi_turn_convs_info",
        "plans.jsonl",
        QAPair,
        ConversationPlan,
        "small",
        plan,
        all_plans,
        needs=lambda c: CHARACTER_STEPS if character_mode(c) else (),
        files=lambda c: ("personality_traits.yaml",) if character_mode(c) else (),
        guess=setting_guesses,
        fanout=conversations_per_pair,
        description="Groups pairs by chunk and takes `SYSTEM.REARRANGEMENTS_TO_TAKE` seeded "
        "orderings; in character mode also writes a character card and a scenario.",
    ),
    Stage(
        "write conversations",
        "multi_turn_convs",
        "conversations.jsonl",
        ConversationPlan,
        Conversation,
        "large",
        converse,
        all_conversations,
        needs=lambda c: (writer(c), VERIFY_CONVERSATION),
        guess=lambda c: (
            CallGuess(writer(c).name, 1, 2 * PAIRS_PER_CHUNK_GUESS * 150, role="large"),
            CallGuess(VERIFY_CONVERSATION.name, 1, 150),
        ),
        fanout=lambda c: 1.0,
        count=ChartCounts.add_conversations,
        description="The large model writes each conversation; programmatic checks and a "
        "verifier make sure it carries its pairs faithfully.",
    ),
)


def stage_named(name: str, stages: tuple[Stage, ...] = STAGES) -> Stage:
    """The row called `name`; ValueError listing the names if there is none."""
    for stage in stages:
        if stage.name == name:
            return stage
    raise ValueError(f"no stage named {name!r}; the stages are: {[s.name for s in stages]}")


def stage_steps(stage: Stage, config: Config) -> tuple[str, ...]:
    """The model steps (prompt names) a stage runs under this config; their counters are its."""
    return tuple(step.name for step in stage.needs(config))
