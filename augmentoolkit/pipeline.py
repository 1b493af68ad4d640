"""The pipeline, in the order it runs. `run_pipeline(config)` is what processing.py calls; the
notebook calls the same `PipelineRun` methods one cell at a time.

    raw_txt_input/*.txt|md|jsonl|pdf
      → chunking        list[Chunk]          chunks/
      → judging         list[Chunk]          worthy_for_questions/
      → questions       list[QAPair]         qatuples_raw/
      → validation      list[QAPair]         qatuples_validated/
      → repair          list[QAPair]         qatuples_revised/
      → planning        list[ConversationPlan]  multi_turn_convs_info/
      → conversations   list[Conversation]   multi_turn_convs/
      → export          master_list.jsonl, processed_masterlist.json, simplified_data.jsonl,
                        openai_messages.jsonl, qa_pairs.jsonl

    inside every LLM stage:
      GenerationStep.run → prompts.render → store hit? → EngineWrapper.generate → parser → store

With SYSTEM.STREAMING, stages 2 to 7 run as one flow per chunk (see streaming.py) and write the
same folders; the notebook calls the stages one by one.

Every stage writes its folder atomically when it ends and prints one line: in, kept, dropped,
failed, model calls, tokens. A stage that leaves nothing raises PipelineEmpty naming the stage
and the most common reasons.
"""

from __future__ import annotations

import json
import logging
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from augmentoolkit.config import EMBEDDED, Config
from augmentoolkit.control_flow_functions.chunking import chunk_documents, read_documents
from augmentoolkit.control_flow_functions.conversations import WRITE_STEPS, write_conversations
from augmentoolkit.control_flow_functions.export import write_datasets, write_meta_datagen
from augmentoolkit.control_flow_functions.judging import (
    JUDGE_CHUNK,
    judge_chunks,
    save_judgement_chart,
)
from augmentoolkit.control_flow_functions.planning import CHARACTER_STEPS, plan_conversations
from augmentoolkit.control_flow_functions.progress import StageOutcome, map_with_progress
from augmentoolkit.control_flow_functions.questions import GENERATE_QUESTIONS, PLAN_QUESTIONS
from augmentoolkit.control_flow_functions.questions import generate_pairs as write_pairs
from augmentoolkit.control_flow_functions.repair import REPAIR_CONTEXT, repair_pairs
from augmentoolkit.control_flow_functions.validation import CHECKS, NEW_QUESTION, validate_pairs
from augmentoolkit.control_flow_functions.verification import VERIFY_CONVERSATION
from augmentoolkit.errors import PipelineEmpty
from augmentoolkit.estimate import estimate_run
from augmentoolkit.generation_functions.embedded_backend import EMBEDDED_SLOTS, EmbeddedBackend
from augmentoolkit.generation_functions.engine_wrapper import (
    AphroditeBackend,
    Backend,
    EngineWrapper,
    OpenAIBackend,
    RetryPolicy,
    aphrodite_engine_args,
)
from augmentoolkit.generation_functions.generation_step import GenerationContext, GenerationStep
from augmentoolkit.generation_functions.prompts import PromptLibrary
from augmentoolkit.generation_functions.store import Store
from augmentoolkit.io_utils import (
    remove_stale_temp_files,
    write_json_atomic,
    write_jsonl_atomic,
)
from augmentoolkit.records import Chunk, Conversation, ConversationPlan, QAPair
from augmentoolkit.report import write_run_report
from augmentoolkit.streaming import flow_chunk, merge_flows

log = logging.getLogger(__name__)


# The model steps every run uses (character mode adds CHARACTER_STEPS; conversations are written
# by a step built per plan), in run order.
FIXED_STEPS: tuple[GenerationStep[Any], ...] = (
    JUDGE_CHUNK,
    PLAN_QUESTIONS,
    GENERATE_QUESTIONS,
    *CHECKS,
    NEW_QUESTION,
    REPAIR_CONTEXT,
    VERIFY_CONVERSATION,
)


