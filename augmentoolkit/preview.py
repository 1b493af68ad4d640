"""`--preview N`: the whole pipeline on N chunks, its conversations printed to the terminal.

The preview is a trial run (USE_SUBSET with SUBSET_SIZE N, chunks taken across the input files
in turn, see trial.py) in its own folder, PATH.OUTPUT/preview: its own stage folders, ledger,
datasets, report and run.log, so the full run's folder keeps its stage files, datasets and
settings as they were. Its calls go to the full run's store (PATH.OUTPUT/store), with the full
run's folder locked meanwhile: a later full run with the same settings reuses every call the
preview paid for, and the preview's chunks are the first chunks of each file, as in a full run.
It runs in this process (SYSTEM.EXECUTOR local) and pushes nothing to the Hub (PUSH_TO_HUB
empty).
"""

from __future__ import annotations

import asyncio
import json
import shutil
import textwrap
from dataclasses import replace
from pathlib import Path
from typing import Any

from augmentoolkit.config import Config
from augmentoolkit.context import open_run_store
from augmentoolkit.errors import InputError
from augmentoolkit.output_lock import OutputLock
from augmentoolkit.pipeline import run_pipeline
from augmentoolkit.run_log import setup_logging

PREVIEW_FOLDER = "preview"
SHAREGPT = "simplified_data.jsonl"


def preview_config(config: Config, chunks: int) -> Config:
    """The same settings on `chunks` chunks, written to PATH.OUTPUT/preview, in this process,
    and never pushed to the Hub."""
    system = replace(
        config.SYSTEM, USE_SUBSET=True, SUBSET_SIZE=chunks, EXECUTOR="local", PUSH_TO_HUB=""
    )
    output = config.PATH.OUTPUT / PREVIEW_FOLDER
    return replace(config, PATH=replace(config.PATH, OUTPUT=output), SYSTEM=system)


def check_not_inside_input(config: Config) -> None:
    """An OUTPUT inside INPUT is skipped as input by the full run only: the preview, reading
    from a folder below it, would read the full run's files back as inputs."""
    output, folder = config.PATH.OUTPUT.resolve(), config.PATH.INPUT.resolve()
    if output == folder or folder in output.parents:
        raise InputError(
            f"--preview writes to {output / PREVIEW_FOLDER}, and PATH.OUTPUT lies inside "
            "PATH.INPUT, so the preview would read the full run's files as inputs. Point "
            "PATH.OUTPUT outside PATH.INPUT to preview."
        )


async def run_preview(config: Config, chunks: int) -> list[Path]:
    """Run the preview; its dataset files. The full run's folder is locked while it runs."""
    check_not_inside_input(config)
    lock = OutputLock(config.PATH.OUTPUT)
    lock.acquire()
    try:
        store = open_run_store(config.PATH.OUTPUT)
        try:
            return await run_pipeline(preview_config(config, chunks), store=store)
        finally:
            store.close()
    finally:
        lock.release()


def turn_lines(turn: dict[str, Any], width: int) -> list[str]:
    """One ShareGPT turn, its paragraphs wrapped under its speaker.
    Example: {"from": "human", "value": "Hi."} -> ["human: Hi."]."""
    label = f"{turn.get('from', '?')}: "
    indent = " " * len(label)
    lines: list[str] = []
    for number, paragraph in enumerate(str(turn.get("value", "")).split("\n")):
        first = label if number == 0 else indent
        lines += textwrap.wrap(paragraph, width, initial_indent=first, subsequent_indent=indent)
        if not paragraph.strip():
            lines.append("")
    return lines


def conversation_lines(number: int, total: int, row: dict[str, Any], width: int) -> list[str]:
    title = f"── conversation {number} of {total} "
    lines = [title + "─" * max(0, width - len(title))]
    for turn in row.get("conversations", []):
        lines += turn_lines(turn, width)
    return lines + [""]


def show_conversations(dataset: Path, width: int | None = None) -> int:
    """Print every conversation of a ShareGPT file readably; how many there were."""
    width = width or min(100, shutil.get_terminal_size().columns)
    with open(dataset, encoding="utf-8") as handle:
        rows = [json.loads(line) for line in handle if line.strip()]
    for number, row in enumerate(rows, start=1):
        print("\n".join(conversation_lines(number, len(rows), row, width)))
    return len(rows)


def preview(config: Config, chunks: int, verbose: bool = False) -> int:
    """What `--preview N` does: run, print the conversations, say where everything is."""
    check_not_inside_input(config)
    folder = config.PATH.OUTPUT / PREVIEW_FOLDER
    setup_logging(folder, verbose)
    paths = asyncio.run(run_preview(config, chunks))
    count = show_conversations(next(p for p in paths if p.name == SHAREGPT))
    print(
        f"preview of {chunks} chunk{'' if chunks == 1 else 's'}: {count} conversation"
        f"{'' if count == 1 else 's'}, in {folder}. Its calls are stored in "
        f"{config.PATH.OUTPUT / 'store'}: the full run does not pay for them again."
    )
    return 0
