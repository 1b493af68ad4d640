"""The report's dataset sections from ChartCounts: per-file counts, length distributions and the
sampled conversations equal whole-list oracles and do not depend on the order chunks finish in;
every counter stays bounded; run_report.md carries the funnel, per-file counts, lengths, samples
and the cost per 1,000 source tokens and per kept conversation; report.html the same tables."""

from __future__ import annotations

import hashlib
import math
import random
import re
import statistics
from collections import Counter
from pathlib import Path

import pytest

from augmentoolkit.control_flow_functions.progress import StageOutcome
from augmentoolkit.generation_functions.engine_wrapper import ModelUsage
from augmentoolkit.generation_functions.generation_step import StepStats
from augmentoolkit.generation_functions.store import CallUsage
from augmentoolkit.report import write_run_report
from augmentoolkit.report_counts import (
    MAX_SOURCES,
    OTHER_SOURCES,
    SAMPLE_SIZE,
    ChartCounts,
    SourceCounts,
    distribution,
)
from augmentoolkit.report_html import REPORT_HTML
from tests.test_report_counts import Row, _all, _chunks_of_rows, _feed


def source_oracle(chunks: list[dict[str, list[Row]]]) -> dict[str, SourceCounts]:
    """Per file, from every row at once."""
    found: dict[str, SourceCounts] = {}

    def of(name: str) -> SourceCounts:
        return found.setdefault(name, SourceCounts())

    for row in _all(chunks, "chunks"):
        of(row["source"]["filename"]).chunks += 1
        of(row["source"]["filename"]).tokens += row["tokens"]
    for row in _all(chunks, "judgements"):
        of(row["chunk"]["source"]["filename"]).worthy += row["suitable"] is True
    for row in _all(chunks, "pairs"):
        of(row["source_file"]).pairs += 1
    for row in _all(chunks, "repairs"):
        of(row["pair"]["source_file"]).kept_pairs += row["verdict"] in ("pass", "reworded")
    for row in _all(chunks, "conversations"):
        of(row["plan"]["pairs"][0]["source_file"]).conversations += 1
    return found


def sample_oracle(chunks: list[dict[str, list[Row]]], seed: int) -> list[str]:
    ids = [row["plan"]["id"] for row in _all(chunks, "conversations")]
    return sorted(ids, key=lambda i: hashlib.sha256(f"{seed}:{i}".encode()).hexdigest())[
        :SAMPLE_SIZE
    ]


@pytest.mark.parametrize("seed,count", [(0, 0), (1, 1), (2, 40), (3, 150)])
def test_dataset_counters_match_oracles_in_any_order(seed: int, count: int) -> None:
    chunks = _chunks_of_rows(random.Random(seed), count)
    counts = _feed(chunks, seed=seed)
    assert counts.sources == source_oracle(chunks)
    kept = [r["pair"] for r in _all(chunks, "repairs") if r["verdict"] in ("pass", "reworded")]
    assert counts.question_words == Counter(len(p["question"].split()) for p in kept)
    assert counts.answer_words == Counter(len(p["answer"].split()) for p in kept)
    assert [s.id for s in counts.sampled()] == sample_oracle(chunks, seed)
    assert counts.conversations == len(_all(chunks, "conversations"))
    assert counts.source_tokens == sum(r["tokens"] for r in _all(chunks, "chunks"))

    shuffled = chunks[:]
    random.Random(seed + 100).shuffle(shuffled)  # chunks finish in any order
    again = _feed(shuffled, seed=seed)
    assert again.sources == counts.sources and again.samples == counts.samples
    assert again.question_words == counts.question_words


def test_the_sample_follows_the_seed() -> None:
    chunks = _chunks_of_rows(random.Random(7), 80)
    samples = {tuple(s.id for s in _feed(chunks, seed=seed).sampled()) for seed in range(5)}
    assert len(samples) > 1
    assert all(len(sample) == SAMPLE_SIZE for sample in samples)


