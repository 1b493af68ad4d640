"""A leak-free train/eval split of the datasets (SYSTEM.EVAL_SHARE).

Conversations and QA pairs that share a source chunk, or an answer (the same words, case and
spacing aside), are one group, joined transitively; the eval side takes whole groups, in an
order drawn from SYSTEM.SEED, until it holds EVAL_SHARE of the conversations. So no chunk and no
answer is on both sides: a model evaluated on the eval side has not seen its answers in
training. Written as OUTPUT/split/train/ and OUTPUT/split/eval/, each holding every JSONL
dataset file (conversations: master_list, simplified_data, openai_messages, chatml; pairs:
qa_pairs, alpaca), line for line as in the full files (processed_masterlist.json, the same rows
as master_list.jsonl in one document, is not split). Reads the written datasets twice, one line
at a time; keeps only group keys.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from contextlib import ExitStack
from pathlib import Path
from typing import Any

from augmentoolkit.io_utils import atomic_text_writer

CONVERSATION_FILES = (
    "master_list.jsonl",  # first: its rows name their pairs
    "simplified_data.jsonl",
    "openai_messages.jsonl",
    "chatml.jsonl",
)
PAIR_FILES = ("qa_pairs.jsonl", "alpaca.jsonl")  # first: its rows name chunk and answer
PAIR_FILE = PAIR_FILES[0]
SIDES = ("train", "eval")


class Groups:
    """Union-find over string keys ("chunk:<id>", "answer:<hash>")."""

    def __init__(self) -> None:
        self.parent: dict[str, str] = {}

    def find(self, key: str) -> str:
        root = self.parent.setdefault(key, key)
        while root != self.parent[root]:
            self.parent[root] = self.parent[self.parent[root]]  # halve the path
            root = self.parent[root]
        return root

    def join(self, keys: list[str]) -> str:
        roots = sorted({self.find(key) for key in keys})
        for other in roots[1:]:
            self.parent[other] = roots[0]
        return roots[0]


def answer_key(answer: str) -> str:
    """Example: 'The  Hive.' and 'the hive.' give the same key."""
    words = " ".join(answer.lower().split())
    return "answer:" + hashlib.sha256(words.encode("utf-8")).hexdigest()[:16]


def pair_keys(pair: dict[str, Any]) -> list[str]:
    return [f"chunk:{pair['chunk_id']}", answer_key(str(pair["answer"]))]


def conversation_keys(row: dict[str, Any]) -> list[str]:
    return [key for pair in row["qa_pairs"] for key in pair_keys(pair)]


def lines(path: Path) -> Iterator[str]:
    with open(path, encoding="utf-8") as handle:
        yield from handle


def eval_roots(output: Path, share: float, seed: int) -> tuple[Groups, set[str]]:
    """The groups, and the roots of those on the eval side."""
    groups = Groups()
    sizes: dict[str, int] = {}
    for line in lines(output / PAIR_FILE):
        groups.join(pair_keys(json.loads(line)))
    conversations = lines(output / CONVERSATION_FILES[0])
    roots = [groups.join(conversation_keys(json.loads(line))) for line in conversations]
    for root in roots:
        root = groups.find(root)
        sizes[root] = sizes.get(root, 0) + 1
    wanted = share * len(roots)
    chosen: set[str] = set()
    taken = 0
    order = sorted(sizes, key=lambda root: hashlib.sha256(f"{seed}:{root}".encode()).hexdigest())
    for root in order:
        if taken >= wanted or len(chosen) == len(sizes) - 1:  # the train side is never empty
            break
        chosen.add(root)
        taken += sizes[root]
    return groups, chosen


def write_split(output: Path, share: float, seed: int) -> dict[str, int]:
    """Write the split folders; conversations per side. Nothing is written when share is 0."""
    if share <= 0:
        return {}
    groups, chosen = eval_roots(output, share, seed)
    counts = dict.fromkeys(SIDES, 0)
    with ExitStack() as stack:
        outs = {
            (side, name): stack.enter_context(atomic_text_writer(output / "split" / side / name))
            for side in SIDES
            for name in (*CONVERSATION_FILES, *PAIR_FILES)
        }
        for rows in zip(*(lines(output / name) for name in CONVERSATION_FILES), strict=True):
            keys = conversation_keys(json.loads(rows[0]))
            side = "eval" if groups.find(keys[0]) in chosen else "train"
            counts[side] += 1
            for name, row in zip(CONVERSATION_FILES, rows, strict=True):
                outs[side, name].write(row)
        for rows in zip(*(lines(output / name) for name in PAIR_FILES), strict=True):
            side = "eval" if groups.find(pair_keys(json.loads(rows[0]))[0]) in chosen else "train"
            for name, row in zip(PAIR_FILES, rows, strict=True):
                outs[side, name].write(row)
    return counts
