"""Cost of near-duplicate removal (SYSTEM.DEDUP_THRESHOLD) in the export: wall time and peak RSS
of write_datasets with dedup off and at 0.8, on synthetic corpora of growing size.

What: for each size N, N QA pairs on N/3 chunks (3 per chunk) and one 3-pair conversation per
chunk in assistant mode, each answer 30-50 words and each question 8-12, drawn with their
frequencies from the shipped sample text; 2% of the chunks are near-copies of an earlier one
(one word changed per answer), so there is something to find. Each export runs in a fresh
Python subprocess (the same export code, from the package); its peak RSS is VmHWM from
/proc/self/status, the records are made inside the child before the clock starts and are
counted in the RSS of both settings alike. Printed per size and setting: seconds, items per
second, peak RSS, and what was removed. Dedup's own memory is the RSS with it minus the RSS
without it at the same size (numpy, scipy and datasketch loaded, plus anything that grows with
the corpus); the result line is that extra at the largest size / the extra at the smallest:
about 1.0 when the index lives on disk, as it should (target <= 1.2).

Run: .venv/bin/python bench/dedup.py [--sizes 3000,30000,150000]  (about 3 minutes)
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile

import common

CHILD = r"""
import json, random, re, sys, time
from pathlib import Path
sys.path.insert(0, sys.argv[1])
from augmentoolkit.control_flow_functions.dedup import DuplicateFilter
from augmentoolkit.control_flow_functions.export import write_datasets
from augmentoolkit.records import Chunk, Conversation, ConversationPlan, QAPair, SourceInfo, Turn

size, threshold, out, sample = int(sys.argv[2]), float(sys.argv[3]), Path(sys.argv[4]), sys.argv[5]
words = re.findall(r"[A-Za-z]+", Path(sample).read_text(encoding="utf-8"))
rng = random.Random(7)

def text(low, high):
    return " ".join(rng.choice(words) for _ in range(rng.randint(low, high)))

pairs, conversations = [], []
chunk_texts = []
for number in range(size // 3):
    source = SourceInfo(f"book{number % 50}.txt", "Book")
    if chunk_texts and rng.random() < 0.02:  # a near-copy of an earlier chunk
        qa = [(q, a.replace(" the ", " a ", 1)) for q, a in rng.choice(chunk_texts)]
    else:
        qa = [(text(8, 12) + "?", text(30, 50) + ".") for _ in range(3)]
    chunk_texts.append(qa)
    chunk = Chunk(f"chunk{number}", source, number, "chunk text", 400)
    chunk_pairs = [QAPair(f"p{number}.{k}", chunk, q, a) for k, (q, a) in enumerate(qa)]
    turns = []
    for pair in chunk_pairs:
        turns += [Turn("User", "human", pair.question), Turn("AI", "gpt", pair.answer)]
    plan = ConversationPlan(f"plan{number}", tuple(chunk_pairs), True)
    conversations.append(Conversation(plan, tuple(turns), ""))
    pairs += chunk_pairs
dedup = DuplicateFilter(threshold)
started = time.perf_counter()
write_datasets(conversations, pairs, out, dedup)
seconds = time.perf_counter() - started
rss = 0
for line in open("/proc/self/status"):
    if line.startswith("VmHWM:"):
        rss = int(line.split()[1]) * 1024
print(json.dumps({"seconds": seconds, "rss": rss, "removed": dict(dedup.removed),
                  "items": len(pairs) + len(conversations)}))
"""


def measure(size: int, threshold: float) -> dict[str, object]:
    with tempfile.TemporaryDirectory() as folder:
        command = [sys.executable, "-c", CHILD, str(common.REPO), str(size), str(threshold)]
        command += [folder, str(next(common.SAMPLE_DIR.glob("*.txt")))]
        done = subprocess.run(command, capture_output=True, text=True, check=True)
        return dict(json.loads(done.stdout.strip().splitlines()[-1]))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="3000,30000,150000")
    args = parser.parse_args()
    sizes = [int(size) for size in args.sizes.split(",")]
    extra: dict[int, float] = {}
    for size in sizes:
        peaks: dict[float, float] = {}
        for threshold in (0.0, 0.8):
            got = measure(size, threshold)
            seconds, rss = float(str(got["seconds"])), float(str(got["rss"]))
            items = int(str(got["items"]))
            print(
                f"{size:>7} pairs, dedup {threshold}: {seconds:6.1f} s, "
                f"{items / seconds:8.0f} items/s, peak RSS {rss / 2**20:6.0f} MiB, "
                f"removed {got['removed']}"
            )
            peaks[threshold] = rss
        extra[size] = peaks[0.8] - peaks[0.0]
        print(f"{size:>7} pairs: dedup's own memory {extra[size] / 2**20:.0f} MiB")
    ratio = extra[sizes[-1]] / extra[sizes[0]]
    verdict = "PASS" if ratio <= 1.2 else "MISS"
    print(
        f"result: dedup's own memory at {sizes[-1]} pairs / at {sizes[0]} = {ratio:.2f} ({verdict})"
    )


if __name__ == "__main__":
    main()
