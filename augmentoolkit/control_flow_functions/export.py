"""Stage 8: write the datasets, each atomically (temp file + rename), in a stable order.

- master_list.jsonl: one line per conversation with its text, character card, scenario and plan,
  and the QA pairs it was built from with their source file, chunk id and chunk text.
- processed_masterlist.json: the same content as one JSON document, conversations split in turns.
- simplified_data.jsonl: ShareGPT, `{"conversations": [{"from": "system"|"human"|"gpt",
  "value": ...}]}`, human and gpt alternating after the system turn.
- openai_messages.jsonl: the same conversations as OpenAI chat fine-tuning rows,
  `{"messages": [{"role": "system"|"user"|"assistant", "content": ...}]}`.
- qa_pairs.jsonl: every pair that survived validation and repair, flat: question, answer,
  source file, chunk id and chunk text.

Memory stays flat however many conversations there are: each item is serialized as it arrives
into a scratch SQLite file in OUTPUT (".export.*.tmp", removed afterwards), then read back in
order (id, then arrival) and streamed out row by row. The bytes equal a plain stable sort.
"""

from __future__ import annotations

import os
import sqlite3
import tempfile
from collections.abc import Iterable, Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import Any, Protocol

from augmentoolkit.io_utils import (
    JsonListWriter,
    atomic_text_writer,
    json_list_item,
    jsonl_line,
    write_jsonl_atomic,
)
from augmentoolkit.records import Conversation, QAPair

ASSISTANT_SYSTEM_PROMPT = (
    "You are a helpful AI assistant. Answer the user's questions accurately and in detail."
)
DATASET_FILES = (
    "master_list.jsonl",
    "processed_masterlist.json",
    "simplified_data.jsonl",
    "openai_messages.jsonl",
    "qa_pairs.jsonl",
)
OPENAI_ROLES = {"system": "system", "human": "user", "gpt": "assistant"}


def system_prompt(conversation: Conversation) -> str:
    plan = conversation.plan
    if plan.assistant_mode:
        return ASSISTANT_SYSTEM_PROMPT
    return (
        f"{plan.character_card.strip()}\n\nScenario: {plan.scenario.strip()}\n\n"
        f"You are {plan.primary_name}. Stay in character and answer {plan.secondary_name}."
    )


def master_row(conversation: Conversation) -> dict[str, Any]:
    plan = conversation.plan
    return {
        "id": plan.id,
        "conversation": conversation.raw_text,
        "character_card": plan.character_card,
        "scenario": plan.scenario,
        "scenario_plan": plan.scenario_plan,
        "card_plan": plan.card_plan,
        "traits": list(plan.traits),
        "assistant_mode": plan.assistant_mode,
        "qa_pairs": [
            {
                "question": pair.question,
                "answer": pair.answer,
                "source_file": pair.chunk.source.filename,
                "source": pair.chunk.source.describe(),
                "chunk_id": pair.chunk.id,
                "chunk": pair.chunk.text,
            }
            for pair in plan.pairs
        ],
    }


def sharegpt_row(conversation: Conversation) -> dict[str, Any]:
    turns = [{"from": "system", "value": system_prompt(conversation)}]
    turns += [{"from": turn.role, "value": turn.text} for turn in conversation.turns]
    return {"conversations": turns}


def openai_row(conversation: Conversation) -> dict[str, Any]:
    turns = sharegpt_row(conversation)["conversations"]
    return {"messages": [{"role": OPENAI_ROLES[t["from"]], "content": t["value"]} for t in turns]}


def qa_row(pair: QAPair) -> dict[str, Any]:
    return {
        "question": pair.question,
        "answer": pair.answer,
        "source_file": pair.chunk.source.filename,
        "chunk_id": pair.chunk.id,
        "chunk_text": pair.chunk.text,
    }


class RecordStore(Protocol):
    """What meta-datagen reads: the steps' names and each step's records in insertion order."""

    def step_names(self) -> Iterable[str]: ...

    def iter_records(self, step: str) -> Iterable[dict[str, Any]]: ...


