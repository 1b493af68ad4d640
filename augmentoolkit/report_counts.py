"""The counters the run report is drawn from: `ChartCounts`, fed with each chunk's stage rows as
the chunk finishes a stage, so the report never reads a stage file back for its numbers and its
memory does not grow with the corpus. Every counter is bounded: lengths are counted per value
(a few hundred distinct values at most), sources past MAX_SOURCES share one row, and the sampled
conversations are the SAMPLE_SIZE with the smallest seeded hash of their id, whatever order the
chunks finish in. Does not draw or write anything.
"""

from __future__ import annotations

import hashlib
import json
import math
from collections import Counter
from collections.abc import Iterable
from dataclasses import astuple, dataclass, field
from typing import Any

from augmentoolkit.control_flow_functions.validation import CHECKS

VERDICTS = {True: "worthy", False: "not worthy"}
KEPT_REPAIRS = ("pass", "reworded")  # repair verdicts whose pair goes on (stages.repaired_pairs)
MAX_SOURCES = 200  # input files counted by name; the rest are counted together
OTHER_SOURCES = "(other files)"
SAMPLE_SIZE = 3  # conversations quoted in the report
Row = dict[str, Any]


def _check_names() -> list[str]:
    return [check.name for check in CHECKS]


def words(text: str) -> int:
    """Length of a question or answer as the report counts it. Example: 'Why is it?' -> 3."""
    return len(text.split())


@dataclass
class SourceCounts:
    """What one input file gave, stage by stage."""

    chunks: int = 0
    tokens: int = 0
    worthy: int = 0
    pairs: int = 0
    kept_pairs: int = 0
    conversations: int = 0


@dataclass(frozen=True)
class SampledConversation:
    """A conversation quoted in the report: where it came from and its turns (speaker, text)."""

    id: str
    source: str
    chunk_id: str
    turns: tuple[tuple[str, str], ...]


