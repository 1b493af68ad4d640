"""The Ray executor on a real local Ray cluster (`ray start --head`, 2 CPUs, started here) with
`python processing.py` as users run it: the same dataset as the local executor, a worker killed
mid-run, the concurrency ceiling across workers, and the one-line errors when Ray is missing or
the cluster does not answer."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import socket
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from augmentoolkit.config import Config
from augmentoolkit.pipeline import run_pipeline
from augmentoolkit.shards import shard_of
from tests.conftest import REPO, ConfigFactory
from tests.fake_model import reply
from tests.llm_server import RecordedRequest, ScriptedLLMServer
from tests.test_pipeline import dataset_bytes, run_processing, sample_config

ray = pytest.importorskip("ray")  # in the dev install; a plain install need not have it
WAIT = 300.0
RAY_BIN = Path(sys.executable).with_name("ray")


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.fixture(scope="module")
def ray_cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A one-node Ray cluster with 2 CPUs, as `ray start --head` makes it; its address."""
    port = free_port()
    env = {**os.environ, "RAY_USAGE_STATS_ENABLED": "0", "RAY_AUTH_MODE": "disabled"}
    start = [str(RAY_BIN), "start", "--head", f"--port={port}", "--num-cpus=2"]
    start += ["--node-ip-address=127.0.0.1", "--include-dashboard=false", "--disable-usage-stats"]
    started = subprocess.run(start, env=env, capture_output=True, text=True, timeout=WAIT)
    assert started.returncode == 0, started.stderr
    try:
        yield f"127.0.0.1:{port}"
    finally:
        subprocess.run([str(RAY_BIN), "stop", "--force"], env=env, capture_output=True)


def ray_env(address: str) -> dict[str, str]:
    return {**os.environ, "PYTHONPATH": str(REPO), "RAY_ADDRESS": address}


def finish(run: subprocess.Popen[str]) -> tuple[int, str]:
    _, err = run.communicate(timeout=WAIT)
    return run.returncode, err


def local_reference(
    server: ScriptedLLMServer,
    make_config: ConfigFactory,
    sample: Path,
    tmp_path: Path,
    **system: Any,
) -> tuple[dict[str, bytes], int]:
    server.set_responder(reply)
    config = sample_config(make_config, server, sample, tmp_path / "local", **system)
    asyncio.run(run_pipeline(config))
    calls = server.count()
    server.reset()
    server.set_responder(reply)
    return dataset_bytes(config.PATH.OUTPUT), calls


def ray_config(
    make_config: ConfigFactory, server: ScriptedLLMServer, sample: Path, out: Path, **system: Any
) -> Config:
    return sample_config(make_config, server, sample, out, EXECUTOR="ray", RAY_WORKERS=2, **system)


def test_ray_writes_the_local_dataset_and_reruns_with_zero_calls(
    ray_cluster: str,
    server: ScriptedLLMServer,
    make_config: ConfigFactory,
    sample_input: Path,
    tmp_path: Path,
) -> None:
    expected, local_calls = local_reference(server, make_config, sample_input, tmp_path)
    config = ray_config(make_config, server, sample_input, tmp_path / "ray")
    code, err = finish(run_processing(config.source, ray_env(ray_cluster)))
    assert code == 0, err
    assert dataset_bytes(config.PATH.OUTPUT) == expected
    assert server.count() == local_calls  # each call once, whichever worker made it
    plan = json.loads((config.PATH.OUTPUT / "shards" / "plan.json").read_text())
    assert plan["shards"] == 2
    # progress and the report add up every worker: the same counts, calls and tokens per stage
    assert "write conversations 4/4" in err and f"| {local_calls} calls" in err
    assert stage_counts(config.PATH.OUTPUT) == stage_counts(tmp_path / "local")

    server.reset()
    server.set_responder(reply)
    code, err = finish(run_processing(config.source, ray_env(ray_cluster)))
    assert code == 0, err
    assert server.count() == 0
    # and locally, from the shards' store files
    local = sample_config(make_config, server, sample_input, config.PATH.OUTPUT)
    asyncio.run(run_pipeline(local))
    assert server.count() == 0
    assert dataset_bytes(config.PATH.OUTPUT) == expected


def test_a_worker_killed_mid_run_is_retried_and_nothing_is_lost(
    ray_cluster: str,
    server: ScriptedLLMServer,
    make_config: ConfigFactory,
    sample_input: Path,
    tmp_path: Path,
) -> None:
    expected, _ = local_reference(server, make_config, sample_input, tmp_path, SUBSET_SIZE=6)
    gate, held = threading.Event(), threading.Semaphore(0)

    def hold(request: RecordedRequest) -> str:
        held.release()
        gate.wait(WAIT)
        return reply(request)

    server.set_responder(hold)
    config = ray_config(make_config, server, sample_input, tmp_path / "ray", SUBSET_SIZE=6)
    run = run_processing(config.source, ray_env(ray_cluster))
    try:
        assert held.acquire(timeout=WAIT)  # a worker is waiting on a reply
        victim = busy_shard(config.PATH.OUTPUT)
        first = attempts(config.PATH.OUTPUT, victim)
        os.kill(first[0]["pid"], signal.SIGKILL)
    finally:
        gate.set()
    code, err = finish(run)
    assert code == 0, err
    assert len(attempts(config.PATH.OUTPUT, victim)) == 2  # Ray ran the shard again
    assert dataset_bytes(config.PATH.OUTPUT) == expected
    for name in ("worthy_for_questions/judgements.jsonl", "qatuples_raw/pairs.jsonl"):
        lines = (config.PATH.OUTPUT / name).read_text(encoding="utf-8").splitlines()
        assert len(lines) == len(set(lines)), f"{name} holds a row twice"

    server.reset()
    server.set_responder(reply)
    code, err = finish(run_processing(config.source, ray_env(ray_cluster)))
    assert code == 0, err
    assert server.count() == 0


