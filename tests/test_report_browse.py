"""report.html's lists, read from real stage folders: each conversation gets its chunk, its pairs
and every pair stage's verdict on them (the checks a regenerated pair failed first included),
dropped pairs come with their reasons, both lists stop at their limits, and reading stops at
the chunk that fills the list of conversations."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

from augmentoolkit.records import Chunk, Conversation, ConversationPlan, QAPair, SourceInfo, Turn
from augmentoolkit.report_browse import collect_browse
from augmentoolkit.stage_folders import StageFolders
from augmentoolkit.stages import STAGES, Stage, stage_named

Row = dict[str, Any]
CHUNKS = 10


def chunk_rows(number: int) -> dict[str, list[Row]]:
    """One chunk's rows: two pairs, the second dropped by validation; the first failed a check
    once, was regenerated, then kept and reworded by repair, and is in one conversation."""
    chunk = Chunk(f"c{number}", SourceInfo(f"f{number % 3}.txt", "T"), number, f"text {number}", 5)
    kept = QAPair(f"c{number}-0:regen0", chunk, f"question {number}", f"answer {number}")
    lost = QAPair(f"c{number}-1", chunk, f"lost {number}", "x")
    history = [{"question": "first try", "problem": "check_question: vague"}]
    plan = ConversationPlan(f"conv{number}", (kept,), assistant_mode=True)
    turns = (Turn("User", "human", kept.question), Turn("AI", "gpt", kept.answer))
    return {
        "validate pairs": [
            {"pair": kept.to_dict(), "kept": True, "history": history},
            {"pair": lost.to_dict(), "kept": False, "history": [{"problem": "grounding: no"}]},
        ],
        "repair context": [{"pair": kept.to_dict(), "verdict": "reworded"}],
        "write conversations": [Conversation(plan, turns, "raw").to_dict()],
    }


class CountingFolders(StageFolders):
    """Stage folders that count the chunk rows handed out."""

    handed = 0

    def chunks_of(self, stage: Stage) -> Iterator[tuple[int, str, list[Row]]]:
        for entry in super().chunks_of(stage):
            CountingFolders.handed += 1
            yield entry


def folders(output: Path) -> CountingFolders:
    opened = CountingFolders(output, STAGES, "test")
    for seq in range(CHUNKS):
        for name, rows in chunk_rows(seq).items():
            opened.append(stage_named(name), seq, f"c{seq}", rows)
    return opened


def test_each_conversation_comes_with_its_chunk_pairs_and_verdicts(tmp_path: Path) -> None:
    opened = folders(tmp_path)
    browse = collect_browse(opened, STAGES)
    opened.close()
    assert len(browse.conversations) == CHUNKS and len(browse.dropped) == CHUNKS
    first = browse.conversations[0]
    assert (first.source, first.chunk_id, first.chunk) == ("f0.txt", "c0", "text 0")
    assert first.turns == (("User", "human", "question 0"), ("AI", "gpt", "answer 0"))
    (pair,) = first.pairs
    assert pair.verdicts == (
        "validate pairs: kept (check_question: vague (question: first try))",
        "repair context: kept (verdict: reworded)",
    )
    lost = browse.dropped[0]
    assert (lost.question, lost.stage, lost.reasons) == (
        "lost 0",
        "validate pairs",
        ("grounding: no",),
    )


def test_the_lists_are_bounded_and_reading_stops(tmp_path: Path) -> None:
    opened = folders(tmp_path)
    CountingFolders.handed = 0
    browse = collect_browse(opened, STAGES, limit=3, dropped_limit=2)
    assert [c.id for c in browse.conversations] == ["conv0", "conv1", "conv2"]
    assert [d.question for d in browse.dropped] == ["lost 0", "lost 1"]
    # three stages read; heapq.merge reads one chunk ahead per stage at most
    assert CountingFolders.handed <= 3 * (3 + 1)
    assert collect_browse(opened, STAGES, limit=0).conversations == []
    opened.close()
