"""The `augmentoolkit` console command as installed by the package (pip install -e .): `run`
gives what processing.py gives, `estimate`, `report` and `export` make no model call and
`estimate` writes nothing, `convert` is the converter, and `--preview N` (on both commands)
prints the conversations of N chunks without disturbing the full run's folder."""

from __future__ import annotations

import asyncio
import os
import re
import signal
import subprocess
import sys
import threading
from dataclasses import replace
from pathlib import Path

import pytest

from augmentoolkit.output_lock import OutputLock
from augmentoolkit.pipeline import run_pipeline
from tests.conftest import REPO, ConfigFactory
from tests.fake_model import reply
from tests.llm_server import RecordedRequest, ScriptedLLMServer
from tests.test_pipeline import DATASETS, dataset_bytes, sample_config

AUGMENTOOLKIT = Path(sys.executable).parent / "augmentoolkit"
PROCESSING = [sys.executable, str(REPO / "processing.py")]
WAIT = 120.0


@pytest.fixture(autouse=True)
def installed() -> None:
    assert AUGMENTOOLKIT.exists(), "run: .venv/bin/pip install -e . (scripts/install does it)"


def command(*args: str, cwd: Path, program: list[str] | None = None) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [*(program or [str(AUGMENTOOLKIT)]), *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=cwd,
        env=dict(os.environ),
    )


def run_cli(*args: str, cwd: Path, program: list[str] | None = None) -> tuple[int, str, str]:
    process = command(*args, cwd=cwd, program=program)
    out, err = process.communicate(timeout=WAIT)
    return process.returncode, out, err


def test_help_lists_every_subcommand(tmp_path: Path) -> None:
    code, out, _ = run_cli("--help", cwd=tmp_path)
    assert code == 0
    for name in ("run", "check", "estimate", "report", "convert", "export"):
        assert re.search(rf"^\s+{name}\s", out, re.M), name
    code, out, _ = run_cli("run", "--help", cwd=tmp_path)
    assert code == 0 and "--preview N" in out and "--check" in out


@pytest.mark.slow
def test_run_gives_what_processing_py_gives(
    server: ScriptedLLMServer, make_config: ConfigFactory, sample_input: Path, tmp_path: Path
) -> None:
    server.set_responder(reply)
    outputs = {}
    for name, program in (("script", PROCESSING), ("console", [str(AUGMENTOOLKIT), "run"])):
        config = sample_config(make_config, server, sample_input, tmp_path / name, SUBSET_SIZE=2)
        code, out, err = run_cli("--config", str(config.source), cwd=tmp_path, program=program)
        assert code == 0, err
        assert out == f"done: dataset in {tmp_path / name / 'simplified_data.jsonl'}\n"
        outputs[name] = dataset_bytes(tmp_path / name)
    assert outputs["script"] == outputs["console"]

    (tmp_path / "bad.yaml").write_text("SYSTEM:\n  MODE: nope\n", encoding="utf-8")
    script = run_cli("--config", "bad.yaml", cwd=tmp_path, program=PROCESSING)
    console = run_cli("run", "--config", "bad.yaml", cwd=tmp_path)
    assert script == console and script[0] == 2 and script[2].startswith("error: bad.yaml has")


def test_sigterm_mid_run_ends_with_the_interrupted_line(
    server: ScriptedLLMServer, make_config: ConfigFactory, sample_input: Path, tmp_path: Path
) -> None:
    gate, arrived = threading.Event(), threading.Event()

    def held(request: RecordedRequest) -> str:
        arrived.set()
        gate.wait(WAIT)
        return reply(request)

    server.set_responder(held)
    config = sample_config(make_config, server, sample_input, SUBSET_SIZE=1)
    run = command("run", "--config", str(config.source), cwd=tmp_path)
    try:
        assert arrived.wait(WAIT)
        run.send_signal(signal.SIGTERM)
        _, err = run.communicate(timeout=WAIT)
    finally:
        gate.set()
    assert run.returncode == 130, err
    assert "interrupted: finished calls are saved" in err and "Traceback" not in err


