"""The dataset card (README.md) of the Hugging Face folder: source texts, models, counts, split,
a licence placeholder and how the data was made. Built from the written dataset files (read one
line at a time) and the config; nothing in it changes between runs on the same data, so a rerun
writes the same bytes.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from augmentoolkit.config import EMBEDDED, Config

EMBEDDED_MODEL = "SmolLM2-135M-Instruct (Q4_1 GGUF, the embedded llama.cpp model)"
SETTINGS = (
    "CHUNK_SIZE",
    "ASSISTANT_MODE",
    "DOUBLE_CHECK_COUNTER",
    "QA_REGENERATIONS",
    "MIN_ANSWER_GROUNDING",
    "REARRANGEMENTS_TO_TAKE",
    "USE_SUBSET",
    "DEDUP_THRESHOLD",
    "EVAL_SHARE",
    "SEED",
)


@dataclass
class CardFacts:
    models: list[str]
    stages: list[str]
    settings: dict[str, Any]
    splits: dict[str, int]  # conversations per split of the folder
    sources: dict[str, Counter[str]] = field(default_factory=dict)  # file -> kind -> count
    pairs: int = 0
    removed: Mapping[str, int] = field(default_factory=dict)


def models_of(config: Config) -> list[str]:
    """Which models wrote the data, by role. Example: ['questions and checks: m1', ...]."""
    if config.SYSTEM.MODE == "aphrodite":
        return [f"every step: {config.APHRODITE.MODEL} (Aphrodite engine)"]
    if config.API.BASE_URL == EMBEDDED:
        return [f"every step: {EMBEDDED_MODEL}"]
    return [
        f"questions, checks, repairs and plans: {config.API.LOGICAL_MODEL}",
        f"conversations: {config.API.LARGE_LOGICAL_MODEL}",
    ]


def _rows(path: Path) -> Iterable[dict[str, Any]]:
    with open(path, encoding="utf-8") as handle:
        for line in handle:
            yield json.loads(line)


def gather(
    config: Config,
    output: Path,
    stages: list[str],
    splits: dict[str, int],
    removed: Mapping[str, int],
) -> CardFacts:
    """The card's facts: per source file, conversations and pairs drawn from it."""
    settings = {key: getattr(config.SYSTEM, key) for key in SETTINGS}
    facts = CardFacts(models_of(config), stages, settings, splits, removed=removed)
    for row in _rows(output / "master_list.jsonl"):
        for name in {pair["source_file"] for pair in row["qa_pairs"]}:
            facts.sources.setdefault(name, Counter())["conversations"] += 1
    for row in _rows(output / "qa_pairs.jsonl"):
        facts.sources.setdefault(row["source_file"], Counter())["pairs"] += 1
        facts.pairs += 1
    return facts


def card_text(facts: CardFacts) -> str:
    """The README.md, with YAML metadata the Hub reads (the licence is a placeholder)."""
    conversations = sum(facts.splits.values())
    lines = [
        "---",
        "license: other  # placeholder: set the licence your source texts allow",
        "task_categories:",
        "- text-generation",
        "tags:",
        "- synthetic",
        "- augmentoolkit",
        "---",
        "",
        "# Instruct-tuning conversations made with Augmentoolkit",
        "",
        f"{conversations} multi-turn conversations built from {facts.pairs} question-answer "
        f"pairs, generated from {len(facts.sources)} source text(s) and checked by a model "
        "before they were kept.",
        "",
        "## Source texts",
        "",
        "| file | conversations | QA pairs |",
        "| --- | ---: | ---: |",
        *(
            f"| {name} | {counts['conversations']} | {counts['pairs']} |"
            for name, counts in sorted(facts.sources.items())
        ),
        "",
        "## Models",
        "",
        *(f"- {model}" for model in facts.models),
        "",
        *_counts_and_split(facts),
        "## Licence",
        "",
        "Placeholder: this dataset is derived from the source texts above, so their licences "
        "apply. Set `license` in the header (and say here what it allows) before you share it.",
        "",
        "## How it was made",
        "",
        f"With Augmentoolkit: the texts were cut into chunks, then each chunk went through "
        f"these stages: {', '.join(facts.stages)}. Every pair's question and answer were "
        "checked against its chunk (without a model for grounding and repeats, then by model "
        "votes), and every conversation was checked to carry its pairs' answers faithfully.",
        "",
        "Settings:",
        "",
        *(f"- `{key}`: {value}" for key, value in facts.settings.items()),
        "",
        "## Use",
        "",
        "```python",
        "from datasets import load_from_disk",
        "",
        'dataset = load_from_disk("hf_dataset")  # rows: {"messages": [{"role", "content"}, ...]}',
        "```",
        "",
    ]
    return "\n".join(lines)


def _removed_line(facts: CardFacts) -> str:
    if not facts.settings.get("DEDUP_THRESHOLD"):
        return "- near-duplicates: not looked for (`DEDUP_THRESHOLD` 0)"
    removed = facts.removed
    return (
        f"- near-duplicates removed: {removed.get('conversation', 0)} conversations, "
        f"{removed.get('question', 0)} QA pairs"
    )


def _counts_and_split(facts: CardFacts) -> list[str]:
    split = ", ".join(f"{name}: {count}" for name, count in facts.splits.items())
    return [
        "## Counts and split",
        "",
        f"- conversations per split: {split}",
        f"- QA pairs: {facts.pairs}",
        _removed_line(facts),
        "",
        "The `eval` split takes whole groups of conversations: those that share a source chunk "
        "or an answer are one group, so no chunk and no answer is on both sides.",
        "",
    ]
