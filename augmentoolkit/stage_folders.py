"""Live stage folders: each stage appends each chunk's rows to its JSONL file as the chunk
finishes that stage, so a user can watch the files grow, and a crash loses only what was in
flight.

A ledger (OUTPUT/stage_ledger.sqlite3, WAL mode) records, per stage and chunk, the byte range
its rows took. The rows of one chunk go out in one `write()` (whole lines), and only then is
the range committed to the ledger. So on open:

- a file longer than its ledger says (rows written, then killed before the commit) is cut back
  to the last committed range; those rows are written again when the chunk is redone;
- a chunk the ledger already has is not appended again (a rerun produces the same rows from
  the store), so a file never holds a chunk twice;
- when the run's fingerprint (settings that shape the data, prompt texts, the input files)
  differs from the one the folders were written with, every stage file starts afresh: the rows
  are rebuilt from the store, without paying again for calls that still apply.

Rows are read back per chunk, in chunk order, for stage-by-stage runs and for the export.
Does not decide what rows are; the stages do. One writer per OUTPUT is assumed.
"""

from __future__ import annotations

import json
import os
import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from augmentoolkit.stages import Stage

LEDGER = "stage_ledger.sqlite3"
SCHEMA = """
CREATE TABLE IF NOT EXISTS appended (
    stage TEXT NOT NULL, seq INTEGER NOT NULL, chunk TEXT NOT NULL,
    start INTEGER NOT NULL, end INTEGER NOT NULL, PRIMARY KEY (stage, seq)
);
CREATE TABLE IF NOT EXISTS meta (name TEXT PRIMARY KEY, value TEXT NOT NULL);
"""


def written_fingerprint(output: Path) -> str | None:
    """The fingerprint OUTPUT's stage folders were written with, or None when it has no ledger:
    what opening them as they are takes (a different one would start them afresh)."""
    if not (output / LEDGER).is_file():
        return None
    db = sqlite3.connect(output / LEDGER, isolation_level=None)
    try:
        row = db.execute("SELECT value FROM meta WHERE name = 'fingerprint'").fetchone()
    except sqlite3.OperationalError:  # a ledger made before any run wrote its meta table
        return None
    finally:
        db.close()
    return None if row is None else str(row[0])


class StageFolders:
    """The stage files of one OUTPUT and their ledger."""

    def __init__(
        self,
        output: Path,
        stages: tuple[Stage, ...],
        fingerprint: str,
        *,
        single_writer: bool = False,
    ) -> None:
        self.output = output
        self.stages = stages
        self.fingerprint = fingerprint
        output.mkdir(parents=True, exist_ok=True)
        self._db = sqlite3.connect(output / LEDGER, isolation_level=None)
        if single_writer:  # WAL's index in this process's memory: fine on network filesystems
            self._db.execute("PRAGMA locking_mode=EXCLUSIVE")
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=NORMAL")
        self._db.executescript(SCHEMA)
        self._fds: dict[str, int] = {}
        if self._stored_fingerprint() != fingerprint:
            self._start_afresh(fingerprint)
        for stage in stages:
            self._cut_to_ledger(stage)

    # -- writing ---------------------------------------------------------------------------

    def has(self, stage: Stage, seq: int) -> bool:
        row = self._db.execute(
            "SELECT 1 FROM appended WHERE stage = ? AND seq = ?", (stage.name, seq)
        ).fetchone()
        return row is not None

    def append(self, stage: Stage, seq: int, chunk_id: str, rows: list[dict[str, Any]]) -> None:
        """Write one chunk's rows for a stage (once: a chunk already there is left as it is)."""
        if self.has(stage, seq):
            return
        fd = self._fd(stage)
        data = "".join(json.dumps(row, ensure_ascii=False) + "\n" for row in rows).encode()
        start = os.fstat(fd).st_size
        written = 0
        while written < len(data):  # one write() unless the disk is full or odd
            written += os.write(fd, data[written:])
        self._db.execute(
            "INSERT INTO appended VALUES (?, ?, ?, ?, ?)",
            (stage.name, seq, chunk_id, start, start + len(data)),
        )

    # -- reading back ----------------------------------------------------------------------

    def chunks_of(self, stage: Stage) -> Iterator[tuple[int, str, list[dict[str, Any]]]]:
        """(seq, chunk id, rows) of every chunk the stage has written, in chunk order."""
        path = self.output / stage.path
        if not path.exists():
            return
        ranges = self._db.execute(
            "SELECT seq, chunk, start, end FROM appended WHERE stage = ? ORDER BY seq",
            (stage.name,),
        )
        with open(path, "rb") as handle:
            for seq, chunk_id, start, end in ranges:
                handle.seek(start)
                lines = handle.read(end - start).splitlines()
                yield seq, chunk_id, [json.loads(line) for line in lines]

    def rows_of(self, stage: Stage) -> Iterator[dict[str, Any]]:
        """Every row the stage has written, chunk by chunk."""
        for _, _, rows in self.chunks_of(stage):
            yield from rows

    def close(self) -> None:
        for fd in self._fds.values():
            os.close(fd)
        self._fds.clear()
        self._db.close()

    # -- opening ---------------------------------------------------------------------------

    def _fd(self, stage: Stage) -> int:
        if stage.name not in self._fds:
            path = self.output / stage.path
            path.parent.mkdir(parents=True, exist_ok=True)
            self._fds[stage.name] = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        return self._fds[stage.name]

    def _stored_fingerprint(self) -> str | None:
        row = self._db.execute("SELECT value FROM meta WHERE name = 'fingerprint'").fetchone()
        return None if row is None else str(row[0])

    def _start_afresh(self, fingerprint: str) -> None:
        """Empty every stage file and the ledger: the data they describe no longer applies."""
        for stage in self.stages:
            (self.output / stage.path).unlink(missing_ok=True)
        self._db.execute("BEGIN")
        self._db.execute("DELETE FROM appended")
        self._db.execute("INSERT OR REPLACE INTO meta VALUES ('fingerprint', ?)", (fingerprint,))
        self._db.execute("COMMIT")

    def _cut_to_ledger(self, stage: Stage) -> None:
        """Drop rows written after the last committed range; forget a stage whose file shrank
        (edited or deleted by hand) so its chunks are written again."""
        path = self.output / stage.path
        (end,) = self._db.execute(
            "SELECT coalesce(max(end), 0) FROM appended WHERE stage = ?", (stage.name,)
        ).fetchone()
        size = path.stat().st_size if path.exists() else 0
        if size < end:
            self._db.execute("DELETE FROM appended WHERE stage = ?", (stage.name,))
            end = 0
        if size > end:
            with open(path, "r+b") as handle:
                handle.truncate(end)
