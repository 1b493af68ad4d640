"""What report.html lists: the first BROWSE_CONVERSATIONS conversations in chunk order, each with
its source chunk, its QA pairs and every verdict the pair stages gave them, and up to
BROWSE_DROPPED pairs that a pair stage dropped, with why.

Read from the stage folders in one pass, chunk by chunk (the stages' rows of one chunk at a
time), stopping once the list of conversations is full: memory holds one chunk's rows and the
bounded lists, however large the corpus. The pair stages are the rows of the stage table that
take pairs and give pairs (validation, repair); the conversations come from the last stage that
gives conversations, as in the export.
"""

from __future__ import annotations

import heapq
from collections.abc import Iterator
from dataclasses import dataclass, field
from itertools import groupby
from typing import TYPE_CHECKING, Any

from augmentoolkit.records import Conversation, QAPair

if TYPE_CHECKING:  # the stage table imports the report's counters: no import cycle at run time
    from augmentoolkit.stage_folders import StageFolders
    from augmentoolkit.stages import Stage

BROWSE_CONVERSATIONS = 200  # conversations listed in report.html
BROWSE_DROPPED = 200  # dropped pairs listed in report.html
Row = dict[str, Any]


@dataclass(frozen=True)
class PairView:
    question: str
    answer: str
    verdicts: tuple[str, ...]  # one line per stage that judged the pair, with its notes


@dataclass(frozen=True)
class ConversationView:
    id: str
    source: str
    chunk_id: str
    chunk: str
    pairs: tuple[PairView, ...]
    turns: tuple[tuple[str, str, str], ...]  # (speaker, role, text)


@dataclass(frozen=True)
class DroppedView:
    source: str
    chunk_id: str
    chunk: str
    question: str
    answer: str
    stage: str
    reasons: tuple[str, ...]


@dataclass
class Browse:
    conversations: list[ConversationView] = field(default_factory=list)
    dropped: list[DroppedView] = field(default_factory=list)
    limit: int = BROWSE_CONVERSATIONS
    dropped_limit: int = BROWSE_DROPPED


def collect_browse(
    folders: StageFolders,
    stages: tuple[Stage, ...],
    limit: int = BROWSE_CONVERSATIONS,
    dropped_limit: int = BROWSE_DROPPED,
) -> Browse:
    """The conversations and dropped pairs report.html lists, read from the stage folders."""
    browse = Browse(limit=limit, dropped_limit=dropped_limit)
    pair_stages = [s for s in stages if s.consumes is QAPair and s.produces is QAPair]
    writers = [s for s in stages if s.produces is Conversation]
    if not writers or not limit:
        return browse
    read = [*pair_stages, writers[-1]]
    for rows_by_stage in _chunk_rows(folders, read):
        verdicts: dict[str, list[str]] = {}
        for stage in pair_stages:
            _judge_pairs(stage, rows_by_stage.get(stage.name, []), verdicts, browse)
        for row in rows_by_stage.get(writers[-1].name, []):
            browse.conversations.append(_conversation(row, verdicts))
            if len(browse.conversations) >= limit:
                return browse
    return browse


def _tagged(folders: StageFolders, stage: Stage) -> Iterator[tuple[int, str, list[Row]]]:
    for seq, _, rows in folders.chunks_of(stage):
        yield seq, stage.name, rows


def _chunk_rows(folders: StageFolders, stages: list[Stage]) -> Iterator[dict[str, list[Row]]]:
    """Per chunk, in chunk order: each stage's rows for it, by stage name."""
    merged = heapq.merge(*(_tagged(folders, s) for s in stages), key=lambda e: e[0])
    for _, entries in groupby(merged, key=lambda e: e[0]):
        yield {name: rows for _, name, rows in entries}


def _judge_pairs(
    stage: Stage, rows: list[Row], verdicts: dict[str, list[str]], browse: Browse
) -> None:
    """Note the stage's verdict on each pair of one chunk; list the pairs it dropped."""
    kept = {pair.id for pair in stage.kept(rows)}
    for row in rows:
        pair = row["pair"]
        notes = _notes(row)
        if pair["id"] in kept:
            verdicts.setdefault(pair["id"], []).append(_line(stage.name, "kept", notes))
        elif len(browse.dropped) < browse.dropped_limit:
            chunk = pair["chunk"]
            browse.dropped.append(
                DroppedView(
                    pair["source_file"],
                    pair["chunk_id"],
                    chunk["text"],
                    pair["question"],
                    pair["answer"],
                    stage.name,
                    tuple(notes) or ("no reason recorded",),
                )
            )


def _notes(row: Row) -> list[str]:
    """What a pair stage's row says about its pair: each failed check (with the question it
    failed on, when that question was later rewritten), a verdict, an error."""
    notes = []
    for entry in row.get("history", []):
        problem = str(entry.get("problem", ""))
        rejected = entry.get("question")
        notes.append(f"{problem} (question: {rejected})" if rejected else problem)
    if row.get("verdict"):
        notes.append(f"verdict: {row['verdict']}")
    if row.get("error"):
        notes.append(f"error: {row['error']}")
    return notes


def _line(stage: str, kept: str, notes: list[str]) -> str:
    return f"{stage}: {kept}" + (f" ({'; '.join(notes)})" if notes else "")


def _conversation(row: Row, verdicts: dict[str, list[str]]) -> ConversationView:
    plan = row["plan"]
    first = plan["pairs"][0]
    pairs = tuple(
        PairView(p["question"], p["answer"], tuple(verdicts.get(p["id"], [])))
        for p in plan["pairs"]
    )
    turns = tuple((str(t["speaker"]), str(t["role"]), str(t["text"])) for t in row["turns"])
    chunk = first["chunk"]["text"]
    return ConversationView(
        plan["id"], first["source_file"], first["chunk_id"], chunk, pairs, turns
    )
