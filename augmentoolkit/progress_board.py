"""A progress board for one run: how many of the N input chunks each stage has done, the model
calls and dollars so far, and a rate and ETA, shown in whatever the person is looking at.

Styles: "bars" (one tqdm bar per stage, for a terminal), "widgets" (tqdm.notebook bars, in a
Jupyter kernel), "lines" (one plain line every `interval` seconds from a daemon thread, for a
file, CI or nohup, so it keeps printing while the event loop is busy), "off". "auto" picks one
from where the run is. The board only counts and shows; it does not decide what a stage has
done (the caller advances it, also through the stages a chunk skips) nor count calls or cost
(it asks `stats` for them).
"""

from __future__ import annotations

import logging
import sys
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from types import TracebackType
from typing import Any, Literal, Protocol, TextIO

log = logging.getLogger(__name__)

Style = Literal["auto", "bars", "lines", "widgets", "off"]
POSTFIX_SECONDS = 0.25  # bars: refresh calls and cost at most ~4 times a second


@dataclass(frozen=True)
class BoardStats:
    """What the run has spent so far: model calls per stage name, and dollars for the run."""

    calls: Mapping[str, int]
    cost: float


def in_jupyter_kernel() -> bool:
    """True inside a Jupyter kernel. IPython is only looked up if already imported: a kernel
    has always imported it, and importing it here would slow every plain run."""
    ipython = sys.modules.get("IPython")
    get_ipython = getattr(ipython, "get_ipython", None)
    if get_ipython is None:
        return False
    shell = get_ipython()
    return shell is not None and type(shell).__name__ == "ZMQInteractiveShell"


def has_ipywidgets() -> bool:
    try:
        import ipywidgets  # noqa: F401
    except ImportError:
        return False
    return True


def choose_style(stream: TextIO) -> Style:
    """The style "auto" means for this stream: widgets in Jupyter (lines without ipywidgets),
    bars on a terminal, lines otherwise."""
    if in_jupyter_kernel():
        return "widgets" if has_ipywidgets() else "lines"
    isatty = getattr(stream, "isatty", None)
    try:
        return "bars" if isatty is not None and isatty() else "lines"
    except ValueError:  # a closed stream
        return "lines"


def clock_time(seconds: float) -> str:
    """Example: 150.4 -> "00:02:30"."""
    whole = int(seconds)
    return f"{whole // 3600:02d}:{whole // 60 % 60:02d}:{whole % 60:02d}"


def short_duration(seconds: float) -> str:
    """Example: 349.6 -> "5m50s"; 42 -> "42s"; 3900 -> "1h05m"."""
    whole = round(seconds)
    if whole < 60:
        return f"{whole}s"
    if whole < 3600:
        return f"{whole // 60}m{whole % 60:02d}s"
    return f"{whole // 3600}h{whole // 60 % 60:02d}m"


def format_postfix(calls: int, cost: float) -> str:
    """A bar's postfix. Example: (3412, 1.234) -> "3,412 calls · $1.23"."""
    return f"{calls:,} calls · ${cost:.2f}"


def format_line(
    stages: Sequence[str], done: Mapping[str, int], total: int, stats: BoardStats, elapsed: float
) -> str:
    """One plain progress line; the rate and ETA are those of the last stage, whose done count
    is the run's. Example: "progress 00:02:30: judge 400/400 · write 120/400 | 3,412 calls ·
    $1.23 · 0.80 chunks/s · ETA 5m50s"."""
    counts = " · ".join(f"{stage} {done[stage]}/{total}" for stage in stages)
    finished = done[stages[-1]] if stages else 0
    rate = finished / elapsed if elapsed > 0 else 0.0
    eta = short_duration(max(total - finished, 0) / rate) if rate > 0 else "?"
    calls = sum(stats.calls.values())
    return (
        f"progress {clock_time(elapsed)}: {counts} | {calls:,} calls · ${stats.cost:.2f}"
        f" · {rate:.2f} chunks/s · ETA {eta}"
    )


class Board(Protocol):
    """What a run reports progress to: a ProgressBoard here, or a Ray shard's forwarder."""

    @property
    def closed(self) -> bool: ...

    def advance(self, stage: str, count: int = 1) -> None: ...

    def write(self, line: str) -> None: ...

    def close(self) -> None: ...


