"""The run report describes the output folder, not only the last command: after a resumed run
it shows the calls, tokens and cost of every run that built the folder, equal to what the
server answered over all of them (the cost: the sum of the runs' costs), beside this run's own
share, and its dataset sections count every chunk of the folder."""

from __future__ import annotations

import asyncio
import re
from pathlib import Path

import pytest

from augmentoolkit.generation_functions.store import Store
from augmentoolkit.pipeline import run_pipeline
from tests.conftest import ConfigFactory
from tests.fake_model import reply
from tests.llm_server import ScriptedLLMServer
from tests.test_pipeline import read_jsonl, sample_config


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


PRICES = {
    "LOGICAL_INPUT_PRICE": 100.0,
    "LOGICAL_OUTPUT_PRICE": 200.0,
    "LARGE_INPUT_PRICE": 300.0,
    "LARGE_OUTPUT_PRICE": 400.0,
}


def dollars_after(label: str, report: str) -> float:
    found = re.search(rf"^{re.escape(label)} \$([\d.]+)", report, re.M)
    assert found, label
    return float(found.group(1))


def dataset_value(report: str, what: str) -> str:
    found = re.search(rf"^\| {re.escape(what)} \| ([^|]+) \|$", report, re.M)
    assert found, what
    return found.group(1)


def test_a_resumed_run_reports_the_whole_cost_and_dataset(
    server: ScriptedLLMServer, make_config: ConfigFactory, sample_input: Path, tmp_path: Path
) -> None:
    """Priced, the folder's cost is the sum of both runs' costs, and the dataset sections
    (funnel, cost per source token and per conversation) count every chunk, not only the new."""
    output = tmp_path / "priced"

    def run(subset: int) -> str:
        server.reset()
        server.set_responder(reply)
        config = make_config(
            PATH={"INPUT": str(sample_input), "OUTPUT": str(output)},
            API={"BASE_URL": server.base_url, "MAX_RETRIES": 6},
            SYSTEM={"USE_SUBSET": True, "SUBSET_SIZE": subset, "DOUBLE_CHECK_COUNTER": 3},
            COST=PRICES,
        )
        asyncio.run(run_pipeline(config))
        return (output / "run_report.md").read_text(encoding="utf-8")

    first = dollars_after("Total cost:", run(2))
    text = run(3)
    second = dollars_after("Total cost:", text)
    whole = dollars_after("Cost of the whole folder:", text)
    assert first > 0 and second > 0
    assert whole == pytest.approx(first + second, abs=2e-4)  # each figure rounded to 1/100 cent

    chunks = read_jsonl(output / "chunks" / "chunks.jsonl")
    kept = len(read_jsonl(output / "multi_turn_convs" / "conversations.jsonl"))
    tokens = sum(chunk["tokens"] for chunk in chunks)
    assert len(chunks) == 3 and kept > 0
    assert "| read and chunk | 3 | 3 | 100% |" in text  # the funnel: every chunk of the folder
    assert re.search(rf"^\| write conversations \| \d+ \| {kept} \|", text, re.M)
    assert dataset_value(text, "conversations kept") == str(kept)
    assert float(dataset_value(text, "cost of the whole folder (every run) (USD)")) == whole
    per_1k = float(dataset_value(text, "cost per 1,000 source tokens (USD)"))
    assert per_1k == pytest.approx(1000 * whole / tokens, rel=1e-3)
    per_conversation = float(dataset_value(text, "cost per kept conversation (USD)"))
    assert per_conversation == pytest.approx(whole / kept, rel=1e-3)
    assert f'<td class="r">{whole:.4f}</td>' in (output / "report.html").read_text("utf-8")
