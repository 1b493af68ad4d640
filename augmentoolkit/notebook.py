"""processing.ipynb, built from the stage table: a markdown cell and a code cell per stage, in
run order, each calling the same `PipelineRun` method the script runs. After changing the
table, write it again with

    python -m augmentoolkit.notebook          # rewrites processing.ipynb

(a test fails while the committed notebook and the table disagree). Does not run anything.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

from augmentoolkit.stages import STAGES, Stage

INTRO = """# Augmentoolkit, one stage per cell

This notebook runs the same stages as `python processing.py`, one cell at a time, by calling \
the package's `PipelineRun` methods (no logic of its own). Each stage runs over every chunk \
before the next starts, and appends each chunk's rows to its folder as the chunk finishes, so \
you can look at a stage's output before running the next. Every finished model call is stored \
under `OUTPUT/store`, so rerunning a cell, or the whole notebook, pays for nothing twice.

Set `CONFIG_PATH` to another file to use another configuration. This notebook is generated \
from the stage table (`augmentoolkit/stages.py`) by `python -m augmentoolkit.notebook`."""

SETUP = """import os

from augmentoolkit.config import load_config
from augmentoolkit.pipeline import PipelineRun
from augmentoolkit.run_log import setup_logging

CONFIG_PATH = os.environ.get("AUGMENTOOLKIT_CONFIG", "config.yaml")
config = load_config(CONFIG_PATH)  # raises ConfigError listing every problem
setup_logging(config.PATH.OUTPUT)  # OUTPUT/run.log
run = PipelineRun.open(config)  # checks every prompt the run will use, before any call"""

CHUNKING = """## 1. Read and chunk
Reads every `.txt`, `.md`, `.jsonl` and `.pdf` in `PATH.INPUT` and packs whole sentences into \
chunks of at most `SYSTEM.CHUNK_SIZE` tokens. Fills `chunks/`."""

EXPORT = """## {number}. Export
Writes `master_list.jsonl`, `processed_masterlist.json`, the ShareGPT `simplified_data.jsonl`, \
the OpenAI-format `openai_messages.jsonl`, `chatml.jsonl`, the flat `qa_pairs.jsonl` and \
`alpaca.jsonl` into `PATH.OUTPUT` (near-duplicates left out and listed in `duplicates.jsonl`), \
the train/eval `split/`, the Hugging Face folder `hf_dataset/` with its card, then the run \
report `run_report.md`."""


def cell(kind: str, source: str) -> dict[str, Any]:
    lines = source.splitlines(keepends=True)
    if kind == "markdown":
        return {"cell_type": "markdown", "metadata": {}, "source": lines}
    return {
        "cell_type": "code",
        "execution_count": None,
        "metadata": {},
        "outputs": [],
        "source": lines,
    }


def stage_cells(number: int, stage: Stage) -> list[dict[str, Any]]:
    title = f"## {number}. {stage.name.capitalize()}"
    text = f"{title}\n{stage.description} Fills `{stage.folder}/`.".replace("  ", " ")
    return [cell("markdown", text), cell("code", f'await run.run_stage("{stage.name}")')]


def build_notebook(stages: tuple[Stage, ...] = STAGES) -> dict[str, Any]:
    cells = [cell("markdown", INTRO), cell("code", SETUP)]
    cells += [cell("markdown", CHUNKING), cell("code", "run.chunk_inputs()")]
    for number, stage in enumerate(stages, start=2):
        cells += stage_cells(number, stage)
    export = "paths = run.export()\nrun.report()\nawait run.close()\npaths"
    cells += [cell("markdown", EXPORT.format(number=len(stages) + 2)), cell("code", export)]
    return {
        "cells": cells,
        "metadata": {
            "kernelspec": {"display_name": "Python 3", "language": "python", "name": "python3"},
            "language_info": {"name": "python"},
        },
        "nbformat": 4,
        "nbformat_minor": 4,
    }


def notebook_text(stages: tuple[Stage, ...] = STAGES) -> str:
    return json.dumps(build_notebook(stages), indent=1, ensure_ascii=False) + "\n"


def main() -> int:
    path = Path(sys.argv[1]) if len(sys.argv) > 1 else Path("processing.ipynb")
    path.write_text(notebook_text(), encoding="utf-8")
    print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
