"""The data that flows between stages, as frozen dataclasses with to_dict/from_dict.

Chunk → QAPair → ConversationPlan → Conversation. Every record carries the id of the chunk
it came from and the source file, so each line of the final dataset traces back to the input.
Does not hold any I/O or model logic.
"""

from __future__ import annotations

import hashlib
from dataclasses import asdict, dataclass, field
from typing import Any


def content_id(*parts: str, length: int = 16) -> str:
    """A short deterministic id from text parts. Example: content_id("a", "b") -> 16 hex chars."""
    digest = hashlib.sha256("\x1f".join(parts).encode("utf-8")).hexdigest()
    return digest[:length]


@dataclass(frozen=True)
class SourceInfo:
    """What the filename says about a text: `[title], by [author], published [year]`."""

    filename: str
    title: str
    author: str = ""
    published: str = ""

    def describe(self) -> str:
        """One line for prompts. Example: 'Simple Sabotage, by OSS, published 1944'."""
        text = self.title
        if self.author:
            text += f", by {self.author}"
        if self.published:
            text += f", published {self.published}"
        return text

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> SourceInfo:
        return cls(**data)


@dataclass(frozen=True)
class Chunk:
    """A run of whole sentences from one input file, at most the configured token budget."""

    id: str
    source: SourceInfo
    index: int  # position of the chunk within its file, from 0
    text: str
    tokens: int

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "source": self.source.to_dict(),
            "index": self.index,
            "text": self.text,
            "tokens": self.tokens,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Chunk:
        return cls(
            id=data["id"],
            source=SourceInfo.from_dict(data["source"]),
            index=data["index"],
            text=data["text"],
            tokens=data["tokens"],
        )


@dataclass(frozen=True)
class QAPair:
    """A question and answer grounded in one chunk."""

    id: str
    chunk: Chunk
    question: str
    answer: str

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "chunk_id": self.chunk.id,
            "source_file": self.chunk.source.filename,
            "question": self.question,
            "answer": self.answer,
            "chunk": self.chunk.to_dict(),
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> QAPair:
        return cls(
            id=data["id"],
            chunk=Chunk.from_dict(data["chunk"]),
            question=data["question"],
            answer=data["answer"],
        )


@dataclass(frozen=True)
class ConversationPlan:
    """Everything needed to write one conversation: an ordering of pairs from one chunk, plus the
    setting in character mode (empty strings in assistant mode)."""

    id: str
    pairs: tuple[QAPair, ...]
    assistant_mode: bool
    character_card: str = ""
    card_plan: str = ""
    scenario: str = ""
    scenario_plan: str = ""
    traits: tuple[str, ...] = field(default_factory=tuple)
    primary_name: str = "AI Assistant"
    secondary_name: str = "User"

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "pairs": [p.to_dict() for p in self.pairs],
            "assistant_mode": self.assistant_mode,
            "character_card": self.character_card,
            "card_plan": self.card_plan,
            "scenario": self.scenario,
            "scenario_plan": self.scenario_plan,
            "traits": list(self.traits),
            "primary_name": self.primary_name,
            "secondary_name": self.secondary_name,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ConversationPlan:
        return cls(
            id=data["id"],
            pairs=tuple(QAPair.from_dict(p) for p in data["pairs"]),
            assistant_mode=data["assistant_mode"],
            character_card=data["character_card"],
            card_plan=data["card_plan"],
            scenario=data["scenario"],
            scenario_plan=data["scenario_plan"],
            traits=tuple(data["traits"]),
            primary_name=data["primary_name"],
            secondary_name=data["secondary_name"],
        )


@dataclass(frozen=True)
class Turn:
    """One line of a conversation: who speaks ("human" asks, "gpt" answers) and what they say."""

    speaker: str  # the name as written in the conversation, e.g. "User" or "Dr. Mira Holt"
    role: str  # "human" or "gpt"
    text: str

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Turn:
        return cls(**data)


@dataclass(frozen=True)
class Conversation:
    """A written and verified conversation built from a plan."""

    plan: ConversationPlan
    turns: tuple[Turn, ...]
    raw_text: str

    def to_dict(self) -> dict[str, Any]:
        return {
            "plan": self.plan.to_dict(),
            "turns": [t.to_dict() for t in self.turns],
            "raw_text": self.raw_text,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Conversation:
        return cls(
            plan=ConversationPlan.from_dict(data["plan"]),
            turns=tuple(Turn.from_dict(t) for t in data["turns"]),
            raw_text=data["raw_text"],
        )


def source_file(item: Chunk | QAPair | ConversationPlan | Conversation) -> str:
    """The input file an item of any stage came from. Example: a QAPair -> 'manual.txt'."""
    if isinstance(item, Conversation):
        item = item.plan
    if isinstance(item, ConversationPlan):
        item = item.pairs[0]
    if isinstance(item, QAPair):
        item = item.chunk
    return item.source.filename