@dataclass
class ChartCounts:
    """What the report needs, as counters. Each `add_*` takes the rows one stage wrote for ONE
    chunk (the same dicts as in its stage file), costs O(rows) and keeps none of them."""

    chunk_tokens: Counter[int] = field(default_factory=Counter)
    verdicts: Counter[str] = field(default_factory=Counter)
    pairs_per_chunk: Counter[int] = field(default_factory=Counter)
    checks_passed: Counter[str] = field(default_factory=Counter)
    checks_seen: Counter[str] = field(default_factory=Counter)
    conversation_turns: Counter[int] = field(default_factory=Counter)
    question_words: Counter[int] = field(default_factory=Counter)
    answer_words: Counter[int] = field(default_factory=Counter)
    sources: dict[str, SourceCounts] = field(default_factory=dict)
    samples: list[tuple[str, SampledConversation]] = field(default_factory=list)
    seed: int = 0  # SYSTEM.SEED: which conversations are sampled
    # near-duplicates the export removed (kind -> count); None: not checked (threshold 0)
    duplicates: dict[str, int] | None = None

    def add_chunks(self, rows: Iterable[Row]) -> None:
        """Rows of chunks/chunks.jsonl (Chunk.to_dict())."""
        for row in rows:
            self.chunk_tokens[row["tokens"]] += 1
            source = self.source(row["source"]["filename"])
            source.chunks += 1
            source.tokens += row["tokens"]

    def add_judgements(self, rows: Iterable[Row]) -> None:
        """Rows of worthy_for_questions/judgements.jsonl ({"chunk", "suitable": bool|None})."""
        for row in rows:
            self.verdicts[VERDICTS.get(row["suitable"], "no verdict")] += 1
            if row["suitable"] is True:
                self.source(row["chunk"]["source"]["filename"]).worthy += 1

    def verdict_bars(self) -> list[tuple[str, int]]:
        """The verdicts present, always in one order (chunks finish in any order, and the chart
        should not change with it). Example: [("worthy", 3), ("not worthy", 1)]."""
        order = [*VERDICTS.values(), "no verdict"]
        return [(label, self.verdicts[label]) for label in order if self.verdicts[label]]

    def add_raw_pairs(self, rows: Iterable[Row]) -> None:
        """Rows of qatuples_raw/pairs.jsonl (QAPair.to_dict()); a chunk without rows is not
        counted, and one chunk's rows must come in one call."""
        rows = list(rows)
        self.pairs_per_chunk.update(Counter(row["chunk_id"] for row in rows).values())
        for row in rows:
            self.source(row["source_file"]).pairs += 1

    def add_validation(self, rows: Iterable[Row]) -> None:
        """Rows of qatuples_validated/validation.jsonl ({"kept": bool, "history": [...]}).

        Each failure in a pair's history counts as one evaluation of the failed check and a
        pass of every check before it; a kept pair passed every check once more. Example: a
        pair that failed check_question once, then passed everything, counts check_question
        as 1 of 2 and the other checks as 1 of 1.
        """
        names = _check_names()
        for row in rows:
            for entry in row.get("history", []):
                check = str(entry.get("problem", "")).split(":")[0]
                if check in names:
                    earlier = names[: names.index(check)]
                    self.checks_passed.update(earlier)
                    self.checks_seen.update([*earlier, check])
            if row.get("kept"):
                self.checks_passed.update(names)
                self.checks_seen.update(names)

    def add_repairs(self, rows: Iterable[Row]) -> None:
        """Rows of qatuples_revised/repairs.jsonl ({"pair", "verdict"}): the pairs that go on
        are the dataset's pairs (qa_pairs.jsonl), whose lengths the report shows."""
        for row in rows:
            if row["verdict"] in KEPT_REPAIRS:
                pair = row["pair"]
                self.question_words[words(pair["question"])] += 1
                self.answer_words[words(pair["answer"])] += 1
                self.source(pair["source_file"]).kept_pairs += 1

    def add_conversations(self, rows: Iterable[Row]) -> None:
        """Rows of multi_turn_convs/conversations.jsonl (Conversation.to_dict())."""
        for row in rows:
            self.conversation_turns[len(row["turns"])] += 1
            first = row["plan"]["pairs"][0]
            self.source(first["source_file"]).conversations += 1
            self._consider_sample(row, first)

    def source(self, name: str) -> SourceCounts:
        """The counts of one input file (of OTHER_SOURCES once MAX_SOURCES files are known)."""
        if name not in self.sources and len(self.sources) >= MAX_SOURCES:
            name = OTHER_SOURCES
        return self.sources.setdefault(name, SourceCounts())

    def _consider_sample(self, row: Row, first_pair: Row) -> None:
        plan_id = str(row["plan"]["id"])
        key = hashlib.sha256(f"{self.seed}:{plan_id}".encode()).hexdigest()
        if len(self.samples) >= SAMPLE_SIZE and key >= self.samples[-1][0]:
            return
        turns = tuple((str(t["speaker"]), str(t["text"])) for t in row["turns"])
        sample = SampledConversation(
            plan_id, first_pair["source_file"], first_pair["chunk_id"], turns
        )
        self.samples = sorted([*self.samples, (key, sample)], key=lambda s: s[0])[:SAMPLE_SIZE]

    def sampled(self) -> list[SampledConversation]:
        return [sample for _, sample in self.samples]

    @property
    def conversations(self) -> int:
        return sum(self.conversation_turns.values())

    @property
    def source_tokens(self) -> int:
        return sum(tokens * n for tokens, n in self.chunk_tokens.items())

    def pass_rates(self) -> dict[str, tuple[int, int]]:
        """(passed, evaluated) per validation check, in check order."""
        return {name: (self.checks_passed[name], self.checks_seen[name]) for name in _check_names()}

    def digest(self) -> str:
        """A hash of every count the charts draw, so unchanged charts are not redrawn."""
        state = {
            "chunk_tokens": sorted(self.chunk_tokens.items()),
            "verdicts": self.verdict_bars(),
            "pairs_per_chunk": sorted(self.pairs_per_chunk.items()),
            "checks": list(self.pass_rates().items()),
            "conversation_turns": sorted(self.conversation_turns.items()),
            "question_words": sorted(self.question_words.items()),
            "answer_words": sorted(self.answer_words.items()),
        }
        return hashlib.sha256(json.dumps(state).encode("utf-8")).hexdigest()


def check_pass_rates(validation_rows: Iterable[Row]) -> dict[str, tuple[int, int]]:
    """(passed, evaluated) per check over validation rows; see ChartCounts.add_validation."""
    counts = ChartCounts()
    counts.add_validation(validation_rows)
    return counts.pass_rates()


def distribution(counter: Counter[int]) -> tuple[int, int, int, int, int, float]:
    """(count, min, median, 90th percentile, max, mean) of the values a counter counts; all 0
    when it is empty. Example: Counter({2: 1, 4: 3}) -> (4, 2, 4, 4, 4, 3.5)."""
    total = sum(counter.values())
    if not total:
        return 0, 0, 0, 0, 0, 0.0
    ordered = sorted(counter.items())

    def at(share: float) -> int:
        rank, seen = max(1, math.ceil(total * share)), 0
        for value, times in ordered:
            seen += times
            if seen >= rank:
                return value
        return ordered[-1][0]

    mean = sum(value * times for value, times in ordered) / total
    return total, ordered[0][0], at(0.5), at(0.9), ordered[-1][0], mean


def source_rows(counts: ChartCounts) -> list[tuple[str, SourceCounts]]:
    """Every counted file by name, OTHER_SOURCES last."""
    named = sorted(
        ((name, c) for name, c in counts.sources.items() if name != OTHER_SOURCES),
        key=lambda item: item[0],
    )
    other = counts.sources.get(OTHER_SOURCES)
    return named + ([(OTHER_SOURCES, other)] if other is not None else [])


def source_cells(counts: SourceCounts) -> tuple[int, ...]:
    return astuple(counts)
