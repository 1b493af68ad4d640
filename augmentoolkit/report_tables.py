"""The run report's numbers as tables, built once and written twice: as Markdown into
run_report.md and as HTML into report.html, so both always show the same figures. Each builder
takes counters only (stage outcomes, model usage, ChartCounts), never a stage file."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from augmentoolkit.control_flow_functions.progress import StageOutcome
from augmentoolkit.generation_functions.engine_wrapper import ModelUsage, dollars
from augmentoolkit.generation_functions.store import CallUsage
from augmentoolkit.report_counts import ChartCounts, distribution, source_cells, source_rows

FUNNEL = "Funnel: chunks to conversations"
FUNNEL_REASONS = 5  # reasons named per stage in the funnel; the rest are counted


@dataclass(frozen=True)
class Table:
    title: str
    columns: tuple[str, ...]
    rows: Sequence[tuple[str, ...]]
    align: str  # one letter per column: "l" text, "r" numbers
    note: str = ""  # a line under the table

    def markdown(self) -> list[str]:
        rule = ["---" if a == "l" else "---:" for a in self.align]
        lines = [f"## {self.title}", "", _md_row(self.columns), _md_row(rule)]
        lines += [_md_row(row) for row in self.rows]
        return [*lines, "", *([self.note, ""] if self.note else [])]


def flat(cell: str) -> str:
    """A cell on one line, as both renderings show it (a reason can quote a reply)."""
    return " ".join(cell.split())


def _md_row(cells: Sequence[str]) -> str:
    return "| " + " | ".join(flat(cell).replace("|", "\\|") for cell in cells) + " |"


def _cells(*values: Any) -> tuple[str, ...]:
    return tuple(str(value) for value in values)


def _ratio(out: int, items_in: int) -> str:
    """Kept per item in: a share when a stage filters, a factor when it fans out (one chunk
    gives several pairs). Examples: (3, 4) -> '75%'; (9, 3) -> '3.0x'."""
    if not items_in:
        return "-"
    return f"{100 * out / items_in:.0f}%" if out <= items_in else f"{out / items_in:.1f}x"


def cost_of(usage: dict[str, Any], prices: dict[str, tuple[float, float]]) -> float:
    """Dollars for per-model usage (ModelUsage or CallUsage) at `prices`."""
    return sum(dollars(prices, m, u.prompt_tokens, u.completion_tokens) for m, u in usage.items())


def stages_table(outcomes: list[StageOutcome]) -> Table:
    rows = [
        _cells(o.stage, o.items_in, o.kept, o.dropped, o.failed, o.calls, o.tokens)
        + (f"{o.seconds:.1f}", o.top_reasons() or "-")
        for o in outcomes
    ]
    columns = ("stage", "in", "kept", "dropped", "failed", "calls", "tokens", "seconds")
    return Table("Stages", (*columns, "top reasons"), rows, "lrrrrrrrl")


def models_table(usage: dict[str, ModelUsage], prices: dict[str, tuple[float, float]]) -> Table:
    rows = [
        _cells(model, u.requests, u.retries, u.failures, u.prompt_tokens, u.completion_tokens)
        + (f"{dollars(prices, model, u.prompt_tokens, u.completion_tokens):.4f}",)
        for model, u in sorted(usage.items())
    ]
    columns = ("model", "requests", "retries", "failed requests", "prompt tokens")
    note = (
        f"Total cost: ${cost_of(usage, prices):.4f} (prices from the COST section of the config)."
    )
    return Table("Models", (*columns, "completion tokens", "cost (USD)"), rows, "lrrrrrr", note)


def folder_table(
    spent: dict[str, CallUsage],
    this_run: dict[str, ModelUsage],
    prices: dict[str, tuple[float, float]],
) -> Table:
    """What the whole output folder cost, over every run that built it, with this run's share:
    a resumed run's own figures are only what it added."""
    rows = [
        _cells(model, u.requests, u.prompt_tokens, u.completion_tokens)
        + (f"{dollars(prices, model, u.prompt_tokens, u.completion_tokens):.4f}",)
        + _cells(this_run[model].requests if model in this_run else 0)
        for model, u in sorted(spent.items())
    ]
    columns = ("model", "calls stored", "prompt tokens", "completion tokens", "cost (USD)")
    note = (
        f"Cost of the whole folder: ${cost_of(spent, prices):.4f} at today's prices (requests the "
        "server gave up on are not stored, so they are counted above for this run only)."
    )
    title = "The whole output folder (every run that built it)"
    return Table(title, (*columns, "this run's requests"), rows, "lrrrrr", note)