def prompt_names(config: Config) -> list[str]:
    """Every prompt this configuration will use, checked before the first call."""
    names = [step.name for step in FIXED_STEPS]
    if config.SYSTEM.ASSISTANT_MODE:
        return [*names, WRITE_STEPS[0]]
    return [*names, *(step.name for step in CHARACTER_STEPS), WRITE_STEPS[1]]


def build_backend(config: Config) -> Backend | list[Backend]:
    """The in-process engine, the embedded small model, one OpenAI client for API.BASE_URL, or
    one per URL in its list."""
    if config.SYSTEM.MODE == "aphrodite":
        a = config.APHRODITE
        return AphroditeBackend(
            aphrodite_engine_args(a.MODEL, a.QUANTIZATION, a.MAX_MODEL_LEN, a.DTYPE)
        )
    api = config.API
    if api.base_urls == (EMBEDDED,):
        return EmbeddedBackend(api.REQUEST_TIMEOUT)
    clients: list[Backend] = [
        OpenAIBackend(url, api.API_KEY, api.REQUEST_TIMEOUT) for url in api.base_urls
    ]
    return clients[0] if len(clients) == 1 else clients


# Model calls and tokens per step at one moment, and the clock: what a stage's counts start from.
Snapshot = tuple[dict[str, tuple[int, int]], float]

# The steps each model stage runs: its calls and tokens are theirs, also when stages overlap.
STAGE_STEPS: dict[str, list[str]] = {
    "judge chunks": [JUDGE_CHUNK.name],
    "generate questions": [PLAN_QUESTIONS.name, GENERATE_QUESTIONS.name],
    "validate pairs": [*(check.name for check in CHECKS), NEW_QUESTION.name],
    "repair context": [REPAIR_CONTEXT.name],
    "plan conversations": [step.name for step in CHARACTER_STEPS],
    "write conversations": [*WRITE_STEPS, VERIFY_CONVERSATION.name],
}


def model_names(config: Config) -> dict[str, str]:
    """Model per role: "small" runs every step but conversation writing, "large" writes."""
    if config.SYSTEM.MODE == "aphrodite":
        return {"small": config.APHRODITE.MODEL, "large": config.APHRODITE.MODEL}
    return {"small": config.API.LOGICAL_MODEL, "large": config.API.LARGE_LOGICAL_MODEL}


def model_prices(config: Config) -> dict[str, tuple[float, float]]:
    """USD per million (prompt, completion) tokens per model name."""
    names, cost = model_names(config), config.COST
    prices = {names["small"]: (cost.LOGICAL_INPUT_PRICE, cost.LOGICAL_OUTPUT_PRICE)}
    if names["large"] != names["small"]:
        prices[names["large"]] = (cost.LARGE_INPUT_PRICE, cost.LARGE_OUTPUT_PRICE)
    return prices


def build_context(
    config: Config, backend: Backend | list[Backend] | None = None
) -> GenerationContext:
    """Engine, prompt library (checked now) and store for a run of this configuration."""
    prompts = PromptLibrary(config.PATH.PROMPTS, config.PATH.DEFAULT_PROMPTS)
    prompts.check(prompt_names(config))
    if not config.SYSTEM.ASSISTANT_MODE:
        prompts.locate_file("personality_traits.yaml")
    backend = backend or build_backend(config)
    concurrency = config.SYSTEM.CONCURRENCY_LIMIT
    if isinstance(backend, EmbeddedBackend):  # more would only queue inside the local server
        concurrency = min(concurrency, EMBEDDED_SLOTS)
    engine = EngineWrapper(
        backend,
        concurrency=concurrency,
        send_stop=config.SYSTEM.STOP,
        retry=RetryPolicy(max_retries=config.API.MAX_RETRIES),
        prices=model_prices(config),
        budget=config.COST.BUDGET,
    )
    return GenerationContext(
        engine=engine,
        prompts=prompts,
        store=Store(config.PATH.OUTPUT / "store"),
        models=model_names(config),
        completion_mode=config.SYSTEM.COMPLETION_MODE,
        parse_retries=config.SYSTEM.PARSE_RETRIES,
        grammars=uses_grammars(config),
    )


