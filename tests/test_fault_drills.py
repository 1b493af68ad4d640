"""Fault drills: a server that misbehaves the way real ones do, a server restart mid-run, and a
process killed ten times at random points. Each must end in the dataset a clean run writes."""

from __future__ import annotations

import asyncio
import json
import os
import random
import signal
import threading
import time
from pathlib import Path

from augmentoolkit.pipeline import run_pipeline
from tests.conftest import REPO, ConfigFactory
from tests.fake_model import reply
from tests.llm_server import ScriptedLLMServer
from tests.test_pipeline import dataset_bytes, run_processing, sample_config

DRILL_FAULTS = {"429": 0.20, "500": 0.05, "slow": 0.05, "malformed": 0.05}


def clean_run(
    server: ScriptedLLMServer, make_config: ConfigFactory, sample: Path, output: Path
) -> tuple[dict[str, bytes], int]:
    server.set_responder(reply)
    config = sample_config(make_config, server, sample, output=output)
    asyncio.run(run_pipeline(config))
    return dataset_bytes(output), server.count()


def assert_whole_files(output: Path) -> None:
    """No temp file left, every JSON and JSONL file parses completely."""
    assert [p for p in output.rglob("*.tmp")] == []
    for path in output.rglob("*.jsonl"):
        for line in path.read_text(encoding="utf-8").splitlines():
            json.loads(line)
    for path in output.rglob("*.json"):
        json.loads(path.read_text(encoding="utf-8"))


def test_faulty_server_and_restart_give_the_clean_dataset(
    server: ScriptedLLMServer, make_config: ConfigFactory, sample_input: Path, tmp_path: Path
) -> None:
    expected, clean_requests = clean_run(server, make_config, sample_input, tmp_path / "clean")
    server.reset()
    server.set_responder(reply)
    server.set_fault_rates(DRILL_FAULTS, seed=11, delay=2.0)
    config = make_config(
        PATH={"INPUT": str(sample_input), "OUTPUT": str(tmp_path / "drill")},
        API={"BASE_URL": server.base_url, "MAX_RETRIES": 8, "REQUEST_TIMEOUT": 1.0},
        SYSTEM={"USE_SUBSET": True, "SUBSET_SIZE": 4, "CONCURRENCY_LIMIT": 8},
    )

    def restart_midway() -> None:
        deadline = time.monotonic() + 60
        while server.count() < clean_requests // 2 and time.monotonic() < deadline:
            time.sleep(0.01)
        server.restart(down_for=0.3)

    restarter = threading.Thread(target=restart_midway)
    restarter.start()
    asyncio.run(run_pipeline(config))
    restarter.join()
    assert dataset_bytes(tmp_path / "drill") == expected
    # bounded: faults cost retries, but nowhere near a retry storm
    assert clean_requests < server.count() < 2.5 * clean_requests
    assert_whole_files(tmp_path / "drill")


def test_ten_sigkills_then_a_rerun_give_the_clean_dataset(
    server: ScriptedLLMServer, make_config: ConfigFactory, sample_input: Path, tmp_path: Path
) -> None:
    expected, total = clean_run(server, make_config, sample_input, tmp_path / "clean")
    server.reset()
    server.set_responder(reply)
    server.set_latency(0.01)
    config = sample_config(
        make_config, server, sample_input, output=tmp_path / "killed", CONCURRENCY_LIMIT=4
    )
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    rng = random.Random(5)
    kill_points = sorted(rng.sample(range(1, total - 1), 10))
    for point in kill_points:
        process = run_processing(config.source, env)
        deadline = time.monotonic() + 60
        while server.count() < point and process.poll() is None and time.monotonic() < deadline:
            time.sleep(0.002)
        process.send_signal(signal.SIGKILL)
        process.communicate(timeout=30)
    assert server.count() < total + 10 * 4  # each kill loses at most the calls in flight
    server.set_latency(0.0)
    final = run_processing(config.source, env)
    _, err = final.communicate(timeout=120)
    assert final.returncode == 0, err
    assert dataset_bytes(tmp_path / "killed") == expected
    assert_whole_files(tmp_path / "killed")
