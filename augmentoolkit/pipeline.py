"""The run: read and chunk, then every row of the stage table (augmentoolkit/stages.py) over a
bounded window of chunks, then export. `run_pipeline(config)` is what processing.py calls; the
notebook calls the same `PipelineRun` methods one cell at a time.

    raw_txt_input/*  -> read and chunk -> chunks/chunks.jsonl (written whole, then renamed)
                     -> STAGES, one chunk at a time per flow, each chunk's rows appended to the
                        stage's folder as it finishes that stage (stage_folders.py)
                     -> export: the datasets, from the last stages' folders, written atomically

One orchestration serves every way of running: `_flow` takes one chunk's items through a list
of stages. Streaming (SYSTEM.STREAMING) runs the whole table per chunk; stage by stage (the
notebook, or STREAMING False) runs one stage over every chunk, reading each chunk's items back
from the previous stage's folder: the same code with a barrier. At most CHUNKS_IN_FLIGHT chunks
are worked on at once, and requests of earlier chunks are served first, so a chunk that has
started finishes before new ones pile up: memory does not grow with the corpus.
"""

from __future__ import annotations

import json
import logging
import sys
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from augmentoolkit.config import Config
from augmentoolkit.context import (
    build_context,
    chunks_in_flight,
    note_changed_settings,
    requests_in_flight,
    run_fingerprint,
)
from augmentoolkit.control_flow_functions.judging import save_judgement_chart
from augmentoolkit.control_flow_functions.progress import StageOutcome
from augmentoolkit.errors import InputError, RunIncomplete
from augmentoolkit.estimate import estimate_run
from augmentoolkit.generation_functions.endpoints import REQUEST_PRIORITY
from augmentoolkit.generation_functions.engine_wrapper import Backend
from augmentoolkit.generation_functions.generation_step import (
    CURRENT_ITEM,
    GenerationContext,
    ItemTrace,
)
from augmentoolkit.generation_functions.store import Store
from augmentoolkit.io_utils import remove_stale_temp_files
from augmentoolkit.output_lock import OutputLock, ensure_open_files
from augmentoolkit.progress_board import Board, BoardStats, ProgressBoard
from augmentoolkit.reading import input_chunks, write_chunks
from augmentoolkit.records import Chunk, source_file
from augmentoolkit.report import ChartCounts, write_run_report
from augmentoolkit.report_browse import collect_browse
from augmentoolkit.run_export import export_run
from augmentoolkit.stage_folders import StageFolders
from augmentoolkit.stages import STAGES, Stage, stage_named
from augmentoolkit.tally import Tally, check_not_empty, line, server_gave_up
from augmentoolkit.window import Item, run_window

log = logging.getLogger(__name__)
CHUNKS_FILE = "chunks/chunks.jsonl"
FILES_BESIDE_CONNECTIONS = 64  # the store, ledger, stage files, logs, the interpreter's own
JUDGEMENT_CHART = "worthy_for_questions/judgement.png"  # with SYSTEM.GRAPH


def tell_user(line: str) -> None:
    """A line for the person running the pipeline, also kept in the run log."""
    print(line, file=sys.stderr, flush=True)
    log.debug("%s", line)