def stage_counts(output: Path) -> list[list[str]]:
    """The report's stage rows without the seconds column."""
    report = (output / "run_report.md").read_text(encoding="utf-8")
    table = report.split("## Stages", 1)[1].split("\n\n")[1].splitlines()[2:]
    rows = [[cell.strip() for cell in row.strip("|").split("|")] for row in table]
    assert len(rows) == 7
    return [row[:7] + row[8:] for row in rows]


def busy_shard(output: Path) -> int:
    """A shard that owns chunks and has started (its first attempt is logged)."""
    chunks = (output / "chunks" / "chunks.jsonl").read_text(encoding="utf-8").splitlines()
    owners = {shard_of(json.loads(line)["id"], 2) for line in chunks}
    for shard in sorted(owners):
        if attempts(output, shard):
            return shard
    raise AssertionError("no shard with chunks has started")


def attempts(output: Path, shard: int) -> list[dict[str, Any]]:
    path = output / "shards" / f"shard-{shard}" / "attempts.jsonl"
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


def test_the_concurrency_ceiling_holds_across_workers(
    ray_cluster: str,
    server: ScriptedLLMServer,
    make_config: ConfigFactory,
    sample_input: Path,
    tmp_path: Path,
) -> None:
    expected, _ = local_reference(server, make_config, sample_input, tmp_path)
    server.set_latency(0.05)
    config = ray_config(make_config, server, sample_input, tmp_path / "ray", CONCURRENCY_LIMIT=3)
    code, err = finish(run_processing(config.source, ray_env(ray_cluster)))
    assert code == 0, err
    assert "sharing servers through one slot gateway" in err
    assert 1 <= server.in_flight_max <= 3
    assert dataset_bytes(config.PATH.OUTPUT) == expected


def test_ray_not_installed_is_one_line_and_exit_2(
    server: ScriptedLLMServer, make_config: ConfigFactory, sample_input: Path, tmp_path: Path
) -> None:
    config = ray_config(make_config, server, sample_input, tmp_path / "ray")
    hide_ray = (
        "import sys, runpy; sys.modules['ray'] = None; sys.argv = ['processing.py', '--config', "
        f"{str(config.source)!r}]; runpy.run_path('processing.py', run_name='__main__')"
    )
    done = subprocess.run(
        [sys.executable, "-c", hide_ray], cwd=REPO, capture_output=True, text=True, timeout=WAIT
    )
    assert done.returncode == 2, done.stderr
    assert "Ray is not installed. Install it with pip install -e '.[ray]'" in done.stderr
    assert "Traceback" not in done.stderr
    assert server.count() == 0


@pytest.mark.parametrize("check", [[], ["--check", "--offline"]], ids=["run", "check"])
def test_an_unreachable_cluster_is_one_line_and_exit_2(
    check: list[str],
    server: ScriptedLLMServer,
    make_config: ConfigFactory,
    sample_input: Path,
    tmp_path: Path,
) -> None:
    config = ray_config(make_config, server, sample_input, tmp_path / "ray")
    env = {**os.environ, "PYTHONPATH": str(REPO), "RAY_ADDRESS": f"127.0.0.1:{free_port()}"}
    command = [sys.executable, str(REPO / "processing.py"), "--config", str(config.source)]
    done = subprocess.run(
        [*command, *check], env=env, capture_output=True, text=True, timeout=WAIT, cwd=REPO
    )
    assert done.returncode == 2, done.stderr
    assert "cannot reach the Ray cluster at 127.0.0.1:" in done.stderr
    assert "Traceback" not in done.stderr
    assert server.count() == 0


def test_ray_with_the_embedded_model_is_a_config_error(make_config: ConfigFactory) -> None:
    from augmentoolkit.errors import ConfigError

    with pytest.raises(ConfigError, match="EXECUTOR: ray needs model servers reachable over HTTP"):
        make_config(API={"BASE_URL": "embedded"}, SYSTEM={"EXECUTOR": "ray"})


def test_a_spent_budget_stops_every_worker_with_the_local_message(
    ray_cluster: str,
    server: ScriptedLLMServer,
    make_config: ConfigFactory,
    sample_input: Path,
    tmp_path: Path,
) -> None:
    server.set_responder(reply)
    config = make_config(
        PATH={"INPUT": str(sample_input), "OUTPUT": str(tmp_path / "ray")},
        API={"BASE_URL": server.base_url},
        SYSTEM={"EXECUTOR": "ray", "RAY_WORKERS": 2, "USE_SUBSET": True, "SUBSET_SIZE": 6},
        COST={"LOGICAL_INPUT_PRICE": 1000.0, "BUDGET": 1.0},  # ~$0.6 a judge call
    )
    code, err = finish(run_processing(config.source, ray_env(ray_cluster)))
    assert code == 1, err
    assert "error: the budget of $1.00 (COST.BUDGET) is spent" in err
    assert "Traceback" not in err and "RayTaskError" not in err
