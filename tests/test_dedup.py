"""Near-duplicate removal at export: planted near-duplicates across two files are removed (one of
each stays), distinct questions and conversations are kept, items of one chunk are never
compared, the decisions do not depend on arrival order, and threshold 0 changes nothing."""

from __future__ import annotations

import asyncio
import json
import random
from pathlib import Path
from typing import Any

import pytest

from augmentoolkit.control_flow_functions.dedup import (
    DuplicateFilter,
    char_shingles,
    units,
    word_shingles,
)
from augmentoolkit.control_flow_functions.export import DUPLICATES_FILE, write_datasets
from augmentoolkit.pipeline import run_pipeline
from augmentoolkit.records import Chunk, Conversation, ConversationPlan, QAPair, SourceInfo, Turn
from tests.conftest import ConfigFactory
from tests.fake_model import reply
from tests.llm_server import ScriptedLLMServer

PEOPLE = ["miller", "harbour master", "village clerk", "old ferryman", "chief brewer"]
PLACES = ["Eastbrook", "Lowmere", "Ashford", "Kettleby", "Marlow"]
THINGS = ["sack of grain", "cask of cider", "bolt of linen", "crate of apples", "load of timber"]
SITES = ["north gate", "stone bridge", "river landing", "market hall", "toll house"]
SEASONS = ["winter", "harvest", "spring", "summer", "autumn"]
# A second text, about something else: every sentence opens differently.
DISTINCT = [
    "Honeybees cool their hive on hot afternoons by fanning water droplets across the comb.",
    "Glassblowers in Murano guarded their furnace recipes for centuries under threat of exile.",
    "Lighthouse keepers trimmed the lamp wicks every four hours through the longest nights.",
    "Medieval scribes prepared iron gall ink from crushed oak galls, vitriol and gum arabic.",
    "Terraced rice fields in Banaue were carved into the mountains without any metal tools.",
    "Copper roofs turn green over decades as a thin layer of patina forms in the damp air.",
]


