"""Which files under PATH.INPUT are inputs, and one line for each thing that is skipped.

Supported files (formats.SUPPORTED_SUFFIXES: .txt, .md, .jsonl, .pdf, .docx, .html, .htm,
.epub) anywhere below the folder, sorted by relative path. Skipped, each with one warning when a
`warn` is given: folders that cannot be read, links that lead nowhere, to themselves or back
into a folder already walked (a loop), and names with a supported suffix that are not regular
files (a FIFO, a device; a folder named so gets a line and is walked). Links to folders are
followed once. Hidden files and folders, and everything under PATH.OUTPUT when it lies inside
PATH.INPUT, are left out without a word (a run must not read its own chunks, report and
datasets back as inputs).
Does not read any file.
"""

from __future__ import annotations

import errno
import os
from pathlib import Path

from augmentoolkit.control_flow_functions.formats import SUPPORTED_SUFFIXES, Warn
from augmentoolkit.errors import InputError


def _quiet(line: str) -> None:
    """The default `warn`: a caller that lists files twice warns only once."""


def list_input_files(folder: Path, skip: Path | None = None, warn: Warn = _quiet) -> list[Path]:
    """Supported files under `folder`, recursively, sorted by relative path (see the module)."""
    skipped = skip.resolve() if skip is not None else None
    walked: set[str] = set()
    found: list[Path] = []

    def unreadable(error: OSError) -> None:
        warn(f"{error.filename}: skipped, the folder cannot be read ({error.strerror}).")

    for root, dirs, files in os.walk(folder, onerror=unreadable, followlinks=True):
        real = os.path.realpath(root)
        if real in walked:
            warn(f"{root}: skipped, a link that leads back into a folder already read (a loop).")
            dirs.clear()
            continue
        walked.add(real)
        dirs[:] = [d for d in dirs if not d.startswith(".") and not _under(Path(root, d), skipped)]
        for name in dirs:
            if Path(name).suffix.lower() in SUPPORTED_SUFFIXES:
                warn(f"{Path(root, name)}: a folder, not a file; the files in it are read.")
        for name in files:
            path = Path(root, name)
            if name.startswith(".") or path.suffix.lower() not in SUPPORTED_SUFFIXES:
                continue
            if not path.exists():
                warn(f"{path}: skipped, {_dangling(path)}.")
            elif not path.is_file():
                warn(f"{path}: skipped, not a regular file (a FIFO, socket or device).")
            else:
                found.append(path)
    return sorted(found, key=lambda p: p.relative_to(folder).as_posix())


def _dangling(link: Path) -> str:
    try:
        os.stat(link)
    except OSError as error:
        if error.errno == errno.ELOOP:
            return "a link loop (following it never reaches a file)"
    return "a link to a file that does not exist"


def _under(path: Path, folder: Path | None) -> bool:
    if folder is None:
        return False
    resolved = path.resolve()
    return resolved == folder or folder in resolved.parents


def input_files(folder: Path, skip: Path | None = None, warn: Warn = _quiet) -> list[Path]:
    """The supported files under PATH.INPUT (none under `skip`); InputError naming the fix when
    the folder is missing, unreadable or holds none."""
    if not folder.is_dir():
        raise InputError(
            f"PATH.INPUT: {folder} is not a folder. "
            "Create it and put texts there, or change PATH.INPUT in config.yaml."
        )
    if not os.access(folder, os.R_OK | os.X_OK):
        raise InputError(
            f"PATH.INPUT: {folder} cannot be read by this user. Fix its permissions "
            "(chmod u+rx) or point PATH.INPUT at a readable folder."
        )
    paths = list_input_files(folder, skip, warn)
    if not paths:
        raise InputError(
            f"PATH.INPUT: {folder} has no {', '.join(SUPPORTED_SUFFIXES[:-1])} or "
            f"{SUPPORTED_SUFFIXES[-1]} files. "
            "Put texts there or change PATH.INPUT in config.yaml."
        )
    return paths
