"""Store: the record of every finished model call, keyed by content, in one SQLite file.

OUTPUT/store/store.sqlite3 holds one row per finished call: a success with its completion, or a
final failure with the reasons of each attempt. Each `put` is its own committed transaction in
WAL mode, so a killed process loses at most the call in flight. Nothing is loaded at open: a
`get` is one primary-key lookup, so opening costs the same for a thousand records or ten
million. Putting a key again replaces the record (the later one wins).

Records are stored as zlib-compressed JSON. Each step gets a preset dictionary (zlib `zdict`)
made from the first record put for it, since a step's prompts share their template and
examples; the dictionary is kept in the database and each row names the one it was compressed
with, so every row can always be read back. A record reads back equal to the dict that was put.

Stores written by earlier releases (one `STEP.jsonl` per step) are imported on open
(store_migration.py), streamed
line by line in batched transactions with INSERT OR IGNORE (a key already stored keeps its
record, and a key twice in one file its first line), then the JSONL files are deleted; a crash
part-way leaves them in place and the next open imports them again, to the same result.

Several writers (the Ray executor's shards, each retry attempt of one) each write their own file
in the same folder, `shard-K.ATTEMPT.sqlite3`, so no file ever has two writers (SQLite locking and
WAL's shared memory are not safe on network filesystems). A store reads every other file of its
folder that is sealed (switched back to a rollback journal, so it can be opened `immutable`,
without locks): `get` looks in its own file first, then in the others; counts and listings span
them all. A file is sealed when its writer is known to be gone: the run that holds the output
lock seals every file but its own at open, and a retry attempt seals its shard's earlier ones.

The key is a hash of step name + rendered prompt + model + sampling settings (+ a salt for
repeated votes), so a rerun pays for nothing already done and a changed prompt reruns exactly
the calls it changes. Raw prompts and completions are kept for meta-datagen.
Does not decide what to retry; GenerationStep does. Not meant to be shared between threads.
"""

from __future__ import annotations

import hashlib
import json
import logging
import sqlite3
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Any
from urllib.parse import quote

from augmentoolkit.generation_functions.store_files import (
    is_sealed,
    seal_files,
    seal_other_files,
    sealed_files,
)
from augmentoolkit.generation_functions.store_migration import migrate_jsonl

__all__ = ["CallUsage", "FILE_NAME", "Store", "StepStore", "call_key", "is_sealed", "seal_files"]

log = logging.getLogger(__name__)

FILE_NAME = "store.sqlite3"
SCHEMA_VERSION = 1
ZDICT_LIMIT = 32 * 1024  # zlib's window: a longer dictionary is never referenced

SCHEMA = """
CREATE TABLE IF NOT EXISTS steps (
    id INTEGER PRIMARY KEY,
    name TEXT NOT NULL UNIQUE,
    dict_id INTEGER
);
CREATE TABLE IF NOT EXISTS dicts (id INTEGER PRIMARY KEY, data BLOB NOT NULL);
CREATE TABLE IF NOT EXISTS records (
    id INTEGER PRIMARY KEY,
    step INTEGER NOT NULL,
    key TEXT NOT NULL,
    dict_id INTEGER NOT NULL,
    data BLOB NOT NULL,
    model TEXT NOT NULL DEFAULT '',
    requests INTEGER NOT NULL DEFAULT 0,
    prompt_tokens INTEGER NOT NULL DEFAULT 0,
    completion_tokens INTEGER NOT NULL DEFAULT 0,
    UNIQUE (step, key)
);
CREATE INDEX IF NOT EXISTS records_order ON records (step, id);
"""


def call_key(step: str, prompt_text: str, model: str, sampling: str, salt: str = "") -> str:
    """Content hash of one call. Example: call_key("judge", "p", "m", "t=0") -> 64 hex chars."""
    payload = json.dumps([step, prompt_text, model, sampling, salt], ensure_ascii=False)
    return hashlib.sha256(payload.encode("utf-8")).hexdigest()


def _compress(data: bytes, zdict: bytes) -> bytes:
    packer = zlib.compressobj(zdict=zdict)
    return packer.compress(data) + packer.flush()


def _decompress(blob: bytes, zdict: bytes) -> bytes:
    unpacker = zlib.decompressobj(zdict=zdict)
    return unpacker.decompress(blob) + unpacker.flush()


