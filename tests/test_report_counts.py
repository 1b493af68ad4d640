"""ChartCounts: fed chunk by chunk it gives the same numbers as the old whole-file report code
(kept here as oracles), its weighted histograms draw the same bars, its digest tracks the counts,
and write_run_report draws every chart from it."""

from __future__ import annotations

import io
import random
from collections import Counter
from pathlib import Path
from typing import Any

import matplotlib
import pytest

from augmentoolkit.control_flow_functions.progress import StageOutcome
from augmentoolkit.control_flow_functions.validation import CHECKS
from augmentoolkit.generation_functions.engine_wrapper import ModelUsage
from augmentoolkit.generation_functions.generation_step import StepStats
from augmentoolkit.report import (
    CHART_DIR,
    CHART_NAMES,
    ChartCounts,
    check_pass_rates,
    hist_data,
    write_run_report,
)

matplotlib.use("Agg")
from matplotlib import pyplot as plt  # noqa: E402

NAMES = [check.name for check in CHECKS]
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
Row = dict[str, Any]


def reference_check_pass_rates(validation_rows: list[Row]) -> dict[str, tuple[int, int]]:
    """check_pass_rates as it was, over every validation row of the run at once."""
    tally = {name: [0, 0] for name in NAMES}
    for row in validation_rows:
        failed_at = [str(h.get("problem", "")).split(":")[0] for h in row.get("history", [])]
        for check in failed_at:
            if check not in tally:
                continue
            for earlier in NAMES[: NAMES.index(check)]:
                tally[earlier][0] += 1
                tally[earlier][1] += 1
            tally[check][1] += 1
        if row.get("kept"):
            for name in NAMES:
                tally[name][0] += 1
                tally[name][1] += 1
    return {name: (passed, seen) for name, (passed, seen) in tally.items()}


def _history(rng: random.Random) -> list[Row]:
    entries: list[Row] = []
    for _ in range(rng.randint(0, 4)):
        kind = rng.random()
        if kind < 0.7:
            entries.append({"problem": f"{rng.choice(NAMES)}: {rng.choice(['bad', 'x:y'])}"})
        elif kind < 0.85:
            entries.append({"problem": "engine: no reply"})
        else:
            entries.append({})
    return entries


def _pair(rng: random.Random, chunk_id: str, source: str, number: int) -> Row:
    return {
        "id": f"{chunk_id}-{number}",
        "chunk_id": chunk_id,
        "source_file": source,
        "question": " ".join(["why"] * rng.randint(1, 20)),
        "answer": " ".join(["because"] * rng.randint(1, 60)),
    }


def _conversation(rng: random.Random, pairs: list[Row], number: int) -> Row:
    turns = [{"speaker": "A", "role": "human", "text": "t"}] * rng.randint(0, 12)
    plan = {"id": f"{pairs[0]['chunk_id']}-conv{number}", "pairs": pairs}
    return {"plan": plan, "turns": turns}


def _chunks_of_rows(rng: random.Random, count: int) -> list[dict[str, list[Row]]]:
    """Per chunk, the rows each stage wrote for it."""
    chunks: list[dict[str, list[Row]]] = []
    for number in range(count):
        chunk_id, source = f"c{number}", f"file{rng.randint(0, 3)}.txt"
        chunk = {"id": chunk_id, "tokens": rng.randint(1, 600), "source": {"filename": source}}
        pairs = [_pair(rng, chunk_id, source, i) for i in range(rng.randint(0, 8))]
        verdicts = ["pass", "reworded", "fail", None]
        chunks.append(
            {
                "chunks": [chunk],
                "judgements": [{"chunk": chunk, "suitable": rng.choice([True, False, None])}],
                "pairs": pairs,
                "validation": [
                    {"pair": p, "kept": rng.random() < 0.6, "history": _history(rng)} for p in pairs
                ],
                "repairs": [{"pair": p, "verdict": rng.choice(verdicts)} for p in pairs],
                "conversations": [
                    _conversation(rng, pairs, i) for i in range(rng.randint(0, 2) if pairs else 0)
                ],
            }
        )
    return chunks


def _feed(chunks: list[dict[str, list[Row]]], seed: int = 0) -> ChartCounts:
    counts = ChartCounts(seed=seed)
    for rows in chunks:
        counts.add_chunks(rows["chunks"])
        counts.add_judgements(rows["judgements"])
        counts.add_raw_pairs(rows["pairs"])
        counts.add_validation(rows["validation"])
        counts.add_repairs(rows["repairs"])
        counts.add_conversations(rows["conversations"])
    return counts


def _all(chunks: list[dict[str, list[Row]]], stage: str) -> list[Row]:
    return [row for rows in chunks for row in rows[stage]]


