"""The run report's charts, PNG files in OUTPUT/report/ (matplotlib, Agg backend, never a window):
chunk token lengths, judged-worthy share, QA pairs per chunk, pass rate of each validation
check, conversation turns, and the lengths of the dataset's questions and answers. Drawn from
`ChartCounts` alone; redrawn only when those counts change."""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Any

from augmentoolkit.io_utils import write_text_atomic
from augmentoolkit.report_counts import ChartCounts

CHART_DIR = "report"
CHART_NAMES = (
    "chunk_tokens.png",
    "judged_worthy.png",
    "pairs_per_chunk.png",
    "check_pass_rates.png",
    "conversation_turns.png",
    "qa_lengths.png",
)


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
    save("qa_lengths.png", _qa_lengths(counts), "Length of the kept QA pairs", "words", "pairs")
    return charts


def _qa_lengths(counts: ChartCounts) -> Any:
    """Questions and answers as two overlaid histograms on shared bins."""

    def draw(ax: Any) -> None:
        top = max([*counts.question_words, *counts.answer_words, 1])
        bins = range(0, top + 2, max(1, (top + 1) // 20 + 1))
        for counter, label in (
            (counts.question_words, "questions"),
            (counts.answer_words, "answers"),
        ):
            values, weights = hist_data(counter)
            ax.hist(values, weights=weights, bins=bins, alpha=0.6, label=label)
        ax.legend()

    return draw
