"""Ending a run from outside: SIGTERM mid-run and Ctrl-C (SIGINT) while the package is still
importing both end with the one "interrupted" line, no traceback, and a rerun resumes."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
from pathlib import Path

from tests.conftest import REPO, ConfigFactory
from tests.fake_model import reply
from tests.llm_server import RecordedRequest, ScriptedLLMServer
from tests.test_pipeline import run_processing, sample_config

WAIT = 120.0


def test_sigterm_mid_run_ends_with_the_interrupted_line(
    server: ScriptedLLMServer, make_config: ConfigFactory, sample_input: Path
) -> None:
    gate, arrived = threading.Event(), threading.Event()

    def held(request: RecordedRequest) -> str:
        arrived.set()
        gate.wait(WAIT)
        return reply(request)

    server.set_responder(held)
    config = sample_config(make_config, server, sample_input, SUBSET_SIZE=1)
    run = run_processing(config.source, {**os.environ, "PYTHONPATH": str(REPO)})
    try:
        assert arrived.wait(WAIT)  # a call is in flight
        run.send_signal(signal.SIGTERM)
        _, err = run.communicate(timeout=WAIT)
    finally:
        gate.set()
    assert run.returncode == 130, err
    assert "interrupted: finished calls are saved" in err and "Traceback" not in err


def test_ctrl_c_while_importing_ends_with_the_interrupted_line() -> None:
    # -X importtime writes a line as each module finishes importing: wait for one of ours
    run = subprocess.Popen(
        [sys.executable, "-X", "importtime", str(REPO / "processing.py"), "--check"],
        stderr=subprocess.PIPE,
        stdout=subprocess.DEVNULL,
        text=True,
        cwd=REPO,
        env={**os.environ, "PYTHONPATH": str(REPO)},
    )
    assert run.stderr is not None
    for line in run.stderr:
        if "augmentoolkit.errors" in line:
            run.send_signal(signal.SIGINT)
            break
    rest = run.stderr.read()
    run.wait(timeout=WAIT)
    run.stderr.close()
    assert run.returncode == 130, rest[-2000:]
    assert "interrupted: finished calls are saved" in rest and "Traceback" not in rest
