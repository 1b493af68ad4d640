"""The run report: OUTPUT/run_report.md with per-stage counts, calls, tokens, cost and time, and
PNG charts (matplotlib, Agg backend, never a window).

Charts: chunk token lengths, judged-worthy share, QA pairs per chunk, pass rate of each
validation check, and conversation turns. They are drawn from `ChartCounts`, small counters the
pipeline feeds with each chunk's stage rows as items finish, so the report never reads a stage
file back and its memory does not grow with the corpus. Does not run any stage.
"""

from __future__ import annotations

import hashlib
import json
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from augmentoolkit.control_flow_functions.progress import StageOutcome
from augmentoolkit.control_flow_functions.validation import CHECKS
from augmentoolkit.generation_functions.engine_wrapper import ModelUsage, dollars
from augmentoolkit.generation_functions.store import CallUsage
from augmentoolkit.io_utils import write_text_atomic

CHART_DIR = "report"
CHART_NAMES = (
    "chunk_tokens.png",
    "judged_worthy.png",
    "pairs_per_chunk.png",
    "check_pass_rates.png",
    "conversation_turns.png",
)
VERDICTS = {True: "worthy", False: "not worthy"}
Row = dict[str, Any]


def _check_names() -> list[str]:
    return [check.name for check in CHECKS]


@dataclass
class ChartCounts:
    """What the charts need, as counters. Each `add_*` takes the rows one stage wrote for ONE
    chunk (the same dicts as in its stage file), costs O(rows) and keeps none of them."""

    chunk_tokens: Counter[int] = field(default_factory=Counter)
    verdicts: Counter[str] = field(default_factory=Counter)
    pairs_per_chunk: Counter[int] = field(default_factory=Counter)
    checks_passed: Counter[str] = field(default_factory=Counter)
    checks_seen: Counter[str] = field(default_factory=Counter)
    conversation_turns: Counter[int] = field(default_factory=Counter)

    def add_chunks(self, rows: Iterable[Row]) -> None:
        """Rows of chunks/chunks.jsonl (Chunk.to_dict())."""
        self.chunk_tokens.update(row["tokens"] for row in rows)

    def add_judgements(self, rows: Iterable[Row]) -> None:
        """Rows of worthy_for_questions/judgements.jsonl ({"suitable": True|False|None})."""
        self.verdicts.update(VERDICTS.get(row["suitable"], "no verdict") for row in rows)

    def verdict_bars(self) -> list[tuple[str, int]]:
        """The verdicts present, always in one order (chunks finish in any order, and the chart
        should not change with it). Example: [("worthy", 3), ("not worthy", 1)]."""
        order = [*VERDICTS.values(), "no verdict"]
        return [(label, self.verdicts[label]) for label in order if self.verdicts[label]]

    def add_raw_pairs(self, rows: Iterable[Row]) -> None:
        """Rows of qatuples_raw/pairs.jsonl (QAPair.to_dict()); a chunk without rows is not
        counted, and one chunk's rows must come in one call."""
        self.pairs_per_chunk.update(Counter(row["chunk_id"] for row in rows).values())

    def add_validation(self, rows: Iterable[Row]) -> None:
        """Rows of qatuples_validated/validation.jsonl ({"kept": bool, "history": [...]}).

        Each failure in a pair's history counts as one evaluation of the failed check and a
        pass of every check before it; a kept pair passed every check once more. Example: a
        pair that failed check_question once, then passed everything, counts check_question
        as 1 of 2 and the other checks as 1 of 1.
        """
        names = _check_names()
        for row in rows:
            for entry in row.get("history", []):
                check = str(entry.get("problem", "")).split(":")[0]
                if check in names:
                    earlier = names[: names.index(check)]
                    self.checks_passed.update(earlier)
                    self.checks_seen.update([*earlier, check])
            if row.get("kept"):
                self.checks_passed.update(names)
                self.checks_seen.update(names)

    def add_conversations(self, rows: Iterable[Row]) -> None:
        """Rows of multi_turn_convs/conversations.jsonl (Conversation.to_dict())."""
        self.conversation_turns.update(len(row["turns"]) for row in rows)

    def pass_rates(self) -> dict[str, tuple[int, int]]:
        """(passed, evaluated) per validation check, in check order."""
        return {name: (self.checks_passed[name], self.checks_seen[name]) for name in _check_names()}

    def digest(self) -> str:
        """A hash of every count, so unchanged charts are not redrawn."""
        state = {
            "chunk_tokens": sorted(self.chunk_tokens.items()),
            "verdicts": self.verdict_bars(),
            "pairs_per_chunk": sorted(self.pairs_per_chunk.items()),
            "checks": list(self.pass_rates().items()),
            "conversation_turns": sorted(self.conversation_turns.items()),
        }
        return hashlib.sha256(json.dumps(state).encode("utf-8")).hexdigest()


