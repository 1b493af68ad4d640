"""Stage 8: write the datasets, each atomically (temp file + rename), in a stable order.

- master_list.jsonl: one line per conversation with its text, character card, scenario and plan,
  and the QA pairs it was built from with their source file, chunk id and chunk text.
- processed_masterlist.json: the same content as one JSON document, conversations split in turns.
- simplified_data.jsonl: ShareGPT, `{"conversations": [{"from": "system"|"human"|"gpt",
  "value": ...}]}`, human and gpt alternating after the system turn.
- openai_messages.jsonl: the same conversations as OpenAI chat fine-tuning rows,
  `{"messages": [{"role": "system"|"user"|"assistant", "content": ...}]}`.
- qa_pairs.jsonl: every pair that survived validation and repair, flat: question, answer,
  source file, chunk id and chunk text.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from augmentoolkit.io_utils import read_jsonl, write_json_atomic, write_jsonl_atomic
from augmentoolkit.records import Conversation, QAPair

ASSISTANT_SYSTEM_PROMPT = (
    "You are a helpful AI assistant. Answer the user's questions accurately and in detail."
)
DATASET_FILES = (
    "master_list.jsonl",
    "processed_masterlist.json",
    "simplified_data.jsonl",
    "openai_messages.jsonl",
    "qa_pairs.jsonl",
)
OPENAI_ROLES = {"system": "system", "human": "user", "gpt": "assistant"}


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


def openai_row(conversation: Conversation) -> dict[str, Any]:
    turns = sharegpt_row(conversation)["conversations"]
    return {"messages": [{"role": OPENAI_ROLES[t["from"]], "content": t["value"]} for t in turns]}


def qa_row(pair: QAPair) -> dict[str, Any]:
    return {
        "question": pair.question,
        "answer": pair.answer,
        "source_file": pair.chunk.source.filename,
        "chunk_id": pair.chunk.id,
        "chunk_text": pair.chunk.text,
    }


def write_datasets(
    conversations: list[Conversation], pairs: list[QAPair], output: Path
) -> list[Path]:
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
    write_jsonl_atomic(paths[3], [openai_row(c) for c in ordered])
    write_jsonl_atomic(paths[4], [qa_row(p) for p in sorted(pairs, key=lambda p: p.id)])
    return paths


def write_meta_datagen(store_folder: Path, output: Path) -> list[Path]:
    """Every step's successful prompts and final completions as training data, one JSONL per
    step: chat prompts as `{"messages": [..., {"role": "assistant", ...}]}`, completion prompts
    as `{"prompt": ..., "completion": ...}`."""
    written = []
    for store_file in sorted(store_folder.glob("*.jsonl")):
        rows = []
        for record in read_jsonl(store_file):
            if not record.get("ok") or not record.get("completions"):
                continue
            completion = record["completions"][-1]
            prompt = record["prompt"]
            if isinstance(prompt, list):
                rows.append({"messages": [*prompt, {"role": "assistant", "content": completion}]})
            else:
                rows.append({"prompt": prompt, "completion": completion})
        path = output / store_file.name
        write_jsonl_atomic(path, rows)
        written.append(path)
    return written
