"""The commands that make no model call: `estimate`, `report` and `export`.

- estimate: reads and chunks PATH.INPUT in memory (the trial's chunks with USE_SUBSET) and prints
  the cost estimate a run prints before its first call. Writes nothing, so a later run is not
  disturbed.
- report: rebuilds OUTPUT/run_report.md and its charts from the stage folders and the store,
  through the same PipelineRun.report a run ends with. Per stage, "in" and "kept" are read from
  the stage files and every item not kept counts as dropped (the files do not tell dropped from
  failed); calls and tokens are those stored for the stage's steps by every run that built the
  folder; times are not known. A note at the top of the report says so.
- export: rewrites the datasets (and the split, and meta-datagen when on) from the stage folders
  through the same PipelineRun.export a run ends with. It refuses when the folders were written
  with other settings, prompts or input files than the config gives now (a run would rebuild
  them first). With --min-score S, which pairs count as valid is re-decided from the votes
  validation stored (rescore.py; README, "Validation").

Both open the stage folders as they were written (their own fingerprint, so nothing is started
afresh) under the output lock, with a backend that refuses any call.
"""

from __future__ import annotations

import asyncio
import json
import sys
from collections import Counter
from pathlib import Path

from augmentoolkit.config import Config
from augmentoolkit.context import build_context, check_prompts, run_fingerprint
from augmentoolkit.control_flow_functions.progress import StageOutcome
from augmentoolkit.errors import EngineUnavailable, InputError
from augmentoolkit.estimate import estimate_run
from augmentoolkit.generation_functions.engine_wrapper import Completion, Sampling
from augmentoolkit.generation_functions.generation_step import GenerationContext
from augmentoolkit.generation_functions.prompts import PromptLibrary, RenderedPrompt
from augmentoolkit.generation_functions.store import Store
from augmentoolkit.io_utils import write_text_atomic
from augmentoolkit.output_lock import OutputLock
from augmentoolkit.pipeline import CHUNKS_FILE, PipelineRun
from augmentoolkit.reading import input_chunks
from augmentoolkit.rescore import RescoredRun
from augmentoolkit.stage_folders import LEDGER, StageFolders, written_fingerprint
from augmentoolkit.stages import STAGES, Stage

NOT_KEPT = "not kept (dropped or failed: the stage files do not tell which)"
REBUILT_NOTE = (
    "*Rebuilt by `augmentoolkit report` from the stage folders and the store, without a model "
    "call. Per stage, in and kept are read from the stage files, every item not kept counts as "
    "dropped, calls and tokens are every call stored for the stage's steps by all the runs that "
    "built this folder, and times are not known. The Models and Steps sections cover this "
    "rebuild, which made no request: the folder's calls, tokens and cost are under \"The whole "
    'output folder".*'
)


class NoModel:
    """The backend of a command that makes no model call: a request would be a bug."""

    label = "no model"

    async def complete(
        self, prompt: RenderedPrompt, model: str, sampling: Sampling, stop: list[str], step: str
    ) -> Completion:
        raise EngineUnavailable(f"{step}: this command makes no model call. Use run for that.")

    async def close(self) -> None:
        return None


# --- estimate -------------------------------------------------------------------------------


def estimate(config: Config) -> list[str]:
    """The chunks and the run's estimate, from the inputs alone."""
    prompts = PromptLibrary(config.PATH.PROMPTS, config.PATH.DEFAULT_PROMPTS)
    check_prompts(prompts, config, STAGES)
    count = tokens = 0
    for chunk in input_chunks(config, lambda line: print(f"warning: {line}", file=sys.stderr)):
        count, tokens = count + 1, tokens + chunk.tokens
    if not count:
        raise InputError(
            f"PATH.INPUT: {config.PATH.INPUT} holds no sentence with a word in it, so there is "
            "nothing to estimate. Add texts of prose, or change PATH.INPUT."
        )
    system = config.SYSTEM
    trial = (
        f" (the trial: USE_SUBSET, SUBSET_SIZE {system.SUBSET_SIZE})" if system.USE_SUBSET else ""
    )
    return [
        f"{count} chunks, ~{tokens:,} tokens, from {config.PATH.INPUT}{trial}",
        estimate_run(config, count, tokens, prompts, STAGES).describe(),
        "(no model call was made and nothing was written; calls already stored in "
        f"{config.PATH.OUTPUT / 'store'} are not paid again)",
    ]


# --- opening a written folder ---------------------------------------------------------------