@dataclass(frozen=True)
class CallUsage:
    """What producing one record (or many) cost: requests and tokens."""

    requests: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0


class StepStore:
    """The records of one step: get by key, put (replacing), and compression with its zdict."""

    def __init__(self, store: Store, name: str) -> None:
        self.store = store
        self.name = name
        db = store.db
        if not store.read_only:
            db.execute("INSERT OR IGNORE INTO steps (name) VALUES (?)", (name,))
        row = db.execute("SELECT id, dict_id FROM steps WHERE name = ?", (name,)).fetchone()
        self.id: int = row[0] if row else -1  # -1: a sealed file that never saw this step
        self.dict_id: int | None = row[1] if row else None

    def get(self, key: str) -> dict[str, Any] | None:
        """The record of `key`: from this file, else from the first sealed file that has it."""
        found = self.get_here(key)
        for other in self.store.others:
            if found is not None:
                break
            found = other.step(self.name).get_here(key)
        return found

    def get_here(self, key: str) -> dict[str, Any] | None:
        row = self.store.db.execute(
            "SELECT dict_id, data FROM records WHERE step = ? AND key = ?", (self.id, key)
        ).fetchone()
        return None if row is None else self.store.decode(row[0], row[1])

    def put(self, record: dict[str, Any], usage: CallUsage | None = None) -> None:
        """Store one record (must hold "key"), replacing any with its key; committed at once.
        `usage` is what producing it cost (requests and tokens of every try)."""
        dict_id, blob = self.encode(json.dumps(record, ensure_ascii=False).encode("utf-8"))
        spent = usage or CallUsage()
        self.store.db.execute(
            "INSERT OR REPLACE INTO records (step, key, dict_id, data, model, requests, "
            "prompt_tokens, completion_tokens) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            (
                self.id,
                record["key"],
                dict_id,
                blob,
                str(record.get("model", "")),
                spent.requests,
                spent.prompt_tokens,
                spent.completion_tokens,
            ),
        )

    def encode(self, data: bytes) -> tuple[int, bytes]:
        """(dict id, compressed data); the step's first record becomes its dictionary."""
        if self.dict_id is None:
            self.dict_id = self.store.add_dict(self.id, data[-ZDICT_LIMIT:])
        return self.dict_id, _compress(data, self.store.zdict(self.dict_id))


