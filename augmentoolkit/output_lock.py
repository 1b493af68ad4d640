"""One writer per output folder, and room for its open files.

A run holds an exclusive lock on OUTPUT/run.lock (flock) for as long as it runs, with its
process id written inside. A second run on the same folder stops at
once with one line naming the holder, instead of paying every call twice and mixing files.

The kernel drops a flock when its holder exits in any way, kill -9 included, so a dead run never
blocks the next one and there is no stale lock to clear by hand. flock works between processes
on one machine; it is not relied on across machines sharing a network filesystem.
"""

from __future__ import annotations

import fcntl
import os
import resource
from pathlib import Path

from augmentoolkit.errors import OutputInUse, TooFewFiles

LOCK_FILE = "run.lock"


class OutputLock:
    """The lock of one OUTPUT folder; `acquire` raises OutputInUse if a live run holds it."""

    def __init__(self, output: Path) -> None:
        self.path = output / LOCK_FILE
        self._fd: int | None = None

    def acquire(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.pread(fd, 32, 0).decode("ascii", "replace").strip() or "unknown"
            os.close(fd)
            raise OutputInUse(in_use_message(self.path.parent, holder)) from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode("ascii"), 0)
        self._fd = fd

    def release(self) -> None:
        if self._fd is not None:
            fcntl.flock(self._fd, fcntl.LOCK_UN)
            os.close(self._fd)
            self._fd = None


def in_use_message(output: Path, holder: str) -> str:
    if holder == str(os.getpid()):
        return (
            f"PATH.OUTPUT {output} is held by an earlier run in this same process (a notebook "
            "cell run twice?). Finish or close it first (await run.close()), then open again."
        )
    return (
        f"PATH.OUTPUT {output} is in use by another run (process {holder}). Wait for it to "
        "finish or stop it, or set another PATH.OUTPUT to run both."
    )


def ensure_open_files(needed: int) -> None:
    """Make room for `needed` open files (connections, the store, stage files): raise the soft
    limit towards the hard one when it is lower; TooFewFiles (exit 2) when even the hard limit
    is too low for SYSTEM.CONCURRENCY_LIMIT, rather than failing mid-run."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft == resource.RLIM_INFINITY or soft >= needed:
        return
    ceiling = needed if hard == resource.RLIM_INFINITY else min(needed, hard)
    resource.setrlimit(resource.RLIMIT_NOFILE, (ceiling, hard))
    if ceiling < needed:
        raise TooFewFiles(
            f"SYSTEM.CONCURRENCY_LIMIT needs about {needed} open files, but this process may "
            f"open only {ceiling} (ulimit -n). Lower SYSTEM.CONCURRENCY_LIMIT, or raise the "
            "limit before the run."
        )