def uses_grammars(config: Config) -> bool:
    """API.GRAMMARS: `always`, or `auto` with the embedded model (a llama.cpp server we run)."""
    grammars = config.API.GRAMMARS
    embedded = config.SYSTEM.MODE == "api" and config.API.base_urls == (EMBEDDED,)
    return grammars == "always" or (grammars == "auto" and embedded)


def shaping_settings(config: Config) -> dict[str, Any]:
    """The settings that decide what a run produces (not how fast or at what cost)."""
    system = config.SYSTEM
    return {
        "INPUT": str(config.PATH.INPUT),
        "models": model_names(config),
        "CHUNK_SIZE": system.CHUNK_SIZE,
        "USE_SUBSET": system.USE_SUBSET,
        "SUBSET_SIZE": system.SUBSET_SIZE,
        "USE_FILENAMES": system.USE_FILENAMES,
        "ASSISTANT_MODE": system.ASSISTANT_MODE,
        "COMPLETION_MODE": system.COMPLETION_MODE,
        "DOUBLE_CHECK_COUNTER": system.DOUBLE_CHECK_COUNTER,
        "QA_REGENERATIONS": system.QA_REGENERATIONS,
        "MIN_ANSWER_GROUNDING": system.MIN_ANSWER_GROUNDING,
        "REARRANGEMENTS_TO_TAKE": system.REARRANGEMENTS_TO_TAKE,
        "SEED": system.SEED,
    }


def tell_user(line: str) -> None:
    """A progress line for the person running the pipeline, also kept in the run log."""
    print(line, file=sys.stderr)
    log.debug("%s", line)


