"""Stage 8: write the datasets, each atomically (temp file + rename), in a stable order.

- master_list.jsonl: one line per conversation with its text, character card, scenario and plan,
  and the QA pairs it was built from with their source file, chunk id and chunk text.
- processed_masterlist.json: the same content as one JSON document, conversations split in turns.
- simplified_data.jsonl: ShareGPT, `{"conversations": [{"from": "system"|"human"|"gpt",
  "value": ...}]}`, human and gpt alternating after the system turn.
- openai_messages.jsonl: the same conversations as OpenAI chat fine-tuning rows,
  `{"messages": [{"role": "system"|"user"|"assistant", "content": ...}]}`.
- chatml.jsonl: the same conversations as ChatML text, `{"text": "<|im_start|>system\\n..."}`.
- qa_pairs.jsonl: every pair that survived validation and repair, flat: question, answer,
  source file, chunk id and chunk text.
- alpaca.jsonl: the same pairs as Alpaca rows, `{"instruction", "input": "", "output"}`.
- duplicates.jsonl (with SYSTEM.DEDUP_THRESHOLD above 0): each near-duplicate conversation or
  pair left out of the files above, with the kept item it duplicates (dedup.py).
Row layouts: dataset_rows.py.

Memory stays flat however many conversations there are: each item is serialized as it arrives
into a scratch SQLite file in OUTPUT (".export.*.tmp", removed afterwards), then read back in
order (id, then arrival) and streamed out row by row. The bytes equal a plain stable sort.
Near-duplicates are decided in that same order, against the same scratch file.
"""

from __future__ import annotations

import os
import sqlite3
import tempfile
from collections.abc import Callable, Iterable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from augmentoolkit.control_flow_functions.dataset_rows import (
    alpaca_row,
    chatml_row,
    conversation_origin,
    conversation_text,
    master_row,
    openai_row,
    qa_row,
    sharegpt_row,
)
from augmentoolkit.control_flow_functions.dedup import (
    DuplicateFilter,
    describe_conversation,
    describe_pair,
)
from augmentoolkit.io_utils import (
    JsonListWriter,
    atomic_text_writer,
    json_list_item,
    jsonl_line,
    write_jsonl_atomic,
)
from augmentoolkit.records import Conversation, QAPair

__all__ = [
    "DATASET_FILES",
    "DUPLICATES_FILE",
    "master_row",
    "openai_row",
    "qa_row",
    "sharegpt_row",
    "write_datasets",
    "write_meta_datagen",
]

CONVERSATION_FILES = (
    "master_list.jsonl",
    "processed_masterlist.json",
    "simplified_data.jsonl",
    "openai_messages.jsonl",
    "chatml.jsonl",
)
PAIR_FILES = ("qa_pairs.jsonl", "alpaca.jsonl")
DATASET_FILES = (*CONVERSATION_FILES, *PAIR_FILES)
DUPLICATES_FILE = "duplicates.jsonl"
Row = tuple[Any, ...]  # (sort key, origin, signature, *the item's line in each file)


@dataclass(frozen=True)
class Table:
    """A scratch table of items of one kind, one text column per file they go to."""

    name: str
    files: tuple[str, ...]
    kind: str  # what dedup calls a removed item
    describe: Callable[[str], dict[str, Any]]  # an item's first line, for duplicates.jsonl


CONVERSATIONS = Table("conversations", CONVERSATION_FILES, "conversation", describe_conversation)
PAIRS = Table("pairs", PAIR_FILES, "question", describe_pair)


def write_datasets(
    conversations: Iterable[Conversation],
    pairs: Iterable[QAPair],
    output: Path,
    dedup: DuplicateFilter | None = None,
) -> list[Path]:
    """Write the dataset files, conversations ordered by plan id and pairs by id; equal ids
    keep their input order. Each input is consumed once, as it is iterated. With `dedup`
    enabled, near-duplicates are left out and listed in duplicates.jsonl (dedup.removed counts
    them); otherwise a duplicates.jsonl of an earlier run is removed."""
    dedup = dedup or DuplicateFilter(0.0)
    paths = [output / name for name in DATASET_FILES]
    output.mkdir(parents=True, exist_ok=True)
    with ExitStack() as stack:
        if dedup.enabled:
            dedup.log = stack.enter_context(atomic_text_writer(output / DUPLICATES_FILE))
            stack.callback(setattr, dedup, "log", None)
        else:
            (output / DUPLICATES_FILE).unlink(missing_ok=True)
        db = stack.enter_context(scratch_db(output))
        _insert_sorted(db, CONVERSATIONS, (_conversation_row(c, dedup) for c in conversations))
        _write_conversation_files(_kept(db, CONVERSATIONS, dedup), paths[: len(CONVERSATION_FILES)])
        _insert_sorted(db, PAIRS, (_pair_row(p, dedup) for p in pairs))
        _write_lines(_kept(db, PAIRS, dedup), paths[len(CONVERSATION_FILES) :])
    return paths


def _conversation_row(conversation: Conversation, dedup: DuplicateFilter) -> Row:
    """Sort key, origin, signature, then the conversation as it appears in each file."""
    master = master_row(conversation)
    processed = {**master, "turns": [t.to_dict() for t in conversation.turns]}
    return (
        conversation.plan.id,
        conversation_origin(conversation),
        dedup.conversation_signature(conversation_text(conversation)),
        jsonl_line(master),
        json_list_item(processed),
        jsonl_line(sharegpt_row(conversation)),
        jsonl_line(openai_row(conversation)),
        jsonl_line(chatml_row(conversation)),
    )


