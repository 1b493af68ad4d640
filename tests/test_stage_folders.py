"""Live stage folders and visible progress, through `python processing.py` as a user runs it.

- Killed with SIGKILL at random points (after a random number of requests, five times, each
  restart resuming the last): every stage file holds only whole lines, never a chunk twice, and
  only rows an uninterrupted run also writes; the stage folders grow while the run is going;
  the finished run's stage files and datasets equal the uninterrupted run's.
- With stdout and stderr piped, plain progress lines appear while calls are in flight.
- The ledger cuts rows written after its last commit, and a changed prompt rebuilds the folders.
"""

from __future__ import annotations

import os
import queue
import random
import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path

import pytest

from augmentoolkit.config import Config
from augmentoolkit.stages import STAGES
from tests.conftest import REPO, ConfigFactory
from tests.fake_model import reply
from tests.llm_server import RecordedRequest, ScriptedLLMServer
from tests.test_pipeline import DATASETS, sample_config

PROCESSING = [sys.executable, str(REPO / "processing.py")]
WAIT = 180.0  # seconds; only a failsafe: every wait below ends on an event


def start_run(config: Config, log: Path | None = None) -> subprocess.Popen[str]:
    """processing.py in a child; its output goes to `log` (appended), or to a pipe."""
    env = {**os.environ, "PYTHONPATH": str(REPO), "PYTHONUNBUFFERED": "1"}
    out = open(log, "a") if log else subprocess.PIPE  # noqa: SIM115 (closed below)
    try:
        return subprocess.Popen(
            [*PROCESSING, "--config", str(config.source)],
            stdout=out,
            stderr=subprocess.STDOUT if log else subprocess.PIPE,
            text=True,
            env=env,
            cwd=REPO,
        )
    finally:
        if log:
            out.close()  # type: ignore[union-attr]


def wait_for(condition: Callable[[], bool], what: str) -> None:
    deadline = time.monotonic() + WAIT
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.01)


def stage_lines(output: Path) -> dict[str, list[str]]:
    """Each stage file's lines; asserts every line is whole (ends the file with a newline)."""
    found = {}
    for stage in STAGES:
        path = output / stage.path
        data = path.read_bytes() if path.exists() else b""
        assert not data or data.endswith(b"\n"), f"{stage.path} ends with a torn line"
        found[stage.path] = data.decode("utf-8").splitlines()
    return found


@pytest.mark.slow
def test_kill_nine_at_random_points_loses_and_repeats_nothing(
    server: ScriptedLLMServer, make_config: ConfigFactory, sample_input: Path, tmp_path: Path
) -> None:
    server.set_responder(reply)
    reference = sample_config(make_config, server, sample_input, tmp_path / "reference")
    log = tmp_path / "runs.log"
    finished = start_run(reference, log)
    assert finished.wait(timeout=WAIT) == 0, log.read_text()
    expected = stage_lines(reference.PATH.OUTPUT)
    total = server.count()
    assert total > 20

    config = sample_config(make_config, server, sample_input, tmp_path / "killed")
    server.reset()
    server.set_responder(reply)
    server.set_latency(0.005)
    rng = random.Random(7)
    kills = 0
    for point in sorted(rng.sample(range(5, total - 5), 5)):
        run = start_run(config, log)
        wait_for(lambda: server.count() >= point or run.poll() is not None, "requests")  # noqa: B023
        if run.poll() is not None:
            break  # the rerun finished before this point: nothing left to interrupt
        run.send_signal(signal.SIGKILL)
        run.wait(timeout=WAIT)
        kills += 1
        now = stage_lines(config.PATH.OUTPUT)
        for name, lines in now.items():
            extra = Counter(lines) - Counter(expected[name])
            assert not extra, f"{name} holds rows an uninterrupted run does not, or twice"
        if point > total // 2:
            assert now[STAGES[0].path], "the first stage's folder is still empty mid-run"
    assert kills == 5  # every point lies before the last call, so every run was killed
    last = start_run(config, log)
    assert last.wait(timeout=WAIT) == 0, log.read_text()
    final = stage_lines(config.PATH.OUTPUT)
    assert {k: sorted(v) for k, v in final.items()} == {k: sorted(v) for k, v in expected.items()}
    for name in DATASETS:
        assert (config.PATH.OUTPUT / name).read_bytes() == (
            reference.PATH.OUTPUT / name
        ).read_bytes()
    # a kill loses at most the calls in flight, which are paid again; nothing else is
    assert server.count() <= total + kills * config.SYSTEM.CONCURRENCY_LIMIT


