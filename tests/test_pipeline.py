"""End to end on the shipped sample text against the scripted server and the fake model:
both conversation modes, chat and completion, filenames on and off; every output's schema;
resume with zero requests; SIGKILL mid-run; injected faults; the empty-dataset message."""

from __future__ import annotations

import asyncio
import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from augmentoolkit.config import Config
from augmentoolkit.control_flow_functions.progress import StageOutcome
from augmentoolkit.errors import PipelineEmpty
from augmentoolkit.pipeline import run_pipeline
from tests.conftest import REPO, ConfigFactory
from tests.fake_model import reply
from tests.llm_server import ScriptedLLMServer

DATASETS = ("master_list.jsonl", "processed_masterlist.json", "simplified_data.jsonl")
STAGE_FILES = (
    "chunks/chunks.jsonl",
    "worthy_for_questions/judgements.jsonl",
    "qatuples_raw/pairs.jsonl",
    "qatuples_validated/validation.jsonl",
    "qatuples_revised/repairs.jsonl",
    "multi_turn_convs_info/plans.jsonl",
    "multi_turn_convs/conversations.jsonl",
)


def read_jsonl(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


def squash(text: str) -> str:
    return " ".join(text.split())


def sample_config(
    make_config: ConfigFactory,
    server: ScriptedLLMServer,
    sample: Path,
    output: Path | None = None,
    **system: Any,
) -> Config:
    paths = {"INPUT": str(sample)} | ({"OUTPUT": str(output)} if output else {})
    return make_config(
        PATH=paths,
        API={"BASE_URL": server.base_url, "MAX_RETRIES": 6},
        SYSTEM={"USE_SUBSET": True, "SUBSET_SIZE": 4, "DOUBLE_CHECK_COUNTER": 3, **system},
    )


def dataset_bytes(output: Path) -> dict[str, bytes]:
    return {name: (output / name).read_bytes() for name in DATASETS}


def check_outputs(config: Config, sample: Path) -> list[dict[str, Any]]:
    """Schema of every output file; every conversation traces back to a chunk of the input."""
    output = config.PATH.OUTPUT
    for name in STAGE_FILES:
        assert read_jsonl(output / name), f"{name} is empty"
    chunks = {c["id"]: c for c in read_jsonl(output / "chunks" / "chunks.jsonl")}
    source_text = squash((sample / next(iter(os.listdir(sample)))).read_text(encoding="utf-8"))
    master = read_jsonl(output / "master_list.jsonl")
    sharegpt = read_jsonl(output / "simplified_data.jsonl")
    processed = json.loads((output / "processed_masterlist.json").read_text(encoding="utf-8"))
    assert len(master) == len(sharegpt) == len(processed) > 0
    for row, share, full in zip(master, sharegpt, processed, strict=True):
        assert set(row) >= {"conversation", "character_card", "scenario_plan", "qa_pairs"}
        for pair in row["qa_pairs"]:
            assert pair["chunk_id"] in chunks
            assert pair["chunk"] == chunks[pair["chunk_id"]]["text"]
            assert squash(pair["chunk"][:200]) in source_text
            assert pair["source_file"].endswith(".txt")
            assert pair["question"] and pair["answer"]
        turns = share["conversations"]
        assert turns[0]["from"] == "system" and turns[0]["value"]
        roles = [t["from"] for t in turns[1:]]
        assert roles == ["human", "gpt"] * (len(roles) // 2) and roles
        assert all(t["value"].strip() for t in turns)
        assert len(roles) == 2 * len(row["qa_pairs"])
        assert [t["role"] for t in full["turns"]] == roles
    return master


@pytest.mark.parametrize(
    ("assistant_mode", "completion_mode", "use_filenames"),
    [(True, False, True), (True, True, False), (False, False, False), (False, True, True)],
)
def test_end_to_end_modes(
    server: ScriptedLLMServer,
    make_config: ConfigFactory,
    sample_input: Path,
    assistant_mode: bool,
    completion_mode: bool,
    use_filenames: bool,
    capsys: pytest.CaptureFixture[str],
) -> None:
    server.set_responder(reply)
    config = sample_config(
        make_config,
        server,
        sample_input,
        ASSISTANT_MODE=assistant_mode,
        COMPLETION_MODE=completion_mode,
        USE_FILENAMES=use_filenames,
    )
    asyncio.run(run_pipeline(config))
    stage_lines = capsys.readouterr().err
    for stage in ("judge chunks", "generate questions", "validate pairs", "write conversations"):
        assert re.search(rf"^{stage}: in \d+, .* calls [1-9]\d*, tokens [1-9]", stage_lines, re.M)
    master = check_outputs(config, sample_input)
    paths = {r.path for r in server.requests}
    assert paths == {"/v1/completions" if completion_mode else "/v1/chat/completions"}
    steps = {r.step for r in server.requests}
    assert ("write_character_card" in steps) is (not assistant_mode)
    judge_prompts = [json.dumps(r.body) for r in server.requests if r.step == "judge_chunk"]
    expected = (
        "Simple Sabotage, by the Office of Strategic Services, published 1944"
        if use_filenames
        else "an untitled document"
    )
    assert judge_prompts and all(expected in p for p in judge_prompts)
    if not assistant_mode:
        assert all(row["character_card"].startswith("Name: ") for row in master)
    large = {r.body["model"] for r in server.requests if r.step.startswith("write_conversation")}
    assert large == {"large-model"}

    # a second run makes no request and writes byte-identical datasets
    before, requests = dataset_bytes(config.PATH.OUTPUT), server.count()
    asyncio.run(run_pipeline(config))
    assert server.count() == requests
    assert dataset_bytes(config.PATH.OUTPUT) == before


def test_injected_faults_lose_no_item(
    server: ScriptedLLMServer, make_config: ConfigFactory, sample_input: Path, tmp_path: Path
) -> None:
    server.set_responder(reply)
    clean = sample_config(make_config, server, sample_input)
    asyncio.run(run_pipeline(clean))
    expected = dataset_bytes(clean.PATH.OUTPUT)

    server.reset()
    server.set_responder(reply)
    server.set_fault_rates({"429": 0.1, "500": 0.05, "malformed": 0.05, "drop": 0.03}, seed=7)
    faulty = sample_config(make_config, server, sample_input, output=tmp_path / "faulty")
    asyncio.run(run_pipeline(faulty))
    assert dataset_bytes(tmp_path / "faulty") == expected


def test_everything_dropped_names_the_stage(
    server: ScriptedLLMServer, make_config: ConfigFactory, sample_input: Path
) -> None:
    server.set_responder(lambda request: "Not useful.\nVerdict: unsuitable")
    config = sample_config(make_config, server, sample_input)
    with pytest.raises(
        PipelineEmpty,
        match="stage 'judge chunks' kept none of its 4 items: judged unsuitable for questions",
    ):
        asyncio.run(run_pipeline(config))


def run_processing(config_path: Path, env: dict[str, str]) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, str(REPO / "processing.py"), "--config", str(config_path)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
        cwd=REPO,
    )


def test_sigkill_mid_run_then_rerun_gives_the_same_dataset(
    server: ScriptedLLMServer, make_config: ConfigFactory, sample_input: Path, tmp_path: Path
) -> None:
    server.set_responder(reply)
    reference = sample_config(make_config, server, sample_input)
    asyncio.run(run_pipeline(reference))
    expected = dataset_bytes(reference.PATH.OUTPUT)
    total = server.count()

    server.reset()
    server.set_responder(reply)
    server.set_latency(0.02)
    key = "sk-never-written-anywhere"
    config = sample_config(
        make_config, server, sample_input, output=tmp_path / "killed", CONCURRENCY_LIMIT=4
    )
    config_path = config.source
    env = {**os.environ, "AUGMENTOOLKIT_API_KEY": key, "PYTHONPATH": str(REPO)}
    process = run_processing(config_path, env)
    deadline = time.monotonic() + 60
    while server.count() < total // 2 and time.monotonic() < deadline:
        time.sleep(0.01)
    process.send_signal(signal.SIGKILL)
    process.communicate(timeout=30)
    assert 0 < server.count() < total

    server.set_latency(0.0)
    done = run_processing(config_path, env)
    _, err = done.communicate(timeout=120)
    assert done.returncode == 0, err
    assert dataset_bytes(tmp_path / "killed") == expected
    leftovers = [p for p in (tmp_path / "killed").rglob("*") if p.name.endswith(".tmp")]
    assert leftovers == []
    for path in (tmp_path / "killed").rglob("*"):
        if path.is_file():
            assert key.encode() not in path.read_bytes(), path
    assert key not in err


def test_cli_exits_non_zero_naming_the_stage_that_dropped_everything(
    server: ScriptedLLMServer, make_config: ConfigFactory, sample_input: Path
) -> None:
    server.set_responder(lambda request: "Not useful.\nVerdict: unsuitable")
    config = sample_config(make_config, server, sample_input)
    process = run_processing(config.source, {**os.environ, "PYTHONPATH": str(REPO)})
    out, err = process.communicate(timeout=120)
    assert process.returncode == 1
    assert "error: stage 'judge chunks' kept none of its 4 items" in err
    assert "Traceback" not in err
    assert (config.PATH.OUTPUT / "run_report.md").exists()


def test_changed_settings_are_named_on_the_next_run(
    server: ScriptedLLMServer,
    make_config: ConfigFactory,
    sample_input: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    server.set_responder(reply)
    asyncio.run(run_pipeline(sample_config(make_config, server, sample_input, SUBSET_SIZE=2)))
    assert "settings changed" not in capsys.readouterr().err
    asyncio.run(run_pipeline(sample_config(make_config, server, sample_input, SUBSET_SIZE=3)))
    err = capsys.readouterr().err
    assert "settings changed since the last run" in err and "SUBSET_SIZE (2 -> 3)" in err


@pytest.mark.parametrize("assistant_mode", [True, False])
def test_streaming_and_stage_by_stage_write_the_same_files(
    server: ScriptedLLMServer,
    make_config: ConfigFactory,
    sample_input: Path,
    tmp_path: Path,
    assistant_mode: bool,
) -> None:
    server.set_responder(reply)
    outputs = {}
    for streaming in (True, False):
        output = tmp_path / f"streaming-{streaming}"
        config = sample_config(
            make_config,
            server,
            sample_input,
            output=output,
            STREAMING=streaming,
            ASSISTANT_MODE=assistant_mode,
        )
        asyncio.run(run_pipeline(config))
        outputs[streaming] = output
    assert server.count() > 0
    for name in DATASETS:
        assert (outputs[True] / name).read_bytes() == (outputs[False] / name).read_bytes(), name
    for name in STAGE_FILES:  # rows are appended as chunks finish: the same rows, any order
        rows = {mode: sorted(read_lines(outputs[mode] / name)) for mode in outputs}
        assert rows[True] == rows[False], name


def read_lines(path: Path) -> list[str]:
    return path.read_text(encoding="utf-8").splitlines()


def test_stage_reasons_stay_bounded_over_a_long_run() -> None:
    from augmentoolkit.control_flow_functions.progress import MAX_REASONS, OTHER_REASONS

    total = StageOutcome("judge chunks")
    for chunk in range(3 * MAX_REASONS):
        part = StageOutcome("judge chunks", items_in=1)
        part.fail(f"judgement unreadable: reply {chunk} had no verdict")
        total.absorb(part)
    assert total.failed == total.items_in == 3 * MAX_REASONS
    assert len(total.reasons) == MAX_REASONS + 1
    assert total.reasons[OTHER_REASONS] == 2 * MAX_REASONS
    assert sum(total.reasons.values()) == total.failed


def test_an_output_folder_inside_the_input_folder_is_not_read_as_input(
    server: ScriptedLLMServer, make_config: ConfigFactory, sample_input: Path
) -> None:
    server.set_responder(reply)
    output = sample_input / "0_output"  # sorts before the sample: read first if it were read
    config = sample_config(make_config, server, sample_input, output, SUBSET_SIZE=2)
    asyncio.run(run_pipeline(config))
    first = (config.PATH.OUTPUT / "chunks" / "chunks.jsonl").read_bytes()
    calls = server.count()
    asyncio.run(run_pipeline(config))
    assert server.count() == calls  # its own chunks, report and datasets were not new inputs
    assert (config.PATH.OUTPUT / "chunks" / "chunks.jsonl").read_bytes() == first
    chunks = read_jsonl(config.PATH.OUTPUT / "chunks" / "chunks.jsonl")
    assert {c["source"]["filename"] for c in chunks} == {p.name for p in sample_input.glob("*.txt")}


def test_input_without_a_word_names_the_input_not_a_later_stage(
    server: ScriptedLLMServer, make_config: ConfigFactory, tmp_path: Path
) -> None:
    from augmentoolkit.errors import InputError

    folder = tmp_path / "punctuation"
    folder.mkdir()
    (folder / "dots.txt").write_text("... !!! ??? --- ***\n\n;;; ,,,\n", encoding="utf-8")
    config = make_config(PATH={"INPUT": str(folder)}, API={"BASE_URL": server.base_url})
    with pytest.raises(InputError, match="hold no sentence with a word"):
        asyncio.run(run_pipeline(config))
    assert server.count() == 0
