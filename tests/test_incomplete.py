"""No silent loss: calls the server gives up on leave their chunks unfinished, counted as failed
(never as a model's verdict); the run ends with exit status 3 and a line saying how many chunks
and that a rerun finishes them; the datasets hold only what a clean run writes; the rerun
completes the clean dataset."""

from __future__ import annotations

import asyncio
import os
from pathlib import Path

import pytest

from augmentoolkit.errors import RunIncomplete
from augmentoolkit.pipeline import run_pipeline
from augmentoolkit.tally import SERVER_GAVE_UP
from tests.conftest import REPO, ConfigFactory
from tests.fake_model import reply
from tests.llm_server import ScriptedLLMServer
from tests.test_fault_drills import clean_run
from tests.test_pipeline import dataset_bytes, run_processing


def faulty_config(
    make_config: ConfigFactory, server: ScriptedLLMServer, sample: Path, output: Path
) -> Path:
    """sample_config's settings with no retries, so an injected 500 is a call given up on."""
    config = make_config(
        PATH={"INPUT": str(sample), "OUTPUT": str(output)},
        API={"BASE_URL": server.base_url, "MAX_RETRIES": 0},
        SYSTEM={"USE_SUBSET": True, "SUBSET_SIZE": 4, "DOUBLE_CHECK_COUNTER": 3},
    )
    return config.source


def test_calls_given_up_on_end_the_run_incomplete_and_a_rerun_completes_it(
    server: ScriptedLLMServer, make_config: ConfigFactory, sample_input: Path, tmp_path: Path
) -> None:
    expected, clean_calls = clean_run(server, make_config, sample_input, tmp_path / "clean")
    clean_rows = set(expected["master_list.jsonl"].splitlines())
    server.reset()
    server.set_responder(reply)
    server.inject("500", count=2, step="check_question")
    output = tmp_path / "faulty"
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    run = run_processing(faulty_config(make_config, server, sample_input, output), env)
    _, err = run.communicate(timeout=120)
    assert run.returncode == 3, err
    assert "did not finish" in err and "run the same command again" in err
    validated = next(line for line in err.splitlines() if line.startswith("validate pairs:"))
    assert ", failed 0," not in validated  # the server's failures are failures, not verdicts
    rows = set((output / "master_list.jsonl").read_bytes().splitlines())
    assert rows < clean_rows  # fewer, and none a clean run would not write
    report = (output / "run_report.md").read_text(encoding="utf-8")
    assert "Incomplete run" in report and SERVER_GAVE_UP in report

    faulty_calls = server.count()
    rerun = run_processing(faulty_config(make_config, server, sample_input, output), env)
    _, err = rerun.communicate(timeout=120)
    assert rerun.returncode == 0, err
    assert dataset_bytes(output) == expected
    assert server.count() - faulty_calls < clean_calls  # finished calls were not paid again


def test_run_pipeline_raises_run_incomplete_after_writing_the_datasets(
    server: ScriptedLLMServer, make_config: ConfigFactory, sample_input: Path, tmp_path: Path
) -> None:
    from augmentoolkit.config import load_config

    server.set_responder(reply)
    server.inject("500", count=1, step="judge_chunk")
    config = load_config(faulty_config(make_config, server, sample_input, tmp_path / "out"))
    try:
        asyncio.run(run_pipeline(config))
    except RunIncomplete as error:
        assert error.exit_status == 3 and "1 of 4 chunks did not finish" in str(error)
    else:
        raise AssertionError("a run with a chunk the server gave up on ended as complete")
    assert (tmp_path / "out" / "simplified_data.jsonl").exists()


def test_a_prompt_over_the_context_fails_that_item_only_and_names_the_file(
    server: ScriptedLLMServer,
    make_config: ConfigFactory,
    sample_input: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    from augmentoolkit.config import load_config

    server.set_responder(reply)
    server.inject("toolong400", count=1, step="judge_chunk")
    config = load_config(faulty_config(make_config, server, sample_input, tmp_path / "out"))
    asyncio.run(run_pipeline(config))  # completes: the other chunks fit
    err = capsys.readouterr().err
    assert "Simple Sabotage" in err and "longer than the model's context" in err
    assert "Lower SYSTEM.CHUNK_SIZE" in err
    judged = next(line for line in err.splitlines() if line.startswith("judge chunks:"))
    assert "failed 1," in judged
    assert server.count("judge_chunk") == 4  # the refused prompt was not retried
