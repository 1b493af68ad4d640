"""What a stage did, counted: `StageOutcome` (in, kept, dropped, failed, reasons), the uniform
`StageResult` every stage function returns, and `gather_in_order` for the few items of one
chunk. Progress shown to a person lives in augmentoolkit/progress_board.py; the concurrency
limit lives in the engine, not here."""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeVar

MAX_REASONS = 50  # distinct reasons kept per stage; the rest are counted together
OTHER_REASONS = "other reasons"

In = TypeVar("In")
Out = TypeVar("Out")


async def gather_in_order(items: Sequence[In], work: Callable[[In], Awaitable[Out]]) -> list[Out]:
    """Await work(item) for every item at once; results come back in input order. Used within
    one chunk, whose items are few; across chunks the run's window bounds what is in flight."""
    return list(await asyncio.gather(*(work(item) for item in items)))


@dataclass
class StageOutcome:
    """Counts for one stage: items in, kept, dropped (the model said no), failed (no usable
    reply), and why items were dropped or failed, most common first."""

    stage: str
    items_in: int = 0
    kept: int = 0
    dropped: int = 0
    failed: int = 0
    reasons: Counter[str] = field(default_factory=Counter)
    calls: int = 0  # model requests made for the stage's steps
    tokens: int = 0  # prompt + completion tokens of those requests
    seconds: float = 0.0

    def drop(self, reason: str) -> None:
        self.dropped += 1
        self.count_reason(reason)

    def fail(self, reason: str) -> None:
        self.failed += 1
        self.count_reason(reason)

    def count_reason(self, reason: str, times: int = 1) -> None:
        """Reasons can quote a reply, so over a whole library they are bounded: past
        MAX_REASONS distinct ones, new ones are counted as OTHER_REASONS."""
        if reason not in self.reasons and len(self.reasons) >= MAX_REASONS:
            reason = OTHER_REASONS
        self.reasons[reason] += times

    def absorb(self, part: StageOutcome) -> None:
        """Add the counts of the same stage over other items. Example: in 2 + in 3 -> in 5."""
        self.items_in += part.items_in
        self.kept += part.kept
        self.dropped += part.dropped
        self.failed += part.failed
        for reason, times in part.reasons.items():
            self.count_reason(reason, times)

    def top_reasons(self, count: int = 3) -> str:
        return "; ".join(f"{reason} (x{n})" for reason, n in self.reasons.most_common(count))


@dataclass
class StageResult:
    """What a stage function returns for the items of one chunk: the rows it appends to its
    stage folder (its kept items are read from them, see Stage.kept) and its counts."""

    rows: list[dict[str, Any]]
    outcome: StageOutcome


def successes(results: Sequence[Out | str], outcome: StageOutcome) -> list[Out]:
    """The results that are values; a result that is a string is a failure reason to count.

    Example: ["x", 3] -> [3], with one failure "x" counted in the outcome.
    """
    kept: list[Out] = []
    for result in results:
        if isinstance(result, str):
            outcome.fail(result)
        else:
            kept.append(result)
    return kept