class ProgressBoard:
    """Done counts of every stage out of `total` chunks, shown in one style (see the module
    docstring). `advance` is called from the asyncio thread and is cheap; `close` is
    idempotent. Use as a context manager to start and close it."""

    def __init__(
        self,
        stages: Sequence[str],
        total: int,
        stats: Callable[[], BoardStats],
        *,
        interval: float = 30.0,
        stream: TextIO | None = None,
        style: Style = "auto",
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.stages = list(stages)
        self.total = total
        self.stats = stats
        self.interval = interval
        self.stream = stream
        self.style: Style = style  # the chosen style once started
        self.clock = clock
        self._done = dict.fromkeys(self.stages, 0)
        self._bars: dict[str, Any] = {}
        self._started_at = 0.0
        self._last_postfix = 0.0
        self._stop = threading.Event()
        self._ticker: threading.Thread | None = None
        self._started = False
        self._closed = False

    @property
    def closed(self) -> bool:
        return self._closed

    def done(self, stage: str) -> int:
        return self._done[stage]

    def start(self) -> None:
        if self._started:
            return
        self._started = True
        if self.stream is None:
            self.stream = sys.stderr
        if self.style == "auto":
            self.style = choose_style(self.stream)
        self._started_at = self.clock()
        if self.style in ("bars", "widgets"):
            self._open_bars()
        elif self.style == "lines":
            self._ticker = threading.Thread(target=self._tick, name="progress-board", daemon=True)
            self._ticker.start()

    def advance(self, stage: str, count: int = 1) -> None:
        """Count `count` more chunks done by `stage` (a KeyError for a stage not on the board)."""
        self._done[stage] += count
        if self._bars and not self._closed:
            self._bars[stage].update(count)
            now = self.clock()
            if now - self._last_postfix >= POSTFIX_SECONDS:
                self._refresh_postfix(now)

    def write(self, line: str) -> None:
        """Print a line of the run's own (a stage's summary, a warning) without tearing the bars:
        tqdm clears them, prints the line above and draws them again."""
        if self._bars and not self._closed:
            from tqdm import tqdm

            tqdm.write(line, file=self.stream)
            return
        stream = self.stream or sys.stderr
        stream.write(line + "\n")
        stream.flush()

    def close(self) -> None:
        """Show the final counts once and stop the ticker."""
        if self._closed:
            return
        self._closed = True
        if not self._started:
            return
        if self._ticker is not None:
            self._stop.set()
            self._ticker.join(timeout=10.0)
            self._write_line()
        if self._bars:
            self._refresh_postfix(self.clock())
            for bar in self._bars.values():
                bar.close()

    def __enter__(self) -> ProgressBoard:
        self.start()
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        trace: TracebackType | None,
    ) -> None:
        self.close()

    def _open_bars(self) -> None:
        if self.style == "widgets":
            from tqdm.notebook import tqdm as bar_class
        else:
            from tqdm import tqdm as bar_class
        for position, stage in enumerate(self.stages):
            self._bars[stage] = bar_class(
                total=self.total,
                desc=stage,
                unit="chunk",
                position=position,
                leave=True,
                file=self.stream,
            )
        self._refresh_postfix(self._started_at)

    def _refresh_postfix(self, now: float) -> None:
        self._last_postfix = now
        try:
            stats = self.stats()
        except Exception:
            log.debug("progress board: stats failed", exc_info=True)
            return
        for stage, bar in self._bars.items():
            bar.set_postfix_str(format_postfix(stats.calls.get(stage, 0), stats.cost))

    def _tick(self) -> None:
        while not self._stop.wait(self.interval):
            self._write_line()

    def _write_line(self) -> None:
        """Print one line; a failure (stats, a closed stream) skips it and the board goes on."""
        try:
            line = format_line(
                self.stages, self._done, self.total, self.stats(), self.clock() - self._started_at
            )
            assert self.stream is not None
            self.stream.write(line + "\n")
            self.stream.flush()
        except Exception:
            log.debug("progress board: no line this tick", exc_info=True)