def test_ctrl_c_while_importing_ends_with_the_interrupted_line(tmp_path: Path) -> None:
    # -X importtime writes a line as each module finishes importing: wait for one of ours
    run = subprocess.Popen(
        [sys.executable, "-X", "importtime", str(AUGMENTOOLKIT), "check", "--offline"],
        stderr=subprocess.PIPE,
        stdout=subprocess.DEVNULL,
        text=True,
        cwd=REPO,
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


def test_estimate_calls_nothing_and_writes_nothing(
    server: ScriptedLLMServer, make_config: ConfigFactory, sample_input: Path, tmp_path: Path
) -> None:
    config = sample_config(make_config, server, sample_input)
    code, out, err = run_cli("estimate", "--config", str(config.source), cwd=tmp_path)
    assert code == 0, err
    assert out.startswith("4 chunks, ~") and "(the trial: USE_SUBSET, SUBSET_SIZE 4)" in out
    assert re.search(r"^estimate before the run: ~\d+ model calls", out, re.M)
    assert server.count() == 0 and not config.PATH.OUTPUT.exists()


@pytest.mark.slow
def test_report_and_export_rebuild_a_folder_without_a_call(
    server: ScriptedLLMServer, make_config: ConfigFactory, sample_input: Path, tmp_path: Path
) -> None:
    server.set_responder(reply)
    config = sample_config(make_config, server, sample_input)
    asyncio.run(run_pipeline(config))
    output, calls = config.PATH.OUTPUT, server.count()
    datasets, report = dataset_bytes(output), (output / "run_report.md").read_text("utf-8")
    for name in (*DATASETS, "run_report.md"):
        (output / name).unlink()

    code, out, err = run_cli("export", "--config", str(config.source), cwd=tmp_path)
    assert code == 0, err
    assert out == f"done: dataset in {output / 'simplified_data.jsonl'}\n"
    assert dataset_bytes(output) == datasets

    code, out, err = run_cli("report", "--config", str(config.source), cwd=tmp_path)
    assert code == 0, err
    rebuilt = (output / "run_report.md").read_text("utf-8")
    assert "Rebuilt by `augmentoolkit report`" in rebuilt
    for stage in ("judge chunks", "generate questions", "validate pairs", "write conversations"):
        assert in_and_kept(rebuilt, stage) == in_and_kept(report, stage), stage
    assert folder_rows(rebuilt) == folder_rows(report)  # the store's totals, per model
    assert server.count() == calls


def in_and_kept(report: str, stage: str) -> list[str]:
    row = next(line for line in report.splitlines() if line.startswith(f"| {stage} |"))
    return row.split("|")[2:4]


def folder_rows(report: str) -> list[list[str]]:
    section = report.split("## The whole output folder")[1].split("\n\n")[1]
    return [line.split("|")[1:6] for line in section.splitlines()[2:]]


def test_export_refuses_folders_of_other_settings_and_report_needs_a_run(
    server: ScriptedLLMServer, make_config: ConfigFactory, sample_input: Path, tmp_path: Path
) -> None:
    server.set_responder(reply)
    config = sample_config(make_config, server, sample_input, SUBSET_SIZE=2)
    asyncio.run(run_pipeline(config))
    before = dataset_bytes(config.PATH.OUTPUT)
    changed = sample_config(make_config, server, sample_input, SUBSET_SIZE=3)
    code, _, err = run_cli("export", "--config", str(changed.source), cwd=tmp_path)
    assert code == 2 and "were written with other settings" in err
    assert dataset_bytes(config.PATH.OUTPUT) == before  # and the stage folders are kept
    assert (config.PATH.OUTPUT / "multi_turn_convs" / "conversations.jsonl").stat().st_size

    empty = tmp_path / "empty"
    for name in ("report", "export"):
        code, _, err = run_cli(
            name, "--config", str(config.source), "--output", str(empty), cwd=tmp_path
        )
        assert code == 2 and "holds no run" in err, err
    assert not empty.exists()

    lock = OutputLock(config.PATH.OUTPUT)
    lock.acquire()
    try:
        code, _, err = run_cli("report", "--config", str(config.source), cwd=tmp_path)
    finally:
        lock.release()
    assert code == 4 and "is in use by another run" in err


def test_convert_is_the_converter_from_any_folder(tmp_path: Path) -> None:
    page = tmp_path / "guide.md"
    page.write_text("# Bees\n\nBees keep the hive warm in winter.\n", encoding="utf-8")
    code, _, err = run_cli("convert", str(page), "--out", str(tmp_path / "text"), cwd=tmp_path)
    assert code == 0, err
    text = (tmp_path / "text" / "guide.txt").read_text(encoding="utf-8")
    assert "Bees keep the hive warm in winter." in text
    code, out, _ = run_cli("convert", "--help", cwd=tmp_path)
    assert code == 0 and "--out" in out


@pytest.mark.slow
@pytest.mark.parametrize("program", [PROCESSING, [str(AUGMENTOOLKIT), "run"]])
def test_preview_prints_conversations_and_leaves_the_full_run_alone(
    server: ScriptedLLMServer,
    make_config: ConfigFactory,
    sample_input: Path,
    tmp_path: Path,
    program: list[str],
) -> None:
    server.set_responder(reply)
    fresh = sample_config(make_config, server, sample_input, tmp_path / "fresh", SUBSET_SIZE=3)
    asyncio.run(run_pipeline(fresh))
    full_calls, expected = server.count(), dataset_bytes(fresh.PATH.OUTPUT)

    server.reset()
    server.set_responder(reply)
    config = sample_config(make_config, server, sample_input, SUBSET_SIZE=3)
    code, out, err = run_cli(
        "--config", str(config.source), "--preview", "2", cwd=tmp_path, program=program
    )
    assert code == 0, err
    assert "── conversation 1 of " in out and "\nhuman: " in out and "\ngpt: " in out
    assert "preview of 2 chunks:" in out
    output = config.PATH.OUTPUT
    assert (output / "preview" / "simplified_data.jsonl").exists()
    assert not any((output / name).exists() for name in (*DATASETS, "chunks", "run_settings.json"))
    previewed = server.count()

    asyncio.run(run_pipeline(config))  # the full run afterwards: the preview's calls are free
    assert server.count() - previewed < full_calls
    assert dataset_bytes(output) == expected


def test_a_preview_runs_here_on_its_chunks_and_publishes_nothing(
    make_config: ConfigFactory,
) -> None:
    from augmentoolkit.preview import preview_config

    config = make_config()
    config = replace(config, SYSTEM=replace(config.SYSTEM, EXECUTOR="ray", PUSH_TO_HUB="me/data"))
    seen = preview_config(config, 5)
    assert seen.PATH.OUTPUT == config.PATH.OUTPUT / "preview"
    assert (seen.SYSTEM.USE_SUBSET, seen.SYSTEM.SUBSET_SIZE) == (True, 5)
    assert (seen.SYSTEM.EXECUTOR, seen.SYSTEM.PUSH_TO_HUB) == ("local", "")
    assert seen.PATH.INPUT == config.PATH.INPUT and seen.API == config.API