def _pair_row(pair: QAPair, dedup: DuplicateFilter) -> Row:
    signature = dedup.question_signature(pair.question)
    return (
        pair.id,
        pair.chunk.id,
        signature,
        jsonl_line(qa_row(pair)),
        jsonl_line(alpaca_row(pair)),
    )


def _kept(
    db: sqlite3.Connection, table: Table, dedup: DuplicateFilter
) -> Iterator[tuple[str, ...]]:
    """The table's lines in order, without the near-duplicates of earlier kept items."""
    index = dedup.index(db, table.name)
    for seq, origin, signature, *lines in _read_sorted(db, table):
        match = index.check(seq, origin, signature) if index else None
        if match is None:
            yield tuple(lines)
            continue
        query = f"SELECT c0 FROM {table.name} WHERE seq = ?"
        kept = db.execute(query, (match.seq,)).fetchone()[0]
        dedup.record(table.kind, match, table.describe(lines[0]), table.describe(kept))


def _write_conversation_files(rows: Iterable[tuple[str, ...]], paths: list[Path]) -> None:
    with ExitStack() as stack:
        master, processed, *others = (
            stack.enter_context(atomic_text_writer(path)) for path in paths
        )
        processed_list = JsonListWriter(processed)
        for master_line, processed_item, *other_lines in rows:
            master.write(master_line)
            processed_list.add_serialized(processed_item)
            for out, line in zip(others, other_lines, strict=True):
                out.write(line)
        processed_list.close()


def _write_lines(rows: Iterable[tuple[str, ...]], paths: list[Path]) -> None:
    with ExitStack() as stack:
        outs = [stack.enter_context(atomic_text_writer(path)) for path in paths]
        for lines in rows:
            for out, line in zip(outs, lines, strict=True):
                out.write(line)


@contextmanager
def scratch_db(folder: Path, prefix: str = ".export.") -> Iterator[sqlite3.Connection]:
    """A throwaway SQLite file in `folder` for sorting rows on disk, removed afterwards."""
    # The ".*.tmp" name lets remove_stale_temp_files clear it after a killed run.
    handle, name = tempfile.mkstemp(prefix=prefix, suffix=".sqlite.tmp", dir=folder)
    os.close(handle)
    db = sqlite3.connect(name)
    try:
        db.execute("PRAGMA journal_mode=OFF")
        db.execute("PRAGMA synchronous=OFF")
        yield db
    finally:
        db.close()
        Path(name).unlink(missing_ok=True)


def _insert_sorted(db: sqlite3.Connection, table: Table, rows: Iterable[Row]) -> None:
    """Store (key, origin, signature, *lines) rows in `table`, numbered in arrival order,
    indexed for reading."""
    width, name = len(table.files), table.name
    columns = ", ".join(f"c{i} TEXT" for i in range(width))
    db.execute(
        f"CREATE TABLE {name} "
        f"(seq INTEGER PRIMARY KEY, key BLOB, origin TEXT, signature BLOB, {columns})"
    )
    marks = ", ".join("?" * (width + 4))
    # Keys go in as UTF-8 (surrogatepass) bytes: SQLite compares blobs bytewise, and that
    # encoding orders byte strings exactly as Python orders the str code points.
    db.executemany(
        f"INSERT INTO {name} VALUES ({marks})",
        (
            (seq, key.encode("utf-8", "surrogatepass"), *values)
            for seq, (key, *values) in enumerate(rows)
        ),
    )
    db.execute(f"CREATE INDEX {name}_order ON {name} (key, seq)")
    db.commit()


def _read_sorted(db: sqlite3.Connection, table: Table) -> Iterator[Row]:
    """(seq, origin, signature, *lines) by (key, arrival); INDEXED BY walks the index, so
    SQLite never sorts the whole table in memory."""
    columns = ", ".join(f"c{i}" for i in range(len(table.files)))
    yield from db.execute(
        f"SELECT seq, origin, signature, {columns} FROM {table.name} "
        f"INDEXED BY {table.name}_order ORDER BY key, seq"
    )


class RecordStore(Protocol):
    """What meta-datagen reads: the steps' names and each step's records in insertion order."""

    def step_names(self) -> Iterable[str]: ...

    def iter_records(self, step: str) -> Iterable[dict[str, Any]]: ...


def meta_row(record: dict[str, Any]) -> dict[str, Any] | None:
    """One store record as training data, or None for a failed or empty call."""
    if not record.get("ok") or not record.get("completions"):
        return None
    completion = record["completions"][-1]
    prompt = record["prompt"]
    if isinstance(prompt, list):
        return {"messages": [*prompt, {"role": "assistant", "content": completion}]}
    return {"prompt": prompt, "completion": completion}


def write_meta_datagen(store: RecordStore, output: Path) -> list[Path]:
    """Every step's successful prompts and final completions as training data, one JSONL per
    step: chat prompts as `{"messages": [..., {"role": "assistant", ...}]}`, completion prompts
    as `{"prompt": ..., "completion": ...}`."""
    written = []
    for step in sorted(store.step_names(), key=lambda name: f"{name}.jsonl"):
        path = output / f"{step}.jsonl"
        rows = (meta_row(record) for record in store.iter_records(step))
        write_jsonl_atomic(path, (row for row in rows if row is not None))
        written.append(path)
    return written
