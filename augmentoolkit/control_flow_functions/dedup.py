"""Corpus-wide near-duplicate removal at export (SYSTEM.DEDUP_THRESHOLD; 0 turns it off).

Two kinds, each compared across chunks (and so across files), never within one chunk: the
conversations of one chunk are orderings of the same pairs, and repeats inside a chunk are
already dropped by validation.
- question: a QA pair whose question is a near-duplicate of a kept pair's question, compared by
  character 5-grams of its words (lower-cased, punctuation dropped): short texts need small
  shingles. "What is sabotage?" and "what is Sabotage ?" are one question.
- conversation: compared by word 3-grams of its turns (system prompt and names left out);
  scripts written without spaces count each character as a word.

Similarity is the Jaccard similarity of the shingle sets, estimated by a MinHash signature
(datasketch, 128 permutations, a fixed seed, so every run computes the same signatures; shingles
are hashed by CRC-32, which datasketch's affine32 scheme mixes before permuting, five times as
fast as its default SHA-1). The
items are decided one by one in the export's deterministic order (id, then arrival): an item
is removed when a kept item of another chunk is at least the threshold similar, so of a group
of duplicates the first in that order stays, on every run and every executor.

Candidates come from LSH banding (bands and rows chosen by datasketch for the threshold,
weighted towards finding every duplicate; each candidate is then checked on its signature).
The bands and signatures live in the export's scratch SQLite file, not in memory, so memory
stays flat however large the corpus. numpy and datasketch are imported only when dedup runs.
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
import zlib
from collections import Counter
from dataclasses import dataclass
from typing import Any, TextIO

from augmentoolkit.control_flow_functions.words import tokens
from augmentoolkit.io_utils import jsonl_line

NUM_PERM = 128
SCHEME = "affine32"  # datasketch 2's permutation scheme: uint32 hash values
MINHASH_SEED = 1
LSH_WEIGHTS = (0.1, 0.9)  # false positives cost one signature check; a miss keeps a duplicate
QUESTION_GRAM = 5  # characters
CONVERSATION_GRAM = 3  # words
LOWEST_THRESHOLD = 0.5  # below, nearly everything is a candidate of everything


def units(text: str) -> list[str]:
    """Lower-cased words; a run of a script without spaces gives one unit per character.
    Example: "What's up, 东京?" -> ['what', 's', 'up', '东', '京']."""
    found: list[str] = []
    for kind, run in tokens(text):
        found += [run] if kind == "word" else list(run)
    return found


def char_shingles(text: str, size: int = QUESTION_GRAM) -> set[bytes]:
    """Example: char_shingles("Ab, c", 3) -> {b'ab ', b'b c'}."""
    flat = " ".join(units(text))
    return {flat[i : i + size].encode("utf-8") for i in range(max(1, len(flat) - size + 1))}


def word_shingles(text: str, size: int = CONVERSATION_GRAM) -> set[bytes]:
    """Example: word_shingles("a b c d", 3) -> {b'a b c', b'b c d'}."""
    words = units(text)
    grams = range(max(1, len(words) - size + 1))
    return {" ".join(words[i : i + size]).encode("utf-8") for i in grams}


class Sketcher:
    """MinHash signatures with one fixed family of permutations."""

    def __init__(self) -> None:
        from datasketch import MinHash

        self._minhash = MinHash
        family = MinHash(num_perm=NUM_PERM, seed=MINHASH_SEED, scheme=SCHEME, hashfunc=zlib.crc32)
        self._permutations = family.permutations

    def signature(self, shingles: set[bytes]) -> bytes:
        import numpy as np

        minhash = self._minhash(permutations=self._permutations, scheme=SCHEME, hashfunc=zlib.crc32)
        minhash.update_batch(list(shingles))
        return np.asarray(minhash.hashvalues, dtype="<u4").tobytes()


def similarity(first: bytes, second: bytes) -> float:
    """The share of equal signature positions: MinHash's estimate of Jaccard similarity."""
    import numpy as np

    a, b = np.frombuffer(first, dtype="<u4"), np.frombuffer(second, dtype="<u4")
    return float(np.mean(a == b))


def shares_a_chunk(first: str, second: str) -> bool:
    return bool((set(first.split("\n")) & set(second.split("\n"))) - {""})


@dataclass(frozen=True)
class Match:
    seq: int  # the kept item's row in the scratch table
    similarity: float


