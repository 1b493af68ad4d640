"""Stage 1, read and chunk, as the run does it: the chunks of PATH.INPUT as a stream (or the
trial's), written to chunks/chunks.jsonl through a temp file that is renamed when whole. The
reading and chunking themselves live in control_flow_functions/ (inputs, formats, markup,
decoding, documents, chunking, trial)."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from pathlib import Path

from augmentoolkit.config import Config
from augmentoolkit.control_flow_functions.chunking import iter_chunks
from augmentoolkit.control_flow_functions.documents import iter_documents
from augmentoolkit.control_flow_functions.trial import trial_chunks
from augmentoolkit.errors import InputError
from augmentoolkit.io_utils import atomic_text_writer
from augmentoolkit.records import Chunk
from augmentoolkit.report import ChartCounts


def input_chunks(config: Config, warn: Callable[[str], None]) -> Iterable[Chunk]:
    """The chunks of PATH.INPUT as a stream, or the trial's (SYSTEM.USE_SUBSET)."""
    system, folder, output = config.SYSTEM, config.PATH.INPUT, config.PATH.OUTPUT
    if system.USE_SUBSET:  # a trial across the files, reading no further than it needs
        return trial_chunks(folder, system.SUBSET_SIZE, system.CHUNK_SIZE, warn, output)
    return iter_chunks(iter_documents(folder, warn, skip=output), system.CHUNK_SIZE, warn)


def write_chunks(chunks: Iterable[Chunk], path: Path, counts: ChartCounts) -> tuple[int, int]:
    """chunks.jsonl, streamed into a temp file then renamed; (chunks, tokens) written."""
    count = tokens = 0
    with atomic_text_writer(path) as out:
        for chunk in chunks:
            row = chunk.to_dict()
            out.write(json.dumps(row, ensure_ascii=False) + "\n")
            counts.add_chunks([row])
            count, tokens = count + 1, tokens + chunk.tokens
    if not count:
        raise InputError(
            "PATH.INPUT: the input files hold no sentence with a word in it (only punctuation, "
            "numbers or blank lines?). Add texts of prose, or change PATH.INPUT in config.yaml."
        )
    return count, tokens
