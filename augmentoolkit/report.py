"""The run report: OUTPUT/run_report.md with per-stage counts, calls, tokens, cost and time, and
PNG charts (matplotlib, Agg backend, never a window) drawn from the stage files on disk.

Charts: chunk token lengths, judged-worthy share, QA pairs per chunk, pass rate of each
validation check, and conversation turns. Does not run any stage; it only reads their outputs.
"""

from __future__ import annotations

import hashlib
import json
from collections import Counter
from pathlib import Path
from typing import Any

from augmentoolkit.control_flow_functions.progress import StageOutcome
from augmentoolkit.control_flow_functions.validation import CHECKS
from augmentoolkit.generation_functions.engine_wrapper import ModelUsage
from augmentoolkit.io_utils import write_text_atomic

CHART_DIR = "report"


def _rows(path: Path) -> list[dict[str, Any]]:
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line]


def check_pass_rates(validation_rows: list[dict[str, Any]]) -> dict[str, tuple[int, int]]:
    """(passed, evaluated) per check, from each pair's validation history.

    Example: a pair that failed check_question once, then passed everything, counts
    check_question as 1 of 2 and the other two checks as 1 of 1.
    """
    names = [check.name for check in CHECKS]
    tally = {name: [0, 0] for name in names}
    for row in validation_rows:
        failed_at = [str(h.get("problem", "")).split(":")[0] for h in row.get("history", [])]
        for check in failed_at:
            if check not in tally:
                continue
            for earlier in names[: names.index(check)]:
                tally[earlier][0] += 1
                tally[earlier][1] += 1
            tally[check][1] += 1
        if row.get("kept"):
            for name in names:
                tally[name][0] += 1
                tally[name][1] += 1
    return {name: (passed, seen) for name, (passed, seen) in tally.items()}


CHART_SOURCES = (
    "chunks/chunks.jsonl",
    "worthy_for_questions/judgements.jsonl",
    "qatuples_raw/pairs.jsonl",
    "qatuples_validated/validation.jsonl",
    "multi_turn_convs/conversations.jsonl",
)
CHART_NAMES = (
    "chunk_tokens.png",
    "judged_worthy.png",
    "pairs_per_chunk.png",
    "check_pass_rates.png",
    "conversation_turns.png",
)


def sources_digest(output: Path) -> str:
    """A hash of the stage files the charts are drawn from, so unchanged charts are not redrawn."""
    digest = hashlib.sha256()
    for name in CHART_SOURCES:
        path = output / name
        digest.update(path.read_bytes() if path.exists() else b"-")
    return digest.hexdigest()


def draw_charts(output: Path) -> list[Path]:
    """Draw the charts, or keep last run's when their stage files have not changed."""
    folder = output / CHART_DIR
    key_file, digest = folder / "charts.sha256", sources_digest(output)
    existing = [folder / name for name in CHART_NAMES]
    if key_file.exists() and key_file.read_text() == digest and all(p.exists() for p in existing):
        return existing
    charts = _draw_charts(output)
    write_text_atomic(key_file, digest)
    return charts


def _draw_charts(output: Path) -> list[Path]:
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib import pyplot as plt

    chunks = _rows(output / "chunks" / "chunks.jsonl")
    judgements = _rows(output / "worthy_for_questions" / "judgements.jsonl")
    pairs = _rows(output / "qatuples_raw" / "pairs.jsonl")
    validation = _rows(output / "qatuples_validated" / "validation.jsonl")
    conversations = _rows(output / "multi_turn_convs" / "conversations.jsonl")
    folder = output / CHART_DIR
    folder.mkdir(parents=True, exist_ok=True)
    charts: list[Path] = []

    def save(name: str, draw: Any, title: str, xlabel: str, ylabel: str) -> None:
        figure, axes = plt.subplots(figsize=(5.5, 3.5))
        draw(axes)
        axes.set_title(title)
        axes.set_xlabel(xlabel)
        axes.set_ylabel(ylabel)
        figure.tight_layout()
        path = folder / name
        figure.savefig(path, dpi=90)
        plt.close(figure)
        charts.append(path)

    save(
        "chunk_tokens.png",
        lambda ax: ax.hist([c["tokens"] for c in chunks] or [0], bins=20),
        "Chunk length",
        "tokens (approximate)",
        "chunks",
    )
    verdicts = Counter(
        {True: "worthy", False: "not worthy"}.get(r["suitable"], "no verdict") for r in judgements
    )
    save(
        "judged_worthy.png",
        lambda ax: ax.bar(list(verdicts), list(verdicts.values())),
        "Chunks judged worth asking about",
        "",
        "chunks",
    )
    per_chunk = Counter(p["chunk_id"] for p in pairs)
    save(
        "pairs_per_chunk.png",
        lambda ax: ax.hist(list(per_chunk.values()) or [0], bins=range(0, 7)),
        "QA pairs per chunk",
        "pairs",
        "chunks",
    )
    rates = check_pass_rates(validation)
    save(
        "check_pass_rates.png",
        lambda ax: ax.bar(
            [n.removeprefix("check_") for n in rates],
            [p / s if s else 0 for p, s in rates.values()],
        ),
        "Pass rate of each validation check",
        "",
        "share passed",
    )
    turns = [len(c["turns"]) for c in conversations]
    save(
        "conversation_turns.png",
        lambda ax: ax.hist(turns or [0], bins=10),
        "Conversation length",
        "turns",
        "conversations",
    )
    return charts


def write_run_report(
    output: Path,
    outcomes: list[StageOutcome],
    usage: dict[str, ModelUsage],
    prices: dict[str, tuple[float, float]],
    step_stats: dict[str, Any],
) -> Path:
    """Write run_report.md (and its charts) and return its path."""
    lines = [
        "# Run report",
        "",
        "## Stages",
        "",
        "| stage | in | kept | dropped | failed | calls | tokens | seconds | top reasons |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- |",
    ]
    for o in outcomes:
        lines.append(
            f"| {o.stage} | {o.items_in} | {o.kept} | {o.dropped} | {o.failed} | "
            f"{o.calls} | {o.tokens} | {o.seconds:.1f} | {o.top_reasons() or '-'} |"
        )
    lines += [
        "",
        "## Models",
        "",
        "| model | requests | retries | failed requests | prompt tokens | completion tokens "
        "| cost (USD) |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    total = 0.0
    for model, u in sorted(usage.items()):
        input_price, output_price = prices.get(model, (0.0, 0.0))
        cost = (u.prompt_tokens * input_price + u.completion_tokens * output_price) / 1e6
        total += cost
        lines.append(
            f"| {model} | {u.requests} | {u.retries} | {u.failures} | "
            f"{u.prompt_tokens} | {u.completion_tokens} | {cost:.4f} |"
        )
    lines += [
        "",
        f"Total cost: ${total:.4f} (prices from the COST section of the config).",
        "",
        "## Steps",
        "",
        "| step | requests | cache hits | unparsed replies | successes | final failures |",
        "| --- | ---: | ---: | ---: | ---: | ---: |",
    ]
    for name, s in sorted(step_stats.items()):
        lines.append(
            f"| {name} | {s.requests} | {s.cache_hits} | {s.parse_failures} | "
            f"{s.successes} | {s.failures} |"
        )
    lines += ["", "## Charts", ""]
    for chart in draw_charts(output):
        lines.append(f"![{chart.stem.replace('_', ' ')}]({CHART_DIR}/{chart.name})")
    path = output / "run_report.md"
    write_text_atomic(path, "\n".join(lines) + "\n")
    return path
