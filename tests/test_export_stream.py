"""Streaming export: write_datasets and write_meta_datagen give the same bytes as the old
all-in-memory versions (kept here as oracles), consume generators, and leave no scratch files;
the streaming writers in io_utils match json.dumps byte for byte."""

from __future__ import annotations

import json
import random
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from augmentoolkit.control_flow_functions.export import (
    DATASET_FILES,
    master_row,
    openai_row,
    qa_row,
    sharegpt_row,
    write_datasets,
    write_meta_datagen,
)
from augmentoolkit.io_utils import JsonListWriter, atomic_text_writer, write_jsonl_atomic
from augmentoolkit.records import (
    Chunk,
    Conversation,
    ConversationPlan,
    QAPair,
    SourceInfo,
    Turn,
)

# Ids that collide, share prefixes, and differ only beyond the BMP, to pin the order.
IDS = ["", "a", "a\x00b", "ab", "B", "é", "z", "\uffff", "\U0001f600", "0a1b", "ab"]
ALPHABET = "abc XYZ \"'\\\n\t/<>&é中文😀\u2028\x00{}[],:"


def read_jsonl(path: Path) -> list[dict[str, Any]]:
    """The reference's reader: one record per "\\n"-ended line (not str.splitlines, which also
    splits at U+2028 inside a JSON string)."""
    with open(path, encoding="utf-8") as handle:
        return [json.loads(line) for line in handle if line.strip()]


def _text(rng: random.Random, most: int = 30) -> str:
    return "".join(rng.choice(ALPHABET) for _ in range(rng.randint(0, most)))


def _chunk(rng: random.Random) -> Chunk:
    source = SourceInfo(
        _text(rng, 8) + ".txt", _text(rng, 8), _text(rng, 5), str(rng.randint(0, 3000))
    )
    return Chunk(rng.choice(IDS), source, rng.randint(0, 9), _text(rng), rng.randint(1, 500))


def _pair(rng: random.Random) -> QAPair:
    return QAPair(rng.choice(IDS), _chunk(rng), _text(rng), _text(rng))


def _conversation(rng: random.Random) -> Conversation:
    assistant = rng.random() < 0.5
    extra: dict[str, Any] = {}
    if not assistant:
        extra = {
            "character_card": _text(rng),
            "card_plan": _text(rng),
            "scenario": _text(rng),
            "scenario_plan": _text(rng),
            "traits": tuple(_text(rng, 6) for _ in range(rng.randint(0, 3))),
            "primary_name": _text(rng, 6),
            "secondary_name": _text(rng, 6),
        }
    pairs = tuple(_pair(rng) for _ in range(rng.randint(0, 3)))
    plan = ConversationPlan(rng.choice(IDS), pairs, assistant, **extra)
    turns = tuple(
        Turn(_text(rng, 6), "human" if i % 2 == 0 else "gpt", _text(rng))
        for i in range(rng.randint(0, 6))
    )
    return Conversation(plan, turns, _text(rng))


def reference_write_datasets(
    conversations: list[Conversation], pairs: list[QAPair], output: Path
) -> list[Path]:
    """The export as it was before streaming: sort in memory, build each file as one string."""
    ordered = sorted(conversations, key=lambda c: c.plan.id)
    master = [master_row(c) for c in ordered]
    processed = [
        {**row, "turns": [t.to_dict() for t in c.turns]}
        for row, c in zip(master, ordered, strict=True)
    ]

    def lines(rows: list[dict[str, Any]]) -> str:
        return "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows)

    def chatml(conversation: Conversation) -> dict[str, str]:
        messages = openai_row(conversation)["messages"]
        return {
            "text": "".join(
                f"<|im_start|>{m['role']}\n{m['content']}<|im_end|>\n" for m in messages
            )
        }

    ordered_pairs = sorted(pairs, key=lambda p: p.id)
    texts = [
        lines(master),
        json.dumps(processed, ensure_ascii=False, indent=2) + "\n",
        lines([sharegpt_row(c) for c in ordered]),
        lines([openai_row(c) for c in ordered]),
        lines([chatml(c) for c in ordered]),
        lines([qa_row(p) for p in ordered_pairs]),
        lines(
            [{"instruction": p.question, "input": "", "output": p.answer} for p in ordered_pairs]
        ),
    ]
    output.mkdir(parents=True, exist_ok=True)
    paths = [output / name for name in DATASET_FILES]
    for path, text in zip(paths, texts, strict=True):
        path.write_bytes(text.encode("utf-8"))
    return paths


def _bytes(paths: list[Path]) -> list[bytes]:
    return [path.read_bytes() for path in paths]


@pytest.mark.parametrize("seed,count", [(0, 0), (1, 1), (2, 7), (3, 40), (4, 120)])
def test_same_bytes_as_reference(tmp_path: Path, seed: int, count: int) -> None:
    rng = random.Random(seed)
    conversations = [_conversation(rng) for _ in range(count)]
    pairs = [_pair(rng) for _ in range(count * 2)]
    expected = reference_write_datasets(conversations, pairs, tmp_path / "old")
    written = write_datasets(conversations, pairs, tmp_path / "new")
    assert [p.name for p in written] == list(DATASET_FILES)
    assert _bytes(written) == _bytes(expected)
    assert sorted(p.name for p in (tmp_path / "new").iterdir()) == sorted(DATASET_FILES)


