"""The datasets in the original Augmentoolkit's shapes, for scripts written against them
(SYSTEM.OUTPUT_SHAPE: original). Written to OUTPUT/original/, beside this version's files:

- master_list.jsonl: per conversation one 5-item list, [conversation, character card, scenario,
  scenario plan, qa tuples]; the conversation is "Name: message" lines, each qa tuple is
  [question, answer, chunk text, source name]. Assistant mode fills items 1-3 with the
  original's fixed "AI Assistant", "A conversation between a helpful AI Assistant, and a user."
  and "N/A".
- processed_master_list.json: one JSON list of the same lists, item 0 split into its
  "Name: message" strings.
- simplified_data.jsonl: ShareGPT rows: the system turn (the character card, or the
  original's assistant system prompt), then the turns without names, from gpt, human, gpt, ...

The original's conversations opened with a line by the expert; ours open with the first
question, so an opener line by the expert (OPENERS) comes first, as the original's did. A
message's own line breaks become spaces, so every turn is one "Name: message" line. The files
are ASCII JSON, as the original wrote them. Conversations come in this version's order (by plan
id), streamed through a scratch SQLite file, so memory stays flat.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterable, Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import Any, TextIO

from augmentoolkit.control_flow_functions.export import scratch_db
from augmentoolkit.io_utils import atomic_text_writer
from augmentoolkit.records import Conversation

FOLDER = "original"  # under OUTPUT
FILES = ("master_list.jsonl", "processed_master_list.json", "simplified_data.jsonl")
ASSISTANT_SETTING = (
    "AI Assistant",
    "A conversation between a helpful AI Assistant, and a user.",
    "N/A",
)  # items 1-3 of an assistant-mode conversation, as the original wrote them
ASSISTANT_SYSTEM = "You are a helpful, unbiased AI assistant."
ASSISTANT_OPENER = "Hello! How can I help you today?"
CHARACTER_OPENER = "Hello, {asker}. What would you like to know?"


def opener(conversation: Conversation) -> tuple[str, str]:
    """The expert's opening line: (name, message). Example: ('AI Assistant', 'Hello! ...')."""
    plan = conversation.plan
    if plan.assistant_mode:
        return plan.primary_name, ASSISTANT_OPENER
    return plan.primary_name, CHARACTER_OPENER.format(asker=plan.secondary_name)


def dialogue(conversation: Conversation) -> list[tuple[str, str]]:
    """(name, message) per turn, the expert's opener first, each message on one line."""
    turns = [(turn.speaker, " ".join(turn.text.split())) for turn in conversation.turns]
    return [opener(conversation), *turns]


def master_item(conversation: Conversation) -> list[Any]:
    """The original's 5-item list for one conversation."""
    plan = conversation.plan
    text = "\n".join(f"{name}: {message}" for name, message in dialogue(conversation))
    setting = (
        ASSISTANT_SETTING
        if plan.assistant_mode
        else (plan.character_card, plan.scenario, plan.scenario_plan)
    )
    tuples = [
        [pair.question, pair.answer, pair.chunk.text, source_name(pair.chunk.source.filename)]
        for pair in plan.pairs
    ]
    return [text, *setting, tuples]


def source_name(filename: str) -> str:
    """The input file's name without its suffix. Example: 'books/war.txt' -> 'books/war'."""
    path = Path(filename)
    return path.with_suffix("").as_posix() if path.suffix else path.as_posix()


def processed_item(conversation: Conversation) -> list[Any]:
    item = master_item(conversation)
    return [[f"{name}: {message}" for name, message in dialogue(conversation)], *item[1:]]


def sharegpt_item(conversation: Conversation) -> dict[str, Any]:
    plan = conversation.plan
    system = ASSISTANT_SYSTEM if plan.assistant_mode else plan.character_card
    turns = [{"from": "system", "value": system}]
    for index, (_, message) in enumerate(dialogue(conversation)):
        turns.append({"from": "gpt" if index % 2 == 0 else "human", "value": message})
    return {"conversations": turns}


def write_original_shapes(
    conversations: Iterable[Conversation], output: Path, duplicates: Path | None = None
) -> list[Path]:
    """Write the three files under output/original/, ordered by plan id (then arrival),
    leaving out the conversations the export's near-duplicate removal listed in `duplicates`
    (OUTPUT/duplicates.jsonl, when there is one), so they hold this version's conversations."""
    folder = output / FOLDER
    folder.mkdir(parents=True, exist_ok=True)
    paths = [folder / name for name in FILES]
    with _scratch(output) as db:
        db.executemany(
            "INSERT INTO rows VALUES (?, ?, ?, ?, ?)",
            (_row(seq, conversation) for seq, conversation in enumerate(conversations)),
        )
        db.execute("CREATE INDEX rows_order ON rows (key, seq)")
        db.executemany(
            "INSERT OR IGNORE INTO removed VALUES (?)", ((_key(i),) for i in _removed(duplicates))
        )
        with ExitStack() as stack:
            master, processed, sharegpt = (
                stack.enter_context(atomic_text_writer(path)) for path in paths
            )
            _write(db, master, processed, sharegpt)
    return paths


def _key(plan_id: str) -> bytes:
    return plan_id.encode("utf-8", "surrogatepass")  # SQLite's bytewise order = str order


def _removed(duplicates: Path | None) -> Iterator[str]:
    """Plan ids of the conversations a duplicates.jsonl lists as removed."""
    if duplicates is None or not duplicates.is_file():
        return
    with open(duplicates, encoding="utf-8") as lines:
        for line in lines:
            row = json.loads(line)
            if row.get("kind") == "conversation":
                yield str(row["removed"]["id"])


def _row(seq: int, conversation: Conversation) -> tuple[int, bytes, str, str, str]:
    return (
        seq,
        _key(conversation.plan.id),
        json.dumps(master_item(conversation)),
        json.dumps(processed_item(conversation)),
        json.dumps(sharegpt_item(conversation)),
    )


def _write(db: sqlite3.Connection, master: TextIO, processed: TextIO, sharegpt: TextIO) -> None:
    """Stream the rows in order; the processed list is one line, as json.dump writes it."""
    processed.write("[")
    query = (
        "SELECT master, processed, sharegpt FROM rows INDEXED BY rows_order "
        "WHERE key NOT IN (SELECT key FROM removed) ORDER BY key, seq"
    )
    for count, (master_line, processed_json, sharegpt_line) in enumerate(db.execute(query)):
        master.write(master_line + "\n")
        processed.write((", " if count else "") + processed_json)
        sharegpt.write(sharegpt_line + "\n")
    processed.write("]")


@contextmanager
def _scratch(folder: Path) -> Iterator[sqlite3.Connection]:
    """The export's scratch SQLite file (".original.*.tmp") with this writer's tables."""
    with scratch_db(folder, ".original.") as db:
        db.execute(
            "CREATE TABLE rows (seq INTEGER PRIMARY KEY, key BLOB, master TEXT, "
            "processed TEXT, sharegpt TEXT)"
        )
        db.execute("CREATE TABLE removed (key BLOB PRIMARY KEY)")
        yield db