@pytest.mark.parametrize("seed", range(6))
def test_distribution_matches_sorted_list(seed: int) -> None:
    rng = random.Random(seed)
    values = [rng.randint(0, 50) for _ in range(rng.randint(1, 400))]
    ordered = sorted(values)

    def rank(share: float) -> int:
        return ordered[max(1, math.ceil(len(ordered) * share)) - 1]

    total, low, median, p90, high, mean = distribution(Counter(values))
    assert (total, low, median, p90, high) == (
        len(values),
        min(values),
        rank(0.5),
        rank(0.9),
        max(values),
    )
    assert mean == pytest.approx(statistics.mean(values))
    assert distribution(Counter()) == (0, 0, 0, 0, 0, 0.0)


def test_sources_are_bounded() -> None:
    counts = ChartCounts()
    extra = 50
    for number in range(MAX_SOURCES + extra):
        counts.add_chunks([{"tokens": 2, "source": {"filename": f"f{number}.txt"}}])
    assert len(counts.sources) == MAX_SOURCES + 1
    assert counts.sources[OTHER_SOURCES] == SourceCounts(chunks=extra, tokens=2 * extra)


def write(output: Path, counts: ChartCounts, spent: dict[str, CallUsage] | None) -> str:
    outcomes = [
        StageOutcome("read and chunk", items_in=4, kept=4),
        StageOutcome("judge chunks", items_in=4, kept=3, dropped=1, reasons=Counter({"no": 1})),
        StageOutcome("generate questions", items_in=2, kept=6),
    ]
    usage = {"small-model": ModelUsage(requests=2, prompt_tokens=1000, completion_tokens=500)}
    stats = {"judge_chunk": StepStats(requests=2, successes=2)}
    prices = {"small-model": (1.0, 2.0)}
    path = write_run_report(output, outcomes, usage, prices, stats, counts, "", spent)
    return path.read_text(encoding="utf-8")


def test_markdown_describes_the_dataset(tmp_path: Path) -> None:
    counts = _feed(_chunks_of_rows(random.Random(11), 30))
    spent = {"small-model": CallUsage(requests=9, prompt_tokens=100_000, completion_tokens=50_000)}
    report = write(tmp_path, counts, spent)
    cost = (100_000 * 1.0 + 50_000 * 2.0) / 1_000_000  # the whole folder, not this run's 0.002
    per_1k = 1000 * cost / counts.source_tokens
    assert f"| cost of the whole folder (every run) (USD) | {cost:.4f} |" in report
    assert f"| cost per 1,000 source tokens (USD) | {per_1k:.6f} |" in report
    assert f"| cost per kept conversation (USD) | {cost / counts.conversations:.6f} |" in report
    assert "| judge chunks | 4 | 3 | 75% | 1 | 0 | no (x1) |" in report  # the funnel
    assert "| generate questions | 2 | 6 | 3.0x | 0 | 0 | - |" in report
    for name, c in counts.sources.items():
        assert f"| {name} | {c.chunks} | {c.tokens} | {c.worthy} | {c.pairs} |" in report
    total, low, median, p90, high, mean = distribution(counts.question_words)
    assert (
        f"| question (words) | {total} | {low} | {median} | {p90} | {high} | {mean:.1f} |" in report
    )
    sampled = re.findall(r"^### \d\. .* \(conversation (.+)\)$", report, re.M)
    assert sampled == [s.id for s in counts.sampled()]
    assert (tmp_path / REPORT_HTML).exists()

    this_run_only = write(tmp_path, counts, None)
    assert "| cost of this run (USD) | 0.0020 |" in this_run_only


def test_sampled_text_cannot_break_out_of_its_fence(tmp_path: Path) -> None:
    counts = ChartCounts()
    pair = {"source_file": "x.txt", "chunk_id": "c1", "id": "p"}
    hostile = "```\n# Heading\n<script>alert(1)</script>\n````"
    turns = [{"speaker": "User", "role": "human", "text": hostile}]
    counts.add_conversations([{"plan": {"id": "conv", "pairs": [pair]}, "turns": turns}])
    report = write(tmp_path, counts, None)
    body = report.split("## Sampled conversations", 1)[1]
    assert "`````text\nUser: " + hostile + "\n`````" in body


def test_empty_dataset_says_so(tmp_path: Path) -> None:
    report = write(tmp_path, ChartCounts(), None)
    assert "| cost per kept conversation (USD) | - |" in report
    assert "No conversation was kept." in report