@dataclass
class PipelineRun:
    """One run over one configuration: chunk_inputs, then run_stages (or run_stage per row),
    then export and report."""

    config: Config
    ctx: GenerationContext
    folders: StageFolders
    stages: tuple[Stage, ...] = STAGES
    say: Callable[[str], None] = tell_user
    counts: ChartCounts = field(default_factory=ChartCounts)
    tally: Tally = field(init=False)
    chunk_total: int = 0
    unfinished: int = 0  # chunks whose flow a server failure cut short (rerun finishes them)
    board: Board | None = None  # a ProgressBoard, or a Ray shard's forwarder
    lock: OutputLock | None = None
    owns: Callable[[str], bool] | None = None  # which chunk ids this run works on; None: all

    def __post_init__(self) -> None:
        self.tally = Tally(self.config, self.ctx.stats)
        self.counts.seed = self.config.SYSTEM.SEED  # which conversations the report samples

    @property
    def outcomes(self) -> dict[str, StageOutcome]:
        return self.tally.outcomes

    @classmethod
    def open(
        cls,
        config: Config,
        backend: Backend | None = None,
        stages: tuple[Stage, ...] = STAGES,
        store: Store | None = None,
    ) -> PipelineRun:
        """Lock OUTPUT and open its context and stage folders; `store` replaces OUTPUT/store
        (a preview keeps its calls in the full run's store)."""
        output = config.PATH.OUTPUT
        lock = OutputLock(output)
        lock.acquire()  # before anything is written: one run per OUTPUT
        ctx: GenerationContext | None = None
        try:
            ctx = build_context(config, backend, stages, store)
            ensure_open_files(requests_in_flight(ctx.engine) + FILES_BESIDE_CONNECTIONS)
            remove_stale_temp_files(output)
            folders = StageFolders(output, stages, run_fingerprint(config, ctx, stages))
        except BaseException:
            if ctx is not None:
                ctx.store.close()
            lock.release()
            raise
        run = cls(config, ctx, folders, stages, lock=lock)
        for notice in (*config.notices, *ctx.prompts.notices):
            run.tell(f"notice: {notice}")
        note_changed_settings(config, run.tell)
        return run

    @property
    def output(self) -> Path:
        """PATH.OUTPUT: the chunks, the store and the datasets (a shard's folders are below)."""
        return self.config.PATH.OUTPUT

    # 1. read and chunk ------------------------------------------------------------------------
    def chunk_inputs(self) -> int:
        """Stream the inputs into chunks/chunks.jsonl (whole, then renamed); the chunk count."""
        started = time.monotonic()
        warn = lambda line: self.tell(f"warning: {line}")  # noqa: E731
        chunks = input_chunks(self.config, warn)
        count, tokens = write_chunks(chunks, self.output / CHUNKS_FILE, self.counts)
        self.chunk_total = count
        self.tell(
            estimate_run(self.config, count, tokens, self.ctx.prompts, self.stages).describe()
        )
        outcome = StageOutcome("read and chunk", items_in=count, kept=count)
        outcome.seconds = time.monotonic() - started
        self.tell(self.tally.record(outcome))
        return count

    # 2-7. the stage table ---------------------------------------------------------------------
    async def run_stages(self) -> None:
        """Every stage of the table: streaming (each chunk through all of them), or stage by
        stage with a barrier between them (SYSTEM.STREAMING False); in this process, or on Ray
        workers (SYSTEM.EXECUTOR ray), which do the same per shard of the chunks."""
        if self.config.SYSTEM.EXECUTOR == "ray":
            from augmentoolkit.ray_run import run_on_ray  # Ray is imported only when chosen

            await run_on_ray(self)
            return
        if not self.config.SYSTEM.STREAMING:
            for stage in self.stages:
                await self.run_stage(stage)
            return
        board = self._board()
        await self.work_through_stages()
        board.close()  # every stage is done: the summary lines go below the final bars
        self.finish_stages()

    async def run_stage(self, stage: Stage | str) -> StageOutcome:
        """One stage over every chunk, its items read back from the stage before it."""
        if self.config.SYSTEM.EXECUTOR == "ray":
            raise InputError(
                "running one stage at a time (the notebook's cells) uses this process only: set "
                "SYSTEM.EXECUTOR: local for it, or run processing.py to run on Ray."
            )
        stage = stage_named(stage, self.stages) if isinstance(stage, str) else stage
        self._board()
        await self._window(stage)
        self._warn_unfinished()
        return self._finish(stage)

    async def work_through_stages(self) -> None:
        """Take every chunk this run owns through the table, without the stages' closing lines:
        all of it for one chunk at a time (streaming), or stage by stage."""
        if self.config.SYSTEM.STREAMING:
            await run_window(
                self._chunk_items(),
                lambda item: self._flow(item, self.stages),
                chunks_in_flight(self.config, self.ctx.engine),
            )
            return
        for stage in self.stages:
            await self._window(stage)

    async def _window(self, stage: Stage) -> None:
        """One stage over every chunk, its items read back from the stage before it."""
        index = self.stages.index(stage)
        if index == 0:
            items: Iterable[Item] = self._chunk_items()
        else:
            before = self.stages[index - 1]
            items = ((s, c, before.kept(rows)) for s, c, rows in self.folders.chunks_of(before))
        await run_window(
            items,
            lambda item: self._flow(item, (stage,)),
            chunks_in_flight(self.config, self.ctx.engine),
        )

    def finish_stages(self) -> None:
        """The closing line of every stage, after all of them ran; stop if one kept nothing."""
        self._warn_unfinished()
        for stage in self.stages:
            self._finish(stage)

    async def _flow(self, item: Item, stages: Iterable[Stage]) -> None:
        """Take one chunk's items through `stages`, appending each stage's rows as it ends."""
        seq, chunk_id, items = item
        trace = ItemTrace()
        CURRENT_ITEM.set(trace)  # this task's own context: its calls report failures here
        REQUEST_PRIORITY.set(seq)  # earlier chunks' requests are served first
        pending = list(stages)
        while pending:
            stage = pending.pop(0)
            rows: list[dict[str, Any]] = []
            if items:
                started = time.monotonic()
                result = await stage.run(self.ctx, self.config, items)
                if trace.engine_failures:  # not stored, so not final: a rerun redoes the chunk
                    self.tally.add(stage, server_gave_up(stage, len(items)), started)
                    self.unfinished += 1
                    for skipped in (stage, *pending):
                        self._advance(skipped)
                    return
                self.tally.add(stage, result.outcome, started)
                if trace.too_long:
                    self._warn_too_long(stage, items[0], trace.too_long)
                    trace.too_long.clear()
                rows = result.rows
            self.folders.append(stage, seq, chunk_id, rows)
            if stage.count is not None:
                stage.count(self.counts, rows)
            self._advance(stage)
            items = stage.kept(rows)

    # 8. export --------------------------------------------------------------------------------
    def export(self) -> list[Path]:
        """The datasets, every format and the split, from the last stages' folders
        (run_export.py)."""
        return export_run(self)

    def report(self) -> Path:
        """Write OUTPUT/run_report.md and report.html: the dataset, this run and the folder."""
        if self.board is not None:
            self.board.close()
        engine = self.ctx.engine
        path = write_run_report(
            self.output,
            list(self.outcomes.values()),
            engine.usage,
            engine.prices,
            self.ctx.stats,
            self.counts,
            self.incomplete_message() if self.unfinished else "",
            self.ctx.store.spent(),
            collect_browse(self.folders, self.stages),
        )
        if self.config.SYSTEM.GRAPH:
            chart = self.output / JUDGEMENT_CHART
            save_judgement_chart(self.counts.verdicts, chart)
        self.tell(f"cost ${engine.cost():.4f}; run report in {path}")
        return path

    async def close(self) -> None:
        if self.board is not None:
            self.board.close()
        self.folders.close()
        self.ctx.store.close()
        await self.ctx.engine.close()
        if self.lock is not None:
            self.lock.release()

    # bookkeeping ------------------------------------------------------------------------------
    def _chunk_items(self) -> Iterator[Item]:
        """Every chunk this run works on (a Ray shard: the ones it owns), with its place."""
        path = self.output / CHUNKS_FILE
        if not path.exists():
            raise InputError(f"{path} is missing: run the read-and-chunk step first.")
        with open(path, encoding="utf-8") as handle:
            for seq, line in enumerate(handle):
                chunk = Chunk.from_dict(json.loads(line))
                if self.owns is None or self.owns(chunk.id):
                    yield seq, chunk.id, [chunk]

    def _kept_items(self, kind: type) -> Iterator[Any]:
        stage = next(s for s in reversed(self.stages) if s.produces is kind)
        for _, _, rows in self.folders.chunks_of(stage):
            yield from stage.kept(rows)

    def _board(self, stats: Callable[[], BoardStats] | None = None) -> Board:
        """The progress board, started on first use; its calls and cost come from `stats`
        (this process's counters unless given)."""
        if self.board is None:
            self.board = ProgressBoard(
                [stage.name for stage in self.stages],
                self.chunk_total or self._count_chunks(),
                stats or self._board_stats,
                interval=self.config.SYSTEM.PROGRESS_INTERVAL,
            )
            self.board.start()
        return self.board

    def _count_chunks(self) -> int:
        self.chunk_total = sum(1 for _ in self._chunk_items())
        return self.chunk_total

    def _board_stats(self) -> BoardStats:
        calls = {stage.name: self.tally.calls(stage)[0] for stage in self.stages}
        return BoardStats(calls=calls, cost=self.ctx.engine.cost())

    def _advance(self, stage: Stage) -> None:
        if self.board is not None:
            self.board.advance(stage.name)

    def tell(self, line: str) -> None:
        """A line for the person running the pipeline, above the progress bars if they show."""
        if self.board is not None and not self.board.closed:
            self.board.write(line)
            log.debug("%s", line)
        else:
            self.say(line)

    def _warn_too_long(self, stage: Stage, item: Any, steps: list[str]) -> None:
        self.tell(
            f"warning: {source_file(item)}: {len(steps)} prompt(s) of '{stage.name}' "
            f"({', '.join(sorted(set(steps)))}) were longer than the model's context, so those "
            "items failed. Lower SYSTEM.CHUNK_SIZE, or serve the model with a longer context."
        )

    def _warn_unfinished(self) -> None:
        if self.unfinished:
            self.tell(f"warning: {self.incomplete_message()}")

    def incomplete_message(self) -> str:
        return (
            f"{self.unfinished} of {self.chunk_total} chunks did not finish: the server gave up "
            "on some of their calls (see run.log). The datasets hold the chunks that finished; "
            "run the same command again to finish the rest (finished calls are not paid again)."
        )

    def _finish(self, stage: Stage) -> StageOutcome:
        """Count the stage's calls, tokens and time; print its line; stop if it kept nothing."""
        outcome = self.tally.close(stage)
        self.tell(line(outcome))
        if not self.unfinished:  # an incomplete run ends as incomplete, not as empty
            check_not_empty(outcome, self.output)
        return outcome


async def run_pipeline(
    config: Config,
    backend: Backend | None = None,
    stages: tuple[Stage, ...] = STAGES,
    store: Store | None = None,
) -> list[Path]:
    """Run every stage in order and return the dataset files written."""
    run = PipelineRun.open(config, backend, stages, store)
    try:
        run.chunk_inputs()
        await run.run_stages()
        paths = run.export()
        if run.unfinished:
            raise RunIncomplete(run.incomplete_message())
        return paths
    finally:
        if run.outcomes:
            run.report()
        await run.close()
