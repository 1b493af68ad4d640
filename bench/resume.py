"""Cost of rerunning a finished pipeline: the resume path.

What: the whole pipeline (`run_pipeline`) on the shipped sample text, USE_SUBSET with 6 chunks,
against the scripted server answering as the fake model (tests/fake_model.py) with a fixed 20 ms
latency; then the same command again on the same OUTPUT. Printed: the rerun's model calls (target
0: every call is served from OUTPUT/store) and the rerun's wall time divided by the first run's
(target <= 0.03). The result line is the time ratio; it PASSes only if the rerun also made no
calls. The rerun is also checked to write byte-identical dataset files.

How: the server runs in its own process (bench/common.py) and counts requests; both runs happen
in this process, each a fresh `run_pipeline` (a new store opened and loaded from disk, prompts
rendered and hashed again, stored completions parsed again, every stage folder, dataset and the
run report with its charts written again). One untimed warm-up run on a 1-chunk subset into a
throwaway folder comes first, so that one-off import costs (matplotlib, the openai client) fall
in neither timed run. Interpreter start-up is not included in either time. The ratio depends on
the latency: with a slower (real) model the first run grows and the rerun does not.

Run: .venv/bin/python bench/resume.py [--subset 6] [--latency 0.02] [--reps 3]
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import time
from pathlib import Path
from typing import Any

import common

import augmentoolkit.pipeline as pipeline_module
from augmentoolkit.pipeline import run_pipeline

DATASETS = ("master_list.jsonl", "processed_masterlist.json", "simplified_data.jsonl")
TARGET = 0.03


class ReportTimer:
    """Times `write_run_report` (the run report and its matplotlib charts) inside a run, by
    wrapping the name the pipeline module calls; a no-op if that name ever goes away."""

    def __init__(self) -> None:
        self.seconds = 0.0
        self.found = hasattr(pipeline_module, "write_run_report")
        if self.found:
            inner = pipeline_module.write_run_report

            def timed(*args: Any, **kwargs: Any) -> Any:
                started = time.perf_counter()
                try:
                    return inner(*args, **kwargs)
                finally:
                    self.seconds += time.perf_counter() - started

            pipeline_module.write_run_report = timed  # type: ignore[assignment]


REPORT = ReportTimer()


def run_once(config: Any) -> tuple[float, float]:
    """(wall seconds, of which writing the run report and its charts)."""
    REPORT.seconds = 0.0
    started = time.perf_counter()
    with common.quiet():
        asyncio.run(run_pipeline(config))
    return time.perf_counter() - started, REPORT.seconds


def datasets(output: Path) -> dict[str, bytes]:
    return {name: (output / name).read_bytes() for name in DATASETS}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--subset", type=int, default=6, help="chunks sent to the model")
    parser.add_argument("--latency", type=float, default=0.02, help="server latency, seconds")
    parser.add_argument("--reps", type=int, default=3, help="reruns timed (median is used)")
    parser.add_argument("--concurrency", type=int, default=50)
    args = parser.parse_args()

    with common.temp_dir() as folder, common.ServerProcess("fake", args.latency) as server:

        def config(name: str, subset: int) -> Any:
            return common.write_config(
                folder,
                server.base_url,
                output=folder / name,
                name=f"{name}.yaml",
                USE_SUBSET=True,
                SUBSET_SIZE=subset,
                CONCURRENCY_LIMIT=args.concurrency,
            )

        run_once(config("warmup", 1))
        server.reset()
        main_config = config("output", args.subset)
        first, first_report = run_once(main_config)
        first_calls = server.count()
        first_files = datasets(main_config.PATH.OUTPUT)
        reruns: list[tuple[float, float, int]] = []
        for _ in range(args.reps):
            server.reset()
            wall, report = run_once(config("output", args.subset))
            reruns.append((wall, report, server.count()))
        same_files = datasets(main_config.PATH.OUTPUT) == first_files

    rerun_wall = statistics.median(wall for wall, _, _ in reruns)
    rerun_report = statistics.median(report for _, report, _ in reruns)
    rerun_calls = max(calls for _, _, calls in reruns)
    ratio = rerun_wall / first
    print(
        f"sample text, {args.subset} chunks, fake model, server latency "
        f"{1000 * args.latency:.0f} ms, concurrency {args.concurrency}"
    )
    rows: list[list[Any]] = [["first run", first_calls, first, first_report, 1.0]]
    rows += [
        [f"rerun {i + 1}", calls, wall, report, wall / first]
        for i, (wall, report, calls) in enumerate(reruns)
    ]
    headers = ["run", "model calls", "wall s", "of which report+charts s", "vs first"]
    print(common.table(headers, rows))
    if REPORT.found:
        rest = (rerun_wall - rerun_report) / (first - first_report)
        print(
            f"rerun without the run report: {rerun_wall - rerun_report:.3f} s, "
            f"{rest:.3f} of the first run without it (for information)"
        )
    print(f"rerun model calls: {rerun_calls} (target 0)")
    print(f"rerun datasets byte-identical to the first run's: {same_files}")
    ok = ratio <= TARGET and rerun_calls == 0 and same_files
    print(common.result("rerun_time_ratio", ratio, f"<= {TARGET} and 0 rerun calls", ok))


if __name__ == "__main__":
    main()
