"""One run per output folder: a second `processing.py` on a folder in use stops at once with
exit status 4 and one line naming the running process, makes no call and writes nothing; a
holder killed with SIGKILL leaves nothing to clear by hand."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from augmentoolkit.errors import OutputInUse
from augmentoolkit.output_lock import OutputLock
from tests.conftest import REPO, ConfigFactory
from tests.fake_model import reply
from tests.llm_server import ScriptedLLMServer
from tests.test_pipeline import run_processing, sample_config

HOLD = """
import sys, time
from pathlib import Path
from augmentoolkit.output_lock import OutputLock
OutputLock(Path(sys.argv[1])).acquire()
print("locked", flush=True)
time.sleep(600)
"""


def test_a_second_run_on_a_folder_in_use_stops_with_exit_4(
    server: ScriptedLLMServer, make_config: ConfigFactory, sample_input: Path
) -> None:
    server.set_responder(reply)
    config = sample_config(make_config, server, sample_input, SUBSET_SIZE=1)
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    held = OutputLock(config.PATH.OUTPUT)
    held.acquire()
    try:
        second = run_processing(config.source, env)
        _, err = second.communicate(timeout=120)
    finally:
        held.release()
    assert second.returncode == 4, err
    assert f"process {os.getpid()}" in err and str(config.PATH.OUTPUT) in err
    assert "Traceback" not in err and server.count() == 0
    assert sorted(p.name for p in config.PATH.OUTPUT.iterdir()) == ["run.lock"]

    after = run_processing(config.source, env)
    _, err = after.communicate(timeout=120)
    assert after.returncode == 0, err


def test_a_killed_holder_leaves_the_folder_free(tmp_path: Path) -> None:
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLD, str(tmp_path)], stdout=subprocess.PIPE, text=True, env=env
    )
    assert holder.stdout is not None and holder.stdout.readline() == "locked\n"
    with pytest.raises(OutputInUse, match=f"process {holder.pid}"):
        OutputLock(tmp_path).acquire()
    holder.send_signal(signal.SIGKILL)
    holder.wait(timeout=30)
    holder.stdout.close()
    lock = OutputLock(tmp_path)
    lock.acquire()  # no stale lock: the kernel let go when the holder died
    assert (tmp_path / "run.lock").read_text() == f"{os.getpid()}\n"
    lock.release()


def test_the_same_process_opening_twice_is_told_to_close_first(tmp_path: Path) -> None:
    first = OutputLock(tmp_path)
    first.acquire()
    with pytest.raises(OutputInUse, match="earlier run in this same process"):
        OutputLock(tmp_path).acquire()
    first.release()


def test_a_concurrency_above_the_open_file_limit_is_one_line_not_a_crash(
    server: ScriptedLLMServer, make_config: ConfigFactory, sample_input: Path
) -> None:
    import resource

    config = sample_config(make_config, server, sample_input, SUBSET_SIZE=1, CONCURRENCY_LIMIT=2000)

    def cap_open_files() -> None:
        resource.setrlimit(resource.RLIMIT_NOFILE, (256, 256))

    run = subprocess.run(
        [sys.executable, str(REPO / "processing.py"), "--config", str(config.source)],
        capture_output=True,
        text=True,
        cwd=REPO,
        env={**os.environ, "PYTHONPATH": str(REPO)},
        preexec_fn=cap_open_files,
        timeout=120,
    )
    assert run.returncode == 2, run.stderr
    assert "ulimit -n" in run.stderr and "SYSTEM.CONCURRENCY_LIMIT" in run.stderr
    assert "Traceback" not in run.stderr and server.count() == 0
