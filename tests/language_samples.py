"""The sample texts of tests/data/languages.yaml as records, for tests/test_languages.py and
bench/languages.py: four paragraphs about an invented town in English, German, Russian, Chinese
and Japanese, each with twenty facts (a question, a grounded answer, a planted ungrounded one),
and one paragraph in each of sixteen further languages for the token checks."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

DATA = Path(__file__).resolve().parent / "data" / "languages.yaml"


@dataclass(frozen=True)
class Fact:
    paragraph: int  # index of the paragraph that holds it
    question: str
    answer: str  # grounded: the paragraph's facts in other words
    planted: str  # not grounded: invented, or a worked example leaking in


@dataclass(frozen=True)
class Sample:
    code: str
    name: str
    paragraphs: tuple[str, ...]
    facts: tuple[Fact, ...]
    same: tuple[str, str]  # two wordings of one question
    different: tuple[str, str]  # two different questions

    @property
    def text(self) -> str:
        """The paragraphs as one document, separated by blank lines."""
        return "\n\n".join(self.paragraphs)


def _raw() -> dict[str, Any]:
    data: dict[str, Any] = yaml.safe_load(DATA.read_text(encoding="utf-8"))
    return data


def load_samples() -> dict[str, Sample]:
    """The five languages with facts, by code (en, de, ru, zh, ja)."""
    samples = {}
    for code, entry in _raw().items():
        if code in ("token_samples", "smollm2_tokens"):
            continue
        samples[code] = Sample(
            code=code,
            name=entry["name"],
            paragraphs=tuple(" ".join(p.split()) for p in entry["paragraphs"]),
            facts=tuple(Fact(*fact) for fact in entry["facts"]),
            same=(entry["same"][0], entry["same"][1]),
            different=(entry["different"][0], entry["different"][1]),
        )
    return samples


def token_texts() -> dict[str, str]:
    """Every sample text by language code: the five documents, then one paragraph each of
    the further languages."""
    texts = {code: sample.text for code, sample in load_samples().items()}
    texts.update({code: " ".join(t.split()) for code, t in _raw()["token_samples"].items()})
    return texts


def paragraphs_with_real_counts() -> list[tuple[str, str, int]]:
    """(language, paragraph, its real SmolLM2 token count) for every sample paragraph."""
    raw = _raw()
    texts = {code: list(sample.paragraphs) for code, sample in load_samples().items()}
    texts.update({code: [" ".join(t.split())] for code, t in raw["token_samples"].items()})
    return [
        (code, paragraph, real)
        for code, counts in raw["smollm2_tokens"].items()
        for paragraph, real in zip(texts[code], counts, strict=True)
    ]
