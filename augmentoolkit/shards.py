"""How the Ray executor splits a run: shards of chunks, their folders, and merging them back.

A chunk belongs to shard `sha256(chunk id) mod shards`, so the same chunk always lands in the
same shard. The shard count is fixed by the first Ray run of an OUTPUT and recorded in
OUTPUT/shards/plan.json; later runs keep it (a different SYSTEM.RAY_WORKERS is reported and
ignored), so a rerun maps every chunk to the shard that already holds its rows.

Each shard writes only its own files, one writer each (what a network filesystem allows):
    OUTPUT/shards/shard-K/<stage folders> and stage_ledger.sqlite3   (attempts run one after
                                                                      another: the ledger's
                                                                      crash recovery covers them)
    OUTPUT/shards/shard-K/attempts.jsonl     one line per attempt: id, process, host
    OUTPUT/store/shard-K.ATTEMPT.sqlite3     the calls of one attempt (store.py reads them all)
When every shard is done, `merge_shard_folders` appends their rows to OUTPUT's own stage folders
in chunk order, which the export then reads as after a local run. No Ray import here.
"""

from __future__ import annotations

import hashlib
import heapq
import json
import os
import socket
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from augmentoolkit.io_utils import write_json_atomic
from augmentoolkit.stage_folders import StageFolders
from augmentoolkit.stages import Stage

PLAN_FILE = "shards/plan.json"
ASSIGNMENT = "sha256(chunk id) mod shards"


def shard_of(chunk_id: str, shards: int) -> int:
    """The shard a chunk belongs to. Example: shard_of("ab12", 1) -> 0."""
    digest = hashlib.sha256(chunk_id.encode("utf-8")).digest()
    return int.from_bytes(digest[:8], "big") % shards


@dataclass(frozen=True)
class ShardPlan:
    output: Path
    shards: int

    @classmethod
    def load_or_create(cls, output: Path, wanted: int, say: Callable[[str], None]) -> ShardPlan:
        """The recorded plan of this OUTPUT, or a new one of `wanted` shards, recorded now."""
        path = output / PLAN_FILE
        if path.exists():
            recorded = int(json.loads(path.read_text(encoding="utf-8"))["shards"])
            if recorded != wanted:
                say(
                    f"note: {path} keeps the {recorded} shards of this folder's first Ray run "
                    f"({wanted} workers were asked for), so every chunk stays where its rows "
                    "are. To reshard, delete that file: finished calls are kept in the store."
                )
            return cls(output, recorded)
        write_json_atomic(path, {"shards": wanted, "assignment": ASSIGNMENT})
        return cls(output, wanted)

    def owns(self, shard: int) -> Callable[[str], bool]:
        return lambda chunk_id: shard_of(chunk_id, self.shards) == shard

    def folder(self, shard: int) -> Path:
        """Where shard K keeps its stage folders, ledger and attempt log."""
        return self.output / "shards" / f"shard-{shard}"

    def store_name(self, shard: int, attempt: str) -> str:
        return f"shard-{shard}.{attempt}.sqlite3"

    def earlier_attempts(self, shard: int, own: str) -> list[Path]:
        """Store files of this shard's other attempts: Ray starts an attempt only when the
        one before it is over, so nobody writes them any more."""
        files = (self.output / "store").glob(f"shard-{shard}.*.sqlite3")
        return [path for path in sorted(files) if path.name != own]

    def record_attempt(self, shard: int) -> str:
        """A new attempt id for shard K, logged with this process's id and host."""
        attempt = uuid.uuid4().hex[:12]
        line = {"attempt": attempt, "pid": os.getpid(), "host": socket.gethostname()}
        line["started"] = time.strftime("%Y-%m-%dT%H:%M:%S%z")
        folder = self.folder(shard)
        folder.mkdir(parents=True, exist_ok=True)
        with open(folder / "attempts.jsonl", "a", encoding="utf-8") as log:
            log.write(json.dumps(line) + "\n")
        return attempt

    def endpoints_of(self, shard: int, urls: tuple[str, ...]) -> tuple[str, ...] | None:
        """Shard K's own servers when there are at least as many as shards (each server then
        has one worker's pool and nothing to coordinate); None when they must be shared."""
        if len(urls) < self.shards:
            return None
        return urls[shard :: self.shards]


Rows = list[dict[str, Any]]


def merge_shard_folders(
    plan: ShardPlan,
    target: StageFolders,
    stages: tuple[Stage, ...],
    fingerprint: str,
    on_chunk: Callable[[Stage, Rows], None],
) -> None:
    """Append every shard's rows to `target`, stage by stage in chunk order (a chunk already
    there is skipped), calling on_chunk(stage, rows) for each chunk's rows."""
    folders = [
        StageFolders(plan.folder(shard), stages, fingerprint) for shard in range(plan.shards)
    ]
    try:
        for stage in stages:
            for seq, chunk_id, rows in _in_chunk_order(folders, stage):
                target.append(stage, seq, chunk_id, rows)
                on_chunk(stage, rows)
    finally:
        for folder in folders:
            folder.close()


def _in_chunk_order(folders: list[StageFolders], stage: Stage) -> Iterator[tuple[int, str, Rows]]:
    return heapq.merge(*(folder.chunks_of(stage) for folder in folders), key=lambda c: c[0])