def check_pass_rates(validation_rows: Iterable[Row]) -> dict[str, tuple[int, int]]:
    """(passed, evaluated) per check over validation rows; see ChartCounts.add_validation."""
    counts = ChartCounts()
    counts.add_validation(validation_rows)
    return counts.pass_rates()


def hist_data(counter: Counter[int]) -> tuple[list[int], list[int]]:
    """Values and weights for a weighted `hist`: the same bars as the expanded list of values.
    An empty counter draws as one value 0, as an empty chart always has."""
    if not counter:
        return [0], [1]
    return list(counter.keys()), list(counter.values())


def draw_charts(output: Path, counts: ChartCounts) -> list[Path]:
    """Draw the charts, or keep last run's when the counts have not changed."""
    folder = output / CHART_DIR
    key_file, digest = folder / "charts.sha256", counts.digest()
    existing = [folder / name for name in CHART_NAMES]
    if key_file.exists() and key_file.read_text() == digest and all(p.exists() for p in existing):
        return existing
    charts = _draw_charts(folder, counts)
    write_text_atomic(key_file, digest)
    return charts


def _draw_charts(folder: Path, counts: ChartCounts) -> list[Path]:
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib import pyplot as plt

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

    def hist(counter: Counter[int], bins: Any) -> Any:
        values, weights = hist_data(counter)
        return lambda ax: ax.hist(values, weights=weights, bins=bins)

    save(
        "chunk_tokens.png",
        hist(counts.chunk_tokens, 20),
        "Chunk length",
        "tokens (approximate)",
        "chunks",
    )
    verdicts = dict(counts.verdict_bars())
    save(
        "judged_worthy.png",
        lambda ax: ax.bar(list(verdicts), list(verdicts.values())),
        "Chunks judged worth asking about",
        "",
        "chunks",
    )
    save(
        "pairs_per_chunk.png",
        hist(counts.pairs_per_chunk, range(0, 7)),
        "QA pairs per chunk",
        "pairs",
        "chunks",
    )
    rates = counts.pass_rates()
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
    save(
        "conversation_turns.png",
        hist(counts.conversation_turns, 10),
        "Conversation length",
        "turns",
        "conversations",
    )
    return charts


def folder_section(
    spent: dict[str, CallUsage],
    this_run: dict[str, ModelUsage],
    prices: dict[str, tuple[float, float]],
) -> list[str]:
    """What the whole output folder cost, over every run that built it, with this run's share:
    a resumed run's own figures are only what it added."""
    lines = [
        "## The whole output folder (every run that built it)",
        "",
        "| model | calls stored | prompt tokens | completion tokens | cost (USD) | this run's "
        "requests |",
        "| --- | ---: | ---: | ---: | ---: | ---: |",
    ]
    total = 0.0
    for model, u in sorted(spent.items()):
        cost = dollars(prices, model, u.prompt_tokens, u.completion_tokens)
        total += cost
        mine = this_run[model].requests if model in this_run else 0
        lines.append(
            f"| {model} | {u.requests} | {u.prompt_tokens} | {u.completion_tokens} | "
            f"{cost:.4f} | {mine} |"
        )
    lines += [
        "",
        f"Cost of the whole folder: ${total:.4f} at today's prices (requests the server gave up "
        "on are not stored, so they are counted above for this run only).",
        "",
    ]
    return lines


def write_run_report(
    output: Path,
    outcomes: list[StageOutcome],
    usage: dict[str, ModelUsage],
    prices: dict[str, tuple[float, float]],
    step_stats: dict[str, Any],
    counts: ChartCounts,
    incomplete: str = "",
    folder_spent: dict[str, CallUsage] | None = None,
) -> Path:
    """Write run_report.md (and its charts) and return its path. `incomplete` says which chunks
    did not finish, when some did not; `folder_spent` is what every run that built this output
    folder paid for the calls stored in it (Store.spent)."""
    lines = [
        "# Run report",
        "",
        *([f"**Incomplete run:** {incomplete}", ""] if incomplete else []),
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
        cost = dollars(prices, model, u.prompt_tokens, u.completion_tokens)
        total += cost
        lines.append(
            f"| {model} | {u.requests} | {u.retries} | {u.failures} | "
            f"{u.prompt_tokens} | {u.completion_tokens} | {cost:.4f} |"
        )
    lines += ["", f"Total cost: ${total:.4f} (prices from the COST section of the config).", ""]
    if folder_spent is not None:
        lines += folder_section(folder_spent, usage, prices)
    lines += [
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
    for chart in draw_charts(output, counts):
        lines.append(f"![{chart.stem.replace('_', ' ')}]({CHART_DIR}/{chart.name})")
    path = output / "run_report.md"
    write_text_atomic(path, "\n".join(lines) + "\n")
    return path
