"""The whole pipeline on the sample text with the embedded real model (SmolLM2-135M-Instruct on a
llama.cpp server on 127.0.0.1, started by the run itself): the real entry point, no API key.

A model this small often fails our checks, so the test accepts either ending the issue allows:
a dataset whose every file is well formed and whose answers quote the sample, or a non-zero exit
that names the stage that dropped everything and why. Either way every stage reports its
yield, every reply held to a layout grammar parsed (the run report's per-step table), and a
second run makes no call.
Selected with `-m real_model`; CI runs it.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from augmentoolkit.control_flow_functions.chunking import split_sentences
from tests.conftest import REPO, ConfigFactory
from tests.test_pipeline import check_outputs

pytestmark = pytest.mark.real_model
STEP_ROW = re.compile(
    r"^\| (?P<step>[a-z_]+) \| (?P<requests>\d+) \| \d+ \| (?P<unparsed>\d+) \|", re.M
)
STAGE_LINE = re.compile(
    r"^(?P<stage>[a-z ]+): in (?P<in>\d+), kept (?P<kept>\d+), .*calls (?P<calls>\d+)", re.M
)


def run_cli(config_path: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    return subprocess.run(
        [sys.executable, str(REPO / "processing.py"), "--config", str(config_path)],
        capture_output=True,
        text=True,
        env=env,
        cwd=REPO,
        timeout=1800,
    )


def check_answers_quote_the_sample(output: Path) -> None:
    """Under grammars every answer turn is a sentence of a chunk of the sample, word for word."""
    chunks = (output / "chunks" / "chunks.jsonl").read_text(encoding="utf-8").splitlines()
    sentences = {
        sentence for line in chunks for sentence in split_sentences(json.loads(line)["text"])
    }
    lines = (output / "openai_messages.jsonl").read_text(encoding="utf-8").splitlines()
    answers = [
        message["content"]
        for line in lines
        for message in json.loads(line)["messages"]
        if message["role"] == "assistant"
    ]
    assert answers and all(answer in sentences for answer in answers), answers


def test_sample_on_the_embedded_model(make_config: ConfigFactory, sample_input: Path) -> None:
    shipped = yaml.safe_load((REPO / "config.yaml").read_text(encoding="utf-8"))
    config = make_config(  # the shipped trial (8 chunks, one vote per check), in a tmp folder
        PATH={"INPUT": str(sample_input)},
        API={"BASE_URL": "embedded", "REQUEST_TIMEOUT": 600},
        SYSTEM={**shipped["SYSTEM"], "USE_FILENAMES": True},
    )
    first = run_cli(config.source)
    print(first.stderr)  # the per-stage yield, kept in the CI log
    stages = {m["stage"]: m for m in STAGE_LINE.finditer(first.stderr)}
    assert "read and chunk" in stages and "judge chunks" in stages, first.stderr
    assert int(stages["judge chunks"]["calls"]) >= 1  # the real model was called
    assert "Traceback" not in first.stderr
    if first.returncode == 0:
        check_outputs(config, sample_input)
        check_answers_quote_the_sample(config.PATH.OUTPUT)
    else:
        assert first.returncode == 1, first.stderr
        assert re.search(r"error: stage '[a-z ]+' kept none of its \d+ items: .+", first.stderr)
    report = (config.PATH.OUTPUT / "run_report.md").read_text(encoding="utf-8")
    assert "| judge chunks |" in report and "| small-model |" in report
    steps = {m["step"]: m for m in STEP_ROW.finditer(report)}
    assert int(steps["judge_chunk"]["requests"]) >= 1, report
    for name, row in steps.items():
        # conversations can also fail their check that the answers are carried, which counts here
        if not name.startswith("write_conversation"):
            assert row["unparsed"] == "0", f"{name}: a grammar-held reply did not parse\n{report}"

    second = run_cli(config.source)
    assert second.returncode == first.returncode, second.stderr
    calls = [int(m["calls"]) for m in STAGE_LINE.finditer(second.stderr)]
    assert calls and all(n == 0 for n in calls), second.stderr