def test_empty_input_matches_reference(tmp_path: Path) -> None:
    written = write_datasets([], [], tmp_path / "new")
    assert _bytes(written) == _bytes(reference_write_datasets([], [], tmp_path / "old"))
    assert (tmp_path / "new" / "processed_masterlist.json").read_text() == "[]\n"


def test_consumes_generators_once(tmp_path: Path) -> None:
    rng = random.Random(5)
    conversations = [_conversation(rng) for _ in range(25)]
    pairs = [_pair(rng) for _ in range(30)]
    expected = reference_write_datasets(conversations, pairs, tmp_path / "old")
    conversation_stream = (c for c in conversations)
    pair_stream = (p for p in pairs)
    written = write_datasets(conversation_stream, pair_stream, tmp_path / "new")
    assert _bytes(written) == _bytes(expected)
    assert next(conversation_stream, None) is None and next(pair_stream, None) is None


def test_failure_keeps_previous_files(tmp_path: Path) -> None:
    rng = random.Random(6)
    first = write_datasets([_conversation(rng)], [_pair(rng)], tmp_path)
    before = _bytes(first)

    def broken() -> Iterator[Conversation]:
        yield _conversation(rng)
        raise RuntimeError("stage failed")

    with pytest.raises(RuntimeError):
        write_datasets(broken(), [], tmp_path)
    assert _bytes(first) == before
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(DATASET_FILES)


class FakeStore:
    def __init__(self, records: dict[str, list[dict[str, Any]]]) -> None:
        self.records = records

    def step_names(self) -> list[str]:
        return list(self.records)

    def iter_records(self, step: str) -> Iterator[dict[str, Any]]:
        yield from self.records[step]


def reference_write_meta_datagen(store_folder: Path, output: Path) -> list[Path]:
    """meta-datagen as it was: read each step file of the store folder whole."""
    written = []
    for store_file in sorted(store_folder.glob("*.jsonl")):
        rows = []
        for record in read_jsonl(store_file):
            if not record.get("ok") or not record.get("completions"):
                continue
            completion, prompt = record["completions"][-1], record["prompt"]
            if isinstance(prompt, list):
                rows.append({"messages": [*prompt, {"role": "assistant", "content": completion}]})
            else:
                rows.append({"prompt": prompt, "completion": completion})
        path = output / store_file.name
        write_jsonl_atomic(path, rows)
        written.append(path)
    return written


def test_meta_datagen_matches_reference(tmp_path: Path) -> None:
    rng = random.Random(7)
    records: dict[str, list[dict[str, Any]]] = {}
    for step in ["judge", "a-b", "a", "qa_gen", "empty"]:
        records[step] = []
        for i in range(0 if step == "empty" else rng.randint(1, 8)):
            prompt: Any = (
                [{"role": "user", "content": _text(rng)}] if rng.random() < 0.5 else _text(rng)
            )
            completions = [_text(rng) for _ in range(rng.randint(0, 2))]
            ok = rng.random() < 0.7
            records[step].append(
                {"key": f"{step}{i}", "ok": ok, "prompt": prompt, "completions": completions}
            )
    store_folder = tmp_path / "store"
    for step, rows in records.items():
        write_jsonl_atomic(store_folder / f"{step}.jsonl", rows)
    expected = reference_write_meta_datagen(store_folder, tmp_path / "old")
    written = write_meta_datagen(FakeStore(records), tmp_path / "new")
    assert [p.name for p in written] == [p.name for p in expected]
    assert _bytes(written) == _bytes(expected)


@pytest.mark.parametrize(
    "items",
    [[], [{}], [[]], [1, "a\nb", None], [{"a": [], "b": {}, "c": [{"d": 'é"\\'}]}, [1, [2]]]],
)
def test_json_list_writer_matches_json_dumps(tmp_path: Path, items: list[Any]) -> None:
    path = tmp_path / "list.json"
    with atomic_text_writer(path) as out:
        writer = JsonListWriter(out)
        for item in items:
            writer.add(item)
        writer.close()
    expected = json.dumps(items, ensure_ascii=False, indent=2) + "\n"
    assert path.read_bytes() == expected.encode("utf-8")


def test_atomic_writer_leaves_old_file_on_error(tmp_path: Path) -> None:
    path = tmp_path / "data.jsonl"
    path.write_text("old\n", encoding="utf-8")
    with pytest.raises(ValueError), atomic_text_writer(path) as out:
        out.write("new\n")
        raise ValueError("boom")
    assert path.read_text(encoding="utf-8") == "old\n"
    assert [p.name for p in tmp_path.iterdir()] == ["data.jsonl"]


def test_an_identical_rewrite_leaves_the_file_untouched(tmp_path: Path) -> None:
    from augmentoolkit.io_utils import write_text_atomic

    path = tmp_path / "data.jsonl"
    write_text_atomic(path, "a\nb\n")
    before = path.stat().st_ino
    write_text_atomic(path, "a\nb\n")
    assert path.stat().st_ino == before and path.read_text() == "a\nb\n"
    write_text_atomic(path, "a\nc\n")
    assert path.stat().st_ino != before and path.read_text() == "a\nc\n"
    assert [p.name for p in tmp_path.iterdir()] == ["data.jsonl"]
