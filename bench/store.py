"""Open + lookup cost of the SQLite store at 100,000 and 1,000,000 records, and its size on disk.

What: for each size, a store of synthetic records in the real format (key, step, ok, model, a
chat prompt of a per-step system template plus 1-3 KB of varied words, so 2-4 KB in all, one
completion of ~0.5 KB, finish_reasons, errors) spread over 8 steps; the words are drawn at
random, with their frequencies, from the shipped sample text, so they compress about as English
does. Measured in a fresh Python subprocess per run: `Store(folder)` plus 1,000
`store.step(name).get(key)` of random stored keys (wall seconds, perf_counter), and the child's
peak RSS. The peak is VmHWM from /proc/self/status: on Linux `resource.getrusage` ru_maxrss
carries the parent's RSS over into a spawned child (it is kept across exec), so it would report
this script's size; ru_maxrss is used only where /proc is missing. The child loads store.py by
its path, not through the `augmentoolkit` package, so the RSS is the interpreter's plus the
store's, not the pipeline's imports. Also printed: JSON bytes per record
(as the old JSONL store kept them), bytes per record of the SQLite file (compressed rows,
dictionaries, indexes, free space), and how fast the build ran.

How: the store is built through the migration path, the fastest public way in: records are
written as old-format STEP.jsonl files 100,000 at a time into a temp folder, and opening the
store imports them in batched transactions and deletes them; the build time is therefore the
migration rate of an old store too. The page cache is warm (the file was just written); a cold
disk adds seek time per lookup. The best of --reps runs is reported for time, the worst for
memory. Targets at 1,000,000 records: open + 1,000 lookups <= 1 s and peak RSS <= 200 MB
(200 * 2^20 bytes). The result line is that wall time / 1 s; it PASSes only if the RSS target is
met too. The temp folder is removed afterwards.

Run: .venv/bin/python bench/store.py [--sizes 100000,1000000] [--reps 3]  (about 5 minutes)
"""

from __future__ import annotations

import argparse
import json
import random
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import common

from augmentoolkit.generation_functions.store import FILE_NAME, Store, call_key

STORE_PY = common.REPO / "augmentoolkit" / "generation_functions" / "store.py"
PART = 100_000  # records written as JSONL per migration round
LOOKUPS = 1000
STEPS = (
    "judge_chunk",
    "generate_questions",
    "check_question",
    "check_answer_relevancy",
    "check_answer_accuracy",
    "repair_context",
    "plan_questions",
    "write_conversation",
)
TARGET_SECONDS = 1.0
TARGET_RSS = 200 * 2**20
CHILD = """
import importlib.util, json, resource, sys, time
from pathlib import Path

def peak_kb():
    try:
        for line in open("/proc/self/status"):
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss

spec = importlib.util.spec_from_file_location("store", sys.argv[1])
store_module = importlib.util.module_from_spec(spec)
spec.loader.exec_module(store_module)
pairs = json.loads(Path(sys.argv[3]).read_text())
before = peak_kb()
started = time.perf_counter()
store = store_module.Store(Path(sys.argv[2]))
opened = time.perf_counter() - started
found = sum(store.step(step).get(key) is not None for step, key in pairs)
seconds = time.perf_counter() - started
store.close()
print(json.dumps({"open": opened, "seconds": seconds, "found": found, "rss_before_kb": before,
                  "peak_rss_kb": peak_kb()}))
"""


