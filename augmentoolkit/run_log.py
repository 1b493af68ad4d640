"""Logging for a run, set up once by processing.py or the notebook: everything the package logs
goes to OUTPUT/run.log, warnings (or everything with verbose) to stderr. Libraries (the openai
client, httpx, httpcore2, matplotlib, ...) log only warnings and errors, whatever their logger
is called, so run.log holds the run's own story rather than a DEBUG line per HTTP event."""

from __future__ import annotations

import logging
import sys
from pathlib import Path

PACKAGE = "augmentoolkit"


def setup_logging(output: Path, verbose: bool = False) -> Path:
    """Attach the run log (OUTPUT/run.log) and the stderr handler; returns the log's path."""
    output.mkdir(parents=True, exist_ok=True)
    path = output / "run.log"
    # Opened on first use; a path with undecodable bytes is logged escaped, not lost.
    to_file = logging.FileHandler(path, encoding="utf-8", delay=True, errors="backslashreplace")
    to_file.setLevel(logging.DEBUG)
    to_screen = logging.StreamHandler(sys.stderr)
    to_screen.setLevel(logging.INFO if verbose else logging.WARNING)
    logging.basicConfig(
        level=logging.WARNING,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        handlers=[to_file, to_screen],
        force=True,  # a notebook kernel may have configured logging already
    )
    logging.getLogger(PACKAGE).setLevel(logging.DEBUG)
    return path