def open_written(
    config: Config, what: str, kind: type[PipelineRun] = PipelineRun
) -> tuple[PipelineRun, str]:
    """OUTPUT's stage folders as written, locked, with a context that makes no call; and the
    fingerprint they were written with."""
    output = config.PATH.OUTPUT
    written = written_fingerprint(output)
    if written is None or not (output / CHUNKS_FILE).is_file():
        raise InputError(
            f"{output} holds no run ({LEDGER} or {CHUNKS_FILE} is missing): nothing to {what}. "
            "Run the pipeline first, or point --output (or PATH.OUTPUT) at a run's folder."
        )
    lock = OutputLock(output)
    lock.acquire()
    ctx: GenerationContext | None = None
    try:
        ctx = build_context(config, NoModel(), STAGES)
        folders = StageFolders(output, STAGES, written)
    except BaseException:
        if ctx is not None:
            ctx.store.close()
        lock.release()
        raise
    return kind(config, ctx, folders, STAGES, lock=lock), written


# --- export ---------------------------------------------------------------------------------


def export(config: Config, min_score: float | None = None) -> list[Path]:
    """Rewrite the datasets from the stage folders; their paths. With `min_score`, the pairs
    kept are those whose stored verdicts score at least that (rescore.py), not the run's."""
    run, written = open_written(config, "export", PipelineRun if min_score is None else RescoredRun)
    if isinstance(run, RescoredRun) and min_score is not None:
        run.min_score = min_score
    try:
        if run_fingerprint(config, run.ctx, run.stages) != written:
            raise InputError(
                f"the stage folders in {config.PATH.OUTPUT} were written with other settings, "
                f"prompts or input files than {config.source} gives now, so their rows may not "
                "hold. Run the pipeline to bring them up to date (stored calls are reused), or "
                "export with the config they were written with."
            )
        return run.export()
    finally:
        asyncio.run(run.close())


# --- report ---------------------------------------------------------------------------------


def stored_by_step(store: Store) -> dict[str, tuple[int, int]]:
    """(calls, tokens) stored per step in every file of the store, as Store.spent counts them
    per model (a call migrated from a JSONL store counts as one request, no tokens)."""
    query = (
        "SELECT s.name, sum(max(r.requests, 1)), sum(r.prompt_tokens + r.completion_tokens) "
        "FROM records AS r JOIN steps AS s ON s.id = r.step GROUP BY s.name"
    )
    calls: Counter[str] = Counter()
    tokens: Counter[str] = Counter()
    for file in store.files:
        for name, requests, used in file.db.execute(query):
            calls[name] += requests
            tokens[name] += used
    return {name: (calls[name], tokens[name]) for name in calls}


def recount_stage(run: PipelineRun, stage: Stage, handed: dict[int, int]) -> dict[int, int]:
    """Count one stage from its rows (and feed the charts); items it hands on, per chunk."""
    outcome = StageOutcome(stage.name)
    kept_per_chunk: dict[int, int] = {}
    for seq, _, rows in run.folders.chunks_of(stage):
        items_in, kept = handed.get(seq, 0), len(stage.kept(rows))
        outcome.items_in += items_in
        outcome.kept += kept
        if stage.consumes is stage.produces and items_in > kept:
            outcome.dropped += items_in - kept
            outcome.count_reason(NOT_KEPT, items_in - kept)
        if stage.count is not None:
            stage.count(run.counts, rows)
        kept_per_chunk[seq] = kept
    run.tally.outcomes[stage.name] = outcome
    return kept_per_chunk


def recount(run: PipelineRun) -> tuple[int, int]:
    """Every stage's outcome and the chart counts from the folders; (chunks, chunks that have
    not been through every stage)."""
    with open(run.output / CHUNKS_FILE, encoding="utf-8") as handle:
        rows = [json.loads(line) for line in handle]
    run.counts.add_chunks(rows)
    run.tally.record(StageOutcome("read and chunk", items_in=len(rows), kept=len(rows)))
    handed = dict.fromkeys(range(len(rows)), 1)
    for stage in run.stages:
        handed = recount_stage(run, stage, handed)
    stored = stored_by_step(run.ctx.store)
    for stage in run.stages:
        steps = [stored.get(step.name, (0, 0)) for step in stage.needs(run.config)]
        outcome = run.tally.outcomes[stage.name]
        outcome.calls, outcome.tokens = sum(c for c, _ in steps), sum(t for _, t in steps)
    return len(rows), len(rows) - len(handed)


def rebuild_report(config: Config) -> str:
    """Write OUTPUT/run_report.md from the folder; its path."""
    run, _ = open_written(config, "report on")
    try:
        total, unfinished = recount(run)
        path = run.report()
        note = REBUILT_NOTE
        if unfinished:
            note += (
                f"\n\n**{unfinished} of {total} chunks have not been through every stage** "
                "(the run stopped or is not finished): run the pipeline again to finish them."
            )
        title, _, rest = path.read_text(encoding="utf-8").partition("\n")
        write_text_atomic(path, f"{title}\n\n{note}\n{rest}")
        return str(path)
    finally:
        asyncio.run(run.close())