def test_piped_run_prints_progress_lines_while_calls_are_in_flight(
    server: ScriptedLLMServer, make_config: ConfigFactory, sample_input: Path
) -> None:
    gate = threading.Event()

    def held(request: RecordedRequest) -> str:
        gate.wait(WAIT)
        return reply(request)

    server.set_responder(held)
    config = sample_config(make_config, server, sample_input, SUBSET_SIZE=2, PROGRESS_INTERVAL=0.2)
    run = start_run(config)
    lines: queue.Queue[str] = queue.Queue()
    reader = threading.Thread(target=lambda: [lines.put(line) for line in run.stderr or ()])
    reader.start()
    try:
        progress = []
        wait_for(lambda: server.count() > 0, "the first request")
        while len(progress) < 3:  # every request is held: these lines come while calls wait
            line = lines.get(timeout=WAIT)
            if line.startswith("progress"):
                progress.append(line)
        assert server.count() > 0 and not any("done" in line for line in progress)
        for stage in STAGES:
            assert stage.name in progress[-1]
        assert "calls" in progress[-1] and "$" in progress[-1]
    finally:
        gate.set()
    assert run.wait(timeout=WAIT) == 0
    reader.join(timeout=WAIT)
    run.stdout.close()  # type: ignore[union-attr]
    run.stderr.close()  # type: ignore[union-attr]
    rest = []
    while not lines.empty():
        rest.append(lines.get())
    assert any(line.startswith("progress") for line in rest)  # the closing totals
    assert not any("\r" in line or "\x1b" in line for line in progress + rest)
    log = (config.PATH.OUTPUT / "run.log").read_text(encoding="utf-8")
    assert "augmentoolkit" in log and "judge chunks: in 2" in log
    libraries = [line for line in log.splitlines() if " DEBUG " in line or " INFO " in line]
    assert all(" augmentoolkit" in line for line in libraries), "a library logs below WARNING"


def test_ledger_cuts_rows_written_after_its_last_commit(tmp_path: Path) -> None:
    from augmentoolkit.stage_folders import StageFolders

    stage = STAGES[0]
    folders = StageFolders(tmp_path, STAGES, "print-1")
    folders.append(stage, 0, "c0", [{"a": 1}, {"a": 2}])
    folders.append(stage, 0, "c0", [{"a": 1}, {"a": 2}])  # already there: not written twice
    folders.append(stage, 1, "c1", [])
    folders.close()
    path = tmp_path / stage.path
    whole = path.read_bytes()
    assert whole == b'{"a": 1}\n{"a": 2}\n'
    with open(path, "ab") as handle:  # rows of a chunk whose commit a kill prevented
        handle.write(b'{"a": 3}\n{"a": 4')
    again = StageFolders(tmp_path, STAGES, "print-1")
    assert path.read_bytes() == whole
    assert again.has(stage, 0) and again.has(stage, 1) and not again.has(stage, 2)
    assert [(seq, rows) for seq, _, rows in again.chunks_of(stage)] == [
        (0, [{"a": 1}, {"a": 2}]),
        (1, []),
    ]
    again.close()

    fresh = StageFolders(tmp_path, STAGES, "print-2")  # prompts or inputs changed
    assert not path.exists() and not fresh.has(stage, 0)
    fresh.close()


def test_a_stage_file_removed_by_hand_is_written_again(tmp_path: Path) -> None:
    from augmentoolkit.stage_folders import StageFolders

    stage = STAGES[1]
    folders = StageFolders(tmp_path, STAGES, "same")
    folders.append(stage, 0, "c0", [{"x": "é"}])
    folders.close()
    (tmp_path / stage.path).unlink()
    again = StageFolders(tmp_path, STAGES, "same")
    assert not again.has(stage, 0)
    again.append(stage, 0, "c0", [{"x": "é"}])
    assert list(again.rows_of(stage)) == [{"x": "é"}]
    again.close()


def test_window_bounds_the_chunks_in_flight(
    server: ScriptedLLMServer, make_config: ConfigFactory, sample_input: Path
) -> None:
    """With CHUNKS_IN_FLIGHT 2 the server never sees requests of more than two chunks between
    one chunk's first request and its last (its judgement to its last check or repair)."""
    import asyncio
    import json

    from augmentoolkit.pipeline import run_pipeline

    server.set_responder(reply)
    config = sample_config(make_config, server, sample_input, SUBSET_SIZE=6, CHUNKS_IN_FLIGHT=2)
    asyncio.run(run_pipeline(config))
    chunks = [
        json.loads(line)["text"]
        for line in (config.PATH.OUTPUT / "chunks" / "chunks.jsonl").read_text().splitlines()
    ]
    spans: dict[int, list[int]] = {}
    for index, request in enumerate(server.requests):
        body = json.dumps(request.body, ensure_ascii=False)
        for number, text in enumerate(chunks):
            if json.dumps(text[:80], ensure_ascii=False)[1:-1] in body:
                spans.setdefault(number, [index, index])[1] = index
    assert len(spans) >= 4
    most = max(
        sum(1 for first, last in spans.values() if first <= moment <= last)
        for moment in range(len(server.requests))
    )
    assert most <= 2
