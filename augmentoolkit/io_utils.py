"""Atomic file writes: a temp file in the same folder, then os.replace, so a crash never leaves a
half-written file. Example: write_jsonl_atomic(path, [{"a": 1}]) writes '{"a": 1}\\n'.

Writers stream: rows go out one by one through `atomic_text_writer`, so writing a file never
needs all of it in memory. `JsonListWriter` streams a JSON list with the exact bytes of
`json.dumps(items, ensure_ascii=False, indent=2) + "\\n"`.
"""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TextIO


@contextmanager
def atomic_text_writer(path: Path) -> Iterator[TextIO]:
    """A UTF-8 text handle on a temp file next to `path`; on a clean exit the file is synced and
    renamed onto `path`, on an exception it is removed and `path` is left as it was. When the
    new bytes equal the file already there (a rerun), the file is left untouched."""
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(handle, "w", encoding="utf-8", newline="\n") as out:
            yield out
            out.flush()
            if same_bytes(Path(temp), path):
                Path(temp).unlink()
                return
            os.fsync(out.fileno())
        os.replace(temp, path)
    except BaseException:
        Path(temp).unlink(missing_ok=True)
        raise


def same_bytes(new: Path, old: Path) -> bool:
    """True when `old` exists with exactly `new`'s bytes (sizes first, so it is cheap when not)."""
    try:
        if new.stat().st_size != old.stat().st_size:
            return False
    except FileNotFoundError:
        return False
    with open(new, "rb") as a, open(old, "rb") as b:
        while block := a.read(1 << 20):
            if block != b.read(1 << 20):
                return False
    return True


def write_text_atomic(path: Path, text: str) -> None:
    with atomic_text_writer(path) as out:
        out.write(text)


def jsonl_line(row: Any) -> str:
    return json.dumps(row, ensure_ascii=False) + "\n"


def write_jsonl_atomic(path: Path, rows: Iterable[dict[str, Any]]) -> None:
    with atomic_text_writer(path) as out:
        for row in rows:
            out.write(jsonl_line(row))


def write_json_atomic(path: Path, data: Any) -> None:
    write_text_atomic(path, json.dumps(data, ensure_ascii=False, indent=2) + "\n")


def json_list_item(value: Any) -> str:
    """`value` as `json.dumps(..., indent=2)` lays it out one level inside a list.

    Real newlines in a dump are only layout (newlines inside strings are escaped), so
    indenting every line by two spaces is exactly the nested layout.
    """
    return "  " + json.dumps(value, ensure_ascii=False, indent=2).replace("\n", "\n  ")


class JsonListWriter:
    """Writes a JSON list item by item to `out`; `close()` ends it. Example: items {"a": 1} and
    2 give '[\\n  {\\n    "a": 1\\n  },\\n  2\\n]\\n', and no items give '[]\\n'."""

    def __init__(self, out: TextIO) -> None:
        self.out = out
        self.count = 0
        out.write("[")

    def add(self, value: Any) -> None:
        self.add_serialized(json_list_item(value))

    def add_serialized(self, item: str) -> None:
        """Add an item already laid out by `json_list_item`."""
        self.out.write(",\n" if self.count else "\n")
        self.out.write(item)
        self.count += 1

    def close(self) -> None:
        self.out.write("\n]\n" if self.count else "]\n")


def remove_stale_temp_files(folder: Path) -> int:
    """Delete temp files a killed run left behind (".name.XXXX.tmp"); returns how many."""
    stale = [p for p in folder.rglob(".*.tmp") if p.is_file()]
    for path in stale:
        path.unlink(missing_ok=True)
    return len(stale)
