"""StepStore: the append-only record of every finished model call, keyed by content.

One JSONL file per step under OUTPUT/store/. Each line is one finished call: a success with
its completion, or a final failure with the reasons of each attempt. A line is written in one
`write` and flushed as soon as the call lands, so a killed process loses at most the call in
flight. On open, a torn last line (a crash mid-write) is cut off before anything is appended.

The key is a hash of step name + rendered prompt + model + sampling settings (+ a salt for
repeated votes), so a rerun pays for nothing already done and a changed prompt reruns exactly
the calls it changes. Raw prompts and completions are kept for meta-datagen.
Does not decide what to retry; GenerationStep does.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)


def call_key(step: str, prompt_text: str, model: str, sampling: str, salt: str = "") -> str:
    """Content hash of one call. Example: call_key("judge", "p", "m", "t=0") -> 64 hex chars."""
    payload = json.dumps([step, prompt_text, model, sampling, salt], ensure_ascii=False)
    return hashlib.sha256(payload.encode("utf-8")).hexdigest()


class StepStore:
    """Records of one step, loaded into memory on open and appended to as calls land."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.records: dict[str, dict[str, Any]] = {}
        path.parent.mkdir(parents=True, exist_ok=True)
        self._load()
        # One unbuffered append-mode descriptor: each record goes out in a single write() call,
        # so a killed process leaves whole lines (a torn one is still cut off on the next open).
        self._fd: int | None = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)

    def get(self, key: str) -> dict[str, Any] | None:
        return self.records.get(key)

    def put(self, record: dict[str, Any]) -> None:
        """Append one record (must hold "key") and flush it to the OS at once."""
        if self._fd is None:
            raise ValueError(f"{self.path} is closed")
        data = (json.dumps(record, ensure_ascii=False) + "\n").encode("utf-8")
        written = os.write(self._fd, data)
        while written < len(data):  # only on a full disk or an odd file system
            written += os.write(self._fd, data[written:])
        self.records[record["key"]] = record

    def close(self) -> None:
        if self._fd is not None:
            os.fsync(self._fd)
            os.close(self._fd)
            self._fd = None

    def _load(self) -> None:
        if not self.path.exists():
            return
        data = self.path.read_bytes()
        good_end = data.rfind(b"\n") + 1
        if good_end < len(data):
            log.warning("%s: cutting a torn last line left by an interrupted run", self.path)
            with open(self.path, "r+b") as handle:
                handle.truncate(good_end)
        for number, line in enumerate(data[:good_end].splitlines(), start=1):
            try:
                record = json.loads(line)
                self.records[record["key"]] = record
            except (json.JSONDecodeError, KeyError, TypeError):
                log.warning("%s line %d is not a record; ignoring it", self.path, number)


class Store:
    """The folder of step stores for one run's OUTPUT."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self._steps: dict[str, StepStore] = {}

    def step(self, name: str) -> StepStore:
        if name not in self._steps:
            self._steps[name] = StepStore(self.folder / f"{name}.jsonl")
        return self._steps[name]

    def close(self) -> None:
        for store in self._steps.values():
            store.close()
