"""The train/eval split never puts a source chunk or an answer on both sides, takes whole groups,
keeps every line of the full files on exactly one side, and follows the seed."""

from __future__ import annotations

import asyncio
import json
import random
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from augmentoolkit.control_flow_functions.split import (
    CONVERSATION_FILES,
    PAIR_FILES,
    SIDES,
    answer_key,
    write_split,
)
from augmentoolkit.pipeline import run_pipeline
from tests.conftest import ConfigFactory
from tests.fake_model import reply
from tests.llm_server import ScriptedLLMServer
from tests.test_pipeline import sample_config

SPLIT_FILES = (*CONVERSATION_FILES, *PAIR_FILES)


def write_datasets_like(folder: Path, seed: int) -> None:
    """40 conversations over 12 chunks; some answers recur on other chunks (a leak to avoid)."""
    rng = random.Random(seed)
    shared = [f"A shared answer {n}." for n in range(3)]  # each links a few chunks together
    master, sharegpt, openai, chatml, pairs = [], [], [], [], []
    for number in range(40):
        chunk = f"c{rng.randrange(12)}"
        qa = [
            {"chunk_id": chunk, "answer": rng.choice(shared).upper() if rng.random() < 0.05
             else f"Answer {chunk} {rng.randrange(4)}.", "question": f"q{number}.{k}?"}
            for k in range(rng.randrange(1, 4))
        ]  # fmt: skip
        master.append({"id": f"conv{number}", "qa_pairs": qa})
        sharegpt.append({"conversations": [{"from": "human", "value": f"conv{number}"}]})
        openai.append({"messages": [{"role": "user", "content": f"conv{number}"}]})
        chatml.append({"text": f"<|im_start|>user\nconv{number}<|im_end|>\n"})
        pairs += [{**pair, "chunk_text": "..."} for pair in qa]
    pairs.append({"chunk_id": "c99", "answer": "Unused.", "question": "alone?", "chunk_text": ""})
    for name, rows in (
        ("master_list.jsonl", master),
        ("simplified_data.jsonl", sharegpt),
        ("openai_messages.jsonl", openai),
        ("chatml.jsonl", chatml),
        ("qa_pairs.jsonl", pairs),
        ("alpaca.jsonl", [{"instruction": p["question"], "output": p["answer"]} for p in pairs]),
    ):
        (folder / name).write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")


def side_rows(folder: Path, side: str, name: str) -> list[dict[str, Any]]:
    path = folder / "split" / side / name
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


@pytest.mark.parametrize("seed", range(5))
def test_no_chunk_and_no_answer_on_both_sides(tmp_path: Path, seed: int) -> None:
    write_datasets_like(tmp_path, seed)
    counts = write_split(tmp_path, 0.2, seed)
    assert counts["eval"] > 0 and counts["train"] > 0 and sum(counts.values()) == 40
    keys: dict[str, set[str]] = {}
    for side in SIDES:
        conversations = side_rows(tmp_path, side, "master_list.jsonl")
        pairs = [p for c in conversations for p in c["qa_pairs"]]
        pairs += side_rows(tmp_path, side, "qa_pairs.jsonl")
        keys[side] = {f"chunk:{p['chunk_id']}" for p in pairs} | {
            answer_key(str(p["answer"])) for p in pairs
        }
        # the files of one side stay line for line together
        ids = [c["id"] for c in conversations]
        shown = [
            r["conversations"][0]["value"]
            for r in side_rows(tmp_path, side, "simplified_data.jsonl")
        ]  # noqa: E501
        assert ids == shown
    assert keys["train"].isdisjoint(keys["eval"])
    for side in SIDES:  # the Alpaca rows stay line for line with their pairs
        questions = [p["question"] for p in side_rows(tmp_path, side, "qa_pairs.jsonl")]
        alpaca = side_rows(tmp_path, side, "alpaca.jsonl")
        assert [row["instruction"] for row in alpaca] == questions
        chatml = [row["text"] for row in side_rows(tmp_path, side, "chatml.jsonl")]
        ids = [c["id"] for c in side_rows(tmp_path, side, "master_list.jsonl")]
        assert chatml == [f"<|im_start|>user\n{i}<|im_end|>\n" for i in ids]
    for name in SPLIT_FILES:
        whole = Counter((tmp_path / name).read_text(encoding="utf-8").splitlines())
        parts: Counter[str] = Counter()
        for side in SIDES:
            parts.update(
                (tmp_path / "split" / side / name).read_text(encoding="utf-8").splitlines()
            )
        assert parts == whole


def test_the_seed_decides_and_zero_writes_nothing(tmp_path: Path) -> None:
    write_datasets_like(tmp_path, 1)
    picks = set()
    for seed in range(6):
        write_split(tmp_path, 0.2, seed)
        picks.add((tmp_path / "split" / "eval" / "master_list.jsonl").read_text())
    assert len(picks) > 1
    other = tmp_path / "other"
    other.mkdir()
    write_datasets_like(other, 1)
    assert write_split(other, 0.0, 1) == {} and not (other / "split").exists()


def test_a_run_writes_the_split(
    server: ScriptedLLMServer, make_config: ConfigFactory, sample_input: Path
) -> None:
    server.set_responder(reply)
    config = sample_config(make_config, server, sample_input, SUBSET_SIZE=4, EVAL_SHARE=0.3)
    asyncio.run(run_pipeline(config))
    output = config.PATH.OUTPUT
    whole = (output / "simplified_data.jsonl").read_text(encoding="utf-8").splitlines()
    sides = [
        (output / "split" / side / "simplified_data.jsonl").read_text(encoding="utf-8").splitlines()
        for side in SIDES
    ]
    assert sorted(sides[0] + sides[1]) == sorted(whole) and sides[0] and sides[1]