@dataclass
class PipelineRun:
    """One run over one configuration; each method is a stage, called in order."""

    config: Config
    ctx: GenerationContext
    say: Callable[[str], None] = tell_user
    outcomes: list[StageOutcome] = field(default_factory=list)

    @classmethod
    def open(cls, config: Config, backend: Backend | None = None) -> PipelineRun:
        config.PATH.OUTPUT.mkdir(parents=True, exist_ok=True)
        remove_stale_temp_files(config.PATH.OUTPUT)
        run = cls(config, build_context(config, backend))
        run.note_changed_settings()
        return run

    def note_changed_settings(self) -> None:
        """Warn when settings that shape the dataset differ from the last run in this OUTPUT."""
        path = self.output / "run_settings.json"
        current = shaping_settings(self.config)
        previous = json.loads(path.read_text(encoding="utf-8")) if path.exists() else current
        changed = [
            f"{k} ({previous.get(k)!r} -> {v!r})"
            for k, v in current.items()
            if previous.get(k) != v
        ]
        if changed:
            self.say(
                f"warning: settings changed since the last run in {self.output}: "
                f"{', '.join(changed)}. Finished calls are reused where they still apply and the "
                "datasets will reflect the new settings; use another PATH.OUTPUT to keep both."
            )
        write_json_atomic(path, current)

    @property
    def output(self) -> Path:
        return self.config.PATH.OUTPUT

    # 1. read and chunk ------------------------------------------------------------------------
    def chunk_inputs(self) -> list[Chunk]:
        before = self._snapshot()
        docs = read_documents(
            self.config.PATH.INPUT, warn=lambda line: self.say(f"warning: {line}")
        )
        chunks = chunk_documents(docs, self.config.SYSTEM.CHUNK_SIZE)
        outcome = StageOutcome("read and chunk", items_in=len(chunks), kept=len(chunks))
        if self.config.SYSTEM.USE_SUBSET:
            chunks = chunks[: self.config.SYSTEM.SUBSET_SIZE]
            outcome.kept = len(chunks)
            outcome.dropped = outcome.items_in - outcome.kept
            if outcome.dropped:
                outcome.reasons["beyond SYSTEM.SUBSET_SIZE"] = outcome.dropped
        write_jsonl_atomic(self.output / "chunks" / "chunks.jsonl", [c.to_dict() for c in chunks])
        self.say(estimate_run(self.config, chunks, self.ctx.prompts).describe())
        self._finish(outcome, before)
        return chunks

    # 2. judge chunks --------------------------------------------------------------------------
    async def judge(self, chunks: list[Chunk]) -> list[Chunk]:
        before = self._snapshot()
        kept, rows, outcome = await judge_chunks(self.ctx, chunks, self.config.SYSTEM.USE_FILENAMES)
        self._save_judgements(rows)
        self._finish(outcome, before)
        return kept

    # 3. generate questions --------------------------------------------------------------------
    async def generate_questions(self, chunks: list[Chunk]) -> list[QAPair]:
        before = self._snapshot()
        pairs, outcome = await write_pairs(self.ctx, chunks, self.config.SYSTEM.USE_FILENAMES)
        self._save("qatuples_raw/pairs.jsonl", _dicts(pairs))
        self._finish(outcome, before)
        return pairs

    # 4. validate ------------------------------------------------------------------------------
    async def validate(self, pairs: list[QAPair]) -> list[QAPair]:
        before = self._snapshot()
        system = self.config.SYSTEM
        kept, rows, outcome = await validate_pairs(
            self.ctx,
            pairs,
            system.DOUBLE_CHECK_COUNTER,
            system.QA_REGENERATIONS,
            system.USE_FILENAMES,
            system.MIN_ANSWER_GROUNDING,
        )
        self._save("qatuples_validated/validation.jsonl", rows)
        self._finish(outcome, before)
        return kept

    # 5. repair context ------------------------------------------------------------------------
    async def repair(self, pairs: list[QAPair]) -> list[QAPair]:
        before = self._snapshot()
        kept, rows, outcome = await repair_pairs(self.ctx, pairs)
        self._save("qatuples_revised/repairs.jsonl", rows)
        self._finish(outcome, before)
        return kept

    # 6. plan conversations --------------------------------------------------------------------
    async def plan(self, pairs: list[QAPair]) -> list[ConversationPlan]:
        before = self._snapshot()
        s = self.config.SYSTEM
        plans, outcome = await plan_conversations(
            self.ctx, pairs, s.REARRANGEMENTS_TO_TAKE, s.SEED, s.ASSISTANT_MODE, s.USE_FILENAMES
        )
        self._save("multi_turn_convs_info/plans.jsonl", _dicts(plans))
        self._finish(outcome, before)
        return plans

    # 7. write and verify conversations --------------------------------------------------------
    async def converse(self, plans: list[ConversationPlan]) -> list[Conversation]:
        before = self._snapshot()
        conversations, outcome = await write_conversations(
            self.ctx, plans, self.config.SYSTEM.USE_FILENAMES
        )
        self._save("multi_turn_convs/conversations.jsonl", _dicts(conversations))
        self._finish(outcome, before)
        return conversations

    # 2-7 as one stream: each chunk moves on as soon as it is ready ---------------------------
    async def stream(self, chunks: list[Chunk]) -> tuple[list[QAPair], list[Conversation]]:
        """Stages 2 to 7 with no barrier between them; same files and datasets as stage by stage.

        Returns the pairs that survived repair and the verified conversations.
        """
        before = self._snapshot()
        self.ctx.show_progress = False
        try:
            flows = await map_with_progress(
                chunks,
                lambda chunk: flow_chunk(self.ctx, self.config, chunk),
                "chunks through stages 2-7",
                note=self.ctx.progress_note,
            )
        finally:
            self.ctx.show_progress = True
        flow = merge_flows(flows)
        self._save_judgements(flow.judgements)
        self._save("qatuples_raw/pairs.jsonl", _dicts(flow.raw_pairs))
        self._save("qatuples_validated/validation.jsonl", flow.validation)
        self._save("qatuples_revised/repairs.jsonl", flow.repairs)
        self._save("multi_turn_convs_info/plans.jsonl", _dicts(flow.plans))
        self._save("multi_turn_convs/conversations.jsonl", _dicts(flow.conversations))
        seconds = time.monotonic() - before[1]
        self.say(f"stages 2-7 ran as one stream over {len(chunks)} chunks in {seconds:.1f}s")
        for outcome in flow.outcomes:  # each stage's time is the whole stream's: they overlap
            self._finish(outcome, before)
        return flow.kept_pairs, flow.conversations

    # 8. export --------------------------------------------------------------------------------
    def export(self, conversations: list[Conversation], pairs: list[QAPair]) -> list[Path]:
        paths = write_datasets(conversations, pairs, self.output)
        if self.config.SYSTEM.META_DATAGEN:
            write_meta_datagen(self.ctx.store.folder, self.output / "meta_datagen")
        count = f"{len(conversations)} conversation{'' if len(conversations) == 1 else 's'}"
        self.say(f"wrote {count} to " + ", ".join(str(p) for p in paths))
        return paths

    def report(self) -> Path:
        """Write OUTPUT/run_report.md with counts, cost, time and charts of this run."""
        engine = self.ctx.engine
        path = write_run_report(
            self.output, self.outcomes, engine.usage, engine.prices, self.ctx.stats
        )
        self.say(f"cost ${engine.cost():.4f}; run report in {path}")
        return path

    async def close(self) -> None:
        self.ctx.store.close()
        await self.ctx.engine.close()

    # bookkeeping ------------------------------------------------------------------------------
    def _snapshot(self) -> Snapshot:
        """Model calls and tokens so far per step, and the clock."""
        counts = {name: (s.requests, s.tokens) for name, s in self.ctx.stats.items()}
        return counts, time.monotonic()

    def _save(self, relative: str, rows: list[dict[str, Any]]) -> None:
        write_jsonl_atomic(self.output / relative, rows)

    def _save_judgements(self, rows: list[dict[str, Any]]) -> None:
        self._save("worthy_for_questions/judgements.jsonl", rows)
        if self.config.SYSTEM.GRAPH:
            save_judgement_chart(rows, self.output / "worthy_for_questions" / "judgement.png")

    def _finish(self, outcome: StageOutcome, before: Snapshot) -> None:
        """Count the stage's calls, tokens and time; print its line; stop if it kept nothing."""
        (counts_before, started), (counts_now, now) = before, self._snapshot()
        steps = STAGE_STEPS.get(outcome.stage, [])  # "read and chunk" calls no model

        def grown(field: int) -> int:
            return sum(
                counts_now.get(s, (0, 0))[field] - counts_before.get(s, (0, 0))[field]
                for s in steps
            )

        outcome.calls, outcome.tokens, outcome.seconds = grown(0), grown(1), now - started
        self.outcomes.append(outcome)
        self.say(
            f"{outcome.stage}: in {outcome.items_in}, kept {outcome.kept}, dropped "
            f"{outcome.dropped}, failed {outcome.failed}, calls {outcome.calls}, "
            f"tokens {outcome.tokens}, {outcome.seconds:.1f}s"
        )
        if outcome.items_in and not outcome.kept:
            raise PipelineEmpty(
                f"stage '{outcome.stage}' kept none of its {outcome.items_in} items: "
                f"{outcome.top_reasons() or 'no reason recorded'}. Look at the stage's folder "
                f"under {self.output} and the model's replies in {self.output / 'store'}."
            )
        if not outcome.items_in:
            raise PipelineEmpty(
                f"stage '{outcome.stage}' received nothing to work on. Check the stage before it."
            )


def _dicts(records: list[Any]) -> list[dict[str, Any]]:
    return [record.to_dict() for record in records]


async def run_pipeline(config: Config, backend: Backend | None = None) -> list[Path]:
    """Run every stage in order and return the dataset files written."""
    run = PipelineRun.open(config, backend)
    try:
        chunks = run.chunk_inputs()
        if config.SYSTEM.STREAMING:
            pairs, conversations = await run.stream(chunks)  # stages 2-7, no barriers
            return run.export(conversations, pairs)
        chunks = await run.judge(chunks)
        pairs = await run.generate_questions(chunks)
        pairs = await run.validate(pairs)
        pairs = await run.repair(pairs)
        plans = await run.plan(pairs)
        conversations = await run.converse(plans)
        return run.export(conversations, pairs)
    finally:
        if run.outcomes:
            run.report()
        await run.close()
