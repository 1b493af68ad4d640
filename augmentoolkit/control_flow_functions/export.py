"""Stage 8: write the datasets, each atomically (temp file + rename), in a stable order.

- master_list.jsonl: one line per conversation with its text, character card, scenario and plan,
  and the QA pairs it was built from with their source file, chunk id and chunk text.
- processed_masterlist.json: the same content as one JSON document, conversations split in turns.
- simplified_data.jsonl: ShareGPT, `{"conversations": [{"from": "system"|"human"|"gpt",
  "value": ...}]}`, human and gpt alternating after the system turn.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from augmentoolkit.io_utils import write_json_atomic, write_jsonl_atomic
from augmentoolkit.records import Conversation

ASSISTANT_SYSTEM_PROMPT = (
    "You are a helpful AI assistant. Answer the user's questions accurately and in detail."
)
DATASET_FILES = ("master_list.jsonl", "processed_masterlist.json", "simplified_data.jsonl")


def system_prompt(conversation: Conversation) -> str:
    plan = conversation.plan
    if plan.assistant_mode:
        return ASSISTANT_SYSTEM_PROMPT
    return (
        f"{plan.character_card.strip()}\n\nScenario: {plan.scenario.strip()}\n\n"
        f"You are {plan.primary_name}. Stay in character and answer {plan.secondary_name}."
    )


def master_row(conversation: Conversation) -> dict[str, Any]:
    plan = conversation.plan
    return {
        "id": plan.id,
        "conversation": conversation.raw_text,
        "character_card": plan.character_card,
        "scenario": plan.scenario,
        "scenario_plan": plan.scenario_plan,
        "card_plan": plan.card_plan,
        "traits": list(plan.traits),
        "assistant_mode": plan.assistant_mode,
        "qa_pairs": [
            {
                "question": pair.question,
                "answer": pair.answer,
                "source_file": pair.chunk.source.filename,
                "source": pair.chunk.source.describe(),
                "chunk_id": pair.chunk.id,
                "chunk": pair.chunk.text,
            }
            for pair in plan.pairs
        ],
    }


def sharegpt_row(conversation: Conversation) -> dict[str, Any]:
    turns = [{"from": "system", "value": system_prompt(conversation)}]
    turns += [{"from": turn.role, "value": turn.text} for turn in conversation.turns]
    return {"conversations": turns}


def write_datasets(conversations: list[Conversation], output: Path) -> list[Path]:
    ordered = sorted(conversations, key=lambda c: c.plan.id)
    master = [master_row(c) for c in ordered]
    processed = [
        {**row, "turns": [t.to_dict() for t in c.turns]}
        for row, c in zip(master, ordered, strict=True)
    ]
    paths = [output / name for name in DATASET_FILES]
    write_jsonl_atomic(paths[0], master)
    write_json_atomic(paths[1], processed)
    write_jsonl_atomic(paths[2], [sharegpt_row(c) for c in ordered])
    return paths
