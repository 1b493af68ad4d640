"""What a finished run leaves for its user: exports that Hugging Face `datasets` loads, the run
report with its charts, the judgement chart, meta-datagen files, and the budget cap."""

from __future__ import annotations

import asyncio
import json
import re
from pathlib import Path

import pytest

from augmentoolkit.errors import BudgetReached
from augmentoolkit.pipeline import run_pipeline
from tests.conftest import ConfigFactory
from tests.fake_model import reply
from tests.llm_server import ScriptedLLMServer
from tests.test_pipeline import dataset_bytes, sample_config

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


@pytest.fixture
def finished_run(server: ScriptedLLMServer, make_config: ConfigFactory, sample_input: Path) -> Path:
    server.set_responder(reply)
    config = sample_config(
        make_config, server, sample_input, GRAPH=True, META_DATAGEN=True, SUBSET_SIZE=3
    )
    asyncio.run(run_pipeline(config))
    return config.PATH.OUTPUT


def load_json_dataset(path: Path) -> list[dict[str, object]]:
    from datasets import load_dataset

    dataset = load_dataset("json", data_files=str(path), split="train")
    return [dict(row) for row in dataset]


def test_exports_load_with_hugging_face_datasets(finished_run: Path) -> None:
    sharegpt = load_json_dataset(finished_run / "simplified_data.jsonl")
    messages = load_json_dataset(finished_run / "openai_messages.jsonl")
    pairs = load_json_dataset(finished_run / "qa_pairs.jsonl")
    assert len(sharegpt) == len(messages) > 0
    for row in messages:
        roles = [m["role"] for m in row["messages"]]  # type: ignore[index, union-attr]
        assert roles[0] == "system"
        assert roles[1:] == ["user", "assistant"] * (len(roles[1:]) // 2)
        assert all(m["content"].strip() for m in row["messages"])  # type: ignore[index, union-attr]
    for row in sharegpt:
        turns = row["conversations"]
        assert [t["from"] for t in turns[1:]] == ["human", "gpt"] * (len(turns[1:]) // 2)  # type: ignore[index, union-attr]
    chunks = {
        json.loads(line)["id"]: json.loads(line)["text"]
        for line in (finished_run / "chunks" / "chunks.jsonl").read_text().splitlines()
    }
    assert pairs
    for pair in pairs:
        assert set(pair) == {"question", "answer", "source_file", "chunk_id", "chunk_text"}
        assert all(str(value).strip() for value in pair.values())
        assert chunks[str(pair["chunk_id"])] == pair["chunk_text"]


def test_run_report_and_charts(finished_run: Path) -> None:
    report = (finished_run / "run_report.md").read_text(encoding="utf-8")
    for stage in ("judge chunks", "generate questions", "validate pairs", "write conversations"):
        assert f"| {stage} |" in report
    assert "| small-model |" in report and "| large-model |" in report
    assert "Total cost: $" in report
    charts = [
        "chunk_tokens.png",
        "judged_worthy.png",
        "pairs_per_chunk.png",
        "check_pass_rates.png",
        "conversation_turns.png",
    ]
    for chart in charts:
        assert f"(report/{chart})" in report
        assert (finished_run / "report" / chart).read_bytes().startswith(PNG_MAGIC)
    judgement = finished_run / "worthy_for_questions" / "judgement.png"
    assert judgement.read_bytes().startswith(PNG_MAGIC)


def test_meta_datagen_holds_every_step(finished_run: Path) -> None:
    folder = finished_run / "meta_datagen"
    steps = {path.stem for path in folder.glob("*.jsonl")}
    assert {"judge_chunk", "generate_questions", "check_question", "repair_context"} <= steps
    for line in (folder / "generate_questions.jsonl").read_text(encoding="utf-8").splitlines():
        messages = json.loads(line)["messages"]
        assert messages[-1]["role"] == "assistant"
        assert messages[-1]["content"].startswith("Question 1:")


def test_budget_cap_stops_cleanly_and_a_higher_cap_resumes(
    server: ScriptedLLMServer, make_config: ConfigFactory, sample_input: Path, tmp_path: Path
) -> None:
    server.set_responder(reply)
    reference = sample_config(make_config, server, sample_input, output=tmp_path / "reference")
    asyncio.run(run_pipeline(reference))
    expected, total = dataset_bytes(reference.PATH.OUTPUT), server.count()

    server.reset()
    server.set_responder(reply)
    prices = {"LOGICAL_INPUT_PRICE": 10.0, "LOGICAL_OUTPUT_PRICE": 30.0}
    capped = make_config(
        PATH={"INPUT": str(sample_input), "OUTPUT": str(tmp_path / "capped")},
        API={"BASE_URL": server.base_url},
        SYSTEM={"USE_SUBSET": True, "SUBSET_SIZE": 4},
        COST={**prices, "BUDGET": 0.3},  # the whole run costs about $0.5
    )
    with pytest.raises(BudgetReached, match=r"budget of \$0.30"):
        asyncio.run(run_pipeline(capped))
    spent = server.count()
    assert 0 < spent < total
    report = (tmp_path / "capped" / "run_report.md").read_text(encoding="utf-8")
    cost = float(re.search(r"Total cost: \$([0-9.]+)", report).group(1))  # type: ignore[union-attr]
    assert 0 < cost <= 0.3  # never past the cap: each request's worst case was reserved
    raised = make_config(
        PATH={"INPUT": str(sample_input), "OUTPUT": str(tmp_path / "capped")},
        API={"BASE_URL": server.base_url},
        SYSTEM={"USE_SUBSET": True, "SUBSET_SIZE": 4},
        COST={**prices, "BUDGET": 100.0},
    )
    asyncio.run(run_pipeline(raised))
    assert dataset_bytes(tmp_path / "capped") == expected
    assert server.count() <= total + 8  # resumed: at most the 8 calls in flight are repeated