@pytest.mark.parametrize("seed,count", [(0, 0), (1, 1), (2, 30), (3, 200)])
def test_counts_match_whole_file_oracles(seed: int, count: int) -> None:
    chunks = _chunks_of_rows(random.Random(seed), count)
    counts = _feed(chunks)
    validation = _all(chunks, "validation")
    assert counts.pass_rates() == reference_check_pass_rates(validation)
    assert check_pass_rates(validation) == reference_check_pass_rates(validation)
    assert counts.chunk_tokens == Counter(c["tokens"] for c in _all(chunks, "chunks"))
    old_verdicts = Counter(
        {True: "worthy", False: "not worthy"}.get(r["suitable"], "no verdict")
        for r in _all(chunks, "judgements")
    )
    assert list(counts.verdicts.items()) == list(old_verdicts.items())  # bar order too
    per_chunk = Counter(p["chunk_id"] for p in _all(chunks, "pairs"))
    assert counts.pairs_per_chunk == Counter(per_chunk.values())
    turns = [len(c["turns"]) for c in _all(chunks, "conversations")]
    assert counts.conversation_turns == Counter(turns)


def _png(values: list[int], weights: list[int] | None, bins: Any) -> tuple[Any, bytes]:
    figure, axes = plt.subplots(figsize=(5.5, 3.5))
    heights, edges, _ = axes.hist(values, weights=weights, bins=bins)
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=90)
    plt.close(figure)
    return (list(heights), list(edges)), buffer.getvalue()


@pytest.mark.parametrize("bins", [20, range(0, 7), 10])
@pytest.mark.parametrize("seed,top", [(0, 0), (1, 8), (2, 8), (3, 600)])
def test_weighted_hist_draws_the_same_bars(seed: int, top: int, bins: Any) -> None:
    rng = random.Random(seed)
    values = [rng.randint(min(top, 1), top) for _ in range(rng.randint(0, 300))]
    old_hist, old_png = _png(values or [0], None, bins)
    new_hist, new_png = _png(*hist_data(Counter(values)), bins=bins)
    assert new_hist == old_hist
    assert new_png == old_png


def test_digest_follows_counts() -> None:
    chunks = _chunks_of_rows(random.Random(4), 20)
    digest = _feed(chunks).digest()
    assert _feed(chunks).digest() == digest
    regrouped = _feed([])
    regrouped.add_chunks(_all(chunks, "chunks"))  # same counts, fed in other batches
    for rows in chunks:
        regrouped.add_judgements(rows["judgements"])
        regrouped.add_raw_pairs(rows["pairs"])
        regrouped.add_validation(rows["validation"])
        regrouped.add_repairs(rows["repairs"])
        regrouped.add_conversations(rows["conversations"])
    assert regrouped.digest() == digest
    assert ChartCounts().digest() != digest
    pair = _pair(random.Random(5), "new", "new.txt", 0)
    one_more: dict[str, list[Row]] = {
        "add_chunks": [{"tokens": 5, "source": {"filename": "new.txt"}}],
        "add_judgements": [{"suitable": None}],
        "add_raw_pairs": [pair],
        "add_validation": [{"kept": True, "history": []}],
        "add_repairs": [{"pair": pair, "verdict": "pass"}],
        "add_conversations": [_conversation(random.Random(5), [pair], 0)],
    }
    for method, extra in one_more.items():
        grown = _feed(chunks)
        getattr(grown, method)(extra)
        assert grown.digest() != digest, method


def _write_report(output: Path, counts: ChartCounts) -> Path:
    outcome = StageOutcome("chunking", items_in=3, kept=3)
    usage = {"small-model": ModelUsage(requests=2, prompt_tokens=10, completion_tokens=5)}
    stats = {"judge": StepStats(requests=2, successes=2)}
    return write_run_report(output, [outcome], usage, {"small-model": (1.0, 2.0)}, stats, counts)


def test_write_run_report_draws_every_chart(tmp_path: Path) -> None:
    counts = _feed(_chunks_of_rows(random.Random(6), 15))
    report = _write_report(tmp_path, counts).read_text(encoding="utf-8")
    assert "| chunking | 3 | 3 | 0 | 0 |" in report and "| small-model | 2 |" in report
    assert "| judge | 2 | 0 | 0 | 2 | 0 |" in report
    for name in CHART_NAMES:
        assert f"]({CHART_DIR}/{name})" in report
        assert (tmp_path / CHART_DIR / name).read_bytes().startswith(PNG_MAGIC)
    first = tmp_path / CHART_DIR / CHART_NAMES[0]
    before = first.stat().st_mtime_ns
    _write_report(tmp_path, counts)
    assert first.stat().st_mtime_ns == before  # same counts: charts kept
    counts.add_chunks([{"tokens": 1, "source": {"filename": "x.txt"}}])
    _write_report(tmp_path, counts)
    assert first.stat().st_mtime_ns != before


def test_empty_counts_still_draw(tmp_path: Path) -> None:
    _write_report(tmp_path, ChartCounts())
    assert sorted(p.name for p in (tmp_path / CHART_DIR).glob("*.png")) == sorted(CHART_NAMES)