class Records:
    """Seeded synthetic records: per-step templates, varied words, completions."""

    def __init__(self, seed: int) -> None:
        self.rng = random.Random(seed)
        sample = next(common.SAMPLE_DIR.glob("*.txt")).read_text(encoding="utf-8")
        self.words = sample.split()
        self.templates = {step: self.text(1000) for step in STEPS}

    def text(self, chars: int) -> str:
        words = self.rng.choices(self.words, k=chars // 6)
        return " ".join(words)[:chars]

    def make(self, i: int) -> dict[str, Any]:
        step = STEPS[i % len(STEPS)]
        prompt = [
            {"role": "system", "content": self.templates[step]},
            {"role": "user", "content": f"Text:\n{self.text(self.rng.randint(1000, 3000))}"},
        ]
        key = call_key(step, json.dumps(prompt), "small-model", "t=0.2", str(i))
        return {
            "key": key,
            "step": step,
            "ok": True,
            "model": "small-model",
            "prompt": prompt,
            "completions": [self.text(500) + "\nVerdict: pass"],
            "finish_reasons": ["stop"],
            "errors": [],
        }


def build(folder: Path, size: int, seed: int) -> dict[str, Any]:
    """Write `size` records as JSONL parts and migrate each; returns sizes, times, lookup keys."""
    records = Records(seed)
    wanted = set(records.rng.sample(range(size), LOOKUPS))
    pairs, json_bytes, migrate_seconds = [], 0, 0.0
    for start in range(0, size, PART):
        files = {step: (folder / f"{step}.jsonl").open("w", encoding="utf-8") for step in STEPS}
        for i in range(start, min(start + PART, size)):
            record = records.make(i)
            line = json.dumps(record, ensure_ascii=False) + "\n"
            files[record["step"]].write(line)
            json_bytes += len(line.encode("utf-8"))
            if i in wanted:
                pairs.append((record["step"], record["key"]))
        for handle in files.values():
            handle.close()
        started = time.perf_counter()
        Store(folder).close()
        migrate_seconds += time.perf_counter() - started
    records.rng.shuffle(pairs)
    (folder.parent / "keys.json").write_text(json.dumps(pairs), encoding="utf-8")
    return {
        "json_bytes": json_bytes,
        "db_bytes": (folder / FILE_NAME).stat().st_size,
        "migrate_seconds": migrate_seconds,
    }


def run_child(folder: Path) -> dict[str, Any]:
    done = subprocess.run(
        [sys.executable, "-c", CHILD, str(STORE_PY), str(folder), str(folder.parent / "keys.json")],
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode != 0:
        raise SystemExit(f"lookup subprocess failed:\n{done.stderr}")
    result: dict[str, Any] = json.loads(done.stdout)
    if result["found"] != LOOKUPS:
        raise SystemExit(f"only {result['found']} of {LOOKUPS} stored keys were found")
    return result


def measure(size: int, reps: int) -> list[Any]:
    with common.temp_dir("atk-bench-store-") as tmp:
        folder = tmp / "store"
        folder.mkdir()
        built = build(folder, size, seed=size)
        runs = [run_child(folder) for _ in range(reps)]
    best = min(runs, key=lambda run: run["seconds"])
    return [
        size,
        built["json_bytes"] / size,
        built["db_bytes"] / size,
        size / built["migrate_seconds"],
        best["open"] * 1000,
        (best["seconds"] - best["open"]) * 1000,
        best["seconds"],
        runs[0]["rss_before_kb"] / 1024,
        max(run["peak_rss_kb"] for run in runs) / 1024,
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="100000,1000000", help="comma-separated store sizes")
    parser.add_argument("--reps", type=int, default=3, help="fresh subprocess runs per size")
    args = parser.parse_args()
    rows = []
    for size in (int(s) for s in args.sizes.split(",")):
        rows.append(measure(size, args.reps))
        print(f"measured {size:,} records", file=sys.stderr, flush=True)
    headers = [
        "records",
        "JSON B/rec",
        "SQLite B/rec",
        "build rec/s",
        "open ms",
        f"{LOOKUPS} gets ms",
        "open+gets s",
        "RSS at start MiB",
        "peak RSS MiB",
    ]
    print(common.table(headers, rows))
    last = rows[-1]
    seconds, peak = last[6], last[8] * 2**20
    print(
        f"at {last[0]:,} records: open + {LOOKUPS} lookups {seconds:.3f} s (target <= "
        f"{TARGET_SECONDS:g} s), peak RSS {last[8]:.0f} MiB (target <= 200 MiB)"
    )
    ok = seconds <= TARGET_SECONDS and peak <= TARGET_RSS
    print(common.result("store_open_lookup_s_per_target", seconds / TARGET_SECONDS, "<= 1", ok))


if __name__ == "__main__":
    main()
