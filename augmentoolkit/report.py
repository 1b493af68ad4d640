"""The run report: OUTPUT/run_report.md and OUTPUT/report.html, describing the dataset the output
folder holds rather than only the last command.

- the dataset at a glance, with its cost per 1,000 source tokens and per kept conversation
  (the cost of every run that built the folder, from the store, when known);
- the funnel from chunks to conversations with every stage's reasons for dropping items;
- per input file counts, length distributions (questions, answers, conversation turns);
- per-stage, per-model and per-step counts, calls, tokens, cost and time of this run, beside
  the whole folder's calls, tokens and cost over every run;
- charts (report_charts.py) and a few sampled conversations (seeded);
- report.html (report_html.py): the same tables and charts, plus a searchable list of
  conversations with their chunks, pairs and verdicts, and of dropped pairs with why.

The numbers come from counters (report_counts.py) fed as chunks finish each stage; every chunk
flows through every stage on each run (a resumed run from the store), so they cover the whole
folder. Only report.html's bounded lists read stage folders (report_browse.py).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from augmentoolkit.control_flow_functions.progress import StageOutcome
from augmentoolkit.generation_functions.engine_wrapper import ModelUsage
from augmentoolkit.generation_functions.store import CallUsage
from augmentoolkit.io_utils import write_text_atomic
from augmentoolkit.report_browse import Browse
from augmentoolkit.report_charts import CHART_DIR, CHART_NAMES, draw_charts, hist_data
from augmentoolkit.report_counts import ChartCounts, SampledConversation, check_pass_rates
from augmentoolkit.report_html import write_html_report
from augmentoolkit.report_tables import (
    Table,
    cost_of,
    dataset_table,
    folder_table,
    funnel_table,
    lengths_table,
    models_table,
    sources_table,
    stages_table,
    steps_table,
)

__all__ = [
    "CHART_DIR",
    "CHART_NAMES",
    "ChartCounts",
    "check_pass_rates",
    "hist_data",
    "write_run_report",
]


def write_run_report(
    output: Path,
    outcomes: list[StageOutcome],
    usage: dict[str, ModelUsage],
    prices: dict[str, tuple[float, float]],
    step_stats: dict[str, Any],
    counts: ChartCounts,
    incomplete: str = "",
    folder_spent: dict[str, CallUsage] | None = None,
    browse: Browse | None = None,
) -> Path:
    """Write run_report.md, report.html and their charts; the path of run_report.md.
    `incomplete` says which chunks did not finish, when some did not; `folder_spent` is what
    every run that built this output folder paid for the calls stored in it (Store.spent);
    `browse` is what report.html lists (report_browse.collect_browse; none: an empty list)."""
    whole = folder_spent is not None
    cost = cost_of(folder_spent if folder_spent is not None else usage, prices)
    tables = [
        dataset_table(counts, cost, whole),
        funnel_table(outcomes),
        sources_table(counts),
        lengths_table(counts),
        stages_table(outcomes),
        models_table(usage, prices),
        *([folder_table(folder_spent, usage, prices)] if folder_spent is not None else []),
        steps_table(step_stats),
    ]
    charts = draw_charts(output, counts)
    banner = f"Incomplete run: {incomplete}" if incomplete else ""
    write_html_report(
        output, banner, tables, outcomes, charts, browse or Browse(), counts.conversations
    )
    path = output / "run_report.md"
    write_text_atomic(path, markdown(tables, charts, counts.sampled(), incomplete))
    return path


def markdown(
    tables: list[Table], charts: list[Path], samples: list[SampledConversation], incomplete: str
) -> str:
    lines = ["# Run report", "", *([f"**Incomplete run:** {incomplete}", ""] if incomplete else [])]
    for table in tables:
        lines += table.markdown()
    lines += ["## Charts", ""]
    lines += [f"![{c.stem.replace('_', ' ')}]({CHART_DIR}/{c.name})" for c in charts]
    lines += ["", "## Sampled conversations", ""]
    if not samples:
        lines += ["No conversation was kept.", ""]
    for number, sample in enumerate(samples, 1):
        lines += _sample(number, sample)
    lines += ["Every conversation, with its source chunk, pairs and verdicts: report.html.", ""]
    return "\n".join(lines)


def _sample(number: int, sample: SampledConversation) -> list[str]:
    """One conversation in a code fence longer than any backtick run in it, so its text shows
    as written and no Markdown or HTML in it is rendered."""
    body = "\n\n".join(f"{speaker}: {text}" for speaker, text in sample.turns)
    fence = "`" * max(3, _longest_backticks(body) + 1)
    title = f"### {number}. {sample.source}, chunk {sample.chunk_id} (conversation {sample.id})"
    return [title, "", f"{fence}text", body, fence, ""]


def _longest_backticks(text: str) -> int:
    longest = run = 0
    for char in text:
        run = run + 1 if char == "`" else 0
        longest = max(longest, run)
    return longest