def write_datasets(
    conversations: Iterable[Conversation], pairs: Iterable[QAPair], output: Path
) -> list[Path]:
    """Write the five dataset files, conversations ordered by plan id and pairs by id; equal ids
    keep their input order. Each input is consumed once, as it is iterated."""
    paths = [output / name for name in DATASET_FILES]
    output.mkdir(parents=True, exist_ok=True)
    with _scratch_db(output) as db:
        _insert_sorted(db, "conversations", 4, (_conversation_rows(c) for c in conversations))
        _write_conversation_files(db, paths[:4])
        _insert_sorted(db, "pairs", 1, ((p.id, jsonl_line(qa_row(p))) for p in pairs))
        with atomic_text_writer(paths[4]) as out:
            for (line,) in _read_sorted(db, "pairs", 1):
                out.write(line)
    return paths


def _conversation_rows(conversation: Conversation) -> tuple[str, str, str, str, str]:
    """Sort key, then the conversation as it appears in each of the four conversation files."""
    master = master_row(conversation)
    processed = {**master, "turns": [t.to_dict() for t in conversation.turns]}
    return (
        conversation.plan.id,
        jsonl_line(master),
        json_list_item(processed),
        jsonl_line(sharegpt_row(conversation)),
        jsonl_line(openai_row(conversation)),
    )


def _write_conversation_files(db: sqlite3.Connection, paths: list[Path]) -> None:
    with ExitStack() as stack:
        master, processed, sharegpt, openai = (
            stack.enter_context(atomic_text_writer(path)) for path in paths
        )
        processed_list = JsonListWriter(processed)
        for master_line, processed_item, sharegpt_line, openai_line in _read_sorted(
            db, "conversations", 4
        ):
            master.write(master_line)
            processed_list.add_serialized(processed_item)
            sharegpt.write(sharegpt_line)
            openai.write(openai_line)
        processed_list.close()


@contextmanager
def _scratch_db(folder: Path) -> Iterator[sqlite3.Connection]:
    # The ".*.tmp" name lets remove_stale_temp_files clear it after a killed run.
    handle, name = tempfile.mkstemp(prefix=".export.", suffix=".sqlite.tmp", dir=folder)
    os.close(handle)
    db = sqlite3.connect(name)
    try:
        db.execute("PRAGMA journal_mode=OFF")
        db.execute("PRAGMA synchronous=OFF")
        yield db
    finally:
        db.close()
        Path(name).unlink(missing_ok=True)


def _insert_sorted(
    db: sqlite3.Connection, table: str, width: int, rows: Iterable[tuple[str, ...]]
) -> None:
    """Store (key, *columns) rows in `table`, numbered in arrival order, indexed for reading."""
    columns = ", ".join(f"c{i} TEXT" for i in range(width))
    db.execute(f"CREATE TABLE {table} (seq INTEGER PRIMARY KEY, key BLOB, {columns})")
    marks = ", ".join("?" * (width + 2))
    # Keys go in as UTF-8 (surrogatepass) bytes: SQLite compares blobs bytewise, and that
    # encoding orders byte strings exactly as Python orders the str code points.
    db.executemany(
        f"INSERT INTO {table} VALUES ({marks})",
        (
            (seq, key.encode("utf-8", "surrogatepass"), *values)
            for seq, (key, *values) in enumerate(rows)
        ),
    )
    db.execute(f"CREATE INDEX {table}_order ON {table} (key, seq)")
    db.commit()


def _read_sorted(db: sqlite3.Connection, table: str, width: int) -> Iterator[tuple[str, ...]]:
    """The stored columns by (key, arrival); INDEXED BY walks the index, so SQLite never sorts
    the whole table in memory."""
    columns = ", ".join(f"c{i}" for i in range(width))
    yield from db.execute(
        f"SELECT {columns} FROM {table} INDEXED BY {table}_order ORDER BY key, seq"
    )


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
