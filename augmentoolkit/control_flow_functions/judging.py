"""Stage 2: keep the chunks the model finds worth asking questions about.

One `judge_chunk` call per chunk; the parser reads a suitable/unsuitable verdict. A chunk whose
judgement never parsed is dropped as failed (and stored, so it is not paid for again).
With SYSTEM.GRAPH a PNG bar chart of the outcome is saved; no window is ever opened.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

from augmentoolkit.control_flow_functions.progress import StageOutcome, gather_in_order
from augmentoolkit.generation_functions import grammars
from augmentoolkit.generation_functions.engine_wrapper import Sampling
from augmentoolkit.generation_functions.generation_step import GenerationContext, GenerationStep
from augmentoolkit.generation_functions.parsers import parse_judgement
from augmentoolkit.records import Chunk

JUDGE_CHUNK = GenerationStep(
    "judge_chunk",
    parse_judgement,
    Sampling(0.2, 1.0, 600),
    grammar=grammars.JUDGE_CHUNK,
    variables=frozenset({"chunk", "source"}),
)


def source_line(chunk: Chunk, use_filenames: bool) -> str:
    """How the prompts name a chunk's source. Example: -> 'an untitled document'."""
    return chunk.source.describe() if use_filenames else "an untitled document"


async def judge_chunks(
    ctx: GenerationContext, chunks: list[Chunk], use_filenames: bool
) -> tuple[list[Chunk], list[dict[str, object]], StageOutcome]:
    """Returns the kept chunks, one judgement row per chunk, and the stage's counts."""
    outcome = StageOutcome("judge chunks", items_in=len(chunks))

    async def judge(chunk: Chunk) -> dict[str, object]:
        values = {"chunk": chunk.text, "source": source_line(chunk, use_filenames)}
        result = await JUDGE_CHUNK.run(ctx, values)
        return {"chunk": chunk.to_dict(), "suitable": result.value, "error": result.error}

    rows = await gather_in_order(chunks, judge)
    kept = []
    for chunk, row in zip(chunks, rows, strict=True):
        if row["suitable"] is True:
            kept.append(chunk)
            outcome.kept += 1
        elif row["suitable"] is False:
            outcome.drop("judged unsuitable for questions")
        else:
            outcome.fail(f"judgement unreadable: {row['error']}")
    return kept, rows, outcome


def save_judgement_chart(verdicts: Mapping[str, int], path: Path) -> None:
    """Bar chart of suitable / unsuitable / failed chunks, saved as PNG with the Agg backend.
    `verdicts` counts "worthy", "not worthy" and "no verdict" (the run report's labels)."""
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib import pyplot as plt

    counts = {
        "suitable": verdicts.get("worthy", 0),
        "unsuitable": verdicts.get("not worthy", 0),
        "no verdict": verdicts.get("no verdict", 0),
    }
    figure, axes = plt.subplots(figsize=(5, 3.5))
    axes.bar(list(counts), list(counts.values()), color=["#4c956c", "#d1495b", "#999999"])
    axes.set_ylabel("chunks")
    axes.set_title("Chunks judged worth asking about")
    figure.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, dpi=100)
    plt.close(figure)
