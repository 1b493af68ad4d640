"""OUTPUT_SHAPE original: the original's three files, indexed the way scripts written against
the original index them, equal to hand-checked files, and beside this version's own."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import pytest

from augmentoolkit.control_flow_functions.original_shape import FILES, write_original_shapes
from augmentoolkit.pipeline import run_pipeline
from augmentoolkit.records import Chunk, Conversation, ConversationPlan, QAPair, SourceInfo, Turn
from tests.conftest import ConfigFactory
from tests.fake_model import reply
from tests.llm_server import ScriptedLLMServer
from tests.test_pipeline import read_jsonl, sample_config

EXPECTED = Path(__file__).parent / "data" / "original_shapes"


def pair(chunk: Chunk, number: int, question: str, answer: str) -> QAPair:
    return QAPair(f"{chunk.id}-{number}", chunk, question, answer)


def scripted_conversations() -> list[Conversation]:
    """Two conversations as the writing stage leaves them: assistant mode, then characters."""
    hive = Chunk("c1", SourceInfo("bees/hives.txt", "hives"), 0, "Bees keep warm. They shiver.", 7)
    lamp = Chunk("c2", SourceInfo("Lamps, by Ann Lee.md", "Lamps", "Ann Lee"), 0, "Wicks burn.", 3)
    assistant = ConversationPlan(
        "b-plan", (pair(hive, 1, "How do bees keep warm?", "They shiver."),), True
    )
    characters = ConversationPlan(
        "a-plan",
        (pair(lamp, 1, "What burns?", "Wicks burn."), pair(lamp, 2, "Why?", "Oil — “fuel”.")),
        False,
        character_card="Name: Mira Holt\nTraits: calm",
        card_plan="A keeper.",
        scenario="Tom visits Mira.",
        scenario_plan="Step 1. A visit.",
        primary_name="Mira Holt",
        secondary_name="Tom",
    )
    return [
        Conversation(
            assistant,
            (
                Turn("User", "human", "How do bees keep warm?"),
                Turn("AI Assistant", "gpt", "They shiver,\nall winter."),
            ),
            "User: How do bees keep warm?\n\nAI Assistant: They shiver,\nall winter.",
        ),
        Conversation(
            characters,
            (
                Turn("Tom", "human", "What burns?"),
                Turn("Mira Holt", "gpt", "Wicks burn."),
                Turn("Tom", "human", "Why?"),
                Turn("Mira Holt", "gpt", "Oil — “fuel”."),
            ),
            "",
        ),
    ]


def index_like_the_original(folder: Path) -> list[dict[str, Any]]:
    """Read the three files as the original's downstream code does: by list position, by
    splitting "Name: message" at the first colon, and ShareGPT turns by their "from"."""
    rows = []
    lines = (folder / "master_list.jsonl").read_text(encoding="ascii").splitlines()
    processed = json.loads((folder / "processed_master_list.json").read_text(encoding="ascii"))
    simplified = (folder / "simplified_data.jsonl").read_text(encoding="ascii").splitlines()
    assert len(lines) == len(processed) == len(simplified)
    for line, full, share in zip(lines, processed, simplified, strict=True):
        conversation, card, scenario, scenario_plan, qa_tuples = json.loads(line)
        for question, answer, chunk_text, source in qa_tuples:
            assert all(isinstance(v, str) for v in (question, answer, chunk_text, source))
        turns = [tuple(part.strip() for part in t.split(":", 1)) for t in conversation.split("\n")]
        assert full[0] == conversation.split("\n")  # item 0 split into "Name: message" strings
        assert full[1:] == [card, scenario, scenario_plan, qa_tuples]
        sharegpt = json.loads(share)["conversations"]
        assert sharegpt[0]["from"] == "system"
        assert [t["from"] for t in sharegpt[1:]] == ["gpt", "human"] * (len(turns) // 2) + [
            "gpt"
        ] * (len(turns) % 2)
        assert [t["value"] for t in sharegpt[1:]] == [message for _, message in turns]
        rows.append({"turns": turns, "card": card, "system": sharegpt[0]["value"], "qa": qa_tuples})
    return rows


def test_scripted_conversations_match_the_hand_checked_files(tmp_path: Path) -> None:
    paths = write_original_shapes(scripted_conversations(), tmp_path)
    assert [p.relative_to(tmp_path).as_posix() for p in paths] == [f"original/{n}" for n in FILES]
    for path in paths:
        assert path.read_bytes() == (EXPECTED / path.name).read_bytes(), path.name
    characters, assistant = index_like_the_original(tmp_path / "original")  # by plan id
    assert characters["turns"][0] == ("Mira Holt", "Hello, Tom. What would you like to know?")
    assert characters["system"] == "Name: Mira Holt\nTraits: calm"
    assert characters["qa"][0] == ["What burns?", "Wicks burn.", "Wicks burn.", "Lamps, by Ann Lee"]
    assert assistant["turns"] == [
        ("AI Assistant", "Hello! How can I help you today?"),
        ("User", "How do bees keep warm?"),
        ("AI Assistant", "They shiver, all winter."),
    ]
    assert assistant["system"] == "You are a helpful, unbiased AI assistant."
    assert json.loads((paths[0]).read_text().splitlines()[1])[1:4] == [
        "AI Assistant",
        "A conversation between a helpful AI Assistant, and a user.",
        "N/A",
    ]
    assert assistant["qa"][0][3] == "bees/hives"


def test_listed_duplicates_are_left_out(tmp_path: Path) -> None:
    removed = {"kind": "conversation", "removed": {"id": "a-plan"}, "kept": {"id": "x"}}
    duplicates = tmp_path / "duplicates.jsonl"
    duplicates.write_text(json.dumps(removed) + "\n", encoding="utf-8")
    write_original_shapes(scripted_conversations(), tmp_path, duplicates)
    rows = index_like_the_original(tmp_path / "original")
    assert [row["system"] for row in rows] == ["You are a helpful, unbiased AI assistant."]


@pytest.mark.parametrize("assistant_mode", [True, False])
def test_a_run_with_output_shape_original_writes_both_shapes(
    server: ScriptedLLMServer,
    make_config: ConfigFactory,
    sample_input: Path,
    assistant_mode: bool,
) -> None:
    server.set_responder(reply)
    config = sample_config(
        make_config,
        server,
        sample_input,
        SUBSET_SIZE=3,
        ASSISTANT_MODE=assistant_mode,
        OUTPUT_SHAPE="original",
    )
    asyncio.run(run_pipeline(config))
    output = config.PATH.OUTPUT
    ours = read_jsonl(output / "simplified_data.jsonl")
    rows = index_like_the_original(output / "original")
    assert len(rows) == len(ours) > 0
    for row, mine in zip(rows, ours, strict=True):
        # the same conversation: our turns, after the expert's opener
        assert [message for _, message in row["turns"][1:]] == [
            " ".join(t["value"].split()) for t in mine["conversations"][1:]
        ]
        assert row["turns"][0][0] == ("AI Assistant" if assistant_mode else "Dr. Ada Finch")
        chunks = {c["text"] for c in read_jsonl(output / "chunks" / "chunks.jsonl")}
        assert all(qa[2] in chunks for qa in row["qa"])