class NearDuplicateIndex:
    """The kept items of one scratch table, banded for lookup. The table has columns seq,
    origin (chunk ids) and signature; the bands go in a table of their own beside it."""

    def __init__(self, db: sqlite3.Connection, table: str, threshold: float) -> None:
        from datasketch import MinHashLSH

        lsh = MinHashLSH(threshold=threshold, num_perm=NUM_PERM, weights=LSH_WEIGHTS)
        self.db, self.table, self.threshold = db, table, threshold
        self.ranges = [(i * lsh.r, (i + 1) * lsh.r) for i in range(lsh.b)]
        self.kept = 0
        db.execute(f"CREATE TABLE {table}_bands (band INTEGER, rank INTEGER, seq INTEGER)")
        db.execute(f"CREATE INDEX {table}_bands_key ON {table}_bands (band)")

    def _bands(self, signature: bytes) -> list[int]:
        keys = []
        for number, (start, end) in enumerate(self.ranges):
            part = number.to_bytes(2, "big") + signature[start * 4 : end * 4]
            keys.append(
                int.from_bytes(hashlib.blake2b(part, digest_size=8).digest(), "big", signed=True)
            )
        return keys

    def check(self, seq: int, origin: str, signature: bytes) -> Match | None:
        """The most similar kept item of another chunk at or above the threshold (the first kept
        of equals); None keeps this item and adds it to the index."""
        bands = self._bands(signature)
        marks = ", ".join("?" * len(bands))
        found = self.db.execute(
            f"SELECT t.seq, t.origin, t.signature FROM (SELECT DISTINCT rank, seq FROM "
            f"{self.table}_bands WHERE band IN ({marks})) b JOIN {self.table} t ON t.seq = b.seq "
            "ORDER BY b.rank",
            bands,
        ).fetchall()
        best: Match | None = None
        for other, other_origin, other_signature in found:
            if shares_a_chunk(origin, other_origin):
                continue
            score = similarity(signature, other_signature)
            if score >= self.threshold and (best is None or score > best.similarity):
                best = Match(other, score)
        if best is None:
            self.db.executemany(
                f"INSERT INTO {self.table}_bands VALUES (?, ?, ?)",
                [(band, self.kept, seq) for band in bands],
            )
            self.kept += 1
        return best


def describe_conversation(master_line: str) -> dict[str, Any]:
    row = json.loads(master_line)
    pairs = row["qa_pairs"]
    return {
        "id": row["id"],
        "source_files": sorted({pair["source_file"] for pair in pairs}),
        "chunk_ids": sorted({pair["chunk_id"] for pair in pairs}),
        "conversation": row["conversation"],
    }


def describe_pair(qa_line: str) -> dict[str, Any]:
    row = json.loads(qa_line)
    return {key: row[key] for key in ("question", "answer", "source_file", "chunk_id")}


class DuplicateFilter:
    """The export's near-duplicate removal: signatures for the scratch rows, one index per kind,
    the removed items written to a file with what they duplicated, and counts per kind."""

    def __init__(self, threshold: float) -> None:
        self.threshold = threshold
        self.removed: Counter[str] = Counter()
        self._sketcher = Sketcher() if self.enabled else None
        self.log: TextIO | None = None

    @property
    def enabled(self) -> bool:
        return self.threshold > 0

    def question_signature(self, question: str) -> bytes | None:
        return self._sketcher.signature(char_shingles(question)) if self._sketcher else None

    def conversation_signature(self, text: str) -> bytes | None:
        return self._sketcher.signature(word_shingles(text)) if self._sketcher else None

    def index(self, db: sqlite3.Connection, table: str) -> NearDuplicateIndex | None:
        return NearDuplicateIndex(db, table, self.threshold) if self.enabled else None

    def record(
        self, kind: str, match: Match, removed: dict[str, Any], kept: dict[str, Any]
    ) -> None:
        self.removed[kind] += 1
        if self.log is not None:
            line = {"kind": kind, "similarity": match.similarity, "removed": removed, "kept": kept}
            self.log.write(jsonl_line(line))

    def summary(self) -> str:
        return (
            f"near-duplicates removed (SYSTEM.DEDUP_THRESHOLD {self.threshold}): "
            f"{self.removed['conversation']} conversations, {self.removed['question']} QA pairs"
        )
