"""The progress board: plain lines from a ticker thread (content, rate/ETA from a fake clock,
close, a failing stats callable), the choice of style, tqdm bars, and a cheap advance.
Threads are synchronised on what they write, never on sleeps."""

from __future__ import annotations

import io
import sys
import threading
import types
from collections.abc import Callable, Iterator
from unittest import mock

import pytest

from augmentoolkit import progress_board
from augmentoolkit.progress_board import BoardStats, ProgressBoard, choose_style

STAGES = ["judge chunks", "generate questions", "write conversations"]
WAIT = 10.0  # generous: only reached when the test is failing


class LineStream(io.StringIO):
    """A stream whose writes can be waited for from the test thread."""

    def __init__(self, tty: bool = False) -> None:
        super().__init__()
        self.tty = tty
        self.lines: list[str] = []
        self.wrote = threading.Condition()

    def write(self, text: str) -> int:
        with self.wrote:
            self.lines.extend(text.splitlines())
            self.wrote.notify_all()
        return super().write(text)

    def isatty(self) -> bool:
        return self.tty

    def wait_lines(self, count: int) -> list[str]:
        with self.wrote:
            assert self.wrote.wait_for(lambda: len(self.lines) >= count, WAIT), self.lines
            return list(self.lines)


def fixed_stats(calls: int = 3412, cost: float = 1.234) -> Callable[[], BoardStats]:
    return lambda: BoardStats(
        calls={"judge chunks": 400, "generate questions": calls - 400}, cost=cost
    )


def clock_at(*times: float) -> Callable[[], float]:
    """A fake clock giving `times` in turn, then the last one for ever."""
    values: Iterator[float] = iter(times)
    last = [times[-1]]

    def now() -> float:
        last[0] = next(values, last[0])
        return last[0]

    return now


@pytest.fixture
def boards() -> Iterator[list[ProgressBoard]]:
    """Boards made by a test are closed even when it fails, so no ticker outlives it."""
    made: list[ProgressBoard] = []
    yield made
    for board in made:
        board.close()


def lines_board(boards: list[ProgressBoard], stream: LineStream, **kwargs: object) -> ProgressBoard:
    options: dict = {"stats": fixed_stats(), "interval": 0.01, "style": "lines"} | kwargs
    board = ProgressBoard(STAGES, 400, stream=stream, **options)
    boards.append(board)
    return board


def test_lines_ticker_prints_every_stage_calls_cost_rate_and_eta(
    boards: list[ProgressBoard],
) -> None:
    stream = LineStream()
    board = lines_board(boards, stream, clock=clock_at(1000.0, 1150.0))
    for stage, count in zip(STAGES, (400, 250, 120), strict=True):
        board.advance(stage, count)
    board.start()
    lines = stream.wait_lines(2)
    expected = (
        "progress 00:02:30: judge chunks 400/400 · generate questions 250/400"
        " · write conversations 120/400 | 3,412 calls · $1.23 · 0.80 chunks/s · ETA 5m50s"
    )
    assert lines[:2] == [expected, expected]
    assert "\r" not in stream.getvalue() and "\x1b" not in stream.getvalue()


def test_lines_eta_is_unknown_before_anything_is_done(boards: list[ProgressBoard]) -> None:
    stream = LineStream()
    board = lines_board(boards, stream, interval=3600.0, clock=clock_at(0.0, 42.0))
    board.start()
    board.close()
    assert stream.lines == [
        "progress 00:00:42: judge chunks 0/400 · generate questions 0/400"
        " · write conversations 0/400 | 3,412 calls · $1.23 · 0.00 chunks/s · ETA ?"
    ]


def test_close_prints_a_final_line_and_stops_the_ticker_at_once(
    boards: list[ProgressBoard],
) -> None:
    stream = LineStream()
    board = lines_board(boards, stream, interval=3600.0, clock=clock_at(0.0, 10.0))
    board.start()
    ticker = board._ticker
    assert ticker is not None and ticker.is_alive()
    board.advance("write conversations", 400)
    board.close()
    assert not ticker.is_alive()
    assert len(stream.lines) == 1
    assert "write conversations 400/400" in stream.lines[0]
    assert stream.lines[0].endswith("40.00 chunks/s · ETA 0s")
    board.close()
    assert len(stream.lines) == 1


