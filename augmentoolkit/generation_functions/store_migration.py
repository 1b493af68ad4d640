"""Importing a store written by the first releases (one `STEP.jsonl` per step in the store
folder) into the SQLite store, streamed line by line in batched transactions with INSERT OR
IGNORE (a key already stored keeps its record, and a key twice in one file its first line);
the JSONL files are deleted once imported, and a crash part-way leaves them for the next open.
"""

from __future__ import annotations

import json
import logging
import sqlite3
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # store.py imports this module
    from augmentoolkit.generation_functions.store import StepStore, Store

log = logging.getLogger("augmentoolkit.generation_functions.store")  # as before the move

MIGRATION_BATCH = 2000


def migrate_jsonl(store: Store) -> int:
    """Import the old `STEP.jsonl` files of the store's folder, if any, then delete them.
    Returns how many records were added (a key already stored keeps its record)."""
    paths = sorted(store.folder.glob("*.jsonl"))
    if not paths:
        return 0
    added = sum(_import_file(store.step(path.stem), path) for path in paths)
    # In WAL mode with synchronous=NORMAL a commit is not yet on disk; a checkpoint syncs it, so
    # a power cut after the JSONL files are gone cannot lose what was imported from them.
    store.db.execute("PRAGMA wal_checkpoint(FULL)")
    for path in paths:
        path.unlink()
    log.info(
        "migrated %d records from %d JSONL step files in %s into %s",
        added,
        len(paths),
        store.folder,
        store.path.name,
    )
    return added


def _import_file(step: StepStore, path: Path) -> int:
    """Stream one step file into the store; returns how many records were added."""
    added, skipped = 0, []
    batch: list[tuple[int, str, int, bytes]] = []
    with path.open("rb") as lines:
        for number, line in enumerate(lines, start=1):
            if not line.endswith(b"\n"):
                log.warning("%s: ignoring a torn last line left by an interrupted run", path)
                break
            key = _record_key(line)
            if key is None:
                skipped.append(number)
                continue
            batch.append((step.id, key, *step.encode(line.strip())))
            if len(batch) >= MIGRATION_BATCH:
                added += _insert_batch(step.store.db, batch)
        added += _insert_batch(step.store.db, batch)
    if skipped:
        shown = ", ".join(str(n) for n in skipped[:5]) + (", ..." if len(skipped) > 5 else "")
        log.warning("%s: skipped %d lines that are not records (%s)", path, len(skipped), shown)
    return added


def _record_key(line: bytes) -> str | None:
    try:
        record = json.loads(line)
    except ValueError:  # JSONDecodeError and UnicodeDecodeError both are
        return None
    key = record.get("key") if isinstance(record, dict) else None
    return key if isinstance(key, str) else None


def _insert_batch(db: sqlite3.Connection, batch: list[tuple[int, str, int, bytes]]) -> int:
    """Insert and commit the rows, then empty the list; returns how many were new keys."""
    if not batch:
        return 0
    db.execute("BEGIN")
    try:
        added = db.executemany(
            "INSERT OR IGNORE INTO records (step, key, dict_id, data) VALUES (?, ?, ?, ?)", batch
        ).rowcount
        db.execute("COMMIT")
    except BaseException:
        db.execute("ROLLBACK")
        raise
    batch.clear()
    return added
