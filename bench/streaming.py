"""Streaming through stages vs stage barriers: wall time of the whole pipeline.

What: `run_pipeline` on the shipped sample text (USE_SUBSET, 12 chunks by default) against the
scripted server answering as the fake model, once with SYSTEM.STREAMING True (each chunk moves
to its next stage as soon as it is ready) and once with False (every stage waits for all chunks).
The small model answers in 100 ms and the large model (conversation writing) in 500 ms, on
separate endpoints (API.BASE_URL and API.LARGE_BASE_URL: the scripted server child listens on
two ports, its responder sleeping by model name), so each role has its own pool, as users with
a small local model and a large hosted one run it. `--shared` puts both on one endpoint (one
pool), as before per-role endpoints existed. Printed: both wall times and streaming ÷ barriers
(target <= 0.75). Both runs must write byte-identical datasets.

How: each mode runs into its own fresh OUTPUT (no cache hits), best of --reps runs each, with
CONCURRENCY_LIMIT 8 so the limit binds and idle slots between stages show.

Run: .venv/bin/python bench/streaming.py [--subset 12] [--small 0.1] [--large 0.5] [--reps 2]
     [--shared]
"""

from __future__ import annotations

import argparse
import asyncio
import time
from pathlib import Path

import common

from augmentoolkit.pipeline import run_pipeline

TARGET = 0.75
DATASETS = ("master_list.jsonl", "processed_masterlist.json", "simplified_data.jsonl")


def timed_run(urls: list[str], folder: Path, subset: int, streaming: bool) -> tuple[float, Path]:
    output = folder / f"out-{streaming}-{time.monotonic_ns()}"
    config = common.write_config(
        folder,
        urls[0],
        api={"LARGE_BASE_URL": urls[1]} if len(urls) > 1 else {},
        output=output,
        USE_SUBSET=True,
        SUBSET_SIZE=subset,
        CONCURRENCY_LIMIT=8,
        STREAMING=streaming,
    )
    started = time.perf_counter()
    with common.quiet():
        asyncio.run(run_pipeline(config))
    return time.perf_counter() - started, output


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--subset", type=int, default=12)
    parser.add_argument("--small", type=float, default=0.1, help="small model latency (s)")
    parser.add_argument("--large", type=float, default=0.5, help="large model latency (s)")
    parser.add_argument("--reps", type=int, default=2)
    parser.add_argument("--shared", action="store_true", help="both models on one endpoint")
    args = parser.parse_args()
    best: dict[bool, float] = {}
    outputs: dict[bool, Path] = {}
    with (
        common.temp_dir() as folder,
        common.ServerProcess(
            "fake-split", rates=(args.small, args.large, 0.0), listeners=1 if args.shared else 2
        ) as server,
    ):
        for _ in range(args.reps):
            for streaming in (False, True):
                seconds, outputs[streaming] = timed_run(
                    server.base_urls, folder, args.subset, streaming
                )
                best[streaming] = min(best.get(streaming, seconds), seconds)
        same = all(
            (outputs[True] / n).read_bytes() == (outputs[False] / n).read_bytes() for n in DATASETS
        )
    ratio = best[True] / best[False]
    print(
        common.table(
            ["mode", "best wall (s)"],
            [["stage barriers", f"{best[False]:.2f}"], ["streaming", f"{best[True]:.2f}"]],
        )
    )
    print(
        f"datasets identical: {same}; endpoints: {'one shared' if args.shared else 'one per role'}"
    )
    print(common.result("streaming_vs_barriers", ratio, f"<= {TARGET}", ratio <= TARGET and same))


if __name__ == "__main__":
    main()