def test_a_failing_stats_callable_does_not_kill_the_ticker(boards: list[ProgressBoard]) -> None:
    failures = [3]

    def flaky() -> BoardStats:
        if failures[0]:
            failures[0] -= 1
            raise RuntimeError("stats not ready")
        return fixed_stats()()

    stream = LineStream()
    board = lines_board(boards, stream, stats=flaky)
    board.start()
    lines = stream.wait_lines(1)
    assert failures == [0]
    assert "3,412 calls" in lines[0]
    assert board._ticker is not None and board._ticker.is_alive()


def test_auto_picks_lines_for_a_file_and_bars_for_a_terminal(boards: list[ProgressBoard]) -> None:
    chosen = []
    for stream in (io.StringIO(), LineStream(tty=True)):
        board = ProgressBoard(STAGES, 10, fixed_stats(), stream=stream, interval=3600.0)
        boards.append(board)
        board.start()
        chosen.append(board.style)
        board.close()
    assert chosen == ["lines", "bars"]


def test_auto_in_a_jupyter_kernel_picks_widgets_only_with_ipywidgets(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    shell = type("ZMQInteractiveShell", (), {})()
    monkeypatch.setitem(sys.modules, "IPython", types.SimpleNamespace(get_ipython=lambda: shell))
    monkeypatch.setitem(sys.modules, "ipywidgets", types.ModuleType("ipywidgets"))
    assert choose_style(LineStream(tty=True)) == "widgets"
    monkeypatch.setitem(sys.modules, "ipywidgets", None)  # import raises ImportError
    assert choose_style(LineStream(tty=True)) == "lines"
    terminal = type("TerminalInteractiveShell", (), {})()
    monkeypatch.setitem(sys.modules, "IPython", types.SimpleNamespace(get_ipython=lambda: terminal))
    assert choose_style(LineStream(tty=True)) == "bars"


def test_bars_write_tqdm_output_with_every_stage_calls_and_cost(
    boards: list[ProgressBoard],
) -> None:
    stream = io.StringIO()
    board = ProgressBoard(STAGES, 10, fixed_stats(), stream=stream, style="bars")
    boards.append(board)
    with board:
        for stage in STAGES:
            board.advance(stage, 10)
    output = stream.getvalue()
    for stage in STAGES:
        assert f"{stage}: 100%" in output
    assert "3,012 calls · $1.23" in output  # generate questions' own calls
    assert "chunk/s" in output  # tqdm's own rate


def test_a_line_written_while_bars_show_is_printed_whole(boards: list[ProgressBoard]) -> None:
    stream = io.StringIO()
    board = ProgressBoard(STAGES, 10, fixed_stats(), stream=stream, style="bars")
    boards.append(board)
    with board:
        board.advance(STAGES[0], 3)
        board.write("judge chunks: in 10, kept 7")
    output = stream.getvalue()
    at = output.index("judge chunks: in 10, kept 7\n")
    assert output[:at].endswith(("\r", "\x1b[A"))  # on a cleared line, not glued to a bar
    after = io.StringIO()
    closed = ProgressBoard(STAGES, 10, fixed_stats(), stream=after, style="lines")
    closed.write("plain")
    assert after.getvalue() == "plain\n"


def test_bars_refresh_the_postfix_as_time_passes(boards: list[ProgressBoard]) -> None:
    calls = [0]

    def stats() -> BoardStats:
        return BoardStats(calls={"judge chunks": calls[0]}, cost=0.0)

    stream = io.StringIO()
    board = ProgressBoard(
        STAGES, 10, stats, stream=stream, style="bars", clock=clock_at(0.0, 0.1, 1.0)
    )
    boards.append(board)
    board.start()
    calls[0] = 7
    board.advance("judge chunks")  # 0.1 s after start: too soon
    assert board._bars["judge chunks"].postfix == "0 calls · $0.00"
    board.advance("judge chunks")  # 1.0 s: refreshed
    assert board._bars["judge chunks"].postfix == "7 calls · $0.00"


def test_advancing_100000_times_formats_the_postfix_rarely(boards: list[ProgressBoard]) -> None:
    ticks = iter(range(10**9))
    clock = lambda: next(ticks) * 1e-6  # noqa: E731 - 100,000 advances span 0.1 fake seconds
    stats = mock.Mock(side_effect=fixed_stats())
    formatter = mock.Mock(side_effect=progress_board.format_postfix)
    board = ProgressBoard(STAGES, 100_000, stats, stream=io.StringIO(), style="bars", clock=clock)
    boards.append(board)
    with mock.patch.object(progress_board, "format_postfix", formatter):
        with board:
            for _ in range(100_000):
                board.advance("write conversations")
    assert board.done("write conversations") == 100_000
    assert stats.call_count <= 2  # at start and at close
    assert formatter.call_count <= 2 * len(STAGES)
