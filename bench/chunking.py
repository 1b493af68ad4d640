"""Speed and memory of stage 1 (read and chunk) on 100 MB of text.

What: `read_documents` + `chunk_documents` (CHUNK_SIZE 400) over one .txt file of about 100 MB
(10^6 bytes per MB), made by repeating the body of the shipped sample (its Project Gutenberg
header and footer removed) separated by blank lines. Printed: MB/s (target >= 20) and the
process's peak RSS (target < 1 GB, 2^30 bytes). The result line is MB/s; it PASSes only if the
memory target is met too.

How: the file is written to a temp folder (removed afterwards); then a fresh Python subprocess
imports the chunker, records its RSS, times read + chunk with perf_counter, and reports
`resource.getrusage(RUSAGE_SELF).ru_maxrss`, so the peak is the chunker's own (plus the
interpreter's ~30 MB), not this script's. Reading the file is inside the timed region, as it is in
the pipeline. The best of --reps subprocess runs is reported for speed (least disturbed by other
load), the worst for memory.

Run: .venv/bin/python bench/chunking.py [--mb 100] [--reps 2]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

import common

from augmentoolkit.control_flow_functions.chunking import strip_gutenberg

MB = 1_000_000
GB = 1 << 30
TARGET_MBPS = 20.0
CHILD = """
import json, resource, sys, time
sys.path.insert(0, sys.argv[1])
from augmentoolkit.control_flow_functions.chunking import chunk_documents, read_documents
from pathlib import Path
before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
started = time.perf_counter()
docs = read_documents(Path(sys.argv[2]), warn=lambda line: None)
read = time.perf_counter() - started
chunks = chunk_documents(docs, 400)
seconds = time.perf_counter() - started
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
print(json.dumps({"seconds": seconds, "read_seconds": read, "chunks": len(chunks),
                  "chars": sum(len(d.text) for d in docs),
                  "rss_before_kb": before, "peak_rss_kb": peak}))
"""


def make_input(folder: Path, megabytes: float) -> int:
    """Write the repeated sample body into folder/big.txt; returns its size in bytes."""
    sample = next(common.SAMPLE_DIR.glob("*.txt")).read_text(encoding="utf-8")
    body = (strip_gutenberg(sample).strip() + "\n\n").encode("utf-8")
    target = int(megabytes * MB)
    written = 0
    with open(folder / "big.txt", "wb") as out:
        while written < target:
            piece = body[: target - written]
            out.write(piece)
            written += len(piece)
    return written


def run_child(folder: Path) -> dict[str, float]:
    done = subprocess.run(
        [sys.executable, "-c", CHILD, str(common.REPO), str(folder)],
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode != 0:
        raise SystemExit(f"chunking subprocess failed:\n{done.stderr}")
    result: dict[str, float] = json.loads(done.stdout)
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mb", type=float, default=100.0, help="input size in MB (10^6 bytes)")
    parser.add_argument("--reps", type=int, default=2, help="fresh subprocess runs")
    args = parser.parse_args()
    with common.temp_dir() as folder:
        size = make_input(folder, args.mb)
        runs = [run_child(folder) for _ in range(args.reps)]
    best = min(runs, key=lambda run: run["seconds"])
    mbps = size / MB / best["seconds"]
    peak = max(run["peak_rss_kb"] for run in runs) * 1024  # ru_maxrss is in KiB on Linux
    start_rss = runs[0]["rss_before_kb"] * 1024
    print(f"input: {size / MB:.1f} MB, {best['chunks']} chunks of <= 400 tokens")
    rows = [
        [
            i + 1,
            run["read_seconds"],
            run["seconds"],
            size / MB / run["seconds"],
            run["peak_rss_kb"] / 1024,
        ]
        for i, run in enumerate(runs)
    ]
    print(common.table(["run", "read s", "read+chunk s", "MB/s", "peak RSS MiB"], rows))
    print(
        f"peak RSS {peak / 2**20:.0f} MiB (target < 1024 MiB); the interpreter with the chunker "
        f"imported held {start_rss / 2**20:.0f} MiB before reading"
    )
    ok = mbps >= TARGET_MBPS and peak < GB
    print(common.result("chunking_MB_per_s", mbps, f">= {TARGET_MBPS:g}, peak RSS < 1 GB", ok))


if __name__ == "__main__":
    main()
