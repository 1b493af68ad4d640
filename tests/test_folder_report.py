"""The run report describes the output folder, not only the last command: after a resumed run
it shows the calls and tokens of every run that built the folder, equal to what the server
answered over all of them, beside this run's own share."""

from __future__ import annotations

import asyncio
import re
from pathlib import Path

from augmentoolkit.generation_functions.store import Store
from augmentoolkit.pipeline import run_pipeline
from tests.conftest import ConfigFactory
from tests.fake_model import reply
from tests.llm_server import ScriptedLLMServer
from tests.test_pipeline import sample_config


def folder_rows(report: str) -> dict[str, tuple[int, int, int]]:
    """model -> (calls stored, prompt tokens, this run's requests): the whole-folder table."""
    section = report.split("## The whole output folder", 1)[1].split("\n## ", 1)[0]
    rows = re.findall(r"^\| (\S+) \| (\d+) \| (\d+) \| \d+ \| [\d.]+ \| (\d+) \|$", section, re.M)
    return {model: (int(calls), int(tokens), int(mine)) for model, calls, tokens, mine in rows}


def run_tokens(report: str) -> dict[str, int]:
    """model -> prompt tokens of this run alone: the Models table."""
    section = report.split("## Models", 1)[1].split("\n## ", 1)[0]
    rows = re.findall(
        r"^\| (\S+) \| \d+ \| \d+ \| \d+ \| (\d+) \| \d+ \| [\d.]+ \|$", section, re.M
    )
    return {model: int(tokens) for model, tokens in rows}


def test_a_resumed_run_reports_the_whole_folder(
    server: ScriptedLLMServer, make_config: ConfigFactory, sample_input: Path, tmp_path: Path
) -> None:
    server.set_responder(reply)
    output = tmp_path / "grown"
    asyncio.run(
        run_pipeline(sample_config(make_config, server, sample_input, output, SUBSET_SIZE=2))
    )
    report = output / "run_report.md"
    tokens_first = run_tokens(report.read_text(encoding="utf-8"))
    first = {
        m: sum(1 for r in server.requests if r.body["model"] == m)
        for m in ("small-model", "large-model")
    }
    server.reset()
    server.set_responder(reply)
    bigger = sample_config(make_config, server, sample_input, output, SUBSET_SIZE=3)
    asyncio.run(run_pipeline(bigger))
    second = {m: sum(1 for r in server.requests if r.body["model"] == m) for m in first}
    assert all(second.values())  # the third chunk needed new calls of both models

    text = report.read_text(encoding="utf-8")
    tokens_second = run_tokens(text)
    assert folder_rows(text) == {
        m: (first[m] + second[m], tokens_first[m] + tokens_second[m], second[m]) for m in first
    }
    with Store(output / "store") as store:
        spent = store.spent()
    assert all(spent[m].prompt_tokens > 0 and spent[m].completion_tokens > 0 for m in first)
