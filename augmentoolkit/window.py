"""A bounded window of concurrent work: the next item is admitted only when one in flight
finishes, so however many items a run has, at most `size` are alive at once. Does not order
requests between items (the endpoint pool does, by REQUEST_PRIORITY)."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Coroutine, Iterable
from typing import Any

# One chunk's place in the run, its id and its items for the next stage.
Item = tuple[int, str, list[Any]]


async def run_window(
    items: Iterable[Item], work: Callable[[Item], Coroutine[Any, Any, None]], size: int
) -> None:
    """Await work(item) for every item, at most `size` at once, admitting the next item only
    when one finishes. The first error cancels the rest and is raised."""
    running: set[asyncio.Task[None]] = set()

    async def settle_one() -> None:
        nonlocal running
        done, running = await asyncio.wait(running, return_when=asyncio.FIRST_COMPLETED)
        for task in done:
            task.result()

    try:
        for item in items:
            while len(running) >= size:
                await settle_one()
            running.add(asyncio.create_task(work(item)))
        while running:
            await settle_one()
    finally:
        for task in running:
            task.cancel()
        await asyncio.gather(*running, return_exceptions=True)