def record_sentence(number: int, ending: str) -> str:
    person, place = PEOPLE[number % 5], PLACES[number // 5 % 5]
    thing, site, season = THINGS[number % 5], SITES[(number + 2) % 5], SEASONS[(number + 4) % 5]
    return (
        f"The {person} of {place} kept a careful record of every {thing} that passed through "
        f"the {site} during the long {season} months, and each entry was signed in {ending}."
    )


def planted_texts() -> dict[str, str]:
    """Two files telling the same records, the second with one word changed at the end of
    every fourth sentence, and a third text about other things."""
    first = [record_sentence(n, "black ink") for n in range(12)]
    second = [record_sentence(n, "brown ink" if n % 4 == 1 else "black ink") for n in range(12)]
    return {
        "ledger.txt": " ".join(first),
        "ledger copy.txt": " ".join(second),
        "other.txt": " ".join(DISTINCT),
    }


def jaccard(first: set[bytes], second: set[bytes]) -> float:
    return len(first & second) / len(first | second)


def read_jsonl(path: Path) -> list[dict[str, Any]]:
    with open(path, encoding="utf-8") as handle:
        return [json.loads(line) for line in handle]


def cross_file_matches(rows: list[dict[str, Any]], shingles: Any, text: Any) -> list[Any]:
    """Pairs of rows from different source files whose texts are at least 0.9 similar."""
    found = []
    for i, first in enumerate(rows):
        for second in rows[i + 1 :]:
            if first["file"] != second["file"]:
                if jaccard(shingles(text(first)), shingles(text(second))) >= 0.9:
                    found.append((first, second))
    return found


def conversations_of(output: Path) -> list[dict[str, Any]]:
    return [
        {**row, "file": row["qa_pairs"][0]["source_file"]}
        for row in read_jsonl(output / "master_list.jsonl")
    ]


def pairs_of(output: Path) -> list[dict[str, Any]]:
    return [{**row, "file": row["source_file"]} for row in read_jsonl(output / "qa_pairs.jsonl")]


def turns_text(row: dict[str, Any]) -> str:
    return str(row["conversation"])


@pytest.fixture
def planted_input(tmp_path: Path) -> Path:
    folder = tmp_path / "planted"
    folder.mkdir()
    for name, text in planted_texts().items():
        (folder / name).write_text(text, encoding="utf-8")
    return folder


def run_planted(
    make_config: ConfigFactory, server: ScriptedLLMServer, folder: Path, out: Path, dedup: float
) -> Path:
    config = make_config(
        PATH={"INPUT": str(folder), "OUTPUT": str(out)},
        API={"BASE_URL": server.base_url, "MAX_RETRIES": 6},
        SYSTEM={"CHUNK_SIZE": 100, "DEDUP_THRESHOLD": dedup, "HF_DATASET": False},
    )
    asyncio.run(run_pipeline(config))
    return out


def test_planted_near_duplicates_across_two_files_are_removed(
    server: ScriptedLLMServer, make_config: ConfigFactory, planted_input: Path, tmp_path: Path
) -> None:
    server.set_responder(reply)
    plain = run_planted(make_config, server, planted_input, tmp_path / "plain", 0.0)
    deduped = run_planted(make_config, server, planted_input, tmp_path / "deduped", 0.8)
    assert not (plain / DUPLICATES_FILE).exists()
    removed = read_jsonl(deduped / DUPLICATES_FILE)
    kinds = {
        kind: [r for r in removed if r["kind"] == kind] for kind in ("question", "conversation")
    }
    assert kinds["question"] and kinds["conversation"]
    for row in removed:  # each across the two planted files, never within one
        assert row["similarity"] >= 0.8
        files = {row["removed"].get("source_file"), row["kept"].get("source_file")}
        if row["kind"] == "conversation":
            files = {*row["removed"]["source_files"], *row["kept"]["source_files"]}
        assert files == {"ledger.txt", "ledger copy.txt"}

    # the planted pairs were there without dedup; with it, one of each stays
    def question(row: dict[str, Any]) -> str:
        return str(row["question"])

    planted = cross_file_matches(pairs_of(plain), char_shingles, question)
    assert planted and not cross_file_matches(pairs_of(deduped), char_shingles, question)
    kept_questions = {row["question"] for row in pairs_of(deduped)}
    assert all({a["question"], b["question"]} & kept_questions for a, b in planted)
    planted = cross_file_matches(conversations_of(plain), word_shingles, turns_text)
    assert planted and not cross_file_matches(conversations_of(deduped), word_shingles, turns_text)

    # the distinct text keeps everything, and the counts add up
    for rows_of in (pairs_of, conversations_of):
        other = [json.dumps(r) for r in rows_of(plain) if r["file"] == "other.txt"]
        assert other and other == [
            json.dumps(r) for r in rows_of(deduped) if r["file"] == "other.txt"
        ]
    assert len(pairs_of(plain)) - len(pairs_of(deduped)) == len(kinds["question"])
    assert len(conversations_of(plain)) - len(conversations_of(deduped)) == len(
        kinds["conversation"]
    )
    for name in ("alpaca.jsonl", "chatml.jsonl", "simplified_data.jsonl"):
        counted = pairs_of if name == "alpaca.jsonl" else conversations_of
        assert len(read_jsonl(deduped / name)) == len(counted(deduped))
    # the report counts what was removed and keeps only what was kept
    report = (deduped / "run_report.md").read_text(encoding="utf-8")
    line = f"{len(kinds['conversation'])} conversations, {len(kinds['question'])} QA pairs"
    assert f"| near-duplicates removed | {line} (listed in duplicates.jsonl) |" in report
    assert f"| conversations kept | {len(conversations_of(deduped))} |" in report
    assert "not checked (SYSTEM.DEDUP_THRESHOLD 0)" in (plain / "run_report.md").read_text()


# --- write_datasets on hand-made records ---------------------------------------------------------


def make_pair(file: str, chunk: str, question: str, answer: str = "An answer.") -> QAPair:
    source = SourceInfo(file, file.removesuffix(".txt"))
    return QAPair(f"{chunk}:{question}", Chunk(chunk, source, 0, "text", 10), question, answer)


def make_conversation(pairs: list[QAPair], plan_id: str) -> Conversation:
    turns: list[Turn] = []
    for pair in pairs:
        turns += [Turn("User", "human", pair.question), Turn("AI Assistant", "gpt", pair.answer)]
    plan = ConversationPlan(plan_id, tuple(pairs), True)
    return Conversation(plan, tuple(turns), "\n".join(t.text for t in turns))


QUESTIONS = [
    ("a.txt", "c1", "What is the capital of France?"),
    ("b.txt", "c2", "what is the Capital of France ?"),  # a near-duplicate from another file
    ("b.txt", "c2", "What is the capital of Spain?"),  # similar wording, another question
    ("a.txt", "c1", "What is the capital of france"),  # same chunk as the first: not compared
    ("c.txt", "c3", "How do bees keep the hive warm in winter?"),
]


def written(tmp_path: Path, pairs: list[QAPair], threshold: float) -> dict[str, bytes]:
    conversations = [make_conversation([p], f"plan-{p.id}") for p in pairs]
    dedup = DuplicateFilter(threshold)
    write_datasets(conversations, pairs, tmp_path, dedup)
    names = ["qa_pairs.jsonl", "alpaca.jsonl", "master_list.jsonl", "chatml.jsonl"]
    if threshold:
        names.append(DUPLICATES_FILE)
    return {name: (tmp_path / name).read_bytes() for name in names}


def test_questions_near_duplicate_across_chunks_only(tmp_path: Path) -> None:
    pairs = [make_pair(*q) for q in QUESTIONS]
    files = written(tmp_path, pairs, 0.8)
    kept = [row["question"] for row in read_jsonl(tmp_path / "qa_pairs.jsonl")]
    assert (
        "What is the capital of Spain?" in kept
        and "How do bees keep the hive warm in winter?" in kept
    )
    assert "What is the capital of france" in kept  # same chunk as its twin
    france = {"What is the capital of France?", "what is the Capital of France ?"}
    assert len(france & set(kept)) == 1  # one of the two files' questions stays
    removed = read_jsonl(tmp_path / DUPLICATES_FILE)
    assert sorted(r["kind"] for r in removed) == ["conversation", "question"]
    for row in removed:
        assert row["similarity"] == 1.0
    assert len(files["alpaca.jsonl"].splitlines()) == len(kept)


def test_decisions_do_not_depend_on_arrival_order(tmp_path: Path) -> None:
    pairs = [make_pair(*q) for q in QUESTIONS]
    expected = written(tmp_path / "first", pairs, 0.8)
    for seed in range(4):
        shuffled = pairs[:]
        random.Random(seed).shuffle(shuffled)
        assert written(tmp_path / f"shuffled{seed}", shuffled, 0.8) == expected


def test_threshold_zero_keeps_everything_and_drops_an_old_list(tmp_path: Path) -> None:
    pairs = [make_pair(*q) for q in QUESTIONS]
    written(tmp_path, pairs, 0.8)
    assert (tmp_path / DUPLICATES_FILE).exists()
    files = written(tmp_path, pairs, 0.0)
    assert len(files["qa_pairs.jsonl"].splitlines()) == len(QUESTIONS)
    assert not (tmp_path / DUPLICATES_FILE).exists()


def test_shingles_ignore_case_punctuation_and_spacing() -> None:
    assert char_shingles("What is  sabotage?") == char_shingles("what is Sabotage ?")
    assert units("What's up, 东京?") == ["what", "s", "up", "东", "京"]
    assert word_shingles("a b c d") == {b"a b c", b"b c d"}
    assert char_shingles("ab") == {b"ab"}
