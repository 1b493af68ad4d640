"""How the whole pipeline scales with the corpus: memory, time, first output and disk.

What: two synthetic corpora of English-like prose, about 4 MB and about 64 MB (16x; 10^6 bytes
per MB), each in files of about 1 MB, are run through `run_pipeline` with every config default
except SYSTEM.USE_SUBSET False, SYSTEM.CHUNK_SIZE 2000 (about 9 KB of this prose a chunk; the
default 400 would make five times as many chunks and calls; 2000 keeps the 64 MB run within
minutes on 2 cores) and a large SYSTEM.PROGRESS_INTERVAL (no progress lines). Printed, one row
per run: chunks, model calls, pipeline wall seconds, seconds to the first stage-folder line,
peak RSS, and the bytes under OUTPUT; then the OUTPUT breakdown of both first runs, and these
results:

    peak_rss_64mb_vs_4mb       peak RSS, 64 MB first run / 4 MB first run         target <= 1.5
    wall_64mb_vs_4mb           pipeline wall, 64 MB / 4 MB (first runs)           target <= 20
    first_stage_line_64mb_s    seconds from starting the 64 MB child to the first
                               line of OUTPUT/worthy_for_questions/judgements.jsonl target <= 30
    disk_output_vs_corpus_4mb  bytes of every file under OUTPUT after the 4 MB first
                               run / the corpus's bytes                           target <= 25
    rerun_rss_64mb_vs_4mb      peak RSS of the reruns, 64 MB / 4 MB; PASS needs 0
                               model calls in both reruns too                     target <= 1.5

How: the corpora are sentences of 6 to 22 words drawn by a seeded RNG from the words of the
shipped sample text (about 2,500; "gutenberg" left out so the fake judge keeps them), 3 to 8
sentences a paragraph; every file has its own seed, so every chunk differs and so do the cache
keys. Each run is a fresh child process (this script with --child CONFIG), so each peak RSS
(`ru_maxrss` of the child) is that run's own, imports included. The child sets up logging as
processing.py does (OUTPUT/run.log), then calls `run_pipeline`; its stderr goes to a log file.
The model is an in-process backend, not HTTP: each call awaits `asyncio.sleep(0)` once and
answers with tests.fake_model.reply (every step in its layout, some chunks judged unsuitable,
some checks failed), with token counts of len(text) // 4. So the figures are the pipeline's own
costs, without an HTTP client or server. While a child runs, this process polls every 0.1 s for
the first non-empty line of the judgements file and records the seconds since the child was
started (interpreter start-up and chunking included). Order: 4 MB first run, 64 MB first run,
4 MB rerun and 64 MB rerun on the same OUTPUTs (every call served from OUTPUT/store). The temp
folder with the corpora and outputs is removed at the end.

Run: .venv/bin/python bench/scale.py [--small-mb 4] [--scale 16] [--chunk-size 2000]
     (a quick smoke run: --small-mb 0.5 --scale 4). About 5 minutes with the defaults on 2 cores.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import re
import resource
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import common
import yaml

from augmentoolkit.config import load_config
from augmentoolkit.generation_functions.engine_wrapper import Completion, Sampling
from augmentoolkit.generation_functions.prompts import RenderedPrompt
from augmentoolkit.pipeline import run_pipeline
from augmentoolkit.run_log import setup_logging
from tests.fake_model import reply
from tests.llm_server import STEP_HEADER, RecordedRequest

MB = 1_000_000
MIB = 1 << 20
JUDGEMENTS = Path("worthy_for_questions") / "judgements.jsonl"
TARGETS = {"rss": 1.5, "wall": 20.0, "first_line": 30.0, "disk": 25.0}


# ------------------------------------------------------------------------------- corpora


def vocabulary() -> list[str]:
    """The distinct lower-case words of the shipped sample text, sorted."""
    text = "\n".join(p.read_text(encoding="utf-8") for p in sorted(common.SAMPLE_DIR.glob("*.txt")))
    return sorted(set(re.findall(r"[a-z]{2,}", text.lower())) - {"gutenberg"})


def sentence(rng: random.Random, words: list[str]) -> str:
    text = " ".join(rng.choices(words, k=rng.randint(6, 22)))
    return text[0].upper() + text[1:] + "."


def paragraph(rng: random.Random, words: list[str]) -> str:
    return " ".join(sentence(rng, words) for _ in range(rng.randint(3, 8)))


def prose(seed: int, size: int, words: list[str]) -> str:
    """At least `size` bytes of paragraphs, the same for the same seed."""
    rng, parts, total = random.Random(seed), [], 0
    while total < size:
        part = paragraph(rng, words)
        parts.append(part)
        total += len(part) + 2
    return "\n\n".join(parts) + "\n"


def write_corpus(folder: Path, size: int, file_size: int, words: list[str]) -> int:
    """Files of about `file_size` bytes adding up to about `size`; returns the bytes written."""
    folder.mkdir(parents=True)
    count = max(1, round(size / file_size))
    for index in range(count):
        text = prose(index, size // count, words)
        (folder / f"part_{index:03d}.txt").write_text(text, encoding="utf-8")
    return tree_bytes(folder)


def tree_bytes(folder: Path) -> int:
    return sum(p.stat().st_size for p in folder.rglob("*") if p.is_file())


# --------------------------------------------------------------------------------- child


class FakeModel:
    """An in-process Backend answering as tests.fake_model does; counts its calls."""

    label = "in-process fake model"

    def __init__(self) -> None:
        self.calls = 0

    async def complete(
        self, prompt: RenderedPrompt, model: str, sampling: Sampling, stop: list[str], step: str
    ) -> Completion:
        self.calls += 1
        await asyncio.sleep(0)
        text = reply(as_request(prompt, model, step))
        return Completion(text, len(prompt.as_key_text()) // 4, len(text) // 4, "stop")

    async def close(self) -> None:
        return None


def as_request(prompt: RenderedPrompt, model: str, step: str) -> RecordedRequest:
    """The request the scripted server would have seen for this prompt."""
    headers = {STEP_HEADER.lower(): step}
    if prompt.messages is not None:
        body = {"model": model, "messages": list(prompt.messages)}
        return RecordedRequest("/v1/chat/completions", body, headers, step)
    return RecordedRequest(
        "/v1/completions", {"model": model, "prompt": prompt.text}, headers, step
    )


def peak_rss_kib() -> int:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss


def child(config_path: Path) -> None:
    """Run the pipeline once; print {"wall_s", "calls", "rss_before_kib", "peak_rss_kib"}."""
    config = load_config(config_path)
    setup_logging(config.PATH.OUTPUT)  # as processing.py does: OUTPUT/run.log
    model = FakeModel()
    before = peak_rss_kib()
    started = time.perf_counter()
    asyncio.run(run_pipeline(config, model))
    wall = time.perf_counter() - started
    report = {"wall_s": wall, "calls": model.calls, "rss_before_kib": before}
    print(json.dumps({**report, "peak_rss_kib": peak_rss_kib()}), flush=True)


# -------------------------------------------------------------------------------- parent


@dataclass
class Run:
    name: str
    corpus_bytes: int
    output: Path
    wall_s: float
    calls: int
    rss_before_kib: int
    peak_rss_kib: int
    first_line_s: float | None
    output_bytes: int


def write_config(folder: Path, name: str, corpus: Path, chunk_size: int) -> Path:
    data = {
        "PATH": {
            "INPUT": str(corpus),
            "OUTPUT": str(folder / f"output_{name}"),
            "DEFAULT_PROMPTS": str(common.REPO / "prompts"),
            "PROMPTS": str(common.REPO / "prompts"),
        },
        "API": {
            "BASE_URL": "http://127.0.0.1:9/v1",  # never contacted: the backend is in-process
            "LOGICAL_MODEL": "small-model",
            "LARGE_LOGICAL_MODEL": "large-model",
        },
        "SYSTEM": {"USE_SUBSET": False, "CHUNK_SIZE": chunk_size, "PROGRESS_INTERVAL": 86400.0},
    }
    path = folder / f"config_{name}.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
    return path


def has_line(path: Path) -> bool:
    try:
        with open(path, encoding="utf-8") as handle:
            return bool(handle.readline().strip())
    except OSError:
        return False


def watch(proc: subprocess.Popen[bytes], judgements: Path, started: float) -> float | None:
    """Wait for the child; seconds from its start to the first judgements line (None if that
    line was there before it started)."""
    seen: float | None = None
    fresh = not has_line(judgements)
    while proc.poll() is None:
        if fresh and seen is None and has_line(judgements):
            seen = time.perf_counter() - started
        time.sleep(0.1)
    if fresh and seen is None and has_line(judgements):
        seen = time.perf_counter() - started  # it came during the last 0.1 s
    return seen


def run_child(folder: Path, index: int, label: str, config: Path, corpus_bytes: int) -> Run:
    """Run the pipeline on `config` in a fresh child process and collect its figures."""
    output = Path(yaml.safe_load(config.read_text(encoding="utf-8"))["PATH"]["OUTPUT"])
    out_path, log_path = folder / f"run{index}.out", folder / f"run{index}.log"
    command = [sys.executable, str(Path(__file__).resolve()), "--child", str(config)]
    with open(out_path, "wb") as out, open(log_path, "wb") as log:
        started = time.perf_counter()
        proc = subprocess.Popen(command, stdout=out, stderr=log, cwd=common.REPO)
        try:
            first_line = watch(proc, output / JUDGEMENTS, started)
        finally:
            if proc.poll() is None:  # this script was interrupted: take the child with it
                proc.kill()
                proc.wait()
    if proc.returncode != 0:
        tail = log_path.read_text(encoding="utf-8", errors="replace").splitlines()[-60:]
        raise SystemExit(
            f"{label}: the pipeline child failed (rc {proc.returncode}):\n" + "\n".join(tail)
        )
    lines = out_path.read_text(encoding="utf-8").splitlines()
    report = json.loads(next(line for line in reversed(lines) if line.startswith("{")))
    return Run(
        label,
        corpus_bytes,
        output,
        report["wall_s"],
        report["calls"],
        report["rss_before_kib"],
        report["peak_rss_kib"],
        first_line,
        tree_bytes(output),
    )


def chunk_count(output: Path) -> int:
    path = output / "chunks" / "chunks.jsonl"
    if not path.is_file():
        return 0
    with open(path, "rb") as handle:
        return sum(1 for line in handle if line.strip())


def breakdown(output: Path) -> dict[str, int]:
    """Bytes per top-level entry of OUTPUT (a folder counts every file under it)."""
    sizes: dict[str, int] = {}
    for entry in sorted(output.iterdir()):
        name = entry.name + ("/" if entry.is_dir() else "")
        sizes[name] = tree_bytes(entry) if entry.is_dir() else entry.stat().st_size
    return sizes


def run_rows(runs: list[Run]) -> list[list[Any]]:
    return [
        [
            r.name,
            r.corpus_bytes / MB,
            chunk_count(r.output),
            r.calls,
            r.wall_s,
            "-" if r.first_line_s is None else r.first_line_s,
            r.rss_before_kib / 1024,
            r.peak_rss_kib / 1024,
            r.output_bytes / MB,
        ]
        for r in runs
    ]


def disk_rows(small: dict[str, int], large: dict[str, int], corpus: int) -> list[list[Any]]:
    names = sorted(set(small) | set(large), key=lambda n: -small.get(n, 0))
    rows: list[list[Any]] = [
        [n, small.get(n, 0) / MB, small.get(n, 0) / corpus, large.get(n, 0) / MB] for n in names
    ]
    rows.append(
        ["total", sum(small.values()) / MB, sum(small.values()) / corpus, sum(large.values()) / MB]
    )
    return rows


def measure(
    folder: Path, args: argparse.Namespace, labels: tuple[str, str]
) -> tuple[list[Run], list[list[Any]], list[dict[str, int]]]:
    """Write the corpora, then run first runs and reruns; the runs, their table rows, and the
    OUTPUT breakdowns after the two first runs."""
    started, words = time.perf_counter(), vocabulary()
    file_size = int(args.file_mb * MB)
    sizes = (int(args.small_mb * MB), int(args.small_mb * args.scale * MB))
    corpora = [
        write_corpus(folder / f"corpus{i}", size, file_size, words) for i, size in enumerate(sizes)
    ]
    print(
        f"corpora: {corpora[0] / MB:.2f} MB and {corpora[1] / MB:.2f} MB of prose over "
        f"{len(words)} words, written in {time.perf_counter() - started:.1f} s; "
        f"CHUNK_SIZE {args.chunk_size}, in-process fake model",
        flush=True,
    )
    configs = [write_config(folder, str(i), folder / f"corpus{i}", args.chunk_size) for i in (0, 1)]
    runs: list[Run] = []
    disks: list[dict[str, int]] = []
    for index, kind in enumerate(("first", "first", "rerun", "rerun")):
        label = f"{labels[index % 2]} {kind}"
        runs.append(run_child(folder, index, label, configs[index % 2], corpora[index % 2]))
        print(f"  {label}: {runs[-1].wall_s:.1f} s", flush=True)
        if kind == "first":
            disks.append(breakdown(runs[-1].output))
    return runs, run_rows(runs), disks


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--small-mb", type=float, default=4.0, help="smaller corpus, MB")
    parser.add_argument("--scale", type=int, default=16, help="larger corpus = scale x smaller")
    parser.add_argument("--chunk-size", type=int, default=2000, help="SYSTEM.CHUNK_SIZE")
    parser.add_argument("--file-mb", type=float, default=1.0, help="size of each corpus file")
    parser.add_argument("--child", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child is not None:
        child(args.child)
        return

    labels = (f"{args.small_mb:g} MB", f"{args.small_mb * args.scale:g} MB")
    with common.temp_dir("atk-scale-") as folder:
        runs, rows, disks = measure(folder, args, labels)
    small, large, small_rerun, large_rerun = runs
    headers = [
        "run",
        "corpus MB",
        "chunks",
        "model calls",
        "pipeline wall s",
        "first stage line s",
        "RSS before run MiB",
        "peak RSS MiB",
        "OUTPUT MB",
    ]
    print(common.table(headers, rows))
    print()
    print(f"OUTPUT after the first runs (ratio: {labels[0]} bytes / its corpus bytes)")
    disk_headers = ["entry", f"{labels[0]} MB", "ratio", f"{labels[1]} MB"]
    print(common.table(disk_headers, disk_rows(disks[0], disks[1], small.corpus_bytes)))
    print()
    print(f"rerun model calls: {small_rerun.calls} + {large_rerun.calls} (must be 0)")
    print_results(small, large, small_rerun, large_rerun, small_rerun.calls + large_rerun.calls)


def print_results(small: Run, large: Run, small_rerun: Run, large_rerun: Run, calls: int) -> None:
    wall = large.wall_s / small.wall_s
    print(
        common.result("wall_64mb_vs_4mb", wall, f"<= {TARGETS['wall']:g}", wall <= TARGETS["wall"])
    )
    first = large.first_line_s if large.first_line_s is not None else float("inf")
    limit = TARGETS["first_line"]
    print(common.result("first_stage_line_64mb_s", first, f"<= {limit:g}", first <= limit))
    disk = small.output_bytes / small.corpus_bytes
    print(
        common.result(
            "disk_output_vs_corpus_4mb", disk, f"<= {TARGETS['disk']:g}", disk <= TARGETS["disk"]
        )
    )
    rerun = large_rerun.peak_rss_kib / small_rerun.peak_rss_kib
    target = f"<= {TARGETS['rss']:g} and 0 rerun calls"
    print(
        common.result(
            "rerun_rss_64mb_vs_4mb", rerun, target, rerun <= TARGETS["rss"] and calls == 0
        )
    )
    rss = large.peak_rss_kib / small.peak_rss_kib
    print(
        common.result("peak_rss_64mb_vs_4mb", rss, f"<= {TARGETS['rss']:g}", rss <= TARGETS["rss"])
    )


if __name__ == "__main__":
    main()
