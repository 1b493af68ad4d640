"""The trial subset (SYSTEM.USE_SUBSET): SUBSET_SIZE chunks taken across the input files, so
every file (or, with more files than chunks, files spread evenly over the folder) is in the
trial, not only the first file in name order.

The first chunks of each chosen file are taken in turn: chunk 0 of every file, then chunk 1 of
every file, and so on, until SUBSET_SIZE. With one file that is simply its first SUBSET_SIZE
chunks. Only the chosen files are read, one at a time, and only as many of their chunks are
kept as the trial can use. Deterministic: the same folder gives the same trial.
"""

from __future__ import annotations

import math
from itertools import islice, zip_longest
from pathlib import Path

from augmentoolkit.control_flow_functions.chunking import iter_chunks, iter_documents
from augmentoolkit.control_flow_functions.inputs import Warn
from augmentoolkit.records import Chunk


def spread(paths: list[Path], count: int) -> list[Path]:
    """At most `count` paths, evenly spaced, first and order kept.
    Example: 6 paths, count 3 -> paths 0, 2 and 4."""
    if len(paths) <= count:
        return paths
    step = len(paths) / count
    return [paths[math.floor(i * step)] for i in range(count)]


def trial_chunks(
    folder: Path, size: int, max_tokens: int, warn: Warn, skip: Path | None = None
) -> list[Chunk]:
    """SUBSET_SIZE chunks across the input files, in turn (see the module docstring)."""
    chosen: list[Path] = []

    def pick(paths: list[Path]) -> list[Path]:
        chosen.extend(spread(paths, size))
        return chosen

    per_file: list[list[Chunk]] = []
    for doc in iter_documents(folder, warn, skip, pick):
        quota = math.ceil(size / len(chosen))
        per_file.append(list(islice(iter_chunks([doc], max_tokens, warn), quota)))
    in_turn = (chunk for row in zip_longest(*per_file) for chunk in row if chunk is not None)
    return list(islice(in_turn, size))
