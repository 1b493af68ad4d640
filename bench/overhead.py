"""Per-call overhead of the pipeline's call path against a plain OpenAI client.

What: throughput (calls/s) of N requests through `GenerationStep.run` (prompt rendering, store
lookup, the real EngineWrapper with its semaphore, retries and usage counters, the openai client,
reply parsing, and the append-and-flush store write) divided by the throughput of the very same N
requests sent with a bare `openai.AsyncOpenAI` client under an `asyncio.Semaphore` of the same
size. Target: >= 0.95.

How: a scripted OpenAI-compatible server (tests/llm_server.py) runs in its own process with a
fixed latency (default 20 ms) and answers "Verdict: pass". The step is the real `check_question`
step (its prompt file, sampling and parser). Each pipeline request has distinct inputs (question
number i) and every trial gets a fresh store, so there are no cache hits. The baseline sends the
byte-identical rendered messages, model, sampling and step header, pre-rendered outside the timed
region. Trials run in ABBA blocks (baseline, pipeline, pipeline, baseline) after one untimed
warm-up of each; each block gives one ratio (pipeline calls/s over baseline calls/s within the
block) and the result is the median block ratio, so slow drifts in the load of a shared machine
cancel within a block. Client CPU per call (process time of this process, which holds only the
client) is printed too: it is where any overhead comes from once the latency is hidden by
concurrency. The ideal line is concurrency / latency, the most the server's latency allows.
A last untimed-for-the-result trial runs the same step with an in-process backend that answers
at once: its CPU per call is the pipeline's own work (render, cache key, store append, parse),
and plain CPU / (plain CPU + that) is the ratio to expect when the client's CPU is the limit.

Optionally (`--whole`, on by default) a whole `run_pipeline` on the sample (USE_SUBSET) against the
fake model: its calls / wall time is shown for information only. That figure is bounded by the
pipeline's structure (each item's calls depend on one another: judge, plan, generate, vote rounds,
regeneration, repair, conversation, verification; a 6-chunk subset has few items in flight; the
run also chunks, exports and draws its report), not by per-call overhead.

Run: .venv/bin/python bench/overhead.py [--calls 500] [--concurrency 32] [--latency 0.02]
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import common
import openai

from augmentoolkit.control_flow_functions.chunking import chunk_documents, read_documents
from augmentoolkit.control_flow_functions.validation import CHECKS
from augmentoolkit.generation_functions.engine_wrapper import Completion, Sampling
from augmentoolkit.generation_functions.openai_backend import STEP_HEADER
from augmentoolkit.generation_functions.prompts import RenderedPrompt
from augmentoolkit.pipeline import build_context, run_pipeline

STEP = CHECKS[0]  # check_question: real prompt file, sampling and verdict parser
TARGET = 0.95


def step_inputs(count: int, offset: int) -> list[dict[str, str]]:
    """Distinct inputs for the step: sample chunks in turn, question number i."""
    chunks = chunk_documents(read_documents(common.SAMPLE_DIR, warn=lambda line: None), 400)
    return [
        {
            "chunk": chunks[i % len(chunks)].text,
            "source": "an untitled document",
            "question": f"What does item number {offset + i} of the text advise?",
            "answer": f"Item {offset + i} advises slowing the work down.",
        }
        for i in range(count)
    ]


async def timed(jobs: list[Callable[[], Awaitable[Any]]]) -> tuple[float, float]:
    """Run all jobs at once; (wall seconds, process CPU seconds)."""
    wall, cpu = time.perf_counter(), time.process_time()
    await asyncio.gather(*(job() for job in jobs))
    return time.perf_counter() - wall, time.process_time() - cpu


async def baseline_trial(
    base_url: str, config: Any, inputs: list[dict[str, str]], concurrency: int
) -> tuple[float, float]:
    ctx = build_context(config)  # only to render the same prompts; its client is unused
    model, sampling = ctx.models[STEP.role], STEP.sampling_for(ctx)
    messages = [STEP.render(ctx, values).messages for values in inputs]
    ctx.store.close()
    await ctx.engine.close()
    client = openai.AsyncOpenAI(api_key="no-key-needed", base_url=base_url, max_retries=0)
    slots = asyncio.Semaphore(concurrency)
    options: dict[str, Any] = {
        "model": model,
        "temperature": sampling.temperature,
        "top_p": sampling.top_p,
        "max_tokens": sampling.max_tokens,
        "extra_headers": {STEP_HEADER: STEP.name},
    }
    if sampling.stop:
        options["stop"] = list(sampling.stop)

    async def one(prompt: Any) -> None:
        async with slots:
            reply = await client.chat.completions.create(messages=list(prompt), **options)
            if not reply.choices[0].message.content:
                raise RuntimeError("empty reply")

    try:
        return await timed([lambda m=m: one(m) for m in messages])
    finally:
        await client.close()


async def pipeline_trial(config: Any, inputs: list[dict[str, str]]) -> tuple[float, float]:
    ctx = build_context(config)

    async def one(values: dict[str, str]) -> None:
        result = await STEP.run(ctx, values)
        if not result.ok or result.cached:
            raise RuntimeError(f"unexpected result: ok={result.ok} cached={result.cached}")

    try:
        return await timed([lambda v=v: one(v) for v in inputs])
    finally:
        ctx.store.close()
        await ctx.engine.close()


class InstantBackend:
    """Answers at once, in process: what is left is the pipeline's own per-call work."""

    async def complete(
        self, prompt: RenderedPrompt, model: str, sampling: Sampling, stop: list[str], step: str
    ) -> Completion:
        return Completion("The question is clear.\nVerdict: pass", 100, 6, "stop")

    async def close(self) -> None:
        return None