class Store:
    """The SQLite store of one run's OUTPUT/store folder: its own file (written) and the sealed
    files of other writers (read). Usable as a context manager.

    `single_writer` keeps WAL's index in this process's memory instead of a shared-memory file
    (SQLite's exclusive locking mode), which is what a file on a network filesystem needs;
    `read_only` opens a sealed file as it is, without locks.
    """

    def __init__(
        self,
        folder: Path,
        name: str = FILE_NAME,
        *,
        single_writer: bool = False,
        read_only: bool = False,
    ) -> None:
        self.folder = folder
        self.path = folder / name
        self.read_only = read_only
        self.others: list[Store] = []
        self._steps: dict[str, StepStore] = {}
        self._zdicts: dict[int, bytes] = {}
        self._closed = False
        if read_only:
            uri = f"file:{quote(str(self.path))}?immutable=1"
            self.db = sqlite3.connect(uri, uri=True, isolation_level=None)
            return
        folder.mkdir(parents=True, exist_ok=True)
        # Autocommit: each statement outside an explicit BEGIN commits on its own.
        self.db = sqlite3.connect(self.path, isolation_level=None)
        if single_writer:
            self.db.execute("PRAGMA locking_mode=EXCLUSIVE")
        self.db.execute("PRAGMA journal_mode=WAL")
        self.db.execute("PRAGMA synchronous=NORMAL")
        try:
            self._create_schema()
            migrate_jsonl(self)  # a store of the first releases, if the folder holds one
            self.others = self._open_others()
        except BaseException:
            self.close()
            raise

    @property
    def files(self) -> list[Store]:
        """This file and the sealed ones it reads, in lookup order."""
        return [self, *self.others]

    def read_other_writers(self) -> None:
        """Seal and read every other file of the folder now (their writers must be gone: the
        Ray driver calls it once its workers have finished)."""
        for other in self.others:
            other.close()
        seal_other_files(self.folder, self.path.name)
        self.others = self._open_others()

    def _open_others(self) -> list[Store]:
        """The sealed files of the folder's other writers, read-only, by name."""
        own = self.path.name
        return [Store(self.folder, p.name, read_only=True) for p in sealed_files(self.folder, own)]

    def seal(self) -> None:
        """Switch this file to a rollback journal, so other processes can read it without
        locks; nothing may be written to it afterwards in this run."""
        self.db.execute("PRAGMA journal_mode=DELETE")

    def step(self, name: str) -> StepStore:
        if self._closed:
            raise ValueError(f"the store in {self.folder} is closed")
        if name not in self._steps:
            self._steps[name] = StepStore(self, name)
        return self._steps[name]

    def step_names(self) -> list[str]:
        """Every step ever opened in this store's files, records or not, sorted."""
        query = "SELECT name FROM steps"
        return sorted({name for file in self.files for (name,) in file.db.execute(query)})

    def iter_records(self, step: str) -> Iterator[dict[str, Any]]:
        """One step's records, file by file, each file's in the order they were put (a
        replaced one moves to the end), read one row at a time."""
        for file in self.files:
            rows = file.db.execute(
                "SELECT r.dict_id, r.data FROM records AS r INDEXED BY records_order "
                "JOIN steps AS s ON s.id = r.step WHERE s.name = ? ORDER BY r.id",
                (step,),
            )
            for dict_id, blob in rows:
                yield file.decode(dict_id, blob)

    def count(self) -> int:
        """Records of all steps, in every file."""
        query = "SELECT count(*) FROM records"
        return sum(int(file.db.execute(query).fetchone()[0]) for file in self.files)

    def spent(self) -> dict[str, CallUsage]:
        """What every stored call cost, per model: all the runs that built this folder (calls
        migrated from a JSONL store count as requests only: it kept no token counts)."""
        totals: dict[str, CallUsage] = {}
        for file in self.files:
            rows = file.db.execute(
                "SELECT model, sum(max(requests, 1)), sum(prompt_tokens), "
                "sum(completion_tokens) FROM records GROUP BY model"
            )
            for model, r, p, c in rows:
                was = totals.get(model, CallUsage())
                totals[model] = CallUsage(
                    was.requests + r, was.prompt_tokens + p, was.completion_tokens + c
                )
        return dict(sorted(totals.items()))

    def close(self) -> None:
        if not self._closed:
            self._closed = True
            for other in self.others:
                other.close()
            self.db.close()

    def __enter__(self) -> Store:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        trace: TracebackType | None,
    ) -> None:
        self.close()

    def decode(self, dict_id: int, blob: bytes) -> dict[str, Any]:
        record: dict[str, Any] = json.loads(_decompress(blob, self.zdict(dict_id)))
        return record

    def zdict(self, dict_id: int) -> bytes:
        if dict_id not in self._zdicts:
            row = self.db.execute("SELECT data FROM dicts WHERE id = ?", (dict_id,)).fetchone()
            if row is None:
                raise ValueError(f"{self.folder / FILE_NAME}: dictionary {dict_id} is missing")
            self._zdicts[dict_id] = bytes(row[0])
        return self._zdicts[dict_id]

    def add_dict(self, step_id: int, data: bytes) -> int:
        """Save a new dictionary and make it the step's; committed before any row uses it."""
        self.db.execute("BEGIN IMMEDIATE")
        try:
            dict_id = self.db.execute("INSERT INTO dicts (data) VALUES (?)", (data,)).lastrowid
            self.db.execute("UPDATE steps SET dict_id = ? WHERE id = ?", (dict_id, step_id))
            self.db.execute("COMMIT")
        except BaseException:
            self.db.execute("ROLLBACK")
            raise
        assert dict_id is not None
        self._zdicts[dict_id] = data
        return dict_id

    def _create_schema(self) -> None:
        (version,) = self.db.execute("PRAGMA user_version").fetchone()
        if version > SCHEMA_VERSION:
            raise ValueError(
                f"{self.folder / FILE_NAME} was written by a newer Augmentoolkit (store format "
                f"{version}, this one reads {SCHEMA_VERSION}); update, or use another OUTPUT."
            )
        self.db.executescript(f"{SCHEMA} PRAGMA user_version = {SCHEMA_VERSION};")
