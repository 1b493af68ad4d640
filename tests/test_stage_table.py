"""The stage table is the one place the pipeline is declared: processing.py's map and the
notebook follow it, and a stage added as one row plus its function is run, written to its
folder, counted, reported, estimated, prompt-checked and given a notebook cell, with nothing
else changed."""

from __future__ import annotations

import asyncio
import json
import re
from pathlib import Path
from typing import Any

import pytest

import processing
from augmentoolkit.config import Config
from augmentoolkit.control_flow_functions.progress import StageOutcome, StageResult
from augmentoolkit.errors import PromptError
from augmentoolkit.estimate import estimate_run
from augmentoolkit.generation_functions.generation_step import GenerationContext, GenerationStep
from augmentoolkit.generation_functions.prompts import PromptLibrary
from augmentoolkit.notebook import build_notebook, notebook_text
from augmentoolkit.pipeline import run_pipeline
from augmentoolkit.records import Conversation
from augmentoolkit.stages import STAGES, CallGuess, Stage
from tests.conftest import REPO, ConfigFactory
from tests.fake_model import reply
from tests.llm_server import RecordedRequest, ScriptedLLMServer
from tests.test_pipeline import read_jsonl, sample_config

TITLE = GenerationStep(
    "title_conversation", lambda text: text.strip(), variables=frozenset({"conversation"})
)


async def title_conversations(
    ctx: GenerationContext, config: Config, conversations: list[Conversation]
) -> StageResult:
    """The new stage's function: one call per conversation, a title row for each."""
    outcome = StageOutcome("title conversations", items_in=len(conversations))
    rows: list[dict[str, Any]] = []
    for conversation in conversations:
        titled = await TITLE.run(ctx, {"conversation": conversation.raw_text})
        if titled.ok:
            rows.append({"id": conversation.plan.id, "title": titled.value})
            outcome.kept += 1
        else:
            outcome.fail("title unreadable")
    return StageResult(rows, outcome)


EXTRA = Stage(
    "title conversations",
    "conversation_titles",
    "titles.jsonl",
    Conversation,
    dict,
    "small",
    title_conversations,
    kept=lambda rows: rows,
    needs=lambda c: (TITLE,),
    guess=lambda c: (CallGuess(TITLE.name, 1, 20),),
    fanout=lambda c: 1.0,
    description="Gives each conversation a short title.",
)


def test_processing_docstring_maps_the_table_in_order() -> None:
    doc = processing.__doc__ or ""
    lines = [line for line in doc.splitlines() if re.match(r"\s+\d\. ", line)]
    mapped = [line.split(". ", 1)[1].split("->")[0].strip() for line in lines[1:-1]]
    assert mapped == [stage.name for stage in STAGES]
    for line, stage in zip(lines[1:-1], STAGES, strict=True):
        assert f"{stage.folder}/" in line


def test_committed_notebook_is_built_from_the_table() -> None:
    committed = (REPO / "processing.ipynb").read_text(encoding="utf-8")
    assert committed == notebook_text(), "run: python -m augmentoolkit.notebook"


def test_check_lists_the_table(
    make_config: ConfigFactory, capsys: pytest.CaptureFixture[str]
) -> None:
    config = make_config()
    assert processing.main(["--config", str(config.source), "--check", "--offline"]) == 0
    out = capsys.readouterr().out
    positions = [out.index(f"  {stage.name} (") for stage in STAGES]
    assert positions == sorted(positions)


def test_a_new_stage_is_one_row_and_its_function(
    server: ScriptedLLMServer,
    make_config: ConfigFactory,
    sample_input: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    def responder(request: RecordedRequest) -> str:
        return "A short title" if request.step == TITLE.name else reply(request)

    server.set_responder(responder)
    table = (*STAGES, EXTRA)
    config = sample_config(make_config, server, sample_input, SUBSET_SIZE=2)

    # --check's prompt list reads the table: the new stage's prompt is required before any call
    with pytest.raises(PromptError, match=TITLE.name):
        asyncio.run(run_pipeline(config, stages=table))
    assert server.count() == 0

    overrides = tmp_path / "my_prompts"
    overrides.mkdir()
    (overrides / f"{TITLE.name}.txt").write_text(
        "<<system>>\nYou title conversations.\n<<user>>\n$conversation\n", encoding="utf-8"
    )
    config = make_config(
        PATH={"INPUT": str(sample_input), "PROMPTS": str(overrides)},
        API={"BASE_URL": server.base_url, "MAX_RETRIES": 6},
        SYSTEM={"USE_SUBSET": True, "SUBSET_SIZE": 2, "DOUBLE_CHECK_COUNTER": 3},
    )
    asyncio.run(run_pipeline(config, stages=table))
    err = capsys.readouterr().err

    conversations = read_jsonl(config.PATH.OUTPUT / "multi_turn_convs" / "conversations.jsonl")
    titles = read_jsonl(config.PATH.OUTPUT / EXTRA.path)
    assert sorted(t["id"] for t in titles) == sorted(c["plan"]["id"] for c in conversations)
    assert server.count(TITLE.name) == len(conversations) > 0
    assert re.search(
        rf"^title conversations: in {len(conversations)}, kept .* calls [1-9]", err, re.M
    )
    report = (config.PATH.OUTPUT / "run_report.md").read_text(encoding="utf-8")
    assert "| title conversations |" in report

    prompts = PromptLibrary(overrides, REPO / "prompts")
    without = estimate_run(config, 10, 4000, prompts, STAGES)
    with_extra = estimate_run(config, 10, 4000, prompts, table)
    assert with_extra.calls > without.calls

    sources = ["".join(cell["source"]) for cell in build_notebook(table)["cells"]]
    assert 'await run.run_stage("title conversations")' in sources
    assert sources.index('await run.run_stage("title conversations")') > sources.index(
        'await run.run_stage("write conversations")'
    )


def test_the_notebook_follows_the_table_order() -> None:
    cells = build_notebook()["cells"]
    calls = [
        json.loads(m.group(1))
        for cell in cells
        for m in [re.search(r'run_stage\(("[^"]+")\)', "".join(cell["source"]))]
        if m
    ]
    assert calls == [stage.name for stage in STAGES]


@pytest.mark.parametrize(
    ("line", "problem"),
    [
        ("Text: $chunk\nWho wrote it: $author\n", "uses $author but the step gave no value"),
        ("Text: $chunk\nIt costs $5 to ask.\n", "has a stray '$'"),
    ],
)
def test_check_fills_every_prompt_with_its_steps_values(
    make_config: ConfigFactory,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    line: str,
    problem: str,
) -> None:
    overrides = tmp_path / "overrides"
    overrides.mkdir()
    (overrides / "judge_chunk.txt").write_text(
        f"<<system>>\nYou judge texts.\n<<user>>\n{line}", encoding="utf-8"
    )
    config = make_config(PATH={"PROMPTS": str(overrides)})
    assert processing.main(["--config", str(config.source), "--check"]) == 2
    err = capsys.readouterr().err
    assert "judge_chunk" in err and problem in err


def test_a_step_given_other_values_than_it_declares_is_refused(tmp_path: Path) -> None:
    from tests.helpers import close_context, make_context

    async def go() -> None:
        ctx = make_context("http://127.0.0.1:9/v1", REPO / "prompts", tmp_path)
        try:
            await TITLE.run(ctx, {"conversation": "x", "extra": "y"})
        finally:
            await close_context(ctx)

    with pytest.raises(ValueError, match="declares \\['conversation'\\]"):
        asyncio.run(go())