def steps_table(step_stats: dict[str, Any]) -> Table:
    rows = [
        _cells(name, s.requests, s.cache_hits, s.parse_failures, s.successes, s.failures)
        for name, s in sorted(step_stats.items())
    ]
    columns = ("step", "requests", "cache hits", "unparsed replies", "successes")
    return Table("Steps", (*columns, "final failures"), rows, "lrrrrr")


def dataset_table(counts: ChartCounts, cost: float, whole_folder: bool) -> Table:
    """The dataset at a glance, and what it cost per source token and per conversation."""
    removed = counts.duplicates or {}
    tokens = counts.source_tokens
    kept = counts.conversations - removed.get("conversation", 0)
    pairs = sum(counts.question_words.values()) - removed.get("question", 0)
    spent = "the whole folder (every run)" if whole_folder else "this run"
    rows = [
        ("input files", str(len(counts.sources))),
        ("chunks", str(sum(counts.chunk_tokens.values()))),
        ("source tokens (approximate)", str(tokens)),
        ("QA pairs kept", str(pairs)),
        ("conversations kept", str(kept)),
        ("near-duplicates removed", _duplicates(counts.duplicates)),
        (f"cost of {spent} (USD)", f"{cost:.4f}"),
        ("cost per 1,000 source tokens (USD)", f"{1000 * cost / tokens:.6f}" if tokens else "-"),
        ("cost per kept conversation (USD)", f"{cost / kept:.6f}" if kept else "-"),
    ]
    return Table("Dataset", ("what", "value"), rows, "lr")


def _duplicates(removed: dict[str, int] | None) -> str:
    if removed is None:
        return "not checked (SYSTEM.DEDUP_THRESHOLD 0)"
    conversations, pairs = removed.get("conversation", 0), removed.get("question", 0)
    return f"{conversations} conversations, {pairs} QA pairs (listed in duplicates.jsonl)"


def funnel_table(outcomes: list[StageOutcome]) -> Table:
    """Each stage's items in and out, from the chunks to the conversations, and every reason
    items were dropped or failed (the most common first)."""
    rows = [
        _cells(o.stage, o.items_in, o.kept, _ratio(o.kept, o.items_in), o.dropped, o.failed)
        + (_reasons(o),)
        for o in outcomes
    ]
    columns = ("stage", "in", "kept", "kept per in", "dropped", "failed", "why dropped or failed")
    return Table(FUNNEL, columns, rows, "lrrrrrl")


def _reasons(outcome: StageOutcome) -> str:
    shown = outcome.top_reasons(FUNNEL_REASONS)
    rest = len(outcome.reasons) - FUNNEL_REASONS
    return (shown or "-") + (f"; {rest} more reasons" if rest > 0 else "")


def sources_table(counts: ChartCounts) -> Table:
    rows = [(name, *(str(n) for n in source_cells(c))) for name, c in source_rows(counts)]
    columns = ("input file", "chunks", "tokens", "judged worthy", "QA pairs generated")
    return Table("Per source file", (*columns, "QA pairs kept", "conversations"), rows, "lrrrrrr")


def lengths_table(counts: ChartCounts) -> Table:
    rows = []
    for what, counter in (
        ("question (words)", counts.question_words),
        ("answer (words)", counts.answer_words),
        ("conversation (turns)", counts.conversation_turns),
    ):
        total, low, median, p90, high, mean = distribution(counter)
        rows.append(_cells(what, total, low, median, p90, high) + (f"{mean:.1f}",))
    columns = ("length of each", "count", "min", "median", "90th percentile", "max", "mean")
    return Table("Lengths", columns, rows, "lrrrrrr")