async def instant_trial(config: Any, inputs: list[dict[str, str]]) -> tuple[float, float]:
    ctx = build_context(config, InstantBackend())
    try:
        return await timed([lambda v=v: STEP.run(ctx, v) for v in inputs])
    finally:
        ctx.store.close()
        await ctx.engine.close()


def whole_pipeline(
    folder: Path, latency: float, concurrency: int, subset: int
) -> tuple[int, float]:
    with common.ServerProcess("fake", latency=latency) as server:
        config = common.write_config(
            folder,
            server.base_url,
            output=folder / "whole-output",
            name="whole.yaml",
            USE_SUBSET=True,
            SUBSET_SIZE=subset,
            CONCURRENCY_LIMIT=concurrency,
        )
        started = time.perf_counter()
        with common.quiet():
            asyncio.run(run_pipeline(config))
        wall = time.perf_counter() - started
        return server.count(), wall


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=500, help="requests per trial")
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--latency", type=float, default=0.02, help="server latency, seconds")
    parser.add_argument("--reps", type=int, default=4, help="ABBA blocks (2 trials each side)")
    parser.add_argument("--whole", action=argparse.BooleanOptionalAction, default=True)
    parser.add_argument("--subset", type=int, default=6, help="chunks for --whole")
    args = parser.parse_args()

    base: list[tuple[float, float]] = []
    pipe: list[tuple[float, float]] = []
    with common.temp_dir() as folder, common.ServerProcess("pass", args.latency) as server:
        serial = iter(range(1_000_000))

        def config() -> Any:
            n = next(serial)
            return common.write_config(
                folder,
                server.base_url,
                output=folder / f"out{n}",
                name=f"config{n}.yaml",
                CONCURRENCY_LIMIT=args.concurrency,
            )

        in_flight: dict[str, int] = {"base": 0, "pipe": 0}

        def checked(side: str, count: int, trial: Callable[[], Any]) -> tuple[float, float]:
            """Run one trial; check the server saw exactly its requests; note peak in flight."""
            server.reset()
            timing: tuple[float, float] = asyncio.run(trial())
            if server.count() != count:
                raise SystemExit(f"{side}: server saw {server.count()} requests, not {count}")
            in_flight[side] = max(in_flight[side], server.in_flight_max())
            return timing

        def run_base(count: int, offset: int) -> tuple[float, float]:
            inputs = step_inputs(count, offset)
            return checked(
                "base",
                count,
                lambda: baseline_trial(server.base_url, config(), inputs, args.concurrency),
            )

        def run_pipe(count: int, offset: int) -> tuple[float, float]:
            inputs = step_inputs(count, offset)
            return checked("pipe", count, lambda: pipeline_trial(config(), inputs))

        warm = min(200, args.calls)
        run_base(warm, 0)
        run_pipe(warm, 0)
        offset = 1_000
        for _ in range(args.reps):
            for side in ("base", "pipe", "pipe", "base"):
                offset += args.calls
                if side == "base":
                    base.append(run_base(args.calls, offset))
                else:
                    pipe.append(run_pipe(args.calls, offset))
        offset += args.calls
        instant = asyncio.run(instant_trial(config(), step_inputs(args.calls, offset)))

        whole: tuple[int, float] | None = None
        if args.whole:
            whole = whole_pipeline(folder, args.latency, args.concurrency, args.subset)

    n = args.calls
    base_rate = statistics.median(n / wall for wall, _ in base)
    pipe_rate = statistics.median(n / wall for wall, _ in pipe)
    base_cpu = statistics.median(1000 * cpu / n for _, cpu in base)
    pipe_cpu = statistics.median(1000 * cpu / n for _, cpu in pipe)
    ideal = args.concurrency / args.latency if args.latency else float("inf")
    # Same calls per trial, so a block's rate ratio is its baseline seconds over pipeline seconds.
    blocks = [
        (base[2 * i][0] + base[2 * i + 1][0]) / (pipe[2 * i][0] + pipe[2 * i + 1][0])
        for i in range(args.reps)
    ]
    ratio = statistics.median(blocks)
    print(
        f"{n} calls per trial, concurrency {args.concurrency}, server latency "
        f"{1000 * args.latency:.0f} ms, {2 * args.reps} trials per side in {args.reps} ABBA blocks"
    )
    rows = [
        ["ideal (concurrency / latency)", ideal, "", ""],
        ["plain AsyncOpenAI + Semaphore", base_rate, base_cpu, 1.0],
        ["GenerationStep.run (pipeline path)", pipe_rate, pipe_cpu, pipe_rate / base_rate],
        ["  same, instant in-process backend", n / instant[0], 1000 * instant[1] / n, ""],
    ]
    if whole is not None:
        calls, wall = whole
        rows.append(
            [
                f"run_pipeline, {args.subset} chunks (info)",
                calls / wall,
                "",
                calls / wall / base_rate,
            ]
        )
    print(common.table(["path", "calls/s (median)", "client CPU ms/call", "vs plain"], rows))
    print(
        f"most requests in flight at the server: plain {in_flight['base']}, "
        f"pipeline {in_flight['pipe']} (limit {args.concurrency})"
    )
    print("ratio per ABBA block: " + ", ".join(f"{b:.3f}" for b in blocks) + " (result: median)")
    print(
        f"trials calls/s: plain {[round(n / w) for w, _ in base]}, "
        f"pipeline {[round(n / w) for w, _ in pipe]}"
    )
    own = 1000 * instant[1] / n
    print(
        f"pipeline adds {pipe_cpu - base_cpu:.3f} ms of client CPU per call measured over HTTP; "
        f"its own work (render, key, store write, parse) is {own:.3f} ms with no HTTP, so a "
        f"client-CPU-bound run should give {base_cpu / (base_cpu + own):.3f}"
    )
    if whole is not None:
        print(
            f"run_pipeline: {whole[0]} calls in {whole[1]:.2f} s (bounded by calls that wait on "
            "one another and by export and report time, not per-call cost; not in the result)"
        )
    print(common.result("overhead_ratio", ratio, f">= {TARGET}", ratio >= TARGET))


if __name__ == "__main__":
    main()
