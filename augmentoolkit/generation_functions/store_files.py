"""Which files of a store folder a store may read: those sealed (switched back to a rollback
journal) once their writer is gone, which can then be opened `immutable`, without any lock, as a
network filesystem needs. See store.py for who seals what, and when."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable
from pathlib import Path


def is_sealed(path: Path) -> bool:
    """True when the file uses a rollback journal (header bytes 18-19 are 1, not WAL's 2)."""
    with open(path, "rb") as handle:
        header = handle.read(20)
    return len(header) == 20 and header[18:20] == b"\x01\x01"


def sealed_files(folder: Path, own: str) -> list[Path]:
    """The folder's store files other than `own` that can be read without locks, by name."""
    return [
        path for path in sorted(folder.glob("*.sqlite3")) if path.name != own and is_sealed(path)
    ]


def seal_files(paths: Iterable[Path]) -> None:
    """Seal store files whose writers are gone (a crash leaves a WAL file: opening it rolls the
    committed calls into the file). Call it only where no process can still be writing them."""
    for path in paths:
        if path.exists() and not is_sealed(path):
            db = sqlite3.connect(path, isolation_level=None)
            try:
                db.execute("PRAGMA journal_mode=DELETE")
            finally:
                db.close()


def seal_other_files(folder: Path, own: str) -> None:
    """Seal every store file of `folder` but `own`: for a process that knows no other writer
    is left (it holds the output lock, or the workers it started have finished)."""
    seal_files(path for path in folder.glob("*.sqlite3") if path.name != own)
