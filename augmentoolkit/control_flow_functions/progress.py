"""Run many coroutines concurrently under a progress bar, keeping results in input order, and
count what a stage did. The concurrency limit itself lives in the engine, not here."""

from __future__ import annotations

import asyncio
import sys
from collections import Counter
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import TypeVar

from tqdm import tqdm

In = TypeVar("In")
Out = TypeVar("Out")


async def map_with_progress(
    items: Sequence[In],
    work: Callable[[In], Awaitable[Out]],
    label: str,
    note: Callable[[], str] | None = None,
    show: bool = True,
) -> list[Out]:
    """Await work(item) for every item at once; results come back in input order.

    `note` is shown beside the bar and refreshed as items finish (e.g. calls and cost so far).
    """
    # disable=None hides the bar when stderr is not a terminal (CI logs, pipes).
    bar = tqdm(
        total=len(items),
        desc=label,
        unit="item",
        file=sys.stderr,
        leave=False,
        disable=None if show else True,
    )

    async def tracked(item: In) -> Out:
        try:
            return await work(item)
        finally:
            if note is not None:
                bar.set_postfix_str(note(), refresh=False)
            bar.update(1)

    try:
        return list(await asyncio.gather(*(tracked(item) for item in items)))
    finally:
        bar.close()


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
    calls: int = 0  # model requests made during the stage
    tokens: int = 0  # prompt + completion tokens of those requests
    seconds: float = 0.0

    def drop(self, reason: str) -> None:
        self.dropped += 1
        self.reasons[reason] += 1

    def fail(self, reason: str) -> None:
        self.failed += 1
        self.reasons[reason] += 1

    def top_reasons(self, count: int = 3) -> str:
        return "; ".join(f"{reason} (x{n})" for reason, n in self.reasons.most_common(count))


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
